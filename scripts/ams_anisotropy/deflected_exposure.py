"""Exposure in asymptotic (backtraced) directions: the geomagnetic-deflection correction of the reference.

The events' galactic directions are backtraced (asymptotic) ones, so the isotropic reference must be the
exposure in asymptotic directions. :mod:`ams_anisotropy.exposure` gives the exposure of the arrival
directions exactly (every interval at its attitude R_s). The deflection adds, for every interval s,

    dM_s(n) = W_k(s) sum_q g_kq(s) [B_q,s(n) - B_inf,s(n)]

with B_q,s the detector-frame acceptance A pushed through the table of asymptotic directions
(:mod:`ams_anisotropy.asymptotic`) at the rigidity node R_q and the interval's position, B_inf,s the
undeflected one (the arrival directions), and g_kq(s) the share of the spectrum above
max(x_k, f x cutoff_s) carried by node q (the table interpolates linearly in 1/R, so the hat functions of
its nodes, with the R = infinity node of zero deflection, are an exact quadrature of the table). The
correction is computed on cells:

* cell c = (geodetic latitude bin, longitude bin, azimuth bin of the AMS x axis in the local frame):
  within a cell the detector -> East-North-Up rotation L_s is replaced by its livetime-weighted mean L_c
  (polar decomposition), the latitude by the cell's mean latitude;
* the beams B_q,c are built once per cell in the Earth-fixed frame at the cell's centre longitude, as point
  sets (the acceptance histogram's pixel centres pushed through the table) whose harmonic coefficients
  ``ducc0.sht.adjoint_synthesis_general`` gives exactly up to ``lmax``;
* every interval enters exactly through its Earth rotation and longitude: the Earth-fixed -> galactic
  rotation is E_s = E_0 Rz(alpha_s) (E_0 that of the first interval; the residual precession over 7.5 years
  is < 0.1 deg and neglected) and moving the position by dlon along a latitude circle is Rz(dlon), so an
  interval adds its weight times exp(-i m psi_s), psi_s = alpha_s + lon_s - lon_c, to its cell's phase sums;
* g_kq(s) depends on s only through the lower edge max(x_k, f cutoff_s), binned finely (ratio
  ``lower_edge_ratio``).

So the correction costs one pass over the timeline (phase sums) and one table lookup per (cell, node,
acceptance pixel), whatever the number of events. It is band-limited at ``lmax`` (the dipole and the
large-scale exposure are exact to the cell approximation; the straight-line part of the reference keeps
its own band limit), and it uses the acceptance shape of the lowest threshold for every threshold (the
correction is a difference of two beams of the same shape; the shape's threshold dependence enters at
second order). The dipole-response maps (:mod:`dipole_absorption`) are left undeflected (a first-order
correction of a first-order correction).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import ducc0
import healpy as hp
import numpy as np

from .asymptotic import AsymptoticTable
from .exposure_weights import check_range, efficiency_bin
from .frames import GCRS_TO_GALACTIC, gcrs_to_itrs_matrix
from .tracing import enu_axes_ecef

_LOOKUP_CACHE_BYTES = 512 * 2**20  # table lookups kept between the two passes of galactic_alm (the rest redone)
_NODE_WEIGHT_FLOOR = 1e-12  # relative weight below which a rigidity node is skipped in a cell


@dataclass(frozen=True)
class DeflectionSettings:
    """Resolution of the correction (config ``reference.deflection``): band limit, cell sizes (deg; at and
    above ``high_lat_deg`` of |latitude| the cells are ``high_lat_step_deg`` high, where the ISS turns and
    the exposure's declination edges form), azimuth bins of the AMS x axis, Nside of the acceptance point
    set, ratio of the lower-edge bins, widest gap of the rigidity quadrature (:func:`quadrature_nodes`)."""

    lmax: int = 48
    lat_step_deg: float = 4.0
    lon_step_deg: float = 12.0
    n_azimuth: int = 8
    acceptance_nside: int = 32
    lower_edge_ratio: float = 1.05
    max_node_gap_inv_gv: float = 0.0025
    high_lat_deg: float = 40.0
    high_lat_step_deg: float | None = 2.0
    epsilon: float = 1e-7

    def __post_init__(self):
        if not (2 <= self.lmax <= 256 and 0.5 <= self.lat_step_deg <= 30 and 1 <= self.lon_step_deg <= 60
                and 1 <= self.n_azimuth <= 64 and hp.isnsideok(self.acceptance_nside)
                and 1.0 < self.lower_edge_ratio <= 1.5 and 0.0 <= self.max_node_gap_inv_gv <= 0.1):
            raise ValueError(f"reference.deflection: bad settings {self}")
        if self.high_lat_step_deg is not None:
            ratio = self.lat_step_deg / self.high_lat_step_deg
            if not (0.0 <= self.high_lat_deg <= 90.0 and self.high_lat_step_deg > 0
                    and abs(ratio - round(ratio)) < 1e-6 and round(ratio) >= 1):
                raise ValueError(f"reference.deflection.high_lat_step_deg: {self.high_lat_step_deg:g} deg must divide "
                                 f"lat_step_deg ({self.lat_step_deg:g}); high_lat_deg {self.high_lat_deg:g} in [0, 90]")
        if self.lmax > 3 * self.acceptance_nside:
            # the beams are point sets on the acceptance's Nside grid: above ~3 Nside their harmonics are the
            # pixel sampling, not the acceptance (measured: at Nside 16, l > 48 carried a threshold-independent
            # 25% of the correction's rms, also at 1 TV where the deflection is < 1 deg)
            raise ValueError(f"reference.deflection: lmax {self.lmax} > 3 x acceptance_nside "
                             f"({self.acceptance_nside}): raise acceptance_nside or lower lmax")


def earth_rotation(time_unix_s) -> np.ndarray:
    """E_s (n, 3, 3): the rotation taking Earth-fixed (ITRS) vectors to galactic ones at the given times."""
    return np.einsum("ij,nkj->nik", GCRS_TO_GALACTIC, gcrs_to_itrs_matrix(np.asarray(time_unix_s)))


def quadrature_nodes(table_nodes_gv, max_gap_inv_gv: float) -> np.ndarray:
    """The rigidity nodes (GV, ascending) of the correction's quadrature: the table's nodes, and in every gap
    wider than ``max_gap_inv_gv`` in u = 1/R (also the last one, between the table's last node and
    R = infinity, u = 0, not included) the fewest equally spaced extra nodes that make every gap narrower.
    0: the table's nodes only.

    The table interpolates the deflection vector linearly in 1/R and normalises the direction (the
    simulation's per-event lookup), so between two nodes an event's asymptotic direction moves along the arc
    joining the node directions; hat functions on the table's nodes alone put that weight at the two ends
    instead, a smear of up to the gap's change of deflection (~650 deg GV x du at 18 GV: 6 deg between the
    20 and 25 GV nodes). Extra nodes make the quadrature converge to the table's own interpolation."""
    nodes = np.asarray(table_nodes_gv, dtype=np.float64)
    if max_gap_inv_gv <= 0.0:
        return nodes.copy()
    u = np.append(1.0 / nodes, 0.0)  # descending
    out = []
    for i in range(nodes.size):
        gap = u[i] - u[i + 1]
        k = max(1, int(np.ceil(gap / max_gap_inv_gv - 1e-9)))
        out.append(nodes[i])  # the table's own node, bitwise
        out.extend(1.0 / (u[i] - gap * np.arange(1, k) / k))
    return np.asarray(out)


def node_shares(thresholds, upper, integral_flux: Callable, nodes_gv, lower_edges,
                resolution: tuple[float, float] | None = None) -> np.ndarray:
    """g (n_thr, n_edges, n_nodes + 1): the flux in [lower edge, upper) carried by each table node's hat
    function in u = 1/R (last column: the R = infinity node), divided by the flux in [x_k, upper).

    ``lower_edges`` (n_thr, n_edges) are the lower edges max(x_k, f cutoff) (>= x_k) of each threshold, on the
    measured observable. ``resolution`` = (mdr_gv, scattering): the measured curvature is Gaussian around the
    true one with sigma(1/R) = sqrt(1/MDR^2 + (scattering/R)^2), so the true rigidities of the events measured
    above an edge reach below it (spill-over: their larger deflection matters at 18 GV); the resolution only
    redistributes each interval's weight over the nodes (the sum stays the fraction of the true spectrum above
    the edge, the straight-line exposure's weight). None: true = measured."""
    thresholds, upper = check_range(thresholds, upper)
    if resolution is not None:
        from scipy.special import ndtr

        mdr_gv, scattering = (float(v) for v in resolution)
    u_nodes = np.concatenate([1.0 / np.asarray(nodes_gv, dtype=np.float64), [0.0]])  # descending in u
    top = upper if np.isfinite(upper) else 1e7  # GV: F(1e7 GV) is 0 to double precision for these spectra
    out = np.zeros((thresholds.size, lower_edges.shape[1], u_nodes.size))
    f_up = 0.0 if not np.isfinite(upper) else float(integral_flux(np.array([upper]))[0])
    for k, x_k in enumerate(thresholds):
        norm = float(integral_flux(np.array([x_k]))[0]) - f_up
        for e, low in enumerate(lower_edges[k]):
            if low >= top:
                continue
            weight = float(integral_flux(np.array([low]))[0]) - f_up
            start = max(float(nodes_gv[0]), 0.6 * low) if resolution is not None else low
            edges = np.geomspace(start, top, 500)
            flux = -np.diff(np.asarray(integral_flux(edges), dtype=np.float64))
            if not np.isfinite(upper):
                flux[-1] += float(integral_flux(np.array([top]))[0])
            u_mid = 1.0 / np.sqrt(edges[:-1] * edges[1:])
            if resolution is not None:  # probability to be measured above the edge
                sigma = np.sqrt(1.0 / mdr_gv**2 + (scattering * u_mid) ** 2)
                flux = flux * ndtr((1.0 / low - u_mid) / sigma)
            else:
                flux = flux * (u_mid <= 1.0 / low)
            flux *= weight / max(flux.sum(), 1e-300)
            # hat functions of the nodes in u (u_nodes descending): linear interpolation weights
            position = np.interp(-u_mid, -u_nodes, np.arange(u_nodes.size))
            left = np.floor(position).astype(int)
            frac = position - left
            np.add.at(out[k, e], left, flux * (1.0 - frac))
            np.add.at(out[k, e], np.minimum(left + 1, u_nodes.size - 1), flux * frac)
            out[k, e] /= max(norm, 1e-300)
    return out


def _latitude_edges(lat_origin: float, settings: DeflectionSettings) -> np.ndarray:
    """Cell edges in latitude (deg, ascending, covering [-90, 90]): every ``lat_step_deg`` from the aligned
    origin, each cell with both edges at |latitude| >= ``high_lat_deg`` cut into ``high_lat_step_deg``."""
    step = settings.lat_step_deg
    base = lat_origin + step * np.arange(int(np.ceil((90.0 - lat_origin) / step)) + 2)
    if settings.high_lat_step_deg is None:
        return base
    k = int(round(step / settings.high_lat_step_deg))
    edges = []
    for lo, hi in zip(base[:-1], base[1:], strict=True):
        high = min(abs(lo), abs(hi)) >= settings.high_lat_deg - 1e-9 and lo * hi >= 0
        edges.extend(lo + (hi - lo) * np.arange(k) / k if high else [lo])
    return np.append(edges, base[-1])


def _aligned_origins(table: AsymptoticTable, settings: DeflectionSettings) -> tuple[float, float]:
    """(latitude, longitude) of a cell edge, deg, such that every node of the table's position grid is a cell
    edge: within a cell the table is then linear in latitude and longitude, so the livetime-mean latitude
    and the centre longitude of the cell are the right points to evaluate it (a cell centred on a node
    averages across the kink of the interpolation; measured: with 4 deg cells centred on the 4 deg nodes,
    a spurious 0.4% dipole along the celestial pole at 18 GV). The latitude origin is below -90 deg."""
    lat_nodes = np.asarray(table.lat_deg, dtype=np.float64)
    lon_nodes = np.asarray(table.lon_deg, dtype=np.float64)
    for name, nodes, step in (("lat_step_deg", lat_nodes, settings.lat_step_deg),
                              ("lon_step_deg", lon_nodes, settings.lon_step_deg)):
        ratio = (nodes - nodes[0]) / step
        if nodes.size > 1 and not np.allclose(ratio, np.round(ratio), rtol=0.0, atol=1e-6):
            raise ValueError(f"reference.deflection.{name}: {step:g} deg does not divide the spacing of the table's "
                             f"nodes ({np.diff(nodes).min():g} deg): the cells must not straddle a table node")
    if not np.isclose(360.0 / settings.lon_step_deg, round(360.0 / settings.lon_step_deg), atol=1e-9):
        raise ValueError(f"reference.deflection.lon_step_deg: {settings.lon_step_deg:g} deg does not divide 360")
    lat0 = float(lat_nodes[0]) - settings.lat_step_deg * np.ceil((lat_nodes[0] + 90.0) / settings.lat_step_deg)
    return lat0, float(lon_nodes[0])


def _polar(matrix):
    u, _, vt = np.linalg.svd(matrix)
    return u @ vt


class DeflectionCorrection:
    """Accumulates the phase sums over timeline blocks; :meth:`galactic_alm` ends with the correction.

    Parameters: table (AsymptoticTable), acceptance_counts (npix_det,) detector-frame histogram (RING) of
    the species' lowest threshold, charge_sign (+1/-1), thresholds, upper, integral_flux, cutoff_factor
    (as :func:`exposure_weights.cutoff_weights`), settings (DeflectionSettings), resolution: (MDR in GV, multiple-
    scattering term) of the measured observable, see :func:`node_shares`.
    """

    def __init__(self, table: AsymptoticTable, acceptance_counts, charge_sign: int, thresholds, upper,
                 integral_flux: Callable, cutoff_factor: float, settings: DeflectionSettings = DeflectionSettings(),
                 resolution: tuple[float, float] | None = None):
        self.table, self.settings = table, settings
        self.charge_sign = int(charge_sign)
        self.thresholds, self.upper = check_range(thresholds, upper)
        self.integral_flux, self.cutoff_factor = integral_flux, float(cutoff_factor)
        counts = np.asarray(acceptance_counts, dtype=np.float64)
        if counts.ndim != 1 or not hp.isnpixok(counts.size) or np.any(counts < 0) or counts.sum() <= 0:
            raise ValueError("acceptance_counts: expected a non-empty, non-negative HEALPix histogram")
        coarse = hp.ud_grade(counts, settings.acceptance_nside, power=-2)
        pix = np.flatnonzero(coarse > 0)
        self.points_det = np.column_stack(hp.pix2vec(settings.acceptance_nside, pix))
        self.point_weights = coarse[pix] / coarse[pix].sum()
        self.nodes_gv = quadrature_nodes(table.rigidity_gv, settings.max_node_gap_inv_gv)
        n_edges = int(np.ceil(np.log(8.0) / np.log(settings.lower_edge_ratio))) + 1
        self.edge_factors = settings.lower_edge_ratio ** np.arange(n_edges)  # bin e: [x_k r^e, x_k r^(e+1))
        centres = self.thresholds[:, None] * np.concatenate([[1.0], np.sqrt(self.edge_factors[1:]
                                                                             * self.edge_factors[:-1])])
        self.shares = node_shares(self.thresholds, self.upper, integral_flux, self.nodes_gv, centres, resolution)
        self.m = np.arange(settings.lmax + 1)
        self.n_lon = int(round(360.0 / settings.lon_step_deg))
        self._lat_origin, self._lon_origin = _aligned_origins(table, settings)
        self._lat_edges = _latitude_edges(self._lat_origin, settings)
        self._cells: dict[int, int] = {}
        self._phase = []  # per cell: (n_thr, n_edges, lmax + 1) complex phase sums
        self._rotation_sum = []  # per cell: sum of L_s livetime
        self._lat_sum = []
        self._live_sum = []
        self._e0 = None

    def add(self, block, efficiency=None, efficiency_edges=None) -> None:
        """Accumulate a TimelineBlock (with iss_lat_deg, iss_lon_deg); efficiency (n_thr, n_bins) or None."""
        s = self.settings
        lat, lon = block.iss_lat_deg, block.iss_lon_deg
        e_s = earth_rotation(block.time_unix_s)
        if self._e0 is None:
            self._e0 = e_s[0].copy()
        relative = np.einsum("ji,njk->nik", self._e0, e_s)  # E_0^T E_s ~ Rz(alpha_s)
        alpha = np.arctan2(relative[:, 1, 0], relative[:, 0, 0])
        east, north, up = enu_axes_ecef(lat, lon)
        frame = np.stack([east, north, up], axis=-1)  # (n, 3 itrs, 3 enu): columns E, N, U
        # detector -> ENU: F^T E^T R
        local = np.einsum("nji,nkj,nkl->nil", frame, e_s, block.rotations)
        azimuth = np.arctan2(local[:, 0, 0], local[:, 1, 0])  # AMS x axis: atan2(east, north)
        i_lat = np.searchsorted(self._lat_edges, lat, side="right").astype(np.int64) - 1
        n_lon = self.n_lon
        i_lon = np.floor(np.mod(lon - self._lon_origin, 360.0) / s.lon_step_deg).astype(np.int64) % n_lon
        i_az = np.floor(np.mod(azimuth, 2 * np.pi) / (2 * np.pi) * s.n_azimuth).astype(np.int64) % s.n_azimuth
        key = (i_lat * n_lon + i_lon) * s.n_azimuth + i_az
        lon_centre = self._lon_origin + (i_lon + 0.5) * s.lon_step_deg
        psi = alpha + np.radians(lon - lon_centre)
        phase = np.exp(-1j * np.outer(psi, self.m))  # (n, lmax + 1)
        n_thr = self.thresholds.size
        if efficiency is None:
            eps = np.ones((n_thr, block.livetime_s.size))
        elif efficiency_edges is None:  # one bin
            eps = np.repeat(np.asarray(efficiency)[:, :1], block.livetime_s.size, axis=1)
        else:
            eps = np.asarray(efficiency)[:, efficiency_bin(block.variable, np.asarray(efficiency_edges))]
        low = np.maximum(self.thresholds[:, None], self.cutoff_factor * block.cutoff_gv[None, :])
        ratio = low / self.thresholds[:, None]
        edge = np.where(ratio <= 1.0, 0, 1 + np.floor(np.log(ratio) / np.log(s.lower_edge_ratio)).astype(np.int64))
        edge = np.minimum(edge, self.edge_factors.size - 1)
        keys, inverse = np.unique(key, return_inverse=True)
        for k in keys:
            if int(k) not in self._cells:
                self._cells[int(k)] = len(self._phase)
                self._phase.append(np.zeros((n_thr, self.edge_factors.size, self.m.size), dtype=np.complex128))
                self._rotation_sum.append(np.zeros((3, 3)))
                self._lat_sum.append(0.0)
                self._live_sum.append(0.0)
        cell = np.array([self._cells[int(k)] for k in keys])[inverse]
        order = np.argsort(cell, kind="stable")
        bounds = np.searchsorted(cell[order], np.arange(len(self._phase) + 1))
        for c in np.unique(cell):
            rows = order[bounds[c]:bounds[c + 1]]
            live = block.livetime_s[rows]
            self._rotation_sum[c] += np.einsum("n,nij->ij", live, local[rows])
            self._lat_sum[c] += float(live @ lat[rows])
            self._live_sum[c] += float(live.sum())
            for t in range(n_thr):
                w = live * eps[t, rows]
                flat = np.zeros((self.edge_factors.size, self.m.size), dtype=np.complex128)
                np.add.at(flat, edge[t, rows], w[:, None] * phase[rows])
                self._phase[c][t] += flat

    def _cell_geometry(self, key: int, c: int):
        """(ENU directions of the acceptance points (n, 3), undeflected ECEF directions (n, 3), lat, lon) of
        cell c, in the Earth-fixed frame rotated to the cell's centre longitude."""
        s = self.settings
        i_lon = (key // s.n_azimuth) % self.n_lon
        lat_c = self._lat_sum[c] / self._live_sum[c]
        lon_c = self._lon_origin + (i_lon + 0.5) * s.lon_step_deg
        enu = self.points_det @ _polar(self._rotation_sum[c]).T
        enu[:, 2] = np.maximum(enu[:, 2], 1e-3)  # nothing below the horizon in practice (max zenith ~ 62 deg)
        enu /= np.linalg.norm(enu, axis=1, keepdims=True)
        east, north, up = enu_axes_ecef(lat_c, lon_c)
        straight = enu[:, :1] * east + enu[:, 1:2] * north + enu[:, 2:3] * up
        return enu, straight, lat_c, lon_c

    def _lookups(self, enu, lat_c, lon_c):
        """Asymptotic ECEF directions (n_nodes, n, 3) (NaN: forbidden) and allowed fractions (n_nodes, n)."""
        return self.table.lookup_fraction_nodes(lat_c, lon_c, enu, self.nodes_gv, self.charge_sign, clamp=True)

    def _alm_of(self, vectors, weights):
        theta = np.arccos(np.clip(vectors[:, 2], -1.0, 1.0))
        phi = np.mod(np.arctan2(vectors[:, 1], vectors[:, 0]), 2 * np.pi)
        loc = np.ascontiguousarray(np.column_stack([theta, phi]))
        return np.stack([ducc0.sht.adjoint_synthesis_general(
            map=np.ascontiguousarray(row[None, :]), spin=0, lmax=self.settings.lmax, loc=loc,
            epsilon=self.settings.epsilon, nthreads=1)[0] for row in np.atleast_2d(weights)])

    def galactic_alm(self) -> np.ndarray:
        """The correction (n_thr, n_alm(lmax)) in galactic coordinates, per unit of the normalised
        acceptance (the point weights sum to 1): multiply by the acceptance integral of each threshold.

        The detector histogram is the true acceptance times the exposure-weighted mean allowed fraction of its
        directions (forbidden trajectories above the cut never make events), so the deflected beams use the
        histogram divided by that mean (of the lowest threshold), times each cell's own allowed fraction, and
        the undeflected beam of threshold k the true acceptance times threshold k's mean allowed fraction
        (what the straight-line exposure of threshold k's histogram integrates)."""
        s = self.settings
        n_thr = self.thresholds.size
        cells = list(self._cells.items())
        shares_t = np.ascontiguousarray(self.shares.transpose(0, 2, 1))  # (n_thr, n_nodes + 1, n_edges)
        # S[t, q, m] = shares_t @ phase, formed per cell where used (pass 1 needs m = 0 only) instead of kept
        # for every cell; measured on the default proton job: the same peak memory (2.8 GB) and CPU either way
        # pass 1: the mean allowed fraction of every acceptance point, per threshold (weights: S at m = 0)
        numerator = np.zeros((n_thr, self.point_weights.size))
        denominator = np.zeros(n_thr)
        geometry, cached = {}, {}
        per_cell_bytes = 32 * self.nodes_gv.size * self.point_weights.size  # directions + fraction, float64
        cache_cells = int(_LOOKUP_CACHE_BYTES // max(per_cell_bytes, 1))
        for key, c in cells:
            geometry[c] = self._cell_geometry(key, c)
            lookup = self._lookups(geometry[c][0], *geometry[c][2:])
            if len(cached) < cache_cells:
                cached[c] = lookup
            weight = (shares_t @ self._phase[c][:, :, :1])[:, :, 0].real  # (n_thr, n_nodes + 1)
            numerator += weight[:, :-1] @ lookup[1] + weight[:, -1:]  # the infinity node is allowed
            denominator += weight.sum(axis=1)
        mean_allowed = numerator / np.maximum(denominator, 1e-300)[:, None]
        true_weights = self.point_weights / np.maximum(mean_allowed[0], 1e-3)
        # the undeflected beams of the thresholds are those of a few weight vectors (most thresholds see
        # every point allowed): transform an orthonormal basis of the rows, not each row (exact to 1e-12)
        basis, coefficients = _row_basis(np.vstack([true_weights[None, :] * mean_allowed, true_weights]))
        # accumulated as [m, t, l]: a node's weight S[t, q, m] depends on m only, so the sum over nodes is
        # one batched matrix product per cell over the m blocks of the alm
        ell, m_of = hp.Alm.getlm(s.lmax)
        padded = np.zeros((s.lmax + 1, n_thr, s.lmax + 1), dtype=np.complex128)
        for _, c in cells:
            enu, straight, lat_c, lon_c = geometry[c]
            asym, fraction = cached.pop(c) if c in cached else self._lookups(enu, lat_c, lon_c)
            vectors = np.where(np.isfinite(asym), asym, straight[None])
            weight = shares_t @ self._phase[c]  # (n_thr, n_nodes + 1, lmax + 1)
            # nodes that carry no weight in this cell (below the lowest edge's spill-over) are skipped
            used = np.flatnonzero(np.abs(weight[:, :-1]).max(axis=(0, 2)) > _NODE_WEIGHT_FLOOR * np.abs(weight).max())
            straight_alm = coefficients @ self._alm_of(straight, basis)  # (n_thr + 1, n_alm)
            beams = np.zeros((used.size + 1, s.lmax + 1, s.lmax + 1), dtype=np.complex128)  # [node, m, l]
            for i, q in enumerate(used):
                beams[i, m_of, ell] = self._alm_of(vectors[q], true_weights * fraction[q])[0]
            # the infinity node carries the undeflected true acceptance (allowed everywhere)
            beams[-1, m_of, ell] = straight_alm[-1]
            node_weight = weight[:, np.append(used, weight.shape[1] - 1)]  # (n_thr, used + 1, lmax + 1)
            padded += np.matmul(node_weight.transpose(2, 0, 1), beams.transpose(1, 0, 2))
            undeflected = np.zeros((n_thr, s.lmax + 1, s.lmax + 1), dtype=np.complex128)  # [t, m, l]
            undeflected[:, m_of, ell] = straight_alm[:-1]
            padded -= weight.sum(axis=1).T[:, :, None] * undeflected.transpose(1, 0, 2)
        total = padded[m_of, :, ell].T.copy()  # (n_thr, n_alm)
        if self._e0 is None:
            return total
        rotated = np.empty_like(total)
        for t in range(n_thr):
            rotated[t] = rotate_alm(total[t], self._e0, s.lmax)
        return rotated


def _row_basis(rows, tolerance: float = 1e-12):
    """(basis (r, n), coefficients (k, r)) with rows = coefficients @ basis to ``tolerance`` of the largest
    singular value (r <= k: rows that are multiples or combinations of others share transforms)."""
    u, singular, vt = np.linalg.svd(rows, full_matrices=False)
    keep = singular > tolerance * singular[0]
    return vt[keep], u[:, keep] * singular[keep]


def rotate_alm(alm, matrix, lmax: int) -> np.ndarray:
    """alm of f(M^T n) from those of f(n) (an active rotation by the 3x3 matrix M)."""
    out = np.array(alm, dtype=np.complex128, copy=True)
    hp.rotate_alm(out, lmax=lmax, matrix=np.asarray(matrix, dtype=np.float64))
    return out


__all__ = ["DeflectionCorrection", "DeflectionSettings", "earth_rotation", "node_shares", "quadrature_nodes",
           "rotate_alm"]
