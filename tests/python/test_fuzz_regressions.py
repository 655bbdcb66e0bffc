"""The defects the fuzzing issue names (docs/fuzzing.md) stay fixed: each has an input made by
tests/fixtures/make_bad_inputs.py (regressions.json), checked through the CLI and replayed
through its fuzz harness (tests/fuzz/, the <harness>_replay drivers: plain main(), ASan+UBSan
when PT2_BUILD_DIR is build-asan), together with the seed corpus of every harness."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import BUILD_DIR, ROOT, ensure_fixtures, FIXTURES_DIR

ensure_fixtures()
with open(os.path.join(FIXTURES_DIR, "bad", "regressions.json")) as f:
    REGRESSIONS = json.load(f)
HARNESSES = ["zip", "torch_save", "pt2_archive", "pt2_entries", "safetensors", "json", "tf_checkpoint", "reload",
             "apply_checkpoint"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, pt2returnn):
    out = tmp_path_factory.mktemp("fuzz")
    subprocess.run([sys.executable, os.path.join(ROOT, "tests/fuzz/make_corpus.py"), FIXTURES_DIR, str(out),
                    "--pt2returnn", pt2returnn], check=True, capture_output=True)
    return out


def test_every_defect_has_a_regression_input():
    # 1 key with a NUL, 2 sample-input fan-out, 3 shared key names, 4 wrapping TF size,
    # 5 misaligned storages (TF int64 and a re-zipped .pt2), 6 "(t." pickle, 10 a safetensors
    # header of no tensors.
    assert {"key_with_nul.pt", "sample_inputs_fanout.pt2", "shared_key_names.pt", "shape_wraps.tfckpt",
            "misaligned_int64.tfckpt", "rezipped_conv_stack.pt2", "rezipped_tied_weights.pt2",
            "empty_mark_tuple.pt", "no_tensors.safetensors"} <= set(REGRESSIONS)


@pytest.mark.parametrize("harness", HARNESSES)
def test_harness_replays_regressions_and_seeds(corpus, harness):
    replay = os.path.join(BUILD_DIR, f"fuzz_{harness}_replay")
    folders = [str(corpus / kind / harness) for kind in ("regressions", "seeds")]
    result = subprocess.run([replay] + folders, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    replayed = int(result.stdout.split()[1])
    assert replayed == sum(len(os.listdir(f)) for f in folders) and replayed > 0


CLI_CASES = sorted(name for name, how in REGRESSIONS.items() if "exit_code" in how)


@pytest.mark.parametrize("name", CLI_CASES)
def test_defect_through_the_cli(pt2returnn, name):
    how = REGRESSIONS[name]
    path = os.path.join(FIXTURES_DIR, "bad", name)
    # 1 GB of address space: the shared-key checkpoint needed 6 GB before the reader bound (not
    # under ASan, which reserves terabytes of shadow memory).
    limit = "" if "asan" in pt2returnn else "ulimit -v 1000000; "
    result = subprocess.run(["bash", "-c", f'{limit}exec "$0" inspect "$@"', pt2returnn, path] + how.get("args", []),
                            capture_output=True, text=True, timeout=how.get("timeout", 60))
    assert result.returncode == how["exit_code"], (result.returncode, result.stderr)
    if how["exit_code"]:
        lines = result.stderr.splitlines()
        assert len(lines) == 1, result.stderr
        assert how["stderr_contains"] in lines[0] and name in lines[0]
        if "args" in how:  # defect 1: nothing after the list of keys, no bytes from past the key path's end
            assert lines[0].endswith(how["stderr_contains"]), lines[0]


@pytest.mark.parametrize("name", ["rezipped_conv_stack.pt2", "rezipped_tied_weights.pt2"])
def test_rezipped_archive_runs_like_the_original(pt2returnn, tmp_path, name):
    """Python's zipfile does not align entries: the weights are misaligned in the file and get
    copied, once per payload, so tied weights stay tied (the checkpoint report says so) and the
    result is the same bits as the aligned original's."""
    rezipped = os.path.join(FIXTURES_DIR, "bad", name)
    stem = REGRESSIONS[name]["same_as"][:-4]
    original = os.path.join(FIXTURES_DIR, stem + ".pt2")
    import torch
    from safetensors.torch import save_file
    state = torch.load(os.path.join(FIXTURES_DIR, stem + ".ckpt.pt"), weights_only=True)["model"]["generator"]
    # Name only one of tied twins: the other gets it only if the archive's storages stay shared.
    names = sorted(state)
    if stem == "tied_weights":
        names = [n for n in names if n != "emb.weight"]
    checkpoint = tmp_path / "ckpt.safetensors"
    save_file({n: state[n].contiguous() for n in names}, str(checkpoint))
    outputs, reports = [], []
    for model in (original, rezipped):
        out = tmp_path / (os.path.basename(model) + ".npy")
        result = subprocess.run([pt2returnn, "run", model, "--input", os.path.join(FIXTURES_DIR, stem + ".input.npy"),
                                 "--checkpoint", str(checkpoint), "--output", str(out)],
                                check=True, capture_output=True, text=True, timeout=120)
        outputs.append(np.load(out))
        reports.append([line for line in result.stderr.splitlines() if line.startswith("checkpoint")])
    np.testing.assert_array_equal(outputs[0], outputs[1])
    assert reports[0] and reports[0] == reports[1]
