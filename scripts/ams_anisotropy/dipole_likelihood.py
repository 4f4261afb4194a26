"""The exact binned Poisson likelihood of a dipole (and templates), the monopole marginalised, fast.

Model (:mod:`ams_anisotropy.fit`, relative parametrisation): mu_p = c0 M_p (1 + theta . Z_p) on the used
pixels p, with Z_p = (n_p, T_p) the pixel's unit vector and the optional template values, theta =
(r, b) the dipole relative to the monopole and the template coefficients. With a flat prior on c0 > 0,

    int_0^inf prod_p Poisson(C_p | mu_p) dc0  ∝  exp[ sum_p C_p log(1 + theta . Z_p) ] / (S0 + theta . S_Z)^(N + 1)

(N = sum C_p, S0 = sum M_p, S_Z = sum M_p Z_p; the c0 integral is Gamma(N + 1) / A^(N + 1)), defined
where every mu_p > 0. Only pixels with C_p > 0 enter the first sum, so its cost is the number of occupied
pixels, not of used pixels.

For the dipole alone (no templates), g(r) = sum_p C_p log(1 + r . n_p) is also evaluated from the moments
of the counts: with log(1 + u) = sum_k (-1)^(k+1) u^k / k and u = r . n_p,

    g(r) = sum_{k=1..K} (-1)^(k+1) / k  sum_{a+b+c=k} k! / (a! b! c!)  r_x^a r_y^b r_z^c  m_abc,
    m_abc = sum_p C_p x_p^a y_p^b z_p^c,

whose truncation error is at most N |r|^(K+1) / ((K + 1) (1 - |r|)) (|u| <= |r| for unit vectors). Each
sample uses the series when that bound is below ``tolerance`` (1e-9 in log-likelihood: importance weights
change by < 1e-9 relative) and the exact sum otherwise; K is the smallest degree <= 16 for which the bound
holds at the largest |r| of the samples. For large samples (|r| ~ 1e-3, N ~ 1e8) K ~ 5 and a sample costs
~60 multiply-adds instead of one logarithm per occupied pixel.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from .fisher_scoring import expand_linear

MAX_DEGREE = 16
BLOCK = 2048  # samples (or pixels) per block: temporaries of a few MB


@functools.lru_cache(maxsize=MAX_DEGREE)
def _monomials(degree: int):
    """Exponents (a, b, c) of the monomials of degree 1..degree and the series coefficients."""
    exps, coefs = [], []
    for k in range(1, degree + 1):
        for a in range(k, -1, -1):
            for b in range(k - a, -1, -1):
                c = k - a - b
                exps.append((a, b, c))
                multinomial = math.factorial(k) // (math.factorial(a) * math.factorial(b) * math.factorial(c))
                coefs.append((-1.0) ** (k + 1) / k * multinomial)
    exps = np.array(exps, dtype=np.intp)
    return exps[:, 0], exps[:, 1], exps[:, 2], np.array(coefs)


def _powers(values, degree):
    """values[:, None] ** (0..degree), by repeated products (exact for 0 and 1)."""
    out = np.empty((values.shape[0], degree + 1))
    out[:, 0] = 1.0
    for k in range(1, degree + 1):
        out[:, k] = out[:, k - 1] * values
    return out


class MarginalLogLikelihood:
    """log L(theta) up to a constant, the monopole c0 marginalised (module docstring).

    The value is sum_p C_p log(1 + theta . Z_p) - (N + 1) log(1 + theta . S_Z / S0): the constant
    -(N + 1) log S0 is left out so that the numbers stay of the order of N |theta|.

    Parameters
    ----------
    counts, reference : arrays (n_used,)
        C_p and M_p on the used pixels.
    basis : array (n_used, d)
        Z_p: the unit vectors (x, y, z) of the pixels, then the template values (d = 3 + templates).
    tolerance : float
        Largest truncation error of the moment series, in log-likelihood units.
    """

    def __init__(self, counts, reference, basis, tolerance: float = 1e-9):
        counts = np.asarray(counts, dtype=np.float64)
        reference = np.asarray(reference, dtype=np.float64)
        basis = np.asarray(basis, dtype=np.float64)
        occupied = counts > 0
        self.basis = basis
        self.counts_occupied = counts[occupied]
        self.basis_occupied = basis[occupied]
        self.n_events = float(counts.sum())
        self.reference_sum = float(reference.sum())
        self.reference_moment = reference @ basis
        self.dipole_only = basis.shape[1] == 3
        self.tolerance = float(tolerance)
        self._moments = {}

    def _series_degree(self, radius: float) -> int | None:
        """Smallest degree whose truncation bound at |r| = radius is below the tolerance (None: none)."""
        if radius >= 1.0:
            return None
        for degree in range(1, MAX_DEGREE + 1):
            if self._bound(radius, degree) <= self.tolerance:
                return degree
        return None

    def _bound(self, radius, degree):
        return self.n_events * radius ** (degree + 1) / ((degree + 1) * (1.0 - radius))

    def _weighted_moments(self, degree: int) -> np.ndarray:
        """coefficient x m_abc for every monomial up to ``degree``."""
        if degree not in self._moments:
            ea, eb, ec, coefs = _monomials(degree)
            moments = np.zeros(coefs.size)
            for start in range(0, self.counts_occupied.size, BLOCK):
                z = self.basis_occupied[start:start + BLOCK]
                px, py, pz = (_powers(z[:, j], degree) for j in range(3))
                moments += self.counts_occupied[start:start + BLOCK] @ (px[:, ea] * py[:, eb] * pz[:, ec])
            self._moments[degree] = coefs * moments
        return self._moments[degree]

    def _series(self, theta, degree):
        ea, eb, ec, _ = _monomials(degree)
        weighted = self._weighted_moments(degree)
        out = np.empty(theta.shape[0])
        for start in range(0, theta.shape[0], BLOCK):
            r = theta[start:start + BLOCK]
            px, py, pz = (_powers(r[:, j], degree) for j in range(3))
            out[start:start + BLOCK] = (px[:, ea] * py[:, eb] * pz[:, ec]) @ weighted
        return out

    def _exact(self, theta):
        out = np.empty(theta.shape[0])
        step = max(1, BLOCK * 1024 // max(self.counts_occupied.size, 1))  # ~2e6 elements per block
        for start in range(0, theta.shape[0], step):
            u = expand_linear(theta[start:start + step], self.basis_occupied)
            with np.errstate(invalid="ignore", divide="ignore"):
                out[start:start + step] = np.log1p(u) @ self.counts_occupied
        return out

    def _positive(self, theta):
        """True where every mu_p > 0: 1 + theta . Z_p > 0 on every used pixel."""
        if self.dipole_only:
            radius = np.linalg.norm(theta, axis=1)
            ok = radius < 1.0  # |r . n| <= |r| < 1 for unit vectors
            check = np.flatnonzero(~ok)
        else:
            ok = np.zeros(theta.shape[0], dtype=bool)
            check = np.arange(theta.shape[0])
        for start in range(0, check.size, 256):
            rows = check[start:start + 256]
            ok[rows] = np.min(expand_linear(theta[rows], self.basis), axis=1) > -1.0
        return ok

    def __call__(self, theta) -> np.ndarray:
        """log L for each row of theta (n, d); -inf where some mu_p <= 0."""
        theta = np.asarray(theta, dtype=np.float64)
        out = np.full(theta.shape[0], -np.inf)
        valid = np.flatnonzero(self._positive(theta))
        if valid.size == 0:
            return out
        theta_valid = theta[valid]
        g = np.empty(valid.size)
        exact = np.ones(valid.size, dtype=bool)
        if self.dipole_only:
            radius = np.linalg.norm(theta_valid, axis=1)
            below = radius < 1.0
            degree = self._series_degree(float(radius[below].max())) if below.any() else None
            if degree is None and below.any():
                degree = MAX_DEGREE
            if degree is not None:
                exact = ~below | (self._bound(np.where(below, radius, 0.0), degree) > self.tolerance)
                series = np.flatnonzero(~exact)
                g[series] = self._series(theta_valid[series], degree)
        rows = np.flatnonzero(exact)
        if rows.size:
            g[rows] = self._exact(theta_valid[rows])
        # the constant (N + 1) log S0 is dropped: log1p keeps differences between samples exact to ~1e-16 N |r|
        out[valid] = g - (self.n_events + 1.0) * np.log1p(theta_valid @ self.reference_moment / self.reference_sum)
        return out
