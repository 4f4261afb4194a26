"""Rule reference_maps: the isotropic reference maps of one species for every integrated variant, all thresholds.

The variants (``ams_anisotropy.reference_variants``): ``nominal`` (data-driven factorised method),
``cutoff<f>`` (cutoff factor f, with that factor's counts and histograms), ``noeff`` (no efficiency
correction), ``effcutoff`` / ``efffine`` (other efficiency models), ``efftime`` (efficiency per trigger-rate
bin and time block), ``accband`` (half the band limit), ``cadence2`` (every second interval); the shuffled
reference is rule shuffled_reference. One job builds them all so that the deflection correction is computed
once (``ams_anisotropy.reference_set``). Each map file also stores the dipole response (columns
``<threshold>_RESP{X,Y,Z}``) used by the fit to undo the dipole the data-driven acceptance absorbs.
"""

from pathlib import Path

import numpy as np
import pandas as pd

from _workflow import rule_logging
from ams_anisotropy import io, reference
from ams_anisotropy.asymptotic import AsymptoticTable
from ams_anisotropy.binning import threshold_label
from ams_anisotropy.deflected_exposure import DeflectionSettings
from ams_anisotropy.efficiency_time import read_time_histogram
from ams_anisotropy.reference_set import VariantInputs, data_driven_reference_set
from ams_anisotropy.reference_variants import HISTOGRAM_VARIABLES, merged_histogram, variant_spec
from ams_anisotropy.spectra import FluxTable

with rule_logging(snakemake) as log:
    species, variants = snakemake.wildcards.species, snakemake.params.variants
    spec, ref_cfg = snakemake.params.species, snakemake.params.reference
    thresholds, upper = spec["thresholds"], spec.get("upper")
    labels = [threshold_label(t, spec["unit"]) for t in thresholds]
    nominal_factor = snakemake.params.cutoff_factor
    files = {suffix: (counts, detector, efficiency) for suffix, counts, detector, efficiency in zip(
        snakemake.params.counts_suffixes, snakemake.input.counts, snakemake.input.detector, snakemake.input.efficiency,
        strict=True)}
    recipes = {v: variant_spec(v, ref_cfg, nominal_factor) for v in variants}  # every recipe checked first
    inputs = []
    for (variant, recipe), suffix in zip(recipes.items(), snakemake.params.variant_counts, strict=True):
        if suffix not in files:
            raise ValueError(f"reference variant {variant!r}: no counts maps for cutoff factor "
                             f"{recipe.cutoff_factor:g} (add it to selection.cutoff_factor_variants)")
        counts_path, detector_path, efficiency_path = files[suffix]
        event_histogram = None
        if recipe.histogram_variable is not None:
            event_histogram = merged_histogram(pd.read_csv(efficiency_path), recipe.histogram_variable,
                                               recipe.efficiency_edges, labels, efficiency_path)
        time_histogram = None
        if recipe.time_block_days is not None:  # the lowest threshold's events per time block (efftime)
            time_path = snakemake.input.efficiency_time[0]
            time_histogram = read_time_histogram(pd.read_csv(time_path), recipe.efficiency_edges, labels[0],
                                                 recipe.time_block_days, time_path)
        settings = reference.IntegrationSettings(
            lmax=recipe.lmax, kmax=recipe.kmax, epsilon=ref_cfg["epsilon"], oversampling=ref_cfg["oversampling"],
            nthreads=1, workers=snakemake.threads, interval_stride=recipe.interval_stride,
        )
        inputs.append(VariantInputs(
            variant, io.read_threshold_maps(detector_path, labels),
            io.read_threshold_maps(counts_path, labels).sum(axis=1), event_histogram, recipe.cutoff_factor,
            HISTOGRAM_VARIABLES[recipe.histogram_variable or ref_cfg["efficiency_variable"]], recipe.efficiency_edges,
            settings, time_histogram))
    deflection_cfg = ref_cfg.get("deflection", {})
    results = data_driven_reference_set(
        snakemake.input.timelines, inputs, thresholds, upper,
        FluxTable.from_file(Path(snakemake.input.flux_table), name=species).integral_above, snakemake.params.nside,
        cone_column=reference.cutoff_column(spec["cuts"]["charge_sign"], snakemake.params.cone_half_angle_deg),
        efficiency_min_events_per_bin=ref_cfg["efficiency_min_events_per_bin"],
        acceptance_symmetry=ref_cfg["acceptance_symmetry"], acceptance_min_events=ref_cfg["acceptance_min_events"],
        time_max_unix_s=snakemake.params.period_cut["time_max_unix_s"],
        deflection_table=AsymptoticTable.load(snakemake.input.tracing[0]) if snakemake.input.tracing else None,
        charge_sign=spec["cuts"]["charge_sign"],
        deflection_settings=DeflectionSettings(**{k: v for k, v in deflection_cfg.items() if k != "enabled"}),
        resolution=tuple(spec["resolution"]) if spec.get("resolution") else None,
    )
    if snakemake.input.tracing:
        log.info("exposure in asymptotic directions (deflection correction shared by %d variants, %s)",
                 len(inputs), deflection_cfg)
    for variant, path in zip(variants, snakemake.output.references, strict=True):
        result, _ = results[variant]
        recipe = recipes[variant]
        if result.efficiency is not None:
            log.info("%s: efficiency per %s bin (lowest threshold): %s", variant, recipe.histogram_variable,
                     np.round(result.efficiency[0], 4).tolist())
        if result.time_efficiency is not None:
            te = result.time_efficiency
            log.info("%s: time factors per %g-day block: %d blocks, range %.4f-%.4f; %d of %d cells with their own "
                     "factor, %d blocks merged, %d at 1", variant, recipe.time_block_days, te.blocks.size,
                     te.factors.min(), te.factors.max(), int(te.cell_estimated.sum()), te.factors.size,
                     int((~te.cell_estimated.all(axis=1) & te.block_estimated).sum()), int((~te.block_estimated).sum()))
        maps = np.concatenate([result.maps, result.dipole_response.reshape(-1, result.maps.shape[1])])
        all_labels = labels + [name for label in labels for name in reference.response_labels(label)]
        header = {"SPECIES": species, "VARIANT": variant, "CUTOFFF": recipe.cutoff_factor, "UNIT": spec["unit"]}
        io.write_threshold_maps(path, maps, all_labels, header=header)
        log.info("%s: %d good intervals integrated at lmax %d, kmax %d, epsilon %.1e, stride %d; clipped pixels per "
                 "threshold %s", variant, result.n_intervals, recipe.lmax, recipe.kmax, ref_cfg["epsilon"],
                 recipe.interval_stride, result.n_clipped_pixels.tolist())
