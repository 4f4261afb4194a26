"""The contract of the workflow's Parquet files: columns, types, units and value rules.

:mod:`ams_anisotropy.io` reads the files and applies these checks (every name here is also
available as ``io.<name>``); docs/input_format.md documents them for the AMS-style input files.
Each violated rule raises :class:`InputError` naming the file, the column and the first bad row.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa


class InputError(ValueError):
    """Bad input: the message names the file and the problem."""


AXIS_COLUMNS = [f"ams_{axis}_gal_{c}" for axis in "xyz" for c in "xyz"]
CONE_HALF_ANGLES_DEG = (25, 30, 35, 40)
CUTOFF_COLUMNS = [
    f"cutoff_max_{sign}_{cone}_gv" for sign in ("pos", "neg") for cone in CONE_HALF_ANGLES_DEG
]

# column -> (numpy dtype kind accepted, unit, description)
TIMELINE_SCHEMA: dict[str, tuple[str, str, str]] = {
    "time_unix_s": ("f", "s", "start of the interval, UTC POSIX seconds"),
    "duration_s": ("f", "s", "length of the interval"),
    "iss_lat_deg": ("f", "deg", "ISS geodetic latitude"),
    "iss_lon_deg": ("f", "deg", "ISS longitude"),
    "iss_alt_km": ("f", "km", "ISS geodetic altitude"),
    "flight_direction": ("i", "", "+1 for +XVV, -1 for -XVV"),
    **{c: ("f", "", "AMS axis as a galactic unit vector") for c in AXIS_COLUMNS},
    "ams_zenith_deg": ("f", "deg", "angle between AMS z axis and local zenith"),
    "trigger_rate_hz": ("f", "Hz", "level-1 trigger rate"),
    "livetime_fraction": ("f", "", "live fraction of the interval"),
    "in_saa": ("b", "", "inside the South Atlantic Anomaly"),
    **{c: ("f", "GV", "maximum Stoermer cutoff in the cone") for c in CUTOFF_COLUMNS},
    "good": ("b", "", "good interval"),
}

EVENT_SCHEMA: dict[str, tuple[str, str, str]] = {
    "event_id": ("i", "", "unique event number"),
    "time_unix_s": ("f", "s", "event time, UTC POSIX seconds"),
    "rigidity_gv": ("f", "GV", "signed rigidity, inner tracker + L1"),
    "rigidity_full_span_gv": ("f", "GV", "signed rigidity, L1 to L9"),
    "track_chi2_ndf": ("f", "", "track fit chi2 per degree of freedom"),
    "has_l1": ("b", "", "hit in tracker layer 1"),
    "has_l9": ("b", "", "hit in tracker layer 9"),
    "n_inner_layers": ("i", "", "inner tracker layers hit"),
    "charge": ("f", "e", "measured charge magnitude"),
    "beta": ("f", "", "TOF velocity, negative upward"),
    "has_trd_track": ("b", "", "TRD track"),
    "trd_estimator": ("f", "", "TRD estimator, low = electron-like"),
    "has_ecal_cluster": ("b", "", "ECAL shower"),
    "ecal_energy_gev": ("f", "GeV", "ECAL energy"),
    "ecal_estimator": ("f", "", "ECAL classifier, +1 = electromagnetic"),
    "dir_det_x": ("f", "", "arrival direction, detector frame"),
    "dir_det_y": ("f", "", "arrival direction, detector frame"),
    "dir_det_z": ("f", "", "arrival direction, detector frame"),
    "gal_l_deg": ("f", "deg", "galactic longitude of arrival direction"),
    "gal_b_deg": ("f", "deg", "galactic latitude of arrival direction"),
}
EVENT_TRUTH_COLUMNS = ("mc_particle", "mc_rigidity_gv", "mc_origin")

SELECTED_SCHEMA: dict[str, tuple[str, str, str]] = {
    "event_id": ("i", "", "unique event number"),
    "time_unix_s": ("f", "s", "event time"),
    "observable": ("f", "GeV or GV", "ECAL energy (e±) or |rigidity| (nuclei)"),
    "cutoff_max_gv": ("f", "GV", "max cutoff in the field of view of the event's interval"),
    "gal_l_deg": ("f", "deg", "galactic longitude"),
    "gal_b_deg": ("f", "deg", "galactic latitude"),
    "dir_det_x": ("f", "", "arrival direction, detector frame"),
    "dir_det_y": ("f", "", "arrival direction, detector frame"),
    "dir_det_z": ("f", "", "arrival direction, detector frame"),
    "trigger_rate_hz": ("f", "Hz", "trigger rate of the event's interval"),
}

# --- value rules, checked by the readers on the columns they read (docs/input_format.md) ----------
# Time range accepted for time_unix_s: 1970 to 2100 (a time in ms or ns is caught).
TIME_RANGE_UNIX_S = (0.0, 4_102_444_800.0)
# Tolerance of the unit-vector norms (float32 directions carry ~1e-7) and of the timeline's tiling (s).
UNIT_NORM_TOLERANCE = 1e-3
TILING_TOLERANCE_S = 1e-3


def _range(lo=-np.inf, hi=np.inf, *, lo_open=False):
    """Rule: finite values in [lo, hi] (lo excluded with ``lo_open``)."""
    def bad(values):
        values = values.astype(np.float64)
        below = values <= lo if lo_open else values < lo
        return ~np.isfinite(values) | below | (values > hi)

    left = "(" if lo_open else "["
    return bad, f"non-finite or outside {left}{lo:g}, {hi:g}]"


_FINITE = (lambda v: ~np.isfinite(v.astype(np.float64)), "non-finite")
_NONZERO = (lambda v: ~np.isfinite(v.astype(np.float64)) | (v == 0), "non-finite or zero")
_POSITIVE = _range(0.0, lo_open=True)
_NON_NEGATIVE = _range(0.0)
_TIME = _range(*TIME_RANGE_UNIX_S)

# conditions: (text, columns, rows where a rule applies)
_HAS_TRACK = ("n_inner_layers >= 3 (a track)", ("n_inner_layers",), lambda f: f["n_inner_layers"].to_numpy() >= 3)
_HAS_FULL_SPAN = (
    "has_l1 and has_l9 and n_inner_layers >= 3",
    ("has_l1", "has_l9", "n_inner_layers"),
    lambda f: f["has_l1"].to_numpy(bool) & f["has_l9"].to_numpy(bool) & (f["n_inner_layers"].to_numpy() >= 3),
)
_HAS_TRD = ("has_trd_track", ("has_trd_track",), lambda f: f["has_trd_track"].to_numpy(bool))
_HAS_ECAL = ("has_ecal_cluster", ("has_ecal_cluster",), lambda f: f["has_ecal_cluster"].to_numpy(bool))

# column -> (rule, condition or None): the rule applies to the rows where the condition holds
TIMELINE_RULES = {
    "time_unix_s": (_TIME, None),
    "duration_s": (_POSITIVE, None),
    "iss_lat_deg": (_range(-90.0, 90.0), None),
    "iss_lon_deg": (_range(-180.0, 360.0), None),
    "iss_alt_km": (_POSITIVE, None),
    "flight_direction": ((lambda v: (v != 1) & (v != -1), "not +1 or -1"), None),
    "ams_zenith_deg": (_range(0.0, 180.0), None),
    "trigger_rate_hz": (_NON_NEGATIVE, None),
    "livetime_fraction": (_range(0.0, 1.0), None),
    **{c: (_NON_NEGATIVE, None) for c in CUTOFF_COLUMNS},
    **{c: (_range(-1.0, 1.0), None) for c in AXIS_COLUMNS},
}
EVENT_RULES = {
    "time_unix_s": (_TIME, None),
    "rigidity_gv": (_NONZERO, _HAS_TRACK),
    "rigidity_full_span_gv": (_NONZERO, _HAS_FULL_SPAN),
    "track_chi2_ndf": (_NON_NEGATIVE, _HAS_TRACK),
    "n_inner_layers": (_range(0, 7), None),
    "charge": (_NON_NEGATIVE, None),
    "beta": (_FINITE, None),
    "trd_estimator": (_FINITE, _HAS_TRD),
    "ecal_energy_gev": (_POSITIVE, _HAS_ECAL),
    "ecal_estimator": (_range(-1.0, 1.0), _HAS_ECAL),
    "dir_det_x": (_range(-1.0, 1.0), None),
    "dir_det_y": (_range(-1.0, 1.0), None),
    "dir_det_z": (_range(-1.0, 1.0), None),
    "gal_l_deg": (_range(0.0, 360.0), None),
    "gal_b_deg": (_range(-90.0, 90.0), None),
}
SELECTED_RULES = {
    name: EVENT_RULES[name] for name in ("time_unix_s", "dir_det_x", "dir_det_y", "dir_det_z", "gal_l_deg", "gal_b_deg")
} | {"observable": (_POSITIVE, None), "cutoff_max_gv": (_NON_NEGATIVE, None), "trigger_rate_hz": (_NON_NEGATIVE, None)}

# unit vectors: (name, columns); checked when all three columns are read
TIMELINE_VECTORS = [(f"AMS {axis} axis", [f"ams_{axis}_gal_{c}" for c in "xyz"]) for axis in "xyz"]
EVENT_VECTORS = [("detector direction", ["dir_det_x", "dir_det_y", "dir_det_z"])]

KINDS = {
    "timeline": (TIMELINE_SCHEMA, TIMELINE_RULES, TIMELINE_VECTORS),
    "event": (EVENT_SCHEMA, EVENT_RULES, EVENT_VECTORS),
    "selected": (SELECTED_SCHEMA, SELECTED_RULES, EVENT_VECTORS),
}


def raise_bad_rows(path, what: str, bad: np.ndarray, problem: str) -> None:
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise InputError(f"{path}: {what} has {int(bad.sum())} value(s) {problem} (first at row {first})")


def check_values(frame: pd.DataFrame, kind: str, path: Path) -> None:
    _, rules, vectors = KINDS[kind]
    for name, ((rule, problem), condition) in rules.items():
        if name not in frame.columns:
            continue
        values = frame[name].to_numpy()
        bad = rule(values)
        if condition is not None:
            bad &= condition[2](frame)
            problem = f"{problem} where {condition[0]}"
        raise_bad_rows(path, f"column {name}", bad, problem)
    for what, names in vectors:
        if all(c in frame.columns for c in names):
            norm = np.sqrt(sum(frame[c].to_numpy(np.float64) ** 2 for c in names))
            raise_bad_rows(path, f"the {what} ({', '.join(names)})", np.abs(norm - 1.0) > UNIT_NORM_TOLERANCE,
                            f"not a unit vector (|norm - 1| > {UNIT_NORM_TOLERANCE:g})")
    if "event_id" in frame.columns and len(frame) > 1:
        ids = frame["event_id"].to_numpy()
        if not np.all(ids[1:] > ids[:-1]):  # sorted files skip the sort
            unique, counts = np.unique(ids, return_counts=True)
            if (counts > 1).any():
                raise InputError(f"{path}: column event_id has {int((counts > 1).sum())} duplicated value(s), "
                                 f"first {int(unique[counts > 1][0])}")
    if kind == "timeline":
        _check_tiling(frame, path)


def _check_tiling(frame: pd.DataFrame, path: Path) -> None:
    """Timeline rows strictly increasing in time, each interval starting where the previous ends."""
    if "time_unix_s" not in frame.columns or len(frame) < 2:
        return
    start = frame["time_unix_s"].to_numpy(np.float64)
    step = np.diff(start)
    raise_bad_rows(path, "column time_unix_s", np.concatenate([[False], step == 0]), "duplicated")
    raise_bad_rows(path, "column time_unix_s", np.concatenate([[False], step < 0]),
                    "earlier than the previous row (the timeline is not sorted)")
    if "duration_s" in frame.columns:
        end = start[:-1] + frame["duration_s"].to_numpy(np.float64)[:-1]
        mismatch = np.concatenate([[False], np.abs(start[1:] - end) > TILING_TOLERANCE_S])
        if mismatch.any():
            row = int(np.flatnonzero(mismatch)[0])
            what = "a gap" if start[row] > end[row - 1] else "an overlap"
            raise InputError(
                f"{path}: the timeline has {int(mismatch.sum())} gap(s) or overlap(s) between intervals: "
                f"row {row} starts at {start[row]:.3f} s but row {row - 1} ends at {end[row - 1]:.3f} s "
                f"({what} of {abs(start[row] - end[row - 1]):.3f} s; missing time is an interval with good = false)"
            )


def kind_hint(file_columns, kind: str) -> str:
    """' (it looks like a timeline file ...)' when a file of the other kind is given."""
    names = set(file_columns)
    for other in ("timeline", "event"):
        if other != kind and set(KINDS[other][0]) <= names:
            article = {"event": "an", "timeline": "a", "selected": "a"}
            return f"; it is {article[other]} {other} file, not {article[kind]} {kind} file"
    return ""


def check_schema(table: pa.Table, schema: dict, path: Path, columns, kind: str) -> None:
    names = set(table.column_names)
    wanted = list(schema) if columns is None else [c for c in columns if c in schema]
    missing = [c for c in wanted if c not in names]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}{kind_hint(names, kind)}")
    for name in wanted:
        kind_code = schema[name][0]
        arrow_type = table.schema.field(name).type
        ok = {
            "f": pa.types.is_floating(arrow_type) or pa.types.is_integer(arrow_type),
            "i": pa.types.is_integer(arrow_type),
            "b": pa.types.is_boolean(arrow_type),
        }[kind_code]
        if not ok:
            expected = {"f": "a floating-point", "i": "an integer", "b": "a boolean"}[kind_code]
            raise InputError(f"{path}: column {name} has type {arrow_type}, expected {expected} column")
