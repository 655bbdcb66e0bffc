"""The neural-network op families (conv, linear/matmul, norms, pools and resampling,
attention, LSTM) op by op against real PyTorch: each case of tests/ops/op_cases_nn.py is
exported, run by our CLI (natively, XNNPACK where it applies) on its example inputs and, where
it has a dynamic axis, at another length, and compared with eager PyTorch at the case's stated
tolerance. The same cases run again with --portable (the kernels the WASM build runs)."""
import os
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, os.path.join(ROOT, "tests", "ops"))
import harness  # noqa: E402
import op_cases_nn  # noqa: E402

CASES = op_cases_nn.cases()


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_op_matches_pytorch(pt2returnn, tmp_path, case):
    harness.run_case(case["module"], case["inputs"], case["dynamic"], tmp_path, case["rtol"], case["atol"],
                     alt_inputs=case["alt"])


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_op_matches_pytorch_portable(pt2returnn, tmp_path, case, monkeypatch):
    command = harness.runner_command()
    monkeypatch.setattr(harness, "runner_command", lambda: command + ["--portable"])
    harness.run_case(case["module"], case["inputs"], case["dynamic"], tmp_path, case["rtol"], case["atol"],
                     alt_inputs=case["alt"])
