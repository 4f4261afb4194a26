# AMS-02 galactic dipole anisotropy (TAUP 2019, J. Phys. Conf. Ser. 1468 (2020) 012083) as a workflow.
#
#   snakemake --cores N                          # default (simulated) configuration, config/config.yaml
#   snakemake --cores N --configfile config/paper.yaml
#   snakemake --cores N results/default/tables/proton_dipole_limits.csv   # one species alone
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
include: "workflow/rules/simulate.smk"
include: "workflow/rules/select.smk"
include: "workflow/rules/maps.smk"
include: "workflow/rules/statistics.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/auger.smk"
include: "workflow/rules/export.smk"


rule all:
    input:
        final_outputs(),
    default_target: True
