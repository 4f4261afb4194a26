"""Reading and writing the workflow's files, with the column schemas and their checks.

Every reader checks what it reads and raises :class:`InputError` naming the file and the
problem; every writer writes to a temporary file in the destination folder and renames it,
so that an interrupted job never leaves a half-written output behind.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


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

# columns whose values must be finite when present (directions and times)
_FINITE_COLUMNS = {
    "time_unix_s",
    "duration_s",
    "gal_l_deg",
    "gal_b_deg",
    "dir_det_x",
    "dir_det_y",
    "dir_det_z",
    "observable",
    *AXIS_COLUMNS,
}


def _check_schema(table: pa.Table, schema: dict, path: Path, columns) -> None:
    names = set(table.column_names)
    wanted = list(schema) if columns is None else [c for c in columns if c in schema]
    missing = [c for c in wanted if c not in names]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}")
    for name in wanted:
        kind = schema[name][0]
        arrow_type = table.schema.field(name).type
        ok = {
            "f": pa.types.is_floating(arrow_type) or pa.types.is_integer(arrow_type),
            "i": pa.types.is_integer(arrow_type),
            "b": pa.types.is_boolean(arrow_type),
        }[kind]
        if not ok:
            expected = {"f": "a floating-point", "i": "an integer", "b": "a boolean"}[kind]
            raise InputError(f"{path}: column {name} has type {arrow_type}, expected {expected} column")


def _read_parquet(path, schema: dict, columns=None) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file does not exist")
    try:
        parquet_file = pq.ParquetFile(path)
        file_columns = parquet_file.schema_arrow.names
        read_columns = None if columns is None else [c for c in columns if c in file_columns]
        missing = [] if columns is None else [c for c in columns if c not in file_columns]
        table = parquet_file.read(columns=read_columns)
    except InputError:
        raise
    except Exception as err:  # pyarrow raises several types for truncated/corrupt files
        raise InputError(f"{path}: not a readable Parquet file ({err})") from err
    required = [c for c in missing if c not in EVENT_TRUTH_COLUMNS]
    if required:
        raise InputError(f"{path}: missing column(s) {', '.join(required)}")
    _check_schema(table, schema, path, columns)
    frame = table.to_pandas()
    for name in _FINITE_COLUMNS.intersection(frame.columns):
        values = frame[name].to_numpy()
        bad = ~np.isfinite(values)
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise InputError(
                f"{path}: column {name} has {int(bad.sum())} non-finite value(s) (first at row {first})"
            )
    return frame


def read_timeline(path, columns=None) -> pd.DataFrame:
    """Read one timeline chunk; check columns, types, finiteness and time ordering."""
    frame = _read_parquet(path, TIMELINE_SCHEMA, columns)
    if "time_unix_s" in frame.columns and len(frame) > 1:
        if np.any(np.diff(frame["time_unix_s"].to_numpy()) <= 0):
            raise InputError(f"{path}: time_unix_s is not strictly increasing")
    if len(frame) == 0:
        raise InputError(f"{path}: the timeline has no rows")
    return frame


def read_events(path, columns=None) -> pd.DataFrame:
    """Read one event chunk; check columns, types and that directions and times are finite."""
    return _read_parquet(path, EVENT_SCHEMA, columns)


def read_selected(path, columns=None) -> pd.DataFrame:
    """Read one selected-events file of one species and chunk."""
    return _read_parquet(path, SELECTED_SCHEMA, columns)


def check_times_in_timeline(event_times, timeline_start, timeline_stop, path) -> None:
    """Raise when events fall outside [start, stop) of their timeline chunk."""
    event_times = np.asarray(event_times)
    outside = (event_times < timeline_start) | (event_times >= timeline_stop)
    if outside.any():
        raise InputError(
            f"{path}: {int(outside.sum())} event(s) outside the timeline "
            f"[{timeline_start:.3f}, {timeline_stop:.3f}) s, first at time_unix_s={event_times[outside][0]:.3f}"
        )


@contextmanager
def atomic_path(path):
    """Yield a temporary path in the destination folder; rename it to ``path`` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates the file with mode 0600; give the output the usual permissions
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_parquet(frame: pd.DataFrame, path, metadata: dict | None = None) -> None:
    """Write a data frame as Parquet (zstd), atomically, with optional key/value metadata."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if metadata:
        existing = table.schema.metadata or {}
        table = table.replace_schema_metadata(
            {**existing, **{str(k).encode(): str(v).encode() for k, v in metadata.items()}}
        )
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def write_csv(frame: pd.DataFrame, path) -> None:
    """Write a CSV table atomically."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def write_healpix_map(path, values, column_names=None, coord="G", extra_header=None) -> None:
    """Write one or several HEALPix maps (RING) to a FITS file atomically (healpy readable)."""
    import healpy as hp

    values = np.asarray(values, dtype=np.float64)
    with atomic_path(path) as tmp:
        hp.write_map(
            str(tmp),
            values,
            coord=coord,
            column_names=column_names,
            extra_header=list((extra_header or {}).items()),
            overwrite=True,
            dtype=np.float64,
        )


def read_healpix_map(path, field=0) -> np.ndarray:
    """Read a HEALPix map written by :func:`write_healpix_map`, with a clear error."""
    import healpy as hp

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file does not exist")
    try:
        return np.asarray(hp.read_map(str(path), field=field, dtype=np.float64))
    except Exception as err:
        raise InputError(f"{path}: not a readable HEALPix FITS map ({err})") from err


def threshold_column(label: str) -> str:
    """FITS column name of a threshold label ("16GeV" -> "THR_16GEV")."""
    return "THR_" + label.replace(".", "P").upper()


def write_threshold_maps(path, maps, labels, *, coord="G", header=None) -> None:
    """Write one HEALPix map per threshold as the columns of one FITS file (atomically).

    ``maps`` has shape (n_thresholds, npix); the columns are named by :func:`threshold_column`
    and the header lists the labels (keywords THR1, THR2, ...) so the file describes itself.
    ``coord`` is "G" (galactic) or None for the detector frame (header COORDSYS = 'DETECTOR').
    """
    maps = np.atleast_2d(np.asarray(maps, dtype=np.float64))
    labels = list(labels)
    if maps.shape[0] != len(labels):
        raise ValueError(f"{path}: {maps.shape[0]} maps but {len(labels)} threshold labels")
    extra = dict(header or {})
    extra.update({f"THR{k + 1}": label for k, label in enumerate(labels)})
    if coord is None:
        extra["COORDSYS"] = "DETECTOR"
    write_healpix_map(path, maps, column_names=[threshold_column(x) for x in labels], coord=coord, extra_header=extra)


def read_threshold_map(path, label: str) -> np.ndarray:
    """Read the map of one threshold from a file written by :func:`write_threshold_maps`."""
    from astropy.io import fits

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file does not exist")
    try:
        with fits.open(path) as hdul:
            names = list(hdul[1].columns.names)
    except Exception as err:
        raise InputError(f"{path}: not a readable HEALPix FITS map ({err})") from err
    column = threshold_column(label)
    if column not in names:
        raise InputError(f"{path}: no map for threshold {label} (columns: {', '.join(names)})")
    return read_healpix_map(path, field=names.index(column))


def read_threshold_maps(path, labels) -> np.ndarray:
    """Read the maps of several thresholds, shape (n_labels, npix)."""
    return np.stack([read_threshold_map(path, label) for label in labels])
