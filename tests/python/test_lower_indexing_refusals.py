"""Patterns of flip, argmax, var and einsum that RETURNN cannot express (or that are not
lowered yet) are refused all at once, each naming its op, the reason and the source line: exit 2,
nothing written."""
import subprocess

import pytest
import torch


class Refused(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("w", torch.randn(8))

    def forward(self, x):
        outer = torch.einsum("bct,d->bctd", x, self.w)
        flipped = torch.flip(x, [0])
        kept = torch.argmax(x, dim=1, keepdim=True)
        over_batch = torch.var(x, dim=0)
        return outer.sum(-1) + flipped + kept + over_batch


def test_refused_patterns_are_listed_together(pt2returnn, tmp_path):
    program = torch.export.export(Refused().eval(), (torch.randn(2, 8, 20),),
                                  dynamic_shapes=({2: torch.export.Dim("time", min=4, max=256)},))
    torch.export.save(program, str(tmp_path / "refused.pt2"))
    out = tmp_path / "out"
    result = subprocess.run([pt2returnn, "convert", str(tmp_path / "refused.pt2"), "-o", str(out)],
                            capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    message = result.stderr
    for op, reason, line in [
        ("aten.einsum.default", "an outer product", 'outer = torch.einsum("bct,d->bctd", x, self.w)'),
        ("aten.flip.default", "flipping the batch axis", "flipped = torch.flip(x, [0])"),
        ("aten.argmax.default", "keepdim=True is not lowered", "kept = torch.argmax(x, dim=1, keepdim=True)"),
        ("aten.var.", "batch", "over_batch = torch.var(x, dim=0)"),
    ]:
        assert op in message and reason in message and line in message, (op, message)
    assert not out.exists() or not any(out.iterdir())


class HalfOfTheTime(torch.nn.Module):
    def forward(self, x):
        return torch.tanh(x[:, :, : x.shape[2] // 2])


class LastFrames(torch.nn.Module):
    def forward(self, x):
        return torch.tanh(x[:, :, x.shape[2] - 5:])


class NarrowHalf(torch.nn.Module):
    def forward(self, x):
        return torch.tanh(x.narrow(2, 2, x.shape[2] // 2))


class NarrowFromTheEnd(torch.nn.Module):
    def forward(self, x):
        return torch.tanh(x.narrow(2, -5, 5))


@pytest.mark.parametrize("module, reason, line", [
    (HalfOfTheTime, "the slice's end", "x[:, :, : x.shape[2] // 2]"),
    (LastFrames, "the slice's start", "x[:, :, x.shape[2] - 5:]"),
    (NarrowHalf, "the slice's end", "x.narrow(2, 2, x.shape[2] // 2)"),
    (NarrowFromTheEnd, "a start counted from the end", "x.narrow(2, -5, 5)"),
])
def test_a_slice_bound_that_moves_otherwise_with_the_length_is_refused(pt2returnn, tmp_path, module, reason, line):
    """RETURNN's slice of the time starts at a fixed frame and ends a fixed number of frames before
    each sequence's end: T // 2 (an end) and T - 5 or -5 (a start) are no such bounds (at another
    length they would cut elsewhere), so they are refused with the expressions, not converted to
    the example's frame, which only its length fits."""
    half = torch.export.Dim("half", min=4, max=128)
    program = torch.export.export(module().eval(), (torch.randn(1, 8, 40),), dynamic_shapes=({2: 2 * half},))
    torch.export.save(program, str(tmp_path / "bound.pt2"))
    out = tmp_path / "out"
    result = subprocess.run([pt2returnn, "convert", str(tmp_path / "bound.pt2"), "-o", str(out)],
                            capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    assert reason in result.stderr and line in result.stderr, result.stderr
    assert not out.exists() or not any(out.iterdir())


class ScoresPlusTheirTranspose(torch.nn.Module):
    """Scores [B, T, T'] plus the scores transposed (DeBERTa-v2's position-to-content term is added
    so): RETURNN matches dims by tag, so its combine would add them untransposed."""
    def __init__(self):
        super().__init__()
        self.q, self.k = torch.nn.Linear(8, 8), torch.nn.Linear(8, 8)

    def forward(self, x):
        scores = self.q(x) @ self.k(x).transpose(1, 2)
        return torch.softmax(scores + scores.transpose(1, 2), dim=-1) @ x


def test_a_transposed_operand_is_refused_with_the_reason(pt2returnn, tmp_path):
    program = torch.export.export(ScoresPlusTheirTranspose().eval(), (torch.randn(2, 20, 8),),
                                  dynamic_shapes=({1: torch.export.Dim("time", min=4, max=256)},))
    torch.export.save(program, str(tmp_path / "transposed.pt2"))
    out = tmp_path / "out"
    result = subprocess.run([pt2returnn, "convert", str(tmp_path / "transposed.pt2"), "-o", str(out)],
                            capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    assert "aten.add.Tensor" in result.stderr and "the other way round" in result.stderr, result.stderr
    assert "scores + scores.transpose(1, 2)" in result.stderr, result.stderr
    assert not out.exists() or not any(out.iterdir())
