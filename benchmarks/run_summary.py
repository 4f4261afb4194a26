"""Summary of a finished workflow run from Snakemake's own records: time per rule, memory per job, disk.

Reads every ``results/<run>/benchmarks/<rule>/*.tsv`` (Snakemake's ``benchmark:`` files: wall s, max_rss MB,
cpu_time s per job) and the run's Snakemake log (``.snakemake/log/*.snakemake.log``: the first and last
time stamps give the end-to-end wall time) and prints, per rule: jobs, summed wall time, summed CPU time,
the longest job and the largest peak memory (max_rss); then the total, the largest job overall, and the
run folder's size now (raw simulated events are temporary, so the peak disk of a run is larger: pass
``--peak-disk-file`` the output of a sampler, e.g. ``benchmarks/disk_sampler.sh``).

Usage::

    .venv/bin/python benchmarks/run_summary.py results/paper [--log .snakemake/log/<file>] [--peak-disk-file F]

The figures depend on the machine's load: the CPU time is the better measure of the work on a shared machine.
"""

from __future__ import annotations

import argparse
import re
from datetime import datetime
from pathlib import Path

import pandas as pd

STAMP = re.compile(r"^(\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2})")
ROOT = Path(__file__).resolve().parents[1]


def read_benchmarks(run_dir: Path) -> pd.DataFrame:
    rows = []
    folder = run_dir / "benchmarks"
    for path in sorted(folder.rglob("*.tsv")):  # benchmarks/<rule>/<job>.tsv or <rule>/<species>/<job>.tsv
        table = pd.read_csv(path, sep="\t")
        if table.empty:
            continue
        row = table.iloc[-1]
        rule, *job = path.relative_to(folder).with_suffix("").parts
        rows.append({"rule": rule, "job": "_".join(job), "wall_s": float(row["s"]),
                     "max_rss_mb": float(row["max_rss"]) if row["max_rss"] != "-" else float("nan"),
                     "cpu_s": float(row["cpu_time"]) if "cpu_time" in row else float("nan")})
    if not rows:
        raise SystemExit(f"{run_dir}: no Snakemake benchmark files under benchmarks/")
    return pd.DataFrame(rows)


def log_span_s(log_path: Path) -> float | None:
    stamps = []
    for line in log_path.read_text(errors="replace").splitlines():
        match = STAMP.match(line)
        if match:
            stamps.append(datetime.fromisoformat(match.group(1)))
    return (max(stamps) - min(stamps)).total_seconds() if len(stamps) >= 2 else None


def folder_size_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", type=Path, help="results/<run_name>")
    parser.add_argument("--log", type=Path, help="the run's Snakemake log (default: the newest in .snakemake/log)")
    parser.add_argument("--peak-disk-file", type=Path, help="'time bytes' written by a disk sampler")
    args = parser.parse_args(argv)
    jobs = read_benchmarks(args.run_dir)
    per_rule = jobs.groupby("rule").agg(jobs=("job", "size"), wall_s=("wall_s", "sum"), cpu_s=("cpu_s", "sum"),
                                        longest_s=("wall_s", "max"), max_rss_mb=("max_rss_mb", "max"))
    print(per_rule.sort_values("wall_s", ascending=False).round(1).to_string())
    print(f"\nsummed job wall time {jobs['wall_s'].sum():.0f} s, summed CPU time {jobs['cpu_s'].sum():.0f} s over "
          f"{len(jobs)} benchmarked jobs")
    largest = jobs.loc[jobs["max_rss_mb"].idxmax()]
    print(f"largest job: {largest['rule']} {largest['job']} {largest['max_rss_mb'] / 1024:.2f} GB")
    log = args.log
    if log is None:
        logs = sorted((args.run_dir.parent.parent / ".snakemake" / "log").glob("*.snakemake.log"))
        log = logs[-1] if logs else None
    if log is not None and log.is_file():
        span = log_span_s(log)
        if span is not None:
            print(f"end to end (first to last time stamp of {log.name}): {span / 60:.1f} min")
    print(f"run folder now: {folder_size_bytes(args.run_dir) / 1e9:.2f} GB")
    if args.peak_disk_file and args.peak_disk_file.is_file():
        peak = int(args.peak_disk_file.read_text().split()[-1])
        print(f"peak disk of the run folder (sampled): {peak / 1e9:.2f} GB")


if __name__ == "__main__":
    main()
