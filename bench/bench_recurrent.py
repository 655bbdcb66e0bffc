#!/usr/bin/env python3
"""Benchmark of the reference run on a recurrent model (not a test): forward time of pt2returnn's
native executor on the BLSTM acoustic model (80 -> 2 bidirectional LSTM layers of 256 -> Linear
-> log_softmax, exported with pt2returnn.export, dynamic time) against PyTorch CPU eager on the
same input and thread count, as ratios measured in the same run.

    .venv/bin/python bench/bench_recurrent.py [--repeat K] [--frames T]
"""
import argparse
import os
import sys
import tempfile

import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "python"))  # this tree's pt2returnn package
import pt2returnn  # noqa: E402
from bench_reference_run import our_seconds, torch_seconds  # noqa: E402


class AcousticBLSTM(nn.Module):
    def __init__(self, classes=40):
        super().__init__()
        self.lstm = nn.LSTM(80, 256, num_layers=2, bidirectional=True, batch_first=True)
        self.output = nn.Linear(512, classes)

    def forward(self, features):
        hidden, _ = self.lstm(features)
        return torch.log_softmax(self.output(hidden), dim=-1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--frames", type=int, default=500)
    args = parser.parse_args()
    torch.manual_seed(0)
    model, x = AcousticBLSTM().eval(), torch.randn(1, args.frames, 80)
    with tempfile.TemporaryDirectory() as tmp:
        pt2, x_path = os.path.join(tmp, "blstm.pt2"), os.path.join(tmp, "x.npy")
        program = pt2returnn.export(model, (x,), dynamic_shapes=({1: torch.export.Dim("time", min=2, max=100000)},))
        torch.export.save(program, pt2)
        np.save(x_path, x.numpy())
        print(f"reference run, BLSTM 80 -> 2x bidirectional 256 -> 40, {args.frames} frames, mean of {args.repeat}")
        for threads in (1, 2):
            ours, error = our_seconds(pt2, x_path, threads, args.repeat, False)
            reference = torch_seconds(model, x, threads, args.repeat)
            line = f"  threads={threads}: PyTorch {reference * 1e3:8.2f} ms"
            line += f" | pt2returnn {ours * 1e3:8.2f} ms = {ours / reference:5.2f}x PyTorch" if ours else f" | failed: {error}"
            print(line)


if __name__ == "__main__":
    main()
