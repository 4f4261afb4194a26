"""Benchmark of the reference maps (ams_anisotropy.reference) for one species at the paper's settings.

Measures a fraction of the paper configuration (config/paper.yaml: 7.5 years at 10 s cadence, protons,
9 thresholds 18 ... 1000 GV, sky Nside 32, detector Nside 16, attitude cells Nside 64 x 72 roll bins,
efficiency in trigger-rate bins) and extrapolates:

1. timeline of ``--days`` days (default 73: one 72-day precession cycle of the orbit) simulated in
   5-day chunks (not timed: it is another step),
   streamed through the two exposure passes (pass 1: exposure per efficiency bin and "noeff" cells; pass 2:
   with the efficiency) and the map step (nominal maps + dipole response, all thresholds);
2. the exposure passes scale linearly with the number of intervals: extrapolated linearly to 7.5 years;
   the map step scales with the number of visited attitude cells, which saturates: it is extrapolated
   both linearly (an upper bound) and with the number of cells visited in 7.5 years, counted on a sparse
   (``--sparse-cadence`` s) timeline of the whole period;
3. reference noise: the paper's event numbers (p: 1.3e8 above 18 GV, 2.0e6 above 200 GV; the others
   from the AMS spectrum) are drawn as Poisson detector histograms (true L1..L9 acceptance) and
   efficiency histograms (hidden efficiency 3%); the data-driven reference of each replica is fitted
   as if it were the counts' expectation against the true reference; the dipole shift per component is
   compared with the statistical error sqrt-of-covariance of the counts at that N.

Usage::

    .venv/bin/python benchmarks/bench_reference.py [--days 73] [--replicas 4] [--sparse-cadence 120]
"""

from __future__ import annotations

import argparse
import platform
import resource
import time
from pathlib import Path

import healpy as hp
import numpy as np

from ams_anisotropy import acceptance, fit, reference, simulation, spectra
from ams_anisotropy import timeline as timeline_module
from ams_anisotropy.constants import AMS_DATA_TAKING_START_UNIX_S
from ams_anisotropy.frames import Attitude
from ams_anisotropy.geomagnetic import DipoleField
from ams_anisotropy.orbit import CircularOrbit
from ams_anisotropy.rng import generator

ROOT = Path(__file__).resolve().parents[1]
THRESHOLDS_GV = (18.0, 30.0, 45.0, 80.0, 150.0, 200.0, 300.0, 500.0, 1000.0)  # paper, section 3
EDGES_HZ = (0, 250, 300, 350, 400, 450, 500, 600, 700, 800, 1000, 1200, 1500, 2000, 2500)  # config.yaml
PAPER_DAYS = 2739.4  # config/paper.yaml period.duration_days (7.5 years)
CADENCE_S = 10.0  # config/paper.yaml period.cadence_s
CHUNK_DAYS = 5.0
NSIDE, NSIDE_DETECTOR = 32, 16
CONE = "cutoff_max_pos_40_gv"
PATTERN = "l1_inner_l9"  # the paper's proton pattern (L1 + inner + L9)
# paper sample sizes for protons (method.md section 1): above 18 GV and above 200 GV
N_PAPER_18GV = 1.3e8


def models():
    start = AMS_DATA_TAKING_START_UNIX_S
    return start, (CircularOrbit(), Attitude(), DipoleField(), timeline_module.TriggerModel(),
                   timeline_module.SaaRegion(), timeline_module.GoodIntervalCriteria())


def timeline_chunks(days, cadence_s, chunk_days=CHUNK_DAYS):
    start, m = models()
    edges = np.arange(0.0, days + 1e-9, chunk_days)
    edges = np.append(edges, days) if edges[-1] < days else edges
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        yield timeline_module.simulate_timeline(start + a * 86400, start + b * 86400, cadence_s, *m)


def peak_memory_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=float, default=73.0)
    parser.add_argument("--replicas", type=int, default=4)
    parser.add_argument("--sparse-cadence", type=float, default=120.0)
    args = parser.parse_args(argv)
    print(f"python {platform.python_version()}, numpy {np.__version__}, healpy {hp.__version__}")
    flux = spectra.FluxTable.from_file(ROOT / "resources/ams02-fluxes/AMS-02_H_rigidity.txt")
    n_events = N_PAPER_18GV * flux.integral_above(np.array(THRESHOLDS_GV)) / flux.integral_above(np.array([18.0]))
    print("paper-like event numbers per threshold:", " ".join(f"{t:g}GV:{n:.2g}" for t, n in
                                                           zip(THRESHOLDS_GV, n_events, strict=True)))

    t0 = time.perf_counter()
    chunks = list(timeline_chunks(args.days, CADENCE_S))
    n_intervals = sum(len(c) for c in chunks)
    print(f"timeline: {args.days:g} days, {n_intervals} intervals in {len(chunks)} chunks "
          f"(simulated in {time.perf_counter() - t0:.1f} s, not counted)")

    common = (THRESHOLDS_GV, None, flux.integral_above, 1.2, CONE, "trigger_rate_hz", EDGES_HZ)
    t0 = time.perf_counter()
    pass1 = reference.accumulate_exposure(chunks, *common)
    t_pass1 = time.perf_counter() - t0
    # data-like efficiency histograms: the hidden efficiency (3%) in each bin, at the paper's numbers
    true_eps = reference.accumulate_exposure(
        chunks, *common, efficiency=lambda rate: simulation.hidden_efficiency(rate, 0.03)).efficiency_exposure_s
    expected_hist = true_eps / true_eps.sum(axis=1, keepdims=True) * n_events[:, None]
    eps = reference.estimate_efficiency(expected_hist, pass1.efficiency_exposure_s)
    t0 = time.perf_counter()
    pass2 = reference.accumulate_exposure(chunks, *common, efficiency=eps)
    t_pass2 = time.perf_counter() - t0
    true_acc = acceptance.pattern_acceptance_map(NSIDE_DETECTOR, PATTERN)
    det_true = np.vstack([true_acc / true_acc.sum() * n for n in n_events])
    t0 = time.perf_counter()
    ref_true = reference.reference_maps(pass2, det_true, NSIDE, n_events)
    t_maps = time.perf_counter() - t0
    mem = peak_memory_mb()
    print(f"attitude cells visited: {pass1.n_cells}; pass 1 {t_pass1:.1f} s, pass 2 {t_pass2:.1f} s, "
          f"maps (9 thresholds, dipole response, subsample 2) {t_maps:.1f} s; peak memory {mem:.0f} MB")

    # cells visited over the whole period (sparse timeline, only the cell keys kept)
    t0 = time.perf_counter()
    keys = []
    for chunk in timeline_chunks(PAPER_DAYS, args.sparse_cadence, chunk_days=100.0):
        good = chunk["good"].to_numpy()
        rot = chunk[[f"ams_{a}_gal_{c}" for a in "xyz" for c in "xyz"]].to_numpy()[good]
        keys.append(np.unique(reference.attitude_cells(rot.reshape(-1, 3, 3).transpose(0, 2, 1), 64, 72)))
    cells_full = np.unique(np.concatenate(keys)).size
    print(f"cells visited in {PAPER_DAYS} days (timeline at {args.sparse_cadence:g} s, a lower bound): "
          f"{cells_full} ({time.perf_counter() - t0:.0f} s)")

    scale = PAPER_DAYS / args.days
    passes = (t_pass1 + t_pass2) * scale
    maps_linear = t_maps * scale
    maps_cells = t_maps * cells_full / pass1.n_cells
    print(f"extrapolated to {PAPER_DAYS} days: exposure passes {passes:.0f} s (linear in intervals), maps "
          f"{maps_cells:.0f} s (x cells; linear upper bound {maps_linear:.0f} s); total per species "
          f"{passes + maps_cells:.0f} s (upper bound {passes + maps_linear:.0f} s)")

    # reference noise at the paper's event numbers
    mask = [fit.pixels_with_exposure(ref_true.maps[k], 0.05) for k in range(len(THRESHOLDS_GV))]
    shifts, shifts_sym = [], []
    for r in range(args.replicas):
        g = generator(1, "tests", 77, r)
        det = g.poisson(det_true).astype(float)
        hist = g.poisson(expected_hist).astype(float)
        eps_r = reference.estimate_efficiency(hist, pass1.efficiency_exposure_s)
        pass2_r = reference.accumulate_exposure(chunks, *common, efficiency=eps_r)
        for target, symmetry in ((shifts, "none"), (shifts_sym, "xy")):
            ref_r = reference.reference_maps(pass2_r, det, NSIDE, n_events, dipole_response=False,
                                             acceptance_symmetry=symmetry)
            row = []
            for k in range(len(THRESHOLDS_GV)):
                f = fit.fit_multipoles(ref_r.maps[k], ref_true.maps[k], mask[k], lmax_check=())
                row.append(f.rho / f.sigma)
            target.append(row)
    for label, values in (("data-driven acceptance", shifts), ("xy-symmetrised acceptance", shifts_sym)):
        rms = np.sqrt(np.mean(np.array(values) ** 2, axis=0))  # (thresholds, 3)
        print(f"reference noise / statistical error of (rho_FB, rho_EW, rho_NS), rms over {args.replicas} "
              f"replicas, {label}:")
        for k, t in enumerate(THRESHOLDS_GV):
            print(f"  {t:6g} GV  N={n_events[k]:.2g}  " + "  ".join(f"{v:.3f}" for v in rms[k]))
        print(f"  max {rms.max():.3f}, mean {rms.mean():.3f} (goal < 0.25)")
    print(f"peak memory {peak_memory_mb():.0f} MB")


if __name__ == "__main__":
    main()
