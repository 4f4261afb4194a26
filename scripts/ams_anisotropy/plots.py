"""Figures: the paper's Figures 1 and 2, dipole components vs threshold, and sky maps.

All figures are drawn with matplotlib's Agg backend (no screen needed) and written as PNG and
PDF *atomically*: both files are rendered into temporary files in their destination folders and
renamed only when both renderings succeeded, so an error never leaves a new or half-written
figure behind. Every function validates its input first and raises ``ValueError`` naming the
missing column / bad value before anything is drawn.

Input of the limit and component figures is the results table (``dipole_limits.csv``, see
``docs/architecture.md``) as a pandas DataFrame (an astropy Table is converted).

Conventions and choices (for the README):

* Figures 1 and 2 follow the paper (TAUP 2019, J. Phys. Conf. Ser. 1468 (2020) 012083, Figs. 1-2):
  dots = 95% C.I. upper limit on the dipole amplitude per cumulative threshold; solid line = median
  of the isotropic expectation with statistics and systematics, dashed = statistics only; green /
  yellow = 68.3% / 95.4% central bands of the isotropic expectation. The bands are quantiles of the
  95% limit over isotropic pseudo-skies; they surround the median *with* systematics when the band
  columns with systematics are present (``band68_sys_low`` ...) and the statistics-only median
  otherwise; the legend says which. Both axes are logarithmic, delta is shown in percent. Points of
  one species are joined by straight lines in log-log space (the thresholds are discrete).
* Components: rho_EW, rho_NS, rho_FB in percent with their 1-sigma statistical error bars (and, when
  ``sys_ew/sys_ns/sys_fb`` are present, a thinner bar for statistics and systematics in quadrature),
  on the isotropic 68.3% / 95.4% bands of each fitted component.
* Sky maps: Mollweide, galactic coordinates, longitude increasing to the left (astronomical
  convention), drawn with ``healpy.newvisufunc.projview``. Relative intensity is C/M - 1 and the
  significance is the Poisson likelihood-ratio significance of C against a known expectation M
  (Li & Ma, ApJ 272 (1983) 317, eq. 17 in the limit alpha -> 0), or the full Li & Ma eq. 17 when an
  on/off exposure ratio ``alpha`` is given. With ``smoothing_deg`` both are computed from top-hat
  sums of counts and reference over all used pixels whose centres lie within that angle (the
  usual integration of cosmic-ray anisotropy maps); only top-hat smoothing is offered (a gaussian
  smoothing would not give Poisson counts for the significance). Colour scales of the relative
  intensity and significance are symmetric around 0.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import healpy as hp  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from healpy.newvisufunc import projview  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter  # noqa: E402

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
COMPONENTS = (
    ("ew", r"$\rho_\mathrm{EW}$", r"towards $(l, b) = (90^\circ, 0^\circ)$"),
    ("ns", r"$\rho_\mathrm{NS}$", r"towards $b = +90^\circ$"),
    ("fb", r"$\rho_\mathrm{FB}$", r"towards $(l, b) = (0^\circ, 0^\circ)$"),
)
# Colours of the isotropic-expectation bands as in the paper's Figures 1-2 (green 68.3%, yellow 95.4%).
BAND68_COLOUR = "#3cb44b"
BAND95_COLOUR = "#ffe119"

LIMIT_BASE_COLUMNS = ("species", "threshold", "unit")
EXPECTATION_COLUMNS = ("expected_ul95_median", "expected_ul95_sys_median")
BAND_COLUMNS = ("band68_low", "band68_high", "band95_low", "band95_high")
BAND_SYS_COLUMNS = ("band68_sys_low", "band68_sys_high", "band95_sys_low", "band95_sys_high")


# ----------------------------------------------------------------------------------------------
# helpers: input checks, atomic saving, axes formatting
# ----------------------------------------------------------------------------------------------


def _as_frame(table) -> pd.DataFrame:
    if hasattr(table, "to_pandas") and not isinstance(table, pd.DataFrame):
        table = table.to_pandas()
    if not isinstance(table, pd.DataFrame):
        raise ValueError(f"results table must be a pandas DataFrame, got {type(table).__name__}")
    return table


def _require_columns(table: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{what}: results table is missing column(s) {', '.join(missing)}")


def _numeric(rows: pd.DataFrame, column: str, species: str, what: str, positive=False) -> np.ndarray:
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


def _optional_columns(rows: pd.DataFrame, columns: Sequence[str], species: str, what: str):
    """Values of optional columns: None when absent or all NaN, else checked-finite arrays."""
    if not all(c in rows.columns for c in columns):
        return None
    raw = rows[list(columns)].to_numpy(dtype=np.float64)
    if np.isnan(raw).all():
        return None
    return [_numeric(rows, c, species, what) for c in columns]


def _species_rows(table: pd.DataFrame, species: str, what: str) -> pd.DataFrame | None:
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
    _numeric(rows, "threshold", species, what, positive=True)
    rows = rows.sort_values("threshold", kind="stable")
    thresholds = rows["threshold"].to_numpy(dtype=np.float64)
    if np.any(np.diff(thresholds) == 0):
        raise ValueError(f"{what}: column threshold of {species} has duplicate values {thresholds.tolist()}")
    return rows


def _check_paths(png_path, pdf_path) -> tuple[Path, Path]:
    png_path, pdf_path = Path(png_path), Path(pdf_path)
    if png_path.resolve() == pdf_path.resolve():
        raise ValueError(f"png_path and pdf_path are the same file: {png_path}")
    return png_path, pdf_path


def _save(fig: Figure, png_path: Path, pdf_path: Path, dpi: float) -> None:
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


def _format_log_axis(axis) -> None:
    """Log axis with ticks at 1, 2, 3, 5 x 10^n labelled as plain numbers."""
    axis.set_major_locator(LogLocator(base=10.0, subs=(1.0, 2.0, 3.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    axis.set_minor_locator(LogLocator(base=10.0, subs=np.arange(1.0, 10.0)))
    axis.set_minor_formatter(NullFormatter())


def _log_limits(values: np.ndarray, pad: float) -> tuple[float, float]:
    """Axis limits enclosing positive ``values`` with a multiplicative margin ``pad`` (> 1)."""
    values = values[np.isfinite(values) & (values > 0)]
    return float(values.min() / pad), float(values.max() * pad)


# ----------------------------------------------------------------------------------------------
# Figures 1 and 2
# ----------------------------------------------------------------------------------------------


def _limit_columns(limit_column: str, bands: str) -> list[str]:
    if bands not in ("auto", "sys", "stat"):
        raise ValueError(f"bands must be 'auto', 'sys' or 'stat', got {bands!r}")
    needed = [*LIMIT_BASE_COLUMNS, limit_column, *EXPECTATION_COLUMNS]
    needed += list(BAND_SYS_COLUMNS if bands == "sys" else BAND_COLUMNS)
    return needed


def _prepare_limit_panel(rows: pd.DataFrame, species: str, limit_column: str, bands: str, what: str):
    """Checked arrays for one panel of Figure 1/2 (in percent)."""
    thresholds = rows["threshold"].to_numpy(dtype=np.float64)
    limit = _numeric(rows, limit_column, species, what, positive=True)
    median_stat = _numeric(rows, "expected_ul95_median", species, what, positive=True)
    sys_median = _optional_columns(rows, ["expected_ul95_sys_median"], species, what)
    sys_bands = None if bands == "stat" else _optional_columns(rows, BAND_SYS_COLUMNS, species, what)
    if bands == "sys" and sys_bands is None:
        raise ValueError(
            f"{what}: bands='sys' but the band columns with systematics of {species} are absent or all NaN"
        )
    if sys_bands is not None:
        band_values, band_kind = sys_bands, "sys"
    else:
        band_values = [_numeric(rows, c, species, what) for c in BAND_COLUMNS]
        band_kind = "stat"
    b68_lo, b68_hi, b95_lo, b95_hi = band_values
    nested = (b95_lo <= b68_lo) & (b68_lo <= b68_hi) & (b68_hi <= b95_hi)
    if not nested.all():
        raise ValueError(
            f"{what}: isotropic bands of {species} are not nested (need band95_low <= band68_low <= "
            f"band68_high <= band95_high)"
        )
    return {
        "thresholds": thresholds,
        "limit": 100.0 * limit,
        "median_stat": 100.0 * median_stat,
        "median_sys": None if sys_median is None else 100.0 * sys_median[0],
        "bands": [100.0 * b for b in band_values],
        "band_kind": band_kind,
    }


def _draw_limit_panel(ax, panel, species: str, label: str, limit_column: str, published=None) -> None:
    thresholds = panel["thresholds"]
    b68_lo, b68_hi, b95_lo, b95_hi = panel["bands"]
    # bands: log axes, so clip zero lower edges to a small positive value for drawing
    floor = 0.5 * min(np.min(panel["limit"]), np.min(panel["median_stat"]))
    ax.fill_between(thresholds, np.maximum(b95_lo, floor), b95_hi, color=BAND95_COLOUR, lw=0, zorder=1)
    ax.fill_between(thresholds, np.maximum(b68_lo, floor), b68_hi, color=BAND68_COLOUR, lw=0, zorder=2)
    if panel["median_sys"] is not None:
        ax.plot(thresholds, panel["median_sys"], "-", color="black", lw=1.4, zorder=3, gid="expected_sys")
    ax.plot(thresholds, panel["median_stat"], "--", color="black", lw=1.4, zorder=3, gid="expected_stat")
    ax.plot(
        thresholds, panel["limit"], "o", color="black", ms=6, zorder=4, gid=limit_column,
        label="95% C.I. upper limit",
    )
    marks = [(t, 100.0 * v) for t, v in (published or {}).get(species, [])]
    if marks:  # the paper's own limits (paper_results.PAPER_LIMITS), in percent like the panel
        ax.plot([m[0] for m in marks], [m[1] for m in marks], "*", color="tab:red", ms=13, zorder=5,
                gid="paper_limit", label="AMS-02, TAUP 2019")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(*_log_limits(thresholds, 1.25))
    all_y = np.concatenate([panel["limit"], b95_hi, np.maximum(b95_lo, floor), panel["median_stat"],
                            [m[1] for m in marks]])
    ax.set_ylim(*_log_limits(all_y, 1.35))
    _format_log_axis(ax.xaxis)
    _format_log_axis(ax.yaxis)
    ax.set_xlabel(THRESHOLD_LABELS[SPECIES_UNITS[species]])
    ax.set_ylabel(r"Dipole amplitude $\delta$ (%)")
    ax.set_title(f"{SPECIES_TITLES[species]}, {label}")
    ax.grid(True, which="major", color="0.85", lw=0.6, zorder=0)
    ax.tick_params(which="both", direction="in", top=True, right=True)


def _empty_panel(ax, species: str, label: str) -> None:
    ax.set_title(f"{SPECIES_TITLES[species]}, {label}")
    ax.text(0.5, 0.5, f"no {species} results in this run", ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def _limits_figure(
    table, species_list, nrows, ncols, figsize, png_path, pdf_path, label, limit_column, bands, dpi, what,
    published=None,
) -> Figure:
    table = _as_frame(table)
    png_path, pdf_path = _check_paths(png_path, pdf_path)
    _require_columns(table, _limit_columns(limit_column, bands), what)
    panels = {}
    for species in species_list:
        rows = _species_rows(table, species, what)
        if rows is not None:
            panels[species] = _prepare_limit_panel(rows, species, limit_column, bands, what)
    if not panels:
        raise ValueError(f"{what}: results table has no rows for any of {', '.join(species_list)}")

    fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, species in zip(axes, species_list, strict=True):
        if species in panels:
            _draw_limit_panel(ax, panels[species], species, label, limit_column, published)
        else:
            _empty_panel(ax, species, label)

    kinds = {p["band_kind"] for p in panels.values()}
    band_text = {"sys": "stat. + syst.", "stat": "stat. only"}.get(
        "".join(sorted(kinds)), "stat. + syst. where available"
    )
    limit_text = "95% C.I. upper limit" + (" (with syst.)" if limit_column.endswith("_sys") else "")
    handles = [Line2D([], [], ls="", marker="o", color="black", label=limit_text)]
    if published:
        handles.append(Line2D([], [], ls="", marker="*", ms=11, color="tab:red", label="AMS-02 limit (TAUP 2019)"))
    if any(p["median_sys"] is not None for p in panels.values()):
        handles.append(
            Line2D([], [], ls="-", color="black", label="isotropic expectation (median), stat. + syst.")
        )
    handles += [
        Line2D([], [], ls="--", color="black", label="isotropic expectation (median), stat. only"),
        Patch(color=BAND68_COLOUR, label=f"68.3% band of isotropic expectation ({band_text})"),
        Patch(color=BAND95_COLOUR, label=f"95.4% band of isotropic expectation ({band_text})"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=3, frameon=False, fontsize="small")
    _save(fig, png_path, pdf_path, dpi)
    return fig


def figure1_electrons_positrons(
    table,
    png_path,
    pdf_path,
    label: str = "simulation",
    limit_column: str = "delta_ul95",
    bands: str = "auto",
    dpi: float = 150.0,
    published=None,
) -> Figure:
    """The paper's Figure 1: 95% C.I. upper limits on the dipole amplitude of e+ (left) and e- (right).

    Parameters
    ----------
    table : pandas.DataFrame
        Results table (``dipole_limits.csv``): needs ``species, threshold`` (minimum ECAL energy,
        GeV), ``unit`` (``"GeV"``), ``limit_column``, ``expected_ul95_median``,
        ``expected_ul95_sys_median`` (may be all NaN: the solid line is then omitted) and the band
        columns (``band68_low ... band95_high``; ``band68_sys_low ...`` used when present). Limits,
        medians and bands are fractions (0.01 = 1%); they are drawn in percent.
    png_path, pdf_path : path-like
        Output files (written atomically; folders are created).
    label : str
        Shown in the panel titles, e.g. ``"simulation"`` or ``"data"``.
    limit_column : str
        Column drawn as dots: ``"delta_ul95"`` (statistics) or ``"delta_ul95_sys"``.
    bands : {"auto", "sys", "stat"}
        Which isotropic bands to draw: with systematics if their columns are present and filled
        (``auto``), always with systematics (``sys``, error if absent) or statistics only (``stat``).
    dpi : float
        Resolution of the PNG (dots per inch).
    published : dict {species: [(threshold, limit), ...]}, optional
        The paper's own limits (fractions) to mark as red stars (``paper_results.published_limits``).

    Returns
    -------
    matplotlib.figure.Figure
        The figure (the dots are the ``Line2D`` with ``gid == limit_column``, y in percent).

    Raises
    ------
    ValueError
        Missing column, non-finite or non-positive limit/threshold, wrong unit, duplicate threshold,
        non-nested bands, or no e+/e- rows at all. A species without rows gets a labelled empty panel.
    """
    return _limits_figure(
        table, ("positron", "electron"), 1, 2, (10.0, 4.6), png_path, pdf_path, label, limit_column,
        bands, dpi, "figure1_electrons_positrons", published,
    )


def figure2_nuclei(
    table,
    png_path,
    pdf_path,
    label: str = "simulation",
    limit_column: str = "delta_ul95",
    bands: str = "auto",
    dpi: float = 150.0,
    published=None,
) -> Figure:
    """The paper's Figure 2: 95% C.I. upper limits for p (upper left), He, C, O (lower right) vs R_min (GV).

    Same parameters, drawing and errors as :func:`figure1_electrons_positrons`; the thresholds are
    minimum rigidities in GV (``unit == "GV"``).
    """
    return _limits_figure(
        table, ("proton", "helium", "carbon", "oxygen"), 2, 2, (10.0, 8.4), png_path, pdf_path, label,
        limit_column, bands, dpi, "figure2_nuclei", published,
    )


# ----------------------------------------------------------------------------------------------
# dipole components vs threshold
# ----------------------------------------------------------------------------------------------


def components_vs_threshold(
    table,
    species: str,
    png_path,
    pdf_path,
    label: str = "simulation",
    dpi: float = 150.0,
) -> Figure:
    """rho_EW, rho_NS, rho_FB (percent) with 1-sigma error bars vs threshold, one panel per component.

    Parameters
    ----------
    table : pandas.DataFrame
        Results table: needs ``species, threshold, unit``, ``rho_{ew,ns,fb}``, ``sigma_{ew,ns,fb}``
        (fractions) and the isotropic component bands ``{ew,ns,fb}_band68_low/high`` and
        ``{ew,ns,fb}_band95_low/high`` (quantiles of the fitted component over isotropic
        pseudo-skies, fractions). Optional ``sys_{ew,ns,fb}``: a thinner error bar with statistics
        and systematics added in quadrature.
    species : str
        One of electron, positron, proton, helium, carbon, oxygen.
    png_path, pdf_path : path-like
        Output files (atomic).
    label : str
        ``"simulation"`` or ``"data"``, shown in the title.
    dpi : float
        PNG resolution (dots per inch).

    Returns
    -------
    matplotlib.figure.Figure
        Each component's points are the ``Line2D`` with ``gid == "rho_<c>"`` (y in percent), its
        statistical error bars the ``LineCollection`` with ``gid == "sigma_<c>"``.
    """
    what = "components_vs_threshold"
    table = _as_frame(table)
    png_path, pdf_path = _check_paths(png_path, pdf_path)
    if species not in SPECIES_UNITS:
        raise ValueError(f"{what}: unknown species {species!r}; known: {', '.join(SPECIES_UNITS)}")
    needed = [*LIMIT_BASE_COLUMNS]
    for c, _, _ in COMPONENTS:
        needed += [f"rho_{c}", f"sigma_{c}"]
        needed += [f"{c}_band68_low", f"{c}_band68_high", f"{c}_band95_low", f"{c}_band95_high"]
    _require_columns(table, needed, what)
    rows = _species_rows(table, species, what)
    if rows is None:
        raise ValueError(f"{what}: results table has no rows for species {species}")
    thresholds = rows["threshold"].to_numpy(dtype=np.float64)
    data = {}
    for c, _, _ in COMPONENTS:
        rho = _numeric(rows, f"rho_{c}", species, what)
        sigma = _numeric(rows, f"sigma_{c}", species, what)
        if np.any(sigma < 0):
            raise ValueError(f"{what}: column sigma_{c} of {species} has negative values")
        bands = [_numeric(rows, f"{c}_{b}", species, what) for b in ("band68_low", "band68_high",
                                                                       "band95_low", "band95_high")]
        sys = _optional_columns(rows, [f"sys_{c}"], species, what)
        data[c] = (rho, sigma, bands, None if sys is None else np.abs(sys[0]))

    fig = Figure(figsize=(13.0, 4.3), layout="constrained")
    axes = fig.subplots(1, 3, sharey=True)
    x_limits = _log_limits(thresholds, 1.25)
    for ax, (c, symbol, direction) in zip(axes, COMPONENTS, strict=True):
        rho, sigma, (b68_lo, b68_hi, b95_lo, b95_hi), sys = data[c]
        ax.fill_between(thresholds, 100 * b95_lo, 100 * b95_hi, color=BAND95_COLOUR, lw=0, zorder=1)
        ax.fill_between(thresholds, 100 * b68_lo, 100 * b68_hi, color=BAND68_COLOUR, lw=0, zorder=2)
        ax.axhline(0.0, color="0.4", lw=0.8, zorder=2)
        if sys is not None:
            ax.errorbar(thresholds, 100 * rho, yerr=100 * np.hypot(sigma, sys), fmt="none",
                        ecolor="0.45", elinewidth=0.8, capsize=4, zorder=3)
        container = ax.errorbar(thresholds, 100 * rho, yerr=100 * sigma, fmt="o", color="black",
                                ms=5, elinewidth=1.3, capsize=0, zorder=4)
        container.lines[0].set_gid(f"rho_{c}")
        container.lines[2][0].set_gid(f"sigma_{c}")
        ax.set_xscale("log")
        ax.set_xlim(*x_limits)
        _format_log_axis(ax.xaxis)
        ax.set_xlabel(THRESHOLD_LABELS[SPECIES_UNITS[species]])
        ax.set_title(f"{symbol} ({direction})")
        ax.grid(True, which="major", color="0.85", lw=0.6, zorder=0)
        ax.tick_params(which="both", direction="in", top=True, right=True)
    axes[0].set_ylabel("Dipole component (%)")
    fig.suptitle(f"{SPECIES_TITLES[species]}: dipole components, {label}")
    handles = [
        Line2D([], [], ls="", marker="o", color="black", label=r"fitted component $\pm 1\sigma$ (stat.)"),
    ]
    if any(d[3] is not None for d in data.values()):
        handles.append(Line2D([], [], color="0.45", lw=0.8, label=r"$\pm 1\sigma$ (stat. $\oplus$ syst.)"))
    handles += [
        Patch(color=BAND68_COLOUR, label="68.3% of isotropic skies"),
        Patch(color=BAND95_COLOUR, label="95.4% of isotropic skies"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False,
               fontsize="small")
    _save(fig, png_path, pdf_path, dpi)
    return fig


# ----------------------------------------------------------------------------------------------
# sky maps
# ----------------------------------------------------------------------------------------------


def tophat_sum(values, radius_deg: float, block_pairs: int = 4_000_000) -> np.ndarray:
    """Sum of a HEALPix (RING) map over all pixels whose centres lie within ``radius_deg`` of each pixel.

    Parameters
    ----------
    values : array (npix,)
        Map to integrate (e.g. counts or reference counts per pixel).
    radius_deg : float
        Top-hat radius in degrees, 0 < radius <= 180.
    block_pairs : int
        Memory bound: approximate number of (pixel, neighbour) pairs handled per block.

    Returns
    -------
    numpy.ndarray (npix,) float64
    """
    from scipy.spatial import cKDTree

    values = np.asarray(values, dtype=np.float64)
    npix = values.size
    if not hp.isnpixok(npix):
        raise ValueError(f"tophat_sum: {npix} is not a valid HEALPix number of pixels")
    if not (0.0 < radius_deg <= 180.0):
        raise ValueError(f"tophat_sum: radius_deg must be in (0, 180], got {radius_deg}")
    nside = hp.npix2nside(npix)
    vectors = np.column_stack(hp.pix2vec(nside, np.arange(npix)))
    chord = 2.0 * np.sin(np.radians(radius_deg) / 2.0)
    neighbours_per_pixel = max(1.0, npix * (1.0 - np.cos(np.radians(radius_deg))) / 2.0)
    block = int(max(1, min(npix, block_pairs // neighbours_per_pixel)))
    tree = cKDTree(vectors)
    result = np.empty(npix)
    for start in range(0, npix, block):  # blocks of pixels, bounded memory
        stop = min(npix, start + block)
        pairs = cKDTree(vectors[start:stop]).sparse_distance_matrix(tree, chord, output_type="ndarray")
        # the pairs include each pixel with itself (distance 0)
        result[start:stop] = np.bincount(pairs["i"], weights=values[pairs["j"]], minlength=stop - start)
    return result


def significance_map(counts, expected, alpha: float | None = None) -> np.ndarray:
    """Signed Poisson significance of ``counts`` against ``expected`` (per pixel or top-hat sums).

    ``alpha=None``: known expectation, S = sign(C - M) sqrt(2 [C ln(C/M) - (C - M)]) (Li & Ma 1983
    eq. 17 in the limit alpha -> 0). With ``alpha`` (on/off exposure ratio, e.g. 1/number of
    shuffles), the full Li & Ma eq. 17 with N_on = C and N_off = M / alpha. NaN where M <= 0.
    """
    counts = np.asarray(counts, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    out = np.full(counts.shape, np.nan)
    good = expected > 0
    c, m = counts[good], expected[good]
    with np.errstate(divide="ignore", invalid="ignore"):
        if alpha is None:
            c_log = np.where(c > 0, c * np.log(np.where(c > 0, c, 1.0) / m), 0.0)
            ts = 2.0 * (c_log - (c - m))
        else:
            if not alpha > 0:
                raise ValueError(f"significance_map: alpha must be > 0, got {alpha}")
            n_off = m / alpha
            total = c + n_off
            on_term = np.where(c > 0, c * np.log((1 + alpha) / alpha * c / total), 0.0)
            off_term = np.where(n_off > 0, n_off * np.log((1 + alpha) * n_off / total), 0.0)
            ts = 2.0 * (on_term + off_term)
    out[good] = np.sign(c - m) * np.sqrt(np.maximum(ts, 0.0))
    return out


def _check_map(values, name: str, npix: int | None = None) -> np.ndarray:
    values = np.asarray(values)
    if values.ndim != 1 or not hp.isnpixok(values.size):
        raise ValueError(f"sky_maps: {name} must be a 1-d HEALPix map, got shape {values.shape}")
    if npix is not None and values.size != npix:
        raise ValueError(f"sky_maps: {name} has {values.size} pixels, counts has {npix}")
    values = values.astype(np.float64)
    if not np.all(np.isfinite(values)):
        raise ValueError(f"sky_maps: {name} has {int((~np.isfinite(values)).sum())} non-finite pixel(s)")
    if np.any(values < 0):
        raise ValueError(f"sky_maps: {name} has {int((values < 0).sum())} negative pixel(s)")
    return values


def _colourbar_ticks(lo: float, hi: float) -> np.ndarray:
    """Round-number colour-bar ticks inside [lo, hi] (the ends included when few ticks fit)."""
    ticks = MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi)
    ticks = ticks[(ticks >= lo - 1e-9 * abs(hi - lo)) & (ticks <= hi + 1e-9 * abs(hi - lo))]
    return ticks if ticks.size >= 3 else np.linspace(lo, hi, 3)


def _symmetric_limit(values: np.ndarray, floor: float, percentile: float) -> float:
    finite = np.abs(values[np.isfinite(values)])
    if finite.size == 0:
        return floor
    return float(max(floor, np.percentile(finite, percentile)))


def relative_intensity_and_significance(
    counts, reference, mask=None, smoothing_deg: float | None = None, alpha: float | None = None
) -> dict[str, np.ndarray]:
    """The derived maps drawn by :func:`sky_maps` (same parameters), checked and computed.

    Returns a dict of float64 arrays (npix,): ``counts``, ``reference`` (as given),
    ``used`` (bool), ``counts_sum`` and ``reference_sum`` (per pixel or top-hat sums over used
    pixels), ``relative_intensity`` = counts_sum / reference_sum - 1 (fraction, NaN where unused)
    and ``significance`` (signed, in sigma, NaN where unused).
    """
    counts = _check_map(counts, "counts")
    npix = counts.size
    reference = _check_map(reference, "reference", npix)
    if mask is None:
        used = reference > 0
    else:
        mask = np.asarray(mask)
        if mask.dtype != bool:
            raise ValueError(
                f"sky_maps: mask must be a boolean array (True = pixel used), got dtype {mask.dtype}"
            )
        if mask.shape != (npix,):
            raise ValueError(f"sky_maps: mask has shape {mask.shape}, counts has {npix} pixels")
        used = mask & (reference > 0)
    if not used.any():
        raise ValueError("sky_maps: no pixel is used (mask all False or reference all zero)")
    if smoothing_deg is not None and not (0.0 < smoothing_deg <= 180.0):
        raise ValueError(f"sky_maps: smoothing_deg must be in (0, 180] degrees or None, got {smoothing_deg}")
    if alpha is not None and not (np.isfinite(alpha) and alpha > 0):
        raise ValueError(f"sky_maps: alpha must be a finite number > 0 or None, got {alpha}")

    counts_used = np.where(used, counts, 0.0)
    reference_used = np.where(used, reference, 0.0)
    if smoothing_deg is None:
        counts_sum, reference_sum = counts_used, reference_used
    else:
        counts_sum = tophat_sum(counts_used, smoothing_deg)
        reference_sum = tophat_sum(reference_used, smoothing_deg)
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.where(used & (reference_sum > 0), counts_sum / reference_sum - 1.0, np.nan)
    significance = np.where(used, significance_map(counts_sum, reference_sum, alpha), np.nan)
    return {
        "counts": counts,
        "reference": reference,
        "used": used,
        "counts_sum": counts_sum,
        "reference_sum": reference_sum,
        "relative_intensity": relative,
        "significance": significance,
    }


def sky_maps(
    counts,
    reference,
    png_path,
    pdf_path,
    title: str,
    mask=None,
    smoothing_deg: float | None = None,
    alpha: float | None = None,
    dpi: float = 120.0,
    xsize: int = 800,
) -> Figure:
    """Four Mollweide maps in galactic coordinates: counts, reference, relative intensity, significance.

    Parameters
    ----------
    counts : array (npix,)
        Observed events per HEALPix pixel (RING ordering, galactic).
    reference : array (npix,)
        Expected events per pixel for an isotropic sky (the reference map, normalised to the counts
        as the ``reference`` module does; drawn as given).
    png_path, pdf_path : path-like
        Output files (atomic).
    title : str
        Figure title (species, threshold, run label).
    mask : bool array (npix,), optional
        True where the pixel is used (e.g. enough exposure); other pixels are grey in the relative
        intensity and significance maps and are left out of the top-hat sums. Default: all pixels
        with reference > 0.
    smoothing_deg : float, optional
        Top-hat radius (degrees) for relative intensity and significance; None = per pixel.
    alpha : float, optional
        On/off exposure ratio for the Li & Ma significance (e.g. 1/n_shuffles for a shuffled
        reference); None = the reference is taken as a known expectation.
    dpi : float
        PNG resolution (dots per inch).
    xsize : int
        Number of longitude samples of each projected map (image resolution).

    Returns
    -------
    matplotlib.figure.Figure
    """
    layers = relative_intensity_and_significance(counts, reference, mask, smoothing_deg, alpha)
    png_path, pdf_path = _check_paths(png_path, pdf_path)
    counts, reference = layers["counts"], layers["reference"]
    relative, significance = layers["relative_intensity"], layers["significance"]
    npix = counts.size
    smoothing_text = "per pixel" if smoothing_deg is None else f"top-hat radius {smoothing_deg:g}°"

    relative_pct = 100.0 * relative
    rel_max = _symmetric_limit(relative_pct, 1e-3, 99.5)
    sig_max = _symmetric_limit(significance, 3.0, 100.0)
    nside = hp.npix2nside(npix)
    pixel_area_deg2 = hp.nside2pixarea(nside, degrees=True)
    panels = [
        (counts, f"Counts (Nside {nside}, {pixel_area_deg2:.2f} deg² pixels)", "events / pixel",
         "viridis", None, None),
        (reference, "Reference (isotropic expectation)", "expected events / pixel", "viridis", None, None),
        (relative_pct, f"Relative intensity C/M - 1 ({smoothing_text})", "%", "RdBu_r", -rel_max, rel_max),
        (significance, f"Significance ({smoothing_text})", r"$\sigma$", "RdBu_r", -sig_max, sig_max),
    ]
    fig = plt.figure(figsize=(12.0, 7.6))
    try:
        for i, (values, panel_title, unit, cmap, vmin, vmax) in enumerate(panels):
            shown = np.where(np.isfinite(values), values, hp.UNSEEN)
            finite = values[np.isfinite(values)]
            lo = float(finite.min()) if vmin is None else vmin
            hi = float(finite.max()) if vmax is None else vmax
            if hi <= lo:
                hi = lo + 1.0
            ticks = _colourbar_ticks(lo, hi)
            projview(
                shown, fig=fig.number, sub=(2, 2, i + 1), coord=["G"], graticule=True,
                graticule_labels=True, unit=unit, title=panel_title, cmap=cmap, min=lo, max=hi,
                cbar_ticks=ticks, format="%.3g", xsize=xsize, fontsize={"title": 11, "cbar_label": 10,
                                                                        "cbar_tick_label": 9,
                                                                        "xtick_label": 8, "ytick_label": 8},
                longitude_grid_spacing=60, latitude_grid_spacing=30,
            )
        # projview lays each panel out for a full figure: leave room for the title between rows
        fig.subplots_adjust(top=0.89, bottom=0.03, hspace=0.32)
        fig.suptitle(f"{title}\n(galactic coordinates, Mollweide, longitude increasing to the left)",
                     fontsize=12)
        _save(fig, png_path, pdf_path, dpi)
    finally:
        plt.close(fig)
    return fig
