"""Tests of ams_anisotropy.acceptance (geometry Monte Carlo) and ams_anisotropy.detector (response)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from ams_anisotropy import acceptance as acc
from ams_anisotropy import detector as det
from ams_anisotropy import rng as rng_module


def two_plane_geometry(top: acc.Plane, bottom: acc.Plane) -> acc.Geometry:
    return acc.Geometry(planes=(top, bottom), patterns=(("both", (top.name, bottom.name)),), generation_plane=top.name)


@pytest.mark.parametrize(("r1", "r2", "h"), [(20.0, 30.0, 50.0), (55.0, 50.0, 188.0)])
def test_two_discs_match_sullivan(r1, r2, h):
    geometry = two_plane_geometry(acc.Plane("top", h, "disc", r1), acc.Plane("bottom", 0.0, "disc", r2))
    value, error = acc.geometric_acceptance_m2sr("both", geometry, max_zenith_deg=89.9, n=400_000, seed=1)
    expected = acc.two_disc_acceptance_m2sr(r1, r2, h)
    # MC binomial error; 4 sigma (the 89.9 deg generation limit loses < 1e-6 of the acceptance)
    assert abs(value - expected) < 4 * error


def test_two_squares_match_known_value():
    a, h = 40.0, 50.0
    analytic = acc.two_rectangle_acceptance_m2sr(a, a, h)
    # independent check of the closed form: A = integral d^2rho h^2 / (h^2 + rho^2)^2 x overlap(rho)
    quad = (
        integrate.dblquad(
            lambda y, x: h * h / (h * h + x * x + y * y) ** 2 * (a - abs(x)) * (a - abs(y)), -a, a, -a, a
        )[0]
        / 1e4
    )
    np.testing.assert_allclose(analytic, quad, rtol=1e-7)
    # far apart, A -> area^2 / h^2 (relative correction ~ a^2/h^2 = 4e-4 at h = 2000 cm)
    np.testing.assert_allclose(acc.two_rectangle_acceptance_m2sr(a, a, 2000.0), a**4 / 2000.0**2 / 1e4, rtol=2e-3)
    geometry = two_plane_geometry(
        acc.Plane("top", h, "rectangle", a / 2, a / 2), acc.Plane("bottom", 0.0, "rectangle", a / 2, a / 2)
    )
    value, error = acc.geometric_acceptance_m2sr("both", geometry, max_zenith_deg=89.9, n=400_000, seed=2)
    assert abs(value - analytic) < 4 * error


def test_ams_acceptances_are_sensible():
    values = {p: acc.geometric_acceptance_m2sr(p, n=300_000, seed=3) for p in acc.AMS02_GEOMETRY.pattern_names}
    for value, error in values.values():
        assert error < 0.02 * value + 5e-4
    inner = values["inner"][0]
    l1_inner = values["l1_inner"][0]
    l1_inner_l9 = values["l1_inner_l9"][0]
    ecal = values["ecal"][0]
    # method.md: AMS overall (inner tracker) ~0.45-0.5 m^2 sr; L1+inner ~4-5x L1..L9; e± ~0.05
    assert 0.42 < inner < 0.56
    assert 4.0 < l1_inner / l1_inner_l9 < 5.0
    assert 0.035 < ecal < 0.065
    # L1 at 159 cm, L8 at -29 cm with 50 cm radius: a disc pair of this size gives ~0.21 m^2 sr
    assert 0.17 < l1_inner < 0.25
    # every pattern is inside the generation cone: more zenith angle adds nothing
    wide, wide_error = acc.geometric_acceptance_m2sr("inner", max_zenith_deg=70.0, n=300_000, seed=4)
    assert abs(wide - inner) < 4 * np.hypot(wide_error, values["inner"][1])


def test_directions_are_isotropic_through_a_plane():
    rng = rng_module.generator(5, "tests", 10)
    gen = acc.generate(rng, 200_000, max_zenith_deg=50.0)
    d = gen.direction_det
    np.testing.assert_allclose(np.linalg.norm(d, axis=1), 1.0, rtol=1e-12)
    assert np.all(d[:, 2] > np.cos(np.radians(50.0)) - 1e-12)
    # cos^2(theta) uniform on [cos^2(50), 1]: Kolmogorov-Smirnov test (p > 1e-3)
    c2min = np.cos(np.radians(50.0)) ** 2
    assert stats.kstest(d[:, 2] ** 2, stats.uniform(loc=c2min, scale=1 - c2min).cdf).pvalue > 1e-3
    # patterns are subsets: l1_inner_l9 implies l1_inner implies inner
    assert np.all(gen.patterns["inner"][gen.patterns["l1_inner"]])
    assert np.all(gen.patterns["l1_inner"][gen.patterns["l1_inner_l9"]])


def test_acceptance_is_not_azimuthally_flat_for_square_ecal():
    rng = rng_module.generator(5, "tests", 11)
    gen = acc.generate(rng, 1_500_000)
    d = gen.direction_det
    theta = np.degrees(np.arccos(d[:, 2]))
    phi = np.degrees(np.arctan2(d[:, 1], d[:, 0])) % 90.0  # fold by the square's 4-fold symmetry
    band = (theta > 15) & (theta < 25)
    axis = band & ((phi < 10) | (phi > 80))
    diagonal = band & (np.abs(phi - 45) < 10)

    def ratio(pattern):
        p_axis, p_diag = gen.patterns[pattern][axis].mean(), gen.patterns[pattern][diagonal].mean()
        sigma = np.hypot(np.sqrt(p_axis * (1 - p_axis) / axis.sum()), np.sqrt(p_diag * (1 - p_diag) / diagonal.sum()))
        return p_diag - p_axis, sigma

    diff_ecal, sigma_ecal = ratio("ecal")
    diff_inner, sigma_inner = ratio("inner")
    # the square ECAL reaches further along its diagonal: clearly different (> 5 sigma)
    assert diff_ecal > 5 * sigma_ecal
    # all-disc pattern: flat in azimuth within 4 sigma
    assert abs(diff_inner) < 4 * sigma_inner


def test_geometry_bad_inputs():
    with pytest.raises(KeyError, match="unknown track pattern"):
        acc.geometric_acceptance_m2sr("nonexistent")
    with pytest.raises(ValueError, match="max_zenith_deg"):
        acc.generation_acceptance_m2sr(max_zenith_deg=95.0)
    with pytest.raises(ValueError, match="shape"):
        acc.Plane("x", 0.0, "hexagon", 1.0)
    with pytest.raises(ValueError, match="unknown plane"):
        acc.Geometry(planes=(acc.Plane("a", 0.0, "disc", 1.0),), patterns=(("p", ("a", "b")),), generation_plane="a")
    with pytest.raises(ValueError, match="generation plane"):
        acc.Geometry(planes=(acc.Plane("a", 0.0, "disc", 1.0),), patterns=(), generation_plane="b")


# ---------------------------------------------------------------------------------------------
# detector response


def _respond(n, z, sign, em, rigidity, **overrides):
    rng = rng_module.generator(8, "tests", 20 + z)
    args = dict(
        has_l1=np.ones(n, bool),
        has_l9=np.ones(n, bool),
        n_inner_layers=np.full(n, 7),
        has_trd=np.ones(n, bool),
        has_ecal=np.ones(n, bool),
        upward=np.zeros(n, bool),
        poor_track=np.zeros(n, bool),
    )
    args.update(overrides)
    return det.respond(rng, charge_z=z, charge_sign=sign, electromagnetic=em, rigidity_gv=np.full(n, rigidity), **args)


def test_rigidity_resolution_and_charge_confusion():
    n = 100_000
    out = _respond(n, 1, -1, True, 100.0)
    curvature = 1.0 / out["rigidity_full_span_gv"].astype(np.float64)
    expected_sigma = det.curvature_sigma(100.0, 2000.0, 0.08)
    # Gaussian curvature: mean -1/R, width sigma(1/R) (5 sigma on the mean, 3% on the width: n = 1e5)
    assert abs(curvature.mean() + 0.01) < 5 * expected_sigma / np.sqrt(n)
    np.testing.assert_allclose(curvature.std(), expected_sigma, rtol=0.03)
    # at 2 TV (the MDR) the sign is wrong with probability Phi(-1/(1/MDR)/sigma) ~ 16% for the full span
    far = _respond(n, 1, 1, False, 2000.0)
    wrong = np.mean(far["rigidity_full_span_gv"] < 0)
    sigma = det.curvature_sigma(2000.0, 2000.0, 0.08)
    assert abs(wrong - stats.norm.cdf(-(1 / 2000.0) / sigma)) < 0.01
    # the inner+L1 fit is less precise than the full span
    assert np.std(1 / far["rigidity_gv"]) > np.std(1 / far["rigidity_full_span_gv"])
    # poor tracks: degraded resolution and chi2 > 3
    poor = _respond(10_000, 1, 1, False, 100.0, poor_track=np.ones(10_000, bool))
    assert np.all(poor["track_chi2_ndf"] > 12)
    assert np.mean(out["track_chi2_ndf"] > 3) < 1e-3  # chi2(12)/12 > 3 has probability 2e-4


def test_ecal_energy_resolution_and_proton_rejection():
    n = 100_000
    electrons = _respond(n, 1, -1, True, 100.0)
    np.testing.assert_allclose(
        np.std(electrons["ecal_energy_gev"]) / 100.0, det.ecal_relative_resolution(100.0), rtol=0.03
    )
    protons = _respond(n, 1, 1, False, 100.0)
    # TRD: N(1.0, 0.1) below 0.75 -> Phi(-2.5) = 0.0062; ECAL estimator above 0: 0.5 x Phi(-0.8/0.26) = 5.2e-4
    trd_pass = np.mean(protons["trd_estimator"] < 0.75)
    ecal_pass = np.mean(protons["ecal_estimator"] > 0)
    assert abs(trd_pass - stats.norm.cdf(-2.5)) < 5 * np.sqrt(0.0062 / n)
    assert abs(ecal_pass - 0.5 * stats.norm.cdf(-0.8 / 0.26)) < 5 * np.sqrt(5.2e-4 / n)
    assert 1e5 < 1.0 / (trd_pass * ecal_pass) < 1e6  # combined rejection, the task's 1e5-1e6
    # e± keep ~99% with the same cuts
    assert np.mean((electrons["trd_estimator"] < 0.75) & (electrons["ecal_estimator"] > 0)) > 0.98
    # hadrons leave a small fraction of their energy: E/R well below the e± value of 1
    assert np.median(protons["ecal_energy_gev"] / 100.0) < 0.3


def test_charge_beta_and_missing_detectors():
    n = 50_000
    carbon = _respond(n, 6, 1, False, 50.0)
    np.testing.assert_allclose(np.std(carbon["charge"]), 0.04 + 0.025 * 6, rtol=0.03)
    # boron leaks into a carbon window 5.5-6.5 at the percent level
    boron = _respond(n, 5, 1, False, 50.0)
    leak = np.mean((boron["charge"] > 5.5) & (boron["charge"] < 6.5))
    assert 1e-3 < leak < 5e-2
    up = _respond(1000, 1, 1, False, 50.0, upward=np.ones(1000, bool))
    assert np.all(up["beta"] < 0)
    none = _respond(
        1000,
        1,
        1,
        False,
        50.0,
        has_l9=np.zeros(1000, bool),
        has_trd=np.zeros(1000, bool),
        has_ecal=np.zeros(1000, bool),
    )
    assert np.all(np.isnan(none["rigidity_full_span_gv"])) and np.all(np.isnan(none["trd_estimator"]))
    assert np.all(np.isnan(none["ecal_energy_gev"])) and np.all(np.isfinite(none["rigidity_gv"]))
    with pytest.raises(ValueError, match="shape"):
        _respond(10, 1, 1, False, 50.0, has_l1=np.ones(3, bool))
    with pytest.raises(ValueError, match="MDR"):
        _respond(10, 3, 1, False, 50.0)


def test_pattern_acceptance_map_integrates_to_the_monte_carlo_acceptance():
    """The deterministic per-pixel acceptance (grid of entry points) integrates over the detector sphere to
    the Monte Carlo acceptance of the same pattern (independent method), within grid and MC errors."""
    import healpy as hp

    nside = 16
    per_pixel_cm2 = acc.pattern_acceptance_map(nside, "l1_inner_l9", grid_step_cm=2.0)
    integral_m2sr = per_pixel_cm2.sum() * hp.nside2pixarea(nside) / 1e4
    value, error = acc.geometric_acceptance_m2sr("l1_inner_l9", n=400_000, seed=5)
    # pixelisation of a sharp aperture edge at Nside 16 (3.7 deg pixels): a few per cent
    assert integral_m2sr == pytest.approx(value, rel=0.05)
    assert per_pixel_cm2[hp.vec2pix(nside, 0, 0, 1)] > 0
    assert per_pixel_cm2[hp.vec2pix(nside, 1, 0, 0.2)] == 0  # 79 deg off axis: outside the pattern
