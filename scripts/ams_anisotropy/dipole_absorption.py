"""Dipole absorption by the data-driven acceptance, and its correction.

With a sky 1 + rho.n the expected detector-frame histogram is A(d) sum_s W_s (1 + rho.R_s d) =
A(d) W (1 + rho.Q d), Q = sum_s W_s R_s / sum_s W_s. The LVLH y axis always has the same declination
component (-cos i for +XVV), so Q is far from zero and the acceptance estimated from the events absorbs
part of a real dipole along the celestial pole. To first order the reference is M_hat = M0 + sum_a rho_a
T_a with T_a = sum_b Q_ab U_b, U_b the exposure of the beam A d_b (computed in the same accumulation as
M0, :mod:`ams_anisotropy.exposure`). A fit against M_hat returns rho_fit = (I - K) rho, K the dipole
projection of T / M_hat (:func:`dipole_response_matrix`); :func:`correct_dipole` inverts it. It needs the
orbit's full 72-day precession cycle: over a few days a dipole along the orbit normal is degenerate with
a y-gradient of the acceptance and I - K becomes nearly singular.
"""

from __future__ import annotations

import healpy as hp
import numpy as np


def dipole_response_matrix(reference, response, mask=None) -> np.ndarray:
    """K (3, 3): the dipole a first-order fit returns per unit true dipole through the reference.

    With counts ~ M0 (1 + rho.n) and the data-driven reference M_hat = M0 + rho.T, a fit of the
    counts against M_hat (free monopole, Poisson weights ~ 1/M_hat) gives rho_fit = (I - K) rho,
    K[:, a] = the dipole of the weighted least-squares fit of T_a / M_hat by c + r.n.

    Parameters: reference (npix,) M_hat; response (3, npix) T (``ReferenceMaps.dipole_response[k]``);
    mask (npix,) bool of the fitted pixels (default reference > 0).
    """
    reference = np.asarray(reference, dtype=np.float64)
    response = np.asarray(response, dtype=np.float64)
    if response.shape != (3, reference.size):
        raise ValueError(f"response: expected shape (3, {reference.size}), got {response.shape}")
    mask = reference > 0 if mask is None else np.asarray(mask, dtype=bool) & (reference > 0)
    nside = hp.npix2nside(reference.size)
    pixels = np.flatnonzero(mask)
    vec = np.array(hp.pix2vec(nside, pixels))
    design = np.column_stack([np.ones(pixels.size), vec.T])  # (n, 4)
    m = reference[pixels]
    gram = design.T @ (m[:, None] * design)
    rhs = design.T @ response[:, pixels].T  # sum_p M X (T/M) = sum_p X T
    solution = np.linalg.solve(gram, rhs)  # (4, 3)
    return solution[1:, :]


def absorption_transform(k_matrix, max_absorption: float = 0.5) -> np.ndarray:
    """T = (I - K)^-1, the linear map from a fitted dipole to the true one (see the module docstring).

    ``max_absorption``: if some direction loses more than this fraction of the dipole (smallest singular
    value of I - K below 1 - max_absorption), the correction would mostly amplify noise: ValueError
    (typically a timeline much shorter than the 72-day precession cycle of the orbit).
    """
    i_minus_k = np.eye(3) - np.asarray(k_matrix, dtype=np.float64)
    smallest = np.linalg.svd(i_minus_k, compute_uv=False).min()
    if smallest < 1.0 - max_absorption:
        raise ValueError(
            f"dipole response: the data-driven acceptance absorbs {1 - smallest:.0%} of the dipole along some "
            f"axis (limit {max_absorption:.0%}); the timeline is probably shorter than the orbit's 72-day "
            "precession cycle, so the acceptance and the dipole are degenerate: do not correct"
        )
    return np.linalg.inv(i_minus_k)


def fitted_dipole_transform(reference, response, mask=None, max_absorption: float = 0.5) -> np.ndarray:
    """T = (I - K)^-1 for a fit of counts against ``reference`` (npix,) whose dipole response is
    ``response`` (3, npix), over the pixels of ``mask``: the true dipole is T @ the fitted one."""
    return absorption_transform(dipole_response_matrix(reference, response, mask), max_absorption)


def correct_dipole(rho, covariance, k_matrix, max_absorption: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Undo the absorption: rho_true = (I - K)^-1 rho_fit; covariance propagated the same way."""
    transform = absorption_transform(k_matrix, max_absorption)
    rho = transform @ np.asarray(rho, dtype=np.float64)
    return rho, transform @ np.asarray(covariance, dtype=np.float64) @ transform.T


def response_labels(label: str) -> list[str]:
    """Map labels of the dipole response of threshold ``label`` in a reference FITS file
    (``io.write_threshold_maps``): the derivative of the map along galactic x, y, z."""
    return [f"{label}_RESP{axis}" for axis in "XYZ"]
