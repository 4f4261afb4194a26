"""The statistical-validation driver (ams_anisotropy.validation) and its bookkeeping (validation_stats).

The pseudo-experiments run at a tiny scale: the default 73-day period at a 600 s cadence, protons
prescaled by 2000 (~1,700 events above 18 GV). The statistics functions are checked on synthetic
experiments with known answers (Gaussian draws of known covariance, known coverage counts).
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from ams_anisotropy import validation, validation_stats

ROOT = Path(__file__).resolve().parents[1]
BASE = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
OVERLAY = yaml.safe_load((ROOT / "config" / "validation.yaml").read_text())


def tiny_config():
    config = copy.deepcopy(BASE)
    config["seed"] = OVERLAY["seed"]
    config["validation"] = {**OVERLAY["validation"], "timeline_cadence_s": 600.0, "prescale": {"proton": 2000.0}}
    config["limits"]["n_posterior_samples"] = 4000
    return config


@pytest.fixture(scope="module")
def setup():
    config = tiny_config()
    timeline = validation.validation_timeline(config)
    return validation.species_setup(config, "proton", timeline, ROOT)


def test_experiment_is_deterministic_for_a_seed(setup):
    rho = (0.02, -0.01, 0.03)
    first = validation.run_experiment(setup, rho, 5)
    again = validation.run_experiment(setup, rho, 5)
    other = validation.run_experiment(setup, rho, 6)
    assert first == again  # bitwise: every float of the row
    assert first["n_events"] != other["n_events"] or first["rho_fb"] != other["rho_fb"]
    assert 1000 < first["n_events"] < 3000
    assert first["covered"] == (first["delta_true"] <= first["delta_ul95"])


def test_a_handful_of_experiments_recover_the_injection(setup):
    """Five experiments with a 5-sigma dipole along the celestial pole: the mean recovered component
    along the axis is the injection within 3 standard errors (sigma / sqrt(5) each)."""
    sigma = np.sqrt(3.0 / 1700.0)  # ~ per-component error of 1,700 events over the sky
    axis = validation.lb_vector(*OVERLAY["validation"]["directions"]["celestial_pole"])
    rho = 5.0 * sigma * axis
    rows = [validation.run_experiment(setup, rho, 100 + k) for k in range(5)]
    frame = pd.DataFrame(rows)
    fitted = validation_stats.vectors(frame, "rho_")
    errors = np.sqrt(np.diagonal(validation_stats.covariance_matrices(frame), axis1=1, axis2=2))
    along = fitted @ axis
    assert abs(along.mean() - 5.0 * sigma) < 3.0 * errors.mean() / np.sqrt(5)
    assert np.all(np.abs(validation_stats.pulls(frame)) < 4.5)
    assert frame["k_ns"].between(-0.5, 0.5).all()


def test_calibration_file_round_trip(setup, tmp_path):
    npix = 12 * setup.nside**2
    rng = np.random.default_rng(1)
    calibration = validation.Calibration(reference_map=rng.random(npix) + 1.0, dipole_response=rng.random((3, npix)),
                                         n_samples=3, mean_events=1234.5, sigma_experiment=np.array([0.1, 0.2, 0.3]))
    path = tmp_path / "calibration.fits"
    validation.write_calibration(calibration, setup.label, path)
    back = validation.read_calibration(path, setup.label)
    assert np.allclose(back.reference_map, calibration.reference_map)
    assert np.allclose(back.dipole_response, calibration.dipole_response)
    assert back.n_samples == 3 and back.mean_events == 1234.5
    assert np.allclose(back.sigma_experiment, [0.1, 0.2, 0.3])


def test_experiment_plan_ids_and_amplitudes():
    plan = validation.experiment_plan(OVERLAY["validation"], [0.01, 0.01, 0.01])
    v = OVERLAY["validation"]
    n_injected = len(v["amplitudes_sigma"]) * len(v["directions"]) * v["n_per_injection"]
    assert len(plan) == v["n_isotropic"] + n_injected
    assert len({p.experiment for p in plan}) == len(plan)
    assert all(p.experiment // validation.GROUP_STRIDE != validation.CALIBRATION_GROUP for p in plan)
    for p in plan:
        assert np.isclose(np.linalg.norm(p.rho_true), 0.01 * p.amplitude_sigma)


def synthetic_frame(n, rho_true, sigma, rng, covered=None, kind="injected", amplitude=1.0):
    """Experiments whose fitted dipole is Gaussian around the truth with covariance diag(sigma^2)."""
    rho = np.asarray(rho_true) + rng.standard_normal((n, 3)) * sigma
    frame = pd.DataFrame({"species": "proton", "kind": kind, "amplitude_sigma": amplitude, "direction": "x",
                          "n_events": 1000, "delta_true": np.linalg.norm(rho_true),
                          "delta_ul95": np.linalg.norm(rho, axis=1) + 2.0 * sigma[0]})
    for j, c in enumerate(validation.COMPONENTS):
        frame[f"true_{c}"] = rho_true[j]
        frame[f"rho_{c}"] = rho[:, j]
        frame[f"rho_unc_{c}"] = rho[:, j]
        frame[f"sigma_unc_{c}"] = sigma[j]
        for k in range(j, 3):
            frame[f"cov_{c}_{validation.COMPONENTS[k]}"] = sigma[j] ** 2 if j == k else 0.0
    frame["covered"] = frame["delta_true"] <= frame["delta_ul95"] if covered is None else covered
    return frame


def test_coverage_bookkeeping_on_a_known_case():
    rng = np.random.default_rng(2)
    sigma = np.full(3, 0.01)
    covered = np.array([True] * 190 + [False] * 10)  # 95% exactly
    frame = pd.concat([synthetic_frame(200, [0.05, 0.0, 0.0], sigma, rng, covered, amplitude=5.0),
                       synthetic_frame(100, [0.0, 0.0, 0.0], sigma, rng, True, kind="isotropic", amplitude=0.0)],
                      ignore_index=True)
    table = validation_stats.coverage_table(frame, seed=1)
    five = table[table["amplitude_sigma"] == 5.0].iloc[0]
    assert five["n_experiments"] == 200
    assert five["covered_fraction"] == 0.95
    assert np.isclose(five["covered_error"], np.sqrt(0.95 * 0.05 / 200))
    assert np.isclose(five["injected_amplitude"], 0.05)
    zero = table[table["amplitude_sigma"] == 0.0].iloc[0]
    assert zero["covered_fraction"] == 1.0 and np.isclose(zero["covered_error"], 1.0 / 100)  # error of one event
    assert zero["ideal_fraction"] == 1.0  # the interval [0, ul] always holds 0
    pooled = table[table["amplitude_sigma"].isna()].iloc[0]
    assert pooled["n_experiments"] == 200 and pooled["covered_fraction"] == 0.95


def test_ideal_coverage_and_rice_mean_known_answers():
    rng = np.random.default_rng(3)
    # far above the sensitivity (nu sigma) both |rho_hat| and the flat-prior posterior of |rho| sit ~sigma/nu
    # above the truth (the volume factor of three dimensions), and the limit 1.645 sigma above the posterior
    # mean: coverage ~ Phi(1.645 + 2 / nu), 0.9565 at nu = 30, -> 95% slowly
    expected = stats.norm.cdf(stats.norm.ppf(0.95) + 2.0 / 30.0)
    assert abs(validation_stats.ideal_coverage(30.0, rng, 100_000) - expected) < 4.0 * np.sqrt(0.05 * 0.95 / 100_000)
    # near zero it over-covers (the interval [0, ul] holds the small truth almost always)
    assert validation_stats.ideal_coverage(0.3, rng, 100_000) > 0.99
    # Rice mean of the 3-d noncentral chi: chi(3) mean at 0, nu + 1/nu far above
    assert np.isclose(validation_stats.rice_mean(0.0), stats.chi(3).mean())
    assert np.isclose(validation_stats.rice_mean(20.0), 20.0 + 1.0 / 20.0, rtol=1e-6)
    z = rng.standard_normal((200_000, 3))
    z[:, 0] += 1.5
    monte_carlo = np.linalg.norm(z, axis=1)
    assert abs(validation_stats.rice_mean(1.5) - monte_carlo.mean()) < 4 * monte_carlo.std() / np.sqrt(z.shape[0])


def test_pulls_and_chi3_of_calibrated_gaussian_experiments():
    """Correct errors: rms of the pulls 1 within 3 standard errors, KS of |rho|/sigma against chi(3) not
    rejected; errors overstated by 25%: the rms is 0.8 and the KS test rejects."""
    rng = np.random.default_rng(4)
    sigma = np.array([0.01, 0.02, 0.015])
    frame = synthetic_frame(400, [0.0, 0.0, 0.0], sigma, rng, True, kind="isotropic", amplitude=0.0)
    table = validation_stats.pulls_table(frame)
    corrected = table[(table["estimate"] == "corrected") & (table["sample"] == "isotropic")]
    assert np.all(np.abs(corrected["rms_pull"] - 1.0) < 3.0 * corrected["rms_error"])
    norm = validation_stats.mahalanobis(frame)
    assert stats.kstest(norm, stats.chi(3).cdf).pvalue > 1e-3
    wide = frame.copy()
    for c in validation.COMPONENTS:
        for d in validation.COMPONENTS:
            if f"cov_{c}_{d}" in wide:
                wide[f"cov_{c}_{d}"] *= 1.25**2
    wide_table = validation_stats.pulls_table(wide)
    rms = wide_table[(wide_table["estimate"] == "corrected") & (wide_table["sample"] == "isotropic")]["rms_pull"]
    assert np.all(np.abs(rms - 0.8) < 0.1)
    assert stats.kstest(validation_stats.mahalanobis(wide), stats.chi(3).cdf).pvalue < 1e-3
    scales = validation_stats.calibrated_scales(validation_stats.error_calibration(wide))
    assert np.all(np.abs(scales["proton"] - 0.8) < 0.1)


def test_external_reference_scaling_keeps_the_absorption():
    """K (the dipole of response / map) does not depend on the normalisation the external reference is
    scaled to: the map and its response are scaled together."""
    from ams_anisotropy import reference

    nside = 8
    npix = 12 * nside**2
    rng = np.random.default_rng(5)
    base = 1.0 + 0.3 * rng.random(npix)
    response = 0.05 * rng.standard_normal((3, npix)) * base
    calibration = validation.Calibration(reference_map=base * 500.0, dipole_response=response * 500.0, n_samples=20,
                                         mean_events=100.0, sigma_experiment=np.ones(3))
    k_full = reference.dipole_response_matrix(base * 500.0, response * 500.0)
    k_scaled = reference.dipole_response_matrix(*calibration.scaled(37.0))
    assert np.allclose(k_full, k_scaled, rtol=1e-10, atol=1e-14)
    assert np.isclose(calibration.scaled(37.0)[0].sum(), 37.0)
