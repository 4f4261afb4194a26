"""Rule validation_calibration: for one species, the pooled isotropic calibration sample (the fixed
external reference, the per-component error of one experiment) and the isotropic band of the limit."""

from pathlib import Path

import pandas as pd

from _workflow import rule_logging
from ams_anisotropy import io, validation

with rule_logging(snakemake) as log:
    config, species = snakemake.params.config, snakemake.wildcards.species
    setup = validation.species_setup(config, species, io.read_timeline(snakemake.input.timeline),
                                     Path(snakemake.scriptdir).parent)
    calibration = validation.calibration_sample(setup, int(config["validation"]["n_calibration"]))
    band = validation.isotropic_band(setup, calibration, int(config["limits"]["n_pseudo_skies"]))
    validation.write_calibration(calibration, setup.label, snakemake.output.calibration)
    io.write_csv(pd.DataFrame([band]), snakemake.output.band)
    log.info("%s: %d pooled experiments, %.1f events each, sigma per experiment %s; isotropic band %s", species,
             calibration.n_samples, calibration.mean_events, calibration.sigma_experiment.round(5).tolist(), band)
