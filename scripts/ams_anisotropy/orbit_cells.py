"""The orbit cells of the deflection correction (:mod:`ams_anisotropy.deflected_exposure`).

A cell is (geodetic latitude bin, longitude bin, azimuth bin of the AMS x axis). Its latitude edges
(:func:`latitude_edges`: finer where the ISS turns) and the origins of the latitude and longitude bins
(:func:`aligned_origins`: on the nodes of the table of asymptotic directions, so that no cell straddles one)
are set from the settings ``reference.deflection``; :func:`polar` gives a cell's mean attitude.
"""

from __future__ import annotations

import numpy as np


def latitude_edges(lat_origin: float, settings) -> np.ndarray:
    """Cell edges in latitude (deg, ascending, covering [-90, 90]): every ``lat_step_deg`` from the aligned
    origin, each cell with both edges at |latitude| >= ``high_lat_deg`` cut into ``high_lat_step_deg``."""
    step = settings.lat_step_deg
    base = lat_origin + step * np.arange(int(np.ceil((90.0 - lat_origin) / step)) + 2)
    if settings.high_lat_step_deg is None:
        return base
    k = int(round(step / settings.high_lat_step_deg))
    edges = []
    for lo, hi in zip(base[:-1], base[1:], strict=True):
        high = min(abs(lo), abs(hi)) >= settings.high_lat_deg - 1e-9 and lo * hi >= 0
        edges.extend(lo + (hi - lo) * np.arange(k) / k if high else [lo])
    return np.append(edges, base[-1])


def aligned_origins(table, settings) -> tuple[float, float]:
    """(latitude, longitude) of a cell edge, deg, such that every node of the table's position grid is a cell
    edge: within a cell the table is then linear in latitude and longitude, so the livetime-mean latitude
    and the centre longitude of the cell are the right points to evaluate it (a cell centred on a node
    averages across the kink of the interpolation; measured: with 4 deg cells centred on the 4 deg nodes,
    a spurious 0.4% dipole along the celestial pole at 18 GV). The latitude origin is below -90 deg."""
    lat_nodes = np.asarray(table.lat_deg, dtype=np.float64)
    lon_nodes = np.asarray(table.lon_deg, dtype=np.float64)
    for name, nodes, step in (("lat_step_deg", lat_nodes, settings.lat_step_deg),
                              ("lon_step_deg", lon_nodes, settings.lon_step_deg)):
        ratio = (nodes - nodes[0]) / step
        if nodes.size > 1 and not np.allclose(ratio, np.round(ratio), rtol=0.0, atol=1e-6):
            raise ValueError(f"reference.deflection.{name}: {step:g} deg does not divide the spacing of the table's "
                             f"nodes ({np.diff(nodes).min():g} deg): the cells must not straddle a table node")
    if not np.isclose(360.0 / settings.lon_step_deg, round(360.0 / settings.lon_step_deg), atol=1e-9):
        raise ValueError(f"reference.deflection.lon_step_deg: {settings.lon_step_deg:g} deg does not divide 360")
    lat0 = float(lat_nodes[0]) - settings.lat_step_deg * np.ceil((lat_nodes[0] + 90.0) / settings.lat_step_deg)
    return lat0, float(lon_nodes[0])


def polar(matrix):
    """The rotation nearest to a 3 x 3 matrix (polar decomposition): a cell's mean attitude."""
    u, _, vt = np.linalg.svd(matrix)
    return u @ vt


__all__ = ["aligned_origins", "latitude_edges", "polar"]
