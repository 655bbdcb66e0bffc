"""A Transformer encoder layer (nn.TransformerEncoderLayer, batch_first, dynamic time): its
nn.MultiheadAttention lowers as a module to RETURNN's self_attention (biases through a
constant-1 feature), the rest op by op; every layer passes its check, and both configs in real
RETURNN give PyTorch's output within 1e-4 at the export's length and at another one. Every size
is exported and converted first; their RETURNN runs share one RETURNN process."""
import json
import subprocess

import pytest
import torch
import torch.nn as nn

from conftest import (check_padded_outputs, check_returnn_outputs, input_jobs, interpreter_padded_figure,
                      padded_batch_jobs, record_padded_figures, run_returnn_jobs)

SIZES = [(64, 4, 128), (256, 4, 2048)]  # (d_model, heads, feed_forward)


@pytest.fixture(scope="module")
def converted(pt2returnn, tmp_path_factory):
    """(d_model, heads, feed_forward) -> (convert's result, report or None, out dir, [(RETURNN output,
    PyTorch output)], padded-batch checks), after one RETURNN process ran every size's jobs."""
    root = tmp_path_factory.mktemp("transformer")
    results, all_jobs = {}, []
    for d_model, heads, feed_forward in SIZES:
        tmp_path = root / f"d{d_model}"
        tmp_path.mkdir()
        torch.manual_seed(0)
        model = nn.TransformerEncoderLayer(d_model=d_model, nhead=heads, dim_feedforward=feed_forward, dropout=0.1,
                                           batch_first=True).eval()
        x = torch.randn(2, 30, d_model)
        program = torch.export.export(model, (x,), dynamic_shapes=({1: torch.export.Dim("time", min=2, max=512)},))
        torch.export.save(program, str(tmp_path / "layer.pt2"))
        out = tmp_path / "out"
        result = subprocess.run([pt2returnn, "convert", str(tmp_path / "layer.pt2"), "-o", str(out), "--json"],
                                capture_output=True, text=True)
        key = (d_model, heads, feed_forward)
        if result.returncode != 0:
            results[key] = (result, None, out, [], [])
            continue
        inputs = {length: torch.randn(2, length, d_model) for length in (30, 47)}
        jobs, expected = input_jobs(tmp_path, out, model, inputs)
        # A padded batch with its sequence lengths: each sequence as PyTorch gives it alone.
        padded_jobs, padded = padded_batch_jobs(tmp_path, out, model, x.numpy(), 1)
        all_jobs += jobs + padded_jobs
        results[key] = (result, json.loads(result.stdout), out, expected, padded)
    run_returnn_jobs(root, all_jobs)
    return results


@pytest.mark.parametrize("d_model,heads,feed_forward", SIZES)
def test_transformer_encoder_layer(converted, d_model, heads, feed_forward):
    result, report, out, expected, padded = converted[(d_model, heads, feed_forward)]
    assert result.returncode == 0, result.stderr
    assert all(step["passed"] for step in report["steps"])
    layers = {layer["layer"]: layer for layer in report["layers"]}
    assert layers["self_attn/out_proj"]["op"] == "torch.nn.modules.activation.MultiheadAttention"
    assert all(layer["passed"] and layer["max_abs"] <= 1e-4 for layer in report["layers"])
    network = json.loads((out / "returnn.config.json").read_text())["network"]
    attention = network["self_attn"]["subnetwork"]["attention"]
    assert attention["class"] == "self_attention" and attention["num_heads"] == heads
    check_returnn_outputs(expected)
    record_padded_figures("transformer", f"encoder_layer_d{d_model}", interpreter_padded_figure(report),
                          check_padded_outputs(padded))
