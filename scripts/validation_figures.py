"""Rule validation_figures: injection and recovery (with the Rice bias), pull histograms, and |rho|/sigma
of the isotropic experiments against chi(3)."""

import pandas as pd

from _workflow import rule_logging
from ams_anisotropy import validation_plots, validation_stats

with rule_logging(snakemake) as log:
    frame = pd.read_csv(snakemake.input.experiments)
    calibration = pd.read_csv(snakemake.input.calibration)
    scales = validation_stats.calibrated_scales(calibration) if len(calibration) else None
    validation_plots.injection_recovery_figure(pd.read_csv(snakemake.input.injection), snakemake.output.injection,
                                               snakemake.params.label)
    validation_plots.pulls_figure(frame, snakemake.output.pulls, scales)
    validation_plots.chi3_figure(frame, snakemake.output.chi3)
    log.info("figures of %d experiments", len(frame))
