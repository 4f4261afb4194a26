# Provenance of the results (docs/operations.md): git commit and dirty flag, the merged config and its
# SHA-256, the installed packages, Python and platform, the Snakemake command line, start and end time.
# The last job of every run that makes or updates a result (it takes them all as inputs, and the config
# hash as a param). A run: localrule: it runs with the Python of Snakemake itself (no conda env), on the
# machine where Snakemake was started, and reads the command line and the start time that the first
# Snakemake process left in the environment (common.smk).


rule provenance:
    input:
        result_outputs(),
    output:
        record=report(
            f"{SET_OUT}/provenance/provenance.yaml",
            caption="../report/provenance.rst",
            category="Provenance",
        ),
        config=report(
            f"{SET_OUT}/provenance/config.yaml",
            caption="../report/provenance_config.rst",
            category="Provenance",
        ),
        packages=report(
            f"{SET_OUT}/provenance/pip-freeze.txt",
            caption="../report/provenance_packages.rst",
            category="Provenance",
        ),
    params:
        config_sha256=provenance.config_sha256(config),
    log:
        f"{SET_OUT}/logs/provenance.log",
    resources:
        mem_mb=500,
        runtime=5,
    run:
        record_provenance(output, log[0])
