"""What the new lowerings of issue 13's remaining ops cannot make right on a padded batch is refused,
each naming its op, the reason and the source line, all at once: a circular pad of the time (each
sequence would wrap at its own end), an avg pool whose window count varies along a static axis as
well as the time, a fill value made of the input's sizes (different per sequence), and bitwise
ops with a number that make a bool constant. Exit 2, nothing written."""
import torch
import torch.nn.functional as F

from conftest import convert_refused


class Refused(torch.nn.Module):
    def forward(self, x):
        wrapped = F.pad(x, (2, 1), mode="circular")[..., 2:-1]
        pooled = F.avg_pool2d(x.reshape(x.shape[0], 2, 4, x.shape[2]), (3, 1), stride=(2, 1), padding=(1, 0),
                              ceil_mode=True, count_include_pad=False).sum(2).sum(1)
        filled = torch.full((x.shape[2],), x.shape[2])
        return wrapped + pooled[:, None] + filled


class ConstantBool(torch.nn.Module):
    def forward(self, x):
        always = (x > 0) | True
        return torch.where(always, x, -x)


def refusal(pt2returnn, tmp_path, model):
    return convert_refused(pt2returnn, tmp_path, model, torch.randn(2, 8, 20),
                           ({2: torch.export.Dim("time", min=4, max=256)},))


def test_refusals_name_op_reason_and_line(pt2returnn, tmp_path):
    message = refusal(pt2returnn, tmp_path, Refused())
    for op, reason, line in [
        ("aten.pad.default", "wraps at its own end", 'wrapped = F.pad(x, (2, 1), mode="circular")'),
        ("aten.avg_pool2d.default", "window count varies along the time and a static axis", "pooled = F.avg_pool2d("),
        ("aten.full.default", "a fill value computed from the input", "filled = torch.full((x.shape[2],), x.shape[2])"),
    ]:
        assert op in message and reason in message and line in message, (op, message)


def test_a_bitwise_op_giving_a_constant_is_refused(pt2returnn, tmp_path):
    message = refusal(pt2returnn, tmp_path, ConstantBool())
    assert "aten.__or__.Scalar" in message and "or with True gives a constant" in message, message
    assert "always = (x > 0) | True" in message, message
