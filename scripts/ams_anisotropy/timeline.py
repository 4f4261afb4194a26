"""The RTI-like timeline: one record per interval with the ISS position, AMS axes, cutoffs, livetime.

Modelled on AMS's per-second "RTI" records (method.md section 4): for each interval the geometry is
evaluated at the interval's midpoint; the trigger rate follows the local vertical Stoermer cutoff; the
livetime fraction follows from a non-paralysable dead time; the SAA is a geographic ellipse.

Simplifications (for the README):

* Trigger rate: a smooth function of the local vertical Stoermer cutoff Rc,
  rate = A / (1 + (Rc / R0)^gamma), with A and R0 fixed so that the rate is ``polar_rate_hz`` at
  Rc = 0.5 GV and ``equator_rate_hz`` at Rc = 15 GV (method.md: ~2000 Hz near the magnetic poles,
  ~200 Hz at the equator), and gamma = 1.4 chosen so that the orbit-averaged livetime outside the SAA
  is 0.865 (method.md: average DAQ efficiency 86 %; the mean rate is then ~720 Hz, method.md says
  ~600 Hz; gamma = 1.2 would give 650 Hz and 0.876). A constant ``saa_rate_hz`` (saturated) inside the
  SAA. Deterministic: no Poisson fluctuation of the rate.
* Livetime fraction 1 / (1 + rate * dead_time) (non-paralysable dead time of 230 us: 0.88 at 600 Hz,
  method.md quotes 86 %).
* SAA: an ellipse in geographic (lat, lon), centre (-26, -50) deg, semi-axes 20 deg in latitude and
  40 deg in longitude. This approximates the region where the trapped-proton flux at ~400 km
  (AP-8/AP-9 models, ISS radiation dosimetry and the AMS trigger-rate maps) dominates the trigger rate;
  it is not derived from a radiation-belt model.
* Cutoffs: Stoermer, maximum over the cone around the AMS z axis (closed form, see
  :func:`ams_anisotropy.geomagnetic.max_cutoff_in_cone_gv`), for a single dipole field per call.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import io
from .constants import AMS_DEAD_TIME_S, STOERMER_CONSTANT_GV
from .frames import (
    GCRS_TO_GALACTIC,
    Attitude,
    _as_times,
    ams_axes_gcrs,
    apply_matrix,
    flight_direction,
    gcrs_to_itrs_matrix,
    geodetic_up_itrs,
    itrs_to_geodetic,
)
from .geomagnetic import DipoleField, geomagnetic_frame
from .orbit import CircularOrbit, state_eci


@dataclass(frozen=True)
class TriggerModel:
    """Level-1 trigger rate versus the local vertical cutoff, and the DAQ dead time.

    Parameters
    ----------
    polar_rate_hz : rate at Rc = ``polar_cutoff_gv`` (near the magnetic poles), Hz (2000, method.md).
    equator_rate_hz : rate at Rc = ``equator_cutoff_gv`` (magnetic equator), Hz (200, method.md).
    saa_rate_hz : rate inside the SAA (saturated), Hz.
    dead_time_s : dead time per triggered event, s (230e-6, method.md).
    polar_cutoff_gv, equator_cutoff_gv : anchor cutoffs of the two rates, GV (0.5 and 15).
    rate_index : gamma, the high-cutoff slope of the rate versus cutoff (1.4, see the module docstring).
    """

    polar_rate_hz: float = 2000.0
    equator_rate_hz: float = 200.0
    saa_rate_hz: float = 3000.0
    dead_time_s: float = AMS_DEAD_TIME_S
    polar_cutoff_gv: float = 0.5
    equator_cutoff_gv: float = 15.0
    rate_index: float = 1.4

    def __post_init__(self):
        for name in (
            "polar_rate_hz",
            "equator_rate_hz",
            "saa_rate_hz",
            "polar_cutoff_gv",
            "equator_cutoff_gv",
            "rate_index",
        ):
            value = getattr(self, name)
            if not np.isfinite(value) or value <= 0.0:
                raise ValueError(f"TriggerModel: {name} must be positive and finite, got {value!r}")
        if not np.isfinite(self.dead_time_s) or self.dead_time_s < 0.0:
            raise ValueError(f"TriggerModel: dead_time_s must be >= 0 s, got {self.dead_time_s!r}")
        if not self.polar_rate_hz > self.equator_rate_hz:
            raise ValueError("TriggerModel: polar_rate_hz must exceed equator_rate_hz")
        if not self.polar_cutoff_gv < self.equator_cutoff_gv:
            raise ValueError("TriggerModel: polar_cutoff_gv must be below equator_cutoff_gv")
        ratio = self.polar_rate_hz / self.equator_rate_hz
        gamma = self.rate_index
        denominator = self.equator_cutoff_gv**gamma - ratio * self.polar_cutoff_gv**gamma
        if denominator <= 0.0:
            raise ValueError(
                "TriggerModel: the two anchor rates cannot be joined with this rate_index "
                f"(need (Rc_eq/Rc_polar)^gamma > polar/equator rate ratio {ratio:g})"
            )

    def _shape(self) -> tuple[float, float]:
        """(A in Hz, R0 in GV) of rate = A / (1 + (Rc/R0)^gamma) through the two anchors."""
        ratio = self.polar_rate_hz / self.equator_rate_hz
        gamma = self.rate_index
        x = (ratio - 1.0) / (self.equator_cutoff_gv**gamma - ratio * self.polar_cutoff_gv**gamma)
        r0 = x ** (-1.0 / gamma)
        amplitude = self.polar_rate_hz * (1.0 + x * self.polar_cutoff_gv**gamma)
        return amplitude, r0

    def rate_hz(self, vertical_cutoff_gv, in_saa=None) -> np.ndarray:
        """Trigger rate in Hz for vertical cutoffs (GV); ``saa_rate_hz`` where ``in_saa`` is True."""
        cutoff = np.asarray(vertical_cutoff_gv, dtype=np.float64)
        if np.any(~np.isfinite(cutoff)) or np.any(cutoff < 0.0):
            raise ValueError("TriggerModel.rate_hz: vertical_cutoff_gv must be finite and >= 0 GV")
        amplitude, r0 = self._shape()
        rate = amplitude / (1.0 + (cutoff / r0) ** self.rate_index)
        if in_saa is not None:
            rate = np.where(np.asarray(in_saa, dtype=bool), self.saa_rate_hz, rate)
        return rate

    def livetime_fraction(self, rate_hz) -> np.ndarray:
        """Non-paralysable DAQ livetime fraction 1 / (1 + rate * dead_time)."""
        rate = np.asarray(rate_hz, dtype=np.float64)
        if np.any(~np.isfinite(rate)) or np.any(rate < 0.0):
            raise ValueError("TriggerModel.livetime_fraction: rate_hz must be finite and >= 0 Hz")
        return 1.0 / (1.0 + rate * self.dead_time_s)


@dataclass(frozen=True)
class SaaRegion:
    """South Atlantic Anomaly as an ellipse in geographic latitude/longitude (deg).

    Defaults: centre (-26, -50) deg, semi-axes 20 deg (latitude) x 40 deg (longitude); an approximation
    of the high trapped-proton-flux region at ~400 km (see the module docstring).
    """

    center_lat_deg: float = -26.0
    center_lon_deg: float = -50.0
    semi_axis_lat_deg: float = 20.0
    semi_axis_lon_deg: float = 40.0

    def __post_init__(self):
        for name in ("center_lat_deg", "center_lon_deg", "semi_axis_lat_deg", "semi_axis_lon_deg"):
            if not np.isfinite(getattr(self, name)):
                raise ValueError(f"SaaRegion: {name} must be finite")
        if not (0.0 < self.semi_axis_lat_deg <= 90.0 and 0.0 < self.semi_axis_lon_deg <= 180.0):
            raise ValueError(
                "SaaRegion: semi-axes must be in (0, 90] deg (lat) and (0, 180] deg (lon), got "
                f"{self.semi_axis_lat_deg}, {self.semi_axis_lon_deg}"
            )

    def contains(self, lat_deg, lon_deg) -> np.ndarray:
        """Boolean array: inside (or on the edge of) the ellipse. Longitudes in any 360-deg range."""
        lat = np.asarray(lat_deg, dtype=np.float64)
        lon = np.asarray(lon_deg, dtype=np.float64)
        if np.any(~np.isfinite(lat)) or np.any(~np.isfinite(lon)) or np.any(np.abs(lat) > 90.0):
            raise ValueError("SaaRegion.contains: lat_deg must be finite in [-90, 90], lon_deg finite")
        dlon = (lon - self.center_lon_deg + 180.0) % 360.0 - 180.0
        dlat = lat - self.center_lat_deg
        return (dlat / self.semi_axis_lat_deg) ** 2 + (dlon / self.semi_axis_lon_deg) ** 2 <= 1.0


@dataclass(frozen=True)
class GoodIntervalCriteria:
    """Good-interval cuts (AMS flux papers; method.md section 2).

    max_zenith_deg : AMS z axis within this angle of the local zenith, deg (40).
    min_livetime_fraction : livetime fraction strictly above this (0.5).
    Intervals in the SAA are never good.
    """

    max_zenith_deg: float = 40.0
    min_livetime_fraction: float = 0.5

    def __post_init__(self):
        if not 0.0 < self.max_zenith_deg <= 180.0:
            raise ValueError(
                f"GoodIntervalCriteria: max_zenith_deg must be in (0, 180], got {self.max_zenith_deg}"
            )
        if not 0.0 <= self.min_livetime_fraction < 1.0:
            raise ValueError(
                "GoodIntervalCriteria: min_livetime_fraction must be in [0, 1), got "
                f"{self.min_livetime_fraction}"
            )

    def is_good(self, in_saa, livetime_fraction, ams_zenith_deg) -> np.ndarray:
        """not in_saa and livetime_fraction > min_livetime_fraction and ams_zenith_deg < max_zenith_deg."""
        return (
            ~np.asarray(in_saa, dtype=bool)
            & (np.asarray(livetime_fraction) > self.min_livetime_fraction)
            & (np.asarray(ams_zenith_deg) < self.max_zenith_deg)
        )


def ams_state(time_unix_s, orbit: CircularOrbit, attitude: Attitude) -> dict[str, np.ndarray]:
    """Position of the ISS and orientation of AMS at the given times (vectorised).

    Parameters
    ----------
    time_unix_s : float or array (n,), POSIX s (UTC).
    orbit : CircularOrbit
    attitude : Attitude

    Returns
    -------
    dict with
        position_itrs_km (n, 3) km; axes_itrs (n, 3, 3) and axes_gal (n, 3, 3) with rows = AMS x, y, z
        as ITRS / galactic unit vectors; iss_lat_deg, iss_lon_deg (-180, 180], iss_alt_km (WGS84
        geodetic); flight_direction (int8, +1/-1); ams_zenith_deg (angle of AMS z to the geodetic zenith).
    """
    t = _as_times(time_unix_s)
    position_gcrs, velocity_gcrs = state_eci(orbit, t)
    gcrs_to_itrs = gcrs_to_itrs_matrix(t)
    direction = flight_direction(t, attitude)
    axes_gcrs = ams_axes_gcrs(position_gcrs, velocity_gcrs, direction, attitude)
    # row vectors a -> (M a)^T = a^T M^T
    axes_itrs = np.matmul(axes_gcrs, gcrs_to_itrs.transpose(0, 2, 1))
    axes_gal = axes_gcrs @ GCRS_TO_GALACTIC.T
    position_itrs = apply_matrix(gcrs_to_itrs, position_gcrs)
    lat_deg, lon_deg, alt_km = itrs_to_geodetic(position_itrs)
    up = geodetic_up_itrs(lat_deg, lon_deg)
    cos_zenith = np.clip(np.einsum("ij,ij->i", axes_itrs[:, 2, :], up), -1.0, 1.0)
    return {
        "position_itrs_km": position_itrs,
        "axes_itrs": axes_itrs,
        "axes_gal": axes_gal,
        "iss_lat_deg": lat_deg,
        "iss_lon_deg": lon_deg,
        "iss_alt_km": alt_km,
        "flight_direction": direction,
        "ams_zenith_deg": np.degrees(np.arccos(cos_zenith)),
    }


def interval_starts(
    start_unix_s: float, stop_unix_s: float, cadence_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """Start times and durations (s) of the intervals tiling [start, stop); the last one is cut at stop.

    A remainder shorter than 1e-9 of the cadence (floating-point rounding) is dropped.
    """
    for name, value in (
        ("start_unix_s", start_unix_s),
        ("stop_unix_s", stop_unix_s),
        ("cadence_s", cadence_s),
    ):
        if not np.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value!r}")
    if not cadence_s > 0.0:
        raise ValueError(f"cadence_s must be > 0 s, got {cadence_s!r}")
    if not stop_unix_s > start_unix_s:
        raise ValueError(f"stop_unix_s ({stop_unix_s!r}) must be after start_unix_s ({start_unix_s!r})")
    n = max(1, int(np.ceil((stop_unix_s - start_unix_s) / cadence_s - 1e-9)))
    starts = start_unix_s + np.arange(n, dtype=np.float64) * cadence_s
    durations = np.minimum(cadence_s, stop_unix_s - starts)
    return starts, durations


def _timeline_block(
    starts, durations, orbit, attitude, field, trigger, saa, good, cones, stoermer_constant_gv
) -> dict[str, np.ndarray]:
    midpoints = starts + 0.5 * durations
    state = ams_state(midpoints, orbit, attitude)
    columns: dict[str, np.ndarray] = {
        "time_unix_s": starts,
        "duration_s": durations.astype(np.float32),
        "iss_lat_deg": state["iss_lat_deg"].astype(np.float32),
        "iss_lon_deg": state["iss_lon_deg"].astype(np.float32),
        "iss_alt_km": state["iss_alt_km"].astype(np.float32),
        "flight_direction": state["flight_direction"].astype(np.int8),
    }
    axes_gal = state["axes_gal"]
    for i, axis in enumerate("xyz"):
        for j, component in enumerate("xyz"):
            columns[f"ams_{axis}_gal_{component}"] = np.ascontiguousarray(axes_gal[:, i, j])
    zenith = state["ams_zenith_deg"].astype(np.float32)
    columns["ams_zenith_deg"] = zenith

    mag_lat, r_earth_radii, east, _, _ = geomagnetic_frame(state["position_itrs_km"], field)
    cos_lat = np.cos(mag_lat)
    prefactor = stoermer_constant_gv * cos_lat**4 / r_earth_radii**2
    vertical_cutoff = 0.25 * prefactor
    in_saa = saa.contains(state["iss_lat_deg"], state["iss_lon_deg"])
    rate = trigger.rate_hz(vertical_cutoff, in_saa)
    livetime = trigger.livetime_fraction(rate).astype(np.float32)
    columns["trigger_rate_hz"] = rate.astype(np.float32)
    columns["livetime_fraction"] = livetime
    columns["in_saa"] = in_saa
    # max Stoermer cutoff in each cone, as geomagnetic.max_cutoff_in_cone_gv (same formula, with the
    # shared factors computed once): psi = angle between the AMS z axis and east (west for negatives)
    cos_lat3 = cos_lat**3
    psi_east = np.arccos(np.clip(np.einsum("ij,ij->i", state["axes_itrs"][:, 2, :], east), -1.0, 1.0))
    for sign_name, psi in (("pos", psi_east), ("neg", np.pi - psi_east)):
        for cone in cones:
            s_max = np.cos(np.maximum(0.0, psi - np.radians(float(cone))))
            root = np.sqrt(np.maximum(1.0 - cos_lat3 * s_max, 0.0))
            columns[f"cutoff_max_{sign_name}_{cone}_gv"] = (prefactor / (1.0 + root) ** 2).astype(np.float32)
    # from the stored (float32) values, so that the flag can be recomputed from the file exactly
    columns["good"] = good.is_good(in_saa, livetime, zenith)
    return columns


def simulate_timeline(
    start_unix_s: float,
    stop_unix_s: float,
    cadence_s: float,
    orbit: CircularOrbit,
    attitude: Attitude,
    field: DipoleField,
    trigger: TriggerModel,
    saa: SaaRegion,
    good: GoodIntervalCriteria,
    cone_half_angles_deg=(25, 30, 35, 40),
    stoermer_constant_gv: float = STOERMER_CONSTANT_GV,
    block_rows: int = 250_000,
) -> pd.DataFrame:
    """The timeline of [start_unix_s, stop_unix_s) in intervals of cadence_s, as in io.TIMELINE_SCHEMA.

    Parameters
    ----------
    start_unix_s, stop_unix_s : POSIX s (UTC); the last interval is cut at stop.
    cadence_s : interval length, s (AMS RTI: 1 s).
    orbit, attitude, field, trigger, saa, good : the models (see their classes).
    cone_half_angles_deg : half-angles (deg) of the field-of-view cones for the max cutoffs; must be
        the schema's (25, 30, 35, 40).
    stoermer_constant_gv : Stoermer constant, GV (59.6).
    block_rows : intervals computed at once (peak memory ~0.6 kB per row of a block on top of the
        ~150 bytes per row of the output).

    Returns
    -------
    pandas.DataFrame with exactly the io.TIMELINE_SCHEMA columns in order, dtypes as in
    docs/architecture.md; geometry at each interval's midpoint. Deterministic.
    """
    cones = tuple(int(c) if float(c).is_integer() else c for c in cone_half_angles_deg)
    if tuple(sorted(cones)) != tuple(io.CONE_HALF_ANGLES_DEG):
        raise ValueError(
            f"cone_half_angles_deg {tuple(cone_half_angles_deg)} must be the timeline schema's cones "
            f"{io.CONE_HALF_ANGLES_DEG}"
        )
    if int(block_rows) < 1:
        raise ValueError(f"block_rows must be >= 1, got {block_rows!r}")
    starts, durations = interval_starts(start_unix_s, stop_unix_s, cadence_s)
    n = starts.size
    names = list(io.TIMELINE_SCHEMA)
    output: dict[str, np.ndarray] = {}
    for first in range(0, n, int(block_rows)):
        last = min(n, first + int(block_rows))
        block = _timeline_block(
            starts[first:last],
            durations[first:last],
            orbit,
            attitude,
            field,
            trigger,
            saa,
            good,
            cones,
            stoermer_constant_gv,
        )
        if not output:
            output = {name: np.empty(n, dtype=block[name].dtype) for name in names}
        for name in names:
            output[name][first:last] = block[name]
    return pd.DataFrame({name: output[name] for name in names}, columns=names, copy=False)
