#!/usr/bin/env python3
"""Prints, one line per model, the worst per-sequence difference on a padded batch that the test
suite measured: the interpreter's padded-batch step (convert) and real RETURNN with the Python and
the JSON config. The tests write the figures (tests/python/conftest.py record_padded_figures) to
build/padded_batch_figures/<suite>/<model>.json, or to $PT2_PADDED_FIGURES_DIR; run the suites first,
e.g. bash scripts/test.sh, then: python3 scripts/padded_batch_figures.py [DIR]"""
import json
import os
import sys

COLUMNS = ("interpreter", "returnn-py", "returnn-json")


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    default = os.environ.get("PT2_PADDED_FIGURES_DIR",
                             os.path.join(os.environ.get("PT2_BUILD_DIR", os.path.join(root, "build")), "padded_batch_figures"))
    folder = sys.argv[1] if len(sys.argv) > 1 else default
    rows = []
    for suite in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        for name in sorted(os.listdir(os.path.join(folder, suite))):
            if name.endswith(".json"):
                with open(os.path.join(folder, suite, name)) as f:
                    rows.append((f"{suite}/{name[:-5]}", json.load(f)))
    if not rows:
        print(f"no figures in {folder}: run the test suites first", file=sys.stderr)
        return 1
    width = max(len(model) for model, _ in rows)
    print(f"{'model':<{width}}  " + "  ".join(f"{c:>12}" for c in COLUMNS) + "   (worst per-sequence max abs)")
    worst, missing = {c: 0.0 for c in COLUMNS}, 0
    for model, figures in rows:
        cells = []
        for column in COLUMNS:
            value = figures.get(column)
            if value is None:
                missing += 1
                cells.append(f"{'-':>12}")
            else:
                worst[column] = max(worst[column], value)
                cells.append(f"{value:>12.3g}")
        print(f"{model:<{width}}  " + "  ".join(cells))
    print(f"{len(rows)} models; worst: " + ", ".join(f"{c} {worst[c]:.3g}" for c in COLUMNS) +
          (f"; {missing} figures missing" if missing else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
