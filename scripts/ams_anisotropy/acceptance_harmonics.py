"""The detector-frame acceptance estimated from the events, as band-limited harmonic beams.

The acceptance A_k(d) of threshold k (d a direction in the AMS frame) is the detector-frame histogram
of the selected events above the threshold (``binning.MapAccumulator.detector``): the pointing sweeps
the sky, so a sky anisotropy mostly averages out there (the part that does not is the "dipole
absorption", :mod:`ams_anisotropy.dipole_absorption`). For the exposure integration
(:mod:`ams_anisotropy.exposure`) it is needed as harmonic coefficients b_lk, l <= lmax, |k| <= kmax:

    b_lk = sum_p (N_p / Omega_p) Omega_p Y*_lk(c_p) / w_l = sum_p N_p Y*_lk(c_p) / w_l,

the events moved to their pixel centres c_p (healpy ``map2alm`` without iterations: an exact sum, no
quadrature weights), divided by the pixel window w_l of the histogram's Nside (the mean of Y over a pixel).
The beams of the dipole response, A d_x, A d_y, A d_z, are the same sums with N_p c_p,b.

Band limit and histogram resolution (measured, ``tests/test_reference_convergence.py`` and
docs/reference_maps.md): lmax = 96 (3 x the sky Nside 32), kmax = 8 and a histogram at Nside 128 keep the
reference within the convergence criterion for every track pattern; the histogram's Poisson noise is
not smoothed (its effect on chi2 is ~1/npix of the counts' own, and its dipole part is propagated by the
calibrated uncertainties).
"""

from __future__ import annotations

from functools import lru_cache

import healpy as hp
import numpy as np

ACCEPTANCE_SYMMETRIES = ("none", "x", "y", "xy")


def mirror_symmetrize(detector_maps, symmetry: str = "xy") -> np.ndarray:
    """Average detector-frame HEALPix maps (..., npix) with their mirror images.

    ``symmetry``: "none", "x" (d_x -> -d_x), "y" (d_y -> -d_y) or "xy" (both mirrors and their product).
    HEALPix RING pixel centres are symmetric under both mirrors, so the map is permuted exactly.
    """
    if symmetry not in ACCEPTANCE_SYMMETRIES:
        raise ValueError(f"acceptance symmetry must be one of {ACCEPTANCE_SYMMETRIES}, got {symmetry!r}")
    maps = np.asarray(detector_maps, dtype=np.float64)
    if symmetry == "none":
        return maps
    nside = hp.npix2nside(maps.shape[-1])
    x, y, z = hp.pix2vec(nside, np.arange(maps.shape[-1]))
    flips = {"x": [(-1, 1)], "y": [(1, -1)], "xy": [(-1, 1), (1, -1), (-1, -1)]}[symmetry]
    total = maps.copy()
    for fx, fy in flips:
        total = total + maps[..., hp.vec2pix(nside, fx * x, fy * y, z)]
    return total / (len(flips) + 1)


def acceptance_source(detector_maps, acceptance_min_events: float = 0.0) -> np.ndarray:
    """Which threshold's histogram each threshold uses: its own, or the nearest lower threshold's when it
    holds fewer than ``acceptance_min_events`` events (0 = always its own)."""
    totals = np.asarray(detector_maps, dtype=np.float64).sum(axis=1)
    source = np.arange(totals.size)
    last_good = 0
    for k in range(totals.size):  # a handful of thresholds
        if totals[k] > 0 and totals[k] >= acceptance_min_events:
            last_good = k
        source[k] = last_good
    return source


def acceptance_beams(detector_maps, lmax: int, kmax: int, symmetry: str = "none",
                     acceptance_min_events: float = 0.0, dipole_response: bool = True):
    """Harmonic beams of the acceptance (and of A d_x, A d_y, A d_z) from detector-frame histograms.

    Parameters
    ----------
    detector_maps : array (n_thr, npix_det)
        Detector-frame HEALPix (RING) histograms of the selected events above each threshold (counts).
    lmax, kmax : int
        Band limit of the beams (:mod:`ams_anisotropy.exposure`); lmax must not exceed 3 x the histogram's Nside.
    symmetry : {"none", "x", "y", "xy"}
        Mirror averaging of the histogram (:func:`mirror_symmetrize`); "none" is purely data-driven.
    acceptance_min_events : float
        See :func:`acceptance_source`.
    dipole_response : bool
        Also return the beams A d_b (b = x, y, z); their mirrored components vanish under ``symmetry``.

    Returns
    -------
    beams : complex (n_thr, 1 or 4, n_alm(lmax, kmax)), each A normalised to unit integral (sum N_p = 1);
    source : int (n_thr,), the threshold whose histogram was used.
    """
    det = np.asarray(detector_maps, dtype=np.float64)
    if det.ndim != 2 or not hp.isnpixok(det.shape[1]):
        raise ValueError(f"detector_maps: expected shape (n_thr, npix) with a HEALPix npix, got {det.shape}")
    if not np.all(np.isfinite(det)) or np.any(det < 0):
        raise ValueError("detector_maps: values must be finite and non-negative")
    nside_det = hp.npix2nside(det.shape[1])
    if lmax > 3 * nside_det:
        raise ValueError(f"lmax {lmax} exceeds 3 x the detector histogram Nside ({nside_det}): raise "
                         "maps.nside_detector or lower reference.lmax")
    source = acceptance_source(det, acceptance_min_events)
    acceptance = mirror_symmetrize(det[source], symmetry)
    totals = acceptance.sum(axis=1, keepdims=True)
    acceptance = np.divide(acceptance, totals, out=np.zeros_like(acceptance), where=totals > 0)
    window = pixel_window(nside_det, lmax)
    ell = _ell(lmax, kmax)
    correction = 1.0 / window[ell]
    pixel_area = hp.nside2pixarea(nside_det)
    vectors = np.array(hp.pix2vec(nside_det, np.arange(det.shape[1])))
    odd = {"none": (), "x": (0,), "y": (1,), "xy": (0, 1)}[symmetry]
    n_beams = 4 if dipole_response else 1
    beams = np.zeros((det.shape[0], n_beams, hp.Alm.getsize(lmax, kmax)), dtype=np.complex128)
    for k in range(det.shape[0]):  # a handful of thresholds
        density = acceptance[k] / pixel_area  # per sr: map2alm multiplies by the pixel area
        functions = [density] + [density * vectors[b] for b in range(3)][: n_beams - 1]
        for j, values in enumerate(functions):
            if j >= 1 and (j - 1) in odd:
                continue  # a mirrored component of d averages out
            beams[k, j] = hp.map2alm(values, lmax=lmax, mmax=kmax, iter=0, use_pixel_weights=False) * correction
    return beams, source


def _ell(lmax: int, mmax: int) -> np.ndarray:
    """l of each healpy alm index for (lmax, mmax)."""
    return np.concatenate([np.arange(m, lmax + 1) for m in range(mmax + 1)])


@lru_cache(maxsize=8)
def pixel_window(nside: int, lmax: int, oversampling: int = 4) -> np.ndarray:
    """HEALPix pixel window w_l, l = 0..lmax, computed here (healpy's tabulated windows are a download).

    w_l is the response of pixel averages to a harmonic of degree l: a field with unit-modulus a_lm of
    fixed pseudo-random phases (a constant seed: the window is a property of the grid, not of the run)
    synthesised at ``nside * oversampling``, averaged over each pixel and analysed back at ``nside``
    (3 Jacobi iterations); w_l = sum_m Re(a_out conj(a_in)) / sum_m |a_in|^2, smoothed by a cubic in l(l+1).
    With 4 x 4 sub-pixels w_96 at Nside 128 is within 1e-3 of its value with 16 x 16.
    """
    fine = nside * oversampling
    phases = np.random.default_rng(12345).uniform(0.0, 2.0 * np.pi, hp.Alm.getsize(lmax))
    alm = np.exp(1j * phases)
    alm[: lmax + 1] = alm[: lmax + 1].real  # m = 0 coefficients are real
    averaged = hp.reorder(hp.reorder(hp.alm2map(alm, fine, lmax=lmax), r2n=True)
                          .reshape(-1, oversampling * oversampling).mean(axis=1), n2r=True)
    out = hp.map2alm(averaged, lmax=lmax, iter=3)
    ell = _ell(lmax, lmax)
    response = np.bincount(ell, weights=(out * np.conj(alm)).real, minlength=lmax + 1)
    raw = response / np.bincount(ell, weights=np.abs(alm) ** 2, minlength=lmax + 1)
    # the per-l estimate is noisy where few m exist (aliasing of the other degrees): w_l is smooth, so fit
    # w = 1 + a x + b x^2 + c x^3, x = l (l + 1) (w_0 = 1 exactly), weighted by the 2l + 1 coefficients
    degrees = np.arange(lmax + 1)
    x = degrees * (degrees + 1.0) / (lmax * (lmax + 1.0))
    design = np.column_stack([x, x**2, x**3]) * np.sqrt(2 * degrees + 1.0)[:, None]
    coefficients = np.linalg.lstsq(design, (raw - 1.0) * np.sqrt(2 * degrees + 1.0), rcond=None)[0]
    window = 1.0 + np.column_stack([x, x**2, x**3]) @ coefficients
    window.setflags(write=False)
    return window
