# Export of a simulated run to the AMS-style input files of docs/input_format.md (input.source: files),
# without the simulation's truth columns, and a configuration overlay that names them. Export, then
# analyse the files (outputs in results/ci_files/):
#   snakemake results/ci/export/files.yaml --cores N --configfile config/ci.yaml
#   snakemake --cores N --configfile config/ci.yaml results/ci/export/files.yaml
# Not part of `all`; defined for simulated runs only.

if config["input"]["source"] == "simulation":

    rule export_ams_files:
        input:
            timelines=[f"{OUT}/sim/timeline/chunk{c}.parquet" for c in chunk_ids()],
            events=[f"{OUT}/sim/events/chunk{c}.parquet" for c in chunk_ids()],
        output:
            timelines=[f"{OUT}/export/timeline/chunk{c}.parquet" for c in chunk_ids()],
            events=[f"{OUT}/export/events/chunk{c}.parquet" for c in chunk_ids()],
            overlay=f"{OUT}/export/files.yaml",
        params:
            run_name=f"{RUN}_files",
        log:
            f"{OUT}/logs/export_ams_files.log",
        resources:
            mem_mb=2000,
            runtime=20,
        conda:
            "../../envs/selection.yaml"
        script:
            "../../scripts/export_ams_files.py"
