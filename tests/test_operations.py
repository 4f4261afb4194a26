"""Operations: the workflow profile loads, the target rules, reruns that follow what changed and
nothing else, subset runs beside the complete run, provenance, and the SLURM profile.

The rerun tests build the CI configuration's DAG in a temporary copy of the project, create its
outputs as empty files and let `snakemake --touch --forceall` record their metadata (params, code hashes,
inputs) as a finished run would, in a few seconds (the CI config keeps the simulated events,
simulation.keep_events, as the default config does). Then a
change (a config overlay, an edited module or data file) is dry-run and the jobs Snakemake plans are
compared with the jobs the change must rerun: the directly affected ones and the jobs downstream of
them, no others.
"""

import re
import shutil
from pathlib import Path

import pytest
import yaml
from test_workflow import _copy_project, _snakemake

ROOT = Path(__file__).resolve().parents[1]
CI = ["--configfile", "config/ci.yaml"]
CI_CONFIG = yaml.safe_load((ROOT / "config" / "ci.yaml").read_text())
SPECIES = list(CI_CONFIG["species"])
N_CHUNKS = int(CI_CONFIG["period"]["duration_days"] / CI_CONFIG["period"]["chunk_days"])
JOB_HEADER = re.compile(r"^(?:local)?rule (\w+):$")


def _project(destination: Path) -> Path:
    workdir = _copy_project(destination)
    shutil.copytree(ROOT / "profiles", workdir / "profiles", dirs_exist_ok=True)  # the profiles are part of it
    return workdir


def planned_jobs(output: str) -> list[dict]:
    """The jobs of a dry run's output (those of job groups are indented): rule, wildcards, outputs, resources."""
    jobs = []
    for line in output.splitlines():
        line = line.strip()
        match = JOB_HEADER.match(line)
        if match:
            jobs.append({"rule": match.group(1), "wildcards": {}, "output": [], "resources": {}})
        elif jobs and line.startswith("wildcards: "):
            jobs[-1]["wildcards"] = dict(item.split("=", 1) for item in line[len("wildcards: "):].split(", "))
        elif jobs and line.startswith("output: "):
            jobs[-1]["output"] = line[len("output: "):].split(", ")
        elif jobs and line.startswith("resources: "):
            jobs[-1]["resources"] = dict(
                item.split("=", 1) for item in line[len("resources: "):].split(", ") if "=" in item
            )
    return jobs


def dry_run(workdir: Path, *args) -> list[dict]:
    result = _snakemake(workdir, "-n", *args)
    return planned_jobs(result.stdout + result.stderr)


def rules_of(jobs) -> set[str]:
    return {job["rule"] for job in jobs}


@pytest.fixture(scope="module")
def finished_ci(tmp_path_factory):
    """A copy of the project whose CI-config outputs all exist and are recorded as up to date."""
    workdir = _project(tmp_path_factory.mktemp("finished_ci"))
    summary = _snakemake(workdir, *CI, "--summary").stdout.splitlines()
    assert summary[0].startswith("output_file")
    for line in summary[1:]:
        path = workdir / line.split("\t")[0]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    # every job recorded (--forceall: a plain --touch skips the jobs already newer than their inputs and
    # records nothing for them, here the simulation and the selection)
    assert CI_CONFIG.get("simulation", {}).get("keep_events", True)  # else the events would be deleted here
    _snakemake(workdir, *CI, "--touch", "--forceall", "--cores", "1")
    assert (workdir / "results" / "ci" / "sim" / "events" / "chunk0000.parquet").is_file()
    return workdir


@pytest.fixture
def finished(finished_ci, tmp_path):
    """A private copy of the finished run (a test may edit files in it)."""
    workdir = tmp_path / "run"
    shutil.copytree(finished_ci, workdir, symlinks=True)
    return workdir


def _overlay(workdir: Path, text: str) -> list[str]:
    path = workdir / "change.yaml"
    path.write_text(text)
    return [*CI, "change.yaml"]


def test_the_workflow_profile_loads_by_itself(tmp_path):
    workdir = _project(tmp_path / "profile")
    result = _snakemake(workdir, "-n", *CI)
    assert "Using workflow specific profile profiles/default" in result.stderr + result.stdout
    profile = yaml.safe_load((workdir / "profiles" / "default" / "config.yaml").read_text())
    assert profile["rerun-incomplete"] is True
    off = _snakemake(workdir, "-n", *CI, "--workflow-profile", "none")
    assert "workflow specific profile" not in off.stderr + off.stdout


def test_a_finished_run_has_nothing_to_do(finished):
    assert dry_run(finished, *CI) == []


def test_target_rules(finished_ci, tmp_path):
    workdir = _project(tmp_path / "targets")
    proton = dry_run(workdir, "proton", *CI)
    # protons only, plus the simulation that every species shares; no combined table
    assert {j["wildcards"].get("species", "proton") for j in proton} == {"proton"}
    assert {"select_events", "fit_dipole", "species_table", "species_figures"} <= rules_of(proton)
    assert not rules_of(proton) & {"dipole_table", "figure2_nuclei", "provenance"}
    fits = dry_run(workdir, "fits", *CI)
    assert "fit_dipole" in rules_of(fits) and not rules_of(fits) & {"sample_limits", "species_figures"}
    maps = dry_run(workdir, "maps", *CI)
    assert rules_of(maps) == {"maps", "simulate_timeline", "simulate_events", "select_events", "bin_events",
                              "reference_maps", "shuffled_reference", "asymptotic_table"}
    assert "sample_limits" in rules_of(dry_run(workdir, "limits", *CI))
    # on a finished run, forcing the figure rules (-R) redraws the figures only
    figures = dry_run(finished_ci, "figures", "--forcerun", "species_figures", "figure1_electrons_positrons",
                      "figure2_nuclei", *CI)
    assert rules_of(figures) == {"figures", "species_figures", "figure1_electrons_positrons", "figure2_nuclei"}
    tables = dry_run(workdir, "tables", *CI)
    assert {"dipole_table", "selection_summary", "sample_sizes"} <= rules_of(tables)


# the plotting code: the shared labels, checks and atomic output first (what every figure module imports)
FIGURE_MODULES = ("figure_common.py", "limit_figures.py", "component_figures.py", "sky_maps.py")


@pytest.mark.parametrize("module", FIGURE_MODULES)
def test_editing_the_plotting_module_reruns_only_the_figures(finished, module):
    plotting = finished / "scripts" / "ams_anisotropy" / module
    plotting.write_text(plotting.read_text() + "\n# a style change\n")
    jobs = dry_run(finished, *CI)
    assert rules_of(jobs) == {"species_figures", "figure1_electrons_positrons", "figure2_nuclei", "provenance", "all"}
    assert len([j for j in jobs if j["rule"] == "species_figures"]) == len(SPECIES)


def test_only_the_figure_scripts_reach_the_plotting_modules():
    """Every rule script reaching a figure module: render_figures.py (the figure rules) and, for the sky maps,
    auger_comparison.py (config/auger2017.yaml, not in the CI DAG): the reruns above hold for all four."""
    from ams_anisotropy.codebase import package_modules

    reached = {script.name: {m.name for m in package_modules(script)} for script in (ROOT / "scripts").glob("*.py")}
    users = {module: {s for s, modules in reached.items() if module in modules} for module in FIGURE_MODULES}
    assert users == {
        "figure_common.py": {"render_figures.py", "auger_comparison.py"},
        "limit_figures.py": {"render_figures.py"},
        "component_figures.py": {"render_figures.py"},
        "sky_maps.py": {"render_figures.py", "auger_comparison.py"},
    }


SHARED = {"dipole_table", "selection_summary", "sample_sizes", "figure2_nuclei", "provenance", "all"}


def _only_proton_and_shared(jobs):
    for job in jobs:
        assert job["wildcards"].get("species") == "proton" or job["rule"] in SHARED, job
    assert rules_of(jobs) >= {"bin_events", "reference_maps", "fit_dipole", "sample_limits", "species_table",
                              "species_figures", "dipole_table"}
    assert not rules_of(jobs) & {"simulate_timeline", "simulate_events", "figure1_electrons_positrons"}


def test_a_proton_cut_reruns_only_proton_jobs_and_the_shared_tables(finished):
    jobs = dry_run(finished, *_overlay(finished, "species:\n  proton:\n    cuts: {track_chi2_max: 9.0}\n"))
    _only_proton_and_shared(jobs)
    assert len([j for j in jobs if j["rule"] == "select_events"]) == N_CHUNKS  # one job per species and chunk


def test_with_temporary_events_one_selection_job_per_chunk_selects_every_species(tmp_path):
    """simulation.keep_events: false (config/paper.yaml): the events are temp(), a cut would re-create them
    and rerun every species' selection anyway, so each chunk's species are selected in one pass."""
    workdir = _project(tmp_path / "temp_events")
    jobs = dry_run(workdir, *_overlay(workdir, "simulation:\n  keep_events: false\n"))
    selections = [j for j in jobs if j["rule"] == "select_events"]
    assert len(selections) == N_CHUNKS
    assert all(len(j["output"]) == 2 * len(SPECIES) for j in selections)


def test_a_proton_threshold_reruns_only_proton_jobs_and_the_shared_tables(finished):
    thresholds = CI_CONFIG["species"]["proton"]["thresholds"]
    changed = [*thresholds[:-1], thresholds[-1] + 50]
    jobs = dry_run(finished, *_overlay(finished, f"species:\n  proton:\n    thresholds: {changed}\n"))
    assert "select_events" not in rules_of(jobs)  # the selection reads only the lowest threshold
    _only_proton_and_shared(jobs)


def test_n_shuffles_reruns_only_the_shuffle_variant_and_its_dependants(finished):
    jobs = dry_run(finished, *_overlay(finished, "reference:\n  n_shuffles: 3\n"))
    assert len([j for j in jobs if j["rule"] == "shuffled_reference"]) == len(SPECIES)
    # the integrated variants (one job per species, sharing the deflection correction) stay
    assert not rules_of(jobs) & {"simulate_timeline", "simulate_events", "select_events", "bin_events",
                                 "reference_maps"}
    # the shuffle variant enters the fits of every species, hence the limits, tables and figures
    assert {j["wildcards"]["species"] for j in jobs if j["rule"] == "fit_dipole"} == set(SPECIES)
    assert "species_figures" in rules_of(jobs)


def test_a_figure_label_reruns_only_figures(finished):
    jobs = dry_run(finished, *_overlay(finished, "figures:\n  label: another label\n"))
    assert rules_of(jobs) == {"species_figures", "figure1_electrons_positrons", "figure2_nuclei", "provenance", "all"}


def test_editing_a_flux_table_reruns_the_simulation(finished):
    flux = finished / "resources" / "ams02-fluxes" / "AMS-02_H_rigidity.txt"
    flux.write_text(flux.read_text() + "\n")
    jobs = dry_run(finished, *CI)
    assert len([j for j in jobs if j["rule"] == "simulate_events"]) == N_CHUNKS
    assert "simulate_timeline" not in rules_of(jobs)


def test_a_subset_run_never_writes_the_complete_runs_tables(finished):
    jobs = dry_run(finished, "--config", "analysis_species=[proton]", *CI)
    outputs = [path for job in jobs for path in job["output"]]
    subset = "results/ci/subsets/proton"
    assert f"{subset}/tables/dipole_limits.csv" in outputs
    assert f"{subset}/provenance/provenance.yaml" in outputs
    for combined in ("tables/dipole_limits.csv", "tables/dipole_limits.ecsv", "tables/selection_summary.csv",
                     "tables/sample_sizes.csv", "figures/figure2_nuclei.png", "provenance/provenance.yaml"):
        assert f"results/ci/{combined}" not in outputs
    # the per-species results are shared with the complete run: already there, nothing else to do
    assert all(job["rule"] in {"dipole_table", "selection_summary", "sample_sizes", "figure2_nuclei", "provenance",
                               "all"} for job in jobs)


def test_the_provenance_rule_records_the_run(finished):
    _snakemake(finished, "--cores", "1", "--forcerun", "provenance", *CI)
    folder = finished / "results" / "ci" / "provenance"
    record = yaml.safe_load((folder / "provenance.yaml").read_text())
    config_text = (folder / "config.yaml").read_text()
    import hashlib

    assert record["config_sha256"] == hashlib.sha256(config_text.encode()).hexdigest()
    assert yaml.safe_load(config_text)["run_name"] == "ci"
    assert "--forcerun" in record["snakemake"]["command_line"]
    assert record["started_utc"] <= record["finished_utc"]
    assert record["git"]["commit"] is None  # the temporary copy is not a git clone
    assert set(record["code_sha256"]) >= {"render_figures.py", "select_events.py"}
    import snakemake

    assert f"snakemake=={snakemake.__version__}" in (folder / "pip-freeze.txt").read_text().splitlines()

    # the report: workflow description page, provenance, per-threshold and selection tables, with captions
    _snakemake(finished, "--report", "report.html", *CI)
    html = (finished / "report.html").read_text(errors="replace")
    assert "Run <strong>ci</strong>" in html  # workflow.rst, rendered with the run's config
    for caption in ("Provenance of these results", "Cut flow of the proton selection",
                    "Result of every cumulative threshold of proton", "Dipole fits of proton"):
        assert caption in html, caption
    for name in ("provenance.yaml", "pip-freeze.txt", "proton_fits.csv", "proton_dipole_limits.csv",
                 "proton_selection.csv", "selection_summary.csv"):
        assert name in html, name


def _fake_slurm(bin_dir: Path) -> None:
    """Stand-ins for sbatch (records its arguments, prints a job id) and sacct (reports every submitted
    job as failed, so that the run ends after the first wave of submissions)."""
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text(
        '#!/bin/bash\necho "$*" >> "$FAKE_SLURM_LOG"\necho $((1000 + $(wc -l < "$FAKE_SLURM_LOG")))\n'
    )
    (bin_dir / "sacct").write_text(
        '#!/bin/bash\nn=$(wc -l < "$FAKE_SLURM_LOG")\nfor i in $(seq 1 $n); do echo "$((1000 + i))|FAILED"; done\n'
    )
    for name in ("squeue", "sinfo", "scancel"):
        (bin_dir / name).write_text("#!/bin/bash\nexit 0\n")
    for path in bin_dir.iterdir():
        path.chmod(0o755)


def test_slurm_profile_dry_run_of_the_paper_config(tmp_path):
    """The paper config with profiles/slurm: the plugin loads, every rule gets the profile's resources,
    the per-chunk jobs are submitted as groups with the group's summed resources, no global memory cap."""
    import os
    import subprocess
    import sys

    pytest.importorskip("snakemake_executor_plugin_slurm")
    workdir = _project(tmp_path / "slurm")
    profile = yaml.safe_load((workdir / "profiles" / "slurm" / "config.yaml").read_text())
    assert profile["executor"] == "slurm"
    assert "resources" not in profile  # a global mem_mb would throttle submission
    paper = ["--workflow-profile", "profiles/slurm", "--configfile", "config/paper.yaml"]

    jobs = dry_run(workdir, *paper)
    by_rule = {}
    for job in jobs:
        by_rule.setdefault(job["rule"], []).append(job)
    for rule, wanted in profile["set-resources"].items():
        assert rule in by_rule, rule
        for job in by_rule[rule]:
            assert int(job["resources"]["mem_mb"]) == wanted["mem_mb"], (rule, job["resources"])
            assert int(job["resources"]["runtime"]) == wanted["runtime"], (rule, job["resources"])
            assert job["resources"]["cpus_per_task"] == str(wanted.get("cpus_per_task", 1)), (rule, job["resources"])
    n_chunks = len(by_rule["simulate_timeline"])

    # the submissions themselves, to stand-ins for sbatch and sacct (no cluster)
    bin_dir, log = tmp_path / "bin", tmp_path / "sbatch.log"
    _fake_slurm(bin_dir)
    log.touch()
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_SLURM_LOG": str(log)}
    subprocess.run(
        [sys.executable, "-m", "snakemake", *paper, "--slurm-no-account", "--retries", "0",
         "--slurm-init-seconds-before-status-checks", "1"],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=600,
    )
    # first wave: the table of asymptotic directions alone (every simulate_events reads it), 2 cpus
    calls = log.read_text().splitlines()
    assert len(calls) == 1, calls
    table = profile["set-resources"]["asymptotic_table"]
    assert "--comment rule_asymptotic_table" in calls[0], calls[0][:400]
    assert f"--cpus-per-task={table['cpus_per_task']}" in calls[0], calls[0][:400]
    assert f"--mem {table['mem_mb']}" in calls[0] and f"-t {table['runtime']}" in calls[0], calls[0][:400]

    # with the table built (recorded by --touch), the chunk groups are what can start; nothing local
    (table_job,) = by_rule["asymptotic_table"]
    table_path = workdir / table_job["output"][0]
    table_path.parent.mkdir(parents=True, exist_ok=True)
    table_path.touch()
    _snakemake(workdir, "--configfile", "config/paper.yaml", "--touch", "--cores", "1", str(table_job["output"][0]))
    log.write_text("")
    subprocess.run(
        [sys.executable, "-m", "snakemake", *paper, "--slurm-no-account", "--retries", "0",
         "--slurm-init-seconds-before-status-checks", "1"],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=600,
    )
    calls = log.read_text().splitlines()
    group_size = int(profile["group-components"][0].split("=")[1])
    assert len(calls) == -(-n_chunks // group_size), calls
    chain = [profile["set-resources"][r] for r in ("simulate_timeline", "simulate_events", "select_events")]
    for call in calls:
        assert "--comment rule_chunk_select_events_simulate_events_simulate_timeline" in call
        chunks = len(re.findall(r"'simulate_timeline:chunk=\d+'", call))
        assert 1 <= chunks <= group_size
        # chains side by side: one cpu and the largest mem_mb each; the chain's runtimes add up
        assert f"--cpus-per-task={chunks}" in call, call[:400]
        assert f"--mem {chunks * max(r['mem_mb'] for r in chain)}" in call, call[:400]
        assert f"-t {sum(r['runtime'] for r in chain)}" in call, call[:400]


def test_git_state_of_a_clone(tmp_path):
    """Known answers: the commit git reports, clean, then dirty with the changed file named."""
    import subprocess

    from ams_anisotropy.provenance import git_state

    def git(*args):
        return subprocess.run(["git", "-C", str(tmp_path), *args], capture_output=True, text=True, check=True).stdout

    git("init", "-q")
    (tmp_path / "a.txt").write_text("1\n")
    git("add", "a.txt")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one")
    state = git_state(tmp_path)
    assert state["commit"] == git("rev-parse", "HEAD").strip()
    assert state["dirty"] is False and state["changed_files"] == []
    (tmp_path / "a.txt").write_text("2\n")
    (tmp_path / "untracked.txt").write_text("not counted\n")
    state = git_state(tmp_path)
    assert state["dirty"] is True and state["changed_files"] == ["a.txt"]
    assert git_state(tmp_path / "missing")["commit"] is None


def test_code_hash_follows_the_modules_a_script_reaches(tmp_path):
    from ams_anisotropy.codebase import code_hash

    package = tmp_path / "ams_anisotropy"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "plots.py").write_text("from .io import write\n")
    (package / "io.py").write_text("def write(): pass\n")
    (package / "fit.py").write_text("X = 1\n")
    script = tmp_path / "render.py"
    script.write_text("from ams_anisotropy import plots\n")
    before = code_hash(script)
    (package / "fit.py").write_text("X = 2\n")  # not reached: same hash
    assert code_hash(script) == before
    (package / "io.py").write_text("def write(): return 1\n")  # reached through plots: new hash
    changed = code_hash(script)
    assert changed != before
    copy = tmp_path / "copy"
    shutil.copytree(package, copy / "ams_anisotropy")
    shutil.copy(script, copy / "render.py")
    assert code_hash(copy / "render.py") == changed  # contents and relative names only, not the folder
