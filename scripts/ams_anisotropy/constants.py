"""Physical constants and fixed numbers of AMS-02 on the ISS, each with its source.

Units are in the names (km, s, nT, GV, deg). Nothing here is computed from configuration.
"""

from __future__ import annotations

import math

# --- Earth figure and gravity -------------------------------------------------------------
# WGS84 ellipsoid (NIMA TR8350.2, 3rd edition, 2000, table 3.1)
WGS84_A_KM = 6378.137
WGS84_F = 1.0 / 298.257223563
WGS84_B_KM = WGS84_A_KM * (1.0 - WGS84_F)
WGS84_E2 = WGS84_F * (2.0 - WGS84_F)  # first eccentricity squared
# Earth's gravitational parameter GM (WGS84 / EGM96, NIMA TR8350.2 table 3.1), km^3 s^-2
GM_EARTH_KM3_S2 = 398600.4418
# second zonal harmonic J2 (unnormalised, EGM96 / Vallado "Fundamentals of Astrodynamics", 4th ed., D-1)
J2 = 1.08262668e-3
# equatorial radius that goes with J2 in the secular J2 rates (the WGS84 semi-major axis)
J2_REFERENCE_RADIUS_KM = WGS84_A_KM

# --- time ---------------------------------------------------------------------------------
SECONDS_PER_DAY = 86400.0
# Julian date of the POSIX epoch 1970-01-01T00:00:00 UTC (IAU SOFA / ERFA conventions)
UNIX_EPOCH_JD = 2440587.5
# AMS-02 started data taking on 2011-05-19 (TAUP2019 paper, section 2) = 1305763200.0 POSIX s at 00:00 UTC
AMS_DATA_TAKING_START_UNIX_S = 1305763200.0

# --- geomagnetism -------------------------------------------------------------------------
# reference radius of the IGRF spherical-harmonic expansion (IGRF-13, Alken et al., EPS 73 (2021) 49)
IGRF_REFERENCE_RADIUS_KM = 6371.2
# Stoermer constant: vertical equatorial cutoff at r = 1 Earth radius is STOERMER_CONSTANT_GV / 4
# = 14.9 GV (method.md section 4; e.g. Smart & Shea, Adv. Space Res. 36 (2005) 2012)
STOERMER_CONSTANT_GV = 59.6
# speed of light (SI exact), used to derive a field's own Stoermer constant c * B0 * R_E
SPEED_OF_LIGHT_M_S = 299792458.0

# IGRF-13 Gauss coefficients in nT, degrees 1 and 2 (Alken et al., Earth Planets Space 73 (2021) 49;
# table igrf13coeffs.txt of NOAA NCEI / IAGA V-MOD). DGRF 2010, DGRF 2015, IGRF 2020, and the
# predictive secular variation 2020-2025 in nT per year.
IGRF13_EPOCHS_YEAR = (2010.0, 2015.0, 2020.0)
IGRF13_GAUSS_NT = {
    #        g10        g11       h11       g20       g21       h21       g22       h22
    2010.0: (-29496.57, -1586.42, 4944.26, -2396.06, 3026.34, -2708.54, 1668.17, -575.73),
    2015.0: (-29441.46, -1501.77, 4795.99, -2445.88, 3012.20, -2845.41, 1676.35, -642.17),
    2020.0: (-29404.8, -1450.9, 4652.5, -2499.6, 2982.0, -2991.6, 1677.0, -734.6),
}
IGRF13_SECULAR_VARIATION_NT_PER_YEAR = (5.7, 7.4, -25.9, -11.0, -7.0, -30.2, -2.1, -22.4)  # 2020-2025
IGRF13_COEFFICIENT_NAMES = ("g10", "g11", "h11", "g20", "g21", "h21", "g22", "h22")
IGRF13_VALID_UNTIL_YEAR = 2025.0  # IGRF-13 is defined 1900-2025; only 2010-2025 is tabulated here

# --- ISS orbit ----------------------------------------------------------------------------
# ISS orbital inclination (NASA ISS trajectory data / method.md section 4)
ISS_INCLINATION_DEG = 51.64
# typical ISS altitude 2011-2019 (330-420 km over the years, method.md section 4)
ISS_ALTITUDE_KM = 410.0

# --- AMS-02 -------------------------------------------------------------------------------
# AMS-02 z axis tilted 12.0 deg from the ISS zenith towards port (AMS offline software CC/FrameTrans.C,
# method.md section 4)
AMS_TILT_TO_PORT_DEG = 12.0
# typical ISS attitude in +XVV (yaw, pitch, roll) in deg (method.md section 4)
ISS_TYPICAL_YAW_DEG = -4.0
ISS_TYPICAL_PITCH_DEG = -3.0
ISS_TYPICAL_ROLL_DEG = 0.0
# AMS-02 DAQ dead time per event, ~230 us (method.md section 4: 86% DAQ efficiency at ~600 Hz)
AMS_DEAD_TIME_S = 230e-6

# --- galactic coordinates -----------------------------------------------------------------
# J2000 (FK5) galactic north pole and galactic longitude of the north celestial pole
# (Hipparcos catalogue vol. 1 section 1.5.3 / Liu, Zhu & Zhang, A&A 526 (2011) A16; as astropy)
GALACTIC_POLE_RA_DEG = 192.85948
GALACTIC_POLE_DEC_DEG = 27.12825
GALACTIC_L_NCP_DEG = 122.93192

DEG = math.pi / 180.0
