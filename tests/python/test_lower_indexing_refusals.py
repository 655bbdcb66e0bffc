"""Patterns of flip, argmax, var and einsum that RETURNN cannot express (or that are not
lowered yet) are refused all at once, each naming its op, the reason and the source line: exit 2,
nothing written."""
import pytest
import torch

from conftest import convert_refused


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
    message = convert_refused(pt2returnn, tmp_path, Refused(), torch.randn(2, 8, 20),
                              ({2: torch.export.Dim("time", min=4, max=256)},))
    for op, reason, line in [
        ("aten.einsum.default", "an outer product", 'outer = torch.einsum("bct,d->bctd", x, self.w)'),
        ("aten.flip.default", "flipping the batch axis", "flipped = torch.flip(x, [0])"),
        ("aten.argmax.default", "keepdim=True is not lowered", "kept = torch.argmax(x, dim=1, keepdim=True)"),
        ("aten.var.", "batch", "over_batch = torch.var(x, dim=0)"),
    ]:
        assert op in message and reason in message and line in message, (op, message)


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
    message = convert_refused(pt2returnn, tmp_path, module(), torch.randn(1, 8, 40), ({2: 2 * half},))
    assert reason in message and line in message, message


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
    message = convert_refused(pt2returnn, tmp_path, ScoresPlusTheirTranspose(), torch.randn(2, 20, 8),
                              ({1: torch.export.Dim("time", min=4, max=256)},))
    assert "aten.add.Tensor" in message and "the other way round" in message, message
    assert "scores + scores.transpose(1, 2)" in message, message
