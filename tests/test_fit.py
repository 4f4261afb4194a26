"""Known answers, injection-recovery and bad inputs for ams_anisotropy.fit."""

from __future__ import annotations

import healpy as hp
import numpy as np
import pytest

from ams_anisotropy import fit
from ams_anisotropy.rng import generator

NSIDE = 16
NPIX = hp.nside2npix(NSIDE)
VEC = np.array(hp.pix2vec(NSIDE, np.arange(NPIX)))


def nonuniform_reference(total=1e6):
    """An AMS-like exposure: a dipole moment along z plus a quadrupole-ish term, non-zero everywhere."""
    shape = 1.0 + 0.4 * VEC[2] + 0.2 * VEC[0] ** 2 - 0.1 * VEC[1]
    return total * shape / shape.sum()


def test_noiseless_dipole_recovered_exactly():
    reference = nonuniform_reference()
    rho_true = np.array([0.01, -0.02, 0.005])
    counts = reference * 1.7 * (1.0 + rho_true @ VEC)  # monopole 1.7: r = rho / c0 must still be rho_true
    result = fit.fit_multipoles(counts, reference)
    # noiseless data: the maximum-likelihood point is the truth; 1e-6 is far above rounding (1e-15)
    np.testing.assert_allclose(result.rho, rho_true, atol=1e-6)
    assert result.monopole == pytest.approx(1.7, rel=1e-6)
    assert result.chi2 == pytest.approx(0.0, abs=1e-6)
    assert result.dof == NPIX - 4
    assert result.delta == pytest.approx(np.linalg.norm(rho_true), abs=1e-6)
    lon, lat = hp.vec2ang(rho_true, lonlat=True)
    assert result.l_deg == pytest.approx(lon[0], abs=1e-4)
    assert result.b_deg == pytest.approx(lat[0], abs=1e-4)
    # higher multipoles absent: the chi2 does not change
    assert [c.lmax for c in result.higher_multipoles] == [2, 3, 4]
    for check in result.higher_multipoles:
        assert abs(check.delta_chi2) < 1e-6
        assert check.dof == NPIX - (check.lmax + 1) ** 2


def test_noiseless_quadrupole_and_template_recovered():
    reference = nonuniform_reference()
    theta, phi = hp.pix2ang(NSIDE, np.arange(NPIX))
    y2 = fit.real_spherical_harmonics(2, theta, phi)
    template = np.cos(3 * phi) * np.sin(theta) ** 3  # an l=3 pattern used as an external template
    params_true = np.array([1.0, 0.02, 0.01, -0.03, 0.01, 0.0, -0.02, 0.005, 0.0, 0.04])
    design, names = fit.design_matrix(NSIDE, 2, extra_templates=template[None, :])
    assert names[:4] == ("c0", "rho_fb", "rho_ew", "rho_ns") and names[-1] == "template_0"
    np.testing.assert_allclose(design[:, 4:9], y2.T)
    counts = reference * (design @ params_true)
    result = fit.fit_multipoles(counts, reference, lmax=2, extra_templates=template[None, :], lmax_check=())
    np.testing.assert_allclose(result.params, params_true, atol=1e-6)


def test_real_harmonics_convention_and_orthonormality():
    theta, phi = hp.pix2ang(NSIDE, np.arange(NPIX))
    y1 = fit.real_spherical_harmonics(1, theta, phi)  # m = -1, 0, +1
    # paper eq. 2: Y_1-1 along y (EW), Y_10 along z (NS), Y_1+1 along x (FB)
    np.testing.assert_allclose(y1, fit.DIPOLE_HARMONIC_NORM * VEC[[1, 2, 0]], atol=1e-12)
    ys = np.vstack([fit.real_spherical_harmonics(ell, theta, phi) for ell in range(1, 5)])
    gram = ys @ ys.T * 4 * np.pi / NPIX
    # HEALPix equal-area quadrature at Nside 16 integrates l <= 8 products to ~1e-3
    np.testing.assert_allclose(gram, np.eye(ys.shape[0]), atol=5e-3)


def test_uniform_full_sky_matches_healpy_fit_dipole():
    reference = np.full(NPIX, 1e6 / NPIX)
    rho_true = np.array([0.03, 0.01, -0.02])
    noiseless = reference * (1 + rho_true @ VEC)
    result = fit.fit_multipoles(noiseless, reference, lmax_check=())
    monopole, dipole = hp.fit_dipole(noiseless)
    # both are exact on a noiseless map (healpy: least squares of monopole + dipole)
    np.testing.assert_allclose(result.rho, dipole / monopole, atol=1e-9)
    counts = generator(1, "tests", 1).poisson(noiseless).astype(float)
    result = fit.fit_multipoles(counts, reference, lmax_check=())
    monopole, dipole = hp.fit_dipole(counts)
    # on Poisson data healpy's unweighted least squares and the Poisson ML differ by O(delta * sigma):
    # with delta = 0.04 that is a few % of sigma; 0.1 sigma leaves margin
    assert np.all(np.abs(result.rho - dipole / monopole) < 0.1 * result.sigma)
    # full sky, uniform exposure: Var(rho_j) = 3 / N (method.md section 1 closure)
    np.testing.assert_allclose(result.sigma, np.sqrt(3 / counts.sum()), rtol=0.03)  # O(delta) corrections


def test_pulls_of_poisson_pseudo_skies():
    reference = nonuniform_reference(2e5)
    rho_true = np.array([0.02, -0.01, 0.03])
    rng = generator(2, "tests", 2)
    n_skies = 400
    counts = rng.poisson(reference * (1 + rho_true @ VEC), size=(n_skies, NPIX)).astype(float)
    fits = fit.fit_dipole_many(counts, reference)
    assert fits.converged.all()
    pulls = (fits.rho - rho_true) / np.sqrt(np.diagonal(fits.rho_covariance, axis1=1, axis2=2))
    # sampling error of the mean 1/sqrt(400) = 0.05 -> 4 sigma = 0.2; of the std 1/sqrt(800) = 0.035 -> 0.15
    assert np.all(np.abs(pulls.mean(axis=0)) < 0.2)
    assert np.all(np.abs(pulls.std(axis=0, ddof=1) - 1) < 0.15)
    # Pearson chi2 / dof ~ 1 with sd sqrt(2/dof) = 0.02 per sky
    assert abs(np.mean(fits.chi2 / fits.dof) - 1) < 0.02


def test_vectorised_fit_equals_single_fit():
    reference = nonuniform_reference(5e4)
    mask = fit.pixels_with_exposure(reference, 0.5)
    assert 0 < mask.sum() < NPIX
    rng = generator(3, "tests", 3)
    counts = rng.poisson(reference, size=(5, NPIX)).astype(float)
    many = fit.fit_dipole_many(counts, reference, mask, tolerance=1e-10)
    many_used = fit.fit_dipole_many(counts[:, mask], reference, mask, tolerance=1e-10)
    np.testing.assert_array_equal(many.rho, many_used.rho)
    for k in range(5):
        single = fit.fit_multipoles(counts[k], reference, mask, lmax_check=())
        np.testing.assert_allclose(many.rho[k], single.rho, atol=1e-8 * single.sigma.max())
        np.testing.assert_allclose(many.rho_covariance[k], single.rho_covariance, rtol=1e-7)
        assert many.chi2[k] == pytest.approx(single.chi2, rel=1e-9)
        assert single.dof == many.dof == mask.sum() - 4


def test_higher_multipole_check_detects_a_quadrupole():
    reference = nonuniform_reference(1e6)
    theta, phi = hp.pix2ang(NSIDE, np.arange(NPIX))
    quadrupole = 0.05 * fit.real_spherical_harmonics(2, theta, phi)[2]
    counts = generator(4, "tests", 4).poisson(reference * (1 + quadrupole)).astype(float)
    result = fit.fit_multipoles(counts, reference)
    lmax2 = result.higher_multipoles[0]
    assert lmax2.lmax == 2 and lmax2.delta_dof == 5
    # 0.05 Y20 with 1e6 events: sigma(a20) ~ sqrt(4 pi / N) = 0.0035 -> ~14 sigma, LR ~ 200
    assert lmax2.likelihood_ratio > 100 and lmax2.p_value < 1e-10
    assert lmax2.delta_chi2 > 100  # the Pearson chi2 drops by ~ the same amount
    assert result.chi2 - lmax2.chi2 == pytest.approx(lmax2.delta_chi2)


def test_mask_rule():
    reference = np.arange(NPIX, dtype=float)
    mask = fit.pixels_with_exposure(reference, 0.25)
    np.testing.assert_array_equal(mask, reference >= 0.25 * (NPIX - 1))
    assert not fit.pixels_with_exposure(reference, 0.0)[0]  # zero exposure is always masked


@pytest.mark.parametrize(
    ("counts", "reference", "kwargs", "message"),
    [
        (-np.ones(NPIX), np.ones(NPIX), {}, "counts map: contains .* negative"),
        (np.full(NPIX, np.nan), np.ones(NPIX), {}, "counts map: contains .* non-finite"),
        (np.ones(NPIX - 1), np.ones(NPIX - 1), {}, "not a valid HEALPix"),
        (np.ones(NPIX), np.ones(4 * NPIX), {}, "counts map has .* pixels but the reference map has"),
        (np.ones(NPIX), np.ones(NPIX), {"mask": np.ones(NPIX)}, "mask: expected a boolean"),
        (np.ones(NPIX), np.r_[0.0, np.ones(NPIX - 1)], {"mask": np.ones(NPIX, bool)}, "zero reference"),
        (np.ones(NPIX), np.ones(NPIX), {"lmax": 0}, "lmax must be >= 1"),
        (np.ones(NPIX), np.ones(NPIX), {"extra_templates": np.ones((1, NPIX))}, "degenerate|singular"),
        (np.ones(NPIX), np.ones(NPIX), {"extra_templates": np.ones((1, 12))}, "extra_templates"),
        (np.zeros(NPIX), np.ones(NPIX), {}, "no counts"),
    ],
)
def test_bad_inputs_fail_clearly(counts, reference, kwargs, message):
    with pytest.raises(ValueError, match=message):
        fit.fit_multipoles(counts, reference, lmax_check=(), **kwargs)


def test_bad_inputs_vectorised_and_mask():
    with pytest.raises(ValueError, match="expected shape"):
        fit.fit_dipole_many(np.ones(NPIX), np.ones(NPIX))
    with pytest.raises(ValueError, match="columns, expected"):
        fit.fit_dipole_many(np.ones((2, 10)), np.ones(NPIX))
    with pytest.raises(ValueError, match="min_fraction_of_max"):
        fit.pixels_with_exposure(np.ones(NPIX), 1.5)
    with pytest.raises(ValueError, match="all pixels are zero"):
        fit.pixels_with_exposure(np.zeros(NPIX))


def test_higher_multipole_check_on_a_sparse_map_is_reported_not_raised():
    """A few events on many pixels: the l_max >= 2 linear model has no interior maximum; the dipole fit
    still works and the check is NaN instead of an exception."""
    nside = 16
    reference = np.full(hp.nside2npix(nside), 30.0 / hp.nside2npix(nside))
    counts = np.zeros_like(reference)
    counts[generator(7, "tests", 7).integers(0, reference.size, 30)] += 1.0
    result = fit.fit_multipoles(counts, reference, lmax=1, lmax_check=(2, 3, 4))
    assert np.isfinite(result.delta)
    assert len(result.higher_multipoles) == 3
    # 30 events on 3072 pixels: no interior maximum for l_max 2 (measured: all three checks NaN)
    assert all(np.isnan(check.chi2) for check in result.higher_multipoles)
    assert [check.delta_dof for check in result.higher_multipoles] == [5, 12, 21]


def test_non_convergence_is_its_own_error_and_a_value_error():
    reference = nonuniform_reference(total=200.0)
    counts = generator(5, "tests", "fit_non_convergence").poisson(reference * (1.0 + 0.3 * VEC[2]))
    with pytest.raises(fit.FitNotConverged, match="did not converge in 1 iterations") as err:
        fit.fit_multipoles(counts, reference, lmax_check=(), max_iterations=1)
    assert isinstance(err.value, ValueError)  # callers that catch every fit failure keep doing so
    converged = fit.fit_multipoles(counts, reference, lmax_check=())
    assert converged.n_iterations > 1 and np.all(np.isfinite(converged.rho))
