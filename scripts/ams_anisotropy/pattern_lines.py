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

from .acceptance import CM2_PER_M2, Geometry, Plane, _check_zenith, crossings


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


def draw_lines(rng: np.random.Generator, n_pairs: int, geometry: Geometry, region: Region, max_zenith_deg: float,
               record=()):
    """Lines of ``n_pairs`` envelope point pairs that lie in the region.

    Returns (position_cm (m, 2) on the generation plane, direction (m, 3) arrival directions in the
    detector frame, z > 0, float64; plane bits (m,) uint16: bit k set when the line crosses
    ``record[k]``, at most 16 planes).
    """
    _check_zenith(max_zenith_deg)
    if len(record) > 16:
        raise ValueError("draw_lines: at most 16 recorded planes")
    n = int(n_pairs)
    x_t, y_t = region.top.uniform_points(rng, n)
    x_b, y_b = region.bottom.uniform_points(rng, n)
    dz = region.top.z_cm - region.bottom.z_cm
    dx, dy = x_t - x_b, y_t - y_b
    cos2 = dz * dz / (dx * dx + dy * dy + dz * dz)
    keep = (rng.random(n) < cos2 * cos2) & (cos2 >= np.cos(np.radians(max_zenith_deg)) ** 2)
    x_t, y_t, dx, dy, cos2 = x_t[keep], y_t[keep], dx[keep], dy[keep], cos2[keep]
    z0 = geometry.plane(geometry.generation_plane).z_cm
    tx, ty = dx / dz, dy / dz
    position = np.column_stack([x_t + tx * (z0 - region.top.z_cm), y_t + ty * (z0 - region.top.z_cm)])
    cos_theta = np.sqrt(cos2)
    direction = np.column_stack([tx * cos_theta, ty * cos_theta, cos_theta])
    needed = sorted(set(region.planes).union(*region.excluded) - {region.top.name, region.bottom.name})
    hits = crossings(geometry, position, direction, needed)
    inside = np.ones(position.shape[0], dtype=bool)
    for plane in region.planes:
        if plane in hits:
            inside &= hits[plane]
    for other in region.excluded:  # the envelope planes themselves are crossed by construction
        in_other = np.ones(position.shape[0], dtype=bool)
        for plane in other:
            if plane in hits:
                in_other &= hits[plane]
        inside &= ~in_other
    position, direction = position[inside], direction[inside]
    missing = [p for p in record if p not in hits]
    extra = crossings(geometry, position, direction, missing) if missing else {}
    bits = np.zeros(position.shape[0], dtype=np.uint16)
    for k, plane in enumerate(record):
        crossed = hits[plane][inside] if plane in hits else extra[plane]
        bits |= crossed.astype(np.uint16) << np.uint16(k)
    return position, direction, bits


__all__ = ["Region", "envelope", "regions", "draw_lines"]
