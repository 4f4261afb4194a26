"""Efficiency in time blocks: the ``efftime`` reference variant.

The nominal reference has one efficiency per trigger-rate bin for the whole period, so an efficiency change
that lasts a few days (a dead tracker region, a DAQ problem) puts the sky seen in those days too low or too
high. ``efftime`` bins the efficiency jointly in the nominal trigger-rate bins b and in time blocks t of
``reference.efficiency_time_block_days``:

    eps_k(t, b) = eps_k(b) c(t, b),   c(t, b) = (N_tb / E_tb) / (N_b / E_b)

* N_tb: selected events of the lowest threshold in block t and rate bin b (:class:`TimeBlockHistogram`,
  written by the binning, ``efficiency_time.csv``); E_tb = sum L w of the lowest threshold over the
  good intervals of the cell (:func:`time_block_exposure`, one cheap pass over the timeline without
  harmonics); N_b, E_b the sums over the blocks (the whole-period bin);
* the time factor c is the lowest threshold's (the most events: the thresholds are cumulative) for every
  threshold, as the nominal pooling rule borrows a lower threshold's efficiency: an efficiency change in
  time that depends on rigidity is not followed;
* the reference engine multiplies every interval's livetime by c of its cell and then estimates eps_k(b)
  per threshold as the nominal does, with that weighted livetime (for the lowest threshold the product
  is then exactly N_tb / E_tb, normalised). So the variant costs the nominal's harmonic pass plus one pass
  over the timeline's columns;
* minimum events (``reference.efficiency_min_events_per_bin``): a cell with fewer events takes its
  block's factor, all rate bins of the block merged (events of the block / events the whole-period
  bins predict for it); a block with fewer events than that too takes c = 1 (the whole-period bins).

Blocks are aligned on multiples of the block length since the Unix epoch (UTC midnights for 1-day blocks);
an interval belongs to the block of its start time. An efficiency change that starts inside a block is
followed from the next block on (the block holding the edge gets its mean).

Absorption: a block sees only the sky band around that block's orbit plane, and a rate bin of a block a
part of that band, so c(t, b) also absorbs part of a real dipole (as the time shuffling does); the
variant's shift from the nominal on data with a real dipole is not a pure detector systematic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import io
from .binning import check_thresholds, cumulative_counts, threshold_label
from .exposure_weights import cutoff_weights, efficiency_bin

DAY_S = 86400.0
BLOCK_KEY = "reference.efficiency_time_block_days"
BLOCK_COLUMNS = ("time_block_start_unix_s", "time_block_end_unix_s")


def check_block_days(value) -> float:
    """The block length in days, checked finite and > 0 (ValueError naming the config key)."""
    try:
        days = float(value)
    except (TypeError, ValueError):
        days = float("nan")
    if not (np.isfinite(days) and days > 0):
        raise ValueError(f"{BLOCK_KEY} must be a positive number of days, got {value!r}")
    return days


def time_block_index(time_unix_s, block_s: float) -> np.ndarray:
    """Block number floor(t / block_s) of POSIX times (int64)."""
    return np.floor(np.asarray(time_unix_s, dtype=np.float64) / block_s).astype(np.int64)


class TimeBlockHistogram:
    """Selected events per threshold, time block and bin of the trigger rate, chunk by chunk.

    ``thresholds``, ``upper``: the cumulative ranges (as :class:`binning.MapAccumulator`); ``edges``: the
    trigger-rate edges, Hz (underflow and overflow bins added); ``block_days``: block length, days.
    Only blocks holding events are stored; counts are int64, so chunks add up exactly.
    """

    variable = "trigger_rate_hz"

    def __init__(self, thresholds, upper, edges, block_days, unit: str = "GV"):
        self.thresholds, self.upper = check_thresholds(thresholds, upper)
        self.edges = np.asarray(edges, dtype=np.float64)
        if self.edges.ndim != 1 or self.edges.size < 2 or np.any(np.diff(self.edges) <= 0):
            raise ValueError(f"trigger-rate edges must be strictly increasing (>= 2 values), got {self.edges}")
        self.block_s = check_block_days(block_days) * DAY_S
        self.labels = [threshold_label(t, unit) for t in self.thresholds]
        self.counts: dict[int, np.ndarray] = {}  # block -> (n_thr, len(edges) + 1)

    def add(self, selected: pd.DataFrame, path: str = "<selected>") -> None:
        """Add one chunk of selected events (columns observable, time_unix_s, trigger_rate_hz)."""
        columns = ["observable", "time_unix_s", self.variable]
        missing = [c for c in columns if c not in selected.columns]
        if missing:
            raise io.InputError(f"{path}: missing column(s) {', '.join(missing)}")
        if len(selected) == 0:
            return
        values = {c: selected[c].to_numpy(dtype=np.float64) for c in columns}
        for name, column in values.items():
            if not np.all(np.isfinite(column)):
                raise io.InputError(f"{path}: column {name} has non-finite values")
        n_bins = self.edges.size + 1
        blocks, local = np.unique(time_block_index(values["time_unix_s"], self.block_s), return_inverse=True)
        cell = local * n_bins + np.searchsorted(self.edges, values[self.variable], side="right")
        counts = cumulative_counts(values["observable"], cell, self.thresholds, self.upper, blocks.size * n_bins)
        counts = counts.reshape(self.thresholds.size, blocks.size, n_bins)
        for i, block in enumerate(blocks.tolist()):
            if block in self.counts:
                self.counts[block] += counts[:, i]
            else:
                self.counts[block] = counts[:, i].copy()

    def table(self) -> pd.DataFrame:
        """One row per (block, rate bin), blocks in time order: the block's start and end (POSIX s), the
        bin's bin_low, bin_high (Hz, -inf / inf for the underflow / overflow) and one count column per
        threshold label."""
        blocks = sorted(self.counts)
        n_bins = self.edges.size + 1
        low = np.concatenate([[-np.inf], self.edges])
        high = np.concatenate([self.edges, [np.inf]])
        start = np.repeat(np.asarray(blocks, dtype=np.float64) * self.block_s, n_bins)
        frame = pd.DataFrame({BLOCK_COLUMNS[0]: start, BLOCK_COLUMNS[1]: start + self.block_s,
                              "bin_low": np.tile(low, len(blocks)), "bin_high": np.tile(high, len(blocks))})
        stacked = (np.stack([self.counts[b] for b in blocks], axis=1) if blocks
                   else np.zeros((self.thresholds.size, 0, n_bins), dtype=np.int64))
        for k, label in enumerate(self.labels):
            frame[label] = stacked[k].reshape(-1)
        return frame


@dataclass(frozen=True)
class TimeBlockEvents:
    """Events of one threshold per time block and rate bin: block_s (s), blocks (n_blk,) sorted block
    numbers, counts (n_blk, n_bins) for the bins of ``edges`` (Hz, underflow and overflow added)."""

    block_s: float
    blocks: np.ndarray
    counts: np.ndarray
    edges: tuple


def read_time_histogram(table: pd.DataFrame, edges, label: str, block_days,
                        path: str = "<efficiency_time table>") -> TimeBlockEvents:
    """The ``label`` column of a :meth:`TimeBlockHistogram.table` summed into the bins of ``edges`` (a subset
    of the table's edges, e.g. the nominal ones of the refined histogram). Raises ValueError naming ``path``
    if the column is missing, the blocks are not ``block_days`` long or the edges do not fit."""
    block_s = check_block_days(block_days) * DAY_S
    missing = [c for c in (*BLOCK_COLUMNS, "bin_low", "bin_high", label) if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)}")
    edges = np.asarray(edges, dtype=np.float64)
    if table.empty:
        return TimeBlockEvents(block_s, np.zeros(0, dtype=np.int64), np.zeros((0, edges.size + 1)), tuple(edges))
    start = table[BLOCK_COLUMNS[0]].to_numpy(dtype=np.float64)
    length = table[BLOCK_COLUMNS[1]].to_numpy(dtype=np.float64) - start
    if not np.allclose(length, block_s, rtol=1e-9, atol=0):
        raise ValueError(f"{path}: time blocks of {length[0] / DAY_S:g} days, the config asks for "
                         f"{block_s / DAY_S:g} ({BLOCK_KEY}; re-run bin_events)")
    blocks, inverse = np.unique(np.rint(start / block_s).astype(np.int64), return_inverse=True)
    n_fine = table.shape[0] // blocks.size
    fine_edges = table["bin_high"].to_numpy(dtype=np.float64)[: n_fine - 1]
    position = np.searchsorted(fine_edges, edges)
    if n_fine * blocks.size != table.shape[0] or np.any(position >= fine_edges.size) or not np.allclose(
            fine_edges[np.minimum(position, fine_edges.size - 1)], edges, rtol=0, atol=1e-9 * np.abs(edges).max()):
        raise ValueError(f"{path}: the trigger-rate edges {edges.tolist()} are not a subset of the table's "
                         f"{fine_edges.tolist()} (or the blocks do not all hold every bin)")
    fine_index = np.tile(np.arange(n_fine), blocks.size)
    coarse_of_fine = np.searchsorted(edges, np.concatenate([[-np.inf], fine_edges]), side="right")
    counts = np.zeros((blocks.size, edges.size + 1))
    np.add.at(counts, (inverse, coarse_of_fine[fine_index]), table[label].to_numpy(dtype=np.float64))
    return TimeBlockEvents(block_s, blocks, counts, tuple(edges))


def time_block_exposure(blocks_of_timeline, threshold: float, upper, integral_flux, cutoff_factor: float,
                        edges, block_s: float) -> tuple[np.ndarray, np.ndarray]:
    """(blocks (n_blk,), E (n_blk, n_bins)): sum L w of one threshold per time block and rate bin, s, over
    :class:`exposure_weights.TimelineBlock` s (one pass over the timeline's columns, no harmonics)."""
    n_bins = len(edges) + 1
    sums: dict[int, np.ndarray] = {}
    for block in blocks_of_timeline:
        lw = block.livetime_s * cutoff_weights(block.cutoff_gv, [threshold], upper, integral_flux,
                                               cutoff_factor)[:, 0]
        numbers, local = np.unique(time_block_index(block.time_unix_s, block_s), return_inverse=True)
        cell = local * n_bins + efficiency_bin(block.variable, edges)
        per_cell = np.bincount(cell, weights=lw, minlength=numbers.size * n_bins).reshape(numbers.size, n_bins)
        for i, number in enumerate(numbers.tolist()):
            sums[number] = sums.get(number, 0.0) + per_cell[i]
    blocks = np.array(sorted(sums), dtype=np.int64)
    return blocks, (np.stack([sums[b] for b in blocks.tolist()]) if blocks.size else np.zeros((0, n_bins)))


@dataclass(frozen=True)
class TimeEfficiency:
    """The time factor c(t, b) of every (block, rate bin) with exposure: block_s (s), blocks (n_blk,),
    factors (n_blk, n_bins); cell_estimated / block_estimated: which cells have their own factor and
    which blocks their merged factor (the others: c = 1)."""

    block_s: float
    blocks: np.ndarray
    factors: np.ndarray
    edges: tuple
    cell_estimated: np.ndarray
    block_estimated: np.ndarray

    def interval_factors(self, time_unix_s, variable) -> np.ndarray:
        """c of each interval (its start time's block, its rate bin); 1 in blocks without exposure."""
        number = time_block_index(time_unix_s, self.block_s)
        row = np.searchsorted(self.blocks, number)
        known = (row < self.blocks.size) & (self.blocks[np.minimum(row, self.blocks.size - 1)] == number)
        out = np.ones(number.size)
        out[known] = self.factors[row[known], efficiency_bin(np.asarray(variable)[known], self.edges)]
        return out


def estimate_time_efficiency(events: TimeBlockEvents, exposure_blocks, exposure,
                             min_events_per_bin: float = 400.0) -> TimeEfficiency:
    """c(t, b) from the lowest threshold's events and exposure per (block, rate bin) (module docstring).

    ``exposure_blocks`` (n_blk,), ``exposure`` (n_blk, n_bins): :func:`time_block_exposure`; event blocks
    without exposure are ignored (events outside the timeline are refused by the selection)."""
    exposure = np.asarray(exposure, dtype=np.float64)
    if exposure.ndim != 2 or exposure.shape[1] != len(events.edges) + 1 or exposure.shape[0] != len(exposure_blocks):
        raise ValueError(f"exposure: expected shape (n_blocks, {len(events.edges) + 1}), got {exposure.shape}")
    if not (np.isfinite(min_events_per_bin) and min_events_per_bin >= 0):
        raise ValueError(f"min_events_per_bin must be >= 0, got {min_events_per_bin!r}")
    counts = np.zeros_like(exposure)
    row = np.searchsorted(exposure_blocks, events.blocks)
    known = (row < len(exposure_blocks)) & (np.asarray(exposure_blocks)[np.minimum(row, len(exposure_blocks) - 1)]
                                             == events.blocks)
    counts[row[known]] = events.counts[known]
    n_bin, e_bin = counts.sum(axis=0), exposure.sum(axis=0)
    rate = np.divide(n_bin, e_bin, out=np.zeros_like(n_bin), where=(e_bin > 0) & (n_bin > 0))
    expected = exposure * rate[None, :]  # events the whole-period bins predict per cell
    cell_ok = (expected > 0) & (counts >= min_events_per_bin)
    n_block, x_block = counts.sum(axis=1), expected.sum(axis=1)
    block_ok = (x_block > 0) & (n_block >= min_events_per_bin)
    block_factor = np.divide(n_block, x_block, out=np.ones_like(n_block), where=block_ok)
    cell_factor = np.divide(counts, expected, out=np.ones_like(counts), where=cell_ok)
    factors = np.where(cell_ok, cell_factor, block_factor[:, None])
    return TimeEfficiency(events.block_s, np.asarray(exposure_blocks, dtype=np.int64), factors, events.edges,
                          cell_ok, block_ok)
