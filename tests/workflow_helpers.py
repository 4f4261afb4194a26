"""Helpers of the tests that run the real workflow in a temporary copy of the project.

The copy is self-contained: ``PYTHONPATH`` puts the copy's ``scripts/`` first, so the rule scripts
import the copy's package and not the editable install of the developer's tree.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT_FILES = ["Snakefile", "workflow", "profiles", "scripts", "config", "resources", "envs", "pyproject.toml"]


def copy_project(destination: Path) -> Path:
    """Copy what the workflow needs (no results, no .snakemake) to ``destination``."""
    destination.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, destination / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.exists():
            shutil.copy2(source, destination / name)
    return destination


def seed_tracing_tables(source_results: Path, destination_results: Path) -> list[Path]:
    """Copy the asymptotic-direction tables (``tracing/*.npz``, rule asymptotic_table) of a finished run folder
    into another run folder, so that a test's run does not trace them again (~1 min each on 2 cores). The
    table depends only on the config's ``tracing`` section and epoch, which the runs share; without a
    Snakemake record the copy counts as up to date (it has no inputs). Returns the copied files."""
    copied = []
    for table in sorted((source_results / "tracing").glob("*.npz")):
        target = destination_results / "tracing" / table.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(table, target)
        copied.append(target)
    if not copied:
        raise AssertionError(f"no tracing table in {source_results / 'tracing'}")
    return copied


def snakemake_command(*args) -> list[str]:
    return [sys.executable, "-m", "snakemake", *args]


def snakemake_env(workdir: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(workdir / "scripts"), *filter(None, [env.get("PYTHONPATH")])])
    return env


def run_snakemake(workdir: Path, *args, check=True, timeout=1800) -> subprocess.CompletedProcess:
    """Run Snakemake in ``workdir``; with ``check`` raise AssertionError (with its output) on failure."""
    command = snakemake_command(*args)
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=timeout,
                            env=snakemake_env(workdir))
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-8000:]}")
    return result


def output_files(results: Path, skip=("logs", "benchmarks")) -> list[Path]:
    """Every file of a run folder, relative to it, but logs and benchmarks (they hold times)."""
    return sorted(
        p.relative_to(results) for p in results.rglob("*")
        if p.is_file() and p.relative_to(results).parts[0] not in skip
    )


def differing_files(first: Path, second: Path, skip=("logs", "benchmarks")) -> list[str]:
    """Relative paths that exist in only one of two run folders or differ in a byte."""
    a, b = set(output_files(first, skip)), set(output_files(second, skip))
    problems = [f"only in {first}: {p}" for p in sorted(a - b)] + [f"only in {second}: {p}" for p in sorted(b - a)]
    problems += [str(p) for p in sorted(a & b) if (first / p).read_bytes() != (second / p).read_bytes()]
    return problems
