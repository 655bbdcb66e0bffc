"""The C readers see exactly what PyTorch sees: for every fixture, `pt2returnn inspect --json`
is compared with the truth PyTorch wrote beside it (tests/fixtures/truth.py)."""
import json
import os
import subprocess

import pytest

from conftest import ensure_fixtures, FIXTURES_DIR

ensure_fixtures()
TRUTHS = sorted(f[:-len(".truth.json")] for f in os.listdir(FIXTURES_DIR)
                if f.endswith(".truth.json") and not f.endswith(".key.truth.json"))


def inspect(binary, path, *extra):
    result = subprocess.run([binary, "inspect", path, "--json", *extra], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def load_truth(path):
    with open(path) as f:
        return json.load(f)


def test_every_fixture_kind_is_present():
    assert {os.path.splitext(t)[1] for t in TRUTHS} == {".pt2", ".pt", ".safetensors"}
    assert len(TRUTHS) >= 12


@pytest.mark.parametrize("name", TRUTHS)
def test_tensors_match_pytorch(pt2returnn, fixtures_dir, name):
    path = os.path.join(fixtures_dir, name)
    ours, theirs = inspect(pt2returnn, path), load_truth(path + ".truth.json")
    assert ours["format"] == theirs["format"]
    # Names, kinds (for .pt2), dtypes, shapes, byte counts and the sha256 of every tensor's bytes.
    if ours["format"] != "pt2":
        for t in ours["tensors"]:
            t["kind"] = "tensor"
    if ours["format"] == "safetensors":  # the writer orders the header its own way
        ours["tensors"].sort(key=lambda t: t["name"])
        theirs["tensors"].sort(key=lambda t: t["name"])
    assert ours["tensors"] == theirs["tensors"]


def compare_program(ours, theirs):
    assert ours["inputs"] == theirs["inputs"]
    assert ours["outputs"] == theirs["outputs"]
    assert ours["ops"] == theirs["ops"]
    for dim in ours["dynamic_dims"]:
        assert theirs["ranges"][dim["symbol"]] == {"min": dim["min"], "max": dim["max"]}
    assert [n["name"] for n in ours["nodes"]] == [n["name"] for n in theirs["nodes"]]
    for mine, truth in zip(ours["nodes"], theirs["nodes"]):
        assert (mine["target"], mine["module_path"], mine["module_type"]) == \
            (truth["target"], truth["module_path"], truth["module_type"])
        if truth["args"] is None:  # a Python symbolic op: no schema to compare with
            continue
        # Every argument in schema order, with the defaults torch.export left out filled in.
        assert list(mine["args"]) == list(truth["args"]), mine["name"]
        for key, value in truth["args"].items():
            if isinstance(value, dict) and value.get("skip"):
                continue
            assert mine["args"][key] == value, f"{mine['name']}.{key}"
    assert ours["modules"][0]["path"] == ""
    assert {m["path"] for m in ours["modules"]} == {""} | {p for n in theirs["nodes"] for p in n["module_stack"]}
    assert ours["tensors"] == theirs["tensors"]


@pytest.mark.parametrize("name", [t for t in TRUTHS if t.endswith(".pt2")])
def test_program_matches_pytorch(pt2returnn, fixtures_dir, name):
    path = os.path.join(fixtures_dir, name)
    ours = inspect(pt2returnn, path)
    compare_program(ours, load_truth(path + ".truth.json"))
    assert len(ours["dynamic_dims"]) == 1, "every fixture has exactly one dynamic time axis"


@pytest.mark.parametrize("name", [t for t in TRUTHS if t.endswith(".ckpt.pt")])
def test_checkpoint_key_selects_the_state_dict(pt2returnn, fixtures_dir, name):
    path = os.path.join(fixtures_dir, name)
    ours = inspect(pt2returnn, path, "--checkpoint-key", "model.generator")
    theirs = load_truth(path + ".key.truth.json")
    assert [t["name"] for t in ours["tensors"]] == [t["name"] for t in theirs["tensors"]]
    assert [t["sha256"] for t in ours["tensors"]] == [t["sha256"] for t in theirs["tensors"]]


def test_missing_checkpoint_key_lists_what_exists(pt2returnn, fixtures_dir):
    path = os.path.join(fixtures_dir, "conv_stack.ckpt.pt")
    result = subprocess.run([pt2returnn, "inspect", path, "--checkpoint-key", "model.discriminator"],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert "'generator'" in result.stderr and "discriminator" in result.stderr
