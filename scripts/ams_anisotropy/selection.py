"""The per-species event selection of a chunk (the driver) and its cut-flow table.

One call of :func:`select_species` selects every species of a run from one chunk of events (all
particles in one stream, columns of ``io.EVENT_SCHEMA``, read once) using the chunk's timeline
(``io.TIMELINE_SCHEMA``); :func:`select_events` is the same for one species.
Every event is matched to its timeline interval ``[time_unix_s, time_unix_s + duration_s)``
(:func:`match_intervals`); the cuts of each species (:mod:`species_cuts`: the paper's cuts, their
parameters and their fixed order) are then applied one after the other, each one a row of the
cut-flow after the first row ``all`` (every event of the chunk).

Monte Carlo truth (``mc_particle``, ``mc_origin``), when present, is only used for reporting: each
cut-flow row then also counts the true signal passing (``signal_out``: the species itself, primary)
and each background class (``background_<class>_out``): other particles by name (charge confusion
for e± shows up as ``background_positron_out`` in the electron sample, protons as
``background_proton_out``), ``albedo`` and ``poor_track`` (classified by ``mc_origin`` first).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from . import io
from .cutflow import (  # noqa: F401 (re-exported: the binning, the summary and the tests use them here)
    CUTFLOW_COLUMNS,
    MC_BACKGROUND_ORIGINS,
    MC_PARTICLES,
    MC_PRIMARY_ORIGIN,
    _background_classes,
    _truth_codes,
    contamination,
    cutoff_factor_cutflow,
    merge_cutflows,
    passes_cutoff_factor,
)
from .species_cuts import OBSERVABLE_UNITS, OBSERVABLES, SpeciesCuts, cut_steps  # noqa: F401 (re-exported)

LOG = logging.getLogger(__name__)

# event columns the selection reads (the truth columns are optional)
_EVENT_COLUMNS_USED = [
    "event_id",
    "time_unix_s",
    "rigidity_gv",
    "rigidity_full_span_gv",
    "track_chi2_ndf",
    "has_l1",
    "has_l9",
    "n_inner_layers",
    "charge",
    "beta",
    "has_trd_track",
    "trd_estimator",
    "has_ecal_cluster",
    "ecal_energy_gev",
    "ecal_estimator",
    "dir_det_x",
    "dir_det_y",
    "dir_det_z",
    "gal_l_deg",
    "gal_b_deg",
]
_EVENT_FINITE_COLUMNS = ["time_unix_s", "dir_det_x", "dir_det_y", "dir_det_z", "gal_l_deg", "gal_b_deg"]


def _check_frame(frame: pd.DataFrame, columns, path: str, finite_columns=()) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise io.InputError(f"{path}: expected a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise io.InputError(f"{path}: missing column(s) {', '.join(missing)}")
    for name in finite_columns:
        values = frame[name].to_numpy()
        if values.dtype.kind not in "fiu":
            raise io.InputError(f"{path}: column {name} has dtype {values.dtype}, expected numbers")
        bad = ~np.isfinite(values)
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise io.InputError(
                f"{path}: column {name} has {int(bad.sum())} non-finite value(s) (first at row {first})"
            )


def match_intervals(
    event_times, timeline_start, timeline_duration, *, events_path="<events>", timeline_path="<timeline>"
) -> np.ndarray:
    """Index of the timeline interval of each event.

    Parameters
    ----------
    event_times : array (n,) of float, s
        Event times (UTC POSIX seconds).
    timeline_start : array (m,) of float, s
        Start of each interval, strictly increasing.
    timeline_duration : array (m,) of float, s
        Length of each interval (> 0).

    Returns
    -------
    array (n,) of int64: the row of the interval ``[start, start + duration)`` holding each event.
    Raises io.InputError naming ``events_path`` when an event lies outside the timeline or in a gap
    between intervals, and naming ``timeline_path`` when the timeline is not ordered.
    """
    start = np.asarray(timeline_start, dtype=np.float64)
    duration = np.asarray(timeline_duration, dtype=np.float64)
    times = np.asarray(event_times, dtype=np.float64)
    if start.size == 0:
        raise io.InputError(f"{timeline_path}: the timeline has no rows")
    if np.any(np.diff(start) <= 0):
        raise io.InputError(f"{timeline_path}: time_unix_s is not strictly increasing")
    if np.any(~(duration > 0)):
        raise io.InputError(f"{timeline_path}: duration_s must be positive")
    io.check_times_in_timeline(times, start[0], start[-1] + duration[-1], events_path)
    index = np.searchsorted(start, times, side="right") - 1
    in_gap = times >= start[index] + duration[index]
    if in_gap.any():
        raise io.InputError(
            f"{events_path}: {int(in_gap.sum())} event(s) fall in a gap of the timeline {timeline_path}, "
            f"first at time_unix_s={times[in_gap][0]:.3f}"
        )
    return index


class _Columns:
    """Event columns and the quantities of each event's interval, for the rows a cut looks at.

    Floating columns are compared in float64 (as the cuts are defined), converted for the rows at hand
    only, so the memory stays that of the events frame whatever the number of species."""

    def __init__(self, events: pd.DataFrame, timeline: pd.DataFrame, interval: np.ndarray):
        self.events, self.timeline, self.interval = events, timeline, interval
        self._cache: dict = {}

    def __call__(self, name: str, rows) -> np.ndarray:
        if name not in self._cache:
            self._cache[name] = self.events[name].to_numpy()
        values = self._cache[name][rows]
        return values.astype(np.float64) if values.dtype.kind == "f" else values

    def observable(self, cuts: SpeciesCuts, rows) -> np.ndarray:
        """The species' observable (|rigidity| or ECAL energy) in float64, rounded to float32 first: the
        dtype it is written with, so that the binning's cutoff-factor filter agrees with the selection."""
        name = "ecal_energy_gev" if cuts.observable == "ecal_energy" else cuts.rigidity_column
        return np.abs(self(name, rows)).astype(np.float32).astype(np.float64)

    def interval_value(self, column: str) -> np.ndarray:
        key = ("timeline", column)
        if key not in self._cache:
            self._cache[key] = self.timeline[column].to_numpy()[self.interval]
        return self._cache[key]


class _Truth:
    """Monte Carlo truth as one small integer per event (particle x origin), factorised once per chunk."""

    def __init__(self, events: pd.DataFrame, events_path: str):
        particle_codes, particles = pd.factorize(events["mc_particle"], use_na_sentinel=False)
        origin_codes, origins = pd.factorize(events["mc_origin"], use_na_sentinel=False)
        self.particles, self.origins = [str(u) for u in particles], [str(u) for u in origins]
        known = {MC_PRIMARY_ORIGIN, *MC_BACKGROUND_ORIGINS}
        unknown = sorted(set(self.origins) - known)
        if unknown:
            raise io.InputError(f"{events_path}: unknown mc_origin value(s) {unknown}; known: {sorted(known)}")
        self.size = len(self.particles) * len(self.origins)
        self.code = (particle_codes.astype(np.int64) * len(self.origins) + origin_codes).astype(np.int32)

    def counts(self, rows) -> np.ndarray:
        return np.bincount(self.code[rows], minlength=self.size)

    def classes(self, species: str):
        """The species' background classes and the class (0 = signal) of every truth code."""
        classes = _background_classes(species, self.particles)
        position = {name: i for i, name in enumerate(["signal", *classes])}
        mapping = np.empty(self.size, dtype=np.int64)
        for p, particle in enumerate(self.particles):
            for o, origin in enumerate(self.origins):
                if origin in MC_BACKGROUND_ORIGINS:
                    mapping[p * len(self.origins) + o] = position[origin]
                else:
                    mapping[p * len(self.origins) + o] = 0 if particle == species else position[particle]
        return classes, mapping


def select_species(events: pd.DataFrame, timeline: pd.DataFrame, cuts_list, *, events_path: str = "<events>",
                   timeline_path: str = "<timeline>"):
    """Select several species from one chunk of events in one pass: a list of (selected, cutflow) per cuts.

    The same result as :func:`select_events` for each species; the work shared by species (interval
    matching, float conversions, truth codes, and every prefix of identical cuts, e.g. the nuclei's
    good interval, beta, L1, inner-layer and chi2 cuts) is done once. Each cut is evaluated on the
    events passing the previous ones only.
    """
    cuts_list = list(cuts_list)
    _check_frame(events, _EVENT_COLUMNS_USED, events_path, _EVENT_FINITE_COLUMNS)
    timeline_columns = ["time_unix_s", "duration_s", "good", "trigger_rate_hz",
                        *dict.fromkeys(c.cutoff_column for c in cuts_list)]
    _check_frame(timeline, timeline_columns, timeline_path, ["time_unix_s", "duration_s"])
    interval = match_intervals(events["time_unix_s"].to_numpy(), timeline["time_unix_s"].to_numpy(),
                               timeline["duration_s"].to_numpy(), events_path=events_path, timeline_path=timeline_path)
    col = _Columns(events, timeline, interval)
    truth = _Truth(events, events_path) if all(c in events.columns for c in ("mc_particle", "mc_origin")) else None
    plans = [cut_steps(cuts, col) for cuts in cuts_list]
    # prefixes of cut keys still needed by a later species (freed once the last one used them)
    uses: dict = {}
    for steps in plans:
        for k in range(1, len(steps) + 1):
            prefix = tuple(key for _, key, _ in steps[:k])
            uses[prefix] = uses.get(prefix, 0) + 1
    everything = np.arange(len(events), dtype=np.int32 if len(events) < 2**31 else np.int64)
    start = (everything, truth.counts(everything) if truth else None)
    cache: dict = {}
    results = []
    for cuts, steps in zip(cuts_list, plans, strict=True):
        rows, counts = start
        table = [("all", rows.size, counts)]
        prefix: tuple = ()
        for name, key, test in steps:
            prefix += (key,)
            if prefix not in cache:
                passed = np.asarray(test(rows), dtype=bool)
                kept = rows[passed]
                if truth is None:
                    kept_counts = None
                elif 2 * kept.size <= rows.size:
                    kept_counts = truth.counts(kept)
                else:  # count the (fewer) events the cut removes
                    kept_counts = counts - truth.counts(rows[~passed])
                cache[prefix] = (kept, kept_counts)
            rows, counts = cache[prefix]
            uses[prefix] -= 1
            if not uses[prefix]:
                del cache[prefix]
            table.append((name, rows.size, counts))
        results.append((_selected_frame(events, col, cuts, rows, events_path), _cutflow(cuts.species, table, truth)))
    return results


def _cutflow(species: str, table, truth) -> pd.DataFrame:
    classes, mapping = truth.classes(species) if truth else ([], None)
    rows, n_in = [], table[0][1]
    for name, n_out, counts in table:
        row = {"species": species, "cut": name, "events_in": n_in, "events_out": n_out,
               "fraction": n_out / n_in if n_in else np.nan}
        if truth:
            per_class = np.bincount(mapping, weights=counts, minlength=len(classes) + 1).astype(np.int64)
            row["signal_out"] = int(per_class[0])
            row["background_out"] = int(per_class[1:].sum())
            for i, cls in enumerate(classes, start=1):
                row[f"background_{cls}_out"] = int(per_class[i])
        rows.append(row)
        n_in = n_out
    return pd.DataFrame(rows)


def _selected_frame(events: pd.DataFrame, col: _Columns, cuts: SpeciesCuts, rows, events_path: str) -> pd.DataFrame:
    def out(name):  # output columns keep the file's dtypes
        return events[name].to_numpy()[rows]

    selected = pd.DataFrame(
        {
            "event_id": out("event_id").astype(np.int64),
            "time_unix_s": out("time_unix_s").astype(np.float64),
            # float32: the event file's precision (rigidity and ECAL energy are float32 there)
            "observable": col.observable(cuts, rows).astype(np.float32),
            "cutoff_max_gv": col.interval_value(cuts.cutoff_column)[rows],
            "gal_l_deg": out("gal_l_deg"),
            "gal_b_deg": out("gal_b_deg"),
            "dir_det_x": out("dir_det_x"),
            "dir_det_y": out("dir_det_y"),
            "dir_det_z": out("dir_det_z"),
            "trigger_rate_hz": col.interval_value("trigger_rate_hz")[rows],
        }
    )
    for name in io.EVENT_TRUTH_COLUMNS:  # strings / categoricals: taken as they are (to_numpy is slow)
        if name in events.columns:
            column = events[name]
            selected[name] = out(name) if column.dtype.kind in "fiub" else column.iloc[rows].reset_index(drop=True)
    if len(selected) == 0:
        LOG.warning("%s: no %s event passes the selection (chunk %s)", cuts.species, cuts.species, events_path)
    return selected


def select_events(events: pd.DataFrame, timeline: pd.DataFrame, cuts: SpeciesCuts, *,
                  events_path: str = "<events>", timeline_path: str = "<timeline>"):
    """Select one species from one chunk of events.

    Parameters
    ----------
    events : DataFrame
        One chunk of events with the columns of ``io.EVENT_SCHEMA`` (optionally ``mc_*`` truth).
    timeline : DataFrame
        The chunk's timeline (``io.TIMELINE_SCHEMA``; only time_unix_s, duration_s, good,
        trigger_rate_hz and the species' cutoff column are read).
    cuts : SpeciesCuts
        The species' cuts.
    events_path, timeline_path : str
        File names quoted in error messages.

    Returns
    -------
    (selected, cutflow)
        ``selected``: the columns of ``io.SELECTED_SCHEMA`` (observable in GeV for e±, GV for
        nuclei, float32; ``cutoff_max_gv`` the interval's max cutoff in the configured cone; the
        interval's ``trigger_rate_hz``) plus the ``mc_*`` columns when present. ``cutflow``: one row per
        cut (columns ``species, cut, events_in, events_out, fraction`` and, with truth,
        ``signal_out``, ``background_out`` and ``background_<class>_out``).
    An empty selection is allowed (a chunk can be empty) and is logged as a warning.
    """
    return select_species(events, timeline, [cuts], events_path=events_path, timeline_path=timeline_path)[0]
