"""Geomagnetic dipole, coordinates and Stoermer cutoffs: analytic answers, brute force, bad inputs."""

from __future__ import annotations

import numpy as np
import pytest

from ams_anisotropy import geomagnetic as gm
from ams_anisotropy.constants import IGRF13_GAUSS_NT, IGRF13_SECULAR_VARIATION_NT_PER_YEAR, WGS84_E2

R_KM = 6371.2  # IGRF reference radius

# a centred axial dipole: magnetic and geographic frames coincide (boreal geomagnetic pole = +z)
AXIAL = gm.DipoleField(g10_nt=-30000.0, g11_nt=0.0, h11_nt=0.0)


def test_igrf_interpolation_and_extrapolation():
    c = gm.igrf13_coefficients(2012.5)
    assert c["g10"] == pytest.approx(0.5 * (-29496.57 - 29441.46), abs=1e-9)
    c = gm.igrf13_coefficients(2022.0)
    assert c["h22"] == pytest.approx(
        IGRF13_GAUSS_NT[2020.0][7] + 2.0 * IGRF13_SECULAR_VARIATION_NT_PER_YEAR[7]
    )
    # IGRF-13 tabulates 2025.0 = 2020 + 5 * SV for g10: -29376.3 nT
    assert gm.igrf13_coefficients(2025.0)["g10"] == pytest.approx(-29376.3, abs=1e-9)
    f = gm.DipoleField.from_igrf(2015.0, eccentric=False)
    assert (f.g10_nt, f.g11_nt, f.h11_nt, f.offset_km) == (-29441.46, -1501.77, 4795.99, (0.0, 0.0, 0.0))


def test_geomagnetic_north_pole_2020():
    # published IGRF-13 geomagnetic (centred dipole) north pole for 2020.0: 80.65 N, 72.68 W (NOAA NCEI),
    # quoted as geodetic latitude
    axis = gm.DipoleField.from_igrf(2020.0, eccentric=False).north_pole_axis
    geocentric_lat = np.arctan2(axis[2], np.hypot(axis[0], axis[1]))
    geodetic_lat = np.degrees(np.arctan(np.tan(geocentric_lat) / (1.0 - WGS84_E2)))
    assert geodetic_lat == pytest.approx(80.65, abs=0.01)
    assert np.degrees(np.arctan2(axis[1], axis[0])) == pytest.approx(-72.68, abs=0.01)


def test_eccentric_dipole_offset_injection():
    # an axial dipole moved by zeta along z has g20 = 2 g10 zeta / R; moved by xi along x it has
    # g21 = sqrt(3) g10 xi / R (first-order expansion of the shifted dipole potential). The
    # Fraser-Smith construction must return these offsets exactly.
    g10, zeta, xi = -30000.0, 400.0, -250.0
    coefficients = dict(
        g10=g10, g11=0.0, h11=0.0, g20=2 * g10 * zeta / R_KM, g21=0.0, h21=0.0, g22=0.0, h22=0.0
    )
    np.testing.assert_allclose(gm.eccentric_dipole_offset_km(coefficients), (0.0, 0.0, zeta), atol=1e-9)
    coefficients = dict(
        g10=g10, g11=0.0, h11=0.0, g20=0.0, g21=np.sqrt(3) * g10 * xi / R_KM, h21=0.0, g22=0.0, h22=0.0
    )
    np.testing.assert_allclose(gm.eccentric_dipole_offset_km(coefficients), (xi, 0.0, 0.0), atol=1e-9)


def test_eccentric_dipole_igrf_2015():
    # literature (Fraser-Smith 1987 method; Koochak & Fraser-Smith, Earth Space Sci. 4 (2017) 626):
    # ~570 km towards ~22-23 N, ~139-140 E around 2015, moving away ~2-3 km/yr
    offset = np.array(gm.DipoleField.from_igrf(2015.0).offset_km)
    distance = np.linalg.norm(offset)
    assert 540.0 < distance < 610.0
    assert 20.0 < np.degrees(np.arcsin(offset[2] / distance)) < 25.0
    assert 135.0 < np.degrees(np.arctan2(offset[1], offset[0])) < 145.0
    assert np.linalg.norm(gm.DipoleField.from_igrf(2020.0).offset_km) > distance


def test_geomagnetic_frame_axial_dipole():
    lat, lon = np.radians([0.0, 30.0, -60.0]), np.radians([0.0, 100.0, -45.0])
    pos = 6800.0 * np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=1)
    mag_lat, r, east, north, up = gm.geomagnetic_frame(pos, AXIAL)
    np.testing.assert_allclose(mag_lat, lat, atol=1e-14)
    np.testing.assert_allclose(r, 6800.0 / R_KM, rtol=1e-14)
    geo_east = np.stack([-np.sin(lon), np.cos(lon), np.zeros(3)], axis=1)
    geo_north = np.stack([-np.sin(lat) * np.cos(lon), -np.sin(lat) * np.sin(lon), np.cos(lat)], axis=1)
    np.testing.assert_allclose(east, geo_east, atol=1e-14)
    np.testing.assert_allclose(north, geo_north, atol=1e-14)
    np.testing.assert_allclose(np.cross(east, north), up, atol=1e-14)  # right-handed ENU


def test_geomagnetic_frame_offset_and_tilt():
    field = gm.DipoleField.from_igrf(2011.4)
    rng = np.random.default_rng(11)
    pos = rng.normal(size=(200, 3))
    pos *= 6790.0 / np.linalg.norm(pos, axis=1, keepdims=True)
    mag_lat, r, east, north, up = gm.geomagnetic_frame(pos, field)
    rel = pos - np.array(field.offset_km)
    np.testing.assert_allclose(r * R_KM, np.linalg.norm(rel, axis=1), rtol=1e-14)
    rel_unit = rel / np.linalg.norm(rel, axis=1, keepdims=True)
    np.testing.assert_allclose(np.sin(mag_lat), rel_unit @ field.north_pole_axis, atol=1e-14)
    for a, b in ((east, north), (east, up), (north, up)):
        np.testing.assert_allclose(np.sum(a * b, axis=1), 0.0, atol=1e-14)
    assert np.all(north @ field.north_pole_axis >= 0.0)  # north points towards the boreal pole
    # ISS altitude: the eccentric centre puts the South Atlantic farther out (lower field) than the Pacific
    south_atlantic = 6790.0 * np.array(
        [
            np.cos(np.radians(-26)) * np.cos(np.radians(-50)),
            np.cos(np.radians(-26)) * np.sin(np.radians(-50)),
            np.sin(np.radians(-26)),
        ]
    )
    pacific = 6790.0 * np.array(
        [
            np.cos(np.radians(20)) * np.cos(np.radians(140)),
            np.cos(np.radians(20)) * np.sin(np.radians(140)),
            np.sin(np.radians(20)),
        ]
    )
    b = gm.field_strength_nt(np.stack([south_atlantic, pacific]), field)
    assert b[0] < 0.75 * b[1]


def test_field_strength_dipole():
    # B = B0 (R/r)^3 at the magnetic equator and 2 B0 (R/r)^3 at the pole
    pos = np.array([[R_KM, 0.0, 0.0], [0.0, 0.0, 2 * R_KM]])
    np.testing.assert_allclose(gm.field_strength_nt(pos, AXIAL), [30000.0, 2 * 30000.0 / 8.0], rtol=1e-14)
    # on the axis the frame still exists (east arbitrary but horizontal) and all cutoffs vanish
    _, _, east, north, up = gm.geomagnetic_frame(pos, AXIAL)
    np.testing.assert_allclose(np.sum(east * up, axis=1), 0.0, atol=1e-15)
    np.testing.assert_allclose(np.linalg.norm(north, axis=1), 1.0, atol=1e-15)
    assert gm.max_cutoff_in_cone_gv(pos[1:], [[0.0, 1.0, 0.0]], 40.0, 1, AXIAL)[0] == pytest.approx(
        0.0, abs=1e-12
    )


def test_stoermer_vertical_equator():
    for r in (1.0, 1.065, 1.5):
        assert gm.stoermer_cutoff_gv(0.0, r, 0.0, 1) == pytest.approx(14.9 / r**2, rel=1e-12)
        assert gm.stoermer_cutoff_gv(0.0, r, 0.0, -1) == pytest.approx(14.9 / r**2, rel=1e-12)
    # vertical: 14.9 cos^4(lam) / r^2 (s = 0)
    lam = np.radians(np.array([0.0, 20.0, 45.0, 70.0, 90.0]))
    np.testing.assert_allclose(
        gm.stoermer_cutoff_gv(lam, 1.065, 0.0, 1), 14.9 * np.cos(lam) ** 4 / 1.065**2, rtol=1e-12, atol=1e-15
    )
    np.testing.assert_allclose(
        gm.vertical_cutoff_gv([[6800.0, 0.0, 0.0]], AXIAL), 14.9 / (6800.0 / R_KM) ** 2, rtol=1e-12
    )


def test_east_west_asymmetry():
    # horizontal at the equator: from the east 59.6 / r^2 (positives), from the west 59.6 / (r (1 + sqrt 2))^2
    r = 1.065
    east = gm.stoermer_cutoff_gv(0.0, r, 1.0, 1)
    west = gm.stoermer_cutoff_gv(0.0, r, -1.0, 1)
    assert east == pytest.approx(59.6 / r**2, rel=1e-12)
    assert west == pytest.approx(59.6 / (r**2 * (1 + np.sqrt(2)) ** 2), rel=1e-12)
    # negatives: mirrored
    assert gm.stoermer_cutoff_gv(0.0, r, -1.0, -1) == pytest.approx(east)
    # with directions: at (lat 0, lon 0) of an axial dipole, geographic east = +y
    pos = np.array([[6800.0, 0.0, 0.0]])
    from_east = gm.directional_cutoff_gv(pos, [0.0, 1.0, 0.0], 1, AXIAL)
    from_west = gm.directional_cutoff_gv(pos, [0.0, -1.0, 0.0], 1, AXIAL)
    assert from_east[0] > from_west[0]
    assert from_east[0] == pytest.approx(59.6 / (6800.0 / R_KM) ** 2, rel=1e-12)
    neg = gm.directional_cutoff_gv(np.repeat(pos, 2, axis=0), [[0.0, 1.0, 0.0], [0.0, -1.0, 0.0]], -1, AXIAL)
    np.testing.assert_allclose(neg, [from_west[0], from_east[0]], rtol=1e-12)
    # monotonic in s
    s = np.linspace(-1.0, 1.0, 101)
    assert np.all(np.diff(gm.stoermer_cutoff_gv(np.radians(30.0), 1.06, s, 1)) > 0)


def _brute_force_max_in_cone(position, axis, half_angle_deg, charge_sign, field):
    """Maximum cutoff over a (theta, phi) grid of the cone, refined by zooming 5 times on the best cell."""
    helper = np.array([1.0, 0.0, 0.0]) if abs(axis[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    u = np.cross(axis, helper)
    u /= np.linalg.norm(u)
    w = np.cross(axis, u)
    alpha = np.radians(half_angle_deg)
    theta_range, phi_range = (0.0, alpha), (0.0, 2 * np.pi)
    best = -np.inf
    for _ in range(6):
        theta = np.linspace(*theta_range, 101)
        phi = np.linspace(*phi_range, 201)
        tt, pp = (g.ravel() for g in np.meshgrid(theta, phi, indexing="ij"))
        d = np.cos(tt)[:, None] * axis + np.sin(tt)[:, None] * (
            np.cos(pp)[:, None] * u + np.sin(pp)[:, None] * w
        )
        cutoff = gm.directional_cutoff_gv(np.broadcast_to(position, d.shape), d, charge_sign, field)
        k = int(np.argmax(cutoff))
        best = max(best, cutoff[k])
        d_theta, d_phi = 2 * (theta[1] - theta[0]), 2 * (phi[1] - phi[0])
        theta_range = (max(0.0, tt[k] - d_theta), min(alpha, tt[k] + d_theta))
        phi_range = (pp[k] - d_phi, pp[k] + d_phi)
    return best


@pytest.mark.parametrize("charge_sign", [1, -1])
def test_max_cutoff_in_cone_vs_brute_force(charge_sign):
    field = gm.DipoleField.from_igrf(2016.0)
    rng = np.random.default_rng(5 + charge_sign)
    n = 16
    pos = rng.normal(size=(n, 3))
    pos *= 6790.0 / np.linalg.norm(pos, axis=1, keepdims=True)
    # axes near the local vertical (as for AMS); every other one tilted 60 deg towards q * east so that
    # the direction of the maximum (q * east) is inside the 35-deg cone
    _, _, east, _, up = gm.geomagnetic_frame(pos, field)
    axes = up + rng.uniform(-0.3, 0.3, size=(n, 3))
    axes[::2] = np.cos(np.radians(60.0)) * up[::2] + np.sin(np.radians(60.0)) * charge_sign * east[::2]
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    half_angle = 35.0
    closed = gm.max_cutoff_in_cone_gv(pos, axes, half_angle, charge_sign, field)
    brute = np.array(
        [_brute_force_max_in_cone(pos[i], axes[i], half_angle, charge_sign, field) for i in range(n)]
    )
    # the closed form is the supremum: never below a sampled value (up to rounding); the zoomed grid
    # reaches ~1e-9 rad, so near s = 1 (where dRc/ds ~ 1/sqrt(1 - s)) it is within ~1e-8 relative
    assert np.all(closed >= brute * (1 - 1e-12))
    np.testing.assert_allclose(brute, closed, rtol=1e-6)
    # the geometry alone: max of q (d . east) over the cone
    s_closed = gm.max_east_projection_in_cone(charge_sign * np.sum(axes * east, axis=1), half_angle)
    inside = np.degrees(np.arccos(np.clip(charge_sign * np.sum(axes * east, axis=1), -1, 1))) < half_angle
    np.testing.assert_allclose(s_closed[inside], 1.0)
    assert 0 < inside.sum() < n  # both cases (east inside and outside the cone) are exercised


def test_max_cutoff_cone_limits():
    field = gm.DipoleField.from_igrf(2012.0)
    pos = np.array([[6790.0, 100.0, 300.0], [-2000.0, 4000.0, 5000.0]])
    axes = pos / np.linalg.norm(pos, axis=1, keepdims=True)
    # zero half-angle = the directional cutoff along the axis
    np.testing.assert_allclose(
        gm.max_cutoff_in_cone_gv(pos, axes, 0.0, 1, field),
        gm.directional_cutoff_gv(pos, axes, 1, field),
        rtol=1e-12,
    )
    # 90 deg around the vertical contains magnetic east: the maximum is the s = 1 cutoff
    mag_lat, r, _, _, _ = gm.geomagnetic_frame(pos, field)
    np.testing.assert_allclose(
        gm.max_cutoff_in_cone_gv(pos, axes, 90.0, 1, field),
        gm.stoermer_cutoff_gv(mag_lat, r, 1.0, 1),
        rtol=1e-12,
    )
    wider = [gm.max_cutoff_in_cone_gv(pos, axes, a, -1, field) for a in (25, 30, 35, 40)]
    assert np.all(np.diff(np.stack(wider), axis=0) >= 0)


def test_decimal_year():
    assert gm.decimal_year(1305763200.0)[0] == pytest.approx(2011 + 138 / 365, abs=1e-12)  # 2011-05-19
    assert gm.decimal_year(1577836800.0)[0] == 2020.0


def test_geomagnetic_bad_inputs():
    with pytest.raises(ValueError, match="2010"):
        gm.DipoleField.from_igrf(2005.0)
    with pytest.raises(ValueError, match="2025"):
        gm.igrf13_coefficients(2030.0)
    with pytest.raises(ValueError, match="not all zero"):
        gm.DipoleField(0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="offset_km"):
        gm.DipoleField(offset_km=(1.0, np.nan, 0.0))
    pos = np.array([[6800.0, 0.0, 0.0]])
    with pytest.raises(ValueError, match="charge_sign"):
        gm.directional_cutoff_gv(pos, [0.0, 1.0, 0.0], 0, AXIAL)
    with pytest.raises(ValueError, match="half_angle_deg"):
        gm.max_cutoff_in_cone_gv(pos, [[1.0, 0.0, 0.0]], 120.0, 1, AXIAL)
    with pytest.raises(ValueError, match="east_projection"):
        gm.stoermer_cutoff_gv(0.0, 1.0, 1.5, 1)
    with pytest.raises(ValueError, match="r_earth_radii"):
        gm.stoermer_cutoff_gv(0.0, -1.0, 0.0, 1)
    with pytest.raises(ValueError, match="shape"):
        gm.geomagnetic_frame(np.zeros((3, 2)), AXIAL)
    with pytest.raises(ValueError, match="non-finite"):
        gm.geomagnetic_frame([[np.nan, 0.0, 0.0]], AXIAL)
    with pytest.raises(ValueError, match="zero-length"):
        gm.directional_cutoff_gv(pos, [0.0, 0.0, 0.0], 1, AXIAL)
