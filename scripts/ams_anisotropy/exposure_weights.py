"""Per-interval exposure weights of the reference maps: cutoff weights, efficiency bins, data-driven efficiency.

For threshold k (cumulative range ``[x_k, x_up)`` of the observable, GV for nuclei, GeV for e±) the weight
of good timeline interval s is

    W_k(s) = L_s w_k(s) eps_k(v_s)

* ``L_s = duration_s * livetime_fraction`` (s), good intervals only (timeline column ``good``);
* ``w_k(s) = [F(max(x_k, f Rc_s)) - F(x_up)] / [F(x_k) - F(x_up)]``: the fraction of the species'
  spectrum in the range that passes the selection's cutoff cut ``x > f Rc_s`` (F the integral spectrum,
  Rc_s the interval's max cutoff in the field of view, f the cutoff factor, 1.2 nominal);
* ``eps_k(v)``: the efficiency vs a geomagnetic variable v (the trigger rate by default, or the cutoff),
  estimated from the data as selected events / (sum L w) per bin of v (:func:`estimate_efficiency`).
  Never per geographic cell: the ISS latitude fixes the declination of its zenith, so a per-(lat, lon)
  efficiency would absorb a dipole along the celestial pole (method.md section 2).

:func:`timeline_blocks` streams the timeline (Parquet chunks or frames), checks it and yields the
per-interval quantities the exposure integration needs (:mod:`ams_anisotropy.exposure`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import io
from .binning import check_thresholds

# timeline variables the efficiency may be binned in (the cutoff means the species' cutoff column)
EFFICIENCY_VARIABLES = ("trigger_rate_hz", "cutoff")
# default efficiency bins in trigger rate, Hz: the trigger rate spans ~200 Hz (equator) to ~2000 Hz
# (magnetic poles) on the ISS (method.md section 4); same edges as config.yaml reference.efficiency_edges
DEFAULT_TRIGGER_RATE_EDGES_HZ = (0, 250, 300, 350, 400, 450, 500, 600, 700, 800, 1000, 1200, 1500, 2000, 2500)
AXIS_COLUMNS = io.AXIS_COLUMNS  # ams_{x,y,z}_gal_{x,y,z}


def cutoff_column(charge_sign: int, cone_half_angle_deg: int = 40) -> str:
    """Timeline column of the max cutoff for a charge sign (+1/-1) and cone half-angle (deg)."""
    if charge_sign not in (-1, 1):
        raise ValueError(f"charge_sign must be +1 or -1, got {charge_sign!r}")
    if cone_half_angle_deg not in io.CONE_HALF_ANGLES_DEG:
        raise ValueError(f"cone_half_angle_deg must be one of {io.CONE_HALF_ANGLES_DEG}, got {cone_half_angle_deg}")
    return f"cutoff_max_{'pos' if charge_sign > 0 else 'neg'}_{cone_half_angle_deg}_gv"


def check_range(thresholds, upper) -> tuple[np.ndarray, float]:
    """binning.check_thresholds, with a missing upper edge as +inf (the integral spectrum's limit)."""
    if upper is not None and np.isposinf(upper):
        upper = None
    thresholds, upper = check_thresholds(np.atleast_1d(thresholds), upper)
    return thresholds, np.inf if upper is None else upper


def efficiency_bin(values, edges) -> np.ndarray:
    """Bin index of each value for the efficiency ``edges`` (increasing), in [0, len(edges)].

    Same convention as ``binning.MapAccumulator`` histograms: bin 0 is the underflow (below
    ``edges[0]``), bin i in 1..len(edges)-1 is ``[edges[i-1], edges[i])``, bin len(edges) the overflow
    (at or above ``edges[-1]``); so n_bins = len(edges) + 1 and nothing is dropped.
    """
    edges = np.asarray(edges, dtype=np.float64)
    if edges.ndim != 1 or edges.size < 2 or not np.all(np.isfinite(edges)) or np.any(np.diff(edges) <= 0):
        raise ValueError(f"efficiency edges must be a strictly increasing sequence of >= 2 values, got {edges}")
    return np.searchsorted(edges, np.asarray(values, dtype=np.float64), side="right")


def cutoff_weights(cutoff_gv, thresholds, upper, integral_flux: Callable, cutoff_factor: float = 1.2) -> np.ndarray:
    """w_k(s): fraction of the spectrum in [x_k, upper) above ``cutoff_factor`` x the cutoff.

    Parameters
    ----------
    cutoff_gv : array (n,), GV
        Max geomagnetic cutoff in the field of view per interval (for e± the energy in GeV is
        compared with the cutoff in GV, E ~ |R|).
    thresholds : array (n_thr,), GV or GeV
        Lower edges of the cumulative ranges, strictly increasing.
    upper : float or None, GV or GeV
        Upper edge of every range (350 GeV for e±), None for no upper edge.
    integral_flux : callable
        F(x): integral flux above x (any unit), decreasing; F(inf) is taken as 0. It is only called
        at values >= thresholds[0] (and at ``upper``). E.g. ``spectra.FluxTable(...).integral_flux``.
    cutoff_factor : float
        f of the selection cut x > f Rc (1.2 nominal; 1.0 / 1.4 variants).

    Returns
    -------
    array (n, n_thr) in [0, 1].
    """
    thresholds, upper = check_range(thresholds, upper)
    if not (np.isfinite(cutoff_factor) and cutoff_factor > 0):
        raise ValueError(f"cutoff_factor must be a positive number, got {cutoff_factor!r}")
    cut = cutoff_factor * np.asarray(cutoff_gv, dtype=np.float64)
    if not np.all(np.isfinite(cut)) or np.any(cut < 0):
        raise ValueError("cutoff values must be finite and non-negative")
    f_thr = np.asarray(integral_flux(thresholds), dtype=np.float64)
    f_up = 0.0 if np.isinf(upper) else float(np.asarray(integral_flux(np.array([upper])))[0])
    # F is only needed where the cut is above the lowest threshold (elsewhere min() picks F(x_k))
    needed = cut > thresholds[0]
    f_cut = np.full(cut.shape, np.inf)
    if needed.any():
        arg = np.minimum(cut[needed], upper if np.isfinite(upper) else np.inf)
        f_cut[needed] = np.asarray(integral_flux(arg), dtype=np.float64)
    denominator = f_thr - f_up
    if not np.all(np.isfinite(f_thr)) or np.any(denominator <= 0):
        raise ValueError(f"integral_flux must be finite and decreasing over the thresholds, got F = {f_thr}")
    # F(max(a, b)) = min(F(a), F(b)) for a decreasing F
    weights = (np.minimum(f_thr[None, :], f_cut[:, None]) - f_up) / denominator[None, :]
    return np.clip(weights, 0.0, 1.0)


def iter_timeline_frames(timeline, columns) -> Iterable[tuple[str, pd.DataFrame]]:
    if isinstance(timeline, (pd.DataFrame, str, Path)):
        timeline = [timeline]
    for number, item in enumerate(timeline):
        if isinstance(item, (str, Path)):
            yield str(item), io.read_timeline(item, columns=columns)
        elif isinstance(item, pd.DataFrame):
            name = f"<timeline frame {number}>"
            missing = [c for c in columns if c not in item.columns]
            if missing:
                raise io.InputError(f"{name}: missing column(s) {', '.join(missing)}")
            yield name, item
        else:
            raise TypeError(f"timeline chunk {number}: expected a path or a DataFrame, got {type(item).__name__}")


def check_finite(name: str, column: str, values: np.ndarray) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        raise io.InputError(
            f"{name}: column {column} has {int(bad.sum())} non-finite value(s) "
            f"(first at row {int(np.flatnonzero(bad.reshape(bad.shape[0], -1).any(axis=1))[0])})"
        )




@dataclass(frozen=True)
class TimelineBlock:
    """The good intervals of one timeline chunk, as the exposure integration needs them.

    rotations (n, 3, 3): detector -> galactic, columns = AMS x, y, z axes in galactic coordinates;
    livetime_s (n,) = duration x livetime fraction, s; cutoff_gv (n,) the selection's max cutoff in the
    field of view, GV; variable (n,) the efficiency variable (Hz or GV); time_unix_s (n,) interval start.
    With ``time_max_unix_s`` (a species' own data-taking end) the livetime of the interval holding it is
    the fraction before it, and later intervals are left out.
    """

    name: str
    rotations: np.ndarray
    livetime_s: np.ndarray
    cutoff_gv: np.ndarray
    variable: np.ndarray
    time_unix_s: np.ndarray
    iss_lat_deg: np.ndarray | None = None  # geodetic, deg (the deflection correction's cells)
    iss_lon_deg: np.ndarray | None = None

    def rows(self, rows) -> TimelineBlock:
        """The block restricted to ``rows`` (a slice or index array) of every per-interval array."""
        return dataclasses.replace(self, **{f.name: getattr(self, f.name)[rows] for f in dataclasses.fields(self)
                                            if isinstance(getattr(self, f.name), np.ndarray)})


def timeline_blocks(timeline, cone_column: str, efficiency_variable: str = "trigger_rate_hz",
                    max_axis_norm_error: float = 1e-3, time_max_unix_s: float | None = None,
                    with_position: bool = False) -> Iterator[TimelineBlock]:
    """Stream the good intervals of a timeline (paths, frames or an iterable of them), checked.

    ``cone_column``: the cutoff column of the selection (:func:`cutoff_column`); ``efficiency_variable``:
    "trigger_rate_hz" or "cutoff" (= ``cone_column``); ``max_axis_norm_error``: tolerance on the
    orthonormality of the AMS axes (dimensionless); ``time_max_unix_s``: end of the species' data taking
    (POSIX s; events at or after it are cut by the selection, so the exposure stops there too; None: the
    whole timeline); ``with_position``: also read iss_lat_deg, iss_lon_deg (else they are zeros).
    Raises io.InputError naming the chunk for non-finite
    values, non-orthonormal axes, non-positive durations, livetime fractions outside [0, 1], an empty
    timeline or one without any good interval with livetime.
    """
    if efficiency_variable not in EFFICIENCY_VARIABLES:
        raise ValueError(f"efficiency_variable must be one of {EFFICIENCY_VARIABLES}, got {efficiency_variable!r}")
    if cone_column not in io.CUTOFF_COLUMNS:
        raise ValueError(f"cone_column must be one of {io.CUTOFF_COLUMNS}, got {cone_column!r}")
    variable_column = cone_column if efficiency_variable == "cutoff" else "trigger_rate_hz"
    columns = ["time_unix_s", "duration_s", "livetime_fraction", "good", *AXIS_COLUMNS, cone_column]
    if with_position:  # the ISS position (the deflection correction's cells)
        columns += ["iss_lat_deg", "iss_lon_deg"]
    if variable_column not in columns:
        columns.append(variable_column)
    n_rows = 0
    total_livetime_s = 0.0
    for name, frame in iter_timeline_frames(timeline, columns):
        n_rows += len(frame)
        good = frame["good"].to_numpy().astype(bool)
        if not good.any():
            continue
        axes = frame[AXIS_COLUMNS].to_numpy(dtype=np.float64)[good]
        check_finite(name, "ams_*_gal_*", axes)
        rotations = axes.reshape(-1, 3, 3).transpose(0, 2, 1)
        gram = np.einsum("nai,naj->nij", rotations, rotations)
        worst = np.abs(gram - np.eye(3)).max(axis=(1, 2))
        if np.any(worst > max_axis_norm_error):
            row = int(np.flatnonzero(good)[np.argmax(worst)])
            raise io.InputError(
                f"{name}: the AMS axis columns are not orthonormal (worst |R^T R - 1| = {worst.max():.2g} "
                f"at row {row})"
            )
        duration = frame["duration_s"].to_numpy(dtype=np.float64)[good]
        live = frame["livetime_fraction"].to_numpy(dtype=np.float64)[good]
        cut = frame[cone_column].to_numpy(dtype=np.float64)[good]
        variable = frame[variable_column].to_numpy(dtype=np.float64)[good]
        start = frame["time_unix_s"].to_numpy(dtype=np.float64)[good]
        lat, lon = ((frame[c].to_numpy(dtype=np.float64)[good] if with_position else np.zeros(start.size))
                    for c in ("iss_lat_deg", "iss_lon_deg"))
        for column, values in (("duration_s", duration), ("livetime_fraction", live), (cone_column, cut),
                               (variable_column, variable), ("time_unix_s", start), ("iss_lat_deg", lat),
                               ("iss_lon_deg", lon)):
            check_finite(name, column, values)
        if np.any(duration <= 0) or np.any(live < 0) or np.any(live > 1):
            raise io.InputError(f"{name}: duration_s must be > 0 and livetime_fraction in [0, 1]")
        livetime = duration * live
        if time_max_unix_s is not None:
            # the fraction of each interval before the species' data-taking end (as the simulation does)
            livetime = livetime * np.clip((time_max_unix_s - start) / duration, 0.0, 1.0)
            kept = livetime > 0
            rotations, livetime, cut, variable, start, lat, lon = (
                rotations[kept], livetime[kept], cut[kept], variable[kept], start[kept], lat[kept], lon[kept])
        total_livetime_s += float(livetime.sum())
        if livetime.size:
            yield TimelineBlock(name, rotations, livetime, cut, variable, start, lat, lon)
    if n_rows == 0:
        raise io.InputError("timeline: no rows (empty timeline)")
    if total_livetime_s <= 0:
        raise io.InputError("timeline: no good interval with livetime (nothing to build a reference from)")


def efficiency_exposure(timeline, thresholds, upper, integral_flux: Callable, cutoff_factor: float,
                        cone_column: str, efficiency_variable: str, efficiency_edges,
                        time_max_unix_s: float | None = None) -> np.ndarray:
    """sum L w per threshold and efficiency bin, s, shape (n_thr, len(edges) + 1): the denominator of eps."""
    thresholds, upper = check_range(thresholds, upper)
    edges = np.asarray(efficiency_edges, dtype=np.float64)
    n_bins = edges.size + 1
    out = np.zeros((thresholds.size, n_bins))
    for block in timeline_blocks(timeline, cone_column, efficiency_variable, time_max_unix_s=time_max_unix_s):
        lw = block.livetime_s[:, None] * cutoff_weights(block.cutoff_gv, thresholds, upper, integral_flux,
                                                         cutoff_factor)
        ebin = efficiency_bin(block.variable, edges)
        for k in range(thresholds.size):  # a handful of thresholds
            out[k] += np.bincount(ebin, weights=lw[:, k], minlength=n_bins)
    return out


def interval_weights(block: TimelineBlock, thresholds, upper, integral_flux: Callable, cutoff_factor: float,
                     efficiency_edges, efficiency=None) -> np.ndarray:
    """W_k(s) = L_s w_k(s) eps_k(v_s) of one block, shape (n_thr, n), s.

    ``efficiency``: None (eps = 1, the "noeff" variant), an array (n_thr, len(edges) + 1) from
    :func:`estimate_efficiency`, or a callable eps(v) of the efficiency variable (a known model, the same
    for all thresholds, as in the closure tests).
    """
    thresholds, upper = check_range(thresholds, upper)
    lw = block.livetime_s[:, None] * cutoff_weights(block.cutoff_gv, thresholds, upper, integral_flux,
                                                     cutoff_factor)
    if efficiency is None:
        return np.ascontiguousarray(lw.T)
    if callable(efficiency):
        per_interval = np.asarray(efficiency(block.variable), dtype=np.float64)
        if per_interval.shape != block.variable.shape or not np.all(np.isfinite(per_interval)) or np.any(
                per_interval < 0):
            raise ValueError("efficiency function: must return finite non-negative values, one per interval")
        return np.ascontiguousarray((lw * per_interval[:, None]).T)
    edges = np.asarray(efficiency_edges, dtype=np.float64)
    eps = np.asarray(efficiency, dtype=np.float64)
    if eps.shape != (thresholds.size, edges.size + 1):
        raise ValueError(f"efficiency: expected shape (n_thr, n_bins) = ({thresholds.size}, {edges.size + 1}), "
                         f"got {eps.shape}")
    if not np.all(np.isfinite(eps)) or np.any(eps < 0):
        raise ValueError("efficiency: values must be finite and non-negative")
    return np.ascontiguousarray((lw * eps[:, efficiency_bin(block.variable, edges)].T).T)


def estimate_efficiency(event_histogram, exposure_histogram, min_events_per_bin: float = 400.0) -> np.ndarray:
    """Efficiency per threshold and bin of the efficiency variable: events / exposure, normalised.

    Parameters
    ----------
    event_histogram : array (n_thr, n_bins)
        Selected events above each threshold per efficiency bin (same edges and convention as
        :func:`efficiency_bin`).
    exposure_histogram : array (n_thr, n_bins), s
        sum L w per bin (:func:`efficiency_exposure`, or inside the reference's one pass).
    min_events_per_bin : float
        Pooling rule: a threshold whose events number fewer than ``min_events_per_bin`` x (bins with
        exposure) borrows eps from the nearest lower threshold that has enough (the lowest threshold
        if none has); 400 gives ~5% statistical precision per bin. 0 = always per threshold.

    Returns
    -------
    eps (n_thr, n_bins): eps[k, b] = (N_kb / E_kb) / (N_k / E_k), so the exposure-weighted mean is 1
    (the overall scale is irrelevant: the maps are normalised to N_k). Bins without exposure get 1
    (they carry no weight).
    """
    events = np.asarray(event_histogram, dtype=np.float64)
    exposure = np.asarray(exposure_histogram, dtype=np.float64)
    if events.ndim != 2 or events.shape != exposure.shape:
        raise ValueError(
            f"event histogram {events.shape} and exposure histogram {exposure.shape} must have the same "
            "shape (n_thr, n_bins)"
        )
    for label, values in (("event histogram", events), ("exposure histogram", exposure)):
        if not np.all(np.isfinite(values)) or np.any(values < 0):
            raise ValueError(f"{label}: values must be finite and non-negative")
    if np.any(exposure.sum(axis=1) <= 0):
        raise ValueError("exposure histogram: a threshold has zero exposure")
    if events[0].sum() <= 0:
        raise ValueError("event histogram: the lowest threshold has no events (the efficiency cannot be estimated)")
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(exposure > 0, events / exposure, 1.0)
        total = events.sum(axis=1) / exposure.sum(axis=1)
        eps = np.where(exposure > 0, ratio / total[:, None], 1.0)
    n_used_bins = (exposure > 0).sum(axis=1)
    enough = (events.sum(axis=1) > 0) & (events.sum(axis=1) >= min_events_per_bin * n_used_bins)
    source = np.zeros(events.shape[0], dtype=int)
    last_good = 0
    for k in range(events.shape[0]):  # loop over thresholds (a handful)
        if enough[k]:
            last_good = k
        source[k] = last_good
    out = eps[source].copy()
    # a borrowed row must be renormalised with the borrowing threshold's own exposure
    norm = (out * exposure).sum(axis=1) / exposure.sum(axis=1)
    return out / norm[:, None]
