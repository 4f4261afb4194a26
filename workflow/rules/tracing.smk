# Geomagnetic backtracing: the table of asymptotic directions over (ISS position, local direction,
# rigidity) at one IGRF-13 epoch (decimal year, e.g. 2015.0), built once and cached as .npz
# (docs/geomagnetic_tracing.md). Config section `tracing:` (ams_anisotropy.asymptotic.grid_from_config).


rule asymptotic_table:
    output:
        table=f"{OUT}/tracing/asymptotic_igrf13_{{epoch}}.npz",
    params:
        tracing={k: v for k, v in config.get("tracing", {}).items() if k != "epoch_year"},
        code=code_hash("build_asymptotic_table.py"),
    wildcard_constraints:
        epoch=r"\d{4}(\.\d+)?",
    threads: 2
    log:
        f"{OUT}/logs/asymptotic_table/{{epoch}}.log",
    benchmark:
        f"{OUT}/benchmarks/asymptotic_table/{{epoch}}.tsv"
    resources:
        mem_mb=4000,
        runtime=120,
    conda:
        "../../envs/simulation.yaml"
    script:
        "../../scripts/build_asymptotic_table.py"

