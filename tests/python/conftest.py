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
