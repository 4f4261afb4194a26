"""Unit tests of ams_anisotropy.reference on small synthetic timelines (no other module needed).

The synthetic timeline is a circular orbit of inclination 51.64 deg with nodal regression, in
equatorial axes rotated to galactic with healpy's Rotator (independent of the package's frames):
AMS z = zenith tilted 12 deg to port, x = flight direction, y = z cross x.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import healpy as hp
import numpy as np
import pandas as pd
import pytest
from scipy import integrate

from ams_anisotropy import io, reference
from ams_anisotropy.acceptance_harmonics import pixel_window
from ams_anisotropy.rng import generator

ROOT = Path(__file__).resolve().parents[1]
EQ_TO_GAL = hp.rotator.Rotator(coord=["C", "G"]).mat  # healpy's J2000 equatorial -> galactic matrix


def synthetic_timeline(n=20000, cadence_s=10.0, days=None, seed=1, tilt_deg=12.0, t0=1.3e9):
    """A DataFrame with the timeline columns the reference needs (orbit + LVLH attitude + cutoff)."""
    rng = generator(seed, "tests", 7)
    t = t0 + cadence_s * np.arange(n)
    incl = np.radians(51.64)
    period = 5562.0  # ~92.7 min (method.md section 4)
    u = 2 * np.pi * (t - t0) / period
    node = np.radians(30.0) - np.radians(5.0) * (t - t0) / 86400.0  # J2 regression ~ -5 deg/day
    # orbit frame: N = node direction, h = orbit normal
    nvec = np.stack([np.cos(node), np.sin(node), np.zeros_like(node)], axis=1)
    h = np.stack([np.sin(incl) * np.sin(node), -np.sin(incl) * np.cos(node), np.full_like(node, np.cos(incl))], axis=1)
    m = np.cross(h, nvec)
    r = np.cos(u)[:, None] * nvec + np.sin(u)[:, None] * m  # zenith
    v = np.cross(h, r)  # flight direction
    port = np.cross(r, v)  # = h (left of the velocity when looking forward with zenith up)
    tilt = np.radians(tilt_deg)
    z = np.cos(tilt) * r + np.sin(tilt) * port
    x = v
    y = np.cross(z, x)
    axes = {}
    for name, vec in (("x", x), ("y", y), ("z", z)):
        gal = vec @ EQ_TO_GAL.T
        for c, comp in zip("xyz", gal.T, strict=True):
            axes[f"ams_{name}_gal_{c}"] = comp
    lat = np.degrees(np.arcsin(r[:, 2]))
    # a cutoff-like function of |latitude| (GV), and a trigger rate rising towards high latitude (Hz)
    cutoff = 14.9 * np.cos(np.radians(lat)) ** 4 * (1 + 0.05 * rng.standard_normal(n)) ** 2
    trigger = 200.0 + 1800.0 * np.sin(np.radians(np.abs(lat))) ** 2
    frame = pd.DataFrame({
        "time_unix_s": t,
        "duration_s": np.full(n, cadence_s, dtype=np.float32),
        "livetime_fraction": (0.9 - 0.2 * trigger / 2000.0).astype(np.float32),
        "good": rng.random(n) > 0.05,
        "trigger_rate_hz": trigger.astype(np.float32),
        **axes,
    })
    for col in io.CUTOFF_COLUMNS:
        frame[col] = cutoff.astype(np.float32)
    return frame


def power_law_integral(x, gamma=2.7):
    """F(>x) of a pure power law x^-gamma (analytic)."""
    return np.asarray(x, dtype=np.float64) ** (1 - gamma) / (gamma - 1)


@pytest.fixture(scope="module")
def timeline():
    # 20000 intervals of 320 s: 74 days, one precession cycle of the orbit (the sky is covered and the
    # dipole-response matrix is well conditioned; a 2-day orbit nearly fixes the orbit plane)
    return synthetic_timeline(cadence_s=320.0)


@pytest.fixture(scope="module")
def dense_timeline():
    # 20000 intervals of 10 s (2.3 days): many intervals per attitude cell, for the cell approximation
    return synthetic_timeline(cadence_s=10.0)


def rotation_angle_deg(a, b):
    """Angle (deg) of the rotation a^T b for stacks (n, 3, 3)."""
    trace = np.einsum("nij,nij->n", a, b)
    return np.degrees(np.arccos(np.clip((trace - 1) / 2, -1, 1)))


# --------------------------------------------------------------------------- weights
def quad_flux(table, lo, hi):
    """Numerical integral of the differential flux, split at the table nodes (kinks of the model)."""
    nodes = table.rigidity_gv[(table.rigidity_gv > lo) & (table.rigidity_gv < hi)]
    edges = np.concatenate([[lo], nodes, [hi]])
    return sum(integrate.quad(table.flux, a, b, epsrel=1e-10)[0] for a, b in zip(edges[:-1], edges[1:], strict=True))


def test_cutoff_weights_against_numerical_integration():
    from ams_anisotropy.spectra import FluxTable

    table = FluxTable.from_file(ROOT / "resources/ams02-fluxes/AMS-02_e+_rigidity.txt")
    thresholds = np.array([16.0, 25.0, 40.0])
    upper = 350.0
    cutoffs = np.array([0.5, 10.0, 14.0, 18.0, 25.0, 40.0, 300.0])
    f = 1.2
    w = reference.cutoff_weights(cutoffs, thresholds, upper, table.integral_above, f)
    for i, rc in enumerate(cutoffs):
        for k, xk in enumerate(thresholds):
            lo = max(xk, f * rc)
            num = quad_flux(table, lo, upper) if lo < upper else 0.0
            den = quad_flux(table, xk, upper)
            # quadrature vs the table's exact piecewise power-law integral: 1e-6 relative
            assert w[i, k] == pytest.approx(num / den, rel=1e-6, abs=1e-9)
    # no upper edge, analytic power law: w = (f Rc / x_k)^(1 - gamma) above the threshold
    w2 = reference.cutoff_weights(cutoffs, [18.0], None, power_law_integral, 1.4)
    expected = np.minimum(1.0, (np.maximum(18.0, 1.4 * cutoffs) / 18.0) ** (1 - 2.7))
    assert np.allclose(w2[:, 0], expected, rtol=1e-12)


# --------------------------------------------------------------------------- efficiency
def test_efficiency_recovered_on_synthetic_data(timeline):
    edges = np.array([250, 400, 600, 800, 1000, 1150, 1300])
    thresholds = [10.0, 20.0, 40.0]
    expo = reference.efficiency_exposure(timeline, thresholds, None, power_law_integral, 1.2,
                                         "cutoff_max_pos_40_gv", "trigger_rate_hz", edges)
    trigger = timeline["trigger_rate_hz"].to_numpy()
    good = timeline["good"].to_numpy()
    eps_true = 1.0 - 0.04 * (trigger / 2000.0)  # hidden efficiency falling by 4% at 2000 Hz
    live = (timeline["duration_s"] * timeline["livetime_fraction"]).to_numpy()
    cut = timeline["cutoff_max_pos_40_gv"].to_numpy()
    w = reference.cutoff_weights(cut, thresholds, None, power_law_integral, 1.2)
    rng = generator(3, "tests", 1)
    rate = 400.0  # events per live second above threshold 0 without cutoff (large: a precise test)
    bins = reference.efficiency_bin(trigger, edges)
    hist = np.zeros((3, edges.size + 1))
    for k in range(3):
        mean = rate * live * w[:, k] * eps_true * good * (thresholds[0] / thresholds[k]) ** 1.7
        hist[k] = np.bincount(bins, weights=rng.poisson(mean), minlength=edges.size + 1)
    eps = reference.estimate_efficiency(hist, expo, min_events_per_bin=0)
    # truth per bin: exposure-weighted eps_true, normalised the same way
    for k in range(3):
        lw = live * w[:, k] * good
        true_bin = np.bincount(bins, weights=lw * eps_true, minlength=edges.size + 1) / np.maximum(
            np.bincount(bins, weights=lw, minlength=edges.size + 1), 1e-300)
        used = expo[k] > 0
        true_bin /= (true_bin * expo[k])[used].sum() / expo[k][used].sum()
        sigma = eps[k][used] / np.sqrt(np.maximum(hist[k][used], 1))
        pulls = (eps[k][used] - true_bin[used]) / sigma
        assert np.all(np.abs(pulls) < 4.5), pulls  # 4.5 sigma: < 1e-4 chance over ~25 bins
        assert np.sum(pulls**2) < used.sum() + 5 * np.sqrt(2 * used.sum())  # chi2 within 5 sigma
        # the 4% slope is seen: a flat efficiency is excluded by far (expected chi2 ~ (0.04 / 0.002)^2)
        flat_pulls = (eps[k][used] - 1.0) / sigma
        assert np.sum(flat_pulls**2) > used.sum() + 20 * np.sqrt(2 * used.sum())
    # pooling: a threshold with too few events borrows the row of the nearest lower one
    few = hist * np.array([[1.0], [1.0], [100.0 / hist[2].sum()]])  # 100 events at the last threshold
    assert few[2].sum() < 400 * (expo[2] > 0).sum() < few[1].sum()
    pooled = reference.estimate_efficiency(few, expo, min_events_per_bin=400)
    assert np.allclose(pooled[2], pooled[1] * (pooled[2][1] / pooled[1][1]), rtol=1e-12)
    assert not np.allclose(eps[2], pooled[2], rtol=1e-6)


# --------------------------------------------------------------------------- maps
NSIDE_DET = 32
SETTINGS = reference.IntegrationSettings(lmax=64, kmax=8, epsilon=1e-7, oversampling=4)


@pytest.fixture(scope="module")
def acceptance_map():
    """A smooth detector acceptance ~ cos(theta) within 40 deg, x-y asymmetric, at Nside 32 (counts-like)."""
    vec = np.array(hp.pix2vec(NSIDE_DET, np.arange(hp.nside2npix(NSIDE_DET))))
    acc = np.where(vec[2] > np.cos(np.radians(40)), vec[2] * (1 + 0.3 * vec[0]), 0.0)
    return acc, vec


def make_maps(timeline, detector, n_events, thresholds=(18.0,), nside=16, symmetry="none", dipole=True,
              efficiency=None):
    beams, _ = reference.acceptance_beams(np.atleast_2d(detector), SETTINGS.lmax, SETTINGS.kmax, symmetry,
                                          dipole_response=dipole)
    return reference.reference_maps(timeline, beams, nside, n_events, list(thresholds), None, power_law_integral,
                                    efficiency=efficiency, settings=SETTINGS)


def weighted_rotation_sum(timeline, threshold=18.0):
    """sum_s L_s w(s) R_s over the good intervals, straight from the timeline columns (independent)."""
    good = timeline["good"].to_numpy()
    live = (timeline["duration_s"] * timeline["livetime_fraction"]).to_numpy(np.float64)[good]
    w = reference.cutoff_weights(timeline["cutoff_max_pos_40_gv"].to_numpy()[good], [threshold], None,
                                 power_law_integral, 1.2)[:, 0]
    rot = timeline[io.AXIS_COLUMNS].to_numpy(np.float64)[good].reshape(-1, 3, 3).transpose(0, 2, 1)
    return np.einsum("n,nij->ij", live * w, rot), float((live * w).sum())


def test_normalisation_determinism_and_streaming(timeline, acceptance_map):
    acc, _ = acceptance_map
    det = np.vstack([acc, acc, acc])
    n_events = [1000.0, 400.0, 0.0]
    ref = make_maps(timeline, det, n_events, thresholds=(18, 30, 45))
    assert np.allclose(ref.maps.sum(axis=1), n_events, rtol=1e-12)
    assert np.all(ref.maps >= 0) and not ref.maps[2].any()
    assert ref.n_intervals == int(timeline["good"].sum())
    again = make_maps(timeline, det, n_events, thresholds=(18, 30, 45))
    assert np.array_equal(ref.maps, again.maps)  # bitwise identical
    chunks = [timeline.iloc[:7000], timeline.iloc[7000:15000], timeline.iloc[15000:]]
    chunked = make_maps(chunks, det, n_events, thresholds=(18, 30, 45))
    np.testing.assert_allclose(chunked.maps, ref.maps, rtol=1e-9, atol=1e-9 * ref.maps.max())
    expected_q, total = weighted_rotation_sum(timeline)
    np.testing.assert_allclose(ref.q_matrix[0], expected_q / total, atol=1e-8)  # float32 timeline columns


def test_reference_matches_direct_sum_over_intervals(timeline, acceptance_map):
    """Known answer: sum_s W_s A(R_s^T n) evaluated point by point on a subset of intervals."""
    acc, _ = acceptance_map
    sub = timeline.iloc[:400].assign(good=True)
    ref = make_maps(sub, acc, [1.0], dipole=False)
    # the band-limited acceptance the engine uses, evaluated at Nside-64 sub-pixel centres (healpy only)
    beams, _ = reference.acceptance_beams(acc[None], SETTINGS.lmax, SETTINGS.kmax, dipole_response=False)
    fine = 64
    vec = np.array(hp.pix2vec(fine, np.arange(hp.nside2npix(fine)))).T
    live = (sub["duration_s"] * sub["livetime_fraction"]).to_numpy(np.float64)
    w = reference.cutoff_weights(sub["cutoff_max_pos_40_gv"].to_numpy(), [18.0], None, power_law_integral, 1.2)[:, 0]
    rot = sub[io.AXIS_COLUMNS].to_numpy(np.float64).reshape(-1, 3, 3).transpose(0, 2, 1)
    beam_fine = hp.alm2map(beams[0, 0], 4 * fine, lmax=SETTINGS.lmax, mmax=SETTINGS.kmax)  # A on a fine grid
    direct = np.zeros(vec.shape[0])
    for s in range(len(sub)):
        d = vec @ rot[s]  # R^T n in the detector frame
        direct += live[s] * w[s] * beam_fine[hp.vec2pix(4 * fine, d[:, 0], d[:, 1], d[:, 2])]
    direct = hp.ud_grade(direct, 16)
    direct *= 1.0 / direct.sum()
    # where the 400 intervals give exposure (the band-limited edges ring and the engine clips them at 0);
    # the nearest-pixel lookup on the Nside-256 grid (0.23 deg) limits the agreement to ~0.1% of the peak
    seen = direct > 0.05 * direct.max()
    assert np.abs(ref.maps[0] - direct)[seen].max() < 3e-3 * direct.max()
    assert np.abs(ref.maps[0] - direct)[seen].max() > 0  # (not the same computation)


def test_dipole_response_is_the_linear_change(timeline, acceptance_map):
    """A_hat = A (1 + rho.Q d) changes the map by rho.T to first order (the absorbed dipole)."""
    acc, vec = acceptance_map
    base = make_maps(timeline, acc, [1e6])
    q = base.q_matrix[0]
    # the LVLH y axis has a fixed declination component: Q is far from zero along the celestial pole
    pole_gal = EQ_TO_GAL @ np.array([0.0, 0.0, 1.0])
    assert abs(pole_gal @ q @ np.array([0.0, 1.0, 0.0])) > 0.4  # ~ cos(51.64 deg) cos(12 deg) = 0.61
    rho = 0.01 * pole_gal
    tilted = acc * (1 + rho @ q @ vec)
    changed = make_maps(timeline, tilted, [1e6], dipole=False)
    predicted = base.maps[0] + rho @ base.dipole_response[0]
    predicted *= 1e6 / predicted.sum()
    diff = changed.maps[0] - base.maps[0]
    # first order: residual of the prediction is O(rho^2) ~ 1e-4 of the change scale
    assert np.abs(changed.maps[0] - predicted).max() < 0.02 * np.abs(diff).max()
    k_matrix = reference.dipole_response_matrix(base.maps[0], base.dipole_response[0])
    absorbed = pole_gal @ k_matrix @ pole_gal
    assert 0.02 < absorbed < 0.5  # a real, partial absorption along the pole
    corrected, cov = reference.correct_dipole((np.eye(3) - k_matrix) @ rho, np.eye(3), k_matrix)
    assert np.allclose(corrected, rho, atol=1e-12)
    assert pole_gal @ cov @ pole_gal > 1.0  # the correction inflates the error along the absorbed axis
    with pytest.raises(ValueError, match="precession"):
        reference.correct_dipole(rho, np.eye(3), 0.9 * np.outer(pole_gal, pole_gal))


def test_noiseless_dipole_fit_is_corrected(timeline, acceptance_map):
    """Noiseless counts M0 (1 + rho.n) fitted against the data-driven reference give (I - K) rho."""
    from ams_anisotropy.fit import fit_multipoles

    acc, dvec = acceptance_map
    nside = 16
    m0 = make_maps(timeline, acc, [1e7], nside=nside)
    n_sky = np.array(hp.pix2vec(nside, np.arange(hp.nside2npix(nside))))
    pole_gal = EQ_TO_GAL @ np.array([0.0, 0.0, 1.0])
    rho = 0.02 * pole_gal
    counts = m0.maps[0] * (1 + rho @ n_sky)
    # the "data" detector histogram of that sky: A(d) sum_s W_s (1 + rho.R_s d)
    q_sum, total = weighted_rotation_sum(timeline)
    det = acc * (total + rho @ q_sum @ dvec)
    hat = make_maps(timeline, det, [counts.sum()], nside=nside)
    mask = hat.maps[0] > 0
    fit = fit_multipoles(counts, hat.maps[0], mask, lmax_check=())
    k_matrix = reference.dipole_response_matrix(hat.maps[0], hat.dipole_response[0], mask)
    # uncorrected: the pole component is absorbed by K; the first-order prediction holds to 2% of rho
    assert np.allclose(fit.rho, (np.eye(3) - k_matrix) @ rho, atol=0.02 * 0.02 + 1e-4)
    assert fit.rho @ pole_gal < 0.98 * 0.02
    corrected, _ = reference.correct_dipole(fit.rho, fit.rho_covariance, k_matrix)
    assert np.allclose(corrected, rho, atol=4e-4)  # 2% of |rho|: second-order terms


def test_mirror_symmetrize_removes_odd_gradients(timeline, acceptance_map):
    _, vec = acceptance_map
    acc = np.where(vec[2] > np.cos(np.radians(40)), vec[2], 0.0)
    tilted = acc * (1 + 0.2 * vec[1] + 0.1 * vec[0])
    sym = reference.mirror_symmetrize(tilted, "xy")
    # the odd parts in x and y are gone, the even part is kept (pixel centres are mirror-symmetric)
    assert np.allclose(sym, acc, rtol=1e-12, atol=1e-12)
    only_y = reference.mirror_symmetrize(tilted, "y")
    assert np.allclose(only_y, acc * (1 + 0.1 * vec[0]), atol=1e-12)
    assert np.array_equal(reference.mirror_symmetrize(tilted, "none"), tilted)
    with pytest.raises(ValueError, match="symmetry"):
        reference.mirror_symmetrize(tilted, "z")
    # with the symmetrised acceptance the response to a pole dipole (y-gradient) is gone
    ref = make_maps(timeline, tilted, [1e6], symmetry="xy")
    k_sym = reference.dipole_response_matrix(ref.maps[0], ref.dipole_response[0])
    ref_none = make_maps(timeline, tilted, [1e6])
    k_none = reference.dipole_response_matrix(ref_none.maps[0], ref_none.dipole_response[0])
    pole = EQ_TO_GAL @ np.array([0.0, 0.0, 1.0])
    assert abs(pole @ k_sym @ pole) < 0.2 * abs(pole @ k_none @ pole)


def test_pixel_window_matches_sub_pixel_averages():
    """The pixel window against its definition: the rms of pixel averages of a degree-l field over the rms
    of its values at the pixel centres (all m, other random phases than the module's; l = 48 at Nside 64, the
    production regime l <= 0.75 Nside of the Nside-128 histogram and lmax 96). The two definitions differ at
    second order (pixels are not all the same shape): agreement to 3e-3, ~10% of 1 - w_l."""
    window = pixel_window(64, 64)
    assert window[0] == 1.0 and np.all(np.diff(window) < 0)
    lmax, ell = 64, 48
    rng = generator(4, "tests", 9)
    alm = np.zeros(hp.Alm.getsize(lmax), dtype=complex)
    for m in range(ell + 1):
        alm[hp.Alm.getidx(lmax, ell, m)] = np.exp(2j * np.pi * rng.random()) if m else 1.0
    fine = hp.alm2map(alm, 1024, lmax=lmax)
    averages = hp.reorder(fine, r2n=True).reshape(-1, 256).mean(axis=1)
    centres = hp.alm2map(alm, 64, lmax=lmax)
    assert window[ell] == pytest.approx(np.sqrt(np.mean(averages**2) / np.mean(centres**2)), abs=3e-3)
    assert window[ell] < 0.985  # a real suppression at this degree (1 - w = 0.025)


# --------------------------------------------------------------------------- shuffling
def test_shuffle_is_seeded_and_normalised(timeline):
    rng = generator(5, "tests", 3)
    good = timeline[timeline["good"]]
    idx = np.sort(rng.choice(len(good), 3000, replace=False))
    t = good["time_unix_s"].to_numpy()[idx] + 1.0
    d = rng.normal(size=(3000, 3))
    d[:, 2] = np.abs(d[:, 2]) + 2
    d /= np.linalg.norm(d, axis=1)[:, None]
    sel = pd.DataFrame({"time_unix_s": t, "observable": 18 * rng.pareto(1.7, 3000) + 18,
                        "dir_det_x": d[:, 0], "dir_det_y": d[:, 1], "dir_det_z": d[:, 2]})
    a = reference.shuffled_reference_maps(sel, timeline, [18, 30], None, 8, 3, generator(1, "reference_shuffle", 0))
    b = reference.shuffled_reference_maps(sel, [timeline.iloc[:9000], timeline.iloc[9000:]], [18, 30], None, 8, 3,
                                          generator(1, "reference_shuffle", 0))
    assert np.array_equal(a, b)
    n = [(sel.observable >= 18).sum(), (sel.observable >= 30).sum()]
    assert np.allclose(a.sum(axis=1), n)
    # with the identity permutation the map would be the events' own galactic directions; the shuffled
    # map differs but keeps the sky coverage (declination band of the orbit): same mean sky direction
    rot = timeline.set_index("time_unix_s").loc[good["time_unix_s"].to_numpy()[idx], io.AXIS_COLUMNS].to_numpy()
    own = np.einsum("nab,nb->na", rot.reshape(-1, 3, 3).transpose(0, 2, 1), d)
    vec = np.array(hp.pix2vec(8, np.arange(768)))
    assert np.allclose(vec @ a[0] / a[0].sum(), own.mean(axis=0), atol=0.05)  # ~ sqrt(1/3000) x a few


# --------------------------------------------------------------------------- bad inputs
def test_bad_inputs_fail_clearly(timeline, acceptance_map, tmp_path):
    acc, _ = acceptance_map
    small = timeline.iloc[:3000]
    with pytest.raises(ValueError, match="n_thr=2"):
        reference.reference_maps(small, np.zeros((1, 1, 10)), 16, [10, 5], [18, 30], None, power_law_integral)
    with pytest.raises(ValueError, match="n_events"):
        make_maps(small, np.vstack([acc, acc]), [10], thresholds=(18, 30))
    with pytest.raises(ValueError, match="efficiency"):
        make_maps(small, acc, [10], efficiency=np.ones((3, 16)))
    with pytest.raises(io.InputError, match="empty timeline"):
        make_maps(timeline.iloc[:0], acc, [10])
    with pytest.raises(io.InputError, match="no good interval"):
        make_maps(timeline.iloc[:10].assign(good=False), acc, [10])
    bad = timeline.iloc[:100].copy()
    bad.loc[bad.index[5], "ams_y_gal_z"] = np.nan
    bad.loc[bad.index[5], "good"] = True
    with pytest.raises(io.InputError, match="non-finite"):
        make_maps(bad, acc, [10])
    skew = timeline.iloc[:100].copy()
    skew["ams_x_gal_x"] *= 1.1
    with pytest.raises(io.InputError, match="orthonormal"):
        make_maps(skew, acc, [10])
    with pytest.raises(io.InputError, match="does not exist"):
        make_maps([tmp_path / "timeline.parquet"], acc, [10])
    with pytest.raises(ValueError, match="strictly increasing"):
        make_maps(small, np.vstack([acc, acc]), [10, 5], thresholds=(30, 18))
    with pytest.raises(ValueError, match="same shape"):
        reference.estimate_efficiency(np.ones((2, 5)), np.ones((3, 5)))
    with pytest.raises(ValueError, match="non-negative"):
        make_maps(small, -acc, [10])
    with pytest.raises(ValueError, match="exceeds 3 x"):
        reference.acceptance_beams(np.ones((1, hp.nside2npix(8))), 64, 8)
    sel = pd.DataFrame({"time_unix_s": [timeline.time_unix_s.iloc[-1] + 1e5], "observable": [20.0],
                        "dir_det_x": [0.0], "dir_det_y": [0.0], "dir_det_z": [1.0]})
    with pytest.raises(io.InputError, match="outside the timeline"):
        reference.shuffled_reference_maps(sel, timeline, [18], None, 8, 1, generator(1, "tests", 0))


def test_shared_efficiency_bins_equal_the_direct_weights(timeline, acceptance_map):
    """Per-efficiency-bin accumulations shared by all thresholds minus each threshold's cutoff deficit give
    the same maps as weighting every interval directly (the callable-efficiency path, one accumulation per
    threshold): 18 GV (cut by the cutoff in part of the orbit) and 30, 60 GV (never)."""
    acc, _ = acceptance_map
    edges = np.array([0, 400, 800, 1200, 1600, 2500])
    eps = np.array([[1.0, 0.98, 0.97, 0.95, 0.93, 0.9, 1.0]] * 3) * np.array([[1.0], [1.01], [0.99]])
    thresholds = (18.0, 30.0, 60.0)  # 1.2 x the synthetic cutoffs (< ~18 GV) stays below 30 and 60 GV
    beams, _ = reference.acceptance_beams(np.vstack([acc] * 3), SETTINGS.lmax, SETTINGS.kmax)
    common = dict(nside=16, n_events=[1e4, 1e3, 1e2], thresholds=list(thresholds), upper=None,
                  integral_flux=power_law_integral, efficiency_edges=edges, settings=SETTINGS)
    shared = reference.reference_maps(timeline, beams, efficiency=eps, **common)
    two_workers = reference.reference_maps(timeline, beams, efficiency=eps,
                                           **{**common, "settings": dataclasses.replace(SETTINGS, workers=2)})
    assert np.array_equal(shared.maps, two_workers.maps)  # bitwise, whatever the number of workers
    for k in (0, 1, 2):  # one threshold at a time through the direct path, with its own eps row
        def eps_k(variable, k=k):
            return eps[k][reference.efficiency_bin(variable, edges)]
        direct = reference.reference_maps(timeline, beams[k:k + 1], 16, [common["n_events"][k]], [thresholds[k]],
                                          None, power_law_integral, efficiency=eps_k, efficiency_edges=edges,
                                          settings=SETTINGS)
        np.testing.assert_allclose(shared.maps[k], direct.maps[0], rtol=1e-7, atol=1e-9 * direct.maps.max())
        np.testing.assert_allclose(shared.dipole_response[k], direct.dipole_response[0], rtol=1e-6,
                                   atol=1e-8 * np.abs(direct.dipole_response).max())
        np.testing.assert_allclose(shared.q_matrix[k], direct.q_matrix[0], atol=1e-12)


def test_species_data_taking_end_cuts_the_exposure(timeline, acceptance_map):
    """A species whose data taking ends inside the timeline (the paper's e±: 6.5 of 7.5 years) gets the
    exposure of the intervals before that time (the one holding it in proportion): the same maps as the
    timeline cut there, and not the whole timeline's."""
    acc, _ = acceptance_map
    start = timeline["time_unix_s"].to_numpy()
    cut_index = 12000
    end = start[cut_index]  # an interval edge: the cut timeline is exactly the intervals before it
    beams, _ = reference.acceptance_beams(acc[None], SETTINGS.lmax, SETTINGS.kmax)
    common = dict(nside=16, n_events=[1e4], thresholds=[18.0], upper=None, integral_flux=power_law_integral,
                  settings=SETTINGS)
    with_end = reference.reference_maps(timeline, beams, time_max_unix_s=end, **common)
    truncated = reference.reference_maps(timeline.iloc[:cut_index], beams, **common)
    whole = reference.reference_maps(timeline, beams, **common)
    np.testing.assert_allclose(with_end.maps, truncated.maps, rtol=1e-9, atol=1e-9 * truncated.maps.max())
    assert with_end.n_intervals == int(timeline["good"].iloc[:cut_index].sum())
    assert np.abs(whole.maps - truncated.maps).max() > 1e-3 * truncated.maps.max()
    # half of the interval holding the end counts
    half = reference.efficiency_exposure(timeline.iloc[cut_index:cut_index + 1].assign(good=True), [18.0], None,
                                         power_law_integral, 1.2, "cutoff_max_pos_40_gv", "trigger_rate_hz",
                                         [0, 1e4], time_max_unix_s=end + 5.0)
    full = reference.efficiency_exposure(timeline.iloc[cut_index:cut_index + 1].assign(good=True), [18.0], None,
                                         power_law_integral, 1.2, "cutoff_max_pos_40_gv", "trigger_rate_hz", [0, 1e4])
    duration = float(timeline["duration_s"].iloc[cut_index])
    assert half.sum() == pytest.approx(full.sum() * 5.0 / duration, rel=1e-6)


def test_one_pass_efficiency_equals_the_two_pass_estimate(timeline, acceptance_map):
    """The efficiency estimated inside the exposure pass (its denominators from the same accumulations)
    equals the two-pass estimate (efficiency_exposure, then estimate_efficiency, then the maps)."""
    acc, _ = acceptance_map
    edges = np.array([0, 400, 800, 1200, 1600, 2500])
    thresholds = [18.0, 30.0]
    rng = generator(8, "tests", 4)
    histogram = rng.poisson(2000.0, size=(2, edges.size + 1)).astype(float) * np.array([[1.0], [0.5]])
    beams, _ = reference.acceptance_beams(np.vstack([acc] * 2), SETTINGS.lmax, SETTINGS.kmax)
    one = reference.reference_maps(timeline, beams, 16, [1e4, 5e3], thresholds, None, power_law_integral,
                                   efficiency_edges=edges, event_histogram=histogram, settings=SETTINGS)
    denominators = reference.efficiency_exposure(timeline, thresholds, None, power_law_integral, 1.2,
                                                 "cutoff_max_pos_40_gv", "trigger_rate_hz", edges)
    eps = reference.estimate_efficiency(histogram, denominators)
    np.testing.assert_allclose(one.efficiency, eps, rtol=1e-9)
    two = reference.reference_maps(timeline, beams, 16, [1e4, 5e3], thresholds, None, power_law_integral,
                                   efficiency_edges=edges, efficiency=eps, settings=SETTINGS)
    np.testing.assert_allclose(one.maps, two.maps, rtol=1e-8, atol=1e-10 * two.maps.max())
    assert not np.allclose(eps, 1.0)  # the test's histogram is not flat
