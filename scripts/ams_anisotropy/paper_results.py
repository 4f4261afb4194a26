"""The numbers the paper quotes, and the reproduction table that sets this run's results beside them.

Source of every number: AMS Collaboration (M. Molero et al.), "Anisotropy of cosmic ray electrons,
positrons, protons and light nuclei measured by AMS-02", TAUP 2019, J. Phys. Conf. Ser. 1468 (2020)
012083 (``../shared/seed``), and ICRC 2019, PoS(ICRC2019)150 for the samples above 200 GV; collected in
method.md section 1. Limits are 95% credible upper limits on the dipole amplitude (fractions).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# (species, threshold, unit) -> 95% upper limit on delta (TAUP 2019, sections 4-5)
PAPER_LIMITS = {
    ("positron", 16.0, "GeV"): 0.019,
    ("electron", 16.0, "GeV"): 0.005,
    ("proton", 200.0, "GV"): 0.0038,
    ("helium", 200.0, "GV"): 0.0036,
    ("carbon", 200.0, "GV"): 0.019,
    ("oxygen", 200.0, "GV"): 0.017,
}
# chi2 / d.f. of the dipole fits above 16 GeV / 18 GV (TAUP 2019)
PAPER_CHI2 = {
    ("positron", 16.0, "GeV"): (11083.3, 11330),
    ("electron", 16.0, "GeV"): (11370.8, 11455),
    ("proton", 18.0, "GV"): (12658.5, 12261),
    ("helium", 18.0, "GV"): (12491.6, 12287),
}
# selected samples: above 16 GeV / 18 GV (TAUP 2019) and above 200 GV (ICRC 2019, PoS(ICRC2019)150)
PAPER_SAMPLES = {
    ("positron", 16.0, "GeV"): 9.9e4,
    ("electron", 16.0, "GeV"): 1.3e6,
    ("proton", 18.0, "GV"): 1.3e8,
    ("helium", 18.0, "GV"): 1.0e8,
    ("carbon", 18.0, "GV"): 2.9e6,
    ("oxygen", 18.0, "GV"): 2.8e6,
    ("proton", 200.0, "GV"): 2.0e6,
    ("helium", 200.0, "GV"): 2.2e6,
    ("carbon", 200.0, "GV"): 6.1e4,
    ("oxygen", 200.0, "GV"): 6.3e4,
}
COLUMNS = ["quantity", "species", "threshold", "paper", "this_work", "band95_low", "band95_high", "inside_band95"]


def _row(table: pd.DataFrame, species: str, threshold: float, unit: str):
    rows = table[(table["species"] == species) & np.isclose(table["threshold"].astype(float), threshold)
                 & (table["unit"] == unit)]
    return None if rows.empty else rows.iloc[0]


def reproduction_table(limits: pd.DataFrame) -> pd.DataFrame:
    """One row per number the paper quotes, beside this run's (``dipole_limits.csv``).

    * ``delta_ul95``: the paper's limit against this run's limit with systematics; the band is the central
      95.4% of this run's isotropic expectation (with systematics), and ``inside_band95`` says whether the
      paper's limit lies in it (the AMS sky consistent with isotropy as this run models it);
    * ``chi2_per_dof``: the paper's chi2/d.f. against this run's; the band is the central 95.4% of the
      isotropic pseudo-skies' chi2 divided by this run's d.f.;
    * ``n_events``: the paper's sample against this run's (no band).
    Rows whose species or threshold this run lacks are left out.
    """
    needed = {"species", "threshold", "unit", "n_events", "delta_ul95_sys", "band95_sys_low", "band95_sys_high",
              "chi2", "dof"}
    missing = sorted(needed - set(limits.columns))
    if missing:
        raise ValueError(f"dipole_limits table: missing column(s) {', '.join(missing)}")
    out = []
    for (species, threshold, unit), paper in PAPER_LIMITS.items():
        row = _row(limits, species, threshold, unit)
        if row is not None:
            low, high = float(row["band95_sys_low"]), float(row["band95_sys_high"])
            out.append(["delta_ul95", species, f"{threshold:g}{unit}", paper, float(row["delta_ul95_sys"]), low, high,
                        bool(low <= paper <= high)])
    for (species, threshold, unit), (chi2, dof) in PAPER_CHI2.items():
        row = _row(limits, species, threshold, unit)
        if row is not None:
            ours = float(row["chi2"]) / float(row["dof"])
            low = float(row.get("chi2_band95_low", np.nan)) / float(row["dof"])
            high = float(row.get("chi2_band95_high", np.nan)) / float(row["dof"])
            inside = bool(low <= chi2 / dof <= high) if np.isfinite(low) and np.isfinite(high) else None
            out.append(["chi2_per_dof", species, f"{threshold:g}{unit}", chi2 / dof, ours, low, high, inside])
    for (species, threshold, unit), paper in PAPER_SAMPLES.items():
        row = _row(limits, species, threshold, unit)
        if row is not None:
            out.append(["n_events", species, f"{threshold:g}{unit}", paper, float(row["n_events"]), np.nan, np.nan,
                        None])
    return pd.DataFrame(out, columns=COLUMNS)


def published_limits(species: str) -> list[tuple[float, float]]:
    """(threshold, limit) pairs the paper quotes for a species, for marking on Figures 1 and 2."""
    return [(threshold, limit) for (name, threshold, _), limit in PAPER_LIMITS.items() if name == species]
