"""Benchmark of the one-pass cumulative binning (ams_anisotropy.binning.cumulative_counts).

Times, in the same process and on the same synthetic events (best of several repeats):

* floor: one ``healpy.ang2pix`` + one ``numpy.bincount`` (the least any counts map costs);
* one-pass: one ``ang2pix`` + ``cumulative_counts`` (all thresholds at once);
* naive: for every threshold, select the events, ``ang2pix`` them and ``bincount``.

The events follow a rigidity power law of index 2.7 above 18 GV (isotropic directions), the 9
thresholds are the paper's nuclei thresholds. Usage::

    .venv/bin/python benchmarks/bench_binning.py [--n-events 5000000] [--nside 32] [--repeats 5]
"""

from __future__ import annotations

import argparse
import platform
import time

import healpy as hp
import numpy as np

from ams_anisotropy import rng
from ams_anisotropy.binning import cumulative_counts

THRESHOLDS_GV = [18.0, 30.0, 45.0, 80.0, 150.0, 200.0, 300.0, 500.0, 1000.0]  # paper, section 3


def make_events(n: int, seed: int = 1):
    g = rng.generator(seed, "tests", 0)
    z = g.uniform(-1.0, 1.0, n)
    l_deg = g.uniform(0.0, 360.0, n)
    b_deg = np.degrees(np.arcsin(z))
    rigidity_gv = 18.0 * (1.0 - g.random(n)) ** (-1.0 / 1.7)  # integral spectrum ~ R^-1.7
    return l_deg, b_deg, rigidity_gv


def best_of(function, repeats: int) -> tuple[float, object]:
    best, result = np.inf, None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-events", type=int, default=5_000_000)
    parser.add_argument("--nside", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    n, nside = args.n_events, args.nside
    npix = hp.nside2npix(nside)
    l_deg, b_deg, x = make_events(n)

    def floor():
        return np.bincount(hp.ang2pix(nside, l_deg, b_deg, lonlat=True), minlength=npix)

    def one_pass():
        return cumulative_counts(x, hp.ang2pix(nside, l_deg, b_deg, lonlat=True), THRESHOLDS_GV, None, npix)

    def naive():
        maps = []
        for t in THRESHOLDS_GV:
            keep = x >= t
            maps.append(np.bincount(hp.ang2pix(nside, l_deg[keep], b_deg[keep], lonlat=True), minlength=npix))
        return np.array(maps)

    t_floor, m_floor = best_of(floor, args.repeats)
    t_one, m_one = best_of(one_pass, args.repeats)
    t_naive, m_naive = best_of(naive, args.repeats)
    if not np.array_equal(m_one, m_naive) or m_floor.sum() != n or m_one[0].sum() != n:
        raise SystemExit("benchmark self-check failed: one-pass and naive maps differ")

    print(f"python {platform.python_version()}, numpy {np.__version__}, healpy {hp.__version__}")
    print(f"{n} events, nside {nside}, {len(THRESHOLDS_GV)} thresholds, best of {args.repeats}")
    for name, t in (("floor (ang2pix + bincount)", t_floor), ("one-pass cumulative", t_one),
                    ("naive per threshold", t_naive)):  # fmt: skip
        print(f"  {name:28s} {t * 1e3:8.1f} ms  {n / t / 1e6:7.1f} M events/s")
    print(f"  one-pass speed / floor speed = {t_floor / t_one:.2f} (goal >= 0.7)")
    print(f"  one-pass speed / naive speed = {t_naive / t_one:.2f}")


if __name__ == "__main__":
    main()
