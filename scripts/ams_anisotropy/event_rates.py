"""Event rates of the simulation: the hidden efficiency (and the per-interval factors of
:mod:`detector_effects`), the exposure weights of the intervals and
the expected numbers of events (an independent Monte Carlo of the stored acceptance, used by the tests
and benchmarks to check :func:`simulation.simulate_events`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .acceptance import AMS02_GEOMETRY, DEFAULT_MAX_ZENITH_DEG, Geometry, generate, generation_acceptance_m2sr
from .detector_effects import DetectorEffects

# trigger-rate anchors of the hidden efficiency (method.md section 4: ~200 Hz at the equator,
# ~2000 Hz near the magnetic poles)
EQUATOR_RATE_HZ = 200.0
POLAR_RATE_HZ = 2000.0


def hidden_efficiency(
    trigger_rate_hz,
    amplitude: float = 0.03,
    equator_rate_hz: float = EQUATOR_RATE_HZ,
    polar_rate_hz: float = POLAR_RATE_HZ,
) -> np.ndarray:
    """Geographic efficiency unknown to the analysis:
    1 - amplitude (rate - equator_rate) / (polar_rate - equator_rate), clipped to [0, 1] (rates in Hz)."""
    if not polar_rate_hz > equator_rate_hz:
        raise ValueError("polar_rate_hz must exceed equator_rate_hz")
    if not 0.0 <= amplitude <= 1.0:
        raise ValueError(f"hidden efficiency amplitude must be in [0, 1], got {amplitude!r}")
    rate = np.asarray(trigger_rate_hz, dtype=np.float64)
    return np.clip(1.0 - amplitude * (rate - equator_rate_hz) / (polar_rate_hz - equator_rate_hz), 0.0, 1.0)


_TIMELINE_NEEDED = ("time_unix_s", "duration_s", "livetime_fraction", "trigger_rate_hz")


def _exposure_weights(
    timeline: pd.DataFrame, hidden_efficiency_amplitude, equator_rate_hz, polar_rate_hz, good_only,
    detector_effects: DetectorEffects | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(start times, durations, live seconds x hidden efficiency [x the detector effects' per-interval
    factors] per interval) with checks."""
    if not isinstance(timeline, pd.DataFrame):
        raise ValueError("timeline: expected a pandas DataFrame with the timeline columns")
    needed = list(_TIMELINE_NEEDED) + (["good"] if good_only else [])
    missing = [c for c in needed if c not in timeline.columns]
    if missing:
        raise ValueError(f"timeline: missing column(s) {', '.join(missing)}")
    if len(timeline) == 0:
        raise ValueError("timeline: no rows")
    start = timeline["time_unix_s"].to_numpy(np.float64)
    duration = timeline["duration_s"].to_numpy(np.float64)
    live = timeline["livetime_fraction"].to_numpy(np.float64)
    rate = timeline["trigger_rate_hz"].to_numpy(np.float64)
    for name, values in (
        ("time_unix_s", start),
        ("duration_s", duration),
        ("livetime_fraction", live),
        ("trigger_rate_hz", rate),
    ):
        if not np.all(np.isfinite(values)):
            raise ValueError(f"timeline: column {name} has non-finite values")
    if np.any(duration <= 0):
        raise ValueError("timeline: duration_s must be positive")
    if np.any((live < 0) | (live > 1)):
        raise ValueError("timeline: livetime_fraction must be in [0, 1]")
    if np.any(start[1:] < start[:-1] + duration[:-1] - 1e-6):
        raise ValueError("timeline: intervals are not increasing and non-overlapping in time_unix_s")
    weight = duration * live * hidden_efficiency(rate, hidden_efficiency_amplitude, equator_rate_hz, polar_rate_hz)
    if detector_effects is not None and detector_effects.has_interval_factors:
        lon = timeline["iss_lon_deg"].to_numpy(np.float64) if "iss_lon_deg" in timeline.columns else None
        weight = weight * detector_effects.interval_efficiency(start, rate, lon, equator_rate_hz, polar_rate_hz)
    if good_only:
        weight = weight * timeline["good"].to_numpy(bool)
    return start, duration, weight


def expected_counts(
    timeline: pd.DataFrame,
    particles,
    *,
    geometry: Geometry = AMS02_GEOMETRY,
    max_zenith_deg: float = DEFAULT_MAX_ZENITH_DEG,
    prescale: float = 1.0,
    hidden_efficiency_amplitude: float = 0.03,
    equator_rate_hz: float = EQUATOR_RATE_HZ,
    polar_rate_hz: float = POLAR_RATE_HZ,
    good_only: bool = False,
    stored_patterns=None,
    acceptance_samples: int = 400_000,
    detector_effects: DetectorEffects | None = None,
) -> pd.DataFrame:
    """Expected numbers per particle for a timeline, before the sky, cutoff and albedo steps.

    Returns one row per particle: ``particle, integral_flux_m2_sr_s`` (between its rigidity limits),
    ``exposure_s`` (sum of live seconds x hidden efficiency), ``generation_acceptance_m2sr``,
    ``expected_generated`` (the Poisson mean drawn by :func:`simulate_events`),
    ``stored_acceptance_m2sr`` (any stored pattern, Monte Carlo with ``acceptance_samples``) and
    ``expected_in_patterns``. Parameters as in :func:`simulate_events` (of ``detector_effects``, only the
    per-interval factors: the dead layer changes hits, not the stored lines).
    """
    if not prescale >= 1.0:
        raise ValueError(f"prescale must be >= 1, got {prescale!r}")
    _, _, weight = _exposure_weights(timeline, hidden_efficiency_amplitude, equator_rate_hz, polar_rate_hz, good_only,
                                     detector_effects)
    exposure_s = float(weight.sum())
    a_gen = generation_acceptance_m2sr(geometry, max_zenith_deg)
    rng = np.random.default_rng(2024)
    gen = generate(rng, acceptance_samples, geometry, max_zenith_deg)
    rows = []
    for particle in particles:
        patterns = _stored_patterns(geometry, particle.stored_patterns or stored_patterns)
        any_pattern = np.zeros(acceptance_samples, dtype=bool)
        for name in patterns:
            any_pattern |= gen.patterns[name]
        stored_acceptance = a_gen * any_pattern.mean()
        flux = particle.integral_flux()
        n_gen = flux * a_gen * exposure_s / prescale
        rows.append(
            {
                "particle": particle.name,
                "integral_flux_m2_sr_s": flux,
                "exposure_s": exposure_s,
                "generation_acceptance_m2sr": a_gen,
                "expected_generated": n_gen,
                "stored_acceptance_m2sr": stored_acceptance,
                "expected_in_patterns": flux * stored_acceptance * exposure_s / prescale,
            }
        )
    return pd.DataFrame(rows)


def _stored_patterns(geometry: Geometry, stored_patterns) -> tuple[str, ...]:
    names = geometry.pattern_names if stored_patterns is None else tuple(stored_patterns)
    for name in names:
        geometry.pattern(name)
    if not names:
        raise ValueError("stored_patterns: at least one pattern is needed")
    return names


__all__ = ["EQUATOR_RATE_HZ", "POLAR_RATE_HZ", "hidden_efficiency", "expected_counts"]
