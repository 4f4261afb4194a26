"""Rule select_events: the paper's selection of the species of ``params.cuts`` in one time chunk.

One species (one job per species and chunk) or every species of the run (one job per chunk): the
events are read once and every species selected from them (``selection.select_species``).
Events passing the loosest cutoff factor of the run are kept, with the max cutoff of their
interval, so that the binning fills the nominal (1.2) and the variant (1.0, 1.4) maps from one
selection; the cut-flow's cutoff row therefore names the loosest factor, and the binning adds the
rows of the other factors to the species' selection table.
"""

from _workflow import rule_logging
from ams_anisotropy import io
from ams_anisotropy.parquet_frames import write_frames
from ams_anisotropy.selection import SpeciesCuts, select_species

with rule_logging(snakemake) as log:
    species = list(snakemake.params.cuts)
    cuts = [SpeciesCuts(species=name, **snakemake.params.cuts[name]) for name in species]
    timeline = io.read_timeline(snakemake.input.timeline)
    events = io.read_events(snakemake.input.events)
    results = select_species(
        events, timeline, cuts, events_path=snakemake.input.events, timeline_path=snakemake.input.timeline
    )
    for name, (selected, cutflow), selected_path, cutflow_path in zip(
        species, results, snakemake.output.selected, snakemake.output.cutflow, strict=True
    ):
        write_frames(selected_path, [selected], metadata={"species": name})
        io.write_csv(cutflow, cutflow_path)
        log.info("%s: %d of %d events selected", name, len(selected), len(events))
