"""Provenance of a run: what produced the results in ``results/<run_name>/``.

:func:`write_provenance` writes three files into ``results/<run_name>/provenance/`` (the workflow's
``provenance`` rule calls it as the last job of a run that made or updated anything):

* ``provenance.yaml``: git commit and dirty flag, the SHA-256 of the merged configuration, Python and
  platform, the Snakemake version and command line, start and end time, the SHA-256 of every rule
  script with the package modules it imports (``codebase.code_hash``) and of every conda env file;
* ``config.yaml``: the merged configuration (config files, overlays and ``--config``) whose SHA-256
  is recorded, in the canonical form that is hashed (keys sorted);
* ``pip-freeze.txt``: the installed distributions of the Python running Snakemake, ``name==version``,
  sorted (the format of ``pip freeze``).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import yaml

from .codebase import code_hash, sha256_files
from .io import atomic_path

# Where the first Snakemake process leaves its command line and start time for the job processes it
# spawns (they inherit its environment); the provenance job reads them back.
COMMAND_LINE_VARIABLE = "AMS_ANISOTROPY_COMMAND_LINE"
STARTED_VARIABLE = "AMS_ANISOTROPY_STARTED_UTC"


def remember_invocation(argv: list[str]) -> None:
    """Record the command line and the start time, unless a parent Snakemake process already did."""
    os.environ.setdefault(COMMAND_LINE_VARIABLE, json.dumps(list(argv)))
    os.environ.setdefault(STARTED_VARIABLE, datetime.now(UTC).isoformat())


def invocation() -> tuple[list[str], datetime]:
    """The command line and start time left by :func:`remember_invocation`."""
    try:
        return json.loads(os.environ[COMMAND_LINE_VARIABLE]), datetime.fromisoformat(os.environ[STARTED_VARIABLE])
    except KeyError as err:
        raise RuntimeError(f"{err.args[0]} is not set: remember_invocation() runs when the Snakefile is read") from err


def canonical_config(config: dict) -> str:
    """The configuration as YAML with sorted keys: the same text for the same configuration."""
    return yaml.safe_dump(_plain(config), sort_keys=True, default_flow_style=False, allow_unicode=True)


def config_sha256(config: dict) -> str:
    return hashlib.sha256(canonical_config(config).encode()).hexdigest()


def _plain(value):
    """Snakemake's config may hold its own dict/list subclasses; YAML wants the builtin ones."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def git_state(directory: str | Path) -> dict:
    """Commit, branch and dirty flag (uncommitted changes to tracked files) of the project's git clone.

    Outside a git clone (a tarball) or without git, ``commit`` is None and ``note`` says why.
    """

    def git(*args):
        return subprocess.run(
            ["git", "-C", str(directory), *args], capture_output=True, text=True, timeout=30, check=True
        ).stdout

    try:
        commit = git("rev-parse", "HEAD").strip()
        status = git("status", "--porcelain", "--untracked-files=no")  # lines "XY path": keep the spaces
        branch = git("rev-parse", "--abbrev-ref", "HEAD").strip()
    except (OSError, subprocess.SubprocessError) as err:
        return {"commit": None, "dirty": None, "branch": None, "note": f"not a git clone or no git ({err})"}
    return {
        "commit": commit,
        "dirty": bool(status.strip()),
        "branch": branch,
        "changed_files": [line[3:] for line in status.splitlines()],
    }


def package_versions() -> list[str]:
    """``name==version`` of every installed distribution, sorted case-insensitively (as ``pip freeze``)."""
    found = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            found[name.lower()] = f"{name}=={dist.version}"
    return [found[key] for key in sorted(found)]


def platform_info() -> dict:
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
    }


def provenance_record(
    config: dict,
    project_dir: str | Path,
    command_line: list[str],
    started: datetime,
    finished: datetime,
    snakemake_version: str,
) -> dict:
    """The content of ``provenance.yaml`` (see the module docstring); ``command_line`` and ``started``
    from :func:`invocation`."""
    project = Path(project_dir)
    scripts = sorted((project / "scripts").glob("*.py"))
    envs = sorted((project / "envs").glob("*.yaml"))
    return {
        "git": git_state(project),
        "config_sha256": config_sha256(config),
        "run_name": config.get("run_name"),
        "started_utc": started.isoformat(timespec="seconds"),
        "finished_utc": finished.isoformat(timespec="seconds"),
        "snakemake": {"version": snakemake_version, "command_line": list(command_line), "workdir": os.getcwd()},
        "platform": platform_info(),
        "code_sha256": {p.name: code_hash(p) for p in scripts if not p.name.startswith("_")},
        "envs_sha256": {p.name: sha256_files([p]) for p in envs},
    }


def write_provenance(record: dict, config: dict, record_path, config_path, packages_path) -> None:
    """Write the three provenance files atomically."""
    texts = {
        record_path: yaml.safe_dump(record, sort_keys=False, default_flow_style=False),
        config_path: canonical_config(config),
        packages_path: "\n".join(package_versions()) + "\n",
    }
    for path, text in texts.items():
        with atomic_path(path) as tmp:
            Path(tmp).write_text(text)
