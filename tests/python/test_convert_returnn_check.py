"""`pt2returnn convert --returnn` as a user runs it: every step, the padded batches and the
per-layer table from real RETURNN must pass on models whose RETURNN layers are easy to misread.

- One Conv1d without padding: the output is shorter than the input (a derived time dim).
- Multi-head attention written op by op: the scores have two dynamic dims (the queries' time and
  the keys' time), the heads' values two static dims of one size (4 heads of 4). The per-layer
  table from real RETURNN must map each axis by its dim tag, not take the first dynamic axis.
- Attention weights as the model's output: the output itself has the two dynamic dims.
- An output with two static dims of one size, transposed.

The reference is PyTorch's own output (--input/--reference), so real RETURNN is compared with
PyTorch, not with our reference run."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import record_padded_figures


class OneConv(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv1d(4, 6, 5)

    def forward(self, x):
        return self.conv(x)


class OpByOpAttention(torch.nn.Module):
    def __init__(self, d=16, heads=4):
        super().__init__()
        self.heads = heads
        self.qkv = torch.nn.Linear(d, 3 * d)
        self.out = torch.nn.Linear(d, d)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        weights = torch.softmax(q @ k.transpose(-1, -2) / (d // self.heads) ** 0.5, dim=-1)
        return self.out((weights @ v).transpose(1, 2).reshape(b, t, d))


class AttentionWeights(torch.nn.Module):
    def __init__(self, d=8):
        super().__init__()
        self.query = torch.nn.Linear(d, d)
        self.key = torch.nn.Linear(d, d)

    def forward(self, x):  # [B, T, d] -> [B, T (queries), T (keys)]
        return torch.softmax(self.query(x) @ self.key(x).transpose(1, 2) / 8 ** 0.5, dim=-1)


class SquareHeads(torch.nn.Module):
    """[B, T, 16] -> [B, T, 4, 4] transposed in its last two axes: an output with two static
    dims of one size, told apart by their dim tags ("stag:" in pt2returnn_output_axes)."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(8, 16)

    def forward(self, x):
        b, t, _ = x.shape
        return self.linear(x).view(b, t, 4, 4).transpose(2, 3)


MODELS = {  # name: (module, example input, its time axis)
    "one_conv1d_without_padding": (OneConv, (1, 4, 30), 2),
    "op_by_op_attention": (OpByOpAttention, (1, 20, 16), 1),
    "attention_weights_as_output": (AttentionWeights, (1, 20, 8), 1),
    "two_static_dims_of_one_size_as_output": (SquareHeads, (1, 20, 8), 1),
}


@pytest.fixture(scope="module", params=sorted(MODELS))
def converted(request, pt2returnn, tmp_path_factory):
    name = request.param
    make, shape, time_axis = MODELS[name]
    torch.manual_seed(3)
    module = make().eval()
    x = torch.randn(*shape)
    work = tmp_path_factory.mktemp(name)
    program = torch.export.export(module, (x,), dynamic_shapes={"x": {time_axis: torch.export.Dim("T", min=8, max=200)}})
    torch.export.save(program, work / "model.pt2")
    np.save(work / "input.npy", x.numpy())
    with torch.no_grad():
        np.save(work / "reference.npy", module(x).numpy())
    result = subprocess.run(
        [pt2returnn, "convert", str(work / "model.pt2"), "-o", str(work / "out"), "--input", str(work / "input.npy"),
         "--reference", str(work / "reference.npy"), "--returnn", "--python", sys.executable, "--json"],
        capture_output=True, text=True)
    assert result.returncode == 0, result.stderr + result.stdout[-3000:]
    return name, json.loads(result.stdout)


def test_every_step_passes_against_pytorch(converted):
    name, report = converted
    steps = {s["step"]: s for s in report["steps"]}
    for step in ("load", "reference", "layers", "emit", "reload", "padded-batch", "returnn-py", "returnn-py-padded",
                 "returnn-json", "returnn-json-padded"):
        assert steps[step]["passed"], steps[step]
        if step not in ("load", "emit"):  # the steps that compare values
            assert steps[step]["max_abs"] <= 1e-4, steps[step]
    assert "against PyTorch's outputs" in steps["returnn-py"]["what"]
    record_padded_figures("convert_returnn_check", name, steps["padded-batch"]["max_abs"],
                          {form: steps[f"returnn-{form}-padded"]["max_abs"] for form in ("py", "json")})


def test_every_layer_passes_in_real_returnn(converted):
    """The per-layer table from real RETURNN has every layer the interpreter checked, each
    passing: an axis taken for another one would give another value or another shape."""
    name, report = converted
    for form in ("py", "json"):
        layers = report["returnn_layers"][form]
        assert [layer["layer"] for layer in layers] == [layer["layer"] for layer in report["layers"]]
        failed = [layer for layer in layers if not layer["passed"]]
        assert not failed, (form, failed)


def test_the_attention_scores_are_among_the_layers_checked_in_real_returnn(converted):
    """What makes the attention models hard: a layer with both times (queries' and keys'), a
    'dot', is compared in real RETURNN."""
    name, report = converted
    if "attention" not in name:
        pytest.skip("no attention")
    classes = {layer["layer"]: layer["class"] for layer in report["layers"]}
    dots = [layer for layer in report["returnn_layers"]["py"] if classes[layer["layer"]] == "dot"]
    assert dots and all(layer["passed"] for layer in dots), dots
