"""Step 2, the reference run: `pt2returnn run` computes what PyTorch computes, on the archive's
own example input, on a time length other than the example's, and with a trained checkpoint
applied by key path. References come from real PyTorch (tests/fixtures/make_fixtures.py).
Tolerance: float32 with sums of up to a few hundred products in another order: atol 1e-5."""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import ROOT

MODELS = ["conv_stack", "linear_ln_gelu", "with_buffers", "tied_weights"]
ATOL, RTOL = 1e-5, 1e-4


def run(binary, model, out, *extra):
    result = subprocess.run([binary, "run", model, "--output", out, *extra], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return np.load(out), result.stderr


def run_both(binary, model, out, *extra):
    """Natively with XNNPACK, and with the portable kernels the WASM build runs: both must match."""
    portable, _ = run(binary, model, out + ".portable.npy", "--portable", *extra)
    result = subprocess.run([binary, "run", model, "--output", out, *extra], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    np.testing.assert_allclose(np.load(out), portable, atol=ATOL, rtol=RTOL)
    return np.load(out), result.stderr


@pytest.mark.parametrize("name", MODELS)
def test_sample_alternate_length_and_checkpoint(pt2returnn, fixtures_dir, tmp_path, name):
    model = os.path.join(fixtures_dir, f"{name}.pt2")
    fixture = lambda suffix: os.path.join(fixtures_dir, f"{name}.{suffix}.npy")  # noqa: E731
    ours, _ = run_both(pt2returnn, model, str(tmp_path / "a.npy"))
    np.testing.assert_allclose(ours, np.load(fixture("output")), atol=ATOL, rtol=RTOL)
    ours, _ = run_both(pt2returnn, model, str(tmp_path / "b.npy"), "--input", fixture("input_alt"))
    assert ours.shape != np.load(fixture("output")).shape, "the alternate input has another time length"
    np.testing.assert_allclose(ours, np.load(fixture("output_alt")), atol=ATOL, rtol=RTOL)
    ours, report = run(pt2returnn, model, str(tmp_path / "c.npy"), "--checkpoint",
                       os.path.join(fixtures_dir, f"{name}.ckpt.pt"), "--checkpoint-key", "model.generator")
    np.testing.assert_allclose(ours, np.load(fixture("output_ckpt")), atol=ATOL, rtol=RTOL)
    assert "missing" not in report, report
    assert not np.allclose(np.load(fixture("output")), np.load(fixture("output_ckpt"))), \
        "the checkpoint's weights differ from the archive's, so this checks that they were applied"


def test_bundled_melgan_example(pt2returnn, tmp_path):
    sys.path.insert(0, os.path.join(ROOT, "examples"))
    import make_examples
    torch.manual_seed(1)
    trained = make_examples.TinyMelGAN().eval()
    mel = torch.randn(1, 20, 37)
    np.save(tmp_path / "mel.npy", mel.numpy())
    ours, _ = run_both(pt2returnn, os.path.join(ROOT, "examples", "tiny_melgan.pt2"), str(tmp_path / "wav.npy"),
                  "--input", str(tmp_path / "mel.npy"), "--checkpoint",
                  os.path.join(ROOT, "examples", "tiny_melgan.checkpoint.pkl"), "--checkpoint-key", "model.generator")
    with torch.no_grad():
        expected = trained(mel).numpy()
    assert ours.shape == (1, 1, 16 * 37)
    np.testing.assert_allclose(ours, expected, atol=ATOL, rtol=RTOL)


def test_input_outside_the_exported_range(pt2returnn, fixtures_dir, tmp_path):
    np.save(tmp_path / "long.npy", np.zeros((1, 80, 5000), dtype="float32"))
    result = subprocess.run([pt2returnn, "run", os.path.join(fixtures_dir, "conv_stack.pt2"), "--input",
                             str(tmp_path / "long.npy")], capture_output=True, text=True)
    assert result.returncode == 2
    assert "axis 2 has size 5000 but the export allows 4..4096" in result.stderr


def test_unsupported_ops_are_listed_together(pt2returnn, tmp_path):
    class Odd(torch.nn.Module):
        def forward(self, x):
            # ops far outside what a speech or vocoder model uses, so this stays unsupported
            return torch.fft.rfft(x).abs().sort(dim=1).values

    ep = torch.export.export(Odd(), (torch.randn(2, 5),))
    torch.export.save(ep, tmp_path / "odd.pt2")
    result = subprocess.run([pt2returnn, "run", str(tmp_path / "odd.pt2")], capture_output=True, text=True)
    assert result.returncode == 2
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1
    for op in ("aten.fft_rfft.default", "aten.sort"):
        assert op in line, line
    assert "test_reference_run.py" in line, "the source line of each op is named"


def test_transformer_encoder_layer_at_another_length(pt2returnn, tmp_path):
    """Multi-head attention as torch.export writes it: unflatten, select, squeeze, symbolic
    sizes (_operator.mul), scaled_dot_product_attention, layer norms."""
    torch.manual_seed(3)
    model = torch.nn.TransformerEncoderLayer(64, 4, 128, batch_first=True, dropout=0.0).eval()
    ep = torch.export.export(model, (torch.randn(2, 30, 64),),
                             dynamic_shapes=({1: torch.export.Dim("time", min=4, max=1024)},))
    torch.export.save(ep, tmp_path / "layer.pt2")
    x = torch.randn(2, 41, 64)
    np.save(tmp_path / "x.npy", x.numpy())
    ours, _ = run_both(pt2returnn, str(tmp_path / "layer.pt2"), str(tmp_path / "y.npy"), "--input", str(tmp_path / "x.npy"))
    with torch.no_grad():
        np.testing.assert_allclose(ours, model(x).numpy(), atol=ATOL, rtol=RTOL)


def test_repeat_prints_mean_and_best_forward(pt2returnn, fixtures_dir, tmp_path):
    """`run --repeat K` (the benchmarks' figure): the mean of the K timed runs and the fastest of
    them, which cannot exceed the mean; the output is still the model's."""
    model = os.path.join(fixtures_dir, "conv_stack.pt2")
    result = subprocess.run([pt2returnn, "run", model, "--repeat", "4", "--output", str(tmp_path / "out.npy")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    figures = dict(line.split(": ") for line in result.stdout.splitlines() if line.startswith("forward_seconds"))
    mean, best = float(figures["forward_seconds"]), float(figures["forward_seconds_best"])
    assert 0 < best <= mean, result.stdout
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), np.load(os.path.join(fixtures_dir, "conv_stack.output.npy")),
                               atol=ATOL, rtol=RTOL)
