"""Rule simulate_timeline: the RTI-like timeline of one time chunk (orbit, attitude, cutoffs, livetime)."""

from _workflow import rule_logging
from ams_anisotropy.configuration import simulation_models
from ams_anisotropy.parquet_frames import write_frames
from ams_anisotropy.timeline import simulate_timeline

with rule_logging(snakemake) as log:
    start, stop = snakemake.params.window_unix_s
    models = simulation_models(
        snakemake.params.simulation, snakemake.params.good_intervals, snakemake.params.period_start_unix_s,
        (start, stop),
    )
    timeline = simulate_timeline(
        start, stop, snakemake.params.cadence_s, models["orbit"], models["attitude"], models["field"],
        models["trigger"], models["saa"], models["good"], stoermer_constant_gv=models["stoermer_constant_gv"],
    )
    # byte-stream-split floats, no dictionary: 3x faster to write and 32% smaller than pyarrow's defaults
    write_frames(snakemake.output.timeline, [timeline], metadata={"chunk": snakemake.wildcards.chunk})
    log.info("%d intervals, %.1f%% good", len(timeline), 100.0 * timeline["good"].mean())
