"""Checks of the workflow configuration that a JSON schema cannot express.

The Snakefile first validates the configuration against ``workflow/schemas/config.schema.yaml``
(types, ranges, defaults), then calls :func:`check_config` for orderings and cross-references,
so that a bad configuration stops the run before any job starts, with a message naming the key.
"""

from __future__ import annotations

import re
from pathlib import Path

# folder names the workflow builds paths from (as the Snakemake wildcard constraints of common.smk)
RUN_NAME_PATTERN = r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,99}"
SPECIES_PATTERN = r"[a-z0-9]+"
THRESHOLD_LABEL_PATTERN = r"[0-9.]+"


class ConfigError(ValueError):
    """A configuration problem; the message names the offending key."""


def _strictly_increasing(values) -> bool:
    return all(b > a for a, b in zip(values, values[1:], strict=False))


def _threshold_problems(name: str, thresholds) -> list[str]:
    key = f"species.{name}.thresholds"
    duplicated = sorted({t for t in thresholds if thresholds.count(t) > 1})
    if duplicated:
        return [f"{key} has duplicated value(s) {duplicated}; they must be strictly increasing, got {thresholds}"]
    if not _strictly_increasing(thresholds):
        return [f"{key} must be strictly increasing, got {thresholds}"]
    # the label (e.g. "18GV") names files: plain decimals only (1e-05 or 1e+06 would not)
    return [
        f"{key}: {t!r} gives the label {t:g}, not a plain decimal number (use values in [1e-4, 1e6))"
        for t in thresholds
        if not re.fullmatch(THRESHOLD_LABEL_PATTERN, f"{t:g}")
    ]


def _input_file_problems(config: dict, base: Path) -> list[str]:
    """The input files the config names: they exist, are of the right kind, each named once."""
    from .io import check_file_kind

    inputs = config.get("input", {})
    problems = []
    seen: dict[Path, str] = {}
    for key, kind in (("timeline_files", "timeline"), ("event_files", "event")):
        for k, name in enumerate(inputs.get(key, [])):
            where = f"input.{key}[{k}]"
            path = base / name
            resolved = path.resolve()
            if resolved in seen:
                problems.append(f"{where}: {name} is already given as {seen[resolved]}")
                continue
            seen[resolved] = where
            problem = check_file_kind(path, kind)
            if problem:
                problems.append(f"{where}: {problem.replace(str(path), name, 1)}")
    return problems


def _detector_effect_problems(effects: dict, duration_days: float) -> list[str]:
    """simulation.detector_effects: a dead layer inside the period and the layer, a drift that stays > 0."""
    from .acceptance import AMS02_GEOMETRY

    problems, key = [], "simulation.detector_effects"
    dead = effects.get("dead_layer") or {}
    if dead.get("enabled"):
        if dead["start_day"] >= duration_days:
            problems.append(f"{key}.dead_layer.start_day ({dead['start_day']}) is not inside the period "
                            f"(period.duration_days = {duration_days}): the dead layer would never be simulated")
        plane = AMS02_GEOMETRY.plane(dead["layer"])
        if dead["x_min_cm"] >= plane.half_x_cm or dead["x_min_cm"] <= -plane.half_x_cm:
            problems.append(f"{key}.dead_layer.x_min_cm ({dead['x_min_cm']}) must lie inside layer {dead['layer']} "
                            f"(|x| < {plane.half_x_cm} cm): otherwise nothing or all of it is dead")
    drift = effects.get("drift") or {}
    if drift.get("enabled") and 1.0 + drift["per_year"] * duration_days / 365.25 <= 0.0:
        problems.append(f"{key}.drift.per_year ({drift['per_year']}) takes the efficiency to zero within "
                        f"the period ({duration_days} days)")
    return problems


def check_config(config: dict, source: str = "config", base_dir: str | Path = ".") -> None:
    """Raise :class:`ConfigError` for problems a schema cannot see.

    ``source`` names the configuration (file) in the messages; relative paths are resolved
    against ``base_dir`` (the workflow's directory).
    """
    base = Path(base_dir)
    problems: list[str] = []
    run_name = config.get("run_name")
    if not isinstance(run_name, str) or not re.fullmatch(RUN_NAME_PATTERN, run_name):
        problems.append(f"run_name: {run_name!r} must be one folder name ({RUN_NAME_PATTERN}), "
                        "so that every output stays under results/")
    species = config.get("species", {})
    for name, spec in species.items():
        if not re.fullmatch(SPECIES_PATTERN, str(name)):
            problems.append(f"species: {name!r} is not a valid species name ({SPECIES_PATTERN}, a folder name)")
        thresholds = list(spec.get("thresholds", []))
        problems += _threshold_problems(name, thresholds)
        upper = spec.get("upper")
        if upper is not None and thresholds and upper <= thresholds[-1]:
            problems.append(f"species.{name}.upper ({upper}) must be above the last threshold ({thresholds[-1]})")
        cuts = spec.get("cuts")
        if cuts:
            if cuts["charge_min"] >= cuts["charge_max"]:
                problems.append(f"species.{name}.cuts: charge_min must be below charge_max")
            if cuts["beta_min"] >= cuts["beta_max"]:
                problems.append(f"species.{name}.cuts: beta_min must be below beta_max")
            lo, hi = cuts.get("energy_over_rigidity_min"), cuts.get("energy_over_rigidity_max")
            if lo is not None and hi is not None and lo >= hi:
                problems.append(f"species.{name}.cuts: energy_over_rigidity_min must be below _max")
        if spec.get("flux_file") and not (base / spec["flux_file"]).is_file():
            problems.append(f"species.{name}.flux_file: {spec['flux_file']} does not exist")

    for name in config.get("analysis_species") or []:
        if name not in species:
            problems.append(f"analysis_species: {name!r} is not defined under species")

    source_kind = config.get("input", {}).get("source")
    mode = config.get("mode", "ams")
    if source_kind == "files":
        timelines = config["input"].get("timeline_files", [])
        events = config["input"].get("event_files", [])
        if not timelines:
            problems.append("input.timeline_files: empty, but input.source is 'files'")
        if len(timelines) != len(events):
            problems.append(
                f"input: {len(timelines)} timeline_files but {len(events)} event_files (one of each per chunk)"
            )
        problems += _input_file_problems(config, base)
    if source_kind == "auger2017":
        auger_file = config["input"].get("auger_events_file")  # absent: the shipped file (auger.smk)
        if auger_file is not None and not (base / auger_file).is_file():
            problems.append(f"input.auger_events_file: {auger_file!r} does not exist")
    if source_kind == "simulation":
        if "period" not in config or "simulation" not in config:
            problems.append("input.source is 'simulation' but period or simulation is missing")
        else:
            particles = config["simulation"]["particles"]
            for name in species:
                if name not in particles:
                    problems.append(f"simulation.particles: no source for species {name!r}")
            for name, neighbour in config["simulation"].get("neighbour_charges", {}).items():
                if neighbour["parent"] not in particles:
                    problems.append(
                        f"simulation.neighbour_charges.{name}.parent: {neighbour['parent']!r} is not a particle"
                    )
            for name, particle in particles.items():
                if not (base / particle["flux_file"]).is_file():
                    problems.append(f"simulation.particles.{name}.flux_file: {particle['flux_file']} does not exist")
            for k, (begin, end) in enumerate(config["simulation"]["attitude"].get("minus_xvv_periods_days", [])):
                if end <= begin:
                    problems.append(f"simulation.attitude.minus_xvv_periods_days[{k}]: end must follow start")
            if config["period"]["chunk_days"] * 86400 < config["period"]["cadence_s"]:
                problems.append("period.chunk_days is shorter than one cadence interval")
            problems += _detector_effect_problems(config["simulation"].get("detector_effects") or {},
                                                  config["period"]["duration_days"])
    if (source_kind == "auger2017") != (mode == "auger2017"):
        problems.append("mode 'auger2017' and input.source 'auger2017' go together")

    selection = config.get("selection", {})
    factors = [selection.get("cutoff_factor", 1.2), *selection.get("cutoff_factor_variants", [])]
    if len(set(factors)) != len(factors):
        problems.append(f"selection: cutoff factors must be distinct, got {factors}")
    reference = config.get("reference", {})
    variants = reference.get("variants", [])
    for variant in variants:
        if variant.startswith("cutoff") and float(variant[len("cutoff"):]) not in factors:
            problems.append(
                f"reference.variants: {variant} needs {variant[len('cutoff'):]} in selection.cutoff_factor_variants"
            )
    deflection = reference.get("deflection") or {}
    if deflection.get("enabled"):
        d_lmax, d_nside = deflection.get("lmax", 48), deflection.get("acceptance_nside", 32)
        if d_lmax > 3 * d_nside:
            problems.append(f"reference.deflection.lmax ({d_lmax}) must not exceed 3 x reference.deflection."
                            f"acceptance_nside ({d_nside}): above it the beams' harmonics are their sampling")
        tracing = config.get("tracing") or {}
        for key, default in (("lat_step_deg", 4.0), ("lon_step_deg", 12.0)):
            cell, node = float(deflection.get(key, default)), tracing.get(key)
            if node is not None and abs(node / cell - round(node / cell)) > 1e-6:
                problems.append(f"reference.deflection.{key} ({cell:g}) must divide tracing.{key} ({node:g}): "
                                "a correction cell must not straddle a node of the table")
        high_step, lat_step = deflection.get("high_lat_step_deg", 2.0), float(deflection.get("lat_step_deg", 4.0))
        if high_step is not None and abs(lat_step / high_step - round(lat_step / high_step)) > 1e-6:
            problems.append(f"reference.deflection.high_lat_step_deg ({high_step:g}) must divide "
                            f"reference.deflection.lat_step_deg ({lat_step:g})")
        if d_lmax > reference.get("lmax", 96):
            problems.append(f"reference.deflection.lmax ({d_lmax}) must not exceed reference.lmax "
                            f"({reference.get('lmax', 96)})")
    for key in ("efficiency_edges", "efficiency_cutoff_edges_gv"):
        edges = reference.get(key)
        if edges is not None and not _strictly_increasing(list(edges)):
            problems.append(f"reference.{key} must be strictly increasing, got {edges}")
    # the exposure integration: harmonics of the detector histogram up to lmax (3 x its Nside at most)
    lmax, kmax = reference.get("lmax"), reference.get("kmax")
    nside_detector = config.get("maps", {}).get("nside_detector")
    if lmax is not None and kmax is not None and kmax > lmax:
        problems.append(f"reference.kmax ({kmax}) must not exceed reference.lmax ({lmax})")
    if lmax is not None and nside_detector is not None and lmax > 3 * nside_detector:
        problems.append(f"reference.lmax ({lmax}) exceeds 3 x maps.nside_detector ({nside_detector}): raise "
                        "maps.nside_detector or lower reference.lmax")
    for k, group in enumerate(config.get("limits", {}).get("systematics_groups", [])):
        for variant in group:
            if variant not in variants:
                problems.append(f"limits.systematics_groups[{k}]: {variant!r} is not in reference.variants")
    if problems:
        raise ConfigError(f"{source}: " + "; ".join(problems))


def simulation_models(simulation: dict, good_intervals: dict, period_start_unix_s: float, window_unix_s):
    """The simulation's model objects for one chunk, from the ``simulation`` config section.

    Returns a dict with ``orbit, attitude, field, trigger, saa, good, stoermer_constant_gv``. The
    geomagnetic dipole is IGRF-13 at ``geomagnetic.igrf_year`` when given, else at the chunk's
    midpoint (so a multi-year run follows the secular variation chunk by chunk).
    """
    from .frames import Attitude
    from .geomagnetic import DipoleField, decimal_year
    from .orbit import CircularOrbit
    from .timeline import GoodIntervalCriteria, SaaRegion, TriggerModel

    attitude_cfg = dict(simulation["attitude"])
    periods_days = attitude_cfg.pop("minus_xvv_periods_days", [])
    attitude = Attitude(
        **attitude_cfg,
        minus_xvv_periods_unix_s=tuple(
            (period_start_unix_s + begin * 86400.0, period_start_unix_s + end * 86400.0)
            for begin, end in periods_days
        ),
    )
    geomagnetic = simulation["geomagnetic"]
    year = geomagnetic.get("igrf_year")
    if year is None:
        year = float(decimal_year(0.5 * (window_unix_s[0] + window_unix_s[1]))[0])
    return {
        "orbit": CircularOrbit(**simulation["orbit"]),
        "attitude": attitude,
        "field": DipoleField.from_igrf(year, eccentric=geomagnetic["eccentric"]),
        "trigger": TriggerModel(**simulation["trigger"]),
        "saa": SaaRegion(**simulation.get("saa", {})),
        "good": GoodIntervalCriteria(**good_intervals),
        "stoermer_constant_gv": geomagnetic["stoermer_constant_gv"],
    }


def particle_sources(simulation: dict, base_dir: str | Path = "."):
    """The simulated particle streams, in a fixed order (the ``particles`` of the config in order,
    then the ``neighbour_charges``): the position is the random-stream key of each stream."""
    from .simulation import ParticleSource, SkyModel
    from .spectra import FluxTable

    base = Path(base_dir)
    sources = []
    tables = {}
    for name, particle in simulation["particles"].items():
        tables[name] = FluxTable.from_file(base / particle["flux_file"], name=name)
        quadrupole = particle.get("quadrupole_gal")
        sky = SkyModel(tuple(particle["dipole_gal"]), None if quadrupole is None else tuple(map(tuple, quadrupole)))
        sources.append(
            ParticleSource(
                name,
                particle["charge_z"],
                particle["charge_sign"],
                tables[name],
                particle["min_rigidity_gv"],
                sky=sky,
                reconstruction_efficiency=particle["reconstruction_efficiency"],
                stored_patterns=particle.get("stored_patterns"),
            )
        )
    for name, neighbour in simulation.get("neighbour_charges", {}).items():
        parent = simulation["particles"][neighbour["parent"]]
        table = tables[neighbour["parent"]].scaled(
            neighbour["ratio"], neighbour["index_change"], neighbour["pivot_gv"], name=name
        )
        sources.append(
            ParticleSource(
                name,
                neighbour["charge_z"],
                1,
                table,
                parent["min_rigidity_gv"],
                reconstruction_efficiency=parent["reconstruction_efficiency"],
                stored_patterns=parent.get("stored_patterns"),
            )
        )
    return sources
