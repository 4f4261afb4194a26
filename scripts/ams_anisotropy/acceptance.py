"""AMS-02 geometry, track patterns and geometric acceptance by Monte Carlo.

The detector is a stack of horizontal planes (z in cm along the AMS axis, z up from the ECAL
towards the TRD) each with a simple shape: disc, rectangle (centred). A particle is a straight line
(the magnetic bending inside the inner tracker, a few mm at the rigidities of this analysis, is
neglected for the geometry). Particles are generated on one plane (the upper TOF for AMS: every
trigger needs it) uniformly in area, with directions of an isotropic flux through a plane
(dN ~ cos(theta) dOmega) up to ``max_zenith_deg``; so the acceptance of a pattern is
``A_gen x (fraction of generated particles crossing all its planes)`` with
``A_gen = area x pi sin^2(max_zenith)``, and ``max_zenith_deg`` must exceed the largest angle a
pattern accepts (about 43 deg for AMS: the TOF-to-TOF aperture; default 50 deg).

Approximate AMS-02 geometry (for the README), from the AMS detector descriptions (AMS
Collaboration, Phys. Rep. 894 (2021) 1, fig. 1 and section 2; the tracker layout of 2 outer and
7 inner layers, e.g. arXiv:2303.14072; ECAL 64.8 x 64.8 cm, 17 X0, ~16.7 cm thick, Adloff et al.,
NIM A 714 (2013) 147). All heights and sizes are approximate (to a few cm):

* L1 on top of the TRD at z = +158.9 cm, disc of radius 60 cm **[approximate]**;
* TRD top z = +141 cm (octagon ~ 2.2 m wide, as a disc of radius 100 cm) and TRD bottom
  z = +86 cm (as a disc of radius 75 cm) **[approximate]**;
* upper TOF z = +63.5 cm, disc of radius 60 cm; lower TOF z = -63.5 cm, disc of radius 60 cm
  (the paddle planes are ~1.2 m wide) **[approximate]**;
* inner tracker L2 z = +53.1 (disc r = 55 cm, on top of the magnet), L3-L8 at z = +29.2, +25.2,
  +1.7, -2.3, -25.2, -29.2 cm (discs r = 50 cm, inside the 1.1 m magnet bore);
* L9 z = -135.9 cm, rectangle 68 x 54 cm above the ECAL, not circular **[approximate; sized so that
  L1+inner has ~4.5x the acceptance of L1..L9, method.md section 4]**;
* ECAL top z = -142.8 cm and bottom z = -159.5 cm, squares 64.8 x 64.8 cm.

Patterns (every pattern includes the trigger, upper and lower TOF):

* ``inner``: the 7 inner layers (the classic ~0.45-0.5 m^2 sr AMS acceptance, method.md);
* ``l1_inner``: L1 + the 7 inner layers (nuclei, paper section 3);
* ``l1_inner_l9``: L1 + inner + L9 (protons);
* ``ecal``: TRD (top and bottom) + L1 + inner + ECAL top and bottom (e±: "a track in the TRD and
  in the tracker, a cluster in the ECAL", paper section 3), ~0.045 m^2 sr;
* ``ecal_inner``: the same without L1 (~0.08 m^2 sr); e± events of this pattern are stored too
  (``has_l1`` False), so a selection may or may not require L1.

Measured (2e6 particles, +-0.0005): inner 0.50, l1_inner 0.20, l1_inner_l9 0.045, ecal 0.045,
ecal_inner 0.079 m^2 sr. The L1+inner value is set by the geometry (L1 188 cm above L8); the
"~0.45-0.5 m^2 sr" usually quoted for AMS is the inner-tracker (TOF-to-TOF) acceptance.

Simplifications: planes are ideal (no dead areas, 100% efficient), shapes are discs or rectangles,
no material or interactions (those are in :mod:`ams_anisotropy.detector` as efficiencies).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CM2_PER_M2 = 1.0e4


@dataclass(frozen=True)
class Plane:
    """A horizontal detector plane.

    Parameters
    ----------
    name : str
        Plane name (``L1``..``L9``, ``TRD_top``, ``TOF_upper``, ``ECAL_top``...).
    z_cm : float
        Height along the AMS z axis, cm.
    shape : str
        ``"disc"`` (radius ``half_x_cm``) or ``"rectangle"`` (half sides ``half_x_cm``, ``half_y_cm``).
    half_x_cm, half_y_cm : float
        Radius (disc) or half side lengths along x and y (rectangle), cm.
    """

    name: str
    z_cm: float
    shape: str
    half_x_cm: float
    half_y_cm: float = 0.0

    def __post_init__(self):
        if self.shape not in ("disc", "rectangle"):
            raise ValueError(f"plane {self.name}: shape must be 'disc' or 'rectangle', got {self.shape!r}")
        if not self.half_x_cm > 0 or (self.shape == "rectangle" and not self.half_y_cm > 0):
            raise ValueError(f"plane {self.name}: sizes must be positive")

    @property
    def area_cm2(self) -> float:
        """Area of the plane, cm^2."""
        if self.shape == "disc":
            return float(np.pi * self.half_x_cm**2)
        return float(4.0 * self.half_x_cm * self.half_y_cm)

    def contains(self, x_cm, y_cm) -> np.ndarray:
        """True where the point (x, y) in cm lies on the plane."""
        if self.shape == "disc":
            return x_cm * x_cm + y_cm * y_cm <= self.half_x_cm**2
        return (np.abs(x_cm) <= self.half_x_cm) & (np.abs(y_cm) <= self.half_y_cm)

    def uniform_points(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """n points uniform on the plane, (x_cm, y_cm)."""
        if self.shape == "disc":
            radius = self.half_x_cm * np.sqrt(rng.random(n))
            phi = 2.0 * np.pi * rng.random(n)
            return radius * np.cos(phi), radius * np.sin(phi)
        return (
            self.half_x_cm * (2.0 * rng.random(n) - 1.0),
            self.half_y_cm * (2.0 * rng.random(n) - 1.0),
        )


@dataclass(frozen=True)
class Geometry:
    """Planes, named patterns (tuples of plane names) and the generation plane.

    Parameters
    ----------
    planes : tuple of Plane
    patterns : tuple of (name, tuple of plane names)
        Each pattern requires a crossing of all its planes.
    generation_plane : str
        Name of the plane on which particles are generated; every pattern must include it.
    """

    planes: tuple[Plane, ...]
    patterns: tuple[tuple[str, tuple[str, ...]], ...]
    generation_plane: str

    def __post_init__(self):
        names = [p.name for p in self.planes]
        if len(set(names)) != len(names):
            raise ValueError(f"geometry: duplicate plane names in {names}")
        if self.generation_plane not in names:
            raise ValueError(f"geometry: generation plane {self.generation_plane!r} is not a plane")
        for pattern, members in self.patterns:
            unknown = [m for m in members if m not in names]
            if unknown:
                raise ValueError(f"geometry: pattern {pattern!r} uses unknown plane(s) {unknown}")
            if self.generation_plane not in members:
                raise ValueError(f"geometry: pattern {pattern!r} must include the generation plane")

    def plane(self, name: str) -> Plane:
        """The plane called ``name``."""
        for plane in self.planes:
            if plane.name == name:
                return plane
        raise KeyError(f"geometry has no plane {name!r}; planes: {[p.name for p in self.planes]}")

    @property
    def pattern_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.patterns)

    def pattern(self, name: str) -> tuple[str, ...]:
        """Plane names of a pattern."""
        for pattern, members in self.patterns:
            if pattern == name:
                return members
        raise KeyError(f"unknown track pattern {name!r}; known: {list(self.pattern_names)}")


INNER_LAYERS = ("L2", "L3", "L4", "L5", "L6", "L7", "L8")
_TRIGGER = ("TOF_upper", "TOF_lower")

# Approximate AMS-02 geometry; sources and approximations in the module docstring.
AMS02_GEOMETRY = Geometry(
    planes=(
        Plane("L1", 158.9, "disc", 60.0),
        Plane("TRD_top", 141.0, "disc", 100.0),
        Plane("TRD_bottom", 86.0, "disc", 75.0),
        Plane("TOF_upper", 63.5, "disc", 60.0),
        Plane("L2", 53.1, "disc", 55.0),
        Plane("L3", 29.2, "disc", 50.0),
        Plane("L4", 25.2, "disc", 50.0),
        Plane("L5", 1.7, "disc", 50.0),
        Plane("L6", -2.3, "disc", 50.0),
        Plane("L7", -25.2, "disc", 50.0),
        Plane("L8", -29.2, "disc", 50.0),
        Plane("TOF_lower", -63.5, "disc", 60.0),
        Plane("L9", -135.9, "rectangle", 34.0, 27.0),
        Plane("ECAL_top", -142.8, "rectangle", 32.4, 32.4),
        Plane("ECAL_bottom", -159.5, "rectangle", 32.4, 32.4),
    ),
    patterns=(
        ("inner", _TRIGGER + INNER_LAYERS),
        ("l1_inner", _TRIGGER + ("L1",) + INNER_LAYERS),
        ("l1_inner_l9", _TRIGGER + ("L1",) + INNER_LAYERS + ("L9",)),
        ("ecal", _TRIGGER + ("TRD_top", "TRD_bottom", "L1") + INNER_LAYERS + ("ECAL_top", "ECAL_bottom")),
        ("ecal_inner", _TRIGGER + ("TRD_top", "TRD_bottom") + INNER_LAYERS + ("ECAL_top", "ECAL_bottom")),
    ),
    generation_plane="TOF_upper",
)

DEFAULT_MAX_ZENITH_DEG = 50.0


@dataclass(frozen=True)
class GeneratedParticles:
    """Result of :func:`generate`.

    direction_det : (n, 3) arrival directions in the detector frame (unit vectors, z > 0: downward
        going particle coming from above); hits : plane name -> (n,) bool; patterns : pattern name ->
        (n,) bool; position_cm : (n, 2) crossing point on the generation plane.
    """

    direction_det: np.ndarray
    position_cm: np.ndarray
    hits: dict
    patterns: dict


def generation_acceptance_m2sr(geometry: Geometry = AMS02_GEOMETRY, max_zenith_deg: float = DEFAULT_MAX_ZENITH_DEG):
    """Acceptance of the generation surface, m^2 sr: area x pi sin^2(max_zenith)."""
    _check_zenith(max_zenith_deg)
    area_m2 = geometry.plane(geometry.generation_plane).area_cm2 / CM2_PER_M2
    return area_m2 * np.pi * np.sin(np.radians(max_zenith_deg)) ** 2


def _check_zenith(max_zenith_deg):
    if not 0.0 < max_zenith_deg < 90.0:
        raise ValueError(f"max_zenith_deg must be in (0, 90) deg, got {max_zenith_deg!r}")


def isotropic_directions(rng: np.random.Generator, n: int, max_zenith_deg: float) -> np.ndarray:
    """Arrival directions (n, 3) of an isotropic flux through a horizontal plane (dN ~ cos dOmega),
    zenith angle up to max_zenith_deg: cos^2(theta) uniform in [cos^2(max), 1], azimuth uniform."""
    _check_zenith(max_zenith_deg)
    sin2_max = np.sin(np.radians(max_zenith_deg)) ** 2
    cos_theta = np.sqrt(1.0 - rng.random(n) * sin2_max)
    sin_theta = np.sqrt(np.maximum(0.0, 1.0 - cos_theta**2))
    phi = 2.0 * np.pi * rng.random(n)
    return np.column_stack([sin_theta * np.cos(phi), sin_theta * np.sin(phi), cos_theta])


def crossings(geometry: Geometry, position_cm: np.ndarray, direction_det: np.ndarray, planes=None) -> dict:
    """Plane name -> bool crossing, for straight lines through ``position_cm`` (n, 2) on the generation
    plane along the arrival directions ``direction_det`` (n, 3, z > 0); ``planes``: names to compute
    (default all)."""
    z0 = geometry.plane(geometry.generation_plane).z_cm
    tx = direction_det[:, 0] / direction_det[:, 2]
    ty = direction_det[:, 1] / direction_det[:, 2]
    hits = {}
    selected = geometry.planes if planes is None else [geometry.plane(name) for name in planes]
    for plane in selected:
        dz = plane.z_cm - z0
        hits[plane.name] = plane.contains(position_cm[:, 0] + tx * dz, position_cm[:, 1] + ty * dz)
    return hits


def generate(
    rng: np.random.Generator,
    n: int,
    geometry: Geometry = AMS02_GEOMETRY,
    max_zenith_deg: float = DEFAULT_MAX_ZENITH_DEG,
) -> GeneratedParticles:
    """Generate n particles of an isotropic flux on the generation plane and trace them.

    Returns the detector-frame arrival directions, the crossing point on the generation plane (cm),
    a bool per plane and per pattern. Each particle stands for ``generation_acceptance_m2sr / n``.
    """
    n = int(n)
    if n < 0:
        raise ValueError(f"cannot generate a negative number of particles ({n})")
    direction = isotropic_directions(rng, n, max_zenith_deg)
    x, y = geometry.plane(geometry.generation_plane).uniform_points(rng, n)
    position = np.column_stack([x, y])
    hits = crossings(geometry, position, direction)
    patterns = {}
    for name, members in geometry.patterns:
        ok = np.ones(n, dtype=bool)
        for member in members:
            ok &= hits[member]
        patterns[name] = ok
    return GeneratedParticles(direction_det=direction, position_cm=position, hits=hits, patterns=patterns)


def geometric_acceptance_m2sr(
    pattern: str,
    geometry: Geometry = AMS02_GEOMETRY,
    max_zenith_deg: float = DEFAULT_MAX_ZENITH_DEG,
    n: int = 1_000_000,
    seed: int = 12345,
    block: int = 500_000,
) -> tuple[float, float]:
    """Geometric acceptance (m^2 sr) of a track pattern and its Monte Carlo standard error.

    Parameters: pattern name (see the module docstring); geometry; max_zenith_deg (deg) of the
    generation (must exceed what the pattern accepts); n generated particles; seed of a local
    generator (the acceptance is a constant, so it is not one of the workflow's streams); block
    (particles per block, bounds the memory). Returns (acceptance, standard error), both m^2 sr.
    """
    geometry.pattern(pattern)  # KeyError for an unknown pattern
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    rng = np.random.default_rng(seed)
    passed = 0
    done = 0
    while done < n:
        size = min(block, n - done)
        passed += int(generate(rng, size, geometry, max_zenith_deg).patterns[pattern].sum())
        done += size
    a_gen = generation_acceptance_m2sr(geometry, max_zenith_deg)
    fraction = passed / n
    return a_gen * fraction, a_gen * np.sqrt(fraction * (1.0 - fraction) / n)


def two_disc_acceptance_m2sr(radius1_cm: float, radius2_cm: float, distance_cm: float) -> float:
    """Analytic acceptance (m^2 sr) of two coaxial parallel discs (Sullivan, NIM 95 (1971) 5):
    A = pi^2/2 [R1^2 + R2^2 + h^2 - sqrt((R1^2 + R2^2 + h^2)^2 - 4 R1^2 R2^2)]."""
    s = radius1_cm**2 + radius2_cm**2 + distance_cm**2
    return float(np.pi**2 / 2.0 * (s - np.sqrt(s * s - 4.0 * radius1_cm**2 * radius2_cm**2))) / CM2_PER_M2


def two_rectangle_acceptance_m2sr(side_x_cm: float, side_y_cm: float, distance_cm: float) -> float:
    """Analytic acceptance (m^2 sr) of two identical aligned parallel rectangles a x b at distance l
    (Sullivan, NIM 95 (1971) 5, eq. for rectangular telescopes):
    A = l^2 ln[(l^2+a^2)(l^2+b^2) / ((l^2+a^2+b^2) l^2)] + 2a sqrt(l^2+b^2) atan(a / sqrt(l^2+b^2))
        + 2b sqrt(l^2+a^2) atan(b / sqrt(l^2+a^2)) - 2al atan(a/l) - 2bl atan(b/l)."""
    a, b, ell = side_x_cm, side_y_cm, distance_cm
    la, lb = np.hypot(ell, a), np.hypot(ell, b)
    value = (
        ell**2 * np.log((la**2 * lb**2) / ((ell**2 + a**2 + b**2) * ell**2))
        + 2 * a * lb * np.arctan(a / lb)
        + 2 * b * la * np.arctan(b / la)
        - 2 * a * ell * np.arctan(a / ell)
        - 2 * b * ell * np.arctan(b / ell)
    )
    return float(value) / CM2_PER_M2


def pattern_acceptance_map(nside_detector: int, pattern: str, geometry: Geometry = AMS02_GEOMETRY,
                           grid_step_cm: float = 1.5, max_zenith_deg: float = 45.6) -> np.ndarray:
    """The true geometric acceptance of a track pattern per detector-frame HEALPix pixel (RING).

    Deterministic (no Monte Carlo): for each pixel centre d within ``max_zenith_deg`` of the AMS z axis,
    cos(theta) x the area (cm^2, on a grid of ``grid_step_cm``) of the entry points on the generation
    plane whose straight line along d crosses every plane of ``pattern``. Used as the independent truth
    of the closure tests and benchmarks (the analysis estimates the acceptance from the events).
    """
    import healpy as hp  # imported here: healpy (with matplotlib) costs ~2 s per job that never uses it

    top = geometry.plane(geometry.generation_plane)
    axis = np.arange(-top.half_x_cm, top.half_x_cm + 1e-9, grid_step_cm)
    gx, gy = np.meshgrid(axis, axis)
    inside = top.contains(gx.ravel(), gy.ravel())
    points = np.column_stack([gx.ravel()[inside], gy.ravel()[inside]])
    npix = hp.nside2npix(nside_detector)
    z = hp.pix2vec(nside_detector, np.arange(npix))[2]
    pixels = np.flatnonzero(z > np.cos(np.radians(max_zenith_deg)))
    directions = np.array(hp.pix2vec(nside_detector, pixels)).T
    planes = geometry.pattern(pattern)
    result = np.zeros(npix)
    block_size = 32  # directions per block (memory ~ 32 x grid points)
    for start in range(0, pixels.size, block_size):
        block = directions[start:start + block_size]
        hits = crossings(geometry, np.tile(points, (block.shape[0], 1)), np.repeat(block, points.shape[0], axis=0))
        ok = np.ones(block.shape[0] * points.shape[0], dtype=bool)
        for plane in planes:
            ok &= hits[plane]
        result[pixels[start:start + block_size]] = block[:, 2] * ok.reshape(block.shape[0], -1).sum(axis=1) * (
            grid_step_cm**2
        )
    return result
