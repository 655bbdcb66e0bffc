"""Shared pytest fixtures: where the native build and the PyTorch-made fixtures are."""
import os
import subprocess
import sys

import pytest

# oneDNN reorders float sums; keep TensorFlow bit-stable for comparisons.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD_DIR = os.environ.get("PT2_BUILD_DIR", os.path.join(ROOT, "build"))
FIXTURES_DIR = os.environ.get("PT2_FIXTURES_DIR", os.path.join(ROOT, "build", "fixtures"))


def ensure_fixtures():
    if not os.path.exists(os.path.join(FIXTURES_DIR, "conv_stack.pt2")):
        subprocess.run([sys.executable, os.path.join(ROOT, "tests/fixtures/make_fixtures.py"), FIXTURES_DIR], check=True)
    if not os.path.exists(os.path.join(FIXTURES_DIR, "bad", "expectations.json")):
        subprocess.run([sys.executable, os.path.join(ROOT, "tests/fixtures/make_bad_inputs.py"),
                        os.path.join(FIXTURES_DIR, "bad")], check=True)


@pytest.fixture(scope="session")
def fixtures_dir():
    ensure_fixtures()
    return FIXTURES_DIR


@pytest.fixture(scope="session")
def pt2returnn():
    path = os.path.join(BUILD_DIR, "pt2returnn")
    if not os.path.exists(path):
        pytest.fail(f"no pt2returnn binary at {path}: build first (bash scripts/build.sh)")
    return path


# The flagship's files (examples/flagship/make_mb_melgan.py: the .pt2, its weight-norm checkpoint,
# two mel inputs and PyTorch's outputs on them), made once per test run: scripts/test.sh makes
# them into build/flagship before the tests start and names that folder here; tests read them
# and write their own outputs elsewhere.
FLAGSHIP_DIR = os.environ.get("PT2_FLAGSHIP_DIR")


@pytest.fixture(scope="session")
def flagship_files(tmp_path_factory):
    """The folder holding the flagship's files (a pathlib.Path): PT2_FLAGSHIP_DIR when it has
    them, else made here once for the session."""
    import pathlib
    if FLAGSHIP_DIR and os.path.exists(os.path.join(FLAGSHIP_DIR, "mb_melgan.pt2")):
        return pathlib.Path(FLAGSHIP_DIR)
    out = tmp_path_factory.mktemp("flagship")
    subprocess.run([sys.executable, os.path.join(ROOT, "examples", "flagship", "make_mb_melgan.py"), str(out)],
                   check=True, capture_output=True)
    return out


class ReturnnWorker:
    """The session's one RETURNN process (returnn_worker.py), started when first needed: each
    call of run_returnn_jobs hands it a jobs file and waits for its answer. Its stderr goes to a
    log file whose end is shown should it die; a dead worker fails that call only, the next call
    starts a new one."""

    process, log = None, None

    @classmethod
    def run(cls, path):
        import atexit
        import tempfile
        if cls.process is None or cls.process.poll() is not None:
            if cls.process is None:
                atexit.register(cls.stop)
            cls.log = tempfile.NamedTemporaryFile(prefix="returnn_worker.", suffix=".log", delete=False)
            cls.process = subprocess.Popen([sys.executable, os.path.join(ROOT, "tests", "python", "returnn_worker.py")],
                                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=cls.log, text=True)
        try:
            cls.process.stdin.write(path + "\n")
            cls.process.stdin.flush()
            answer = cls.process.stdout.readline()
        except BrokenPipeError:
            answer = ""
        if answer != "done\n":
            cls.process.kill()
            cls.process.wait()
            with open(cls.log.name, errors="replace") as f:
                raise AssertionError(f"the RETURNN process died running {path}: {f.read()[-3000:]}")

    @classmethod
    def stop(cls):
        if cls.process is not None and cls.process.poll() is None:
            cls.process.stdin.close()
            try:
                cls.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                cls.process.kill()
        if cls.log is not None and cls.process.returncode == 0:
            os.unlink(cls.log.name)
            cls.log = None


def run_returnn_jobs(tmp_dir, jobs):
    """Runs every {"out_dir", "input", "output", "config"} job (cli/run_in_returnn.py's job list)
    in the session's one RETURNN process (ReturnnWorker), so that TensorFlow and RETURNN load once."""
    import json
    path = os.path.join(str(tmp_dir), "returnn_jobs.json")
    with open(path, "w") as f:
        json.dump(jobs, f)
    ReturnnWorker.run(path)


def flat_outputs(value):
    """A model's output as numpy arrays, in the order torch.export flattens it (the pytree's tensor
    leaves: a tensor, a tuple, a dict, a dataclass such as transformers' BaseModelOutput)."""
    import torch
    leaves, _ = torch.utils._pytree.tree_flatten(value)
    return [leaf.detach().numpy() for leaf in leaves if isinstance(leaf, torch.Tensor)]


def result_path(path, k):
    """Where cli/run_in_returnn.py writes result k of a job whose "output" is `path`: the path itself
    for the first, "x.<k>.npy" for "x.npy" after it."""
    return path if k == 0 else f"{path[:-4] if path.endswith('.npy') else path}.{k}.npy"


def expected_results(path, value):
    """[(result k's .npy path, PyTorch's output k)] for a job writing `path`, given the model's output."""
    return [(result_path(path, k), y) for k, y in enumerate(flat_outputs(value))]


def check_returnn_outputs(expected, atol=1e-4):
    """expected: [(output .npy path, PyTorch's output)]; a job that failed left OUTPUT.error."""
    import numpy as np
    for output, y in expected:
        assert not os.path.exists(output + ".error"), open(output + ".error").read()
        np.testing.assert_allclose(np.load(output), y, atol=atol, rtol=0, err_msg=output)


class ReturnnCatalogue:
    """Models converted by the native CLI one after another, their real-RETURNN runs collected to
    run in one RETURNN process: for each, both configs at the example's length and at others, and
    a padded batch. `add` converts (a failed conversion or layer check is noted, not raised, so
    that every model is tried); `check` runs RETURNN once and compares with PyTorch."""

    def __init__(self, pt2returnn, tmp_dir, suite):
        self.pt2returnn, self.tmp_dir, self.suite = pt2returnn, tmp_dir, suite
        self.failures, self.jobs, self.expected, self.padded = [], [], [], {}

    def add(self, name, program_path, model, example, time_axis, lengths, sample=None):
        """sample(size): an input of that size at another length (default torch.randn)."""
        import json
        import numpy as np
        import torch
        out = os.path.join(str(self.tmp_dir), name)
        result = subprocess.run([self.pt2returnn, "convert", str(program_path), "-o", out, "--json"],
                                capture_output=True, text=True)
        if result.returncode != 0:
            self.failures.append(f"{name}: exit {result.returncode}: {result.stderr.strip()[-800:]}")
            return None
        report = json.loads(result.stdout)
        self.failures += [f"{name}: layer {layer['layer']} ({layer['class']}) max abs {layer['max_abs']}"
                          for layer in report["layers"] if not layer["passed"]]
        padded_jobs, checks = padded_batch_jobs(self.tmp_dir, out, model, example.numpy(), time_axis,
                                                prefix=f"{name}.padded", shortest=4)
        self.jobs += padded_jobs
        self.padded[name] = (interpreter_padded_figure(report), checks)
        for length in lengths:
            size = list(example.shape)
            size[time_axis] = length
            x = sample(size) if sample else torch.randn(*size)
            path = os.path.join(str(self.tmp_dir), f"{name}_x{length}.npy")
            np.save(path, x.numpy())
            with torch.no_grad():
                y = model(x).numpy()
            for form in ("py", "json"):
                output = os.path.join(str(self.tmp_dir), f"{name}_y{length}.{form}.npy")
                self.jobs.append({"out_dir": out, "input": path, "output": output, "config": form})
                self.expected.append((output, y))
        return report

    def check(self):
        assert not self.failures, "\n".join(self.failures)
        run_returnn_jobs(self.tmp_dir, self.jobs)
        check_returnn_outputs(self.expected)
        for name, (interpreter, checks) in self.padded.items():
            record_padded_figures(self.suite, name, interpreter, check_padded_outputs(checks))


def input_jobs(tmp_dir, out_dir, model, inputs, prefix="", forms=("py", "json")):
    """Jobs that run a converted model's configs in RETURNN on each input ({label: tensor}, saved as
    <prefix>x<label>.npy), and what to expect: PyTorch's output of `model` on it. Check with
    check_returnn_outputs."""
    import numpy as np
    import torch
    jobs, expected = [], []
    for label, x in inputs.items():
        input_path = os.path.join(str(tmp_dir), f"{prefix}x{label}.npy")
        np.save(input_path, x.numpy())
        with torch.no_grad():
            y = model(x).numpy()
        for form in forms:
            output = os.path.join(str(tmp_dir), f"{prefix}y{label}.{form}.npy")
            jobs.append({"out_dir": str(out_dir), "input": input_path, "output": output, "config": form})
            expected.append((output, y))
    return jobs, expected


def padded_lengths(full, multiple=1, shortest=1):
    """The padded batch's lengths: the example's, about two thirds and one third of it (as the
    padded-batch step of convert chooses them), multiples of `multiple`, at least `shortest`."""
    return [max(shortest, n // multiple * multiple) for n in (full, (2 * full + 2) // 3, (full + 2) // 3)]


def padded_batch_jobs(tmp_dir, out_dir, model, example, time_axis, forms=("py", "json"), prefix="padded", multiple=1,
                      shortest=1, output_batch_axis=0):
    """Jobs that run a converted model in RETURNN on a padded batch (the example at three lengths,
    zeros after each end, the lengths fed as RETURNN's sequence lengths), and what to expect:
    PyTorch's output of `model` on each sequence alone. Check with check_padded_outputs. Files are
    named by `prefix` (one per model when a catalogue shares one folder). A model with several
    outputs gets one check per output (result_path), each with the same batch axis."""
    import numpy as np
    import torch
    lengths = padded_lengths(example.shape[time_axis], multiple, shortest)
    per = example.shape[0]
    batch = np.zeros((per * len(lengths),) + example.shape[1:], example.dtype)
    alone = []
    for i, length in enumerate(lengths):
        index = [slice(None)] * example.ndim
        index[time_axis] = slice(0, length)
        sequence = np.ascontiguousarray(example[tuple(index)])
        index[0] = slice(i * per, (i + 1) * per)
        batch[tuple(index)] = sequence
        with torch.no_grad():
            alone.append(flat_outputs(model(torch.from_numpy(sequence))))
    input_path = os.path.join(str(tmp_dir), f"{prefix}.npy")
    lengths_path = os.path.join(str(tmp_dir), f"{prefix}_lengths.npy")
    np.save(input_path, batch)
    np.save(lengths_path, np.repeat(np.array(lengths, dtype=np.int32), per))
    jobs, checks = [], []
    for form in forms:
        output = os.path.join(str(tmp_dir), f"{prefix}_out.{form}.npy")
        jobs.append({"out_dir": str(out_dir), "input": input_path, "lengths": lengths_path, "output": output, "config": form})
        for k in range(len(alone[0])):  # every output of the model, each against its own sequences
            checks.append((result_path(output, k), [outputs[k] for outputs in alone], form, output_batch_axis))
    return jobs, checks


def check_padded_outputs(checks, atol=1e-4):
    """Each sequence of the padded batch's output, within its own sizes, is PyTorch's output on it
    alone. Returns {config: the worst per-sequence max abs difference}."""
    import numpy as np
    worst = {}
    for check in checks:
        output, alone = check[0], check[1]
        form = check[2] if len(check) > 2 else output.rsplit(".", 2)[-2]
        batch_axis = check[3] if len(check) > 3 else 0
        assert not os.path.exists(output + ".error"), open(output + ".error").read()
        ours = np.moveaxis(np.load(output), batch_axis, 0)
        per = alone[0].shape[batch_axis]
        for i, expected in enumerate(alone):
            expected = np.moveaxis(expected, batch_axis, 0)
            sequence = ours[i * per:(i + 1) * per]
            assert all(a >= b for a, b in zip(sequence.shape, expected.shape)), (output, sequence.shape, expected.shape)
            sequence = sequence[tuple(slice(0, n) for n in expected.shape)]
            np.testing.assert_allclose(sequence, expected, atol=atol, rtol=0, err_msg=f"{output} sequence {i}")
            difference = float(np.abs(sequence.astype(np.float64) - expected).max()) if expected.size else 0.0
            worst[form] = max(worst.get(form, 0.0), difference)
    return worst


# Where the tests leave, per model, the worst per-sequence difference on a padded batch (the
# interpreter's padded-batch step, and real RETURNN with each config); scripts/padded_batch_figures.py
# prints them, one line per model.
PADDED_FIGURES_DIR = os.environ.get("PT2_PADDED_FIGURES_DIR", os.path.join(BUILD_DIR, "padded_batch_figures"))


def interpreter_padded_figure(report):
    """The worst per-sequence max abs of convert's padded-batch step (report.json), or None when
    the step did not run (no dynamic axis, or no batch axis in the output)."""
    for step in report.get("steps", []):
        if step["step"] == "padded-batch" and step.get("max_abs") is not None:
            return step["max_abs"]
    return None


def record_padded_figures(suite, model, interpreter, returnn):
    """Writes PADDED_FIGURES_DIR/<suite>/<model>.json: {"interpreter": x, "returnn-py": y,
    "returnn-json": z} (returnn: {config: worst}, as check_padded_outputs returns)."""
    import json
    folder = os.path.join(PADDED_FIGURES_DIR, suite)
    os.makedirs(folder, exist_ok=True)
    figures = {"interpreter": interpreter}
    figures.update({f"returnn-{form}": value for form, value in returnn.items()})
    path = os.path.join(folder, f"{model.replace('/', '_')}.json")
    with open(path + ".tmp", "w") as f:
        json.dump(figures, f)
    os.replace(path + ".tmp", path)


def convert_refused(pt2returnn, tmp_path, model, example, dynamic_shapes):
    """Exports `model` on `example` and converts it with the CLI, which must refuse it (exit 2)
    writing nothing; returns its stderr, the refusal's message."""
    import torch
    program = torch.export.export(model.eval(), (example,), dynamic_shapes=dynamic_shapes)
    torch.export.save(program, str(tmp_path / "refused.pt2"))
    out = tmp_path / "out"
    result = subprocess.run([pt2returnn, "convert", str(tmp_path / "refused.pt2"), "-o", str(out)],
                            capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    assert not out.exists() or not any(out.iterdir())
    return result.stderr
