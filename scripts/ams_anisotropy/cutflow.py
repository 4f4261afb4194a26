"""Cut-flow tables of the selection: Monte Carlo truth classes, merging of chunks, contamination.

Shared by :mod:`selection` (one cut-flow per species and chunk) and the binning (cut-flow rows of the
cutoff-factor variants, the species' table summed over chunks). With Monte Carlo truth, every row counts
the true signal (the species itself, primary) and each background class: other particles by name,
``albedo`` and ``poor_track`` (classified by ``mc_origin`` first).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import io

CUTFLOW_COLUMNS = ["species", "cut", "events_in", "events_out", "fraction"]
# every particle name the simulation can write in mc_particle (docs/architecture.md)
MC_PARTICLES = ("electron", "positron", "proton", "helium", "carbon", "oxygen", "boron", "nitrogen")
# mc_origin values that are a background class of their own, whatever the particle
MC_BACKGROUND_ORIGINS = ("albedo", "poor_track")
MC_PRIMARY_ORIGIN = "primary"


def passes_cutoff_factor(selected: pd.DataFrame, cutoff_factor: float) -> np.ndarray:
    """Events of a selected sample that pass ``observable > cutoff_factor x cutoff_max_gv`` (bool array).

    The selection keeps the events passing the loosest factor of the run; this applies a stricter one
    (the nominal 1.2 or a systematic variant) to that sample.
    """
    return selected["observable"].to_numpy(np.float64) > cutoff_factor * selected["cutoff_max_gv"].to_numpy(np.float64)


def _background_classes(species: str, extra_particles) -> list[str]:
    particles = [p for p in MC_PARTICLES if p != species]
    particles += sorted(p for p in extra_particles if p not in MC_PARTICLES and p != species)
    return particles + list(MC_BACKGROUND_ORIGINS)


def _truth_codes(events: pd.DataFrame, species: str, events_path: str):
    """Class code per event: 0 = signal, 1.. = background classes; and the class names.

    The strings are factorised once (a hash pass), so the cost does not grow with string compares.
    """
    particle_codes, particle_uniques = pd.factorize(events["mc_particle"], use_na_sentinel=False)
    origin_codes, origin_uniques = pd.factorize(events["mc_origin"], use_na_sentinel=False)
    particle_uniques = [str(u) for u in particle_uniques]
    origin_uniques = [str(u) for u in origin_uniques]
    known_origins = {MC_PRIMARY_ORIGIN, *MC_BACKGROUND_ORIGINS}
    unknown = sorted(set(origin_uniques) - known_origins)
    if unknown:
        raise io.InputError(
            f"{events_path}: unknown mc_origin value(s) {unknown}; known: {sorted(known_origins)}"
        )
    classes = _background_classes(species, particle_uniques)
    position = {name: i for i, name in enumerate(["signal", *classes])}
    particle_class = np.array([0 if u == species else position[u] for u in particle_uniques], dtype=np.int64)
    origin_class = np.array(
        [position[u] if u in MC_BACKGROUND_ORIGINS else -1 for u in origin_uniques], dtype=np.int64
    )
    codes = particle_class[particle_codes] if len(particle_class) else np.zeros(0, np.int64)
    if len(origin_class):
        by_origin = origin_class[origin_codes]
        codes = np.where(by_origin >= 0, by_origin, codes)
    return codes.astype(np.int64), classes


def merge_cutflows(cutflows) -> pd.DataFrame:
    """Sum per-chunk cut-flow tables, species by species.

    Parameters
    ----------
    cutflows : iterable of DataFrame
        Cut-flows from :func:`select_events` (possibly of several species, in any order). The
        tables of one species must have the same cuts in the same order.

    Returns
    -------
    DataFrame: one table per species (in order of first appearance), counts summed, ``fraction``
    recomputed; truth count columns missing from some chunks count as zero.
    Raises ValueError when the cut lists of one species differ or the list is empty.
    """
    cutflows = [c for c in cutflows]
    if not cutflows:
        raise ValueError("merge_cutflows: no cut-flow table given")
    for i, table in enumerate(cutflows):
        missing = [c for c in CUTFLOW_COLUMNS if c not in table.columns]
        if missing:
            raise ValueError(f"merge_cutflows: table {i} lacks column(s) {', '.join(missing)}")
    species_order = list(dict.fromkeys(s for t in cutflows for s in t["species"].unique()))
    merged = []
    for species in species_order:
        parts = [t[t["species"] == species].reset_index(drop=True) for t in cutflows]
        parts = [p for p in parts if len(p)]
        cuts = list(parts[0]["cut"])
        for p in parts[1:]:
            if list(p["cut"]) != cuts:
                raise ValueError(
                    f"merge_cutflows: the cut lists of species {species} differ between chunks "
                    f"({cuts} vs {list(p['cut'])})"
                )
        count_columns = list(
            dict.fromkeys(c for p in parts for c in p.columns if c.endswith("_out") or c == "events_in")
        )
        total = pd.DataFrame({"species": species, "cut": cuts})
        for name in count_columns:
            total[name] = sum(
                (p[name].to_numpy(np.int64) if name in p.columns else np.zeros(len(cuts), np.int64))
                for p in parts
            )
        events_in = total["events_in"].to_numpy(np.float64)
        fraction = np.full(len(cuts), np.nan)
        np.divide(total["events_out"].to_numpy(np.float64), events_in, out=fraction, where=events_in > 0)
        total["fraction"] = fraction
        ordered = CUTFLOW_COLUMNS + [c for c in count_columns if c not in CUTFLOW_COLUMNS]
        merged.append(total[ordered])
    return pd.concat(merged, ignore_index=True)


def contamination(table: pd.DataFrame, species: str | None = None) -> pd.Series:
    """Background fractions of the final sample, from Monte Carlo truth.

    Parameters
    ----------
    table : DataFrame
        Either a cut-flow (last row of the species = final sample) or a selected-events frame with
        ``mc_particle`` and ``mc_origin``.
    species : str or None
        The species selected; required for a selected-events frame, optional for a single-species
        cut-flow.

    Returns
    -------
    Series indexed by ``total`` and each background class (``proton``, ``albedo``, ...): the
    number of background events of that class divided by the number of selected events (NaN for
    an empty sample). Raises ValueError when the table carries no truth.
    """
    if "cut" in table.columns:
        if "signal_out" not in table.columns:
            raise ValueError("contamination: the cut-flow has no Monte Carlo truth columns")
        if species is None:
            names = table["species"].unique()
            if len(names) != 1:
                raise ValueError(f"contamination: the cut-flow holds several species {list(names)}; name one")
            species = names[0]
        rows = table[table["species"] == species]
        if rows.empty:
            raise ValueError(f"contamination: species {species} not in the cut-flow")
        last = rows.iloc[-1]
        n = int(last["events_out"])
        total = int(last["background_out"])
        counts = {
            c[len("background_") : -len("_out")]: int(last[c])
            for c in table.columns
            if c.startswith("background_")
            and c.endswith("_out")
            and c != "background_out"
            and not pd.isna(last[c])
        }
    else:
        if species is None:
            raise ValueError("contamination: give the species of a selected-events frame")
        if not all(c in table.columns for c in ("mc_particle", "mc_origin")):
            raise ValueError("contamination: the selected events have no mc_particle / mc_origin columns")
        n = len(table)
        codes, classes = _truth_codes(table, species, "<selected>")
        per_class = np.bincount(codes, minlength=len(classes) + 1)
        total = int(per_class[1:].sum())
        counts = {cls: int(per_class[i]) for i, cls in enumerate(classes, start=1)}
    values = {"total": total, **counts}
    return pd.Series(
        {k: (v / n if n else np.nan) for k, v in values.items()}, name=f"{species} contamination"
    )


def cutoff_factor_cutflow(selected: pd.DataFrame, cutoff_factors, species: str, path: str = "<selected>"):
    """Cut-flow rows of the cutoff-factor variants, applied to an already selected sample.

    The selection keeps the events passing the loosest factor of the run (with the interval's max
    cutoff in ``cutoff_max_gv``); each row here applies one factor ``f`` (``observable > f x
    cutoff_max_gv``) to that sample, so ``events_in`` is the selected sample for every row and
    ``events_out`` the sample at that factor (the nominal factor's row is the analysed sample).
    Truth columns are filled as in :func:`select_events` when ``mc_particle``/``mc_origin`` exist.
    """
    has_truth = all(c in selected.columns for c in ("mc_particle", "mc_origin"))
    if has_truth:
        codes, classes = _truth_codes(selected, species, path)
    rows = []
    for factor in cutoff_factors:
        passed = passes_cutoff_factor(selected, factor)
        n_in, n_out = len(selected), int(passed.sum())
        row = {
            "species": species,
            "cut": f"cutoff factor {factor:g}: observable > {factor:g} x max cutoff",
            "events_in": n_in,
            "events_out": n_out,
            "fraction": n_out / n_in if n_in else np.nan,
        }
        if has_truth:
            counts = np.bincount(codes[passed], minlength=len(classes) + 1)
            row["signal_out"] = int(counts[0])
            row["background_out"] = int(counts[1:].sum())
            for i, cls in enumerate(classes, start=1):
                row[f"background_{cls}_out"] = int(counts[i])
        rows.append(row)
    return pd.DataFrame(rows)
