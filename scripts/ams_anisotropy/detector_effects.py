"""Detector effects of the simulation that the analysis is not told about (config ``simulation.detector_effects``).

The analysis (:mod:`reference`, :mod:`exposure_weights`) estimates one efficiency per trigger-rate bin
from the data and one detector-frame acceptance for the whole period. These effects break each of
those assumptions in a way a real detector could; each is a switch (``enabled``) with a default size:

* **longitude** (per interval): ``eps = 1 - A cos(lon - lon_max_loss)`` of the ISS geographic
  longitude, at any cutoff. Default A = 0.003 (the "few tenths of a per cent" of issue 9) with the
  largest loss at -50 deg, the South Atlantic Anomaly's longitude (``simulation.saa``): the trapped
  particles at the SAA's fringes raise the detector occupancy there, which spoils a small share of
  tracks whatever the vertical cutoff. A trigger-rate bin mixes longitudes, so the reference cannot
  absorb it.
* **drift** (per interval): ``eps = 1 + d (t - t_start) / year`` (t_start the period start, a Julian year
  of 365.25 days). Default d = -0.005 / year (ageing of the detector at the level issue 9 asks for: 0.1%
  over the 73-day default run, 3.7% over the paper's 7.5 years); the reference averages the efficiency
  over the whole period.
* **trigger non-linearity** (per interval): ``eps = 1 - q x^2`` with x = (rate - equator_rate) /
  (polar_rate - equator_rate), on top of the linear hidden efficiency of :mod:`event_rates`. Default
  q = 0.01 (1% at the polar rate, a third of the 3% linear term): the losses of a buffered readout grow
  like the square of the rate x busy time when two events queue. The reference's trigger-rate bins absorb
  it up to their width; it is the test of that binning.
* **dead layer** (per event): during ``duration_days`` from ``start_day`` (days since the period start)
  the part ``x >= x_min_cm`` (detector frame) of tracker layer ``layer`` gives no hit, so a track crossing
  it loses that layer's bit (``has_l1``, ``has_l9`` or one inner layer fewer) and may fail its pattern or
  selection. Default: L1 beyond x = +30 cm (a fifth of the layer, a few ladders: AMS-02 has had tracker
  ladders switched off or lost at times) for 5 days from day 30. The acceptance shape then changes: the
  lines lost come from +x (``dir_det_x > 0``), while the reference uses one detector-frame histogram for
  the whole period.

The per-interval factors multiply the interval weights (live time x hidden efficiency) of
:func:`event_rates._exposure_weights`, so the expected numbers of events follow them exactly. The dead
layer acts on the crossing bits of each candidate line (:func:`apply_dead_layer`), consuming no random
number. With every switch off (or ``detector_effects=None``) the events are bitwise today's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .acceptance import AMS02_GEOMETRY, INNER_LAYERS, Geometry

DAY_S = 86400.0
JULIAN_YEAR_S = 365.25 * DAY_S  # IAU Julian year (IAU Style Manual 1989, as astropy.units.yr)
TRACKER_LAYERS = ("L1", *INNER_LAYERS, "L9")  # the nine AMS-02 tracker layers (acceptance.py)


@dataclass(frozen=True)
class DeadLayer:
    """Tracker layer ``layer`` gives no hit at x >= x_min_cm (detector frame) in [start_unix_s, stop_unix_s)."""

    layer: str
    x_min_cm: float
    start_unix_s: float
    stop_unix_s: float

    def __post_init__(self):
        if self.layer not in TRACKER_LAYERS:
            raise ValueError(f"dead_layer.layer: {self.layer!r} is not a tracker layer {list(TRACKER_LAYERS)}")
        if not np.isfinite(self.x_min_cm):
            raise ValueError(f"dead_layer.x_min_cm must be finite, got {self.x_min_cm!r}")
        if not (np.isfinite(self.start_unix_s) and self.stop_unix_s > self.start_unix_s):
            raise ValueError(f"dead_layer: the period must have stop > start, got [{self.start_unix_s!r}, "
                             f"{self.stop_unix_s!r}) (duration_days must be positive)")


@dataclass(frozen=True)
class DetectorEffects:
    """Settings of the unmodelled detector effects (module docstring); 0 / None switch an effect off.

    longitude_amplitude : relative loss A at longitude ``longitude_max_loss_deg`` (deg, geographic).
    drift_per_year : relative change of the efficiency per Julian year since ``drift_epoch_unix_s`` (POSIX s).
    trigger_quadratic : relative loss q at the polar trigger rate from the term quadratic in rate.
    dead_layer : DeadLayer or None.
    """

    longitude_amplitude: float = 0.0
    longitude_max_loss_deg: float = -50.0
    drift_per_year: float = 0.0
    drift_epoch_unix_s: float = 0.0
    trigger_quadratic: float = 0.0
    dead_layer: DeadLayer | None = None

    def __post_init__(self):
        if not 0.0 <= self.longitude_amplitude < 1.0:
            raise ValueError(f"longitude.amplitude must be in [0, 1), got {self.longitude_amplitude!r}")
        if not np.isfinite(self.longitude_max_loss_deg):
            raise ValueError(f"longitude.lon_max_loss_deg must be finite, got {self.longitude_max_loss_deg!r}")
        if not -1.0 < self.drift_per_year < 1.0 or not np.isfinite(self.drift_epoch_unix_s):
            raise ValueError(f"drift.per_year must be in (-1, 1), got {self.drift_per_year!r}")
        if not 0.0 <= self.trigger_quadratic < 1.0:
            raise ValueError(f"trigger_nonlinearity.quadratic_loss_at_polar_rate must be in [0, 1), "
                             f"got {self.trigger_quadratic!r}")

    @property
    def has_interval_factors(self) -> bool:
        return self.longitude_amplitude > 0 or self.drift_per_year != 0 or self.trigger_quadratic > 0

    def interval_efficiency(self, time_unix_s, trigger_rate_hz, iss_lon_deg, equator_rate_hz: float,
                            polar_rate_hz: float) -> np.ndarray:
        """Product of the per-interval factors (longitude x drift x trigger non-linearity), at least 0 (arrays of
        the interval start times in POSIX s, trigger rates in Hz, ISS longitudes in deg). The factors are
        relative efficiencies (the longitude term averages to 1), so a value above 1 is not clipped."""
        time = np.asarray(time_unix_s, dtype=np.float64)
        factor = np.ones(time.shape)
        if self.longitude_amplitude > 0:
            if iss_lon_deg is None:
                raise ValueError("timeline: the longitude effect needs the column iss_lon_deg")
            lon = np.radians(np.asarray(iss_lon_deg, dtype=np.float64) - self.longitude_max_loss_deg)
            factor *= 1.0 - self.longitude_amplitude * np.cos(lon)
        if self.drift_per_year != 0:
            factor *= 1.0 + self.drift_per_year * (time - self.drift_epoch_unix_s) / JULIAN_YEAR_S
        if self.trigger_quadratic > 0:
            x = np.maximum(np.asarray(trigger_rate_hz, dtype=np.float64) - equator_rate_hz, 0.0)
            factor *= 1.0 - self.trigger_quadratic * (x / (polar_rate_hz - equator_rate_hz)) ** 2
        return np.maximum(factor, 0.0)


def apply_dead_layer(effects: DetectorEffects | None, bits: np.ndarray, time_unix_s: np.ndarray,
                     top_xy_cm: np.ndarray, top_z_cm: float, direction: np.ndarray,
                     geometry: Geometry = AMS02_GEOMETRY) -> np.ndarray:
    """Crossing bits (uint16, :func:`pattern_lines.plane_bits`) with the dead layer's bit cleared for the
    lines that cross its dead part during its period (the same array when there is nothing to clear).

    top_xy_cm (m, 2): each line's point on the plane at height top_z_cm (cm); direction (m, 3): its
    arrival direction in the detector frame (z > 0).
    """
    dead = None if effects is None else effects.dead_layer
    if dead is None or bits.size == 0:
        return bits
    during = (time_unix_s >= dead.start_unix_s) & (time_unix_s < dead.stop_unix_s)
    if not during.any():
        return bits
    names = [p.name for p in geometry.planes]
    bit = np.uint16(1 << names.index(dead.layer))
    x_cm = top_xy_cm[:, 0] + direction[:, 0] / direction[:, 2] * (geometry.plane(dead.layer).z_cm - top_z_cm)
    lost = during & (x_cm >= dead.x_min_cm) & ((bits & bit) != 0)
    return np.where(lost, bits & ~bit, bits).astype(np.uint16)


def detector_effects_from_config(section: dict | None, period_start_unix_s: float) -> DetectorEffects | None:
    """The settings from ``simulation.detector_effects`` (schema-filled); None when every effect is off."""
    if not section:
        return None

    def on(name):
        return bool(section.get(name, {}).get("enabled", False))

    longitude, drift = section.get("longitude", {}), section.get("drift", {})
    nonlinear, dead = section.get("trigger_nonlinearity", {}), section.get("dead_layer", {})
    dead_layer = None
    if on("dead_layer"):
        start = period_start_unix_s + float(dead["start_day"]) * DAY_S
        dead_layer = DeadLayer(str(dead["layer"]), float(dead["x_min_cm"]), start,
                               start + float(dead["duration_days"]) * DAY_S)
    effects = DetectorEffects(
        longitude_amplitude=float(longitude["amplitude"]) if on("longitude") else 0.0,
        longitude_max_loss_deg=float(longitude.get("lon_max_loss_deg", -50.0)),
        drift_per_year=float(drift["per_year"]) if on("drift") else 0.0,
        drift_epoch_unix_s=float(period_start_unix_s),
        trigger_quadratic=float(nonlinear["quadratic_loss_at_polar_rate"]) if on("trigger_nonlinearity") else 0.0,
        dead_layer=dead_layer,
    )
    return effects if effects.has_interval_factors or dead_layer is not None else None


__all__ = ["DeadLayer", "DetectorEffects", "TRACKER_LAYERS", "apply_dead_layer", "detector_effects_from_config"]
