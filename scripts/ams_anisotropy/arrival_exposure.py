"""The exposure of the arrival directions: the straight-line part of the isotropic reference.

:func:`straight_exposure` streams the timeline once (the factorised weights of
:mod:`ams_anisotropy.exposure_weights`, the exact harmonic integration of :mod:`ams_anisotropy.exposure`,
the efficiency estimated after the pass, the ``efftime`` factors of :mod:`ams_anisotropy.efficiency_time`);
:func:`finish_reference` adds a deflection correction if given (:mod:`ams_anisotropy.deflection_pass`) and
makes the maps: pixel integrals, clipping, normalisation, dipole response. :mod:`ams_anisotropy.reference`
ties them together; the formula and its simplifications are in its docstring.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import healpy as hp
import numpy as np

from .efficiency_time import TimeBlockEvents, TimeEfficiency, estimate_time_efficiency, time_block_exposure
from .exposure import (
    DEFAULT_EPSILON,
    DEFAULT_KMAX,
    DEFAULT_LMAX,
    DEFAULT_OVERSAMPLING,
    HarmonicExposure,
    pixel_averaged_maps,
    pointing_angles,
)
from .exposure_weights import (
    DEFAULT_TRIGGER_RATE_EDGES_HZ,
    check_range,
    cutoff_weights,
    efficiency_bin,
    estimate_efficiency,
    interval_weights,
    timeline_blocks,
)


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
    n_clipped_pixels (n_thr,): pixels where the band-limited map dipped below zero (set to 0);
    efficiency (n_thr, n_bins): the eps applied (estimated or given; None without a binned efficiency);
    time_efficiency: the time factors c(t, b) applied (the ``efftime`` variant), else None.
    """

    maps: np.ndarray
    dipole_response: np.ndarray | None
    q_matrix: np.ndarray
    n_intervals: int
    total_weight_s: np.ndarray
    n_clipped_pixels: np.ndarray
    efficiency: np.ndarray | None = None
    time_efficiency: TimeEfficiency | None = None


@dataclass(frozen=True)
class StraightExposure:
    """The exposure of the arrival directions (:func:`straight_exposure`), before the deflection correction
    and the pixel integrals: alm (n_thr, n_beams, n_alm); efficiency: the eps applied (None without a binned
    efficiency); total_weight_s, weighted_rotation (n_thr, 3, 3); n_intervals; time_efficiency; and what the
    deflection correction repeats (:meth:`deflection_channel`): cutoff factor, efficiency variable and
    edges, interval stride (the correction applies ``efficiency``: None, also for a callable efficiency, is 1)."""

    alm: np.ndarray
    efficiency: np.ndarray | None
    total_weight_s: np.ndarray
    weighted_rotation: np.ndarray
    n_intervals: int
    time_efficiency: TimeEfficiency | None
    cutoff_factor: float
    efficiency_variable: str
    efficiency_edges: np.ndarray
    interval_stride: int

    def deflection_channel(self):
        """The weights of this exposure as a channel of the deflection correction (:mod:`deflection_pass`)."""
        from .deflection_pass import DeflectionChannel

        eps = self.efficiency
        return DeflectionChannel(cutoff_factor=self.cutoff_factor, efficiency_variable=self.efficiency_variable,
                                 efficiency=eps,
                                 efficiency_edges=self.efficiency_edges if eps is not None and eps.shape[1] > 1
                                 else None, interval_stride=self.interval_stride, time_efficiency=self.time_efficiency)


def straight_exposure(timeline, beams, nside, n_events, thresholds, upper, integral_flux, cutoff_factor=1.2,
                      cone_column="cutoff_max_pos_40_gv", efficiency_variable="trigger_rate_hz",
                      efficiency_edges=DEFAULT_TRIGGER_RATE_EDGES_HZ, efficiency=None,
                      settings: IntegrationSettings = IntegrationSettings(), time_max_unix_s=None,
                      event_histogram=None, efficiency_min_events_per_bin: float = 400.0,
                      time_histogram: TimeBlockEvents | None = None) -> StraightExposure:
    """The straight-line (arrival-direction) part of :func:`reference_maps` (same parameters): one streamed
    pass over the timeline, the efficiency estimated after it."""
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
    #   sum_s W_k(s) X_s = sum_b eps_kb [sum_{s in b} L_s X_s - sum_{s in b} L_s (1 - w_k(s)) X_s].
    # The first part is one accumulation per efficiency bin shared by every threshold (each interval enters
    # one bin); the second, the cutoff's deficit per threshold and bin, holds only the intervals whose cutoff
    # the threshold's cut reaches (w_k < 1: near the geomagnetic equator, low thresholds). So a species costs
    # ~1.3 passes over the timeline, and one pass gives the efficiency's denominators too (sum_{s in b} L w_k
    # = the difference of the two parts' total weights): eps_k is estimated after the pass. A callable
    # efficiency (a known model) takes the direct path, one accumulation per threshold.
    direct = callable(efficiency)
    estimate = event_histogram is not None
    if estimate and efficiency is not None:
        raise ValueError("give either an efficiency or an event histogram to estimate it from, not both")
    binned = estimate or (efficiency is not None and not direct)
    edges = np.asarray(efficiency_edges, dtype=np.float64)
    n_bins = edges.size + 1 if binned else 1
    if binned and not estimate:
        eps = np.asarray(efficiency, dtype=np.float64)
        if eps.shape != (n_thr, n_bins) or not np.all(np.isfinite(eps)) or np.any(eps < 0):
            raise ValueError(f"efficiency: expected finite non-negative values of shape (n_thr, n_bins) = "
                             f"({n_thr}, {n_bins}), got {eps.shape}")
    kwargs = dict(lmax=settings.lmax, kmax=settings.kmax, epsilon=settings.epsilon, nthreads=settings.nthreads,
                  workers=settings.workers)
    per_threshold = HarmonicExposure(n_thr, **kwargs) if direct else None
    shared = None if direct else HarmonicExposure(n_bins, **kwargs)
    deficits = None if direct else HarmonicExposure(n_thr * n_bins, **kwargs)  # set k * n_bins + b
    n_intervals = 0
    stride = int(settings.interval_stride)
    if stride < 1:
        raise ValueError(f"interval_stride must be a positive integer, got {settings.interval_stride!r}")
    time_efficiency = None
    if time_histogram is not None:
        if not estimate or tuple(np.asarray(time_histogram.edges, dtype=np.float64)) != tuple(edges):
            raise ValueError("time_histogram needs an event_histogram with the same efficiency edges")
        exposure_blocks, exposure_tb = time_block_exposure(
            timeline_blocks(timeline, cone_column, efficiency_variable, time_max_unix_s=time_max_unix_s),
            thresholds[0], upper, integral_flux, cutoff_factor, edges, time_histogram.block_s)
        time_efficiency = estimate_time_efficiency(time_histogram, exposure_blocks, exposure_tb,
                                                   efficiency_min_events_per_bin)
    for block in _weighted_blocks(timeline, cone_column, efficiency_variable, time_max_unix_s, stride,
                                  time_efficiency):
        n_intervals += block.livetime_s.size
        if direct:
            per_threshold.add(block.rotations, interval_weights(block, thresholds, upper, integral_flux,
                                                                cutoff_factor, efficiency_edges, efficiency))
            continue
        pointings = pointing_angles(block.rotations)
        ebin = efficiency_bin(block.variable, edges) if binned else np.zeros(block.livetime_s.size, dtype=np.int64)
        order = np.argsort(ebin, kind="stable")  # rows of each bin, in time order
        starts = np.searchsorted(ebin[order], np.arange(n_bins + 1))
        rows_of = [order[starts[b]:starts[b + 1]] for b in range(n_bins)]
        shared.add_sparse(pointings, block.rotations,
                          [(b, rows, block.livetime_s[rows]) for b, rows in enumerate(rows_of) if rows.size])
        deficit = 1.0 - cutoff_weights(block.cutoff_gv, thresholds, upper, integral_flux, cutoff_factor).T
        entries = []
        for k in range(n_thr):  # a handful of thresholds x bins
            reached = deficit[k] > 0
            if not reached.any():
                continue
            for b, rows in enumerate(rows_of):
                rows = rows[reached[rows]]
                if rows.size:
                    entries.append((k * n_bins + b, rows, block.livetime_s[rows] * deficit[k, rows]))
        if entries:
            deficits.add_sparse(pointings, block.rotations, entries)
    if direct:
        eps = None
        total_weight = per_threshold.total_weight.copy()
        weighted_rotation = per_threshold.weighted_rotation.copy()
        alm = per_threshold.sky_alm(beams)
    else:
        # per threshold and bin: sum_{s in b} L w_k (s) and sum_{s in b} L w_k R_s
        exposure_kb = shared.total_weight[None, :] - deficits.total_weight.reshape(n_thr, n_bins)
        rotation_kb = shared.weighted_rotation[None] - deficits.weighted_rotation.reshape(n_thr, n_bins, 3, 3)
        if estimate:
            eps = estimate_efficiency(event_histogram, np.maximum(exposure_kb, 0.0), efficiency_min_events_per_bin)
        elif not binned:
            eps = np.ones((n_thr, 1))
        total_weight = np.einsum("kb,kb->k", eps, exposure_kb)
        weighted_rotation = np.einsum("kb,kbij->kij", eps, rotation_kb)
        stacked = beams.reshape(-1, beams.shape[2])  # (n_thr * n_beams, n_alm)
        per_bin = shared.sky_alm(np.broadcast_to(stacked, (n_bins, *stacked.shape)))
        per_bin = per_bin.reshape(n_bins, n_thr, beams.shape[1], -1)
        per_deficit = deficits.sky_alm(np.repeat(beams, n_bins, axis=0)).reshape(n_thr, n_bins, beams.shape[1], -1)
        alm = np.einsum("kb,bkjl->kjl", eps, per_bin) - np.einsum("kb,kbjl->kjl", eps, per_deficit)
        if not binned:
            eps = None
    for k in range(n_thr):
        if n_events[k] > 0 and total_weight[k] <= 0:
            raise ValueError(f"threshold {thresholds[k]:g}: the reference map is empty (no exposure)")
    return StraightExposure(alm=alm, efficiency=eps, total_weight_s=total_weight, weighted_rotation=weighted_rotation,
                            n_intervals=n_intervals, time_efficiency=time_efficiency,
                            cutoff_factor=float(cutoff_factor), efficiency_variable=efficiency_variable,
                            efficiency_edges=edges, interval_stride=stride)


def finish_reference(part: StraightExposure, beams, nside: int, n_events, thresholds,
                     settings: IntegrationSettings, deflection_alm=None) -> ReferenceMaps:
    """The maps of a :class:`StraightExposure`: plus the deflection correction ``deflection_alm`` (n_thr,
    n_alm(settings.lmax)) if given, pixel integrals, clipping, normalisation to n_events, dipole response."""
    beams = np.asarray(beams, dtype=np.complex128)
    n_events = np.asarray(n_events, dtype=np.float64).ravel()
    thresholds = np.atleast_1d(np.asarray(thresholds, dtype=np.float64))
    n_thr = thresholds.size
    alm, eps, total_weight, weighted_rotation = part.alm, part.efficiency, part.total_weight_s, part.weighted_rotation
    n_intervals, time_efficiency = part.n_intervals, part.time_efficiency
    if deflection_alm is not None:
        alm = alm.copy()
        alm[:, 0] += deflection_alm
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
        total_weight_s=total_weight, n_clipped_pixels=negative.sum(axis=1), efficiency=eps,
        time_efficiency=time_efficiency,
    )


def _strided(block, stride: int):
    """Every stride-th interval of a TimelineBlock, with stride times its livetime (the cadence2 variant)."""
    if stride == 1:
        return block
    kept = block.rows(slice(0, None, stride))
    return dataclasses.replace(kept, livetime_s=kept.livetime_s * stride)


def _weighted_blocks(timeline, cone_column, efficiency_variable, time_max_unix_s, stride, time_efficiency):
    """The timeline's blocks, strided, each interval's livetime times its time factor c (``efftime``)."""
    for block in timeline_blocks(timeline, cone_column, efficiency_variable, time_max_unix_s=time_max_unix_s):
        block = _strided(block, stride)
        if time_efficiency is not None:
            block = dataclasses.replace(block, livetime_s=block.livetime_s * time_efficiency.interval_factors(
                block.time_unix_s, block.variable))
        yield block


__all__ = ["IntegrationSettings", "ReferenceMaps", "StraightExposure", "finish_reference", "straight_exposure"]
