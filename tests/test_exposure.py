"""The harmonic exposure integration (exposure.py) against a direct sum over rotated beams.

Known answer computed independently: for a few hundred random attitudes R_s and weights W_s, the
exposure map sum_s W_s A(R_s^T n) of an analytic, asymmetric acceptance A evaluated point by point at
Nside-128 pixel centres and averaged over each Nside-32 pixel (no harmonics involved). The Euler angles
are checked against scipy's rotation conventions.
"""

import healpy as hp
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from ams_anisotropy import exposure

SIGMA_RAD = np.radians(12.0)


def analytic_acceptance(vectors):
    """A smooth, asymmetric detector-frame function: a Gaussian around z, offset towards +x, tilted in y."""
    x, y, z = vectors[..., 0], vectors[..., 1], vectors[..., 2]
    theta2 = 2.0 * (1.0 - (0.95 * z + 0.3122 * x))  # chordal distance^2 to a point ~18 deg from z towards +x
    return np.exp(-theta2 / (2 * SIGMA_RAD**2)) * (1.0 + 0.4 * y)


def beam_alm(lmax, kmax, nside=256):
    vec = np.array(hp.pix2vec(nside, np.arange(hp.nside2npix(nside)))).T
    return hp.map2alm(analytic_acceptance(vec), lmax=lmax, mmax=kmax, iter=3)


def test_pointing_angles_follow_zyz_euler_convention():
    rotations = Rotation.random(200, random_state=3)
    angles = exposure.pointing_angles(rotations.as_matrix())
    rebuilt = Rotation.from_euler("ZYZ", np.column_stack([angles[:, 1], angles[:, 0], angles[:, 2]])).as_matrix()
    np.testing.assert_allclose(rebuilt, rotations.as_matrix(), atol=1e-12)


def test_exposure_matches_direct_sum_over_rotated_beams():
    rng = np.random.default_rng(7)
    n_att = 200
    rotations = Rotation.random(n_att, random_state=11).as_matrix()
    weights = rng.uniform(0.2, 2.0, n_att)
    nside, fine = 32, 128
    vec = np.array(hp.pix2vec(fine, np.arange(hp.nside2npix(fine)))).T
    direct_fine = np.zeros(vec.shape[0])
    for rotation, weight in zip(rotations, weights, strict=True):
        direct_fine += weight * analytic_acceptance(vec @ rotation)  # A(R^T n)
    direct = hp.ud_grade(direct_fine, nside)  # mean over the 16 sub-pixels of each pixel
    lmax, kmax = 96, 16
    engine = exposure.HarmonicExposure(1, lmax, kmax, epsilon=1e-9)
    engine.add(rotations, weights[None, :])
    alm = engine.sky_alm(beam_alm(lmax, kmax)[None, None, :])
    harmonic = exposure.pixel_averaged_maps(alm[0, 0], nside, lmax, oversampling=4)
    scale = direct.max()
    error = np.max(np.abs(harmonic - direct)) / scale
    assert error < 1e-3, error
    # and it is not a trivial agreement: a wrong psi convention (x axis rotated by 90 deg) fails
    flipped = rotations @ Rotation.from_euler("z", 90, degrees=True).as_matrix()
    wrong = exposure.HarmonicExposure(1, lmax, kmax, epsilon=1e-9)
    wrong.add(flipped, weights[None, :])
    wrong_map = exposure.pixel_averaged_maps(wrong.sky_alm(beam_alm(lmax, kmax)[None, None, :])[0, 0], nside, lmax, 4)
    assert np.max(np.abs(wrong_map - direct)) / scale > 0.05


def test_accumulation_is_linear_and_streamable():
    rotations = Rotation.random(400, random_state=5).as_matrix()
    weights = np.random.default_rng(2).uniform(size=(2, 400))
    beams = beam_alm(48, 6, nside=64)[None, None, :].repeat(2, axis=0)
    whole = exposure.HarmonicExposure(2, 48, 6)
    whole.add(rotations, weights)
    parts = exposure.HarmonicExposure(2, 48, 6)
    parts.add(rotations[:150], weights[:, :150])
    parts.add(rotations[150:], weights[:, 150:])
    a, b = whole.sky_alm(beams), parts.sky_alm(beams)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-9 * np.abs(a).max())
    np.testing.assert_allclose(whole.weighted_rotation, parts.weighted_rotation, atol=1e-12)


@pytest.mark.parametrize("kwargs, message", [
    (dict(n_sets=0), "n_sets"), (dict(n_sets=1, lmax=8, kmax=9), "kmax"), (dict(n_sets=1, epsilon=0.5), "epsilon"),
])
def test_bad_settings_fail_clearly(kwargs, message):
    with pytest.raises(ValueError, match=message):
        exposure.HarmonicExposure(**kwargs)


def test_bad_weights_fail_clearly():
    engine = exposure.HarmonicExposure(1, 16, 4)
    with pytest.raises(ValueError, match="weights"):
        engine.add(np.tile(np.eye(3), (3, 1, 1)), np.array([[1.0, -1.0, 1.0]]))
