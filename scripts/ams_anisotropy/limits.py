"""Posterior upper limits on the dipole amplitude, systematics, and the isotropic expectation.

Posterior (method.md section 3).  The likelihood is the exact binned Poisson likelihood of
:mod:`ams_anisotropy.fit` in the relative parametrisation

    mu_p = M_p * c0 * (1 + r . n_p + sum_j b_j T_jp),

with flat priors on the monopole c0 > 0, on the three dipole components r = (rho_FB, rho_EW,
rho_NS) and on the optional template coefficients b_j.  The posterior is sampled by importance
sampling: the proposal is a Gaussian centred on the maximum-likelihood point with the inverse
Fisher covariance of all parameters, widened by ``inflation`` (1.2 in sigma by default), and the
weights are the exact likelihood ratio divided by the proposal density.  c0 (and b) are thus
**marginalised** with a flat prior (not profiled): the r-components of the weighted samples are
draws from the marginal posterior of r.  delta_ul = the weighted ``credibility`` quantile of |r|;
its Monte Carlo error is the spread of the quantile between 20 independent batches of samples
divided by sqrt(20).

Systematics.  ``sigma_sys_j`` (j = FB, EW, NS) is the quadrature sum over configured groups of
reference-map variants of the largest |r_variant_j - r_nominal_j| within the group, where each
r_variant is the dipole fitted to the same counts against that variant's reference map
(e.g. groups [[cutoff1.0, cutoff1.4], [shuffle]]: the cutoff-factor range counts once, event
shuffling once).  With a flat prior the posterior of the true dipole is the statistical
posterior convolved with N(0, diag sigma_sys^2), so systematics are folded in by adding one
Gaussian draw to each posterior sample (same weights).

Isotropic expectation.  Pseudo-skies C_p ~ Poisson(M_p) on the used pixels (M normalised to the
observed number of events), each fitted with :func:`ams_anisotropy.fit.fit_dipole_many`; the
limit of each pseudo-sky uses the Gaussian posterior N(r_hat, Sigma_hat) (inverse Fisher at the
pseudo-sky's own maximum) sampled with common random numbers for all skies; this agrees with the
exact importance sampling to well below the band widths (tested).  Bands are the central 68.27%
and 95.45% intervals (the paper's 68.3% / 95.4%, i.e. Gaussian 1 and 2 sigma) and the median.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import healpy as hp
import numpy as np
from scipy import stats

from . import fit as fitmod

CREDIBILITY_DEFAULT = 0.95  # paper: 95% credible-interval upper limits
BAND68 = (float(stats.norm.cdf(-1.0)), float(stats.norm.cdf(1.0)))  # 68.27% central (paper: 68.3%)
BAND95 = (float(stats.norm.cdf(-2.0)), float(stats.norm.cdf(2.0)))  # 95.45% central (paper: 95.4%)


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


def _check_credibility(credibility: float) -> None:
    if not 0.0 < credibility < 1.0:
        raise ValueError(f"credibility must be in (0, 1), got {credibility}")


def _check_sigma_sys(sigma_sys) -> np.ndarray:
    if sigma_sys is None:
        return np.zeros(3)
    sigma_sys = np.asarray(sigma_sys, dtype=np.float64)
    if sigma_sys.shape != (3,) or not np.all(np.isfinite(sigma_sys)) or np.any(sigma_sys < 0):
        raise ValueError(f"sigma_sys must be 3 finite non-negative numbers (FB, EW, NS), got {sigma_sys}")
    return sigma_sys


def upper_limit_with_error(delta_samples, weights, credibility: float = CREDIBILITY_DEFAULT,
                           n_batches: int = 20) -> tuple[float, float]:
    """Weighted ``credibility`` quantile of |r| samples and its Monte Carlo error (batch means).

    The samples must be independent (importance sampling): the error is the standard deviation
    of the quantile over ``n_batches`` contiguous batches divided by sqrt(n_batches).
    """
    _check_credibility(credibility)
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
    sigma_sys = _check_sigma_sys(sigma_sys)
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
    block_size: int = 256,
    transform=None,
) -> DipolePosterior:
    """Importance-sample the flat-prior posterior of the dipole with the exact Poisson likelihood.

    ``transform`` (3x3, optional): a linear map applied to the dipole samples, e.g. the correction
    (I - K)^-1 of the dipole absorbed by a data-driven reference
    (:func:`ams_anisotropy.reference.correct_dipole`); a flat prior stays flat under it.

    Parameters
    ----------
    counts, reference, mask, extra_templates :
        As :func:`ams_anisotropy.fit.fit_multipoles` (lmax = 1 model).
    rng : numpy Generator
        E.g. ``ams_anisotropy.rng.generator(seed, "limits_posterior", species_index, threshold_index)``.
    n_samples : int
        Number of proposal draws (config ``limits.n_posterior_samples``); >= 1000.
    inflation : float
        Proposal standard deviations = inflation x the Fisher ones (dimensionless, >= 1).
    block_size : int
        Samples evaluated together (memory ~ block_size x npix x 8 bytes).
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
    rest = design[:, 1:]  # n_x, n_y, n_z, templates
    m_rest = m_used[:, None] * rest
    c0_hat = best.params[0]
    theta_hat = np.concatenate([[c0_hat], best.params[1:] / c0_hat])  # (c0, r, b relative)
    mu_hat = c0_hat * (m_used + m_rest @ theta_hat[1:])
    gradient = np.column_stack([mu_hat / c0_hat, c0_hat * m_rest])  # dmu/dtheta
    fisher = gradient.T @ (gradient / mu_hat[:, None])
    chol = np.linalg.cholesky(np.linalg.inv(fisher))
    n_params = theta_hat.size
    z = rng.standard_normal((n_samples, n_params))
    theta = theta_hat + inflation * fitmod.expand_linear(z, chol)
    log_weights = np.empty(n_samples)
    loglike_hat = np.sum(c_used * np.log(mu_hat) - mu_hat)
    for start in range(0, n_samples, block_size):
        block = theta[start:start + block_size]
        mu = block[:, :1] * (m_used[None, :] + fitmod.expand_linear(block[:, 1:], m_rest))
        positive = np.all(mu > 0, axis=1) & (block[:, 0] > 0)  # prior c0 > 0 and mu > 0 everywhere
        with np.errstate(divide="ignore", invalid="ignore"):
            loglike = np.sum(c_used * np.log(np.where(mu > 0, mu, 1.0)) - mu, axis=1)
        log_weights[start:start + block_size] = np.where(positive, loglike - loglike_hat, -np.inf)
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
    rho_samples = theta[:, 1:4]
    if transform is not None:
        rho_samples = rho_samples @ _check_transform(transform).T
    return DipolePosterior(rho_samples=rho_samples, weights=weights, ess=ess, fit=best, inflation=inflation)


def _check_transform(transform) -> np.ndarray:
    transform = np.asarray(transform, dtype=np.float64)
    if transform.shape != (3, 3) or not np.all(np.isfinite(transform)):
        raise ValueError(f"transform must be a finite 3x3 matrix, got shape {transform.shape}")
    return transform


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
    _check_credibility(credibility)
    sigma_sys = _check_sigma_sys(sigma_sys)
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


# --------------------------------------------------------------------------- Gaussian, vectorised
def gaussian_delta_upper_limits(rho_hat, rho_covariance, rng: np.random.Generator, n_draws: int = 4000,
                                credibility: float = CREDIBILITY_DEFAULT, sigma_sys=None,
                                block_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Upper limits on |r| for many skies from Gaussian posteriors N(rho_hat_k, Sigma_k).

    The same ``n_draws`` standard-normal vectors (common random numbers) are used for every
    sky, so that limits of different skies differ only through their data.  Returns
    (limits without systematics, limits with ``sigma_sys`` added in quadrature per component).
    """
    _check_credibility(credibility)
    sigma_sys = _check_sigma_sys(sigma_sys)
    rho_hat = np.asarray(rho_hat, dtype=np.float64)
    rho_covariance = np.asarray(rho_covariance, dtype=np.float64)
    if rho_hat.ndim != 2 or rho_hat.shape[1] != 3 or rho_covariance.shape != (rho_hat.shape[0], 3, 3):
        raise ValueError(f"rho_hat must be (n, 3) and rho_covariance (n, 3, 3); got {rho_hat.shape}, "
                         f"{rho_covariance.shape}")
    z = rng.standard_normal((n_draws, 3))
    z_sys = rng.standard_normal((n_draws, 3)) * sigma_sys
    chol = np.linalg.cholesky(rho_covariance)
    limits = np.empty(rho_hat.shape[0])
    limits_sys = np.empty(rho_hat.shape[0])
    for start in range(0, rho_hat.shape[0], block_size):
        sl = slice(start, start + block_size)
        samples = rho_hat[sl, None, :] + np.einsum("kij,nj->kni", chol[sl], z)
        limits[sl] = np.quantile(np.linalg.norm(samples, axis=2), credibility, axis=1)
        limits_sys[sl] = np.quantile(np.linalg.norm(samples + z_sys, axis=2), credibility, axis=1)
    return limits, limits_sys


# --------------------------------------------------------------------------- isotropic expectation
@dataclass(frozen=True)
class Bands:
    """Median and central 68.27% / 95.45% intervals of a set of values."""

    median: float
    low68: float
    high68: float
    low95: float
    high95: float

    @classmethod
    def of(cls, values) -> Bands:
        q = np.quantile(np.asarray(values, dtype=np.float64), [0.5, *BAND68, *BAND95])
        return cls(*(float(v) for v in q))


@dataclass(frozen=True)
class IsotropicExpectation:
    """Limits and fitted components of isotropic pseudo-skies, and their bands.

    ``ul`` / ``ul_sys`` (n_skies,): the upper limit of each pseudo-sky without / with
    systematics; ``rho_hat`` (n_skies, 3) and ``sigma_hat`` (n_skies, 3): fitted components
    (FB, EW, NS) and their standard errors; ``rho_hat_sys``: rho_hat plus one systematic draw.
    ``bands`` / ``bands_sys``: :class:`Bands` of the limits; ``component_bands`` /
    ``component_bands_sys``: tuple of 3 :class:`Bands` (FB, EW, NS). ``n_failed``: pseudo-skies
    left out because their fit has no interior maximum (only for samples of a few tens of events).
    """

    ul: np.ndarray
    ul_sys: np.ndarray
    rho_hat: np.ndarray
    sigma_hat: np.ndarray
    rho_hat_sys: np.ndarray
    credibility: float
    n_failed: int = 0

    @property
    def n_skies(self) -> int:
        return int(self.ul.size)

    @property
    def bands(self) -> Bands:
        return Bands.of(self.ul)

    @property
    def bands_sys(self) -> Bands:
        return Bands.of(self.ul_sys)

    @property
    def component_bands(self) -> tuple[Bands, Bands, Bands]:
        return tuple(Bands.of(self.rho_hat[:, j]) for j in range(3))

    @property
    def component_bands_sys(self) -> tuple[Bands, Bands, Bands]:
        return tuple(Bands.of(self.rho_hat_sys[:, j]) for j in range(3))

    def component_row(self) -> dict:
        """Isotropic bands of each fitted component: ``{ew,ns,fb}_band{68,95}_{low,high}`` (statistics)
        and the same with ``_sys`` (one systematic draw added per pseudo-sky)."""
        row = {}
        for suffix, bands in (("", self.component_bands), ("_sys", self.component_bands_sys)):
            for name, band in zip(("fb", "ew", "ns"), bands, strict=True):
                row[f"{name}_band68{suffix}_low"] = band.low68
                row[f"{name}_band68{suffix}_high"] = band.high68
                row[f"{name}_band95{suffix}_low"] = band.low95
                row[f"{name}_band95{suffix}_high"] = band.high95
        return row

    def as_row(self) -> dict:
        """dipole_limits.csv expectation columns (docs/architecture.md)."""
        b, s = self.bands, self.bands_sys
        return {
            "expected_ul95_median": b.median, "expected_ul95_sys_median": s.median,
            "band68_low": b.low68, "band68_high": b.high68, "band95_low": b.low95, "band95_high": b.high95,
            "band68_sys_low": s.low68, "band68_sys_high": s.high68,
            "band95_sys_low": s.low95, "band95_sys_high": s.high95,
            "pseudo_skies_used": self.n_skies, "pseudo_skies_failed": self.n_failed,
        }


def pseudo_skies(reference, rng: np.random.Generator, n_skies: int, mask=None, rho_true=None) -> np.ndarray:
    """Poisson pseudo-skies on the used pixels, shape (n_skies, mask.sum()).

    Expectation M_p (1 + rho_true . n_p); ``rho_true`` None = isotropic.
    """
    reference = np.asarray(reference, dtype=np.float64)
    if mask is None:
        mask = reference > 0
    pixels = np.flatnonzero(mask)
    expected = reference[pixels]
    if rho_true is not None:
        vec = np.array(hp.pix2vec(hp.npix2nside(reference.size), pixels))
        expected = expected * (1.0 + np.asarray(rho_true, dtype=np.float64) @ vec)
        if np.any(expected < 0):
            raise ValueError(f"rho_true {rho_true}: |rho| > 1 gives a negative expectation")
    return rng.poisson(expected, size=(n_skies, pixels.size)).astype(np.float64)


def isotropic_expectation(
    reference,
    rng: np.random.Generator,
    mask=None,
    n_skies: int = 1000,
    sigma_sys=None,
    credibility: float = CREDIBILITY_DEFAULT,
    n_draws: int = 4000,
    extra_templates=None,
    rho_true=None,
    block_size: int = 250,
    transform=None,
    max_failed_fraction: float = 0.1,
) -> IsotropicExpectation:
    """Limits expected for an isotropic sky: Poisson pseudo-skies, vectorised fit, Gaussian limits.

    Parameters
    ----------
    reference : array (npix,)
        Reference map normalised to the observed number of events (the pseudo-skies have
        on average sum(M over used pixels) events).
    rng : numpy Generator
        E.g. ``ams_anisotropy.rng.generator(seed, "limits_pseudo_skies", species_index, threshold_index)``.
    mask : bool array (npix,), optional
        Used pixels (as in the data fit); default reference > 0.
    n_skies : int
        Number of pseudo-skies (config ``limits.n_pseudo_skies``, >= 10; the paper-like default 1000).
    sigma_sys : 3 floats, optional
        Systematic standard deviations (FB, EW, NS) folded into ``ul_sys``.
    credibility : float
        Credibility of the limits (0.95).
    n_draws : int
        Gaussian posterior draws per sky (common random numbers).
    extra_templates : array (k, npix), optional
        Templates fitted with the dipole, as in the data fit.
    rho_true : 3 floats, optional
        Inject a dipole (FB, EW, NS) in the pseudo-skies (coverage studies); None = isotropic.
    block_size : int
        Pseudo-skies generated and fitted together (memory ~ block_size x npix x 8 bytes).
    transform : 3x3, optional
        Linear correction applied to every fitted dipole and its covariance, as in the data fit.
    max_failed_fraction : float
        Largest fraction of pseudo-skies whose fit may fail (no interior maximum: tiny samples); they
        are left out of the bands and counted in ``n_failed``.
    """
    if n_skies < 10:
        raise ValueError(f"n_skies must be >= 10, got {n_skies}")
    _check_credibility(credibility)
    sigma_sys = _check_sigma_sys(sigma_sys)
    reference = fitmod._check_map(reference, "reference map")
    if mask is None:
        mask = reference > 0
    _, _, mask = fitmod._prepare(reference, reference, mask)
    rho_hat = np.empty((n_skies, 3))
    rho_cov = np.empty((n_skies, 3, 3))
    for start in range(0, n_skies, block_size):
        n_block = min(block_size, n_skies - start)
        skies = pseudo_skies(reference, rng, n_block, mask, rho_true)
        fits = fitmod.fit_dipole_many(skies, reference, mask, extra_templates)
        rho_hat[start:start + n_block] = np.where(fits.converged[:, None], fits.rho, np.nan)
        rho_cov[start:start + n_block] = np.where(fits.converged[:, None, None], fits.rho_covariance, np.nan)
    # with a few tens of events a pseudo-sky's likelihood can peak where mu -> 0 in a pixel (|rho| ~ 1):
    # such skies are left out (and counted); more than max_failed_fraction of them is an error
    converged = np.isfinite(rho_hat).all(axis=1)
    n_failed = int(np.sum(~converged))
    if n_failed > max_failed_fraction * n_skies:
        raise ValueError(f"{n_failed} of {n_skies} pseudo-sky fit(s) did not converge "
                         f"(mean {reference[mask].sum():.3g} events per sky)")
    rho_hat, rho_cov = rho_hat[converged], rho_cov[converged]
    if transform is not None:  # the same correction as the data fit (see sample_dipole_posterior)
        transform = _check_transform(transform)
        rho_hat = rho_hat @ transform.T
        rho_cov = transform @ rho_cov @ transform.T
    ul, ul_sys = gaussian_delta_upper_limits(rho_hat, rho_cov, rng, n_draws, credibility, sigma_sys)
    rho_hat_sys = rho_hat + rng.standard_normal(rho_hat.shape) * sigma_sys
    return IsotropicExpectation(
        ul=ul, ul_sys=ul_sys, rho_hat=rho_hat, sigma_hat=np.sqrt(np.diagonal(rho_cov, axis1=1, axis2=2)),
        rho_hat_sys=rho_hat_sys, credibility=credibility, n_failed=n_failed,
    )
