# Multipole fit and posterior upper limits, one job each per species covering all its thresholds (so
# the few seconds of Python imports of a job stay a small fraction of its work), then the tables.


rule fit_dipole:
    input:
        counts=lambda wildcards: [
            f"{OUT}/maps/{wildcards.species}/counts{cutoff_suffix(f)}.fits" for f in cutoff_variants()
        ],
        references=lambda wildcards: [
            f"{OUT}/maps/{wildcards.species}/reference_{v}.fits" for v in reference_variants()
        ],
    output:
        fit=f"{OUT}/fit/{{species}}.csv",
    params:
        thresholds=lambda wildcards: threshold_labels(wildcards.species),
        variants=reference_variants(),
        variant_counts=[variant_factor_suffix(v) for v in reference_variants()],
        counts_suffixes=[cutoff_suffix(f) for f in cutoff_variants()],
        fit=pick(config["fit"], "min_exposure_fraction", "lmax_check"),
        reference=pick(config.get("reference"), "dipole_correction", "max_absorption"),
        code=code_hash("fit_dipole.py"),
    log:
        f"{OUT}/logs/fit_dipole/{{species}}.log",
    benchmark:
        f"{OUT}/benchmarks/fit_dipole/{{species}}.tsv"
    resources:
        mem_mb=1000,
        runtime=20,
    conda:
        "../../envs/statistics.yaml"
    script:
        "../../scripts/fit_dipole.py"


rule sample_limits:
    input:
        fit=f"{OUT}/fit/{{species}}.csv",
        counts=f"{OUT}/maps/{{species}}/counts.fits",
        reference=f"{OUT}/maps/{{species}}/reference_nominal.fits",
    output:
        limits=f"{OUT}/limits/{{species}}.csv",
    params:
        seed=config["seed"],
        thresholds=lambda wildcards: threshold_labels(wildcards.species),
        threshold_values=lambda wildcards: config["species"][wildcards.species]["thresholds"],
        unit=lambda wildcards: config["species"][wildcards.species]["unit"],
        min_exposure_fraction=config["fit"]["min_exposure_fraction"],
        reference=pick(config.get("reference"), "dipole_correction", "max_absorption"),
        limits=pick(
            config["limits"],
            "n_posterior_samples",
            "n_pseudo_skies",
            "credibility",
            "max_failed_fraction",
            "systematics_groups",
        ),
        code=code_hash("sample_limits.py"),
    log:
        f"{OUT}/logs/sample_limits/{{species}}.log",
    benchmark:
        f"{OUT}/benchmarks/sample_limits/{{species}}.tsv"
    resources:
        mem_mb=2000,
        runtime=60,
    conda:
        "../../envs/statistics.yaml"
    script:
        "../../scripts/sample_limits.py"


rule species_table:
    input:
        limits=f"{OUT}/limits/{{species}}.csv",
        fits=f"{OUT}/fit/{{species}}.csv",
    output:
        table=report(
            f"{OUT}/tables/{{species}}_dipole_limits.csv",
            caption="../report/species_limits.rst",
            category="Per-threshold tables",
            subcategory="{species}",
        ),
        fits=report(
            f"{OUT}/tables/{{species}}_fits.csv",
            caption="../report/species_fits.rst",
            category="Per-threshold tables",
            subcategory="{species}",
        ),
    params:
        code=code_hash("collect_tables.py"),
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
            f"{SET_OUT}/tables/dipole_limits.csv",
            caption="../report/dipole_limits.rst",
            category="Tables",
        ),
        ecsv=f"{SET_OUT}/tables/dipole_limits.ecsv",
    params:
        code=code_hash("collect_tables.py"),
    log:
        f"{SET_OUT}/logs/dipole_table.log",
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
            f"{SET_OUT}/tables/selection_summary.csv",
            caption="../report/selection_summary.rst",
            category="Tables",
        ),
    params:
        code=code_hash("summarize_selection.py"),
    log:
        f"{SET_OUT}/logs/selection_summary.log",
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
            f"{SET_OUT}/tables/sample_sizes.csv",
            caption="../report/sample_sizes.rst",
            category="Tables",
        ),
    params:
        duration_days=config.get("period", {}).get("duration_days"),
        code=code_hash("sample_sizes.py"),
    log:
        f"{SET_OUT}/logs/sample_sizes.log",
    resources:
        mem_mb=500,
        runtime=5,
    conda:
        "../../envs/statistics.yaml"
    script:
        "../../scripts/sample_sizes.py"


rule paper_reproduction:
    input:
        table=f"{SET_OUT}/tables/dipole_limits.csv",
    output:
        table=report(
            f"{SET_OUT}/tables/paper_reproduction.csv",
            caption="../report/paper_reproduction.rst",
            category="Tables",
        ),
    params:
        code=code_hash("paper_reproduction.py"),
    log:
        f"{SET_OUT}/logs/paper_reproduction.log",
    resources:
        mem_mb=500,
        runtime=5,
    conda:
        "../../envs/statistics.yaml"
    script:
        "../../scripts/paper_reproduction.py"
