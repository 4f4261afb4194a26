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

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from .acceptance_harmonics import ACCEPTANCE_SYMMETRIES, acceptance_beams, mirror_symmetrize  # noqa: F401
from .arrival_exposure import (  # noqa: F401 - the straight-line part, under the workflow's names
    IntegrationSettings,
    ReferenceMaps,
    StraightExposure,
    finish_reference,
    straight_exposure,
)
from .dipole_absorption import (  # noqa: F401 - the workflow's names for the absorption correction
    absorption_transform,
    correct_dipole,
    dipole_response_matrix,
    fitted_dipole_transform,
    response_labels,
)
from .efficiency_time import TimeBlockEvents
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

if TYPE_CHECKING:  # the deflection modules need numba (the table lookup): imported only when used
    from .deflected_exposure import DeflectionCorrection, DeflectionSettings


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
    event_histogram=None,
    efficiency_min_events_per_bin: float = 400.0,
    deflection: DeflectionCorrection | None = None,
    time_histogram: TimeBlockEvents | None = None,
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
    event_histogram : array (n_thr, len(efficiency_edges) + 1), optional
        Selected events per efficiency bin: eps is then estimated from it and the exposure of the same pass
        (:func:`exposure_weights.estimate_efficiency` with ``efficiency_min_events_per_bin``); returned in
        ``ReferenceMaps.efficiency``.
    deflection : DeflectionCorrection, optional
        The exposure in asymptotic (backtraced) directions (:mod:`deflected_exposure`): a second pass over the
        timeline (which must then be paths or frames, not a one-shot iterator) adds the deflection correction,
        with the efficiency of the first pass, to the exposure of the arrival directions.
    time_histogram : TimeBlockEvents, optional
        The lowest threshold's events per time block and efficiency bin (the ``efftime`` variant, with
        ``event_histogram``): a first pass over the timeline's columns gives the time factors c(t, b)
        (:mod:`efficiency_time`), each interval's livetime is multiplied by its c, and eps is estimated with
        that livetime. The timeline must then be paths or frames (read twice).
    """
    part = straight_exposure(timeline, beams, nside, n_events, thresholds, upper, integral_flux, cutoff_factor,
                             cone_column, efficiency_variable, efficiency_edges, efficiency, settings,
                             time_max_unix_s, event_histogram, efficiency_min_events_per_bin, time_histogram)
    extra = None
    if deflection is not None:
        from .deflection_pass import deflection_alms

        extra = deflection_alms(deflection, timeline, cone_column, time_max_unix_s, [part.deflection_channel()],
                                [beams], [settings.lmax])[0]
    return finish_reference(part, beams, nside, n_events, thresholds, settings, extra)


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
    deflection_table=None,
    charge_sign: int | None = None,
    deflection_settings: DeflectionSettings | None = None,
    resolution: tuple[float, float] | None = None,
    time_histogram: TimeBlockEvents | None = None,
):
    """The workflow's reference: acceptance and efficiency from the binned events, then the exposure.

    With ``deflection_table`` (an :class:`asymptotic.AsymptoticTable`) and the species' ``charge_sign``, the
    exposure is that of the asymptotic directions (:mod:`deflected_exposure`, with ``deflection_settings``),
    its acceptance shape taken from the lowest threshold's detector histogram.

    ``detector_maps`` (n_thr, npix_det): detector-frame histograms; ``event_histogram`` (n_thr, n_bins):
    selected events per efficiency bin (``binning.MapAccumulator.histograms``), or None for no efficiency
    correction (the "noeff" variant); ``time_histogram``: the ``efftime`` variant's events per time block
    (:func:`reference_maps`). Returns (ReferenceMaps, efficiency (n_thr, n_bins) or None,
    acceptance source (n_thr,)).
    """
    from .reference_set import VariantInputs, data_driven_reference_set

    variant = VariantInputs("reference", np.asarray(detector_maps), np.asarray(n_events, dtype=np.float64),
                            event_histogram, cutoff_factor, efficiency_variable, tuple(efficiency_edges), settings,
                            time_histogram)
    result, source = data_driven_reference_set(
        timeline, [variant], thresholds, upper, integral_flux, nside, cone_column, efficiency_min_events_per_bin,
        acceptance_symmetry, acceptance_min_events, time_max_unix_s, deflection_table, charge_sign,
        deflection_settings, resolution)["reference"]
    return result, result.efficiency, source
