"""Isotropic reference maps: the detector's response to an isotropic flux, estimated from data.

Factorised, data-driven method (method.md section 2; AMS: Velasco, Casaus, Mana, "Reference maps
for anisotropy searches with AMS-02", PoS(ICRC2017)196). For threshold k:

    M_k(pix) = norm_k * integral over pix of  sum_{good intervals s} L_s w_k(s) eps_k(v_s) A_k(R_s^T n) dn

with the per-interval weights of :mod:`ams_anisotropy.exposure_weights` (livetime, cutoff weight,
efficiency vs the trigger rate), the acceptance A_k estimated from the events' detector-frame histogram
(:mod:`ams_anisotropy.acceptance_harmonics`), the exact harmonic exposure integration of
:mod:`ams_anisotropy.exposure` (every interval at its own attitude), and norm_k such that
sum_pix M_k = N_k. The dipole the data-driven acceptance absorbs, and its correction, are in
:mod:`ams_anisotropy.dipole_absorption`; the event-shuffling cross-check in :mod:`ams_anisotropy.shuffling`.

This module ties them together: :func:`reference_maps` (given beams and an efficiency) and
:func:`data_driven_reference` (the workflow's nominal and variant maps from the binned events).

Simplifications (for the README): w_k uses the true (tabulated) spectrum and the selection's sharp cut on
the *measured* observable (the resolution's spill-over near the cutoff is absorbed by eps, which
correlates with the cutoff); eps depends on the efficiency variable only (one function per threshold,
or borrowed from a lower threshold when statistics are poor); the dipole-response correction is first
order in rho; each interval's attitude is the one at its midpoint (the cadence error is measured in
benchmarks/bench_cadence.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import healpy as hp
import numpy as np

from .acceptance_harmonics import ACCEPTANCE_SYMMETRIES, acceptance_beams, mirror_symmetrize  # noqa: F401
from .dipole_absorption import (  # noqa: F401 - the workflow's names for the absorption correction
    absorption_transform,
    correct_dipole,
    dipole_response_matrix,
    fitted_dipole_transform,
    response_labels,
)
from .exposure import (
    DEFAULT_EPSILON,
    DEFAULT_KMAX,
    DEFAULT_LMAX,
    DEFAULT_OVERSAMPLING,
    HarmonicExposure,
    pixel_averaged_maps,
)
from .exposure_weights import (  # noqa: F401
    DEFAULT_TRIGGER_RATE_EDGES_HZ,
    EFFICIENCY_VARIABLES,
    check_range,
    cutoff_column,
    cutoff_weights,
    efficiency_bin,
    efficiency_exposure,
    estimate_efficiency,
    interval_weights,
    timeline_blocks,
)
from .shuffling import shuffled_reference_maps  # noqa: F401


@dataclass(frozen=True)
class IntegrationSettings:
    """Resolution of the exposure integration (config ``reference``): band limit lmax, kmax of the
    acceptance and the sky, ducc0's relative accuracy epsilon, sub-pixel oversampling of the pixel
    integrals, ducc0 threads per cube (1: bitwise reproducible), cubes accumulated concurrently (any
    number gives the same bits); interval_stride: use every n-th good interval with n times its weight
    (the ``cadence2`` systematic variant; 1 = every interval)."""

    lmax: int = DEFAULT_LMAX
    kmax: int = DEFAULT_KMAX
    epsilon: float = DEFAULT_EPSILON
    oversampling: int = DEFAULT_OVERSAMPLING
    nthreads: int = 1
    workers: int = 1
    interval_stride: int = 1


@dataclass(frozen=True)
class ReferenceMaps:
    """Result of :func:`reference_maps`.

    maps (n_thr, npix): expected counts per galactic pixel (RING) for an isotropic sky, sum = N_k;
    dipole_response (n_thr, 3, npix): d maps / d rho_a (galactic x, y, z) through the data-driven
    acceptance, same normalisation (None if not computed); q_matrix (n_thr, 3, 3): Q = the W-weighted
    mean rotation; n_intervals: good intervals used; total_weight_s (n_thr,): sum of W (s);
    n_clipped_pixels (n_thr,): pixels where the band-limited map dipped below zero (set to 0).
    """

    maps: np.ndarray
    dipole_response: np.ndarray | None
    q_matrix: np.ndarray
    n_intervals: int
    total_weight_s: np.ndarray
    n_clipped_pixels: np.ndarray


def reference_maps(
    timeline,
    beams,
    nside: int,
    n_events,
    thresholds,
    upper,
    integral_flux: Callable,
    cutoff_factor: float = 1.2,
    cone_column: str = "cutoff_max_pos_40_gv",
    efficiency_variable: str = "trigger_rate_hz",
    efficiency_edges=DEFAULT_TRIGGER_RATE_EDGES_HZ,
    efficiency=None,
    settings: IntegrationSettings = IntegrationSettings(),
    time_max_unix_s: float | None = None,
) -> ReferenceMaps:
    """Galactic reference maps of every threshold in one streamed pass over the timeline.

    Parameters
    ----------
    timeline : path, DataFrame, or iterable of them
        Timeline chunks (``io.TIMELINE_SCHEMA``).
    beams : complex (n_thr, 1 or 4, n_alm(lmax, kmax))
        Harmonic beams of the acceptance of each threshold (and of A d_x, A d_y, A d_z for the dipole
        response), e.g. :func:`acceptance_harmonics.acceptance_beams`.
    nside : int
        HEALPix Nside of the galactic maps.
    n_events : sequence (n_thr,)
        Observed events per threshold; each map is normalised to it (0 gives a zero map).
    thresholds, upper, integral_flux, cutoff_factor, cone_column, efficiency_variable, efficiency_edges,
    efficiency : see :func:`exposure_weights.interval_weights` (efficiency None = 1: the "noeff" variant).
    settings : IntegrationSettings
    time_max_unix_s : float or None
        End of the species' own data-taking period (``species.<name>.duration_days``), POSIX s.
    """
    thresholds, upper = check_range(thresholds, upper)
    n_thr = thresholds.size
    beams = np.asarray(beams, dtype=np.complex128)
    if beams.ndim != 3 or beams.shape[0] != n_thr or beams.shape[1] not in (1, 4):
        raise ValueError(f"beams: expected shape (n_thr={n_thr}, 1 or 4, n_alm), got {beams.shape}")
    n_events = np.asarray(n_events, dtype=np.float64).ravel()
    if n_events.size != n_thr or not np.all(np.isfinite(n_events)) or np.any(n_events < 0):
        raise ValueError(f"n_events: expected {n_thr} finite non-negative values (one per threshold), got {n_events}")
    if not hp.isnsideok(nside):
        raise ValueError(f"nside must be a power of 2, got {nside!r}")
    if settings.lmax > 4 * nside * settings.oversampling:
        raise ValueError(f"reference lmax {settings.lmax} is too high for Nside {nside} x oversampling "
                         f"{settings.oversampling}")
    # Exact decomposition of W_k(s) = L_s w_k(s) eps_k(b_s) with w_k = 1 - (1 - w_k):
    #   sum_s W_k(s) X_s = sum_b eps_kb [sum_{s in bin b} L_s X_s] - sum_s L_s eps_k(b_s) (1 - w_k(s)) X_s.
    # The first part is one accumulation per efficiency bin shared by every threshold (each interval enters
    # one bin); the second, the cutoff's deficit, holds only the intervals whose cutoff the threshold's cut
    # reaches (w_k < 1: near the geomagnetic equator, low thresholds). A species then costs ~1.5 passes over
    # the timeline instead of one per threshold. A callable efficiency (a known model) takes the direct path.
    direct = callable(efficiency)
    binned = efficiency is not None and not direct
    edges = np.asarray(efficiency_edges, dtype=np.float64)
    n_bins = edges.size + 1 if binned else 1
    eps = np.asarray(efficiency, dtype=np.float64) if binned else np.ones((n_thr, 1))
    if binned and (eps.shape != (n_thr, n_bins) or not np.all(np.isfinite(eps)) or np.any(eps < 0)):
        raise ValueError(f"efficiency: expected finite non-negative values of shape (n_thr, n_bins) = "
                         f"({n_thr}, {n_bins}), got {eps.shape}")
    kwargs = dict(lmax=settings.lmax, kmax=settings.kmax, epsilon=settings.epsilon, nthreads=settings.nthreads,
                  workers=settings.workers)
    per_threshold = HarmonicExposure(n_thr, **kwargs)  # the direct weights, or the deficits
    shared = None if direct else HarmonicExposure(n_bins, **kwargs)
    n_intervals = 0
    stride = int(settings.interval_stride)
    if stride < 1:
        raise ValueError(f"interval_stride must be a positive integer, got {settings.interval_stride!r}")
    for block in timeline_blocks(timeline, cone_column, efficiency_variable, time_max_unix_s=time_max_unix_s):
        if stride > 1:
            keep = slice(0, None, stride)
            block = dataclasses.replace(
                block, rotations=block.rotations[keep], livetime_s=block.livetime_s[keep] * stride,
                cutoff_gv=block.cutoff_gv[keep], variable=block.variable[keep], time_unix_s=block.time_unix_s[keep])
        n_intervals += block.livetime_s.size
        if direct:
            per_threshold.add(block.rotations, interval_weights(block, thresholds, upper, integral_flux,
                                                                cutoff_factor, efficiency_edges, efficiency))
            continue
        ebin = efficiency_bin(block.variable, edges) if binned else np.zeros(block.livetime_s.size, dtype=np.int64)
        shared.add(block.rotations, (ebin[None, :] == np.arange(n_bins)[:, None]) * block.livetime_s[None, :])
        deficit = 1.0 - cutoff_weights(block.cutoff_gv, thresholds, upper, integral_flux, cutoff_factor).T
        reached = deficit.any(axis=0)
        if reached.any():
            per_threshold.add(block.rotations[reached],
                              (deficit * eps[:, ebin] * block.livetime_s[None, :])[:, reached])
    if direct:
        total_weight = per_threshold.total_weight.copy()
        weighted_rotation = per_threshold.weighted_rotation.copy()
        alm = per_threshold.sky_alm(beams)
    else:
        total_weight = eps @ shared.total_weight - per_threshold.total_weight
        weighted_rotation = (np.einsum("kb,bij->kij", eps, shared.weighted_rotation)
                             - per_threshold.weighted_rotation)
        stacked = beams.reshape(-1, beams.shape[2])  # (n_thr * n_beams, n_alm)
        per_bin = shared.sky_alm(np.broadcast_to(stacked, (n_bins, *stacked.shape)))
        per_bin = per_bin.reshape(n_bins, n_thr, beams.shape[1], -1)
        alm = np.einsum("kb,bkjl->kjl", eps, per_bin) - per_threshold.sky_alm(beams)
    for k in range(n_thr):
        if n_events[k] > 0 and total_weight[k] <= 0:
            raise ValueError(f"threshold {thresholds[k]:g}: the reference map is empty (no exposure)")
    raw = pixel_averaged_maps(alm, nside, settings.lmax, settings.oversampling)  # (n_thr, n_beams, npix)
    maps = raw[:, 0]
    negative = maps < 0
    maps = np.where(negative, 0.0, maps)
    totals = maps.sum(axis=1)
    for k in range(n_thr):
        if n_events[k] > 0 and totals[k] <= 0:
            raise ValueError(f"threshold {thresholds[k]:g}: the reference map is empty (no exposure)")
    scale = np.where(totals > 0, n_events / np.maximum(totals, 1e-300), 0.0)
    q_matrix = weighted_rotation / np.maximum(total_weight, 1e-300)[:, None, None]
    response = None
    if beams.shape[1] == 4:
        # T_a = sum_b Q_ab U_b, U_b the exposure of the beam A d_b
        response = np.einsum("kab,kbp->kap", q_matrix, raw[:, 1:]) * scale[:, None, None]
    return ReferenceMaps(
        maps=maps * scale[:, None], dipole_response=response, q_matrix=q_matrix, n_intervals=n_intervals,
        total_weight_s=total_weight, n_clipped_pixels=negative.sum(axis=1),
    )


def data_driven_reference(
    timeline,
    detector_maps,
    event_histogram,
    n_events,
    thresholds,
    upper,
    integral_flux: Callable,
    nside: int,
    cutoff_factor: float = 1.2,
    cone_column: str = "cutoff_max_pos_40_gv",
    efficiency_variable: str = "trigger_rate_hz",
    efficiency_edges=DEFAULT_TRIGGER_RATE_EDGES_HZ,
    efficiency_min_events_per_bin: float = 400.0,
    acceptance_symmetry: str = "none",
    acceptance_min_events: float = 0.0,
    settings: IntegrationSettings = IntegrationSettings(),
    time_max_unix_s: float | None = None,
):
    """The workflow's reference: acceptance and efficiency from the binned events, then the exposure.

    ``detector_maps`` (n_thr, npix_det): detector-frame histograms; ``event_histogram`` (n_thr, n_bins):
    selected events per efficiency bin (``binning.MapAccumulator.histograms``), or None for no efficiency
    correction (the "noeff" variant). Returns (ReferenceMaps, efficiency (n_thr, n_bins) or None,
    acceptance source (n_thr,)).
    """
    beams, source = acceptance_beams(detector_maps, settings.lmax, settings.kmax, acceptance_symmetry,
                                     acceptance_min_events, dipole_response=True)
    common = dict(thresholds=thresholds, upper=upper, integral_flux=integral_flux, cutoff_factor=cutoff_factor,
                  cone_column=cone_column, efficiency_variable=efficiency_variable,
                  efficiency_edges=efficiency_edges, time_max_unix_s=time_max_unix_s)
    efficiency = None
    if event_histogram is not None:
        exposure_per_bin = efficiency_exposure(timeline, **common)
        efficiency = estimate_efficiency(event_histogram, exposure_per_bin, efficiency_min_events_per_bin)
    result = reference_maps(timeline, beams, nside, n_events, efficiency=efficiency, settings=settings, **common)
    return result, efficiency, source
