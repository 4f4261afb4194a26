# Event selection: the paper's cuts of each species and R (or E) > factor x max cutoff. The events passing
# the loosest cutoff factor are kept (with their cutoff), so that the binning fills the nominal and the
# variant maps from one selection. The params carry only what the cuts read (the lowest threshold, not the
# others), so changing a higher threshold does not redo the selection.
#
# The job's granularity follows whether the events stay on disk (docs/operations.md, "Reruns"):
# * events kept (AMS-style input files, or simulation.keep_events: CI and the default config): one job per
#   species and chunk, so that a cut of one species reruns that species' selection and its dependants only;
# * simulated events temp() (config/paper.yaml: ~14 GB of events, over its 10 GB disk goal): one job per chunk selects every species in one
#   pass (selection.select_species: the events read and checked once, shared cuts evaluated once, 3-4x
#   less CPU). A cut then re-creates the chunk's events, which reruns every species' selection anyway.


if SELECT_PER_SPECIES:

    rule select_events:
        input:
            timeline=timeline_file,
            events=events_file,
        output:
            selected=[f"{OUT}/selected/{{species}}/chunk{{chunk}}.parquet"],
            cutflow=[f"{OUT}/selected/{{species}}/chunk{{chunk}}_cutflow.csv"],
        params:
            cuts=lambda wildcards: {wildcards.species: selection_cuts(wildcards.species)},
            code=code_hash("select_events.py"),
        log:
            f"{OUT}/logs/select_events/{{species}}/chunk{{chunk}}.log",
        benchmark:
            f"{OUT}/benchmarks/select_events/{{species}}/chunk{{chunk}}.tsv"
        resources:
            mem_mb=3000,
            runtime=20,
        conda:
            "../../envs/selection.yaml"
        script:
            "../../scripts/select_events.py"

else:

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
