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
  ``lower_edge_ratio``); the phase sums are kept per (cell, cutoff bin, efficiency bin) without the
  threshold (:mod:`phase_sums`: the cutoff bins are cut at every lower-edge boundary, so each threshold's
  sums are an exact contraction of them).

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
from .orbit_cells import aligned_origins, latitude_edges, polar
from .phase_sums import PhaseSums
from .rigidity_quadrature import node_shares, quadrature_nodes
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


class DeflectionCorrection:
    """Accumulates the phase sums over timeline blocks; :meth:`galactic_alm` ends with the correction.

    Parameters: table (AsymptoticTable), acceptance_counts (npix_det,) detector-frame histogram (RING) of
    the species' lowest threshold, charge_sign (+1/-1), thresholds, upper, integral_flux, cutoff_factor
    (as :func:`exposure_weights.cutoff_weights`), settings (DeflectionSettings), resolution: (MDR in GV, multiple-
    scattering term) of the measured observable, see :func:`node_shares`.

    Several weightings of the same timeline (the reference variants of one species: other efficiencies,
    cutoff factors, time factors, interval strides) are *channels*: ``cutoff_factor`` a sequence (one per
    channel) and :meth:`add_groups` with the interval weights of each group of channels (channels whose
    intervals carry the same threshold-independent weight share a group). The channels share the cells (their
    geometry from the block's livetime), the table lookups and the transforms of the deflected beams, which
    carry the true acceptance of channel 0; each channel has its own phase sums, node weights and mean
    allowed fraction (its undeflected beam). So a channel costs its phase sums and a few matrix products
    per cell, not the lookups and transforms (:func:`deflection_pass.deflection_alms`).
    """

    def __init__(self, table: AsymptoticTable, acceptance_counts, charge_sign: int, thresholds, upper,
                 integral_flux: Callable, cutoff_factor, settings: DeflectionSettings = DeflectionSettings(),
                 resolution: tuple[float, float] | None = None):
        self.table, self.settings = table, settings
        self.charge_sign = int(charge_sign)
        self.thresholds, self.upper = check_range(thresholds, upper)
        self.integral_flux = integral_flux
        self.cutoff_factors = np.atleast_1d(np.asarray(cutoff_factor, dtype=np.float64))
        if self.cutoff_factors.ndim != 1 or not np.all(np.isfinite(self.cutoff_factors)) or np.any(
                self.cutoff_factors <= 0):
            raise ValueError(f"cutoff_factor: expected positive numbers (one per channel), got {cutoff_factor!r}")
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
        self._lat_origin, self._lon_origin = aligned_origins(table, settings)
        self._lat_edges = latitude_edges(self._lat_origin, settings)
        n_cells = (self._lat_edges.size - 1) * self.n_lon * settings.n_azimuth  # cell = its key
        # cutoff bins cut at every lower-edge bin boundary of every threshold and cutoff factor: within a bin
        # each (threshold, channel) has one lower-edge bin (self._edge_of_bin[channel] (n_thr, n_cutoff_bins))
        ratios = settings.lower_edge_ratio ** np.arange(n_edges - 1)  # edge bin e -> e + 1 at ratio r^e
        self.cutoff_boundaries_gv = np.unique((self.thresholds[:, None, None] * ratios[None, None, :]
                                               / self.cutoff_factors[None, :, None]).ravel())
        b = self.cutoff_boundaries_gv
        inside = np.sqrt(b[1:] * b[:-1])
        representative = np.concatenate([[0.5 * b[0]], inside, [2.0 * b[-1]]])
        self._edge_of_bin = [self._edge_bins(representative, f) for f in self.cutoff_factors]
        self._phase: list[PhaseSums] = []  # per group of channels sharing their interval weights
        self._group_bins: list[int] = []  # efficiency bins of each group
        self._single_efficiency = None
        self._rotation_sum = np.zeros((n_cells, 9))  # per cell: sum of L_s livetime (row-major 3 x 3)
        self._lat_sum = np.zeros(n_cells)
        self._live_sum = np.zeros(n_cells)
        self._e0 = None

    @property
    def n_channels(self) -> int:
        return self.cutoff_factors.size

    @property
    def total_livetime_s(self) -> float:
        """The livetime accumulated into the cells (the blocks' livetime_s), s."""
        return float(self._live_sum.sum())

    def _edge_bins(self, cutoff_gv, factor):
        """Lower-edge bin (n_thr, n) of max(x_t, factor x cutoff) for each threshold t."""
        ratio = np.maximum(self.thresholds[:, None], factor * np.asarray(cutoff_gv)[None, :]) / self.thresholds[:, None]
        edge = np.where(ratio <= 1.0, 0,
                        1 + np.floor(np.log(ratio) / np.log(self.settings.lower_edge_ratio)).astype(np.int64))
        return np.minimum(edge, self.edge_factors.size - 1)

    def cutoff_bins(self, cutoff_gv) -> np.ndarray:
        """The cutoff bin of each interval (the class's first coordinate, :mod:`phase_sums`)."""
        return np.searchsorted(self.cutoff_boundaries_gv, cutoff_gv, side="right")

    def add(self, block, efficiency=None, efficiency_edges=None) -> None:
        """Accumulate a TimelineBlock (with iss_lat_deg, iss_lon_deg) into the single channel: weights its
        livetime times eps_t(bin of block.variable); efficiency (n_thr, n_bins) or None (1)."""
        if self.n_channels != 1:
            raise ValueError("add: this correction has several channels; use add_groups")
        n_thr, n = self.thresholds.size, block.livetime_s.size
        eps = np.ones((n_thr, 1)) if efficiency is None else np.asarray(efficiency, dtype=np.float64)
        if efficiency_edges is None:  # one bin
            eps, ebin = eps[:, :1], np.zeros(n, dtype=np.int64)
        else:
            ebin = efficiency_bin(block.variable, np.asarray(efficiency_edges))
        if self._single_efficiency is not None and self._single_efficiency.shape != eps.shape:
            raise ValueError("add: the efficiency changed shape between blocks")
        self._single_efficiency = eps
        self.add_groups(block, [(block.livetime_s, ebin, eps.shape[1])])

    def add_groups(self, block, groups) -> None:
        """Accumulate a TimelineBlock: the cells' geometry with its livetime_s; groups[g] = (w (n,) the
        threshold-independent weight of each interval in group g (0: not used), efficiency bin (n,), number of
        efficiency bins) - the channels of a group differ only by their efficiency per bin and cutoff factor."""
        s = self.settings
        lat, lon = block.iss_lat_deg, block.iss_lon_deg
        if not self._phase:
            n_cut = self.cutoff_boundaries_gv.size + 1
            self._group_bins = [int(n_bins) for _, _, n_bins in groups]
            self._phase = [PhaseSums(n_cut * n_bins, self.m.size) for n_bins in self._group_bins]
        if [int(n_bins) for _, _, n_bins in groups] != self._group_bins:
            raise ValueError(f"add_groups: expected groups with {self._group_bins} efficiency bins")
        e_s = earth_rotation(block.time_unix_s)
        if self._e0 is None:
            self._e0 = e_s[0].copy()
        relative = np.einsum("ji,njk->nik", self._e0, e_s)  # E_0^T E_s ~ Rz(alpha_s)
        alpha = np.arctan2(relative[:, 1, 0], relative[:, 0, 0])
        east, north, up = enu_axes_ecef(lat, lon)
        frame = np.stack([east, north, up], axis=-1)  # (n, 3 itrs, 3 enu): columns E, N, U
        # detector -> ENU: F^T E^T R
        local = np.matmul(frame.transpose(0, 2, 1), np.matmul(e_s.transpose(0, 2, 1), block.rotations))
        azimuth = np.arctan2(local[:, 0, 0], local[:, 1, 0])  # AMS x axis: atan2(east, north)
        i_lat = np.searchsorted(self._lat_edges, lat, side="right").astype(np.int64) - 1
        n_lon = self.n_lon
        i_lon = np.floor(np.mod(lon - self._lon_origin, 360.0) / s.lon_step_deg).astype(np.int64) % n_lon
        i_az = np.floor(np.mod(azimuth, 2 * np.pi) / (2 * np.pi) * s.n_azimuth).astype(np.int64) % s.n_azimuth
        cell = (i_lat * n_lon + i_lon) * s.n_azimuth + i_az
        n_cells = self._live_sum.size
        live = block.livetime_s
        for j in range(9):
            self._rotation_sum[:, j] += np.bincount(cell, live * local[:, j // 3, j % 3], minlength=n_cells)
        self._lat_sum += np.bincount(cell, live * lat, minlength=n_cells)
        self._live_sum += np.bincount(cell, live, minlength=n_cells)
        lon_centre = self._lon_origin + (i_lon + 0.5) * s.lon_step_deg
        psi = alpha + np.radians(lon - lon_centre)
        # exp(-i m psi) for m = 0..lmax as powers of exp(-i psi) (relative error ~ m x 1e-16; 5x faster than exp)
        phase = np.empty((psi.size, self.m.size), dtype=np.complex128)
        phase[:, 0] = 1.0
        phase[:, 1:] = np.exp(-1j * psi)[:, None]
        np.cumprod(phase, axis=1, out=phase)
        cutoff_bin = self.cutoff_bins(block.cutoff_gv)
        for sums, (weight, ebin, n_bins) in zip(self._phase, groups, strict=True):
            sums.add(cell, cutoff_bin * n_bins + np.asarray(ebin, dtype=np.int64), weight, phase)

    def _cell_geometry(self, c: int):
        """(ENU directions of the acceptance points (n, 3), undeflected ECEF directions (n, 3), lat, lon) of
        cell c, in the Earth-fixed frame rotated to the cell's centre longitude."""
        s = self.settings
        i_lon = (c // s.n_azimuth) % self.n_lon
        lat_c = self._lat_sum[c] / self._live_sum[c]
        lon_c = self._lon_origin + (i_lon + 0.5) * s.lon_step_deg
        enu = self.points_det @ polar(self._rotation_sum[c].reshape(3, 3)).T
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

    def _node_weights(self, ch, group, efficiency, rows, span, n_m=None):
        """S[t, q, m] = sum_u eps_t(u) shares[t, edge_t(u), q] Q[c, u, m] of one cell for channel ch, whose
        phase sums are group ``group``'s ``rows`` (keys, sums) in ``span`` and whose efficiency per bin of the group
        is ``efficiency`` (n_thr, n_bins): (n_thr, n_nodes + 1, n_m)."""
        keys, sums = rows
        n_m = self.m.size if n_m is None else n_m
        n_bins = self._group_bins[group]
        _, interval_class = self._phase[group].split(keys[span])
        cutoff_bin, ebin = interval_class // n_bins, interval_class % n_bins
        edge = self._edge_of_bin[ch][:, cutoff_bin]  # (n_thr, rows)
        coefficients = efficiency[:, ebin][:, :, None] * np.take_along_axis(
            self.shares, edge[:, :, None], axis=1)  # (n_thr, rows, n_nodes + 1)
        return np.einsum("trq,rm->tqm", coefficients, sums[span, :n_m])

    def galactic_alm(self) -> np.ndarray:
        """The correction (n_thr, n_alm(lmax)) of the single channel fed by :meth:`add`."""
        if self.n_channels != 1 or self._single_efficiency is None:
            raise ValueError("galactic_alm: the single channel of add(); use galactic_alm_channels otherwise")
        return self.galactic_alm_channels([0], [self._single_efficiency])[0]

    def galactic_alm_channels(self, channel_group, channel_efficiency) -> np.ndarray:
        """The correction (n_channels, n_thr, n_alm(lmax)) in galactic coordinates, per unit of the normalised
        acceptance (the point weights sum to 1): multiply by the acceptance integral of each threshold.

        The detector histogram is the true acceptance times the exposure-weighted mean allowed fraction of its
        directions (forbidden trajectories above the cut never make events), so the deflected beams use the
        histogram divided by that mean (of the lowest threshold, channel 0), times each cell's own allowed
        fraction, and the undeflected beam of threshold k the true acceptance times threshold k's mean allowed
        fraction in that channel (what the straight-line exposure of threshold k's histogram integrates).

        channel_group[ch]: the group (of :meth:`add_groups`) whose phase sums channel ch reads;
        channel_efficiency[ch] (n_thr, n_bins of the group): its efficiency per bin of the group."""
        s = self.settings
        n_thr, n_ch = self.thresholds.size, self.n_channels
        if len(channel_group) != n_ch or len(channel_efficiency) != n_ch:
            raise ValueError(f"galactic_alm_channels: expected a group and an efficiency for {n_ch} channel(s)")
        groups = [int(g) for g in channel_group]
        efficiencies = [np.asarray(e, dtype=np.float64) for e in channel_efficiency]
        for g, e in zip(groups, efficiencies, strict=True):
            if not 0 <= g < len(self._phase) or e.shape != (n_thr, self._group_bins[g]):
                raise ValueError(f"galactic_alm_channels: group {g} / efficiency of shape {e.shape} do not match "
                                 f"the groups' {self._group_bins} efficiency bins for {n_thr} thresholds")
        cells = np.flatnonzero(self._live_sum > 0)
        group_rows = [sums.rows() for sums in self._phase]
        group_spans = []
        for sums, (keys, _) in zip(self._phase, group_rows, strict=True):
            cell_of_row = sums.split(keys)[0]
            lo, hi = np.searchsorted(cell_of_row, cells, "left"), np.searchsorted(cell_of_row, cells, "right")
            group_spans.append([slice(a, b) for a, b in zip(lo, hi, strict=True)])
        rows = [group_rows[g] for g in groups]
        spans = [group_spans[g] for g in groups]
        # pass 1: the mean allowed fraction of every acceptance point, per channel and threshold (weights: m = 0)
        numerator = np.zeros((n_ch, n_thr, self.point_weights.size))
        denominator = np.zeros((n_ch, n_thr))
        geometry, cached = {}, {}
        per_cell_bytes = 32 * self.nodes_gv.size * self.point_weights.size  # directions + fraction, float64
        cache_cells = int(_LOOKUP_CACHE_BYTES // max(per_cell_bytes, 1))
        for i, c in enumerate(cells):
            geometry[c] = self._cell_geometry(c)
            lookup = self._lookups(geometry[c][0], *geometry[c][2:])
            if len(cached) < cache_cells:
                cached[c] = lookup
            for ch in range(n_ch):
                weight = self._node_weights(ch, groups[ch], efficiencies[ch], rows[ch], spans[ch][i],
                                            1)[:, :, 0].real  # (n_thr, n_nodes + 1)
                numerator[ch] += weight[:, :-1] @ lookup[1] + weight[:, -1:]  # the infinity node is allowed
                denominator[ch] += weight.sum(axis=1)
        mean_allowed = numerator / np.maximum(denominator, 1e-300)[:, :, None]
        true_weights = self.point_weights / np.maximum(mean_allowed[0, 0], 1e-3)
        # the undeflected beams of the thresholds are those of a few weight vectors (most thresholds see
        # every point allowed): transform an orthonormal basis of the rows, not each row (exact to 1e-12)
        basis, coefficients = _row_basis(np.vstack([true_weights[None, :] * mean_allowed.reshape(-1, true_weights.size),
                                                    true_weights]))
        # accumulated as [m, t, l]: a node's weight S[t, q, m] depends on m only, so the sum over nodes is
        # one batched matrix product per cell over the m blocks of the alm
        ell, m_of = hp.Alm.getlm(s.lmax)
        padded = np.zeros((n_ch, s.lmax + 1, n_thr, s.lmax + 1), dtype=np.complex128)
        for i, c in enumerate(cells):
            enu, straight, lat_c, lon_c = geometry.pop(c)
            asym, fraction = cached.pop(c) if c in cached else self._lookups(enu, lat_c, lon_c)
            vectors = np.where(np.isfinite(asym), asym, straight[None])
            weights = [self._node_weights(ch, groups[ch], efficiencies[ch], rows[ch], spans[ch][i])
                       for ch in range(n_ch)]  # (n_thr, nodes + 1, m)
            # nodes that carry no weight in this cell (below the lowest edge's spill-over) are skipped
            used = np.flatnonzero(np.any([np.abs(w[:, :-1]).max(axis=(0, 2)) > _NODE_WEIGHT_FLOOR * np.abs(w).max()
                                          for w in weights], axis=0))
            straight_alm = coefficients @ self._alm_of(straight, basis)  # (n_ch x n_thr + 1, n_alm)
            beams = np.zeros((used.size + 1, s.lmax + 1, s.lmax + 1), dtype=np.complex128)  # [node, m, l]
            for j, q in enumerate(used):
                beams[j, m_of, ell] = self._alm_of(vectors[q], true_weights * fraction[q])[0]
            # the infinity node carries the undeflected true acceptance (allowed everywhere)
            beams[-1, m_of, ell] = straight_alm[-1]
            beams_mql = beams.transpose(1, 0, 2)
            for ch, weight in enumerate(weights):
                node_weight = weight[:, np.append(used, weight.shape[1] - 1)]  # (n_thr, used + 1, lmax + 1)
                padded[ch] += np.matmul(node_weight.transpose(2, 0, 1), beams_mql)
                undeflected = np.zeros((n_thr, s.lmax + 1, s.lmax + 1), dtype=np.complex128)  # [t, m, l]
                undeflected[:, m_of, ell] = straight_alm[ch * n_thr:(ch + 1) * n_thr]
                padded[ch] -= weight.sum(axis=1).T[:, :, None] * undeflected.transpose(1, 0, 2)
        total = padded[:, m_of, :, ell].transpose(1, 2, 0).copy()  # (n_ch, n_thr, n_alm)
        if self._e0 is None:
            return total
        for ch in range(n_ch):
            for t in range(n_thr):
                total[ch, t] = rotate_alm(total[ch, t], self._e0, s.lmax)
        return total


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
