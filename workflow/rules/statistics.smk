# Multipole fit and posterior upper limits, one job each per species and threshold, then the tables.


rule fit_dipole:
    input:
        counts=lambda wildcards: [
            f"{OUT}/maps/{wildcards.species}/counts{cutoff_suffix(f)}.fits" for f in cutoff_variants()
        ],
        references=lambda wildcards: [
            f"{OUT}/maps/{wildcards.species}/reference_{v}.fits" for v in reference_variants()
        ],
    output:
        fit=f"{OUT}/fit/{{species}}/{{threshold}}.csv",
    params:
        threshold_index=threshold_index,
        variants=reference_variants(),
        variant_counts=lambda wildcards: [variant_factor_suffix(v) for v in reference_variants()],
        counts_suffixes=[cutoff_suffix(f) for f in cutoff_variants()],
        fit=config["fit"],
        reference=config.get("reference"),
    log:
        f"{OUT}/logs/fit_dipole/{{species}}_{{threshold}}.log",
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/statistics.yaml"
    script:
        "../../scripts/fit_dipole.py"


rule sample_limits:
    input:
        fit=f"{OUT}/fit/{{species}}/{{threshold}}.csv",
        counts=f"{OUT}/maps/{{species}}/counts.fits",
        reference=f"{OUT}/maps/{{species}}/reference_nominal.fits",
    output:
        limits=f"{OUT}/limits/{{species}}/{{threshold}}.csv",
    params:
        seed=config["seed"],
        species_index=lambda wildcards: list(config["species"]).index(wildcards.species),
        threshold_index=threshold_index,
        threshold_value=lambda wildcards: config["species"][wildcards.species]["thresholds"][threshold_index(wildcards)],
        unit=lambda wildcards: config["species"][wildcards.species]["unit"],
        fit=config["fit"],
        reference=config.get("reference"),
        limits=config["limits"],
    log:
        f"{OUT}/logs/sample_limits/{{species}}_{{threshold}}.log",
    benchmark:
        f"{OUT}/benchmarks/sample_limits/{{species}}_{{threshold}}.tsv"
    resources:
        mem_mb=2000,
        runtime=20,
    conda:
        "../../envs/statistics.yaml"
    script:
        "../../scripts/sample_limits.py"


rule species_table:
    input:
        limits=lambda wildcards: [
            f"{OUT}/limits/{wildcards.species}/{t}.csv" for t in threshold_labels(wildcards.species)
        ],
    output:
        table=f"{OUT}/tables/{{species}}_dipole_limits.csv",
    log:
        f"{OUT}/logs/species_table/{{species}}.log",
    resources:
        mem_mb=500,
        runtime=5,
    conda:
        "../../envs/statistics.yaml"
    script:
        "../../scripts/collect_tables.py"


rule dipole_table:
    input:
        tables=[f"{OUT}/tables/{s}_dipole_limits.csv" for s in analysis_species()],
    output:
        csv=report(
            f"{OUT}/tables/dipole_limits.csv",
            caption="../report/dipole_limits.rst",
            category="Tables",
        ),
        ecsv=f"{OUT}/tables/dipole_limits.ecsv",
    log:
        f"{OUT}/logs/dipole_table.log",
    resources:
        mem_mb=500,
        runtime=5,
    conda:
        "../../envs/statistics.yaml"
    script:
        "../../scripts/collect_tables.py"


rule selection_summary:
    input:
        tables=[f"{OUT}/tables/{s}_selection.csv" for s in analysis_species()],
    output:
        summary=report(
            f"{OUT}/tables/selection_summary.csv",
            caption="../report/selection_summary.rst",
            category="Tables",
        ),
    log:
        f"{OUT}/logs/selection_summary.log",
    resources:
        mem_mb=500,
        runtime=5,
    conda:
        "../../envs/statistics.yaml"
    script:
        "../../scripts/summarize_selection.py"


rule sample_sizes:
    input:
        tables=[f"{OUT}/tables/{s}_dipole_limits.csv" for s in analysis_species()],
    output:
        sizes=report(
            f"{OUT}/tables/sample_sizes.csv",
            caption="../report/sample_sizes.rst",
            category="Tables",
        ),
    params:
        duration_days=config.get("period", {}).get("duration_days"),
    log:
        f"{OUT}/logs/sample_sizes.log",
    resources:
        mem_mb=500,
        runtime=5,
    conda:
        "../../envs/statistics.yaml"
    script:
        "../../scripts/sample_sizes.py"
