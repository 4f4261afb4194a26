"""The reproduction table and the paper's limits on Figures 1 and 2."""

import numpy as np
import pandas as pd
import pytest

from ams_anisotropy import limit_figures, paper_results


def limits_table():
    rows = []
    for species, unit, thresholds in (("positron", "GeV", [16, 25]), ("electron", "GeV", [16, 25]),
                                      ("proton", "GV", [18, 200]), ("helium", "GV", [18, 200]),
                                      ("carbon", "GV", [18, 200]), ("oxygen", "GV", [18, 200])):
        for k, t in enumerate(thresholds):
            ul = 0.004 * (k + 1)
            rows.append(dict(species=species, threshold=float(t), unit=unit, n_events=1000 * (2 - k),
                             delta_ul95_sys=ul, band95_sys_low=0.5 * ul, band95_sys_high=2.0 * ul,
                             band68_sys_low=0.7 * ul, band68_sys_high=1.4 * ul, band68_low=0.7 * ul,
                             band68_high=1.4 * ul, band95_low=0.5 * ul, band95_high=2.0 * ul, delta_ul95=ul,
                             expected_ul95_median=ul, expected_ul95_sys_median=ul, chi2=11500.0, dof=11300,
                             chi2_band95_low=11000.0, chi2_band95_high=11600.0))
    return pd.DataFrame(rows)


def test_every_quoted_number_has_a_row_with_its_band():
    table = paper_results.reproduction_table(limits_table())
    assert list(table.columns) == paper_results.COLUMNS
    assert (table["quantity"] == "delta_ul95").sum() == 6
    assert (table["quantity"] == "chi2_per_dof").sum() == 4
    assert (table["quantity"] == "n_events").sum() == 10
    proton = table[(table["quantity"] == "delta_ul95") & (table["species"] == "proton")].iloc[0]
    # 0.38% against a band [0.4%, 1.6%] (the 200 GV row has ul 0.8%): outside
    assert proton["threshold"] == "200GV" and proton["paper"] == 0.0038 and proton["inside_band95"] == False  # noqa: E712
    electron = table[(table["quantity"] == "delta_ul95") & (table["species"] == "electron")].iloc[0]
    assert electron["inside_band95"] == True  # noqa: E712  0.5% in [0.2%, 0.8%]
    chi2 = table[(table["quantity"] == "chi2_per_dof") & (table["species"] == "proton")].iloc[0]
    assert chi2["paper"] == pytest.approx(12658.5 / 12261)
    assert chi2["band95_low"] == pytest.approx(11000.0 / 11300) and chi2["inside_band95"] == False  # noqa: E712


def test_missing_columns_fail_clearly():
    with pytest.raises(ValueError, match="missing column"):
        paper_results.reproduction_table(limits_table().drop(columns=["chi2"]))


def test_paper_limits_are_marked_on_figure2(tmp_path):
    table = limits_table()
    published = {s: paper_results.published_limits(s) for s in table["species"].unique()}
    fig = limit_figures.figure2_nuclei(table, tmp_path / "f2.png", tmp_path / "f2.pdf", published=published,
                               limit_column="delta_ul95_sys")
    stars = [line for ax in fig.axes for line in ax.get_lines() if line.get_gid() == "paper_limit"]
    assert len(stars) == 4
    assert np.allclose(sorted(float(s.get_ydata()[0]) for s in stars), [0.36, 0.38, 1.7, 1.9])
    plain = limit_figures.figure2_nuclei(table, tmp_path / "g.png", tmp_path / "g.pdf")
    assert not [line for ax in plain.axes for line in ax.get_lines() if line.get_gid() == "paper_limit"]
