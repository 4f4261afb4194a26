"""The timeline pass of the deflection correction, for one reference or several sharing it.

A reference variant weights each good interval s of the timeline by W_t(s) = L_s x stride factor x time
factor c(s) x eps_t(bin of its efficiency variable) (:mod:`ams_anisotropy.reference`). The deflection
correction (:class:`deflected_exposure.DeflectionCorrection`) repeats these weights; its costly part, the
table lookups and the harmonic transforms of the deflected beams per cell, does not depend on them. So the
reference variants of a species are channels of one correction: :func:`deflection_alms` reads the timeline
once, gives every channel its weights (:class:`DeflectionChannel`), and returns each channel's correction
in the harmonic layout of its reference.

Approximations of the sharing (second order: the correction is a difference of two beams of the same
shape): the cells' mean attitude and latitude are livetime-weighted without the channels' factors, and the
deflected beams carry the acceptance shape and mean allowed fraction of channel 0 (the nominal reference's
lowest threshold); each channel keeps its own efficiency, cutoff factor, time factors and stride in its
phase sums and its own mean allowed fraction in its undeflected beam.
"""

from __future__ import annotations

from dataclasses import dataclass

import healpy as hp
import numpy as np

from .efficiency_time import TimeEfficiency
from .exposure_weights import efficiency_bin, timeline_blocks

ROWS_PER_CALL = 65536  # intervals per accumulation call (bounds the phase matrix: 65536 x 49 complex = 51 MB)


@dataclass(frozen=True)
class DeflectionChannel:
    """The interval weights of one reference in the correction: cutoff_factor of its selection;
    efficiency_variable ("trigger_rate_hz" or "cutoff": the block's cutoff column); efficiency (n_thr, n_bins)
    or None (1) and its efficiency_edges (None: one bin); interval_stride (every n-th interval of a block with
    n times its livetime, as the straight exposure's ``cadence2``); time_efficiency (the ``efftime`` factors)."""

    cutoff_factor: float
    efficiency_variable: str = "trigger_rate_hz"
    efficiency: np.ndarray | None = None
    efficiency_edges: np.ndarray | None = None
    interval_stride: int = 1
    time_efficiency: TimeEfficiency | None = None

    def group_key(self):
        """Channels with the same key share their phase sums (they differ by eps per bin and cutoff factor)."""
        variable = self.efficiency_variable if self.efficiency_edges is not None else None
        return variable, self.interval_stride, id(self.time_efficiency) if self.time_efficiency is not None else None


@dataclass(frozen=True)
class _Group:
    """Channels sharing their interval weights: the efficiency variable (None: one bin) and the union of
    their efficiency edges (each channel's bins are unions of these), stride, time factors."""

    variable: str | None
    edges: np.ndarray | None
    interval_stride: int
    time_efficiency: TimeEfficiency | None

    @property
    def n_bins(self) -> int:
        return 1 if self.edges is None else self.edges.size + 1

    def weights(self, block, rows: slice):
        """(w (n_rows,), efficiency bin (n_rows,)) of the intervals ``rows`` of a timeline block read with the
        trigger rate as its variable (rows index the whole block: the stride counts from its first interval)."""
        live = block.livetime_s[rows]
        if self.interval_stride > 1:
            kept = np.arange(block.livetime_s.size)[rows] % self.interval_stride == 0
            live = np.where(kept, live * self.interval_stride, 0.0)
        if self.time_efficiency is not None:
            live = live * self.time_efficiency.interval_factors(block.time_unix_s[rows], block.variable[rows])
        if self.edges is None:
            return live, np.zeros(live.size, dtype=np.int64)
        variable = (block.cutoff_gv if self.variable == "cutoff" else block.variable)[rows]
        return live, efficiency_bin(variable, self.edges)

    def channel_efficiency(self, channel: DeflectionChannel, n_thr: int) -> np.ndarray:
        """The channel's eps (n_thr, n_bins) on this group's bins."""
        if channel.efficiency is None:
            return np.ones((n_thr, self.n_bins))
        eps = np.asarray(channel.efficiency, dtype=np.float64)
        if channel.efficiency_edges is None:
            return np.repeat(eps[:, :1], self.n_bins, axis=1)
        lower = np.concatenate([[-np.inf], self.edges])  # each bin's lower edge (0: the underflow)
        return eps[:, np.searchsorted(np.asarray(channel.efficiency_edges, dtype=np.float64), lower, side="right")]


def _groups(channels):
    """(groups, group index of each channel)."""
    keys, members = [], []
    for channel in channels:
        key = channel.group_key()
        if key not in keys:
            keys.append(key)
            members.append([])
        members[keys.index(key)].append(channel)
    groups = []
    for (variable, stride, _), group in zip(keys, members, strict=True):
        edges = [np.asarray(c.efficiency_edges, dtype=np.float64) for c in group if c.efficiency_edges is not None]
        groups.append(_Group(variable, np.unique(np.concatenate(edges)) if edges else None, stride,
                             group[0].time_efficiency))
    return groups, [keys.index(c.group_key()) for c in channels]


def deflection_alms(correction, timeline, cone_column: str, time_max_unix_s, channels, beams, lmaxes):
    """Each channel's correction of its reference's alm[:, 0], (n_thr, n_alm(lmax_i)), scaled to its acceptance.

    correction: a :class:`deflected_exposure.DeflectionCorrection` with one cutoff factor per channel (in
    order); timeline: paths or frames (read once more); channels: :class:`DeflectionChannel` per reference;
    beams[i]: that reference's harmonic beams (its acceptance integral per threshold, a_00 of beam 0);
    lmaxes[i]: its band limit (>= the correction's).
    """
    if not (len(channels) == len(beams) == len(lmaxes) == correction.n_channels):
        raise ValueError(f"deflection_alms: {correction.n_channels} channel(s) in the correction, got "
                         f"{len(channels)} channels, {len(beams)} beams, {len(lmaxes)} band limits")
    for channel, factor in zip(channels, correction.cutoff_factors, strict=True):
        if channel.cutoff_factor != factor:
            raise ValueError(f"deflection_alms: channel cutoff factor {channel.cutoff_factor:g} != the "
                             f"correction's {factor:g}")
    low = correction.settings.lmax
    for lmax in lmaxes:
        if low > lmax:
            raise ValueError(f"reference.deflection.lmax ({low}) must not exceed reference.lmax ({lmax})")
    n_thr = correction.thresholds.size
    groups, channel_group = _groups(channels)
    for block in timeline_blocks(timeline, cone_column, "trigger_rate_hz", time_max_unix_s=time_max_unix_s,
                                 with_position=True):
        for start in range(0, block.livetime_s.size, ROWS_PER_CALL):
            rows = slice(start, start + ROWS_PER_CALL)
            correction.add_groups(block.rows(rows), [(*g.weights(block, rows), g.n_bins) for g in groups])
    small = correction.galactic_alm_channels(  # per unit normalised acceptance
        channel_group, [groups[g].channel_efficiency(c, n_thr) for c, g in zip(channels, channel_group, strict=True)])
    out = []
    ell, m = hp.Alm.getlm(low)
    for alm, beam, lmax in zip(small, beams, lmaxes, strict=True):
        acceptance_integral = np.sqrt(4.0 * np.pi) * np.asarray(beam)[:, 0, 0].real  # a_00 = integral / sqrt(4 pi)
        padded = np.zeros((n_thr, hp.Alm.getsize(lmax)), dtype=np.complex128)
        padded[:, hp.Alm.getidx(lmax, ell, m)] = alm
        out.append(padded * acceptance_integral[:, None])
    return out


__all__ = ["DeflectionChannel", "ROWS_PER_CALL", "deflection_alms"]
