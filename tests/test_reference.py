"""Unit tests of ams_anisotropy.reference on small synthetic timelines (no other module needed).

The synthetic timeline is a circular orbit of inclination 51.64 deg with nodal regression, in
equatorial axes rotated to galactic with healpy's Rotator (independent of the package's frames):
AMS z = zenith tilted 12 deg to port, x = flight direction, y = z cross x.
"""

from __future__ import annotations

from pathlib import Path

import healpy as hp
import numpy as np
import pandas as pd
import pytest
from scipy import integrate

from ams_anisotropy import io, reference
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


# --------------------------------------------------------------------------- cells
def test_cell_mean_rotation_matches_intervals(dense_timeline):
    timeline = dense_timeline
    exp = reference.accumulate_exposure(timeline, [18, 30], None, power_law_integral, nside_attitude=64,
                                        n_roll_bins=72)
    good = timeline["good"].to_numpy()
    rot = timeline[io.AXIS_COLUMNS].to_numpy()[good].reshape(-1, 3, 3).transpose(0, 2, 1)
    keys = reference.attitude_cells(rot, 64, 72)
    cell = np.searchsorted(exp.cell_keys, keys)
    assert np.array_equal(exp.cell_keys[cell], keys)
    angle = rotation_angle_deg(exp.cell_rotations[cell], rot)
    # a member differs from its cell mean by at most the cell size: z pixel diameter (2 x max pixel
    # radius, ~1.8 deg at nside 64) combined with the roll-bin width (5 deg) -> ~5.3 deg
    limit = np.hypot(2 * np.degrees(hp.max_pixrad(64)), 360 / 72)
    assert angle.max() < limit
    assert np.median(angle) < limit / 2
    # finer cells -> closer (the cell approximation converges)
    fine = reference.accumulate_exposure(timeline, [18], None, power_law_integral, nside_attitude=256,
                                         n_roll_bins=720)
    fine_cell = np.searchsorted(fine.cell_keys, reference.attitude_cells(rot, 256, 720))
    assert rotation_angle_deg(fine.cell_rotations[fine_cell], rot).max() < angle.max() / 3
    # proper rotations, and the weights add up to the livetime
    assert np.allclose(np.linalg.det(exp.cell_rotations), 1.0)
    live = (timeline["duration_s"] * timeline["livetime_fraction"]).to_numpy()[good].sum()
    assert exp.total_livetime_s == pytest.approx(live, rel=1e-9)
    assert exp.n_intervals == good.sum()


def test_point_acceptance_reproduces_z_axis_histogram(dense_timeline):
    timeline = dense_timeline
    """A detector acceptance concentrated along z maps to the livetime-weighted histogram of the z axis."""
    nside_det, nside = 1024, 16
    exp = reference.accumulate_exposure(timeline, [1.0], None, power_law_integral, cutoff_factor=1e-6)
    det = np.zeros((1, hp.nside2npix(nside_det)))
    det[0, hp.vec2pix(nside_det, 0, 0, 1)] = 1.0  # pixel centre 0.05 deg from the z axis
    live = (timeline["duration_s"] * timeline["livetime_fraction"]).to_numpy()
    good = timeline["good"].to_numpy()
    z = timeline[["ams_z_gal_x", "ams_z_gal_y", "ams_z_gal_z"]].to_numpy()[good]
    truth = np.bincount(hp.vec2pix(nside, *z.T), weights=live[good], minlength=hp.nside2npix(nside))
    ref = reference.reference_maps(exp, det, nside, [truth.sum()], dipole_response=False, detector_subsample=1)
    m = ref.maps[0]
    assert m.sum() == pytest.approx(truth.sum())
    # livetime-weighted first and second moments of z: the cell approximation moves each interval by
    # < 1 deg in random directions, so the moments agree to ~1e-3 (pixelisation of both maps cancels)
    vec = np.array(hp.pix2vec(nside, np.arange(m.size)))
    for weights in (m, truth):
        assert np.allclose(vec @ weights / weights.sum(),
                           (z * live[good][:, None]).sum(axis=0) / live[good].sum(), atol=2e-3)
    assert np.allclose(vec @ m / m.sum(), vec @ truth / truth.sum(), atol=2e-4)  # measured 1e-5
    second_map = (vec * m) @ vec.T / m.sum()
    second_truth = (vec * truth) @ vec.T / truth.sum()
    assert np.allclose(second_map, second_truth, atol=2e-4)
    # pixel by pixel: only intervals whose cell mean falls across a pixel boundary (of 3.7 deg pixels)
    # can move; measured L1 difference 6e-4 of the total; require < 1% (a 1-cell error would be ~10%)
    assert np.abs(m - truth).sum() / truth.sum() < 0.01


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
    exp = reference.accumulate_exposure(timeline, thresholds, None, power_law_integral,
                                        efficiency_edges=edges)
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
    eps = reference.estimate_efficiency(hist, exp.efficiency_exposure_s, min_events_per_bin=0)
    expo = exp.efficiency_exposure_s
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
@pytest.fixture(scope="module")
def acceptance_map():
    """A smooth detector acceptance ~ cos(theta) within 40 deg, x-y asymmetric, at nside 16."""
    nside_det = 16
    vec = np.array(hp.pix2vec(nside_det, np.arange(hp.nside2npix(nside_det))))
    acc = np.where(vec[2] > np.cos(np.radians(40)), vec[2] * (1 + 0.3 * vec[0]), 0.0)
    return acc, vec


def test_normalisation_and_determinism(timeline, acceptance_map):
    acc, _ = acceptance_map
    exp = reference.accumulate_exposure(timeline, [18, 30, 45], None, power_law_integral)
    det = np.vstack([acc, acc, acc])
    n_events = [1000.0, 400.0, 0.0]
    ref = reference.reference_maps(exp, det, 16, n_events)
    assert np.allclose(ref.maps.sum(axis=1), n_events, rtol=1e-12)
    assert np.all(ref.maps >= 0)
    assert not ref.maps[2].any()
    again = reference.reference_maps(reference.accumulate_exposure(timeline, [18, 30, 45], None,
                                                                   power_law_integral), det, 16, n_events)
    assert np.array_equal(ref.maps, again.maps)  # bitwise identical
    # chunked streaming gives the same cells as one frame
    chunks = [timeline.iloc[:7000], timeline.iloc[7000:15000], timeline.iloc[15000:]]
    chunked = reference.accumulate_exposure(chunks, [18, 30, 45], None, power_law_integral)
    assert np.array_equal(chunked.cell_keys, exp.cell_keys)
    assert np.allclose(chunked.cell_weights_s, exp.cell_weights_s, rtol=1e-12)
    assert np.allclose(chunked.cell_rotations, exp.cell_rotations, atol=1e-12)


def test_dipole_response_is_the_linear_change(timeline, acceptance_map):
    """A_hat = A (1 + rho.Q d) changes the map by rho.T to first order (the absorbed dipole)."""
    acc, vec = acceptance_map
    exp = reference.accumulate_exposure(timeline, [18], None, power_law_integral)
    base = reference.reference_maps(exp, acc[None], 16, [1e6])
    q = base.q_matrix[0]
    # the LVLH y axis has a fixed declination component: Q is far from zero along the celestial pole
    pole_gal = EQ_TO_GAL @ np.array([0.0, 0.0, 1.0])
    assert abs(pole_gal @ q @ np.array([0.0, 1.0, 0.0])) > 0.4  # ~ cos(51.64 deg) cos(12 deg) = 0.61
    rho = 0.01 * pole_gal
    tilted = acc * (1 + rho @ q @ vec)
    changed = reference.reference_maps(exp, tilted[None], 16, [1e6], dipole_response=False)
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

    acc, vec = acceptance_map
    nside = 16
    exp = reference.accumulate_exposure(timeline, [18], None, power_law_integral)
    m0 = reference.reference_maps(exp, acc[None], nside, [1e7])
    n_sky = np.array(hp.pix2vec(nside, np.arange(hp.nside2npix(nside))))
    pole_gal = EQ_TO_GAL @ np.array([0.0, 0.0, 1.0])
    rho = 0.02 * pole_gal
    counts = m0.maps[0] * (1 + rho @ n_sky)
    # the "data" detector histogram of that sky: A(d) sum_c W_c (1 + rho.R_c d)
    w = exp.cell_weights_s[0]
    dvec = np.array(hp.pix2vec(16, np.arange(acc.size)))
    det = acc * (w.sum() + np.einsum("c,a,cab,bj->j", w, rho, exp.cell_rotations, dvec))
    hat = reference.reference_maps(exp, det[None], nside, [counts.sum()])
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
    exp = reference.accumulate_exposure(timeline, [18], None, power_law_integral)
    ref = reference.reference_maps(exp, acc[None], 16, [1e6], acceptance_symmetry="xy")
    k_sym = reference.dipole_response_matrix(ref.maps[0], ref.dipole_response[0])
    ref_none = reference.reference_maps(exp, acc[None], 16, [1e6])
    k_none = reference.dipole_response_matrix(ref_none.maps[0], ref_none.dipole_response[0])
    pole = EQ_TO_GAL @ np.array([0.0, 0.0, 1.0])
    assert abs(pole @ k_sym @ pole) < 0.2 * abs(pole @ k_none @ pole)


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
    exp = reference.accumulate_exposure(timeline.iloc[:3000], [18, 30], None, power_law_integral)
    with pytest.raises(ValueError, match="n_thr=2"):
        reference.reference_maps(exp, acc[None], 16, [10, 5])
    with pytest.raises(ValueError, match="n_events"):
        reference.reference_maps(exp, np.vstack([acc, acc]), 16, [10])
    with pytest.raises(ValueError, match="efficiency"):
        reference.accumulate_exposure(timeline.iloc[:100], [18, 30], None, power_law_integral,
                                      efficiency=np.ones((3, 16)))
    with pytest.raises(io.InputError, match="empty timeline"):
        reference.accumulate_exposure(timeline.iloc[:0], [18], None, power_law_integral)
    with pytest.raises(io.InputError, match="no good interval"):
        reference.accumulate_exposure(timeline.iloc[:10].assign(good=False), [18], None, power_law_integral)
    bad = timeline.iloc[:100].copy()
    bad.loc[bad.index[5], "ams_y_gal_z"] = np.nan
    bad.loc[bad.index[5], "good"] = True
    with pytest.raises(io.InputError, match="non-finite"):
        reference.accumulate_exposure(bad, [18], None, power_law_integral)
    skew = timeline.iloc[:100].copy()
    skew["ams_x_gal_x"] *= 1.1
    with pytest.raises(io.InputError, match="orthonormal"):
        reference.accumulate_exposure(skew, [18], None, power_law_integral)
    path = tmp_path / "timeline.parquet"
    with pytest.raises(io.InputError, match="does not exist"):
        reference.accumulate_exposure([path], [18], None, power_law_integral)
    with pytest.raises(ValueError, match="strictly increasing"):
        reference.accumulate_exposure(timeline.iloc[:100], [30, 18], None, power_law_integral)
    with pytest.raises(ValueError, match="same shape"):
        reference.estimate_efficiency(np.ones((2, 5)), np.ones((3, 5)))
    with pytest.raises(ValueError, match="non-negative"):
        reference.reference_maps(exp, -np.vstack([acc, acc]), 16, [10, 5])
    with pytest.raises(ValueError, match="empty detector histogram"):
        reference.reference_maps(exp, np.zeros((2, acc.size)), 16, [10, 5])
    sel = pd.DataFrame({"time_unix_s": [timeline.time_unix_s.iloc[-1] + 1e5], "observable": [20.0],
                        "dir_det_x": [0.0], "dir_det_y": [0.0], "dir_det_z": [1.0]})
    with pytest.raises(io.InputError, match="outside the timeline"):
        reference.shuffled_reference_maps(sel, timeline, [18], None, 8, 1, generator(1, "tests", 0))
