"""Result tables: the per-threshold rows, their concatenation, and ECSV output with units.

The columns of ``dipole_limits.csv`` are the contract of docs/architecture.md; the ECSV copy
carries units and descriptions so that astropy.table.Table.read gets a self-describing table.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .io import InputError, atomic_path, write_csv

REQUIRED_COLUMNS = [
    "species", "threshold", "unit", "n_events",
    "rho_ew", "rho_ns", "rho_fb", "sigma_ew", "sigma_ns", "sigma_fb",
    "delta", "l_deg", "b_deg", "delta_ul95", "delta_ul95_sys",
    "expected_ul95_median", "expected_ul95_sys_median",
    "band68_low", "band68_high", "band95_low", "band95_high",
    "chi2", "dof",
]

# column -> (unit, description) for the ECSV copy; dimensionless fractions have no unit
COLUMN_DESCRIPTIONS = {
    "species": ("", "particle species"),
    "threshold": ("", "minimum ECAL energy (GeV) or rigidity (GV) of the cumulative range; see unit"),
    "unit": ("", "unit of threshold"),
    "n_events": ("", "selected events in the range"),
    "rho_ew": ("", "dipole component towards (l, b) = (90, 0) deg"),
    "rho_ns": ("", "dipole component towards the north galactic pole"),
    "rho_fb": ("", "dipole component towards the galactic centre"),
    "sigma_ew": ("", "statistical error of rho_ew"),
    "sigma_ns": ("", "statistical error of rho_ns"),
    "sigma_fb": ("", "statistical error of rho_fb"),
    "sys_ew": ("", "systematic uncertainty of rho_ew (reference-map variants)"),
    "sys_ns": ("", "systematic uncertainty of rho_ns"),
    "sys_fb": ("", "systematic uncertainty of rho_fb"),
    "delta": ("", "fitted dipole amplitude |rho|"),
    "l_deg": ("deg", "galactic longitude of the fitted dipole"),
    "b_deg": ("deg", "galactic latitude of the fitted dipole"),
    "delta_ul95": ("", "95% credible upper limit on delta, statistics only"),
    "delta_ul95_sys": ("", "95% credible upper limit on delta with systematics"),
    "expected_ul95_median": ("", "median 95% limit over isotropic pseudo-skies, statistics only"),
    "expected_ul95_sys_median": ("", "median 95% limit over isotropic pseudo-skies, with systematics"),
    "band68_low": ("", "15.9% quantile of the pseudo-sky 95% limits, statistics only"),
    "band68_high": ("", "84.1% quantile of the pseudo-sky 95% limits, statistics only"),
    "band95_low": ("", "2.3% quantile of the pseudo-sky 95% limits, statistics only"),
    "band95_high": ("", "97.7% quantile of the pseudo-sky 95% limits, statistics only"),
    "band68_sys_low": ("", "15.9% quantile of the pseudo-sky 95% limits with systematics"),
    "band68_sys_high": ("", "84.1% quantile of the pseudo-sky 95% limits with systematics"),
    "band95_sys_low": ("", "2.3% quantile of the pseudo-sky 95% limits with systematics"),
    "band95_sys_high": ("", "97.7% quantile of the pseudo-sky 95% limits with systematics"),
    "chi2": ("", "Pearson chi2 of the dipole fit over the used pixels"),
    "dof": ("", "pixels used minus fitted parameters"),
    "chi2_pvalue": ("", "fraction of isotropic pseudo-skies whose chi2 is at least the observed one"),
    "chi2_band95_low": ("", "2.3% quantile of the pseudo-sky chi2"),
    "chi2_band95_high": ("", "97.7% quantile of the pseudo-sky chi2"),
    "chi2_band997_low": ("", "0.135% quantile of the pseudo-sky chi2"),
    "chi2_band997_high": ("", "99.865% quantile of the pseudo-sky chi2"),
}


def check_columns(frame: pd.DataFrame, path) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}")


def read_rows(paths) -> pd.DataFrame:
    """Concatenate one-row (or several-row) result CSV files, checking their columns."""
    frames = []
    for path in paths:
        path = Path(path)
        try:
            frame = pd.read_csv(path)
        except Exception as err:
            raise InputError(f"{path}: not a readable CSV table ({err})") from err
        if frame.empty:
            raise InputError(f"{path}: the table has no rows")
        check_columns(frame, path)
        frames.append(frame)
    if not frames:
        raise InputError("no result tables to collect")
    return pd.concat(frames, ignore_index=True)


def write_tables(frame: pd.DataFrame, csv_path, ecsv_path=None) -> None:
    """Write the result table as CSV and, if asked, as ECSV with units and descriptions."""
    check_columns(frame, csv_path)
    ordered = REQUIRED_COLUMNS + [c for c in frame.columns if c not in REQUIRED_COLUMNS]
    frame = frame[ordered]
    write_csv(frame, csv_path)
    if ecsv_path is None:
        return
    from astropy.table import Table

    table = Table.from_pandas(frame)
    for name in table.colnames:
        unit, description = COLUMN_DESCRIPTIONS.get(name, ("", ""))
        if not description and name.startswith("sys_") and name.count("_") >= 2:
            group, component = name[len("sys_"):].rsplit("_", 1)
            description = f"systematic uncertainty of rho_{component} from the reference variants {group}"
        if unit:
            table[name].unit = unit
        if description:
            table[name].description = description
    table.meta["comments"] = [
        "AMS-02 dipole anisotropy in galactic coordinates: fit, 95% credible upper limits and",
        "isotropic expectation per species and cumulative threshold (see README.md).",
    ]
    with atomic_path(ecsv_path) as tmp:
        table.write(tmp, format="ascii.ecsv", overwrite=True)


def finite_or_nan(value) -> float:
    value = float(value)
    return value if np.isfinite(value) else float("nan")


FIT_KEY_COLUMNS = ["species", "threshold", "variant", "n_events", "n_pixels"]


def fit_table(path) -> pd.DataFrame:
    """The fit table of one species (``fit/<species>.csv``: one row per threshold label and reference
    variant, written by the fit_dipole rule), with its key columns checked."""
    path = Path(path)
    try:
        frame = pd.read_csv(path)
    except Exception as err:
        raise InputError(f"{path}: not a readable CSV table ({err})") from err
    missing = [c for c in FIT_KEY_COLUMNS if c not in frame.columns]
    if frame.empty or missing:
        raise InputError(f"{path}: a fit table needs one row per threshold and variant and the columns "
                         f"{', '.join(FIT_KEY_COLUMNS)} (missing: {', '.join(missing) or 'none'}; "
                         f"{len(frame)} rows)")
    if frame.duplicated(["threshold", "variant"]).any():
        raise InputError(f"{path}: a threshold and variant appear twice")
    return frame
