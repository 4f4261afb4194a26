# Simulation of AMS-02 on the ISS: the per-interval timeline (AMS "RTI" records) and the events,
# one job per time chunk. A chunk's random stream derives from the seed and the chunk id only.


rule simulate_timeline:
    output:
        timeline=f"{OUT}/sim/timeline/chunk{{chunk}}.parquet",
    params:
        window_unix_s=lambda wildcards: chunk_window_unix_s(wildcards.chunk),
        period_start_unix_s=start_unix_s(),
        cadence_s=config.get("period", {}).get("cadence_s"),
        simulation=pick(config.get("simulation"), "orbit", "attitude", "geomagnetic", "trigger", "saa"),
        good_intervals=config.get("good_intervals"),
        code=code_hash("simulate_timeline.py"),
    log:
        f"{OUT}/logs/simulate_timeline/chunk{{chunk}}.log",
    benchmark:
        f"{OUT}/benchmarks/simulate_timeline/chunk{{chunk}}.tsv"
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        "../../envs/simulation.yaml"
    script:
        "../../scripts/simulate_timeline.py"


rule simulate_events:
    input:
        timeline=f"{OUT}/sim/timeline/chunk{{chunk}}.parquet",
        fluxes=simulation_flux_files(),
        tracing=simulation_table,
    output:
        # kept with simulation.keep_events (CI and default scale), else temp(): deleted once every species
        # of the chunk is selected (the simulation is deterministic, so a later rule that needs it
        # regenerates the same file, and then reruns every selection of the chunk)
        events=simulated_events(f"{OUT}/sim/events/chunk{{chunk}}.parquet"),
    params:
        seed=config["seed"],
        window_unix_s=lambda wildcards: chunk_window_unix_s(wildcards.chunk),
        period_start_unix_s=start_unix_s(),
        simulation={k: v for k, v in config.get("simulation", {}).items() if k != "keep_events"},
        good_intervals=config.get("good_intervals"),
        code=code_hash("simulate_events.py"),
    log:
        f"{OUT}/logs/simulate_events/chunk{{chunk}}.log",
    benchmark:
        f"{OUT}/benchmarks/simulate_events/chunk{{chunk}}.tsv"
    resources:
        mem_mb=2000,
        runtime=60,
    conda:
        "../../envs/simulation.yaml"
    script:
        "../../scripts/simulate_events.py"
