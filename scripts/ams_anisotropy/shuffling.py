"""Shuffled reference maps (Fermi-LAT, Ackermann et al. PRD 82 (2010) 092003): a cross-check.

Each selected event of threshold k keeps its detector direction and gets the time (hence the attitude)
of another selected event of the same threshold (seeded permutation); the galactic direction is
recomputed with the timeline axes of that time; ``n_shuffles`` shuffles are averaged. It absorbs most of
a real dipole (96% of an injected 5% dipole along the celestial pole in the closure tests: the event
times carry the rate modulation of the dipole as the field of view sweeps the sky), so it is a
cross-check of the exposure shape only, not of the dipole.
"""

from __future__ import annotations

import healpy as hp
import numpy as np
import pandas as pd

from . import io
from .exposure_weights import AXIS_COLUMNS as _AXIS_COLUMNS
from .exposure_weights import check_finite as _finite
from .exposure_weights import check_range as _check_thresholds
from .exposure_weights import iter_timeline_frames as _iter_frames


def _rotation_columns(frame_axes: np.ndarray) -> np.ndarray:
    """(n, 9) axis columns in io.AXIS_COLUMNS order -> (n, 3, 3) with columns = AMS x, y, z axes."""
    return frame_axes.reshape(-1, 3, 3).transpose(0, 2, 1)


def _event_rotations(times: np.ndarray, timeline) -> np.ndarray:
    """Rotation (n, 3, 3) of the timeline interval holding each time (times sorted ascending)."""
    from .selection import match_intervals

    columns = ["time_unix_s", "duration_s", *_AXIS_COLUMNS]
    out = np.full((times.size, 3, 3), np.nan)
    found = np.zeros(times.size, dtype=bool)
    for name, frame in _iter_frames(timeline, columns):
        start = frame["time_unix_s"].to_numpy(dtype=np.float64)
        duration = frame["duration_s"].to_numpy(dtype=np.float64)
        if start.size == 0:
            continue
        lo = np.searchsorted(times, start[0], side="left")
        hi = np.searchsorted(times, start[-1] + duration[-1], side="left")
        if hi <= lo:
            continue
        interval = match_intervals(times[lo:hi], start, duration, events_path="selected events",
                                   timeline_path=name)
        axes = frame[_AXIS_COLUMNS].to_numpy(dtype=np.float64)[interval]
        _finite(name, "ams_*_gal_*", axes)
        out[lo:hi] = _rotation_columns(axes)
        found[lo:hi] = True
    if not found.all():
        first = times[~found][0]
        raise io.InputError(f"selected events: {int((~found).sum())} event(s) outside the timeline chunks "
                            f"(first at time_unix_s={first:.3f})")
    return out


def shuffled_reference_maps(
    selected: pd.DataFrame,
    timeline,
    thresholds,
    upper,
    nside: int,
    n_shuffles: int,
    rng: np.random.Generator,
    max_events: int | None = None,
    block_events: int = 1_000_000,
) -> np.ndarray:
    """Reference maps by event shuffling (Fermi-LAT style), (n_thr, npix), sum = N_k.

    Parameters
    ----------
    selected : DataFrame
        Selected events (``time_unix_s`` s, ``observable`` GV/GeV, ``dir_det_{x,y,z}``).
    timeline : path, DataFrame or iterable of them
        The timeline chunks covering the events' times (axes columns).
    thresholds, upper : GV or GeV
        Cumulative ranges [x_k, upper) of the observable (as in the binning).
    nside : int
        HEALPix Nside of the galactic maps.
    n_shuffles : int
        Number of independent shuffles averaged (each a seeded permutation of the event times).
    rng : numpy.random.Generator
        E.g. ``ams_anisotropy.rng.generator(seed, "reference_shuffle", "proton", "permutations")``.
    max_events : int or None
        If set, a seeded random subsample of at most this many events per threshold is shuffled
        (the map is rescaled to N_k); bounds the time and the memory (~120 bytes per event).
    block_events : int
        Events rotated together (memory).
    """
    thresholds, upper = _check_thresholds(thresholds, upper)
    if not isinstance(selected, pd.DataFrame):
        raise TypeError(f"selected: expected a DataFrame, got {type(selected).__name__}")
    needed = ["time_unix_s", "observable", "dir_det_x", "dir_det_y", "dir_det_z"]
    missing = [c for c in needed if c not in selected.columns]
    if missing:
        raise io.InputError(f"selected events: missing column(s) {', '.join(missing)}")
    if not (isinstance(n_shuffles, (int, np.integer)) and n_shuffles >= 1):
        raise ValueError(f"n_shuffles must be a positive integer, got {n_shuffles!r}")
    if not hp.isnsideok(nside):
        raise ValueError(f"nside must be a power of 2, got {nside!r}")
    times = selected["time_unix_s"].to_numpy(dtype=np.float64)
    observable = selected["observable"].to_numpy(dtype=np.float64)
    directions = selected[["dir_det_x", "dir_det_y", "dir_det_z"]].to_numpy(dtype=np.float64)
    for column, values in (("time_unix_s", times), ("observable", observable), ("dir_det_*", directions)):
        _finite("selected events", column, values)
    order = np.argsort(times, kind="stable")
    times, observable, directions = times[order], observable[order], directions[order]
    in_range = observable < upper
    npix = hp.nside2npix(nside)
    maps = np.zeros((thresholds.size, npix))
    if times.size == 0:
        return maps
    rotations = _event_rotations(times, timeline)
    for k, threshold in enumerate(thresholds):
        members = np.flatnonzero((observable >= threshold) & in_range)
        n_k = members.size
        if n_k == 0:
            continue
        if max_events is not None and n_k > max_events:
            members = np.sort(rng.choice(members, size=int(max_events), replace=False))
        for _ in range(n_shuffles):  # a handful of shuffles
            partner = members[rng.permutation(members.size)]
            for start in range(0, members.size, block_events):
                own = members[start:start + block_events]
                other = partner[start:start + block_events]
                sky = np.einsum("nab,nb->na", rotations[other], directions[own])
                maps[k] += np.bincount(hp.vec2pix(nside, sky[:, 0], sky[:, 1], sky[:, 2]), minlength=npix)
        maps[k] *= n_k / maps[k].sum()
    return maps
