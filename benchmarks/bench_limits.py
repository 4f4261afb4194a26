"""Benchmark: the fit and the limits of the paper run, 34 thresholds, Nside 32, one process (one core).

Per threshold, as the fit_dipole and sample_limits jobs do it:
* fit: the multipole fit of the counts against 5 reference variants, each with the l_max = 2, 3, 4 check;
* limit: one exact importance-sampling posterior limit (40000 samples, with systematics);
* expectation: 1000 Poisson pseudo-skies, the vectorised Poisson dipole fit, the Gaussian-posterior
  95% limits with and without systematics (4000 common draws per sky).
The reference map is AMS-like (exposure with a dipole moment along the celestial pole, under-exposed
celestial poles, 2.5% of the pixels masked); the numbers of events per threshold go geometrically from
1.3e8 (protons above 18 GV) to 3e3; the counts are one isotropic Poisson sky.

The machine is shared, so times are also given as ratios measured in the same process, where the
load of other jobs cancels: to a fixed numpy workload (the "unit": Poisson draws, logarithms and a thin
matrix product of pseudo-sky size, timed before and after), and with ``--baseline DIR`` to another
version of the package (e.g. ``git archive <commit> scripts/ams_anisotropy | tar -x -C /tmp/old``, then
``--baseline /tmp/old/scripts/ams_anisotropy``), run on the same inputs alternately, threshold by
threshold, which prints the speed-up of each step.

Usage: .venv/bin/python benchmarks/bench_limits.py [--thresholds 34] [--skies 1000] [--samples 40000]
       [--baseline DIR]
Goal (issue 10): all limits of the paper run (34 thresholds, 1000 pseudo-skies) in ~2 minutes on 2 cores,
i.e. fit + limit + expectation summed over the thresholds <= 240 s on one core.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import platform
import sys
import time
from pathlib import Path

# single-threaded linear algebra, as in the workflow's jobs (Snakemake sets these to the job's threads)
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import healpy as hp  # noqa: E402
import numpy as np  # noqa: E402

from ams_anisotropy import fit, limits  # noqa: E402
from ams_anisotropy.rng import generator  # noqa: E402

NSIDE = 32
N_VARIANTS = 5  # nominal, cutoff1.0, cutoff1.4, noeff, shuffle


def ams_like_reference(nside: int = NSIDE) -> np.ndarray:
    """A smooth exposure with a 0.12 dipole moment along the celestial pole (method.md section 2)."""
    theta, phi = hp.pix2ang(nside, np.arange(hp.nside2npix(nside)))
    theta_eq, _ = hp.Rotator(coord=["G", "C"])(theta, phi)
    sin_dec = np.cos(theta_eq)
    shape = 1.0 + 0.36 * sin_dec - 0.9 * sin_dec**8  # poles under-exposed
    return np.clip(shape, 0.0, None)


def machine_unit(repeats: int = 5) -> float:
    """Seconds of a fixed numpy workload of pseudo-sky size (best of ``repeats``)."""
    rng = np.random.Generator(np.random.PCG64(1))
    lam = np.full((64, 12000), 80.0)
    basis = rng.random((12000, 16))
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        counts = rng.poisson(lam).astype(np.float64)
        np.log(counts + 1.0).sum()
        counts @ basis
        best = min(best, time.perf_counter() - start)
    return best


def load_package(directory: str, name: str = "ams_baseline"):
    """Import the package in ``directory`` (a copy of scripts/ams_anisotropy) under another name."""
    directory = Path(directory).resolve()
    spec = importlib.util.spec_from_file_location(name, directory / "__init__.py",
                                                  submodule_search_locations=[str(directory)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return importlib.import_module(f"{name}.fit"), importlib.import_module(f"{name}.limits")


def run_threshold(fit_module, limits_module, counts, reference, mask, k, args, seconds):
    """The fit, the exact limit and the expectation of one threshold; adds the times to ``seconds``."""
    sigma_sys = [1e-4, 1e-4, 1e-4]
    start = time.perf_counter()
    for _ in range(N_VARIANTS):
        fit_module.fit_multipoles(counts, reference, mask, lmax=1, lmax_check=(2, 3, 4))
    seconds["fit"] += time.perf_counter() - start
    start = time.perf_counter()
    ul = limits_module.dipole_upper_limit(counts, reference, generator(1, "limits_posterior", 0, k), mask=mask,
                                          sigma_sys=sigma_sys, n_samples=args.samples)
    seconds["limit"] += time.perf_counter() - start
    start = time.perf_counter()
    result = limits_module.isotropic_expectation(reference, generator(1, "limits_pseudo_skies", 0, k), mask=mask,
                                                 n_skies=args.skies, sigma_sys=sigma_sys)
    seconds["expectation"] += time.perf_counter() - start
    return ul, result


def report(name, seconds, unit, n_thresholds):
    total = sum(seconds.values())
    print(f"{name}:")
    for step, value in [*seconds.items(), ("total", total)]:
        print(f"  {step:12s} {value:7.1f} s  {value / n_thresholds:6.3f} s/threshold  {value / unit:8.0f} units")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--thresholds", type=int, default=34)
    parser.add_argument("--skies", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=40000)
    parser.add_argument("--baseline", help="directory of another version of the package, timed alternately")
    args = parser.parse_args()
    print(f"python {platform.python_version()}, numpy {np.__version__}, healpy {hp.__version__}, "
          f"package {fit.__file__}")
    baseline = load_package(args.baseline) if args.baseline else None
    unit_before = machine_unit()
    shape = ams_like_reference()
    mask = fit.pixels_with_exposure(shape, 0.05)
    n_events = np.geomspace(1.3e8, 3e3, args.thresholds)
    print(f"nside {NSIDE}, {mask.sum()} used pixels of {mask.size}, {args.thresholds} thresholds, "
          f"{args.skies} pseudo-skies, {args.samples} posterior samples")
    seconds = dict.fromkeys(("fit", "limit", "expectation"), 0.0)
    seconds_baseline = dict.fromkeys(seconds, 0.0)
    medians, inside, differences = [], [], []
    for k, n in enumerate(n_events):
        reference = shape * n / shape[mask].sum()
        counts = np.zeros(mask.size)
        counts[mask] = limits.pseudo_skies(reference, generator(1, "tests", 0, k), 1, mask)[0]
        ul, result = run_threshold(fit, limits, counts, reference, mask, k, args, seconds)
        medians.append(result.bands.median * np.sqrt(n))
        inside.append(result.bands.low95 <= ul.delta_ul <= result.bands.high95)
        if baseline is not None:
            ul_base, result_base = run_threshold(*baseline, counts, reference, mask, k, args, seconds_baseline)
            # both are Monte Carlo estimates of the same numbers: the differences in units of their errors
            error = np.hypot(ul.delta_ul_mc_error, ul_base.delta_ul_mc_error)
            differences.append((ul.delta_ul - ul_base.delta_ul) / error)
    unit = 0.5 * (unit_before + machine_unit())
    print(f"unit (fixed numpy workload): {unit * 1e3:.1f} ms")
    report("this package", seconds, unit, args.thresholds)
    print("  goal: total <= 240 s on one core (34 thresholds: ~2 minutes on 2 cores)")
    print(f"median limit x sqrt(N): {min(medians):.2f} ... {max(medians):.2f} "
          f"(uniform full sky: 4.84 x (1 + O(1/sqrt(N))) ); data limit inside the 95% band: "
          f"{sum(inside)}/{len(inside)}")
    if baseline is not None:
        report(f"baseline {args.baseline}", seconds_baseline, unit, args.thresholds)
        print("speed-up (baseline time / this time, same process, alternating): " + ", ".join(
            f"{step} {seconds_baseline[step] / seconds[step]:.1f}x" for step in seconds)
            + f", total {sum(seconds_baseline.values()) / sum(seconds.values()):.1f}x")
        print(f"exact limits, this - baseline in units of their combined Monte Carlo error: "
              f"mean {np.mean(differences):+.2f}, rms {np.sqrt(np.mean(np.square(differences))):.2f} "
              f"(the same random numbers in both, so the differences are at most ~N(0, 1))")


if __name__ == "__main__":
    main()
