"""Rule fit_dipole: binned Poisson multipole fits of one species, every threshold, against the nominal
reference map and every reference-map variant (one row each), with the l_max 2-4 check.

With ``reference.dipole_correction`` the dipole absorbed by the data-driven acceptance is undone,
rho_true = (I - K)^-1 rho_fit (reference.fitted_dipole_transform); the uncorrected components are kept.
"""

import numpy as np

from _workflow import rule_logging
from ams_anisotropy import io, reference
from ams_anisotropy.species_statistics import NOT_CORRECTED, fit_species

with rule_logging(snakemake) as log:
    species, labels = snakemake.wildcards.species, snakemake.params.thresholds
    ref_cfg = snakemake.params.reference
    correct = bool(ref_cfg["dipole_correction"])
    counts = {
        suffix: io.read_threshold_maps(path, labels)
        for suffix, path in zip(snakemake.params.counts_suffixes, snakemake.input.counts, strict=True)
    }
    variants = list(zip(snakemake.params.variants, snakemake.params.variant_counts, strict=True))
    paths = dict(zip(snakemake.params.variants, snakemake.input.references, strict=True))
    references = {variant: io.read_threshold_maps(paths[variant], labels) for variant, _ in variants}
    responses = None
    if correct:
        responses = {
            variant: np.stack([io.read_threshold_maps(paths[variant], reference.response_labels(label))
                               for label in labels])
            for variant, _ in variants if variant not in NOT_CORRECTED
        }
    table = fit_species(
        species, labels, counts, variants, references, snakemake.params.fit["min_exposure_fraction"],
        lmax_check=snakemake.params.fit["lmax_check"], responses=responses,
        dipole_transform=reference.fitted_dipole_transform if correct else None,
        max_absorption=ref_cfg["max_absorption"],
    )
    io.write_csv(table, snakemake.output.fit)
    log.info("%s: %d thresholds x %d variants", species, len(labels), len(variants))
