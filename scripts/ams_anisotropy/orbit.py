"""Circular ISS orbit with the secular J2 perturbations, in GCRS-aligned (J2000 equatorial) axes.

Simplifications (for the README):

* The orbit is circular with a constant radius ``WGS84_A_KM + altitude_km`` (the altitude is the
  height above the equator; the geodetic altitude then varies by ~13 km along the orbit because
  of the Earth's flattening). The real ISS orbit has e ~ 0.0005 and re-boosts/decays between
  330 and 420 km; neither is modelled.
* Only the secular effects of J2 are kept: the regression of the ascending node (RAAN rate) and the
  change of the rate of the argument of latitude u = omega + M (mean-motion and perigee terms,
  for e = 0). Short-period J2 terms (~10 km), drag and luni-solar terms are neglected.
* The "inertial" axes are GCRS-aligned (J2000 equatorial); the orbit plane does not follow
  precession of the equator (the node rate is applied in these fixed axes), which changes the
  geometry by < 0.02 deg/yr, irrelevant here as the RAAN at epoch is a free parameter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .constants import (
    AMS_DATA_TAKING_START_UNIX_S,
    GM_EARTH_KM3_S2,
    ISS_ALTITUDE_KM,
    ISS_INCLINATION_DEG,
    J2,
    J2_REFERENCE_RADIUS_KM,
    SECONDS_PER_DAY,
    WGS84_A_KM,
)


@dataclass(frozen=True)
class CircularOrbit:
    """A circular orbit with secular J2 node regression.

    Parameters
    ----------
    altitude_km : float
        Orbit radius minus the WGS84 equatorial radius, km (ISS: 330-420 km; default 410 km).
    inclination_deg : float
        Inclination to the J2000 equator, deg (ISS: 51.64 deg).
    raan_at_epoch_deg : float
        Right ascension of the ascending node at ``epoch_unix_s``, deg.
    arg_latitude_at_epoch_deg : float
        Argument of latitude (angle from the ascending node along the orbit) at ``epoch_unix_s``, deg.
    epoch_unix_s : float
        Epoch of the elements, POSIX s (UTC); default 2011-05-19T00:00:00 (start of AMS data taking).
    """

    altitude_km: float = ISS_ALTITUDE_KM
    inclination_deg: float = ISS_INCLINATION_DEG
    raan_at_epoch_deg: float = 0.0
    arg_latitude_at_epoch_deg: float = 0.0
    epoch_unix_s: float = AMS_DATA_TAKING_START_UNIX_S

    def __post_init__(self):
        for name in (
            "altitude_km",
            "inclination_deg",
            "raan_at_epoch_deg",
            "arg_latitude_at_epoch_deg",
            "epoch_unix_s",
        ):
            if not np.isfinite(getattr(self, name)):
                raise ValueError(f"CircularOrbit: {name} must be finite, got {getattr(self, name)!r}")
        _check_altitude(self.altitude_km)
        if not 0.0 <= self.inclination_deg <= 180.0:
            raise ValueError(
                f"CircularOrbit: inclination_deg must be in [0, 180], got {self.inclination_deg}"
            )

    @property
    def radius_km(self) -> float:
        """Orbit radius, km."""
        return WGS84_A_KM + self.altitude_km


def _check_altitude(altitude_km) -> None:
    if not np.isfinite(altitude_km) or altitude_km <= 0.0:
        raise ValueError(f"altitude_km must be a positive finite number of km, got {altitude_km!r}")


def mean_motion_rad_s(altitude_km: float) -> float:
    """Keplerian mean motion n = sqrt(GM / a^3) in rad/s for a = WGS84_A_KM + altitude_km (km)."""
    _check_altitude(altitude_km)
    radius_km = WGS84_A_KM + altitude_km
    return float(np.sqrt(GM_EARTH_KM3_S2 / radius_km**3))


def orbital_period_s(altitude_km: float) -> float:
    """Keplerian period 2 pi sqrt(a^3 / GM) in s, a = WGS84 equatorial radius + altitude_km (km).

    About 5566 s = 92.8 min at 410 km (the nodal period with J2 is ~4 s shorter, see
    :func:`argument_of_latitude_rate_rad_s`).
    """
    return 2.0 * np.pi / mean_motion_rad_s(altitude_km)


def _j2_factor(altitude_km: float) -> float:
    radius_km = WGS84_A_KM + altitude_km
    return 1.5 * J2 * (J2_REFERENCE_RADIUS_KM / radius_km) ** 2


def nodal_regression_rate_deg_per_day(altitude_km: float, inclination_deg: float) -> float:
    """Secular J2 rate of the right ascension of the ascending node, deg/day.

    dOmega/dt = -(3/2) n J2 (R_eq / a)^2 cos(i) for a circular orbit (e.g. Vallado, "Fundamentals of
    Astrodynamics", eq. 9-41), with n the Keplerian mean motion. About -4.98 deg/day at 410 km and
    51.64 deg (a 72-day cycle in inertial space).

    Parameters: altitude_km (km above the WGS84 equatorial radius), inclination_deg (deg).
    """
    n = mean_motion_rad_s(altitude_km)
    rate_rad_s = -_j2_factor(altitude_km) * n * np.cos(np.radians(inclination_deg))
    return float(np.degrees(rate_rad_s) * SECONDS_PER_DAY)


def argument_of_latitude_rate_rad_s(altitude_km: float, inclination_deg: float) -> float:
    """Secular rate of the argument of latitude u = omega + M, rad/s, including J2.

    du/dt = n [1 + (3/4) J2 (R/a)^2 ((5 cos^2 i - 1) + (3 cos^2 i - 1))] for e = 0
    (perigee rate plus mean-anomaly rate; Vallado eq. 9-41 and 9-42), i.e.
    n [1 + (3/2) J2 (R/a)^2 (4 cos^2 i - 1)]. The nodal period 2 pi / (du/dt) is ~4 s shorter than the
    Keplerian period for the ISS.
    """
    n = mean_motion_rad_s(altitude_km)
    cos2 = np.cos(np.radians(inclination_deg)) ** 2
    return float(n * (1.0 + _j2_factor(altitude_km) * (4.0 * cos2 - 1.0)))


def state_eci(orbit: CircularOrbit, time_unix_s) -> tuple[np.ndarray, np.ndarray]:
    """Position and velocity of the spacecraft in GCRS-aligned axes.

    Parameters
    ----------
    orbit : CircularOrbit
    time_unix_s : float or array (n,)
        POSIX seconds (UTC).

    Returns
    -------
    position_km : (n, 3) float64, km
    velocity_km_s : (n, 3) float64, km/s; the exact time derivative of the position (it includes the
        small node-regression term).
    """
    t = np.atleast_1d(np.asarray(time_unix_s, dtype=np.float64))
    if t.ndim != 1:
        raise ValueError(f"state_eci: time_unix_s must be a scalar or 1-d array, got shape {t.shape}")
    if not np.all(np.isfinite(t)):
        raise ValueError("state_eci: time_unix_s has non-finite values")
    radius_km = orbit.radius_km
    dt = t - orbit.epoch_unix_s
    raan_rate = np.radians(nodal_regression_rate_deg_per_day(orbit.altitude_km, orbit.inclination_deg))
    raan_rate /= SECONDS_PER_DAY
    u_rate = argument_of_latitude_rate_rad_s(orbit.altitude_km, orbit.inclination_deg)
    raan = np.radians(orbit.raan_at_epoch_deg) + np.mod(raan_rate * dt, 2.0 * np.pi)
    u = np.radians(orbit.arg_latitude_at_epoch_deg) + np.mod(u_rate * dt, 2.0 * np.pi)
    inc = np.radians(orbit.inclination_deg)
    cos_i, sin_i = np.cos(inc), np.sin(inc)
    cos_o, sin_o = np.cos(raan), np.sin(raan)
    cos_u, sin_u = np.cos(u), np.sin(u)

    position = np.empty((t.size, 3))
    position[:, 0] = cos_u * cos_o - sin_u * cos_i * sin_o
    position[:, 1] = cos_u * sin_o + sin_u * cos_i * cos_o
    position[:, 2] = sin_u * sin_i
    position *= radius_km

    # d/du of the unit position, times du/dt, plus dOmega/dt * (z x r)
    velocity = np.empty((t.size, 3))
    velocity[:, 0] = -sin_u * cos_o - cos_u * cos_i * sin_o
    velocity[:, 1] = -sin_u * sin_o + cos_u * cos_i * cos_o
    velocity[:, 2] = cos_u * sin_i
    velocity *= radius_km * u_rate
    velocity[:, 0] -= raan_rate * position[:, 1]
    velocity[:, 1] += raan_rate * position[:, 0]
    return position, velocity
