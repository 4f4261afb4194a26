"""Orbit and frames: known answers (Kepler, J2 formula, astropy, ERFA), conventions and bad inputs."""

from __future__ import annotations

import erfa
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from ams_anisotropy import frames, orbit
from ams_anisotropy.constants import GM_EARTH_KM3_S2, J2, WGS84_A_KM

# times across 2011-2019 (POSIX s, UTC), not at round hours
TIMES_2011_2019 = np.array(
    [
        1305763200.0 + 12345.6,
        1357000000.0,
        1420070400.0 + 40000.3,
        1483228800.0 + 3600.0 * 7.3,
        1546300800.0 + 86399.0,
        1569888000.0 + 777.0,
    ]
)


@pytest.fixture(scope="module")
def offline_astropy():
    """astropy with the bundled IERS tables only: never goes to the network."""
    from astropy.utils import iers

    with iers.conf.set_temp("auto_download", False), iers.conf.set_temp("iers_degraded_accuracy", "ignore"):
        yield


def _angle_deg(a, b):
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    return np.degrees(np.arctan2(np.linalg.norm(np.cross(a, b), axis=-1), np.sum(a * b, axis=-1)))


# --------------------------------------------------------------------------------------- orbit


def test_orbital_period_kepler():
    a_km = WGS84_A_KM + 410.0
    expected_s = 2.0 * np.pi * np.sqrt(a_km**3 / GM_EARTH_KM3_S2)
    assert orbit.orbital_period_s(410.0) == pytest.approx(expected_s, rel=1e-12)
    # ISS: ~92.6-92.8 min at 410 km (method.md: ~92.7 min)
    assert 92.5 < orbit.orbital_period_s(410.0) / 60.0 < 92.9


def test_nodal_regression_j2_formula():
    a_km = WGS84_A_KM + 410.0
    n = np.sqrt(GM_EARTH_KM3_S2 / a_km**3)
    expected = -1.5 * n * J2 * (WGS84_A_KM / a_km) ** 2 * np.cos(np.radians(51.64))
    rate = orbit.nodal_regression_rate_deg_per_day(410.0, 51.64)
    assert rate == pytest.approx(np.degrees(expected) * 86400.0, rel=1e-12)
    assert -5.1 < rate < -4.9  # method.md: ~ -5.0 deg/day, 72-day cycle
    assert orbit.nodal_regression_rate_deg_per_day(410.0, 90.0) == pytest.approx(0.0, abs=1e-12)


def test_state_eci_geometry_and_derivative():
    o = orbit.CircularOrbit(raan_at_epoch_deg=30.0, arg_latitude_at_epoch_deg=10.0)
    t = o.epoch_unix_s + np.array([0.0, 1000.0, 86400.0 * 3.3, 86400.0 * 400.0])
    r, v = orbit.state_eci(o, t)
    np.testing.assert_allclose(np.linalg.norm(r, axis=1), o.radius_km, rtol=1e-13)
    # circular: v perpendicular to r; speed sqrt(GM/a) up to the J2 rate correction (< 1e-3)
    np.testing.assert_allclose(np.sum(r * v, axis=1), 0.0, atol=1e-9)
    speed = np.sqrt(GM_EARTH_KM3_S2 / o.radius_km)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), speed, rtol=2e-3)
    # inclination: angle between the angular momentum and the pole; r x v is the osculating plane,
    # which the node-regression term of v tilts by up to |dOmega/dt| / (du/dt) = 8.9e-4 rad = 0.051 deg
    h = np.cross(r, v)
    np.testing.assert_allclose(np.degrees(np.arccos(h[:, 2] / np.linalg.norm(h, axis=1))), 51.64, atol=0.06)
    # the highest latitude reached is the inclination (geocentric, in inertial axes)
    r_many, _ = orbit.state_eci(o, o.epoch_unix_s + np.arange(0.0, 6000.0, 0.5))
    max_lat = np.degrees(np.arcsin(r_many[:, 2] / o.radius_km)).max()
    assert max_lat == pytest.approx(51.64, abs=1e-4)
    # at epoch: position at argument of latitude 10 deg from the node at RA 30 deg
    node = np.array([np.cos(np.radians(30.0)), np.sin(np.radians(30.0)), 0.0])
    assert _angle_deg(r[0], node) == pytest.approx(10.0, abs=1e-9)
    # velocity = time derivative of position: central difference over the float64 times actually used,
    # truncation error (w dt)^2 / 6 = 2e-7 relative for dt = 1 s, i.e. 1.6e-6 km/s
    t_plus, t_minus = t + 1.0, t - 1.0
    r_plus, _ = orbit.state_eci(o, t_plus)
    r_minus, _ = orbit.state_eci(o, t_minus)
    np.testing.assert_allclose((r_plus - r_minus) / (t_plus - t_minus)[:, None], v, rtol=0, atol=3e-6)


def test_node_regresses_at_j2_rate():
    from scipy.optimize import brentq

    o = orbit.CircularOrbit()
    period = orbit.orbital_period_s(o.altitude_km)

    def ascending_node_ra_deg(t_guess):
        # the ascending equator crossing (z = 0 going north) after t_guess, by root finding
        t = t_guess + np.linspace(0.0, period, 400)
        z = orbit.state_eci(o, t)[0][:, 2]
        k = np.flatnonzero((z[:-1] < 0) & (z[1:] >= 0))[0]
        t_cross = brentq(lambda x: orbit.state_eci(o, x)[0][0, 2], t[k], t[k + 1], xtol=1e-9)
        r = orbit.state_eci(o, t_cross)[0][0]
        return t_cross, np.degrees(np.arctan2(r[1], r[0]))

    t0, ra0 = ascending_node_ra_deg(o.epoch_unix_s + 1000.0)
    t1, ra1 = ascending_node_ra_deg(o.epoch_unix_s + 10 * 86400.0)
    measured = ((ra1 - ra0 + 180.0) % 360.0 - 180.0) / ((t1 - t0) / 86400.0)
    expected = orbit.nodal_regression_rate_deg_per_day(o.altitude_km, o.inclination_deg)
    # crossings located to 1e-9 s: the rate is exact to rounding (1e-9 deg/day)
    assert measured == pytest.approx(expected, abs=1e-7)
    # the nodal period (between two ascending crossings) is 2 pi / (du/dt), ~4 s below Keplerian
    t2, _ = ascending_node_ra_deg(t0 + 10.0)
    nodal = 2.0 * np.pi / orbit.argument_of_latitude_rate_rad_s(o.altitude_km, o.inclination_deg)
    assert t2 - t0 == pytest.approx(nodal, abs=1e-6)
    assert 3.0 < period - nodal < 6.0


def test_orbit_bad_inputs():
    with pytest.raises(ValueError, match="altitude_km"):
        orbit.CircularOrbit(altitude_km=-10.0)
    with pytest.raises(ValueError, match="inclination_deg"):
        orbit.CircularOrbit(inclination_deg=200.0)
    with pytest.raises(ValueError, match="non-finite"):
        orbit.state_eci(orbit.CircularOrbit(), [1.3e9, np.nan])
    with pytest.raises(ValueError, match="altitude_km"):
        orbit.orbital_period_s(0.0)


# ------------------------------------------------------------------------------ Earth rotation


def test_gcrs_to_itrs_orthonormal_and_era():
    t = np.concatenate([TIMES_2011_2019, TIMES_2011_2019 + 0.5])
    m = frames.gcrs_to_itrs_matrix(t)
    np.testing.assert_allclose(
        np.einsum("nij,nkj->nik", m, m), np.broadcast_to(np.eye(3), m.shape), atol=1e-14
    )
    np.testing.assert_allclose(np.linalg.det(m), 1.0, atol=1e-14)
    era = frames.earth_rotation_angle_rad(t)
    np.testing.assert_allclose(era, erfa.era00(2440587.5, t / 86400.0), atol=1e-9)


def test_gcrs_to_itrs_continuous_at_midnight():
    # the precession-nutation matrix switches day at 00:00 UTC: the jump must stay < 0.5 arcsec
    midnight = 1420070400.0
    m = frames.gcrs_to_itrs_matrix([midnight - 1e-4, midnight + 1e-4])
    jump_rad = np.max(np.abs(m[1] - m[0]))
    earth_rotation_rad = 2e-4 * 7.2921e-5
    assert jump_rad < earth_rotation_rad + np.radians(0.5 / 3600.0)


def test_gcrs_to_itrs_vs_astropy(offline_astropy):
    from astropy import units as u
    from astropy.coordinates import GCRS, ITRS, CartesianRepresentation
    from astropy.time import Time

    itrs_vectors = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.3, -0.4, 0.866]]) * 1e5  # km, far away
    for t in TIMES_2011_2019:
        obstime = Time(t, format="unix")
        rep = CartesianRepresentation(itrs_vectors.T * u.km)
        gcrs = ITRS(rep, obstime=obstime).transform_to(GCRS(obstime=obstime))
        expected = gcrs.cartesian.xyz.to_value(u.km).T
        dut1_s = float(obstime.delta_ut1_utc)
        for shift_s, tolerance_deg in ((0.0, 0.0045), (dut1_s, 3e-4)):
            m = frames.gcrs_to_itrs_matrix(t + shift_s)[0]
            mine = itrs_vectors @ m  # rows: M^T v
            # UT1 = UTC: |UT1-UTC| < 0.9 s is 0.0038 deg of rotation; with UT1 restored what is left is
            # polar motion (< 0.6") and the daily precession-nutation (< 0.2"): 3e-4 deg = 1.1"
            assert np.all(_angle_deg(mine, expected) < tolerance_deg), (t, shift_s)


def test_zenith_galactic_vs_astropy(offline_astropy):
    from astropy import units as u
    from astropy.coordinates import AltAz, EarthLocation, Galactic, SkyCoord
    from astropy.time import Time

    o = orbit.CircularOrbit(raan_at_epoch_deg=77.0, arg_latitude_at_epoch_deg=33.0)
    r_gcrs, _ = orbit.state_eci(o, TIMES_2011_2019)
    m = frames.gcrs_to_itrs_matrix(TIMES_2011_2019)
    r_itrs = frames.apply_matrix(m, r_gcrs)
    lat, lon, alt = frames.itrs_to_geodetic(r_itrs)
    up_itrs = frames.geodetic_up_itrs(lat, lon)
    up_gal = np.einsum("nji,nj->ni", m, up_itrs) @ frames.GCRS_TO_GALACTIC.T
    location = EarthLocation.from_geodetic(lon * u.deg, lat * u.deg, alt * u.km, ellipsoid="WGS84")
    obstime = Time(TIMES_2011_2019, format="unix")
    zenith = SkyCoord(
        AltAz(
            alt=np.full(lat.size, 90.0) * u.deg,
            az=np.zeros(lat.size) * u.deg,
            location=location,
            obstime=obstime,
        )
    )
    galactic = zenith.transform_to(Galactic())
    expected = frames.lonlat_to_unit_vector(galactic.l.deg, galactic.b.deg)
    # UT1-UTC (< 0.0038 deg) + annual aberration that astropy applies (< 0.0057 deg) < 0.01 deg
    assert np.all(_angle_deg(up_gal, expected) < 0.01)


def test_galactic_matrix_vs_astropy():
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    m = frames.GCRS_TO_GALACTIC
    np.testing.assert_allclose(m @ m.T, np.eye(3), atol=1e-15)
    assert np.linalg.det(m) == pytest.approx(1.0, abs=1e-15)
    rng = np.random.default_rng(7)
    ra = rng.uniform(0.0, 360.0, 200)
    dec = np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, 200)))
    galactic = SkyCoord(ra=ra * u.deg, dec=dec * u.deg, frame="icrs").galactic
    expected = frames.lonlat_to_unit_vector(galactic.l.deg, galactic.b.deg)
    mine = frames.lonlat_to_unit_vector(ra, dec) @ m.T
    # ICRS vs FK5 J2000 frame bias ~ 0.02": 1e-4 deg (0.36") is the brief's tolerance
    assert np.all(_angle_deg(mine, expected) < 1e-4)
    # the rows of the matrix are the galactic axes in equatorial coordinates; z = the J2000 pole
    pole = frames.lonlat_to_unit_vector(192.85948, 27.12825)[0]
    np.testing.assert_allclose(m[2], pole, atol=1e-12)
    centre = SkyCoord(l=0 * u.deg, b=0 * u.deg, frame="galactic").icrs
    assert _angle_deg(m[0], frames.lonlat_to_unit_vector(centre.ra.deg, centre.dec.deg)[0]) < 1e-4


# ------------------------------------------------------------------------------------ geodetic


def test_geodetic_vs_astropy():
    from astropy import units as u
    from astropy.coordinates import EarthLocation

    rng = np.random.default_rng(3)
    n = 500
    lat = np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, n)))
    lon = rng.uniform(-180.0, 180.0, n)
    alt = rng.uniform(300.0, 450.0, n)
    xyz = frames.geodetic_to_itrs(lat, lon, alt)
    location = EarthLocation.from_geocentric(xyz[:, 0] * u.km, xyz[:, 1] * u.km, xyz[:, 2] * u.km)
    geodetic = location.to_geodetic("WGS84")
    my_lat, my_lon, my_alt = frames.itrs_to_geodetic(xyz)
    # Bowring's formula: < 2e-8 deg (2 mm) at LEO heights
    np.testing.assert_allclose(my_lat, geodetic.lat.deg, atol=3e-8)
    np.testing.assert_allclose(((my_lon - geodetic.lon.deg + 180.0) % 360.0) - 180.0, 0.0, atol=1e-10)
    np.testing.assert_allclose(my_alt, geodetic.height.to_value(u.km), atol=1e-5)
    np.testing.assert_allclose(my_lat, lat, atol=3e-8)
    np.testing.assert_allclose(my_alt, alt, atol=1e-5)
    assert np.all((my_lon > -180.0) & (my_lon <= 180.0))
    # longitude exactly 180 deg maps to +180, not -180
    assert frames.itrs_to_geodetic([[-7000.0, -0.0, 0.0]])[1][0] == 180.0


def test_geodetic_up_is_ellipsoid_normal():
    lat, lon = np.array([0.0, 45.0, -51.6]), np.array([10.0, -120.0, 179.0])
    up = frames.geodetic_up_itrs(lat, lon)
    # the normal is perpendicular to the meridian ellipse tangent d(position)/d(lat)
    eps = 1e-5
    tangent = frames.geodetic_to_itrs(lat + eps, lon, 0.0) - frames.geodetic_to_itrs(lat - eps, lon, 0.0)
    np.testing.assert_allclose(np.sum(up * tangent, axis=1) / np.linalg.norm(tangent, axis=1), 0.0, atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(up, axis=1), 1.0, atol=1e-15)


# ------------------------------------------------------------------------------ LVLH and AMS axes


def _orbit_state(n=50):
    o = orbit.CircularOrbit(raan_at_epoch_deg=12.0)
    t = o.epoch_unix_s + np.linspace(0.0, 86400.0, n)
    return t, *orbit.state_eci(o, t)


def test_lvlh_axes():
    _, r, v = _orbit_state()
    lvlh = frames.lvlh_axes(r, v)
    np.testing.assert_allclose(
        np.einsum("nij,nkj->nik", lvlh, lvlh), np.broadcast_to(np.eye(3), lvlh.shape), atol=1e-14
    )
    np.testing.assert_allclose(np.linalg.det(lvlh), 1.0, atol=1e-14)
    np.testing.assert_allclose(lvlh[:, 2], -r / np.linalg.norm(r, axis=1, keepdims=True), atol=1e-15)
    # X along the velocity up to the node-regression term (|Omega_dot r| / |v| ~ 1e-3)
    assert np.all(_angle_deg(lvlh[:, 0], v) < 0.1)
    # Y = -orbit normal
    h = np.cross(r, v)
    np.testing.assert_allclose(lvlh[:, 1], -h / np.linalg.norm(h, axis=1, keepdims=True), atol=1e-15)


@pytest.mark.parametrize("direction", [1, -1])
def test_ams_tilt_towards_port(direction):
    _, r, v = _orbit_state()
    attitude = frames.Attitude(yaw_deg=0.0, pitch_deg=0.0, roll_deg=0.0)
    axes = frames.ams_axes_gcrs(r, v, direction, attitude)
    np.testing.assert_allclose(
        np.einsum("nij,nkj->nik", axes, axes), np.broadcast_to(np.eye(3), axes.shape), atol=1e-14
    )
    np.testing.assert_allclose(np.linalg.det(axes), 1.0, atol=1e-14)  # right-handed
    zenith = r / np.linalg.norm(r, axis=1, keepdims=True)
    h = np.cross(r, v)
    normal = h / np.linalg.norm(h, axis=1, keepdims=True)
    np.testing.assert_allclose(np.sum(axes[:, 2] * zenith, axis=1), np.cos(np.radians(12.0)), atol=1e-13)
    # port = +orbit normal in +XVV (starboard = LVLH +Y = -normal); the ISS turned around in -XVV
    np.testing.assert_allclose(
        np.sum(axes[:, 2] * normal, axis=1), direction * np.sin(np.radians(12.0)), atol=1e-13
    )
    # AMS x along the flight direction (velocity in +XVV, against it in -XVV)
    lvlh = frames.lvlh_axes(r, v)
    np.testing.assert_allclose(np.sum(axes[:, 0] * lvlh[:, 0], axis=1), direction, atol=1e-13)


@pytest.mark.parametrize("direction", [1, -1])
def test_ams_axes_euler_vs_scipy(direction):
    _, r, v = _orbit_state(10)
    attitude = frames.Attitude()  # yaw -4, pitch -3, roll 0, tilt 12
    axes = frames.ams_axes_gcrs(r, v, direction, attitude)
    lvlh = frames.lvlh_axes(r, v)
    # body axes in LVLH = columns of the active intrinsic Z-Y'-X'' rotation (yaw, pitch, roll)
    yaw = attitude.yaw_deg + (0.0 if direction > 0 else 180.0)
    body_in_lvlh = Rotation.from_euler("ZYX", [yaw, attitude.pitch_deg, attitude.roll_deg], degrees=True)
    tilt = np.radians(12.0)
    ams_in_body = np.array(
        [[1.0, 0.0, 0.0], [0.0, -np.cos(tilt), np.sin(tilt)], [0.0, -np.sin(tilt), -np.cos(tilt)]]
    )
    ams_in_lvlh = body_in_lvlh.apply(ams_in_body)  # rows
    expected = np.einsum("ij,njk->nik", ams_in_lvlh, lvlh)
    np.testing.assert_allclose(axes, expected, atol=1e-14)
    # positive pitch raises the nose: pitch -3 lowers AMS x (the nose) below the horizontal by 3 deg
    zenith = r / np.linalg.norm(r, axis=1, keepdims=True)
    np.testing.assert_allclose(np.sum(axes[:, 0] * zenith, axis=1), np.sin(np.radians(-3.0)), atol=1e-13)


def test_flight_direction_periods():
    attitude = frames.Attitude(minus_xvv_periods_unix_s=((200.0, 300.0), (100.0, 150.0)))
    t = np.array([50.0, 100.0, 149.9, 150.0, 250.0, 300.0, 400.0])
    direction = frames.flight_direction(t, attitude)
    assert direction.dtype == np.int8
    np.testing.assert_array_equal(direction, [1, -1, -1, 1, -1, 1, 1])
    np.testing.assert_array_equal(frames.flight_direction(t, frames.Attitude()), 1)


def test_frames_bad_inputs():
    with pytest.raises(ValueError, match="overlap"):
        frames.Attitude(minus_xvv_periods_unix_s=((0.0, 10.0), (5.0, 20.0)))
    with pytest.raises(ValueError, match="start < stop"):
        frames.Attitude(minus_xvv_periods_unix_s=((10.0, 0.0),))
    with pytest.raises(ValueError, match="ams_tilt_deg"):
        frames.Attitude(ams_tilt_deg=95.0)
    with pytest.raises(ValueError, match="shape"):
        frames.itrs_to_geodetic(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="non-finite"):
        frames.gcrs_to_itrs_matrix([np.inf])
    _, r, v = _orbit_state(3)
    with pytest.raises(ValueError, match="flight_direction"):
        frames.ams_axes_gcrs(r, v, 0, frames.Attitude())
    with pytest.raises(ValueError, match="differ in shape"):
        frames.ams_axes_gcrs(r, v[:2], 1, frames.Attitude())
