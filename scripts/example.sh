#!/usr/bin/env bash
# The main job on the bundled example: set up, build, then show what pt2returnn reads from a
# MelGAN-style generator exported with torch.export and from its trained checkpoint.
# (Conversion to RETURNN lands with the next pipeline steps; see the README's status.)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh --native-only >/dev/null
echo
echo "== build/pt2returnn inspect examples/tiny_melgan.pt2"
build/pt2returnn inspect examples/tiny_melgan.pt2
echo
echo "== build/pt2returnn inspect examples/tiny_melgan.checkpoint.pkl --checkpoint-key model.generator"
build/pt2returnn inspect examples/tiny_melgan.checkpoint.pkl --checkpoint-key model.generator
