"""Known answers, coverage, determinism and bad inputs for ams_anisotropy.limits."""

from __future__ import annotations

import healpy as hp
import numpy as np
import pytest
from scipy import optimize, stats

from ams_anisotropy import fit, limits
from ams_anisotropy.rng import generator

NSIDE = 8
NPIX = hp.nside2npix(NSIDE)
VEC = np.array(hp.pix2vec(NSIDE, np.arange(NPIX)))
CHI3_95 = float(np.sqrt(stats.chi2.ppf(0.95, 3)))  # 2.7955: 95% quantile of a chi distribution, 3 dof


def test_chi_quantile_for_a_gaussian_likelihood_with_zero_best_fit():
    # full sky, uniform exposure, counts = expectation: best fit r = 0, sigma_j = sqrt(3/N) exactly,
    # and with N = 1e8 the Poisson likelihood is Gaussian to O(sigma) = 2e-4 relative
    n_events = 1e8
    reference = np.full(NPIX, n_events / NPIX)
    posterior = limits.sample_dipole_posterior(reference, reference, generator(1, "tests", 10), n_samples=40000)
    # Fisher matrix at r = 0: sum_p M_p n_p n_p^T (diagonal by symmetry); sqrt(3/N) up to pixelisation
    sigma_j = 1 / np.sqrt(np.sum(reference * VEC**2, axis=1))
    np.testing.assert_allclose(posterior.fit.rho, 0.0, atol=1e-12)
    np.testing.assert_allclose(posterior.fit.sigma, sigma_j, rtol=1e-9)
    sigma = np.sqrt(3 / n_events)
    np.testing.assert_allclose(sigma_j, sigma, rtol=2e-3)  # 0.1% spread: negligible for the limit
    limit, mc_error = posterior.upper_limit(0.95)
    assert CHI3_95 == pytest.approx(2.7955, abs=1e-4)
    assert 0 < mc_error < 0.01 * limit
    assert abs(limit - CHI3_95 * sigma) < 4 * mc_error  # within its sampling error
    assert posterior.ess > 0.5 * 40000  # proposal close to the posterior
    # systematics folded in: sigma_total = sqrt(sigma^2 + sigma_sys^2) per component
    sigma_sys = np.full(3, 2 * sigma)
    limit_sys, mc_error_sys = posterior.upper_limit_sys(sigma_sys, generator(1, "tests", 11))
    assert abs(limit_sys - CHI3_95 * np.sqrt(5) * sigma) < 4 * mc_error_sys


def test_gaussian_pseudo_sky_limits_agree_with_exact_importance_sampling():
    shape = 1 + 0.5 * VEC[2] + 0.2 * VEC[0]
    reference = 2e4 * shape / shape.sum()
    rng = generator(2, "tests", 12)
    skies = limits.pseudo_skies(reference, rng, 4)
    fits = fit.fit_dipole_many(skies, reference)
    gaussian, _ = limits.gaussian_delta_upper_limits(fits.rho, fits.rho_covariance, rng, n_draws=20000)
    for k in range(4):
        exact, mc_error = limits.sample_dipole_posterior(skies[k], reference, rng, n_samples=20000).upper_limit()
        # ~26 events per pixel: non-Gaussian corrections of the posterior are ~1% of the limit;
        # 3% is still far below the half-width of the 68% band of the expectation (~15%)
        assert abs(exact - gaussian[k]) < 0.03 * exact + 3 * mc_error


def _expected_coverage(delta_over_sigma: float, credibility: float = 0.95) -> float:
    """P(flat-prior limit > delta_true) for rho_hat ~ N(rho_true, sigma^2 I), computed analytically.

    The limit for an estimate of length t (in units of sigma) is sqrt(ncx2.ppf(cred, 3, t^2)),
    increasing in t; the limit exceeds delta iff t > t*, and t^2 ~ ncx2(3, delta^2).
    """
    def limit(t):
        return np.sqrt(stats.ncx2.ppf(credibility, 3, t**2)) if t > 0 else CHI3_95

    if limit(0.0) >= delta_over_sigma:
        return 1.0
    t_star = optimize.brentq(lambda t: limit(t) - delta_over_sigma, 0.0, delta_over_sigma)
    return float(stats.ncx2.sf(t_star**2, 3, delta_over_sigma**2))


def test_coverage_of_the_limits_on_pseudo_skies_with_an_injected_dipole():
    n_events = 4e4
    reference = np.full(NPIX, n_events / NPIX)
    sigma = np.sqrt(3 / n_events)
    n_skies = 1000
    for delta_over_sigma in (2.0, 4.0):
        rho_true = delta_over_sigma * sigma * np.array([0.6, 0.0, 0.8])
        result = limits.isotropic_expectation(reference, generator(3, "tests", int(delta_over_sigma)),
                                              n_skies=n_skies, n_draws=4000, rho_true=rho_true)
        coverage = np.mean(result.ul > delta_over_sigma * sigma)
        expected = _expected_coverage(delta_over_sigma)
        # binomial error sqrt(p(1-p)/1000) <= 0.007 -> 3 sigma, plus 0.01 for the Poisson (not Gaussian)
        # likelihood and the 4000-draw quantile noise
        tolerance = 3 * np.sqrt(max(expected * (1 - expected), 0.01) / n_skies) + 0.01
        assert abs(coverage - expected) < tolerance, (delta_over_sigma, coverage, expected)
        assert coverage > 0.9  # a credible upper limit with a flat prior over-covers for small dipoles


def test_isotropic_expectation_median_and_bands():
    n_events = 4e4
    reference = np.full(NPIX, n_events / NPIX)
    sigma = np.sqrt(3 / n_events)
    result = limits.isotropic_expectation(reference, generator(4, "tests", 14), n_skies=1000,
                                          sigma_sys=[sigma, 0.0, 0.0])
    # analytic: |rho_hat| / sigma ~ chi(3); the limit is monotonic in |rho_hat|, so its median is the
    # limit at the median |rho_hat|
    median_expected = sigma * np.sqrt(stats.ncx2.ppf(0.95, 3, stats.chi2.ppf(0.5, 3)))
    band = result.bands
    # sampling error of the median of 1000 skies ~ 1.25 sd / sqrt(1000) ~ 0.01 sigma-limit; 3% margin
    assert band.median == pytest.approx(median_expected, rel=0.03)
    assert band.low95 < band.low68 < band.median < band.high68 < band.high95
    low68_expected = sigma * np.sqrt(stats.ncx2.ppf(0.95, 3, stats.chi2.ppf(limits.BAND68[0], 3)))
    assert band.low68 == pytest.approx(low68_expected, rel=0.04)
    # systematics widen the limits
    assert result.bands_sys.median > band.median
    assert np.all(result.ul_sys >= result.ul - 1e-3 * sigma)
    # components: N(0, sigma) each; with systematics FB ~ N(0, sqrt(2) sigma)
    for j, comp in enumerate(result.component_bands):
        assert abs(comp.median) < 0.15 * sigma  # 3 x 1.25 / sqrt(1000)
        assert comp.high68 - comp.low68 == pytest.approx(2 * sigma, rel=0.1)  # 68% interval width 2 sigma
        width_sys = result.component_bands_sys[j].high68 - result.component_bands_sys[j].low68
        assert width_sys == pytest.approx(2 * sigma * (np.sqrt(2) if j == 0 else 1), rel=0.1)
    row = result.as_row()
    assert row["expected_ul95_median"] == band.median and row["band95_high"] == band.high95


def test_determinism_same_seed_same_bits():
    reference = np.full(NPIX, 1e4 / NPIX)
    a = limits.isotropic_expectation(reference, generator(5, "tests", 15), n_skies=50, sigma_sys=[1e-3] * 3)
    b = limits.isotropic_expectation(reference, generator(5, "tests", 15), n_skies=50, sigma_sys=[1e-3] * 3)
    np.testing.assert_array_equal(a.ul, b.ul)
    np.testing.assert_array_equal(a.ul_sys, b.ul_sys)
    np.testing.assert_array_equal(a.rho_hat, b.rho_hat)
    counts = limits.pseudo_skies(reference, generator(5, "tests", 16), 1)[0]
    first = limits.dipole_upper_limit(counts, reference, generator(5, "tests", 17), sigma_sys=[1e-3] * 3,
                                      n_samples=2000)
    second = limits.dipole_upper_limit(counts, reference, generator(5, "tests", 17), sigma_sys=[1e-3] * 3,
                                       n_samples=2000)
    assert (first.delta_ul, first.delta_ul_sys) == (second.delta_ul, second.delta_ul_sys)
    other = limits.dipole_upper_limit(counts, reference, generator(6, "tests", 17), n_samples=2000)
    assert other.delta_ul != first.delta_ul


def test_weighted_quantile_known_answers():
    values = np.arange(1.0, 101.0)
    assert limits.weighted_quantile(values, np.ones(100), 0.5) == pytest.approx(50.5)
    # weight 3 on the first half = three copies of it
    weights = np.r_[np.full(50, 3.0), np.ones(50)]
    copies = np.r_[np.repeat(values[:50], 3), values[50:]]
    assert limits.weighted_quantile(values, weights, 0.9) == pytest.approx(np.quantile(copies, 0.9), abs=1.0)


def test_systematic_sigmas_known_answer():
    nominal = np.array([0.001, 0.002, -0.001])
    variants = {
        "cutoff1.0": nominal + [0.0005, -0.0010, 0.0],
        "cutoff1.4": nominal + [-0.0012, 0.0003, 0.0002],
        "shuffle": nominal + [0.0009, 0.0, -0.0004],
        "noeff": nominal + [0.5, 0.5, 0.5],  # not in a group: ignored
    }
    sigma = limits.systematic_sigmas(nominal, variants, [["cutoff1.0", "cutoff1.4"], ["shuffle"]])
    expected = np.sqrt(np.array([0.0012, 0.0010, 0.0002]) ** 2 + np.array([0.0009, 0.0, 0.0004]) ** 2)
    np.testing.assert_allclose(sigma, expected, rtol=1e-12)
    assert np.all(limits.systematic_sigmas(nominal, variants, []) == 0)


def test_bad_inputs_fail_clearly():
    reference = np.full(NPIX, 100.0)
    rng = generator(7, "tests", 18)
    with pytest.raises(ValueError, match="n_samples"):
        limits.sample_dipole_posterior(reference, reference, rng, n_samples=10)
    with pytest.raises(ValueError, match="inflation"):
        limits.sample_dipole_posterior(reference, reference, rng, inflation=0.5)
    with pytest.raises(ValueError, match="credibility"):
        limits.dipole_upper_limit(reference, reference, rng, credibility=1.5)
    with pytest.raises(ValueError, match="sigma_sys"):
        limits.dipole_upper_limit(reference, reference, rng, sigma_sys=[0.1, -0.1, 0.0])
    with pytest.raises(ValueError, match="sigma_sys"):
        limits.isotropic_expectation(reference, rng, sigma_sys=[0.1, 0.1])
    with pytest.raises(ValueError, match="n_skies"):
        limits.isotropic_expectation(reference, rng, n_skies=3)
    with pytest.raises(ValueError, match="counts map: contains .* negative"):
        limits.dipole_upper_limit(-reference, reference, rng)
    with pytest.raises(ValueError, match="names variant 'shuffle'"):
        limits.systematic_sigmas([0, 0, 0], {"cutoff1.0": [0, 0, 0]}, [["cutoff1.0"], ["shuffle"]])
    with pytest.raises(ValueError, match="non-empty list"):
        limits.systematic_sigmas([0, 0, 0], {"cutoff1.0": [0, 0, 0]}, ["cutoff1.0"])
    with pytest.raises(ValueError, match="3 finite"):
        limits.systematic_sigmas([0, 0, 0], {"a": [0, np.nan, 0]}, [["a"]])
    with pytest.raises(ValueError, match="rho_covariance"):
        limits.gaussian_delta_upper_limits(np.zeros((2, 3)), np.zeros((3, 3, 3)), rng)
    with pytest.raises(ValueError, match="weights"):
        limits.weighted_quantile([1.0, 2.0], [0.0, 0.0], 0.5)


def test_transform_scales_the_limit_and_the_expectation():
    """A correction rho -> T rho with T = 2 I doubles both the data limit and the expected limits."""
    import healpy as hp

    from ams_anisotropy.limits import dipole_upper_limit, isotropic_expectation
    from ams_anisotropy.rng import generator

    nside = 8
    reference = np.full(hp.nside2npix(nside), 2000.0)
    counts = generator(3, "tests", 1).poisson(reference).astype(float)
    plain = dipole_upper_limit(counts, reference, generator(3, "tests", 2), n_samples=4000)
    doubled = dipole_upper_limit(counts, reference, generator(3, "tests", 2), n_samples=4000,
                                 transform=2 * np.eye(3))
    assert doubled.delta_ul == pytest.approx(2 * plain.delta_ul, rel=1e-12)
    a = isotropic_expectation(reference, generator(3, "tests", 4), n_skies=50)
    b = isotropic_expectation(reference, generator(3, "tests", 4), n_skies=50, transform=2 * np.eye(3))
    assert b.bands.median == pytest.approx(2 * a.bands.median, rel=1e-12)
    with pytest.raises(ValueError, match="3x3"):
        isotropic_expectation(reference, generator(3, "tests", 4), n_skies=50, transform=np.eye(2))


def test_systematics_remove_the_statistical_difference_of_nested_samples():
    """Barlow's rule: a shift no larger than sqrt|sigma_v^2 - sigma_n^2| is statistics, not systematics."""
    nominal, sigma_n = np.zeros(3), np.full(3, 1.0)
    variants = {"cutoff1.0": np.array([0.5, 3.0, 0.0])}
    sigma_v = {"cutoff1.0": np.array([1.25, 1.25, 1.25])}  # |1.5625 - 1| = 0.5625 = 0.75^2
    sys = limits.systematic_sigmas(nominal, variants, [["cutoff1.0"]], sigma_n, sigma_v)
    np.testing.assert_allclose(sys, [0.0, np.sqrt(9.0 - 0.5625), 0.0])
    plain = limits.systematic_sigmas(nominal, variants, [["cutoff1.0"]])
    np.testing.assert_allclose(plain, [0.5, 3.0, 0.0])
    with pytest.raises(ValueError, match="both"):
        limits.systematic_sigmas(nominal, variants, [["cutoff1.0"]], sigma_n, None)


def test_isotropic_expectation_of_a_tiny_sample_counts_the_failed_pseudo_skies():
    """~40 events on a partial sky: some pseudo-skies have no interior maximum; they are counted and left
    out, and a stricter tolerance turns them into a clear error."""
    import healpy as hp

    from ams_anisotropy.limits import isotropic_expectation
    from ams_anisotropy.rng import generator

    nside = 16
    z = hp.pix2vec(nside, np.arange(hp.nside2npix(nside)))[2]
    reference = np.where(z > 0.3, 1.0, 0.0)
    reference *= 40.0 / reference.sum()
    result = isotropic_expectation(reference, generator(11, "tests", 3), n_skies=200, max_failed_fraction=0.5)
    assert result.n_failed > 0  # measured: about 10% of the skies at 40 events
    assert result.n_skies + result.n_failed == 200
    assert np.isfinite(result.bands.median)
    assert result.as_row()["pseudo_skies_failed"] == result.n_failed
    with pytest.raises(ValueError, match="did not converge"):
        isotropic_expectation(reference, generator(11, "tests", 3), n_skies=200, max_failed_fraction=0.0)


def _brute_force_marginal(counts, reference, basis, theta):
    """sum_p C_p log(1 + theta . Z_p) - (N + 1) log(sum_p M_p (1 + theta . Z_p) / sum_p M_p), pixel by pixel."""
    u = theta @ basis.T
    return (np.log1p(u) @ counts) - (counts.sum() + 1.0) * np.log1p((u @ reference) / reference.sum())


def test_marginal_likelihood_series_agrees_with_the_pixel_sum():
    """The moment series (large samples) and the exact sum over occupied pixels give the same log-likelihood
    to far below what changes an importance weight (1e-9 relative)."""
    from ams_anisotropy.dipole_likelihood import MarginalLogLikelihood

    for n_events in (1e8, 1e5, 3e3):
        reference = np.full(NPIX, n_events / NPIX) * (1 + 0.3 * VEC[2])
        counts = generator(8, "tests", int(n_events)).poisson(reference).astype(float)
        sigma = np.sqrt(3 / n_events)
        theta = generator(8, "tests", 1).standard_normal((500, 3)) * 2 * sigma  # up to ~8 sigma
        likelihood = MarginalLogLikelihood(counts, reference, VEC.T)
        if n_events >= 1e5:  # the series path is taken for every sample
            assert likelihood._series_degree(float(np.linalg.norm(theta, axis=1).max())) is not None
        exact = _brute_force_marginal(counts, reference, VEC.T, theta)
        # rounding of sums of N |r| ~ 1e5: ~1e-10 absolute
        np.testing.assert_allclose(likelihood(theta), exact, rtol=0, atol=1e-8)


def test_marginal_likelihood_integrates_the_monopole_out():
    """Independent check of the analytic c0 integral: numerical quadrature of the Poisson likelihood."""
    from scipy import integrate

    from ams_anisotropy.dipole_likelihood import MarginalLogLikelihood

    nside = 2
    vec = np.array(hp.pix2vec(nside, np.arange(hp.nside2npix(nside))))
    reference = 3.0 * (1 + 0.2 * vec[0])
    counts = generator(9, "tests", 0).poisson(reference).astype(float)
    likelihood = MarginalLogLikelihood(counts, reference, vec.T)
    thetas = np.array([[0.0, 0.0, 0.0], [0.3, -0.2, 0.1]])

    def integral(theta):
        mu1 = reference * (1 + theta @ vec)  # mu = c0 * mu1
        peak = counts.sum() / mu1.sum()
        log_at_peak = np.sum(counts * np.log(peak * mu1) - peak * mu1)
        value, _ = integrate.quad(
            lambda c0: np.exp(np.sum(counts * np.log(c0 * mu1) - c0 * mu1) - log_at_peak), 0, 20 * peak,
            points=[peak], limit=200)
        return np.log(value) + log_at_peak

    expected = integral(thetas[1]) - integral(thetas[0])
    values = likelihood(thetas)
    assert values[1] - values[0] == pytest.approx(expected, abs=1e-7)


def test_marginal_likelihood_with_templates_and_the_positivity_boundary():
    from ams_anisotropy.dipole_likelihood import MarginalLogLikelihood

    reference = np.full(NPIX, 50.0)
    counts = generator(10, "tests", 0).poisson(reference).astype(float)
    basis = np.column_stack([VEC.T, VEC[2] ** 2 - 1 / 3])  # a dipole and one quadrupole-like template
    theta = generator(10, "tests", 1).standard_normal((50, 4)) * 0.02
    likelihood = MarginalLogLikelihood(counts, reference, basis)
    np.testing.assert_allclose(likelihood(theta), _brute_force_marginal(counts, reference, basis, theta),
                               rtol=0, atol=1e-9)
    # |r| > 1: mu < 0 in some pixel -> zero likelihood; on a cap where 1 + r . n > 0 it is finite
    dipole = MarginalLogLikelihood(counts, reference, VEC.T)
    assert dipole(np.array([[0.0, 0.0, 1.5]]))[0] == -np.inf
    cap = VEC[2] > 0.5
    capped = MarginalLogLikelihood(counts[cap], reference[cap], VEC.T[cap])
    r = np.array([[0.0, 0.0, 1.5]])
    assert capped(r)[0] == pytest.approx(_brute_force_marginal(counts[cap], reference[cap], VEC.T[cap], r)[0])
