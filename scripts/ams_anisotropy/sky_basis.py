"""HEALPix inputs of the multipole fit: map checks, the exposure mask and the multipole design matrix.

The columns of the linear model of :mod:`ams_anisotropy.fit`, mu_p = M_p * (X_p . params): the monopole,
the pixel's unit vector (x towards the galactic centre, y towards l = 90 deg, z towards the north
galactic pole), the real spherical harmonics Y_lm for l = 2..lmax and optional extra templates.
"""

from __future__ import annotations

import functools

import healpy as hp
import numpy as np
from scipy import special


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


@functools.lru_cache(maxsize=8)
def _full_sky_basis(nside: int, lmax: int) -> np.ndarray:
    """The multipole columns of :func:`design_matrix` on every pixel, shape ((lmax + 1)^2, npix).

    Cached: a fit job fits every threshold and variant on the same Nside (read-only result).
    """
    pixels = np.arange(hp.nside2npix(nside))
    vec = np.array(hp.pix2vec(nside, pixels))
    rows = [np.ones(pixels.size), vec[0], vec[1], vec[2]]
    if lmax >= 2:
        theta, phi = hp.pix2ang(nside, pixels)
        for ell in range(2, lmax + 1):
            rows.extend(real_spherical_harmonics(ell, theta, phi))
    basis = np.array(rows)
    basis.setflags(write=False)
    return basis


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
    basis = _full_sky_basis(int(nside), int(lmax))
    design = basis[:, pixels].T
    names = ["c0", "rho_fb", "rho_ew", "rho_ns"]
    for ell in range(2, lmax + 1):
        names.extend(f"a_{ell}_{m}" for m in range(-ell, ell + 1))
    if extra_templates is not None:
        templates = np.atleast_2d(np.asarray(extra_templates, dtype=np.float64))
        if templates.shape[1] != npix:
            raise ValueError(f"extra_templates: expected shape (k, {npix}), got {templates.shape}")
        if not np.all(np.isfinite(templates)):
            raise ValueError("extra_templates: contains non-finite values")
        design = np.hstack([design, templates[:, pixels].T])
        names.extend(f"template_{j}" for j in range(templates.shape[0]))
    return np.ascontiguousarray(design), tuple(names)


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
