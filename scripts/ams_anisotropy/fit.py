"""Binned Poisson multipole fit of a counts map against a reference (isotropic expectation) map.

Model (paper eq. 1, method.md sections 1-3), for the used pixels p of HEALPix RING maps in
galactic coordinates:

    mu_p = M_p * (c0 + rho . n_p + sum_{l=2..lmax} sum_m a_lm Y_lm(n_p) + sum_j b_j T_jp)

with C_p the observed counts, M_p the reference map (expected counts for an isotropic sky,
normalised to sum C), n_p the unit vector of the pixel centre (x towards the galactic centre,
y towards l = 90 deg, z towards the north galactic pole), Y_lm real spherical harmonics and
T_j optional extra multiplicative templates (e.g. corrections for dipole absorption by the
reference map).  The monopole c0 is free: the exposure has a dipole moment, so a fixed
normalisation would bias the dipole (method.md section 2).

For l = 1 the real harmonics are Y_1,+1 = sqrt(3/4pi) x, Y_1,-1 = sqrt(3/4pi) y,
Y_1,0 = sqrt(3/4pi) z, so with the paper's eq. 2 (rho_FB = sqrt(3/4pi) a_1+1, ...) the dipole
term a_1m Y_1m is exactly rho . n: the fit uses the cartesian components directly.
The reported dipole is relative to the monopole, r = rho / c0, so that Phi ∝ 1 + r . n and
delta = |r| = (Phimax - Phimin) / (Phimax + Phimin) (paper eq. 3).

The fit maximises the Poisson log-likelihood sum_p (C_p log mu_p - mu_p) by Fisher scoring
(iteratively reweighted least squares for the identity link), starting from the linear
least-squares solution, with step halving whenever a step would make some mu_p <= 0 or lower
the likelihood.  The covariance is the inverse expected Fisher matrix at the maximum,
F = sum_p M_p^2 X_p X_p^T / mu_p, propagated to r = rho / c0 with the Jacobian.

Simplifications (stated for the README):
* The model is evaluated at pixel centres (no pixel-window integration: for a dipole the
  relative error is below 1e-3 at Nside 32).
* Weighted counts (e.g. the Auger events' weights close to 1) are fitted with the same Poisson
  likelihood (a quasi-likelihood); the covariance then ignores the tiny sum(w^2)/sum(w) factor.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import healpy as hp
import numpy as np
from scipy import stats

from .fisher_scoring import design_products, fisher_scoring, log_likelihood, relative_dipole
from .sky_basis import (  # noqa: F401 (the fit's inputs and basis, re-exported: fit.design_matrix, ...)
    _check_map,
    _check_npix,
    _prepare,
    design_matrix,
    pixels_with_exposure,
    real_spherical_harmonics,
)

LOG = logging.getLogger(__name__)

# sqrt(3 / 4 pi): normalisation of the l = 1 real spherical harmonics (paper eq. 2)
DIPOLE_HARMONIC_NORM = np.sqrt(3.0 / (4.0 * np.pi))
COMPONENT_NAMES = ("rho_fb", "rho_ew", "rho_ns")  # galactic x, y, z (docs/architecture.md)


def direction_deg(vector):
    """(longitude, latitude) in degrees of cartesian vectors (..., 3); longitude in [0, 360)."""
    vector = np.asarray(vector, dtype=np.float64)
    norm = np.linalg.norm(vector, axis=-1)
    lon = np.degrees(np.arctan2(vector[..., 1], vector[..., 0])) % 360.0
    with np.errstate(invalid="ignore", divide="ignore"):
        lat = np.degrees(np.arcsin(np.clip(vector[..., 2] / norm, -1.0, 1.0)))
    return lon, lat


# --------------------------------------------------------------------------- results
class FitNotConverged(ValueError):
    """Fisher scoring did not converge within ``max_iterations`` (a ValueError, as every fit failure)."""


@dataclass(frozen=True)
class HigherMultipoleCheck:
    """Fit with a larger lmax on the same pixels: its chi2 and the change from the base fit."""

    lmax: int
    chi2: float  # Pearson chi2 of this fit
    dof: int
    delta_chi2: float  # Pearson chi2(base) - chi2(this lmax), >= 0 up to noise
    delta_dof: int  # number of added parameters
    likelihood_ratio: float  # 2 (logL(this lmax) - logL(base)), ~ chi2(delta_dof) if no higher multipoles
    p_value: float  # chance probability of likelihood_ratio under chi2(delta_dof)


@dataclass(frozen=True)
class MultipoleFit:
    """Result of :func:`fit_multipoles`.  Dipole components are relative to the monopole.

    ``rho`` and ``rho_covariance`` are in galactic cartesian order (x, y, z) =
    (rho_FB, rho_EW, rho_NS); ``params`` are the absolute parameters named in ``param_names``
    (c0, rho_fb, rho_ew, rho_ns absolute, a_l_m for l >= 2, template_j) with ``covariance``.
    """

    lmax: int
    monopole: float
    rho: np.ndarray
    rho_covariance: np.ndarray
    params: np.ndarray
    param_names: tuple
    covariance: np.ndarray
    chi2: float
    dof: int
    n_pixels: int
    log_likelihood: float
    n_iterations: int
    higher_multipoles: tuple = field(default=())

    @property
    def rho_fb(self) -> float:
        return float(self.rho[0])

    @property
    def rho_ew(self) -> float:
        return float(self.rho[1])

    @property
    def rho_ns(self) -> float:
        return float(self.rho[2])

    @property
    def sigma(self) -> np.ndarray:
        """Standard errors of (rho_FB, rho_EW, rho_NS)."""
        return np.sqrt(np.diag(self.rho_covariance))

    @property
    def delta(self) -> float:
        """Dipole amplitude |rho| (paper eq. 3)."""
        return float(np.linalg.norm(self.rho))

    @property
    def l_deg(self) -> float:
        return float(direction_deg(self.rho)[0])

    @property
    def b_deg(self) -> float:
        return float(direction_deg(self.rho)[1])

    def as_row(self) -> dict:
        """Flat dict with the dipole_limits.csv fit columns (docs/architecture.md)."""
        sigma = self.sigma
        row = {
            "rho_ew": self.rho_ew, "rho_ns": self.rho_ns, "rho_fb": self.rho_fb,
            "sigma_ew": float(sigma[1]), "sigma_ns": float(sigma[2]), "sigma_fb": float(sigma[0]),
            "delta": self.delta, "l_deg": self.l_deg, "b_deg": self.b_deg,
            "chi2": self.chi2, "dof": self.dof,
        }
        for check in self.higher_multipoles:
            row[f"chi2_lmax{check.lmax}"] = check.chi2
            row[f"dof_lmax{check.lmax}"] = check.dof
            row[f"delta_chi2_lmax{check.lmax}"] = check.delta_chi2
        return row


def fit_multipoles(
    counts,
    reference,
    mask=None,
    lmax: int = 1,
    extra_templates=None,
    lmax_check=(2, 3, 4),
    tolerance: float = 1e-9,
    max_iterations: int = 100,
) -> MultipoleFit:
    """Binned Poisson fit mu_p = M_p (c0 + rho.n_p + sum_{l=2..lmax} a_lm Y_lm + sum_j b_j T_jp).

    Parameters
    ----------
    counts : array (npix,)
        Observed counts C_p (HEALPix RING, galactic).  Non-negative; weighted counts allowed.
    reference : array (npix,)
        Reference map M_p: expected counts for an isotropic sky (normalised to sum C, but any
        normalisation works: c0 absorbs it).
    mask : bool array (npix,), optional
        Pixels used in the fit (e.g. :func:`pixels_with_exposure`); default: reference > 0.
    lmax : int
        Highest multipole of the model (>= 1).
    extra_templates : array (k, npix), optional
        Extra multiplicative templates T_j (dimensionless), fitted with free coefficients b_j.
    lmax_check : sequence of int
        Larger lmax values fitted on the same pixels for the higher-multipole check (stored in
        ``higher_multipoles``); values <= lmax are ignored.  Empty to skip.
    tolerance : float
        Convergence when every Fisher-scoring step is below ``tolerance`` standard errors.
    max_iterations : int
        Maximum number of Fisher-scoring iterations (ValueError if not converged).
    """
    counts, reference, mask = _prepare(counts, reference, mask)
    nside = hp.npix2nside(reference.size)
    pixels = np.flatnonzero(mask)
    design, names = design_matrix(nside, lmax, pixels, extra_templates)
    if pixels.size <= design.shape[1]:
        raise ValueError(f"only {pixels.size} used pixels for {design.shape[1]} parameters")
    used_counts = counts[pixels][None, :]
    if used_counts.sum() <= 0:
        raise ValueError("counts map: no counts in the used pixels")
    used_reference = reference[pixels]
    params, fisher, mu, n_iter, converged = fisher_scoring(
        used_counts, used_reference, design, tolerance, max_iterations
    )
    if not converged[0]:
        raise FitNotConverged(f"the multipole fit (lmax={lmax}) did not converge in {max_iterations} iterations")
    covariance = np.linalg.inv(fisher)
    rel, rel_cov = relative_dipole(params, covariance)
    chi2 = float(np.sum((used_counts[0] - mu[0]) ** 2 / mu[0]))
    dof = int(pixels.size - design.shape[1])
    loglike = float(log_likelihood(used_counts, mu)[0])
    checks = []
    for lmax_high in sorted(set(int(v) for v in lmax_check)):
        if lmax_high <= lmax:
            continue
        try:
            high = fit_multipoles(counts, reference, mask, lmax_high, extra_templates, (), tolerance, max_iterations)
        except ValueError as err:
            # sparse maps: the linear model's maximum lies where mu -> 0 in some pixel (no interior
            # maximum); the check is reported as not available rather than stopping the analysis
            LOG.warning("higher-multipole check l_max=%d not available: %s", lmax_high, err)
            n_params = (lmax_high + 1) ** 2 + (0 if extra_templates is None else len(extra_templates))
            checks.append(HigherMultipoleCheck(
                lmax=lmax_high, chi2=np.nan, dof=int(pixels.size - n_params), delta_chi2=np.nan,
                delta_dof=int(n_params - design.shape[1]), likelihood_ratio=np.nan, p_value=np.nan,
            ))
            continue
        lr = 2.0 * (high.log_likelihood - loglike)
        delta_dof = dof - high.dof
        checks.append(HigherMultipoleCheck(
            lmax=lmax_high, chi2=high.chi2, dof=high.dof, delta_chi2=chi2 - high.chi2, delta_dof=delta_dof,
            likelihood_ratio=lr, p_value=float(stats.chi2.sf(max(lr, 0.0), delta_dof)),
        ))
    return MultipoleFit(
        lmax=lmax, monopole=float(params[0, 0]), rho=rel[0], rho_covariance=rel_cov[0], params=params[0],
        param_names=names, covariance=covariance[0], chi2=chi2, dof=dof, n_pixels=int(pixels.size),
        log_likelihood=loglike, n_iterations=int(n_iter), higher_multipoles=tuple(checks),
    )


@dataclass(frozen=True)
class DipoleFits:
    """Vectorised dipole fits of many maps (:func:`fit_dipole_many`); rows = maps.

    ``rho`` (n, 3) and ``rho_covariance`` (n, 3, 3) are relative to the monopole, in the order
    (rho_FB, rho_EW, rho_NS); ``monopole`` (n,); ``chi2`` (n,) Pearson; ``converged`` (n,) bool.
    """

    rho: np.ndarray
    rho_covariance: np.ndarray
    monopole: np.ndarray
    chi2: np.ndarray
    dof: int
    converged: np.ndarray

    @property
    def delta(self) -> np.ndarray:
        return np.linalg.norm(self.rho, axis=1)


def fit_dipole_many(
    counts,
    reference,
    mask=None,
    extra_templates=None,
    tolerance: float = 1e-6,
    max_iterations: int = 50,
    block_size: int = 32,
) -> DipoleFits:
    """The lmax = 1 fit of :func:`fit_multipoles` for many maps at once (e.g. pseudo-skies).

    Parameters
    ----------
    counts : array (n_maps, npix) or (n_maps, n_used)
        Counts maps, full sky, or only the used pixels (in increasing pixel order) when the
        second dimension equals ``mask.sum()``.
    reference, mask, extra_templates : as :func:`fit_multipoles`.
    tolerance : float
        Convergence when every step is below ``tolerance`` standard errors (default 1e-6).
    max_iterations : int
        Maximum Fisher-scoring iterations; maps that did not converge have ``converged`` False.
    block_size : int
        Maps processed together (memory ~ block_size x npix x 8 bytes x a few; 32 is
        the fastest at Nside 32: the arrays stay in cache).
    """
    reference = _check_map(reference, "reference map")
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 2:
        raise ValueError(f"counts: expected shape (n_maps, npix), got {counts.shape}")
    _, reference, mask = _prepare(reference, reference, mask)
    pixels = np.flatnonzero(mask)
    if counts.shape[1] == reference.size:
        full = True
    elif counts.shape[1] == pixels.size:
        full = False
    else:
        raise ValueError(f"counts: {counts.shape[1]} columns, expected {reference.size} (full sky) "
                         f"or {pixels.size} (used pixels)")
    if not np.all(np.isfinite(counts)) or np.any(counts < 0):
        raise ValueError("counts: non-finite or negative values")
    nside = hp.npix2nside(reference.size)
    design, _ = design_matrix(nside, 1, pixels, extra_templates)
    used_reference = reference[pixels]
    products = design_products(design)
    n_maps = counts.shape[0]
    rho = np.empty((n_maps, 3))
    rho_cov = np.empty((n_maps, 3, 3))
    monopole = np.empty(n_maps)
    chi2 = np.empty(n_maps)
    converged = np.empty(n_maps, dtype=bool)
    for start in range(0, n_maps, block_size):
        block = counts[start:start + block_size]
        block = block[:, pixels] if full else block
        if np.any(block.sum(axis=1) <= 0):
            raise ValueError("counts: a map has no counts in the used pixels")
        params, fisher, mu, _, conv = fisher_scoring(block, used_reference, design, tolerance, max_iterations,
                                                     products)
        covariance = np.linalg.inv(fisher)
        rel, rel_cov = relative_dipole(params, covariance)
        sl = slice(start, start + block.shape[0])
        rho[sl], rho_cov[sl], monopole[sl] = rel, rel_cov, params[:, 0]
        chi2[sl] = np.sum((block - mu) ** 2 / mu, axis=1)
        converged[sl] = conv
    return DipoleFits(rho=rho, rho_covariance=rho_cov, monopole=monopole, chi2=chi2,
                      dof=int(pixels.size - design.shape[1]), converged=converged)
