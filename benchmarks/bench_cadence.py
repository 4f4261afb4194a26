"""Exposure error of a coarse timeline cadence: reference maps at 1, 2, 5, 10 and 30 s compared with 1 s.

AMS's RTI records are 1 s long; config/paper.yaml uses 10 s intervals (config/config.yaml 5 s) to keep
7.5 years of timeline affordable. Each interval carries the geometry, cutoff, livetime and good flag of its
midpoint, so a coarser cadence samples the attitude sweep, the cutoff weights and the SAA / good-interval
boundaries more coarsely. The exposure integration itself is exact for the intervals it is given (the
harmonic total convolution of ``ams_anisotropy.exposure``: every interval at its own attitude), so what is
measured here is the cadence alone. Through the package only:

1. the timeline of the same stretch of orbit (``--days`` days from config.yaml's ``period.start_utc``,
   2011-05-19) is simulated with ``ams_anisotropy.timeline.simulate_timeline`` at each cadence, with the
   models of config/config.yaml's ``simulation`` and ``good_intervals`` sections
   (``configuration.simulation_models``: IGRF-13 eccentric dipole at the window's midpoint, default
   attitude, trigger, SAA and good-interval criteria), in 1-day chunks streamed into the exposure (never
   held in memory: the timeline object simulates its chunks on every iteration; the simulation time is
   reported apart);
2. ``reference.reference_maps`` (protons: thresholds 18 and 200 GV, no upper edge, AMS-02 proton flux
   table, cutoff factor 1.2 on the 40 deg cone, efficiency None, sky Nside 32, production integration
   settings of config.yaml ``reference``: lmax, kmax, epsilon, oversampling) with ONE fixed detector-frame
   acceptance for every cadence: the true geometric acceptance of the ``l1_inner_l9`` pattern
   (``acceptance.pattern_acceptance_map``: cos(theta) x the area of the entry points on a 3 cm grid of the
   upper TOF whose straight line crosses L1, the inner tracker and L9) at Nside 256, as harmonic beams
   (``healpy.map2alm``, l <= lmax, |k| <= kmax), as in ``tests/test_reference_convergence.py``;
3. each map is normalised to the paper's proton numbers (1.3e8 above 18 GV, 2.0e6 above 200 GV;
   method.md section 1) and compared with the 1 s map of the same threshold over the pixels with exposure
   > 5% of the maximum: (a) the maximum and rms relative pixel difference, and the rms after 10 deg FWHM
   smoothing; (b) the excess chi2/dof the difference would add at the paper's N of the threshold,
   N x sum_p (m_c - m_1s)^2 / m_1s / dof (m normalised to unit sum over those pixels, dof = pixels - 4; the
   definition of ``tests/test_reference_convergence.py``, criterion there 0.01); (c) the dipole of the ratio
   M_1s / M_c, from ``fit.fit_multipoles`` with the 1 s map as counts and the coarse map as reference, in
   absolute terms and in units of the statistical error sigma = sqrt(3 / N) of one component for
   N = 1.3e8 and N = 2.0e6; (d) the relative difference of the total exposure sum L w (s);
4. control: every cadence is also run with its interval grid started half an interval later (another
   sampling of the same orbit); the dipole and excess chi2 between the two ("jitter") show whether the
   difference from 1 s is a bias of the cadence or a random sampling error that depends on the grid's phase;
5. ``--no-boundaries``: no SAA and every interval good, so the timeline has no good/bad boundaries whose
   position the cadence quantises; what is left is the within-interval (midpoint) error.

Usage::

    nice -n 10 .venv/bin/python benchmarks/bench_cadence.py [--days 73] [--cadences 1 2 5 10 30] [--no-boundaries]
"""

from __future__ import annotations

import argparse
import datetime
import platform
import resource
import time
from pathlib import Path

import healpy as hp
import numpy as np
import yaml

from ams_anisotropy import acceptance, configuration, fit, reference, spectra
from ams_anisotropy import timeline as timeline_module

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "config/config.yaml").read_text())
THRESHOLDS_GV = (18.0, 200.0)  # paper, section 3 (lowest proton threshold and the 200 GV one)
# paper proton sample sizes above 18 GV and above 200 GV (method.md section 1)
N_PAPER = {18.0: 1.3e8, 200.0: 2.0e6}
FLUX_FILE = ROOT / "resources/ams02-fluxes/AMS-02_H_rigidity.txt"
CUTOFF_FACTOR = CONFIG["selection"]["cutoff_factor"]  # 1.2 (paper, section 3)
CONE = reference.cutoff_column(1, CONFIG["selection"]["cone_half_angle_deg"])
NSIDE = CONFIG["maps"]["nside"]
MIN_EXPOSURE_FRACTION = CONFIG["fit"]["min_exposure_fraction"]
PATTERN = "l1_inner_l9"
CHUNK_DAYS = 1.0
SMOOTHING_FWHM_DEG = 10.0  # large-scale part of the pixel differences
SETTINGS = reference.IntegrationSettings(
    lmax=CONFIG["reference"]["lmax"], kmax=CONFIG["reference"]["kmax"], epsilon=CONFIG["reference"]["epsilon"],
    oversampling=CONFIG["reference"]["oversampling"], nthreads=1, workers=2)


def cpu_s():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def load_models(config_path, days):
    config = yaml.safe_load(Path(config_path).read_text())
    start = datetime.datetime.fromisoformat(config["period"]["start_utc"]).replace(
        tzinfo=datetime.UTC).timestamp()
    stop = start + days * 86400.0
    models = configuration.simulation_models(config["simulation"], config["good_intervals"], start, (start, stop))
    return start, stop, models


class SimulatedTimeline:
    """A re-iterable timeline: every iteration simulates the CHUNK_DAYS chunks again (bounded memory);
    the simulation's wall and CPU time are added to ``clock``."""

    def __init__(self, start, stop, cadence_s, models, clock):
        self.edges = np.append(np.arange(start, stop, CHUNK_DAYS * 86400.0), stop)
        self.cadence_s, self.models, self.clock = cadence_s, models, clock

    def __iter__(self):
        m = self.models
        for a, b in zip(self.edges[:-1], self.edges[1:], strict=True):
            w0, c0 = time.perf_counter(), cpu_s()
            frame = timeline_module.simulate_timeline(
                a, b, self.cadence_s, m["orbit"], m["attitude"], m["field"], m["trigger"], m["saa"], m["good"],
                stoermer_constant_gv=m["stoermer_constant_gv"])
            self.clock["wall"] += time.perf_counter() - w0
            self.clock["cpu"] += cpu_s() - c0
            yield frame


def excess_chi2_per_dof(maps, fine, n_paper, used):
    """tests/test_reference_convergence.py's excess chi2/dof at n_paper events, over the ``used`` pixels."""
    prod, truth = maps[used] / maps[used].sum(), fine[used] / fine[used].sum()
    return n_paper * np.sum((prod - truth) ** 2 / truth) / (used.sum() - 4)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=float, default=73.0,
                        help="stretch of orbit, days (default 73: one precession cycle, the whole sky)")
    parser.add_argument("--cadences", type=float, nargs="+", default=[1.0, 2.0, 5.0, 10.0, 30.0],
                        help="cadences in s; the first is the reference (default 1 2 5 10 30)")
    parser.add_argument("--config", default=str(ROOT / "config/config.yaml"))
    parser.add_argument("--no-boundaries", action="store_true",
                        help="no SAA and every interval good (no good/bad boundaries to quantise): isolates "
                             "the within-interval (midpoint) error")
    args = parser.parse_args(argv)
    if args.days <= 0:
        parser.error("--days must be > 0")
    print(f"python {platform.python_version()}, numpy {np.__version__}, healpy {hp.__version__}, "
          f"ducc0 {__import__('ducc0').__version__}")

    start, stop, models = load_models(args.config, args.days)
    if args.no_boundaries:
        # an SAA of 1e-3 deg at the geographic pole (never reached at 51.6 deg inclination) and criteria
        # every interval passes: the timeline has no good/bad boundaries
        models["saa"] = timeline_module.SaaRegion(center_lat_deg=89.0, semi_axis_lat_deg=1e-3, semi_axis_lon_deg=1e-3)
        models["good"] = timeline_module.GoodIntervalCriteria(max_zenith_deg=90.0, min_livetime_fraction=0.0)
        print("--no-boundaries: no SAA, every interval good")
    flux = spectra.FluxTable.from_file(FLUX_FILE, name="proton")
    t0 = time.perf_counter()
    density = acceptance.pattern_acceptance_map(256, PATTERN, grid_step_cm=3.0)
    alm = hp.map2alm(density, lmax=SETTINGS.lmax, mmax=SETTINGS.kmax, iter=3)
    beams = np.broadcast_to(alm, (len(THRESHOLDS_GV), 1, alm.size))  # the same acceptance for both thresholds
    print(f"detector acceptance: true geometric {PATTERN}, Nside 256, beams l <= {SETTINGS.lmax}, |k| <= "
          f"{SETTINGS.kmax} ({time.perf_counter() - t0:.0f} s, not counted)")
    n_events = np.array([N_PAPER[t] for t in THRESHOLDS_GV])

    def build(cadence, offset_s=0.0):
        """Reference maps (n_thr, npix) of the timeline at this cadence, grid started offset_s later."""
        clock = {"wall": 0.0, "cpu": 0.0}
        timeline = SimulatedTimeline(start + offset_s, stop + offset_s, cadence, models, clock)
        w0, c0 = time.perf_counter(), cpu_s()
        result = reference.reference_maps(timeline, beams, NSIDE, n_events, THRESHOLDS_GV, None, flux.integral_above,
                                          CUTOFF_FACTOR, CONE, efficiency=None, settings=SETTINGS)
        return {"maps": result.maps, "weights_s": result.total_weight_s, "n_intervals": result.n_intervals,
                "t_timeline": (clock["wall"], clock["cpu"]),
                "t_reference": (time.perf_counter() - w0 - clock["wall"], cpu_s() - c0 - clock["cpu"])}

    results = {cadence: build(cadence) for cadence in args.cadences}
    # the same cadence with the interval grid started half an interval later: a different sampling of the
    # same orbit, so its difference is the sampling jitter of that cadence (not a bias)
    shifted = {cadence: build(cadence, 0.5 * cadence) for cadence in args.cadences}

    base_cadence = args.cadences[0]
    base = results[base_cadence]
    print(f"{args.days:g} days from {datetime.datetime.fromtimestamp(start, datetime.UTC):%Y-%m-%d}, "
          f"protons, flux {FLUX_FILE.name}, cutoff factor {CUTOFF_FACTOR} ({CONE}), efficiency None, "
          f"sky Nside {NSIDE}, lmax {SETTINGS.lmax}, kmax {SETTINGS.kmax}, epsilon {SETTINGS.epsilon:g}, "
          f"oversampling {SETTINGS.oversampling}, workers {SETTINGS.workers}; maps normalised to N = 1.3e8 (18 GV), "
          f"2.0e6 (200 GV); reference cadence {base_cadence:g} s")
    print("time per cadence, s wall / s CPU: timeline simulation + reference maps")
    for cadence, r in results.items():
        (tw, tc), (rw, rc) = r["t_timeline"], r["t_reference"]
        print(f"  {cadence:5g} s: {r['n_intervals']:8d} good intervals; {tw:6.2f} / {tc:6.2f} + {rw:6.2f} / {rc:6.2f}")
    sigma = {n: np.sqrt(3.0 / n) for n in (1.3e8, 2.0e6)}

    def compare(m_ref, m_c, mask, n_paper):
        rel = m_c / np.where(m_ref > 0, m_ref, 1.0) - 1.0
        smooth = hp.smoothing(np.where(mask, rel, 0.0), fwhm=np.radians(SMOOTHING_FWHM_DEG))
        rho = fit.fit_multipoles(m_ref, m_c, mask=mask, lmax=1, lmax_check=()).rho
        return rel[mask], smooth[mask], rho, excess_chi2_per_dof(m_c, m_ref, n_paper, mask)

    print(f"comparison with the {base_cadence:g} s maps over the pixels with exposure > 5% of max "
          f"(dM/M = M_c / M_{base_cadence:g}s - 1; 'sm' = after {SMOOTHING_FWHM_DEG:g} deg FWHM smoothing; "
          "excess chi2/dof at the paper's N of the threshold); dipole rho of M_ref / M_c; last two columns: "
          "the same cadence vs itself shifted by half an interval")
    print("  cadence   thr  dExp/Exp   max|dM/M| rms dM/M rms sm  | excess  | rho (FB, EW, NS) x1e-6       "
          "| max|rho_i|/sigma N=1.3e8  N=2.0e6 | jitter: excess  rho/sigma N=1.3e8")
    worst = {}
    for cadence in args.cadences:
        r = results[cadence]
        for k, thr in enumerate(THRESHOLDS_GV):
            mask = fit.pixels_with_exposure(base["maps"][k], MIN_EXPOSURE_FRACTION)
            rel, smooth, rho, excess = compare(base["maps"][k], r["maps"][k], mask, N_PAPER[thr])
            _, _, rho_jitter, excess_jitter = compare(r["maps"][k], shifted[cadence]["maps"][k], mask, N_PAPER[thr])
            d_exposure = r["weights_s"][k] / base["weights_s"][k] - 1.0
            ratios = [np.abs(rho).max() / sigma[n] for n in (1.3e8, 2.0e6)]
            jitter = np.abs(rho_jitter).max() / sigma[1.3e8]
            worst[(cadence, thr)] = (*ratios, jitter, excess, excess_jitter)
            print(f"  {cadence:5g} s {thr:5g}  {d_exposure:+.2e}  {np.abs(rel).max():.2e}  "
                  f"{np.sqrt(np.mean(rel**2)):.2e} {np.sqrt(np.mean(smooth**2)):.1e} | {excess:.1e} | "
                  f"{rho[0] * 1e6:+8.2f} {rho[1] * 1e6:+8.2f} {rho[2] * 1e6:+8.2f} "
                  f"| {ratios[0]:10.3f} {ratios[1]:9.4f} | {excess_jitter:14.1e} {jitter:10.3f}")
    print(f"sigma = sqrt(3/N) per component: {sigma[1.3e8] * 1e6:.1f}e-6 (N=1.3e8), {sigma[2.0e6] * 1e6:.1f}e-6 "
          f"(N=2.0e6); the {base_cadence:g} s rows compare the {base_cadence:g} s maps with themselves (zero) "
          "and, in the last columns, with their half-interval shift (the floor of the sampling)")
    if 10.0 in args.cadences[1:]:
        w18, w200 = worst[(10.0, 18.0)], worst[(10.0, 200.0)]
        print(f"10 s: excess chi2/dof {w18[3]:.2e} at 18 GV (N=1.3e8), {w200[3]:.2e} at 200 GV (N=2.0e6); "
              f"max|rho_i|/sigma(N=1.3e8) = {w18[0]:.3f} at 18 GV; /sigma(N=2.0e6) = {w200[1]:.4f} at 200 GV; "
              f"10 s phase jitter: excess {w18[4]:.2e}, rho/sigma(N=1.3e8) = {w18[2]:.3f} at 18 GV")
    print(f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0:.0f} MB")


if __name__ == "__main__":
    main()
