"""pt2returnn.convert, the Python API (docs/python.md): a live module converted in process through
the binding to the C core, real PyTorch as the reference, real RETURNN loading and training what
it returns. The package must be installed (scripts/setup.sh puts it into .venv); the first test
installs it into a fresh virtual environment the way a user would."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import pt2returnn
from conftest import ROOT


class ConvStack(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv1d(8, 16, 3, padding=1)
        self.conv2 = torch.nn.Conv1d(16, 8, 3, padding=1)

    def forward(self, x):
        return self.conv2(torch.relu(self.conv1(x)))


def conv_stack():
    torch.manual_seed(0)
    return ConvStack().eval()


TIME = ({2: torch.export.Dim("time", min=4, max=1000)},)


def steps(result):
    return {step["step"]: step for step in result.report["steps"]}


# ---- one pip install into a fresh virtual environment, then a user's script ----

@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory):
    """A new venv that sees torch, TensorFlow and RETURNN through a .pth file pointing at the
    test suite's site-packages (so that nothing big is downloaded again), with pt2returnn
    installed by one `pip install ROOT/python`: the extension is built from the repository's
    sources there (its CMake build directory python/build/ is reused between runs)."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    shared = [p for p in sys.path if p.endswith("site-packages") and os.path.isdir(os.path.join(p, "torch"))]
    with open(os.path.join(site, "shared_site_packages.pth"), "w") as f:
        f.write(shared[0] + "\n")
    install = subprocess.run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                              os.path.join(ROOT, "python")], capture_output=True, text=True)
    assert install.returncode == 0, install.stdout + install.stderr
    return python, site


FLAGSHIP_SCRIPT = '''
import sys, torch, pt2returnn
sys.path.insert(0, {examples!r}); import make_mb_melgan as mb
generator, pqmf = mb.build()
generator.load_state_dict(torch.load({checkpoint!r}, weights_only=True)["model"]["generator"])
generator.remove_weight_norm()
model = mb.MultiBandVocoder(generator, pqmf).eval()
frames = torch.export.Dim("frames", min=8, max=2000)
result = pt2returnn.convert(model, (torch.randn(1, 80, 100),), dynamic_shapes=({{2: frames}},),
                            checkpoint={checkpoint!r}, checkpoint_key="model.generator", out_dir={out!r})
print(result.report_text)
'''


def test_fresh_venv_one_pip_install_converts_the_flagship_from_its_weight_norm_checkpoint(fresh_venv, flagship_files,
                                                                                          tmp_path):
    python, site = fresh_venv
    where = subprocess.run([python, "-c", "import pt2returnn._core as c; print(c.__file__)"], cwd=tmp_path,
                           check=True, capture_output=True, text=True).stdout.strip()
    assert where.startswith(site) and where.endswith(".so")  # the compiled binding, from the new venv
    script = tmp_path / "convert_flagship.py"
    script.write_text(FLAGSHIP_SCRIPT.format(examples=os.path.join(ROOT, "examples", "flagship"),
                                             checkpoint=str(flagship_files / "mb_melgan.checkpoint.pkl"),
                                             out=str(tmp_path / "out")))
    assert len(script.read_text().strip().splitlines()) <= 12
    # No PATH to a pt2returnn binary: the conversion runs in process.
    env = {k: v for k, v in os.environ.items() if k != "PATH"} | {"PATH": "/usr/bin:/bin"}
    run = subprocess.run([python, str(script)], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    print(run.stdout[:1500])
    assert "41 weights folded from weight norm's g and v" in run.stdout
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    by_name = {s["step"]: s for s in report["steps"]}
    for name in ("reference", "reference@frames=37"):
        assert "against PyTorch's outputs" in by_name[name]["what"] and by_name[name]["passed"]
        assert by_name[name]["max_abs"] < 1e-4
    assert report["passed"] and all(s["passed"] for s in report["steps"])


BLSTM_SCRIPT = '''
import torch, pt2returnn
class AcousticBLSTM(torch.nn.Module):  # the recurrent-models issue's BLSTM: 80 features, 2 x BLSTM 256, 40 classes
    def __init__(self, classes=40):
        super().__init__()
        self.lstm = torch.nn.LSTM(80, 256, num_layers=2, bidirectional=True, batch_first=True)
        self.output = torch.nn.Linear(512, classes)
    def forward(self, features):
        return torch.log_softmax(self.output(self.lstm(features)[0]), dim=-1)
torch.manual_seed(0)
result = pt2returnn.convert(AcousticBLSTM().eval(), (torch.randn(1, 50, 80),), returnn=True, out_dir={out!r},
                            dynamic_shapes=({{1: torch.export.Dim("time", min=2, max=4096)}},))
print(result.report_text)
'''


def test_fresh_venv_converts_the_blstm_and_runs_it_in_real_returnn(fresh_venv, tmp_path):
    python, _ = fresh_venv
    script = tmp_path / "convert_blstm.py"
    script.write_text(BLSTM_SCRIPT.format(out=str(tmp_path / "out")))
    run = subprocess.run([python, str(script)], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    print(run.stdout[:2500])
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    by_name = {s["step"]: s for s in report["steps"]}
    for name in ("reference", "reference@time=18", "returnn-py", "returnn-json", "returnn-py@time=18",
                 "returnn-json@time=18"):
        assert "against PyTorch's outputs" in by_name[name]["what"] and by_name[name]["passed"], by_name[name]
        assert by_name[name]["max_abs"] < 1e-4
    assert "returnn-json@time=18 pass" in run.stdout


# ---- the result object ----

def test_convert_returns_the_network_the_configs_the_checkpoint_and_the_report(tmp_path):
    model = conv_stack()
    x = torch.randn(2, 8, 30)
    result = pt2returnn.convert(model, (x,), dynamic_shapes=TIME, out_dir=tmp_path / "out")
    assert result.passed and result.failed_step is None
    assert result.net_dict == json.loads(result.config_json)["network"]
    assert set(result.net_dict) >= {"conv1", "relu", "conv2", "output"}
    assert result.extern_data["data"]["shape"] == [8, None]  # [batch,] channels, time (dynamic)
    assert result.config_py.startswith("#!rnn.py") and (tmp_path / "out" / "returnn.config.py").read_text() == result.config_py
    for path in result.checkpoint_files:
        assert os.path.getsize(path) > 0
    s = steps(result)
    # PyTorch ran at the example length and at a second one; the core compared with both.
    assert s["reference"]["what"].endswith("against PyTorch's outputs") and s["reference"]["passed"]
    assert "reference@time=11" in s and "layers@time=11" in s and "reload@time=11" in s
    assert [row["layer"] for row in result.report["layers"]] == ["conv1", "relu", "conv2"]
    assert all(row["passed"] and row["max_abs"] < 1e-4 for row in result.report["layers"])
    # The checkpoint holds PyTorch's weights in TF's layout.
    import tensorflow as tf
    reader = tf.train.load_checkpoint(result.checkpoint)
    np.testing.assert_array_equal(reader.get_tensor("conv1/W"), model.conv1.weight.detach().permute(2, 1, 0).numpy())
    # The model as one layer of another name: its own checkpoint, every variable under that name.
    layer = result.as_layer_dict("vocoder")
    assert layer["class"] == "subnetwork" and set(layer["subnetwork"]) >= {"conv1", "conv2", "output"}
    assert os.path.exists(tmp_path / "out" / "as_layer.vocoder" / "vocoder.layer.py")
    names = set(tf.train.load_checkpoint(result.as_layer_checkpoint("vocoder")).get_variable_to_shape_map())
    assert names == {"global_step", "vocoder/conv1/W", "vocoder/conv1/bias", "vocoder/conv2/W", "vocoder/conv2/bias"}


def test_an_exported_program_and_a_temporary_directory_it_owns():
    program = torch.export.export(conv_stack(), (torch.randn(1, 8, 20),), dynamic_shapes=TIME)
    result = pt2returnn.convert(program, (torch.randn(1, 8, 20),))
    out_dir = result.out_dir
    assert os.path.exists(result.checkpoint + ".index")
    # The program's own symbol names the dim here (no Dim objects were given).
    assert any(name.startswith("reference@") and name.endswith("=7") for name in steps(result))
    del result
    import gc
    gc.collect()
    assert not os.path.exists(out_dir)


@pytest.mark.parametrize("dim", [torch.export.Dim("time"), torch.export.Dim.AUTO], ids=["Dim-without-max", "Dim.AUTO"])
def test_a_dim_without_an_upper_bound_converts_at_a_second_length(dim, tmp_path):
    """A dim given without max (as torch.export's docs and transformers' speech models are exported:
    Dim.AUTO) has torch's integer infinity as its upper bound, which calls itself finite; the second
    length must be chosen below no bound, not by casting that infinity to an int."""
    result = pt2returnn.convert(conv_stack(), (torch.randn(2, 8, 30),), dynamic_shapes=({2: dim},), out_dir=tmp_path / "out")
    assert result.passed
    second = [name for name in steps(result) if name.startswith("reference@")]
    assert second == [second[0]] and second[0].endswith("=11"), list(steps(result))  # 37% of 30 frames
    assert steps(result)[second[0]]["passed"]


def test_returnn_true_runs_both_configs_in_real_returnn_at_both_lengths(tmp_path):
    result = pt2returnn.convert(conv_stack(), (torch.randn(2, 8, 30),), dynamic_shapes=TIME, returnn=True)
    s = steps(result)
    for name in ("returnn-py", "returnn-json", "returnn-py@time=11", "returnn-json@time=11"):
        assert s[name]["passed"] and "real RETURNN, against PyTorch's outputs" in s[name]["what"], s[name]
        assert s[name]["max_abs"] < 1e-4
    assert "returnn-py@time=11" in result.report_text


class TwoOutputs(torch.nn.Module):
    """A dict of two outputs of different shapes: frames [B, T, 6] and their mean over time [B, 6]."""
    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(8, 6)

    def forward(self, x):
        h = torch.tanh(self.proj(x))
        return {"frames": h, "summary": h.mean(dim=1)}


def test_every_output_is_compared_at_both_lengths_and_in_real_returnn():
    """A module returning a dict: PyTorch's two outputs are the references of the core's steps (each
    output with its own figures, named by its key) and of the RETURNN runs at both lengths."""
    torch.manual_seed(0)
    result = pt2returnn.convert(TwoOutputs().eval(), (torch.randn(2, 20, 8),),
                                dynamic_shapes=({1: torch.export.Dim("time", min=4, max=256)},), returnn=True)
    assert [(o["name"], o["layer"]) for o in result.report["outputs"]] == [("frames", "output"),
                                                                           ("summary", "output_summary")]
    for o in result.report["outputs"]:
        assert [f["step"] for f in o["steps"]] == ["reference", "reload", "padded-batch"] and all(f["passed"] for f in o["steps"])
    assert result.net_dict["output_summary"]["is_output_layer"] is True
    s = steps(result)
    for name in ("returnn-py", "returnn-json", "returnn-py@time=7", "returnn-json@time=7"):
        assert s[name]["passed"] and "max abs per output" in s[name]["what"] and s[name]["max_abs"] < 1e-4, s[name]


# ---- errors ----

class UnsupportedOp(torch.nn.Module):
    """sort, which the reference run does not execute."""
    def forward(self, x):
        return torch.where(torch.sort(x, dim=1).values > 0, 1.0, 0.0)


def test_errors_are_one_hierarchy_carrying_the_cores_message(tmp_path):
    with pytest.raises(pt2returnn.BadInputError, match="expected a torch.nn.Module"):
        pt2returnn.convert("model.pt2", (torch.randn(1, 8, 20),))
    with pytest.raises(pt2returnn.UnsupportedOpsError) as unsupported:
        pt2returnn.convert(UnsupportedOp(), (torch.randn(1, 8, 20),))
    assert "aten.sort.default" in str(unsupported.value) and "node 'sort'" in str(unsupported.value)
    assert isinstance(unsupported.value, pt2returnn.Pt2ReturnnError)
    # Tolerances no float32 conversion meets: the check fails, the files are still written.
    with pytest.raises(pt2returnn.CheckFailedError) as failed:
        pt2returnn.convert(conv_stack(), (torch.randn(1, 8, 20),), dynamic_shapes=TIME, atol=0, rtol=0,
                           out_dir=tmp_path / "o")
    assert failed.value.failed_step in ("reference", "layers", "reload")
    assert not failed.value.result.passed and (tmp_path / "o" / "report.txt").exists()


def test_strict_checkpoint_names_every_missing_and_unexpected_key(tmp_path):
    model = conv_stack()
    state = model.state_dict()
    lacking = {k: v for k, v in state.items() if k != "conv2.bias"}
    with pytest.raises(pt2returnn.CheckpointMismatchError) as missing:
        pt2returnn.convert(model, (torch.randn(1, 8, 20),), checkpoint=lacking)
    assert missing.value.missing == ["conv2.bias"] and "conv2.bias" in str(missing.value)
    extra = dict(state, **{"conv3.weight": torch.zeros(3), "conv3.bias": torch.zeros(3)})
    with pytest.raises(pt2returnn.CheckpointMismatchError) as unexpected:
        pt2returnn.convert(model, (torch.randn(1, 8, 20),), checkpoint=extra)
    assert sorted(unexpected.value.unexpected) == ["conv3.bias", "conv3.weight"]
    # PyTorch's own rule says the same about these keys.
    with pytest.raises(RuntimeError, match="conv2.bias"):
        conv_stack().load_state_dict(lacking, strict=True)
    # The same file on disk, and strict=False: converted with the model's own value for the missing key.
    torch.save({"model": lacking}, tmp_path / "lacking.pt")
    with pytest.raises(pt2returnn.CheckpointMismatchError, match="conv2.bias"):
        pt2returnn.convert(model, (torch.randn(1, 8, 20),), checkpoint=tmp_path / "lacking.pt", checkpoint_key="model")
    result = pt2returnn.convert(model, (torch.randn(1, 8, 20),), checkpoint=tmp_path / "lacking.pt",
                                checkpoint_key="model", strict=False, dynamic_shapes=TIME)
    assert result.passed and "conv2.bias" in result.report_text
    assert result.checkpoint_keys["strict"] is False and result.checkpoint_keys["missing"] == ["conv2.bias"]
    wrong_shape = dict(state, **{"conv1.bias": torch.zeros(15)})
    with pytest.raises(pt2returnn.BadInputError, match="conv1.bias"):
        pt2returnn.convert(model, (torch.randn(1, 8, 20),), checkpoint=wrong_shape)


# ---- direct use: the model as one layer of a network of your own, trained in real RETURNN ----

def test_as_layer_dict_trains_in_real_returnn_from_the_converted_checkpoint(tmp_path):
    import tensorflow as tf
    from returnn.config import Config
    from returnn.datasets.generating import StaticDataset
    from returnn.log import log
    from returnn.tensor import Dim, batch_dim
    from returnn.tf.engine import Engine
    from returnn.util.basic import BehaviorVersion

    model = conv_stack()
    result = pt2returnn.convert(model, (torch.randn(2, 8, 30),), dynamic_shapes=TIME, out_dir=tmp_path / "converted",
                                as_layer="converted")
    assert (tmp_path / "converted" / "converted.layer.py").exists()
    layer = result.as_layer_dict("converted")
    assert layer["class"] == "subnetwork"
    layer["from"] = "pre"
    checkpoint = result.as_layer_checkpoint("converted")
    assert checkpoint == result.checkpoint  # convert(as_layer=...) made it already
    time_dim, feature_dim, one_dim = Dim(None, name="time"), Dim(8, name="feature"), Dim(1, name="one")
    rng = np.random.default_rng(0)
    data = [{"data": rng.standard_normal((int(n), 8)).astype("float32")} for n in rng.integers(10, 20, size=16)]
    config = Config({
        "backend": "tensorflow-net-dict", "behavior_version": 21, "task": "train",
        "extern_data": {"data": {"dim_tags": [batch_dim, time_dim, feature_dim], "dtype": "float32"}},
        "network": {
            "pre": {"class": "linear", "from": "data", "out_dim": feature_dim, "activation": None},
            "converted": layer,
            "post": {"class": "linear", "from": "converted", "out_dim": one_dim, "activation": None},
            "output": {"class": "eval", "from": "post", "eval": "tf.square(source(0) - 1.0)", "loss": "as_is"},
        },
        "preload_from_files": {"converted": {"filename": checkpoint, "init_for_train": True, "ignore_missing": True}},
        "optimizer": {"class": "adam"}, "learning_rate": 0.003, "batch_size": 200, "num_epochs": 4,
        "model": str(tmp_path / "train" / "model"), "log_verbosity": 1,
    })
    BehaviorVersion.set(21)
    log.initialize(verbosity=[1])
    dataset = StaticDataset(data, output_dim={"data": (8, 2)})
    dataset.init_seq_order(epoch=1)
    engine = Engine(config)
    engine.init_train_from_config(config, train_data=dataset)
    # Before training: the converted layer's variables are PyTorch's weights, from the converted checkpoint.
    params = {v.name[:-2]: v for v in engine.network.get_params_list()}
    loaded = engine.tf_session.run(params["converted/conv2/W"])
    np.testing.assert_array_equal(loaded, model.conv2.weight.detach().permute(2, 1, 0).numpy())
    np.testing.assert_array_equal(engine.tf_session.run(params["converted/conv1/bias"]), model.conv1.bias.detach().numpy())
    engine.train()
    scores = [engine.learning_rate_control.get_epoch_error_dict(epoch)["train_score"] for epoch in range(1, 5)]
    print("train score per epoch:", scores)
    assert scores[-1] < scores[0] * 0.8, scores
    # Training changed the converted layer's weights (it is a trainable part of the network).
    assert not np.array_equal(engine.tf_session.run(params["converted/conv2/W"]), loaded)
    engine.finalize()


# ---- progress: on a terminal only ----

PROGRESS_SCRIPT = '''
import torch, pt2returnn
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Conv1d(8, 8, 3, padding=1)).eval()
pt2returnn.convert(model, (torch.randn(1, 8, 20),), dynamic_shapes=({2: torch.export.Dim("time", min=4, max=100)},))
'''


def test_progress_shows_on_a_terminal_only(tmp_path):
    import pty
    script = tmp_path / "progress.py"
    script.write_text(PROGRESS_SCRIPT)
    piped = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    assert piped.returncode == 0, piped.stderr[-2000:]
    assert "[layers]" not in piped.stderr and "[layers]" not in piped.stdout
    controller, terminal = pty.openpty()
    with subprocess.Popen([sys.executable, str(script)], stdout=subprocess.DEVNULL, stderr=terminal) as process:
        os.close(terminal)
        shown = b""
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the terminal closed with the process
                break
            if not chunk:
                break
            shown += chunk
    os.close(controller)
    assert process.returncode == 0
    text = shown.decode(errors="replace")
    assert "[load]" in text and "[layers] passed" in text and "[second length] time=7" in text, text[-2000:]
