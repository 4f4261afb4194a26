"""The integrated reference variants of one species in one job, sharing the deflection correction.

Each variant (:mod:`ams_anisotropy.reference_variants`) is its own straight-line exposure
(:func:`reference.straight_exposure`: its acceptance, efficiency, cutoff factor, band limit, stride, time
factors); the exposure in asymptotic directions adds the deflection correction, whose cost (table lookups
and beam transforms per orbit cell) is the same for every variant. :func:`data_driven_reference_set` builds
the straight parts one after the other, then one correction with a channel per variant
(:mod:`ams_anisotropy.deflection_pass`, where the approximations of the sharing are stated), then the maps.
With one variant it is exactly :func:`reference.data_driven_reference`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from . import reference
from .acceptance_harmonics import acceptance_beams
from .efficiency_time import TimeBlockEvents


@dataclass(frozen=True)
class VariantInputs:
    """What one integrated variant is built from: name; detector_maps (n_thr, npix_det) and n_events (n_thr,)
    of its cutoff factor's sample; event_histogram (n_thr, n_bins) or None (no efficiency correction);
    cutoff_factor; efficiency_variable ("trigger_rate_hz" or "cutoff") and efficiency_edges; settings
    (reference.IntegrationSettings: band limit, stride); time_histogram (the ``efftime`` variant) or None."""

    name: str
    detector_maps: np.ndarray
    n_events: np.ndarray
    event_histogram: np.ndarray | None
    cutoff_factor: float
    efficiency_variable: str
    efficiency_edges: tuple
    settings: reference.IntegrationSettings
    time_histogram: TimeBlockEvents | None = None


def data_driven_reference_set(timeline, variants: Sequence[VariantInputs], thresholds, upper,
                              integral_flux: Callable, nside: int, cone_column: str = "cutoff_max_pos_40_gv",
                              efficiency_min_events_per_bin: float = 400.0, acceptance_symmetry: str = "none",
                              acceptance_min_events: float = 0.0, time_max_unix_s: float | None = None,
                              deflection_table=None, charge_sign: int | None = None, deflection_settings=None,
                              resolution: tuple[float, float] | None = None):
    """{variant name: (ReferenceMaps, acceptance source (n_thr,))}, in the order of ``variants``.

    The first variant is channel 0 of the deflection correction: its lowest threshold's detector histogram
    gives the deflected beams' acceptance shape (the nominal reference; see :mod:`deflection_pass`). Other
    parameters as :func:`reference.data_driven_reference`. The timeline must be paths or frames (read once
    per variant, once more for the correction)."""
    if not variants:
        raise ValueError("data_driven_reference_set: no variant given")
    names = [v.name for v in variants]
    if len(set(names)) != len(names):
        raise ValueError(f"data_driven_reference_set: variant names repeat: {names}")
    if deflection_table is not None and charge_sign not in (-1, 1):
        raise ValueError(f"the deflection correction needs the species' charge sign (+1 or -1), got {charge_sign!r}")
    parts, beams_of, sources = [], [], []
    for variant in variants:
        settings = variant.settings
        beams, source = acceptance_beams(variant.detector_maps, settings.lmax, settings.kmax, acceptance_symmetry,
                                         acceptance_min_events, dipole_response=True)
        parts.append(reference.straight_exposure(
            timeline, beams, nside, variant.n_events, thresholds, upper, integral_flux, variant.cutoff_factor,
            cone_column, variant.efficiency_variable, variant.efficiency_edges, settings=settings,
            time_max_unix_s=time_max_unix_s, event_histogram=variant.event_histogram,
            efficiency_min_events_per_bin=efficiency_min_events_per_bin, time_histogram=variant.time_histogram))
        beams_of.append(beams)
        sources.append(source)
    corrections = [None] * len(variants)
    if deflection_table is not None:
        from .deflected_exposure import DeflectionCorrection, DeflectionSettings
        from .deflection_pass import deflection_alms

        correction = DeflectionCorrection(
            deflection_table, np.asarray(variants[0].detector_maps)[0], charge_sign, thresholds, upper,
            integral_flux, [v.cutoff_factor for v in variants], deflection_settings or DeflectionSettings(),
            resolution)
        corrections = deflection_alms(correction, timeline, cone_column, time_max_unix_s,
                                      [p.deflection_channel() for p in parts], beams_of,
                                      [v.settings.lmax for v in variants])
    return {variant.name: (reference.finish_reference(part, beams, nside, variant.n_events, thresholds,
                                                      variant.settings, extra), source)
            for variant, part, beams, source, extra in zip(variants, parts, beams_of, sources, corrections,
                                                          strict=True)}


__all__ = ["VariantInputs", "data_driven_reference_set"]
