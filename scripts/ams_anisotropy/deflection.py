"""Geomagnetic deflection of simulated primaries: backtraced (asymptotic) directions from the table.

For an event at time t with arrival direction d in the detector frame and rigidity R, the ISS position and
the AMS axes in the Earth-fixed frame (ITRS) come from the timeline state (:meth:`interval_state.
IntervalStates.earth_fixed`); d becomes the local East-North-Up direction at the geodetic position, and the
table of asymptotic directions (:mod:`ams_anisotropy.asymptotic`, IGRF-13 traced once per epoch) gives the
asymptotic ITRS direction and the allowed fraction of the trajectory (penumbra: a fraction in (0, 1) between
allowed and forbidden nodes, used as the probability to be allowed). The asymptotic direction is turned to
galactic coordinates at the event time; it is the direction the sky model is evaluated at, and the one an
AMS analysis (which backtraces every event) writes as gal_l_deg, gal_b_deg.

Simplifications (README, "Simplifications"): the table's single altitude (the ISS altitude of the config)
and single field epoch per run; directions outside the table's gnomonic grid (beyond its max_zenith_deg,
at the corners of the acceptance) take the deflection of the grid's edge, and are counted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .asymptotic import AsymptoticTable
from .frames import itrs_to_geodetic
from .tracing import enu_axes_ecef


@dataclass(frozen=True)
class Backtraced:
    """Backtracing result of m events: galactic asymptotic unit vectors (m, 3), allowed fraction (m,),
    and the number of directions outside the table's direction grid (clamped to its edge)."""

    galactic: np.ndarray
    allowed_fraction: np.ndarray
    n_clamped: int


def local_enu_directions(direction_det, axes_itrs, position_itrs_km):
    """(lat_deg, lon_deg, ENU directions (m, 3)) of detector-frame directions at Earth-fixed states."""
    d_itrs = np.einsum("mi,mij->mj", np.asarray(direction_det, dtype=np.float64), axes_itrs)
    lat_deg, lon_deg, _ = itrs_to_geodetic(position_itrs_km)
    east, north, up = enu_axes_ecef(lat_deg, lon_deg)
    enu = np.stack([np.einsum("mj,mj->m", d_itrs, axis) for axis in (east, north, up)], axis=-1)
    enu /= np.linalg.norm(enu, axis=1, keepdims=True)
    return lat_deg, lon_deg, enu


def backtrace(table: AsymptoticTable, direction_det, axes_itrs, position_itrs_km, gal_from_itrs, rigidity_gv,
              charge_sign: int) -> Backtraced:
    """Asymptotic galactic directions of events (see the module docstring).

    direction_det (m, 3): arrival directions, detector frame; axes_itrs (m, 3, 3), position_itrs_km (m, 3),
    gal_from_itrs (m, 3, 3): the Earth-fixed state at the event times; rigidity_gv (m,) true |R| (>= the
    table's first node); charge_sign: +1 or -1.
    """
    m = np.asarray(direction_det).shape[0]
    if m == 0:
        return Backtraced(np.empty((0, 3)), np.empty(0), 0)
    lat_deg, lon_deg, enu = local_enu_directions(direction_det, axes_itrs, position_itrs_km)
    clamped = int(table.outside_direction_grid(enu).sum())
    asym_itrs, fraction = table.lookup_fraction(lat_deg, lon_deg, enu, rigidity_gv, charge_sign, clamp=True)
    gal = np.einsum("mij,mj->mi", gal_from_itrs, np.nan_to_num(asym_itrs))
    norm = np.linalg.norm(gal, axis=1, keepdims=True)
    gal = np.where(norm > 0, gal / np.where(norm > 0, norm, 1.0), np.nan)
    return Backtraced(gal, np.where(np.isfinite(gal[:, 0]), fraction, 0.0), clamped)


__all__ = ["Backtraced", "backtrace", "local_enu_directions"]
