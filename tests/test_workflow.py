"""Integration: the real workflow on config/ci.yaml in a temporary copy of the project.

It simulates, selects, bins, builds reference maps, fits, samples limits, renders the paper's figures
and the HTML report; a second run with another number of cores gives bitwise-identical tables and
maps; bad configurations and bad input files stop the run with a clear message before any output.
"""

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from workflow_helpers import copy_project, run_snakemake

from ams_anisotropy.tables import REQUIRED_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
CI_CONFIG = yaml.safe_load((ROOT / "config" / "ci.yaml").read_text())
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

pytestmark = pytest.mark.slow


def _copy_project(destination: Path) -> Path:
    """A self-contained copy of the project (workflow_helpers.copy_project: profiles included)."""
    return copy_project(destination)


def _snakemake(workdir: Path, *args, check=True):
    """Snakemake in ``workdir`` with the copy's own package first on PYTHONPATH (not the editable install)."""
    return run_snakemake(workdir, *args, check=check, timeout=1800)


@pytest.fixture(scope="module")
def ci_run(ci_session_run):
    """The session's one uninterrupted CI run (tests/conftest.py), shared with the other workflow tests."""
    return ci_session_run


def _results(workdir: Path) -> Path:
    return workdir / "results" / CI_CONFIG["run_name"]


def test_workflow_writes_the_table_with_every_threshold(ci_run):
    table = pd.read_csv(_results(ci_run) / "tables" / "dipole_limits.csv")
    assert list(table.columns[: len(REQUIRED_COLUMNS)]) == REQUIRED_COLUMNS
    config = yaml.safe_load((ci_run / "config" / "config.yaml").read_text())
    expected_rows = sum(len(CI_CONFIG["species"][s]["thresholds"]) for s in config["species"])
    assert len(table) == expected_rows
    assert table[REQUIRED_COLUMNS[3:]].notna().all().all()
    # cumulative ranges: the event counts fall with the threshold
    for _, rows in table.groupby("species"):
        assert np.all(np.diff(rows.sort_values("threshold")["n_events"].to_numpy()) <= 0)
    # a limit is at least the fitted amplitude's order and the bands are ordered
    assert (table["band95_low"] <= table["band68_low"]).all()
    assert (table["band68_low"] <= table["expected_ul95_median"]).all()
    assert (table["expected_ul95_median"] <= table["band68_high"]).all()
    assert (table["delta_ul95_sys"] >= table["delta_ul95"] - 3 * table["delta_ul95_mc_error"]).all()
    ecsv = (_results(ci_run) / "tables" / "dipole_limits.ecsv").read_text()
    assert "# %ECSV" in ecsv and "unit: deg" in ecsv


def test_workflow_renders_the_figures(ci_run):
    figures = _results(ci_run) / "figures"
    names = ["figure1_electrons_positrons", "figure2_nuclei"]
    names += [f"{s}_{kind}" for s in CI_CONFIG["species"] for kind in ("components", "skymaps")]
    for name in names:
        png = (figures / f"{name}.png").read_bytes()
        assert png.startswith(PNG_SIGNATURE) and len(png) > 10_000, name
        assert (figures / f"{name}.pdf").read_bytes().startswith(b"%PDF")


def test_workflow_maps_are_healpix_fits(ci_run):
    import healpy as hp

    counts = hp.read_map(_results(ci_run) / "maps" / "proton" / "counts.fits", field=0)
    reference = hp.read_map(_results(ci_run) / "maps" / "proton" / "reference_nominal.fits", field=0)
    assert counts.size == hp.nside2npix(32)
    assert counts.sum() > 0
    assert reference.sum() == pytest.approx(counts.sum(), rel=1e-6)


def test_workflow_selection_summary_reports_contamination(ci_run):
    summary = pd.read_csv(_results(ci_run) / "tables" / "selection_summary.csv").set_index("species")
    # the paper: proton background of the e± samples below the per-cent level
    assert summary.loc["electron", "contamination_proton"] < 0.01
    assert summary.loc["positron", "contamination_proton"] < 0.01


def test_report_has_the_figures(ci_run):
    _snakemake(ci_run, "--configfile", "config/ci.yaml", "--report", "report.html")
    html = (ci_run / "report.html").read_text(errors="replace")
    assert "figure1_electrons_positrons.png" in html and "dipole_limits.csv" in html


def test_lint_is_clean():
    result = _snakemake(ROOT, "--lint")
    assert "Congratulations" in result.stdout + result.stderr


def test_bad_config_stops_before_any_job(tmp_path):
    workdir = _copy_project(tmp_path / "bad")
    bad = tmp_path / "bad.yaml"
    bad.write_text("run_name: bad\nspecies:\n  proton: {thresholds: [18, 45, 30]}\n")
    result = _snakemake(workdir, "--cores", "1", "--configfile", str(bad), check=False)
    assert result.returncode != 0
    assert "species.proton.thresholds must be strictly increasing" in result.stdout + result.stderr
    assert not (workdir / "results").exists()


def test_truncated_input_file_fails_clearly_and_writes_nothing(ci_run, tmp_path):
    workdir = _copy_project(tmp_path / "files")
    timeline = _results(ci_run) / "sim" / "timeline" / "chunk0000.parquet"
    # the simulated events are temporary (deleted once selected): truncate a copy of the timeline's bytes,
    # a Parquet file all the same, so the reader must reject it before reading any column
    events = timeline
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(timeline, data / "timeline.parquet")
    (data / "events.parquet").write_bytes(events.read_bytes()[: events.stat().st_size // 2])
    overlay = tmp_path / "files.yaml"
    overlay.write_text(
        "run_name: files\ninput:\n  source: files\n"
        f"  timeline_files: [{data / 'timeline.parquet'}]\n  event_files: [{data / 'events.parquet'}]\n"
    )
    result = _snakemake(
        workdir, "results/files/selected/proton/chunk0000.parquet", "--cores", "1",
        "--configfile", "config/ci.yaml", str(overlay), check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"{data / 'events.parquet'}: not a readable Parquet file" in output
    assert not (workdir / "results" / "files" / "selected" / "proton" / "chunk0000.parquet").exists()
