"""Backtracing of cosmic-ray trajectories through an internal geomagnetic field (compiled with numba).

A particle of charge sign q and rigidity R (GV) seen at a geodetic position (lat, lon, height) arriving
from the local direction d (unit vector towards the sky, in the local geodetic East-North-Up frame) is
followed backwards in time: that is the forward motion of the opposite charge leaving along +d,

    dr/ds = u,    du/ds = -q (c / R) u x B(r)      (s the path length; |u| = 1 exactly for a static B)

with c/R = 2.99792458e-7 / R_GV per (km nT). The integrator is the embedded Dormand-Prince 5(4)
Runge-Kutta pair (Dormand & Prince, J. Comput. Appl. Math. 6 (1980) 19) with step-size control: the local
error estimate of a step, max(|delta u|, |delta r| / r), must stay below ``TraceSettings.tolerance``, and a
step never exceeds ``max_step_fraction`` of the geocentric distance. The measured effect of the step error
on the asymptotic directions is in docs/geomagnetic_tracing.md (tests/test_tracing.py checks it).

A trajectory ends
* allowed ("escaped") when it reaches ``boundary_earth_radii`` (default 25 R_E = 159,280 km, outside the
  dayside magnetopause at ~10 R_E; only the internal field is modelled, no magnetospheric currents);
  its asymptotic direction is the direction of the backtraced velocity there, in ECEF (the direction the
  particle came from before entering the field; beyond 25 R_E the internal field bends a 10 GV particle
  by < 0.3 deg more);
* forbidden ("hit") when it comes below ``atmosphere_km`` (20 km, the top of the atmosphere of Smart &
  Shea's cutoff computations) above the WGS84 ellipsoid;
* forbidden ("trapped") when its path exceeds ``max_path_earth_radii`` (100 R_E) without escaping, or
  after ``max_steps`` steps.

Every trajectory is independent: the batch runs in parallel (numba prange) and the result of each does
not depend on the number of threads.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from .constants import IGRF_REFERENCE_RADIUS_KM, SPEED_OF_LIGHT_M_S, WGS84_A_KM, WGS84_B_KM
from .frames import geodetic_to_itrs
from .igrf_field import IgrfField, _field_xyz

# c / R in 1/(km nT) for R in GV: c [m/s] * 1e-9 [T/nT] * 1e3 [m/km] / 1e9 [V/GV]
C_OVER_RIGIDITY_PER_KM_NT_GV = SPEED_OF_LIGHT_M_S * 1e-15

STATUS_ESCAPED = 1  # allowed: reached the outer boundary
STATUS_HIT_EARTH = 2  # forbidden: below the top of the atmosphere
STATUS_TRAPPED = 3  # forbidden: path longer than the maximum without escaping
STATUS_MAX_STEPS = 4  # forbidden: too many steps (treated as trapped)


@dataclass(frozen=True)
class TraceSettings:
    """Integration and termination settings (lengths in Earth radii of 6371.2 km, or km)."""

    tolerance: float = 1e-6  # local error per step: max(|delta u|, |delta r| / r)
    max_step_fraction: float = 0.1  # a step is at most this fraction of the geocentric distance
    boundary_earth_radii: float = 25.0
    max_path_earth_radii: float = 100.0
    atmosphere_km: float = 20.0
    max_steps: int = 200_000

    def __post_init__(self):
        checks = {
            "tolerance": 0.0 < self.tolerance < 1e-2,
            "max_step_fraction": 0.0 < self.max_step_fraction <= 0.5,
            "boundary_earth_radii": 2.0 <= self.boundary_earth_radii <= 1000.0,
            "max_path_earth_radii": self.max_path_earth_radii > self.boundary_earth_radii,
            "atmosphere_km": 0.0 <= self.atmosphere_km < 300.0,
            "max_steps": self.max_steps >= 100,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"TraceSettings: invalid {', '.join(bad)} ({self})")

    def as_tuple(self) -> tuple:
        return (
            float(self.tolerance),
            float(self.max_step_fraction),
            float(self.boundary_earth_radii) * IGRF_REFERENCE_RADIUS_KM,
            float(self.max_path_earth_radii) * IGRF_REFERENCE_RADIUS_KM,
            float(self.atmosphere_km),
            int(self.max_steps),
        )


# Dormand-Prince 5(4) tableau; E = b5 - b4 is the error estimate
_A = np.array(
    [
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        [1 / 5, 0.0, 0.0, 0.0, 0.0, 0.0],
        [3 / 40, 9 / 40, 0.0, 0.0, 0.0, 0.0],
        [44 / 45, -56 / 15, 32 / 9, 0.0, 0.0, 0.0],
        [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729, 0.0, 0.0],
        [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656, 0.0],
        [35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84],
    ]
)
_E = np.array([71 / 57600, 0.0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40])


@numba.njit(cache=True, nogil=True)
def _below_atmosphere(x, y, z, atmosphere_km):
    """True below atmosphere_km above the WGS84 ellipsoid (geocentric-radius form, error < 0.1 km)."""
    r2 = x * x + y * y + z * z
    top = WGS84_A_KM + atmosphere_km
    if r2 > top * top:
        return False
    r = np.sqrt(r2)
    sin2 = z * z / r2
    surface = WGS84_A_KM * WGS84_B_KM / np.sqrt(WGS84_B_KM**2 * (1.0 - sin2) + WGS84_A_KM**2 * sin2)
    return r < surface + atmosphere_km


@numba.njit(cache=True, nogil=True)
def _derivative(state, coupling, field_args, bfield, out):
    g, h, rec_a, rec_b, rec_diag, nmax, radius_km = field_args
    _field_xyz(state[0], state[1], state[2], g, h, rec_a, rec_b, rec_diag, nmax, radius_km, bfield)
    out[0] = state[3]
    out[1] = state[4]
    out[2] = state[5]
    out[3] = coupling * (state[4] * bfield[2] - state[5] * bfield[1])
    out[4] = coupling * (state[5] * bfield[0] - state[3] * bfield[2])
    out[5] = coupling * (state[3] * bfield[1] - state[4] * bfield[0])


@numba.njit(cache=True, nogil=True)
def _trace_one(start, direction, coupling, settings, field_args, a_tab, e_tab, out_dir):
    """Integrate one backtrace; returns (status, path_km, n_steps) and writes the final direction."""
    tolerance, step_fraction, boundary_km, max_path_km, atmosphere_km, max_steps = settings
    state = np.empty(6)
    trial = np.empty(6)
    stage = np.empty(6)
    k = np.empty((7, 6))
    bfield = np.empty(3)
    for i in range(3):
        state[i] = start[i]
        state[3 + i] = direction[i]
    r = np.sqrt(state[0] ** 2 + state[1] ** 2 + state[2] ** 2)
    _derivative(state, coupling, field_args, bfield, k[0])
    bmag = np.sqrt(bfield[0] ** 2 + bfield[1] ** 2 + bfield[2] ** 2)
    # first step: a small fraction of the gyroradius or of the distance
    step = min(0.01 / (abs(coupling) * bmag + 1e-30), 0.01 * r)
    path = 0.0
    n_steps = 0
    status = STATUS_MAX_STEPS
    attempts = 0
    while n_steps < max_steps and attempts < 2 * max_steps:
        attempts += 1
        step = min(step, step_fraction * r)
        for s in range(1, 7):
            for j in range(6):
                acc = 0.0
                for q in range(s):
                    acc += a_tab[s, q] * k[q, j]
                stage[j] = state[j] + step * acc
            _derivative(stage, coupling, field_args, bfield, k[s])
        # the 7th stage point is the 5th-order solution (FSAL)
        for j in range(6):
            trial[j] = stage[j]
        err_u = 0.0
        err_r = 0.0
        for j in range(6):
            acc = 0.0
            for q in range(7):
                acc += e_tab[q] * k[q, j]
            if j < 3:
                err_r += (step * acc) ** 2
            else:
                err_u += (step * acc) ** 2
        err = max(np.sqrt(err_u), np.sqrt(err_r) / r) / tolerance
        if err > 1.0:
            step *= max(0.2, 0.9 * err**-0.2)
            continue
        # accept: renormalise the direction (|u| = 1 for a pure magnetic force)
        norm_u = np.sqrt(trial[3] ** 2 + trial[4] ** 2 + trial[5] ** 2)
        for j in range(3):
            state[j] = trial[j]
            state[3 + j] = trial[3 + j] / norm_u
            k[0, j] = k[6, j]
            k[0, 3 + j] = k[6, 3 + j]
        path += step
        n_steps += 1
        r = np.sqrt(state[0] ** 2 + state[1] ** 2 + state[2] ** 2)
        if _below_atmosphere(state[0], state[1], state[2], atmosphere_km):
            status = STATUS_HIT_EARTH
            break
        if r >= boundary_km:
            status = STATUS_ESCAPED
            break
        if path > max_path_km:
            status = STATUS_TRAPPED
            break
        step *= min(5.0, 0.9 * max(err, 1e-10) ** -0.2)
    for j in range(3):
        out_dir[j] = state[3 + j]
    return status, path, n_steps


@numba.njit(cache=True, nogil=True, parallel=True)
def _trace_batch(starts, directions, couplings, settings, field_args, a_tab, e_tab):
    n = starts.shape[0]
    out_dir = np.empty((n, 3))
    status = np.empty(n, dtype=np.int8)
    path = np.empty(n)
    n_steps = np.empty(n, dtype=np.int64)
    for i in numba.prange(n):
        st, pa, ns = _trace_one(starts[i], directions[i], couplings[i], settings, field_args, a_tab, e_tab,
                                out_dir[i])
        status[i] = st
        path[i] = pa
        n_steps[i] = ns
    return out_dir, status, path, n_steps


@dataclass(frozen=True)
class TraceResult:
    """Per trajectory: asymptotic direction (ECEF unit vector, NaN when forbidden), allowed flag,
    status (STATUS_*), path length (km) and number of integration steps."""

    asymptotic_ecef: np.ndarray
    allowed: np.ndarray
    status: np.ndarray
    path_km: np.ndarray
    n_steps: np.ndarray


def enu_axes_ecef(lat_deg, lon_deg) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Geodetic East, North, Up unit vectors (n, 3) in ECEF at geodetic latitudes/longitudes (deg)."""
    lat = np.radians(np.atleast_1d(np.asarray(lat_deg, dtype=np.float64)))
    lon = np.radians(np.atleast_1d(np.asarray(lon_deg, dtype=np.float64)))
    sl, cl, so, co = np.sin(lat), np.cos(lat), np.sin(lon), np.cos(lon)
    east = np.stack([-so, co, np.zeros_like(so)], axis=-1)
    north = np.stack([-sl * co, -sl * so, cl], axis=-1)
    up = np.stack([cl * co, cl * so, sl], axis=-1)
    return east, north, up


def enu_to_ecef(direction_enu, lat_deg, lon_deg) -> np.ndarray:
    """Rotate local ENU vectors (n, 3) at geodetic (lat, lon) deg to ECEF (n, 3)."""
    d = np.atleast_2d(np.asarray(direction_enu, dtype=np.float64))
    east, north, up = enu_axes_ecef(lat_deg, lon_deg)
    return d[:, 0:1] * east + d[:, 1:2] * north + d[:, 2:3] * up


def _broadcast_inputs(lat_deg, lon_deg, alt_km, direction_enu, rigidity_gv, charge_sign):
    d = np.atleast_2d(np.asarray(direction_enu, dtype=np.float64))
    if d.ndim != 2 or d.shape[1] != 3:
        raise ValueError(f"direction_enu must have shape (n, 3) or (3,), got {np.shape(direction_enu)}")
    scalars = [np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in (lat_deg, lon_deg, alt_km, rigidity_gv,
                                                                        charge_sign)]
    n = max([d.shape[0]] + [s.size for s in scalars])
    for name, s in zip(("lat_deg", "lon_deg", "alt_km", "rigidity_gv", "charge_sign"), scalars, strict=True):
        if s.ndim != 1 or s.size not in (1, n):
            raise ValueError(f"{name} must be a scalar or have length {n}, got shape {s.shape}")
        if not np.all(np.isfinite(s)):
            raise ValueError(f"{name} has non-finite values")
    if d.shape[0] not in (1, n):
        raise ValueError(f"direction_enu must have 1 or {n} rows, got {d.shape[0]}")
    lat, lon, alt, rig, sign = (np.broadcast_to(s, (n,)) for s in scalars)
    d = np.broadcast_to(d, (n, 3))
    norm = np.sqrt(np.einsum("ij,ij->i", d, d))
    if np.any(norm == 0.0) or not np.all(np.isfinite(norm)):
        raise ValueError("direction_enu has zero-length or non-finite vectors")
    if np.any(np.abs(lat) > 90.0):
        raise ValueError("lat_deg must be within [-90, 90]")
    if np.any(rig <= 0.0):
        raise ValueError("rigidity_gv must be positive (give the sign in charge_sign)")
    if not np.all((sign == 1.0) | (sign == -1.0)):
        raise ValueError("charge_sign must be +1 or -1")
    return lat, lon, alt, d / norm[:, None], rig, sign


def trace_trajectories(
    field: IgrfField,
    lat_deg,
    lon_deg,
    alt_km,
    direction_enu,
    rigidity_gv,
    charge_sign,
    settings: TraceSettings | None = None,
) -> TraceResult:
    """Backtrace particles from geodetic positions (deg, deg, km above WGS84) arriving from local
    directions ``direction_enu`` (n, 3) (East, North, Up; pointing to the sky) at ``rigidity_gv`` (> 0)
    with ``charge_sign`` (+1/-1). All inputs broadcast to a common length n."""
    settings = settings or TraceSettings()
    lat, lon, alt, d_enu, rig, sign = _broadcast_inputs(lat_deg, lon_deg, alt_km, direction_enu, rigidity_gv,
                                                        charge_sign)
    if np.any(alt < settings.atmosphere_km):
        raise ValueError(f"alt_km must be above the atmosphere top {settings.atmosphere_km} km")
    starts = np.ascontiguousarray(geodetic_to_itrs(lat, lon, alt))
    directions = np.ascontiguousarray(enu_to_ecef(d_enu, lat, lon))
    # backtracing = the opposite charge moving along +d
    couplings = np.ascontiguousarray(-sign * C_OVER_RIGIDITY_PER_KM_NT_GV / rig)
    out_dir, status, path, n_steps = _trace_batch(starts, directions, couplings, settings.as_tuple(),
                                                  field.kernel_arguments, _A, _E)
    allowed = status == STATUS_ESCAPED
    out_dir[~allowed] = np.nan
    return TraceResult(out_dir, allowed, status, path, n_steps)


def effective_cutoff_gv(rigidity_gv, allowed) -> tuple[float, float, float]:
    """Upper, lower and effective cutoffs (R_U, R_L, R_C) in GV from a rigidity scan.

    ``rigidity_gv`` ascending (any spacing), ``allowed`` the flags of each trajectory. Each scan point
    stands for the interval up to the next point (the last for none). R_U: the lowest rigidity above which
    every point is allowed; R_L: the highest rigidity below which every point is forbidden (the first
    allowed point); R_C = R_U - (total width of the allowed intervals below R_U) (Cooke et al., Nuovo
    Cimento C 14 (1991) 213). With no forbidden point the cutoffs are at or below the scan: all three are
    the lowest scan rigidity. With no allowed point all three are +inf.
    """
    r = np.asarray(rigidity_gv, dtype=np.float64)
    a = np.asarray(allowed, dtype=bool)
    if r.ndim != 1 or r.shape != a.shape or r.size < 2 or np.any(np.diff(r) <= 0.0):
        raise ValueError("effective_cutoff_gv: rigidity_gv must be 1-d, strictly ascending, same length as allowed")
    if not a.any():
        return np.inf, np.inf, np.inf
    forbidden = np.flatnonzero(~a)
    if forbidden.size == 0:
        return float(r[0]), float(r[0]), float(r[0])
    upper_index = forbidden[-1] + 1  # first point of the top allowed run
    if upper_index >= r.size:
        return np.inf, np.inf, np.inf
    widths = np.diff(r)
    lower_index = int(np.flatnonzero(a)[0])
    penumbra_allowed = float(np.sum(widths[:upper_index][a[:upper_index]]))
    r_upper = float(r[upper_index])
    return r_upper, float(r[lower_index]), r_upper - penumbra_allowed
