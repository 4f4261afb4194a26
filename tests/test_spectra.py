"""Tests of ams_anisotropy.spectra: CRDB tables, interpolation, integrals, sampling, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ams_anisotropy import rng as rng_module
from ams_anisotropy.io import InputError
from ams_anisotropy.spectra import FluxTable

RESOURCES = Path(__file__).resolve().parents[1] / "resources" / "ams02-fluxes"
TABLES = ["H", "He", "C", "O", "e+", "e-"]
HEADER = "#Source: test\n#Columns: x, y, y statistical errors, y systematic errors\n"


def write_table(path: Path, x, y, header=HEADER) -> Path:
    lines = [f"{a:.10e} {b:.10e} 0 0 0 0" for a, b in zip(x, y, strict=True)]
    path.write_text(header + "\n".join(lines) + "\n")
    return path


@pytest.fixture
def power_law(tmp_path):
    """Pure power law flux = 1e4 R^-2.7 tabulated on 1-1000 GV."""
    x = np.logspace(0, 3, 31)
    return FluxTable.from_file(write_table(tmp_path / "pl.txt", x, 1e4 * x**-2.7)), 1e4, 2.7


@pytest.mark.parametrize("name", TABLES)
def test_shipped_tables_read(name):
    table = FluxTable.from_file(RESOURCES / f"AMS-02_{name}_rigidity.txt")
    # the model passes through the table points
    np.testing.assert_allclose(table.flux(table.rigidity_gv), table.table_flux, rtol=1e-12)
    # log-log interpolation: at the geometric mean of two nodes the flux is the geometric mean
    x0, x1 = table.rigidity_gv[10:12]
    y0, y1 = table.table_flux[10:12]
    np.testing.assert_allclose(table.flux(np.sqrt(x0 * x1)), np.sqrt(y0 * y1), rtol=1e-12)
    # high-rigidity tails of the AMS spectra have indices between -2.4 and -3.8
    assert -3.8 < table.index_high < -2.4
    # F(>R) is positive and decreasing
    f = table.integral_above(np.logspace(0, 4, 50))
    assert np.all(f > 0) and np.all(np.diff(f) < 0)


def test_integrals_match_analytic(power_law):
    table, norm, gamma = power_law

    def analytic(a, b):
        return norm / (gamma - 1) * (a ** (1 - gamma) - b ** (1 - gamma))

    # exact for a piecewise power law: only float rounding
    np.testing.assert_allclose(table.integral_flux(10.0, 100.0), analytic(10.0, 100.0), rtol=1e-10)
    np.testing.assert_allclose(table.integral_flux(18.0), analytic(18.0, np.inf), rtol=1e-10)
    # extrapolated above (5 TV) and below (0.3 GV) the table with the fitted tail index
    np.testing.assert_allclose(table.integral_above(5000.0), analytic(5000.0, np.inf), rtol=1e-9)
    np.testing.assert_allclose(table.integral_flux(0.3, 2.0), analytic(0.3, 2.0), rtol=1e-9)
    np.testing.assert_allclose(table.flux(np.array([0.5, 3000.0])), norm * np.array([0.5, 3000.0]) ** -gamma, rtol=1e-9)
    # fraction above: F(>max(R, thr)) / F(>thr)
    np.testing.assert_allclose(table.fraction_above(40.0, 18.0), (40.0 / 18.0) ** (1 - gamma), rtol=1e-10)
    assert table.fraction_above(10.0, 18.0) == pytest.approx(1.0)
    # against a direct numerical quadrature of the interpolated flux on a real table
    real = FluxTable.from_file(RESOURCES / "AMS-02_H_rigidity.txt")
    grid = np.logspace(np.log10(18.0), np.log10(400.0), 200_001)
    values = real.flux(grid)
    trapezoid = np.sum(0.5 * (values[1:] + values[:-1]) * np.diff(grid))
    np.testing.assert_allclose(real.integral_flux(18.0, 400.0), trapezoid, rtol=1e-6)  # trapezoid error ~1e-8


def test_sampled_slope_recovered(power_law):
    table, _, gamma = power_law
    rng = rng_module.generator(7, "tests", 1)
    n = 200_000
    sample = table.sample(rng, n, 10.0)
    assert sample.min() >= 10.0
    # maximum-likelihood index of a Pareto sample: 1 + n / sum ln(R / R_min); sigma = (gamma - 1)/sqrt(n)
    gamma_hat = 1.0 + n / np.sum(np.log(sample / 10.0))
    sigma = (gamma - 1.0) / np.sqrt(n)
    assert abs(gamma_hat - gamma) < 5 * sigma  # 5 sigma: 0.019


def test_sample_follows_real_spectrum_with_upper_edge():
    table = FluxTable.from_file(RESOURCES / "AMS-02_He_rigidity.txt")
    rng = rng_module.generator(7, "tests", 2)
    n = 100_000
    sample = table.sample(rng, n, 5.0, 3000.0)
    assert sample.min() >= 5.0 and sample.max() <= 3000.0
    edges = np.array([5.0, 10.0, 30.0, 100.0, 330.0, 1000.0, 3000.0])
    counts = np.histogram(sample, edges)[0]
    expected = n * table.integral_flux(edges[:-1], edges[1:]) / table.integral_flux(5.0, 3000.0)
    # Poisson: each bin within 5 sigma (plus one count for the sparse last bin)
    assert np.all(np.abs(counts - expected) < 5 * np.sqrt(expected) + 1)


def test_sampling_is_deterministic(power_law):
    table = power_law[0]
    a = table.sample(rng_module.generator(1, "tests", 3), 1000, 20.0)
    b = table.sample(rng_module.generator(1, "tests", 3), 1000, 20.0)
    assert np.array_equal(a, b)


def test_scaled_table():
    carbon = FluxTable.from_file(RESOURCES / "AMS-02_C_rigidity.txt")
    boron = carbon.scaled(0.2, -0.33, 20.0, name="boron")
    np.testing.assert_allclose(boron.flux(np.array([20.0])), 0.2 * carbon.flux(np.array([20.0])), rtol=1e-12)
    np.testing.assert_allclose(
        boron.flux(np.array([200.0])) / carbon.flux(np.array([200.0])), 0.2 * 10**-0.33, rtol=1e-9
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (HEADER + "1 2 0 0 0 0\n2 1 0 0 0 0\n3 0.5 0 0\n", "line 5 has 4 column"),
        (HEADER + "1 2 0 0 0 0\n2 1 0 0 0 0\n2 0.5 0 0 0 0\n4 0.1 0 0 0 0\n", "not strictly increasing"),
        (HEADER + "1 2 0 0 0 0\n3 1 0 0 0 0\n2 0.5 0 0 0 0\n4 0.1 0 0 0 0\n", "not strictly increasing"),
        (HEADER + "1 2 0 0 0 0\n2 abc 0 0 0 0\n", "not numeric"),
        (HEADER, "no data rows"),
        (HEADER + "1 2 0 0 0 0\n2 1 0 0 0 0\n", "at least"),
        (HEADER + "1 2 0 0 0 0\n2 -1 0 0 0 0\n3 0.5 0 0 0 0\n4 0.1 0 0 0 0\n", "positive"),
        (HEADER + "1 1 0 0 0 0\n2 1 0 0 0 0\n3 1 0 0 0 0\n4 1 0 0 0 0\n", "below -1"),
    ],
)
def test_bad_tables_fail_clearly(tmp_path, content, message):
    path = tmp_path / "bad_table.txt"
    path.write_text(content)
    with pytest.raises(InputError, match=message) as info:
        FluxTable.from_file(path)
    assert "bad_table.txt" in str(info.value)


def test_missing_file_and_bad_arguments(tmp_path, power_law):
    with pytest.raises(InputError, match="does not exist"):
        FluxTable.from_file(tmp_path / "absent.txt")
    table = power_law[0]
    with pytest.raises(ValueError, match="positive"):
        table.flux(np.array([-1.0]))
    with pytest.raises(ValueError, match="r_max_gv"):
        table.sample(np.random.default_rng(0), 10, 20.0, 10.0)
    with pytest.raises(ValueError, match="r_max_gv"):
        table.integral_flux(20.0, 10.0)
