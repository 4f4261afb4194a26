"""Rule simulate_events: the events of one time chunk, all particles in one stream, AMS-style Parquet."""

from pathlib import Path

from _workflow import rule_logging
from ams_anisotropy import io
from ams_anisotropy.configuration import particle_sources, simulation_models
from ams_anisotropy.simulation import simulate_events

with rule_logging(snakemake) as log:
    simulation = snakemake.params.simulation
    timeline = io.read_timeline(snakemake.input.timeline)
    start = float(timeline["time_unix_s"].iloc[0])
    stop = float(timeline["time_unix_s"].iloc[-1] + timeline["duration_s"].iloc[-1])
    # the same models as the timeline rule (the window only fixes the IGRF epoch of the chunk)
    models = simulation_models(simulation, snakemake.params.good_intervals, snakemake.params.period_start_unix_s,
                               snakemake.params.window_unix_s)
    events = simulate_events(
        timeline,
        seed=snakemake.params.seed,
        chunk_id=int(snakemake.wildcards.chunk),
        particles=particle_sources(simulation, Path(snakemake.scriptdir).parent),
        orbit=models["orbit"],
        attitude=models["attitude"],
        field=models["field"],
        prescale=simulation["prescale"],
        hidden_efficiency_amplitude=simulation["hidden_efficiency_amplitude"],
        equator_rate_hz=simulation["trigger"]["equator_rate_hz"],
        polar_rate_hz=simulation["trigger"]["polar_rate_hz"],
        albedo_fraction=simulation["albedo_fraction"],
        poor_track_fraction=simulation["poor_track_fraction"],
        max_zenith_deg=simulation["max_zenith_deg"],
        good_only=simulation["good_intervals_only"],
    )
    io.write_parquet(events, snakemake.output.events, metadata={"chunk": snakemake.wildcards.chunk})
    log.info("%d events in [%.0f, %.0f) s: %s", len(events), start, stop,
             events["mc_particle"].value_counts().to_dict())
