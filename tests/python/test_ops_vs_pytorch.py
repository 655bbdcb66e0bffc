"""Op-by-op matrix of the reference run against real PyTorch: elementwise (broadcasting and type
promotion), activations, reductions, shape ops, pads, factories and symbolic sizes. Each case in
tests/ops/op_cases.py is exported with torch.export, run by `pt2returnn run` on the example
inputs and, for dynamic cases, on another length, and compared with eager PyTorch at the
tolerance the case states (with its reason)."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "ops"))
import harness  # noqa: E402
import op_cases  # noqa: E402


@pytest.mark.parametrize("case", op_cases.CASES, ids=[c.id for c in op_cases.CASES])
def test_op_matches_pytorch(case, tmp_path, pt2returnn):
    rtol, atol, _reason = case.tol
    inputs = case.inputs()
    module = op_cases.make_module(case)
    dynamic = case.dyn() if case.dyn else None
    if dynamic is not None and isinstance(module, op_cases.CaseModule):
        dynamic = (tuple(dynamic),)  # CaseModule.forward(*xs): one entry for the varargs tuple
    harness.run_case(module, inputs, dynamic, tmp_path, rtol, atol, alt_inputs=case.alt() if case.alt else None)


def test_case_ids_are_unique():
    ids = [c.id for c in op_cases.CASES]
    assert len(ids) == len(set(ids))
