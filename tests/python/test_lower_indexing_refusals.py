"""Patterns of flip, argmax, var and einsum that RETURNN cannot express (or that are not
lowered yet) are refused all at once, each naming its op, the reason and the source line: exit 2,
nothing written."""
import subprocess

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
