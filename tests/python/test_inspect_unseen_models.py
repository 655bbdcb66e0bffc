"""inspect on programs that are not among the fixtures, exported here by real PyTorch:
a Transformer encoder layer and a conv/upsampling block with padding="same", weight norm
and interpolation. The reader must report what PyTorch reports, op for op."""
import os
import sys

import pytest
import torch
import torch.nn as nn

from test_readers_vs_pytorch import compare_program, inspect

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures"))
import truth  # noqa: E402


class UpsampleBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.pre = nn.utils.parametrizations.weight_norm(nn.Conv1d(16, 32, 5, padding="same"))
        self.up = nn.ConvTranspose1d(32, 8, 4, stride=2, padding=1, output_padding=0)
        self.pool = nn.AvgPool1d(2)

    def forward(self, x):
        y = torch.nn.functional.leaky_relu(self.pre(x), 0.1)
        y = nn.functional.interpolate(self.up(y), scale_factor=2.0, mode="nearest")
        return self.pool(torch.nn.functional.pad(y, (1, 1), mode="reflect")).softmax(dim=1)


CASES = {
    "transformer_layer": (lambda: nn.TransformerEncoderLayer(64, 4, 128, batch_first=True, dropout=0.0),
                          lambda: torch.randn(2, 30, 64), 1),
    "upsample_block": (UpsampleBlock, lambda: torch.randn(1, 16, 40), 2),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_unseen_model(pt2returnn, tmp_path, name):
    make_model, make_input, time_axis = CASES[name]
    torch.manual_seed(7)
    model = make_model().eval()
    x = make_input()
    ep = torch.export.export(model, (x,), dynamic_shapes=({time_axis: torch.export.Dim("time", min=4, max=1024)},))
    path = str(tmp_path / f"{name}.pt2")
    torch.export.save(ep, path)
    ours = inspect(pt2returnn, path)
    theirs = truth.program_truth(ep, path)
    compare_program(ours, theirs)
    assert len(ours["ops"]) >= 5
    assert [d["min"] for d in ours["dynamic_dims"]] == [4]
