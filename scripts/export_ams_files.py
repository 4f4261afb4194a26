"""Rule export_ams_files: a simulated run's timeline and events as AMS-style input files (no truth
columns), and the configuration overlay that analyses them (``input.source: files``)."""

from _workflow import rule_logging
from ams_anisotropy import io
from ams_anisotropy.export import export_chunk, files_overlay

with rule_logging(snakemake) as log:
    inputs, outputs = snakemake.input, snakemake.output
    for chunk in zip(inputs.timelines, inputs.events, outputs.timelines, outputs.events, strict=True):
        written = export_chunk(*chunk)
        log.info("%s -> %s, %s: %s", chunk[1], chunk[2], chunk[3], written)
    overlay = files_overlay(snakemake.params.run_name, outputs.timelines, outputs.events)
    io.write_text(overlay, outputs.overlay)
