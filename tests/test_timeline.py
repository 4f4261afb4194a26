"""Timeline: trigger/livetime model, SAA, good flag, schema, determinism, consistency, bad inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ams_anisotropy import frames, io, orbit
from ams_anisotropy import geomagnetic as gm
from ams_anisotropy import timeline as tl

START = 1305763200.0 + 3 * 86400.0 + 1234.0
ATTITUDE = frames.Attitude(minus_xvv_periods_unix_s=((START + 1000.0, START + 1600.0),))
MODELS = dict(
    orbit=orbit.CircularOrbit(raan_at_epoch_deg=40.0),
    attitude=ATTITUDE,
    field=gm.DipoleField.from_igrf(2011.4),
    trigger=tl.TriggerModel(),
    saa=tl.SaaRegion(),
    good=tl.GoodIntervalCriteria(),
)

# dtypes of docs/architecture.md
EXPECTED_DTYPES = {
    "time_unix_s": "float64",
    "duration_s": "float32",
    "iss_lat_deg": "float32",
    "iss_lon_deg": "float32",
    "iss_alt_km": "float32",
    "flight_direction": "int8",
    **{c: "float64" for c in io.AXIS_COLUMNS},
    "ams_zenith_deg": "float32",
    "trigger_rate_hz": "float32",
    "livetime_fraction": "float32",
    "in_saa": "bool",
    **{c: "float32" for c in io.CUTOFF_COLUMNS},
    "good": "bool",
}


@pytest.fixture(scope="module")
def timeline():
    # ~1.7 orbits at 3 s cadence, the stop not on the grid: the last interval is cut
    return tl.simulate_timeline(START, START + 9500.5, 3.0, **MODELS)


def test_trigger_model_anchors_and_livetime():
    trigger = tl.TriggerModel()
    np.testing.assert_allclose(trigger.rate_hz([0.5, 15.0]), [2000.0, 200.0], rtol=1e-12)
    rates = trigger.rate_hz(np.linspace(0.0, 20.0, 50))
    assert np.all(np.diff(rates) < 0)
    np.testing.assert_allclose(trigger.rate_hz([1.0, 1.0], in_saa=[True, False])[0], 3000.0)
    # method.md: ~86 % DAQ efficiency at ~600 Hz with 230 us dead time: 1 / (1 + 0.138) = 0.8787
    assert trigger.livetime_fraction(600.0) == pytest.approx(1.0 / (1.0 + 600.0 * 230e-6), rel=1e-12)
    assert 0.87 < trigger.livetime_fraction(600.0) < 0.88
    assert trigger.livetime_fraction(0.0) == 1.0


def test_saa_region():
    saa = tl.SaaRegion()
    lat = np.array([-26.0, -26.0, -26.0, -7.0, -47.0, 0.0, 40.0, -26.0])
    lon = np.array([-50.0, 310.0, -89.0, -50.0, -50.0, -50.0, -50.0, 100.0])
    np.testing.assert_array_equal(
        saa.contains(lat, lon), [True, True, True, True, False, False, False, False]
    )
    # the ellipse boundary: (dlat/20)^2 + (dlon/40)^2 = 1 is inside, just outside is not
    assert saa.contains(-26.0 + 20.0 * np.cos(0.3), -50.0 + 40.0 * np.sin(0.3) * (1 - 1e-9))
    assert not saa.contains(-26.0 + 20.0 * np.cos(0.3), -50.0 + 40.0 * np.sin(0.3) * (1 + 1e-6))
    # wrap-around: an SAA centred on the antimeridian
    assert tl.SaaRegion(center_lon_deg=175.0).contains(0.0 - 26.0, -175.0)


def test_good_flag_logic():
    good = tl.GoodIntervalCriteria()
    in_saa = np.array([False, True, False, False, False, False])
    livetime = np.array([0.9, 0.9, 0.5, 0.51, 0.9, 0.9])
    zenith = np.array([12.0, 12.0, 12.0, 12.0, 40.0, 39.9])
    np.testing.assert_array_equal(
        good.is_good(in_saa, livetime, zenith), [True, False, False, True, False, True]
    )


def test_timeline_schema_and_round_trip(timeline, tmp_path):
    assert list(timeline.columns) == list(io.TIMELINE_SCHEMA)
    assert {c: str(t) for c, t in timeline.dtypes.items()} == EXPECTED_DTYPES
    path = tmp_path / "timeline.parquet"
    io.write_parquet(timeline, path)
    back = io.read_timeline(path)
    pd.testing.assert_frame_equal(back, timeline)


def test_timeline_intervals(timeline):
    t = timeline["time_unix_s"].to_numpy()
    d = timeline["duration_s"].to_numpy()
    assert t[0] == START
    np.testing.assert_allclose(np.diff(t), 3.0, rtol=0, atol=1e-6)
    assert np.all(d[:-1] == 3.0)
    assert d[-1] == pytest.approx(9500.5 - 3.0 * (len(t) - 1), abs=1e-6)  # cut at stop: 2.5 s
    assert d[-1] == pytest.approx(2.5, abs=1e-6)
    # exact tiling: no remainder interval when stop is on the grid
    exact = tl.simulate_timeline(START, START + 30.0, 3.0, **MODELS)
    assert len(exact) == 10 and exact["duration_s"].iloc[-1] == 3.0


def test_timeline_geometry(timeline):
    axes = timeline[io.AXIS_COLUMNS].to_numpy().reshape(-1, 3, 3)  # rows = AMS x, y, z (galactic)
    np.testing.assert_allclose(
        np.einsum("nij,nkj->nik", axes, axes), np.broadcast_to(np.eye(3), axes.shape), atol=1e-12
    )
    np.testing.assert_allclose(np.linalg.det(axes), 1.0, atol=1e-12)
    lat = timeline["iss_lat_deg"].to_numpy()
    # geodetic latitude of a 51.64-deg orbit reaches 51.64 + ~0.19 (geocentric -> geodetic at 52 deg)
    assert 51.5 < np.abs(lat).max() < 51.9
    assert np.all((timeline["iss_lon_deg"] > -180) & (timeline["iss_lon_deg"] <= 180))
    alt = timeline["iss_alt_km"].to_numpy()
    assert 409.9 < alt.min() and alt.max() < 424.0  # 410 km above the equatorial radius, +~13 km at 52 deg
    # default attitude (yaw -4, pitch -3, tilt 12): zenith angle ~ 12.4 deg (geodetic vs geocentric +-0.2)
    assert np.all(np.abs(timeline["ams_zenith_deg"] - 12.37) < 0.25)
    minus = timeline["flight_direction"].to_numpy() == -1
    t = timeline["time_unix_s"].to_numpy()
    mid = t + 0.5 * timeline["duration_s"].to_numpy()
    np.testing.assert_array_equal(minus, (mid >= START + 1000.0) & (mid < START + 1600.0))


def test_timeline_matches_ams_state_and_cutoffs(timeline):
    rows = np.array([0, 17, 400, len(timeline) - 1])
    mid = timeline["time_unix_s"].to_numpy()[rows] + 0.5 * timeline["duration_s"].to_numpy()[rows]
    state = tl.ams_state(mid, MODELS["orbit"], MODELS["attitude"])
    np.testing.assert_array_equal(
        timeline[io.AXIS_COLUMNS].to_numpy()[rows], state["axes_gal"].reshape(-1, 9)
    )
    np.testing.assert_allclose(timeline["iss_lat_deg"].to_numpy()[rows], state["iss_lat_deg"], rtol=1e-6)
    for sign, name in ((1, "pos"), (-1, "neg")):
        expected = gm.max_cutoff_in_cone_gv(
            state["position_itrs_km"], state["axes_itrs"][:, 2], 30.0, sign, MODELS["field"]
        )
        np.testing.assert_allclose(timeline[f"cutoff_max_{name}_30_gv"].to_numpy()[rows], expected, rtol=1e-6)
    # wider cones have higher maxima, and the maximum is never below the vertical cutoff
    for name in ("pos", "neg"):
        cones = timeline[[f"cutoff_max_{name}_{c}_gv" for c in io.CONE_HALF_ANGLES_DEG]].to_numpy()
        assert np.all(np.diff(cones, axis=1) >= 0)
    state = tl.ams_state(timeline["time_unix_s"].to_numpy() + 1.5, MODELS["orbit"], MODELS["attitude"])
    vertical = gm.vertical_cutoff_gv(state["position_itrs_km"], MODELS["field"])
    # 1e-4: float32 storage of the cutoff; the last (2.5 s) interval has a 0.25 s shifted midpoint
    assert np.all(timeline["cutoff_max_pos_25_gv"].to_numpy()[:-1] >= vertical[:-1] * (1 - 1e-4))
    # vertical cutoffs along the ISS orbit span ~0.4-16 GV (eccentric dipole at 410 km)
    assert vertical.min() < 1.5 and 12.0 < vertical.max() < 17.0


def test_timeline_flags(timeline):
    recomputed = MODELS["good"].is_good(
        timeline["in_saa"], timeline["livetime_fraction"], timeline["ams_zenith_deg"]
    )
    np.testing.assert_array_equal(timeline["good"].to_numpy(), recomputed)
    np.testing.assert_array_equal(
        timeline["in_saa"].to_numpy(),
        MODELS["saa"].contains(timeline["iss_lat_deg"], timeline["iss_lon_deg"]),
    )
    assert np.all(timeline.loc[timeline["in_saa"], "trigger_rate_hz"] == 3000.0)
    lf = timeline["livetime_fraction"].to_numpy()
    rate = timeline["trigger_rate_hz"].to_numpy().astype(np.float64)
    np.testing.assert_allclose(lf, 1.0 / (1.0 + rate * 230e-6), rtol=1e-6)
    assert not timeline.loc[timeline["in_saa"], "good"].any()


def test_orbit_averaged_livetime():
    # the default rate index is chosen for an orbit-averaged livetime of ~0.865 outside the SAA
    # (method.md: 86 %); 1 day at 60 s cadence samples the ground track well enough for +-0.01
    frame = tl.simulate_timeline(START, START + 86400.0, 60.0, **MODELS)
    outside = ~frame["in_saa"]
    assert 0.855 < frame.loc[outside, "livetime_fraction"].mean() < 0.875
    assert 600.0 < frame.loc[outside, "trigger_rate_hz"].mean() < 850.0
    assert 0.03 < frame["in_saa"].mean() < 0.10  # the ISS spends ~5 % of its time in this SAA


def test_timeline_deterministic_and_block_independent(timeline):
    again = tl.simulate_timeline(START, START + 9500.5, 3.0, **MODELS)
    pd.testing.assert_frame_equal(again, timeline, check_exact=True)
    blocks = tl.simulate_timeline(START, START + 9500.5, 3.0, **MODELS, block_rows=777)
    pd.testing.assert_frame_equal(blocks, timeline, check_exact=True)


def test_timeline_bad_inputs():
    with pytest.raises(ValueError, match="stop_unix_s"):
        tl.simulate_timeline(START, START, 1.0, **MODELS)
    with pytest.raises(ValueError, match="cadence_s"):
        tl.simulate_timeline(START, START + 10.0, 0.0, **MODELS)
    with pytest.raises(ValueError, match="start_unix_s"):
        tl.simulate_timeline(np.nan, START + 10.0, 1.0, **MODELS)
    with pytest.raises(ValueError, match="cone_half_angles_deg"):
        tl.simulate_timeline(START, START + 10.0, 1.0, **MODELS, cone_half_angles_deg=(20, 30, 35, 40))
    with pytest.raises(ValueError, match="block_rows"):
        tl.simulate_timeline(START, START + 10.0, 1.0, **MODELS, block_rows=0)
    with pytest.raises(ValueError, match="equator_rate_hz"):
        tl.TriggerModel(polar_rate_hz=100.0)
    with pytest.raises(ValueError, match="dead_time_s"):
        tl.TriggerModel(dead_time_s=-1.0)
    with pytest.raises(ValueError, match="semi-axes"):
        tl.SaaRegion(semi_axis_lat_deg=0.0)
    with pytest.raises(ValueError, match="min_livetime_fraction"):
        tl.GoodIntervalCriteria(min_livetime_fraction=1.5)
    with pytest.raises(ValueError, match="lat_deg"):
        tl.SaaRegion().contains([95.0], [0.0])
    with pytest.raises(ValueError, match="non-finite"):
        tl.ams_state([START, np.inf], MODELS["orbit"], MODELS["attitude"])
