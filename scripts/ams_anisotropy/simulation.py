"""Events of one time chunk: timeline + sky model + spectra + acceptance + geomagnetic cutoff + detector.

For each particle source k (a species, or an extra background species such as boron), with its own
random stream ``rng.generator(seed, "events", chunk_id, k)``:

1. expected number of generated particles
   ``N_k = F_k(>R_min) x A_gen x sum_i(duration_i x livetime_i x eps_hidden_i) / prescale``
   (``A_gen`` = generation acceptance of :mod:`acceptance`); the number drawn is Poisson(N_k);
2. event times: interval i with probability proportional to its weight, uniform inside it;
3. rigidity from the spectrum (exact inverse CDF), detector direction and plane crossings from the
   acceptance Monte Carlo; particles in none of the stored patterns are dropped (no trigger/track);
4. AMS axes at the exact event times (:func:`timeline.ams_state`), galactic arrival direction;
5. sky anisotropy by rejection: kept with probability (1 + rho.n + n.Q.n) / (1 + max);
6. geomagnetic cutoff: dropped if the true rigidity is below the Stoermer directional cutoff at the ISS
   position for the arrival direction (ITRS) and the charge sign;
7. upward-going albedo (a fraction of the stored events, no sky modulation and no cutoff) and poor
   tracks (a fixed fraction plus the reconstruction inefficiency 1 - eps_reco), then the detector
   response (:func:`detector.respond`).

The hidden efficiency ``eps_hidden = 1 - amplitude (rate - equator_rate) / (polar_rate - equator_rate)``
(clipped to [0, 1]) is a geographic efficiency variation the analysis is not told about.

Simplifications (for the README):

* the backtraced (asymptotic) direction is taken equal to the arrival direction: no geomagnetic
  bending (tens of degrees at 16-20 GV, method.md), and the cutoff is the Stoermer cutoff of the
  arrival direction (no penumbra);
* albedo particles take the spectrum of their species, a random detector direction reversed
  (upward-going along the same line, so they cross the same planes) and no cutoff; their number is
  Poisson with mean ``albedo_fraction / (1 - albedo_fraction)`` x the stored primaries of the block,
  so ``albedo_fraction`` is their expected share of the stored events of that particle;
* boron and nitrogen (neighbouring-charge backgrounds of C and O) are the carbon and oxygen tables
  scaled by B/C = 0.20 (R / 20 GV)^-0.33 and N/O = 0.12 (R / 20 GV)^-0.10 (approximations of the
  AMS ratios: B/C PRL 117 (2016) 231102, N/O PRL 121 (2018) 051103), see :func:`default_particles`;
* protons that mimic e± are the same proton stream: the proton source is stored in every pattern, the
  ECAL ones included, and the e± selection must reject them.

Changing ``block_size`` changes the random sequence (not the statistics): keep it fixed in a run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import rng as rng_module
from .acceptance import (
    AMS02_GEOMETRY,
    DEFAULT_MAX_ZENITH_DEG,
    INNER_LAYERS,
    Geometry,
    crossings,
    generate,
    generation_acceptance_m2sr,
    isotropic_directions,
)
from .detector import DetectorResponse, respond
from .frames import Attitude
from .geomagnetic import DipoleField, directional_cutoff_gv
from .io import EVENT_SCHEMA
from .orbit import CircularOrbit
from .spectra import FluxTable
from .timeline import ams_state

# trigger-rate anchors of the hidden efficiency (method.md section 4: ~200 Hz at the equator,
# ~2000 Hz near the magnetic poles)
EQUATOR_RATE_HZ = 200.0
POLAR_RATE_HZ = 2000.0
EVENT_ID_CHUNK_FACTOR = 10**10

MC_PARTICLES = ("electron", "positron", "proton", "helium", "carbon", "oxygen", "boron", "nitrogen")
MC_ORIGINS = ("primary", "albedo", "poor_track")


@dataclass(frozen=True)
class SkyModel:
    """Sky anisotropy in galactic coordinates: flux ~ 1 + rho . n + n . Q . n.

    Parameters
    ----------
    dipole_gal : (rho_FB, rho_EW, rho_NS), the dipole along galactic x (l=0, b=0), y (l=90, b=0) and z
        (north galactic pole); dimensionless.
    quadrupole_gal : optional 3x3 symmetric traceless matrix Q (nested tuples), dimensionless.
    The flux must stay non-negative: |rho| - lambda_min(Q) <= 1 is required.
    """

    dipole_gal: tuple[float, float, float] = (0.0, 0.0, 0.0)
    quadrupole_gal: tuple | None = None

    def __post_init__(self):
        rho = np.asarray(self.dipole_gal, dtype=np.float64)
        if rho.shape != (3,) or not np.all(np.isfinite(rho)):
            raise ValueError(f"SkyModel: dipole_gal must be 3 finite numbers, got {self.dipole_gal!r}")
        object.__setattr__(self, "dipole_gal", tuple(float(v) for v in rho))
        lam_min = lam_max = 0.0
        if self.quadrupole_gal is not None:
            q = np.asarray(self.quadrupole_gal, dtype=np.float64)
            if q.shape != (3, 3) or not np.all(np.isfinite(q)):
                raise ValueError("SkyModel: quadrupole_gal must be a finite 3x3 matrix")
            if not np.allclose(q, q.T, atol=1e-12) or abs(np.trace(q)) > 1e-9:
                raise ValueError("SkyModel: quadrupole_gal must be symmetric and traceless")
            object.__setattr__(self, "quadrupole_gal", tuple(tuple(float(v) for v in row) for row in q))
            eig = np.linalg.eigvalsh(q)
            lam_min, lam_max = float(eig[0]), float(eig[-1])
        if np.linalg.norm(rho) - lam_min > 1.0:
            raise ValueError(
                f"SkyModel: |rho| = {np.linalg.norm(rho):.3g} with quadrupole eigenvalue {lam_min:.3g} makes the "
                "flux negative somewhere"
            )
        object.__setattr__(self, "_max_modulation", 1.0 + float(np.linalg.norm(rho)) + lam_max)

    @property
    def is_isotropic(self) -> bool:
        return not any(self.dipole_gal) and self.quadrupole_gal is None

    @property
    def max_modulation(self) -> float:
        """An upper bound of 1 + rho.n + n.Q.n over the sphere."""
        return self._max_modulation

    def modulation(self, direction_gal: np.ndarray) -> np.ndarray:
        """1 + rho . n + n . Q . n for galactic unit vectors (n, 3)."""
        n = np.asarray(direction_gal, dtype=np.float64)
        value = 1.0 + n @ np.asarray(self.dipole_gal)
        if self.quadrupole_gal is not None:
            value = value + np.einsum("ni,ij,nj->n", n, np.asarray(self.quadrupole_gal), n)
        return value


@dataclass(frozen=True, eq=False)
class ParticleSource:
    """One simulated particle stream.

    Parameters
    ----------
    name : mc_particle name (electron, positron, proton, helium, carbon, oxygen, boron, nitrogen).
    charge_z : charge number Z (1 for e± and protons).
    charge_sign : +1 or -1 (electrons -1).
    flux : FluxTable of the differential flux vs |rigidity| (GV; energy in GeV for e±).
    min_rigidity_gv : lowest true rigidity simulated, GV (below the analysis thresholds so that the
        resolution migration is modelled: e.g. 10 GV for nuclei with an 18 GV threshold).
    max_rigidity_gv : highest true rigidity, GV (None: no upper edge).
    sky : SkyModel of this particle.
    reconstruction_efficiency : probability (0, 1] that the track is well reconstructed; failures get
        the poor-track signature. The integrator calibrates it to the paper's sample sizes.
    electromagnetic : True for e± (TRD/ECAL respond as to electrons); default from the name.
    stored_patterns : pattern names one of which an event of this particle must satisfy to be stored
        (None: the ``stored_patterns`` argument of :func:`simulate_events`). E.g. protons only in
        ``l1_inner_l9`` and the ECAL patterns: the paper's proton sample needs L9, and the e±
        selections need the protons through the ECAL as background.
    """

    name: str
    charge_z: int
    charge_sign: int
    flux: FluxTable
    min_rigidity_gv: float
    max_rigidity_gv: float | None = None
    sky: SkyModel = field(default_factory=SkyModel)
    reconstruction_efficiency: float = 1.0
    electromagnetic: bool | None = None
    stored_patterns: tuple[str, ...] | None = None

    def __post_init__(self):
        if self.name not in MC_PARTICLES:
            raise ValueError(f"ParticleSource: name must be one of {MC_PARTICLES}, got {self.name!r}")
        if self.charge_sign not in (-1, 1) or int(self.charge_z) < 1:
            raise ValueError(f"ParticleSource {self.name}: bad charge Z={self.charge_z} sign={self.charge_sign}")
        if not self.min_rigidity_gv > 0:
            raise ValueError(f"ParticleSource {self.name}: min_rigidity_gv must be > 0 GV")
        if self.max_rigidity_gv is not None and not self.max_rigidity_gv > self.min_rigidity_gv:
            raise ValueError(f"ParticleSource {self.name}: max_rigidity_gv must exceed min_rigidity_gv")
        if not 0.0 < self.reconstruction_efficiency <= 1.0:
            raise ValueError(f"ParticleSource {self.name}: reconstruction_efficiency must be in (0, 1]")
        if self.electromagnetic is None:
            object.__setattr__(self, "electromagnetic", self.name in ("electron", "positron"))
        if self.stored_patterns is not None:
            object.__setattr__(self, "stored_patterns", tuple(self.stored_patterns))

    def integral_flux(self) -> float:
        """Integral flux between the simulated rigidity limits, m^-2 sr^-1 s^-1."""
        upper = np.inf if self.max_rigidity_gv is None else self.max_rigidity_gv
        return float(self.flux.integral_flux(self.min_rigidity_gv, upper))


# species -> (flux file, Z, sign) of the shipped AMS tables
_SPECIES_TABLES = {
    "electron": ("AMS-02_e-_rigidity.txt", 1, -1),
    "positron": ("AMS-02_e+_rigidity.txt", 1, 1),
    "proton": ("AMS-02_H_rigidity.txt", 1, 1),
    "helium": ("AMS-02_He_rigidity.txt", 2, 1),
    "carbon": ("AMS-02_C_rigidity.txt", 6, 1),
    "oxygen": ("AMS-02_O_rigidity.txt", 8, 1),
}
# neighbouring charges: name -> (parent, Z, ratio at the pivot, index change, pivot GV); see module docstring
SECONDARY_SCALINGS = {
    "boron": ("carbon", 5, 0.20, -0.33, 20.0),
    "nitrogen": ("oxygen", 7, 0.12, -0.10, 20.0),
}


def default_particles(
    flux_dir,
    min_rigidity_gv: dict | None = None,
    reconstruction_efficiency: dict | None = None,
    sky: dict | None = None,
    include_neighbours: bool = True,
    stored_patterns: dict | None = None,
) -> list[ParticleSource]:
    """The six species (and boron, nitrogen) from the AMS tables in ``flux_dir``.

    min_rigidity_gv : name -> GV (default 10 GV for e± and nuclei: below the 16 GeV / 18 GV thresholds);
    reconstruction_efficiency : name -> (0, 1] (default 1); sky : name -> SkyModel (default isotropic);
    stored_patterns : name -> tuple of pattern names (default None: the simulate_events argument);
    boron and nitrogen default to the values of carbon and oxygen for min_rigidity_gv and stored_patterns.
    """
    flux_dir = Path(flux_dir)
    min_rigidity_gv = min_rigidity_gv or {}
    reconstruction_efficiency = reconstruction_efficiency or {}
    sky = sky or {}
    stored_patterns = stored_patterns or {}
    tables = {}
    sources = []
    for name, (filename, z, sign) in _SPECIES_TABLES.items():
        tables[name] = FluxTable.from_file(flux_dir / filename)
        sources.append(
            ParticleSource(
                name,
                z,
                sign,
                tables[name],
                min_rigidity_gv.get(name, 10.0),
                sky=sky.get(name, SkyModel()),
                reconstruction_efficiency=reconstruction_efficiency.get(name, 1.0),
                stored_patterns=stored_patterns.get(name),
            )
        )
    if include_neighbours:
        for name, (parent, z, ratio, index, pivot) in SECONDARY_SCALINGS.items():
            table = tables[parent].scaled(ratio, index, pivot, name=f"{name} = {parent} x {ratio}(R/{pivot}GV)^{index}")
            sources.append(
                ParticleSource(
                    name,
                    z,
                    1,
                    table,
                    min_rigidity_gv.get(name, min_rigidity_gv.get(parent, 10.0)),
                    sky=sky.get(name, SkyModel()),
                    reconstruction_efficiency=reconstruction_efficiency.get(name, 1.0),
                    stored_patterns=stored_patterns.get(name, stored_patterns.get(parent)),
                )
            )
    return sources


def hidden_efficiency(
    trigger_rate_hz,
    amplitude: float = 0.03,
    equator_rate_hz: float = EQUATOR_RATE_HZ,
    polar_rate_hz: float = POLAR_RATE_HZ,
) -> np.ndarray:
    """Geographic efficiency unknown to the analysis:
    1 - amplitude (rate - equator_rate) / (polar_rate - equator_rate), clipped to [0, 1] (rates in Hz)."""
    if not polar_rate_hz > equator_rate_hz:
        raise ValueError("polar_rate_hz must exceed equator_rate_hz")
    if not 0.0 <= amplitude <= 1.0:
        raise ValueError(f"hidden efficiency amplitude must be in [0, 1], got {amplitude!r}")
    rate = np.asarray(trigger_rate_hz, dtype=np.float64)
    return np.clip(1.0 - amplitude * (rate - equator_rate_hz) / (polar_rate_hz - equator_rate_hz), 0.0, 1.0)


_TIMELINE_NEEDED = ("time_unix_s", "duration_s", "livetime_fraction", "trigger_rate_hz")


def _exposure_weights(
    timeline: pd.DataFrame, hidden_efficiency_amplitude, equator_rate_hz, polar_rate_hz, good_only
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(start times, durations, live seconds x hidden efficiency per interval) with checks."""
    if not isinstance(timeline, pd.DataFrame):
        raise ValueError("timeline: expected a pandas DataFrame with the timeline columns")
    needed = list(_TIMELINE_NEEDED) + (["good"] if good_only else [])
    missing = [c for c in needed if c not in timeline.columns]
    if missing:
        raise ValueError(f"timeline: missing column(s) {', '.join(missing)}")
    if len(timeline) == 0:
        raise ValueError("timeline: no rows")
    start = timeline["time_unix_s"].to_numpy(np.float64)
    duration = timeline["duration_s"].to_numpy(np.float64)
    live = timeline["livetime_fraction"].to_numpy(np.float64)
    rate = timeline["trigger_rate_hz"].to_numpy(np.float64)
    for name, values in (
        ("time_unix_s", start),
        ("duration_s", duration),
        ("livetime_fraction", live),
        ("trigger_rate_hz", rate),
    ):
        if not np.all(np.isfinite(values)):
            raise ValueError(f"timeline: column {name} has non-finite values")
    if np.any(duration <= 0):
        raise ValueError("timeline: duration_s must be positive")
    if np.any((live < 0) | (live > 1)):
        raise ValueError("timeline: livetime_fraction must be in [0, 1]")
    if np.any(start[1:] < start[:-1] + duration[:-1] - 1e-6):
        raise ValueError("timeline: intervals are not increasing and non-overlapping in time_unix_s")
    weight = duration * live * hidden_efficiency(rate, hidden_efficiency_amplitude, equator_rate_hz, polar_rate_hz)
    if good_only:
        weight = weight * timeline["good"].to_numpy(bool)
    return start, duration, weight


def expected_counts(
    timeline: pd.DataFrame,
    particles,
    *,
    geometry: Geometry = AMS02_GEOMETRY,
    max_zenith_deg: float = DEFAULT_MAX_ZENITH_DEG,
    prescale: float = 1.0,
    hidden_efficiency_amplitude: float = 0.03,
    equator_rate_hz: float = EQUATOR_RATE_HZ,
    polar_rate_hz: float = POLAR_RATE_HZ,
    good_only: bool = False,
    stored_patterns=None,
    acceptance_samples: int = 400_000,
) -> pd.DataFrame:
    """Expected numbers per particle for a timeline, before the sky, cutoff and albedo steps.

    Returns one row per particle: ``particle, integral_flux_m2_sr_s`` (between its rigidity limits),
    ``exposure_s`` (sum of live seconds x hidden efficiency), ``generation_acceptance_m2sr``,
    ``expected_generated`` (the Poisson mean drawn by :func:`simulate_events`),
    ``stored_acceptance_m2sr`` (any stored pattern, Monte Carlo with ``acceptance_samples``) and
    ``expected_in_patterns``. Parameters as in :func:`simulate_events`.
    """
    if not prescale >= 1.0:
        raise ValueError(f"prescale must be >= 1, got {prescale!r}")
    _, _, weight = _exposure_weights(timeline, hidden_efficiency_amplitude, equator_rate_hz, polar_rate_hz, good_only)
    exposure_s = float(weight.sum())
    a_gen = generation_acceptance_m2sr(geometry, max_zenith_deg)
    rng = np.random.default_rng(2024)
    gen = generate(rng, acceptance_samples, geometry, max_zenith_deg)
    rows = []
    for particle in particles:
        patterns = _stored_patterns(geometry, particle.stored_patterns or stored_patterns)
        any_pattern = np.zeros(acceptance_samples, dtype=bool)
        for name in patterns:
            any_pattern |= gen.patterns[name]
        stored_acceptance = a_gen * any_pattern.mean()
        flux = particle.integral_flux()
        n_gen = flux * a_gen * exposure_s / prescale
        rows.append(
            {
                "particle": particle.name,
                "integral_flux_m2_sr_s": flux,
                "exposure_s": exposure_s,
                "generation_acceptance_m2sr": a_gen,
                "expected_generated": n_gen,
                "stored_acceptance_m2sr": stored_acceptance,
                "expected_in_patterns": flux * stored_acceptance * exposure_s / prescale,
            }
        )
    return pd.DataFrame(rows)


def _stored_patterns(geometry: Geometry, stored_patterns) -> tuple[str, ...]:
    names = geometry.pattern_names if stored_patterns is None else tuple(stored_patterns)
    for name in names:
        geometry.pattern(name)
    if not names:
        raise ValueError("stored_patterns: at least one pattern is needed")
    return names


_RECORDED_PLANES = ("L1", "L9", "TRD_top", "TRD_bottom", "ECAL_top", *INNER_LAYERS)


def _candidates(rng, n, particle, geometry, max_zenith_deg, patterns, start, duration, weight):
    """n generated particles; returns the ones in a stored pattern (dict of arrays).

    The geometry is drawn first and the time and rigidity only for the particles kept: they are
    independent of the geometry, so this is the same distribution at a fraction of the cost.
    """
    direction = isotropic_directions(rng, n, max_zenith_deg)
    x, y = geometry.plane(geometry.generation_plane).uniform_points(rng, n)
    position = np.column_stack([x, y])
    members = {name: geometry.pattern(name) for name in patterns}
    needed = sorted({plane for planes in members.values() for plane in planes})
    hits = crossings(geometry, position, direction, needed)
    keep = np.zeros(n, dtype=bool)
    for planes in members.values():
        ok = np.ones(n, dtype=bool)
        for plane in planes:
            ok &= hits[plane]
        keep |= ok
    direction, position = direction[keep], position[keep]
    m = direction.shape[0]
    present = {p.name for p in geometry.planes}
    extra = [p for p in _RECORDED_PLANES if p in present and p not in hits]
    hits = {name: values[keep] for name, values in hits.items()}
    hits.update(crossings(geometry, position, direction, extra))
    # number per interval (multinomial in the interval weights), then uniform inside each interval
    interval = np.repeat(np.arange(weight.size), rng.multinomial(m, weight / weight.sum()))
    times = start[interval] + duration[interval] * rng.random(m)
    times = np.minimum(times, np.nextafter(start[interval] + duration[interval], -np.inf))
    rigidity = particle.flux.sample(rng, m, particle.min_rigidity_gv, particle.max_rigidity_gv)
    out = {"time": times, "rigidity": rigidity, "direction": direction}
    for plane in _RECORDED_PLANES:
        out[plane] = hits[plane] if plane in hits else np.zeros(m, dtype=bool)
    return out


def _subset(candidates: dict, mask) -> dict:
    return {key: value[mask] for key, value in candidates.items()}


def _to_gal_lb(direction_gal):
    x, y, z = direction_gal[:, 0], direction_gal[:, 1], direction_gal[:, 2]
    l_deg = np.degrees(np.arctan2(y, x)) % 360.0
    b_deg = np.degrees(np.arcsin(np.clip(z, -1.0, 1.0)))
    return l_deg, b_deg


def _block_events(rng, candidates, particle, origin_albedo, orbit, attitude, field, response, poor_track_fraction):
    """Apply the sky/cutoff (primaries) and the detector response; return the event columns."""
    direction = candidates["direction"]
    if origin_albedo:
        direction = -direction  # upward-going along the same line
    state = ams_state(candidates["time"], orbit, attitude)
    direction_gal = np.einsum("ni,nij->nj", direction, state["axes_gal"])
    if not origin_albedo:
        keep = np.ones(direction.shape[0], dtype=bool)
        if not particle.sky.is_isotropic:
            keep &= rng.random(keep.size) * particle.sky.max_modulation < particle.sky.modulation(direction_gal)
        direction_itrs = np.einsum("ni,nij->nj", direction, state["axes_itrs"])
        cutoff = directional_cutoff_gv(state["position_itrs_km"], direction_itrs, particle.charge_sign, field)
        keep &= candidates["rigidity"] >= cutoff
        candidates = _subset(candidates, keep)
        direction, direction_gal = direction[keep], direction_gal[keep]
    n = direction.shape[0]
    poor = (rng.random(n) < poor_track_fraction) | (rng.random(n) >= particle.reconstruction_efficiency)
    n_inner = np.zeros(n, dtype=np.int8)
    for plane in INNER_LAYERS:
        n_inner += candidates[plane].astype(np.int8)
    measured = respond(
        rng,
        charge_z=int(particle.charge_z),
        charge_sign=particle.charge_sign,
        electromagnetic=bool(particle.electromagnetic),
        rigidity_gv=candidates["rigidity"],
        has_l1=candidates["L1"],
        has_l9=candidates["L9"],
        n_inner_layers=n_inner,
        has_trd=candidates["TRD_top"] & candidates["TRD_bottom"],
        has_ecal=candidates["ECAL_top"],
        upward=np.full(n, origin_albedo),
        poor_track=poor,
        response=response,
    )
    l_deg, b_deg = _to_gal_lb(direction_gal)
    if origin_albedo:
        origin = np.full(n, MC_ORIGINS.index("albedo"), dtype=np.int8)
    else:
        origin = np.where(poor, MC_ORIGINS.index("poor_track"), MC_ORIGINS.index("primary")).astype(np.int8)
    return {
        "time_unix_s": candidates["time"],
        **{k: v for k, v in measured.items() if k not in ("has_trd_track", "has_ecal_cluster")},
        "has_l1": candidates["L1"],
        "has_l9": candidates["L9"],
        "n_inner_layers": n_inner,
        "has_trd_track": measured["has_trd_track"],
        "has_ecal_cluster": measured["has_ecal_cluster"],
        "dir_det_x": direction[:, 0].astype(np.float32),
        "dir_det_y": direction[:, 1].astype(np.float32),
        "dir_det_z": direction[:, 2].astype(np.float32),
        "gal_l_deg": l_deg,
        "gal_b_deg": b_deg,
        "mc_particle": np.full(n, MC_PARTICLES.index(particle.name), dtype=np.int8),
        "mc_rigidity_gv": candidates["rigidity"].astype(np.float32),
        "mc_origin": origin,
    }


def simulate_events(
    timeline: pd.DataFrame,
    *,
    seed: int,
    chunk_id: int,
    particles,
    geometry: Geometry = AMS02_GEOMETRY,
    orbit: CircularOrbit | None = None,
    attitude: Attitude | None = None,
    field: DipoleField | None = None,
    response: DetectorResponse | None = None,
    prescale: float = 1.0,
    hidden_efficiency_amplitude: float = 0.03,
    equator_rate_hz: float = EQUATOR_RATE_HZ,
    polar_rate_hz: float = POLAR_RATE_HZ,
    albedo_fraction: float = 0.002,
    poor_track_fraction: float = 0.01,
    max_zenith_deg: float = DEFAULT_MAX_ZENITH_DEG,
    good_only: bool = False,
    stored_patterns=None,
    block_size: int = 200_000,
) -> pd.DataFrame:
    """Simulate the events of one timeline chunk (all particles in one stream, sorted by time).

    Parameters
    ----------
    timeline : DataFrame with at least time_unix_s (s), duration_s (s), livetime_fraction,
        trigger_rate_hz (Hz) (and ``good`` when good_only); the chunk's intervals.
    seed : run seed; chunk_id : chunk number (>= 0), also the event_id prefix.
    particles : sequence of ParticleSource (index k in the sequence = random stream key).
    geometry : detector Geometry (AMS02_GEOMETRY).
    orbit, attitude, field : CircularOrbit, Attitude, DipoleField (defaults when None); must be the
        ones the timeline was made with.
    response : DetectorResponse (defaults when None).
    prescale : keep 1 in ``prescale`` particles (>= 1): expected numbers are divided by it.
    hidden_efficiency_amplitude : relative efficiency loss at polar_rate_hz (0.03 = 3%).
    equator_rate_hz, polar_rate_hz : trigger-rate anchors of the hidden efficiency, Hz (200, 2000).
    albedo_fraction : expected share of upward-going albedo among a particle's stored events, [0, 1).
    poor_track_fraction : share of poorly reconstructed tracks, on top of 1 - reconstruction_efficiency.
    max_zenith_deg : generation zenith limit, deg (must exceed the acceptance of every pattern, 50).
    good_only : simulate only the good intervals (saves time; default False: SAA etc. included and the
        analysis must cut them).
    stored_patterns : pattern names an event must satisfy one of to be stored (default: all); a
        particle's own ``stored_patterns`` take precedence.
    block_size : generated particles per block (memory ~1 kB per particle in a block).

    Returns
    -------
    DataFrame with the io.EVENT_SCHEMA columns plus mc_particle, mc_rigidity_gv, mc_origin (pandas
    categoricals of the documented strings), event_id = chunk_id x 1e10 + index after sorting by time.
    """
    if int(chunk_id) < 0:
        raise ValueError(f"chunk_id must be >= 0, got {chunk_id!r}")
    if not prescale >= 1.0:
        raise ValueError(f"prescale must be >= 1, got {prescale!r}")
    if not 0.0 <= albedo_fraction < 1.0:
        raise ValueError(f"albedo_fraction must be in [0, 1), got {albedo_fraction!r}")
    if not 0.0 <= poor_track_fraction <= 1.0:
        raise ValueError(f"poor_track_fraction must be in [0, 1], got {poor_track_fraction!r}")
    if int(block_size) < 1:
        raise ValueError(f"block_size must be >= 1, got {block_size!r}")
    orbit = orbit or CircularOrbit()
    attitude = attitude or Attitude()
    field = field or DipoleField()
    _stored_patterns(geometry, stored_patterns)
    start, duration, weight = _exposure_weights(
        timeline, hidden_efficiency_amplitude, equator_rate_hz, polar_rate_hz, good_only
    )
    exposure_s = float(weight.sum())
    a_gen = generation_acceptance_m2sr(geometry, max_zenith_deg)
    names = [p.name for p in particles]
    if len(set(names)) != len(names):
        raise ValueError(f"particles: duplicate names {names}")

    pieces = []
    for k, particle in enumerate(particles):
        gen_rng = rng_module.generator(seed, "events", int(chunk_id), k)
        patterns = _stored_patterns(geometry, particle.stored_patterns or stored_patterns)
        expected = particle.integral_flux() * a_gen * exposure_s / prescale
        n_total = int(gen_rng.poisson(expected)) if exposure_s > 0 else 0
        done = 0
        while done < n_total:
            size = min(int(block_size), n_total - done)
            done += size
            candidates = _candidates(
                gen_rng, size, particle, geometry, max_zenith_deg, patterns, start, duration, weight
            )
            primaries = _block_events(
                gen_rng, candidates, particle, False, orbit, attitude, field, response, poor_track_fraction
            )
            pieces.append(primaries)
            n_primary = primaries["time_unix_s"].size
            if albedo_fraction > 0 and n_primary > 0:
                n_albedo = int(gen_rng.poisson(albedo_fraction / (1.0 - albedo_fraction) * n_primary))
                albedo = {}
                collected = 0
                parts = []
                while collected < n_albedo:
                    extra = _candidates(
                        gen_rng,
                        max(64, 2 * (n_albedo - collected)),
                        particle,
                        geometry,
                        max_zenith_deg,
                        patterns,
                        start,
                        duration,
                        weight,
                    )
                    take = min(extra["time"].size, n_albedo - collected)
                    parts.append(_subset(extra, slice(0, take)))
                    collected += take
                if parts:
                    albedo = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
                    pieces.append(
                        _block_events(
                            gen_rng, albedo, particle, True, orbit, attitude, field, response, poor_track_fraction
                        )
                    )
    return _assemble(pieces, int(chunk_id))


def _assemble(pieces, chunk_id: int) -> pd.DataFrame:
    """Concatenate the blocks column by column (freeing the blocks as it goes), sort by time."""
    columns = [c for c in EVENT_SCHEMA if c != "event_id"] + ["mc_particle", "mc_rigidity_gv", "mc_origin"]
    if not pieces:
        pieces = [_empty_columns()]

    def take(name):
        values = np.concatenate([p.pop(name) for p in pieces])
        return values

    times = take("time_unix_s")
    order = np.argsort(times, kind="stable")
    n = order.size
    frame = {
        "event_id": np.int64(chunk_id) * EVENT_ID_CHUNK_FACTOR + np.arange(n, dtype=np.int64),
        "time_unix_s": times[order],
    }
    del times
    for c in columns[1:]:
        frame[c] = take(c)[order]
    frame["mc_particle"] = pd.Categorical.from_codes(frame["mc_particle"], categories=list(MC_PARTICLES))
    frame["mc_origin"] = pd.Categorical.from_codes(frame["mc_origin"], categories=list(MC_ORIGINS))
    return pd.DataFrame(frame, columns=["event_id", *columns])


def _empty_columns() -> dict:
    f32 = np.empty(0, dtype=np.float32)
    return {
        "time_unix_s": np.empty(0),
        "rigidity_gv": f32,
        "rigidity_full_span_gv": f32,
        "track_chi2_ndf": f32,
        "has_l1": np.empty(0, bool),
        "has_l9": np.empty(0, bool),
        "n_inner_layers": np.empty(0, np.int8),
        "charge": f32,
        "beta": f32,
        "has_trd_track": np.empty(0, bool),
        "trd_estimator": f32,
        "has_ecal_cluster": np.empty(0, bool),
        "ecal_energy_gev": f32,
        "ecal_estimator": f32,
        "dir_det_x": f32,
        "dir_det_y": f32,
        "dir_det_z": f32,
        "gal_l_deg": np.empty(0),
        "gal_b_deg": np.empty(0),
        "mc_particle": np.empty(0, np.int8),
        "mc_rigidity_gv": f32,
        "mc_origin": np.empty(0, np.int8),
    }


__all__ = [
    "SkyModel",
    "ParticleSource",
    "default_particles",
    "expected_counts",
    "hidden_efficiency",
    "simulate_events",
]
