"""Bad input: a clear error naming the file (or config key) and the problem, a non-zero exit, nothing
half-written.

Each kind of bad input is tested twice over: at the package level (the reader or check that stops it,
on small synthetic files), and through real ``snakemake`` runs in a temporary copy of the project
(slow tests): the configuration problems stop the run before any job (no ``results/``), the bad
files stop their ``select_events`` job (exit code, the job's log names the file and the problem, no
output of the job left), a threshold with no event stops ``bin_events`` (no map left), and nothing
is read or written outside the project but the files the configuration names.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import update_config, validate
from workflow_helpers import ROOT, copy_project, run_snakemake

from ams_anisotropy import io
from ams_anisotropy.auger import read_auger_events
from ams_anisotropy.binning import EmptySampleError, MapAccumulator
from ams_anisotropy.configuration import ConfigError, check_config
from ams_anisotropy.selection import SpeciesCuts, select_events

SCHEMA = str(ROOT / "workflow" / "schemas" / "config.schema.yaml")
T0 = 1_305_763_200.0  # 2011-05-19 00:00:00 UTC
CADENCE_S = 10.0
N_INTERVALS = 360  # one hour
N_EVENTS = 400


# --- valid synthetic files --------------------------------------------------------------------------
def valid_timeline(n=N_INTERVALS, start=T0) -> pd.DataFrame:
    """A contiguous timeline of 10 s intervals with every column of the contract, all good."""
    frame = {
        "time_unix_s": start + CADENCE_S * np.arange(n),
        "duration_s": np.full(n, CADENCE_S, np.float32),
        "iss_lat_deg": (51.6 * np.sin(np.linspace(0, 4 * np.pi, n))).astype(np.float32),
        "iss_lon_deg": np.linspace(-179.0, 179.0, n).astype(np.float32),
        "iss_alt_km": np.full(n, 410.0, np.float32),
        "flight_direction": np.ones(n, np.int8),
    }
    for axis in "xyz":
        for c in "xyz":
            frame[f"ams_{axis}_gal_{c}"] = np.full(n, float(axis == c))
    frame["ams_zenith_deg"] = np.full(n, 12.0, np.float32)
    frame["trigger_rate_hz"] = np.full(n, 500.0, np.float32)
    frame["livetime_fraction"] = np.full(n, 0.85, np.float32)
    frame["in_saa"] = np.zeros(n, bool)
    for column in io.CUTOFF_COLUMNS:
        frame[column] = np.full(n, 5.0, np.float32)
    frame["good"] = np.ones(n, bool)
    return pd.DataFrame(frame)


def valid_events(n=N_EVENTS, start=T0, seed=1) -> pd.DataFrame:
    """Protons of 20-100 GV passing the proton cuts of config/config.yaml, isotropic directions."""
    rng = np.random.default_rng(seed)
    rigidity = rng.uniform(20.0, 100.0, n)
    direction = rng.normal(size=(n, 3))
    direction[:, 2] = np.abs(direction[:, 2]) + 1.0
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    sky = rng.normal(size=(n, 3))
    sky /= np.linalg.norm(sky, axis=1, keepdims=True)
    return pd.DataFrame({
        "event_id": np.arange(n, dtype=np.int64),
        "time_unix_s": np.sort(rng.uniform(start, start + N_INTERVALS * CADENCE_S, n)),
        "rigidity_gv": rigidity.astype(np.float32),
        "rigidity_full_span_gv": rigidity.astype(np.float32),
        "track_chi2_ndf": np.full(n, 1.0, np.float32),
        "has_l1": np.ones(n, bool),
        "has_l9": np.ones(n, bool),
        "n_inner_layers": np.full(n, 7, np.int8),
        "charge": np.full(n, 1.0, np.float32),
        "beta": np.full(n, 0.99, np.float32),
        "has_trd_track": np.ones(n, bool),
        "trd_estimator": np.full(n, 1.0, np.float32),
        "has_ecal_cluster": np.zeros(n, bool),
        "ecal_energy_gev": np.full(n, np.nan, np.float32),
        "ecal_estimator": np.full(n, np.nan, np.float32),
        "dir_det_x": direction[:, 0].astype(np.float32),
        "dir_det_y": direction[:, 1].astype(np.float32),
        "dir_det_z": direction[:, 2].astype(np.float32),
        "gal_l_deg": np.degrees(np.arctan2(sky[:, 1], sky[:, 0])) % 360.0,
        "gal_b_deg": np.degrees(np.arcsin(sky[:, 2])),
    })  # fmt: skip


def _set(column, row, value):
    def mutate(frame):
        frame[column] = frame[column].astype(np.float64) if isinstance(value, float) else frame[column]
        frame.loc[row, column] = value
        return frame

    return mutate


def _times_shifted(rows, shift_s):
    def mutate(frame):
        times = frame["time_unix_s"].to_numpy().copy()
        times[rows] += shift_s
        frame["time_unix_s"] = times
        return frame

    return mutate


def _duplicate_id(row, of_row):
    def mutate(frame):
        frame.loc[row, "event_id"] = frame.loc[of_row, "event_id"]
        return frame

    return mutate


def _with_ecal(row, energy):
    def mutate(frame):
        frame.loc[row, "has_ecal_cluster"] = True
        frame.loc[row, "ecal_estimator"] = -0.9
        frame.loc[row, "ecal_energy_gev"] = energy
        return frame

    return mutate


def _write(frame: pd.DataFrame, path: Path) -> Path:
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    return path


# (id, mutation of the valid events, text the error must contain after "<file>: ")
EVENT_CASES = [
    ("missing-column", lambda f: f.drop(columns=["charge"]), "missing column(s) charge"),
    ("wrong-dtype-time", lambda f: f.assign(time_unix_s=f["time_unix_s"].map(str)),
     "column time_unix_s has type large_string, expected a floating-point column"),
    ("wrong-dtype-bool", lambda f: f.assign(has_l1=f["has_l1"].astype(np.int8)),
     "column has_l1 has type int8, expected a boolean column"),
    ("nan-direction", _set("gal_b_deg", 7, np.nan), "column gal_b_deg has 1 value(s) non-finite or outside [-90, 90]"),
    ("latitude-out-of-range", _set("gal_b_deg", 3, 95.0), "column gal_b_deg has 1 value(s) non-finite or outside"),
    ("longitude-out-of-range", _set("gal_l_deg", 3, -10.0),
     "column gal_l_deg has 1 value(s) non-finite or outside [0, 360]"),
    ("detector-direction-not-unit", _set("dir_det_z", 5, 0.2), "not a unit vector"),
    ("detector-direction-nan", _set("dir_det_x", 5, np.nan), "column dir_det_x has 1 value(s) non-finite"),
    ("zero-rigidity", _set("rigidity_gv", 2, 0.0), "column rigidity_gv has 1 value(s) non-finite or zero"),
    ("infinite-rigidity", _set("rigidity_full_span_gv", 2, np.inf),
     "column rigidity_full_span_gv has 1 value(s) non-finite or zero where has_l1 and has_l9"),
    ("non-positive-energy", _with_ecal(4, -3.0),
     "column ecal_energy_gev has 1 value(s) non-finite or outside (0, inf] where has_ecal_cluster"),
    ("infinite-energy", _with_ecal(4, np.inf), "column ecal_energy_gev has 1 value(s) non-finite"),
    ("time-in-milliseconds", lambda f: f.assign(time_unix_s=f["time_unix_s"] * 1000.0),
     "column time_unix_s has 400 value(s) non-finite or outside [0, 4.10244e+09]"),
    ("duplicated-event-id", _duplicate_id(9, 3), "column event_id has 1 duplicated value(s), first 3"),
    ("negative-charge", _set("charge", 1, -1.0), "column charge has 1 value(s) non-finite or outside [0, inf]"),
]

TIMELINE_CASES = [
    ("gap", lambda f: f.drop(index=[100]).reset_index(drop=True), "the timeline has 1 gap(s) or overlap(s)"),
    ("overlap", _set("duration_s", 50, 15.0), "an overlap of 5.000 s"),
    ("unsorted", lambda f: f.iloc[[1, 0, *range(2, len(f))]].reset_index(drop=True),
     "column time_unix_s has 1 value(s) earlier than the previous row (the timeline is not sorted)"),
    ("duplicated-time", lambda f: pd.concat([f.iloc[:10], f.iloc[9:]]).reset_index(drop=True),
     "column time_unix_s has 1 value(s) duplicated"),
    ("livetime-above-one", _set("livetime_fraction", 20, 1.2),
     "column livetime_fraction has 1 value(s) non-finite or outside [0, 1]"),
    ("livetime-negative", _set("livetime_fraction", 20, -0.1), "column livetime_fraction has 1 value(s)"),
    ("zero-duration", _set("duration_s", 20, 0.0), "column duration_s has 1 value(s) non-finite or outside (0, inf]"),
    ("axis-not-unit", _set("ams_z_gal_z", 30, 0.5),
     "the AMS z axis (ams_z_gal_x, ams_z_gal_y, ams_z_gal_z) has 1 value(s) not a unit vector"),
    ("flight-direction", _set("flight_direction", 30, 0), "column flight_direction has 1 value(s) not +1 or -1"),
    ("negative-cutoff", _set("cutoff_max_pos_40_gv", 30, -1.0), "column cutoff_max_pos_40_gv has 1 value(s)"),
    ("no-rows", lambda f: f.iloc[:0], "the timeline has no rows"),
]


@pytest.mark.parametrize("mutate, message", [c[1:] for c in EVENT_CASES], ids=[c[0] for c in EVENT_CASES])
def test_bad_event_file_is_rejected_naming_the_file(tmp_path, mutate, message):
    path = _write(mutate(valid_events()), tmp_path / "events.parquet")
    with pytest.raises(io.InputError) as err:
        io.read_events(path)
    assert str(err.value).startswith(f"{path}: ")
    assert message in str(err.value)


@pytest.mark.parametrize("mutate, message", [c[1:] for c in TIMELINE_CASES], ids=[c[0] for c in TIMELINE_CASES])
def test_bad_timeline_is_rejected_naming_the_file(tmp_path, mutate, message):
    path = _write(mutate(valid_timeline()), tmp_path / "timeline.parquet")
    with pytest.raises(io.InputError) as err:
        io.read_timeline(path)
    assert str(err.value).startswith(f"{path}: ")
    assert message in str(err.value)


def test_valid_synthetic_files_pass_and_a_subset_of_columns_is_still_checked(tmp_path):
    timeline = _write(valid_timeline(), tmp_path / "timeline.parquet")
    events = _write(valid_events(), tmp_path / "events.parquet")
    assert len(io.read_timeline(timeline)) == N_INTERVALS
    assert len(io.read_events(events)) == N_EVENTS
    # reading a few columns returns those, but the checks still see the columns they need
    assert list(io.read_timeline(timeline, columns=["time_unix_s", "good"]).columns) == ["time_unix_s", "good"]
    gap = _write(valid_timeline().drop(index=[7]).reset_index(drop=True), tmp_path / "gap.parquet")
    with pytest.raises(io.InputError, match="gap"):
        io.read_timeline(gap, columns=["time_unix_s"])
    bad = _write(_set("dir_det_y", 3, 0.9)(valid_events()), tmp_path / "bad.parquet")
    with pytest.raises(io.InputError, match="not a unit vector"):
        io.read_events(bad, columns=["dir_det_x"])
    # events without a track may carry NaN rigidities; without L9 no full-span rigidity
    no_track = valid_events().assign(n_inner_layers=np.int8(2), rigidity_gv=np.float32(np.nan),
                                     rigidity_full_span_gv=np.float32(np.nan), track_chi2_ndf=np.float32(np.nan))
    io.read_events(_write(no_track, tmp_path / "no_track.parquet"))


@pytest.mark.parametrize("content, message", [
    (b"", "not a readable Parquet file"),
    ("half", "not a readable Parquet file"),
    (b"event_id,time_unix_s\n1,2\n", "not a readable Parquet file"),
], ids=["zero-bytes", "truncated", "csv-text"])
def test_unreadable_parquet_is_rejected(tmp_path, content, message):
    path = tmp_path / "events.parquet"
    if content == "half":
        whole = _write(valid_events(), tmp_path / "whole.parquet").read_bytes()
        content = whole[: len(whole) // 2]
    path.write_bytes(content)
    for reader in (io.read_events, io.read_timeline):
        with pytest.raises(io.InputError) as err:
            reader(path)
        assert str(err.value).startswith(f"{path}: {message}")
    assert io.check_file_kind(path, "event").startswith(f"{path}: {message}")


def test_missing_file_and_folder_are_rejected(tmp_path):
    with pytest.raises(io.InputError, match=re.escape(f"{tmp_path / 'nope.parquet'}: file does not exist")):
        io.read_events(tmp_path / "nope.parquet")
    with pytest.raises(io.InputError, match="not a file"):
        io.read_events(tmp_path)


def test_timeline_given_where_an_event_file_belongs(tmp_path):
    timeline = _write(valid_timeline(), tmp_path / "timeline.parquet")
    events = _write(valid_events(), tmp_path / "events.parquet")
    with pytest.raises(io.InputError) as err:
        io.read_events(timeline)
    assert str(err.value).startswith(f"{timeline}: missing column(s) event_id")
    assert "it is a timeline file, not an event file" in str(err.value)
    with pytest.raises(io.InputError, match="it is an event file, not a timeline file"):
        io.read_timeline(events)
    assert "it is a timeline file" in io.check_file_kind(timeline, "event")
    assert io.check_file_kind(events, "event") is None


def test_events_outside_their_timeline_are_rejected_by_the_selection(tmp_path):
    cuts = SpeciesCuts(species="proton", observable="rigidity", observable_min=18.0, charge_sign=1, charge_min=0.6,
                       charge_max=1.5, beta_min=0.5, beta_max=1.3, require_l1=True, min_inner_layers=7)
    events, timeline = valid_events(), valid_timeline()
    select_events(events, timeline, cuts)  # the valid pair passes
    late = _times_shifted([N_EVENTS - 1], 3600.0)(valid_events())
    with pytest.raises(io.InputError) as err:
        select_events(late, timeline, cuts, events_path="ev.parquet", timeline_path="tl.parquet")
    assert str(err.value).startswith("ev.parquet: 1 event(s) outside the timeline")
    middle = events.iloc[[N_EVENTS // 2]]
    gap = timeline.drop(index=[int((middle["time_unix_s"].iloc[0] - T0) // CADENCE_S)]).reset_index(drop=True)
    with pytest.raises(io.InputError, match=r"ev.parquet: 1 event\(s\) fall in a gap of the timeline tl.parquet"):
        select_events(middle, gap, cuts, events_path="ev.parquet", timeline_path="tl.parquet")


def test_threshold_whose_selection_is_empty():
    accumulator = MapAccumulator([18.0, 45.0, 90000.0], None, 8, 8, {}, species="proton", unit="GV")
    selected = valid_events().rename(columns={"rigidity_gv": "observable"})
    accumulator.add(selected, "sel.parquet")
    with pytest.raises(EmptySampleError) as err:
        accumulator.check_counts(allow_empty_threshold=False)
    assert "species proton: threshold(s) 90000GV have zero events" in str(err.value)
    assert "allow_empty_threshold" in str(err.value)
    accumulator.check_counts(allow_empty_threshold=True)


@pytest.mark.parametrize("line, message", [
    ("2004 1 -10.0 100.0 20.0 1.0",
     "expected 7 columns (year, day, dec_deg, ra_deg, azimuth_deg, weight, utc), found 6 on line 3"),
    ("2004 1 -10.0 100.0 20.0 1.0 1081000000 5", "found 8 on line 3"),
    ("2004 1 -100.0 100.0 20.0 1.0 1081000000", "column dec_deg has 1 value(s) outside [-90, 90] deg"),
    ("2004 1 -10.0 100.0 20.0 abc 1081000000", "column weight has 1 non-numeric or non-finite value(s)"),
], ids=["six-columns", "eight-columns", "declination", "non-numeric"])
def test_auger_style_file_is_checked(tmp_path, line, message):
    path = tmp_path / "auger.dat"
    path.write_text("# year day dec ra azimuth weight utc\n2004 1 -10.0 100.0 20.0 1.0 1081000000\n" + line + "\n")
    with pytest.raises(io.InputError) as err:
        read_auger_events(path)
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value)


# --- configuration --------------------------------------------------------------------------------
def _config(overlay: str | None = "ci.yaml") -> dict:
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    if overlay:
        update_config(config, yaml.safe_load((ROOT / "config" / overlay).read_text()))
    return config


def _setter(*keys_and_value):
    *keys, value = keys_and_value

    def mutate(config):
        node = config
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value

    return mutate


SCHEMA_CASES = [
    ("unknown-top-key", _setter("plot_colour", "red"), ["'plot_colour' was unexpected"]),
    ("unknown-nested-key", _setter("maps", "nsid", 32), ["'nsid' was unexpected", "['maps']"]),
    ("wrong-type-seed", _setter("seed", "abc"), ["'abc' is not of type 'integer'", "['seed']"]),
    ("wrong-type-nside", _setter("maps", "nside", "32"), ["'32' is not of type 'integer'", "['maps']['nside']"]),
    ("wrong-type-thresholds", _setter("species", "proton", "thresholds", "18, 45"), ["is not of type 'array'",
                                                                                      "['species']['proton']"]),
    ("run-name-parent", _setter("run_name", ".."), ["'..' does not match", "['run_name']"]),
    ("run-name-path", _setter("run_name", "../../escape"), ["does not match", "['run_name']"]),
    ("run-name-absolute", _setter("run_name", "/tmp/escape"), ["does not match", "['run_name']"]),
    ("species-name-path", lambda c: c["species"].__setitem__("../x", c["species"]["proton"]),
     ["'../x' does not match", "['species']"]),
    ("unknown-source", _setter("input", "source", "tape"), ["'tape' is not one of"]),
    ("efftime-block-zero", _setter("reference", "efficiency_time_block_days", 0),
     ["0 is less than or equal to the minimum of 0", "['reference']['efficiency_time_block_days']"]),
]


@pytest.mark.parametrize("mutate, messages", [c[1:] for c in SCHEMA_CASES], ids=[c[0] for c in SCHEMA_CASES])
def test_schema_rejects_config_naming_the_key(mutate, messages):
    config = _config()
    mutate(config)
    with pytest.raises(WorkflowError) as err:
        validate(config, SCHEMA)
    for message in messages:
        assert message in str(err.value)


def _files_config(tmp_path, timelines, events):
    return lambda c: c["input"].update(source="files", timeline_files=[str(p) for p in timelines],
                                       event_files=[str(p) for p in events])


CHECK_CASES = [
    ("unordered-thresholds", _setter("species", "proton", "thresholds", [18, 45, 30]),
     "species.proton.thresholds must be strictly increasing, got [18, 45, 30]"),
    ("duplicated-thresholds", _setter("species", "proton", "thresholds", [18, 18, 45]),
     "species.proton.thresholds has duplicated value(s) [18]"),
    ("threshold-label", _setter("species", "proton", "thresholds", [1e-5, 18]),
     "species.proton.thresholds: 1e-05 gives the label 1e-05"),
    ("unknown-analysis-species", _setter("analysis_species", ["neutrino"]),
     "analysis_species: 'neutrino' is not defined under species"),
    ("species-without-simulation", lambda c: c["species"].__setitem__("muon", c["species"]["proton"]),
     "simulation.particles: no source for species 'muon'"),
    ("unknown-variant", _setter("limits", "systematics_groups", [["shufle"]]),
     "limits.systematics_groups[0]: 'shufle' is not in reference.variants"),
    ("deflection-lmax-above-point-set", _setter("reference", "deflection", "lmax", 96),
     "reference.deflection.lmax (96) must not exceed 3 x reference.deflection.acceptance_nside (16)"),
    ("deflection-cells-straddle-table-nodes", _setter("reference", "deflection", "lon_step_deg", 36.0),
     "reference.deflection.lon_step_deg (36) must divide tracing.lon_step_deg (24)"),
    ("deflection-high-latitude-cells", _setter("reference", "deflection", "high_lat_step_deg", 3.0),
     "reference.deflection.high_lat_step_deg (3) must divide reference.deflection.lat_step_deg (8)"),
]


@pytest.mark.parametrize("mutate, message", [c[1:] for c in CHECK_CASES], ids=[c[0] for c in CHECK_CASES])
def test_check_config_rejects_config_naming_the_key(mutate, message):
    config = _config()
    validate(config, SCHEMA)
    mutate(config)
    with pytest.raises(ConfigError) as err:
        check_config(config, source="config/ci.yaml", base_dir=ROOT)
    assert str(err.value).startswith("config/ci.yaml: ")
    assert message in str(err.value)


def test_check_config_checks_the_input_files(tmp_path):
    timeline = _write(valid_timeline(), tmp_path / "timeline.parquet")
    events = _write(valid_events(), tmp_path / "events.parquet")
    empty = tmp_path / "empty.parquet"
    empty.write_bytes(b"")
    cases = [
        ([timeline], [events], None),
        ([timeline], [timeline], "input.event_files[0]: " + f"{timeline} is already given as input.timeline_files[0]"),
        ([timeline], [_write(valid_timeline(), tmp_path / "t2.parquet")],
         f"input.event_files[0]: {tmp_path / 't2.parquet'}: missing column(s) event_id"),
        ([events], [timeline], "it is an event file, not a timeline file"),
        ([timeline], [empty], f"input.event_files[0]: {empty}: not a readable Parquet file"),
        ([timeline], [tmp_path / "nope.parquet"],
         f"input.event_files[0]: {tmp_path / 'nope.parquet'}: file does not exist"),
        ([timeline, timeline], [events, events], "input.timeline_files[1]: "),
    ]
    for timelines, event_files, message in cases:
        config = _config()
        validate(config, SCHEMA)
        _files_config(tmp_path, timelines, event_files)(config)
        if message is None:
            check_config(config, source="files.yaml", base_dir=ROOT)
            continue
        with pytest.raises(ConfigError) as err:
            check_config(config, source="files.yaml", base_dir=ROOT)
        assert message in str(err.value), (message, str(err.value))


# --- nothing is unpickled or evaluated -------------------------------------------------------------
UNSAFE = re.compile(r"\bimport pickle\b|\bpickle\.|\beval\(|\bexec\(|allow_pickle\s*=\s*True|yaml\.load\(|"
                    r"yaml\.unsafe_load|read_pickle|torch\.load|marshal\.loads|shelve\.|dill\.|cloudpickle")


def test_no_input_is_unpickled_or_evaluated():
    sources = [*(ROOT / "scripts").rglob("*.py"), *(ROOT / "workflow").rglob("*.smk"), ROOT / "Snakefile"]
    offending = []
    for path in sources:
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            code = line.split("#", 1)[0]
            if UNSAFE.search(code):
                offending.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
            if re.search(r"\b(np|numpy)\.load\(", code) and "allow_pickle=False" not in code:
                offending.append(f"{path.relative_to(ROOT)}:{number}: np.load without allow_pickle=False")
    assert not offending, "\n".join(offending)


# --- through real snakemake runs --------------------------------------------------------------------
# chunk -> (what is wrong, timeline mutation, events mutation, message after "<file>: " in the job's log)
BAD_CHUNKS = {
    1: ("timeline", lambda f: f.drop(index=[100]).reset_index(drop=True), None, "gap(s) or overlap(s)"),
    2: ("timeline", lambda f: f.iloc[[1, 0, *range(2, len(f))]].reset_index(drop=True), None, "not sorted"),
    3: ("timeline", lambda f: pd.concat([f.iloc[:10], f.iloc[9:]]).reset_index(drop=True), None, "duplicated"),
    4: ("timeline", _set("livetime_fraction", 20, 1.2), None, "column livetime_fraction"),
    5: ("events", None, lambda f: f.assign(has_l9=f["has_l9"].astype(np.int8)), "column has_l9 has type int8"),
    6: ("events", None, _set("gal_b_deg", 7, np.nan), "column gal_b_deg has 1 value(s) non-finite"),
    7: ("events", None, _set("dir_det_z", 5, 0.2), "not a unit vector"),
    8: ("events", None, _set("rigidity_gv", 2, 0.0), "column rigidity_gv has 1 value(s) non-finite or zero"),
    9: ("events", None, _with_ecal(4, 0.0), "column ecal_energy_gev has 1 value(s)"),
    10: ("events", None, _duplicate_id(9, 3), "column event_id has 1 duplicated value(s)"),
    11: ("events", None, _times_shifted([N_EVENTS - 1], 3600.0), "1 event(s) outside the timeline"),
}


def _data_files(folder: Path, n_chunks: int):
    """One valid chunk 0 and the bad chunks; every chunk its own files, in its own hour."""
    folder.mkdir()
    timelines, events = [], []
    for chunk in range(n_chunks):
        start = T0 + chunk * N_INTERVALS * CADENCE_S
        timeline, chunk_events = valid_timeline(start=start), valid_events(start=start, seed=chunk)
        chunk_events["event_id"] += chunk * 10**6
        if chunk in BAD_CHUNKS:
            _, bad_timeline, bad_events, _ = BAD_CHUNKS[chunk]
            timeline = bad_timeline(timeline) if bad_timeline else timeline
            chunk_events = bad_events(chunk_events) if bad_events else chunk_events
        timelines.append(_write(timeline, folder / f"timeline_{chunk}.parquet"))
        events.append(_write(chunk_events, folder / f"events_{chunk}.parquet"))
    return timelines, events


def _overlay(path: Path, run_name: str, timelines, events, extra: str = "") -> Path:
    path.write_text(
        f"run_name: {run_name}\nanalysis_species: [proton]\ninput:\n  source: files\n"
        f"  timeline_files: [{', '.join(map(str, timelines))}]\n  event_files: [{', '.join(map(str, events))}]\n"
        + extra
    )
    return path


def _tree(folder: Path) -> dict:
    return {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def bad_inputs_project(tmp_path_factory):
    return copy_project(tmp_path_factory.mktemp("bad_inputs") / "project")


@pytest.mark.slow
def test_bad_files_stop_their_job_and_leave_no_output(bad_inputs_project, tmp_path):
    """One run over a valid chunk and eleven bad ones (--keep-going): each bad chunk's selection job
    fails with its own message, leaves no output; the valid chunk is selected; nothing is written
    outside results/<run_name>/ (and .snakemake/) and nothing next to the input files."""
    workdir = bad_inputs_project
    timelines, events = _data_files(tmp_path / "data", 1 + len(BAD_CHUNKS))
    overlay = _overlay(tmp_path / "bad_files.yaml", "bad_files", timelines, events)
    data_before, project_before = _tree(tmp_path / "data"), _tree(workdir)
    out = workdir / "results" / "bad_files"
    targets = [f"results/bad_files/selected/proton/chunk{c:04d}.parquet" for c in range(len(timelines))]
    result = run_snakemake(workdir, *targets, "--cores", "2", "--keep-going", "--configfile", "config/ci.yaml",
                           str(overlay), check=False)
    assert result.returncode != 0
    assert (out / "selected/proton/chunk0000.parquet").is_file()
    for chunk, (kind, *_, message) in BAD_CHUNKS.items():
        log = (out / f"logs/select_events/proton/chunk{chunk:04d}.log").read_text()  # one job per species, chunk
        path = timelines[chunk] if kind == "timeline" else events[chunk]
        assert f"{path}: " in log and message in log, (chunk, log[-2000:])
        assert not (out / f"selected/proton/chunk{chunk:04d}.parquet").exists()
        assert not (out / f"selected/proton/chunk{chunk:04d}_cutflow.csv").exists()
    assert _tree(tmp_path / "data") == data_before
    new = [p.relative_to(workdir) for p in _tree(workdir) if p not in project_before]
    assert new and all(p.parts[:2] == ("results", "bad_files") or p.parts[0] == ".snakemake" for p in new), new


@pytest.mark.slow
def test_empty_threshold_stops_the_binning_and_leaves_no_map(bad_inputs_project, tmp_path):
    workdir = bad_inputs_project
    timelines, events = _data_files(tmp_path / "data", 1)
    extra = "species:\n  proton: {thresholds: [18, 45, 90000]}\n"
    overlay = _overlay(tmp_path / "empty.yaml", "empty_threshold", timelines, events, extra)
    result = run_snakemake(workdir, "results/empty_threshold/maps/proton/counts.fits", "--cores", "1",
                           "--configfile", "config/ci.yaml", str(overlay), check=False)
    out = workdir / "results" / "empty_threshold"
    assert result.returncode != 0
    log = (out / "logs/bin_events/proton.log").read_text()
    assert "species proton: threshold(s) 90000GV have zero events" in log
    assert (out / "selected/proton/chunk0000.parquet").is_file()  # the step before succeeded
    assert not (out / "maps").exists() or not any((out / "maps").rglob("*.*"))
    assert not (out / "tables/proton_selection.csv").exists()


@pytest.mark.slow
@pytest.mark.parametrize("case", ["unknown-key", "run-name-escape", "timeline-as-events", "zero-byte-events"])
def test_bad_config_or_file_stops_the_run_before_any_job(bad_inputs_project, tmp_path, case):
    workdir = bad_inputs_project
    timelines, events = _data_files(tmp_path / "data", 1)
    before = _tree(workdir)
    if case == "unknown-key":
        overlay = _overlay(tmp_path / "c.yaml", "unknown_key", timelines, events, "maps: {nsid: 32}\n")
        expected = ["'nsid' was unexpected"]
    elif case == "run-name-escape":
        overlay = _overlay(tmp_path / "c.yaml", "../../escape", timelines, events)
        expected = ["'../../escape' does not match", "run_name"]
    elif case == "timeline-as-events":
        overlay = _overlay(tmp_path / "c.yaml", "swapped", timelines, timelines)
        expected = [f"input.event_files[0]: {timelines[0]} is already given as input.timeline_files[0]"]
        copy_path = tmp_path / "data" / "timeline_copy.parquet"
        copy_path.write_bytes(timelines[0].read_bytes())
        overlay = _overlay(tmp_path / "c.yaml", "swapped", timelines, [copy_path])
        expected = [f"input.event_files[0]: {copy_path}: missing column(s) event_id", "it is a timeline file"]
    else:
        events[0].write_bytes(b"")
        overlay = _overlay(tmp_path / "c.yaml", "zero_bytes", timelines, events)
        expected = [f"input.event_files[0]: {events[0]}: not a readable Parquet file"]
    result = run_snakemake(workdir, "--cores", "1", "--configfile", "config/ci.yaml", str(overlay), check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    for message in expected:
        assert message in output, output[-3000:]
    new = [p for p in _tree(workdir) if p not in before and ".snakemake" not in p.relative_to(workdir).parts]
    assert new == []
    assert not (tmp_path.parent / "escape").exists() and not (workdir.parent / "escape").exists()
