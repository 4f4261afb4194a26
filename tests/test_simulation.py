"""Tests of ams_anisotropy.simulation: counts, cutoff, sky injection, determinism, file round trip."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ams_anisotropy import io
from ams_anisotropy import simulation as sim
from ams_anisotropy.frames import Attitude
from ams_anisotropy.geomagnetic import DipoleField, directional_cutoff_gv
from ams_anisotropy.orbit import CircularOrbit
from ams_anisotropy.spectra import FluxTable
from ams_anisotropy.timeline import (
    GoodIntervalCriteria,
    SaaRegion,
    TriggerModel,
    ams_state,
    simulate_timeline,
)

RESOURCES = Path(__file__).resolve().parents[1] / "resources" / "ams02-fluxes"
START = 1.3058e9  # 2011-05-19
ORBIT, ATTITUDE, FIELD = CircularOrbit(), Attitude(), DipoleField()


def make_timeline(duration_s, cadence_s=10.0, start=START):
    return simulate_timeline(
        start,
        start + duration_s,
        cadence_s,
        ORBIT,
        ATTITUDE,
        FIELD,
        TriggerModel(),
        SaaRegion(),
        GoodIntervalCriteria(),
    )


@pytest.fixture(scope="module")
def tables():
    return {name: FluxTable.from_file(RESOURCES / f"AMS-02_{name}_rigidity.txt") for name in ("H", "He", "e-")}


@pytest.fixture(scope="module")
def short_timeline():
    return make_timeline(1800.0)


def run(timeline, particles, seed=1, chunk_id=0, **kwargs):
    return sim.simulate_events(
        timeline,
        seed=seed,
        chunk_id=chunk_id,
        particles=particles,
        orbit=ORBIT,
        attitude=ATTITUDE,
        field=FIELD,
        **kwargs,
    )


def test_schema_round_trip_and_determinism(tmp_path, short_timeline, tables):
    particles = [
        sim.ParticleSource("proton", 1, 1, tables["H"], 20.0),
        sim.ParticleSource("helium", 2, 1, tables["He"], 20.0),
        sim.ParticleSource("electron", 1, -1, tables["e-"], 10.0),
    ]
    first = run(short_timeline, particles, seed=5, chunk_id=7, prescale=20.0, albedo_fraction=0.01)
    second = run(short_timeline, particles, seed=5, chunk_id=7, prescale=20.0, albedo_fraction=0.01)
    other = run(short_timeline, particles, seed=6, chunk_id=7, prescale=20.0, albedo_fraction=0.01)
    assert len(first) > 1000
    pd.testing.assert_frame_equal(first, second, check_exact=True)  # bitwise identical
    assert len(other) != len(first) or not np.array_equal(other["time_unix_s"], first["time_unix_s"])
    assert list(first.columns) == list(io.EVENT_SCHEMA) + list(io.EVENT_TRUTH_COLUMNS)
    np.testing.assert_array_equal(first["event_id"], 7 * 10**10 + np.arange(len(first)))
    assert np.all(np.diff(first["time_unix_s"]) >= 0)
    assert set(first["mc_particle"].unique()) == {"proton", "helium", "electron"}
    path = tmp_path / "events.parquet"
    io.write_parquet(first, path)
    back = io.read_events(path)
    assert len(back) == len(first)
    np.testing.assert_array_equal(back["gal_l_deg"], first["gal_l_deg"])
    stop = short_timeline["time_unix_s"].iloc[-1] + short_timeline["duration_s"].iloc[-1]
    io.check_times_in_timeline(back["time_unix_s"], short_timeline["time_unix_s"].iloc[0], stop, path)
    # directions: unit vectors, downward-going primaries, galactic coordinates in range
    d = first[["dir_det_x", "dir_det_y", "dir_det_z"]].to_numpy(np.float64)
    np.testing.assert_allclose(np.linalg.norm(d, axis=1), 1.0, atol=1e-6)  # float32 storage
    primary = (first["mc_origin"] != "albedo").to_numpy()
    assert np.all(d[primary, 2] > 0) and np.all(first["gal_b_deg"].abs() <= 90)
    # electrons: mostly negative measured rigidity (charge confusion only near the MDR)
    electrons = first[(first["mc_particle"] == "electron") & (first["mc_origin"] == "primary")]
    assert np.mean(electrons["rigidity_gv"] < 0) > 0.98


def test_no_event_below_the_directional_cutoff(short_timeline, tables):
    particles = [
        sim.ParticleSource("proton", 1, 1, tables["H"], 2.0),
        sim.ParticleSource("electron", 1, -1, tables["e-"], 2.0),
    ]
    events = run(short_timeline, particles, prescale=50.0, albedo_fraction=0.0)
    assert len(events) > 2000
    for name, sign in (("proton", 1), ("electron", -1)):
        sel = events[events["mc_particle"] == name]
        state = ams_state(sel["time_unix_s"].to_numpy(), ORBIT, ATTITUDE)
        d = sel[["dir_det_x", "dir_det_y", "dir_det_z"]].to_numpy(np.float64)
        d = d / np.linalg.norm(d, axis=1, keepdims=True)
        itrs = np.einsum("ni,nij->nj", d, state["axes_itrs"])
        cutoff = directional_cutoff_gv(state["position_itrs_km"], itrs, sign, FIELD)
        ratio = sel["mc_rigidity_gv"].to_numpy(np.float64) / cutoff
        # float32 storage of direction and rigidity: relative rounding < 1e-5
        assert ratio.min() > 1.0 - 1e-5
        # the cut is active: events pile up just above the cutoff and low-rigidity ones are removed
        assert np.mean(ratio < 1.2) > 0.01
        assert sel["mc_rigidity_gv"].min() > 2.5


def test_counts_match_expectation(tables):
    timeline = make_timeline(3 * 3600.0, cadence_s=20.0)
    proton = sim.ParticleSource("proton", 1, 1, tables["H"], 100.0)  # above every cutoff (< 60 GV)
    prescale = 4.0
    expected = sim.expected_counts(timeline, [proton], prescale=prescale, acceptance_samples=400_000)
    events = run(timeline, [proton], prescale=prescale, albedo_fraction=0.0)
    mu = float(expected["expected_in_patterns"].iloc[0])
    # exposure: live seconds x hidden efficiency
    weight = (
        timeline["duration_s"] * timeline["livetime_fraction"] * sim.hidden_efficiency(timeline["trigger_rate_hz"])
    ).sum()
    np.testing.assert_allclose(expected["exposure_s"].iloc[0], weight, rtol=1e-6)
    assert 2000 < mu < 50000
    # Poisson (5 sigma) plus the acceptance MC error of expected_counts (~0.4% at 4e5 samples)
    assert abs(len(events) - mu) < 5 * np.sqrt(mu) + 0.02 * mu


def test_hidden_efficiency():
    rate = np.array([100.0, 200.0, 1100.0, 2000.0, 1e6])
    np.testing.assert_allclose(sim.hidden_efficiency(rate, 0.03), [1.0, 1.0, 0.985, 0.97, 0.0])
    assert np.all(sim.hidden_efficiency(rate, 0.0) == 1.0)


def test_injected_dipole_is_recovered(tables):
    timeline = make_timeline(6 * 3600.0, cadence_s=20.0)
    proton = sim.ParticleSource("proton", 1, 1, tables["H"], 100.0)
    rho = np.array([0.3, -0.5, 0.4])
    dipole = sim.ParticleSource("proton", 1, 1, tables["H"], 100.0, sky=sim.SkyModel(tuple(rho)))
    iso = run(timeline, [proton], seed=11, albedo_fraction=0.0, stored_patterns=["inner"])
    dip = run(timeline, [dipole], seed=12, albedo_fraction=0.0, stored_patterns=["inner"])

    def unit(frame):
        l_rad, b_rad = np.radians(frame["gal_l_deg"].to_numpy()), np.radians(frame["gal_b_deg"].to_numpy())
        return np.column_stack([np.cos(b_rad) * np.cos(l_rad), np.cos(b_rad) * np.sin(l_rad), np.sin(b_rad)])

    n_iso, n_dip = unit(iso), unit(dip)
    assert len(n_iso) > 10000 and len(n_dip) > 5000
    # prediction from the isotropic run (same exposure): E[n] = sum n (1 + rho.n) / sum (1 + rho.n)
    w = 1.0 + n_iso @ rho
    predicted = (n_iso * w[:, None]).sum(axis=0) / w.sum()
    observed = n_dip.mean(axis=0)
    sigma = np.hypot(n_dip.std(axis=0) / np.sqrt(len(n_dip)), n_iso.std(axis=0) / np.sqrt(len(n_iso)))
    assert np.all(np.abs(observed - predicted) < 5 * sigma)
    # and the dipole visibly moved the mean direction towards rho (far more than the errors)
    shift = observed - n_iso.mean(axis=0)
    assert shift @ rho / np.linalg.norm(rho) > 10 * sigma.max()
    # the accepted fraction matches <1 + rho.n> / (1 + |rho|) of the rejection step
    ratio = len(n_dip) / len(n_iso)
    assert abs(ratio - w.mean() / (1 + np.linalg.norm(rho))) < 5 * ratio * np.sqrt(1 / len(n_dip) + 1 / len(n_iso))


def test_albedo_and_poor_tracks(short_timeline, tables):
    proton = sim.ParticleSource("proton", 1, 1, tables["H"], 50.0, reconstruction_efficiency=0.8)
    events = run(short_timeline, [proton], albedo_fraction=0.05, poor_track_fraction=0.01)
    n = len(events)
    assert n > 3000
    albedo = (events["mc_origin"] == "albedo").to_numpy()
    assert abs(albedo.mean() - 0.05) < 5 * np.sqrt(0.05 * 0.95 / n)
    assert np.all(events["beta"][albedo] < 0) and np.all(events["dir_det_z"][albedo] < 0)
    assert np.mean(events["beta"][~albedo] > 0) > 0.999
    poor = (events["mc_origin"] == "poor_track").to_numpy()
    share = poor.sum() / (~albedo).sum()
    expected = 1 - 0.8 * 0.99
    assert abs(share - expected) < 5 * np.sqrt(expected * (1 - expected) / (~albedo).sum())
    assert np.all(events["track_chi2_ndf"][poor] > 3)


def test_default_particles_and_neighbouring_charges():
    particles = sim.default_particles(RESOURCES)
    names = [p.name for p in particles]
    assert names == ["electron", "positron", "proton", "helium", "carbon", "oxygen", "boron", "nitrogen"]
    by_name = {p.name: p for p in particles}
    r = np.array([20.0, 200.0])
    np.testing.assert_allclose(
        by_name["boron"].flux.flux(r) / by_name["carbon"].flux.flux(r), 0.2 * (r / 20.0) ** -0.33, rtol=1e-9
    )
    assert by_name["electron"].charge_sign == -1 and by_name["electron"].electromagnetic
    assert by_name["oxygen"].charge_z == 8 and not by_name["oxygen"].electromagnetic


def test_bad_inputs_fail_clearly(tmp_path, short_timeline, tables):
    proton = sim.ParticleSource("proton", 1, 1, tables["H"], 50.0)
    with pytest.raises(ValueError, match="livetime_fraction"):
        run(short_timeline.drop(columns=["livetime_fraction"]), [proton])
    with pytest.raises(ValueError, match="no rows"):
        run(short_timeline.iloc[:0], [proton])
    with pytest.raises(ValueError, match="prescale"):
        run(short_timeline, [proton], prescale=0.5)
    with pytest.raises(ValueError, match="flux negative"):
        sim.SkyModel((0.9, 0.9, 0.0))
    with pytest.raises(ValueError, match="symmetric"):
        sim.SkyModel(quadrupole_gal=((0.1, 0.2, 0), (0, -0.1, 0), (0, 0, 0)))
    with pytest.raises(ValueError, match="name"):
        sim.ParticleSource("pion", 1, 1, tables["H"], 50.0)
    # a truncated flux table: the error names the file
    broken = tmp_path / "fluxes"
    shutil.copytree(RESOURCES, broken)
    table = broken / "AMS-02_He_rigidity.txt"
    table.write_text(table.read_text()[:700])
    with pytest.raises(io.InputError, match="AMS-02_He_rigidity.txt"):
        sim.default_particles(broken)


def test_hidden_efficiency_shapes_the_event_rate(tables):
    timeline = make_timeline(3 * 3600.0, cadence_s=20.0)
    proton = sim.ParticleSource("proton", 1, 1, tables["H"], 100.0)
    amplitude = 0.5  # exaggerated so that the effect is many sigma with ~1e4 events
    events = run(timeline, [proton], albedo_fraction=0.0, hidden_efficiency_amplitude=amplitude)
    start = timeline["time_unix_s"].to_numpy()
    interval = np.searchsorted(start, events["time_unix_s"].to_numpy(), side="right") - 1
    rate = timeline["trigger_rate_hz"].to_numpy()
    high = rate > 1000.0
    live = (timeline["duration_s"] * timeline["livetime_fraction"]).to_numpy()
    with_eff = live * sim.hidden_efficiency(rate, amplitude)
    observed = np.mean(high[interval])
    n = len(events)
    sigma = np.sqrt(observed * (1 - observed) / n)
    # events follow live time x hidden efficiency, not live time alone
    assert abs(observed - with_eff[high].sum() / with_eff.sum()) < 5 * sigma
    assert live[high].sum() / live.sum() - observed > 5 * sigma


# ---------------------------------------------------------------------------------------------
# envelope sampling of the stored patterns, interpolated AMS state, name-keyed streams


def _region_acceptance(geometry, patterns, n_pairs, seed):
    """Acceptance (m^2 sr) of a union of patterns from the envelope sampler, and its binomial error."""
    from ams_anisotropy.pattern_lines import draw_lines, regions

    rng = np.random.default_rng(seed)
    value = variance = 0.0
    for region in regions(geometry, patterns):
        kept = draw_lines(rng, n_pairs, geometry, region, 89.9)[0].shape[0]
        p = kept / n_pairs
        value += region.pair_acceptance_m2sr * p
        variance += region.pair_acceptance_m2sr**2 * p * (1 - p) / n_pairs
    return value, np.sqrt(variance)


def test_envelope_sampler_matches_sullivan_two_discs():
    from ams_anisotropy import acceptance as acc

    top, bottom = acc.Plane("top", 188.0, "disc", 55.0), acc.Plane("bottom", 0.0, "disc", 50.0)
    geometry = acc.Geometry(planes=(top, bottom), patterns=(("both", ("top", "bottom")),), generation_plane="top")
    value, error = _region_acceptance(geometry, ["both"], 400_000, 1)
    # exact acceptance (Sullivan); 4 sigma of the binomial error of the cos^4 step
    assert abs(value - acc.two_disc_acceptance_m2sr(55.0, 50.0, 188.0)) < 4 * error


def test_envelope_sampler_matches_cone_generation_for_ams_patterns():
    from ams_anisotropy import acceptance as acc

    n = 400_000
    old = acc.generate(np.random.default_rng(3), n)
    a_gen = acc.generation_acceptance_m2sr()
    for patterns in (["l1_inner"], ["l1_inner_l9"], ["ecal"], ["l1_inner_l9", "ecal"]):
        union = np.zeros(n, bool)
        for name in patterns:
            union |= old.patterns[name]
        p = union.mean()
        expected, expected_error = a_gen * p, a_gen * np.sqrt(p * (1 - p) / n)
        value, error = _region_acceptance(acc.AMS02_GEOMETRY, patterns, n, 4)
        assert abs(value - expected) < 4 * np.hypot(error, expected_error), patterns


def test_envelope_directions_match_cone_generation():
    """Same detector-frame direction distribution as the cone generation (mean cos theta and x/y spread)."""
    from ams_anisotropy import acceptance as acc
    from ams_anisotropy.pattern_lines import draw_lines, regions

    old = acc.generate(np.random.default_rng(5), 2_000_000)
    d_old = old.direction_det[old.patterns["l1_inner"]]
    region = regions(acc.AMS02_GEOMETRY, ["l1_inner"])[0]
    d_new = draw_lines(np.random.default_rng(6), 300_000, acc.AMS02_GEOMETRY, region, 50.0)[0]
    for k in range(3):
        sigma = np.hypot(d_old[:, k].std() / np.sqrt(len(d_old)), d_new[:, k].std() / np.sqrt(len(d_new)))
        assert abs(d_old[:, k].mean() - d_new[:, k].mean()) < 5 * sigma
        np.testing.assert_allclose(d_new[:, k].std(), d_old[:, k].std(), rtol=0.01)


def test_interpolated_state_matches_exact_state():
    from ams_anisotropy.interval_state import IntervalStates

    timeline = make_timeline(6000.0, cadence_s=10.0)
    start, duration = timeline["time_unix_s"].to_numpy(), timeline["duration_s"].to_numpy(np.float64)
    states = IntervalStates(start, duration, ORBIT, ATTITUDE, FIELD)
    g = np.random.default_rng(7)
    m = 20_000
    interval = g.integers(0, len(start), m)
    times = start[interval] + duration[interval] * g.random(m)
    d = g.normal(size=(m, 3))
    d[:, 2] = np.abs(d[:, 2]) + 0.5
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    for sign in (1, -1):
        gal, cutoff = states.evaluate(interval, times, d, sign)
        exact = ams_state(times, ORBIT, ATTITUDE)
        gal_exact = np.einsum("ni,nij->nj", d, exact["axes_gal"])
        itrs = np.einsum("ni,nij->nj", d, exact["axes_itrs"])
        cutoff_exact = directional_cutoff_gv(exact["position_itrs_km"], itrs, sign, FIELD)
        # (omega h)^2 / 8 = 1.6e-5 rad at h = 10 s (module docstring)
        angle = np.arccos(np.clip(np.einsum("ij,ij->i", gal, gal_exact), -1, 1))
        assert angle.max() < 3e-5
        assert np.max(np.abs(cutoff / cutoff_exact - 1)) < 3e-4


def test_streams_keyed_by_name_not_order(short_timeline, tables):
    proton = sim.ParticleSource("proton", 1, 1, tables["H"], 30.0)
    helium = sim.ParticleSource("helium", 2, 1, tables["He"], 30.0)
    kwargs = dict(prescale=20.0, store_reconstruction_failures=False)
    first = run(short_timeline, [proton, helium], **kwargs)
    swapped = run(short_timeline, [helium, proton], **kwargs)
    pd.testing.assert_frame_equal(first, swapped, check_exact=True)
    alone = run(short_timeline, [proton], **kwargs)
    protons = first[first["mc_particle"] == "proton"].drop(columns="event_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(protons, alone.drop(columns="event_id"), check_exact=True,
                                  check_categorical=False)


def test_slices_and_streaming_give_one_sorted_stream(tables):
    timeline = make_timeline(3 * 3600.0, cadence_s=20.0)
    proton = sim.ParticleSource("proton", 1, 1, tables["H"], 50.0)
    frames = list(sim.iter_event_slices(timeline, seed=1, chunk_id=3, particles=[proton], orbit=ORBIT,
                                        attitude=ATTITUDE, field=FIELD, slice_s=3600.0))
    assert len(frames) == 3
    joined = pd.concat(frames, ignore_index=True)
    np.testing.assert_array_equal(joined["event_id"], 3 * 10**10 + np.arange(len(joined)))
    assert np.all(np.diff(joined["time_unix_s"]) >= 0)
    pd.testing.assert_frame_equal(joined, run(timeline, [proton], chunk_id=3, slice_s=3600.0), check_exact=True)


def test_not_storing_failures_is_a_thinning(short_timeline, tables):
    proton = sim.ParticleSource("proton", 1, 1, tables["H"], 40.0, reconstruction_efficiency=0.5)
    kwargs = dict(albedo_fraction=0.0, poor_track_fraction=0.02)
    full = run(short_timeline, [proton], seed=2, **kwargs)
    lean = run(short_timeline, [proton], seed=3, store_reconstruction_failures=False, **kwargs)
    n_full = int((full["mc_origin"] == "primary").sum())
    n_lean = int((lean["mc_origin"] == "primary").sum())
    assert n_full > 3000 and abs(n_full - n_lean) < 5 * np.sqrt(n_full + n_lean)
    # only the poor_track_fraction share of poor tracks is left (1 - 0.5 x 0.98 = 51% when stored)
    poor = (lean["mc_origin"] == "poor_track").mean()
    assert abs(poor - 0.02) < 5 * np.sqrt(0.02 / len(lean))
    assert abs((full["mc_origin"] == "poor_track").mean() - 0.51) < 5 * np.sqrt(0.25 / len(full))


def test_ecal_energy_floor_keeps_exactly_the_events_above_it(short_timeline, tables):
    base = dict(stored_patterns=("l1_inner_l9", "ecal"))
    plain = sim.ParticleSource("proton", 1, 1, tables["H"], 2.0, **base)
    floored = sim.ParticleSource("proton", 1, 1, tables["H"], 2.0, pattern_min_ecal_energy_gev={"ecal": 5.0}, **base)
    kwargs = dict(albedo_fraction=0.0, store_reconstruction_failures=False)
    a = run(short_timeline, [plain], seed=4, **kwargs)
    b = run(short_timeline, [floored], seed=5, **kwargs)
    only_ecal_a, only_ecal_b = ~a["has_l9"].to_numpy(), ~b["has_l9"].to_numpy()
    above_a = only_ecal_a & (a["ecal_energy_gev"].to_numpy() >= 5.0)
    # the floor drops the ECAL-only events below it, and only those
    assert np.all(b["ecal_energy_gev"].to_numpy()[only_ecal_b] >= 5.0)
    assert only_ecal_a.sum() > 5 * above_a.sum() > 0
    n_a, n_b = int(above_a.sum()), int(only_ecal_b.sum())
    assert abs(n_a - n_b) < 5 * np.sqrt(n_a + n_b)
    n_l9_a, n_l9_b = int((~only_ecal_a).sum()), int((~only_ecal_b).sum())
    assert abs(n_l9_a - n_l9_b) < 5 * np.sqrt(n_l9_a + n_l9_b)
    # their spectra agree too (the floor raised the generated rigidity to 5 GV, losing nothing)
    r_a = a["mc_rigidity_gv"].to_numpy()[above_a]
    r_b = b["mc_rigidity_gv"].to_numpy()[only_ecal_b]
    assert abs(np.log(r_a).mean() - np.log(r_b).mean()) < 5 * np.hypot(np.log(r_a).std() / np.sqrt(n_a),
                                                                        np.log(r_b).std() / np.sqrt(n_b))


def test_particle_stop_time(tables):
    timeline = make_timeline(2 * 3600.0, cadence_s=20.0)
    proton = sim.ParticleSource("proton", 1, 1, tables["H"], 60.0)
    stop = START + 2700.0  # inside an interval (not on an edge)
    full = run(timeline, [proton], seed=6, albedo_fraction=0.0)
    cut = run(timeline, [proton], seed=6, albedo_fraction=0.0, particle_stop_unix_s={"proton": stop})
    assert cut["time_unix_s"].max() < stop
    expected = (full["time_unix_s"] < stop).sum()
    assert abs(len(cut) - expected) < 5 * np.sqrt(expected)
    with pytest.raises(ValueError, match="unknown particle"):
        run(timeline, [proton], particle_stop_unix_s={"helium": stop})


def test_interpolated_state_is_exact_across_a_flight_direction_flip():
    from ams_anisotropy.interval_state import IntervalStates

    flip = START + 1003.0  # inside an interval: +XVV before, -XVV after
    attitude = Attitude(minus_xvv_periods_unix_s=((flip, flip + 1e6),))
    start = START + 10.0 * np.arange(200)
    duration = np.full(200, 10.0)
    states = IntervalStates(start, duration, ORBIT, attitude, FIELD)
    times = np.array([flip - 2.0, flip + 2.0, START + 500.0, START + 1500.0])
    interval = ((times - START) // 10).astype(int)
    d = np.tile([0.3, 0.2, np.sqrt(1 - 0.13)], (4, 1))
    gal, cutoff = states.evaluate(interval, times, d, 1)
    exact = ams_state(times, ORBIT, attitude)
    np.testing.assert_allclose(gal, np.einsum("ni,nij->nj", d, exact["axes_gal"]), atol=3e-5)
    itrs = np.einsum("ni,nij->nj", d, exact["axes_itrs"])
    np.testing.assert_allclose(cutoff, directional_cutoff_gv(exact["position_itrs_km"], itrs, 1, FIELD), rtol=3e-4)
    assert states.flip.sum() == 1


def test_store_above_drops_only_events_no_selection_takes(short_timeline, tables):
    """The floor is applied after every random draw of a block, so the selected sample is the same
    events, bitwise, with and without it (only the event ids differ)."""
    from ams_anisotropy.selection import SpeciesCuts, select_events

    base = dict(stored_patterns=("l1_inner_l9", "ecal"))
    plain = sim.ParticleSource("proton", 1, 1, tables["H"], 14.0, **base)
    floored = sim.ParticleSource("proton", 1, 1, tables["H"], 14.0, store_above={"rigidity_gv": 18.0,
                                                                                "ecal_energy_gev": 16.0}, **base)
    kwargs = dict(seed=8, store_reconstruction_failures=False, albedo_fraction=0.01)
    a, b = run(short_timeline, [plain], **kwargs), run(short_timeline, [floored], **kwargs)
    assert len(b) < 0.85 * len(a)  # the 14-18 GV margin that stays below 18 GV is not written
    cuts = SpeciesCuts("proton", "rigidity", 18.0, charge_min=0.6, charge_max=1.5, beta_min=0.5, beta_max=1.3,
                       require_l1=True, min_inner_layers=7, require_l9=True, track_chi2_max=10.0,
                       use_full_span_rigidity=True, cutoff_factor=1.0)
    selected_a, selected_b = (select_events(f, short_timeline, cuts)[0].drop(columns="event_id") for f in (a, b))
    assert len(selected_a) > 1000
    pd.testing.assert_frame_equal(selected_a, selected_b, check_exact=True)
    with pytest.raises(ValueError, match="store_above"):
        sim.ParticleSource("proton", 1, 1, tables["H"], 14.0, store_above={"energy": 1.0})


def test_compiled_interpolation_equals_the_numpy_formulas():
    from ams_anisotropy import interval_state

    timeline = make_timeline(600.0, cadence_s=10.0)
    start, duration = timeline["time_unix_s"].to_numpy(), timeline["duration_s"].to_numpy(np.float64)
    states = interval_state.IntervalStates(start, duration, ORBIT, ATTITUDE, FIELD)
    g = np.random.default_rng(9)
    interval = g.integers(0, len(start), 5000)
    u = g.random(5000)
    d = g.normal(size=(5000, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    times = start[interval] + u * duration[interval]
    gal, cutoff = states.evaluate(interval, times, d, -1)
    u = (times - start[interval]) / duration[interval]  # as evaluate recovers it from the times
    q = [states.base[k][interval] + u * states.slope[k][interval] for k in range(states.base.shape[0])]
    gal_np, cutoff_np = interval_state._direction_and_cutoff(q, d, -1)
    np.testing.assert_allclose(gal, gal_np, rtol=0, atol=1e-13)
    np.testing.assert_allclose(cutoff, cutoff_np, rtol=1e-12)
