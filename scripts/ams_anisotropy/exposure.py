"""Exposure integration: the detector-frame acceptance placed at every interval's attitude, exactly.

The reference map of a threshold is the sum over good timeline intervals s of the interval's weight
W(s) (livetime x cutoff weight x efficiency, :mod:`ams_anisotropy.exposure_weights`) times the
detector-frame acceptance A rotated to the sky by the interval's attitude R_s (detector -> galactic):

    M(n) = sum_s W(s) A(R_s^T n).

This is the adjoint of convolving a sky with an asymmetric beam, a "total convolution": in harmonics
M_lm = sum_s W(s) sum_{|k| <= kmax} D^l_mk(R_s) b_lk, with b_lk the harmonic coefficients of A in the
detector frame. ``ducc0.totalconvolve.Interpolator`` (MPA's library, Reinecke et al.; the harmonic
total-convolution method of Wandelt & Gorski, PRD 63 (2001) 123002) does it in adjoint mode:
``deinterpol`` spreads every interval's weight at its pointing (Euler angles of R_s) onto a data cube
over (theta, phi, psi) that depends on the weights only, and ``getSlm`` contracts the cube with any
number of beams. So

* every interval is used at its own attitude (no grouping in attitude cells, no point lattice), and the
  error is set by the band limit (lmax, kmax) and ``epsilon`` only, not by the number of events;
* one accumulation serves the acceptance and its dipole-response beams A d_x, A d_y, A d_z (the
  absorption correction of :mod:`ams_anisotropy.dipole_absorption`) at no extra cost.

Pixel integrals: the band-limited M is synthesised at ``nside * oversampling`` and the sub-pixels are
averaged (a quadrature of the integral over each Nside pixel, exact to the sub-pixel scale), which is
what counts per pixel measure. Units: M is in the units of W times those of A (arbitrary: the maps are
normalised to the observed counts later).

Conventions (tested against a direct sum over rotated beams, ``tests/test_exposure.py``): ducc0's
pointing (theta, phi, psi) are the intrinsic z-y-z Euler angles of R_s, R_s = Rz(phi) Ry(theta) Rz(psi);
alm in healpy's order (m-major), beams with mmax = kmax, sky alm with mmax = lmax.

Determinism: ducc0 accumulates with ``nthreads`` threads in an order that depends on the threads, so the
result is bitwise reproducible only for a fixed thread count; the workflow uses one thread per job (jobs
run in parallel), whatever ``--cores`` is.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import healpy as hp
import numpy as np

try:  # ducc0 is a pinned dependency (requirements.lock, envs/maps.yaml)
    import ducc0
except ImportError as error:  # pragma: no cover - the environment is incomplete
    raise ImportError("ams_anisotropy.exposure needs ducc0 (pip install -r requirements.lock)") from error

# production defaults (config.yaml reference.*; chosen by the convergence test, docs/reference_maps.md)
DEFAULT_LMAX = 96
DEFAULT_KMAX = 8
DEFAULT_EPSILON = 1e-5
DEFAULT_OVERSAMPLING = 4
_OFACTOR = 1.5  # ducc0's oversampling of the data cube (its documented default)


def n_alm(lmax: int, mmax: int) -> int:
    """Number of healpy alm coefficients for (lmax, mmax)."""
    return hp.Alm.getsize(lmax, mmax)


def pointing_angles(rotations) -> np.ndarray:
    """ducc0 pointings (n, 3) = (theta, phi, psi), rad, of rotations (n, 3, 3) (columns = AMS x, y, z).

    R = Rz(phi) Ry(theta) Rz(psi): theta, phi are the polar angles of the AMS z axis, psi the angle
    of its x axis around z. At theta = 0 or pi (z exactly at a pole) psi is set to 0 and phi carries the roll.
    """
    r = np.asarray(rotations, dtype=np.float64)
    if r.ndim != 3 or r.shape[1:] != (3, 3):
        raise ValueError(f"rotations: expected shape (n, 3, 3), got {r.shape}")
    theta = np.arccos(np.clip(r[:, 2, 2], -1.0, 1.0))
    sin_theta = np.hypot(r[:, 0, 2], r[:, 1, 2])
    regular = sin_theta > 1e-12
    phi = np.where(regular, np.arctan2(r[:, 1, 2], r[:, 0, 2]), np.arctan2(r[:, 1, 0], r[:, 0, 0]))
    psi = np.where(regular, np.arctan2(r[:, 2, 1], -r[:, 2, 0]), 0.0)
    return np.column_stack([theta, np.mod(phi, 2.0 * np.pi), psi])


class HarmonicExposure:
    """Adjoint total convolution of ``n_sets`` weight sets over the same pointings.

    ``add(rotations, weights)`` may be called once per timeline chunk (streaming); ``sky_alm(beams)``
    ends the accumulation. Parameters: n_sets (e.g. one per threshold); lmax, kmax: band limit of the
    beams and the sky (kmax <= lmax); epsilon: ducc0's relative accuracy; nthreads: ducc0 threads per
    cube (1 for bitwise reproducibility); workers: cubes accumulated concurrently in Python threads (ducc0
    releases the GIL; each cube stays single-threaded and sees its pointings in the same order, so the
    result is bitwise the same for any number of workers).
    """

    def __init__(self, n_sets: int, lmax: int = DEFAULT_LMAX, kmax: int = DEFAULT_KMAX,
                 epsilon: float = DEFAULT_EPSILON, nthreads: int = 1, workers: int = 1):
        for name, value, low in (("n_sets", n_sets, 1), ("lmax", lmax, 1), ("kmax", kmax, 0), ("nthreads", nthreads, 1),
                                 ("workers", workers, 1)):
            if not (isinstance(value, (int, np.integer)) and value >= low):
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if kmax > lmax:
            raise ValueError(f"kmax ({kmax}) must not exceed lmax ({lmax})")
        if not (np.isfinite(epsilon) and 1e-13 <= epsilon < 1e-1):
            raise ValueError(f"epsilon must be in [1e-13, 0.1), got {epsilon!r}")
        self.n_sets, self.lmax, self.kmax = int(n_sets), int(lmax), int(kmax)
        self.epsilon, self.nthreads, self.workers = float(epsilon), int(nthreads), int(workers)
        self._cubes = [None] * self.n_sets  # created on first use (an empty set costs nothing)
        self.total_weight = np.zeros(self.n_sets)
        self.weighted_rotation = np.zeros((self.n_sets, 3, 3))  # sum_s W(s) R_s (for the dipole response)
        self.n_pointings = 0
        self._done = False

    def add(self, rotations, weights) -> None:
        """Accumulate pointings (rotations (n, 3, 3)) with weights (n_sets, n) (>= 0, finite)."""
        if self._done:
            raise RuntimeError("HarmonicExposure: sky_alm() was already called")
        rotations = np.asarray(rotations, dtype=np.float64)
        weights = np.asarray(weights, dtype=np.float64)
        if weights.ndim != 2 or weights.shape != (self.n_sets, rotations.shape[0]):
            raise ValueError(f"weights: expected shape ({self.n_sets}, {rotations.shape[0]}), got {weights.shape}")
        if not np.all(np.isfinite(weights)) or np.any(weights < 0):
            raise ValueError("weights must be finite and non-negative")
        if rotations.shape[0] == 0:
            return
        # the dense form of add_sparse: every set on the pointings where its weight is positive
        entries = []
        for k in range(self.n_sets):
            rows = np.flatnonzero(weights[k] > 0)
            if rows.size:
                entries.append((k, rows, weights[k, rows]))
        if entries:
            self.add_sparse(pointing_angles(rotations), rotations, entries)
        else:
            self.n_pointings += rotations.shape[0]

    def add_sparse(self, pointings, rotations, entries) -> None:
        """Accumulate a few sets, each on its own subset of one block's pointings.

        ``pointings`` (n, 3) from :func:`pointing_angles` of ``rotations`` (n, 3, 3); ``entries``: a list of
        (set index, row indices, weights >= 0) with the rows of that set (each set at most once per call).
        The cubes are filled concurrently (``workers``); each cube sees its blocks in call order, so the
        result does not depend on the number of workers.
        """
        if self._done:
            raise RuntimeError("HarmonicExposure: sky_alm() was already called")
        entries = [(int(k), np.asarray(rows), np.asarray(w, dtype=np.float64)) for k, rows, w in entries]
        if len({k for k, _, _ in entries}) != len(entries):
            raise ValueError("add_sparse: a set appears twice in one call")
        for k, rows, w in entries:
            if not 0 <= k < self.n_sets or rows.shape != w.shape or not np.all(np.isfinite(w)) or np.any(w < 0):
                raise ValueError(f"add_sparse: set {k}: bad rows or weights")

        def accumulate(entry):
            k, rows, w = entry
            if rows.size == 0:
                return
            if self._cubes[k] is None:
                self._cubes[k] = ducc0.totalconvolve.Interpolator(
                    self.lmax, self.kmax, 1, epsilon=self.epsilon, ofactor=_OFACTOR, nthreads=self.nthreads)
            self._cubes[k].deinterpol(np.ascontiguousarray(pointings[rows]), np.ascontiguousarray(w[None, :]))

        if self.workers == 1 or len(entries) == 1:
            for entry in entries:
                accumulate(entry)
        else:
            with ThreadPoolExecutor(max_workers=self.workers) as pool:
                list(pool.map(accumulate, entries))
        for k, rows, w in entries:
            self.total_weight[k] += w.sum()
            self.weighted_rotation[k] += np.einsum("n,nij->ij", w, rotations[rows])
        self.n_pointings += rotations.shape[0]

    def sky_alm(self, beams) -> np.ndarray:
        """Sky alm (n_sets, n_beams, n_alm(lmax, lmax)) of the accumulated weights for each beam.

        ``beams``: complex (n_sets, n_beams, n_alm(lmax, kmax)), the healpy alm (mmax = kmax) of the
        detector-frame functions of each set (e.g. A_k, A_k d_x, A_k d_y, A_k d_z). Ends the accumulation.
        """
        beams = np.asarray(beams, dtype=np.complex128)
        expected = n_alm(self.lmax, self.kmax)
        if beams.ndim != 3 or beams.shape[0] != self.n_sets or beams.shape[2] != expected:
            raise ValueError(f"beams: expected shape ({self.n_sets}, n_beams, {expected}), got {beams.shape}")
        self._done = True
        out = np.zeros((self.n_sets, beams.shape[1], n_alm(self.lmax, self.lmax)), dtype=np.complex128)
        for k, cube in enumerate(self._cubes):
            if cube is not None and self.total_weight[k] > 0:
                out[k] = cube.getSlm(np.ascontiguousarray(beams[k]))
        self._cubes = []  # free the cubes
        return out


def pixel_averaged_maps(alm, nside: int, lmax: int, oversampling: int = DEFAULT_OVERSAMPLING) -> np.ndarray:
    """Mean of the band-limited function over each HEALPix (RING) pixel, for alm (..., n_alm(lmax, lmax)).

    Synthesised at ``nside * oversampling`` and averaged over the oversampling^2 sub-pixels of each pixel.
    Returns float64 (..., 12 nside^2).
    """
    if not hp.isnsideok(nside) or not hp.isnsideok(oversampling):
        raise ValueError(f"nside and oversampling must be powers of 2, got {nside!r} and {oversampling!r}")
    alm = np.asarray(alm, dtype=np.complex128)
    shape = alm.shape[:-1]
    if alm.shape[-1] != n_alm(lmax, lmax):
        raise ValueError(f"alm: last axis must hold {n_alm(lmax, lmax)} coefficients (lmax={lmax}), "
                         f"got {alm.shape[-1]}")
    fine = nside * oversampling
    flat = alm.reshape(-1, alm.shape[-1])
    out = np.empty((flat.shape[0], hp.nside2npix(nside)))
    for i, row in enumerate(flat):  # a handful of maps
        values = hp.alm2map(row, fine, lmax=lmax, mmax=lmax)
        nested = hp.reorder(values, r2n=True)
        coarse = nested.reshape(-1, oversampling * oversampling).mean(axis=1)
        out[i] = hp.reorder(coarse, n2r=True)
    return out.reshape(*shape, -1)
