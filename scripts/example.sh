#!/usr/bin/env bash
# The main job on the bundled example: set up, build, then convert a MelGAN-style generator
# exported with torch.export, with its trained checkpoint, to RETURNN and show the report of
# every step (load, reference run, per-layer checks, emit, reload). Files go to build/example/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh --native-only >/dev/null
echo
echo "== build/pt2returnn convert examples/tiny_melgan.pt2 --checkpoint examples/tiny_melgan.checkpoint.pkl --checkpoint-key model.generator -o build/example"
build/pt2returnn convert examples/tiny_melgan.pt2 --checkpoint examples/tiny_melgan.checkpoint.pkl \
    --checkpoint-key model.generator -o build/example
echo
echo "== build/example/returnn.config.py (first lines)"
head -n 20 build/example/returnn.config.py
