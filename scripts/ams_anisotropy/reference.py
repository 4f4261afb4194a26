"""Isotropic reference maps: the detector's response to an isotropic flux, estimated from data.

Factorised, data-driven method (method.md section 2; AMS: Velasco, Casaus, Mana, "Reference maps
for anisotropy searches with AMS-02", PoS(ICRC2017)196). For threshold k (cumulative range
``[x_k, x_up)`` of the observable, GV for nuclei, GeV for e±):

    M_k(pix) = norm_k * sum_{good intervals s} L_s w_k(s) eps_k(v_s) * sum_j A_k(j) [R_s d_j in pix]

* ``L_s = duration_s * livetime_fraction`` (s), good intervals only (timeline column ``good``);
* ``w_k(s) = [F(max(x_k, f Rc_s)) - F(x_up)] / [F(x_k) - F(x_up)]``: the fraction of the species'
  spectrum in the range that passes the cutoff cut ``x > f Rc_s`` of the selection; F is the
  integral spectrum (flux above x; e.g. the AMS-02 tables of ``spectra``), Rc_s the interval's max
  cutoff in the field of view (``cutoff_max_{pos|neg}_{cone}_gv``), f the cutoff factor (1.2);
* ``eps_k(v)``: the efficiency vs a geomagnetic variable v (``trigger_rate_hz`` by default, or the
  cutoff), estimated from data as selected events / (sum L w) per bin of v
  (:func:`estimate_efficiency`). Never per geographic cell: the ISS latitude fixes the declination
  of its zenith, so a per-(lat, lon) efficiency would absorb a dipole along the celestial pole;
* ``A_k(j)``: the acceptance in detector coordinates = the detector-frame HEALPix histogram of the
  selected events above threshold k (pointing sweeps the sky, so a sky anisotropy mostly averages
  out there; see "dipole response" below for the part that does not);
* ``R_s``: detector -> galactic rotation, columns = the timeline's AMS axes in galactic coordinates;
* ``norm_k``: sum_pix M_k = N_k, the observed number of events.

Speed (:func:`accumulate_exposure`, :func:`reference_maps`): intervals are grouped in attitude cells
(HEALPix pixel of the AMS z axis at ``nside_attitude`` x bin of the roll angle of the AMS x axis
around z, measured from the local meridian at the pixel centre). Per cell the weights L w eps are
summed per threshold and the rotation is the livetime-weighted chordal mean of the interval
rotations (the polar factor of sum L_s R_s, i.e. re-orthonormalised mean axes). The detector-frame
acceptance pixels are rotated once per cell; the rotated pixel indices are shared by all
thresholds and accumulated with ``numpy.bincount``. The timeline is streamed (chunks of Parquet
files or frames); the cell table is sparse (only visited cells), so memory is bounded by the number
of visited cells, not by the number of intervals. Two passes are made: the first (``efficiency=None``)
gives the exposure per efficiency bin, from which eps is estimated, and the "noeff" cells; the second
applies eps.

Dipole response ("known subtlety"): with a sky 1 + rho.n the expected detector-frame histogram is
A(d) sum_c W_c (1 + rho.R_c d) = A(d) W (1 + rho.Q d), Q = sum_c W_c R_c / sum_c W_c. The LVLH y axis
always has the same declination component (-cos i for +XVV), so Q is far from zero and the
data-driven acceptance absorbs part of a real dipole along the celestial pole. To first order the
reference is M_hat = M0 + sum_a rho_a T_a with T_a(pix) = sum_c W_c sum_j A(j) (Q d_j)_a [R_c d_j in pix],
computed in the same pass (``ReferenceMaps.dipole_response``). A fit against M_hat then returns
rho_fit = (I - K) rho, K the dipole projection of T/M_hat (:func:`dipole_response_matrix`);
:func:`correct_dipole` inverts it (and propagates the covariance). The closure tests measure the
absorption and show that the correction removes it. It needs the orbit's full 72-day precession cycle:
over a few days the orbit plane is nearly fixed, a dipole along the orbit normal is degenerate with a
y-gradient of the acceptance, and I - K becomes nearly singular (K ~ 0.6 after one day).

Measured (tests/test_closure.py, 73 days, 1.8e6 protons, benchmarks/README.md): the uncorrected fit loses
~4% of a dipole along the celestial pole (~1% along other axes); the correction removes it. The
statistical noise of the acceptance histogram has the same odd-in-y signature and moves the fitted dipole
by ~0.13-0.2 sigma (rms, along the same axis); ``acceptance_symmetry="xy"`` (mirror-symmetric acceptance,
exact for the simulated geometry) removes both (noise ~0.03 sigma), at the price of that assumption.
The detector histogram is sampled with ``detector_subsample=2`` (4 interpolated points per pixel): with
pixel centres only the reference showed chi2/dof = 1.085 against 1.6e6 events (Nside 16), 1.01 with 2.

Shuffling variant (:func:`shuffled_reference_maps`, Fermi-LAT, Ackermann et al. PRD 82 (2010) 092003):
each selected event of threshold k keeps its detector direction and gets the time (hence the
attitude) of another selected event of the same threshold (seeded permutation); the galactic
direction is recomputed with the timeline axes of that time; ``n_shuffles`` shuffles are averaged.
It absorbs most of a real dipole: 96% of an injected 5% dipole along the celestial pole in the closure
test (the event times carry the rate modulation of the dipole as the field of view sweeps the sky), so it
is a cross-check of the exposure shape only, not of the dipole.

Simplifications (for the README):
* within an attitude cell all intervals use the cell's mean rotation (cell ~0.9 deg x 5 deg of roll
  at the defaults: far below the sky pixel size once averaged over cells);
* the detector-frame acceptance is sampled at points (4 per pixel by default, bilinear interpolation
  of the histogram), each rotated as a point; many cells hit each sky pixel, so the result is smooth;
* w_k uses the true (tabulated) spectrum and the selection's sharp cut on the *measured* observable;
  the spill-over from the resolution near the cutoff is absorbed by eps (the cutoff correlates with
  the trigger rate), not modelled;
* eps depends on the efficiency variable only (one function per threshold, or borrowed from a lower
  threshold when statistics are poor), not on time or direction;
* the dipole-response correction is first order in rho (exact enough for |rho| << 1);
* the efficiency's own absorption of a dipole (a trigger-rate bin's exposure has a small dipole moment)
  is not corrected: the closure tests find no bias from it at the 0.2 sigma level.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import healpy as hp
import numpy as np
import pandas as pd

from . import io
from .binning import check_thresholds

# timeline variables the efficiency may be binned in (the cutoff means the species' cutoff column)
EFFICIENCY_VARIABLES = ("trigger_rate_hz", "cutoff")
# default efficiency bins in trigger rate, Hz: the trigger rate spans ~200 Hz (equator) to ~2000 Hz
# (magnetic poles) on the ISS (method.md section 4); same edges as config.yaml reference.efficiency_edges
DEFAULT_TRIGGER_RATE_EDGES_HZ = (0, 250, 300, 350, 400, 450, 500, 600, 700, 800, 1000, 1200, 1500, 2000, 2500)
_AXIS_COLUMNS = io.AXIS_COLUMNS  # ams_{x,y,z}_gal_{x,y,z}
_TWO_PI = 2.0 * np.pi


# --------------------------------------------------------------------------- small helpers
def cutoff_column(charge_sign: int, cone_half_angle_deg: int = 40) -> str:
    """Timeline column of the max cutoff for a charge sign (+1/-1) and cone half-angle (deg)."""
    if charge_sign not in (-1, 1):
        raise ValueError(f"charge_sign must be +1 or -1, got {charge_sign!r}")
    if cone_half_angle_deg not in io.CONE_HALF_ANGLES_DEG:
        raise ValueError(f"cone_half_angle_deg must be one of {io.CONE_HALF_ANGLES_DEG}, got {cone_half_angle_deg}")
    return f"cutoff_max_{'pos' if charge_sign > 0 else 'neg'}_{cone_half_angle_deg}_gv"


def _check_thresholds(thresholds, upper) -> tuple[np.ndarray, float]:
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
    thresholds, upper = _check_thresholds(thresholds, upper)
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


def mean_rotations(sum_matrices) -> np.ndarray:
    """Chordal mean rotation: the proper orthogonal polar factor of each (weighted) sum of rotations.

    ``sum_matrices`` (n, 3, 3) -> (n, 3, 3) rotation matrices (U V^T of the SVD, det = +1).
    """
    u, _, vt = np.linalg.svd(sum_matrices)
    det = np.linalg.det(u @ vt)
    u[:, :, 2] *= np.where(det < 0, -1.0, 1.0)[:, None]
    return u @ vt


def _rotation_columns(frame_axes: np.ndarray) -> np.ndarray:
    """(n, 9) axis columns in io.AXIS_COLUMNS order -> (n, 3, 3) with columns = AMS x, y, z axes."""
    return frame_axes.reshape(-1, 3, 3).transpose(0, 2, 1)


def attitude_cells(rotations, nside_attitude: int = 64, n_roll_bins: int = 72) -> np.ndarray:
    """Attitude cell key of each rotation: HEALPix pixel (RING) of the z axis x roll bin.

    The roll is the angle of the AMS x axis around z, measured from the direction of increasing
    colatitude (e_theta) towards e_phi at the centre of the z pixel; key = pixel * n_roll_bins + bin.
    ``rotations``: (n, 3, 3) with columns = AMS x, y, z axes in galactic coordinates.
    """
    z = rotations[:, :, 2]
    x = rotations[:, :, 0]
    pix = hp.vec2pix(nside_attitude, z[:, 0], z[:, 1], z[:, 2])
    theta, phi = hp.pix2ang(nside_attitude, pix)
    ct, st, cp, sp = np.cos(theta), np.sin(theta), np.cos(phi), np.sin(phi)
    along_theta = x[:, 0] * ct * cp + x[:, 1] * ct * sp - x[:, 2] * st
    along_phi = -x[:, 0] * sp + x[:, 1] * cp
    roll = np.mod(np.arctan2(along_phi, along_theta), _TWO_PI)
    roll_bin = np.minimum((roll * (n_roll_bins / _TWO_PI)).astype(np.int64), n_roll_bins - 1)
    return pix.astype(np.int64) * n_roll_bins + roll_bin


def _reduce_by_key(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sum the rows of ``values`` (n, m) sharing a key; returns sorted unique keys and sums."""
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    return keys[starts], np.add.reduceat(values[order], starts, axis=0)


# --------------------------------------------------------------------------- exposure pass
@dataclass(frozen=True)
class Exposure:
    """Result of one pass over the timeline (:func:`accumulate_exposure`).

    Attributes (n_thr thresholds, n_bins efficiency bins, n_cells visited attitude cells):
    thresholds (n_thr,) GV/GeV; upper (GV/GeV, inf if none); cutoff_factor; efficiency_variable;
    efficiency_edges (n_bins - 1,); efficiency (n_thr, n_bins) applied (ones for the first pass);
    nside_attitude, n_roll_bins; cell_keys (n_cells,) int64; cell_rotations (n_cells, 3, 3)
    (columns = mean AMS x, y, z axes in galactic coordinates); cell_livetime_s (n_cells,) s;
    cell_weights_s (n_thr, n_cells) = sum L w eps, s; efficiency_exposure_s (n_thr, n_bins) =
    sum L w per efficiency bin (without eps), s; total_livetime_s; n_intervals (good intervals used).
    """

    thresholds: np.ndarray
    upper: float
    cutoff_factor: float
    efficiency_variable: str
    efficiency_edges: np.ndarray
    efficiency: np.ndarray
    nside_attitude: int
    n_roll_bins: int
    cell_keys: np.ndarray
    cell_rotations: np.ndarray
    cell_livetime_s: np.ndarray
    cell_weights_s: np.ndarray
    efficiency_exposure_s: np.ndarray
    total_livetime_s: float
    n_intervals: int

    @property
    def n_cells(self) -> int:
        return int(self.cell_keys.size)


def _iter_frames(timeline, columns) -> Iterable[tuple[str, pd.DataFrame]]:
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


def _finite(name: str, column: str, values: np.ndarray) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        raise io.InputError(
            f"{name}: column {column} has {int(bad.sum())} non-finite value(s) "
            f"(first at row {int(np.flatnonzero(bad.reshape(bad.shape[0], -1).any(axis=1))[0])})"
        )


def accumulate_exposure(
    timeline,
    thresholds,
    upper,
    integral_flux: Callable,
    cutoff_factor: float = 1.2,
    cone_column: str = "cutoff_max_pos_40_gv",
    efficiency_variable: str = "trigger_rate_hz",
    efficiency_edges=DEFAULT_TRIGGER_RATE_EDGES_HZ,
    efficiency=None,
    nside_attitude: int = 64,
    n_roll_bins: int = 72,
    max_axis_norm_error: float = 1e-3,
) -> Exposure:
    """One streamed pass over the timeline: per-threshold attitude-cell weights and exposure per eps bin.

    Parameters
    ----------
    timeline : path, DataFrame, or iterable of them
        Timeline chunks (columns of ``io.TIMELINE_SCHEMA``; only the needed columns are read).
    thresholds : sequence (n_thr,), GV (nuclei) or GeV (e±)
        Lower edges of the cumulative ranges, strictly increasing.
    upper : float or None, GV or GeV
        Upper edge (350 GeV for e±), None for none.
    integral_flux : callable
        F(x), integral flux above x (see :func:`cutoff_weights`).
    cutoff_factor : float
        Selection cut factor f (x > f Rc), dimensionless: 1.2 nominal, 1.0 / 1.4 variants.
    cone_column : str
        Timeline cutoff column used by the selection (see :func:`cutoff_column`).
    efficiency_variable : {"trigger_rate_hz", "cutoff"}
        Variable the efficiency is binned in (the cutoff = ``cone_column``, GV).
    efficiency_edges : sequence (n_edges,)
        Bin edges of the efficiency variable (Hz or GV); n_bins = n_edges + 1 with the underflow and
        overflow bins (see :func:`efficiency_bin`).
    efficiency : array (n_thr, n_bins), callable or None
        eps per threshold and bin (:func:`estimate_efficiency`); or a function eps(v) of the efficiency
        variable evaluated per interval, the same for all thresholds (e.g. a known efficiency model, as
        in the closure tests); None = 1 (first pass / "noeff").
    nside_attitude : int
        HEALPix Nside of the attitude cells' z-axis pixels (64: ~0.9 deg).
    n_roll_bins : int
        Number of roll-angle bins of the x axis around z (72: 5 deg).
    max_axis_norm_error : float
        Tolerance on |axis| - 1 and on the axes' orthogonality (dimensionless); larger -> InputError.
    """
    thresholds, upper = _check_thresholds(thresholds, upper)
    n_thr = thresholds.size
    if efficiency_variable not in EFFICIENCY_VARIABLES:
        raise ValueError(f"efficiency_variable must be one of {EFFICIENCY_VARIABLES}, got {efficiency_variable!r}")
    if cone_column not in io.CUTOFF_COLUMNS:
        raise ValueError(f"cone_column must be one of {io.CUTOFF_COLUMNS}, got {cone_column!r}")
    edges = np.asarray(efficiency_edges, dtype=np.float64)
    efficiency_bin(np.zeros(1), edges)  # validates the edges
    n_bins = edges.size + 1  # underflow, regular bins, overflow (as binning.MapAccumulator)
    efficiency_function = None
    if efficiency is None:
        eps = np.ones((n_thr, n_bins))
    elif callable(efficiency):
        efficiency_function = efficiency
        eps = np.full((n_thr, n_bins), np.nan)  # not binned
    else:
        eps = np.asarray(efficiency, dtype=np.float64)
        if eps.shape != (n_thr, n_bins):
            raise ValueError(f"efficiency: expected shape (n_thr, n_bins) = ({n_thr}, {n_bins}), got {eps.shape}")
        if not np.all(np.isfinite(eps)) or np.any(eps < 0):
            raise ValueError("efficiency: values must be finite and non-negative")
    if not (isinstance(nside_attitude, (int, np.integer)) and hp.isnsideok(nside_attitude)):
        raise ValueError(f"nside_attitude must be a power of 2, got {nside_attitude!r}")
    if not (isinstance(n_roll_bins, (int, np.integer)) and n_roll_bins >= 1):
        raise ValueError(f"n_roll_bins must be a positive integer, got {n_roll_bins!r}")
    variable_column = cone_column if efficiency_variable == "cutoff" else "trigger_rate_hz"
    columns = ["duration_s", "livetime_fraction", "good", *_AXIS_COLUMNS, cone_column]
    if variable_column not in columns:
        columns.append(variable_column)

    n_sums = 1 + 9 + n_thr  # livetime, sum L R (9), weights per threshold
    keys_all = np.zeros(0, dtype=np.int64)
    sums_all = np.zeros((0, n_sums))
    eff_exposure = np.zeros((n_thr, n_bins))
    n_rows = 0
    n_intervals = 0
    for name, frame in _iter_frames(timeline, columns):
        n_rows += len(frame)
        good = frame["good"].to_numpy().astype(bool)
        if not good.any():
            continue
        axes = frame[_AXIS_COLUMNS].to_numpy(dtype=np.float64)[good]
        _finite(name, "ams_*_gal_*", axes)
        rot = _rotation_columns(axes)
        gram = np.einsum("nai,naj->nij", rot, rot)
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
        for column, values in (("duration_s", duration), ("livetime_fraction", live), (cone_column, cut),
                               (variable_column, variable)):
            _finite(name, column, values)
        if np.any(duration <= 0) or np.any(live < 0) or np.any(live > 1):
            raise io.InputError(f"{name}: duration_s must be > 0 and livetime_fraction in [0, 1]")
        livetime = duration * live
        w = cutoff_weights(cut, thresholds, upper, integral_flux, cutoff_factor)  # (n, n_thr)
        lw = livetime[:, None] * w
        ebin = efficiency_bin(variable, edges)
        for k in range(n_thr):
            eff_exposure[k] += np.bincount(ebin, weights=lw[:, k], minlength=n_bins)
        if efficiency_function is None:
            weights = lw * eps[:, ebin].T
        else:
            per_interval = np.asarray(efficiency_function(variable), dtype=np.float64)
            if per_interval.shape != variable.shape or not np.all(np.isfinite(per_interval)) or np.any(
                    per_interval < 0):
                raise ValueError("efficiency function: must return finite non-negative values, one per interval")
            weights = lw * per_interval[:, None]
        keys = attitude_cells(rot, nside_attitude, n_roll_bins)
        values = np.concatenate([livetime[:, None], livetime[:, None] * rot.reshape(-1, 9), weights], axis=1)
        chunk_keys, chunk_sums = _reduce_by_key(keys, values)
        keys_all, sums_all = _reduce_by_key(np.concatenate([keys_all, chunk_keys]),
                                            np.concatenate([sums_all, chunk_sums]))
        n_intervals += int(good.sum())
    if n_rows == 0:
        raise io.InputError("timeline: no rows (empty timeline)")
    if n_intervals == 0 or sums_all[:, 0].sum() <= 0:
        raise io.InputError("timeline: no good interval with livetime (nothing to build a reference from)")
    keep = sums_all[:, 0] > 0
    keys_all, sums_all = keys_all[keep], sums_all[keep]
    return Exposure(
        thresholds=thresholds, upper=upper, cutoff_factor=float(cutoff_factor),
        efficiency_variable=efficiency_variable, efficiency_edges=edges, efficiency=eps,
        nside_attitude=int(nside_attitude), n_roll_bins=int(n_roll_bins), cell_keys=keys_all,
        cell_rotations=mean_rotations(sums_all[:, 1:10].reshape(-1, 3, 3)),
        cell_livetime_s=sums_all[:, 0], cell_weights_s=np.ascontiguousarray(sums_all[:, 10:].T),
        efficiency_exposure_s=eff_exposure, total_livetime_s=float(sums_all[:, 0].sum()),
        n_intervals=n_intervals,
    )


# --------------------------------------------------------------------------- efficiency
def estimate_efficiency(event_histogram, exposure_histogram, min_events_per_bin: float = 400.0) -> np.ndarray:
    """Efficiency per threshold and bin of the efficiency variable: events / exposure, normalised.

    Parameters
    ----------
    event_histogram : array (n_thr, n_bins)
        Selected events above each threshold per efficiency bin (same edges and convention as
        :func:`efficiency_bin`).
    exposure_histogram : array (n_thr, n_bins), s
        sum L w per bin (``Exposure.efficiency_exposure_s`` of the first pass).
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


# --------------------------------------------------------------------------- maps
@dataclass(frozen=True)
class ReferenceMaps:
    """Result of :func:`reference_maps`.

    maps (n_thr, npix): expected counts per galactic pixel (RING) for an isotropic sky, sum = N_k;
    dipole_response (n_thr, 3, npix): d maps / d rho_a (galactic x, y, z) through the data-driven
    acceptance, same normalisation (None if not computed); q_matrix (n_thr, 3, 3): Q = mean W-weighted
    rotation; acceptance_source (n_thr,): which threshold's detector histogram was used.
    """

    maps: np.ndarray
    dipole_response: np.ndarray | None
    q_matrix: np.ndarray
    acceptance_source: np.ndarray


ACCEPTANCE_SYMMETRIES = ("none", "x", "y", "xy")


def mirror_symmetrize(detector_maps, symmetry: str = "xy") -> np.ndarray:
    """Average detector-frame HEALPix maps (..., npix) with their mirror images.

    ``symmetry``: "none", "x" (d_x -> -d_x), "y" (d_y -> -d_y) or "xy" (both mirrors and their product).
    HEALPix RING pixel centres are symmetric under both mirrors, so the map is permuted exactly.
    """
    if symmetry not in ACCEPTANCE_SYMMETRIES:
        raise ValueError(f"acceptance symmetry must be one of {ACCEPTANCE_SYMMETRIES}, got {symmetry!r}")
    maps = np.asarray(detector_maps, dtype=np.float64)
    if symmetry == "none":
        return maps
    nside = hp.npix2nside(maps.shape[-1])
    x, y, z = hp.pix2vec(nside, np.arange(maps.shape[-1]))
    flips = {"x": [(-1, 1)], "y": [(1, -1)], "xy": [(-1, 1), (1, -1), (-1, -1)]}[symmetry]
    total = maps.copy()
    for fx, fy in flips:
        total = total + maps[..., hp.vec2pix(nside, fx * x, fy * y, z)]
    return total / (len(flips) + 1)


def _detector_points(acceptance: np.ndarray, subsample: int) -> tuple[np.ndarray, np.ndarray]:
    """Points (n, 3) sampling the detector frame and the acceptance weight of each (n_thr, n).

    subsample = 1: the centres of the pixels with acceptance, weight = the pixel's value.
    subsample > 1: each pixel with acceptance and its neighbours is split in subsample^2 sub-pixels
    (NESTED children at nside x subsample); the weight is the bilinear interpolation of the acceptance
    (healpy ``get_interp_val``) at the sub-pixel centre / subsample^2 (a smoother sampling).
    """
    nside_det = hp.npix2nside(acceptance.shape[1])
    used = acceptance.sum(axis=0) > 0
    if subsample == 1:
        pixels = np.flatnonzero(used)
        return np.array(hp.pix2vec(nside_det, pixels)).T, acceptance[:, pixels]
    pixels = np.flatnonzero(used)
    neighbours = hp.get_all_neighbours(nside_det, pixels).ravel()
    pixels = np.union1d(pixels, neighbours[neighbours >= 0])
    factor = subsample * subsample
    nested = hp.ring2nest(nside_det, pixels)
    children = (nested[:, None] * factor + np.arange(factor)[None, :]).ravel()
    theta, phi = hp.pix2ang(nside_det * subsample, children, nest=True)
    weights = np.array([hp.get_interp_val(row, theta, phi) for row in acceptance]) / factor
    weights = np.maximum(weights, 0.0)
    keep = weights.sum(axis=0) > 0
    vectors = np.array(hp.ang2vec(theta[keep], phi[keep]))
    return vectors, weights[:, keep]


def reference_maps(
    exposure: Exposure,
    detector_maps,
    nside: int,
    n_events,
    dipole_response: bool = True,
    acceptance_min_events: float = 0.0,
    detector_subsample: int = 2,
    acceptance_symmetry: str = "none",
    block_points: int = 2_000_000,
) -> ReferenceMaps:
    """Galactic reference maps from the attitude cells and the detector-frame acceptance.

    Parameters
    ----------
    exposure : Exposure
        Result of :func:`accumulate_exposure` (with the efficiency applied, or not for "noeff").
    detector_maps : array (n_thr, npix_det)
        Detector-frame HEALPix histograms (RING) of the selected events above each threshold
        (the acceptance estimate, any normalisation); npix_det sets the detector Nside.
    nside : int
        HEALPix Nside of the galactic maps.
    n_events : sequence (n_thr,)
        Observed events per threshold; each map is normalised to it (0 gives a zero map).
    dipole_response : bool
        Also compute d map / d rho (see the module docstring); costs ~4x the time.
    acceptance_min_events : float
        A threshold whose detector histogram holds fewer events borrows the acceptance shape of the
        nearest lower threshold with enough events (0 = never).
    detector_subsample : int
        1: one point per detector pixel (its centre); 2, 4, ...: subsample^2 points per pixel weighted
        by the bilinear interpolation of the acceptance (smoother, subsample^2 times slower).
    acceptance_symmetry : {"none", "x", "y", "xy"}
        Average the acceptance histogram with its mirror image d_x -> -d_x ("x"), d_y -> -d_y ("y") or
        both ("xy"). The simulated AMS geometry (centred discs and rectangles, straight tracks) is
        mirror-symmetric, and an odd-in-y part of the histogram is exactly what a dipole along the
        celestial pole (and the histogram's own Poisson noise) produces, so "y"/"xy" removes both the
        absorption and that noise; but it assumes the symmetry (real AMS bends low-rigidity tracks in
        the y-z plane). Default "none": purely data-driven (use the dipole response correction).
    block_points : int
        Rotated points processed together (memory ~ 60 bytes x block_points).
    """
    thresholds = exposure.thresholds
    n_thr = thresholds.size
    det = np.asarray(detector_maps, dtype=np.float64)
    if det.ndim != 2 or det.shape[0] != n_thr:
        raise ValueError(
            f"detector_maps: expected shape (n_thr={n_thr}, npix_det) matching the exposure's thresholds, "
            f"got {det.shape}"
        )
    if not hp.isnpixok(det.shape[1]):
        raise ValueError(f"detector_maps: {det.shape[1]} is not a valid HEALPix number of pixels")
    if not np.all(np.isfinite(det)) or np.any(det < 0):
        raise ValueError("detector_maps: values must be finite and non-negative")
    n_events = np.asarray(n_events, dtype=np.float64).ravel()
    if n_events.size != n_thr:
        raise ValueError(f"n_events: expected {n_thr} values (one per threshold), got {n_events.size}")
    if not np.all(np.isfinite(n_events)) or np.any(n_events < 0):
        raise ValueError("n_events must be finite and non-negative")
    if not hp.isnsideok(nside):
        raise ValueError(f"nside must be a power of 2, got {nside!r}")
    if not (isinstance(detector_subsample, (int, np.integer)) and detector_subsample >= 1
            and hp.isnsideok(detector_subsample)):
        raise ValueError(f"detector_subsample must be a power of 2 >= 1, got {detector_subsample!r}")
    npix = hp.nside2npix(nside)

    # acceptance per threshold, optionally borrowed from a lower threshold
    det_totals = det.sum(axis=1)
    source = np.arange(n_thr)
    last_good = 0
    for k in range(n_thr):  # a handful of thresholds
        if det_totals[k] > 0 and det_totals[k] >= acceptance_min_events:
            last_good = k
        source[k] = last_good
    acceptance = det[source]
    for k in range(n_thr):
        if n_events[k] > 0 and acceptance[k].sum() <= 0:
            raise ValueError(f"detector_maps: threshold {thresholds[k]:g} has {n_events[k]:g} events but an "
                             "empty detector histogram")
    acceptance = mirror_symmetrize(acceptance, acceptance_symmetry)
    acceptance = acceptance / np.maximum(acceptance.sum(axis=1, keepdims=True), 1e-300)

    points, point_acceptance = _detector_points(acceptance, detector_subsample)  # (n, 3), (n_thr, n)
    weights = exposure.cell_weights_s  # (n_thr, n_cells)
    rotations = exposure.cell_rotations
    total_w = weights.sum(axis=1)
    q_matrix = np.einsum("kc,cij->kij", weights, rotations) / np.maximum(total_w, 1e-300)[:, None, None]
    # per threshold the weight sets whose maps are accumulated: A_k and A_k d_b (b = x, y, z)
    n_sets = 4 if dipole_response else 1
    sets = np.empty((n_thr, n_sets, points.shape[0]))
    sets[:, 0] = point_acceptance
    if dipole_response:
        # the response of the (symmetrised) histogram: the mirrored components of d average out
        odd = {"none": (), "x": (0,), "y": (1,), "xy": (0, 1)}[acceptance_symmetry]
        kept = np.array([0.0 if b in odd else 1.0 for b in range(3)])
        sets[:, 1:] = point_acceptance[:, None, :] * (points * kept).T[None, :, :]
    raw = np.zeros((n_thr, n_sets, npix))
    n_points = points.shape[0]
    points_t = np.ascontiguousarray(points.T)
    cells_per_block = max(1, block_points // max(n_points, 1))
    active = np.flatnonzero(weights.sum(axis=0) > 0)
    for start in range(0, active.size, cells_per_block):
        block = active[start:start + cells_per_block]
        sky = rotations[block] @ points_t  # (n_b, 3, n_points): contiguous rows for vec2pix
        index = hp.vec2pix(nside, sky[:, 0].ravel(), sky[:, 1].ravel(), sky[:, 2].ravel())
        for k in range(n_thr):  # a handful of thresholds x sets
            wk = weights[k, block]
            if not wk.any():
                continue
            for m in range(n_sets):
                raw[k, m] += np.bincount(index, weights=np.outer(wk, sets[k, m]).ravel(), minlength=npix)
    maps = raw[:, 0]
    totals = maps.sum(axis=1)
    scale = np.where(totals > 0, n_events / np.maximum(totals, 1e-300), 0.0)
    for k in range(n_thr):
        if n_events[k] > 0 and totals[k] <= 0:
            raise ValueError(f"threshold {thresholds[k]:g}: the reference map is empty (no exposure)")
    maps = maps * scale[:, None]
    response = None
    if dipole_response:
        # T_a = sum_b Q_ab U_b, U_b the maps of A(d) d_b
        response = np.einsum("kab,kbp->kap", q_matrix, raw[:, 1:]) * scale[:, None, None]
    return ReferenceMaps(maps=maps, dipole_response=response, q_matrix=q_matrix, acceptance_source=source)


# --------------------------------------------------------------------------- dipole response
def dipole_response_matrix(reference, response, mask=None) -> np.ndarray:
    """K (3, 3): the dipole a first-order fit returns per unit true dipole through the reference.

    With counts ~ M0 (1 + rho.n) and the data-driven reference M_hat = M0 + rho.T, a fit of the
    counts against M_hat (free monopole, Poisson weights ~ 1/M_hat) gives rho_fit = (I - K) rho,
    K[:, a] = the dipole of the weighted least-squares fit of T_a / M_hat by c + r.n.

    Parameters: reference (npix,) M_hat; response (3, npix) T (``ReferenceMaps.dipole_response[k]``);
    mask (npix,) bool of the fitted pixels (default reference > 0).
    """
    reference = np.asarray(reference, dtype=np.float64)
    response = np.asarray(response, dtype=np.float64)
    if response.shape != (3, reference.size):
        raise ValueError(f"response: expected shape (3, {reference.size}), got {response.shape}")
    mask = reference > 0 if mask is None else np.asarray(mask, dtype=bool) & (reference > 0)
    nside = hp.npix2nside(reference.size)
    pixels = np.flatnonzero(mask)
    vec = np.array(hp.pix2vec(nside, pixels))
    design = np.column_stack([np.ones(pixels.size), vec.T])  # (n, 4)
    m = reference[pixels]
    gram = design.T @ (m[:, None] * design)
    rhs = design.T @ response[:, pixels].T  # sum_p M X (T/M) = sum_p X T
    solution = np.linalg.solve(gram, rhs)  # (4, 3)
    return solution[1:, :]


def absorption_transform(k_matrix, max_absorption: float = 0.5) -> np.ndarray:
    """T = (I - K)^-1, the linear map from a fitted dipole to the true one (see the module docstring).

    ``max_absorption``: if some direction loses more than this fraction of the dipole (smallest singular
    value of I - K below 1 - max_absorption), the correction would mostly amplify noise: ValueError
    (typically a timeline much shorter than the 72-day precession cycle of the orbit).
    """
    i_minus_k = np.eye(3) - np.asarray(k_matrix, dtype=np.float64)
    smallest = np.linalg.svd(i_minus_k, compute_uv=False).min()
    if smallest < 1.0 - max_absorption:
        raise ValueError(
            f"dipole response: the data-driven acceptance absorbs {1 - smallest:.0%} of the dipole along some "
            f"axis (limit {max_absorption:.0%}); the timeline is probably shorter than the orbit's 72-day "
            "precession cycle, so the acceptance and the dipole are degenerate: do not correct"
        )
    return np.linalg.inv(i_minus_k)


def fitted_dipole_transform(reference, response, mask=None, max_absorption: float = 0.5) -> np.ndarray:
    """T = (I - K)^-1 for a fit of counts against ``reference`` (npix,) whose dipole response is
    ``response`` (3, npix), over the pixels of ``mask``: the true dipole is T @ the fitted one."""
    return absorption_transform(dipole_response_matrix(reference, response, mask), max_absorption)


def correct_dipole(rho, covariance, k_matrix, max_absorption: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Undo the absorption: rho_true = (I - K)^-1 rho_fit; covariance propagated the same way."""
    transform = absorption_transform(k_matrix, max_absorption)
    rho = transform @ np.asarray(rho, dtype=np.float64)
    return rho, transform @ np.asarray(covariance, dtype=np.float64) @ transform.T


def response_labels(label: str) -> list[str]:
    """Map labels of the dipole response of threshold ``label`` in a reference FITS file
    (``io.write_threshold_maps``): the derivative of the map along galactic x, y, z."""
    return [f"{label}_RESP{axis}" for axis in "XYZ"]


# --------------------------------------------------------------------------- shuffling
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
        E.g. ``ams_anisotropy.rng.generator(seed, "reference_shuffle", species_index)``.
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
