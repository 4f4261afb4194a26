"""Rule auger_maps: counts and analytic-exposure reference maps (galactic) of the Auger 2017 events,
written in the layout of the AMS species so that the same fit, limit and table rules run on them."""

from _workflow import rule_logging
from ams_anisotropy import io
from ams_anisotropy.auger import auger_maps, read_auger_events

with rule_logging(snakemake) as log:
    spec = snakemake.params.species
    reference_cfg = snakemake.params.reference
    nside = snakemake.params.maps["nside"]
    label = f"{spec['thresholds'][0]:g}{spec['unit']}"
    events = read_auger_events(snakemake.input.events)
    # the file's weights correct the small modulations of the exposure (file header, Science 2017)
    counts, reference, mask = auger_maps(
        events, nside, reference_cfg["latitude_deg"], reference_cfg["max_zenith_deg"], use_weights=True
    )
    header = {"SPECIES": "auger", "UNIT": spec["unit"]}
    io.write_threshold_maps(snakemake.output.counts, counts[None, :], [label], header=header)
    io.write_threshold_maps(snakemake.output.reference, reference[None, :], [label], header=header)
    log.info("%d events (weighted sum %.1f) in %d pixels with exposure", len(events), counts.sum(), mask.sum())
