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
from scipy import linalg, special, stats

LOG = logging.getLogger(__name__)

# sqrt(3 / 4 pi): normalisation of the l = 1 real spherical harmonics (paper eq. 2)
DIPOLE_HARMONIC_NORM = np.sqrt(3.0 / (4.0 * np.pi))
COMPONENT_NAMES = ("rho_fb", "rho_ew", "rho_ns")  # galactic x, y, z (docs/architecture.md)


# --------------------------------------------------------------------------- inputs and basis
def _check_npix(npix: int, what: str) -> int:
    if not hp.isnpixok(npix):
        raise ValueError(f"{what}: {npix} is not a valid HEALPix number of pixels")
    return hp.npix2nside(npix)


def _check_map(values, name: str, allow_2d: bool = False) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 and not (allow_2d and values.ndim == 2):
        raise ValueError(f"{name}: expected a 1-d HEALPix map{' or (n_maps, npix)' if allow_2d else ''}, "
                         f"got shape {values.shape}")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{name}: contains {int(np.sum(~np.isfinite(values)))} non-finite value(s)")
    if np.any(values < 0):
        raise ValueError(f"{name}: contains {int(np.sum(values < 0))} negative value(s)")
    _check_npix(values.shape[-1], name)
    return values


def pixels_with_exposure(reference, min_fraction_of_max: float = 0.05) -> np.ndarray:
    """Boolean mask of the pixels whose reference value is at least a fraction of the maximum.

    Parameters
    ----------
    reference : array (npix,)
        Reference map (expected counts for an isotropic sky, any normalisation).
    min_fraction_of_max : float
        Dimensionless fraction of ``reference.max()`` below which a pixel is masked
        (config ``fit.min_exposure_fraction``, default 0.05).  Pixels with zero reference are
        always masked, also for a fraction of 0.
    """
    reference = _check_map(reference, "reference map")
    if not 0.0 <= min_fraction_of_max < 1.0:
        raise ValueError(f"min_fraction_of_max must be in [0, 1), got {min_fraction_of_max}")
    peak = reference.max()
    if peak <= 0:
        raise ValueError("reference map: all pixels are zero (no exposure)")
    return (reference >= min_fraction_of_max * peak) & (reference > 0)


def real_spherical_harmonics(ell: int, theta_rad, phi_rad) -> np.ndarray:
    """Real orthonormal spherical harmonics Y_lm for m = -l..l, shape (2l+1, n).

    Y_l0 = Y_l^0; for m > 0: sqrt(2) (-1)^m Re Y_l^m; for m < 0: sqrt(2) (-1)^m Im Y_l^|m|,
    with Y_l^m the complex harmonics with the Condon-Shortley phase (scipy), so that
    Y_1,+1 = sqrt(3/4pi) x, Y_1,-1 = sqrt(3/4pi) y, Y_1,0 = sqrt(3/4pi) z (paper eq. 2).
    ``theta_rad`` is the colatitude, ``phi_rad`` the longitude, both in radians.
    """
    theta_rad = np.asarray(theta_rad, dtype=np.float64)
    phi_rad = np.asarray(phi_rad, dtype=np.float64)
    rows = []
    for m in range(-ell, ell + 1):
        y = special.sph_harm_y(ell, abs(m), theta_rad, phi_rad)
        if m == 0:
            rows.append(y.real)
        elif m > 0:
            rows.append(np.sqrt(2.0) * (-1) ** m * y.real)
        else:
            rows.append(np.sqrt(2.0) * (-1) ** abs(m) * y.imag)
    return np.array(rows)


def design_matrix(nside: int, lmax: int = 1, pixels=None, extra_templates=None):
    """Columns of the linear model mu_p = M_p * (X_p . params) and their names.

    Columns: 1 (monopole c0), n_x, n_y, n_z (rho_fb, rho_ew, rho_ns, absolute), real Y_lm for
    l = 2..lmax (named ``a_l_m``), then the extra templates (``template_j``).
    ``pixels``: RING pixel indices to use (default all); ``extra_templates``: (k, npix) array.
    Returns (X of shape (n_pixels, n_params), names tuple).
    """
    if lmax < 1:
        raise ValueError(f"lmax must be >= 1 (the dipole is always fitted), got {lmax}")
    npix = hp.nside2npix(nside)
    pixels = np.arange(npix) if pixels is None else np.asarray(pixels)
    vec = np.array(hp.pix2vec(nside, pixels))
    columns = [np.ones(pixels.size), vec[0], vec[1], vec[2]]
    names = ["c0", "rho_fb", "rho_ew", "rho_ns"]
    if lmax >= 2:
        theta, phi = hp.pix2ang(nside, pixels)
        for ell in range(2, lmax + 1):
            columns.extend(real_spherical_harmonics(ell, theta, phi))
            names.extend(f"a_{ell}_{m}" for m in range(-ell, ell + 1))
    if extra_templates is not None:
        templates = np.atleast_2d(np.asarray(extra_templates, dtype=np.float64))
        if templates.shape[1] != npix:
            raise ValueError(f"extra_templates: expected shape (k, {npix}), got {templates.shape}")
        if not np.all(np.isfinite(templates)):
            raise ValueError("extra_templates: contains non-finite values")
        columns.extend(templates[:, pixels])
        names.extend(f"template_{j}" for j in range(templates.shape[0]))
    return np.column_stack(columns), tuple(names)


# --------------------------------------------------------------------------- core solver
def _log_likelihood(counts, mu):
    """Poisson log-likelihood without the log(C!) term, per row; -inf where some mu <= 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ll = np.sum(np.where(counts > 0, counts * np.log(np.where(mu > 0, mu, 1.0)), 0.0) - mu, axis=-1)
    return np.where(np.all(mu > 0, axis=-1), ll, -np.inf)


def expand_linear(coefficients, basis):
    """``coefficients @ basis.T`` for few columns (coefficients (n, P), basis (m, P)) -> (n, m).

    Written as P multiply-adds instead of a BLAS call: for P of a few, multithreaded BLAS spends
    its time in thread synchronisation (seconds instead of milliseconds on a loaded machine).
    """
    coefficients = np.asarray(coefficients, dtype=np.float64)
    out = coefficients[:, :1] * basis[None, :, 0]
    for k in range(1, basis.shape[1]):
        out += coefficients[:, k:k + 1] * basis[None, :, k]
    return out


def _fisher(weights, design, design_products):
    """Fisher matrices sum_p w_kp X_pi X_pj for each row k of ``weights`` (n, n_pixels)."""
    n_params = design.shape[1]
    if weights.shape[0] == 1 or design_products is None:
        return np.einsum("kp,pi,pj->kij", weights, design, design, optimize=True)
    return (weights @ design_products).reshape(-1, n_params, n_params)


def _fisher_scoring(counts, reference, design, tolerance, max_iterations):
    """Maximum-likelihood parameters for each row of ``counts`` (n, n_pixels).

    Returns params (n, P), fisher (n, P, P), mu (n, n_pixels), n_iterations, converged (n,).
    """
    n_params = design.shape[1]
    mx = reference[:, None] * design  # dmu/dparams, (n_pixels, P)
    products = None
    if counts.shape[0] > 1:
        products = (design[:, :, None] * design[:, None, :]).reshape(design.shape[0], -1)
    # start: Gaussian least squares with variance ~ M (common matrix for all rows)
    gram = mx.T @ design
    try:
        params = linalg.solve(gram, (counts @ design).T, assume_a="pos").T
    except (linalg.LinAlgError, ValueError) as err:
        raise ValueError(
            f"the fit's design matrix is degenerate on the used pixels ({n_params} parameters, "
            f"{design.shape[0]} pixels): reduce lmax or check the extra templates"
        ) from err
    mu = expand_linear(params, mx)
    bad = np.any(mu <= 0, axis=1)
    if bad.any():  # fall back to the isotropic start (c0 = sum C / sum M) where mu would be negative
        params[bad] = 0.0
        params[bad, 0] = counts[bad].sum(axis=1) / reference.sum()
        mu[bad] = expand_linear(params[bad], mx)
    converged = np.zeros(counts.shape[0], dtype=bool)
    iteration = 0
    for iteration in range(1, max_iterations + 1):  # noqa: B007 (iteration count is returned)
        weights = reference[None, :] ** 2 / mu
        fisher = _fisher(weights, design, products)
        score = (counts / mu - 1.0) @ mx
        try:
            step = np.linalg.solve(fisher, score[:, :, None])[:, :, 0]
            inverse_diag = np.diagonal(np.linalg.inv(fisher), axis1=1, axis2=2)
        except np.linalg.LinAlgError as err:
            raise ValueError(
                "the Fisher matrix is singular: the parameters are not constrained by the used pixels "
                "(reduce lmax, check the mask and the extra templates)"
            ) from err
        step_in_sigma = np.max(np.abs(step) / np.sqrt(np.abs(inverse_diag)), axis=1)
        active = ~converged
        # small steps (quadratic regime): take the full step when it keeps every mu > 0
        small = active & (step_in_sigma < 1.0)
        idx = np.flatnonzero(small)
        if idx.size:
            trial = params[idx] + step[idx]
            trial_mu = expand_linear(trial, mx)
            ok = np.all(trial_mu > 0, axis=1)
            params[idx[ok]], mu[idx[ok]] = trial[ok], trial_mu[ok]
            small[idx[~ok]] = False
        # other rows: step halving until the likelihood does not decrease
        todo = active & ~small
        if todo.any():
            idx = np.flatnonzero(todo)
            base = _log_likelihood(counts[idx], mu[idx])
            scale = np.ones(idx.size)
            pending = np.ones(idx.size, dtype=bool)
            for _ in range(40):  # loop over halvings, not over maps or pixels
                trial = params[idx[pending]] + scale[pending, None] * step[idx[pending]]
                trial_mu = expand_linear(trial, mx)
                trial_ll = _log_likelihood(counts[idx[pending]], trial_mu)
                ok = trial_ll >= base[pending] - 1e-11 * np.maximum(1.0, np.abs(base[pending]))
                rows = idx[pending][ok]
                params[rows], mu[rows] = trial[ok], trial_mu[ok]
                pending[np.flatnonzero(pending)[ok]] = False
                if not pending.any():
                    break
                scale[pending] *= 0.5
        converged |= active & (step_in_sigma < tolerance)
        if converged.all():
            break
    weights = reference[None, :] ** 2 / mu
    fisher = _fisher(weights, design, products)
    return params, fisher, mu, iteration, converged


def _relative_dipole(params, covariance):
    """r = rho / c0 and its covariance (Jacobian propagation), for rows of params (n, P)."""
    c0 = params[:, 0]
    rho = params[:, 1:4]
    jac = np.zeros((params.shape[0], 3, params.shape[1]))
    jac[:, :, 0] = -rho / c0[:, None] ** 2
    jac[:, [0, 1, 2], [1, 2, 3]] = 1.0 / c0[:, None]
    return rho / c0[:, None], jac @ covariance @ np.transpose(jac, (0, 2, 1))


def direction_deg(vector):
    """(longitude, latitude) in degrees of cartesian vectors (..., 3); longitude in [0, 360)."""
    vector = np.asarray(vector, dtype=np.float64)
    norm = np.linalg.norm(vector, axis=-1)
    lon = np.degrees(np.arctan2(vector[..., 1], vector[..., 0])) % 360.0
    with np.errstate(invalid="ignore", divide="ignore"):
        lat = np.degrees(np.arcsin(np.clip(vector[..., 2] / norm, -1.0, 1.0)))
    return lon, lat


# --------------------------------------------------------------------------- results
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


def _prepare(counts, reference, mask, allow_2d=False):
    counts = _check_map(counts, "counts map", allow_2d=allow_2d)
    reference = _check_map(reference, "reference map")
    if counts.shape[-1] != reference.size:
        raise ValueError(
            f"counts map has {counts.shape[-1]} pixels but the reference map has {reference.size}"
        )
    if mask is None:
        mask = reference > 0
    else:
        mask = np.asarray(mask)
        if mask.dtype != bool or mask.shape != reference.shape:
            raise ValueError(f"mask: expected a boolean array of shape {reference.shape}, "
                             f"got dtype {mask.dtype} shape {mask.shape}")
        if np.any(reference[mask] <= 0):
            raise ValueError(f"mask: {int(np.sum(reference[mask] <= 0))} used pixel(s) have zero reference "
                             "(the model predicts no counts there); mask them")
    if not mask.any():
        raise ValueError("mask: no pixel is used")
    return counts, reference, mask


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
    params, fisher, mu, n_iter, converged = _fisher_scoring(
        used_counts, used_reference, design, tolerance, max_iterations
    )
    if not converged[0]:
        raise ValueError(f"the multipole fit (lmax={lmax}) did not converge in {max_iterations} iterations")
    covariance = np.linalg.inv(fisher)
    rel, rel_cov = _relative_dipole(params, covariance)
    chi2 = float(np.sum((used_counts[0] - mu[0]) ** 2 / mu[0]))
    dof = int(pixels.size - design.shape[1])
    loglike = float(_log_likelihood(used_counts, mu)[0])
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
        params, fisher, mu, _, conv = _fisher_scoring(block, used_reference, design, tolerance, max_iterations)
        covariance = np.linalg.inv(fisher)
        rel, rel_cov = _relative_dipole(params, covariance)
        sl = slice(start, start + block.shape[0])
        rho[sl], rho_cov[sl], monopole[sl] = rel, rel_cov, params[:, 0]
        chi2[sl] = np.sum((block - mu) ** 2 / mu, axis=1)
        converged[sl] = conv
    return DipoleFits(rho=rho, rho_covariance=rho_cov, monopole=monopole, chi2=chi2,
                      dof=int(pixels.size - design.shape[1]), converged=converged)
