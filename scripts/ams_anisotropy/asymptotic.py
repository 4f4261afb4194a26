"""Cached table of asymptotic directions over (ISS position, local direction, rigidity) and its lookup.

Grid (all set by :func:`build_asymptotic_table`, defaults in :class:`TableGrid`):

* position: geodetic latitude nodes (deg) x longitude nodes (deg, periodic over 360) at one altitude (km);
* local arrival direction: gnomonic coordinates ``(t_e, t_n) = (d_E / d_U, d_N / d_U)`` of the ENU unit
  vector d, on a square grid ``[-t_max, t_max]^2`` (t_max = tan(max_zenith_deg)): a cone of max_zenith_deg
  around the zenith is inside it (its corners reach further);
* rigidity nodes (GV, ascending), interpolated linearly in 1/R (the deflection of a particle is ~ 1/R at
  high rigidity). Above the last node the table interpolates towards R = infinity, where the asymptotic
  direction is the local direction itself (no deflection; allowed);
* charge sign -1 and +1.

Stored per node: the deflection (asymptotic minus local direction) in the local ENU frame of the node (zero in
the undeflected limit, and interpolating between positions does not mix frames) and the allowed flag.
A lookup interpolates multilinearly over the 32 corners of the 5-d cell (lat, lon, t_e, t_n, 1/R): the
allowed fraction is the weighted mean of the flags, ``allowed = fraction >= 0.5``, and the direction is the
event's local direction plus the weighted mean deflection of the allowed corners, normalised, then rotated
from the ENU frame of the event position to ECEF. The cutoffs (R_U, R_L, R_C) of each (position, direction)
node are computed from its rigidity scan at build time (:func:`ams_anisotropy.tracing.effective_cutoff_gv`)
and interpolated in 4-d.

The file is a NumPy ``.npz`` (no pickle: ``numpy.load(allow_pickle=False)``) with the grids, the
deflection, allowed-flag and cutoff arrays and a JSON metadata string (field model, epoch, altitude,
tracer settings, package versions).
"""

from __future__ import annotations

import importlib.metadata
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numba
import numpy as np

from .igrf_field import IgrfField
from .io import atomic_path
from .tracing import TraceSettings, effective_cutoff_gv, enu_axes_ecef, trace_trajectories

FORMAT_VERSION = 1


@dataclass(frozen=True)
class TableGrid:
    """Node grids of a table. Defaults: the production table of docs/geomagnetic_tracing.md."""

    lat_deg: tuple = tuple(np.arange(-54.0, 54.0 + 1e-9, 4.0))
    lon_deg: tuple = tuple(np.arange(-180.0, 180.0 - 1e-9, 6.0))
    alt_km: float = 410.0
    max_zenith_deg: float = 50.0
    n_direction: int = 9  # nodes per gnomonic axis
    rigidity_gv: tuple = tuple(np.concatenate([np.arange(10.0, 30.0, 1.0), 30.0 * 1.2 ** np.arange(0, 20)]))

    def __post_init__(self):
        lat = np.asarray(self.lat_deg, dtype=float)
        lon = np.asarray(self.lon_deg, dtype=float)
        rig = np.asarray(self.rigidity_gv, dtype=float)
        problems = []
        if lat.size < 2 or np.any(np.diff(lat) <= 0) or lat[0] < -89 or lat[-1] > 89:
            problems.append("lat_deg must be >= 2 ascending nodes within (-89, 89)")
        if lon.size < 2 or np.any(np.diff(lon) <= 0) or lon[-1] - lon[0] >= 360.0:
            problems.append("lon_deg must be >= 2 ascending nodes spanning less than 360 deg")
        if rig.size < 2 or np.any(np.diff(rig) <= 0) or rig[0] <= 0:
            problems.append("rigidity_gv must be >= 2 ascending positive nodes")
        if not 5.0 <= self.max_zenith_deg <= 80.0 or self.n_direction < 3:
            problems.append("max_zenith_deg must be in [5, 80] and n_direction >= 3")
        if not 20.0 < self.alt_km < 2000.0:
            problems.append("alt_km must be in (20, 2000)")
        if problems:
            raise ValueError("TableGrid: " + "; ".join(problems))

    @property
    def tan_nodes(self) -> np.ndarray:
        t = np.tan(np.radians(self.max_zenith_deg))
        return np.linspace(-t, t, self.n_direction)

    @property
    def n_trajectories(self) -> int:
        return 2 * len(self.lat_deg) * len(self.lon_deg) * self.n_direction**2 * len(self.rigidity_gv)


def grid_from_config(section: dict | None) -> tuple[TableGrid, TraceSettings]:
    """TableGrid and TraceSettings from a config section (keys below; missing keys take the defaults).

    lat_max_deg, lat_step_deg, lon_step_deg, alt_km, max_zenith_deg, n_direction,
    rigidity_fine_gv [start, stop, step] (linear nodes), rigidity_log_gv [start, ratio, count] (log nodes),
    tolerance, boundary_earth_radii, max_path_earth_radii.
    """
    section = dict(section or {})
    known = {"lat_max_deg", "lat_step_deg", "lon_step_deg", "alt_km", "max_zenith_deg", "n_direction",
             "rigidity_fine_gv", "rigidity_log_gv", "tolerance", "boundary_earth_radii", "max_path_earth_radii",
             "epochs_year", "epoch_year"}
    unknown = sorted(set(section) - known)
    if unknown:
        raise ValueError(f"config tracing: unknown key(s) {unknown}")
    kwargs = {}
    if "lat_max_deg" in section or "lat_step_deg" in section:
        top, step = float(section.get("lat_max_deg", 54.0)), float(section.get("lat_step_deg", 4.0))
        kwargs["lat_deg"] = tuple(np.arange(-top, top + 1e-9, step))
    if "lon_step_deg" in section:
        kwargs["lon_deg"] = tuple(np.arange(-180.0, 180.0 - 1e-9, float(section["lon_step_deg"])))
    for key in ("alt_km", "max_zenith_deg"):
        if key in section:
            kwargs[key] = float(section[key])
    if "n_direction" in section:
        kwargs["n_direction"] = int(section["n_direction"])
    if "rigidity_fine_gv" in section or "rigidity_log_gv" in section:
        start, stop, step = section.get("rigidity_fine_gv", [10.0, 30.0, 1.0])
        first, ratio, count = section.get("rigidity_log_gv", [30.0, 1.2, 20])
        kwargs["rigidity_gv"] = tuple(np.concatenate([np.arange(float(start), float(stop) - 1e-9, float(step)),
                                                      float(first) * float(ratio) ** np.arange(int(count))]))
    grid = TableGrid(**kwargs)
    settings = TraceSettings(**{k: section[k] for k in ("tolerance", "boundary_earth_radii", "max_path_earth_radii")
                                if k in section})
    return grid, settings


def _is_periodic(lon_deg) -> bool:
    lon = np.asarray(lon_deg, dtype=float)
    step = np.diff(lon)
    return bool(np.allclose(step, step[0]) and np.isclose(lon[-1] + step[0], lon[0] + 360.0))


def _gnomonic_to_enu(t_e, t_n) -> np.ndarray:
    d = np.stack([t_e, t_n, np.ones_like(t_e)], axis=-1)
    return d / np.linalg.norm(d, axis=-1, keepdims=True)


def _node_cutoffs(rigidity_gv, allowed) -> np.ndarray:
    """(…, n_r) flags -> (…, 3) cutoffs R_U, R_L, R_C (GV)."""
    flat = allowed.reshape(-1, allowed.shape[-1])
    out = np.array([effective_cutoff_gv(rigidity_gv, row) for row in flat], dtype=np.float64)
    return out.reshape(allowed.shape[:-1] + (3,))


def build_asymptotic_table(field: IgrfField, grid: TableGrid | None = None, settings: TraceSettings | None = None,
                           progress=None) -> AsymptoticTable:
    """Trace every node of ``grid`` through ``field`` and return the table (one latitude row at a time;
    ``progress(i_row, n_rows)`` is called after each row)."""
    grid = grid or TableGrid()
    settings = settings or TraceSettings()
    lat = np.asarray(grid.lat_deg, dtype=float)
    lon = np.asarray(grid.lon_deg, dtype=float)
    rig = np.asarray(grid.rigidity_gv, dtype=float)
    t = grid.tan_nodes
    te, tn = np.meshgrid(t, t, indexing="ij")
    d_enu = _gnomonic_to_enu(te, tn)  # (nt, nt, 3)
    signs = np.array([-1, 1], dtype=np.int8)
    shape = (2, lat.size, lon.size, t.size, t.size, rig.size)
    asym = np.full(shape + (3,), np.nan, dtype=np.float32)
    allowed = np.zeros(shape, dtype=np.uint8)
    # broadcast one latitude row: (sign, lon, te, tn, R)
    s_idx, lo_idx, a_idx, b_idx, r_idx = np.meshgrid(np.arange(2), np.arange(lon.size), np.arange(t.size),
                                                     np.arange(t.size), np.arange(rig.size), indexing="ij")
    s_idx, lo_idx, a_idx, b_idx, r_idx = (v.ravel() for v in (s_idx, lo_idx, a_idx, b_idx, r_idx))
    for i, la in enumerate(lat):
        result = trace_trajectories(field, la, lon[lo_idx], grid.alt_km, d_enu[a_idx, b_idx], rig[r_idx],
                                    signs[s_idx], settings)
        east, north, up = enu_axes_ecef(np.full(lo_idx.size, la), lon[lo_idx])
        v = result.asymptotic_ecef
        local = np.stack([np.einsum("ij,ij->i", v, east), np.einsum("ij,ij->i", v, north),
                          np.einsum("ij,ij->i", v, up)], axis=-1)
        # store the deflection: asymptotic minus local direction, in the node's ENU frame
        asym[s_idx, i, lo_idx, a_idx, b_idx, r_idx] = (local - d_enu[a_idx, b_idx]).astype(np.float32)
        allowed[s_idx, i, lo_idx, a_idx, b_idx, r_idx] = result.allowed
        if progress is not None:
            progress(i + 1, lat.size)
    cutoffs = _node_cutoffs(rig, allowed.astype(bool)).astype(np.float32)
    metadata = {
        "format_version": FORMAT_VERSION,
        "field": field.label,
        "epoch_year": field.epoch_year,
        "alt_km": grid.alt_km,
        "max_zenith_deg": grid.max_zenith_deg,
        "trace_settings": asdict(settings),
        "coefficients": "ppigrf IGRF13.shc" if field.label.startswith("IGRF") else "analytic",
        "versions": {name: importlib.metadata.version(name) for name in ("ppigrf", "numba", "numpy")},
    }
    return AsymptoticTable(lat, lon, t, rig, asym, allowed, cutoffs, metadata)


@numba.njit(cache=True, nogil=True)
def _cell(nodes, x):
    """Index i and weight w of x in ascending nodes (clamped to the first/last cell)."""
    n = nodes.shape[0]
    i = np.searchsorted(nodes, x) - 1
    if i < 0:
        i = 0
    if i > n - 2:
        i = n - 2
    w = (x - nodes[i]) / (nodes[i + 1] - nodes[i])
    return i, w


@numba.njit(cache=True, nogil=True, parallel=True)
def _lookup_kernel(lat, lon, t_e, t_n, u, sign_index, lat_nodes, lon_nodes, t_nodes, u_nodes, asym, allowed,
                   local_dirs, periodic, out_dir, out_fraction):
    """u = -1/R of the events; u_nodes = -1/R of the table nodes plus the infinity node u = 0 (last)."""
    n_lon = lon_nodes.shape[0]
    n_r = u_nodes.shape[0]
    for k in numba.prange(lat.shape[0]):
        i0, wi = _cell(lat_nodes, lat[k])
        if periodic:
            span = lon[k] - lon_nodes[0]
            span = span - 360.0 * np.floor(span / 360.0)
            x = lon_nodes[0] + span
            j0 = np.searchsorted(lon_nodes, x, side="right") - 1
            j1 = (j0 + 1) % n_lon
            upper = lon_nodes[j1] if j1 > j0 else lon_nodes[0] + 360.0
            wj = (x - lon_nodes[j0]) / (upper - lon_nodes[j0])
        else:
            j0, wj = _cell(lon_nodes, lon[k])
            j1 = j0 + 1
        a0, wa = _cell(t_nodes, t_e[k])
        b0, wb = _cell(t_nodes, t_n[k])
        r0, wr = _cell(u_nodes, u[k])
        s = sign_index[k]
        fraction = 0.0
        vx = 0.0
        vy = 0.0
        vz = 0.0
        for ci in range(2):
            w1 = wi if ci else 1.0 - wi
            ii = i0 + ci
            for cj in range(2):
                w2 = w1 * (wj if cj else 1.0 - wj)
                jj = j1 if cj else j0
                for ca in range(2):
                    w3 = w2 * (wa if ca else 1.0 - wa)
                    for cb in range(2):
                        w4 = w3 * (wb if cb else 1.0 - wb)
                        for cr in range(2):
                            w = w4 * (wr if cr else 1.0 - wr)
                            rr = r0 + cr
                            if w == 0.0:
                                continue
                            if rr == n_r - 1:  # infinity node: undeflected (zero deflection), allowed
                                fraction += w
                            else:
                                rt = rr
                                if allowed[s, ii, jj, a0 + ca, b0 + cb, rt]:
                                    fraction += w
                                    vx += w * asym[s, ii, jj, a0 + ca, b0 + cb, rt, 0]
                                    vy += w * asym[s, ii, jj, a0 + ca, b0 + cb, rt, 1]
                                    vz += w * asym[s, ii, jj, a0 + ca, b0 + cb, rt, 2]
        out_fraction[k] = fraction
        if fraction > 0.0:  # event direction + mean deflection of the allowed corners
            vx = local_dirs[k, 0] + vx / fraction
            vy = local_dirs[k, 1] + vy / fraction
            vz = local_dirs[k, 2] + vz / fraction
        norm = np.sqrt(vx * vx + vy * vy + vz * vz)
        if fraction > 0.0 and norm > 0.0:
            out_dir[k, 0] = vx / norm
            out_dir[k, 1] = vy / norm
            out_dir[k, 2] = vz / norm
        else:
            out_dir[k, 0] = np.nan
            out_dir[k, 1] = np.nan
            out_dir[k, 2] = np.nan


@dataclass(frozen=True)
class AsymptoticTable:
    """A table of asymptotic directions; build with :func:`build_asymptotic_table`, or :meth:`load`."""

    lat_deg: np.ndarray
    lon_deg: np.ndarray
    tan_nodes: np.ndarray
    rigidity_gv: np.ndarray
    deflection_enu: np.ndarray  # (2, n_lat, n_lon, n_t, n_t, n_r, 3) float32 asymptotic - local direction (ENU),
    #                             sign index 0: -1, 1: +1; NaN where forbidden
    allowed: np.ndarray  # (2, n_lat, n_lon, n_t, n_t, n_r) uint8
    cutoffs_gv: np.ndarray  # (2, n_lat, n_lon, n_t, n_t, 3) float32: R_U, R_L, R_C
    metadata: dict

    @property
    def lon_periodic(self) -> bool:
        """True when the longitude nodes are uniform and close the circle (a global table)."""
        return _is_periodic(self.lon_deg)

    @property
    def alt_km(self) -> float:
        return float(self.metadata["alt_km"])

    def save(self, path) -> None:
        """Write the table as .npz (atomically)."""
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.savez_compressed(
                handle, lat_deg=self.lat_deg, lon_deg=self.lon_deg, tan_nodes=self.tan_nodes,
                rigidity_gv=self.rigidity_gv, deflection_enu=self.deflection_enu, allowed=self.allowed,
                cutoffs_gv=self.cutoffs_gv, metadata=np.array(json.dumps(self.metadata, sort_keys=True)),
            )

    @classmethod
    def load(cls, path) -> AsymptoticTable:
        """Read a table written by :meth:`save` (clear error naming the file when it is not one)."""
        path = Path(path)
        keys = ("lat_deg", "lon_deg", "tan_nodes", "rigidity_gv", "deflection_enu", "allowed", "cutoffs_gv",
                "metadata")
        try:
            with np.load(path, allow_pickle=False) as data:
                missing = [k for k in keys if k not in data.files]
                if missing:
                    raise ValueError(f"{path}: not an asymptotic-direction table (missing {missing})")
                arrays = {k: data[k] for k in keys}
        except (OSError, ValueError) as error:
            raise ValueError(f"{path}: cannot read the asymptotic-direction table: {error}") from error
        metadata = json.loads(str(arrays.pop("metadata")))
        if metadata.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{path}: table format {metadata.get('format_version')} != {FORMAT_VERSION}; rebuild it")
        table = cls(metadata=metadata, **arrays)
        expected = (2, table.lat_deg.size, table.lon_deg.size, table.tan_nodes.size, table.tan_nodes.size,
                    table.rigidity_gv.size)
        if table.allowed.shape != expected or table.deflection_enu.shape != expected + (3,):
            raise ValueError(f"{path}: array shapes {table.allowed.shape} do not match the grids {expected}")
        return table

    def _prepare(self, lat_deg, lon_deg, local_dir_enu, rigidity_gv, charge_sign, clamp=False):
        d = np.atleast_2d(np.asarray(local_dir_enu, dtype=np.float64))
        n = d.shape[0]
        try:
            lat, lon, rig, sign = (np.broadcast_to(np.asarray(v, dtype=np.float64).reshape(-1), (n,)).copy()
                                   for v in (lat_deg, lon_deg, rigidity_gv, charge_sign))
        except ValueError as error:
            raise ValueError(f"lookup: lat/lon/rigidity/charge must be scalars or have length {n}") from error
        if d.shape[1] != 3 or not np.all(np.isfinite(d)) or not all(np.all(np.isfinite(v)) for v in (lat, lon, rig)):
            raise ValueError("lookup: inputs must be finite; local_dir_enu has shape (n, 3)")
        if np.any(d[:, 2] <= 0.0):
            raise ValueError(f"lookup: {int((d[:, 2] <= 0).sum())} direction(s) not above the horizon (d_U <= 0)")
        t_e, t_n = d[:, 0] / d[:, 2], d[:, 1] / d[:, 2]
        t_max = self.tan_nodes[-1] * (1 + 1e-12)
        if clamp:  # the deflection of the nearest edge of the direction grid (the caller counts them)
            t_e, t_n = np.clip(t_e, -self.tan_nodes[-1], self.tan_nodes[-1]), np.clip(t_n, -self.tan_nodes[-1],
                                                                                      self.tan_nodes[-1])
        outside = (np.abs(t_e) > t_max) | (np.abs(t_n) > t_max)
        if outside.any():
            raise ValueError(f"lookup: {int(outside.sum())} direction(s) outside the table's direction grid "
                             f"(|d_E/d_U| or |d_N/d_U| > {self.tan_nodes[-1]:.3f})")
        bad_lat = (lat < self.lat_deg[0]) | (lat > self.lat_deg[-1])
        if bad_lat.any():
            raise ValueError(f"lookup: {int(bad_lat.sum())} latitude(s) outside the table "
                             f"[{self.lat_deg[0]:g}, {self.lat_deg[-1]:g}] deg")
        if not self.lon_periodic:
            bad_lon = (lon < self.lon_deg[0]) | (lon > self.lon_deg[-1])
            if bad_lon.any():
                raise ValueError(f"lookup: {int(bad_lon.sum())} longitude(s) outside the (regional) table "
                                 f"[{self.lon_deg[0]:g}, {self.lon_deg[-1]:g}] deg")
        if np.any(rig < self.rigidity_gv[0]):
            raise ValueError(f"lookup: {int((rig < self.rigidity_gv[0]).sum())} rigidity(ies) below the table's "
                             f"lowest node {self.rigidity_gv[0]:g} GV")
        if not np.all((sign == 1) | (sign == -1)):
            raise ValueError("lookup: charge_sign must be +1 or -1")
        unit = d / np.linalg.norm(d, axis=1, keepdims=True)
        return lat, lon, t_e, t_n, rig, ((sign + 1) // 2).astype(np.int64), unit

    def outside_direction_grid(self, local_dir_enu) -> np.ndarray:
        """(n,) True where an ENU direction lies outside the table's gnomonic direction grid."""
        d = np.atleast_2d(np.asarray(local_dir_enu, dtype=np.float64))
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.maximum(np.abs(d[:, 0]), np.abs(d[:, 1])) / d[:, 2]
        return ~(d[:, 2] > 0) | (t > self.tan_nodes[-1])

    def lookup_fraction(self, lat_deg, lon_deg, local_dir_enu, rigidity_gv, charge_sign, clamp: bool = False):
        """As :meth:`lookup`, but returns (asymptotic ECEF (n, 3), allowed fraction in [0, 1]).

        ``clamp``: a direction above the horizon but outside the direction grid takes the deflection of the
        grid's nearest edge instead of raising (count them with :meth:`outside_direction_grid`)."""
        lat, lon, t_e, t_n, rig, sign_index, unit = self._prepare(lat_deg, lon_deg, local_dir_enu, rigidity_gv,
                                                                  charge_sign, clamp)
        return self._interpolate(lat, lon, t_e, t_n, rig, sign_index, unit)

    def lookup_fraction_nodes(self, lat_deg: float, lon_deg: float, local_dir_enu, rigidity_gv, charge_sign: int,
                              clamp: bool = False):
        """:meth:`lookup_fraction` of every direction (n, 3) at every rigidity (q,), at one position and charge:
        (asymptotic ECEF (q, n, 3), allowed fraction (q, n)); bitwise the same numbers as the flat call on the
        tiled inputs, with the checks and the ENU axes done once instead of per element."""
        d = np.atleast_2d(np.asarray(local_dir_enu, dtype=np.float64))
        rig = np.atleast_1d(np.asarray(rigidity_gv, dtype=np.float64))
        n, q = d.shape[0], rig.size
        lat, lon, t_e, t_n, _, sign_index, unit = self._prepare(lat_deg, lon_deg, d, rig.min(), charge_sign, clamp)
        if not np.all(np.isfinite(rig)):
            raise ValueError("lookup: inputs must be finite")
        out, fraction = self._interpolate(np.tile(lat, q), np.tile(lon, q), np.tile(t_e, q), np.tile(t_n, q),
                                          np.repeat(rig, n), np.tile(sign_index, q), np.tile(unit, (q, 1)),
                                          axes_at=(lat[:1], lon[:1]))
        return out.reshape(q, n, 3), fraction.reshape(q, n)

    def _interpolate(self, lat, lon, t_e, t_n, rig, sign_index, unit, axes_at=None):
        """The kernel on prepared inputs: (asymptotic ECEF (n, 3), allowed fraction (n,)); ``axes_at`` (lat,
        lon) of one position whose ENU axes serve every element (else each element's own)."""
        # rigidity axis as u = -1/R (ascending with R), with the R = infinity node u = 0 appended
        u_nodes = np.concatenate([-1.0 / self.rigidity_gv, [0.0]])
        out_local = np.empty((lat.size, 3))
        fraction = np.empty(lat.size)
        _lookup_kernel(lat, lon, t_e, t_n, -1.0 / rig, sign_index, self.lat_deg, self.lon_deg, self.tan_nodes,
                       u_nodes, self.deflection_enu, self.allowed, unit, self.lon_periodic, out_local, fraction)
        east, north, up = enu_axes_ecef(*(axes_at if axes_at is not None else (lat, lon)))
        return out_local[:, 0:1] * east + out_local[:, 1:2] * north + out_local[:, 2:3] * up, fraction

    def lookup(self, lat_deg, lon_deg, local_dir_enu, rigidity_gv, charge_sign):
        """Asymptotic direction (ECEF unit vectors (n, 3), NaN where forbidden) and allowed flag (n,) of
        events at geodetic (lat_deg, lon_deg) (the table's altitude), arriving from ``local_dir_enu`` (n, 3)
        (East, North, Up; towards the sky) with |rigidity| ``rigidity_gv`` (>= the first node) and
        ``charge_sign`` (+1/-1). Scalars broadcast to the number of directions."""
        out, fraction = self.lookup_fraction(lat_deg, lon_deg, local_dir_enu, rigidity_gv, charge_sign)
        allowed = fraction >= 0.5
        out[~allowed] = np.nan
        return out, allowed

    def cutoffs(self, lat_deg, lon_deg, local_dir_enu, charge_sign) -> np.ndarray:
        """Interpolated (R_U, R_L, R_C) in GV, shape (n, 3), of the table's rigidity scans (resolution = the
        rigidity node spacing; a cutoff at or below the first node reads as the first node)."""
        lat, lon, t_e, t_n, _, sign_index, _ = self._prepare(lat_deg, lon_deg, local_dir_enu,
                                                             self.rigidity_gv[-1], charge_sign)
        from scipy.interpolate import RegularGridInterpolator

        periodic = self.lon_periodic
        lon_ext = np.concatenate([self.lon_deg, [self.lon_deg[0] + 360.0]]) if periodic else self.lon_deg
        lon_wrapped = self.lon_deg[0] + np.mod(lon - self.lon_deg[0], 360.0) if periodic else lon
        out = np.empty((lat.size, 3))
        for s in (0, 1):
            mask = sign_index == s
            if not mask.any():
                continue
            values = self.cutoffs_gv[s].astype(np.float64)
            if periodic:
                values = np.concatenate([values, values[:, :1]], axis=1)
            values = np.where(np.isfinite(values), values, self.rigidity_gv[-1] * 10.0)
            interp = RegularGridInterpolator((self.lat_deg, lon_ext, self.tan_nodes, self.tan_nodes), values)
            out[mask] = interp(np.stack([lat[mask], lon_wrapped[mask], t_e[mask], t_n[mask]], axis=-1))
        return out
