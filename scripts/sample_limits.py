"""Rule sample_limits: 95% credible upper limits on the dipole amplitude of one species and threshold,
without and with systematics (spread of the reference-map variants), and the isotropic expectation
from Poisson pseudo-skies of the reference map."""

import pandas as pd

from _workflow import rule_logging
from ams_anisotropy import io
from ams_anisotropy.fit import pixels_with_exposure
from ams_anisotropy.limits import dipole_upper_limit, isotropic_expectation, systematic_sigmas
from ams_anisotropy.reference import fitted_dipole_transform, response_labels
from ams_anisotropy.rng import generator

with rule_logging(snakemake) as log:
    species, threshold = snakemake.wildcards.species, snakemake.wildcards.threshold
    keys = (snakemake.params.species_index, snakemake.params.threshold_index)
    limits_cfg = snakemake.params.limits
    fits = pd.read_csv(snakemake.input.fit).set_index("variant")
    components, errors = ["rho_fb", "rho_ew", "rho_ns"], ["sigma_fb", "sigma_ew", "sigma_ns"]
    variants = fits.drop(index="nominal")
    sigma_sys = systematic_sigmas(
        fits.loc["nominal", components].to_numpy(float),
        {name: row[components].to_numpy(float) for name, row in variants.iterrows()},
        limits_cfg["systematics_groups"],
        sigma_nominal=fits.loc["nominal", errors].to_numpy(float),
        sigma_variants={name: row[errors].to_numpy(float) for name, row in variants.iterrows()},
    )
    counts = io.read_threshold_map(snakemake.input.counts, threshold)
    reference = io.read_threshold_map(snakemake.input.reference, threshold)
    mask = pixels_with_exposure(reference, snakemake.params.fit["min_exposure_fraction"])
    ref_cfg = snakemake.params.reference
    transform = None  # the same absorption correction as the fit (fit_dipole.py)
    if ref_cfg.get("dipole_correction"):
        response = io.read_threshold_maps(snakemake.input.reference, response_labels(threshold))
        transform = fitted_dipole_transform(reference, response, mask, ref_cfg["max_absorption"])
    limit = dipole_upper_limit(
        counts, reference, generator(snakemake.params.seed, "limits_posterior", *keys), mask=mask,
        sigma_sys=sigma_sys, credibility=limits_cfg["credibility"], n_samples=limits_cfg["n_posterior_samples"],
        transform=transform,
    )
    expectation = isotropic_expectation(
        reference, generator(snakemake.params.seed, "limits_pseudo_skies", *keys), mask=mask,
        n_skies=limits_cfg["n_pseudo_skies"], sigma_sys=sigma_sys, credibility=limits_cfg["credibility"],
        transform=transform, max_failed_fraction=limits_cfg["max_failed_fraction"],
    )
    row = {
        "species": species, "threshold": snakemake.params.threshold_value, "unit": snakemake.params.unit,
        "n_events": int(fits.loc["nominal", "n_events"]),
        **{k: v for k, v in fits.loc["nominal"].items() if k not in ("n_events", "n_pixels")},
        "sys_fb": sigma_sys[0], "sys_ew": sigma_sys[1], "sys_ns": sigma_sys[2],
        "delta_ul95": limit.delta_ul, "delta_ul95_mc_error": limit.delta_ul_mc_error,
        "delta_ul95_sys": limit.delta_ul_sys, "delta_ul95_sys_mc_error": limit.delta_ul_sys_mc_error,
        **expectation.as_row(),
        **expectation.component_row(),
    }
    io.write_csv(pd.DataFrame([row]), snakemake.output.limits)
    log.info("%s %s: delta < %.4f (stat), < %.4f (with syst.); expected %.4f", species, threshold,
             limit.delta_ul, limit.delta_ul_sys, row["expected_ul95_median"])
