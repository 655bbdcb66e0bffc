#!/usr/bin/env python3
"""Benchmark of `convert` (not a test): the whole conversion (load, reference run, per-layer
checks, emit, reload) of the MelGAN-style generator (384 channels, 100 mel frames) by the native
CLI and by the npm package's CLI on the WebAssembly build, wall time in the same run, as a ratio.

    .venv/bin/python bench/bench_convert.py [--repeat K]
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_reference_run import BINARY, NODE_CLI, MelGANGenerator  # noqa: E402


def seconds(command, repeat):
    best = None
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        elapsed = time.perf_counter() - start
        best = elapsed if best is None else min(best, elapsed)
    return best


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    model, x = MelGANGenerator().eval(), torch.randn(1, 80, 100)
    with tempfile.TemporaryDirectory() as tmp:
        pt2, x_path = os.path.join(tmp, "melgan.pt2"), os.path.join(tmp, "x.npy")
        ep = torch.export.export(model, (x,), dynamic_shapes=({2: torch.export.Dim("time", min=4, max=4096)},))
        torch.export.save(ep, pt2)
        np.save(x_path, x.numpy())
        native = seconds([BINARY, "convert", pt2, "--input", x_path, "-o", os.path.join(tmp, "native")], args.repeat)
        wasm = seconds(["node", NODE_CLI, "convert", pt2, "--input", x_path, "-o", os.path.join(tmp, "wasm")], args.repeat)
        print("convert, MelGAN-style generator (384 channels, 100 frames -> 25600 samples), best of", args.repeat)
        print(f"  native {native:6.2f} s | WASM under Node {wasm:6.2f} s = {wasm / native:5.2f}x native")


if __name__ == "__main__":
    main()
