"""Reference frames: Earth rotation (ERFA), geodetic coordinates, LVLH, AMS axes, galactic axes.

Chain of frames for a detector-frame direction d (see docs/architecture.md):
AMS -> ISS body -> LVLH -> GCRS (J2000-aligned inertial) -> galactic, and GCRS <-> ITRS (Earth-fixed)
for the geographic and geomagnetic quantities.

Conventions
-----------
* LVLH (ISS local vertical local horizontal, method.md section 4): Z = nadir = -R/|R|,
  Y = (V x R)/|V x R| (minus the orbit normal; the starboard side when flying +XVV),
  X = Y x Z (along the velocity for a circular orbit).
* ISS body axes = LVLH rotated by the Euler sequence yaw (about Z), pitch (about the new Y),
  roll (about the new X): the rows of ``R1(roll) R2(pitch) R3(yaw)`` (passive rotations) are the body
  axes in LVLH components. Positive pitch raises the nose (+X towards zenith), positive roll lowers the
  starboard side, positive yaw turns +X towards starboard. In -XVV the body is first yawed by 180 deg:
  ``R1(roll) R2(pitch) R3(yaw + 180 deg)``, so the ISS flies backwards and its port side faces the
  other side of the orbit plane.
* AMS axes in ISS body components (AMS CC/FrameTrans.C, method.md section 4): AMS x = body +X (the
  flight direction in +XVV); AMS z = the body zenith (-Z_body) tilted by ``ams_tilt_deg`` towards port
  (-Y_body): z = (0, -sin t, -cos t); AMS y = z x x = (0, -cos t, sin t) (towards port, slightly down).
  Hence in +XVV with no yaw/pitch/roll the AMS z axis leans towards +h (the orbit normal R x V)
  by 12 deg, and towards -h in -XVV.

Simplifications (for the README)
--------------------------------
* UT1 = UTC (|UT1 - UTC| < 0.9 s, i.e. < 0.004 deg of Earth rotation) and no polar motion
  (< 0.5 arcsec); no IERS table is needed and the result never depends on a download.
* The IAU 2006/2000A bias-precession-nutation matrix (with the CIO locator s) is evaluated once per
  UTC day, at 12:00 UTC of that day (it moves by < 0.2 arcsec in half a day); the Earth rotation angle
  (IAU 2000) is exact at each time.
* GCRS and ICRS axes coincide; directions are not corrected for aberration (<= 20.5 arcsec, annual).
"""

from __future__ import annotations

from dataclasses import dataclass

import erfa
import numpy as np

from .constants import (
    AMS_TILT_TO_PORT_DEG,
    GALACTIC_L_NCP_DEG,
    GALACTIC_POLE_DEC_DEG,
    GALACTIC_POLE_RA_DEG,
    ISS_TYPICAL_PITCH_DEG,
    ISS_TYPICAL_ROLL_DEG,
    ISS_TYPICAL_YAW_DEG,
    SECONDS_PER_DAY,
    UNIX_EPOCH_JD,
    WGS84_A_KM,
    WGS84_B_KM,
    WGS84_E2,
)

# TT - TAI (IAU definition), s
TT_MINUS_TAI_S = 32.184


# ----------------------------------------------------------------------------------------------
# small helpers


def _as_times(time_unix_s, name="time_unix_s") -> np.ndarray:
    t = np.atleast_1d(np.asarray(time_unix_s, dtype=np.float64))
    if t.ndim != 1:
        raise ValueError(f"{name} must be a scalar or a 1-d array, got shape {t.shape}")
    if not np.all(np.isfinite(t)):
        raise ValueError(f"{name} has {int((~np.isfinite(t)).sum())} non-finite value(s)")
    return t


def _as_vectors(vectors, name) -> np.ndarray:
    v = np.asarray(vectors, dtype=np.float64)
    if v.ndim == 1:
        v = v[np.newaxis, :]
    if v.ndim != 2 or v.shape[1] != 3:
        raise ValueError(f"{name} must have shape (n, 3), got {np.shape(vectors)}")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{name} has non-finite values")
    return v


def _unit(v: np.ndarray, name: str) -> np.ndarray:
    norm = np.sqrt(np.einsum("ij,ij->i", v, v))
    if np.any(norm == 0.0):
        raise ValueError(f"{name} has zero-length vectors")
    return v / norm[:, np.newaxis]


def rotation_x(angle_rad: float) -> np.ndarray:
    """Passive rotation of the axes about x by angle_rad (SOFA iauRx convention)."""
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, s], [0.0, -s, c]])


def rotation_y(angle_rad: float) -> np.ndarray:
    """Passive rotation of the axes about y by angle_rad (SOFA iauRy convention)."""
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    return np.array([[c, 0.0, -s], [0.0, 1.0, 0.0], [s, 0.0, c]])


def rotation_z(angle_rad: float) -> np.ndarray:
    """Passive rotation of the axes about z by angle_rad (SOFA iauRz convention)."""
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    return np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])


def lonlat_to_unit_vector(lon_deg, lat_deg) -> np.ndarray:
    """Unit vectors (n, 3) from longitude/latitude (or RA/Dec, l/b) in deg."""
    lon = np.radians(np.atleast_1d(np.asarray(lon_deg, dtype=np.float64)))
    lat = np.radians(np.atleast_1d(np.asarray(lat_deg, dtype=np.float64)))
    cos_lat = np.cos(lat)
    return np.stack([cos_lat * np.cos(lon), cos_lat * np.sin(lon), np.sin(lat)], axis=-1)


def unit_vector_to_lonlat(vectors) -> tuple[np.ndarray, np.ndarray]:
    """(lon_deg in [0, 360), lat_deg) of vectors (n, 3) (they need not be normalised)."""
    v = _as_vectors(vectors, "vectors")
    lon = np.degrees(np.arctan2(v[:, 1], v[:, 0])) % 360.0
    lat = np.degrees(np.arctan2(v[:, 2], np.hypot(v[:, 0], v[:, 1])))
    return lon, lat


# ----------------------------------------------------------------------------------------------
# Earth rotation


def _day_index(day: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique days and the index of each time's day (O(n) when the span is small)."""
    first, last = int(day.min()), int(day.max())
    if last - first < 200_000:
        present = np.bincount(day - first, minlength=last - first + 1) > 0
        unique_days = first + np.flatnonzero(present)
        lookup = np.cumsum(present) - 1
        return unique_days, lookup[day - first]
    unique_days, inverse = np.unique(day, return_inverse=True)
    return unique_days, inverse


def celestial_to_intermediate_matrix(day_unix: np.ndarray) -> np.ndarray:
    """IAU 2006/2000A GCRS -> CIRS matrix (bias, precession, nutation, CIO locator) at 12:00 UTC.

    day_unix: integer days since 1970-01-01 (UTC); returns (n, 3, 3).
    """
    day_unix = np.asarray(day_unix, dtype=np.int64)
    year, month, dom, _ = erfa.jd2cal(UNIX_EPOCH_JD, day_unix.astype(np.float64) + 0.5)
    tai_minus_utc_s = erfa.dat(year, month, dom, 0.5)
    tt_fraction = 0.5 + (tai_minus_utc_s + TT_MINUS_TAI_S) / SECONDS_PER_DAY
    return np.asarray(erfa.c2i06a(UNIX_EPOCH_JD + day_unix.astype(np.float64), tt_fraction))


def earth_rotation_angle_rad(time_unix_s) -> np.ndarray:
    """IAU 2000 Earth rotation angle (ERFA era00) with UT1 = UTC, rad in [0, 2 pi)."""
    t = _as_times(time_unix_s)
    day = np.floor(t / SECONDS_PER_DAY)
    fraction = (t - day * SECONDS_PER_DAY) / SECONDS_PER_DAY
    return np.asarray(erfa.era00(UNIX_EPOCH_JD + day, fraction))


def gcrs_to_itrs_matrix(time_unix_s) -> np.ndarray:
    """Rotation matrices GCRS -> ITRS, shape (n, 3, 3): v_itrs = M @ v_gcrs.

    M = R3(ERA(t)) C2I(day), with C2I the IAU 2006/2000A celestial-to-intermediate matrix evaluated
    once per UTC day (at 12:00 UTC) and ERA the Earth rotation angle at each time, UT1 = UTC and no
    polar motion (see the module docstring for the size of these approximations).

    Parameters
    ----------
    time_unix_s : float or array (n,)
        POSIX seconds (UTC).
    """
    t = _as_times(time_unix_s)
    day = np.floor(t / SECONDS_PER_DAY).astype(np.int64)
    unique_days, inverse = _day_index(day)
    c2i = celestial_to_intermediate_matrix(unique_days)[inverse]
    fraction = (t - day * SECONDS_PER_DAY) / SECONDS_PER_DAY
    era = erfa.era00(UNIX_EPOCH_JD + day.astype(np.float64), fraction)
    cos_era, sin_era = np.cos(era)[:, np.newaxis], np.sin(era)[:, np.newaxis]
    matrix = np.empty_like(c2i)
    matrix[:, 0, :] = cos_era * c2i[:, 0, :] + sin_era * c2i[:, 1, :]
    matrix[:, 1, :] = cos_era * c2i[:, 1, :] - sin_era * c2i[:, 0, :]
    matrix[:, 2, :] = c2i[:, 2, :]
    return matrix


def apply_matrix(matrix: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """v' = M v for stacks: matrix (n, 3, 3) or (3, 3), vectors (n, 3)."""
    if matrix.ndim == 2:
        return vectors @ matrix.T
    return np.einsum("nij,nj->ni", matrix, vectors)


# ----------------------------------------------------------------------------------------------
# geodetic coordinates


def itrs_to_geodetic(position_km) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """WGS84 geodetic latitude, longitude and height of ITRS positions.

    Bowring's (1976) closed form (error < 2e-8 deg, ~2 mm, for heights 300-450 km; the height
    formula p cos(lat) + z sin(lat) - a sqrt(1 - e2 sin^2 lat) is valid at all latitudes).

    Parameters
    ----------
    position_km : (n, 3) array, km, ITRS (Earth-fixed) cartesian.

    Returns
    -------
    lat_deg (n,), lon_deg (n,) in (-180, 180], alt_km (n,) height above the ellipsoid.
    """
    r = _as_vectors(position_km, "position_km")
    x, y, z = r[:, 0], r[:, 1], r[:, 2]
    p = np.hypot(x, y)
    ep2 = WGS84_E2 / (1.0 - WGS84_E2)
    theta = np.arctan2(z * WGS84_A_KM, p * WGS84_B_KM)
    sin_t, cos_t = np.sin(theta), np.cos(theta)
    lat = np.arctan2(z + ep2 * WGS84_B_KM * sin_t**3, p - WGS84_E2 * WGS84_A_KM * cos_t**3)
    sin_l = np.sin(lat)
    height = p * np.cos(lat) + z * sin_l - WGS84_A_KM * np.sqrt(1.0 - WGS84_E2 * sin_l**2)
    lon = np.degrees(np.arctan2(y, x))
    lon = np.where(lon <= -180.0, lon + 360.0, lon)
    return np.degrees(lat), lon, height


def geodetic_to_itrs(lat_deg, lon_deg, alt_km) -> np.ndarray:
    """ITRS cartesian position (n, 3) in km from WGS84 geodetic lat/lon (deg) and height (km)."""
    lat = np.radians(np.atleast_1d(np.asarray(lat_deg, dtype=np.float64)))
    lon = np.radians(np.atleast_1d(np.asarray(lon_deg, dtype=np.float64)))
    h = np.atleast_1d(np.asarray(alt_km, dtype=np.float64))
    n_radius = WGS84_A_KM / np.sqrt(1.0 - WGS84_E2 * np.sin(lat) ** 2)
    return np.stack(
        [
            (n_radius + h) * np.cos(lat) * np.cos(lon),
            (n_radius + h) * np.cos(lat) * np.sin(lon),
            (n_radius * (1.0 - WGS84_E2) + h) * np.sin(lat),
        ],
        axis=-1,
    )


def geodetic_up_itrs(lat_deg, lon_deg) -> np.ndarray:
    """Local geodetic zenith (ellipsoid normal) as ITRS unit vectors (n, 3); lat/lon in deg."""
    return lonlat_to_unit_vector(lon_deg, lat_deg)


# ----------------------------------------------------------------------------------------------
# galactic axes


def _galactic_matrix() -> np.ndarray:
    ra_p, dec_p = np.radians(GALACTIC_POLE_RA_DEG), np.radians(GALACTIC_POLE_DEC_DEG)
    l_ncp = np.radians(GALACTIC_L_NCP_DEG)
    # galactic coordinates of the three equatorial basis vectors (spherical trigonometry), giving the
    # columns of the equatorial -> galactic matrix
    basis = np.eye(3)
    ra = np.arctan2(basis[:, 1], basis[:, 0])
    dec = np.arcsin(basis[:, 2])
    sin_b = np.sin(dec) * np.sin(dec_p) + np.cos(dec) * np.cos(dec_p) * np.cos(ra - ra_p)
    b = np.arcsin(np.clip(sin_b, -1.0, 1.0))
    lon = l_ncp - np.arctan2(
        np.cos(dec) * np.sin(ra - ra_p),
        np.sin(dec) * np.cos(dec_p) - np.cos(dec) * np.sin(dec_p) * np.cos(ra - ra_p),
    )
    columns = np.stack([np.cos(b) * np.cos(lon), np.cos(b) * np.sin(lon), np.sin(b)], axis=0)
    matrix = columns  # column j = galactic components of equatorial basis vector j
    # re-orthonormalise (exact to rounding already) via SVD polar decomposition
    u, _, vt = np.linalg.svd(matrix)
    return u @ vt


#: 3x3 rotation from GCRS (J2000 equatorial) to galactic cartesian axes: g = GCRS_TO_GALACTIC @ v.
#: Galactic x towards (l, b) = (0, 0), y towards (90, 0), z towards b = +90.
GCRS_TO_GALACTIC = _galactic_matrix()
GCRS_TO_GALACTIC.setflags(write=False)


# ----------------------------------------------------------------------------------------------
# attitude and AMS axes


@dataclass(frozen=True)
class Attitude:
    """ISS attitude and AMS mounting.

    Parameters
    ----------
    ams_tilt_deg : float
        Tilt of the AMS z axis from the ISS body zenith towards port, deg (12.0, AMS CC/FrameTrans.C).
    yaw_deg, pitch_deg, roll_deg : float
        ISS body attitude relative to LVLH, deg (typical +XVV values -4, -3, 0; method.md section 4);
        Euler sequence yaw-pitch-roll (see the module docstring).
    minus_xvv_periods_unix_s : tuple of (start, stop) POSIX s
        Periods [start, stop) flown in -XVV (body yawed by 180 deg); outside them the ISS flies +XVV.
    """

    ams_tilt_deg: float = AMS_TILT_TO_PORT_DEG
    yaw_deg: float = ISS_TYPICAL_YAW_DEG
    pitch_deg: float = ISS_TYPICAL_PITCH_DEG
    roll_deg: float = ISS_TYPICAL_ROLL_DEG
    minus_xvv_periods_unix_s: tuple[tuple[float, float], ...] = ()

    def __post_init__(self):
        for name in ("ams_tilt_deg", "yaw_deg", "pitch_deg", "roll_deg"):
            value = getattr(self, name)
            if not np.isfinite(value):
                raise ValueError(f"Attitude: {name} must be finite, got {value!r}")
        if not 0.0 <= self.ams_tilt_deg < 90.0:
            raise ValueError(f"Attitude: ams_tilt_deg must be in [0, 90), got {self.ams_tilt_deg}")
        periods = []
        for period in self.minus_xvv_periods_unix_s:
            if len(period) != 2:
                raise ValueError(f"Attitude: each -XVV period must be (start, stop), got {period!r}")
            start, stop = float(period[0]), float(period[1])
            if not (np.isfinite(start) and np.isfinite(stop) and start < stop):
                raise ValueError(f"Attitude: -XVV period {period!r} must have finite start < stop")
            periods.append((start, stop))
        periods.sort()
        for (_, stop), (start, _) in zip(periods[:-1], periods[1:], strict=True):
            if start < stop:
                raise ValueError(f"Attitude: -XVV periods overlap ({start} < {stop})")
        object.__setattr__(self, "minus_xvv_periods_unix_s", tuple(periods))

    def body_from_lvlh(self, flight_direction: int) -> np.ndarray:
        """Rows = ISS body axes in LVLH components, for flight_direction +1 (+XVV) or -1 (-XVV)."""
        yaw = np.radians(self.yaw_deg) + (0.0 if flight_direction > 0 else np.pi)
        return (
            rotation_x(np.radians(self.roll_deg)) @ rotation_y(np.radians(self.pitch_deg)) @ rotation_z(yaw)
        )

    def ams_from_body(self) -> np.ndarray:
        """Rows = AMS x, y, z axes in ISS body components."""
        tilt = np.radians(self.ams_tilt_deg)
        c, s = np.cos(tilt), np.sin(tilt)
        return np.array([[1.0, 0.0, 0.0], [0.0, -c, s], [0.0, -s, -c]])

    def ams_from_lvlh(self, flight_direction: int) -> np.ndarray:
        """Rows = AMS x, y, z axes in LVLH components."""
        return self.ams_from_body() @ self.body_from_lvlh(flight_direction)


def flight_direction(time_unix_s, attitude: Attitude) -> np.ndarray:
    """+1 (+XVV) or -1 (-XVV, inside one of ``attitude.minus_xvv_periods_unix_s``), int8 array (n,)."""
    t = _as_times(time_unix_s)
    direction = np.ones(t.size, dtype=np.int8)
    if attitude.minus_xvv_periods_unix_s:
        periods = np.asarray(attitude.minus_xvv_periods_unix_s, dtype=np.float64)
        index = np.searchsorted(periods[:, 0], t, side="right") - 1
        inside = (index >= 0) & (t < periods[np.maximum(index, 0), 1])
        direction[inside] = -1
    return direction


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cross product of (n, 3) arrays (faster than numpy.cross for 3-vectors)."""
    out = np.empty(np.broadcast_shapes(a.shape, b.shape))
    out[:, 0] = a[:, 1] * b[:, 2] - a[:, 2] * b[:, 1]
    out[:, 1] = a[:, 2] * b[:, 0] - a[:, 0] * b[:, 2]
    out[:, 2] = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]
    return out


def lvlh_axes(position_km, velocity_km_s) -> np.ndarray:
    """LVLH axes (n, 3, 3) in the frame of the inputs; rows X, Y, Z (Z nadir, Y = V x R / |V x R|)."""
    x_axis, y_axis, z_axis = _lvlh_rows(position_km, velocity_km_s)
    return np.stack([x_axis, y_axis, z_axis], axis=1)


def _lvlh_rows(position_km, velocity_km_s):
    r = _as_vectors(position_km, "position_km")
    v = _as_vectors(velocity_km_s, "velocity_km_s")
    if r.shape != v.shape:
        raise ValueError(f"position_km {r.shape} and velocity_km_s {v.shape} differ in shape")
    z_axis = -_unit(r, "position_km")
    y_axis = _unit(_cross(v, r), "velocity x position (velocity parallel to position?)")
    x_axis = _cross(y_axis, z_axis)
    return x_axis, y_axis, z_axis


def ams_axes_gcrs(position_km, velocity_km_s, flight_direction, attitude: Attitude) -> np.ndarray:
    """AMS axes as GCRS unit vectors, (n, 3, 3): [:, 0, :] = x, [:, 1, :] = y, [:, 2, :] = z.

    Parameters
    ----------
    position_km, velocity_km_s : (n, 3) GCRS position (km) and inertial velocity (km/s) of the ISS.
    flight_direction : int array (n,) or scalar, +1 for +XVV, -1 for -XVV.
    attitude : Attitude
    """
    lvlh = _lvlh_rows(position_km, velocity_km_s)
    n = lvlh[0].shape[0]
    direction = np.broadcast_to(np.asarray(flight_direction), (n,))
    if not np.all((direction == 1) | (direction == -1)):
        raise ValueError("flight_direction must be +1 or -1")
    minus = direction == -1
    plus_matrix = attitude.ams_from_lvlh(+1)
    minus_matrix = attitude.ams_from_lvlh(-1) if minus.any() else plus_matrix
    axes = np.empty((n, 3, 3))
    for i in range(3):  # the three AMS axes as combinations of the LVLH rows
        row = plus_matrix[i, 0] * lvlh[0] + plus_matrix[i, 1] * lvlh[1] + plus_matrix[i, 2] * lvlh[2]
        if minus.any():
            row[minus] = (
                minus_matrix[i, 0] * lvlh[0][minus]
                + minus_matrix[i, 1] * lvlh[1][minus]
                + minus_matrix[i, 2] * lvlh[2][minus]
            )
        axes[:, i, :] = row
    return axes
