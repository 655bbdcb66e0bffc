"""The whole pipeline against real PyTorch and real RETURNN: `pt2returnn convert` on every fixture
model and on the MelGAN-style example (residual stacks, reflection pads, transposed convs), with the
archive's weights and with a trained checkpoint; its own steps must pass (report.json), and the
emitted config + TF checkpoint, loaded in RETURNN with TensorFlow, must give PyTorch's outputs
within atol=1e-4, on the example length and on another length. RETURNN and TensorFlow load once:
every case is one job of cli/run_in_returnn.py's job list (conftest.run_returnn_jobs)."""
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import ROOT, interpreter_padded_figure, record_padded_figures, run_returnn_jobs

sys.path.insert(0, os.path.join(ROOT, "tests", "fixtures"))
import models  # noqa: E402

EXAMPLES = os.path.join(ROOT, "examples")
FIXTURE_MODELS = ["conv_stack", "linear_ln_gelu", "with_buffers", "tied_weights"]


def torch_outputs(model_path, checkpoint, inputs):
    program = torch.export.load(model_path)
    module = program.module()
    if checkpoint:
        state = torch.load(checkpoint, weights_only=True)["model"]["generator"]
        module.load_state_dict(state, strict=False)
    with torch.no_grad():
        return [module(torch.from_numpy(x)).numpy() for x in inputs]


def padded_batch(model_path, checkpoint, example, time_axis, tmp, name):
    """RETURNN's kind of batch: the example at three lengths, zeros after each end, with the
    lengths; and PyTorch's output on each sequence alone."""
    full = example.shape[time_axis]
    lengths = [full, max(4, (2 * full + 2) // 3), max(4, (full + 2) // 3)]
    shape = list(example.shape)
    shape[0] *= len(lengths)
    batch = np.zeros(shape, example.dtype)
    alone = []
    per = example.shape[0]
    for i, length in enumerate(lengths):
        index = [slice(None)] * example.ndim
        index[time_axis] = slice(0, length)
        sequence = np.ascontiguousarray(example[tuple(index)])
        index[0] = slice(i * per, (i + 1) * per)
        batch[tuple(index)] = sequence
        alone.append(sequence)
    input_path, lengths_path = os.path.join(tmp, f"{name}.padded.npy"), os.path.join(tmp, f"{name}.lengths.npy")
    np.save(input_path, batch)
    np.save(lengths_path, np.repeat(np.array(lengths, dtype=np.int32), per))
    return input_path, lengths_path, torch_outputs(model_path, checkpoint, alone)


def cases(fixtures_dir, tmp):
    """(name, model, checkpoint or None, [(input.npy, torch output)...], padded batch) for every case."""
    result = []
    for name in FIXTURE_MODELS:
        model = os.path.join(fixtures_dir, f"{name}.pt2")
        inputs = [os.path.join(fixtures_dir, f"{name}.input.npy"), os.path.join(fixtures_dir, f"{name}.input_alt.npy")]
        archive = [np.load(os.path.join(fixtures_dir, f"{name}.output{s}.npy")) for s in ("", "_alt")]
        time_axis = models.MODELS[name][2]
        example = np.load(inputs[0])
        result.append((name, model, None, list(zip(inputs, archive)),
                       padded_batch(model, None, example, time_axis, tmp, name)))
        trained = np.load(os.path.join(fixtures_dir, f"{name}.output_ckpt.npy"))
        checkpoint = os.path.join(fixtures_dir, f"{name}.ckpt.pt")
        result.append((name + "+checkpoint", model, checkpoint, [(inputs[0], trained)],
                       padded_batch(model, checkpoint, example, time_axis, tmp, name + "+checkpoint")))
    model = os.path.join(EXAMPLES, "tiny_melgan.pt2")
    checkpoint = os.path.join(EXAMPLES, "tiny_melgan.checkpoint.pkl")
    program = torch.export.load(model)
    example = program.example_inputs[0][0].numpy()
    rng = np.random.default_rng(7)
    other = rng.standard_normal((1, example.shape[1], 23)).astype(np.float32)  # the export fixed the batch at 1
    inputs = []
    for i, x in enumerate((example, other)):
        path = os.path.join(tmp, f"tiny_melgan.input{i}.npy")
        np.save(path, x)
        inputs.append(path)
    for ckpt in (None, checkpoint):
        outputs = torch_outputs(model, ckpt, [np.load(p) for p in inputs])
        name = "tiny_melgan" + ("+checkpoint" if ckpt else "")
        result.append((name, model, ckpt, list(zip(inputs, outputs)), padded_batch(model, ckpt, example, 2, tmp, name)))
    return result


@pytest.fixture(scope="module")
def converted(pt2returnn, fixtures_dir, tmp_path_factory):
    tmp = str(tmp_path_factory.mktemp("convert"))
    all_cases = cases(fixtures_dir, tmp)
    jobs, results = [], {}
    for name, model, checkpoint, runs, padded in all_cases:
        out_dir = os.path.join(tmp, name)
        command = [pt2returnn, "convert", model, "-o", out_dir]
        if checkpoint:
            command += ["--checkpoint", checkpoint, "--checkpoint-key", "model.generator"]
        convert = subprocess.run(command, capture_output=True, text=True)
        results[name] = {"convert": convert, "out_dir": out_dir, "runs": [], "example_frames": int(np.load(padded[1])[0])}
        if convert.returncode != 0:
            continue
        for config in ("py", "json"):  # the MelGAN residual stacks too
            for i, (input_path, expected) in enumerate(runs):
                output = os.path.join(tmp, f"{name}.{config}.{i}.npy")
                jobs.append({"out_dir": out_dir, "input": input_path, "output": output, "config": config})
                results[name]["runs"].append((config, output, expected))
            output = os.path.join(tmp, f"{name}.{config}.padded.npy")
            jobs.append({"out_dir": out_dir, "input": padded[0], "lengths": padded[1], "output": output, "config": config})
            results[name].setdefault("padded", []).append((config, output, padded[2]))
    run_returnn_jobs(tmp, jobs)
    return results


ALL_NAMES = [n + s for n in FIXTURE_MODELS + ["tiny_melgan"] for s in ("", "+checkpoint")]


@pytest.mark.parametrize("name", ALL_NAMES)
def test_convert_passes_every_step(converted, name):
    result = converted[name]
    assert result["convert"].returncode == 0, result["convert"].stderr
    with open(os.path.join(result["out_dir"], "report.json")) as f:
        report = json.load(f)
    assert report["passed"] and report["failed_step"] is None
    assert [s["step"] for s in report["steps"]] == ["load", "reference", "layers", "emit", "reload", "padded-batch"]
    for step in report["steps"]:
        assert step["passed"], step
    reload, padded = report["steps"][-2:]
    assert reload["max_abs"] <= 1e-4
    # Every model here has a dynamic time axis: each sequence of the padded batch is compared.
    assert padded["max_abs"] <= 1e-4 and "lengths" in padded["what"], padded
    # The reload runs the written files on the padded batch's longest sequence: the whole example
    # when it is no longer, else its first frames (every layer ran on the whole example in the
    # per-layer checks); its result is that sequence's as it ran, unpadded, in the batch.
    first, frames = int(re.search(r"lengths (\d+)", padded["what"]).group(1)), result["example_frames"]
    in_batch = "(as it ran in the padded batch, its longest sequence: unpadded)"
    if first < frames:
        assert f"run on the first {first} of the example's {frames} frames {in_batch}" in reload["what"], reload["what"]
    else:
        assert reload["what"].startswith(f"JSON config + checkpoint reloaded and run on the example {in_batch}"), reload
    assert report["layers"], "every layer is listed"
    for layer in report["layers"]:
        assert layer["passed"] and layer["max_abs"] <= 1e-4, layer
        assert layer["op"].startswith("aten.")


@pytest.mark.parametrize("name", ALL_NAMES)
def test_real_returnn_gives_pytorchs_outputs(converted, name):
    result = converted[name]
    assert result["runs"], result["convert"].stderr
    for config, output, expected in result["runs"]:
        error = output + ".error"
        assert not os.path.exists(error), open(error).read()
        ours = np.load(output)
        assert ours.shape == expected.shape, (config, ours.shape, expected.shape)
        np.testing.assert_allclose(ours, expected, atol=1e-4, rtol=0, err_msg=f"{name} ({config} config)")


@pytest.mark.parametrize("name", ALL_NAMES)
def test_real_returnn_on_a_padded_batch_gives_each_sequence_pytorchs_output(converted, name):
    """The padded batch with its sequence lengths fed to RETURNN: each sequence, within its
    own output length, is what PyTorch gives on it alone."""
    result = converted[name]
    assert result.get("padded"), result["convert"].stderr
    worst = {}
    for config, output, alone in result["padded"]:
        error = output + ".error"
        assert not os.path.exists(error), open(error).read()
        ours = np.load(output)
        per = alone[0].shape[0]
        for i, expected in enumerate(alone):
            sequence = ours[i * per:(i + 1) * per]
            assert all(a >= b for a, b in zip(sequence.shape, expected.shape)), (config, sequence.shape, expected.shape)
            sequence = sequence[tuple(slice(0, n) for n in expected.shape)]
            np.testing.assert_allclose(sequence, expected, atol=1e-4, rtol=0, err_msg=f"{name} ({config}) sequence {i}")
            worst[config] = max(worst.get(config, 0.0), float(np.abs(sequence - expected).max()))
    with open(os.path.join(result["out_dir"], "report.json")) as f:
        record_padded_figures("convert_in_returnn", name, interpreter_padded_figure(json.load(f)), worst)


def test_output_files(converted):
    names = sorted(os.listdir(converted["conv_stack"]["out_dir"]))
    assert names == ["model.001.data-00000-of-00001", "model.001.index", "report.json", "report.txt",
                     "returnn.config.json", "returnn.config.py"]


def test_convert_is_deterministic(pt2returnn, fixtures_dir, tmp_path):
    for run in ("a", "b"):
        subprocess.run([pt2returnn, "convert", os.path.join(fixtures_dir, "with_buffers.pt2"), "-o", str(tmp_path / run)],
                       check=True, capture_output=True)
    assert len(os.listdir(tmp_path / "a")) == 6
    for name in os.listdir(tmp_path / "a"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


class Unlowerable(torch.nn.Module):
    """sum and mean over every axis run but have no lowering: both must be listed, with the
    source line."""

    def forward(self, x):
        y = torch.sum(x[:, :, :5])
        return y + torch.mean(x[:, :, :5])


def test_unlowerable_ops_are_listed_and_nothing_is_written(pt2returnn, tmp_path):
    model = tmp_path / "unlowerable.pt2"
    torch.export.save(torch.export.export(Unlowerable().eval(), (torch.randn(2, 5, 8),)), str(model))
    out_dir = tmp_path / "out"
    result = subprocess.run([pt2returnn, "convert", str(model), "-o", str(out_dir)], capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert "aten.sum.default" in line and "aten.mean.default" in line, line
    assert "torch.mean" in line, "the source line is named"
    assert "aten.slice" not in line and "aten.gt" not in line, "ops that do lower are not listed"
    assert not out_dir.exists()


def test_reference_from_torch_save(pt2returnn, fixtures_dir, tmp_path):
    """--reference takes PyTorch's output as torch.save wrote it (a tuple's first tensor too)."""
    program = torch.export.load(os.path.join(fixtures_dir, "conv_stack.pt2"))
    with torch.no_grad():
        y = program.module()(*program.example_inputs[0])
    torch.save((y,), tmp_path / "ref.pt")
    result = subprocess.run([pt2returnn, "convert", os.path.join(fixtures_dir, "conv_stack.pt2"), "-o", str(tmp_path / "o"),
                             "--reference", str(tmp_path / "ref.pt"), "--json"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    reference = json.loads(result.stdout)["steps"][1]
    assert reference["step"] == "reference" and "max_abs" in reference and reference["max_abs"] <= 1e-5


def test_a_failed_check_keeps_the_files_and_exits_1(pt2returnn, fixtures_dir, tmp_path):
    """A reference output that is not the model's: the reference step fails, exit code 1, and
    the report names the step."""
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.load(os.path.join(fixtures_dir, "conv_stack.output.npy")) + 1.0)
    out_dir = tmp_path / "out"
    result = subprocess.run([pt2returnn, "convert", os.path.join(fixtures_dir, "conv_stack.pt2"), "-o", str(out_dir),
                             "--reference", str(wrong), "--json"], capture_output=True, text=True)
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["failed_step"] == "reference" and not report["passed"]
    assert (out_dir / "returnn.config.py").exists()
    right = subprocess.run([pt2returnn, "convert", os.path.join(fixtures_dir, "conv_stack.pt2"), "-o", str(tmp_path / "ok"),
                            "--reference", os.path.join(fixtures_dir, "conv_stack.output.npy")], capture_output=True, text=True)
    assert right.returncode == 0, right.stderr
