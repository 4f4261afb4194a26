"""Rule bin_events: one pass over the selected events of a species fills, for every cutoff factor,
the cumulative counts maps of all thresholds (galactic), the detector-frame histograms and the
histograms of the efficiency variable; the per-chunk cut-flows are summed into the species'
selection table (with one row per cutoff factor). When the ``efftime`` reference variant is configured
(``reference.efficiency_time_block_days`` in the params), the events of the nominal cutoff factor per time
block and refined trigger-rate bin too (``efficiency_time.csv``, ``efficiency_time.TimeBlockHistogram``).
"""

import pandas as pd

from _workflow import rule_logging
from ams_anisotropy import io
from ams_anisotropy.binning import MapAccumulator
from ams_anisotropy.efficiency_time import TimeBlockHistogram
from ams_anisotropy.reference_variants import histogram_edges
from ams_anisotropy.selection import cutoff_factor_cutflow, merge_cutflows, passes_cutoff_factor

with rule_logging(snakemake) as log:
    species = snakemake.wildcards.species
    spec = snakemake.params.species
    maps = snakemake.params.maps
    reference = snakemake.params.reference
    factors = list(snakemake.params.cutoff_factors)
    # both efficiency variables at refined edges: every reference variant's bins are sums of them
    edges = histogram_edges(reference)
    accumulators = [
        MapAccumulator(
            spec["thresholds"], spec.get("upper"), maps["nside"], maps["nside_detector"], edges,
            species=species, unit=spec["unit"],
        )
        for _ in factors
    ]
    # the nominal factor (factors[0]) per time block: only when a variant reads it (the output is then named)
    time_histogram = None
    if snakemake.output.get("efficiency_time"):
        time_histogram = TimeBlockHistogram(spec["thresholds"], spec.get("upper"), edges["trigger_rate_hz"],
                                            reference["efficiency_time_block_days"], unit=spec["unit"])
    cutflows = []
    for selected_path, cutflow_path in zip(snakemake.input.selected, snakemake.input.cutflows, strict=True):
        selected = io.read_selected(selected_path)
        chunk_cutflow = pd.read_csv(cutflow_path)
        # the nominal factor last: the last row of the table is the analysed sample
        rows = cutoff_factor_cutflow(selected, factors[1:] + factors[:1], species, selected_path)
        cutflows.append(pd.concat([chunk_cutflow, rows], ignore_index=True))
        for factor, accumulator in zip(factors, accumulators, strict=True):
            accumulator.add(selected[passes_cutoff_factor(selected, factor)], selected_path)
        if time_histogram is not None:
            time_histogram.add(selected[passes_cutoff_factor(selected, factors[0])], selected_path)
    io.write_csv(merge_cutflows(cutflows), snakemake.output.selection_table)
    for k, (factor, accumulator) in enumerate(zip(factors, accumulators, strict=True)):
        accumulator.check_counts(maps["allow_empty_threshold"])
        header = {"SPECIES": species, "CUTOFFF": factor, "UNIT": spec["unit"]}
        io.write_threshold_maps(snakemake.output.counts[k], accumulator.counts, accumulator.labels, header=header)
        io.write_threshold_maps(
            snakemake.output.detector[k], accumulator.detector, accumulator.labels, coord=None, header=header
        )
        io.write_csv(accumulator.histogram_table(), snakemake.output.efficiency[k])
        log.info("cutoff factor %g: events per threshold %s", factor, dict(zip(accumulator.labels,
                 accumulator.n_events.tolist(), strict=True)))
    if time_histogram is not None:
        io.write_csv(time_histogram.table(), snakemake.output.efficiency_time[0])
        log.info("events per %g-day time block and trigger-rate bin: %d blocks",
                 reference["efficiency_time_block_days"], len(time_histogram.counts))
