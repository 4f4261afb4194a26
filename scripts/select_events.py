"""Rule select_events: the paper's selection of one species in one time chunk.

Events passing the loosest cutoff factor of the run are kept, with the max cutoff of their
interval, so that the binning fills the nominal (1.2) and the variant (1.0, 1.4) maps from one
selection; the cut-flow's cutoff row therefore names the loosest factor, and the binning adds the
rows of the other factors to the species' selection table.
"""

from _workflow import rule_logging
from ams_anisotropy import io
from ams_anisotropy.selection import SpeciesCuts, select_events

with rule_logging(snakemake) as log:
    species = snakemake.wildcards.species
    spec = snakemake.params.species
    selection = snakemake.params.selection
    factors = [selection["cutoff_factor"], *selection["cutoff_factor_variants"]]
    cuts = SpeciesCuts(
        species=species,
        observable=spec["observable"],
        observable_min=spec["thresholds"][0],
        observable_max=spec.get("upper"),
        cutoff_factor=min(factors),
        cone_half_angle_deg=selection["cone_half_angle_deg"],
        **spec["cuts"],
    )
    timeline = io.read_timeline(snakemake.input.timeline)
    events = io.read_events(snakemake.input.events)
    selected, cutflow = select_events(
        events, timeline, cuts, events_path=snakemake.input.events, timeline_path=snakemake.input.timeline
    )
    io.write_parquet(selected, snakemake.output.selected, metadata={"species": species})
    io.write_csv(cutflow, snakemake.output.cutflow)
    log.info("%s: %d of %d events selected", species, len(selected), len(events))
