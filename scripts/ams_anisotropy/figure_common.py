"""What every figure shares: labels and colours, checks of the results table, atomic PNG + PDF output.

All figures (:mod:`limit_figures`, :mod:`component_figures`, :mod:`sky_maps`) are drawn with
matplotlib's Agg backend (no screen needed) and written as PNG and PDF *atomically*
(:func:`save_png_and_pdf`): both files are rendered into temporary files in their destination folders
and renamed only when both renderings succeeded, so an error never leaves a new or half-written figure
behind. Every figure function validates its input first and raises ``ValueError`` naming the missing
column / bad value before anything is drawn.

Input of the limit and component figures is the results table (``dipole_limits.csv``, see
``docs/architecture.md``) as a pandas DataFrame (an astropy Table is converted); the helpers here
check it (:func:`as_frame`, :func:`require_columns`, :func:`species_rows`, :func:`numeric_column`,
:func:`optional_columns`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

from .io import atomic_path  # noqa: E402

SPECIES_TITLES = {
    "positron": r"Positrons (e$^+$)",
    "electron": r"Electrons (e$^-$)",
    "proton": "Protons",
    "helium": "Helium",
    "carbon": "Carbon",
    "oxygen": "Oxygen",
}
SPECIES_UNITS = {
    "positron": "GeV",
    "electron": "GeV",
    "proton": "GV",
    "helium": "GV",
    "carbon": "GV",
    "oxygen": "GV",
}
THRESHOLD_LABELS = {
    "GeV": r"Minimum energy $E_\mathrm{min}$ (GeV)",
    "GV": r"Minimum rigidity $R_\mathrm{min}$ (GV)",
}
# Colours of the isotropic-expectation bands as in the paper's Figures 1-2 (green 68.3%, yellow 95.4%).
BAND68_COLOUR = "#3cb44b"
BAND95_COLOUR = "#ffe119"

LIMIT_BASE_COLUMNS = ("species", "threshold", "unit")


# ----------------------------------------------------------------------------------------------
# input checks, atomic saving, axes formatting
# ----------------------------------------------------------------------------------------------


def as_frame(table) -> pd.DataFrame:
    """The results table as a pandas DataFrame (an astropy Table is converted)."""
    if hasattr(table, "to_pandas") and not isinstance(table, pd.DataFrame):
        table = table.to_pandas()
    if not isinstance(table, pd.DataFrame):
        raise ValueError(f"results table must be a pandas DataFrame, got {type(table).__name__}")
    return table


def require_columns(table: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    """Raise ValueError naming the columns of ``columns`` the table lacks."""
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{what}: results table is missing column(s) {', '.join(missing)}")


def numeric_column(rows: pd.DataFrame, column: str, species: str, what: str, positive=False) -> np.ndarray:
    """The column as float64, raising when a value is not finite (or not > 0 when ``positive``)."""
    try:
        values = rows[column].to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{what}: column {column} of {species} is not numeric ({err})") from err
    bad = ~np.isfinite(values) | ((values <= 0) if positive else False)
    if bad.any():
        thresholds = rows["threshold"].to_numpy()[bad]
        kind = "finite and > 0" if positive else "finite"
        raise ValueError(
            f"{what}: column {column} of {species} must be {kind}; bad at threshold(s) "
            f"{', '.join(f'{t:g}' for t in thresholds)} (values {values[bad].tolist()})"
        )
    return values


def optional_columns(rows: pd.DataFrame, columns: Sequence[str], species: str, what: str):
    """Values of optional columns: None when absent or all NaN, else checked-finite arrays."""
    if not all(c in rows.columns for c in columns):
        return None
    raw = rows[list(columns)].to_numpy(dtype=np.float64)
    if np.isnan(raw).all():
        return None
    return [numeric_column(rows, c, species, what) for c in columns]


def species_rows(table: pd.DataFrame, species: str, what: str) -> pd.DataFrame | None:
    """Rows of one species sorted by threshold, with unit, threshold and duplicate checks."""
    rows = table[table["species"] == species]
    if len(rows) == 0:
        return None
    expected_unit = SPECIES_UNITS[species]
    units = set(rows["unit"].astype(str))
    if units != {expected_unit}:
        raise ValueError(
            f"{what}: column unit of {species} must be {expected_unit!r}, found {sorted(units)}"
        )
    numeric_column(rows, "threshold", species, what, positive=True)
    rows = rows.sort_values("threshold", kind="stable")
    thresholds = rows["threshold"].to_numpy(dtype=np.float64)
    if np.any(np.diff(thresholds) == 0):
        raise ValueError(f"{what}: column threshold of {species} has duplicate values {thresholds.tolist()}")
    return rows


def check_paths(png_path, pdf_path) -> tuple[Path, Path]:
    """The two output paths as Paths; they must be different files."""
    png_path, pdf_path = Path(png_path), Path(pdf_path)
    if png_path.resolve() == pdf_path.resolve():
        raise ValueError(f"png_path and pdf_path are the same file: {png_path}")
    return png_path, pdf_path


def save_png_and_pdf(fig: Figure, png_path: Path, pdf_path: Path, dpi: float) -> None:
    """Render PNG and PDF into temporary files; rename both only if both renderings succeeded."""
    with ExitStack() as stack:
        tmp_png = stack.enter_context(atomic_path(png_path))
        tmp_pdf = stack.enter_context(atomic_path(pdf_path))
        # no creation date in the PDF: the same inputs give byte-identical files
        fig.savefig(tmp_png, format="png", dpi=dpi)
        fig.savefig(tmp_pdf, format="pdf", metadata={"CreationDate": None})
        umask = os.umask(0)
        os.umask(umask)
        for tmp in (tmp_png, tmp_pdf):
            if os.path.getsize(tmp) == 0:
                raise RuntimeError(f"matplotlib wrote an empty file for {tmp}")
            os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; use the usual permissions


def format_log_axis(axis) -> None:
    """Log axis with ticks at 1, 2, 3, 5 x 10^n labelled as plain numbers."""
    axis.set_major_locator(LogLocator(base=10.0, subs=(1.0, 2.0, 3.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    axis.set_minor_locator(LogLocator(base=10.0, subs=np.arange(1.0, 10.0)))
    axis.set_minor_formatter(NullFormatter())


def log_limits(values: np.ndarray, pad: float) -> tuple[float, float]:
    """Axis limits enclosing positive ``values`` with a multiplicative margin ``pad`` (> 1)."""
    values = values[np.isfinite(values) & (values > 0)]
    return float(values.min() / pad), float(values.max() * pad)

