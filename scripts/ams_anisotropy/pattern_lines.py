"""Straight tracks drawn directly inside the stored track patterns (no wide cone with rejection).

An isotropic flux J (m^-2 sr^-1 s^-1) crosses a horizontal plane with the line measure
``dG = cos(theta) dA dOmega``; a pattern's acceptance is the measure of the lines crossing all its
planes. Instead of generating lines on the generation plane in a 50 deg cone and keeping the ~2-10% that
cross a pattern (:func:`acceptance.generate`), each pattern is drawn inside its *envelope*: two of its
own planes, a top one (area S_t, height z_t) and a bottom one (S_b, z_b), h = z_t - z_b apart. For two
points uniform on them, dA_t dA_b = h^2 / cos^4(theta) dG (the solid angle of dA_b seen from dA_t is
dA_b cos^3(theta) / h^2), so

* ``Poisson(J T S_t S_b / h^2)`` point pairs, each kept with probability cos^4(theta) (and
  theta <= max_zenith_deg, as the cone generation), are the lines of the flux J over the time T that
  cross both envelope planes, exactly (same Poisson process, no approximation);
* of those, the lines crossing every other plane of the pattern are the pattern's lines.

The envelope of a pattern is the pair of its planes with the smallest S_t S_b / h^2 (L1 and L8 for
``l1_inner``: 0.25 m^2 sr for an acceptance of 0.20; L1 and L9 for ``l1_inner_l9``: 0.048 for 0.045;
L1 and the ECAL bottom for ``ecal``: 0.047 for 0.045), so 75-90% of the drawn pairs are kept instead
of 2-10%.

Several stored patterns (protons: ``l1_inner_l9`` and ``ecal``) are a union: region k is pattern k
minus the patterns listed before it, drawn in pattern k's envelope. The regions are disjoint, so their
independent Poisson processes add up to the Poisson process of the union.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import track_kernels
from .acceptance import CM2_PER_M2, Geometry, Plane, _check_zenith


@dataclass(frozen=True)
class Region:
    """Lines of ``pattern`` in none of the ``excluded`` patterns, drawn between ``top`` and ``bottom``.

    pair_acceptance_m2sr : S_t S_b / h^2 in m^2 sr, the measure of the point pairs (before the cos^4 step).
    planes : every plane the pattern requires (checked on the drawn lines).
    """

    index: int
    pattern: str
    top: Plane
    bottom: Plane
    planes: tuple[str, ...]
    excluded: tuple[tuple[str, ...], ...]

    @property
    def pair_acceptance_m2sr(self) -> float:
        h = self.top.z_cm - self.bottom.z_cm
        return self.top.area_cm2 * self.bottom.area_cm2 / h**2 / CM2_PER_M2


def envelope(geometry: Geometry, pattern: str) -> tuple[Plane, Plane]:
    """The (top, bottom) pair of the pattern's planes with the smallest S_t S_b / h^2."""
    planes = sorted((geometry.plane(name) for name in geometry.pattern(pattern)), key=lambda p: -p.z_cm)
    best = None
    for i, top in enumerate(planes):
        for bottom in planes[i + 1:]:
            h = top.z_cm - bottom.z_cm
            if h <= 0:
                continue
            measure = top.area_cm2 * bottom.area_cm2 / h**2
            if best is None or measure < best[0]:
                best = (measure, top, bottom)
    if best is None:
        raise ValueError(f"pattern {pattern!r}: needs two planes at different heights")
    return best[1], best[2]


def regions(geometry: Geometry, patterns) -> list[Region]:
    """The disjoint regions of a union of stored patterns, in the order of ``patterns``."""
    names = list(dict.fromkeys(patterns))
    out = []
    for k, name in enumerate(names):
        top, bottom = envelope(geometry, name)
        excluded = tuple(geometry.pattern(other) for other in names[:k])
        out.append(Region(k, name, top, bottom, geometry.pattern(name), excluded))
    return out


def _row(plane: Plane) -> tuple:
    shape = track_kernels.DISC if plane.shape == "disc" else track_kernels.RECTANGLE
    return (float(shape), plane.half_x_cm, plane.half_y_cm, plane.z_cm)


def plane_bits(geometry: Geometry) -> dict:
    """Plane name -> its bit in the uint16 crossing bits of :func:`draw_lines` (geometry order)."""
    if len(geometry.planes) > 16:
        raise ValueError("draw_lines: at most 16 detector planes")
    return {plane.name: 1 << j for j, plane in enumerate(geometry.planes)}


def draw_lines(rng: np.random.Generator, n_pairs: int, geometry: Geometry, region: Region, max_zenith_deg: float,
               with_points: bool = False):
    """Lines of ``n_pairs`` envelope point pairs that lie in the region (compiled loop, track_kernels).

    Returns (direction (m, 3) arrival directions in the detector frame, z > 0, float64; crossing bits
    (m,) uint16: bit :func:`plane_bits` [name] set when the line crosses that plane); with ``with_points``
    also (m, 2) the line's crossing point (x, y) on the region's top plane, cm (no extra random numbers).
    """
    _check_zenith(max_zenith_deg)
    n = int(n_pairs)
    bit = plane_bits(geometry)

    def bits_of(names):
        return sum(bit[name] for name in names)

    table = np.array([_row(plane) for plane in geometry.planes], dtype=np.float64)
    uniform = rng.random((n, 5))
    direction = np.empty((n, 3))
    crossed = np.empty(n, dtype=np.uint16)
    top_xy = np.empty((n, 2))
    m = track_kernels.lines_in_region(
        uniform, np.array(_row(region.top)), np.array(_row(region.bottom)), table,
        bits_of((region.top.name, region.bottom.name)), bits_of(region.planes),
        np.array([bits_of(p) for p in region.excluded], dtype=np.int64),
        float(np.cos(np.radians(max_zenith_deg)) ** 2), direction, crossed, top_xy,
    )
    if with_points:
        return direction[:m], crossed[:m], top_xy[:m]
    return direction[:m], crossed[:m]


__all__ = ["Region", "envelope", "regions", "draw_lines", "plane_bits"]
