"""Rule validation_tables: the per-experiment rows of every batch into the validation tables (coverage,
pulls, isotropic experiments, injection and recovery, error calibration); definitions in
ams_anisotropy.validation_stats and docs/validation.md."""

import pandas as pd

from _workflow import rule_logging
from ams_anisotropy import io, validation_stats

with rule_logging(snakemake) as log:
    frame = pd.concat([pd.read_csv(path) for path in snakemake.input.experiments], ignore_index=True)
    frame = frame.sort_values(["species", "experiment"], kind="stable").reset_index(drop=True)
    bands = pd.concat([pd.read_csv(path) for path in snakemake.input.bands], ignore_index=True)
    calibration = validation_stats.error_calibration(frame)
    scales = validation_stats.calibrated_scales(calibration) if len(calibration) else None
    io.write_csv(frame, snakemake.output.experiments)
    io.write_csv(validation_stats.coverage_table(frame, snakemake.params.seed), snakemake.output.coverage)
    io.write_csv(validation_stats.pulls_table(frame, scales), snakemake.output.pulls)
    io.write_csv(validation_stats.isotropic_table(frame, bands), snakemake.output.isotropic)
    io.write_csv(validation_stats.injection_table(frame), snakemake.output.injection)
    io.write_csv(calibration, snakemake.output.calibration)
    log.info("%d experiments of %s", len(frame), sorted(frame["species"].unique()))
