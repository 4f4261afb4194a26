"""Tests of ams_anisotropy.binning: one-pass cumulative maps against naive per-threshold histograms."""

from __future__ import annotations

import healpy as hp
import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from ams_anisotropy import binning, io, rng
from ams_anisotropy.binning import (
    EmptySampleError,
    MapAccumulator,
    cumulative_counts,
    detector_pixels,
    galactic_pixels,
    threshold_label,
    write_counts_maps,
    write_detector_maps,
    write_histograms,
)

E_THRESHOLDS = [16.0, 25.0, 40.0, 65.0, 100.0]  # paper, section 3
R_THRESHOLDS = [18.0, 30.0, 45.0, 80.0, 150.0, 200.0, 300.0, 500.0, 1000.0]
EDGES = {"trigger_rate_hz": [0, 250, 500, 1000, 2000], "cutoff_max_gv": [0, 5, 10, 20]}


def power_law(g, n, x_min, index=2.7):
    """Samples of x^-index above x_min (inverse CDF)."""
    return x_min * (1 - g.random(n)) ** (-1 / (index - 1))


def selected_frame(n, key, x_min=10.0):
    g = rng.generator(11, "tests", key)
    vec = g.normal(size=(n, 3))
    vec /= np.linalg.norm(vec, axis=1, keepdims=True)
    l_deg, b_deg = hp.vec2ang(vec, lonlat=True)
    det = g.normal(size=(n, 3))
    det[:, 2] = np.abs(det[:, 2])
    det /= np.linalg.norm(det, axis=1, keepdims=True)
    x = power_law(g, n, x_min, 1.8)
    x[: n // 20] = g.choice([16.0, 25.0, 350.0, 1000.0], n // 20)  # values exactly on edges
    return pd.DataFrame({
        "event_id": np.arange(n, dtype=np.int64),
        "time_unix_s": 1.3e9 + np.arange(n, dtype=np.float64),
        "observable": x,
        "cutoff_max_gv": g.uniform(-1, 25, n).astype(np.float32),
        "gal_l_deg": l_deg,
        "gal_b_deg": b_deg,
        "dir_det_x": det[:, 0].astype(np.float32),
        "dir_det_y": det[:, 1].astype(np.float32),
        "dir_det_z": det[:, 2].astype(np.float32),
        "trigger_rate_hz": g.uniform(100, 2600, n).astype(np.float32),
    })  # fmt: skip


def naive(x, cell, thresholds, upper, n_cells):
    """One filtered histogram per threshold (the obvious way)."""
    rows = []
    for t in thresholds:
        keep = (x >= t) & (x < (np.inf if upper is None else upper))
        rows.append(np.bincount(cell[keep], minlength=n_cells))
    return np.array(rows)


def test_threshold_label():
    assert threshold_label(16, "GeV") == "16GeV"
    assert threshold_label(18.0, "GV") == "18GV"
    assert threshold_label(1000, "GV") == "1000GV"
    assert threshold_label(0.5, "GV") == "0.5GV"
    with pytest.raises(ValueError, match="unit"):
        threshold_label(16, "TeV")


@pytest.mark.parametrize(("thresholds", "upper"), [(E_THRESHOLDS, 350.0), (R_THRESHOLDS, None)])
def test_cumulative_equals_naive_exactly(thresholds, upper):
    nside = 4
    frame = selected_frame(20000, 1)
    x = frame["observable"].to_numpy()
    pix = galactic_pixels(frame["gal_l_deg"], frame["gal_b_deg"], nside)
    got = cumulative_counts(x, pix, thresholds, upper, hp.nside2npix(nside))
    want = naive(x, pix, thresholds, upper, hp.nside2npix(nside))
    assert got.dtype == np.int64 and got.shape == (len(thresholds), 12 * nside**2)
    np.testing.assert_array_equal(got, want)
    assert got[-1].sum() > 0  # the last threshold is populated, so the comparison is not trivial


def test_blocks_and_many_edges_equal_searchsorted(monkeypatch):
    # small blocks (several per call, a partial last block) and > 255 edges (binary-search path)
    monkeypatch.setattr(binning, "BLOCK_EVENTS", 777)
    frame = selected_frame(5000, 6)
    x = frame["observable"].to_numpy()
    pix = galactic_pixels(frame["gal_l_deg"], frame["gal_b_deg"], 2)
    np.testing.assert_array_equal(
        cumulative_counts(x, pix, E_THRESHOLDS, 350.0, 48), naive(x, pix, E_THRESHOLDS, 350.0, 48)
    )
    many = np.geomspace(10.0, 1e4, 300)
    np.testing.assert_array_equal(cumulative_counts(x, pix, many, None, 48), naive(x, pix, many, None, 48))


def test_edges_and_upper_known_answer():
    x = np.array([15.999, 16.0, 24.9, 25.0, 349.99, 350.0, 1e4])
    pix = np.array([0, 1, 2, 3, 4, 5, 6])
    got = cumulative_counts(x, pix, [16.0, 25.0], 350.0, 8)
    # >= 16 and < 350: events 1..4 ; >= 25 and < 350: events 3, 4
    np.testing.assert_array_equal(got, [[0, 1, 1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 0, 0, 0]])
    got = cumulative_counts(x, pix, [16.0, 25.0], None, 8)  # no upper edge: 350 and 1e4 included
    np.testing.assert_array_equal(got, [[0, 1, 1, 1, 1, 1, 1, 0], [0, 0, 0, 1, 1, 1, 1, 0]])
    # float32 observables exactly on a threshold are included
    got = cumulative_counts(np.float32([16.0, 25.0]), np.array([0, 0]), [16.0, 25.0], None, 1)
    np.testing.assert_array_equal(got, [[2], [1]])


def test_bad_arguments_raise():
    x, pix = np.array([20.0]), np.array([0])
    for thresholds in ([16.0, 16.0], [25.0, 16.0], [], [np.nan, 20.0], [-1.0, 20.0]):
        with pytest.raises(ValueError, match="thresholds"):
            cumulative_counts(x, pix, thresholds, None, 12)
    with pytest.raises(ValueError, match="upper edge"):
        cumulative_counts(x, pix, [16.0, 25.0], 25.0, 12)
    with pytest.raises(ValueError, match="non-finite"):
        cumulative_counts(np.array([np.nan]), pix, [16.0], None, 12)
    with pytest.raises(ValueError, match="out of range"):
        cumulative_counts(x, np.array([12]), [16.0], None, 12)
    with pytest.raises(ValueError, match="equal length"):
        cumulative_counts(np.array([20.0, 30.0]), pix, [16.0], None, 12)
    with pytest.raises(ValueError, match="integers"):
        cumulative_counts(x, np.array([0.0]), [16.0], None, 12)
    with pytest.raises(ValueError, match="non-zero"):
        detector_pixels(np.zeros((1, 3)), 4)
    with pytest.raises(ValueError, match="latitude"):
        galactic_pixels([0.0], [91.0], 4)
    with pytest.raises(ValueError, match="power of 2"):
        MapAccumulator(E_THRESHOLDS, 350.0, 30, 8)
    with pytest.raises(ValueError, match="strictly increasing"):
        MapAccumulator(E_THRESHOLDS, 350.0, 32, 8, {"trigger_rate_hz": [0, 500, 400]})


def test_pixels_known_answers():
    nside = 8
    # pixel centres (healpy pix2ang) map back to their own pixel
    pix = np.arange(hp.nside2npix(nside))
    lon, lat = hp.pix2ang(nside, pix, lonlat=True)
    np.testing.assert_array_equal(galactic_pixels(lon, lat, nside), pix)
    # RING ordering: the north galactic pole is in pixels 0-3, the south pole in the last 4
    assert galactic_pixels([0.0], [89.9], nside)[0] < 4
    assert galactic_pixels([0.0], [-89.9], nside)[0] >= hp.nside2npix(nside) - 4
    # (l, b) agree with the cartesian convention x = (0, 0) galactic centre, y = (90, 0), z = north pole
    g = rng.generator(11, "tests", 99)
    l_deg, b_deg = g.uniform(0, 360, 500), np.degrees(np.arcsin(g.uniform(-1, 1, 500)))
    lr, br = np.radians(l_deg), np.radians(b_deg)
    vec = np.stack([np.cos(br) * np.cos(lr), np.cos(br) * np.sin(lr), np.sin(br)])
    np.testing.assert_array_equal(galactic_pixels(l_deg, b_deg, nside), hp.vec2pix(nside, *vec))
    assert galactic_pixels([1.0], [1.0], nside)[0] == hp.vec2pix(nside, 1.0, 0.02, 0.02)
    # detector directions: unnormalised vectors give the same pixel; +z (straight down-going) is ring 1
    vec = np.array([[0.0, 0.0, 1.0], [0.3, -0.2, 0.9], [-1.0, 0.0, 0.0]])
    np.testing.assert_array_equal(detector_pixels(vec * 7.5, nside), detector_pixels(vec, nside))
    assert detector_pixels(vec, nside)[0] < 4
    theta, phi = hp.pix2ang(nside, detector_pixels(vec, nside))
    unit = vec / np.linalg.norm(vec, axis=1, keepdims=True)
    # the pixel centre lies within the pixel size (~ 58.6/nside deg) of the direction
    sep = np.degrees(np.arccos(np.clip(np.sum(hp.ang2vec(theta, phi) * unit, axis=1), -1, 1)))
    assert np.all(sep < 58.6 / nside)


def test_accumulator_chunks_equal_all_at_once_and_naive(tmp_path):
    frame = selected_frame(30000, 2)
    args = (E_THRESHOLDS, 350.0, 8, 4, EDGES)
    whole = MapAccumulator(*args, species="electron", unit="GeV")
    whole.add(frame)
    chunked = MapAccumulator(*args, species="electron", unit="GeV")
    for part in np.array_split(np.arange(len(frame)), 7):
        chunked.add(frame.iloc[part])
    chunked.add(frame.iloc[:0])  # an empty chunk is allowed
    # partials from separate jobs, saved and loaded, then merged
    partials = []
    for i, part in enumerate(np.array_split(np.arange(len(frame)), 3)):
        acc = MapAccumulator(*args, species="electron", unit="GeV")
        acc.add(frame.iloc[part])
        acc.save(tmp_path / f"partial_{i}.npz")
        partials.append(MapAccumulator.load(tmp_path / f"partial_{i}.npz"))
    merged = partials[0].merge(partials[1]).merge(partials[2])
    x = frame["observable"].to_numpy()
    sky = galactic_pixels(frame["gal_l_deg"], frame["gal_b_deg"], 8)
    det = detector_pixels(frame[["dir_det_x", "dir_det_y", "dir_det_z"]].to_numpy(), 4)
    for acc in (whole, chunked, merged):
        np.testing.assert_array_equal(acc.counts, naive(x, sky, E_THRESHOLDS, 350.0, 768))
        np.testing.assert_array_equal(acc.detector, naive(x, det, E_THRESHOLDS, 350.0, 192))
        for name, edges in EDGES.items():
            values = frame[name].to_numpy()
            cell = np.digitize(values, edges)  # independent binning: 0 underflow .. len(edges) overflow
            np.testing.assert_array_equal(
                acc.histograms[name], naive(x, cell, E_THRESHOLDS, 350.0, len(edges) + 1)
            )
        np.testing.assert_array_equal(acc.n_events, [((x >= t) & (x < 350.0)).sum() for t in E_THRESHOLDS])
    assert merged.n_chunks == 3
    with pytest.raises(ValueError, match="different settings"):
        whole.merge(MapAccumulator(R_THRESHOLDS, None, 8, 4, EDGES, species="electron", unit="GeV"))


def test_empty_sample_and_empty_threshold():
    frame = selected_frame(2000, 3, x_min=20.0)
    frame["observable"] = np.minimum(frame["observable"], 400.0)  # nothing reaches 500 or 1000 GV
    acc = MapAccumulator(R_THRESHOLDS, None, 4, 4, species="carbon", unit="GV")
    with pytest.raises(EmptySampleError, match="species carbon: no selected event.*18GV"):
        acc.check_counts()
    acc.add(frame)
    with pytest.raises(
        EmptySampleError, match="species carbon: threshold\\(s\\) 500GV, 1000GV have zero events"
    ):
        acc.check_counts()
    acc.check_counts(allow_empty_threshold=True)  # configurable
    low = MapAccumulator(R_THRESHOLDS, None, 4, 4, species="oxygen", unit="GV")
    low.add(frame.assign(observable=10.0))  # all events below the lowest threshold: empty sample
    with pytest.raises(EmptySampleError, match="species oxygen"):
        low.check_counts(allow_empty_threshold=True)


def test_write_maps_and_histograms(tmp_path):
    frame = selected_frame(5000, 4)
    acc = MapAccumulator(E_THRESHOLDS, 350.0, 8, 4, EDGES, species="positron", unit="GeV")
    acc.add(frame)
    paths = write_counts_maps(acc, tmp_path / "maps")
    assert sorted(p.name for p in paths.values()) == sorted(f"counts_{t:g}GeV.fits" for t in E_THRESHOLDS)
    for k, label in enumerate(acc.labels):
        np.testing.assert_array_equal(hp.read_map(paths[label]), acc.counts[k])
        header = fits.getheader(paths[label], 1)
        assert header["COORDSYS"] == "G" and header["ORDERING"] == "RING"
        assert header["NEVENTS"] == acc.counts[k].sum() and header["SPECIES"] == "positron"
    det_paths = write_detector_maps(acc, tmp_path / "maps")
    header = fits.getheader(det_paths["16GeV"], 1)
    assert header["COORDSYS"] == "DETECTOR"
    np.testing.assert_array_equal(io.read_healpix_map(det_paths["25GeV"]), acc.detector[1])
    write_histograms(acc, tmp_path / "hist.csv")
    table = pd.read_csv(tmp_path / "hist.csv")
    assert list(table.columns) == ["variable", "bin_low", "bin_high", *acc.labels]
    rates = table[table["variable"] == "trigger_rate_hz"]
    assert rates["bin_low"].iloc[0] == -np.inf and rates["bin_high"].iloc[-1] == np.inf
    for label, n in zip(acc.labels, acc.n_events, strict=True):  # no event lost in the histograms
        assert rates[label].sum() == n
    empty = MapAccumulator(E_THRESHOLDS, 350.0, 8, 4, species="positron", unit="GeV")
    with pytest.raises(EmptySampleError, match="positron"):
        write_counts_maps(empty, tmp_path / "empty")
    assert not (tmp_path / "empty").exists()


def test_bad_selected_input_names_the_file(tmp_path):
    acc = MapAccumulator(E_THRESHOLDS, 350.0, 8, 4, EDGES, species="electron", unit="GeV")
    frame = selected_frame(100, 5)
    bad = frame.copy()
    bad.loc[3, "dir_det_y"] = np.nan
    with pytest.raises(io.InputError, match="sel_003.parquet: column dir_det_y"):
        acc.add(bad, path="sel_003.parquet")
    with pytest.raises(io.InputError, match="sel_003.parquet: missing column\\(s\\) trigger_rate_hz"):
        acc.add(frame.drop(columns="trigger_rate_hz"), path="sel_003.parquet")
    bad = frame.copy()
    bad.loc[0, "gal_b_deg"] = 95.0
    with pytest.raises(io.InputError, match="sel_003.parquet: galactic latitude"):
        acc.add(bad, path="sel_003.parquet")
    assert acc.n_events.sum() == 0  # failed adds leave the accumulator untouched
    (tmp_path / "junk.npz").write_text("not numpy")
    with pytest.raises(io.InputError, match="junk.npz"):
        MapAccumulator.load(tmp_path / "junk.npz")
