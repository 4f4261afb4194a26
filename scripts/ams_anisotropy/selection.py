"""The paper's per-species event selection and its cut-flow table.

One call of :func:`select_events` selects one species from one chunk of events (all particles in
one stream, columns of ``io.EVENT_SCHEMA``) using the chunk's timeline (``io.TIMELINE_SCHEMA``).
Every event is matched to its timeline interval ``[time_unix_s, time_unix_s + duration_s)``; the
cuts are applied in a fixed order, each one a row of the cut-flow:

1. ``all``: every event of the chunk;
2. ``good interval``: the interval's ``good`` flag (not in the SAA, livetime > 0.5, AMS z within
   40 deg of the zenith; computed by the timeline);
3. quality and identification cuts, in the order beta window (downward-going, beta_min > 0), L1 hit,
   inner layers, L9 hit, track chi2/ndf, track present with the required sign of rigidity, charge
   window, TRD track, TRD estimator, ECAL cluster, ECAL estimator, E/|R| matching; a cut whose field
   is None (or False for the ``require_*`` flags) does not apply and has no row;
4. ``observable > cutoff_factor x max cutoff``: the observable against the maximum Stoermer cutoff
   of the interval in a cone of ``cone_half_angle_deg`` around the AMS axis, for the charge sign of
   the species (paper, section 3: "R (or E) > 1.2 x the maximum geomagnetic cutoff in the field of
   view"; the factor 1.0/1.4 variants are the AMS flux papers' systematic);
5. ``observable >= lowest threshold`` (and ``< upper edge`` when there is one, 350 GeV for e±).

The observable is the ECAL energy (GeV) for e± and |rigidity| (GV) for nuclei.

Monte Carlo truth (``mc_particle``, ``mc_origin``), when present, is only used for reporting: each
cut-flow row then also counts the true signal passing (``signal_out``: the species itself, primary)
and each background class (``background_<class>_out``): other particles by name (charge confusion
for e± shows up as ``background_positron_out`` in the electron sample, protons as
``background_proton_out``), ``albedo`` and ``poor_track`` (classified by ``mc_origin`` first).

Simplifications (for the README):
* the cuts are simple one-dimensional windows on the estimators of the event file, not the AMS
  multivariate classifiers;
* e± use the inner-tracker + L1 rigidity for the charge sign and the E/|R| matching; nuclei use the
  inner-tracker + L1 rigidity unless ``use_full_span_rigidity`` (L1 to L9 fit) is set;
* the cutoff is the timeline's per-interval maximum in the cone, not a per-event backtraced cutoff.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import io

LOG = logging.getLogger(__name__)

OBSERVABLES = ("ecal_energy", "rigidity")
OBSERVABLE_UNITS = {"ecal_energy": "GeV", "rigidity": "GV"}

# every particle name the simulation can write in mc_particle (docs/architecture.md)
MC_PARTICLES = ("electron", "positron", "proton", "helium", "carbon", "oxygen", "boron", "nitrogen")
# mc_origin values that are a background class of their own, whatever the particle
MC_BACKGROUND_ORIGINS = ("albedo", "poor_track")
MC_PRIMARY_ORIGIN = "primary"

CUTFLOW_COLUMNS = ["species", "cut", "events_in", "events_out", "fraction"]

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


@dataclass(frozen=True)
class SpeciesCuts:
    """Every cut of one species; each field maps to one config key.

    Fields that do not apply to a species are None (the ``require_*`` flags are False); a cut that
    does not apply has no cut-flow row.

    Parameters
    ----------
    species : str
        Species name (``electron, positron, proton, helium, carbon, oxygen``).
    observable : str
        ``"ecal_energy"`` (e±: ECAL energy in GeV) or ``"rigidity"`` (nuclei: |rigidity| in GV).
    observable_min : float
        Lowest threshold (GeV or GV); events below it are dropped (16 GeV e±, 18 GV nuclei, paper).
    observable_max : float or None
        Upper edge (exclusive, GeV or GV): 350 GeV for e± (paper), None for nuclei.
    charge_sign : int
        Required sign of the rigidity: -1 electrons, +1 positrons and nuclei. It also picks the
        cutoff column (``pos`` for +1, ``neg`` for -1).
    charge_min, charge_max : float or None
        Window on the measured charge magnitude (units of e), inclusive.
    beta_min, beta_max : float or None
        Window on the TOF velocity, inclusive; ``beta_min`` must be > 0 (downward-going).
    require_l1, require_l9 : bool
        Require a hit in tracker layer 1 / layer 9.
    min_inner_layers : int or None
        Minimum number of inner tracker layers hit (0-7; 7 for nuclei, paper).
    require_trd_track : bool
        Require a TRD track (e±).
    trd_estimator_max : float or None
        Upper cut on the TRD estimator (~0.55 for e±, ~1.0 for protons), inclusive.
    require_ecal_cluster : bool
        Require an ECAL shower (e±).
    ecal_estimator_min : float or None
        Lower cut on the ECAL shower-shape classifier in [-1, 1], inclusive.
    energy_over_rigidity_min, energy_over_rigidity_max : float or None
        Window on E_ECAL / |R| (GeV/GV), inclusive: energy-momentum matching for e±.
    track_chi2_max : float or None
        Upper cut on the track fit chi2 per degree of freedom, inclusive.
    cutoff_factor : float
        Safety factor on the maximum cutoff: observable > factor x cutoff (1.2 nominal, paper;
        1.0 and 1.4 systematic variants, AMS flux papers).
    cone_half_angle_deg : int
        Field of view (deg) of the max cutoff, one of 25, 30, 35, 40 (the timeline's columns).
    use_full_span_rigidity : bool
        Nuclei only: take the rigidity from the L1-to-L9 fit (``rigidity_full_span_gv``) instead of
        the inner + L1 fit. Off by default (the inner + L1 fit exists for every selected nucleus).
    """

    species: str
    observable: str
    observable_min: float
    observable_max: float | None = None
    charge_sign: int = 1
    charge_min: float | None = None
    charge_max: float | None = None
    beta_min: float | None = None
    beta_max: float | None = None
    require_l1: bool = False
    min_inner_layers: int | None = None
    require_l9: bool = False
    require_trd_track: bool = False
    trd_estimator_max: float | None = None
    require_ecal_cluster: bool = False
    ecal_estimator_min: float | None = None
    energy_over_rigidity_min: float | None = None
    energy_over_rigidity_max: float | None = None
    track_chi2_max: float | None = None
    cutoff_factor: float = 1.2
    cone_half_angle_deg: int = 40
    use_full_span_rigidity: bool = False

    def __post_init__(self):
        def bad(message):
            raise ValueError(f"SpeciesCuts({self.species!r}): {message}")

        if self.observable not in OBSERVABLES:
            bad(f"observable must be one of {OBSERVABLES}, got {self.observable!r}")
        if self.charge_sign not in (-1, 1):
            bad(f"charge_sign must be +1 or -1, got {self.charge_sign!r}")
        if self.observable == "rigidity" and self.charge_sign != 1:
            bad("nuclei are selected with charge_sign = +1")
        if self.observable == "rigidity" and (
            self.require_ecal_cluster
            or self.energy_over_rigidity_min is not None
            or self.energy_over_rigidity_max is not None
        ):
            bad("ECAL cuts are for the e± (observable ecal_energy) only")
        if self.use_full_span_rigidity and self.observable != "rigidity":
            bad("use_full_span_rigidity applies to nuclei (observable rigidity) only")
        if self.cone_half_angle_deg not in io.CONE_HALF_ANGLES_DEG:
            bad(
                f"cone_half_angle_deg must be one of {io.CONE_HALF_ANGLES_DEG}, "
                f"got {self.cone_half_angle_deg!r}"
            )
        if not (np.isfinite(self.cutoff_factor) and self.cutoff_factor > 0):
            bad(f"cutoff_factor must be a positive number, got {self.cutoff_factor!r}")
        if self.observable_min is None or not (np.isfinite(self.observable_min) and self.observable_min > 0):
            bad(f"observable_min must be a positive number, got {self.observable_min!r}")
        if self.observable_max is not None and not self.observable_max > self.observable_min:
            bad(f"observable_max ({self.observable_max}) must exceed observable_min ({self.observable_min})")
        if self.beta_min is not None and not self.beta_min > 0:
            bad(f"beta_min must be > 0 (downward-going particles), got {self.beta_min!r}")
        if self.min_inner_layers is not None and not 0 <= self.min_inner_layers <= 7:
            bad(f"min_inner_layers must be in 0..7, got {self.min_inner_layers!r}")
        for low, high in (
            ("charge_min", "charge_max"),
            ("beta_min", "beta_max"),
            ("energy_over_rigidity_min", "energy_over_rigidity_max"),
        ):
            lo, hi = getattr(self, low), getattr(self, high)
            if lo is not None and hi is not None and not lo < hi:
                bad(f"{low} ({lo}) must be below {high} ({hi})")

    @property
    def unit(self) -> str:
        """Unit of the observable: ``"GeV"`` (e±) or ``"GV"`` (nuclei)."""
        return OBSERVABLE_UNITS[self.observable]

    @property
    def cutoff_column(self) -> str:
        """Timeline column of the max cutoff used for this species."""
        sign = "pos" if self.charge_sign > 0 else "neg"
        return f"cutoff_max_{sign}_{self.cone_half_angle_deg}_gv"

    @property
    def rigidity_column(self) -> str:
        """Event column of the signed rigidity used for the sign, matching and nuclei observable."""
        return "rigidity_full_span_gv" if self.use_full_span_rigidity else "rigidity_gv"


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


def _background_classes(species: str, extra_particles) -> list[str]:
    particles = [p for p in MC_PARTICLES if p != species]
    particles += sorted(p for p in extra_particles if p not in MC_PARTICLES and p != species)
    return particles + list(MC_BACKGROUND_ORIGINS)


def _truth_codes(events: pd.DataFrame, species: str, events_path: str):
    """Class code per event: 0 = signal, 1.. = background classes; and the class names.

    The strings are factorised once (a hash pass), so the cost does not grow with string compares.
    """
    particle_codes, particle_uniques = pd.factorize(events["mc_particle"], use_na_sentinel=False)
    origin_codes, origin_uniques = pd.factorize(events["mc_origin"], use_na_sentinel=False)
    particle_uniques = [str(u) for u in particle_uniques]
    origin_uniques = [str(u) for u in origin_uniques]
    known_origins = {MC_PRIMARY_ORIGIN, *MC_BACKGROUND_ORIGINS}
    unknown = sorted(set(origin_uniques) - known_origins)
    if unknown:
        raise io.InputError(
            f"{events_path}: unknown mc_origin value(s) {unknown}; known: {sorted(known_origins)}"
        )
    classes = _background_classes(species, particle_uniques)
    position = {name: i for i, name in enumerate(["signal", *classes])}
    particle_class = np.array([0 if u == species else position[u] for u in particle_uniques], dtype=np.int64)
    origin_class = np.array(
        [position[u] if u in MC_BACKGROUND_ORIGINS else -1 for u in origin_uniques], dtype=np.int64
    )
    codes = particle_class[particle_codes] if len(particle_class) else np.zeros(0, np.int64)
    if len(origin_class):
        by_origin = origin_class[origin_codes]
        codes = np.where(by_origin >= 0, by_origin, codes)
    return codes.astype(np.int64), classes


def select_events(
    events: pd.DataFrame,
    timeline: pd.DataFrame,
    cuts: SpeciesCuts,
    *,
    events_path: str = "<events>",
    timeline_path: str = "<timeline>",
):
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
        nuclei; ``cutoff_max_gv`` the interval's max cutoff in the configured cone; the interval's
        ``trigger_rate_hz``) plus the ``mc_*`` columns when present. ``cutflow``: one row per cut
        (columns ``species, cut, events_in, events_out, fraction`` and, with truth,
        ``signal_out``, ``background_out`` and ``background_<class>_out``).
    An empty selection is allowed (a chunk can be empty) and is logged as a warning.
    """
    _check_frame(events, _EVENT_COLUMNS_USED, events_path, _EVENT_FINITE_COLUMNS)
    timeline_columns = ["time_unix_s", "duration_s", "good", "trigger_rate_hz", cuts.cutoff_column]
    _check_frame(timeline, timeline_columns, timeline_path, ["time_unix_s", "duration_s"])

    interval = match_intervals(
        events["time_unix_s"].to_numpy(),
        timeline["time_unix_s"].to_numpy(),
        timeline["duration_s"].to_numpy(),
        events_path=events_path,
        timeline_path=timeline_path,
    )

    def col(name):  # floating columns as float64: every cut compares in float64
        values = events[name].to_numpy()
        return values.astype(np.float64) if values.dtype.kind == "f" else values

    rigidity = col(cuts.rigidity_column).astype(np.float64)
    abs_rigidity = np.abs(rigidity)
    if cuts.observable == "ecal_energy":
        observable = col("ecal_energy_gev").astype(np.float64)
    else:
        observable = abs_rigidity
    cutoff = timeline[cuts.cutoff_column].to_numpy().astype(np.float64)[interval]
    trigger_rate = timeline["trigger_rate_hz"].to_numpy()[interval]
    good = timeline["good"].to_numpy().astype(bool)[interval]

    # (row name, pass mask) in order; NaN compares False, so missing quantities fail their cut
    steps: list[tuple[str, np.ndarray]] = [("good interval", good)]
    if cuts.beta_min is not None or cuts.beta_max is not None:
        beta = col("beta")
        lo = cuts.beta_min if cuts.beta_min is not None else 0.0
        keep = beta > 0
        keep &= beta >= lo
        if cuts.beta_max is not None:
            keep &= beta <= cuts.beta_max
        steps.append((f"downward beta in [{lo:g}, {_fmt(cuts.beta_max, 'inf')}]", keep))
    else:
        steps.append(("downward-going (beta > 0)", col("beta") > 0))
    if cuts.require_l1:
        steps.append(("L1 hit", col("has_l1").astype(bool)))
    if cuts.min_inner_layers is not None:
        steps.append(
            (f"inner layers >= {cuts.min_inner_layers}", col("n_inner_layers") >= cuts.min_inner_layers)
        )
    if cuts.require_l9:
        steps.append(("L9 hit", col("has_l9").astype(bool)))
    if cuts.track_chi2_max is not None:
        steps.append(
            (f"track chi2/ndf <= {cuts.track_chi2_max:g}", col("track_chi2_ndf") <= cuts.track_chi2_max)
        )
    sign_name = "positive" if cuts.charge_sign > 0 else "negative"
    steps.append(
        (f"track with {sign_name} rigidity ({cuts.rigidity_column})", rigidity * cuts.charge_sign > 0)
    )
    if cuts.charge_min is not None or cuts.charge_max is not None:
        charge = col("charge")
        keep = np.isfinite(charge)
        if cuts.charge_min is not None:
            keep &= charge >= cuts.charge_min
        if cuts.charge_max is not None:
            keep &= charge <= cuts.charge_max
        steps.append((f"charge in [{_fmt(cuts.charge_min, '-inf')}, {_fmt(cuts.charge_max, 'inf')}]", keep))
    if cuts.require_trd_track:
        steps.append(("TRD track", col("has_trd_track").astype(bool)))
    if cuts.trd_estimator_max is not None:
        steps.append(
            (f"TRD estimator <= {cuts.trd_estimator_max:g}", col("trd_estimator") <= cuts.trd_estimator_max)
        )
    if cuts.require_ecal_cluster:
        steps.append(
            ("ECAL cluster", col("has_ecal_cluster").astype(bool) & np.isfinite(col("ecal_energy_gev")))
        )
    if cuts.ecal_estimator_min is not None:
        steps.append(
            (
                f"ECAL estimator >= {cuts.ecal_estimator_min:g}",
                col("ecal_estimator") >= cuts.ecal_estimator_min,
            )
        )
    if cuts.energy_over_rigidity_min is not None or cuts.energy_over_rigidity_max is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = col("ecal_energy_gev").astype(np.float64) / abs_rigidity
        keep = np.isfinite(ratio)
        if cuts.energy_over_rigidity_min is not None:
            keep &= ratio >= cuts.energy_over_rigidity_min
        if cuts.energy_over_rigidity_max is not None:
            keep &= ratio <= cuts.energy_over_rigidity_max
        steps.append(
            (
                f"E/|R| in [{_fmt(cuts.energy_over_rigidity_min, '0')}, "
                f"{_fmt(cuts.energy_over_rigidity_max, 'inf')}]",
                keep,
            )
        )
    steps.append(
        (
            f"observable > {cuts.cutoff_factor:g} x max cutoff ({cuts.cutoff_column})",
            observable > cuts.cutoff_factor * cutoff,
        )
    )
    keep = observable >= cuts.observable_min
    range_name = f"observable >= {cuts.observable_min:g} {cuts.unit}"
    if cuts.observable_max is not None:
        keep &= observable < cuts.observable_max
        range_name += f" and < {cuts.observable_max:g} {cuts.unit}"
    steps.append((range_name, keep))

    has_truth = all(c in events.columns for c in ("mc_particle", "mc_origin"))
    if has_truth:
        codes, classes = _truth_codes(events, cuts.species, events_path)
        n_classes = len(classes) + 1

    rows = []
    passed = np.ones(len(events), dtype=bool)
    n_in = len(events)
    for name, mask in [("all", passed.copy()), *steps]:
        passed &= np.asarray(mask, dtype=bool)
        n_out = int(passed.sum())
        row = {
            "species": cuts.species,
            "cut": name,
            "events_in": n_in,
            "events_out": n_out,
            "fraction": n_out / n_in if n_in else np.nan,
        }
        if has_truth:
            counts = np.bincount(codes[passed], minlength=n_classes)
            row["signal_out"] = int(counts[0])
            row["background_out"] = int(counts[1:].sum())
            for i, cls in enumerate(classes, start=1):
                row[f"background_{cls}_out"] = int(counts[i])
        rows.append(row)
        n_in = n_out
    cutflow = pd.DataFrame(rows)

    def out(name):  # output columns keep the file's dtypes
        return events[name].to_numpy()[passed]

    selected = pd.DataFrame(
        {
            "event_id": out("event_id").astype(np.int64),
            "time_unix_s": out("time_unix_s").astype(np.float64),
            "observable": observable[passed],
            "cutoff_max_gv": timeline[cuts.cutoff_column].to_numpy()[interval[passed]],
            "gal_l_deg": out("gal_l_deg"),
            "gal_b_deg": out("gal_b_deg"),
            "dir_det_x": out("dir_det_x"),
            "dir_det_y": out("dir_det_y"),
            "dir_det_z": out("dir_det_z"),
            "trigger_rate_hz": trigger_rate[passed],
        }
    )
    for name in io.EVENT_TRUTH_COLUMNS:
        if name in events.columns:
            selected[name] = out(name)
    if len(selected) == 0:
        LOG.warning(
            "%s: no %s event passes the selection (chunk %s)", cuts.species, cuts.species, events_path
        )
    return selected, cutflow


def _fmt(value, unbounded: str) -> str:
    return unbounded if value is None else f"{value:g}"


def merge_cutflows(cutflows) -> pd.DataFrame:
    """Sum per-chunk cut-flow tables, species by species.

    Parameters
    ----------
    cutflows : iterable of DataFrame
        Cut-flows from :func:`select_events` (possibly of several species, in any order). The
        tables of one species must have the same cuts in the same order.

    Returns
    -------
    DataFrame: one table per species (in order of first appearance), counts summed, ``fraction``
    recomputed; truth count columns missing from some chunks count as zero.
    Raises ValueError when the cut lists of one species differ or the list is empty.
    """
    cutflows = [c for c in cutflows]
    if not cutflows:
        raise ValueError("merge_cutflows: no cut-flow table given")
    for i, table in enumerate(cutflows):
        missing = [c for c in CUTFLOW_COLUMNS if c not in table.columns]
        if missing:
            raise ValueError(f"merge_cutflows: table {i} lacks column(s) {', '.join(missing)}")
    species_order = list(dict.fromkeys(s for t in cutflows for s in t["species"].unique()))
    merged = []
    for species in species_order:
        parts = [t[t["species"] == species].reset_index(drop=True) for t in cutflows]
        parts = [p for p in parts if len(p)]
        cuts = list(parts[0]["cut"])
        for p in parts[1:]:
            if list(p["cut"]) != cuts:
                raise ValueError(
                    f"merge_cutflows: the cut lists of species {species} differ between chunks "
                    f"({cuts} vs {list(p['cut'])})"
                )
        count_columns = list(
            dict.fromkeys(c for p in parts for c in p.columns if c.endswith("_out") or c == "events_in")
        )
        total = pd.DataFrame({"species": species, "cut": cuts})
        for name in count_columns:
            total[name] = sum(
                (p[name].to_numpy(np.int64) if name in p.columns else np.zeros(len(cuts), np.int64))
                for p in parts
            )
        events_in = total["events_in"].to_numpy(np.float64)
        fraction = np.full(len(cuts), np.nan)
        np.divide(total["events_out"].to_numpy(np.float64), events_in, out=fraction, where=events_in > 0)
        total["fraction"] = fraction
        ordered = CUTFLOW_COLUMNS + [c for c in count_columns if c not in CUTFLOW_COLUMNS]
        merged.append(total[ordered])
    return pd.concat(merged, ignore_index=True)


def contamination(table: pd.DataFrame, species: str | None = None) -> pd.Series:
    """Background fractions of the final sample, from Monte Carlo truth.

    Parameters
    ----------
    table : DataFrame
        Either a cut-flow (last row of the species = final sample) or a selected-events frame with
        ``mc_particle`` and ``mc_origin``.
    species : str or None
        The species selected; required for a selected-events frame, optional for a single-species
        cut-flow.

    Returns
    -------
    Series indexed by ``total`` and each background class (``proton``, ``albedo``, ...): the
    number of background events of that class divided by the number of selected events (NaN for
    an empty sample). Raises ValueError when the table carries no truth.
    """
    if "cut" in table.columns:
        if "signal_out" not in table.columns:
            raise ValueError("contamination: the cut-flow has no Monte Carlo truth columns")
        if species is None:
            names = table["species"].unique()
            if len(names) != 1:
                raise ValueError(f"contamination: the cut-flow holds several species {list(names)}; name one")
            species = names[0]
        rows = table[table["species"] == species]
        if rows.empty:
            raise ValueError(f"contamination: species {species} not in the cut-flow")
        last = rows.iloc[-1]
        n = int(last["events_out"])
        total = int(last["background_out"])
        counts = {
            c[len("background_") : -len("_out")]: int(last[c])
            for c in table.columns
            if c.startswith("background_")
            and c.endswith("_out")
            and c != "background_out"
            and not pd.isna(last[c])
        }
    else:
        if species is None:
            raise ValueError("contamination: give the species of a selected-events frame")
        if not all(c in table.columns for c in ("mc_particle", "mc_origin")):
            raise ValueError("contamination: the selected events have no mc_particle / mc_origin columns")
        n = len(table)
        codes, classes = _truth_codes(table, species, "<selected>")
        per_class = np.bincount(codes, minlength=len(classes) + 1)
        total = int(per_class[1:].sum())
        counts = {cls: int(per_class[i]) for i, cls in enumerate(classes, start=1)}
    values = {"total": total, **counts}
    return pd.Series(
        {k: (v / n if n else np.nan) for k, v in values.items()}, name=f"{species} contamination"
    )


def passes_cutoff_factor(selected: pd.DataFrame, cutoff_factor: float) -> np.ndarray:
    """Events of a selected sample that pass ``observable > cutoff_factor x cutoff_max_gv`` (bool array).

    The selection keeps the events passing the loosest factor of the run; this applies a stricter one
    (the nominal 1.2 or a systematic variant) to that sample.
    """
    return selected["observable"].to_numpy(np.float64) > cutoff_factor * selected["cutoff_max_gv"].to_numpy(np.float64)


def cutoff_factor_cutflow(selected: pd.DataFrame, cutoff_factors, species: str, path: str = "<selected>"):
    """Cut-flow rows of the cutoff-factor variants, applied to an already selected sample.

    The selection keeps the events passing the loosest factor of the run (with the interval's max
    cutoff in ``cutoff_max_gv``); each row here applies one factor ``f`` (``observable > f x
    cutoff_max_gv``) to that sample, so ``events_in`` is the selected sample for every row and
    ``events_out`` the sample at that factor (the nominal factor's row is the analysed sample).
    Truth columns are filled as in :func:`select_events` when ``mc_particle``/``mc_origin`` exist.
    """
    has_truth = all(c in selected.columns for c in ("mc_particle", "mc_origin"))
    if has_truth:
        codes, classes = _truth_codes(selected, species, path)
    rows = []
    for factor in cutoff_factors:
        passed = passes_cutoff_factor(selected, factor)
        n_in, n_out = len(selected), int(passed.sum())
        row = {
            "species": species,
            "cut": f"cutoff factor {factor:g}: observable > {factor:g} x max cutoff",
            "events_in": n_in,
            "events_out": n_out,
            "fraction": n_out / n_in if n_in else np.nan,
        }
        if has_truth:
            counts = np.bincount(codes[passed], minlength=len(classes) + 1)
            row["signal_out"] = int(counts[0])
            row["background_out"] = int(counts[1:].sum())
            for i, cls in enumerate(classes, start=1):
                row[f"background_{cls}_out"] = int(counts[i])
        rows.append(row)
    return pd.DataFrame(rows)
