"""Benchmark of the event simulation and selection against a baseline revision, extrapolated to the runs.

On the same timeline (a stretch of ``--days`` from 2011-05-19, config/config.yaml models, cadence
``--cadence-s``), for the current code and for the package of ``--baseline-rev`` (default: the commit
before the simulation rewrite), each in its own worker process, alternated ``--repeats`` times so that
both see the same machine load:

* simulation: ``simulate_events`` with the default config's particles and options (the baseline gets
  the options it knows), good intervals only as in config/paper.yaml;
* writing the event file: the baseline's ``io.write_parquet``; the current ``parquet_frames.write_frames``;
* selection of the six species: the baseline read the file and selected once per species (one job per
  species and chunk); the current code reads it once and calls ``selection.select_species``;
* the selected files written (as above) and their size.

Times are CPU seconds of the worker (``time.process_time``, robust against the load of a shared
machine) and wall seconds; the ratios baseline / current are the speed-ups. Then the extrapolation:
per-day costs times the period (73 days default, 2739.4 days paper with e± over 2374.1 days) plus the
Python start-up and imports of each job (measured here) times the number of jobs, over 2 cores.

Usage: .venv/bin/python benchmarks/bench_simulation.py [--days 2] [--cadence-s 10] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE_REV = "897a624038fca890e2e488e0adfa521a5917739f"  # before the simulation/selection rewrite
START_UNIX_S = 1305763200.0  # 2011-05-19 (paper)
RUNS = {  # name: (days, chunk_days, e± days) of config/config.yaml and config/paper.yaml
    "default": (73.0, 36.5, 73.0),
    "paper": (2739.4, 91.32, 2374.125),
}
E_PM_SHARE = 0.01  # e± events / all stored events (measured; only used to scale the e± period)


def worker(package: str, timeline_path: str, out_dir: str, current: bool) -> dict:
    """Measure one implementation (imports from ``package``); returns the figures as a dict."""
    t_import = time.perf_counter()
    sys.path.insert(0, package)
    import pandas as pd
    import yaml

    from ams_anisotropy import io, selection
    from ams_anisotropy.configuration import particle_sources, simulation_models
    from ams_anisotropy.simulation import simulate_events

    import_s = time.perf_counter() - t_import
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    sim = cfg["simulation"]
    timeline = pd.read_parquet(timeline_path)
    stop = float(timeline["time_unix_s"].iloc[-1] + timeline["duration_s"].iloc[-1])
    models = simulation_models(sim, cfg["good_intervals"], START_UNIX_S, (START_UNIX_S, stop))
    particles = particle_sources(sim, ROOT)
    kwargs = dict(seed=1, chunk_id=0, particles=particles, orbit=models["orbit"], attitude=models["attitude"],
                  field=models["field"], prescale=sim["prescale"],
                  hidden_efficiency_amplitude=sim["hidden_efficiency_amplitude"],
                  albedo_fraction=sim["albedo_fraction"], poor_track_fraction=sim["poor_track_fraction"],
                  max_zenith_deg=sim["max_zenith_deg"], good_only=True)
    if current:
        import dataclasses

        parents = {name: n["parent"] for name, n in sim.get("neighbour_charges", {}).items()}

        def own(name):  # as scripts/simulate_events.py: a neighbouring charge takes its parent's options
            return sim["particles"].get(name) or sim["particles"][parents[name]]

        kwargs["particles"] = [dataclasses.replace(p, pattern_min_ecal_energy_gev=own(p.name).get(
            "pattern_min_ecal_energy_gev"), store_above=own(p.name).get("store_above")) for p in particles]
        kwargs.update(store_reconstruction_failures=sim["store_reconstruction_failures"],
                      slice_s=sim["slice_days"] * 86400.0)
    figures = {"import_s": import_s}

    def timed(name, function):
        wall, cpu = time.perf_counter(), time.process_time()
        result = function()
        figures[f"{name}_wall_s"] = time.perf_counter() - wall
        figures[f"{name}_cpu_s"] = time.process_time() - cpu
        return result

    if current:  # load the compiled kernels first (once per job, ~0.4 CPU s; counted in the start-up below)
        timed("warm_up", lambda: simulate_events(timeline.iloc[:360], **kwargs))
    events = timed("simulate", lambda: simulate_events(timeline, **kwargs))
    figures["stored_events"] = len(events)
    events_path = Path(out_dir) / "events.parquet"
    if current:
        from ams_anisotropy.parquet_frames import write_frames

        def write(frame, path):
            write_frames(path, [frame])
    else:
        write = io.write_parquet
    timed("write_events", lambda frame=events: write(frame, events_path))
    figures["event_bytes"] = events_path.stat().st_size
    events = None
    cuts = [
        selection.SpeciesCuts(species=name, observable=spec["observable"], observable_min=spec["thresholds"][0],
                              observable_max=spec.get("upper"), cutoff_factor=1.0,
                              cone_half_angle_deg=cfg["selection"]["cone_half_angle_deg"], **spec["cuts"])
        for name, spec in cfg["species"].items()
    ]

    def select():
        if current:
            chunk = io.read_events(events_path)
            return selection.select_species(chunk, timeline, cuts)
        return [selection.select_events(io.read_events(events_path), timeline, c) for c in cuts]

    results = timed("select", select)
    figures["selected"] = {c.species: len(s) for c, (s, _) in zip(cuts, results, strict=True)}
    paths = [Path(out_dir) / f"selected_{c.species}.parquet" for c in cuts]
    timed("write_selected", lambda: [write(s, p) for (s, _), p in zip(results, paths, strict=True)])
    figures["selected_bytes"] = sum(p.stat().st_size for p in paths)
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return figures


def make_timeline(days: float, cadence_s: float, path: Path) -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    import yaml

    from ams_anisotropy import io
    from ams_anisotropy.configuration import simulation_models
    from ams_anisotropy.timeline import simulate_timeline

    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    stop = START_UNIX_S + days * 86400.0
    m = simulation_models(cfg["simulation"], cfg["good_intervals"], START_UNIX_S, (START_UNIX_S, stop))
    timeline = simulate_timeline(START_UNIX_S, stop, cadence_s, m["orbit"], m["attitude"], m["field"], m["trigger"],
                                 m["saa"], m["good"], stoermer_constant_gv=m["stoermer_constant_gv"])
    io.write_parquet(timeline, path)


def run_worker(package: Path, timeline: Path, out: Path, current: bool) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, __file__, "--worker", str(package), str(timeline), str(out)]
    if current:
        command.append("--current")
    done = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
    return json.loads(done.stdout.strip().splitlines()[-1])


def job_overhead_s(package: Path) -> float:
    """CPU seconds of a job's Python start-up, imports (the simulation and selection modules) and the
    loading of the compiled kernels (current code)."""
    code = (f"import sys; sys.path.insert(0, {str(package)!r}); import ams_anisotropy.simulation, "
            "ams_anisotropy.selection, ams_anisotropy.io, pyarrow.parquet, yaml; import numpy as np\n"
            "try:\n from ams_anisotropy import pattern_lines, acceptance\n"
            " region = pattern_lines.regions(acceptance.AMS02_GEOMETRY, ['l1_inner'])[0]\n"
            " pattern_lines.draw_lines(np.random.default_rng(1), 10, acceptance.AMS02_GEOMETRY, region, 50.0)\n"
            "except ImportError:\n pass")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-c", code], check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=2.0, help="length of the simulated stretch, days")
    parser.add_argument("--cadence-s", type=float, default=10.0, help="timeline cadence, s (paper: 10)")
    parser.add_argument("--repeats", type=int, default=2, help="alternated runs of each implementation")
    parser.add_argument("--baseline-rev", default=BASELINE_REV, help="git revision of the baseline package")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--current", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(*args.worker, current=args.current)))
        return
    with tempfile.TemporaryDirectory(prefix="bench_simulation_") as tmp:
        tmp = Path(tmp)
        archive = subprocess.run(["git", "archive", args.baseline_rev, "scripts/ams_anisotropy"], cwd=ROOT,
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tmp)], input=archive, check=True)
        packages = {"baseline": tmp / "scripts", "current": ROOT / "scripts"}
        timeline = tmp / "timeline.parquet"
        make_timeline(args.days, args.cadence_s, timeline)
        results = {name: [] for name in packages}
        for repeat in range(args.repeats):
            for name, package in packages.items():
                results[name].append(run_worker(package, timeline, tmp / f"{name}{repeat}", name == "current"))
        overhead = {name: min(job_overhead_s(p) for _ in range(3)) for name, p in packages.items()}
    report(args, results, overhead)


def report(args, results, overhead) -> None:
    best = {name: {k: min(r[k] for r in runs) if isinstance(runs[0][k], float) else runs[0][k] for k in runs[0]}
            for name, runs in results.items()}
    print(f"python {sys.version.split()[0]}; {args.days:g} days of timeline at {args.cadence_s:g} s, good intervals "
          f"only, config/config.yaml particles; best of {args.repeats} alternated runs; CPU s (wall s)")
    stages = ("simulate", "write_events", "select", "write_selected")
    print(f"{'stage':16s} {'baseline':>18s} {'current':>18s} {'speed-up (CPU)':>15s}")
    for stage in stages:
        b, c = best["baseline"], best["current"]
        ratio = b[stage + "_cpu_s"] / c[stage + "_cpu_s"]
        print(f"{stage:16s} {b[stage + '_cpu_s']:8.2f} ({b[stage + '_wall_s']:6.2f}) "
              f"{c[stage + '_cpu_s']:8.2f} ({c[stage + '_wall_s']:6.2f}) {ratio:15.1f}")
    for name in ("baseline", "current"):
        r = best[name]
        total = sum(r[s + "_cpu_s"] for s in stages)
        print(f"{name}: {r['stored_events']:,} stored events ({r['event_bytes'] / r['stored_events']:.1f} B each), "
              f"selected {sum(r['selected'].values()):,} {r['selected']} ({r['selected_bytes'] / 2**20:.1f} MB); "
              f"total {total:.2f} CPU s = {1e6 * total / r['stored_events']:.2f} us per stored event; "
              f"peak RSS {r['peak_rss_mb']:.0f} MB; job start-up and imports {overhead[name]:.2f} CPU s")
    c = best["current"]
    per_day_cpu = sum(c[s + "_cpu_s"] for s in stages) / args.days
    per_day_bytes = c["event_bytes"] / args.days
    per_day_selected_bytes = c["selected_bytes"] / args.days
    print("\nextrapolation of the current code (simulation + selection, 2 cores, CPU-bound):")
    for run, (days, chunk_days, epm_days) in RUNS.items():
        chunks = int(-(-days // chunk_days))
        effective_days = days - E_PM_SHARE * (days - epm_days)
        work = per_day_cpu * effective_days
        jobs = 2 * chunks  # simulate_events + select_events (the timeline is not counted here)
        wall = (work + jobs * overhead["current"]) / 2
        print(f"  {run}: {days:g} days in {chunks} chunks: {work:.0f} CPU s of work + {jobs} jobs x "
              f"{overhead['current']:.1f} s start-up -> ~{wall / 60:.1f} min on 2 cores; events file per chunk "
              f"{per_day_bytes * chunk_days / 2**30:.2f} GB (temporary), selected files "
              f"{per_day_selected_bytes * days / 2**30:.2f} GB (kept)")


if __name__ == "__main__":
    main()
