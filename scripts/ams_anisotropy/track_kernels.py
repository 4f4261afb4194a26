"""Compiled (numba) loops of the event simulation, where numpy's one-pass-per-operation costs the most.

:func:`lines_in_region` fuses what :func:`pattern_lines.draw_lines` does per envelope point pair: the two
points on the envelope planes, the cos^4 acceptance, the direction, the crossing of every detector
plane and the region test, in one loop over pre-drawn uniform numbers (numpy's generator, so the
random streams stay those of ``ams_anisotropy.rng``). With numpy it made ~30 temporary arrays per
pair (~40% of the simulation's time). No floating-point reassociation (no fastmath): the results are
the same on every run and machine with the same numba/LLVM.

numba is pinned in requirements.lock and envs/simulation.yaml (it is also the asymptotic-direction
tracer's); ``cache=True`` keeps the compiled code in ``__pycache__`` (first use ~2 s, then ~0.3 s).
"""

from __future__ import annotations

import numba
import numpy as np

DISC, RECTANGLE = 0, 1


@numba.njit(cache=True, nogil=True)
def _point(shape, half_x, half_y, u1, u2):
    if shape == DISC:
        radius = half_x * np.sqrt(u1)
        phi = 2.0 * np.pi * u2
        return radius * np.cos(phi), radius * np.sin(phi)
    return half_x * (2.0 * u1 - 1.0), half_y * (2.0 * u2 - 1.0)


@numba.njit(cache=True, nogil=True)
def _contains(shape, half_x, half_y, x, y):
    if shape == DISC:
        return x * x + y * y <= half_x * half_x
    return abs(x) <= half_x and abs(y) <= half_y


@numba.njit(cache=True, nogil=True)
def lines_in_region(uniform, top, bottom, planes, envelope_bits, required, excluded, cos2_min, direction, bits,
                    top_xy):
    """Lines of the envelope point pairs that lie in a region; returns their number m.

    uniform : (n, 5) uniforms per pair (top point, bottom point, cos^4 acceptance);
    top, bottom : (shape, half_x, half_y, z) of the envelope planes; planes : (k, 4) the same for every
    detector plane (k <= 16, bit j of ``bits`` = plane j crossed); envelope_bits : the bits of the two
    envelope planes (crossed by construction); required : bits the region needs; excluded : (e,) bit
    sets of the patterns listed before it (a line crossing all of one is not in the region);
    cos2_min : cos^2 of the zenith limit. Outputs: direction (n, 3), bits (n,) uint16 and top_xy (n, 2) the
    crossing point on the top envelope plane (cm), first m rows.
    """
    m = 0
    dz = top[3] - bottom[3]
    for i in range(uniform.shape[0]):
        xt, yt = _point(int(top[0]), top[1], top[2], uniform[i, 0], uniform[i, 1])
        xb, yb = _point(int(bottom[0]), bottom[1], bottom[2], uniform[i, 2], uniform[i, 3])
        dx, dy = xt - xb, yt - yb
        cos2 = dz * dz / (dx * dx + dy * dy + dz * dz)
        if not (uniform[i, 4] < cos2 * cos2 and cos2 >= cos2_min):
            continue
        tx, ty = dx / dz, dy / dz
        crossed = envelope_bits
        for j in range(planes.shape[0]):
            if (envelope_bits >> j) & 1:
                continue
            h = planes[j, 3] - top[3]
            if _contains(int(planes[j, 0]), planes[j, 1], planes[j, 2], xt + tx * h, yt + ty * h):
                crossed |= 1 << j
        if crossed & required != required:
            continue
        inside = True
        for e in range(excluded.shape[0]):
            if crossed & excluded[e] == excluded[e]:
                inside = False
                break
        if not inside:
            continue
        cos_theta = np.sqrt(cos2)
        direction[m, 0] = tx * cos_theta
        direction[m, 1] = ty * cos_theta
        direction[m, 2] = cos_theta
        bits[m] = crossed
        top_xy[m, 0] = xt
        top_xy[m, 1] = yt
        m += 1
    return m


__all__ = ["lines_in_region", "DISC", "RECTANGLE"]


@numba.njit(cache=True, nogil=True)
def interpolated_sky(interval, u, direction, base, slope, charge_sign, gal, cutoff):
    """Galactic arrival directions and Stoermer cutoffs from the interval tables of interval_state.

    interval (m,), u (m,) fraction of the interval; direction (m, 3) detector frame; base, slope
    (14, n): rows 0-8 the AMS axes as galactic vectors (x, y, z rows), 9-11 magnetic east in the
    detector frame, 12 P = C cos^4(lambda) / r^2, 13 K = cos^3(lambda); charge_sign +-1, 0: no cutoff.
    Outputs gal (m, 3) unit vectors and cutoff (m,) GV. Same formulas as interval_state (tested equal).
    """
    for i in range(interval.shape[0]):
        k = interval[i]
        t = u[i]
        dx, dy, dz = direction[i, 0], direction[i, 1], direction[i, 2]
        norm = 0.0
        for j in range(3):
            g = (dx * (base[j, k] + t * slope[j, k]) + dy * (base[3 + j, k] + t * slope[3 + j, k])
                 + dz * (base[6 + j, k] + t * slope[6 + j, k]))
            gal[i, j] = g
            norm += g * g
        norm = np.sqrt(norm)
        for j in range(3):
            gal[i, j] /= norm
        if charge_sign != 0:
            s = (dx * (base[9, k] + t * slope[9, k]) + dy * (base[10, k] + t * slope[10, k])
                 + dz * (base[11, k] + t * slope[11, k])) * charge_sign
            s = min(max(s, -1.0), 1.0)
            root = np.sqrt(max(1.0 - (base[13, k] + t * slope[13, k]) * s, 0.0))
            cutoff[i] = (base[12, k] + t * slope[12, k]) / ((1.0 + root) * (1.0 + root))
