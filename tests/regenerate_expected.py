"""Regenerate tests/expected/ci_dipole_limits.csv, the committed result table of the CI configuration.

    .venv/bin/python tests/regenerate_expected.py              # runs the CI workflow in a temporary copy
    .venv/bin/python tests/regenerate_expected.py --from results/ci   # or takes the table of a CI run

The CI test (tests/test_streams.py, through `.ci/run`) compares the table of its CI workflow run with
this file; after a deliberate science change (a new reference engine, a fit detail, a cut) the numbers
move and the test fails until this command is run and the new file is committed, so the change shows
as a reviewed diff of the table. The script prints what changed, column by column.

Tolerances (:func:`compare_tables`): counts (n_events, dof, dof_lmaxL, pseudo-skies used and failed)
and the species/threshold/unit keys exactly; floats to |a - b| <= RTOL |b| + ATOL. The workflow is
bitwise deterministic on one machine with the pinned packages, so these tolerances are for other platforms:
there BLAS kernels, libm and numpy's SIMD loops may round the last bits differently (~1e-16 relative),
and the iterative fits, converged to 1e-6 of a standard error, may then stop one iteration earlier or
later, moving a fitted value by up to ~1e-6 sigma. RTOL = 1e-5 and ATOL = 1e-7 (the smallest statistical
error of the CI table is ~1e-2, so ATOL is ~1e-5 sigma) sit above both and far below any science change,
which moves the numbers by a sizeable fraction of sigma.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script: the tests' helpers
from workflow_helpers import copy_project, run_snakemake  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXPECTED = ROOT / "tests" / "expected" / "ci_dipole_limits.csv"
KEYS = ["species", "threshold", "unit"]
COUNT_COLUMNS = {"n_events", "dof", "pseudo_skies_used", "pseudo_skies_failed"}
RTOL = 1e-5
ATOL = 1e-7


def run_ci_workflow(workdir: Path, cores: int = 2) -> Path:
    """Run the CI configuration up to the result table in ``workdir``; returns results/ci."""
    run_snakemake(workdir, "--cores", str(cores), "--configfile", "config/ci.yaml", "--until", "dipole_table")
    return workdir / "results" / "ci"


def is_count(column: str) -> bool:
    """Integer columns of the result table, compared exactly."""
    return column in COUNT_COLUMNS or column.startswith("dof_lmax")


def compare_tables(actual: pd.DataFrame, expected: pd.DataFrame) -> list[str]:
    """Differences between two result tables beyond the tolerances (module docstring); [] when equal."""
    problems = []
    if list(actual.columns) != list(expected.columns):
        missing = [c for c in expected.columns if c not in actual.columns]
        extra = [c for c in actual.columns if c not in expected.columns]
        problems.append(f"columns differ: missing {missing}, new {extra}"
                        + ("" if missing or extra else " (order)"))
    if len(actual) != len(expected):
        return [*problems, f"{len(actual)} rows instead of {len(expected)}"]
    for key in KEYS:
        if key in actual and key in expected and not actual[key].astype(str).equals(expected[key].astype(str)):
            problems.append(f"{key}: {list(actual[key])} instead of {list(expected[key])}")
    for column in [c for c in expected.columns if c in actual.columns and c not in KEYS]:
        a, e = actual[column].to_numpy(np.float64), expected[column].to_numpy(np.float64)
        same_nan = np.isnan(a) & np.isnan(e)
        if is_count(column):
            rows = np.flatnonzero(~same_nan & (a != e))
            if rows.size:
                problems.append(f"{column} (count, exact): rows {rows.tolist()}: {a[rows].tolist()} instead of "
                                f"{e[rows].tolist()}")
            continue
        bad = ~same_nan & ~(np.abs(a - e) <= RTOL * np.abs(e) + ATOL)
        if bad.any():
            worst = int(np.flatnonzero(bad)[np.argmax(np.nan_to_num(np.abs(a - e)[bad], nan=np.inf))])
            label = " ".join(str(actual[k].iloc[worst]) for k in KEYS if k in actual)
            problems.append(f"{column}: {int(bad.sum())} row(s) beyond |a - b| <= {RTOL:g} |b| + {ATOL:g}; "
                            f"largest at {label}: {float(a[worst])!r} instead of {float(e[worst])!r}")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="source", type=Path,
                        help="a CI run's results folder (results/ci) instead of a fresh run")
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ams_ci_expected_") as tmp:
        if args.source is None:
            print(f"running the CI workflow in {tmp} (a few minutes)...", flush=True)
            results = run_ci_workflow(copy_project(Path(tmp)), args.cores)
        else:
            results = args.source
        table_path = results / "tables" / "dipole_limits.csv"
        if not table_path.exists():
            raise SystemExit(f"{table_path}: no result table (run the CI workflow first)")
        table = pd.read_csv(table_path)
        if EXPECTED.exists():
            problems = compare_tables(table, pd.read_csv(EXPECTED))
            print("changes against the committed table:" if problems else "no change beyond the tolerances")
            for problem in problems:
                print("  " + problem)
        EXPECTED.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(table_path, EXPECTED)
    print(f"wrote {EXPECTED.relative_to(ROOT)} ({len(table)} rows); review and commit it")


if __name__ == "__main__":
    main()
