"""Real-format inputs, end to end: a simulated CI run is exported to the AMS-style files of
docs/input_format.md (``input.source: files``, no simulation truth columns), the analysis runs from
those files, and its counts maps, reference maps, fits, limits and tables are bitwise those of the
simulated run; the backgrounds are then reported as unknown.

To keep CI short the analysis of the files is restricted to two species (``analysis_species``):
positrons (the ECAL energy, the e± background) and protons (the L1-L9 rigidity, the largest sample).
The results of a species do not depend on which other species are analysed (the random streams are
keyed by species), so the comparison with the full simulated run is exact.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from workflow_helpers import ROOT, run_snakemake, seed_tracing_tables

from ams_anisotropy import io
from ams_anisotropy.export import ams_events, ams_timeline, files_overlay

pytestmark = pytest.mark.slow

SPECIES = ["positron", "proton"]
CI_CONFIG = yaml.safe_load((ROOT / "config" / "ci.yaml").read_text())


@pytest.fixture(scope="module")
def files_run(ci_session_run):
    """Export the shared CI run, then analyse the exported files (run name ci_files)."""
    workdir = ci_session_run
    run_snakemake(workdir, "results/ci/export/files.yaml", "--cores", "2", "--configfile", "config/ci.yaml")
    overlay = workdir / "results" / "ci" / "export" / "files.yaml"
    # the files run (run_name ci_files) has the simulated run's tracing config: its table, not traced again
    seed_tracing_tables(workdir / "results" / "ci", workdir / "results" / "ci_files")
    run_snakemake(workdir, "--cores", "2", "--configfile", "config/ci.yaml", str(overlay.relative_to(workdir)),
                  "--config", f"analysis_species={json.dumps(SPECIES)}")
    return workdir


def test_exported_files_hold_the_contract_and_no_truth(files_run):
    export = files_run / "results" / "ci" / "export"
    overlay = yaml.safe_load((export / "files.yaml").read_text())
    assert overlay["run_name"] == "ci_files" and overlay["input"]["source"] == "files"
    n_chunks = CI_CONFIG["period"]["duration_days"] / CI_CONFIG["period"]["chunk_days"]
    assert len(overlay["input"]["event_files"]) == len(overlay["input"]["timeline_files"]) == n_chunks
    for kind, schema in (("timeline", io.TIMELINE_SCHEMA), ("event", io.EVENT_SCHEMA)):
        for name in overlay["input"][f"{kind}_files"]:
            assert pq.read_schema(files_run / name).names == list(schema), name
    # the simulated event files are temporary (deleted once selected; the export re-simulates them):
    # the exported files hold as many events as the simulated run's selection read
    for chunk, name in enumerate(overlay["input"]["event_files"]):
        events = io.read_events(files_run / name)
        assert not set(io.EVENT_TRUTH_COLUMNS) & set(events.columns)
        cutflow = pd.read_csv(files_run / f"results/ci/selected/proton/chunk{chunk:04d}_cutflow.csv")
        assert len(events) == cutflow["events_in"].iloc[0] > 0
    timeline = io.read_timeline(files_run / overlay["input"]["timeline_files"][0])
    simulated = io.read_timeline(files_run / "results/ci/sim/timeline/chunk0000.parquet")
    pd.testing.assert_frame_equal(timeline, simulated[list(io.TIMELINE_SCHEMA)], check_exact=True)


SUBSET = "subsets/" + "-".join(sorted(SPECIES))  # where a subset run puts its combined tables
SKIP = {"logs", "benchmarks", "provenance", "selected", "subsets"}


def _species_files(results):
    """The per-species outputs of a run folder (maps, fits, limits, tables, figures), relative paths."""
    found = []
    for path in results.rglob("*"):
        relative = path.relative_to(results)
        if path.is_file() and relative.parts[0] not in SKIP and "selection" not in path.name and any(
            species in relative.parts or path.name.startswith(f"{species}_") or path.stem == species
            for species in SPECIES
        ):
            found.append(relative)
    return sorted(found)


def test_analysis_of_the_files_equals_the_simulated_run(files_run):
    simulated, files = files_run / "results" / "ci", files_run / "results" / "ci_files"
    compared = _species_files(files)
    assert len(compared) > 20 and any(p.parts[0] == "maps" for p in compared), compared
    for relative in compared:
        assert (files / relative).read_bytes() == (simulated / relative).read_bytes(), relative
    # the selection finds the same events; only the truth columns are missing
    for species in SPECIES:
        for chunk in ("0000", "0001"):
            a = io.read_selected(simulated / f"selected/{species}/chunk{chunk}.parquet")
            b = io.read_selected(files / f"selected/{species}/chunk{chunk}.parquet")
            pd.testing.assert_frame_equal(b, a[list(b.columns)], check_exact=True)
            assert set(a.columns) - set(b.columns) == set(io.EVENT_TRUTH_COLUMNS)
    table = pd.read_csv(files / SUBSET / "tables/dipole_limits.csv")
    reference = pd.read_csv(simulated / "tables/dipole_limits.csv")
    assert sorted(table["species"].unique()) == sorted(SPECIES)
    expected = reference[reference["species"].isin(SPECIES)].reset_index(drop=True)
    pd.testing.assert_frame_equal(table, expected, check_exact=True)


def test_backgrounds_are_reported_as_unknown(files_run):
    files = pd.read_csv(files_run / "results/ci_files" / SUBSET / "tables/selection_summary.csv").set_index("species")
    simulated = pd.read_csv(files_run / "results/ci/tables/selection_summary.csv").set_index("species")
    assert sorted(files.index) == sorted(SPECIES)
    assert (files["backgrounds"] == "unknown (no simulation truth in the event files)").all()
    assert files["contamination_total"].isna().all()
    assert (files["selected_events"] == simulated.loc[files.index, "selected_events"]).all()
    assert (simulated["backgrounds"] == "known (simulation truth)").all()
    assert simulated["contamination_total"].notna().all()
    cutflow = pd.read_csv(files_run / "results/ci_files/tables/proton_selection.csv")
    assert not any(c.startswith(("signal_", "background_")) for c in cutflow.columns)
    truth = pd.read_csv(files_run / "results/ci/tables/proton_selection.csv")
    assert np.array_equal(cutflow["events_out"].to_numpy(), truth["events_out"].to_numpy())


def test_export_functions_keep_the_contract_columns_only():
    frame = pd.DataFrame({c: np.zeros(2) for c in [*reversed(io.EVENT_SCHEMA), *io.EVENT_TRUTH_COLUMNS, "extra"]})
    assert list(ams_events(frame).columns) == list(io.EVENT_SCHEMA)
    timeline = pd.DataFrame({c: np.zeros(2) for c in [*io.TIMELINE_SCHEMA, "extra"]})
    assert list(ams_timeline(timeline).columns) == list(io.TIMELINE_SCHEMA)
    with pytest.raises(io.InputError, match="missing column"):
        ams_events(frame.drop(columns=["charge"]))
    text = files_overlay("x_files", ["t0.parquet"], ["e0.parquet"])
    assert yaml.safe_load(text) == {"run_name": "x_files", "input": {
        "source": "files", "timeline_files": ["t0.parquet"], "event_files": ["e0.parquet"]}}
    with pytest.raises(ValueError):
        files_overlay("x", ["t0.parquet"], [])
