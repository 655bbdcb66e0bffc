#!/usr/bin/env python3
"""Makes the bundled examples (the page's playground offers them with one click):
tiny_encoder.pt2, a conv block called twice with a residual (naming and shared parameters),
and tiny_melgan.pt2, a small MelGAN-style generator (reflection padding, dilated
residual stacks, transposed convolutions) exported with a dynamic time axis, and a trained-style
checkpoint in the layout of parallel_wavegan ({"model": {"generator": state_dict}}).
The outputs are committed; rerun with the project's .venv to remake them:

    .venv/bin/python examples/make_examples.py
"""
import os

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))


class ResidualStack(nn.Module):
    def __init__(self, channels, dilation):
        super().__init__()
        self.stack = nn.Sequential(
            nn.LeakyReLU(0.2), nn.ReflectionPad1d(dilation), nn.Conv1d(channels, channels, 3, dilation=dilation),
            nn.LeakyReLU(0.2), nn.Conv1d(channels, channels, 1))
        self.skip = nn.Conv1d(channels, channels, 1)

    def forward(self, x):
        return self.stack(x) + self.skip(x)


class TinyMelGAN(nn.Module):
    def __init__(self, mels=20, channels=32, scales=(4, 4)):
        super().__init__()
        layers = [nn.ReflectionPad1d(3), nn.Conv1d(mels, channels, 7)]
        for scale in scales:
            layers += [nn.LeakyReLU(0.2),
                       nn.ConvTranspose1d(channels, channels // 2, scale * 2, stride=scale,
                                          padding=scale // 2 + scale % 2, output_padding=scale % 2)]
            channels //= 2
            layers += [ResidualStack(channels, d) for d in (1, 3)]
        layers += [nn.LeakyReLU(0.2), nn.ReflectionPad1d(3), nn.Conv1d(channels, 1, 7), nn.Tanh()]
        self.melgan = nn.Sequential(*layers)

    def forward(self, mel):
        return self.melgan(mel)


class TinyEncoder(nn.Module):
    """A block used twice (the second call shares its parameters) inside a residual."""

    def __init__(self, mels=20, channels=24):
        super().__init__()
        self.inp = nn.Conv1d(mels, channels, 5, padding=2)
        self.block = nn.Sequential(nn.Conv1d(channels, channels, 3, padding=1), nn.GELU())
        self.out = nn.Conv1d(channels, 8, 1)

    def forward(self, mel):
        x = self.inp(mel)
        return self.out(self.block(self.block(x)) + x)


def make_encoder():
    torch.manual_seed(2)
    ep = torch.export.export(TinyEncoder().eval(), (torch.randn(1, 20, 30),),
                             dynamic_shapes=({2: torch.export.Dim("frames", min=2, max=2048)},))
    torch.export.save(ep, os.path.join(HERE, "tiny_encoder.pt2"))


def main():
    make_encoder()
    torch.manual_seed(0)
    model = TinyMelGAN().eval()
    mel = torch.randn(1, 20, 24)
    ep = torch.export.export(model, (mel,), dynamic_shapes=({2: torch.export.Dim("frames", min=4, max=2048)},))
    torch.export.save(ep, os.path.join(HERE, "tiny_melgan.pt2"))
    torch.manual_seed(1)
    trained = TinyMelGAN().eval()
    torch.save({"model": {"generator": trained.state_dict()}, "steps": 400000},
               os.path.join(HERE, "tiny_melgan.checkpoint.pkl"))
    print("examples: wrote tiny_melgan.pt2 and tiny_melgan.checkpoint.pkl")


if __name__ == "__main__":
    main()
