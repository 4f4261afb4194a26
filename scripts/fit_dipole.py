"""Rule fit_dipole: binned Poisson multipole fit of one species and threshold, against the nominal
reference map and every reference-map variant (one row each), with the l_max 2-4 check.

With ``reference.dipole_correction`` the dipole absorbed by the data-driven acceptance is undone,
rho_true = (I - K)^-1 rho_fit (reference.py); the uncorrected components are kept in the table.
"""

import dataclasses

import pandas as pd

from _workflow import rule_logging
from ams_anisotropy import io, reference
from ams_anisotropy.fit import fit_multipoles, pixels_with_exposure

with rule_logging(snakemake) as log:
    threshold = snakemake.wildcards.threshold
    fit_cfg, ref_cfg = snakemake.params.fit, snakemake.params.reference
    counts_by_suffix = {
        suffix: io.read_threshold_map(path, threshold)
        for suffix, path in zip(snakemake.params.counts_suffixes, snakemake.input.counts, strict=True)
    }
    rows = []
    mask = None
    for variant, suffix, reference_path in zip(
        snakemake.params.variants, snakemake.params.variant_counts, snakemake.input.references, strict=True
    ):
        reference_map = io.read_threshold_map(reference_path, threshold)
        counts = counts_by_suffix[suffix]
        if mask is None:  # the nominal reference (first) defines the pixels used by every variant
            mask = pixels_with_exposure(reference_map, fit_cfg["min_exposure_fraction"])
        # a sparse variant (shuffling a small sample) may leave pixels of the nominal mask empty
        used = mask & (reference_map > 0)
        try:
            fit = fit_multipoles(counts, reference_map, mask=used, lmax=1, lmax_check=tuple(fit_cfg["lmax_check"]))
        except ValueError as err:
            if variant == "nominal":
                raise
            # e.g. a shuffled reference of a few events covers too few pixels to constrain a dipole;
            # the variant is reported as not available (a systematics group naming it then fails clearly)
            log.warning("%s: fit not available (%s)", variant, err)
            rows.append({"variant": variant, "n_events": int(counts.sum()), "n_pixels": int(used.sum())})
            continue
        row = {"variant": variant, "n_events": int(counts.sum()), "n_pixels": fit.n_pixels}
        row.update({f"{k}_uncorrected": v for k, v in fit.as_row().items() if k.startswith(("rho_", "sigma_"))})
        if ref_cfg.get("dipole_correction") and variant != "shuffle":
            response = io.read_threshold_maps(reference_path, reference.response_labels(threshold))
            transform = reference.fitted_dipole_transform(reference_map, response, used, ref_cfg["max_absorption"])
            fit = dataclasses.replace(
                fit, rho=transform @ fit.rho, rho_covariance=transform @ fit.rho_covariance @ transform.T
            )
        rows.append({**row, **fit.as_row()})
        log.info("%s: delta = %.4f, chi2/dof = %.1f/%d", variant, fit.delta, fit.chi2, fit.dof)
    io.write_csv(pd.DataFrame(rows), snakemake.output.fit)
