"""The conda environments pin exactly the versions of the pip lock, and every rule uses one."""

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
ENV_FILES = sorted((ROOT / "envs").glob("*.yaml"))


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _lock() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, version = line.partition("==")
        assert sep, f"requirements.lock: {line!r} is not pinned with =="
        pins[_normalise(name)] = version
    return pins


def test_there_are_environment_files():
    assert len(ENV_FILES) >= 4


@pytest.mark.parametrize("env_file", ENV_FILES, ids=lambda p: p.name)
def test_environment_pins_equal_the_lock(env_file):
    lock = _lock()
    env = yaml.safe_load(env_file.read_text())
    assert env["channels"] == ["conda-forge", "nodefaults"], f"{env_file.name}: channels"
    for dependency in env["dependencies"]:
        assert isinstance(dependency, str), f"{env_file.name}: {dependency!r}"
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)=(\d[^=\s]*)", dependency)
        assert match, f"{env_file.name}: {dependency!r} is not pinned as name=x.y.z"
        name, version = match.groups()
        if name == "python":
            assert version.startswith("3.11"), f"{env_file.name}: the lock is made with Python 3.11"
            continue
        assert _normalise(name) in lock, f"{env_file.name}: {name} is not in requirements.lock"
        assert lock[_normalise(name)] == version, (
            f"{env_file.name}: {name}={version} but requirements.lock has {lock[_normalise(name)]}"
        )


def test_every_rule_has_conda_log_and_resources():
    rules_text = "\n".join(p.read_text() for p in sorted((ROOT / "workflow" / "rules").glob("*.smk")))
    blocks = re.split(r"\n(?=rule )", rules_text)
    rules = [b for b in blocks if b.startswith("rule ")]
    assert len(rules) >= 10
    for block in rules:
        name = block.split(":", 1)[0]
        for directive in ("output:", "log:", "conda:", "resources:", "script:"):
            assert directive in block, f"{name} has no {directive}"
        for env in re.findall(r'"\.\./\.\./(envs/[^"]+)"', block):
            assert (ROOT / env).is_file(), f"{name}: {env} does not exist"
