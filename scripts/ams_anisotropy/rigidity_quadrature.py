"""The rigidity quadrature of the deflection correction (:mod:`ams_anisotropy.deflected_exposure`).

The table of asymptotic directions (:mod:`ams_anisotropy.asymptotic`) interpolates linearly in u = 1/R
between its rigidity nodes; the correction integrates the spectrum above each interval's lower edge with
the hat functions of nodes in u (:func:`quadrature_nodes`: the table's nodes, refined where their gaps are
wide), as shares of the flux above the threshold (:func:`node_shares`, with the rigidity resolution's
spill-over below the edge).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .exposure_weights import check_range


def quadrature_nodes(table_nodes_gv, max_gap_inv_gv: float) -> np.ndarray:
    """The rigidity nodes (GV, ascending) of the correction's quadrature: the table's nodes, and in every gap
    wider than ``max_gap_inv_gv`` in u = 1/R (also the last one, between the table's last node and
    R = infinity, u = 0, not included) the fewest equally spaced extra nodes that make every gap narrower.
    0: the table's nodes only.

    The table interpolates the deflection vector linearly in 1/R and normalises the direction (the
    simulation's per-event lookup), so between two nodes an event's asymptotic direction moves along the arc
    joining the node directions; hat functions on the table's nodes alone put that weight at the two ends
    instead, a smear of up to the gap's change of deflection (~650 deg GV x du at 18 GV: 6 deg between the
    20 and 25 GV nodes). Extra nodes make the quadrature converge to the table's own interpolation."""
    nodes = np.asarray(table_nodes_gv, dtype=np.float64)
    if max_gap_inv_gv <= 0.0:
        return nodes.copy()
    u = np.append(1.0 / nodes, 0.0)  # descending
    out = []
    for i in range(nodes.size):
        gap = u[i] - u[i + 1]
        k = max(1, int(np.ceil(gap / max_gap_inv_gv - 1e-9)))
        out.append(nodes[i])  # the table's own node, bitwise
        out.extend(1.0 / (u[i] - gap * np.arange(1, k) / k))
    return np.asarray(out)


def node_shares(thresholds, upper, integral_flux: Callable, nodes_gv, lower_edges,
                resolution: tuple[float, float] | None = None) -> np.ndarray:
    """g (n_thr, n_edges, n_nodes + 1): the flux in [lower edge, upper) carried by each table node's hat
    function in u = 1/R (last column: the R = infinity node), divided by the flux in [x_k, upper).

    ``lower_edges`` (n_thr, n_edges) are the lower edges max(x_k, f cutoff) (>= x_k) of each threshold, on the
    measured observable. ``resolution`` = (mdr_gv, scattering): the measured curvature is Gaussian around the
    true one with sigma(1/R) = sqrt(1/MDR^2 + (scattering/R)^2), so the true rigidities of the events measured
    above an edge reach below it (spill-over: their larger deflection matters at 18 GV); the resolution only
    redistributes each interval's weight over the nodes (the sum stays the fraction of the true spectrum above
    the edge, the straight-line exposure's weight). None: true = measured."""
    thresholds, upper = check_range(thresholds, upper)
    if resolution is not None:
        from scipy.special import ndtr

        mdr_gv, scattering = (float(v) for v in resolution)
    u_nodes = np.concatenate([1.0 / np.asarray(nodes_gv, dtype=np.float64), [0.0]])  # descending in u
    top = upper if np.isfinite(upper) else 1e7  # GV: F(1e7 GV) is 0 to double precision for these spectra
    out = np.zeros((thresholds.size, lower_edges.shape[1], u_nodes.size))
    f_up = 0.0 if not np.isfinite(upper) else float(integral_flux(np.array([upper]))[0])
    for k, x_k in enumerate(thresholds):
        norm = float(integral_flux(np.array([x_k]))[0]) - f_up
        for e, low in enumerate(lower_edges[k]):
            if low >= top:
                continue
            weight = float(integral_flux(np.array([low]))[0]) - f_up
            start = max(float(nodes_gv[0]), 0.6 * low) if resolution is not None else low
            edges = np.geomspace(start, top, 500)
            flux = -np.diff(np.asarray(integral_flux(edges), dtype=np.float64))
            if not np.isfinite(upper):
                flux[-1] += float(integral_flux(np.array([top]))[0])
            u_mid = 1.0 / np.sqrt(edges[:-1] * edges[1:])
            if resolution is not None:  # probability to be measured above the edge
                sigma = np.sqrt(1.0 / mdr_gv**2 + (scattering * u_mid) ** 2)
                flux = flux * ndtr((1.0 / low - u_mid) / sigma)
            else:
                flux = flux * (u_mid <= 1.0 / low)
            flux *= weight / max(flux.sum(), 1e-300)
            # hat functions of the nodes in u (u_nodes descending): linear interpolation weights
            position = np.interp(-u_mid, -u_nodes, np.arange(u_nodes.size))
            left = np.floor(position).astype(int)
            frac = position - left
            np.add.at(out[k, e], left, flux * (1.0 - frac))
            np.add.at(out[k, e], np.minimum(left + 1, u_nodes.size - 1), flux * frac)
            out[k, e] /= max(norm, 1e-300)
    return out


__all__ = ["node_shares", "quadrature_nodes"]
