"""AMS orientation and geomagnetic cutoff at event times, interpolated inside timeline intervals.

:func:`timeline.ams_state` (orbit, Earth rotation, LVLH, attitude) and the geomagnetic frame are
evaluated once per interval edge; for an event at fraction u of its interval every needed quantity is
``(1 - u) q(start) + u q(end)``:

* the AMS axes as galactic vectors (9 numbers): the galactic arrival direction is
  ``d_x X + d_y Y + d_z Z`` with the interpolated axes, renormalised;
* the magnetic east unit vector in AMS detector coordinates (3 numbers) and the two Stoermer factors
  ``P = C cos^4(lambda) / r^2`` and ``K = cos^3(lambda)``: the directional cutoff of an arrival
  direction d (detector frame) for charge sign q is ``P / (1 + sqrt(1 - K q (d . east_det)))^2``,
  the formula of :func:`geomagnetic.stoermer_cutoff_gv`.

Accuracy (tests/test_simulation.py): the quantities are smooth on the orbital time scale (92 min),
so the error of the straight-line interpolation over an interval of length h is of order
(omega h)^2 / 8 with omega = 2 pi / 92 min: at h = 10 s, ~2e-5 in the directions (4 arcsec, against
1.8 deg HEALPix pixels) and, measured, < 3e-4 relative in the cutoff. Intervals in which the flight
direction flips (+XVV <-> -XVV) are computed exactly at the event times.
"""

from __future__ import annotations

import numpy as np

from .constants import STOERMER_CONSTANT_GV
from .frames import Attitude
from .geomagnetic import DipoleField, geomagnetic_frame
from .orbit import CircularOrbit
from .timeline import ams_state
from .track_kernels import interpolated_sky

_N_AXES, _N_EAST = 9, 3  # columns: axes_gal (row-major x, y, z axes), east_det, P, K
_COLUMNS = _N_AXES + _N_EAST + 2


def _edge_values(times, orbit, attitude, field, stoermer_constant_gv):
    state = ams_state(times, orbit, attitude)
    mag_lat, r_earth, east, _, _ = geomagnetic_frame(state["position_itrs_km"], field)
    east_det = np.einsum("nij,nj->ni", state["axes_itrs"], east)
    cos_lat = np.cos(mag_lat)
    values = np.empty((times.size, _COLUMNS))
    values[:, :_N_AXES] = state["axes_gal"].reshape(-1, 9)
    values[:, _N_AXES:_N_AXES + _N_EAST] = east_det
    values[:, -2] = stoermer_constant_gv * cos_lat**4 / r_earth**2
    values[:, -1] = cos_lat**3
    return values, state["flight_direction"], state


def _earth_fixed_values(state):
    """Columns axes_itrs (9), position_itrs_km (3), axes_gal (9) of an ams_state."""
    return np.concatenate([state["axes_itrs"].reshape(-1, 9), state["position_itrs_km"],
                           state["axes_gal"].reshape(-1, 9)], axis=1)


class IntervalStates:
    """Interpolation tables for the intervals [start_i, start_i + duration_i) of a timeline.

    Parameters: start_unix_s, duration_s (n,) in s; orbit, attitude, field: the models of the
    timeline; stoermer_constant_gv: C in GV (59.6).
    """

    def __init__(self, start_unix_s, duration_s, orbit: CircularOrbit, attitude: Attitude, field: DipoleField,
                 stoermer_constant_gv: float = STOERMER_CONSTANT_GV):
        start = np.asarray(start_unix_s, dtype=np.float64)
        duration = np.asarray(duration_s, dtype=np.float64)
        end = start + duration
        n = start.size
        if n and np.all(np.abs(start[1:] - end[:-1]) <= 1e-6):  # tiled: shared edges
            edges = np.append(start, end[-1])
            left, right = np.arange(n), np.arange(1, n + 1)
        else:
            edges = np.concatenate([start, end])
            left, right = np.arange(n), np.arange(n, 2 * n)
        values, direction, state = _edge_values(edges, orbit, attitude, field, stoermer_constant_gv)
        self.start, self.duration = start, duration
        # one contiguous row per quantity: gathering columns one by one is ~3x faster than rows of 14
        self.base = np.ascontiguousarray(values[left].T)
        self.slope = np.ascontiguousarray((values[right] - values[left]).T)
        self.flip = direction[left] != direction[right]
        self.orbit, self.attitude, self.field = orbit, attitude, field
        self.stoermer_constant_gv = float(stoermer_constant_gv)
        # the Earth-fixed state at the edges (for earth_fixed), from the same ams_state evaluation
        fixed = _earth_fixed_values(state)
        self._earth_fixed = (fixed[left], fixed[right] - fixed[left])

    def earth_fixed(self, interval, time_unix_s):
        """Earth-fixed state at event times, for the geomagnetic backtracing (:mod:`deflection`).

        Returns axes_itrs (m, 3, 3) (rows = AMS x, y, z as ITRS unit vectors), position_itrs_km (m, 3) and
        gal_from_itrs (m, 3, 3), the rotation taking ITRS vectors to galactic ones (A_gal^T A_itrs), each
        interpolated linearly inside the interval (exact at the event times across a flight-direction flip).
        """
        interval = np.asarray(interval)
        times = np.asarray(time_unix_s, dtype=np.float64)
        base, slope = self._earth_fixed
        u = ((times - self.start[interval]) / self.duration[interval])[:, None]
        values = base[interval] + u * slope[interval]
        exact = self.flip[interval]
        if exact.any():
            values[exact] = _earth_fixed_values(ams_state(times[exact], self.orbit, self.attitude))
        axes_itrs = values[:, :9].reshape(-1, 3, 3)
        axes_gal = values[:, 12:].reshape(-1, 3, 3)
        gal_from_itrs = np.einsum("mki,mkj->mij", axes_gal, axes_itrs)  # sum over the AMS axes k
        return axes_itrs, values[:, 9:12], gal_from_itrs

    def evaluate(self, interval, time_unix_s, direction_det, charge_sign: int | None):
        """Galactic arrival directions (m, 3) and, when ``charge_sign`` is +-1, the Stoermer cutoffs (m,) GV.

        interval : (m,) interval index of each event; time_unix_s : (m,) event times (s) inside them;
        direction_det : (m, 3) arrival directions in the detector frame (unit vectors).
        """
        interval = np.asarray(interval)
        times = np.asarray(time_unix_s)
        u = (times - self.start[interval]) / self.duration[interval]
        d = np.ascontiguousarray(direction_det, dtype=np.float64)
        gal = np.empty((interval.size, 3))
        cutoff = np.empty(interval.size) if charge_sign is not None else None
        # one compiled loop (track_kernels) with the formulas of _direction_and_cutoff
        interpolated_sky(interval.astype(np.int64), u, d, self.base, self.slope,
                         0 if charge_sign is None else int(charge_sign), gal,
                         cutoff if cutoff is not None else np.empty(0))
        exact = self.flip[interval]
        if exact.any():  # a flight-direction flip inside the interval: the exact state at the event times
            values, _, _ = _edge_values(times[exact], self.orbit, self.attitude, self.field, self.stoermer_constant_gv)
            gal[exact], exact_cutoff = _direction_and_cutoff(list(values.T), direction_det[exact], charge_sign)
            if cutoff is not None:
                cutoff[exact] = exact_cutoff
        return gal, cutoff


def _direction_and_cutoff(q, d, charge_sign):
    """Galactic unit vectors and Stoermer cutoffs (GV; None without a charge sign) from the state
    quantities q (a list of the _COLUMNS arrays) and detector directions d (m, 3)."""
    dx, dy, dz = d[:, 0], d[:, 1], d[:, 2]
    g = [dx * q[j] + dy * q[3 + j] + dz * q[6 + j] for j in range(3)]
    inverse_norm = 1.0 / np.sqrt(g[0] * g[0] + g[1] * g[1] + g[2] * g[2])
    gal = np.empty((d.shape[0], 3))
    for j in range(3):
        np.multiply(g[j], inverse_norm, out=gal[:, j])
    if charge_sign is None:
        return gal, None
    s = (dx * q[_N_AXES] + dy * q[_N_AXES + 1] + dz * q[_N_AXES + 2]) * charge_sign
    root = np.sqrt(np.maximum(1.0 - q[-1] * np.clip(s, -1.0, 1.0), 0.0))
    return gal, q[-2] / (1.0 + root) ** 2


__all__ = ["IntervalStates"]
