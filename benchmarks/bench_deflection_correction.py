"""Cost of the geomagnetic-deflection correction of the reference (deflected_exposure.DeflectionCorrection).

A proton reference's correction: a simulated timeline (orbit, attitude, trigger model of the package) of
``days`` at 10 s cadence, a detector-frame acceptance of a 40-degree cone, the nine nuclei thresholds, the
proton resolution of config.yaml, one IGRF-13 table (``--table`` a file built by the rule asymptotic_table,
e.g. results/ci/tracing/asymptotic_igrf13_2011.5.npz; without it a coarse table is traced here first, ~1 min).
Printed: cells, points, nodes, the time of the phase sums (add) and of galactic_alm, the number of
harmonic transforms it made and, measured in the same process, the time of one transform of the same size:
the ratio galactic_alm / (transforms x one transform) is the overhead outside ducc0 (1 = none).
With ``--channels N`` (> 1) it then builds the correction of N reference variants sharing it
(deflection_pass: cutoff factors 1.2, 1.0, 1.4, ..., every second variant at interval stride 2, so two
groups of phase sums) and prints its time against N x the single correction's, same process: the cost
the one-job-per-species design saves.

    PYTHONPATH=scripts .venv/bin/python benchmarks/bench_deflection_correction.py [--table FILE]
        [--days 2] [--lmax 48] [--lat-step 8] [--lon-step 24] [--nside 16] [--channels 1]

Defaults are config/ci.yaml's reference.deflection settings; config.yaml's are --lat-step 4 --lon-step 12
--nside 32.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from unittest import mock

import healpy as hp
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import ducc0  # noqa: E402

from ams_anisotropy import reference, spectra  # noqa: E402
from ams_anisotropy import timeline as timeline_module  # noqa: E402
from ams_anisotropy.asymptotic import AsymptoticTable, build_asymptotic_table, grid_from_config  # noqa: E402
from ams_anisotropy.constants import AMS_DATA_TAKING_START_UNIX_S  # noqa: E402
from ams_anisotropy.deflected_exposure import DeflectionCorrection, DeflectionSettings  # noqa: E402
from ams_anisotropy.frames import Attitude  # noqa: E402
from ams_anisotropy.geomagnetic import DipoleField  # noqa: E402
from ams_anisotropy.igrf_field import IgrfField  # noqa: E402
from ams_anisotropy.orbit import CircularOrbit  # noqa: E402

THRESHOLDS_GV = [18.0, 30.0, 45.0, 80.0, 150.0, 200.0, 300.0, 500.0, 1000.0]
PROTON_RESOLUTION = (2000.0, 0.08)  # config.yaml species.proton.resolution
COARSE_TABLE = dict(lat_step_deg=8.0, lon_step_deg=30.0, n_direction=9)  # config/ci.yaml tracing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", type=Path)
    parser.add_argument("--days", type=float, default=2.0)
    parser.add_argument("--lmax", type=int, default=48)
    parser.add_argument("--lat-step", type=float, default=8.0)
    parser.add_argument("--lon-step", type=float, default=24.0)
    parser.add_argument("--channels", type=int, default=1, help="reference variants sharing the correction")
    parser.add_argument("--nside", type=int, default=16)
    args = parser.parse_args()
    if args.table is not None:
        table = AsymptoticTable.load(args.table)
    else:
        grid, settings = grid_from_config(COARSE_TABLE)
        start = time.perf_counter()
        table = build_asymptotic_table(IgrfField.igrf13(2011.5), grid, settings)
        print(f"coarse table traced in {time.perf_counter() - start:.1f} s")
    start_s = AMS_DATA_TAKING_START_UNIX_S
    timeline = timeline_module.simulate_timeline(
        start_s, start_s + args.days * 86400.0, 10.0, CircularOrbit(), Attitude(), DipoleField(),
        timeline_module.TriggerModel(), timeline_module.SaaRegion(), timeline_module.GoodIntervalCriteria())
    counts = np.zeros(hp.nside2npix(32))
    counts[hp.query_disc(32, [0.0, 0.0, 1.0], np.radians(40.0))] = 1.0
    flux = spectra.FluxTable.from_file(ROOT / "resources/ams02-fluxes/AMS-02_H_rigidity.txt")
    settings = DeflectionSettings(lmax=args.lmax, lat_step_deg=args.lat_step, lon_step_deg=args.lon_step,
                                  acceptance_nside=args.nside)
    correction = DeflectionCorrection(table, counts, 1, THRESHOLDS_GV, None, flux.integral_above, 1.2, settings,
                                      resolution=PROTON_RESOLUTION)
    correction._lookups(np.array([[0.0, 0.0, 1.0]]), 0.0, 0.0)  # numba's compile (or cache load), untimed
    start = time.perf_counter()
    for block in reference.timeline_blocks(timeline, "cutoff_max_pos_40_gv", with_position=True):
        correction.add(block)
    t_add = time.perf_counter() - start

    calls = []
    real = ducc0.sht.adjoint_synthesis_general

    def counted(**kwargs):
        calls.append(kwargs["loc"].shape[0])
        return real(**kwargs)

    with mock.patch.object(ducc0.sht, "adjoint_synthesis_general", counted):
        start = time.perf_counter()
        correction.galactic_alm()
        t_alm = time.perf_counter() - start
    # one transform of the median size, same process
    rng = np.random.default_rng(1)
    n = int(np.median(calls))
    loc = np.column_stack([np.arccos(rng.uniform(0.4, 1.0, n)), rng.uniform(0.0, 2 * np.pi, n)])
    weights = rng.uniform(size=(1, n))
    repeats = 200
    start = time.perf_counter()
    for _ in range(repeats):
        real(map=weights, spin=0, lmax=args.lmax, loc=loc, epsilon=settings.epsilon, nthreads=1)
    t_one = (time.perf_counter() - start) / repeats
    print(f"{args.days:g} days ({len(timeline)} intervals), lmax {args.lmax}, cells {args.lat_step:g} x "
          f"{args.lon_step:g} deg x "
          f"{settings.n_azimuth} azimuths, acceptance Nside {args.nside}")
    n_cells = int((correction._live_sum > 0).sum())
    print(f"cells {n_cells}, points {correction.points_det.shape[0]}, nodes "
          f"{correction.nodes_gv.size} + infinity, thresholds {len(THRESHOLDS_GV)}")
    print(f"add {t_add:.2f} s; galactic_alm {t_alm:.2f} s with {len(calls)} transforms "
          f"({len(calls) / n_cells:.1f} per cell); one transform {t_one * 1e3:.3f} ms")
    print(f"galactic_alm / (transforms x one transform) = {t_alm / (len(calls) * t_one):.2f}")
    if args.channels > 1:
        from ams_anisotropy.deflection_pass import DeflectionChannel, deflection_alms

        factors = [1.2 + 0.2 * ((k + 1) // 2) * (-1) ** k for k in range(args.channels)]  # 1.2, 1.0, 1.4, 0.8...
        channels = [DeflectionChannel(cutoff_factor=f, interval_stride=1 + k % 2) for k, f in enumerate(factors)]
        shared = DeflectionCorrection(table, counts, 1, THRESHOLDS_GV, None, flux.integral_above, factors, settings,
                                      resolution=PROTON_RESOLUTION)
        beams = np.zeros((len(THRESHOLDS_GV), 1, hp.Alm.getsize(args.lmax)), dtype=np.complex128)
        beams[:, 0, 0] = 1.0
        start = time.perf_counter()
        deflection_alms(shared, timeline, "cutoff_max_pos_40_gv", None, channels, [beams] * len(channels),
                        [args.lmax] * len(channels))
        t_shared = time.perf_counter() - start
        print(f"{args.channels} variants sharing one correction: {t_shared:.2f} s against "
              f"{args.channels} x {t_add + t_alm:.2f} s alone: {t_shared / (args.channels * (t_add + t_alm)):.2f} "
              f"of the per-variant cost")


if __name__ == "__main__":
    main()
