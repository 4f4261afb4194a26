"""Reference-map variants: what each one changes, for the systematics budget.

Every variant is the nominal data-driven reference with one ingredient changed; the spread of the fitted
dipole between the variants of a group is a systematic uncertainty (config ``limits.systematics_groups``).

| variant | changes | group (default config) |
|---|---|---|
| ``nominal`` | nothing | |
| ``cutoff<f>`` | the selection's cutoff factor (1.0 and 1.4 around 1.2): its own counts and histograms | cutoff |
| ``noeff`` | no efficiency correction (a diagnostic of the spurious dipole the paper warns of) | none |
| ``shuffle`` | event shuffling instead of the exposure integration (absorbs a real dipole: reported only) | none |
| ``effcutoff`` | efficiency binned in the field-of-view cutoff instead of the trigger rate | efficiency model |
| ``efffine`` | efficiency in twice as many trigger-rate bins (each bin split at its middle) | efficiency model |
| ``efftime`` | efficiency per nominal trigger-rate bin and time block (days: config key below) | efficiency model |
| ``accband`` | acceptance and exposure at half the band limit (lmax / 2, kmax / 2) | acceptance |
| ``cadence2`` | every second timeline interval with twice its weight (2x coarser sampling) | exposure integration |

The histograms of the efficiency variables are written by the binning at the refined edges (every
nominal bin split at its middle, :func:`refined_edges`), so the nominal and ``efffine`` bins are both
sums of them (:func:`merged_histogram`). ``efftime`` also reads the binning's events per time block
(``reference.efficiency_time_block_days``) and refined trigger-rate bin (``efficiency_time.csv``,
:class:`efficiency_time.TimeBlockHistogram`, written only when a variant needs it:
:func:`needs_time_histogram`); its model, fallbacks and cost are in :mod:`ams_anisotropy.efficiency_time`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .efficiency_time import check_block_days

# efficiency variables: histogram column of the selected events -> timeline variable of exposure_weights
HISTOGRAM_VARIABLES = {"trigger_rate_hz": "trigger_rate_hz", "cutoff_max_gv": "cutoff"}
INTEGRATED_VARIANTS = ("nominal", "noeff", "effcutoff", "efffine", "efftime", "accband", "cadence2")
TIME_VARIANTS = ("efftime",)  # the variants that read the events per time block


@dataclass(frozen=True)
class VariantSpec:
    """How to build one variant: cutoff_factor; histogram_variable (None: no efficiency correction);
    efficiency_edges; lmax, kmax; interval_stride (1 = every interval); shuffle (event shuffling);
    time_block_days: the efficiency's time blocks, days (None: one efficiency for the whole period)."""

    cutoff_factor: float
    histogram_variable: str | None
    efficiency_edges: tuple
    lmax: int
    kmax: int
    interval_stride: int = 1
    shuffle: bool = False
    time_block_days: float | None = None


def refined_edges(edges) -> np.ndarray:
    """The edges with every bin split at its middle (the binning's histogram edges)."""
    edges = np.asarray(edges, dtype=np.float64)
    if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
        raise ValueError(f"efficiency edges must be strictly increasing (>= 2 values), got {edges}")
    middles = 0.5 * (edges[1:] + edges[:-1])
    return np.sort(np.concatenate([edges, middles]))


def variant_spec(variant: str, reference_config: dict, nominal_cutoff_factor: float) -> VariantSpec:
    """The recipe of ``variant`` from the config's ``reference`` section (see the module table)."""
    cfg = reference_config
    if variant == "shuffle":  # needs none of the integration keys
        return VariantSpec(float(nominal_cutoff_factor), None, (), 0, 0, shuffle=True)
    base = dict(cutoff_factor=float(nominal_cutoff_factor), histogram_variable=cfg["efficiency_variable"],
                efficiency_edges=tuple(cfg["efficiency_edges"]), lmax=int(cfg["lmax"]), kmax=int(cfg["kmax"]))
    if variant == "nominal":
        return VariantSpec(**base)
    if variant.startswith("cutoff") and variant != "cutoff":
        try:
            factor = float(variant[len("cutoff"):])
        except ValueError:
            raise ValueError(f"reference variant {variant!r}: 'cutoff' must be followed by a number") from None
        return VariantSpec(**{**base, "cutoff_factor": factor})
    if variant == "noeff":
        return VariantSpec(**{**base, "histogram_variable": None})
    if variant == "effcutoff":
        return VariantSpec(**{**base, "histogram_variable": "cutoff_max_gv",
                              "efficiency_edges": tuple(cfg["efficiency_cutoff_edges_gv"])})
    if variant == "efffine":
        return VariantSpec(**{**base, "efficiency_edges": tuple(refined_edges(cfg["efficiency_edges"]))})
    if variant == "efftime":
        if cfg["efficiency_variable"] != "trigger_rate_hz":
            raise ValueError("reference variant 'efftime' bins the trigger rate in time: it needs "
                             f"reference.efficiency_variable 'trigger_rate_hz', got {cfg['efficiency_variable']!r}")
        return VariantSpec(**base, time_block_days=check_block_days(cfg.get("efficiency_time_block_days")))
    if variant == "accband":
        return VariantSpec(**{**base, "lmax": base["lmax"] // 2, "kmax": base["kmax"] // 2})
    if variant == "cadence2":
        return VariantSpec(**base, interval_stride=2)
    raise ValueError(f"unknown reference variant {variant!r} (known: {', '.join(INTEGRATED_VARIANTS)}, "
                     "shuffle, cutoff<factor>)")


def needs_time_histogram(variants) -> bool:
    """Whether one of ``variants`` reads the binning's events per time block."""
    return any(v in TIME_VARIANTS for v in variants)


def histogram_edges(reference_config: dict) -> dict:
    """{event column: refined edges} the binning writes, so that every variant's bins are sums of them."""
    return {"trigger_rate_hz": refined_edges(reference_config["efficiency_edges"]),
            "cutoff_max_gv": refined_edges(reference_config["efficiency_cutoff_edges_gv"])}


def merged_histogram(table: pd.DataFrame, variable: str, edges, labels, path: str = "<efficiency table>"):
    """Events per threshold in the bins of ``edges`` (+ underflow, overflow), (n_thr, len(edges) + 1),
    summed from the binning's finer histogram of ``variable`` (``binning.MapAccumulator.histogram_table``).

    Raises ValueError naming ``path`` if the table lacks the variable or an edge is not one of its edges.
    """
    rows = table[table["variable"] == variable]
    if rows.empty:
        raise ValueError(f"{path}: no histogram of {variable!r} (re-run bin_events with this variable)")
    missing = [label for label in labels if label not in rows.columns]
    if missing:
        raise ValueError(f"{path}: missing threshold column(s) {', '.join(missing)}")
    fine_edges = rows["bin_high"].to_numpy(dtype=np.float64)[:-1]  # the finite edges, in order
    edges = np.asarray(edges, dtype=np.float64)
    position = np.searchsorted(fine_edges, edges)
    inside = position < fine_edges.size
    if not np.all(inside) or not np.allclose(fine_edges[np.minimum(position, fine_edges.size - 1)], edges,
                                             rtol=0, atol=1e-9 * np.abs(edges).max()):
        raise ValueError(f"{path}: the {variable} edges {edges.tolist()} are not a subset of the histogram's "
                         f"{fine_edges.tolist()}")
    # fine bin i (0 = underflow) lies in coarse bin searchsorted(edges, its lower edge, 'right')
    fine_low = np.concatenate([[-np.inf], fine_edges])
    coarse_index = np.searchsorted(edges, fine_low, side="right")
    counts = rows[list(labels)].to_numpy(dtype=np.float64).T  # (n_thr, n_fine)
    out = np.zeros((counts.shape[0], edges.size + 1))
    for i, index in enumerate(coarse_index):  # a few tens of bins
        out[:, index] += counts[:, i]
    return out
