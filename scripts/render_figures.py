"""Rules figure1_electrons_positrons, figure2_nuclei and species_figures: render the figures."""

import pandas as pd

from _workflow import rule_logging
from ams_anisotropy import component_figures, io, limit_figures, paper_results, sky_maps
from ams_anisotropy.fit import pixels_with_exposure

with rule_logging(snakemake) as log:
    label = snakemake.params.label
    figure = snakemake.params.figure
    output = snakemake.output
    if figure in ("figure1", "figure2"):  # the tables of the figure's species
        table = pd.concat([pd.read_csv(path) for path in snakemake.input.tables], ignore_index=True)
    else:
        table = pd.read_csv(snakemake.input.table)
    published = None
    if getattr(snakemake.params, "mark_paper_limits", False):  # the paper's six limits as red stars
        published = {s: paper_results.published_limits(s) for s in table["species"].unique()}
    if figure == "figure1":
        limit_figures.figure1_electrons_positrons(table, output.png, output.pdf, label=label,
                                                  limit_column="delta_ul95_sys", published=published)
    elif figure == "figure2":
        limit_figures.figure2_nuclei(table, output.png, output.pdf, label=label, limit_column="delta_ul95_sys",
                                     published=published)
    else:
        species = snakemake.wildcards.species
        component_figures.components_vs_threshold(table, species, output.components, output.components_pdf,
                                                  label=label)
        lowest = table.sort_values("threshold").iloc[0]
        threshold = f"{lowest['threshold']:g}{lowest['unit']}"
        counts = io.read_threshold_map(snakemake.input.counts, threshold)
        reference = io.read_threshold_map(snakemake.input.reference, threshold)
        mask = pixels_with_exposure(reference, snakemake.params.min_exposure_fraction)
        sky_maps.sky_maps(
            counts, reference, output.skymaps, output.skymaps_pdf,
            title=f"{species} above {threshold} ({label})", mask=mask,
            smoothing_deg=snakemake.params.smoothing_deg,
        )
    log.info("rendered %s", list(output))
