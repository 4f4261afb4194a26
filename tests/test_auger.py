"""Validation on the Pierre Auger 2017 public events: exposure, Rayleigh analysis, dipole fit, limits."""

from __future__ import annotations

from pathlib import Path

import healpy as hp
import numpy as np
import pytest

from ams_anisotropy import auger, limits
from ams_anisotropy.io import InputError
from ams_anisotropy.rng import generator

DATA = Path(__file__).resolve().parents[1] / "resources" / "auger2017" / "Arrival_directions_8EeV_Science_2017.dat"


@pytest.fixture(scope="module")
def events():
    return auger.read_auger_events(DATA)


@pytest.fixture(scope="module")
def analysis(events):
    return auger.analyse_auger(events, nside=32)


def within_published(value, key):
    central, plus, minus = auger.PUBLISHED[key]
    return central + minus <= value <= central + plus


def test_shipped_file_is_read(events):
    assert len(events) == 32187  # Science 357 (2017) 1266: 32,187 events above 8 EeV
    assert list(events.columns) == list(auger.EVENT_COLUMNS)
    assert events.weight.between(0.95, 1.05).all()
    assert events.dec_deg.max() < 44.8 + 0.5  # the array sees dec < a0 + theta_max = 44.8 deg
    assert events.year.min() == 2004 and events.year.max() == 2016


def test_sommers_exposure_against_numerical_integration_over_hour_angle():
    # independent: omega(dec) ∝ (1/2) ∫ cos(theta(h)) [theta(h) < theta_m] dh over the hour angle h
    dec = np.radians(np.linspace(-89.5, 60.0, 151))
    hour = np.linspace(-np.pi, np.pi, 40001)
    a0, theta_m = np.radians(-35.2), np.radians(80.0)
    cos_zenith = np.sin(a0) * np.sin(dec)[:, None] + np.cos(a0) * np.cos(dec)[:, None] * np.cos(hour)
    integrand = np.where(cos_zenith > np.cos(theta_m), cos_zenith, 0.0)
    numeric = 0.5 * np.sum(integrand, axis=1) * (hour[1] - hour[0])
    analytic = auger.sommers_exposure(dec, -35.2, 80.0)
    # quadrature error of the step function at the two edges: ~2 steps of 1.6e-4 rad -> < 5e-4
    np.testing.assert_allclose(analytic, numeric, atol=5e-4)
    assert auger.sommers_exposure(np.radians([-90.0]))[0] == pytest.approx(np.pi * np.sin(np.radians(35.2)))
    assert auger.sommers_exposure(np.radians([44.9, 60.0, 90.0])) == pytest.approx(0.0)


def test_exposure_map_in_galactic_coordinates():
    nside = 16
    exposure = auger.exposure_map_galactic(nside, oversample=4)
    # independent coordinates: healpy's G -> C rotation (FK5 J2000) instead of astropy ICRS
    theta, phi = hp.pix2ang(nside, np.arange(hp.nside2npix(nside)))
    theta_eq, _ = hp.Rotator(coord=["G", "C"])(theta, phi)
    at_centres = auger.sommers_exposure(np.pi / 2 - theta_eq)
    at_centres /= at_centres.max()
    # sub-pixel averaging differs from the centre value by the curvature over a 3.7 deg pixel;
    # the exposure changes by < 3% across a pixel except at the northern edge
    inside = at_centres > 0.2
    np.testing.assert_allclose(exposure[inside], at_centres[inside], atol=0.03)
    assert exposure.max() == pytest.approx(1.0)
    assert np.all(exposure[np.pi / 2 - theta_eq > np.radians(44.8 + 4)] == 0)


def test_rayleigh_known_answer():
    ra = np.arange(0.0, 360.0, 0.1)
    weights = 1 + 0.1 * np.cos(np.radians(ra - 50.0))  # a first harmonic of amplitude 0.1 at 50 deg
    result = auger.rayleigh_ra(ra, weights)
    assert result.amplitude == pytest.approx(0.1, abs=1e-12)
    assert result.phase_deg == pytest.approx(50.0, abs=1e-9)
    assert result.probability == pytest.approx(np.exp(-ra.size * 0.01 / 4))


def test_auger_first_harmonic_matches_publication(analysis):
    ray = analysis.rayleigh
    assert within_published(ray.amplitude, "first_harmonic_ra_amplitude")  # 4.7% (+0.9/-0.7)
    assert within_published(ray.phase_deg, "first_harmonic_ra_phase_deg")  # 100 +- 10 deg
    assert 1e-8 < ray.probability < 1e-7  # published 2.6e-8


def test_auger_dipole_matches_publication(analysis):
    result = analysis.fit
    # published: 6.5% (+1.3/-0.9) towards (RA, Dec) = (100 +- 10, -24 +12/-13) deg
    assert within_published(result.delta, "dipole_amplitude")
    assert within_published(analysis.ra_deg, "dipole_ra_deg")
    assert within_published(analysis.dec_deg, "dipole_dec_deg")
    # statistical uncertainty per component ~ sqrt(3/N) / (partial-sky factor): about 0.011
    assert np.all((result.sigma > 0.008) & (result.sigma < 0.015))
    # Pearson chi2 / dof ~ 1 (sd sqrt(2/dof) = 0.014) and no significant higher multipoles
    assert abs(result.chi2 / result.dof - 1) < 0.05
    assert all(check.p_value > 1e-3 for check in result.higher_multipoles)
    # the counts map is the sum of the weights, the reference is normalised to it
    assert analysis.counts.sum() == pytest.approx(analysis.exposure.sum())


def test_limit_machinery_runs_on_auger(analysis):
    ul = limits.dipole_upper_limit(analysis.counts, analysis.exposure, generator(1, "tests", 30),
                                   mask=analysis.mask, n_samples=4000, sigma_sys=[0.005, 0.005, 0.005])
    assert analysis.fit.delta < ul.delta_ul < 0.12 and ul.delta_ul_sys >= ul.delta_ul - 3 * ul.delta_ul_mc_error
    iso = limits.isotropic_expectation(analysis.exposure, generator(1, "tests", 31), mask=analysis.mask,
                                       n_skies=100, n_draws=2000)
    # a detection: the measured amplitude is far above what isotropic skies give
    assert analysis.fit.delta > np.quantile(np.linalg.norm(iso.rho_hat, axis=1), 0.99)
    assert ul.delta_ul > iso.bands.high95


def test_posterior_summary_in_equatorial_coordinates(analysis):
    posterior = limits.sample_dipole_posterior(analysis.counts, analysis.exposure, generator(2, "tests", 32),
                                               mask=analysis.mask, n_samples=4000)
    summary = auger.equatorial_posterior_summary(posterior.rho_samples, posterior.weights)
    low, mid, high = summary["ra_deg"]
    assert low < mid < high and abs(mid - analysis.ra_deg) < 5  # posterior median near the fit
    assert summary["delta"][0] < analysis.fit.delta < summary["delta"][2]


def _write(tmp_path, text):
    path = tmp_path / "auger.dat"
    path.write_text("# header\n" + text)
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2004 1 -11.8 208.9 164.7 1.0040\n", "expected 7 columns"),
        ("2004 1 -11.8 abc 164.7 1.0040 1072969615\n", "column ra_deg has 1 non-numeric"),
        ("2004 1 -95.0 208.9 164.7 1.0040 1072969615\n", "column dec_deg .* outside"),
        ("2004 1 -11.8 208.9 164.7 0.0 1072969615\n", "column weight .* not positive"),
        ("", "no event rows"),
    ],
)
def test_bad_files_fail_clearly(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(InputError, match=message) as info:
        auger.read_auger_events(path)
    assert str(path) in str(info.value)


def test_missing_file_and_bad_parameters(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        auger.read_auger_events(tmp_path / "nope.dat")
    with pytest.raises(ValueError, match="latitude_deg"):
        auger.sommers_exposure(np.zeros(3), latitude_deg=100.0)
    with pytest.raises(ValueError, match="max_zenith_deg"):
        auger.sommers_exposure(np.zeros(3), max_zenith_deg=0.0)
    with pytest.raises(ValueError, match="oversample"):
        auger.exposure_map_galactic(8, oversample=3)
