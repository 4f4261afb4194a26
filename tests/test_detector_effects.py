"""Tests of ams_anisotropy.detector_effects: each effect's size in simulated events, switches off = today's events.

Sizes are exaggerated where the default would need ~1e7 events to show; the tolerances are Poisson
(4 sigma), and each test also checks that the effect is resolved (so it can fail both ways).
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import update_config, validate

from ams_anisotropy import acceptance as acc
from ams_anisotropy import simulation as sim
from ams_anisotropy.configuration import ConfigError, check_config
from ams_anisotropy.detector_effects import (
    DAY_S,
    JULIAN_YEAR_S,
    DeadLayer,
    DetectorEffects,
    apply_dead_layer,
    detector_effects_from_config,
)
from ams_anisotropy.frames import Attitude
from ams_anisotropy.geomagnetic import DipoleField
from ams_anisotropy.orbit import CircularOrbit
from ams_anisotropy.pattern_lines import plane_bits
from ams_anisotropy.spectra import FluxTable
from ams_anisotropy.timeline import GoodIntervalCriteria, SaaRegion, TriggerModel, simulate_timeline

ROOT = Path(__file__).resolve().parents[1]
RESOURCES = ROOT / "resources" / "ams02-fluxes"
SCHEMA = str(ROOT / "workflow" / "schemas" / "config.schema.yaml")
START = 1.3058e9  # 2011-05-19
ORBIT, ATTITUDE, FIELD = CircularOrbit(), Attitude(), DipoleField()
# above the largest Stoermer cutoff of the lines (24 GV in the 40 deg cone, < 35 GV at 50 deg): every event
# rate is then live time x efficiency
NO_CUTOFF_GV = 40.0
N_SIGMA = 4.0


@pytest.fixture(scope="module")
def proton():
    table = FluxTable.from_file(RESOURCES / "AMS-02_H_rigidity.txt")
    return sim.ParticleSource("proton", 1, 1, table, NO_CUTOFF_GV, stored_patterns=("l1_inner_l9",))


def _real_timeline(duration_s, cadence_s=20.0):
    return simulate_timeline(START, START + duration_s, cadence_s, ORBIT, ATTITUDE, FIELD, TriggerModel(),
                             SaaRegion(), GoodIntervalCriteria())


def _synthetic_timeline(start, duration_s, rate_hz, lon_deg=0.0):
    """Intervals starting at ``start`` (s) with full livetime and the given trigger rates / longitudes."""
    start = np.asarray(start, dtype=np.float64)
    return pd.DataFrame({"time_unix_s": start, "duration_s": np.full(start.size, float(duration_s)),
                         "livetime_fraction": np.ones(start.size),
                         "trigger_rate_hz": np.broadcast_to(rate_hz, start.shape),
                         "iss_lon_deg": np.broadcast_to(lon_deg, start.shape)})


def _run(timeline, particles, effects, **kwargs):
    return sim.simulate_events(timeline, seed=11, chunk_id=3, particles=particles, orbit=ORBIT, attitude=ATTITUDE,
                               field=FIELD, albedo_fraction=0.0, detector_effects=effects, **kwargs)


def _interval_of(timeline, events):
    return np.searchsorted(timeline["time_unix_s"].to_numpy(), events["time_unix_s"].to_numpy(), side="right") - 1


def _rate_ratio(n_a, live_a, n_b, live_b):
    """(n_a / live_a) / (n_b / live_b) and its Poisson error."""
    ratio = (n_a / live_a) / (n_b / live_b)
    return ratio, ratio * np.sqrt(1.0 / n_a + 1.0 / n_b)


def test_switches_off_reproduce_todays_events_bitwise():
    table = FluxTable.from_file(RESOURCES / "AMS-02_H_rigidity.txt")
    particles = [sim.ParticleSource("proton", 1, 1, table, 20.0),
                 sim.ParticleSource("electron", 1, -1, FluxTable.from_file(RESOURCES / "AMS-02_e-_rigidity.txt"), 10.0)]
    timeline = _real_timeline(1800.0, cadence_s=10.0)
    kwargs = dict(prescale=20.0, albedo_fraction=0.01)
    today = sim.simulate_events(timeline, seed=5, chunk_id=7, particles=particles, orbit=ORBIT, attitude=ATTITUDE,
                                field=FIELD, **kwargs)
    assert len(today) > 1000
    section = copy.deepcopy(yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["simulation"]
                            ["detector_effects"])
    for effect in section.values():
        effect["enabled"] = False
    assert detector_effects_from_config(section, START) is None
    end = START + 1800.0
    for effects in (DetectorEffects(), DetectorEffects(longitude_amplitude=0.0, drift_per_year=0.0),
                    DetectorEffects(dead_layer=DeadLayer("L1", 0.0, end, end + DAY_S))):  # dead after the timeline
        other = sim.simulate_events(timeline, seed=5, chunk_id=7, particles=particles, orbit=ORBIT,
                                    attitude=ATTITUDE, field=FIELD, detector_effects=effects, **kwargs)
        pd.testing.assert_frame_equal(other, today, check_exact=True)


def test_interval_factors_at_the_default_sizes():
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    effects = detector_effects_from_config(config["simulation"]["detector_effects"], START)
    assert effects.longitude_amplitude == 0.003 and effects.drift_per_year == -0.005
    assert effects.trigger_quadratic == 0.01 and effects.dead_layer.layer == "L1"
    assert effects.dead_layer.stop_unix_s - effects.dead_layer.start_unix_s == 5 * DAY_S
    lon = np.array([-50.0, 130.0, 40.0])
    only_lon = DetectorEffects(longitude_amplitude=0.003, longitude_max_loss_deg=-50.0)
    np.testing.assert_allclose(only_lon.interval_efficiency(np.zeros(3), 200.0, lon, 200.0, 2000.0),
                               [0.997, 1.003, 1.0], atol=1e-15)
    drift = DetectorEffects(drift_per_year=-0.005, drift_epoch_unix_s=START)
    np.testing.assert_allclose(drift.interval_efficiency(START + np.array([0.0, 2 * JULIAN_YEAR_S]), 200.0, None,
                                                         200.0, 2000.0), [1.0, 0.99])
    quadratic = DetectorEffects(trigger_quadratic=0.01)
    np.testing.assert_allclose(quadratic.interval_efficiency(np.zeros(4), np.array([100.0, 200.0, 1100.0, 2000.0]),
                                                             None, 200.0, 2000.0), [1.0, 1.0, 0.9975, 0.99])


def test_longitude_term_east_vs_west_at_fixed_trigger_rate(proton):
    amplitude = 0.2  # exaggerated: the default 0.003 needs ~1e7 events to show at 4 sigma
    timeline = _real_timeline(6 * 3600.0)
    timeline["trigger_rate_hz"] = 500.0  # fixed rate, so only the longitude can change the efficiency
    effects = DetectorEffects(longitude_amplitude=amplitude, longitude_max_loss_deg=-50.0)
    events = _run(timeline, [proton], effects)
    lon = timeline["iss_lon_deg"].to_numpy()
    loss_side = np.cos(np.radians(lon + 50.0)) > 0
    live = (timeline["duration_s"] * timeline["livetime_fraction"]).to_numpy()
    eps = 1.0 - amplitude * np.cos(np.radians(lon + 50.0))
    on_loss = loss_side[_interval_of(timeline, events)]
    ratio, sigma = _rate_ratio(on_loss.sum(), live[loss_side].sum(), (~on_loss).sum(), live[~loss_side].sum())
    expected = (np.sum(live * eps * loss_side) / live[loss_side].sum()) / (
        np.sum(live * eps * ~loss_side) / live[~loss_side].sum())
    assert abs(ratio - expected) < N_SIGMA * sigma
    assert 1.0 - ratio > N_SIGMA * sigma  # resolved


def test_efficiency_drift_over_a_long_timeline(proton):
    per_year = -0.1  # exaggerated (default -0.005 / year)
    start = START + np.arange(0.0, 4 * JULIAN_YEAR_S, 10 * DAY_S)  # 4 years, one 180 s interval every 10 days
    timeline = _synthetic_timeline(start, 180.0, 200.0)
    events = _run(timeline, [proton], DetectorEffects(drift_per_year=per_year, drift_epoch_unix_s=START))
    late = start >= START + 2 * JULIAN_YEAR_S
    in_late = late[_interval_of(timeline, events)]
    ratio, sigma = _rate_ratio(in_late.sum(), late.sum(), (~in_late).sum(), (~late).sum())
    eps = 1.0 + per_year * (start - START) / JULIAN_YEAR_S
    expected = eps[late].mean() / eps[~late].mean()  # ~0.78
    assert abs(ratio - expected) < N_SIGMA * sigma
    assert 1.0 - ratio > N_SIGMA * sigma


def test_trigger_rate_nonlinearity(proton):
    q = 0.4  # exaggerated (default 0.01): eps = 1, 0.9, 0.6 at 200, 1100, 2000 Hz
    rates = np.array([200.0, 1100.0, 2000.0])
    start = START + 60.0 * np.arange(3 * 400)
    rate = np.tile(rates, 400)
    timeline = _synthetic_timeline(start, 60.0, rate)
    events = _run(timeline, [proton], DetectorEffects(trigger_quadratic=q), hidden_efficiency_amplitude=0.0)
    counts = np.bincount(np.searchsorted(rates, rate[_interval_of(timeline, events)]), minlength=3)
    for k, eps in ((1, 0.9), (2, 0.6)):
        ratio, sigma = _rate_ratio(counts[k], 1.0, counts[0], 1.0)
        assert abs(ratio - eps) < N_SIGMA * sigma
    ratio, sigma = _rate_ratio(counts[1], 1.0, counts[0], 1.0)
    assert ratio - 0.8 > N_SIGMA * sigma  # above the straight line from 200 Hz to 2000 Hz: not linear


def _lost_share_and_shape(x_min_cm, n=2_000_000):
    """Independent Monte Carlo (acceptance.generate): share of the l1_inner_l9 lines crossing L1 at x >= x_min_cm,
    and the mean detector-frame x direction of the others."""
    gen = acc.generate(np.random.default_rng(99), n, acc.AMS02_GEOMETRY, 50.0)
    kept = gen.patterns["l1_inner_l9"]
    d = gen.direction_det[kept]
    z0 = acc.AMS02_GEOMETRY.plane(acc.AMS02_GEOMETRY.generation_plane).z_cm
    x_l1 = gen.position_cm[kept, 0] + d[:, 0] / d[:, 2] * (acc.AMS02_GEOMETRY.plane("L1").z_cm - z0)
    lost = x_l1 >= x_min_cm
    return lost.mean(), d[~lost, 0].mean()


def test_dead_layer_changes_the_acceptance_shape(proton):
    timeline = _real_timeline(3 * 3600.0)
    middle = START + 3600.0
    effects = DetectorEffects(dead_layer=DeadLayer("L1", 30.0, middle, middle + 2 * DAY_S))
    events = _run(timeline, [proton], effects)
    primary = events["mc_origin"] == "primary"
    during = (events["time_unix_s"] >= middle).to_numpy() & primary.to_numpy()
    before = (events["time_unix_s"] < middle).to_numpy() & primary.to_numpy()
    has_l1 = events["has_l1"].to_numpy()
    assert has_l1[before].all()  # every stored line crosses L1 while it works
    expected_lost, expected_dx = _lost_share_and_shape(30.0)
    lost = 1.0 - has_l1[during].mean()
    n = during.sum()
    assert abs(lost - expected_lost) < N_SIGMA * np.sqrt(expected_lost * (1 - expected_lost) / n) + 2e-3
    assert lost > 0.05
    # the shape: the lines left come from -x on average (the lost ones from +x); before, no preferred side
    dx = events["dir_det_x"].to_numpy(np.float64)
    left = during & has_l1
    spread = dx[left].std() / np.sqrt(left.sum())
    assert expected_dx < -N_SIGMA * spread
    assert abs(dx[left].mean() - expected_dx) < N_SIGMA * spread
    assert abs(dx[before].mean()) < N_SIGMA * dx[before].std() / np.sqrt(before.sum())


def test_dead_inner_layer_removes_one_inner_hit():
    geometry = acc.AMS02_GEOMETRY
    bit = plane_bits(geometry)
    bits = np.full(3, sum(bit.values()), dtype=np.uint16)
    direction = np.tile([0.0, 0.0, 1.0], (3, 1))  # vertical lines at x = 40, 20, 40 cm
    top_xy = np.array([[40.0, 0.0], [20.0, 0.0], [40.0, 0.0]])
    effects = DetectorEffects(dead_layer=DeadLayer("L5", 30.0, 100.0, 200.0))
    out = apply_dead_layer(effects, bits, np.array([150.0, 150.0, 250.0]), top_xy, 158.9, direction, geometry)
    assert list(out) == [bits[0] & ~np.uint16(bit["L5"]), bits[1], bits[2]]


def _config():
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    validate(config, SCHEMA)
    return config


def test_ci_and_paper_configs_turn_every_effect_on():
    for name in ("ci.yaml", "paper.yaml"):
        config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
        update_config(config, yaml.safe_load((ROOT / "config" / name).read_text()))
        validate(config, SCHEMA)
        section = config["simulation"]["detector_effects"]
        assert all(effect["enabled"] for effect in section.values()), name
        check_config(config, source=name, base_dir=ROOT)


def test_schema_fills_the_effects_off():
    config = _config()
    del config["simulation"]["detector_effects"]
    validate(config, SCHEMA)
    assert detector_effects_from_config(config["simulation"]["detector_effects"], START) is None


@pytest.mark.parametrize("key, value, message", [
    ("longitude", {"amplitude": 0.9}, "amplitude"),
    ("drift", {"per_year": "fast"}, "per_year"),
    ("dead_layer", {"layer": "L10"}, "L10"),
    ("dead_layer", {"duration_days": 0}, "duration_days"),
    ("trigger_nonlinearity", {"quadratic": 0.01}, "quadratic"),
])
def test_schema_rejects_bad_effects(key, value, message):
    config = _config()
    config["simulation"]["detector_effects"][key].update(value)
    with pytest.raises(WorkflowError) as err:
        validate(config, SCHEMA)
    assert message in str(err.value)


@pytest.mark.parametrize("mutate, message", [
    (lambda e: e["dead_layer"].update(start_day=80.0), "simulation.detector_effects.dead_layer.start_day"),
    (lambda e: e["dead_layer"].update(x_min_cm=61.0), "simulation.detector_effects.dead_layer.x_min_cm"),
    (lambda e: e["drift"].update(per_year=-0.5), None),  # 73 days: still positive, accepted
], ids=["dead-after-period", "dead-outside-layer", "drift-ok"])
def test_check_config_rejects_inconsistent_effects(mutate, message):
    config = _config()
    mutate(config["simulation"]["detector_effects"])
    if message is None:
        check_config(config, source="config/config.yaml", base_dir=ROOT)
        return
    with pytest.raises(ConfigError) as err:
        check_config(config, source="config/config.yaml", base_dir=ROOT)
    assert message in str(err.value) and "config/config.yaml" in str(err.value)


def test_check_config_rejects_a_drift_to_zero():
    config = _config()
    config["period"]["duration_days"] = 2739.4
    config["simulation"]["detector_effects"]["drift"]["per_year"] = -0.2
    with pytest.raises(ConfigError, match=r"simulation\.detector_effects\.drift\.per_year"):
        check_config(config, source="config/paper.yaml", base_dir=ROOT)


def test_bad_settings_name_the_key():
    with pytest.raises(ValueError, match="longitude.amplitude"):
        DetectorEffects(longitude_amplitude=-0.1)
    with pytest.raises(ValueError, match="drift.per_year"):
        DetectorEffects(drift_per_year=1.5)
    with pytest.raises(ValueError, match="dead_layer.layer"):
        DeadLayer("TRD_top", 0.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="duration_days"):
        DeadLayer("L1", 0.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="iss_lon_deg"):
        DetectorEffects(longitude_amplitude=0.1).interval_efficiency(np.zeros(1), 200.0, None, 200.0, 2000.0)
