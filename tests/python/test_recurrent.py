"""Recurrent models with a dynamic time axis: pt2returnn.export keeps time dynamic through
nn.LSTM/nn.GRU (pt2returnn:: ops), the file loads back in PyTorch, the CLI converts it to RETURNN
`rec` layers (NativeLSTM2 for LSTMs, a one-frame subnetwork unit for GRUs) whose per-layer checks pass, real RETURNN gives PyTorch's output at two
lengths, and in a padded batch of three sequences (run with their lengths) each sequence equals
PyTorch on it alone. Also: a fixed-length plain torch.export of an LSTM converts, and a .pt2
exported with Dim.DYNAMIC reads. All RETURNN runs share one RETURNN process."""
import json
import os
import subprocess

import numpy as np
import pytest
import torch
import torch.nn as nn

from conftest import ROOT, check_returnn_outputs, interpreter_padded_figure, record_padded_figures, run_returnn_jobs

# The installed package (setup.sh installs this tree's python/ into .venv, with its binding).
from pt2returnn import export as pt2returnn_export  # noqa: E402


class AcousticBLSTM(nn.Module):
    """80 features -> 2 bidirectional LSTM layers of 256 -> Linear -> log_softmax, batch_first."""

    def __init__(self, classes=40):
        super().__init__()
        self.lstm = nn.LSTM(80, 256, num_layers=2, bidirectional=True, batch_first=True)
        self.output = nn.Linear(512, classes)

    def forward(self, features):
        hidden, _ = self.lstm(features)
        return torch.log_softmax(self.output(hidden), dim=-1)


class TimeMajorLSTM(nn.Module):
    """A 2-layer time-major LSTM (batch_first=False) from a given initial state, held by the model
    (the same for every sequence); the program's input is batch-major, the output time-major."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(24, 48, num_layers=2)
        self.h0 = nn.Parameter(torch.randn(2, 1, 48) * 0.5)
        self.c0 = nn.Parameter(torch.randn(2, 1, 48) * 0.5)

    def forward(self, features):
        batch = features.size(0)
        state = (self.h0.expand(-1, batch, -1).contiguous(), self.c0.expand(-1, batch, -1).contiguous())
        hidden, _ = self.lstm(features.transpose(0, 1), state)
        return hidden


class BidirectionalGRU(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(40, 64, num_layers=2, bidirectional=True, batch_first=True)

    def forward(self, features):
        return self.gru(features)[0]


class ProjectedLSTM(nn.Module):
    """proj_size: a dict unit with the cell state as a layer of its own (prev:c)."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(20, 32, num_layers=2, bidirectional=True, proj_size=12, batch_first=True)

    def forward(self, features):
        return self.lstm(features)[0]


class ReluRNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.RNN(20, 16, nonlinearity="relu", bidirectional=True, batch_first=True)

    def forward(self, features):
        return self.rnn(features)[0]


class PooledBLSTM(nn.Module):
    """max_pool1d over time (routed through pt2returnn::max_pool1d) before a BLSTM: the LSTM runs
    on a derived time dim, (T - 3) // 2 + 1 frames."""

    def __init__(self):
        super().__init__()
        self.pool = nn.MaxPool1d(3, stride=2)
        self.lstm = nn.LSTM(20, 16, bidirectional=True, batch_first=True)

    def forward(self, features):
        return self.lstm(self.pool(features.transpose(1, 2)).transpose(1, 2))[0]


TIME = torch.export.Dim("time", min=8, max=4096)
LENGTHS = (50, 23)          # two lengths for the whole-batch runs
PADDED = (31, 17, 9)        # the padded batch's sequence lengths


# name -> (model class, feature size, the output's batch axis)
MODELS = {"blstm": (AcousticBLSTM, 80, 0), "time_major_lstm": (TimeMajorLSTM, 24, 1), "bigru": (BidirectionalGRU, 40, 0),
          "projected_lstm": (ProjectedLSTM, 20, 0), "relu_rnn": (ReluRNN, 20, 0), "pooled_blstm": (PooledBLSTM, 20, 0)}


def export_models(tmp):
    """name -> (model, path, feature size, output batch axis); each exported with a dynamic time axis."""
    torch.manual_seed(0)
    models = {}
    for name, (cls, features, batch_axis) in MODELS.items():
        model = cls().eval()
        program = pt2returnn_export(model, (torch.randn(1, 50, features),), dynamic_shapes=({1: TIME},))
        path = str(tmp / f"{name}.pt2")
        torch.export.save(program, path)
        models[name] = (model, path, features, batch_axis)
    return models


def convert(pt2returnn_binary, path, out_dir):
    result = subprocess.run([pt2returnn_binary, "convert", path, "-o", out_dir, "--json"], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def converted(pt2returnn, tmp_path_factory):
    """Exports, converts, and runs every RETURNN job (whole batches at two lengths, and a padded
    batch) in one RETURNN process."""
    tmp = tmp_path_factory.mktemp("recurrent")
    models = export_models(tmp)
    reports, jobs, expected, padded = {}, [], [], {}
    rng = np.random.RandomState(1)
    for name, (model, path, features, batch_axis) in models.items():
        out = str(tmp / f"{name}_out")
        reports[name] = convert(pt2returnn, path, out)
        for length in LENGTHS:
            x = rng.randn(1, length, features).astype("float32")
            np.save(tmp / f"{name}_x{length}.npy", x)
            with torch.no_grad():
                y = model(torch.from_numpy(x)).numpy()
            for form in ("py", "json"):
                output = str(tmp / f"{name}_y{length}.{form}.npy")
                jobs.append({"out_dir": out, "input": str(tmp / f"{name}_x{length}.npy"), "output": output,
                             "config": form})
                expected.append((output, y))
        # the padded batch: zeros after each sequence's end, as RETURNN's datasets pad
        sequences = [rng.randn(length, features).astype("float32") for length in PADDED]
        batch = np.zeros((len(PADDED), max(PADDED), features), dtype="float32")
        for i, s in enumerate(sequences):
            batch[i, :len(s)] = s
        np.save(tmp / f"{name}_padded.npy", batch)
        outputs = {}
        for form in ("py", "json"):
            outputs[form] = str(tmp / f"{name}_padded.{form}.npy")
            jobs.append({"out_dir": out, "input": str(tmp / f"{name}_padded.npy"), "output": outputs[form],
                         "config": form, "lengths": list(PADDED)})
        with torch.no_grad():
            alone = [np.take(model(torch.from_numpy(s)[None]).numpy(), 0, axis=batch_axis) for s in sequences]
        padded[name] = (outputs, alone, batch_axis)
    run_returnn_jobs(tmp, jobs)
    return {"models": models, "reports": reports, "expected": expected, "padded": padded, "tmp": tmp}


def test_export_restores_torch_even_when_it_fails():
    real = torch.nn.modules.rnn._VF

    class Broken(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(4, 3)

        def forward(self, x):
            y, _ = self.lstm(x)
            return y[: int(y.sum() > 0)]  # data-dependent: the export fails

    with pytest.raises(Exception):
        pt2returnn_export(Broken().eval(), (torch.randn(5, 1, 4),), strict=False)
    assert torch.nn.modules.rnn._VF is real
    # and a successful export leaves it in place too
    pt2returnn_export(nn.LSTM(4, 3).eval(), (torch.randn(5, 1, 4),))
    assert torch.nn.modules.rnn._VF is real


def test_graph_has_one_op_per_lstm_and_keeps_state_dict_names(converted):
    for name, op in (("blstm", "lstm"), ("time_major_lstm", "lstm"), ("bigru", "gru"), ("pooled_blstm", "max_pool1d")):
        model, path, _, _ = converted["models"][name]
        program = torch.export.load(path)
        targets = [str(n.target) for n in program.graph.nodes if n.op == "call_function"]
        assert targets.count(f"pt2returnn.{op}.default") == 1, targets
        assert not any(f"aten.{op}" in t for t in targets), targets
        assert set(model.state_dict()) == set(program.state_dict)


def test_loads_back_in_pytorch(converted):
    for name, (model, path, features, _) in converted["models"].items():
        module = torch.export.load(path).module()
        for length in (8, 61):
            x = torch.randn(1, length, features)
            with torch.no_grad():
                torch.testing.assert_close(module(x), model(x), rtol=0, atol=1e-5)


def test_converts_with_rec_layers_and_passes_every_check(converted):
    for name, report in converted["reports"].items():
        classes = [layer["class"] for layer in report["layers"]]
        assert all(layer["passed"] for layer in report["layers"]), report["layers"]
        assert report.get("passed", True)
    net = json.load(open(converted["tmp"] / "blstm_out" / "returnn.config.json"))["network"]
    recs = {k: v for k, v in net.items() if v["class"] == "rec"}
    assert sorted(recs) == ["lstm_l0_bw", "lstm_l0_fw", "lstm_l1_bw", "lstm_l1_fw"], sorted(net)
    assert {v["unit"] for v in recs.values()} == {"nativelstm2"}
    assert recs["lstm_l0_bw"]["direction"] == -1 and recs["lstm_l0_fw"]["direction"] == 1
    assert classes  # the report lists the layers
    net = json.load(open(converted["tmp"] / "time_major_lstm_out" / "returnn.config.json"))["network"]
    assert all(v["initial_state"] == {"c": "var", "h": "var"} for v in net.values() if v["class"] == "rec")
    net = json.load(open(converted["tmp"] / "bigru_out" / "returnn.config.json"))["network"]
    units = [v["unit"] for v in net.values() if v["class"] == "rec"]
    assert len(units) == 4 and all(isinstance(u, dict) and u["n"]["from"] == ["x_n", "r", "h_n"] for u in units)


def test_checkpoint_holds_nativelstm2_variables_in_returnn_layout(converted):
    import tensorflow as tf
    model = converted["models"]["blstm"][0]
    reader = tf.train.load_checkpoint(str(converted["tmp"] / "blstm_out" / "model.001"))
    shapes = reader.get_variable_to_shape_map()
    assert shapes["lstm_l0_fw/rec/W"] == [80, 1024] and shapes["lstm_l0_fw/rec/W_re"] == [256, 1024]
    assert shapes["lstm_l1_bw/rec/b"] == [1024]
    # NativeLSTM2 cuts its gates as (cell input, input, forget, output); PyTorch as (i, f, g, o)
    w = model.lstm.weight_ih_l1_reverse.detach().numpy()
    i, f, g, o = np.split(w, 4)
    np.testing.assert_array_equal(reader.get_tensor("lstm_l1_bw/rec/W"), np.concatenate([g, i, f, o]).T)
    model = converted["models"]["time_major_lstm"][0]
    reader = tf.train.load_checkpoint(str(converted["tmp"] / "time_major_lstm_out" / "model.001"))
    np.testing.assert_array_equal(reader.get_tensor("lstm/rec/initial_c"), model.c0.detach().numpy()[1, 0])
    np.testing.assert_array_equal(reader.get_tensor("lstm_l0/rec/initial_h"), model.h0.detach().numpy()[0, 0])
    model = converted["models"]["bigru"][0]
    reader = tf.train.load_checkpoint(str(converted["tmp"] / "bigru_out" / "model.001"))
    w_hn = np.split(model.gru.weight_hh_l1_reverse.detach().numpy(), 3)[2]  # PyTorch's gates: r, z, n
    np.testing.assert_array_equal(reader.get_tensor("gru_l1_bw_rec/rec/h_n/W"), w_hn.T)


def test_real_returnn_matches_pytorch_at_two_lengths(converted):
    check_returnn_outputs(converted["expected"])


def test_padded_batch_each_sequence_equals_pytorch_alone(converted):
    """With the Python and the JSON config; the interpreter's padded-batch step (convert) passed too."""
    for name, (outputs, alone, batch_axis) in converted["padded"].items():
        worst = {}
        for form, output in outputs.items():
            assert not os.path.exists(output + ".error"), open(output + ".error").read()
            y = np.load(output)
            for i, (length, reference) in enumerate(zip(PADDED, alone)):
                sequence = np.take(y, i, axis=batch_axis)[:len(reference)]  # the output's own length (pooling shortens it)
                assert reference.shape == sequence.shape
                np.testing.assert_allclose(sequence, reference, atol=1e-4, rtol=0, err_msg=f"{name} {form} sequence {i}")
                worst[form] = max(worst.get(form, 0.0), float(np.abs(sequence - reference).max()))
        interpreter = interpreter_padded_figure(converted["reports"][name])
        assert interpreter is not None and interpreter <= 1e-4, (name, interpreter)
        record_padded_figures("recurrent", name, interpreter, worst)


def test_fixed_length_plain_export_of_an_lstm_converts(pt2returnn, tmp_path):
    torch.manual_seed(2)
    model = AcousticBLSTM(classes=12).eval()
    program = torch.export.export(model, (torch.randn(1, 20, 80),))  # torch.export alone: aten.lstm.input
    assert any("aten.lstm" in str(n.target) for n in program.graph.nodes)
    torch.export.save(program, str(tmp_path / "fixed.pt2"))
    report = convert(pt2returnn, str(tmp_path / "fixed.pt2"), str(tmp_path / "out"))
    assert all(layer["passed"] for layer in report["layers"]) and len(report["layers"]) >= 3


def test_a_dim_dynamic_export_reads(pt2returnn, tmp_path):
    model = nn.Sequential(nn.Linear(6, 5), nn.Tanh()).eval()
    program = torch.export.export(model, (torch.randn(1, 9, 6),), dynamic_shapes=({1: torch.export.Dim.DYNAMIC},))
    torch.export.save(program, str(tmp_path / "auto.pt2"))
    # its sample inputs are pickled through torch._tensor._rebuild_from_type_v2
    result = subprocess.run([pt2returnn, "inspect", str(tmp_path / "auto.pt2")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "Dynamic dims" in result.stdout and "(example [1, 9, 6])" in result.stdout


class Wrapped(nn.Module):
    def __init__(self, layer):
        super().__init__()
        self.layer = layer

    def forward(self, x):
        output, state = self.layer(x)
        states = state if isinstance(state, tuple) else (state,)
        return torch.cat([output.flatten()] + [s.flatten() for s in states])  # the sequence and every final state


@pytest.mark.parametrize("name,layer,batch_first", [
    ("lstm_proj_bi", lambda: nn.LSTM(5, 8, num_layers=2, bidirectional=True, proj_size=3), False),
    ("lstm_no_bias", lambda: nn.LSTM(5, 6, bias=False, batch_first=True), True),
    ("gru_bi", lambda: nn.GRU(5, 7, num_layers=2, bidirectional=True, batch_first=True), True),
    ("rnn_relu", lambda: nn.RNN(5, 6, nonlinearity="relu", bidirectional=True), False),
    ("rnn_tanh_no_bias", lambda: nn.RNN(5, 6, bias=False, num_layers=2), False),
])
def test_reference_run_of_the_pt2returnn_ops_matches_pytorch(pt2returnn, tmp_path, name, layer, batch_first):
    """The C reference run of pt2returnn::lstm/gru/rnn_* (and their final states) against PyTorch,
    at a length other than the export's."""
    torch.manual_seed(3)
    model = Wrapped(layer()).eval()
    time_axis = 1 if batch_first else 0
    example = torch.randn(2, 9, 5) if batch_first else torch.randn(9, 2, 5)
    program = pt2returnn_export(model, (example,), dynamic_shapes=({time_axis: TIME},))
    torch.export.save(program, str(tmp_path / "m.pt2"))
    x = torch.randn(2, 14, 5) if batch_first else torch.randn(14, 2, 5)
    np.save(tmp_path / "x.npy", x.numpy())
    result = subprocess.run([pt2returnn, "run", str(tmp_path / "m.pt2"), "--input", str(tmp_path / "x.npy"),
                             "--output", str(tmp_path / "y.npy")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    with torch.no_grad():
        np.testing.assert_allclose(np.load(tmp_path / "y.npy"), model(x).numpy(), atol=1e-5, rtol=0)


def test_gru_and_rnn_initial_states_other_than_zeros_are_refused_by_name(pt2returnn, tmp_path):
    class GivenState(nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = nn.GRU(5, 4, batch_first=True)
            self.h0 = nn.Parameter(torch.ones(1, 1, 4))

        def forward(self, x):
            return self.gru(x, self.h0)[0]

    program = pt2returnn_export(GivenState().eval(), (torch.randn(1, 9, 5),), dynamic_shapes=({1: TIME},))
    torch.export.save(program, str(tmp_path / "m.pt2"))
    result = subprocess.run([pt2returnn, "convert", str(tmp_path / "m.pt2"), "-o", str(tmp_path / "out")],
                            capture_output=True, text=True)
    assert result.returncode != 0 and "initial state" in result.stderr and "pt2returnn.gru" in result.stderr, result.stderr
    assert not os.path.exists(tmp_path / "out" / "model.001.index")


NODE_CLI = os.path.join(ROOT, "node", "bin", "pt2returnn.js")


def test_npm_package_writes_the_same_files(converted, tmp_path):
    """The npm package's CLI (the WebAssembly build) converts the same .pt2 files to byte-identical
    configs and checkpoints."""
    if not os.path.exists(os.path.join(ROOT, "node", "dist", "pt2returnn_wasm.wasm")):
        pytest.skip("no WebAssembly build in node/dist (bash scripts/build.sh builds it)")
    for name, (_, path, _, _) in converted["models"].items():
        out = tmp_path / name
        result = subprocess.run(["node", NODE_CLI, "convert", path, "-o", str(out)], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        native = converted["tmp"] / f"{name}_out"
        for file in ("returnn.config.py", "returnn.config.json", "model.001.index", "model.001.data-00000-of-00001"):
            assert (out / file).read_bytes() == (native / file).read_bytes(), f"{name}: {file} differs"
