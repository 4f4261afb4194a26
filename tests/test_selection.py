"""Tests of ams_anisotropy.selection on small synthetic event and timeline frames."""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
import pytest

from ams_anisotropy import io, rng
from ams_anisotropy.selection import (
    SpeciesCuts,
    contamination,
    match_intervals,
    merge_cutflows,
    select_events,
    select_species,
)

T0 = 1_305_763_200.0  # 2011-05-19 00:00:00 UTC
N_INTERVALS = 10
DURATION_S = 10.0

ELECTRON_CUTS = SpeciesCuts(
    species="electron", observable="ecal_energy", observable_min=16.0, observable_max=350.0, charge_sign=-1,
    charge_min=0.6, charge_max=1.5, beta_min=0.9, beta_max=1.2, require_l1=True, min_inner_layers=5,
    require_trd_track=True, trd_estimator_max=0.75, require_ecal_cluster=True, ecal_estimator_min=0.2,
    energy_over_rigidity_min=0.7, energy_over_rigidity_max=2.0, track_chi2_max=10.0, cutoff_factor=1.2,
    cone_half_angle_deg=40,
)  # fmt: skip
PROTON_CUTS = SpeciesCuts(
    species="proton", observable="rigidity", observable_min=18.0, charge_sign=1, charge_min=0.6,
    charge_max=1.5, beta_min=0.5, beta_max=1.3, require_l1=True, min_inner_layers=7, require_l9=True,
    track_chi2_max=10.0,
)  # fmt: skip


def make_timeline(n=N_INTERVALS):
    """Intervals of 10 s; interval 3 bad; cutoffs 10 GV (pos) / 11 GV (neg), 30 / 31 GV in interval 5,
    2 GV in interval 7."""
    frame = {
        "time_unix_s": T0 + DURATION_S * np.arange(n),
        "duration_s": np.full(n, DURATION_S, np.float32),
        "iss_lat_deg": np.zeros(n, np.float32),
        "iss_lon_deg": np.zeros(n, np.float32),
        "iss_alt_km": np.full(n, 410.0, np.float32),
        "flight_direction": np.ones(n, np.int8),
    }
    for axis in "xyz":
        for c in "xyz":
            frame[f"ams_{axis}_gal_{c}"] = np.full(n, float(axis == c))
    frame["ams_zenith_deg"] = np.full(n, 12.0, np.float32)
    frame["trigger_rate_hz"] = (200.0 + 10.0 * np.arange(n)).astype(np.float32)
    frame["livetime_fraction"] = np.full(n, 0.9, np.float32)
    frame["in_saa"] = np.zeros(n, bool)
    for sign, offset in (("pos", 0.0), ("neg", 1.0)):
        for cone in io.CONE_HALF_ANGLES_DEG:
            cutoff = np.full(n, 10.0 + offset, np.float32)
            cutoff[5] = 30.0 + offset
            cutoff[7] = 2.0
            frame[f"cutoff_max_{sign}_{cone}_gv"] = cutoff
    good = np.ones(n, bool)
    good[3] = False
    frame["good"] = good
    return pd.DataFrame(frame)


def electron(**changes):
    """One event that passes every electron cut (interval 0), with changes."""
    event = {
        "event_id": 0, "time_unix_s": T0 + 1.0, "rigidity_gv": -50.0, "rigidity_full_span_gv": np.nan,
        "track_chi2_ndf": 1.0, "has_l1": True, "has_l9": False, "n_inner_layers": 7, "charge": 1.0,
        "beta": 1.0, "has_trd_track": True, "trd_estimator": 0.55, "has_ecal_cluster": True,
        "ecal_energy_gev": 50.0, "ecal_estimator": 0.9, "dir_det_x": 0.0, "dir_det_y": 0.6,
        "dir_det_z": 0.8, "gal_l_deg": 120.0, "gal_b_deg": 30.0, "mc_particle": "electron",
        "mc_rigidity_gv": 50.0, "mc_origin": "primary",
    }  # fmt: skip
    event.update(changes)
    return event


def proton(**changes):
    event = electron(
        rigidity_gv=100.0, rigidity_full_span_gv=101.0, has_l9=True, has_trd_track=True, trd_estimator=1.0,
        has_ecal_cluster=False, ecal_energy_gev=np.nan, ecal_estimator=np.nan, mc_particle="proton",
        mc_rigidity_gv=100.0,
    )  # fmt: skip
    event.update(changes)
    return event


def frame(rows):
    events = pd.DataFrame(rows)
    events["event_id"] = np.arange(len(events), dtype=np.int64)
    for name in (
        "rigidity_gv",
        "rigidity_full_span_gv",
        "track_chi2_ndf",
        "charge",
        "beta",
        "trd_estimator",
        "ecal_energy_gev",
        "ecal_estimator",
        "dir_det_x",
        "dir_det_y",
        "dir_det_z",
        "mc_rigidity_gv",
    ):
        events[name] = events[name].astype(np.float32)
    events["n_inner_layers"] = events["n_inner_layers"].astype(np.int8)
    return events


# (description, changes to the good electron, expected first words of the cut that removes it)
ELECTRON_FAILURES = [
    ("bad interval", {"time_unix_s": T0 + 35.0}, "good interval"),
    ("upward-going", {"beta": -1.0}, "downward beta"),
    ("slow", {"beta": 0.6}, "downward beta"),
    ("no L1", {"has_l1": False}, "L1 hit"),
    ("few inner layers", {"n_inner_layers": 4}, "inner layers >= 5"),
    ("bad chi2", {"track_chi2_ndf": 50.0}, "track chi2/ndf"),
    ("wrong charge sign", {"rigidity_gv": 50.0}, "track with negative rigidity"),
    ("no track", {"rigidity_gv": np.nan}, "track with negative rigidity"),
    ("charge 2", {"charge": 2.0}, "charge in"),
    ("no TRD track", {"has_trd_track": False}, "TRD track"),
    ("proton-like TRD", {"trd_estimator": 1.0}, "TRD estimator"),
    ("no ECAL cluster", {"has_ecal_cluster": False}, "ECAL cluster"),
    ("hadronic shower", {"ecal_estimator": -0.5}, "ECAL estimator"),
    ("E/|R| mismatch", {"rigidity_gv": -500.0}, "E/|R| in"),
    # interval 5: neg 40-deg cutoff 31 GV -> 1.2 x 31 = 37.2 GeV > 33 GeV
    ("below 1.2 x cutoff", {"time_unix_s": T0 + 55.0, "ecal_energy_gev": 33.0, "rigidity_gv": -33.0},
     "observable > 1.2 x max cutoff"),
    # interval 7: cutoff 2 GV, so 14 GeV passes the cutoff cut and fails the threshold
    ("below 16 GeV", {"time_unix_s": T0 + 75.0, "ecal_energy_gev": 14.0, "rigidity_gv": -14.0},
     "observable >= 16 GeV"),
    ("at 350 GeV", {"ecal_energy_gev": 350.0, "rigidity_gv": -350.0}, "observable >= 16 GeV and < 350 GeV"),
]  # fmt: skip


@pytest.mark.parametrize(("what", "changes", "cut"), ELECTRON_FAILURES, ids=[f[0] for f in ELECTRON_FAILURES])
def test_each_electron_cut_removes_its_event(what, changes, cut):
    events = frame([electron(), electron(**changes)])
    selected, cutflow = select_events(events, make_timeline(), ELECTRON_CUTS)
    assert list(selected["event_id"]) == [0], what
    out = cutflow["events_out"].to_numpy()
    drop = int(np.flatnonzero(out == 1)[0])  # first row where only the good event is left
    assert out[drop - 1] == 2
    assert cutflow["cut"][drop].startswith(cut), (what, cutflow["cut"][drop])


PROTON_FAILURES = [
    ("upward-going", {"beta": -0.99}, "downward beta"),
    ("no L9", {"has_l9": False, "rigidity_full_span_gv": np.nan}, "L9 hit"),
    ("six inner layers", {"n_inner_layers": 6}, "inner layers >= 7"),
    ("helium charge", {"charge": 2.0}, "charge in"),
    ("negative rigidity", {"rigidity_gv": -100.0}, "track with positive rigidity"),
    # interval 5: pos cutoff 30 GV, 1.2 x 30 = 36 GV > 33 GV
    ("below 1.2 x cutoff", {"time_unix_s": T0 + 55.0, "rigidity_gv": 33.0}, "observable > 1.2 x max cutoff"),
    ("in bad interval", {"time_unix_s": T0 + 30.0}, "good interval"),
]  # fmt: skip


@pytest.mark.parametrize(("what", "changes", "cut"), PROTON_FAILURES, ids=[f[0] for f in PROTON_FAILURES])
def test_each_proton_cut_removes_its_event(what, changes, cut):
    events = frame([proton(), proton(**changes)])
    selected, cutflow = select_events(events, make_timeline(), PROTON_CUTS)
    assert list(selected["event_id"]) == [0], what
    out = cutflow["events_out"].to_numpy()
    drop = int(np.flatnonzero(out == 1)[0])
    assert cutflow["cut"][drop].startswith(cut), (what, cutflow["cut"][drop])


def test_cut_edges_and_cutoff_column_by_sign():
    # 16 GeV exactly is kept (>= threshold); just above 1.2 x cutoff is kept, exactly at it is not.
    tl = make_timeline()
    cut_neg = 1.2 * float(np.float32(31.0))  # interval 5, negative-particle 40-deg cone
    events = frame([
        electron(time_unix_s=T0 + 75.0, ecal_energy_gev=16.0, rigidity_gv=-16.0),
        electron(time_unix_s=T0 + 55.0, ecal_energy_gev=np.float32(cut_neg) * (1 + 1e-6), rigidity_gv=-40.0),
        electron(time_unix_s=T0 + 55.0, ecal_energy_gev=36.5, rigidity_gv=-40.0),  # > 1.2x30 (pos) < 1.2x31
    ])  # fmt: skip
    selected, _ = select_events(events, tl, ELECTRON_CUTS)
    assert list(selected["event_id"]) == [0, 1]
    positron_cuts = SpeciesCuts(**{**ELECTRON_CUTS.__dict__, "species": "positron", "charge_sign": 1})
    assert positron_cuts.cutoff_column == "cutoff_max_pos_40_gv"
    events["rigidity_gv"] = -events["rigidity_gv"]
    selected, _ = select_events(events, tl, positron_cuts)
    assert list(selected["event_id"]) == [0, 1, 2]  # 36.5 > 1.2 x 30 GV (positive cutoff)


def test_selected_columns_and_values_roundtrip(tmp_path):
    tl = make_timeline()
    events = frame([proton(time_unix_s=T0 + 12.0), proton(time_unix_s=T0 + 95.0, rigidity_gv=250.0)])
    selected, _ = select_events(events, tl, PROTON_CUTS)
    expected = list(io.SELECTED_SCHEMA) + list(io.EVENT_TRUTH_COLUMNS)
    assert list(selected.columns) == expected
    np.testing.assert_array_equal(selected["observable"], [100.0, 250.0])
    np.testing.assert_array_equal(selected["trigger_rate_hz"], tl["trigger_rate_hz"].to_numpy()[[1, 9]])
    np.testing.assert_array_equal(selected["cutoff_max_gv"], tl["cutoff_max_pos_40_gv"].to_numpy()[[1, 9]])
    full_span = SpeciesCuts(**{**PROTON_CUTS.__dict__, "use_full_span_rigidity": True})
    selected_fs, _ = select_events(events, tl, full_span)
    np.testing.assert_array_equal(selected_fs["observable"], events["rigidity_full_span_gv"].to_numpy())
    # the selected frame satisfies the file contract
    io.write_parquet(selected, tmp_path / "sel.parquet")
    back = io.read_selected(tmp_path / "sel.parquet")
    pd.testing.assert_frame_equal(back, selected)
    # electrons: the observable is the ECAL energy, not |R|
    selected_e, _ = select_events(
        frame([electron(ecal_energy_gev=60.0, rigidity_gv=-55.0)]), tl, ELECTRON_CUTS
    )
    assert selected_e["observable"].tolist() == [60.0]


def random_events(n, seed_key):
    """A mixed random population around the cut values (electrons, positrons, protons, albedo)."""
    g = rng.generator(7, "tests", seed_key)
    particle = g.choice(["electron", "positron", "proton"], n, p=[0.5, 0.2, 0.3])
    sign = np.where(particle == "electron", -1.0, 1.0)
    energy = np.exp(g.uniform(np.log(5), np.log(500), n))
    has_ecal = g.random(n) < 0.9
    rows = {
        "event_id": np.arange(n, dtype=np.int64),
        "time_unix_s": T0 + g.uniform(0, N_INTERVALS * DURATION_S, n),
        "rigidity_gv": (sign * energy * g.uniform(0.4, 1.6, n)).astype(np.float32),
        "rigidity_full_span_gv": (sign * energy).astype(np.float32),
        "track_chi2_ndf": g.exponential(3.0, n).astype(np.float32),
        "has_l1": g.random(n) < 0.9,
        "has_l9": g.random(n) < 0.5,
        "n_inner_layers": g.integers(4, 8, n).astype(np.int8),
        "charge": g.normal(1.0, 0.25, n).astype(np.float32),
        "beta": (g.choice([-1.0, 1.0], n, p=[0.05, 0.95]) * g.normal(1.0, 0.1, n)).astype(np.float32),
        "has_trd_track": g.random(n) < 0.9,
        "trd_estimator": np.where(particle == "proton", g.normal(1.0, 0.2, n), g.normal(0.55, 0.15, n)),
        "has_ecal_cluster": has_ecal,
        "ecal_energy_gev": np.where(has_ecal, energy, np.nan).astype(np.float32),
        "ecal_estimator": np.where(has_ecal, g.uniform(-0.5, 1, n), np.nan).astype(np.float32),
        "dir_det_x": np.zeros(n, np.float32),
        "dir_det_y": np.zeros(n, np.float32),
        "dir_det_z": np.ones(n, np.float32),
        "gal_l_deg": g.uniform(0, 360, n),
        "gal_b_deg": g.uniform(-90, 90, n),
        "mc_particle": particle,
        "mc_rigidity_gv": energy.astype(np.float32),
        "mc_origin": g.choice(["primary", "albedo", "poor_track"], n, p=[0.9, 0.05, 0.05]),
    }
    rows["trd_estimator"] = np.where(rows["has_trd_track"], rows["trd_estimator"], np.nan).astype(np.float32)
    return pd.DataFrame(rows)


def passes_by_hand(ev, interval, c: SpeciesCuts) -> bool:
    """Independent scalar implementation of the electron cuts, for one event (plain Python floats)."""
    if not bool(interval["good"]):
        return False
    r = float(ev["rigidity_gv"])
    e = float(ev["ecal_energy_gev"])
    checks = [
        float(ev["beta"]) > 0 and c.beta_min <= float(ev["beta"]) <= c.beta_max,
        bool(ev["has_l1"]),
        int(ev["n_inner_layers"]) >= c.min_inner_layers,
        float(ev["track_chi2_ndf"]) <= c.track_chi2_max,
        not math.isnan(r) and r * c.charge_sign > 0,
        c.charge_min <= float(ev["charge"]) <= c.charge_max,
        bool(ev["has_trd_track"]),
        float(ev["trd_estimator"]) <= c.trd_estimator_max,
        bool(ev["has_ecal_cluster"]) and not math.isnan(e),
        float(ev["ecal_estimator"]) >= c.ecal_estimator_min,
        c.energy_over_rigidity_min <= e / abs(r) <= c.energy_over_rigidity_max if r else False,
        e > c.cutoff_factor * float(interval[c.cutoff_column]),
        c.observable_min <= e < c.observable_max,
    ]
    return all(checks)


def test_random_population_matches_scalar_implementation():
    events = random_events(1500, 1)
    tl = make_timeline()
    selected, cutflow = select_events(events, tl, ELECTRON_CUTS)
    k = ((events["time_unix_s"] - T0) // DURATION_S).astype(int)
    expected = [
        int(ev["event_id"]) for (_, ev), i in zip(events.iterrows(), k, strict=True)
        if passes_by_hand(ev, tl.iloc[i], ELECTRON_CUTS)
    ]  # fmt: skip
    assert selected["event_id"].tolist() == expected
    assert len(expected) > 30  # the test population does select something
    assert np.all(np.diff(cutflow["events_out"].to_numpy()) < 0)  # and every cut removes some events
    # the cut-flow adds up: each row's input is the previous output; truth classes sum to the total
    assert cutflow["events_in"].iloc[0] == len(events)
    np.testing.assert_array_equal(cutflow["events_in"].to_numpy()[1:], cutflow["events_out"].to_numpy()[:-1])
    assert np.all(np.diff(cutflow["events_out"].to_numpy()) <= 0)
    assert cutflow["events_out"].iloc[-1] == len(selected)
    np.testing.assert_allclose(cutflow["fraction"], cutflow["events_out"] / cutflow["events_in"])
    background_columns = [c for c in cutflow.columns if c.startswith("background_") and c != "background_out"]
    np.testing.assert_array_equal(cutflow[background_columns].sum(axis=1), cutflow["background_out"])
    np.testing.assert_array_equal(cutflow["signal_out"] + cutflow["background_out"], cutflow["events_out"])
    assert {"background_proton_out", "background_positron_out", "background_albedo_out",
            "background_poor_track_out"} <= set(cutflow.columns)  # fmt: skip


def test_contamination_is_measured():
    tl = make_timeline()
    rows = [electron() for _ in range(8)]
    rows.append(
        proton(
            rigidity_gv=-50.0,
            trd_estimator=0.5,
            has_ecal_cluster=True,
            ecal_energy_gev=50.0,
            ecal_estimator=0.5,
        )
    )  # a proton that looks like an electron: passes every cut
    rows.append(electron(mc_origin="albedo"))
    rows.append(electron(mc_particle="positron"))  # charge confusion
    rows.append(proton())  # a real-looking proton: rejected
    events = frame(rows)
    selected, cutflow = select_events(events, tl, ELECTRON_CUTS)
    assert len(selected) == 11
    from_cutflow = contamination(cutflow)
    from_selected = contamination(selected, "electron")
    pd.testing.assert_series_equal(from_cutflow, from_selected, check_names=False)
    assert from_cutflow["proton"] == pytest.approx(1 / 11)
    assert from_cutflow["albedo"] == pytest.approx(1 / 11)
    assert from_cutflow["positron"] == pytest.approx(1 / 11)
    assert from_cutflow["total"] == pytest.approx(3 / 11)
    assert from_cutflow["helium"] == 0.0
    with pytest.raises(ValueError, match="truth"):
        contamination(cutflow.drop(columns=[c for c in cutflow.columns if c.endswith("_out")][1:]))


def test_merge_cutflows_equals_all_at_once():
    events = random_events(400, 2)
    tl = make_timeline()
    _, whole = select_events(events, tl, ELECTRON_CUTS)
    chunks = [events.iloc[:150], events.iloc[150:]]
    parts = [select_events(c, tl, ELECTRON_CUTS)[1] for c in chunks]
    _, proton_flow = select_events(events, tl, PROTON_CUTS)
    merged = merge_cutflows([parts[0], proton_flow, parts[1]])
    merged_e = merged[merged["species"] == "electron"].reset_index(drop=True)
    pd.testing.assert_frame_equal(merged_e[whole.columns], whole, check_dtype=False)
    merged_p = merged[merged["species"] == "proton"].reset_index(drop=True)
    pd.testing.assert_frame_equal(merged_p[proton_flow.columns], proton_flow, check_dtype=False)
    # a class seen in one chunk only counts as zero in the others
    extra = events.iloc[:10].copy()
    extra["mc_particle"] = "deuteron"
    extra["mc_origin"] = "primary"  # albedo / poor_track would be classed by origin
    _, flow_extra = select_events(extra, tl, ELECTRON_CUTS)
    merged2 = merge_cutflows([parts[1], flow_extra])
    assert merged2["background_deuteron_out"].iloc[0] == 10
    other = SpeciesCuts(**{**ELECTRON_CUTS.__dict__, "trd_estimator_max": None})
    with pytest.raises(ValueError, match="cut lists of species electron differ"):
        merge_cutflows([parts[0], select_events(events, tl, other)[1]])


def test_empty_selection_is_allowed_and_reported(caplog):
    events = frame([electron(beta=-1.0), electron(charge=3.0)])
    with caplog.at_level(logging.WARNING, logger="ams_anisotropy.selection"):
        selected, cutflow = select_events(
            events, make_timeline(), ELECTRON_CUTS, events_path="chunk7.parquet"
        )
    assert len(selected) == 0
    assert list(selected.columns)[: len(io.SELECTED_SCHEMA)] == list(io.SELECTED_SCHEMA)
    assert cutflow["events_out"].iloc[-1] == 0
    assert "chunk7.parquet" in caplog.text and "electron" in caplog.text
    # a chunk with no events at all
    selected, cutflow = select_events(events.iloc[:0], make_timeline(), ELECTRON_CUTS)
    assert len(selected) == 0 and cutflow["events_in"].iloc[0] == 0 and np.isnan(cutflow["fraction"].iloc[0])


def test_bad_inputs_fail_clearly():
    tl = make_timeline()
    # an event after the end of the timeline
    events = frame([electron(), electron(time_unix_s=T0 + 1000.0)])
    with pytest.raises(io.InputError, match=r"ev\.parquet: 1 event\(s\) outside the timeline"):
        select_events(events, tl, ELECTRON_CUTS, events_path="ev.parquet")
    # an event in a gap of the timeline (interval 4 removed)
    events = frame([electron(time_unix_s=T0 + 45.0)])
    with pytest.raises(io.InputError, match=r"ev\.parquet: 1 event\(s\) fall in a gap"):
        select_events(
            events, tl.drop(index=4).reset_index(drop=True), ELECTRON_CUTS, events_path="ev.parquet"
        )
    # NaN direction
    events = frame([electron(), electron(dir_det_z=np.nan)])
    with pytest.raises(io.InputError, match=r"ev\.parquet: column dir_det_z has 1 non-finite"):
        select_events(events, tl, ELECTRON_CUTS, events_path="ev.parquet")
    events = frame([electron(gal_b_deg=np.nan)])
    with pytest.raises(io.InputError, match=r"ev\.parquet: column gal_b_deg"):
        select_events(events, tl, ELECTRON_CUTS, events_path="ev.parquet")
    # missing columns, in the events and in the timeline
    with pytest.raises(io.InputError, match=r"ev\.parquet: missing column\(s\) charge"):
        select_events(frame([electron()]).drop(columns="charge"), tl, ELECTRON_CUTS, events_path="ev.parquet")
    with pytest.raises(io.InputError, match=r"tl\.parquet: missing column\(s\) cutoff_max_neg_40_gv"):
        select_events(frame([electron()]), tl.drop(columns="cutoff_max_neg_40_gv"), ELECTRON_CUTS,
                      timeline_path="tl.parquet")  # fmt: skip
    # timeline not in time order
    with pytest.raises(io.InputError, match=r"tl\.parquet: time_unix_s is not strictly increasing"):
        select_events(frame([electron()]), tl.iloc[::-1].reset_index(drop=True), ELECTRON_CUTS,
                      timeline_path="tl.parquet")  # fmt: skip
    with pytest.raises(io.InputError, match="unknown mc_origin"):
        select_events(frame([electron(mc_origin="cosmic")]), tl, ELECTRON_CUTS, events_path="ev.parquet")


def test_events_read_from_files_name_the_file(tmp_path):
    # through io.read_events: a NaN direction in the file is reported with the file's path
    events = frame([electron(), electron(dir_det_x=np.nan)])
    path = tmp_path / "events_000.parquet"
    io.write_parquet(events, path)
    with pytest.raises(io.InputError, match="events_000.parquet"):
        io.read_events(path)
    io.write_parquet(frame([electron(time_unix_s=T0 - 5.0)]), path)
    with pytest.raises(io.InputError, match="events_000.parquet.*outside the timeline"):
        select_events(io.read_events(path), make_timeline(), ELECTRON_CUTS, events_path=str(path))


def test_match_intervals_known_answer():
    start = T0 + np.array([0.0, 10.0, 20.0, 40.0])
    duration = np.array([10.0, 10.0, 10.0, 5.0])
    times = T0 + np.array([0.0, 9.999, 10.0, 29.5, 40.0, 44.9])
    np.testing.assert_array_equal(match_intervals(times, start, duration), [0, 0, 1, 2, 3, 3])
    with pytest.raises(io.InputError, match="gap"):
        match_intervals(T0 + np.array([35.0]), start, duration)
    with pytest.raises(io.InputError, match="outside"):
        match_intervals(T0 + np.array([45.0]), start, duration)


@pytest.mark.parametrize(
    "changes",
    [
        {"cone_half_angle_deg": 45},
        {"charge_sign": 0},
        {"observable": "energy"},
        {"cutoff_factor": 0.0},
        {"beta_min": -1.0},
        {"charge_min": 2.0, "charge_max": 1.0},
        {"observable_max": 10.0},
        {"min_inner_layers": 8},
    ],
)
def test_bad_cuts_raise(changes):
    with pytest.raises(ValueError, match="SpeciesCuts\\('electron'\\)"):
        SpeciesCuts(**{**ELECTRON_CUTS.__dict__, **changes})
    with pytest.raises(ValueError, match="charge_sign"):
        SpeciesCuts(**{**PROTON_CUTS.__dict__, "charge_sign": -1})


def test_all_species_in_one_pass_equal_one_species_at_a_time():
    """select_species shares the interval matching and the common prefixes of cuts between species;
    each species' result must be exactly select_events' for that species alone."""
    events = random_events(3000, 5)
    tl = make_timeline()
    positron = SpeciesCuts(**{**ELECTRON_CUTS.__dict__, "species": "positron", "charge_sign": 1})
    helium = SpeciesCuts(**{**PROTON_CUTS.__dict__, "species": "helium", "require_l9": False, "charge_min": 1.6,
                            "charge_max": 2.5})
    carbon = SpeciesCuts(**{**helium.__dict__, "species": "carbon", "charge_min": 0.9, "charge_max": 1.3})
    everyone = [ELECTRON_CUTS, positron, PROTON_CUTS, helium, carbon]
    together = select_species(events, tl, everyone)
    for cuts, (selected, cutflow) in zip(everyone, together, strict=True):
        alone, alone_flow = select_events(events, tl, cuts)
        pd.testing.assert_frame_equal(selected, alone, check_exact=True)
        pd.testing.assert_frame_equal(cutflow, alone_flow, check_exact=True)
    assert sum(len(s) for s, _ in together) > 100


def test_data_taking_end_cuts_later_events():
    events = random_events(2000, 6)
    tl = make_timeline()
    stop = T0 + 45.0  # inside interval 4
    cuts = SpeciesCuts(**{**PROTON_CUTS.__dict__, "time_max_unix_s": stop})
    selected, cutflow = select_events(events, tl, cuts)
    full, _ = select_events(events, tl, PROTON_CUTS)
    assert cutflow["cut"].iloc[2].startswith("time before the end of data taking")
    assert cutflow["events_out"].iloc[2] == int(((events["time_unix_s"] < stop) & good_of(events, tl)).sum())
    assert selected["event_id"].tolist() == full["event_id"][full["time_unix_s"] < stop].tolist()
    # the observable is written in float32 (the event file's precision), with its value unchanged
    assert selected["observable"].dtype == np.float32
    with pytest.raises(ValueError, match="time_max_unix_s"):
        SpeciesCuts(**{**PROTON_CUTS.__dict__, "time_max_unix_s": float("nan")})


def good_of(events, tl):
    k = ((events["time_unix_s"] - T0) // DURATION_S).astype(int).to_numpy()
    return tl["good"].to_numpy()[k]
