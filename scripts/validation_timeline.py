"""Rule validation_timeline: the timeline every pseudo-experiment of the validation shares."""

from _workflow import rule_logging
from ams_anisotropy import io
from ams_anisotropy.validation import validation_timeline

with rule_logging(snakemake) as log:
    timeline = validation_timeline(snakemake.params.config)
    io.write_parquet(timeline, snakemake.output.timeline, metadata={"purpose": "validation"})
    log.info("%d intervals at %.0f s, %.1f%% good", len(timeline),
             snakemake.params.config["validation"]["timeline_cadence_s"], 100.0 * timeline["good"].mean())
