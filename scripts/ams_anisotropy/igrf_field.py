"""The IGRF-13 internal geomagnetic field to its full degree, compiled (numba) for trajectory tracing.

The Gauss coefficients come from the coefficient file that the PyPI package ``ppigrf`` (pinned in
requirements.lock) ships, ``IGRF13.shc`` (IAGA V-MOD IGRF-13: Alken et al., Earth Planets Space 73 (2021)
49), read with ``ppigrf.read_shc``: nothing is typed by hand. At a decimal-year epoch the coefficients are
interpolated linearly between the 5-year models (after 2020 the file's 2025 column is IGRF 2020 plus
5 years of the predictive secular variation), as IGRF prescribes and as ``ppigrf`` does.

The synthesis is the usual one in geocentric spherical coordinates (r, colatitude theta, longitude phi),
with Schmidt semi-normalised associated Legendre functions built by their column recursion and cos(m phi),
sin(m phi) by the angle-addition recursion (no trigonometric call per evaluation); the field is returned
in Earth-fixed cartesian (ITRS/ECEF) components, nT. ``tests/test_tracing.py`` checks it against
``ppigrf.igrf_gc`` (independent numpy code of the same package) to < 1e-6 relative.

A pure centred dipole along the geographic axis (:meth:`IgrfField.axial_dipole`) is provided for the
known-answer tests of the tracer (Stoermer's cutoffs hold exactly for it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np

from .constants import IGRF_REFERENCE_RADIUS_KM

IGRF13_FIRST_YEAR = 1900.0  # IGRF-13 covers 1900-2025 (Alken et al. 2021)
IGRF13_LAST_YEAR = 2025.0


def igrf13_coefficient_file() -> Path:
    """Path of the IGRF-13 coefficient file shipped by ppigrf."""
    import ppigrf.ppigrf as ppigrf_module

    path = Path(ppigrf_module.shc_fn_igrf13)
    if not path.is_file():
        raise FileNotFoundError(f"ppigrf's IGRF-13 coefficient file {path} is missing (reinstall ppigrf)")
    return path


def _decimal_year_of(timestamps) -> np.ndarray:
    """Decimal years of pandas timestamps (the index of ppigrf.read_shc)."""
    years = np.array([t.year for t in timestamps], dtype=np.float64)
    start = np.array([np.datetime64(f"{int(y)}-01-01") for y in years], dtype="datetime64[s]")
    stop = np.array([np.datetime64(f"{int(y) + 1}-01-01") for y in years], dtype="datetime64[s]")
    t = np.array([np.datetime64(ts.to_datetime64(), "s") for ts in timestamps])
    return years + (t - start).astype(np.float64) / (stop - start).astype(np.float64)


def igrf13_gauss_coefficients(epoch_year: float) -> tuple[np.ndarray, np.ndarray]:
    """IGRF-13 Gauss coefficients g[n, m], h[n, m] (nT, n, m = 0..13) at a decimal year in [1900, 2025]."""
    from ppigrf.ppigrf import read_shc

    epoch_year = float(epoch_year)
    if not np.isfinite(epoch_year) or not IGRF13_FIRST_YEAR <= epoch_year <= IGRF13_LAST_YEAR:
        raise ValueError(f"IGRF-13 is defined for {IGRF13_FIRST_YEAR:g}-{IGRF13_LAST_YEAR:g}, got epoch {epoch_year!r}")
    g_frame, h_frame = read_shc(str(igrf13_coefficient_file()))
    years = _decimal_year_of(g_frame.index)
    keys = list(g_frame.columns)
    nmax = max(n for n, _ in keys)
    g = np.zeros((nmax + 1, nmax + 1))
    h = np.zeros((nmax + 1, nmax + 1))
    for n, m in keys:
        g[n, m] = np.interp(epoch_year, years, g_frame[(n, m)].to_numpy(dtype=np.float64))
        h[n, m] = np.interp(epoch_year, years, h_frame[(n, m)].to_numpy(dtype=np.float64))
    return g, h


def _recursion_constants(nmax: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Constants of the Schmidt semi-normalised Legendre recursion (see _field_xyz)."""
    a = np.zeros((nmax + 1, nmax + 1))
    b = np.zeros((nmax + 1, nmax + 1))
    diagonal = np.zeros(nmax + 1)
    for n in range(1, nmax + 1):
        diagonal[n] = 1.0 if n == 1 else np.sqrt((2.0 * n - 1.0) / (2.0 * n))
        for m in range(0, n):
            root = np.sqrt(n * n - m * m)
            a[n, m] = (2.0 * n - 1.0) / root
            b[n, m] = np.sqrt((n - 1.0) ** 2 - m * m) / root
    return a, b, diagonal


@numba.njit(cache=True, fastmath=False, nogil=True)
def _field_xyz(x, y, z, g, h, rec_a, rec_b, rec_diag, nmax, radius_km, out):
    """Internal field (nT) at the ECEF point (x, y, z) km, written into out[0:3].

    Potential V = a sum_n (a/r)^(n+1) sum_m (g_nm cos m phi + h_nm sin m phi) P_n^m(cos theta);
    B = -grad V. Schmidt P_n^m: P_1^1 = sin, P_n^n = sqrt((2n-1)/2n) sin P_(n-1)^(n-1) (n >= 2),
    P_n^m = [(2n-1) cos P_(n-1)^m - sqrt((n-1)^2 - m^2) P_(n-2)^m] / sqrt(n^2 - m^2) (n > m).
    """
    rho2 = x * x + y * y
    r = np.sqrt(rho2 + z * z)
    rho = np.sqrt(rho2)
    ct = z / r
    st = rho / r
    if rho > 1e-9 * r:
        cp = x / rho
        sp = y / rho
    else:  # on the axis: any longitude (B_phi term vanishes with the sin^m factor)
        cp = 1.0
        sp = 0.0
    st_safe = st if st > 1e-12 else 1e-12
    ar = radius_km / r
    br = 0.0
    bt = 0.0
    bp = 0.0
    cos_m = 1.0  # cos(m phi), sin(m phi) by angle addition
    sin_m = 0.0
    p_mm = 1.0  # P_m^m and its theta derivative
    dp_mm = 0.0
    for m in range(0, nmax + 1):
        if m >= 1:
            dp_mm_new = rec_diag[m] * (ct * p_mm + st * dp_mm)
            p_mm = rec_diag[m] * st * p_mm
            dp_mm = dp_mm_new
            cos_new = cos_m * cp - sin_m * sp
            sin_m = sin_m * cp + cos_m * sp
            cos_m = cos_new
        p_prev = 0.0  # P_(n-2)^m
        dp_prev = 0.0
        p_cur = p_mm  # P_(n-1)^m, starting at n = m
        dp_cur = dp_mm
        scale = ar ** (m + 2)  # (a/r)^(n+2) at n = m
        for n in range(m, nmax + 1):
            if n > m:
                p_new = rec_a[n, m] * ct * p_cur - rec_b[n, m] * p_prev
                dp_new = rec_a[n, m] * (ct * dp_cur - st * p_cur) - rec_b[n, m] * dp_prev
                p_prev = p_cur
                dp_prev = dp_cur
                p_cur = p_new
                dp_cur = dp_new
                scale *= ar
            if n >= 1:
                gc = g[n, m] * cos_m + h[n, m] * sin_m
                br += scale * (n + 1) * gc * p_cur
                bt -= scale * gc * dp_cur
                if m >= 1:
                    bp += scale * m * (g[n, m] * sin_m - h[n, m] * cos_m) * p_cur / st_safe
    out[0] = br * st * cp + bt * ct * cp - bp * sp
    out[1] = br * st * sp + bt * ct * sp + bp * cp
    out[2] = br * ct - bt * st


@numba.njit(cache=True, nogil=True)
def _field_many(positions_km, g, h, rec_a, rec_b, rec_diag, nmax, radius_km):
    out = np.empty_like(positions_km)
    buffer = np.empty(3)
    for i in range(positions_km.shape[0]):
        _field_xyz(positions_km[i, 0], positions_km[i, 1], positions_km[i, 2], g, h, rec_a, rec_b, rec_diag,
                   nmax, radius_km, buffer)
        out[i, 0] = buffer[0]
        out[i, 1] = buffer[1]
        out[i, 2] = buffer[2]
    return out


@dataclass(frozen=True)
class IgrfField:
    """Gauss coefficients g[n, m], h[n, m] (nT) of an internal field, with what the tracer needs.

    Build it with :meth:`igrf13` (the IGRF-13 model at an epoch, full degree 13 by default) or
    :meth:`axial_dipole`. ``label`` names the model in table metadata.
    """

    g_nt: np.ndarray
    h_nt: np.ndarray
    epoch_year: float
    label: str
    radius_km: float = IGRF_REFERENCE_RADIUS_KM

    def __post_init__(self):
        g = np.ascontiguousarray(self.g_nt, dtype=np.float64)
        h = np.ascontiguousarray(self.h_nt, dtype=np.float64)
        if g.ndim != 2 or g.shape[0] != g.shape[1] or g.shape != h.shape or g.shape[0] < 2:
            raise ValueError(f"IgrfField: g and h must be square (nmax+1, nmax+1) arrays, got {g.shape}, {h.shape}")
        if not (np.all(np.isfinite(g)) and np.all(np.isfinite(h))) or not np.any(g[1:] != 0.0):
            raise ValueError("IgrfField: Gauss coefficients must be finite and not all zero")
        object.__setattr__(self, "g_nt", g)
        object.__setattr__(self, "h_nt", h)
        a, b, diagonal = _recursion_constants(g.shape[0] - 1)
        object.__setattr__(self, "_recursion", (a, b, diagonal))

    @classmethod
    def igrf13(cls, epoch_year: float, max_degree: int = 13) -> IgrfField:
        """IGRF-13 at a decimal year, truncated at ``max_degree`` (13 = the model's full degree)."""
        if not 1 <= int(max_degree) <= 13:
            raise ValueError(f"IGRF-13 max_degree must be 1..13, got {max_degree!r}")
        g, h = igrf13_gauss_coefficients(epoch_year)
        n = int(max_degree)
        return cls(g[: n + 1, : n + 1].copy(), h[: n + 1, : n + 1].copy(), float(epoch_year), f"IGRF-13 n<={n}")

    @classmethod
    def axial_dipole(cls, b0_nt: float) -> IgrfField:
        """A centred dipole along the geographic axis with equatorial surface field b0_nt (g10 = -b0_nt)."""
        if not np.isfinite(b0_nt) or b0_nt <= 0.0:
            raise ValueError(f"axial_dipole: b0_nt must be positive, got {b0_nt!r}")
        g = np.zeros((2, 2))
        g[1, 0] = -float(b0_nt)
        return cls(g, np.zeros((2, 2)), float("nan"), f"axial dipole B0={b0_nt:g} nT")

    @property
    def nmax(self) -> int:
        return self.g_nt.shape[0] - 1

    @property
    def kernel_arguments(self) -> tuple:
        """(g, h, rec_a, rec_b, rec_diag, nmax, radius_km): the arguments of the compiled synthesis."""
        a, b, diagonal = self._recursion
        return (self.g_nt, self.h_nt, a, b, diagonal, self.nmax, float(self.radius_km))

    def field_nt(self, position_ecef_km) -> np.ndarray:
        """Field (n, 3) in nT, ECEF components, at ECEF positions (n, 3) in km (r > 0)."""
        p = np.ascontiguousarray(np.atleast_2d(np.asarray(position_ecef_km, dtype=np.float64)))
        if p.ndim != 2 or p.shape[1] != 3 or not np.all(np.isfinite(p)):
            raise ValueError(f"position_ecef_km must be finite with shape (n, 3), got {np.shape(position_ecef_km)}")
        if np.any(np.einsum("ij,ij->i", p, p) == 0.0):
            raise ValueError("field_nt: a position is at the geocentre")
        return _field_many(p, *self.kernel_arguments)
