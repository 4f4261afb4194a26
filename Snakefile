# AMS-02 galactic dipole anisotropy (TAUP 2019, J. Phys. Conf. Ser. 1468 (2020) 012083) as a workflow.
#
#   snakemake --cores N                          # default (simulated) configuration, config/config.yaml
#   snakemake --cores N --configfile config/paper.yaml
#   snakemake proton                             # one species alone (target rules: docs/operations.md)
#
# Steps: simulate (timeline, events) -> select -> bin -> reference maps -> fit -> limits -> figures.
import sys
from pathlib import Path

from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")

sys.path.insert(0, str(Path(workflow.basedir) / "scripts"))
from ams_anisotropy.configuration import check_config  # noqa: E402

check_config(config, source="configuration", base_dir=workflow.basedir)


include: "workflow/rules/common.smk"
include: "workflow/rules/tracing.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/select.smk"
include: "workflow/rules/maps.smk"
include: "workflow/rules/statistics.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/auger.smk"
include: "workflow/rules/export.smk"
include: "workflow/rules/provenance.smk"
include: "workflow/rules/validation.smk"


# The workflow description page of `snakemake --report`.
report: "workflow/report/workflow.rst"


# Light rules (tables, figures, provenance): run by the main Snakemake process, never submitted to a
# cluster queue (docs/operations.md).
localrules:
    all,
    maps,
    fits,
    limits,
    figures,
    tables,
    species_table,
    dipole_table,
    selection_summary,
    sample_sizes,
    figure1_electrons_positrons,
    figure2_nuclei,
    species_figures,
    auger_comparison,
    provenance,


rule all:
    input:
        final_outputs(),
    default_target: True


# Target rules (docs/operations.md): `snakemake maps`, `fits`, `limits`, `figures`, `tables`, and one per
# analysed species, `snakemake proton`, which makes that species' tables and figures only.
rule maps:
    input:
        map_outputs(),


rule fits:
    input:
        fit_outputs(),


rule limits:
    input:
        limit_outputs(),


rule figures:
    input:
        figure_outputs(),


rule tables:
    input:
        table_outputs(),


if MODE == "ams":
    for _species in analysis_species():

        rule:
            name:
                _species
            input:
                species_outputs(_species),
