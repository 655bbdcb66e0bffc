"""docs/ops.md is what build/tool_ops_doc writes from the op tables (the reference run's, the
lowering's and core/lower/op_notes.c), which the tool also checks agree; and a model with an op
that does not lower is refused with the reason the document gives."""
import os
import re
import subprocess

import torch

from conftest import BUILD_DIR, ROOT


def generated():
    result = subprocess.run([os.path.join(BUILD_DIR, "tool_ops_doc")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_ops_doc_is_up_to_date():
    with open(os.path.join(ROOT, "docs", "ops.md")) as f:
        committed = f.read()
    assert committed == generated(), "docs/ops.md is out of date: run build/tool_ops_doc > docs/ops.md"


def test_reasons_read_as_one_item_of_the_error_list():
    """The unsupported-op error joins its items with "; " (the page and the npm CLI split it there)."""
    reasons = set(re.findall(r"\| `[^`]+` \| no \| ([^|]*?) \|", generated()))
    assert reasons and not [r for r in reasons if "; " in r], reasons


def test_unsupported_op_gives_the_documented_reason(pt2returnn, tmp_path):
    reasons = dict(re.findall(r"\| `([^`]+)` \| no \| ([^|]*?) \|", generated()))

    class TwoD(torch.nn.Module):
        def forward(self, x):
            return torch.sum(x) + 1

    program = torch.export.export(TwoD(), (torch.randn(2, 4, 10),))
    torch.export.save(program, str(tmp_path / "pool.pt2"))
    result = subprocess.run([pt2returnn, "convert", str(tmp_path / "pool.pt2"), "-o", str(tmp_path / "out")],
                            capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    target = next(t for t in reasons if t.startswith("aten.sum.default"))
    assert target in result.stderr and reasons[target] in result.stderr, result.stderr
    assert not os.path.exists(tmp_path / "out" / "returnn.config.json")
