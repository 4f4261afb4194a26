"""Rule sample_limits: 95% credible upper limits on the dipole amplitude of one species, every threshold,
without and with systematics (spread of the reference-map variants), and the isotropic expectation from
Poisson pseudo-skies of the reference map. Random streams are keyed by the species name and the threshold
label (ams_anisotropy.species_statistics)."""

import numpy as np

from _workflow import rule_logging
from ams_anisotropy import io, reference
from ams_anisotropy.species_statistics import limit_species
from ams_anisotropy.tables import fit_table

with rule_logging(snakemake) as log:
    species, labels = snakemake.wildcards.species, snakemake.params.thresholds
    ref_cfg = snakemake.params.reference
    correct = bool(ref_cfg["dipole_correction"])
    fits = fit_table(snakemake.input.fit)
    responses = None
    if correct:  # the same absorption correction as the fit (fit_dipole.py)
        responses = np.stack([io.read_threshold_maps(snakemake.input.reference, reference.response_labels(label))
                              for label in labels])
    table = limit_species(
        species, labels, snakemake.params.threshold_values, snakemake.params.unit, fits,
        io.read_threshold_maps(snakemake.input.counts, labels),
        io.read_threshold_maps(snakemake.input.reference, labels),
        snakemake.params.seed, snakemake.params.min_exposure_fraction, snakemake.params.limits,
        responses=responses, dipole_transform=reference.fitted_dipole_transform if correct else None,
        max_absorption=ref_cfg["max_absorption"],
    )
    io.write_csv(table, snakemake.output.limits)
    log.info("%s: %d thresholds", species, len(table))
