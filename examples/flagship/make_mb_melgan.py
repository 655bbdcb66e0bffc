#!/usr/bin/env python3
"""The flagship model: Parallel WaveGAN's multi-band MelGAN generator with PQMF synthesis, built
from the real `parallel_wavegan` package (scripts/setup.sh installs it with --no-deps, see
tests/requirements-flagship.txt), MB-MelGAN v2 settings, seeded random weights.

    .venv/bin/python examples/flagship/make_mb_melgan.py OUTDIR

writes to OUTDIR:
  mb_melgan.pt2              torch.export of pqmf.synthesis(generator(mel)), dynamic mel length,
                             exported after remove_weight_norm() and eval()
  mb_melgan.checkpoint.pkl   torch.save({"model": {"generator": state_dict}}), as the package's
                             trainer saves it: WITH weight norm (weight_g / weight_v), so the
                             converter must fold them into the weights the export has
  mel100.npy, mel37.npy      seeded mel inputs of 100 and 37 frames
  out100.npy, out37.npy      PyTorch's outputs for them (eager, the model as saved)
"""
import os
import sys

import numpy as np
import scipy.signal
import scipy.signal.windows
import torch

# parallel_wavegan 0.6.1 imports scipy.signal.kaiser, which SciPy moved to scipy.signal.windows
# (the same function) and dropped from scipy.signal in 1.13.
if not hasattr(scipy.signal, "kaiser"):
    scipy.signal.kaiser = scipy.signal.windows.kaiser

from parallel_wavegan.layers import PQMF  # noqa: E402
from parallel_wavegan.models import MelGANGenerator  # noqa: E402

MB_MELGAN_V2 = dict(in_channels=80, out_channels=4, kernel_size=7, channels=384, upsample_scales=[5, 5, 2],
                    stack_kernel_size=3, stacks=4, use_weight_norm=True)


class MultiBandVocoder(torch.nn.Module):
    """mel [B, 80, frames] -> waveform [B, 1, frames * 200]."""

    def __init__(self, generator, pqmf):
        super().__init__()
        self.generator = generator
        self.pqmf = pqmf

    def forward(self, mel):
        return self.pqmf.synthesis(self.generator(mel))


def build(seed=0):
    torch.manual_seed(seed)
    generator = MelGANGenerator(**MB_MELGAN_V2)  # the package's own init (normal 0.02, weight norm)
    return generator, PQMF(subbands=4)


def main(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    generator, pqmf = build()
    torch.save({"model": {"generator": generator.state_dict()}, "steps": 1000000},
               os.path.join(out_dir, "mb_melgan.checkpoint.pkl"))
    generator.remove_weight_norm()
    model = MultiBandVocoder(generator, pqmf).eval()
    rng = np.random.default_rng(1234)
    mels = {n: rng.standard_normal((1, 80, n)).astype(np.float32) for n in (100, 37)}
    with torch.no_grad():
        for n, mel in mels.items():
            np.save(os.path.join(out_dir, f"mel{n}.npy"), mel)
            np.save(os.path.join(out_dir, f"out{n}.npy"), model(torch.from_numpy(mel)).numpy())
    frames = torch.export.Dim("frames", min=8, max=2000)
    program = torch.export.export(model, (torch.from_numpy(mels[100]),), dynamic_shapes=({2: frames},))
    torch.export.save(program, os.path.join(out_dir, "mb_melgan.pt2"))
    print(f"wrote {out_dir}/mb_melgan.pt2, mb_melgan.checkpoint.pkl and inputs/outputs for 100 and 37 frames")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join("build", "flagship"))
