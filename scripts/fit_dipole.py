"""Rule fit_dipole: binned Poisson multipole fit of one species and threshold, against the nominal
reference map and every reference-map variant (one row each), with the l_max 2-4 check."""

import pandas as pd

from _workflow import rule_logging
from ams_anisotropy import io
from ams_anisotropy.fit import fit_multipoles, pixels_with_exposure

with rule_logging(snakemake) as log:
    threshold = snakemake.wildcards.threshold
    fit_cfg = snakemake.params.fit
    counts_by_suffix = {
        suffix: io.read_threshold_map(path, threshold)
        for suffix, path in zip(snakemake.params.counts_suffixes, snakemake.input.counts, strict=True)
    }
    rows = []
    mask = None
    for variant, suffix, reference_path in zip(
        snakemake.params.variants, snakemake.params.variant_counts, snakemake.input.references, strict=True
    ):
        reference = io.read_threshold_map(reference_path, threshold)
        counts = counts_by_suffix[suffix]
        if mask is None:  # the nominal reference (first) defines the pixels used by every variant
            mask = pixels_with_exposure(reference, fit_cfg["min_exposure_fraction"])
        fit = fit_multipoles(counts, reference, mask=mask, lmax=1, lmax_check=tuple(fit_cfg["lmax_check"]))
        rows.append({"variant": variant, "n_events": int(counts.sum()), "n_pixels": fit.n_pixels, **fit.as_row()})
        log.info("%s: delta = %.4f, chi2/dof = %.1f/%d", variant, fit.delta, fit.chi2, fit.dof)
    io.write_csv(pd.DataFrame(rows), snakemake.output.fit)
