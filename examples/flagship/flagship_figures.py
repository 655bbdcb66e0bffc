#!/usr/bin/env python3
"""Converts the flagship model (make_mb_melgan.py) at 100 and 37 mel frames with every check,
real RETURNN included, and prints the figures: max abs difference against PyTorch per step,
conversion time, the reference run's forward time against PyTorch's (same input, 1 thread, ratio
from this run) and the converter's peak memory.

    .venv/bin/python examples/flagship/flagship_figures.py [WORKDIR]
"""
import json
import os
import subprocess
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BINARY = os.path.join(os.environ.get("PT2_BUILD_DIR", os.path.join(ROOT, "build")), "pt2returnn")


def convert(work, frames, *extra):
    out_dir = os.path.join(work, f"returnn{frames}")
    command = [BINARY, "convert", os.path.join(work, "mb_melgan.pt2"), "-o", out_dir,
               "--checkpoint", os.path.join(work, "mb_melgan.checkpoint.pkl"), "--checkpoint-key", "model.generator",
               "--input", os.path.join(work, f"mel{frames}.npy"), "--reference", os.path.join(work, f"out{frames}.npy"),
               "--json", *extra]
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode not in (0, 1):
        sys.exit(f"convert failed ({result.returncode}):\n{result.stderr}")
    return json.loads(result.stdout), seconds


def converter_alone(work, frames):
    """Time and peak memory of the converter by itself (every check but real RETURNN), in a child
    of its own so that its maximum resident size is the converter's."""
    code = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
            "subprocess.run(sys.argv[1:], capture_output=True); "
            "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    command = [BINARY, "convert", os.path.join(work, "mb_melgan.pt2"), "-o", os.path.join(work, f"alone{frames}"),
               "--checkpoint", os.path.join(work, "mb_melgan.checkpoint.pkl"), "--checkpoint-key", "model.generator",
               "--input", os.path.join(work, f"mel{frames}.npy")]
    seconds, peak_kib = subprocess.run([sys.executable, "-c", code, *command], capture_output=True, text=True,
                                       check=True).stdout.split()
    return float(seconds), int(peak_kib)


def forward_ratio(work, repeat=5):
    program = torch.export.load(os.path.join(work, "mb_melgan.pt2"))
    module = program.module()
    mel = torch.from_numpy(np.load(os.path.join(work, "mel100.npy")))
    torch.set_num_threads(1)
    with torch.no_grad():
        module(mel)
        start = time.perf_counter()
        for _ in range(repeat):
            module(mel)
        torch_seconds = (time.perf_counter() - start) / repeat
    run = subprocess.run([BINARY, "run", os.path.join(work, "mb_melgan.pt2"), "--input", os.path.join(work, "mel100.npy"),
                          "--threads", "1", "--repeat", str(repeat)], capture_output=True, text=True, check=True)
    ours = float([line for line in run.stdout.splitlines() if line.startswith("forward_seconds:")][0].split()[1])
    return torch_seconds, ours


def main(work):
    if not os.path.exists(os.path.join(work, "mb_melgan.pt2")):
        subprocess.run([sys.executable, os.path.join(HERE, "make_mb_melgan.py"), work], check=True)
    for frames in (100, 37):
        report, seconds = convert(work, frames, "--returnn", "--python", sys.executable)
        alone_seconds, peak_kib = converter_alone(work, frames)
        print(f"MB-MelGAN (parallel_wavegan MelGANGenerator + PQMF), {frames} mel frames:")
        for step in report["steps"]:
            figure = f"max abs {step['max_abs']:.3g}" if "max_abs" in step and step["max_abs"] is not None else ""
            print(f"  {step['step']:<14} {'pass' if step['passed'] else 'FAIL':<5} {figure:<20} {step['what']}")
        print(f"  {report['num_layers']} RETURNN layers, {report['num_variables']} checkpoint variables; convert "
              f"{alone_seconds:.2f} s and peak memory {peak_kib / 1024:.0f} MiB (steps load..reload), "
              f"{seconds:.2f} s with real RETURNN")
    torch_seconds, ours = forward_ratio(work)
    print(f"reference run, 100 frames, 1 thread: PyTorch {torch_seconds * 1e3:.1f} ms, pt2returnn {ours * 1e3:.1f} ms "
          f"(ratio {ours / torch_seconds:.2f})")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "flagship"))
