"""Noiseless convergence of the reference map at production settings, for every track pattern.

The error of the exposure integration must not grow with the sample: at the paper's statistics it
adds N_paper x sum_p (m_prod - m_fine)^2 / m_fine / dof to chi2/dof (m = the map normalised to unit
sum over the fitted pixels, N_paper the paper's sample of the species using the pattern). The issue's
criterion is < 0.01.

* Truth acceptance A: the true geometric acceptance of the pattern (acceptance.pattern_acceptance_map,
  straight lines through the planes, independent of the events and of the reference code) at Nside 256,
  band-limited at (l, k) <= (384, 32).
* Production chain: the expected detector histogram at the production Nside (the pixel integrals of A,
  from A synthesised at 4x that Nside and averaged), turned into beams by acceptance_harmonics at the
  production (lmax, kmax), integrated at the production epsilon and oversampling.
* Fine computation: the truth's own harmonics (4x lmax, 4x kmax), epsilon 1000x smaller, 4x the
  sub-pixel oversampling: every resolution parameter at least 4x finer.
* Timeline: the default configuration's (73 days, 5 s cadence, 1.26e6 intervals); weights: livetime x
  cutoff weight of the species' lowest threshold.
"""

from pathlib import Path

import healpy as hp
import numpy as np
import pytest
import yaml

from ams_anisotropy import acceptance, acceptance_harmonics, reference, spectra
from ams_anisotropy import timeline as timeline_module
from ams_anisotropy.constants import AMS_DATA_TAKING_START_UNIX_S
from ams_anisotropy.frames import Attitude
from ams_anisotropy.geomagnetic import DipoleField
from ams_anisotropy.orbit import CircularOrbit

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
NSIDE = CONFIG["maps"]["nside"]
NSIDE_DETECTOR = CONFIG["maps"]["nside_detector"]
PRODUCTION = reference.IntegrationSettings(
    lmax=CONFIG["reference"]["lmax"], kmax=CONFIG["reference"]["kmax"], epsilon=CONFIG["reference"]["epsilon"],
    oversampling=CONFIG["reference"]["oversampling"])
FINE = reference.IntegrationSettings(lmax=4 * PRODUCTION.lmax, kmax=4 * PRODUCTION.kmax,
                                     epsilon=PRODUCTION.epsilon * 1e-3, oversampling=4 * PRODUCTION.oversampling)
# pattern -> (species whose sample uses it, the paper's sample of that species above 18 GV / 16 GeV,
# flux table, lowest threshold, charge sign); method.md section 1
PATTERNS = {
    "l1_inner_l9": ("proton", 1.3e8, "AMS-02_H_rigidity.txt", 18.0, 1),
    "l1_inner": ("helium", 1.0e8, "AMS-02_He_rigidity.txt", 18.0, 1),
    "ecal": ("electron", 1.3e6, "AMS-02_e-_rigidity.txt", 16.0, -1),
}
CRITERION = 0.01

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def default_timeline():
    start = AMS_DATA_TAKING_START_UNIX_S
    period = CONFIG["period"]
    return timeline_module.simulate_timeline(
        start, start + period["duration_days"] * 86400.0, period["cadence_s"], CircularOrbit(), Attitude(),
        DipoleField(), timeline_module.TriggerModel(), timeline_module.SaaRegion(),
        timeline_module.GoodIntervalCriteria())


def true_acceptance_alm(pattern):
    """Harmonics (lmax, kmax of FINE) of the pattern's true acceptance density (per sr), Nside 256."""
    density = acceptance.pattern_acceptance_map(256, pattern, grid_step_cm=3.0)
    return hp.map2alm(density, lmax=FINE.lmax, mmax=FINE.kmax, iter=3)


def expected_histogram(alm):
    """Pixel integrals of the band-limited truth at the production detector Nside (4x finer synthesis)."""
    values = hp.alm2map(alm, 4 * NSIDE_DETECTOR, lmax=FINE.lmax, mmax=FINE.kmax)
    nested = hp.reorder(values, r2n=True).reshape(-1, 16).mean(axis=1)
    return np.maximum(hp.reorder(nested, n2r=True), 0.0) * hp.nside2pixarea(NSIDE_DETECTOR)


def excess_chi2_per_dof(production, fine, n_paper, min_fraction=0.05):
    used = fine > min_fraction * fine.max()
    prod, truth = production[used] / production[used].sum(), fine[used] / fine[used].sum()
    return n_paper * np.sum((prod - truth) ** 2 / truth) / (used.sum() - 4)


@pytest.mark.parametrize("pattern", sorted(PATTERNS))
def test_reference_converges_at_paper_statistics(default_timeline, pattern):
    species, n_paper, flux_file, threshold, charge_sign = PATTERNS[pattern]
    flux = spectra.FluxTable.from_file(ROOT / "resources" / "ams02-fluxes" / flux_file)
    upper = 350.0 if species == "electron" else None
    common = dict(thresholds=[threshold], upper=upper, integral_flux=flux.integral_above, cutoff_factor=1.2,
                  cone_column=reference.cutoff_column(charge_sign, 40))
    alm = true_acceptance_alm(pattern)
    fine = reference.reference_maps(default_timeline, alm[None, None, :], NSIDE, [1.0], settings=FINE, **common)
    beams, _ = acceptance_harmonics.acceptance_beams(expected_histogram(alm)[None, :], PRODUCTION.lmax,
                                                     PRODUCTION.kmax, dipole_response=False)
    production = reference.reference_maps(default_timeline, beams, NSIDE, [1.0], settings=PRODUCTION, **common)
    excess = excess_chi2_per_dof(production.maps[0], fine.maps[0], n_paper)
    print(f"{pattern} ({species}, N_paper = {n_paper:.2g}): excess chi2/dof = {excess:.4f} "
          f"({production.n_intervals} intervals)")
    assert excess < CRITERION
    if pattern != "l1_inner_l9":
        return
    # the test can fail: for the narrowest acceptance (protons, L1..L9) the pixel-centre values instead of
    # pixel integrals (oversampling 1), or half the band limit, each break the criterion (measured 0.019 and
    # 0.016 against 0.0013 at production settings; for the wider L1+inner and ECAL patterns even those pass)
    for degraded_settings in (
        reference.IntegrationSettings(PRODUCTION.lmax, PRODUCTION.kmax, PRODUCTION.epsilon, oversampling=1),
        reference.IntegrationSettings(PRODUCTION.lmax // 2, PRODUCTION.kmax // 2, PRODUCTION.epsilon,
                                      PRODUCTION.oversampling),
    ):
        coarse_beams, _ = acceptance_harmonics.acceptance_beams(
            expected_histogram(alm)[None, :], degraded_settings.lmax, degraded_settings.kmax, dipole_response=False)
        degraded = reference.reference_maps(default_timeline, coarse_beams, NSIDE, [1.0], settings=degraded_settings,
                                            **common)
        degraded_excess = excess_chi2_per_dof(degraded.maps[0], fine.maps[0], n_paper)
        print(f"{pattern}: degraded {degraded_settings}: excess {degraded_excess:.4f}")
        assert degraded_excess > CRITERION
