# Event selection, one job per chunk for every species of the run: the events are read once and the
# cuts that species share (the nuclei's quality cuts, ...) are evaluated once (selection.select_species);
# per species the paper's cuts and R (or E) > factor x max cutoff. The events passing the loosest cutoff
# factor are kept (with their cutoff), so that the binning can fill the nominal and the variant maps from
# one selection. The params carry only what the cuts read (the lowest threshold, not the others), so
# changing a higher threshold does not redo the selection.


rule select_events:
    input:
        timeline=timeline_file,
        events=events_file,
    output:
        selected=[f"{OUT}/selected/{species}/chunk{{chunk}}.parquet" for species in run_species()],
        cutflow=[f"{OUT}/selected/{species}/chunk{{chunk}}_cutflow.csv" for species in run_species()],
    params:
        cuts=lambda wildcards: {s: selection_cuts(s) for s in run_species()},
        code=code_hash("select_events.py"),
    log:
        f"{OUT}/logs/select_events/chunk{{chunk}}.log",
    benchmark:
        f"{OUT}/benchmarks/select_events/chunk{{chunk}}.tsv"
    resources:
        mem_mb=3000,
        runtime=20,
    conda:
        "../../envs/selection.yaml"
    script:
        "../../scripts/select_events.py"
