"""Validation of the fit and limit machinery on the Pierre Auger Observatory's public 2017 events.

Data: the 32,187 events above 8 EeV (zenith < 80 deg, 2004-01-01 to 2016-08-31) of The Pierre
Auger Collaboration, Science 357 (2017) 1266 (CC BY-SA 4.0), shipped in ``resources/auger2017/``.

Exposure.  A ground array at latitude a0 that is fully efficient up to the zenith angle
theta_m and runs uniformly in sidereal time has the relative directional exposure
(Sommers, Astropart. Phys. 14 (2001) 271, eq. 2-3)

    omega(dec) ∝ cos(a0) cos(dec) sin(alpha_m) + alpha_m sin(a0) sin(dec),
    alpha_m = 0 if xi > 1, pi if xi < -1, arccos(xi) otherwise,
    xi = (cos(theta_m) - sin(a0) sin(dec)) / (cos(a0) cos(dec)).

It depends on declination only; the HEALPix map in galactic coordinates evaluates it at the
declination (astropy, ICRS) of the centres of pixels ``oversample`` times finer and averages
them (``healpy.ud_grade``).

Weights.  The file's weights (0.99-1.01) correct the small modulations of the real exposure
in right ascension (array growth and dead times, i.e. a non-uniform coverage of sidereal time,
and the tilt of the array; Science 357 (2017) 1266, supplementary material): an event's
weight is the inverse of the relative exposure of its direction.  So the analysis uses them as
the paper does: the counts map is the sum of the weights per pixel (to be compared with the
ideal, RA-independent Sommers exposure) and the Rayleigh analysis in RA uses weighted sums.

Normalisation.  The array never sees dec > 44.8 deg, so the monopole and the dipole component
along the Earth's axis are correlated.  The fit uses the project's free monopole (method.md
section 2), with all pixels of non-zero exposure.  Auger itself combined the first harmonic
in RA with the East-West harmonic in azimuth for the z component; the likelihood fit here
uses the full sky coverage instead, so the two estimates agree within their uncertainties
but are not identical.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import healpy as hp
import numpy as np
import pandas as pd
from astropy import units as u
from astropy.coordinates import SkyCoord

from . import fit as fitmod
from .io import InputError

# Pierre Auger Observatory: latitude of the array centre (Science 357 (2017) 1266; Sommers 2001)
AUGER_LATITUDE_DEG = -35.2
# Zenith-angle range of the 2017 data set (file header; Science 357 (2017) 1266)
AUGER_MAX_ZENITH_DEG = 80.0

# Published results, Science 357 (2017) 1266, Table 1 and text (method.md section 5).
PUBLISHED = {
    "dipole_amplitude": (0.065, +0.013, -0.009),
    "dipole_ra_deg": (100.0, +10.0, -10.0),
    "dipole_dec_deg": (-24.0, +12.0, -13.0),
    "first_harmonic_ra_amplitude": (0.047, +0.009, -0.007),
    "first_harmonic_ra_phase_deg": (100.0, +10.0, -10.0),
    "first_harmonic_ra_probability": (2.6e-8, 0.0, 0.0),
}

EVENT_COLUMNS = ("year", "day", "dec_deg", "ra_deg", "azimuth_deg", "weight", "utc")


def read_auger_events(path) -> pd.DataFrame:
    """Read the Auger 2017 arrival-direction file (``#`` comments, 7 whitespace-separated columns).

    Returns a DataFrame with columns year, day, dec_deg, ra_deg, azimuth_deg (local azimuth),
    weight, utc (POSIX seconds).  Raises :class:`ams_anisotropy.io.InputError` naming the file
    when it is missing, has the wrong number of columns, non-numeric or out-of-range values.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file does not exist")
    try:
        lines = path.read_text(encoding="utf-8", errors="strict").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: not a readable text table ({err})") from err
    rows = []
    for number, line in enumerate(lines, start=1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        if len(fields) != len(EVENT_COLUMNS):
            raise InputError(f"{path}: expected {len(EVENT_COLUMNS)} columns ({', '.join(EVENT_COLUMNS)}), "
                             f"found {len(fields)} on line {number}")
        rows.append(fields)
    if not rows:
        raise InputError(f"{path}: no event rows")
    frame = pd.DataFrame(rows)
    frame.columns = list(EVENT_COLUMNS)
    for name in EVENT_COLUMNS:
        values = pd.to_numeric(frame[name], errors="coerce")
        bad = ~np.isfinite(values.to_numpy(dtype=np.float64))
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise InputError(f"{path}: column {name} has {int(bad.sum())} non-numeric or non-finite value(s) "
                             f"(first at data row {first})")
        frame[name] = values
    frame = frame.astype({"year": np.int64, "day": np.int64, "dec_deg": np.float64, "ra_deg": np.float64,
                          "azimuth_deg": np.float64, "weight": np.float64, "utc": np.int64})
    checks = [
        ("dec_deg", (frame.dec_deg < -90) | (frame.dec_deg > 90), "outside [-90, 90] deg"),
        ("ra_deg", (frame.ra_deg < 0) | (frame.ra_deg > 360), "outside [0, 360] deg"),
        ("weight", frame.weight <= 0, "not positive"),
    ]
    for name, bad, what in checks:
        if bad.any():
            raise InputError(f"{path}: column {name} has {int(bad.sum())} value(s) {what} "
                             f"(first at data row {int(np.flatnonzero(bad.to_numpy())[0])})")
    if len(frame) == 0:
        raise InputError(f"{path}: no event rows")
    return frame


def sommers_exposure(dec_rad, latitude_deg: float = AUGER_LATITUDE_DEG,
                     max_zenith_deg: float = AUGER_MAX_ZENITH_DEG) -> np.ndarray:
    """Relative directional exposure of a ground array vs declination (Sommers 2001, eq. 2-3).

    Parameters
    ----------
    dec_rad : array
        Declination in radians.
    latitude_deg : float
        Geographic latitude of the array in degrees (Auger: -35.2).
    max_zenith_deg : float
        Largest zenith angle of the events in degrees (Auger 2017: 80).

    Returns the dimensionless cos(a0) cos(dec) sin(alpha_m) + alpha_m sin(a0) sin(dec)
    (proportional to the exposure per unit solid angle; zero where the sky is never seen).
    """
    if not -90.0 <= latitude_deg <= 90.0:
        raise ValueError(f"latitude_deg must be in [-90, 90], got {latitude_deg}")
    if not 0.0 < max_zenith_deg <= 90.0:
        raise ValueError(f"max_zenith_deg must be in (0, 90], got {max_zenith_deg}")
    dec = np.asarray(dec_rad, dtype=np.float64)
    a0 = np.radians(latitude_deg)
    with np.errstate(divide="ignore", invalid="ignore"):
        xi = (np.cos(np.radians(max_zenith_deg)) - np.sin(a0) * np.sin(dec)) / (np.cos(a0) * np.cos(dec))
    xi = np.where(np.isfinite(xi), xi, np.sign(np.nan_to_num(xi)) * 2.0)
    alpha_m = np.where(xi > 1.0, 0.0, np.where(xi < -1.0, np.pi, np.arccos(np.clip(xi, -1.0, 1.0))))
    exposure = np.cos(a0) * np.cos(dec) * np.sin(alpha_m) + alpha_m * np.sin(a0) * np.sin(dec)
    return np.clip(exposure, 0.0, None)


def galactic_pixels_equatorial(nside: int) -> tuple[np.ndarray, np.ndarray]:
    """(RA, Dec) in radians (ICRS) of the centres of the galactic RING pixels (astropy)."""
    lon_deg, lat_deg = hp.pix2ang(nside, np.arange(hp.nside2npix(nside)), lonlat=True)
    icrs = SkyCoord(l=lon_deg * u.deg, b=lat_deg * u.deg, frame="galactic").icrs
    return icrs.ra.radian, icrs.dec.radian


def exposure_map_galactic(nside: int = 32, latitude_deg: float = AUGER_LATITUDE_DEG,
                          max_zenith_deg: float = AUGER_MAX_ZENITH_DEG, oversample: int = 4) -> np.ndarray:
    """Sommers exposure as a HEALPix RING map in galactic coordinates (mean over sub-pixels).

    ``oversample``: the exposure is evaluated at Nside ``nside * oversample`` and averaged to
    ``nside`` (power of 2, >= 1).  The map is normalised to a maximum of 1.
    """
    if oversample < 1 or oversample & (oversample - 1):
        raise ValueError(f"oversample must be a power of 2, got {oversample}")
    _, dec = galactic_pixels_equatorial(nside * oversample)
    fine = sommers_exposure(dec, latitude_deg, max_zenith_deg)
    coarse = hp.ud_grade(fine, nside, order_in="RING", order_out="RING", power=0) if oversample > 1 else fine
    return coarse / coarse.max()


def counts_map_galactic(ra_deg, dec_deg, nside: int = 32, weights=None) -> np.ndarray:
    """Sum of event weights (1 each by default) per galactic RING pixel."""
    coords = SkyCoord(ra=np.asarray(ra_deg) * u.deg, dec=np.asarray(dec_deg) * u.deg, frame="icrs").galactic
    pix = hp.ang2pix(nside, coords.l.deg, coords.b.deg, lonlat=True)
    return np.bincount(pix, weights=weights, minlength=hp.nside2npix(nside)).astype(np.float64)


def galactic_to_equatorial_deg(vector_gal) -> tuple[float, float]:
    """(RA, Dec) in degrees of a galactic cartesian direction (x to the GC, z to the NGP)."""
    vector_gal = np.asarray(vector_gal, dtype=np.float64)
    lon, lat = fitmod.direction_deg(vector_gal)
    icrs = SkyCoord(l=lon * u.deg, b=lat * u.deg, frame="galactic").icrs
    return icrs.ra.deg, icrs.dec.deg


@dataclass(frozen=True)
class RayleighResult:
    """First harmonic in right ascension: amplitude r, phase (deg), chance probability exp(-N r^2/4)."""

    amplitude: float
    phase_deg: float
    a: float
    b: float
    n_events: int
    probability: float

    @property
    def sigma(self) -> float:
        """Standard deviation of a and b, sqrt(2/N)."""
        return float(np.sqrt(2.0 / self.n_events))


def rayleigh_ra(ra_deg, weights=None) -> RayleighResult:
    """Weighted Rayleigh analysis in right ascension (Linsley 1975; Auger Science 2017).

    a = (2/W) sum w cos(RA), b = (2/W) sum w sin(RA), W = sum w; r = sqrt(a^2 + b^2),
    phase = atan2(b, a); chance probability P(>= r) = exp(-N r^2 / 4) with N events.
    """
    ra = np.radians(np.asarray(ra_deg, dtype=np.float64))
    weights = np.ones_like(ra) if weights is None else np.asarray(weights, dtype=np.float64)
    if ra.size == 0 or weights.shape != ra.shape:
        raise ValueError(f"rayleigh_ra: need a non-empty RA array and matching weights ({ra.shape}, "
                         f"{weights.shape})")
    total = weights.sum()
    a = 2.0 * np.sum(weights * np.cos(ra)) / total
    b = 2.0 * np.sum(weights * np.sin(ra)) / total
    amplitude = float(np.hypot(a, b))
    return RayleighResult(amplitude=amplitude, phase_deg=float(np.degrees(np.arctan2(b, a)) % 360.0),
                          a=float(a), b=float(b), n_events=int(ra.size),
                          probability=float(np.exp(-ra.size * amplitude**2 / 4.0)))


@dataclass(frozen=True)
class AugerDipole:
    """The galactic multipole fit of the Auger events and its conversion to equatorial coordinates."""

    fit: fitmod.MultipoleFit
    ra_deg: float
    dec_deg: float
    rayleigh: RayleighResult
    counts: np.ndarray
    exposure: np.ndarray
    mask: np.ndarray

    @property
    def delta(self) -> float:
        return self.fit.delta


def auger_maps(events: pd.DataFrame, nside: int = 32, latitude_deg: float = AUGER_LATITUDE_DEG,
               max_zenith_deg: float = AUGER_MAX_ZENITH_DEG, use_weights: bool = True,
               min_exposure_fraction: float = 0.0, oversample: int = 4):
    """Counts, reference (the Sommers exposure normalised to the counts) and used-pixel mask, galactic.

    Arguments as :func:`analyse_auger`. ValueError when more than 0.1% of the (weighted) events fall in
    pixels without exposure (a wrong latitude or zenith cut).
    """
    weights = events["weight"].to_numpy() if use_weights else None
    counts = counts_map_galactic(events["ra_deg"].to_numpy(), events["dec_deg"].to_numpy(), nside, weights)
    exposure = exposure_map_galactic(nside, latitude_deg, max_zenith_deg, oversample)
    mask = fitmod.pixels_with_exposure(exposure, min_exposure_fraction)
    outside = counts[~mask].sum()
    if outside > 1e-3 * counts.sum():
        raise ValueError(f"{outside:.0f} (weighted) events fall in pixels without exposure: check the "
                         f"latitude ({latitude_deg} deg) and zenith cut ({max_zenith_deg} deg)")
    reference = exposure * counts[mask].sum() / exposure[mask].sum()
    return counts, reference, mask


def analyse_auger(events: pd.DataFrame, nside: int = 32, latitude_deg: float = AUGER_LATITUDE_DEG,
                  max_zenith_deg: float = AUGER_MAX_ZENITH_DEG, use_weights: bool = True,
                  min_exposure_fraction: float = 0.0, oversample: int = 4,
                  lmax_check=(2, 3, 4)) -> AugerDipole:
    """Counts and exposure maps in galactic coordinates, the free-monopole dipole fit, RA/Dec, Rayleigh.

    Parameters
    ----------
    events : DataFrame from :func:`read_auger_events`.
    nside : HEALPix Nside of the maps.
    latitude_deg, max_zenith_deg : array latitude and zenith-angle cut, degrees.
    use_weights : use the file's weights (True, as intended) or count each event once.
    min_exposure_fraction : mask pixels below this fraction of the maximum exposure (0: only
        pixels of zero exposure are masked).
    oversample : sub-pixel factor of the exposure map.
    lmax_check : higher-multipole check, as :func:`ams_anisotropy.fit.fit_multipoles`.
    """
    weights = events["weight"].to_numpy() if use_weights else None
    counts, reference, mask = auger_maps(events, nside, latitude_deg, max_zenith_deg, use_weights,
                                         min_exposure_fraction, oversample)
    result = fitmod.fit_multipoles(counts, reference, mask, lmax=1, lmax_check=lmax_check)
    ra, dec = galactic_to_equatorial_deg(result.rho)
    rayleigh = rayleigh_ra(events["ra_deg"].to_numpy(), weights)
    return AugerDipole(fit=result, ra_deg=float(ra), dec_deg=float(dec), rayleigh=rayleigh, counts=counts,
                       exposure=reference, mask=mask)


def equatorial_posterior_summary(rho_samples, weights, quantiles=(0.1587, 0.5, 0.8413)) -> dict:
    """Weighted quantiles of delta, RA and Dec (deg) of posterior dipole samples (galactic x, y, z).

    RA quantiles are taken on the circle cut opposite to the weighted mean direction.
    Returns {"delta": (q...), "ra_deg": (q...), "dec_deg": (q...)}.
    """
    from .limits import weighted_quantile

    rho_samples = np.asarray(rho_samples, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    lon, lat = fitmod.direction_deg(rho_samples)
    icrs = SkyCoord(l=lon * u.deg, b=lat * u.deg, frame="galactic").icrs
    ra, dec = icrs.ra.deg, icrs.dec.deg
    mean_ra, _ = galactic_to_equatorial_deg(np.average(rho_samples, axis=0, weights=weights))
    ra_unwrapped = mean_ra + (ra - mean_ra + 180.0) % 360.0 - 180.0
    delta = np.linalg.norm(rho_samples, axis=1)
    return {
        "delta": tuple(weighted_quantile(delta, weights, q) for q in quantiles),
        "ra_deg": tuple(weighted_quantile(ra_unwrapped, weights, q) % 360.0 for q in quantiles),
        "dec_deg": tuple(weighted_quantile(dec, weights, q) for q in quantiles),
    }


def compare_with_published(row, events: pd.DataFrame) -> pd.DataFrame:
    """This analysis next to the published values (Science 357 (2017) 1266).

    ``row``: the dipole_limits.csv row of the Auger run (rho_fb, rho_ew, rho_ns, delta); ``events``:
    the events (for the first harmonic in right ascension, with the file's weights). Returns one row
    per quantity: ``quantity, this_analysis, published, published_plus, published_minus,
    within_published_uncertainty`` (the chance probability is compared within a factor of 2).
    """
    ra, dec = galactic_to_equatorial_deg([row["rho_fb"], row["rho_ew"], row["rho_ns"]])
    rayleigh = rayleigh_ra(events["ra_deg"].to_numpy(), events["weight"].to_numpy())
    measured = {
        "dipole_amplitude": float(row["delta"]),
        "dipole_ra_deg": float(ra),
        "dipole_dec_deg": float(dec),
        "first_harmonic_ra_amplitude": rayleigh.amplitude,
        "first_harmonic_ra_phase_deg": rayleigh.phase_deg,
        "first_harmonic_ra_probability": rayleigh.probability,
    }
    rows = []
    for name, value in measured.items():
        published, plus, minus = PUBLISHED[name]
        if name.endswith("probability"):
            within = 0.5 <= value / published <= 2.0
        else:
            difference = value - published
            if name.endswith("ra_deg") or name.endswith("phase_deg"):
                difference = (difference + 180.0) % 360.0 - 180.0
            within = -abs(minus) <= difference <= abs(plus)
        rows.append({
            "quantity": name, "this_analysis": value, "published": published,
            "published_plus": plus, "published_minus": minus, "within_published_uncertainty": bool(within),
        })
    return pd.DataFrame(rows)
