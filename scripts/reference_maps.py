"""Rule reference_maps: the isotropic reference maps of one species for one variant, all thresholds.

Variants: ``nominal`` (data-driven factorised method at the nominal cutoff factor), ``cutoff<f>`` (the
same at cutoff factor f, with that factor's counts), ``noeff`` (no geographic-efficiency correction)
and ``shuffle`` (event shuffling). The data-driven variants also store the dipole response of the
maps (columns ``<threshold>_RESP{X,Y,Z}``) used by the fit to undo the dipole the data-driven
acceptance absorbs.
"""

from pathlib import Path

import numpy as np
import pandas as pd

from _workflow import rule_logging
from ams_anisotropy import io, reference
from ams_anisotropy.binning import threshold_label
from ams_anisotropy.rng import generator
from ams_anisotropy.selection import passes_cutoff_factor
from ams_anisotropy.spectra import FluxTable

EFFICIENCY_VARIABLES = {"trigger_rate_hz": "trigger_rate_hz", "cutoff_max_gv": "cutoff"}

with rule_logging(snakemake) as log:
    species, variant = snakemake.wildcards.species, snakemake.wildcards.variant
    spec, selection = snakemake.params.species, snakemake.params.selection
    ref_cfg, nside = snakemake.params.reference, snakemake.params.maps["nside"]
    thresholds, upper = spec["thresholds"], spec.get("upper")
    labels = [threshold_label(t, spec["unit"]) for t in thresholds]
    factor = float(variant[len("cutoff"):]) if variant.startswith("cutoff") else selection["cutoff_factor"]
    counts = io.read_threshold_maps(snakemake.input.counts, labels)
    n_events = counts.sum(axis=1)
    header = {"SPECIES": species, "VARIANT": variant, "CUTOFFF": factor, "UNIT": spec["unit"]}

    if variant == "shuffle":
        # events of the nominal sample, a seeded subsample of at most shuffle_max_events (memory)
        columns = ["time_unix_s", "observable", "cutoff_max_gv", "dir_det_x", "dir_det_y", "dir_det_z"]
        keep_fraction = min(1.0, ref_cfg["shuffle_max_events"] / max(n_events[0], 1))
        # random streams of this species: the subsample (key 0) and the shuffles (key 1)
        species_index = snakemake.params.species_index
        subsample = generator(snakemake.params.seed, "reference_shuffle", species_index, 0)
        frames = []
        for path in snakemake.input.selected:
            frame = io.read_selected(path, columns)
            frame = frame[passes_cutoff_factor(frame, factor)]
            if keep_fraction < 1.0:
                frame = frame[subsample.random(len(frame)) < keep_fraction]
            frames.append(frame)
        maps = reference.shuffled_reference_maps(
            pd.concat(frames, ignore_index=True), snakemake.input.timelines, thresholds, upper, nside,
            ref_cfg["n_shuffles"], generator(snakemake.params.seed, "reference_shuffle", species_index, 1),
        )
        sums = maps.sum(axis=1, keepdims=True)
        maps = np.divide(maps * n_events[:, None], sums, out=np.zeros_like(maps), where=sums > 0)
        io.write_threshold_maps(snakemake.output.reference, maps, labels, header=header)
        log.info("shuffled %d events x %d shuffles (kept fraction %.3g)", sum(len(f) for f in frames),
                 ref_cfg["n_shuffles"], keep_fraction)
    else:
        flux = FluxTable.from_file(Path(snakemake.scriptdir).parent / spec["flux_file"], name=species)
        variable = EFFICIENCY_VARIABLES[ref_cfg["efficiency_variable"]]
        settings = dict(
            thresholds=thresholds, upper=upper, integral_flux=flux.integral_above, cutoff_factor=factor,
            cone_column=reference.cutoff_column(spec["cuts"]["charge_sign"], selection["cone_half_angle_deg"]),
            efficiency_variable=variable, efficiency_edges=ref_cfg["efficiency_edges"],
            nside_attitude=ref_cfg["nside_attitude"], n_roll_bins=ref_cfg["n_roll_bins"],
        )
        exposure = reference.accumulate_exposure(snakemake.input.timelines, **settings)
        if variant != "noeff":
            histogram = pd.read_csv(snakemake.input.efficiency)
            histogram = histogram[histogram["variable"] == ref_cfg["efficiency_variable"]]
            efficiency = reference.estimate_efficiency(
                histogram[labels].to_numpy(float).T, exposure.efficiency_exposure_s,
                ref_cfg["efficiency_min_events_per_bin"],
            )
            log.info("efficiency per %s bin (lowest threshold): %s", variable, np.round(efficiency[0], 4).tolist())
            exposure = reference.accumulate_exposure(snakemake.input.timelines, efficiency=efficiency, **settings)
        result = reference.reference_maps(
            exposure, io.read_threshold_maps(snakemake.input.detector, labels), nside, n_events,
            dipole_response=True, acceptance_min_events=ref_cfg["acceptance_min_events"],
            detector_subsample=ref_cfg["detector_subsample"], acceptance_symmetry=ref_cfg["acceptance_symmetry"],
        )
        maps = np.concatenate([result.maps, result.dipole_response.reshape(-1, result.maps.shape[1])])
        all_labels = labels + [name for label in labels for name in reference.response_labels(label)]
        io.write_threshold_maps(snakemake.output.reference, maps, all_labels, header=header)
        log.info("%d good intervals in %d attitude cells", exposure.n_intervals, exposure.n_cells)
