"""Rule simulate_events: the events of one time chunk, all particles in one stream, AMS-style Parquet.

The chunk is simulated and written one time slice (a row group) at a time, so its memory does not grow
with the chunk length.
"""

import dataclasses
from collections import Counter
from pathlib import Path

from _workflow import rule_logging
from ams_anisotropy import io
from ams_anisotropy.asymptotic import AsymptoticTable
from ams_anisotropy.configuration import particle_sources, simulation_models
from ams_anisotropy.detector_effects import detector_effects_from_config
from ams_anisotropy.parquet_frames import write_frames
from ams_anisotropy.simulation import iter_event_slices

DAY_S = 86400.0

with rule_logging(snakemake) as log:
    simulation = snakemake.params.simulation
    period_start = snakemake.params.period_start_unix_s
    timeline = io.read_timeline(snakemake.input.timeline)
    start = float(timeline["time_unix_s"].iloc[0])
    stop = float(timeline["time_unix_s"].iloc[-1] + timeline["duration_s"].iloc[-1])
    # the same models as the timeline rule (the window only fixes the IGRF epoch of the chunk)
    models = simulation_models(simulation, snakemake.params.good_intervals, period_start,
                               snakemake.params.window_unix_s)
    config_particles = simulation["particles"]
    parents = {name: n["parent"] for name, n in simulation.get("neighbour_charges", {}).items()}

    def own(name):  # the particle's config entry (a neighbouring charge inherits its parent's)
        return config_particles.get(name) or config_particles[parents[name]]

    particles = [
        dataclasses.replace(p, pattern_min_ecal_energy_gev=own(p.name).get("pattern_min_ecal_energy_gev"),
                            store_above=own(p.name).get("store_above"))
        for p in particle_sources(simulation, Path(snakemake.scriptdir).parent)
    ]
    stops = {p.name: period_start + own(p.name)["duration_days"] * DAY_S
             for p in particles if own(p.name).get("duration_days") is not None}
    deflection = AsymptoticTable.load(snakemake.input.tracing[0]) if snakemake.input.tracing else None
    slices = iter_event_slices(
        timeline,
        seed=snakemake.params.seed,
        chunk_id=int(snakemake.wildcards.chunk),
        particles=particles,
        orbit=models["orbit"],
        attitude=models["attitude"],
        field=models["field"],
        stoermer_constant_gv=models["stoermer_constant_gv"],
        prescale=simulation["prescale"],
        hidden_efficiency_amplitude=simulation["hidden_efficiency_amplitude"],
        equator_rate_hz=simulation["trigger"]["equator_rate_hz"],
        polar_rate_hz=simulation["trigger"]["polar_rate_hz"],
        albedo_fraction=simulation["albedo_fraction"],
        poor_track_fraction=simulation["poor_track_fraction"],
        max_zenith_deg=simulation["max_zenith_deg"],
        good_only=simulation["good_intervals_only"],
        store_reconstruction_failures=simulation.get("store_reconstruction_failures", True),
        particle_stop_unix_s=stops,
        slice_s=simulation.get("slice_days", 1.0) * DAY_S,
        deflection=deflection,
        # unmodelled detector effects (README, "Simplifications"); times are days from the period start
        detector_effects=detector_effects_from_config(simulation.get("detector_effects"), period_start),
    )
    counts = Counter()

    def counted(frames):
        for frame in frames:
            counts.update(frame["mc_particle"].value_counts().to_dict())
            yield frame

    n = write_frames(snakemake.output.events, counted(slices), metadata={"chunk": snakemake.wildcards.chunk})
    log.info("%d events in [%.0f, %.0f) s: %s", n, start, stop, dict(counts))
