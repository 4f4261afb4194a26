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


def _rule_blocks() -> dict[str, str]:
    """Rule name -> text of its block, for the rules of workflow/rules/*.smk."""
    rules_text = "\n".join(p.read_text() for p in sorted((ROOT / "workflow" / "rules").glob("*.smk")))
    blocks = re.split(r"\n(?=rule )", rules_text)
    return {b.split(":", 1)[0][len("rule "):]: b for b in blocks if b.startswith("rule ")}


def _script_rules() -> dict[str, tuple[Path, Path]]:
    """Rule name -> (script, conda env file) of every rule with a script: directive."""
    found = {}
    for name, block in _rule_blocks().items():
        script = re.search(r'script:\s*"\.\./\.\./(scripts/[^"]+)"', block)
        env = re.search(r'conda:\s*"\.\./\.\./(envs/[^"]+)"', block)
        if script:
            found[name] = (ROOT / script.group(1), ROOT / env.group(1) if env else None)
    return found


def test_every_rule_has_conda_log_and_resources():
    blocks = _rule_blocks()
    assert len(blocks) >= 10
    for name, block in blocks.items():
        if "script:" not in block and "run:" not in block:  # a target rule (input only)
            continue
        for directive in ("output:", "log:", "resources:"):
            assert directive in block, f"{name} has no {directive}"
        if "run:" in block:  # runs in the main Snakemake process (provenance): no env of its own
            continue
        for directive in ("conda:", "script:"):
            assert directive in block, f"{name} has no {directive}"
        for env in re.findall(r'"\.\./\.\./(envs/[^"]+)"', block):
            assert (ROOT / env).is_file(), f"{name}: {env} does not exist"


def _env_packages(env_file: Path) -> set[str]:
    env = yaml.safe_load(env_file.read_text())
    return {_normalise(re.split(r"[=<>]", d, maxsplit=1)[0]) for d in env["dependencies"] if isinstance(d, str)}


SCRIPT_RULES = _script_rules()


@pytest.mark.parametrize("rule", sorted(SCRIPT_RULES))
def test_rule_env_has_every_import_of_its_code(rule):
    """Each rule's env lists every third-party package its script and the package modules it reaches
    import (lazy imports included): Snakemake's script preamble appends the host's sys.path, so a
    missing package would go unnoticed on a machine that has it."""
    from ams_anisotropy.codebase import external_imports

    script, env_file = SCRIPT_RULES[rule]
    assert env_file is not None, f"{rule}: no conda env"
    packages, lock = _env_packages(env_file), _lock()
    for distribution, files in sorted(external_imports(script).items()):
        name = _normalise(distribution)
        assert name in packages, (
            f"rule {rule} runs in {env_file.name}, but {', '.join(sorted(files))} import(s) {distribution}, "
            f"which {env_file.name} does not list"
        )
        assert name in lock, f"rule {rule}: {distribution} is not pinned in requirements.lock"


def test_the_import_check_sees_through_the_package(tmp_path):
    """Known answer: a script importing a package module that imports matplotlib lazily needs it."""
    from ams_anisotropy.codebase import external_imports, package_modules

    package = tmp_path / "ams_anisotropy"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("import numpy as np\nfrom . import b\n")
    (package / "b.py").write_text("def f():\n    import matplotlib.pyplot as plt\n    import json\n")
    (package / "c.py").write_text("import scipy\n")
    (tmp_path / "_workflow.py").write_text("import logging\n")
    script = tmp_path / "rule.py"
    script.write_text("from _workflow import rule_logging\nfrom ams_anisotropy.a import x\nimport erfa\n")
    assert [p.name for p in package_modules(script)] == ["a.py", "b.py"]
    assert set(external_imports(script)) == {"numpy", "matplotlib", "pyerfa"}


def test_workflow_env_has_what_the_snakefile_imports(tmp_path):
    """envs/workflow.yaml (the Snakemake process, a cluster's head node) lists Snakemake, the SLURM
    plugin and every package the Snakefile's own imports of ams_anisotropy need."""
    from ams_anisotropy.codebase import external_imports

    sources = [ROOT / "Snakefile", *sorted((ROOT / "workflow" / "rules").glob("*.smk"))]
    imports = [
        line.strip() for path in sources for line in path.read_text().splitlines()
        if re.match(r"\s*(from|import) ams_anisotropy", line)
    ]
    assert imports
    stand_in = tmp_path / "snakefile_imports.py"
    stand_in.write_text("\n".join(imports) + "\n")
    needed = external_imports(stand_in, package_dir=ROOT / "scripts" / "ams_anisotropy")
    packages = _env_packages(ROOT / "envs" / "workflow.yaml")
    for name in [*needed, "snakemake", "snakemake-executor-plugin-slurm"]:
        assert _normalise(name) in packages, f"envs/workflow.yaml does not list {name}"
