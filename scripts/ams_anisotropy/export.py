"""Export of a simulated run to the AMS-style input files (``input.source: files``).

The exported files hold exactly the columns of the documented contract (docs/input_format.md,
``io.TIMELINE_SCHEMA`` and ``io.EVENT_SCHEMA``, in that order, with the simulation's dtypes): the
simulation's truth columns (``mc_*``) are dropped, so an analysis of the exported files sees what it
would see in AMS data, and reports the backgrounds as unknown. A configuration overlay naming the
files is written next to them, so the analysis of the export is one command.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from . import io

EXPORT_FORMAT = "AMS-style input file (docs/input_format.md)"


def ams_timeline(timeline: pd.DataFrame) -> pd.DataFrame:
    """The timeline columns of the contract, in order (``InputError`` when one is missing)."""
    missing = [c for c in io.TIMELINE_SCHEMA if c not in timeline.columns]
    if missing:
        raise io.InputError(f"<timeline frame>: missing column(s) {', '.join(missing)}")
    return timeline[list(io.TIMELINE_SCHEMA)].reset_index(drop=True)


def ams_events(events: pd.DataFrame) -> pd.DataFrame:
    """The event columns of the contract, in order: the simulation truth and any extra column dropped."""
    missing = [c for c in io.EVENT_SCHEMA if c not in events.columns]
    if missing:
        raise io.InputError(f"<event frame>: missing column(s) {', '.join(missing)}")
    return events[list(io.EVENT_SCHEMA)].reset_index(drop=True)


def export_chunk(timeline_path, events_path, timeline_out, events_out) -> dict:
    """Read (and check) one simulated chunk, write its AMS-style timeline and event files atomically.

    Returns the numbers of rows written (``intervals``, ``events``) and the truth columns dropped.
    """
    timeline = io.read_timeline(timeline_path)
    events = io.read_events(events_path)
    io.write_parquet(ams_timeline(timeline), timeline_out, metadata={"format": EXPORT_FORMAT, "kind": "timeline"})
    io.write_parquet(ams_events(events), events_out, metadata={"format": EXPORT_FORMAT, "kind": "events"})
    dropped = [c for c in events.columns if c not in io.EVENT_SCHEMA]
    return {"intervals": len(timeline), "events": len(events), "dropped_columns": dropped}


def files_overlay(run_name: str, timeline_files, event_files) -> str:
    """Text of a configuration overlay that analyses the given files under ``results/<run_name>/``.

    Written as JSON (a subset of YAML, so ``--configfile`` reads it), with a comment header.
    """
    timeline_files = [str(Path(p)) for p in timeline_files]
    event_files = [str(Path(p)) for p in event_files]
    if len(timeline_files) != len(event_files) or not timeline_files:
        raise ValueError(f"files_overlay: {len(timeline_files)} timeline and {len(event_files)} event files")
    overlay = {
        "run_name": run_name,
        "input": {"source": "files", "timeline_files": timeline_files, "event_files": event_files},
    }
    header = (
        "# Analysis of the AMS-style files exported from a simulated run (no simulation truth in them).\n"
        "# Use on top of the configuration of the simulated run, e.g.\n"
        "#   snakemake --cores N --configfile config/ci.yaml <this file>\n"
    )
    return header + json.dumps(overlay, indent=2) + "\n"
