"""Broken and hostile files get one clear line on stderr and exit code 2: no crash, nothing
executed, no huge allocation (the ASan build runs these too)."""
import json
import os
import subprocess

import pytest

from conftest import ensure_fixtures, FIXTURES_DIR

ensure_fixtures()
with open(os.path.join(FIXTURES_DIR, "bad", "expectations.json")) as f:
    EXPECTATIONS = json.load(f)


@pytest.mark.parametrize("name", sorted(EXPECTATIONS["cases"]))
def test_bad_input_is_refused_clearly(pt2returnn, fixtures_dir, name):
    marker = EXPECTATIONS["marker"]
    if os.path.exists(marker):
        os.remove(marker)
    path = os.path.join(fixtures_dir, "bad", name)
    expected = EXPECTATIONS["cases"][name]
    # A low address-space limit proves no allocation is driven by a length field (not under ASan,
    # which reserves terabytes of shadow memory).
    limit = "" if "asan" in pt2returnn else "ulimit -v 1000000; "
    result = subprocess.run(["bash", "-c", f'{limit}exec "$0" inspect "$1"', pt2returnn, path],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == expected["exit_code"], (result.returncode, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert expected["stderr_contains"] in lines[0]
    assert name in lines[0], "the error names the file"
    assert result.stdout == ""
    assert not os.path.exists(marker), "something in the pickle was executed"
