"""Benchmark: the isotropic expectation of the 95% limits for 34 thresholds x 1000 pseudo-skies, Nside 32.

Each threshold: 1000 Poisson pseudo-skies from an AMS-like reference map (exposure with a dipole
moment along the celestial pole, under-exposed celestial poles, 2.5% of the pixels masked), the
vectorised Poisson dipole fit, and the Gaussian-posterior 95% limits with and without systematics
(4000 common draws).
The numbers of events per threshold go geometrically from 1.3e8 (protons above 18 GV) to 3e3.
Also times one exact importance-sampling limit (40000 samples) for comparison.

Usage: .venv/bin/python benchmarks/bench_limits.py [--thresholds 34] [--skies 1000]
Goal: under 2 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import platform
import time

import healpy as hp
import numpy as np

from ams_anisotropy import fit, limits
from ams_anisotropy.rng import generator

NSIDE = 32


def ams_like_reference(nside: int = NSIDE) -> np.ndarray:
    """A smooth exposure with a 0.12 dipole moment along the celestial pole (method.md section 2)."""
    theta, phi = hp.pix2ang(nside, np.arange(hp.nside2npix(nside)))
    theta_eq, _ = hp.Rotator(coord=["G", "C"])(theta, phi)
    sin_dec = np.cos(theta_eq)
    shape = 1.0 + 0.36 * sin_dec - 0.9 * sin_dec**8  # poles under-exposed
    return np.clip(shape, 0.0, None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--thresholds", type=int, default=34)
    parser.add_argument("--skies", type=int, default=1000)
    args = parser.parse_args()
    print(f"python {platform.python_version()}, numpy {np.__version__}, healpy {hp.__version__}")
    shape = ams_like_reference()
    mask = fit.pixels_with_exposure(shape, 0.05)
    n_events = np.geomspace(1.3e8, 3e3, args.thresholds)
    print(f"nside {NSIDE}, {mask.sum()} used pixels of {mask.size}, {args.thresholds} thresholds, "
          f"{args.skies} pseudo-skies each")
    start = time.perf_counter()
    medians = []
    for k, n in enumerate(n_events):
        reference = shape * n / shape[mask].sum()
        result = limits.isotropic_expectation(reference, generator(1, "limits_pseudo_skies", 0, k), mask=mask,
                                              n_skies=args.skies, sigma_sys=[1e-4, 1e-4, 1e-4])
        medians.append(result.bands.median * np.sqrt(n))
    total = time.perf_counter() - start
    print(f"isotropic expectation: {total:.1f} s total, {total / args.thresholds:.2f} s per threshold "
          f"(goal < 120 s)")
    print(f"median limit x sqrt(N): {min(medians):.2f} ... {max(medians):.2f} "
          f"(uniform full sky: 4.84 x (1 + O(1/sqrt(N))) )")
    reference = shape * 1e6 / shape[mask].sum()
    counts = limits.pseudo_skies(reference, generator(1, "tests", 0), 1, mask)[0]
    full = np.zeros(mask.size)
    full[mask] = counts
    start = time.perf_counter()
    ul = limits.dipole_upper_limit(full, reference, generator(1, "limits_posterior", 0), mask=mask,
                                   n_samples=40000)
    print(f"one exact importance-sampling limit (40000 samples, 1e6 events): {time.perf_counter() - start:.2f} s, "
          f"delta_ul95 = {ul.delta_ul:.5f} +- {ul.delta_ul_mc_error:.5f}, ESS {ul.ess:.0f}")


if __name__ == "__main__":
    main()
