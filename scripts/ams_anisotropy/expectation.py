"""The isotropic expectation of the limits: Poisson pseudo-skies, their fits and Gaussian-posterior limits.

Pseudo-skies C_p ~ Poisson(M_p) on the used pixels (M normalised to the observed number of events),
each fitted with :func:`ams_anisotropy.fit.fit_dipole_many`; the limit of each pseudo-sky uses the
Gaussian posterior N(r_hat, Sigma_hat) (inverse Fisher at the pseudo-sky's own maximum) sampled with
common random numbers for all skies; this agrees with the exact importance sampling of
:mod:`ams_anisotropy.limits` to well below the band widths (tested). Bands are the central 68.27% and
95.45% intervals (the paper's 68.3% / 95.4%, i.e. Gaussian 1 and 2 sigma) and the median.
"""

from __future__ import annotations

from dataclasses import dataclass

import healpy as hp
import numpy as np
from scipy import stats

from . import fit as fitmod

CREDIBILITY_DEFAULT = 0.95  # paper: 95% credible-interval upper limits
BAND68 = (float(stats.norm.cdf(-1.0)), float(stats.norm.cdf(1.0)))  # 68.27% central (paper: 68.3%)
BAND95 = (float(stats.norm.cdf(-2.0)), float(stats.norm.cdf(2.0)))  # 95.45% central (paper: 95.4%)


def check_credibility(credibility: float) -> None:
    if not 0.0 < credibility < 1.0:
        raise ValueError(f"credibility must be in (0, 1), got {credibility}")


def check_sigma_sys(sigma_sys) -> np.ndarray:
    if sigma_sys is None:
        return np.zeros(3)
    sigma_sys = np.asarray(sigma_sys, dtype=np.float64)
    if sigma_sys.shape != (3,) or not np.all(np.isfinite(sigma_sys)) or np.any(sigma_sys < 0):
        raise ValueError(f"sigma_sys must be 3 finite non-negative numbers (FB, EW, NS), got {sigma_sys}")
    return sigma_sys


def check_transform(transform) -> np.ndarray:
    transform = np.asarray(transform, dtype=np.float64)
    if transform.shape != (3, 3) or not np.all(np.isfinite(transform)):
        raise ValueError(f"transform must be a finite 3x3 matrix, got shape {transform.shape}")
    return transform


# --------------------------------------------------------------------------- Gaussian, vectorised
def gaussian_delta_upper_limits(rho_hat, rho_covariance, rng: np.random.Generator, n_draws: int = 4000,
                                credibility: float = CREDIBILITY_DEFAULT, sigma_sys=None,
                                block_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Upper limits on |r| for many skies from Gaussian posteriors N(rho_hat_k, Sigma_k).

    The same ``n_draws`` standard-normal vectors (common random numbers) are used for every
    sky, so that limits of different skies differ only through their data.  Returns
    (limits without systematics, limits with ``sigma_sys`` added in quadrature per component).
    """
    check_credibility(credibility)
    sigma_sys = check_sigma_sys(sigma_sys)
    rho_hat = np.asarray(rho_hat, dtype=np.float64)
    rho_covariance = np.asarray(rho_covariance, dtype=np.float64)
    if rho_hat.ndim != 2 or rho_hat.shape[1] != 3 or rho_covariance.shape != (rho_hat.shape[0], 3, 3):
        raise ValueError(f"rho_hat must be (n, 3) and rho_covariance (n, 3, 3); got {rho_hat.shape}, "
                         f"{rho_covariance.shape}")
    z = rng.standard_normal((n_draws, 3))
    z_sys = rng.standard_normal((n_draws, 3)) * sigma_sys
    chol = np.linalg.cholesky(rho_covariance)  # lower triangular: L z needs 6 multiply-adds per draw
    # the linear-interpolation quantile of numpy ("linear" method) from the two order statistics around
    # position credibility x (n_draws - 1), found with a partition of the squared amplitudes
    position = credibility * (n_draws - 1)
    lower = int(np.floor(position))
    upper = min(lower + 1, n_draws - 1)
    fraction = position - lower
    limits = np.empty(rho_hat.shape[0])
    limits_sys = np.empty(rho_hat.shape[0])
    with_sys = bool(np.any(sigma_sys > 0))
    for start in range(0, rho_hat.shape[0], block_size):
        sl = slice(start, start + block_size)
        r, l = rho_hat[sl, :, None], chol[sl, :, :, None]
        x = r[:, 0] + l[:, 0, 0] * z[:, 0]
        y = r[:, 1] + l[:, 1, 0] * z[:, 0] + l[:, 1, 1] * z[:, 1]
        w = r[:, 2] + l[:, 2, 0] * z[:, 0] + l[:, 2, 1] * z[:, 1] + l[:, 2, 2] * z[:, 2]
        limits[sl] = _quantile_of_norm(x * x + y * y + w * w, lower, upper, fraction)
        if with_sys:
            x += z_sys[:, 0]
            y += z_sys[:, 1]
            w += z_sys[:, 2]
            limits_sys[sl] = _quantile_of_norm(x * x + y * y + w * w, lower, upper, fraction)
        else:
            limits_sys[sl] = limits[sl]
    return limits, limits_sys


def _quantile_of_norm(squared, lower: int, upper: int, fraction: float) -> np.ndarray:
    """Per row, the linear-interpolation quantile of sqrt(squared) between order statistics lower, upper."""
    ordered = np.partition(squared, [lower, upper], axis=1)
    low, high = np.sqrt(ordered[:, lower]), np.sqrt(ordered[:, upper])
    return low + fraction * (high - low)


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
    ``chi2`` (n_skies,): Pearson chi2 of each pseudo-sky against its fitted dipole model, the distribution
    the data's chi2 is compared with (:meth:`chi2_row`).
    """

    ul: np.ndarray
    ul_sys: np.ndarray
    rho_hat: np.ndarray
    sigma_hat: np.ndarray
    rho_hat_sys: np.ndarray
    credibility: float
    n_failed: int = 0
    chi2: np.ndarray | None = None

    def chi2_row(self, observed_chi2: float) -> dict:
        """``chi2_pvalue`` = fraction of pseudo-skies with chi2 >= the observed one, and the central 95.4% /
        99.7% of the pseudo-sky chi2 (``chi2_band95_low/high``, ``chi2_band997_low/high``). Where there are
        few events per pixel Pearson's chi2 is far from its large-sample distribution, so the bands come
        from the pseudo-skies, not from sqrt(2 dof)."""
        if self.chi2 is None or self.chi2.size == 0:
            return {}
        values = np.sort(self.chi2)
        q = np.quantile(values, [*BAND95, 0.00135, 0.99865])
        return {"chi2_pvalue": float(np.mean(values >= observed_chi2)),
                "chi2_band95_low": float(q[0]), "chi2_band95_high": float(q[1]),
                "chi2_band997_low": float(q[2]), "chi2_band997_high": float(q[3])}

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
        E.g. ``ams_anisotropy.rng.generator(seed, "limits_pseudo_skies", "proton", "18GV")``.
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
    check_credibility(credibility)
    sigma_sys = check_sigma_sys(sigma_sys)
    reference = fitmod._check_map(reference, "reference map")
    if mask is None:
        mask = reference > 0
    _, _, mask = fitmod._prepare(reference, reference, mask)
    rho_hat = np.empty((n_skies, 3))
    rho_cov = np.empty((n_skies, 3, 3))
    chi2 = np.empty(n_skies)
    for start in range(0, n_skies, block_size):
        n_block = min(block_size, n_skies - start)
        skies = pseudo_skies(reference, rng, n_block, mask, rho_true)
        fits = fitmod.fit_dipole_many(skies, reference, mask, extra_templates)
        rho_hat[start:start + n_block] = np.where(fits.converged[:, None], fits.rho, np.nan)
        rho_cov[start:start + n_block] = np.where(fits.converged[:, None, None], fits.rho_covariance, np.nan)
        chi2[start:start + n_block] = fits.chi2
    # with a few tens of events a pseudo-sky's likelihood can peak where mu -> 0 in a pixel (|rho| ~ 1):
    # such skies are left out (and counted); more than max_failed_fraction of them is an error
    converged = np.isfinite(rho_hat).all(axis=1)
    n_failed = int(np.sum(~converged))
    if n_failed > max_failed_fraction * n_skies:
        raise ValueError(f"{n_failed} of {n_skies} pseudo-sky fit(s) did not converge "
                         f"(mean {reference[mask].sum():.3g} events per sky)")
    rho_hat, rho_cov, chi2 = rho_hat[converged], rho_cov[converged], chi2[converged]
    if transform is not None:  # the same correction as the data fit (see sample_dipole_posterior)
        transform = check_transform(transform)
        rho_hat = rho_hat @ transform.T
        rho_cov = transform @ rho_cov @ transform.T
    ul, ul_sys = gaussian_delta_upper_limits(rho_hat, rho_cov, rng, n_draws, credibility, sigma_sys)
    rho_hat_sys = rho_hat + rng.standard_normal(rho_hat.shape) * sigma_sys
    return IsotropicExpectation(
        ul=ul, ul_sys=ul_sys, rho_hat=rho_hat, sigma_hat=np.sqrt(np.diagonal(rho_cov, axis1=1, axis2=2)),
        rho_hat_sys=rho_hat_sys, credibility=credibility, n_failed=n_failed, chi2=chi2,
    )
