"""Figures of the statistical validation (docs/validation.md): injection and recovery with the Rice bias,
the pull histograms, and |rho|/sigma of the isotropic experiments against the chi distribution (3 dof)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats  # noqa: E402

from .validation import COMPONENTS  # noqa: E402
from .validation_stats import mahalanobis, pulls, rice_mean  # noqa: E402

MARKERS = ("o", "s", "^", "D", "v")
NAMES = {"fb": "FB", "ew": "EW", "ns": "NS"}


def _save(fig, path) -> None:
    from .io import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


def injection_recovery_figure(table: pd.DataFrame, path, label: str = "") -> None:
    """Per species: mean recovered |rho| / sigma against the injected amplitude with the 3-d Rice
    expectation (left), the recovered fraction along the injected axis (right)."""
    species = list(dict.fromkeys(table["species"]))
    fig, axes = plt.subplots(len(species), 2, figsize=(11, 4.2 * len(species)), squeeze=False)
    grid = np.linspace(0.0, table["amplitude_sigma"].max() * 1.05, 200)
    for row, name in zip(axes, species, strict=True):
        sub = table[table["species"] == name]
        left, right = row
        left.plot(grid, grid, color="0.6", lw=1, ls=":", label="recovered = injected")
        left.plot(grid, rice_mean(grid), color="k", lw=1.2, label="Rice expectation E|rho|/sigma (3-d)")
        for marker, (direction, part) in zip(MARKERS, sub.groupby("direction", sort=False), strict=False):
            part = part.sort_values("amplitude_sigma")
            x = part["amplitude_sigma"] + (0.0 if direction == "none" else 0.04 * MARKERS.index(marker))
            left.errorbar(x, part["mean_delta"] / part["sigma"], part["mean_delta_error"] / part["sigma"],
                          ls="none", marker=marker, ms=5, capsize=2, label=direction)
            if direction != "none":
                right.errorbar(x, part["recovered_fraction"], part["recovered_fraction_error"], ls="none",
                               marker=marker, ms=5, capsize=2, label=direction)
        right.axhline(1.0, color="k", lw=1)
        right.set_xscale("log")
        right.set_ylim(0.0, 2.0)
        left.set_xlabel("injected |rho| / sigma")
        left.set_ylabel("mean recovered |rho| / sigma")
        right.set_xlabel("injected |rho| / sigma")
        right.set_ylabel("mean (rho . axis) / |rho_true|")
        left.set_title(f"{name} {label}: amplitude (sigma = {sub['sigma'].mean():.2e})", fontsize=10)
        right.set_title(f"{name}: recovered fraction along the injected axis", fontsize=10)
        left.legend(fontsize=8)
        right.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path)


def pulls_figure(frame: pd.DataFrame, path, calibrated_scale: dict | None = None) -> None:
    """Histograms of the pulls of every component (all experiments), reported and calibrated errors."""
    species = list(dict.fromkeys(frame["species"]))
    fig, axes = plt.subplots(len(species), 3, figsize=(12, 3.6 * len(species)), squeeze=False)
    bins = np.linspace(-4.5, 4.5, 37)
    x = np.linspace(-4.5, 4.5, 300)
    for row, name in zip(axes, species, strict=True):
        sub = frame[frame["species"] == name]
        values = pulls(sub)
        calibrated = None if not calibrated_scale or name not in calibrated_scale else \
            pulls(sub, scale=calibrated_scale[name])
        for j, (ax, component) in enumerate(zip(row, COMPONENTS, strict=True)):
            rms = np.sqrt(np.mean(values[:, j] ** 2))
            ax.hist(values[:, j], bins=bins, histtype="step", lw=1.5,
                    label=f"reported errors: rms {rms:.2f} +- {rms / np.sqrt(2 * len(values)):.2f}")
            if calibrated is not None:
                rms_c = np.sqrt(np.mean(calibrated[:, j] ** 2))
                ax.hist(calibrated[:, j], bins=bins, histtype="step", lw=1.2, ls="--",
                        label=f"calibrated: rms {rms_c:.2f}")
            ax.plot(x, len(values) * (bins[1] - bins[0]) * stats.norm.pdf(x), color="k", lw=1, label="N(0, 1)")
            ax.set_xlabel(f"pull rho_{NAMES[component]}  (fit - true) / sigma")
            ax.set_title(f"{name}, {len(values)} experiments", fontsize=10)
            ax.legend(fontsize=7)
    fig.tight_layout()
    _save(fig, path)


def chi3_figure(frame: pd.DataFrame, path) -> None:
    """|rho|/sigma (Mahalanobis norm) of the isotropic experiments against the chi(3) density and CDF."""
    iso = frame[frame["kind"] == "isotropic"]
    species = list(dict.fromkeys(iso["species"]))
    fig, axes = plt.subplots(len(species), 2, figsize=(10, 3.8 * len(species)), squeeze=False)
    x = np.linspace(0.0, 5.0, 300)
    for row, name in zip(axes, species, strict=True):
        norm = mahalanobis(iso[iso["species"] == name])
        ks = stats.kstest(norm, stats.chi(3).cdf).pvalue
        row[0].hist(norm, bins=np.linspace(0, 5, 26), density=True, histtype="step", lw=1.5,
                    label=f"{len(norm)} isotropic experiments")
        row[0].plot(x, stats.chi(3).pdf(x), color="k", lw=1, label="chi, 3 dof")
        row[0].set_xlabel("|rho| / sigma  = sqrt(rho^T C^-1 rho)")
        row[0].set_title(f"{name}: KS p-value {ks:.2f}", fontsize=10)
        row[0].legend(fontsize=8)
        row[1].plot(np.sort(norm), (np.arange(norm.size) + 0.5) / norm.size, drawstyle="steps-mid", label="experiments")
        row[1].plot(x, stats.chi(3).cdf(x), color="k", lw=1, label="chi, 3 dof")
        row[1].set_xlabel("|rho| / sigma")
        row[1].set_ylabel("cumulative fraction")
        row[1].legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path)
