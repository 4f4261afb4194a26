"""AMS-02 flux tables: reading, interpolation, integral spectra and sampling.

The tables are the CRDB exports of the AMS-02 fluxes (AMS Collaboration, Physics Reports 894
(2021) 1; ``resources/ams02-fluxes/``): ``#`` header lines, then one row per bin with six numbers
``x, flux, stat_low, stat_high, syst_low, syst_high``, x the rigidity in GV (the energy in GeV for
e±, where E = |R| to better than 1e-6 above 1 GeV) and the flux in m^-2 sr^-1 s^-1 GV^-1.

Model of the spectrum (stated for the README):

* between two table points the flux is a power law (straight line in log-log), i.e. log-log
  interpolation of the bin centres;
* beyond the last point the flux continues as a power law whose index is the least-squares slope
  of log(flux) vs log(x) over the last ``n_tail_points`` points (default 4); below the first point
  likewise with the first ``n_tail_points`` points. The high-rigidity index must be steeper than
  -1 so that the integral spectrum converges (all six AMS tables have indices near -2.7 to -3.3);
* integrals and the inverse cumulative distribution are exact for this piecewise power law (no
  numerical quadrature), so sampling is an exact inverse-CDF on the table's own log grid.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .io import InputError

# |gamma + 1| below this is treated as the gamma = -1 (logarithmic) case of a power-law integral
_LOG_CASE_TOLERANCE = 1e-9


def _segment_integral(flux_a, a, log_ratio, gamma):
    """Integral of flux_a (x/a)^gamma from a to a*exp(log_ratio) (vectorised, stable near gamma=-1)."""
    g1 = gamma + 1.0
    small = np.abs(g1) < _LOG_CASE_TOLERANCE
    safe_g1 = np.where(small, 1.0, g1)
    general = np.expm1(safe_g1 * log_ratio) / safe_g1
    logcase = log_ratio * (1.0 + 0.5 * g1 * log_ratio)
    return flux_a * a * np.where(small, logcase, general)


def _segment_inverse(flux_a, a, integral, gamma):
    """x such that the integral of flux_a (t/a)^gamma from a to x equals ``integral``."""
    g1 = gamma + 1.0
    small = np.abs(g1) < _LOG_CASE_TOLERANCE
    safe_g1 = np.where(small, 1.0, g1)
    scaled = integral / (flux_a * a)
    with np.errstate(invalid="ignore", divide="ignore"):
        general = np.log1p(safe_g1 * scaled) / safe_g1
    return a * np.exp(np.where(small, scaled, general))


@dataclass(frozen=True, eq=False)
class FluxTable:
    """A differential flux vs rigidity, piecewise power law with power-law extrapolation.

    Parameters
    ----------
    rigidity_gv : array
        Bin centres (GV; GeV for e±), strictly increasing, positive.
    table_flux : array
        Differential flux at those points, m^-2 sr^-1 s^-1 GV^-1, positive.
    stat_low, stat_high, syst_low, syst_high : array, optional
        Errors of the flux (same unit); kept for reference, not used by the model.
    name : str
        A label used in messages (the file name by default).
    n_tail_points : int
        Number of table points used to fit the power-law index of each extrapolation (>= 2).
    """

    rigidity_gv: np.ndarray
    table_flux: np.ndarray
    stat_low: np.ndarray | None = None
    stat_high: np.ndarray | None = None
    syst_low: np.ndarray | None = None
    syst_high: np.ndarray | None = None
    name: str = "flux table"
    n_tail_points: int = 4
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self):
        x = np.asarray(self.rigidity_gv, dtype=np.float64)
        y = np.asarray(self.table_flux, dtype=np.float64)
        object.__setattr__(self, "rigidity_gv", x)
        object.__setattr__(self, "table_flux", y)
        where = self.name
        if x.ndim != 1 or x.shape != y.shape:
            raise InputError(f"{where}: rigidity and flux must be 1-d arrays of the same length")
        if x.size < max(3, self.n_tail_points):
            raise InputError(f"{where}: at least {max(3, self.n_tail_points)} rows needed, got {x.size}")
        if self.n_tail_points < 2:
            raise ValueError(f"{where}: n_tail_points must be >= 2, got {self.n_tail_points}")
        if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
            raise InputError(f"{where}: non-finite rigidity or flux value")
        if np.any(x <= 0) or np.any(y <= 0):
            raise InputError(f"{where}: rigidity and flux must be positive")
        steps = np.diff(x)
        if np.any(steps <= 0):
            row = int(np.flatnonzero(steps <= 0)[0]) + 1
            raise InputError(
                f"{where}: rigidity column is not strictly increasing (row {row + 1} of the data: "
                f"{x[row]:g} after {x[row - 1]:g})"
            )
        lx, ly = np.log(x), np.log(y)
        gammas = np.diff(ly) / np.diff(lx)
        k = self.n_tail_points
        gamma_low = float(np.polyfit(lx[:k], ly[:k], 1)[0])
        gamma_high = float(np.polyfit(lx[-k:], ly[-k:], 1)[0])
        if not gamma_high < -1.0:
            raise InputError(
                f"{where}: the power-law index fitted to the last {k} points is {gamma_high:.3f}; it must be "
                "below -1 for the integral spectrum to converge"
            )
        seg = _segment_integral(y[:-1], x[:-1], np.diff(lx), gammas)
        tail = -y[-1] * x[-1] / (gamma_high + 1.0)
        # integral above each table node: F(>x_i)
        above_nodes = tail + np.concatenate([np.cumsum(seg[::-1])[::-1], [0.0]])
        self._cache.update(gammas=gammas, gamma_low=gamma_low, gamma_high=gamma_high, above_nodes=above_nodes)

    # ---------------------------------------------------------------------------------------
    @classmethod
    def from_file(cls, path, name: str | None = None, n_tail_points: int = 4) -> FluxTable:
        """Read a CRDB flux table (six numeric columns; '#' comment lines).

        Raises :class:`io.InputError` naming the file for a missing file, a row without six numbers
        (malformed or truncated table), non-positive or non-finite values, fewer rows than needed,
        or a non-increasing rigidity column.
        """
        path = Path(path)
        if not path.is_file():
            raise InputError(f"{path}: flux table does not exist")
        rows = []
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as err:
            raise InputError(f"{path}: cannot read the flux table ({err})") from err
        for number, line in enumerate(text.splitlines(), start=1):
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            fields = stripped.split()
            if len(fields) != 6:
                raise InputError(
                    f"{path}: line {number} has {len(fields)} column(s), expected 6 "
                    "(x, flux, stat low/high, syst low/high): malformed or truncated table"
                )
            try:
                rows.append([float(v) for v in fields])
            except ValueError as err:
                raise InputError(f"{path}: line {number} is not numeric ({err})") from err
        if not rows:
            raise InputError(f"{path}: no data rows in the flux table")
        data = np.array(rows)
        if np.any(data[:, 2:] < 0) or not np.all(np.isfinite(data)):
            raise InputError(f"{path}: negative or non-finite error column")
        return cls(
            rigidity_gv=data[:, 0],
            table_flux=data[:, 1],
            stat_low=data[:, 2],
            stat_high=data[:, 3],
            syst_low=data[:, 4],
            syst_high=data[:, 5],
            name=str(name if name is not None else path),
            n_tail_points=n_tail_points,
        )

    # ---------------------------------------------------------------------------------------
    @property
    def index_low(self) -> float:
        """Power-law index used below the first table point."""
        return self._cache["gamma_low"]

    @property
    def index_high(self) -> float:
        """Power-law index used above the last table point."""
        return self._cache["gamma_high"]

    def scaled(self, ratio: float, index_change: float = 0.0, pivot_gv: float = 1.0, name: str | None = None):
        """A new table with flux x ratio x (R / pivot_gv)^index_change (e.g. B = C x B/C).

        ``ratio`` is dimensionless, ``pivot_gv`` in GV; the errors are scaled the same way.
        """
        if not (ratio > 0 and np.isfinite(ratio) and pivot_gv > 0):
            raise ValueError(f"{self.name}: ratio and pivot_gv must be positive, got {ratio}, {pivot_gv}")
        factor = ratio * (self.rigidity_gv / pivot_gv) ** index_change

        def scale(values):
            return None if values is None else values * factor

        return FluxTable(
            rigidity_gv=self.rigidity_gv,
            table_flux=self.table_flux * factor,
            stat_low=scale(self.stat_low),
            stat_high=scale(self.stat_high),
            syst_low=scale(self.syst_low),
            syst_high=scale(self.syst_high),
            name=name or f"{self.name} x {ratio:g}",
            n_tail_points=self.n_tail_points,
        )

    def _locate(self, rigidity_gv):
        """Segment index (-1 below the table, n-1 above) and the node flux/index for each rigidity."""
        c = self._cache
        x, y = self.rigidity_gv, self.table_flux
        r = np.asarray(rigidity_gv, dtype=np.float64)
        if np.any(~(r > 0)):
            raise ValueError(f"{self.name}: rigidities must be positive (GV), got min {np.nanmin(r)!r}")
        k = np.searchsorted(x, r, side="right") - 1  # -1 .. n-1
        n = x.size
        gam = np.empty_like(r)
        inside = (k >= 0) & (k < n - 1)
        gam[inside] = c["gammas"][k[inside]]
        gam[k < 0] = c["gamma_low"]
        gam[k >= n - 1] = c["gamma_high"]
        node = np.clip(k, 0, n - 1)
        return r, k, node, x[node], y[node], gam

    def flux(self, rigidity_gv) -> np.ndarray:
        """Differential flux (m^-2 sr^-1 s^-1 GV^-1) at rigidities in GV."""
        r, _, _, xa, ya, gam = self._locate(rigidity_gv)
        return ya * (r / xa) ** gam

    def integral_above(self, rigidity_gv) -> np.ndarray:
        """F(>R): integral flux above R (m^-2 sr^-1 s^-1), exact for the piecewise power law."""
        c = self._cache
        r, k, node, xa, ya, gam = self._locate(rigidity_gv)
        n = self.rigidity_gv.size
        log_ratio = np.log(r / xa)
        from_node = _segment_integral(ya, xa, log_ratio, gam)  # integral from the node to r (signed)
        result = np.empty_like(r)
        above = k >= n - 1
        result[above] = c["above_nodes"][-1] - from_node[above]
        mid = (k >= 0) & ~above
        result[mid] = c["above_nodes"][k[mid]] - from_node[mid]
        below = k < 0
        # below the table the node is x_0 and log_ratio < 0: integral from r to x_0 = -from_node
        result[below] = c["above_nodes"][0] - from_node[below]
        return result

    def integral_flux(self, r_min_gv, r_max_gv=np.inf) -> np.ndarray:
        """Integral flux between r_min_gv and r_max_gv (GV; r_max may be inf), m^-2 sr^-1 s^-1."""
        r_min = np.asarray(r_min_gv, dtype=np.float64)
        r_max = np.asarray(r_max_gv, dtype=np.float64)
        if np.any(r_max < r_min):
            raise ValueError(f"{self.name}: r_max_gv must not be below r_min_gv")
        upper = np.where(np.isinf(r_max), 0.0, self.integral_above(np.where(np.isinf(r_max), 1.0, r_max)))
        return self.integral_above(r_min) - upper

    def fraction_above(self, r_gv, r_threshold_gv) -> np.ndarray:
        """F(>max(R, R_thr)) / F(>R_thr): the fraction of the spectrum above the threshold R_thr (GV)
        that is also above R (GV). With R = 1.2 x max cutoff it is the reference-map weight w_k."""
        r = np.asarray(r_gv, dtype=np.float64)
        thr = np.asarray(r_threshold_gv, dtype=np.float64)
        return self.integral_above(np.maximum(r, thr)) / self.integral_above(thr)

    def sample(self, rng: np.random.Generator, n: int, r_min_gv: float, r_max_gv: float | None = None):
        """Draw n rigidities (GV) from the spectrum between r_min_gv and r_max_gv (None: no upper edge).

        Exact inverse CDF of the piecewise power law: a uniform number picks the integral-flux level
        F(>R) between F(>r_max) and F(>r_min), the table node below it, then the power law is inverted
        analytically inside that segment (so the table's log grid is the sampling grid).
        """
        n = int(n)
        if n < 0:
            raise ValueError(f"{self.name}: cannot draw a negative number of rigidities ({n})")
        if not r_min_gv > 0:
            raise ValueError(f"{self.name}: r_min_gv must be positive, got {r_min_gv!r}")
        if r_max_gv is not None and not r_max_gv > r_min_gv:
            raise ValueError(f"{self.name}: r_max_gv ({r_max_gv}) must exceed r_min_gv ({r_min_gv})")
        c = self._cache
        f_lo = float(self.integral_above(r_min_gv))
        f_hi = 0.0 if r_max_gv is None else float(self.integral_above(r_max_gv))
        # level counted from the high end keeps precision in the far tail
        level = f_hi + rng.random(n) * (f_lo - f_hi)
        level = np.clip(level, np.nextafter(0.0, 1.0), f_lo)
        x, y = self.rigidity_gv, self.table_flux
        above_nodes = c["above_nodes"]  # decreasing
        nx = x.size
        # index of the last node whose F(>x_i) >= level (i.e. x_i <= R); -1 below the table
        k = np.searchsorted(-above_nodes, -level, side="right") - 1
        out = np.empty(n)
        below = k < 0
        top = k >= nx - 1
        mid = ~below & ~top
        # inside the table: integral from x_k to R equals F(>x_k) - level
        if mid.any():
            km = k[mid]
            out[mid] = _segment_inverse(y[km], x[km], above_nodes[km] - level[mid], c["gammas"][km])
        if top.any():  # F(>R) = F(>x_last) (R/x_last)^(gamma+1)
            g1 = c["gamma_high"] + 1.0
            out[top] = x[-1] * (level[top] / above_nodes[-1]) ** (1.0 / g1)
        if below.any():  # integral from R to x_0 = level - F(>x_0): invert from the node downwards
            out[below] = _segment_inverse(y[0], x[0], -(level[below] - above_nodes[0]), c["gamma_low"])
        hi = np.inf if r_max_gv is None else r_max_gv
        return np.clip(out, r_min_gv, hi)
