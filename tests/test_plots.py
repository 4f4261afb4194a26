"""Tests of the figure modules (limit_figures, component_figures, sky_maps, figure_common): files written
atomically, plotted values, input checks, map maths."""

from __future__ import annotations

import healpy as hp
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.figure import Figure
from scipy import optimize, stats

from ams_anisotropy import component_figures, limit_figures, sky_maps
from ams_anisotropy.rng import generator

# Sample sizes above the first threshold (paper, method.md section 1) and integral spectral indices
# (rough, only to give each threshold a different N).
SAMPLES = {
    "positron": ("GeV", [16, 25, 40, 65, 100], 9.9e4, 1.7, 0.0),
    "electron": ("GeV", [16, 25, 40, 65, 100], 1.3e6, 2.1, 0.0),
    "proton": ("GV", [18, 30, 45, 80, 150, 200, 300, 500, 1000], 1.3e8, 1.7, 4e-4),
    "helium": ("GV", [18, 30, 45, 80, 150, 200, 300, 500, 1000], 1.0e8, 1.6, 4e-4),
    "carbon": ("GV", [18, 30, 45, 80, 150, 200, 300, 500, 1000], 2.9e6, 1.6, 4e-4),
    "oxygen": ("GV", [18, 30, 45, 80, 150, 200, 300, 500, 1000], 2.8e6, 1.6, 4e-4),
}


def make_table(species=tuple(SAMPLES)) -> pd.DataFrame:
    """A results table with sigma = sqrt(3/N) and limits ~2.8 sigma (method.md section 1)."""
    rng = generator(0, "tests", 6)
    rows = []
    for name in species:
        unit, thresholds, n0, index, sys = SAMPLES[name]
        for threshold in thresholds:
            n = n0 * (threshold / thresholds[0]) ** -index
            sigma = np.sqrt(3.0 / n)
            total = np.hypot(sigma, sys)
            rho = rng.normal(0.0, sigma, 3)
            row = {
                "species": name, "threshold": float(threshold), "unit": unit, "n_events": int(n),
                "rho_ew": rho[0], "rho_ns": rho[1], "rho_fb": rho[2],
                "sigma_ew": sigma, "sigma_ns": sigma, "sigma_fb": sigma,
                "delta": np.linalg.norm(rho), "l_deg": 10.0, "b_deg": 5.0,
                "delta_ul95": 2.795 * sigma * rng.uniform(0.8, 1.3),
                "delta_ul95_sys": 2.795 * total * rng.uniform(0.8, 1.3),
                "expected_ul95_median": 2.795 * sigma, "expected_ul95_sys_median": 2.795 * total,
                "band68_low": 2.2 * sigma, "band68_high": 3.4 * sigma,
                "band95_low": 1.8 * sigma, "band95_high": 4.2 * sigma,
                "band68_sys_low": 2.2 * total, "band68_sys_high": 3.4 * total,
                "band95_sys_low": 1.8 * total, "band95_sys_high": 4.2 * total,
                "chi2": 12000.0, "dof": 11330, "sys_ew": sys, "sys_ns": sys, "sys_fb": sys,
            }
            for c in ("ew", "ns", "fb"):
                row |= {f"{c}_band68_low": -sigma, f"{c}_band68_high": sigma,
                        f"{c}_band95_low": -2 * sigma, f"{c}_band95_high": 2 * sigma}
            rows.append(row)
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def table():
    return make_table()


def paths(folder, stem="fig"):
    return folder / f"{stem}.png", folder / f"{stem}.pdf"


def assert_written(png, pdf):
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 1000
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 1000


def line_by_gid(ax, gid):
    lines = [line for line in ax.get_lines() if line.get_gid() == gid]
    assert len(lines) == 1, f"expected one line with gid {gid}, found {len(lines)}"
    return lines[0]


def axes_of(fig, word):
    found = [ax for ax in fig.axes if word in ax.get_title()]
    assert len(found) == 1
    return found[0]


def species_rows(table, species):
    return table[table["species"] == species].sort_values("threshold")


# ------------------------------------------------------------------------------------- Figures 1, 2


def test_figure1_files_dots_lines_and_bands(tmp_path, table):
    png, pdf = paths(tmp_path)
    # rows in a scrambled order: the plot must sort by threshold
    scrambled = table.sample(frac=1.0, random_state=3)
    fig = limit_figures.figure1_electrons_positrons(scrambled, png, pdf, label="simulation")
    assert isinstance(fig, Figure)
    assert_written(png, pdf)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.pdf", "fig.png"]  # no temp files left
    for species, word in (("positron", "Positrons"), ("electron", "Electrons")):
        ax = axes_of(fig, word)
        assert "simulation" in ax.get_title()
        assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
        assert "GeV" in ax.get_xlabel() and "%" in ax.get_ylabel()
        rows = species_rows(table, species)
        dots = line_by_gid(ax, "delta_ul95")
        # exact: the dots are the table's limits converted to percent, nothing else
        np.testing.assert_allclose(dots.get_xdata(), rows["threshold"], rtol=1e-12)
        np.testing.assert_allclose(dots.get_ydata(), 100 * rows["delta_ul95"], rtol=1e-12)
        assert dots.get_linestyle() == "None" and dots.get_marker() == "o"
        solid = line_by_gid(ax, "expected_sys")
        dashed = line_by_gid(ax, "expected_stat")
        assert solid.get_linestyle() == "-" and dashed.get_linestyle() == "--"
        np.testing.assert_allclose(solid.get_ydata(), 100 * rows["expected_ul95_sys_median"], rtol=1e-12)
        np.testing.assert_allclose(dashed.get_ydata(), 100 * rows["expected_ul95_median"], rtol=1e-12)
        # bands with systematics (present in the table): the green polygon spans band68_sys
        green = [c for c in ax.collections if isinstance(c, PolyCollection)
                 and np.allclose(c.get_facecolor()[0][:3], (0x3C / 255, 0xB4 / 255, 0x4B / 255))]
        assert len(green) == 1
        y = green[0].get_paths()[0].vertices[:, 1]
        np.testing.assert_allclose(y.max(), 100 * rows["band68_sys_high"].max(), rtol=1e-12)
        np.testing.assert_allclose(y.min(), 100 * rows["band68_sys_low"].min(), rtol=1e-12)
    legend_text = " ".join(t.get_text() for t in fig.legends[0].get_texts())
    assert "68.3%" in legend_text and "95.4%" in legend_text and "(stat. + syst.)" in legend_text


def test_figure1_options_limit_column_and_stat_bands(tmp_path, table):
    no_sys_bands = table.drop(columns=list(limit_figures.BAND_SYS_COLUMNS))
    png, pdf = paths(tmp_path)
    fig = limit_figures.figure1_electrons_positrons(
        no_sys_bands, png, pdf, label="data", limit_column="delta_ul95_sys"
    )
    ax = axes_of(fig, "Positrons")
    assert "data" in ax.get_title()
    rows = species_rows(table, "positron")
    np.testing.assert_allclose(line_by_gid(ax, "delta_ul95_sys").get_ydata(), 100 * rows["delta_ul95_sys"])
    legend_text = " ".join(t.get_text() for t in fig.legends[0].get_texts())
    assert "(stat. only)" in legend_text and "with syst." in legend_text


def test_figure2_four_panels(tmp_path, table):
    png, pdf = paths(tmp_path)
    fig = limit_figures.figure2_nuclei(table, png, pdf)
    assert_written(png, pdf)
    for species, word in (("proton", "Protons"), ("helium", "Helium"), ("carbon", "Carbon"),
                          ("oxygen", "Oxygen")):
        ax = axes_of(fig, word)
        assert "GV" in ax.get_xlabel() and ax.get_xscale() == "log"
        rows = species_rows(table, species)
        np.testing.assert_allclose(line_by_gid(ax, "delta_ul95").get_ydata(), 100 * rows["delta_ul95"])


def test_missing_species_gives_labelled_empty_panel(tmp_path):
    png, pdf = paths(tmp_path)
    fig = limit_figures.figure2_nuclei(make_table(["proton"]), png, pdf)
    assert_written(png, pdf)
    ax = axes_of(fig, "Oxygen")
    assert any("no oxygen results" in t.get_text() for t in ax.texts)


def test_figures_are_byte_identical(tmp_path, table):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for folder in ("a", "b"):
        limit_figures.figure1_electrons_positrons(table, *paths(tmp_path / folder))
    for name in ("fig.png", "fig.pdf"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_components_vs_threshold(tmp_path, table):
    png, pdf = paths(tmp_path)
    fig = component_figures.components_vs_threshold(table, "proton", png, pdf)
    assert_written(png, pdf)
    rows = species_rows(table, "proton")
    for c, word in (("ew", "EW"), ("ns", "NS"), ("fb", "FB")):
        ax = axes_of(fig, word)
        assert ax.get_xscale() == "log" and "GV" in ax.get_xlabel()
        points = line_by_gid(ax, f"rho_{c}")
        np.testing.assert_allclose(points.get_xdata(), rows["threshold"])
        np.testing.assert_allclose(points.get_ydata(), 100 * rows[f"rho_{c}"], rtol=1e-12)
        bars = [col for col in ax.collections
                if isinstance(col, LineCollection) and col.get_gid() == f"sigma_{c}"]
        assert len(bars) == 1
        half_lengths = np.array([abs(seg[1][1] - seg[0][1]) / 2 for seg in bars[0].get_segments()])
        np.testing.assert_allclose(half_lengths, 100 * rows[f"sigma_{c}"], rtol=1e-9)
    assert "%" in fig.axes[0].get_ylabel()


# ------------------------------------------------------------------------------------- bad inputs


def limit_figure(table, png, pdf, **kw):
    return limit_figures.figure1_electrons_positrons(table, png, pdf, **kw)


def components_figure(table, png, pdf, **kw):
    return component_figures.components_vs_threshold(table, "positron", png, pdf, **kw)


FIGURE1_COLUMNS = ["species", "threshold", "unit", "delta_ul95", "expected_ul95_median",
                   "expected_ul95_sys_median", "band68_low", "band68_high", "band95_low", "band95_high"]
COMPONENT_COLUMNS = ["species", "threshold", "unit"] + [
    f"{kind}_{c}" for c in ("ew", "ns", "fb") for kind in ("rho", "sigma")
] + [f"{c}_band{q}_{side}" for c in ("ew", "ns", "fb") for q in (68, 95) for side in ("low", "high")]


@pytest.mark.parametrize(
    ("draw", "columns"),
    [(limit_figure, FIGURE1_COLUMNS), (limit_figures.figure2_nuclei, FIGURE1_COLUMNS),
     (components_figure, COMPONENT_COLUMNS)],
)
def test_missing_column_is_named_and_nothing_written(tmp_path, table, draw, columns):
    png, pdf = paths(tmp_path)
    for column in columns:
        with pytest.raises(ValueError, match=f"missing column.*{column}"):
            draw(table.drop(columns=[column]), png, pdf)
    assert list(tmp_path.iterdir()) == []


def modified(table, species, column, value, row=0):
    out = table.copy()
    index = out.index[out["species"] == species][row]
    out[column] = out[column].astype(object) if isinstance(value, str) else out[column]
    out.loc[index, column] = value
    return out


@pytest.mark.parametrize(
    ("change", "kwargs", "message"),
    [
        (lambda t: modified(t, "positron", "delta_ul95", np.nan), {}, "delta_ul95 of positron must be fin"),
        (lambda t: modified(t, "electron", "delta_ul95", -0.01), {}, "delta_ul95 of electron"),
        (lambda t: modified(t, "electron", "threshold", 0.0), {}, "threshold of electron"),
        (lambda t: modified(t, "positron", "unit", "GV"), {}, "unit of positron must be 'GeV'"),
        (lambda t: modified(t, "positron", "threshold", 25.0), {}, "threshold of positron has duplicate"),
        (lambda t: modified(t, "positron", "band68_sys_high", 1.0), {}, "not nested"),
        (lambda t: modified(t, "positron", "band95_sys_low", np.nan), {}, "band95_sys_low of positron"),
        (lambda t: t[t["species"] == "proton"], {}, "no rows for any of positron, electron"),
        (lambda t: t.drop(columns=list(limit_figures.BAND_SYS_COLUMNS)), {"bands": "sys"}, "band68_sys_low"),
        (lambda t: t, {"bands": "median"}, "bands must be"),
        (lambda t: t, {"limit_column": "delta_ul99"}, "missing column.*delta_ul99"),
    ],
)
def test_bad_table_values_fail_clearly(tmp_path, table, change, kwargs, message):
    png, pdf = paths(tmp_path)
    with pytest.raises(ValueError, match=message):
        limit_figures.figure1_electrons_positrons(change(table), png, pdf, **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_components_bad_inputs(tmp_path, table):
    png, pdf = paths(tmp_path)
    with pytest.raises(ValueError, match="unknown species 'antiproton'"):
        component_figures.components_vs_threshold(table, "antiproton", png, pdf)
    with pytest.raises(ValueError, match="no rows for species carbon"):
        component_figures.components_vs_threshold(make_table(["proton"]), "carbon", png, pdf)
    with pytest.raises(ValueError, match="rho_ns of helium must be finite"):
        component_figures.components_vs_threshold(modified(table, "helium", "rho_ns", np.inf), "helium", png, pdf)
    with pytest.raises(ValueError, match="same file"):
        component_figures.components_vs_threshold(table, "helium", png, png)
    assert list(tmp_path.iterdir()) == []


def test_existing_outputs_untouched_on_error(tmp_path, table):
    png, pdf = paths(tmp_path)
    png.write_bytes(b"old png")
    pdf.write_bytes(b"old pdf")
    with pytest.raises(ValueError):
        limit_figures.figure1_electrons_positrons(table.drop(columns=["delta_ul95"]), png, pdf)
    assert png.read_bytes() == b"old png" and pdf.read_bytes() == b"old pdf"


def test_render_failure_writes_neither_file(tmp_path, table, monkeypatch):
    """PDF rendering fails after the PNG was rendered: no PNG, no PDF and no temporary file remain."""
    original = Figure.savefig

    def failing_savefig(self, fname, *args, **kwargs):
        if kwargs.get("format") == "pdf":
            raise RuntimeError("disk full")
        return original(self, fname, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", failing_savefig)
    png, pdf = paths(tmp_path)
    with pytest.raises(RuntimeError, match="disk full"):
        limit_figures.figure1_electrons_positrons(table, png, pdf)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------- sky maps


def test_tophat_sum_matches_healpy_query_disc():
    nside = 16
    values = generator(0, "tests", 61).random(hp.nside2npix(nside))
    for radius_deg in (5.0, 25.0):
        # small block_pairs forces several blocks
        sums = sky_maps.tophat_sum(values, radius_deg, block_pairs=20_000)
        for pixel in range(0, values.size, 37):
            disc = hp.query_disc(nside, hp.pix2vec(nside, pixel), np.radians(radius_deg), inclusive=False)
            assert sums[pixel] == pytest.approx(values[disc].sum(), rel=1e-12)


def test_relative_intensity_of_a_dipole_known_answer():
    """Noise-free dipole 1 + d D.n: per pixel the ratio is exact; a top-hat of radius r averages
    cos(angle to D) over the cap, which multiplies the dipole by (1 + cos r) / 2 (analytic)."""
    nside = 32
    n = np.array(hp.pix2vec(nside, np.arange(hp.nside2npix(nside))))
    axis = np.array([0.3, 0.5, 0.81]) / np.linalg.norm([0.3, 0.5, 0.81])
    d = 0.05
    reference = np.full(n.shape[1], 100.0)
    counts = reference * (1 + d * axis @ n)
    layers = sky_maps.relative_intensity_and_significance(counts, reference)
    np.testing.assert_allclose(layers["relative_intensity"], d * axis @ n, atol=1e-12)
    radius_deg = 20.0
    layers = sky_maps.relative_intensity_and_significance(counts, reference, smoothing_deg=radius_deg)
    expected = d * (1 + np.cos(np.radians(radius_deg))) / 2 * (axis @ n)
    # 2% of d: the cap holds ~110 pixels, its pixelised average differs from the integral by ~0.6% (measured)
    np.testing.assert_allclose(layers["relative_intensity"], expected, atol=0.02 * d)


def test_significance_known_background_matches_poisson_likelihood_ratio():
    counts = np.array([0.0, 3.0, 10.0, 10.0, 50.0, 120.0])
    expected = np.array([2.0, 3.0, 4.0, 20.0, 50.0, 100.0])
    ts = 2 * (stats.poisson.logpmf(counts, counts) - stats.poisson.logpmf(counts, expected))
    np.testing.assert_allclose(
        sky_maps.significance_map(counts, expected), np.sign(counts - expected) * np.sqrt(ts),
        rtol=1e-9, atol=1e-12,
    )
    # Gaussian limit: (C - M) / sqrt(M) = 1 for C = 10100, M = 10000; the LR significance is 0.998
    assert sky_maps.significance_map([10100.0], [10000.0])[0] == pytest.approx(1.0, abs=0.005)
    assert np.isnan(sky_maps.significance_map([3.0], [0.0])[0])


def test_li_ma_alpha_matches_numerical_profile_likelihood():
    """Li & Ma eq. 17 against a direct maximisation of the on/off Poisson likelihood."""
    alpha = 0.2
    for n_on, n_off in ((30.0, 100.0), (12.0, 80.0), (25.0, 125.0)):
        def nll(s, b, n_on=n_on, n_off=n_off):
            return -(stats.poisson.logpmf(n_on, s + alpha * b) + stats.poisson.logpmf(n_off, b))
        null = optimize.minimize_scalar(lambda b: nll(0.0, b), bounds=(1e-3, 1e4), method="bounded")
        best = nll(n_on - alpha * n_off, n_off)  # unconstrained maximum
        numeric = np.sign(n_on - alpha * n_off) * np.sqrt(max(2 * (null.fun - best), 0.0))
        value = sky_maps.significance_map([n_on], [alpha * n_off], alpha=alpha)[0]
        assert value == pytest.approx(numeric, abs=1e-4)  # bounded optimiser tolerance ~1e-5


def test_isotropic_significance_is_standard_normal():
    """Poisson counts from the reference: per-pixel significance has mean ~0 and width ~1."""
    npix = hp.nside2npix(16)
    reference = np.full(npix, 200.0)
    counts = generator(0, "tests", 62).poisson(reference).astype(float)
    significance = sky_maps.relative_intensity_and_significance(counts, reference)["significance"]
    # 3072 pixels: standard errors 0.018 (mean) and 0.013 (std); allow ~4 of them
    assert abs(significance.mean()) < 0.07
    assert abs(significance.std() - 1.0) < 0.05


def test_sky_maps_writes_four_panels(tmp_path):
    nside = 8
    npix = hp.nside2npix(nside)
    reference = np.full(npix, 50.0)
    counts = generator(0, "tests", 63).poisson(reference).astype(float)
    mask = np.ones(npix, bool)
    mask[:40] = False
    png, pdf = paths(tmp_path)
    fig = sky_maps.sky_maps(counts, reference, png, pdf, "test sky", mask=mask, smoothing_deg=20.0, xsize=200)
    assert_written(png, pdf)
    maps = [ax for ax in fig.axes if ax.name == "mollweide"]
    assert len(maps) == 4
    titles = " ".join(ax.get_title() for ax in maps)
    assert "Counts" in titles and "Reference" in titles and "top-hat radius 20°" in titles
    colourbar_labels = [ax.get_xlabel() for ax in fig.axes if ax.name != "mollweide"]
    assert colourbar_labels == ["events / pixel", "expected events / pixel", "%", r"$\sigma$"]


@pytest.mark.parametrize(
    ("counts", "reference", "kwargs", "message"),
    [
        (np.ones(100), np.ones(100), {}, "counts must be a 1-d HEALPix map"),
        (np.ones(768), np.ones(192), {}, "reference has 192 pixels"),
        (np.r_[np.nan, np.ones(767)], np.ones(768), {}, "counts has 1 non-finite"),
        (np.ones(768), np.r_[-1.0, np.ones(767)], {}, "reference has 1 negative"),
        (np.ones(768), np.ones(768), {"mask": np.ones(768)}, "mask must be a boolean"),
        (np.ones(768), np.ones(768), {"mask": np.ones(192, bool)}, "mask has shape"),
        (np.ones(768), np.ones(768), {"mask": np.zeros(768, bool)}, "no pixel is used"),
        (np.ones(768), np.ones(768), {"smoothing_deg": 0.0}, "smoothing_deg"),
        (np.ones(768), np.ones(768), {"alpha": -1.0}, "alpha"),
    ],
)
def test_sky_maps_bad_inputs(tmp_path, counts, reference, kwargs, message):
    png, pdf = paths(tmp_path)
    with pytest.raises(ValueError, match=message):
        sky_maps.sky_maps(counts, reference, png, pdf, "bad", xsize=100, **kwargs)
    assert list(tmp_path.iterdir()) == []
