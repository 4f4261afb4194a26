"""Rule reference_maps: the isotropic reference maps of one species for one variant, all thresholds.

The variants (``ams_anisotropy.reference_variants``): ``nominal`` (data-driven factorised method),
``cutoff<f>`` (cutoff factor f, with that factor's counts and histograms), ``noeff`` (no efficiency
correction), ``shuffle`` (event shuffling), ``effcutoff`` / ``efffine`` (other efficiency models),
``efftime`` (efficiency per trigger-rate bin and time block), ``accband`` (half the band limit), ``cadence2``
(every second interval). The integrated variants also
store the dipole response of the maps (columns ``<threshold>_RESP{X,Y,Z}``) used by the fit to undo the
dipole the data-driven acceptance absorbs.
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
from ams_anisotropy.reference_variants import HISTOGRAM_VARIABLES, merged_histogram, variant_spec
from ams_anisotropy.rng import generator
from ams_anisotropy.selection import passes_cutoff_factor
from ams_anisotropy.spectra import FluxTable

with rule_logging(snakemake) as log:
    species, variant = snakemake.wildcards.species, snakemake.wildcards.variant
    spec, ref_cfg = snakemake.params.species, snakemake.params.reference
    thresholds, upper = spec["thresholds"], spec.get("upper")
    labels = [threshold_label(t, spec["unit"]) for t in thresholds]
    recipe = variant_spec(variant, ref_cfg, snakemake.params.cutoff_factor)
    factor = recipe.cutoff_factor
    counts = io.read_threshold_maps(snakemake.input.counts, labels)
    n_events = counts.sum(axis=1)
    header = {"SPECIES": species, "VARIANT": variant, "CUTOFFF": factor, "UNIT": spec["unit"]}

    if recipe.shuffle:
        # events of the nominal sample, a seeded subsample of at most shuffle_max_events (memory);
        # random streams keyed by the species name (not its position in the config)
        columns = ["time_unix_s", "observable", "cutoff_max_gv", "dir_det_x", "dir_det_y", "dir_det_z"]
        keep_fraction = min(1.0, ref_cfg["shuffle_max_events"] / max(n_events[0], 1))
        subsample = generator(snakemake.params.seed, "reference_shuffle", species, "subsample")
        frames = []
        for path in snakemake.input.selected:
            frame = io.read_selected(path, columns)
            frame = frame[passes_cutoff_factor(frame, factor)]
            if keep_fraction < 1.0:
                frame = frame[subsample.random(len(frame)) < keep_fraction]
            frames.append(frame)
        maps = reference.shuffled_reference_maps(
            pd.concat(frames, ignore_index=True), snakemake.input.timelines, thresholds, upper,
            snakemake.params.nside, ref_cfg["n_shuffles"],
            generator(snakemake.params.seed, "reference_shuffle", species, "permutations"),
        )
        sums = maps.sum(axis=1, keepdims=True)
        maps = np.divide(maps * n_events[:, None], sums, out=np.zeros_like(maps), where=sums > 0)
        io.write_threshold_maps(snakemake.output.reference, maps, labels, header=header)
        log.info("shuffled %d events x %d shuffles (kept fraction %.3g)", sum(len(f) for f in frames),
                 ref_cfg["n_shuffles"], keep_fraction)
    else:
        flux = FluxTable.from_file(Path(snakemake.input.flux_table), name=species)
        event_histogram = None
        if recipe.histogram_variable is not None:
            event_histogram = merged_histogram(pd.read_csv(snakemake.input.efficiency), recipe.histogram_variable,
                                               recipe.efficiency_edges, labels, snakemake.input.efficiency)
        time_histogram = None
        if recipe.time_block_days is not None:  # the lowest threshold's events per time block (efftime)
            time_histogram = read_time_histogram(pd.read_csv(snakemake.input.efficiency_time), recipe.efficiency_edges,
                                                 labels[0], recipe.time_block_days, snakemake.input.efficiency_time)
        settings = reference.IntegrationSettings(
            lmax=recipe.lmax, kmax=recipe.kmax, epsilon=ref_cfg["epsilon"], oversampling=ref_cfg["oversampling"],
            nthreads=1, workers=snakemake.threads, interval_stride=recipe.interval_stride,
        )
        result, efficiency, _ = reference.data_driven_reference(
            snakemake.input.timelines, io.read_threshold_maps(snakemake.input.detector, labels), event_histogram,
            n_events, thresholds, upper, flux.integral_above, snakemake.params.nside, cutoff_factor=factor,
            cone_column=reference.cutoff_column(spec["cuts"]["charge_sign"], snakemake.params.cone_half_angle_deg),
            efficiency_variable=HISTOGRAM_VARIABLES[recipe.histogram_variable or ref_cfg["efficiency_variable"]],
            efficiency_edges=recipe.efficiency_edges,
            efficiency_min_events_per_bin=ref_cfg["efficiency_min_events_per_bin"],
            acceptance_symmetry=ref_cfg["acceptance_symmetry"], acceptance_min_events=ref_cfg["acceptance_min_events"],
            settings=settings, time_max_unix_s=snakemake.params.period_cut["time_max_unix_s"],
            deflection_table=AsymptoticTable.load(snakemake.input.tracing[0]) if snakemake.input.tracing else None,
            charge_sign=spec["cuts"]["charge_sign"],
            deflection_settings=DeflectionSettings(**{k: v for k, v in ref_cfg.get("deflection", {}).items()
                                                      if k != "enabled"}),
            resolution=tuple(spec["resolution"]) if spec.get("resolution") else None,
            time_histogram=time_histogram,
        )
        if snakemake.input.tracing:
            log.info("exposure in asymptotic directions (deflection correction, %s)", ref_cfg["deflection"])
        if efficiency is not None:
            log.info("efficiency per %s bin (lowest threshold): %s", recipe.histogram_variable,
                     np.round(efficiency[0], 4).tolist())
        if result.time_efficiency is not None:
            te = result.time_efficiency
            log.info("time factors per %g-day block: %d blocks, range %.4f-%.4f; %d of %d cells with their own "
                     "factor, %d blocks merged, %d at 1", recipe.time_block_days, te.blocks.size, te.factors.min(),
                     te.factors.max(), int(te.cell_estimated.sum()), te.factors.size,
                     int((~te.cell_estimated.all(axis=1) & te.block_estimated).sum()), int((~te.block_estimated).sum()))
        maps = np.concatenate([result.maps, result.dipole_response.reshape(-1, result.maps.shape[1])])
        all_labels = labels + [name for label in labels for name in reference.response_labels(label)]
        io.write_threshold_maps(snakemake.output.reference, maps, all_labels, header=header)
        log.info("%d good intervals integrated at lmax %d, kmax %d, epsilon %.1e, stride %d; clipped pixels per "
                 "threshold %s", result.n_intervals, settings.lmax, settings.kmax, settings.epsilon,
                 settings.interval_stride, result.n_clipped_pixels.tolist())
