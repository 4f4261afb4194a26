"""Benchmark of the timeline and event simulation, extrapolated to the paper configuration.

Measures, on a short stretch of orbit: timeline rows per second, generated particles and stored events
per second for two event configurations, and the peak resident memory; then extrapolates to the
paper's 7.5 years (2.37e8 s of timeline, method.md section 1) with one job per chunk of
``--chunk-days`` days.

Configurations:
* ``full``: every pattern stored, every interval (SAA included), true rigidity above 10 GV for all
  species (the defaults of ``simulation.default_particles``);
* ``lean``: per particle only the patterns its selection uses (``l1_inner`` for He, C, O, B, N;
  ``l1_inner_l9`` plus the ECAL patterns for protons, which are also the e± background; ``ecal`` and
  ``ecal_inner`` for e±), generation cone 32 deg (these patterns accept < 30.3 deg), good intervals
  only, nuclei above 14 GV (the lowest 18 GV threshold minus ~3 sigma of the inner+L1
  resolution), e± above 12 GeV.

Usage: .venv/bin/python benchmarks/bench_simulation.py [--hours 2] [--cadence-s 1] [--chunk-days 1]
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc
from pathlib import Path

from ams_anisotropy import simulation as sim
from ams_anisotropy.frames import Attitude
from ams_anisotropy.geomagnetic import DipoleField
from ams_anisotropy.orbit import CircularOrbit
from ams_anisotropy.timeline import GoodIntervalCriteria, SaaRegion, TriggerModel, simulate_timeline

ROOT = Path(__file__).resolve().parents[1]
PAPER_TIMELINE_S = 7.5 * 365.25 * 86400.0  # 7.5 years of data taking (paper), 2.37e8 s
PAPER_SELECTED_NUCLEI = 1.3e8 + 1.0e8 + 2.9e6 + 2.8e6  # p, He, C, O above 18 GV (paper section 3)
START_UNIX_S = 1.3058e9  # 2011-05-19
LEAN_MIN_RIGIDITY_GV = {
    "electron": 12.0,
    "positron": 12.0,
    "proton": 14.0,
    "helium": 14.0,
    "carbon": 14.0,
    "oxygen": 14.0,
}
LEAN_PATTERNS = {
    "electron": ("ecal", "ecal_inner"),
    "positron": ("ecal", "ecal_inner"),
    "proton": ("l1_inner_l9", "ecal", "ecal_inner"),
    "helium": ("l1_inner",),
    "carbon": ("l1_inner",),
    "oxygen": ("l1_inner",),
}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=2.0, help="length of the simulated stretch, hours")
    parser.add_argument("--cadence-s", type=float, default=1.0, help="timeline cadence, s")
    parser.add_argument("--chunk-days", type=float, default=1.0, help="chunk length used for the extrapolation")
    args = parser.parse_args()
    orbit, attitude, field = CircularOrbit(), Attitude(), DipoleField()
    stretch_s = args.hours * 3600.0

    t0 = time.perf_counter()
    timeline = simulate_timeline(
        START_UNIX_S,
        START_UNIX_S + stretch_s,
        args.cadence_s,
        orbit,
        attitude,
        field,
        TriggerModel(),
        SaaRegion(),
        GoodIntervalCriteria(),
    )
    t_timeline = time.perf_counter() - t0
    rows_per_s = len(timeline) / t_timeline
    print(
        f"timeline: {len(timeline)} rows (cadence {args.cadence_s:g} s) in {t_timeline:.2f} s "
        f"= {rows_per_s:,.0f} rows/s"
    )

    flux_dir = ROOT / "resources" / "ams02-fluxes"
    configs = {
        "full": dict(particles=sim.default_particles(flux_dir), kwargs={}),
        "lean": dict(
            particles=sim.default_particles(
                flux_dir,
                min_rigidity_gv=LEAN_MIN_RIGIDITY_GV,
                stored_patterns=LEAN_PATTERNS,
            ),
            kwargs=dict(good_only=True, max_zenith_deg=32.0),
        ),
    }
    results = {}
    for name, config in configs.items():
        expected = sim.expected_counts(timeline, config["particles"], **config["kwargs"])
        generated = float(expected["expected_generated"].sum())

        def run(config=config):
            return sim.simulate_events(
                timeline,
                seed=1,
                chunk_id=0,
                particles=config["particles"],
                orbit=orbit,
                attitude=attitude,
                field=field,
                **config["kwargs"],
            )

        t0 = time.perf_counter()
        events = run()
        elapsed = time.perf_counter() - t0
        frame_bytes = events.memory_usage(deep=True).sum()
        del events
        # peak of the numpy/pandas allocations of one job (second run, traced: tracemalloc slows it down)
        tracemalloc.start()
        events = run()
        peak_bytes = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        n = max(1, len(events))
        results[name] = dict(
            events=len(events), elapsed=elapsed, generated=generated, frame_bytes=frame_bytes, peak_bytes=peak_bytes
        )
        print(
            f"events [{name}]: {generated:,.0f} generated, {len(events):,} stored in {elapsed:.2f} s = "
            f"{generated / elapsed:,.0f} generated/s, {len(events) / elapsed:,.0f} stored events/s; "
            f"frame {frame_bytes / n:.0f} B/event, traced peak {peak_bytes / 2**20:.0f} MB "
            f"({peak_bytes / n:.0f} B/event)"
        )
        del events
    print(f"peak resident memory of this process: {peak_rss_mb():.0f} MB")

    print(
        f"\nextrapolation to the paper (7.5 years = {PAPER_TIMELINE_S:.3g} s of timeline, "
        f"one job per {args.chunk_days:g}-day chunk):"
    )
    scale = PAPER_TIMELINE_S / stretch_s
    timeline_cpu_s = PAPER_TIMELINE_S / args.cadence_s / rows_per_s
    print(f"  timeline: {PAPER_TIMELINE_S / args.cadence_s:.3g} rows, {timeline_cpu_s / 60:.0f} CPU min")
    chunk_s = args.chunk_days * 86400.0
    for name, r in results.items():
        cpu_s = r["elapsed"] * scale
        stored = r["events"] * scale
        per_chunk = r["events"] * chunk_s / stretch_s
        # traced peak per stored event (blocks are bounded by block_size, the rest grows with the chunk)
        chunk_memory_mb = per_chunk * r["peak_bytes"] / max(1, r["events"]) / 2**20 + 150.0  # + interpreter
        print(
            f"  [{name}] {stored:.3g} stored events, events {cpu_s / 60:.0f} CPU min; "
            f"with the timeline on 2 cores: {(cpu_s + timeline_cpu_s) / 2 / 60:.0f} min wall; "
            f"{per_chunk:.3g} events and ~{chunk_memory_mb:.0f} MB per chunk "
            f"(ratio stored / paper selected nuclei = {stored / PAPER_SELECTED_NUCLEI:.1f})"
        )
    target_min = 10.0
    best = min(r["elapsed"] * scale for r in results.values()) + timeline_cpu_s
    print(
        f"  needed for < {target_min:g} min on 2 cores: a further factor {best / 2 / 60 / target_min:.1f} "
        "(prescale, fewer species per run, or a faster timeline cadence)"
    )


if __name__ == "__main__":
    main()
