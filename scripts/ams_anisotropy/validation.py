"""Statistical validation by pseudo-experiments: the whole chain simulation -> selection -> binning ->
data-driven reference -> fit (with the dipole-absorption correction) -> 95% limit, repeated with new
random streams on one shared timeline.

One pseudo-experiment of a species (:func:`run_experiment`):

1. events of that species only (no other particle streams, so no cross-species background), simulated
   with :func:`ams_anisotropy.simulation.simulate_events` on the shared timeline with the injected
   dipole ``rho_true`` (galactic FB, EW, NS) and the run's detector, hidden efficiency, albedo and
   poor-track settings, random streams ``rng.generator(seed, "events", experiment_id, ...)``: the
   experiment id takes the place of the chunk number, so every experiment has its own streams;
2. the species' selection (config cuts, the nominal cutoff factor), the binning of the lowest threshold
   (counts, detector-frame histogram, trigger-rate histogram at the config's efficiency edges);
3. the nominal data-driven reference at the production integration settings (``reference.*`` of the
   config: lmax, kmax, epsilon, oversampling), :func:`reference.data_driven_reference`;
4. the Poisson fit on the pixels with ``fit.min_exposure_fraction``, the absorption correction
   T = (I - K)^-1 (:func:`reference.fitted_dipole_transform`) and the 95% credible upper limit on
   delta (:func:`limits.dipole_upper_limit`, ``limits.n_posterior_samples`` importance samples, the
   posterior stream ``rng.generator(seed, "limits_posterior", species, "validation", experiment_id)``);
5. the same counts fitted against a *fixed* external reference (:func:`calibration_sample`: the
   data-driven reference of a pooled isotropic sample ``n_calibration`` times larger, normalised to
   this experiment's events), which separates the noise of the experiment's own reference from the
   counts' noise.

The covariance of rho reported by the fit is the inverse Fisher matrix of the counts alone. The
reference's own noise (acceptance and efficiency estimated from the same events) adds to it; the
validation measures the width of the pulls with and without it and :mod:`ams_anisotropy.validation_stats`
turns the per-experiment rows into the tables.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import healpy as hp
import numpy as np
import pandas as pd

from . import binning, fit, limits, reference, selection, simulation
from .configuration import particle_sources, simulation_models
from .rng import generator
from .species_cuts import SpeciesCuts
from .spectra import FluxTable
from .timeline import simulate_timeline

DAY_S = 86400.0
COMPONENTS = ("fb", "ew", "ns")  # galactic x, y, z (docs/architecture.md)
# experiment ids: group x GROUP_STRIDE + repetition; group 0 isotropic, 1 the calibration sample,
# 2 + (amplitude index x number of directions + direction index) the injections
GROUP_STRIDE = 100_000
CALIBRATION_GROUP = 1


def lb_vector(l_deg, b_deg) -> np.ndarray:
    """Galactic unit vector(s) (..., 3) of longitude and latitude in degrees."""
    l_rad, b_rad = np.radians(l_deg), np.radians(b_deg)
    return np.stack([np.cos(b_rad) * np.cos(l_rad), np.cos(b_rad) * np.sin(l_rad), np.sin(b_rad)], axis=-1)


def period_models(config: dict) -> tuple[float, float, dict]:
    """(start, stop) of the run's period (POSIX s) and the simulation models of it as one piece (the
    IGRF epoch of its midpoint), shared by the timeline and every experiment."""
    from datetime import UTC, datetime

    start = datetime.fromisoformat(config["period"]["start_utc"]).replace(tzinfo=UTC).timestamp()
    stop = start + float(config["period"]["duration_days"]) * DAY_S
    return start, stop, simulation_models(config["simulation"], config["good_intervals"], start, (start, stop))


def validation_timeline(config: dict) -> pd.DataFrame:
    """The shared timeline: the run's period (``period.start_utc``, ``duration_days``) at the validation
    cadence ``validation.timeline_cadence_s``."""
    start, stop, models = period_models(config)
    return simulate_timeline(start, stop, float(config["validation"]["timeline_cadence_s"]), models["orbit"],
                             models["attitude"], models["field"], models["trigger"], models["saa"], models["good"],
                             stoermer_constant_gv=models["stoermer_constant_gv"])


@dataclass(frozen=True)
class SpeciesSetup:
    """Everything an experiment of one species needs besides its seed and injected dipole."""

    species: str
    timeline: pd.DataFrame
    particle: simulation.ParticleSource
    simulation_kwargs: dict
    cuts: SpeciesCuts
    threshold: float
    upper: float | None
    unit: str
    flux: FluxTable
    nside: int
    nside_detector: int
    efficiency_edges: tuple
    cone_column: str
    settings: reference.IntegrationSettings
    reference_options: dict
    min_exposure_fraction: float
    max_absorption: float
    n_posterior_samples: int
    credibility: float
    seed: int

    @property
    def label(self) -> str:
        return binning.threshold_label(self.threshold, self.unit)


def species_setup(config: dict, species: str, timeline: pd.DataFrame, base_dir=".") -> SpeciesSetup:
    """The setup of ``species`` from the (merged) run config; ``base_dir`` resolves the flux files."""
    val, sim, spec, ref = config["validation"], config["simulation"], config["species"][species], config["reference"]
    if species not in sim["particles"]:
        raise ValueError(f"validation.species: {species!r} has no simulation.particles entry")
    _, _, models = period_models(config)
    particle = next(p for p in particle_sources(sim, base_dir) if p.name == species)
    particle = dataclasses.replace(
        particle, pattern_min_ecal_energy_gev=sim["particles"][species].get("pattern_min_ecal_energy_gev"))
    prescale = float(val["prescale"].get(species, 1.0))
    kwargs = dict(orbit=models["orbit"], attitude=models["attitude"], field=models["field"],
                  stoermer_constant_gv=models["stoermer_constant_gv"], prescale=prescale,
                  hidden_efficiency_amplitude=sim["hidden_efficiency_amplitude"],
                  equator_rate_hz=sim["trigger"]["equator_rate_hz"], polar_rate_hz=sim["trigger"]["polar_rate_hz"],
                  albedo_fraction=sim["albedo_fraction"], poor_track_fraction=sim["poor_track_fraction"],
                  max_zenith_deg=sim["max_zenith_deg"], good_only=True, store_reconstruction_failures=False,
                  slice_s=float(sim["slice_days"]) * DAY_S)
    factor = float(config["selection"]["cutoff_factor"])
    threshold = float(spec["thresholds"][0])
    cuts = SpeciesCuts(species=species, observable=spec["observable"], observable_min=threshold,
                       observable_max=spec.get("upper"), cutoff_factor=factor,
                       cone_half_angle_deg=config["selection"]["cone_half_angle_deg"], **spec["cuts"])
    settings = reference.IntegrationSettings(lmax=ref["lmax"], kmax=ref["kmax"], epsilon=ref["epsilon"],
                                             oversampling=ref["oversampling"])
    options = dict(cutoff_factor=factor, efficiency_min_events_per_bin=ref["efficiency_min_events_per_bin"],
                   acceptance_symmetry=ref["acceptance_symmetry"],
                   acceptance_min_events=ref["acceptance_min_events"])
    return SpeciesSetup(
        species=species, timeline=timeline, particle=particle, simulation_kwargs=kwargs, cuts=cuts,
        threshold=threshold, upper=spec.get("upper"), unit=spec["unit"],
        flux=FluxTable.from_file(Path(base_dir) / spec["flux_file"], name=species), nside=config["maps"]["nside"],
        nside_detector=config["maps"]["nside_detector"], efficiency_edges=tuple(ref["efficiency_edges"]),
        cone_column=reference.cutoff_column(spec["cuts"]["charge_sign"], config["selection"]["cone_half_angle_deg"]),
        settings=settings, reference_options=options, min_exposure_fraction=config["fit"]["min_exposure_fraction"],
        max_absorption=ref["max_absorption"], n_posterior_samples=config["limits"]["n_posterior_samples"],
        credibility=config["limits"]["credibility"], seed=int(config["seed"]))


def workflow_species_setup(config: dict, species: str, lowest_threshold: float,
                           base_dir=".") -> tuple[float, SpeciesSetup]:
    """(period start, :func:`species_setup`) on the validation timeline, with the workflow's storage floor
    (``simulation.particles.<species>.store_above``, as the simulate_events rule) and the selection's lower
    edge at ``lowest_threshold``: what the benchmarks that mimic one workflow species start from."""
    start, _, _ = period_models(config)
    setup = species_setup(config, species, validation_timeline(config), base_dir)
    store_above = config["simulation"]["particles"][species].get("store_above")
    return start, dataclasses.replace(
        setup, cuts=dataclasses.replace(setup.cuts, observable_min=float(lowest_threshold)),
        particle=dataclasses.replace(setup.particle, store_above=store_above))


def simulate_and_bin(setup: SpeciesSetup, rho_true, experiment_id: int) -> binning.MapAccumulator:
    """Steps 1-2: the selected, binned events of one experiment (lowest threshold)."""
    sky = simulation.SkyModel(tuple(float(v) for v in rho_true))
    particle = dataclasses.replace(setup.particle, sky=sky)
    events = simulation.simulate_events(setup.timeline, seed=setup.seed, chunk_id=int(experiment_id),
                                        particles=[particle], **setup.simulation_kwargs)
    selected, _ = selection.select_events(events, setup.timeline, setup.cuts)
    del events
    acc = binning.MapAccumulator([setup.threshold], setup.upper, setup.nside, setup.nside_detector,
                                 {"trigger_rate_hz": setup.efficiency_edges}, species=setup.species, unit=setup.unit)
    acc.add(selected)
    return acc


def data_driven(setup: SpeciesSetup, acc: binning.MapAccumulator) -> reference.ReferenceMaps:
    """Step 3: the nominal data-driven reference of a binned sample."""
    result, _, _ = reference.data_driven_reference(
        setup.timeline, acc.detector, acc.histograms["trigger_rate_hz"], acc.n_events, [setup.threshold],
        setup.upper, setup.flux.integral_above, setup.nside, cone_column=setup.cone_column,
        efficiency_variable="trigger_rate_hz", efficiency_edges=setup.efficiency_edges, settings=setup.settings,
        **setup.reference_options)
    return result


@dataclass(frozen=True)
class Calibration:
    """The external reference of a species: the data-driven reference (map and dipole response) of
    ``n_samples`` pooled isotropic experiments, their mean number of events and the per-component
    error sigma of one experiment (the pooled fit's sigma x sqrt(n_samples))."""

    reference_map: np.ndarray
    dipole_response: np.ndarray
    n_samples: int
    mean_events: float
    sigma_experiment: np.ndarray

    def scaled(self, n_events: float) -> tuple[np.ndarray, np.ndarray]:
        """The reference map normalised to ``n_events`` and its dipole response with the same factor
        (K is the dipole of response / map: both must carry the same normalisation)."""
        factor = float(n_events) / self.reference_map.sum()
        return self.reference_map * factor, self.dipole_response * factor


def calibration_sample(setup: SpeciesSetup, n_samples: int) -> Calibration:
    """Pool ``n_samples`` isotropic experiments (ids in the calibration group) into one reference."""
    if n_samples < 1:
        raise ValueError(f"validation.n_calibration must be >= 1, got {n_samples}")
    pooled = None
    for rep in range(n_samples):
        acc = simulate_and_bin(setup, np.zeros(3), CALIBRATION_GROUP * GROUP_STRIDE + rep)
        pooled = acc if pooled is None else pooled.merge(acc)
    ref = data_driven(setup, pooled)
    mask = fit.pixels_with_exposure(ref.maps[0], setup.min_exposure_fraction)
    result = fit.fit_multipoles(pooled.counts[0], ref.maps[0], mask, lmax_check=())
    return Calibration(reference_map=ref.maps[0], dipole_response=ref.dipole_response[0], n_samples=n_samples,
                       mean_events=float(pooled.n_events[0]) / n_samples,
                       sigma_experiment=result.sigma * np.sqrt(n_samples))


def _covariance_row(prefix: str, covariance) -> dict:
    row = {}
    for i, a in enumerate(COMPONENTS):
        for j in range(i, 3):
            row[f"{prefix}cov_{a}_{COMPONENTS[j]}"] = float(covariance[i, j])
    return row


def _vector_row(prefix: str, vector) -> dict:
    return {f"{prefix}{c}": float(v) for c, v in zip(COMPONENTS, vector, strict=True)}


def run_experiment(setup: SpeciesSetup, rho_true, experiment_id: int, calibration: Calibration | None = None) -> dict:
    """One pseudo-experiment (module docstring); a flat row of its results.

    Columns: species, experiment, n_events, ``true_{fb,ew,ns}``, the corrected fit ``rho_*`` with its
    covariance ``cov_*_*``, the uncorrected ``rho_unc_*``, ``sigma_unc_*``, the diagonal of K
    ``k_{fb,ew,ns}``, ``delta``, ``delta_ul95`` and its Monte Carlo error, ``covered`` (true |rho| <=
    the upper limit), ``n_clipped_pixels``; with ``calibration`` the fit against the external reference,
    ``ext_rho_*``, ``ext_cov_*_*`` (the same correction T of the external reference).
    """
    rho_true = np.asarray(rho_true, dtype=np.float64)
    acc = simulate_and_bin(setup, rho_true, experiment_id)
    n_events = int(acc.n_events[0])
    if n_events == 0:
        raise ValueError(f"{setup.species} experiment {experiment_id}: no selected event")
    ref = data_driven(setup, acc)
    counts, ref_map = acc.counts[0], ref.maps[0]
    mask = fit.pixels_with_exposure(ref_map, setup.min_exposure_fraction)
    k_matrix = reference.dipole_response_matrix(ref_map, ref.dipole_response[0], mask)
    transform = reference.absorption_transform(k_matrix, setup.max_absorption)
    rng = generator(setup.seed, "limits_posterior", setup.species, "validation", int(experiment_id))
    limit = limits.dipole_upper_limit(counts, ref_map, rng, mask=mask, credibility=setup.credibility,
                                      n_samples=setup.n_posterior_samples, transform=transform)
    raw = limit.fit
    rho = transform @ raw.rho
    covariance = transform @ raw.rho_covariance @ transform.T
    delta_true = float(np.linalg.norm(rho_true))
    row = {"species": setup.species, "threshold": setup.label, "experiment": int(experiment_id), "n_events": n_events,
           **_vector_row("true_", rho_true), **_vector_row("rho_", rho), **_covariance_row("", covariance),
           **_vector_row("rho_unc_", raw.rho), **_vector_row("sigma_unc_", raw.sigma),
           **_vector_row("k_", np.diag(k_matrix)),
           "delta": float(np.linalg.norm(rho)), "delta_true": delta_true, "delta_ul95": limit.delta_ul,
           "delta_ul95_mc_error": limit.delta_ul_mc_error, "covered": bool(delta_true <= limit.delta_ul),
           "chi2": raw.chi2, "dof": raw.dof, "n_clipped_pixels": int(ref.n_clipped_pixels[0])}
    if calibration is not None:
        external, response = calibration.scaled(n_events)
        ext_fit = fit.fit_multipoles(counts, external, mask & (external > 0), lmax_check=())
        ext_t = reference.fitted_dipole_transform(external, response, mask & (external > 0), setup.max_absorption)
        row.update(_vector_row("ext_rho_", ext_t @ ext_fit.rho))
        row.update(_covariance_row("ext_", ext_t @ ext_fit.rho_covariance @ ext_t.T))
    return row


@dataclass(frozen=True)
class PlannedExperiment:
    """One entry of the plan: its id, group name, injected amplitude (in sigma and absolute), direction."""

    experiment: int
    kind: str  # "isotropic" or "injected"
    amplitude_sigma: float
    direction: str
    rho_true: tuple


def experiment_plan(validation: dict, sigma_experiment) -> list[PlannedExperiment]:
    """Every experiment of a species, in a fixed order: ``n_isotropic`` isotropic ones, then for every
    amplitude (``amplitudes_sigma``, in units of the mean per-component error ``sigma_experiment``) and
    direction (``directions``: name -> [l_deg, b_deg]) ``n_per_injection`` injected ones."""
    sigma = float(np.sqrt(np.mean(np.square(sigma_experiment))))
    if not (np.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma_experiment must be positive, got {sigma_experiment}")
    plan = [PlannedExperiment(rep, "isotropic", 0.0, "none", (0.0, 0.0, 0.0))
            for rep in range(int(validation["n_isotropic"]))]
    directions = list(validation["directions"].items())
    for a, amplitude in enumerate(validation["amplitudes_sigma"]):
        for d, (name, (l_deg, b_deg)) in enumerate(directions):
            group = 2 + a * len(directions) + d
            rho = tuple(float(v) for v in float(amplitude) * sigma * lb_vector(float(l_deg), float(b_deg)))
            if np.linalg.norm(rho) >= 1.0:
                raise ValueError(f"validation.amplitudes_sigma: {amplitude} sigma = {np.linalg.norm(rho):.3g} >= 1")
            plan += [PlannedExperiment(group * GROUP_STRIDE + rep, "injected", float(amplitude), name, rho)
                     for rep in range(int(validation["n_per_injection"]))]
    return plan


def run_batch(setup: SpeciesSetup, plan, calibration: Calibration | None = None) -> pd.DataFrame:
    """The rows of :func:`run_experiment` for planned experiments, with their plan columns."""
    rows = []
    for item in plan:
        row = run_experiment(setup, item.rho_true, item.experiment, calibration)
        rows.append({"kind": item.kind, "amplitude_sigma": item.amplitude_sigma, "direction": item.direction, **row})
    return pd.DataFrame(rows)


def isotropic_band(setup: SpeciesSetup, calibration: Calibration, n_skies: int) -> dict:
    """The isotropic expectation of the limit as the workflow computes it (Poisson pseudo-skies of the
    external reference normalised to the mean events of one experiment, Gaussian posteriors, the same
    absorption correction): its median and 95.45% band, for the paper's comparison."""
    ref_map, response = calibration.scaled(calibration.mean_events)
    mask = fit.pixels_with_exposure(ref_map, setup.min_exposure_fraction)
    transform = reference.fitted_dipole_transform(ref_map, response, mask, setup.max_absorption)
    expectation = limits.isotropic_expectation(
        ref_map, generator(setup.seed, "limits_pseudo_skies", setup.species, "validation"), mask=mask,
        n_skies=n_skies, credibility=setup.credibility, transform=transform)
    bands = expectation.bands
    return {"species": setup.species, "band_events": calibration.mean_events, "expected_ul95_median": bands.median,
            "band95_low": bands.low95, "band95_high": bands.high95, "band68_low": bands.low68,
            "band68_high": bands.high68, "n_pseudo_skies": expectation.n_skies,
            **_vector_row("sigma_experiment_", calibration.sigma_experiment), "n_calibration": calibration.n_samples,
            "npix": hp.nside2npix(setup.nside)}


def write_calibration(calibration: Calibration, label: str, path) -> None:
    """The external reference (map and dipole response, ``io.write_threshold_maps`` columns
    ``THR_<label>`` and ``<label>_RESP{X,Y,Z}``) with its scalars in the header."""
    from . import io

    maps = np.vstack([calibration.reference_map[None, :], calibration.dipole_response])
    header = {"NSAMPLES": calibration.n_samples, "MEANEVTS": calibration.mean_events,
              **{f"SIGMA{c.upper()}": float(s) for c, s in zip(COMPONENTS, calibration.sigma_experiment, strict=True)}}
    io.write_threshold_maps(path, maps, [label, *reference.response_labels(label)], header=header)


def read_calibration(path, label: str) -> Calibration:
    """Inverse of :func:`write_calibration`."""
    from astropy.io import fits

    from . import io

    maps = io.read_threshold_maps(path, [label, *reference.response_labels(label)])
    with fits.open(path) as hdus:
        header = hdus[1].header
        try:
            n_samples, mean_events = int(header["NSAMPLES"]), float(header["MEANEVTS"])
            sigma = np.array([float(header[f"SIGMA{c.upper()}"]) for c in COMPONENTS])
        except KeyError as err:
            raise ValueError(f"{path}: not a validation calibration file (header keyword {err} missing)") from None
    return Calibration(reference_map=maps[0], dipole_response=maps[1:], n_samples=n_samples,
                       mean_events=mean_events, sigma_experiment=sigma)
