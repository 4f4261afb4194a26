"""Events of one time chunk: timeline + sky model + spectra + acceptance + geomagnetic cutoff + detector.

The chunk is simulated in time slices of ``slice_s`` (one day by default; bounded memory whatever the
chunk length). For each slice, particle source (a species, or a background such as boron) and stored
region (:mod:`pattern_lines`: each stored pattern minus the ones listed before it), with its own random
stream ``rng.generator(seed, "events", chunk_id, slice, particle name, region)`` (keyed by the name, so
the order of the particles does not matter):

1. expected number of envelope point pairs ``N = F(>R_min) x G_pairs x sum_i(live_i x eps_hidden_i) /
   prescale`` (x the reconstruction efficiency when failed reconstructions are not stored: an exact
   Poisson thinning); the number drawn is Poisson(N);
2. the lines of the pairs inside the region (:func:`pattern_lines.draw_lines`: exactly the isotropic
   flux restricted to the stored patterns, 75-90% of the pairs are kept);
3. event times: interval i with probability proportional to its weight, uniform inside it; rigidity
   from the spectrum (exact inverse CDF);
4. galactic arrival direction and Stoermer directional cutoff from the AMS orientation interpolated
   inside the interval (:mod:`interval_state`), dropped below the cutoff; or, with ``deflection`` (an
   IGRF-13 table of asymptotic directions), the backtraced direction and the trajectory's allowed
   fraction (:mod:`deflection`); sky anisotropy by rejection at that direction
   (kept with probability (1 + rho.n + n.Q.n) / (1 + max));
5. upward-going albedo and poor tracks, then the detector response (:func:`detector.respond`); events
   of a region whose pattern has a ``pattern_min_ecal_energy_gev`` are written only above that ECAL
   energy (for hadrons, whose deposit is at most Z |R|, such a region is generated above E / Z only);
   with ``store_above``, only events whose measured |rigidity| or ECAL energy reaches a selection's
   lowest threshold are written.

The hidden efficiency ``eps_hidden = 1 - amplitude (rate - equator_rate) / (polar_rate - equator_rate)``
(clipped to [0, 1]) is a geographic efficiency variation the analysis is not told about; so are the
effects of :mod:`detector_effects` (longitude, drift and trigger non-linearity multiply the interval
weights; a dead tracker region clears hits in ``_candidates``). A particle
can have its own data-taking end (``stop_unix_s``: e.g. e± over the paper's first 6.5 years).

Simplifications (for the README):

* without ``deflection`` the backtraced (asymptotic) direction is taken equal to the arrival direction
  (no geomagnetic bending) and the cutoff is the Stoermer cutoff of the arrival direction (no penumbra);
  with it, the bending and the cutoff are those of the IGRF-13 table (one epoch, one altitude; no
  external field);
* albedo particles take the spectrum of their species, a random detector direction of the region
  reversed (upward-going along the same line) and no cutoff; their number is Poisson with mean
  ``albedo_fraction / (1 - albedo_fraction)`` x the stored primaries of the block;
* boron and nitrogen are the carbon and oxygen tables scaled (:data:`sources.SECONDARY_SCALINGS`);
* protons that mimic e± are the same proton stream, stored also through the ECAL patterns;
* with ``store_reconstruction_failures=False`` the 1 - eps_reco failed reconstructions (a poor-track
  signature no selection keeps: chi2/ndf >= 12) are not written; the ``poor_track_fraction`` share of
  poor tracks still is, as the background the track-quality cut must remove.

Changing ``block_size`` or ``slice_s`` changes the random sequence (not the statistics).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import rng as rng_module
from .acceptance import AMS02_GEOMETRY, DEFAULT_MAX_ZENITH_DEG, INNER_LAYERS, Geometry
from .asymptotic import AsymptoticTable
from .constants import STOERMER_CONSTANT_GV
from .deflection import backtrace
from .detector import DetectorResponse, respond
from .detector_effects import DetectorEffects, apply_dead_layer
from .event_rates import (  # noqa: F401 (re-exported)
    EQUATOR_RATE_HZ,
    POLAR_RATE_HZ,
    _exposure_weights,
    _stored_patterns,
    expected_counts,
    hidden_efficiency,
)
from .frames import Attitude
from .geomagnetic import DipoleField
from .interval_state import IntervalStates
from .io import EVENT_SCHEMA
from .orbit import CircularOrbit
from .pattern_lines import draw_lines, plane_bits, regions
from .sources import MC_PARTICLES, SECONDARY_SCALINGS, ParticleSource, SkyModel, default_particles  # noqa: F401 (re-exported)

EVENT_ID_CHUNK_FACTOR = 10**10
DAY_S = 86400.0

MC_ORIGINS = ("primary", "albedo", "poor_track")
# a hadron's MIP deposit 0.25 Z^2 (1 + 0.1 g) GeV (detector.respond) is taken as unable to exceed
# 0.25 Z^2 (1 + 0.1 x MIP_MAX_SIGMA) GeV (g a standard normal: P(g > 8) = 6e-16)
MIP_MAX_SIGMA = 8.0


@dataclass(frozen=True)
class _Plan:
    """One stored region of one particle: its lowest rigidity (GV), integral flux (m^-2 sr^-1 s^-1) and
    ECAL-energy floor (GeV, None: every event is written)."""

    region: object
    min_rigidity_gv: float
    integral_flux: float
    min_ecal_energy_gev: float | None


def _plans(particle: ParticleSource, geometry: Geometry, patterns, response: DetectorResponse) -> list[_Plan]:
    unknown = set(particle.pattern_min_ecal_energy_gev) - set(patterns)
    if unknown:
        raise ValueError(f"particle {particle.name}: pattern_min_ecal_energy_gev names {sorted(unknown)}, which are "
                         f"not among its stored patterns {list(patterns)}")
    plans = []
    upper = np.inf if particle.max_rigidity_gv is None else particle.max_rigidity_gv
    for region in regions(geometry, patterns):
        e_min = particle.pattern_min_ecal_energy_gev.get(region.pattern)
        r_min = particle.min_rigidity_gv
        if e_min is not None:
            if "ECAL_top" not in region.planes:
                raise ValueError(f"particle {particle.name}: pattern {region.pattern} has no ECAL, so "
                                 "pattern_min_ecal_energy_gev cannot apply to it")
            z = particle.charge_z
            if not particle.electromagnetic and response.mip_energy_gev * z**2 * (1 + 0.1 * MIP_MAX_SIGMA) < e_min:
                r_min = max(r_min, e_min / z)  # deposit <= Z |R| (detector.respond)
        flux = float(particle.flux.integral_flux(r_min, upper)) if r_min < upper else 0.0
        plans.append(_Plan(region, r_min, flux, e_min))
    return plans


@dataclass
class _Slice:
    """The intervals [lo, hi) of the chunk simulated together, with their interpolated AMS states."""

    number: int
    start: np.ndarray
    weight: np.ndarray
    states: IntervalStates
    n_clamped: int = 0  # backtraced directions outside the table's direction grid
    effects: DetectorEffects | None = None


def _candidates(rng, n_pairs, particle, plan, geometry, max_zenith_deg, piece: _Slice, active, weight):
    """Lines of n_pairs envelope pairs in the plan's region, with times and rigidities (dict of arrays)."""
    direction, bits, top_xy = draw_lines(rng, n_pairs, geometry, plan.region, max_zenith_deg, with_points=True)
    m = direction.shape[0]
    interval = np.repeat(np.arange(weight.size), rng.multinomial(m, weight / weight.sum()))
    begin = piece.start[interval]
    times = np.minimum(begin + active[interval] * rng.random(m), np.nextafter(begin + active[interval], -np.inf))
    rigidity = particle.flux.sample(rng, m, plan.min_rigidity_gv, particle.max_rigidity_gv)
    bits = apply_dead_layer(piece.effects, bits, times, top_xy, plan.region.top.z_cm, direction, geometry)
    return {"interval": interval, "time": times, "rigidity": rigidity, "direction": direction, "planes": bits}


def _subset(candidates: dict, mask) -> dict:
    return {key: value[mask] for key, value in candidates.items()}


def _block_events(rng, c, particle, plan, albedo, piece: _Slice, response, poor_track_fraction, store_failures,
                  geometry, deflection=None):
    """Sky, cutoff (primaries) and the detector response of candidates; (event columns, primaries before
    the ECAL-energy floor)."""
    direction = -c["direction"] if albedo else c["direction"]  # albedo: upward-going along the same line
    traced = deflection is not None and not albedo
    gal, cutoff = piece.states.evaluate(c["interval"], c["time"], direction,
                                        None if albedo or traced else particle.charge_sign)
    if traced:  # the tracing decides what is allowed (with its penumbra) and where the particle came from
        backtraced = backtrace(deflection, direction, *piece.states.earth_fixed(c["interval"], c["time"]),
                               c["rigidity"], particle.charge_sign)
        piece.n_clamped += backtraced.n_clamped
        gal = backtraced.galactic
        cutoff = np.where(rng.random(gal.shape[0]) < backtraced.allowed_fraction, -np.inf, np.inf)
    if not albedo:
        keep = c["rigidity"] >= cutoff
        if not particle.sky.is_isotropic:
            keep &= rng.random(keep.size) * particle.sky.max_modulation < particle.sky.modulation(gal)
        c = _subset(c, keep)
        direction, gal = direction[keep], gal[keep]
    n = direction.shape[0]
    poor = rng.random(n) < poor_track_fraction
    if store_failures:
        poor |= rng.random(n) >= particle.reconstruction_efficiency
    bits, bit = c["planes"], plane_bits(geometry)
    n_inner = np.bitwise_count(bits & np.uint16(sum(bit[p] for p in INNER_LAYERS))).astype(np.int8)
    has_l1, has_l9 = (bits & np.uint16(bit["L1"])) != 0, (bits & np.uint16(bit["L9"])) != 0
    trd_bits = np.uint16(bit["TRD_top"] | bit["TRD_bottom"])
    measured = respond(
        rng, charge_z=int(particle.charge_z), charge_sign=particle.charge_sign,
        electromagnetic=bool(particle.electromagnetic), rigidity_gv=c["rigidity"], has_l1=has_l1, has_l9=has_l9,
        n_inner_layers=n_inner, has_trd=(bits & trd_bits) == trd_bits,
        has_ecal=(bits & np.uint16(bit["ECAL_top"])) != 0,
        upward=np.full(n, albedo), poor_track=poor, response=response,
    )
    if albedo:
        origin = np.full(n, MC_ORIGINS.index("albedo"), dtype=np.int8)
    else:
        origin = np.where(poor, MC_ORIGINS.index("poor_track"), MC_ORIGINS.index("primary")).astype(np.int8)
    l_deg = np.degrees(np.arctan2(gal[:, 1], gal[:, 0])) % 360.0
    b_deg = np.degrees(np.arcsin(np.clip(gal[:, 2], -1.0, 1.0)))
    columns = {
        "time_unix_s": c["time"],
        **{k: v for k, v in measured.items() if k not in ("has_trd_track", "has_ecal_cluster")},
        "has_l1": has_l1,
        "has_l9": has_l9,
        "n_inner_layers": n_inner,
        "has_trd_track": measured["has_trd_track"],
        "has_ecal_cluster": measured["has_ecal_cluster"],
        "dir_det_x": direction[:, 0].astype(np.float32),
        "dir_det_y": direction[:, 1].astype(np.float32),
        "dir_det_z": direction[:, 2].astype(np.float32),
        # float32: 2e-5 deg rounding, against 1.8 deg HEALPix Nside-32 pixels
        "gal_l_deg": l_deg.astype(np.float32),
        "gal_b_deg": b_deg.astype(np.float32),
        "mc_particle": np.full(n, MC_PARTICLES.index(particle.name), dtype=np.int8),
        "mc_rigidity_gv": c["rigidity"].astype(np.float32),
        "mc_origin": origin,
    }
    if plan.min_ecal_energy_gev is not None:  # NaN (no cluster) compares False
        columns = _subset(columns, columns["ecal_energy_gev"] >= np.float64(plan.min_ecal_energy_gev))
    floors = particle.store_above
    if floors:  # written only if a selection can take it (NaN compares False)
        keep = np.zeros(columns["time_unix_s"].size, dtype=bool)
        if "rigidity_gv" in floors:
            for name in ("rigidity_gv", "rigidity_full_span_gv"):
                keep |= np.abs(columns[name]) >= np.float64(floors["rigidity_gv"])  # compared in float64
        if "ecal_energy_gev" in floors:
            keep |= columns["ecal_energy_gev"] >= np.float64(floors["ecal_energy_gev"])
        columns = _subset(columns, keep)
    return columns, n


def _region_events(seed, chunk_id, piece, particle, plan, expected, geometry, max_zenith_deg, active, weight,
                   response, albedo_fraction, poor_track_fraction, store_failures, block_size, deflection=None):
    """All event blocks of one (slice, particle, region)."""
    gen_rng = rng_module.generator(seed, "events", int(chunk_id), int(piece.number), particle.name, plan.region.index)
    n_total = int(gen_rng.poisson(expected)) if expected > 0 else 0
    args = (particle, plan, geometry, max_zenith_deg, piece, active, weight)
    kwargs = dict(response=response, poor_track_fraction=poor_track_fraction, store_failures=store_failures,
                  geometry=geometry, deflection=deflection)
    pieces = []
    for done in range(0, n_total, int(block_size)):
        candidates = _candidates(gen_rng, min(int(block_size), n_total - done), *args)
        primaries, n_primary = _block_events(gen_rng, candidates, particle, plan, False, piece, **kwargs)
        pieces.append(primaries)
        n_albedo = int(gen_rng.poisson(albedo_fraction / (1.0 - albedo_fraction) * n_primary)) if n_primary else 0
        parts, collected = [], 0
        while collected < n_albedo:
            extra = _candidates(gen_rng, max(64, 2 * (n_albedo - collected)), *args)
            take = min(extra["time"].size, n_albedo - collected)
            parts.append(_subset(extra, slice(0, take)))
            collected += take
        if parts:
            albedo = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
            pieces.append(_block_events(gen_rng, albedo, particle, plan, True, piece, **kwargs)[0])
    return pieces


def iter_event_slices(
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
    store_reconstruction_failures: bool = True,
    particle_stop_unix_s: dict | None = None,
    stoermer_constant_gv: float = STOERMER_CONSTANT_GV,
    slice_s: float = DAY_S,
    block_size: int = 200_000,
    deflection: AsymptoticTable | None = None,
    detector_effects: DetectorEffects | None = None,
):
    """The events of one timeline chunk, one DataFrame per time slice of ``slice_s`` (in time order).

    Parameters are those of :func:`simulate_events`; each frame is sorted by time and the event ids run
    on from one slice to the next (chunk_id x 1e10 + index in the chunk).
    """
    if int(chunk_id) < 0:
        raise ValueError(f"chunk_id must be >= 0, got {chunk_id!r}")
    if not prescale >= 1.0:
        raise ValueError(f"prescale must be >= 1, got {prescale!r}")
    if not 0.0 <= albedo_fraction < 1.0:
        raise ValueError(f"albedo_fraction must be in [0, 1), got {albedo_fraction!r}")
    if not 0.0 <= poor_track_fraction <= 1.0:
        raise ValueError(f"poor_track_fraction must be in [0, 1], got {poor_track_fraction!r}")
    if int(block_size) < 1 or not slice_s > 0:
        raise ValueError(f"block_size must be >= 1 and slice_s > 0 s, got {block_size!r}, {slice_s!r}")
    orbit, attitude, field = orbit or CircularOrbit(), attitude or Attitude(), field or DipoleField()
    response = response or DetectorResponse()
    _stored_patterns(geometry, stored_patterns)
    start, duration, weight = _exposure_weights(
        timeline, hidden_efficiency_amplitude, equator_rate_hz, polar_rate_hz, good_only, detector_effects
    )
    names = [p.name for p in particles]
    if len(set(names)) != len(names):
        raise ValueError(f"particles: duplicate names {names}")
    stops = dict(particle_stop_unix_s or {})
    if set(stops) - set(names):
        raise ValueError(f"particle_stop_unix_s: unknown particle(s) {sorted(set(stops) - set(names))}")
    plans = {p.name: _plans(p, geometry, _stored_patterns(geometry, p.stored_patterns or stored_patterns), response)
             for p in particles}
    # live time before each particle's data-taking end, per interval
    active = {p.name: duration if stops.get(p.name) is None else np.clip(stops[p.name] - start, 0.0, duration)
              for p in particles}
    slice_number = np.floor((start - start[0]) / float(slice_s)).astype(np.int64)
    bounds = np.concatenate([[0], np.flatnonzero(np.diff(slice_number)) + 1, [start.size]])
    next_id = np.int64(chunk_id) * EVENT_ID_CHUNK_FACTOR
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        states = IntervalStates(start[lo:hi], duration[lo:hi], orbit, attitude, field, stoermer_constant_gv)
        piece = _Slice(int(slice_number[lo]), start[lo:hi], weight[lo:hi], states, effects=detector_effects)
        blocks = []
        for particle in particles:
            live = active[particle.name][lo:hi]
            w = piece.weight * live / duration[lo:hi]
            exposure_s = float(w.sum())
            if exposure_s <= 0:
                continue
            thinning = 1.0 if store_reconstruction_failures else particle.reconstruction_efficiency
            for plan in plans[particle.name]:
                expected = plan.integral_flux * plan.region.pair_acceptance_m2sr * exposure_s * thinning / prescale
                blocks += _region_events(seed, chunk_id, piece, particle, plan, expected, geometry, max_zenith_deg,
                                         live, w, response, albedo_fraction, poor_track_fraction,
                                         store_reconstruction_failures, block_size, deflection)
        frame = _assemble(blocks, next_id)
        frame.attrs["n_clamped_directions"] = piece.n_clamped
        next_id += len(frame)
        yield frame


def simulate_events(timeline: pd.DataFrame, **kwargs) -> pd.DataFrame:
    """Simulate the events of one timeline chunk (all particles in one stream, sorted by time).

    Parameters (keywords)
    ---------------------
    timeline : DataFrame with at least time_unix_s (s), duration_s (s), livetime_fraction,
        trigger_rate_hz (Hz) (and ``good`` when good_only); the chunk's intervals.
    seed : run seed; chunk_id : chunk number (>= 0), also the event_id prefix.
    particles : sequence of ParticleSource (distinct names; the name keys the random stream).
    geometry : detector Geometry (AMS02_GEOMETRY).
    orbit, attitude, field : CircularOrbit, Attitude, DipoleField (defaults when None); must be the
        ones the timeline was made with; stoermer_constant_gv : GV (59.6, as the timeline's).
    response : DetectorResponse (defaults when None).
    prescale : keep 1 in ``prescale`` particles (>= 1): expected numbers are divided by it.
    hidden_efficiency_amplitude : relative efficiency loss at polar_rate_hz (0.03 = 3%).
    equator_rate_hz, polar_rate_hz : trigger-rate anchors of the hidden efficiency, Hz (200, 2000).
    albedo_fraction : expected share of upward-going albedo among a particle's stored events, [0, 1).
    poor_track_fraction : share of poorly reconstructed tracks, on top of 1 - reconstruction_efficiency.
    max_zenith_deg : zenith limit of the tracks, deg (must exceed the acceptance of every pattern, 50).
    good_only : simulate only the good intervals (saves time; default False: SAA etc. included and the
        analysis must cut them).
    stored_patterns : pattern names an event must satisfy one of to be stored (default: all); a
        particle's own ``stored_patterns`` take precedence.
    store_reconstruction_failures : write the 1 - reconstruction_efficiency failures as poor tracks
        (True) or leave them out (False: an exact thinning; no selection keeps them).
    particle_stop_unix_s : particle name -> end of its data taking (POSIX s); default: the whole timeline.
    deflection : AsymptoticTable or None. With a table, primaries are backtraced (:mod:`deflection`): the
        trajectory's allowed fraction replaces the Stoermer cutoff, the sky model is evaluated at the
        asymptotic direction, and gal_l_deg/gal_b_deg are the asymptotic (backtraced) direction. None: the
        arrival direction is taken as the asymptotic one and the Stoermer cutoff of the dipole ``field`` applies.
    slice_s : time slice simulated at once, s (one day; bounds the memory); block_size : envelope pairs
        per block (memory ~1 kB per pair in a block).
    detector_effects : :class:`detector_effects.DetectorEffects` the analysis is not told about (None: none).

    Returns
    -------
    DataFrame with the io.EVENT_SCHEMA columns plus mc_particle, mc_rigidity_gv, mc_origin (pandas
    categoricals of the documented strings), event_id = chunk_id x 1e10 + index after sorting by time.
    """
    frames = list(iter_event_slices(timeline, **kwargs))
    if len(frames) == 1:
        return frames[0]
    return pd.concat(frames, ignore_index=True)


def _assemble(pieces, first_id) -> pd.DataFrame:
    """Concatenate the blocks column by column (freeing the blocks as it goes), sort by time."""
    columns = [c for c in EVENT_SCHEMA if c != "event_id"] + ["mc_particle", "mc_rigidity_gv", "mc_origin"]
    pieces = [p for p in pieces if p["time_unix_s"].size] or [_empty_columns()]

    def take(name):
        return np.concatenate([p.pop(name) for p in pieces])

    times = take("time_unix_s")
    order = np.argsort(times, kind="stable")
    frame = {"event_id": first_id + np.arange(order.size, dtype=np.int64), "time_unix_s": times[order]}
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
        "gal_l_deg": f32,
        "gal_b_deg": f32,
        "mc_particle": np.empty(0, np.int8),
        "mc_rigidity_gv": f32,
        "mc_origin": np.empty(0, np.int8),
    }




__all__ = [
    "SkyModel",
    "ParticleSource",
    "SECONDARY_SCALINGS",
    "default_particles",
    "expected_counts",
    "hidden_efficiency",
    "iter_event_slices",
    "simulate_events",
]
