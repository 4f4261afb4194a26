"""Tables of the statistical validation, from the per-experiment rows of :mod:`ams_anisotropy.validation`.

Definitions (docs/validation.md):

* pull of component j: (rho_j - rho_true_j) / sigma_j, sigma_j from the reported covariance; its rms is 1
  for calibrated errors; standard error of the rms of n Gaussian values: rms / sqrt(2 n).
* |rho| / sigma: the Mahalanobis norm sqrt(rho^T C^-1 rho) of an isotropic experiment's fitted dipole
  with its reported covariance C; chi-distributed with 3 degrees of freedom if C is right (KS test).
* coverage: the 95% credible interval of delta is [0, delta_ul95]; an experiment covers when the true
  amplitude lies in it. A flat prior on the three components over-covers at small amplitudes (the
  interval always contains 0), so the table gives next to the measured fraction the fraction an ideal
  analysis would reach (Gaussian counts noise with the measured sigma, the same flat-prior posterior:
  delta_ul = sigma sqrt(ncx2.ppf(0.95, 3, |rho_hat|^2 / sigma^2))), computed by Monte Carlo.
* "excludes zero" (the paper's sense of a detection): a measured limit above the upper edge of the
  95.45% band of the isotropic expectation (the paper's Figures 1 and 2 compare the limits with
  these bands); expected for an isotropic sky 2.275% (one-sided). Also given: the 95% credible region
  of the three components excluding rho = 0, rho^T C^-1 rho > chi2_3(0.95) = 7.815 (expected 5%).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special, stats

from .expectation import gaussian_delta_upper_limits
from .validation import COMPONENTS

CREDIBILITY = 0.95
ONE_SIDED_BAND95 = float(stats.norm.sf(2.0))  # above the 95.45% central band: 2.275%
CHI2_3_95 = float(stats.chi2.ppf(0.95, 3))  # 7.815
N_IDEAL = 200_000  # Monte Carlo draws of the ideal coverage


def covariance_matrices(frame: pd.DataFrame, prefix: str = "") -> np.ndarray:
    """(n, 3, 3) covariance matrices from the ``{prefix}cov_a_b`` columns."""
    out = np.empty((len(frame), 3, 3))
    for i, a in enumerate(COMPONENTS):
        for j in range(i, 3):
            values = frame[f"{prefix}cov_{a}_{COMPONENTS[j]}"].to_numpy(np.float64)
            out[:, i, j] = out[:, j, i] = values
    return out


def vectors(frame: pd.DataFrame, prefix: str) -> np.ndarray:
    return frame[[f"{prefix}{c}" for c in COMPONENTS]].to_numpy(np.float64)


def pulls(frame: pd.DataFrame, estimate: str = "rho_", covariance: str = "", scale=1.0) -> np.ndarray:
    """(n, 3) pulls of ``{estimate}{fb,ew,ns}`` against the truth with the diagonal of the covariance
    ``{covariance}cov_*`` (x ``scale``, a per-component factor on the errors)."""
    sigma = np.sqrt(np.diagonal(covariance_matrices(frame, covariance), axis1=1, axis2=2)) * np.asarray(scale)
    return (vectors(frame, estimate) - vectors(frame, "true_")) / sigma


def mahalanobis(frame: pd.DataFrame, estimate: str = "rho_", covariance: str = "") -> np.ndarray:
    """sqrt((rho - rho_true)^T C^-1 (rho - rho_true)) per experiment."""
    r = vectors(frame, estimate) - vectors(frame, "true_")
    c = covariance_matrices(frame, covariance)
    return np.sqrt(np.einsum("ni,ni->n", r, np.linalg.solve(c, r[:, :, None])[:, :, 0]))


def binomial(k: float, n: int) -> tuple[float, float]:
    """Fraction and its binomial standard error; at 0 or n the error of one event, 1/n (not 0)."""
    p = k / n
    return p, float(max(np.sqrt(p * (1.0 - p) / n), 1.0 / n))


def ideal_coverage(amplitude_sigma: float, rng: np.random.Generator, n: int = N_IDEAL,
                   credibility: float = CREDIBILITY) -> float:
    """Coverage of the flat-prior upper limit for Gaussian noise of unit sigma per component."""
    z = rng.standard_normal((n, 3))
    z[:, 0] += amplitude_sigma
    limit = np.sqrt(stats.ncx2.ppf(credibility, 3, np.einsum("ni,ni->n", z, z)))
    return float(np.mean(amplitude_sigma <= limit))


def rice_mean(amplitude_sigma):
    """E|x| / sigma for x ~ N(mu, sigma^2 I_3), nu = |mu| / sigma (the 3-d Rice, noncentral chi mean)."""
    nu = np.asarray(amplitude_sigma, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.sqrt(2.0 / np.pi) * np.exp(-0.5 * nu**2) + (nu + 1.0 / nu) * special.erf(nu / np.sqrt(2.0))
    return np.where(nu > 1e-8, value, 2.0 * np.sqrt(2.0 / np.pi))


def sigma_scale(frame: pd.DataFrame) -> np.ndarray:
    """Mean per-component error of the experiments (the unit of the injected amplitudes)."""
    return np.sqrt(np.mean(np.diagonal(covariance_matrices(frame), axis1=1, axis2=2), axis=0))


def coverage_table(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """coverage.csv: species, injected_amplitude (|rho_true|), amplitude_sigma, n_experiments,
    covered_fraction, covered_error, ideal_fraction (isotropic and each amplitude; then all injected)."""
    rows = []
    for species, group in frame.groupby("species", sort=False):
        sigma = float(np.sqrt(np.mean(sigma_scale(group) ** 2)))
        ideal_all = []
        for amplitude, sub in group.groupby("amplitude_sigma"):
            n = len(sub)
            fraction, error = binomial(float(sub["covered"].sum()), n)
            # the ideal analysis at the injected amplitude in units of the measured sigma
            ideal = ideal_coverage(float(sub["delta_true"].mean()) / sigma, np.random.default_rng([seed, n, 7]))
            rows.append({"species": species, "injected_amplitude": float(sub["delta_true"].mean()),
                         "amplitude_sigma": float(amplitude), "n_experiments": n, "covered_fraction": fraction,
                         "covered_error": error, "ideal_fraction": ideal})
            if amplitude > 0:
                ideal_all.append((n, ideal))
        injected = group[group["amplitude_sigma"] > 0]
        if len(injected):
            fraction, error = binomial(float(injected["covered"].sum()), len(injected))
            rows.append({"species": species, "injected_amplitude": np.nan, "amplitude_sigma": np.nan,
                         "n_experiments": len(injected), "covered_fraction": fraction, "covered_error": error,
                         "ideal_fraction": sum(n * f for n, f in ideal_all) / sum(n for n, _ in ideal_all)})
    return pd.DataFrame(rows)


def _rms_row(values) -> tuple[float, float]:
    rms = float(np.sqrt(np.mean(np.square(values))))
    return rms, rms / np.sqrt(2.0 * len(values))


def pulls_table(frame: pd.DataFrame, calibrated_scale: dict | None = None) -> pd.DataFrame:
    """pulls.csv: per species, sample (isotropic, injected, all), estimate and component: n, mean pull,
    rms with its standard error, fraction inside +-1.96 (the component's 95% interval).

    Estimates: ``corrected`` (the workflow's fit, reported errors), ``uncorrected`` (before (I - K)^-1),
    ``external`` (counts against the fixed external reference), ``reference_noise`` ((rho - rho_ext) /
    sigma: the part of the fitted dipole due to the experiment's own reference), and with
    ``calibrated_scale`` (species -> 3 factors on sigma) ``calibrated``.
    """
    rows = []
    for species, group in frame.groupby("species", sort=False):
        samples = [("isotropic", group[group["kind"] == "isotropic"]), ("injected", group[group["kind"] == "injected"]),
                   ("all", group)]
        for sample, sub in samples:
            if not len(sub):
                continue
            sigma = np.sqrt(np.diagonal(covariance_matrices(sub), axis1=1, axis2=2))
            estimates = {"corrected": pulls(sub),
                         "uncorrected": (vectors(sub, "rho_unc_") - vectors(sub, "true_")) / vectors(sub, "sigma_unc_")}
            if "ext_rho_fb" in sub.columns:
                estimates["external"] = pulls(sub, "ext_rho_", "ext_")
                estimates["reference_noise"] = (vectors(sub, "rho_") - vectors(sub, "ext_rho_")) / sigma
            if calibrated_scale is not None and species in calibrated_scale:
                estimates["calibrated"] = pulls(sub, scale=calibrated_scale[species])
            for name, values in estimates.items():
                for j, component in enumerate(COMPONENTS):
                    rms, error = _rms_row(values[:, j])
                    rows.append({"species": species, "sample": sample, "estimate": name, "component": component,
                                 "n_experiments": len(sub), "mean_pull": float(np.mean(values[:, j])),
                                 "rms_pull": rms, "rms_error": error,
                                 "inside_95": float(np.mean(np.abs(values[:, j]) < 1.959964))})
    return pd.DataFrame(rows)


def isotropic_table(frame: pd.DataFrame, bands: pd.DataFrame) -> pd.DataFrame:
    """isotropic.csv: per species, the KS test of |rho|/sigma against chi(3), the fraction of limits
    above the isotropic 95.45% band (paper's detection; expected 2.275%), below its median (50%), and
    of 95% credible regions excluding rho = 0 (5%)."""
    rows = []
    for species, group in frame[frame["kind"] == "isotropic"].groupby("species", sort=False):
        band = bands.set_index("species").loc[species]
        n = len(group)
        norm = mahalanobis(group)
        # the band of the mean events of one experiment, scaled to each experiment's events (limit ~ N^-1/2)
        scale = np.sqrt(float(band["band_events"]) / group["n_events"].to_numpy(np.float64))
        above, above_error = binomial(float(np.sum(group["delta_ul95"] > band["band95_high"] * scale)), n)
        below, below_error = binomial(float(np.sum(group["delta_ul95"] < band["expected_ul95_median"] * scale)), n)
        excluded, excluded_error = binomial(float(np.sum(norm**2 > CHI2_3_95)), n)
        row = {"species": species, "n_experiments": n, "mean_events": float(group["n_events"].mean()),
               "ks_pvalue_chi3": float(stats.kstest(norm, stats.chi(3).cdf).pvalue),
               "mean_norm": float(norm.mean()), "expected_mean_norm": float(stats.chi(3).mean()),
               "rms_norm": float(np.sqrt(np.mean(norm**2))), "expected_rms_norm": float(np.sqrt(3.0)),
               "fraction_ul_above_band95": above, "fraction_ul_above_band95_error": above_error,
               "expected_above_band95": ONE_SIDED_BAND95,
               "fraction_ul_below_median": below, "fraction_ul_below_median_error": below_error,
               "fraction_region_excludes_zero": excluded, "fraction_region_excludes_zero_error": excluded_error,
               "expected_region_excludes_zero": 0.05}
        if "ext_rho_fb" in group.columns:
            row["ks_pvalue_chi3_external"] = float(stats.kstest(mahalanobis(group, "ext_rho_", "ext_"),
                                                                stats.chi(3).cdf).pvalue)
            # the same limits (Gaussian posterior, as the pseudo-skies) from the fit against the fixed
            # external reference: separates the data-driven reference's own effect on the limits
            ext_ul, _ = gaussian_delta_upper_limits(vectors(group, "ext_rho_"), covariance_matrices(group, "ext_"),
                                                    np.random.default_rng([n, 11]))
            row["fraction_ext_ul_below_median"], row["fraction_ext_ul_below_median_error"] = binomial(
                float(np.sum(ext_ul < band["expected_ul95_median"] * scale)), n)
        rows.append(row)
    return pd.DataFrame(rows)


def injection_table(frame: pd.DataFrame) -> pd.DataFrame:
    """injection_recovery.csv: per species, amplitude and direction: the injected and mean recovered
    components (standard errors), the recovered fraction along the injected axis, the mean |rho| and the
    3-d Rice expectation of |rho| for the mean sigma (the amplitude bias near the sensitivity)."""
    rows = []
    for (species, amplitude, direction), sub in frame.groupby(["species", "amplitude_sigma", "direction"],
                                                             sort=False):
        truth, rho = vectors(sub, "true_"), vectors(sub, "rho_")
        n = len(sub)
        sigma = float(np.sqrt(np.mean(np.diagonal(covariance_matrices(sub), axis1=1, axis2=2))))
        row = {"species": species, "amplitude_sigma": amplitude, "direction": direction, "n_experiments": n,
               "sigma": sigma, "delta_true": float(sub["delta_true"].mean())}
        for j, c in enumerate(COMPONENTS):
            row[f"true_{c}"] = float(truth[0, j])
            row[f"mean_{c}"] = float(rho[:, j].mean())
            row[f"mean_{c}_error"] = float(rho[:, j].std(ddof=1) / np.sqrt(n)) if n > 1 else np.nan
        delta = np.linalg.norm(rho, axis=1)
        axis = truth[0] / np.linalg.norm(truth[0]) if np.any(truth[0]) else None
        if axis is not None:
            along = rho @ axis
            row["recovered_fraction"] = float(along.mean() / np.linalg.norm(truth[0]))
            row["recovered_fraction_error"] = float(along.std(ddof=1) / np.sqrt(n) / np.linalg.norm(truth[0]))
            if "ext_rho_fb" in sub.columns:  # the same counts against the fixed external reference
                along_ext = vectors(sub, "ext_rho_") @ axis
                difference = (along - along_ext) / np.linalg.norm(truth[0])
                row["recovered_fraction_external"] = float(along_ext.mean() / np.linalg.norm(truth[0]))
                # data-driven minus external on the same counts: the dipole the own reference absorbs
                # beyond the K correction (the counts' noise cancels in the difference)
                row["absorbed_beyond_k"] = float(-difference.mean())
                row["absorbed_beyond_k_error"] = float(difference.std(ddof=1) / np.sqrt(n))
        row["mean_delta"] = float(delta.mean())
        row["mean_delta_error"] = float(delta.std(ddof=1) / np.sqrt(n)) if n > 1 else np.nan
        row["rice_mean_delta"] = float(sigma * rice_mean(row["delta_true"] / sigma))
        row["mean_delta_ul95"] = float(sub["delta_ul95"].mean())
        row["covered_fraction"] = float(sub["covered"].mean())
        rows.append(row)
    return pd.DataFrame(rows)


def error_calibration(frame: pd.DataFrame) -> pd.DataFrame:
    """error_calibration.csv: per species and component, the error scale measured on the isotropic
    experiments (rms of their pulls, standard error rms / sqrt(2n)) and the scale of the reference's own
    noise ((rho - rho_ext) / sigma, rms), for the injected experiments' calibrated pulls (independent
    experiments, so the check is not circular)."""
    rows = []
    for species, group in frame[frame["kind"] == "isotropic"].groupby("species", sort=False):
        values = pulls(group)
        sigma = np.sqrt(np.diagonal(covariance_matrices(group), axis1=1, axis2=2))
        noise = (vectors(group, "rho_") - vectors(group, "ext_rho_")) / sigma if "ext_rho_fb" in group else None
        for j, component in enumerate(COMPONENTS):
            rms, error = _rms_row(values[:, j])
            row = {"species": species, "component": component, "n_experiments": len(group), "error_scale": rms,
                   "error_scale_error": error}
            if noise is not None:
                row["reference_noise_rms"], row["reference_noise_rms_error"] = _rms_row(noise[:, j])
            rows.append(row)
    return pd.DataFrame(rows)


def calibrated_scales(calibration: pd.DataFrame) -> dict:
    """species -> (3,) error scales of :func:`error_calibration` (FB, EW, NS order)."""
    return {species: group.set_index("component").loc[list(COMPONENTS), "error_scale"].to_numpy(np.float64)
            for species, group in calibration.groupby("species", sort=False)}
