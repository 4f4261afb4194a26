"""Rule validation_experiments: one batch of the pseudo-experiments of one species (every n_batches-th
experiment of validation.experiment_plan), one row each."""

from pathlib import Path

from _workflow import rule_logging
from ams_anisotropy import io, validation

with rule_logging(snakemake) as log:
    config, species = snakemake.params.config, snakemake.wildcards.species
    setup = validation.species_setup(config, species, io.read_timeline(snakemake.input.timeline),
                                     Path(snakemake.scriptdir).parent)
    calibration = validation.read_calibration(snakemake.input.calibration, setup.label)
    plan = validation.experiment_plan(config["validation"], calibration.sigma_experiment)
    batch = plan[int(snakemake.wildcards.batch)::int(config["validation"]["n_batches"])]
    table = validation.run_batch(setup, batch, calibration)
    io.write_csv(table, snakemake.output.experiments)
    log.info("%s batch %s: %d experiments, %d covered", species, snakemake.wildcards.batch, len(table),
             int(table["covered"].sum()) if len(table) else 0)
