# Statistical validation by pseudo-experiments (config/validation.yaml, docs/validation.md):
#   snakemake validation --cores 2 --configfile config/validation.yaml
# (its helper functions, validation_batches and validation_outputs, are in common.smk)
# One shared timeline; per species a pooled isotropic calibration sample (the fixed external reference,
# the unit sigma of the injected amplitudes, the isotropic band of the limit), then the pseudo-experiments
# in n_batches independent jobs, then the tables and the figures.

wildcard_constraints:
    batch=r"\d{2}",


rule validation:
    input:
        validation_outputs(),


rule validation_timeline:
    output:
        timeline=f"{OUT}/validation/timeline.parquet",
    params:
        config=lambda wildcards: pick(config, "period", "simulation", "good_intervals", "validation"),
        code=code_hash("validation_timeline.py"),
    log:
        f"{OUT}/logs/validation_timeline.log",
    benchmark:
        f"{OUT}/benchmarks/validation_timeline.tsv"
    resources:
        mem_mb=1500,
        runtime=10,
    conda:
        "../../envs/validation.yaml"
    script:
        "../../scripts/validation_timeline.py"


rule validation_calibration:
    input:
        timeline=f"{OUT}/validation/timeline.parquet",
    output:
        calibration=f"{OUT}/validation/{{species}}/calibration.fits",
        band=f"{OUT}/validation/{{species}}/isotropic_band.csv",
    params:
        config=lambda wildcards: pick(config, "seed", "period", "simulation", "good_intervals", "validation",
                                      "selection", "species", "maps", "reference", "fit", "limits"),
        code=code_hash("validation_calibration.py"),
    log:
        f"{OUT}/logs/validation_calibration/{{species}}.log",
    benchmark:
        f"{OUT}/benchmarks/validation_calibration/{{species}}.tsv"
    resources:
        mem_mb=3000,
        runtime=30,
    conda:
        "../../envs/validation.yaml"
    script:
        "../../scripts/validation_calibration.py"


rule validation_experiments:
    input:
        timeline=f"{OUT}/validation/timeline.parquet",
        calibration=f"{OUT}/validation/{{species}}/calibration.fits",
    output:
        experiments=f"{OUT}/validation/{{species}}/batch{{batch}}.csv",
    params:
        config=lambda wildcards: pick(config, "seed", "period", "simulation", "good_intervals", "validation",
                                      "selection", "species", "maps", "reference", "fit", "limits"),
        code=code_hash("validation_experiments.py"),
    log:
        f"{OUT}/logs/validation_experiments/{{species}}_{{batch}}.log",
    benchmark:
        f"{OUT}/benchmarks/validation_experiments/{{species}}_{{batch}}.tsv"
    resources:
        mem_mb=3000,
        runtime=120,
    conda:
        "../../envs/validation.yaml"
    script:
        "../../scripts/validation_experiments.py"


rule validation_tables:
    input:
        experiments=[f"{OUT}/validation/{s}/batch{b}.csv" for s in VALIDATION.get("species", []) for b in validation_batches()],
        bands=[f"{OUT}/validation/{s}/isotropic_band.csv" for s in VALIDATION.get("species", [])],
    output:
        experiments=f"{OUT}/tables/experiments.csv",
        coverage=f"{OUT}/tables/coverage.csv",
        pulls=f"{OUT}/tables/pulls.csv",
        isotropic=f"{OUT}/tables/isotropic.csv",
        injection=f"{OUT}/tables/injection_recovery.csv",
        calibration=f"{OUT}/tables/error_calibration.csv",
    params:
        seed=config["seed"],
        code=code_hash("validation_tables.py"),
    log:
        f"{OUT}/logs/validation_tables.log",
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/validation.yaml"
    script:
        "../../scripts/validation_tables.py"


rule validation_figures:
    input:
        experiments=f"{OUT}/tables/experiments.csv",
        injection=f"{OUT}/tables/injection_recovery.csv",
        calibration=f"{OUT}/tables/error_calibration.csv",
    output:
        injection=f"{OUT}/figures/injection_recovery.png",
        pulls=f"{OUT}/figures/pulls.png",
        chi3=f"{OUT}/figures/rho_over_sigma.png",
    params:
        label=config.get("figures", {}).get("label", ""),
        code=code_hash("validation_figures.py"),
    log:
        f"{OUT}/logs/validation_figures.log",
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/validation.yaml"
    script:
        "../../scripts/validation_figures.py"
