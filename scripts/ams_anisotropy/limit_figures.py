"""The paper's Figures 1 and 2: 95% C.I. upper limits on the dipole amplitude vs threshold.

Conventions and choices (for the README): the figures follow the paper (TAUP 2019, J. Phys. Conf.
Ser. 1468 (2020) 012083, Figs. 1-2): dots = 95% C.I. upper limit on the dipole amplitude per cumulative
threshold; solid line = median of the isotropic expectation with statistics and systematics, dashed =
statistics only; green / yellow = 68.3% / 95.4% central bands of the isotropic expectation. The bands
are quantiles of the 95% limit over isotropic pseudo-skies; they surround the median *with* systematics
when the band columns with systematics are present (``band68_sys_low`` ...) and the statistics-only
median otherwise; the legend says which. Both axes are logarithmic, delta is shown in percent. Points
of one species are joined by straight lines in log-log space (the thresholds are discrete).

Input checks, atomic PNG + PDF output and the shared style: :mod:`figure_common`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from .figure_common import (
    BAND68_COLOUR,
    BAND95_COLOUR,
    LIMIT_BASE_COLUMNS,
    SPECIES_TITLES,
    SPECIES_UNITS,
    THRESHOLD_LABELS,
    as_frame,
    check_paths,
    format_log_axis,
    log_limits,
    numeric_column,
    optional_columns,
    require_columns,
    save_png_and_pdf,
    species_rows,
)

EXPECTATION_COLUMNS = ("expected_ul95_median", "expected_ul95_sys_median")
BAND_COLUMNS = ("band68_low", "band68_high", "band95_low", "band95_high")
BAND_SYS_COLUMNS = ("band68_sys_low", "band68_sys_high", "band95_sys_low", "band95_sys_high")


def _limit_columns(limit_column: str, bands: str) -> list[str]:
    if bands not in ("auto", "sys", "stat"):
        raise ValueError(f"bands must be 'auto', 'sys' or 'stat', got {bands!r}")
    needed = [*LIMIT_BASE_COLUMNS, limit_column, *EXPECTATION_COLUMNS]
    needed += list(BAND_SYS_COLUMNS if bands == "sys" else BAND_COLUMNS)
    return needed


def _prepare_limit_panel(rows: pd.DataFrame, species: str, limit_column: str, bands: str, what: str):
    """Checked arrays for one panel of Figure 1/2 (in percent)."""
    thresholds = rows["threshold"].to_numpy(dtype=np.float64)
    limit = numeric_column(rows, limit_column, species, what, positive=True)
    median_stat = numeric_column(rows, "expected_ul95_median", species, what, positive=True)
    sys_median = optional_columns(rows, ["expected_ul95_sys_median"], species, what)
    sys_bands = None if bands == "stat" else optional_columns(rows, BAND_SYS_COLUMNS, species, what)
    if bands == "sys" and sys_bands is None:
        raise ValueError(
            f"{what}: bands='sys' but the band columns with systematics of {species} are absent or all NaN"
        )
    if sys_bands is not None:
        band_values, band_kind = sys_bands, "sys"
    else:
        band_values = [numeric_column(rows, c, species, what) for c in BAND_COLUMNS]
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
    ax.set_xlim(*log_limits(thresholds, 1.25))
    all_y = np.concatenate([panel["limit"], b95_hi, np.maximum(b95_lo, floor), panel["median_stat"],
                            [m[1] for m in marks]])
    ax.set_ylim(*log_limits(all_y, 1.35))
    format_log_axis(ax.xaxis)
    format_log_axis(ax.yaxis)
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
    table = as_frame(table)
    png_path, pdf_path = check_paths(png_path, pdf_path)
    require_columns(table, _limit_columns(limit_column, bands), what)
    panels = {}
    for species in species_list:
        rows = species_rows(table, species, what)
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
    save_png_and_pdf(fig, png_path, pdf_path, dpi)
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
