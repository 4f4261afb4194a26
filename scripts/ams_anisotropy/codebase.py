"""The workflow's own Python code: what a rule script imports, and a hash of that code.

Snakemake reruns a ``script:`` rule when the script's modification time changes, but it does not see
the package modules the script imports. :func:`code_hash` gives a SHA-256 of a rule script and of
every module of this package it reaches (imports followed transitively, by parsing, never by
importing), which the rules pass as a ``params`` value: editing ``sky_maps.py`` then reruns exactly the
rules whose scripts reach ``sky_maps.py``. :func:`external_imports` lists the third-party distributions
the same code imports, so that a test can check them against each rule's conda environment.
"""

from __future__ import annotations

import ast
import hashlib
import sys
from pathlib import Path

PACKAGE = "ams_anisotropy"

# import name -> distribution name, where they differ (conda-forge and PyPI use the same names here)
DISTRIBUTION_NAMES = {"erfa": "pyerfa", "yaml": "pyyaml", "PIL": "pillow", "sklearn": "scikit-learn"}


def _imports(path: Path) -> list[tuple[str, int, list[str]]]:
    """(module, level, imported names) of every import statement in a source file, lazy ones included."""
    try:
        tree = ast.parse(path.read_text(), filename=str(path))
    except (OSError, SyntaxError) as err:
        raise ValueError(f"{path}: cannot parse its imports ({err})") from err
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, 0, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.module or "", node.level, [alias.name for alias in node.names]))
    return found


def _package_targets(module: str, level: int, names: list[str], package_dir: Path, in_package: bool) -> list[Path]:
    """Package module files named by one import statement (empty for other imports)."""
    if level:
        if not in_package:
            return []
        dotted = module
    elif module == PACKAGE or module.startswith(PACKAGE + "."):
        dotted = module[len(PACKAGE) + 1:]
    else:
        return []
    base = package_dir.joinpath(*dotted.split(".")) if dotted else package_dir
    targets = []
    if dotted:
        targets.append(base.with_suffix(".py") if base.with_suffix(".py").is_file() else base / "__init__.py")
    for name in names:  # `from ams_anisotropy import io, sky_maps`: submodules, else attributes of __init__
        candidate = base / f"{name}.py"
        if candidate.is_file():
            targets.append(candidate)
        elif not dotted:
            targets.append(package_dir / "__init__.py")
    return [t for t in targets if t.is_file()]


def package_modules(script: str | Path, package_dir: str | Path | None = None) -> list[Path]:
    """The package modules a script reaches through its imports, transitively, sorted by name."""
    script = Path(script)
    package_dir = Path(package_dir) if package_dir else script.parent / PACKAGE
    seen: set[Path] = set()
    todo = [(script, script.parent == package_dir)]
    while todo:
        path, in_package = todo.pop()
        for module, level, names in _imports(path):
            for target in _package_targets(module, level, names, package_dir, in_package):
                if target not in seen:
                    seen.add(target)
                    todo.append((target, True))
    return sorted(seen)


def external_imports(script: str | Path, package_dir: str | Path | None = None) -> dict[str, set[str]]:
    """Third-party top-level imports of a script and of the package modules it reaches.

    Returns {distribution name: {files importing it}}; the standard library, this package and the
    local modules next to the script (the ``_workflow`` glue) are left out.
    """
    script = Path(script)
    local = {p.stem for p in script.parent.glob("*.py")} | {PACKAGE}
    found: dict[str, set[str]] = {}
    for path in [script, *package_modules(script, package_dir)]:
        for module, level, _ in _imports(path):
            top = module.split(".")[0]
            if level or not top or top in sys.stdlib_module_names or top in local or top == "__future__":
                continue
            found.setdefault(DISTRIBUTION_NAMES.get(top, top), set()).add(path.name)
    return found


def sha256_files(paths, root: str | Path | None = None) -> str:
    """SHA-256 over the names (relative to ``root``) and contents of files, in the order given."""
    digest = hashlib.sha256()
    for path in paths:
        path = Path(path)
        try:
            name = path.resolve().relative_to(Path(root).resolve()) if root else Path(path.name)
        except ValueError:  # a file outside the root enters by its name
            name = Path(path.name)
        digest.update(name.as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def code_hash(script: str | Path, *extra: str | Path) -> str:
    """SHA-256 of a rule script, the package modules it reaches and any ``extra`` files.

    The names enter relative to the script's folder, so the hash is the same in every copy or clone
    of the project.
    """
    script = Path(script)
    files = [script, *package_modules(script), *map(Path, extra)]
    return sha256_files(files, root=script.parent)
