"""Every shipped configuration is valid; each kind of bad configuration fails with a clear message."""

import copy
from pathlib import Path

import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import update_config, validate

from ams_anisotropy.configuration import ConfigError, check_config

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = str(ROOT / "workflow" / "schemas" / "config.schema.yaml")
CONFIGS = sorted((ROOT / "config").glob("*.yaml"))
# overlays: applied on top of config/config.yaml with --configfile, as Snakemake merges them
OVERLAYS = {"ci.yaml", "paper.yaml", "validation.yaml"}


def _load(name="config.yaml"):
    config = yaml.safe_load((ROOT / "config" / name).read_text())
    if name in OVERLAYS:
        merged = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
        update_config(merged, config)
        config = merged
    return config


def _validated(config):
    config = copy.deepcopy(config)
    validate(config, SCHEMA)
    check_config(config, source="test config", base_dir=ROOT)
    return config


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_are_valid(path):
    _validated(_load(path.name))


def test_shipped_configs_include_the_required_ones():
    names = {p.name for p in CONFIGS}
    assert {"config.yaml", "ci.yaml", "paper.yaml", "auger2017.yaml"} <= names


def test_schema_fills_defaults():
    config = _load()
    del config["fit"]["lmax_check"]
    filled = _validated(config)
    assert filled["fit"]["lmax_check"] == [2, 3, 4]


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda c: c["maps"].__setitem__("nside", 33), "33"),
        (lambda c: c["period"].__setitem__("duration_days", -1), "duration_days"),
        (lambda c: c.__setitem__("seed", "abc"), "abc"),
        (lambda c: c["maps"].__setitem__("nsid", 32), "nsid"),
        (lambda c: c.pop("species"), "species"),
        (lambda c: c["species"]["proton"].__setitem__("thresholds", [18, -30]), "-30"),
        (lambda c: c["input"].__setitem__("source", "tape"), "tape"),
        (lambda c: c["selection"].__setitem__("cone_half_angle_deg", 33), "33"),
    ],
    ids=["nside", "negative-duration", "seed-type", "unknown-key", "missing-species", "negative-threshold",
         "source", "cone"],
)
def test_schema_rejects_bad_config(mutate, message):
    config = _load()
    mutate(config)
    with pytest.raises(WorkflowError) as err:
        validate(config, SCHEMA)
    assert message in str(err.value)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda c: c["species"]["proton"].__setitem__("thresholds", [18, 45, 30]), "strictly increasing"),
        (lambda c: c["species"]["electron"].__setitem__("upper", 50), "upper"),
        (lambda c: c["reference"].__setitem__("variants", ["cutoff1.3"]), "cutoff1.3"),
        (lambda c: c["limits"].__setitem__("systematics_groups", [["shufle"]]), "shufle"),
        (lambda c: c.__setitem__("analysis_species", ["neutrino"]), "neutrino"),
        (lambda c: c["species"]["proton"]["cuts"].__setitem__("charge_min", 3.0), "charge_min"),
        (lambda c: c["simulation"]["particles"]["proton"].__setitem__("flux_file", "nope.txt"), "nope.txt"),
        (lambda c: c["input"].update(source="files", timeline_files=["a"], event_files=[]), "event_files"),
        (lambda c: c["reference"].__setitem__("efficiency_edges", [0, 500, 200]), "efficiency_edges"),
    ],
    ids=["thresholds-order", "upper", "variant", "systematics", "species", "charge", "flux-file", "files",
         "edges"],
)
def test_check_config_rejects_inconsistent_config(mutate, message):
    config = _load()
    config = copy.deepcopy(config)
    validate(config, SCHEMA)
    mutate(config)
    with pytest.raises(ConfigError) as err:
        check_config(config, source="config/config.yaml", base_dir=ROOT)
    assert message in str(err.value)
    assert "config/config.yaml" in str(err.value)
