# Event selection, one job per species and chunk: the paper's cuts and R (or E) > factor x max cutoff.
# The events passing the loosest cutoff factor are kept (with their cutoff), so that the binning can
# fill the nominal and the variant maps from one selection.


rule select_events:
    input:
        timeline=timeline_file,
        events=events_file,
    output:
        selected=f"{OUT}/selected/{{species}}/chunk{{chunk}}.parquet",
        cutflow=f"{OUT}/selected/{{species}}/chunk{{chunk}}_cutflow.csv",
    params:
        species=lambda wildcards: config["species"][wildcards.species],
        selection=config.get("selection"),
    log:
        f"{OUT}/logs/select_events/{{species}}/chunk{{chunk}}.log",
    resources:
        mem_mb=2000,
        runtime=20,
    conda:
        "../../envs/selection.yaml"
    script:
        "../../scripts/select_events.py"
