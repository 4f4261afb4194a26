"""Reading and writing the workflow's files, with the column schemas and their checks.

Every reader checks what it reads and raises :class:`InputError` naming the file and the
problem; every writer writes to a temporary file in the destination folder and renames it,
so that an interrupted job never leaves a half-written output behind.
"""

from __future__ import annotations

import glob
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .contracts import (  # noqa: F401  (re-exported: io.InputError, io.TIMELINE_SCHEMA, ...)
    AXIS_COLUMNS,
    CONE_HALF_ANGLES_DEG,
    CUTOFF_COLUMNS,
    EVENT_RULES,
    EVENT_SCHEMA,
    EVENT_TRUTH_COLUMNS,
    KINDS,
    SELECTED_RULES,
    SELECTED_SCHEMA,
    TIMELINE_RULES,
    TIMELINE_SCHEMA,
    InputError,
    check_schema,
    check_values,
    kind_hint,
)


def _with_dependencies(columns, kind: str) -> list:
    """The requested columns plus those their checks need (conditions, vector partners, tiling)."""
    _, rules, vectors = KINDS[kind]
    read = list(columns)
    for name in columns:
        condition = rules.get(name, (None, None))[1]
        extra = list(condition[1]) if condition else []
        extra += [c for _, names in vectors if name in names for c in names]
        if kind == "timeline" and name == "time_unix_s":
            extra.append("duration_s")
        read += [c for c in extra if c not in read]
    return read


def _read_parquet(path, kind: str, columns=None) -> pd.DataFrame:
    path = Path(path)
    schema = KINDS[kind][0]
    if not path.exists():
        raise InputError(f"{path}: file does not exist")
    if not path.is_file():
        raise InputError(f"{path}: not a file")
    try:
        parquet_file = pq.ParquetFile(path)
        file_columns = parquet_file.schema_arrow.names
        wanted = None if columns is None else _with_dependencies(columns, kind)
        read_columns = None if wanted is None else [c for c in wanted if c in file_columns]
        missing = [] if wanted is None else [c for c in wanted if c not in file_columns]
        table = parquet_file.read(columns=read_columns)
    except Exception as err:  # pyarrow raises several types for truncated/corrupt files
        raise InputError(f"{path}: not a readable Parquet file ({err})") from err
    required = [c for c in missing if c not in EVENT_TRUTH_COLUMNS]
    if required:
        raise InputError(f"{path}: missing column(s) {', '.join(required)}{kind_hint(file_columns, kind)}")
    check_schema(table, schema, path, None if columns is None else table.column_names, kind)
    frame = table.to_pandas()
    check_values(frame, kind, path)
    if columns is not None:
        frame = frame[[c for c in columns if c in frame.columns]]
    return frame


def read_timeline(path, columns=None) -> pd.DataFrame:
    """Read one timeline chunk; check columns, types, value ranges and that the intervals tile time."""
    frame = _read_parquet(path, "timeline", columns)
    if len(frame) == 0:
        raise InputError(f"{path}: the timeline has no rows")
    return frame


def read_events(path, columns=None) -> pd.DataFrame:
    """Read one event chunk; check columns, types, value ranges, unit directions and unique event ids."""
    return _read_parquet(path, "event", columns)


def read_selected(path, columns=None) -> pd.DataFrame:
    """Read one selected-events file of one species and chunk."""
    return _read_parquet(path, "selected", columns)


def check_file_kind(path, kind: str) -> str | None:
    """A problem (str) when ``path`` is not a readable Parquet file with the columns of ``kind``
    ("timeline" or "event"), else None. Reads the file's footer only (cheap, for config checks)."""
    path = Path(path)
    if not path.is_file():
        return f"{path}: file does not exist"
    try:
        names = pq.read_schema(path).names
    except Exception as err:
        return f"{path}: not a readable Parquet file ({err})"
    missing = [c for c in KINDS[kind][0] if c not in names]
    if missing:
        return f"{path}: missing column(s) {', '.join(missing)}{kind_hint(names, kind)}"
    return None


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
    """Yield a temporary path in the destination folder; rename it to ``path`` on success.

    The output appears complete or not at all: a job killed while writing (even by SIGKILL) leaves
    at most a hidden ``.<name>.<random>.tmp`` file, never a file with the output's name; such
    leftovers of earlier killed writes of the same output are removed by the next successful write.
    """
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
        for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
            stale.unlink(missing_ok=True)
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


def write_text(text: str, path) -> None:
    """Write a text file (UTF-8) atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


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
