"""Hit rate of the understanding table (tests/data/understanding_cases.yaml) on a checkout.

Runs every case of the table with the code importable from the current Python path and
prints how many give the expected result, overall and for the cases of one issue (``issue:
N`` in a case). A case whose function does not exist in that checkout counts as a miss, so
the same table measures the code before and after a change:

    python bench/understanding.py --issue 15                       # this checkout
    PYTHONPATH=/path/to/older/checkout python bench/understanding.py --issue 15

The table itself is the test suite's (tests/test_understanding.py runs each case).
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(issue: int | None) -> tuple[int, int, int, int, list[str]]:
    """Play the table; return (hits, cases, hits of `issue`, cases of `issue`, the inputs of
    the issue's cases that missed)."""
    # The table and its runner from this checkout; `bot` from wherever the path says.
    spec = importlib.util.spec_from_file_location("understanding_table",
                                                  ROOT / "tests" / "test_understanding.py")
    table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(table)

    hits = total = issue_hits = issue_total = 0
    missed: list[str] = []
    for case in table.TABLE["cases"]:
        try:
            result = table._run(case)
            expected = case["expected"]
            if isinstance(expected, dict):
                ok = {f: table._normalise(getattr(result, f)) for f in expected} == expected
            else:
                ok = result == expected
        except Exception:  # a function this checkout does not have: a miss
            ok = False
        total += 1
        hits += ok
        if issue is not None and case.get("issue") == issue:
            issue_total += 1
            issue_hits += ok
            if not ok:
                missed.append(f"{case['kind']}: {case['input']}")
    return hits, total, issue_hits, issue_total, missed


def main() -> None:
    """Parse the options and print the hit rates."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--issue", type=int, default=None, help="also count this issue's cases")
    parser.add_argument("--show", action="store_true", help="list the issue's cases missed")
    args = parser.parse_args()
    hits, total, issue_hits, issue_total, missed = run(args.issue)
    print(f"all cases: {hits}/{total} ({100 * hits / total:.0f}%)")
    if args.issue is not None and issue_total:
        print(f"issue {args.issue} cases: {issue_hits}/{issue_total} "
              f"({100 * issue_hits / issue_total:.0f}%)")
        if args.show:
            for line in missed:
                print(f"  missed {line}")


if __name__ == "__main__":
    main()
