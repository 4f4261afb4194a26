"""Rule shuffled_reference: the event-shuffling reference (variant ``shuffle``) of one species, all thresholds.

Events of the nominal sample, a seeded subsample of at most ``reference.shuffle_max_events`` (memory), each
given the time of another event (``ams_anisotropy.shuffling``); random streams keyed by the species name (not
its position in the config). Undeflected: the cross-check absorbs a real dipole and is only reported.
"""

import numpy as np
import pandas as pd

from _workflow import rule_logging
from ams_anisotropy import io, reference
from ams_anisotropy.binning import threshold_label
from ams_anisotropy.rng import generator
from ams_anisotropy.selection import passes_cutoff_factor

with rule_logging(snakemake) as log:
    species = snakemake.wildcards.species
    spec, ref_cfg = snakemake.params.species, snakemake.params.reference
    thresholds, upper = spec["thresholds"], spec.get("upper")
    labels = [threshold_label(t, spec["unit"]) for t in thresholds]
    factor = float(snakemake.params.cutoff_factor)
    n_events = io.read_threshold_maps(snakemake.input.counts, labels).sum(axis=1)
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
        pd.concat(frames, ignore_index=True), snakemake.input.timelines, thresholds, upper, snakemake.params.nside,
        ref_cfg["n_shuffles"], generator(snakemake.params.seed, "reference_shuffle", species, "permutations"),
    )
    sums = maps.sum(axis=1, keepdims=True)
    maps = np.divide(maps * n_events[:, None], sums, out=np.zeros_like(maps), where=sums > 0)
    header = {"SPECIES": species, "VARIANT": "shuffle", "CUTOFFF": factor, "UNIT": spec["unit"]}
    io.write_threshold_maps(snakemake.output.reference, maps, labels, header=header)
    log.info("shuffled %d events x %d shuffles (kept fraction %.3g)", sum(len(f) for f in frames),
             ref_cfg["n_shuffles"], keep_fraction)
