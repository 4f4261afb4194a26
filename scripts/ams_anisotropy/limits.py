"""Posterior upper limits on the dipole amplitude and their systematics (the isotropic expectation of
the limits is :mod:`ams_anisotropy.expectation`, re-exported here).

Posterior (method.md section 3).  The likelihood is the exact binned Poisson likelihood of
:mod:`ams_anisotropy.fit` in the relative parametrisation

    mu_p = M_p * c0 * (1 + r . n_p + sum_j b_j T_jp),

with flat priors on the monopole c0 > 0, on the three dipole components r = (rho_FB, rho_EW,
rho_NS) and on the optional template coefficients b_j.  The monopole is **marginalised** analytically
(the c0 integral of a Poisson likelihood with a flat prior is a Gamma function,
:mod:`ams_anisotropy.dipole_likelihood`), and the marginal posterior of theta = (r, b) is sampled by
importance sampling: the proposal is a Gaussian centred on the maximum-likelihood point with the
theta block of the inverse Fisher covariance, widened by ``inflation`` (1.2 in sigma by default),
and the weights are the exact marginal likelihood divided by the proposal density.  The
r-components of the weighted samples are draws from the marginal posterior of r (b is marginalised
by the sampling).  delta_ul = the weighted ``credibility`` quantile of |r|; its Monte Carlo error is
the spread of the quantile between 20 independent batches of samples divided by sqrt(20).

Systematics.  ``sigma_sys_j`` (j = FB, EW, NS) is the quadrature sum over configured groups of
reference-map variants of the largest |r_variant_j - r_nominal_j| within the group, where each
r_variant is the dipole fitted to the same counts against that variant's reference map
(e.g. groups [[cutoff1.0, cutoff1.4], [shuffle]]: the cutoff-factor range counts once, event
shuffling once).  With a flat prior the posterior of the true dipole is the statistical
posterior convolved with N(0, diag sigma_sys^2), so systematics are folded in by adding one
Gaussian draw to each posterior sample (same weights).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import healpy as hp
import numpy as np

from . import fit as fitmod
from .dipole_likelihood import MarginalLogLikelihood
from .expectation import (  # noqa: F401 (the public names of the isotropic expectation, re-exported)
    BAND68,
    BAND95,
    CREDIBILITY_DEFAULT,
    Bands,
    IsotropicExpectation,
    check_credibility,
    check_sigma_sys,
    check_transform,
    gaussian_delta_upper_limits,
    isotropic_expectation,
    pseudo_skies,
)
from .fisher_scoring import expand_linear


# --------------------------------------------------------------------------- helpers
def weighted_quantile(values, weights, quantile: float) -> float:
    """Quantile of a weighted sample (linear interpolation of the weighted CDF at the midpoints)."""
    values = np.asarray(values, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    if values.shape != weights.shape or values.ndim != 1:
        raise ValueError(f"values {values.shape} and weights {weights.shape} must be 1-d of the same length")
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"quantile must be in (0, 1), got {quantile}")
    if np.any(weights < 0) or not np.isfinite(weights).all() or weights.sum() <= 0:
        raise ValueError("weights must be finite, non-negative and not all zero")
    order = np.argsort(values)
    v, w = values[order], weights[order]
    cdf = (np.cumsum(w) - 0.5 * w) / w.sum()
    return float(np.interp(quantile, cdf, v))


def upper_limit_with_error(delta_samples, weights, credibility: float = CREDIBILITY_DEFAULT,
                           n_batches: int = 20) -> tuple[float, float]:
    """Weighted ``credibility`` quantile of |r| samples and its Monte Carlo error (batch means).

    The samples must be independent (importance sampling): the error is the standard deviation
    of the quantile over ``n_batches`` contiguous batches divided by sqrt(n_batches).
    """
    check_credibility(credibility)
    delta_samples = np.asarray(delta_samples, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    limit = weighted_quantile(delta_samples, weights, credibility)
    batches = [
        weighted_quantile(d, w, credibility)
        for d, w in zip(np.array_split(delta_samples, n_batches), np.array_split(weights, n_batches), strict=True)
        if w.sum() > 0
    ]
    error = float(np.std(batches, ddof=1) / np.sqrt(len(batches))) if len(batches) > 1 else float("nan")
    return limit, error


# --------------------------------------------------------------------------- systematics
def systematic_sigmas(rho_nominal, rho_variants: Mapping[str, Sequence[float]],
                      groups: Sequence[Sequence[str]], sigma_nominal=None,
                      sigma_variants: Mapping[str, Sequence[float]] | None = None) -> np.ndarray:
    """sigma_sys (FB, EW, NS): quadrature sum over groups of the largest variant shift.

    Parameters
    ----------
    rho_nominal : 3 floats
        Dipole (rho_FB, rho_EW, rho_NS), relative to the monopole, fitted with the nominal
        reference map.
    rho_variants : mapping variant name -> 3 floats
        The same fit against each reference-map variant (e.g. ``cutoff1.0``, ``cutoff1.4``).
        Variants not named in ``groups`` are ignored.
    groups : sequence of sequences of variant names
        E.g. ``[["cutoff1.0", "cutoff1.4"]]`` (config ``limits.systematics_groups``).
    sigma_nominal, sigma_variants : 3 floats and mapping name -> 3 floats, optional
        Statistical errors of the nominal and variant fits. When given, the part of each shift that
        is the statistical difference of nested samples is removed (Barlow, "Systematic errors: facts
        and fictions", hep-ex/0207026): a variant fitted on a sub- or superset of the nominal events
        differs from it by a variance |sigma_v^2 - sigma_n^2| from statistics alone, so the shift
        counted is sqrt(max(0, (r_v - r_n)^2 - |sigma_v^2 - sigma_n^2|)). Without them the plain
        |r_v - r_n| is used.
    """
    nominal = np.asarray(rho_nominal, dtype=np.float64)
    if nominal.shape != (3,) or not np.all(np.isfinite(nominal)):
        raise ValueError(f"rho_nominal must be 3 finite numbers, got {rho_nominal}")
    if (sigma_nominal is None) != (sigma_variants is None):
        raise ValueError("give both sigma_nominal and sigma_variants, or neither")
    total = np.zeros(3)
    for group in groups:
        if isinstance(group, str) or len(group) == 0:
            raise ValueError(f"systematics group {group!r} must be a non-empty list of variant names")
        largest = np.zeros(3)
        for name in group:
            if name not in rho_variants:
                raise ValueError(f"systematics group {list(group)} names variant {name!r}, but only "
                                 f"{sorted(rho_variants)} were fitted")
            variant = np.asarray(rho_variants[name], dtype=np.float64)
            if variant.shape != (3,) or not np.all(np.isfinite(variant)):
                raise ValueError(f"variant {name!r}: dipole must be 3 finite numbers, got {rho_variants[name]}")
            shift_squared = (variant - nominal) ** 2
            if sigma_variants is not None:
                statistical = np.abs(np.asarray(sigma_variants[name], dtype=np.float64) ** 2
                                     - np.asarray(sigma_nominal, dtype=np.float64) ** 2)
                shift_squared = np.maximum(shift_squared - statistical, 0.0)
            largest = np.maximum(largest, np.sqrt(shift_squared))
        total += largest**2
    return np.sqrt(total)


def add_systematics(rho_samples, sigma_sys, rng: np.random.Generator) -> np.ndarray:
    """Samples of r_true = r_stat + N(0, diag sigma_sys^2) (flat prior convolution)."""
    sigma_sys = check_sigma_sys(sigma_sys)
    rho_samples = np.asarray(rho_samples, dtype=np.float64)
    return rho_samples + rng.standard_normal(rho_samples.shape) * sigma_sys


# --------------------------------------------------------------------------- exact posterior
@dataclass(frozen=True)
class DipolePosterior:
    """Weighted posterior samples of r = (rho_FB, rho_EW, rho_NS) (relative to the monopole).

    ``weights`` sum to 1; ``ess`` is the effective sample size (sum w)^2 / sum w^2;
    ``fit`` is the maximum-likelihood :class:`ams_anisotropy.fit.MultipoleFit`.
    """

    rho_samples: np.ndarray
    weights: np.ndarray
    ess: float
    fit: fitmod.MultipoleFit
    inflation: float

    @property
    def delta_samples(self) -> np.ndarray:
        return np.linalg.norm(self.rho_samples, axis=1)

    def upper_limit(self, credibility: float = CREDIBILITY_DEFAULT) -> tuple[float, float]:
        """(delta_ul, Monte Carlo error) without systematics."""
        return upper_limit_with_error(self.delta_samples, self.weights, credibility)

    def upper_limit_sys(self, sigma_sys, rng: np.random.Generator,
                        credibility: float = CREDIBILITY_DEFAULT) -> tuple[float, float]:
        """(delta_ul, Monte Carlo error) with systematics folded in (one Gaussian draw per sample)."""
        samples = add_systematics(self.rho_samples, sigma_sys, rng)
        return upper_limit_with_error(np.linalg.norm(samples, axis=1), self.weights, credibility)


def sample_dipole_posterior(
    counts,
    reference,
    rng: np.random.Generator,
    mask=None,
    extra_templates=None,
    n_samples: int = 40000,
    inflation: float = 1.2,
    transform=None,
) -> DipolePosterior:
    """Importance-sample the flat-prior posterior of the dipole with the exact Poisson likelihood.

    ``transform`` (3x3, optional): a linear map applied to the dipole samples, e.g. the correction
    (I - K)^-1 of the dipole absorbed by a data-driven reference
    (``ams_anisotropy.reference.fitted_dipole_transform``); a flat prior stays flat under it.

    Parameters
    ----------
    counts, reference, mask, extra_templates :
        As :func:`ams_anisotropy.fit.fit_multipoles` (lmax = 1 model).
    rng : numpy Generator
        E.g. ``ams_anisotropy.rng.generator(seed, "limits_posterior", "proton", "18GV")``.
    n_samples : int
        Number of proposal draws (config ``limits.n_posterior_samples``); >= 1000.
    inflation : float
        Proposal standard deviations = inflation x the Fisher ones (dimensionless, >= 1).
    """
    if n_samples < 1000:
        raise ValueError(f"n_samples must be >= 1000, got {n_samples}")
    if not inflation >= 1.0:
        raise ValueError(f"inflation must be >= 1, got {inflation}")
    best = fitmod.fit_multipoles(counts, reference, mask, lmax=1, extra_templates=extra_templates, lmax_check=())
    counts = np.asarray(counts, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    if mask is None:
        mask = reference > 0
    pixels = np.flatnonzero(mask)
    design, _ = fitmod.design_matrix(hp.npix2nside(reference.size), 1, pixels, extra_templates)
    c_used, m_used = counts[pixels], reference[pixels]
    basis = design[:, 1:]  # n_x, n_y, n_z, templates
    c0_hat = best.params[0]
    theta_hat = best.params[1:] / c0_hat  # (r, b) relative to the monopole
    m_basis = m_used[:, None] * basis
    mu_hat = c0_hat * (m_used + m_basis @ theta_hat)
    gradient = np.column_stack([mu_hat / c0_hat, c0_hat * m_basis])  # dmu / d(c0, theta)
    fisher = gradient.T @ (gradient / mu_hat[:, None])
    # the marginal covariance of theta: its block of the inverse Fisher matrix of (c0, theta)
    chol = np.linalg.cholesky(np.linalg.inv(fisher)[1:, 1:])
    z = rng.standard_normal((n_samples, theta_hat.size))
    theta = theta_hat + inflation * expand_linear(z, chol)
    log_likelihood = MarginalLogLikelihood(c_used, m_used, basis)
    log_weights = log_likelihood(theta) - log_likelihood(theta_hat[None, :])[0]
    log_weights += 0.5 * np.sum(z**2, axis=1)  # divide by the proposal density (constant dropped)
    finite = np.isfinite(log_weights)
    if not finite.any():
        raise ValueError("importance sampling failed: every proposal draw has zero likelihood")
    weights = np.where(finite, np.exp(log_weights - log_weights[finite].max()), 0.0)
    weights /= weights.sum()
    ess = float(1.0 / np.sum(weights**2))
    if ess < 0.05 * n_samples:
        raise ValueError(
            f"importance sampling is inefficient (effective sample size {ess:.0f} of {n_samples}): the "
            "posterior is far from Gaussian; increase inflation or n_samples"
        )
    rho_samples = theta[:, :3]
    if transform is not None:
        rho_samples = rho_samples @ check_transform(transform).T
    return DipolePosterior(rho_samples=rho_samples, weights=weights, ess=ess, fit=best, inflation=inflation)


@dataclass(frozen=True)
class DipoleUpperLimit:
    """Upper limits on delta for one counts map, with and without systematics."""

    delta_ul: float
    delta_ul_mc_error: float
    delta_ul_sys: float
    delta_ul_sys_mc_error: float
    sigma_sys: np.ndarray
    credibility: float
    ess: float
    fit: fitmod.MultipoleFit


def dipole_upper_limit(
    counts,
    reference,
    rng: np.random.Generator,
    mask=None,
    sigma_sys=None,
    credibility: float = CREDIBILITY_DEFAULT,
    n_samples: int = 40000,
    extra_templates=None,
    inflation: float = 1.2,
    transform=None,
) -> DipoleUpperLimit:
    """The ``credibility`` upper limit on delta = |r| (flat prior), without and with systematics.

    ``sigma_sys``: 3 floats (FB, EW, NS), e.g. from :func:`systematic_sigmas`; None = no
    systematics (then delta_ul_sys = delta_ul).  Other arguments as :func:`sample_dipole_posterior`.
    """
    check_credibility(credibility)
    sigma_sys = check_sigma_sys(sigma_sys)
    posterior = sample_dipole_posterior(counts, reference, rng, mask, extra_templates, n_samples, inflation,
                                        transform=transform)
    ul, ul_err = posterior.upper_limit(credibility)
    if np.any(sigma_sys > 0):
        ul_sys, ul_sys_err = posterior.upper_limit_sys(sigma_sys, rng, credibility)
    else:
        ul_sys, ul_sys_err = ul, ul_err
    return DipoleUpperLimit(delta_ul=ul, delta_ul_mc_error=ul_err, delta_ul_sys=ul_sys,
                            delta_ul_sys_mc_error=ul_sys_err, sigma_sys=sigma_sys, credibility=credibility,
                            ess=posterior.ess, fit=posterior.fit)


