"""Rule auger_comparison: the workflow's dipole of the Auger 2017 events against the published one."""

import pandas as pd

from _workflow import rule_logging
from ams_anisotropy import io
from ams_anisotropy.auger import compare_with_published, read_auger_events
from ams_anisotropy.fit import pixels_with_exposure
from ams_anisotropy.sky_maps import sky_maps

with rule_logging(snakemake) as log:
    row = pd.read_csv(snakemake.input.table).iloc[0]
    events = read_auger_events(snakemake.input.events)
    comparison = compare_with_published(row, events)
    io.write_csv(comparison, snakemake.output.comparison)
    label = f"{row['threshold']:g}{row['unit']}"
    counts = io.read_threshold_map(snakemake.input.counts, label)
    reference = io.read_threshold_map(snakemake.input.reference, label)
    sky_maps(
        counts, reference, snakemake.output.skymaps, snakemake.output.skymaps_pdf,
        title=f"Pierre Auger 2017 public events above {label}",
        mask=pixels_with_exposure(reference, snakemake.params.min_exposure_fraction), smoothing_deg=45.0,
    )
    log.info("\n%s", comparison.to_string())
