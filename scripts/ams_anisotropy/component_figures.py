"""Dipole components vs threshold: rho_EW, rho_NS, rho_FB of one species on their isotropic bands.

Conventions and choices (for the README): rho_EW, rho_NS, rho_FB in percent with their 1-sigma
statistical error bars (and, when ``sys_ew/sys_ns/sys_fb`` are present, a thinner bar for statistics
and systematics in quadrature), on the isotropic 68.3% / 95.4% bands of each fitted component.

Input checks, atomic PNG + PDF output and the shared style: :mod:`figure_common`.
"""

from __future__ import annotations

import numpy as np
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

COMPONENTS = (
    ("ew", r"$\rho_\mathrm{EW}$", r"towards $(l, b) = (90^\circ, 0^\circ)$"),
    ("ns", r"$\rho_\mathrm{NS}$", r"towards $b = +90^\circ$"),
    ("fb", r"$\rho_\mathrm{FB}$", r"towards $(l, b) = (0^\circ, 0^\circ)$"),
)


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
    table = as_frame(table)
    png_path, pdf_path = check_paths(png_path, pdf_path)
    if species not in SPECIES_UNITS:
        raise ValueError(f"{what}: unknown species {species!r}; known: {', '.join(SPECIES_UNITS)}")
    needed = [*LIMIT_BASE_COLUMNS]
    for c, _, _ in COMPONENTS:
        needed += [f"rho_{c}", f"sigma_{c}"]
        needed += [f"{c}_band68_low", f"{c}_band68_high", f"{c}_band95_low", f"{c}_band95_high"]
    require_columns(table, needed, what)
    rows = species_rows(table, species, what)
    if rows is None:
        raise ValueError(f"{what}: results table has no rows for species {species}")
    thresholds = rows["threshold"].to_numpy(dtype=np.float64)
    data = {}
    for c, _, _ in COMPONENTS:
        rho = numeric_column(rows, f"rho_{c}", species, what)
        sigma = numeric_column(rows, f"sigma_{c}", species, what)
        if np.any(sigma < 0):
            raise ValueError(f"{what}: column sigma_{c} of {species} has negative values")
        bands = [numeric_column(rows, f"{c}_{b}", species, what) for b in ("band68_low", "band68_high",
                                                                       "band95_low", "band95_high")]
        sys = optional_columns(rows, [f"sys_{c}"], species, what)
        data[c] = (rho, sigma, bands, None if sys is None else np.abs(sys[0]))

    fig = Figure(figsize=(13.0, 4.3), layout="constrained")
    axes = fig.subplots(1, 3, sharey=True)
    x_limits = log_limits(thresholds, 1.25)
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
        format_log_axis(ax.xaxis)
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
    save_png_and_pdf(fig, png_path, pdf_path, dpi)
    return fig
