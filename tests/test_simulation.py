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
