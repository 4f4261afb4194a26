"""Tilted (optionally eccentric) dipole field, geomagnetic coordinates and Stoermer cutoffs.

Simplifications (for the README):

* The geomagnetic field is the IGRF-13 degree-1 dipole (g10, g11, h11), linearly interpolated between
  the 2010, 2015 and 2020 models (secular variation after 2020). With ``eccentric=True`` the dipole is
  moved to the eccentric-dipole centre computed from the degree-2 coefficients (Fraser-Smith,
  Rev. Geophys. 25 (1987) 1, eqs. 9-11): ~500-570 km from the geocentre towards the western Pacific
  in 2010-2020. The eccentric dipole reproduces the weak field of the South Atlantic at first order.
* Cutoffs use Stoermer's formula for a pure dipole (no higher multipoles, no external field, no
  penumbra), with the Stoermer constant of method.md (59.6 GV) unless another value is given.
  An IGRF-consistent constant c B0 R_E is available as :attr:`DipoleField.stoermer_constant_gv`
  (~57 GV for 2011-2019, i.e. 4-5 % lower cutoffs).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .constants import (
    IGRF13_COEFFICIENT_NAMES,
    IGRF13_EPOCHS_YEAR,
    IGRF13_GAUSS_NT,
    IGRF13_SECULAR_VARIATION_NT_PER_YEAR,
    IGRF13_VALID_UNTIL_YEAR,
    IGRF_REFERENCE_RADIUS_KM,
    SPEED_OF_LIGHT_M_S,
    STOERMER_CONSTANT_GV,
)
from .frames import _as_vectors


def decimal_year(time_unix_s) -> np.ndarray:
    """Decimal year (e.g. 2011.378 for 2011-05-19) of POSIX times (UTC), for the IGRF interpolation."""
    t = np.atleast_1d(np.asarray(time_unix_s, dtype=np.float64))
    if not np.all(np.isfinite(t)):
        raise ValueError("decimal_year: time_unix_s has non-finite values")
    year = np.floor(t).astype("datetime64[s]").astype("datetime64[Y]")
    start = year.astype("datetime64[s]").astype(np.float64)
    stop = (year + 1).astype("datetime64[s]").astype(np.float64)
    return 1970.0 + year.astype(np.float64) + (t - start) / (stop - start)


def igrf13_coefficients(year: float) -> dict[str, float]:
    """IGRF-13 degree-1 and degree-2 Gauss coefficients (nT) at a decimal year in [2010, 2025]."""
    if not np.isfinite(year) or year < IGRF13_EPOCHS_YEAR[0] or year > IGRF13_VALID_UNTIL_YEAR:
        raise ValueError(
            f"IGRF-13 coefficients are tabulated here for {IGRF13_EPOCHS_YEAR[0]:g}-"
            f"{IGRF13_VALID_UNTIL_YEAR:g}, got year {year!r}"
        )
    epochs = IGRF13_EPOCHS_YEAR
    if year >= epochs[-1]:
        base = np.asarray(IGRF13_GAUSS_NT[epochs[-1]])
        values = base + (year - epochs[-1]) * np.asarray(IGRF13_SECULAR_VARIATION_NT_PER_YEAR)
    else:
        k = int(np.searchsorted(epochs, year, side="right")) - 1
        w = (year - epochs[k]) / (epochs[k + 1] - epochs[k])
        values = (1.0 - w) * np.asarray(IGRF13_GAUSS_NT[epochs[k]]) + w * np.asarray(
            IGRF13_GAUSS_NT[epochs[k + 1]]
        )
    return dict(zip(IGRF13_COEFFICIENT_NAMES, (float(v) for v in values), strict=True))


def eccentric_dipole_offset_km(coefficients: dict[str, float]) -> tuple[float, float, float]:
    """Eccentric-dipole centre (ITRS, km) from degree-1 and 2 Gauss coefficients (nT).

    Schmidt's construction as given by Fraser-Smith, Rev. Geophys. 25 (1987) 1, eqs. (9)-(11).
    """
    g10, g11, h11 = coefficients["g10"], coefficients["g11"], coefficients["h11"]
    g20, g21, h21 = coefficients["g20"], coefficients["g21"], coefficients["h21"]
    g22, h22 = coefficients["g22"], coefficients["h22"]
    b0_sq = g10**2 + g11**2 + h11**2
    sqrt3 = np.sqrt(3.0)
    l0 = 2.0 * g10 * g20 + sqrt3 * (g11 * g21 + h11 * h21)
    l1 = -g11 * g20 + sqrt3 * (g10 * g21 + g11 * g22 + h11 * h22)
    l2 = -h11 * g20 + sqrt3 * (g10 * h21 - h11 * g22 + g11 * h22)
    e = (l0 * g10 + l1 * g11 + l2 * h11) / (4.0 * b0_sq)
    scale = IGRF_REFERENCE_RADIUS_KM / (3.0 * b0_sq)
    return (float((l1 - g11 * e) * scale), float((l2 - h11 * e) * scale), float((l0 - g10 * e) * scale))


@dataclass(frozen=True)
class DipoleField:
    """A tilted, optionally eccentric, geomagnetic dipole.

    Parameters
    ----------
    g10_nt, g11_nt, h11_nt : float
        Degree-1 Schmidt semi-normalised Gauss coefficients, nT (IGRF-13 2015: -29441.46, -1501.77,
        4795.99).
    offset_km : (float, float, float)
        Dipole centre in ITRS, km; (0, 0, 0) = centred tilted dipole.
    """

    g10_nt: float = IGRF13_GAUSS_NT[2015.0][0]  # IGRF-13 (DGRF) 2015, centred
    g11_nt: float = IGRF13_GAUSS_NT[2015.0][1]
    h11_nt: float = IGRF13_GAUSS_NT[2015.0][2]
    offset_km: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def __post_init__(self):
        values = (self.g10_nt, self.g11_nt, self.h11_nt)
        if not all(np.isfinite(v) for v in values) or np.hypot(np.hypot(*values[:2]), values[2]) == 0.0:
            raise ValueError(f"DipoleField: Gauss coefficients must be finite and not all zero, got {values}")
        offset = tuple(float(v) for v in self.offset_km)
        if len(offset) != 3 or not all(np.isfinite(offset)):
            raise ValueError(f"DipoleField: offset_km must be 3 finite numbers (km), got {self.offset_km!r}")
        if np.linalg.norm(offset) > 0.5 * IGRF_REFERENCE_RADIUS_KM:
            raise ValueError(f"DipoleField: offset_km {offset} is implausibly far from the geocentre")
        object.__setattr__(self, "offset_km", offset)

    @classmethod
    def from_igrf(cls, year: float, eccentric: bool = True) -> DipoleField:
        """The IGRF-13 dipole at a decimal year (2010-2025), eccentric (default) or centred."""
        c = igrf13_coefficients(float(year))
        offset = eccentric_dipole_offset_km(c) if eccentric else (0.0, 0.0, 0.0)
        return cls(g10_nt=c["g10"], g11_nt=c["g11"], h11_nt=c["h11"], offset_km=offset)

    @property
    def b0_nt(self) -> float:
        """Dipole strength sqrt(g10^2 + g11^2 + h11^2), nT (equatorial surface field at r = 6371.2 km)."""
        return float(np.sqrt(self.g10_nt**2 + self.g11_nt**2 + self.h11_nt**2))

    @property
    def north_pole_axis(self) -> np.ndarray:
        """Unit vector (ITRS) of the boreal geomagnetic pole: -(g11, h11, g10) / B0."""
        return -np.array([self.g11_nt, self.h11_nt, self.g10_nt]) / self.b0_nt

    @property
    def stoermer_constant_gv(self) -> float:
        """This dipole's own Stoermer constant c B0 R_E in GV (~57 GV in 2010-2020)."""
        return self.b0_nt * 1e-9 * IGRF_REFERENCE_RADIUS_KM * 1e3 * SPEED_OF_LIGHT_M_S * 1e-9


def _as_directions(directions, n: int, name: str) -> np.ndarray:
    d = np.asarray(directions, dtype=np.float64)
    if d.ndim == 1:
        d = d[np.newaxis, :]
    if d.ndim != 2 or d.shape[1] != 3 or d.shape[0] not in (1, n):
        raise ValueError(f"{name} must have shape ({n}, 3), got {np.shape(directions)}")
    norm = np.sqrt(np.einsum("ij,ij->i", d, d))
    if not np.all(np.isfinite(norm)) or np.any(norm == 0.0):
        raise ValueError(f"{name} has non-finite or zero-length vectors")
    return d / norm[:, np.newaxis]


def _charge_sign(charge_sign, n: int) -> np.ndarray:
    sign = np.asarray(charge_sign)
    if sign.ndim > 1 or (sign.ndim == 1 and sign.size not in (1, n)):
        raise ValueError(f"charge_sign must be a scalar or an array of length {n}, got shape {sign.shape}")
    if not np.all((sign == 1) | (sign == -1)):
        raise ValueError("charge_sign must be +1 or -1")
    return np.broadcast_to(sign.astype(np.float64), (n,))


def geomagnetic_frame(position_itrs_km, field: DipoleField):
    """Dipole coordinates of ITRS positions, relative to the dipole centre.

    Parameters
    ----------
    position_itrs_km : (n, 3) ITRS position, km.
    field : DipoleField

    Returns
    -------
    mag_lat_rad : (n,) geomagnetic latitude, rad (positive towards the boreal geomagnetic pole)
    r_earth_radii : (n,) distance from the dipole centre in units of 6371.2 km
    east, north, up : (n, 3) ITRS unit vectors of magnetic east, magnetic north (towards the boreal
        geomagnetic pole) and the radial direction from the dipole centre. Exactly on the dipole axis
        east is an arbitrary horizontal direction.
    """
    r = _as_vectors(position_itrs_km, "position_itrs_km") - np.asarray(field.offset_km)
    distance = np.sqrt(np.einsum("ij,ij->i", r, r))
    if np.any(distance == 0.0):
        raise ValueError("geomagnetic_frame: a position is at the dipole centre")
    up = r / distance[:, np.newaxis]
    axis = field.north_pole_axis
    sin_lat = np.clip(up @ axis, -1.0, 1.0)
    east = np.empty_like(up)  # axis x up, component-wise (faster than numpy.cross)
    east[:, 0] = axis[1] * up[:, 2] - axis[2] * up[:, 1]
    east[:, 1] = axis[2] * up[:, 0] - axis[0] * up[:, 2]
    east[:, 2] = axis[0] * up[:, 1] - axis[1] * up[:, 0]
    east_norm = np.sqrt(np.einsum("ij,ij->i", east, east))
    on_axis = east_norm < 1e-12
    if on_axis.any():  # on the dipole axis east is undefined: any horizontal direction (cutoffs are 0 there)
        helper = np.array([1.0, 0.0, 0.0]) if abs(axis[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
        substitute = np.cross(axis, helper)
        east[on_axis] = substitute
        east_norm[on_axis] = np.linalg.norm(substitute)
    east /= east_norm[:, np.newaxis]
    north = np.empty_like(up)  # up x east
    north[:, 0] = up[:, 1] * east[:, 2] - up[:, 2] * east[:, 1]
    north[:, 1] = up[:, 2] * east[:, 0] - up[:, 0] * east[:, 2]
    north[:, 2] = up[:, 0] * east[:, 1] - up[:, 1] * east[:, 0]
    return np.arcsin(sin_lat), distance / IGRF_REFERENCE_RADIUS_KM, east, north, up


def stoermer_cutoff_gv(
    mag_lat_rad,
    r_earth_radii,
    east_projection,
    charge_sign,
    stoermer_constant_gv: float = STOERMER_CONSTANT_GV,
) -> np.ndarray:
    """Stoermer rigidity cutoff in GV.

    Rc = C cos^4(lam) / (r^2 [1 + sqrt(1 - cos^3(lam) q s)]^2), with s = sin(theta) sin(phi) the
    projection of the arrival direction (unit vector towards where the particle comes from) on magnetic
    east, q = charge_sign. Positive particles from the east (s > 0) have the higher cutoff.

    Parameters
    ----------
    mag_lat_rad : geomagnetic latitude, rad.
    r_earth_radii : distance from the dipole centre, in units of 6371.2 km (~1.065 at the ISS).
    east_projection : s in [-1, 1] (0 = vertical or along the magnetic meridian).
    charge_sign : +1 or -1 (scalar or array).
    stoermer_constant_gv : C, GV (59.6, method.md; vertical equatorial cutoff at r = 1 is C/4).
    """
    lam = np.asarray(mag_lat_rad, dtype=np.float64)
    r = np.asarray(r_earth_radii, dtype=np.float64)
    s = np.asarray(east_projection, dtype=np.float64)
    if np.any(~np.isfinite(r)) or np.any(r <= 0.0):
        raise ValueError("stoermer_cutoff_gv: r_earth_radii must be positive and finite")
    if np.any(np.abs(s) > 1.0 + 1e-9) or np.any(~np.isfinite(s)):
        raise ValueError("stoermer_cutoff_gv: east_projection must be in [-1, 1]")
    sign = np.asarray(charge_sign)
    if not np.all((sign == 1) | (sign == -1)):
        raise ValueError("stoermer_cutoff_gv: charge_sign must be +1 or -1")
    cos_lam = np.cos(lam)
    root = np.sqrt(np.maximum(1.0 - cos_lam**3 * np.clip(s * sign, -1.0, 1.0), 0.0))
    return stoermer_constant_gv * cos_lam**4 / (r**2 * (1.0 + root) ** 2)


def vertical_cutoff_gv(
    position_itrs_km, field: DipoleField, stoermer_constant_gv: float = STOERMER_CONSTANT_GV
) -> np.ndarray:
    """Stoermer vertical cutoff C cos^4(lam) / (4 r^2) in GV (same for both charge signs)."""
    mag_lat, r, _, _, _ = geomagnetic_frame(position_itrs_km, field)
    return stoermer_constant_gv * np.cos(mag_lat) ** 4 / (4.0 * r**2)


def directional_cutoff_gv(
    position_itrs_km,
    arrival_direction_itrs,
    charge_sign,
    field: DipoleField,
    stoermer_constant_gv: float = STOERMER_CONSTANT_GV,
) -> np.ndarray:
    """Stoermer cutoff (GV) for arrival directions (ITRS unit vectors (n, 3), pointing to the sky).

    Parameters: position_itrs_km (n, 3) km; arrival_direction_itrs (n, 3) or (3,); charge_sign +1/-1
    (scalar or (n,)); field (DipoleField); stoermer_constant_gv (GV).
    """
    mag_lat, r, east, _, _ = geomagnetic_frame(position_itrs_km, field)
    n = mag_lat.size
    d = _as_directions(arrival_direction_itrs, n, "arrival_direction_itrs")
    sign = _charge_sign(charge_sign, n)
    s = np.clip(np.einsum("ij,ij->i", np.broadcast_to(d, (n, 3)), east), -1.0, 1.0)
    return stoermer_cutoff_gv(mag_lat, r, s, sign, stoermer_constant_gv)


def max_east_projection_in_cone(axis_east_cosine, half_angle_deg) -> np.ndarray:
    """Largest projection on a unit vector e of the directions within a cone.

    For a cone of half-angle alpha around an axis at angle psi = arccos(axis_east_cosine) from e,
    the maximum of d.e is cos(max(0, psi - alpha)).
    """
    psi = np.arccos(np.clip(axis_east_cosine, -1.0, 1.0))
    alpha = np.radians(half_angle_deg)
    return np.cos(np.maximum(0.0, psi - alpha))


def max_cutoff_in_cone_gv(
    position_itrs_km,
    axis_itrs,
    half_angle_deg: float,
    charge_sign,
    field: DipoleField,
    stoermer_constant_gv: float = STOERMER_CONSTANT_GV,
    precomputed_frame=None,
) -> np.ndarray:
    """Maximum Stoermer cutoff (GV) over the arrival directions within a cone.

    The cutoff rises monotonically with q s (s = east projection), so the maximum over the cone is at
    the cone direction closest to magnetic east (positives) or west (negatives): max q s =
    cos(max(0, psi - alpha)), psi the angle between the axis and east (west), alpha the half-angle.

    Parameters
    ----------
    position_itrs_km : (n, 3) km.
    axis_itrs : (n, 3) cone axis (e.g. the AMS z axis) in ITRS.
    half_angle_deg : cone half-angle, deg, in [0, 90].
    charge_sign : +1 or -1 (scalar or (n,)).
    field : DipoleField
    stoermer_constant_gv : GV.
    precomputed_frame : optional output of :func:`geomagnetic_frame` for these positions (saves
        recomputing it for several cones).
    """
    if not np.isfinite(half_angle_deg) or not 0.0 <= half_angle_deg <= 90.0:
        raise ValueError(f"half_angle_deg must be in [0, 90] deg, got {half_angle_deg!r}")
    if precomputed_frame is None:
        precomputed_frame = geomagnetic_frame(position_itrs_km, field)
    mag_lat, r, east, _, _ = precomputed_frame
    n = mag_lat.size
    axis = _as_directions(axis_itrs, n, "axis_itrs")
    sign = _charge_sign(charge_sign, n)
    axis_east = np.einsum("ij,ij->i", np.broadcast_to(axis, (n, 3)), east) * sign
    s_max = max_east_projection_in_cone(axis_east, half_angle_deg)
    return stoermer_cutoff_gv(mag_lat, r, s_max, 1, stoermer_constant_gv)


def field_strength_nt(position_itrs_km, field: DipoleField) -> np.ndarray:
    """Dipole field magnitude B0 (R/r)^3 sqrt(1 + 3 sin^2 lam), nT, R = 6371.2 km."""
    mag_lat, r, _, _, _ = geomagnetic_frame(position_itrs_km, field)
    return field.b0_nt * r**-3 * np.sqrt(1.0 + 3.0 * np.sin(mag_lat) ** 2)
