"""AMS-02 detector response: what the reconstruction would write for each simulated particle.

Given the true particle (charge Z, charge sign, true |rigidity|, which planes it crossed, whether it
went upward and whether its track is poorly reconstructed), :func:`respond` draws the event-file
columns of docs/architecture.md: signed rigidities of the inner+L1 and L1-to-L9 fits, track
chi2/ndf, measured charge, TOF beta, TRD and ECAL estimators and the ECAL energy.

Model (simplifications for the README):

* rigidity: Gaussian in curvature, sigma(1/R) = sqrt((1/MDR)^2 + (c/R)^2), MDR per charge for the
  L1-to-L9 span (method.md section 4: p 2.0, He 3.2, C 3.7, O 3.4 TV; B taken as C, N as 3.5 TV);
  the inner+L1 fit has MDR x 0.45 and the inner-only fit MDR x 0.08 (lever arm squared: 188 cm and
  82 cm against 295 cm), multiple-scattering term c = 0.08 (full span), 0.09 (inner+L1), 0.10
  (inner only; method.md "dR/R ~ 0.1 at low rigidity"). The two fits share the full-span error (the
  more precise fit's error is a component of the less precise one), so their signs agree unless the
  track is near the MDR. A signed curvature makes e± charge confusion appear by itself;
* poor tracks (reconstruction failures): the curvature error x ``poor_track_resolution_factor``
  and chi2/ndf = 12 + exponential(mean 10), against chi2(12)/12 for good tracks (P(> 3) = 2e-4), so
  any chi2/ndf cut between ~3 and 12 removes them (config: 10);
* charge: Z + N(0, 0.04 + 0.025 Z) (p 0.065, He 0.09, C 0.19, O 0.24 e: neighbouring charges leak
  at the percent level into a +-0.5 window, AMS tracker + TOF charge resolution is similar);
* beta: true velocity (mass from the species) + N(0, max(0.04/Z, 0.01)) (TOF: beta ~ 1 with 2-4%
  resolution for Z = 1, improving with Z), negative for upward-going particles;
* TRD estimator: e± N(0.55, 0.08), hadrons N(1.0, 0.1) (the task's numbers); defined when the
  particle crossed both TRD planes;
* ECAL: a cluster when the particle crossed the ECAL top. e±: E = |R| with
  sigma(E)/E = sqrt(0.104^2/E + 0.014^2) (AMS ECAL, method.md), estimator N(+0.8, 0.26);
  hadrons: interact with probability 0.5 (Z = 1) or 0.8 (Z > 1) (~0.6 nuclear interaction lengths
  for 17 X0 of lead), depositing a Beta(2, 6) fraction (mean 0.25) of Z |R| (GeV), estimator
  N(-0.8, 0.26); non-interacting ones deposit 0.25 Z^2 GeV (MIP), estimator N(-0.9, 0.05).
  Estimators are clipped to [-1, 1]. With cuts TRD < 0.75 and ECAL > 0 the proton rejection is
  ~ 1 / (6e-3 x 1e-3) ~ 2e5 at ~99% e± efficiency (the task's 1e5-1e6).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# mass per unit charge (GeV per e) for beta = R / sqrt(R^2 + (m/Z)^2); PDG masses,
# nuclei as 4He, 11B, 12C, 14N, 16O (atomic mass unit 0.9315 GeV, PDG)
MASS_GEV = {1: 0.93827, 2: 3.7274, 5: 10.2526, 6: 11.1749, 7: 13.0435, 8: 14.8951}
ELECTRON_MASS_GEV = 0.000511  # PDG

# maximum detectable rigidity of the L1-to-L9 span, TV (method.md section 4; B as C, N between C and O)
MDR_FULL_SPAN_TV = {1: 2.0, 2: 3.2, 5: 3.7, 6: 3.7, 7: 3.5, 8: 3.4}


@dataclass(frozen=True)
class DetectorResponse:
    """Parameters of the response model (see the module docstring for sources).

    mdr_full_span_tv : dict Z -> MDR of the L1-to-L9 fit, TV.
    l1_inner_mdr_fraction, inner_mdr_fraction : MDR of the inner+L1 and inner-only fits / full span.
    scattering_full_span, scattering_l1_inner, scattering_inner : multiple-scattering term c
        (relative rigidity resolution at low rigidity).
    poor_track_resolution_factor : curvature error multiplier for poorly reconstructed tracks.
    good_track_ndf : degrees of freedom of the track fit for the chi2/ndf of good tracks.
    poor_track_chi2_offset, poor_track_chi2_scale : chi2/ndf of poor tracks = offset + exp(scale).
    charge_resolution_constant, charge_resolution_slope : sigma_Z = constant + slope x Z (e).
    beta_resolution_z1, beta_resolution_floor : sigma_beta = max(z1 / Z, floor).
    trd_electron, trd_hadron : (mean, sigma) of the TRD estimator.
    ecal_em, ecal_hadron, ecal_mip : (mean, sigma) of the ECAL estimator.
    ecal_stochastic, ecal_constant : ECAL sigma(E)/E = sqrt(stochastic^2/E[GeV] + constant^2).
    hadron_interaction_probability : dict Z -> probability of a hadronic shower in the ECAL
        (Z not in the dict: the value of the largest Z present).
    hadron_energy_fraction_beta : (a, b) of the Beta distribution of the deposited energy fraction.
    mip_energy_gev : ECAL deposit of a minimum-ionising Z=1 particle, GeV (x Z^2).
    """

    mdr_full_span_tv: dict = field(default_factory=lambda: dict(MDR_FULL_SPAN_TV))
    l1_inner_mdr_fraction: float = 0.45
    inner_mdr_fraction: float = 0.08
    scattering_full_span: float = 0.08
    scattering_l1_inner: float = 0.09
    scattering_inner: float = 0.10
    poor_track_resolution_factor: float = 10.0
    good_track_ndf: int = 12
    poor_track_chi2_offset: float = 12.0
    poor_track_chi2_scale: float = 10.0
    charge_resolution_constant: float = 0.04
    charge_resolution_slope: float = 0.025
    beta_resolution_z1: float = 0.04
    beta_resolution_floor: float = 0.01
    trd_electron: tuple = (0.55, 0.08)
    trd_hadron: tuple = (1.0, 0.1)
    ecal_em: tuple = (0.8, 0.26)
    ecal_hadron: tuple = (-0.8, 0.26)
    ecal_mip: tuple = (-0.9, 0.05)
    ecal_stochastic: float = 0.104
    ecal_constant: float = 0.014
    hadron_interaction_probability: dict = field(default_factory=lambda: {1: 0.5, 2: 0.8})
    hadron_energy_fraction_beta: tuple = (2.0, 6.0)
    mip_energy_gev: float = 0.25

    def mdr_gv(self, charge_z: int) -> float:
        """L1-to-L9 maximum detectable rigidity for charge Z, GV."""
        if charge_z not in self.mdr_full_span_tv:
            raise ValueError(f"no MDR for charge Z={charge_z}; known: {sorted(self.mdr_full_span_tv)}")
        return 1000.0 * self.mdr_full_span_tv[charge_z]

    def interaction_probability(self, charge_z: int) -> float:
        table = self.hadron_interaction_probability
        if charge_z in table:
            return table[charge_z]
        return table[max(table)]


def curvature_sigma(rigidity_gv, mdr_gv, scattering):
    """sigma(1/R) in 1/GV: sqrt((1/MDR)^2 + (c/R)^2), R the true |rigidity| in GV."""
    return np.sqrt((1.0 / mdr_gv) ** 2 + (scattering / np.asarray(rigidity_gv)) ** 2)


def ecal_relative_resolution(energy_gev, stochastic=0.104, constant=0.014):
    """sigma(E)/E = sqrt(stochastic^2 / E + constant^2), E in GeV (AMS ECAL, method.md section 4)."""
    return np.sqrt(stochastic**2 / np.asarray(energy_gev) + constant**2)


def _clipped_normal(rng, mean_sigma, n):
    mean, sigma = mean_sigma
    return np.clip(mean + sigma * rng.standard_normal(n), -1.0, 1.0)


def respond(
    rng: np.random.Generator,
    *,
    charge_z: int,
    charge_sign: int,
    electromagnetic: bool,
    rigidity_gv: np.ndarray,
    has_l1: np.ndarray,
    has_l9: np.ndarray,
    n_inner_layers: np.ndarray,
    has_trd: np.ndarray,
    has_ecal: np.ndarray,
    upward: np.ndarray,
    poor_track: np.ndarray,
    response: DetectorResponse | None = None,
) -> dict:
    """Draw the reconstructed quantities of n particles of one species.

    Parameters
    ----------
    rng : numpy Generator (the caller's stream).
    charge_z : int, charge number (1 for e± and protons).
    charge_sign : +1 or -1 (sign of the true rigidity).
    electromagnetic : True for e± (TRD and ECAL respond as to an electron), False for hadrons.
    rigidity_gv : (n,) true |rigidity|, GV (> 0).
    has_l1, has_l9 : (n,) bool, crossed tracker layer 1 / 9.
    n_inner_layers : (n,) int, inner layers crossed (0-7); fewer than 3: no track (NaN rigidity).
    has_trd, has_ecal : (n,) bool, crossed both TRD planes / the ECAL top.
    upward : (n,) bool, upward-going (albedo): beta < 0.
    poor_track : (n,) bool, poorly reconstructed track (degraded rigidity, high chi2).
    response : DetectorResponse parameters (defaults when None).

    Returns a dict of numpy arrays named as the event-file columns: rigidity_gv,
    rigidity_full_span_gv, track_chi2_ndf, charge, beta, has_trd_track, trd_estimator,
    has_ecal_cluster, ecal_energy_gev, ecal_estimator (float32 / bool).
    """
    p = response or DetectorResponse()
    if charge_sign not in (-1, 1):
        raise ValueError(f"charge_sign must be +1 or -1, got {charge_sign!r}")
    if charge_z < 1:
        raise ValueError(f"charge_z must be >= 1, got {charge_z!r}")
    r = np.asarray(rigidity_gv, dtype=np.float64)
    n = r.size
    if np.any(~(r > 0)):
        raise ValueError("true rigidities must be positive (GV)")
    arrays = dict(
        has_l1=has_l1,
        has_l9=has_l9,
        n_inner_layers=n_inner_layers,
        has_trd=has_trd,
        has_ecal=has_ecal,
        upward=upward,
        poor_track=poor_track,
    )
    for name, values in arrays.items():
        if np.shape(values) != (n,):
            raise ValueError(f"{name} must have shape ({n},), got {np.shape(values)}")
    has_l1 = np.asarray(has_l1, bool)
    has_l9 = np.asarray(has_l9, bool)
    poor = np.asarray(poor_track, bool)
    n_inner = np.asarray(n_inner_layers)

    # Random numbers are drawn only for the events that need them (ECAL quantities for the ECAL
    # crossings, ...): the same distributions at a fraction of the cost.
    # --- tracker -------------------------------------------------------------------------
    mdr = p.mdr_gv(charge_z)
    sigma_fs = curvature_sigma(r, mdr, p.scattering_full_span)
    sigma_track = np.where(has_l1, curvature_sigma(r, p.l1_inner_mdr_fraction * mdr, p.scattering_l1_inner),
                           curvature_sigma(r, p.inner_mdr_fraction * mdr, p.scattering_inner))
    degrade = np.where(poor, p.poor_track_resolution_factor, 1.0)
    true_curvature = charge_sign / r
    common = rng.standard_normal(n)
    extra = rng.standard_normal(n)
    curv_fs = true_curvature + degrade * sigma_fs * common
    curv_track = true_curvature + degrade * (
        sigma_fs * common + np.sqrt(np.maximum(sigma_track**2 - sigma_fs**2, 0.0)) * extra
    )
    has_track = n_inner >= 3
    with np.errstate(divide="ignore"):
        rigidity = np.where(has_track, 1.0 / curv_track, np.nan)
        rigidity_fs = np.where(has_track & has_l1 & has_l9, 1.0 / curv_fs, np.nan)
    chi2 = rng.chisquare(p.good_track_ndf, n) / p.good_track_ndf
    n_poor = int(np.count_nonzero(poor))
    if n_poor:
        chi2[poor] = p.poor_track_chi2_offset + rng.exponential(p.poor_track_chi2_scale, n_poor)
    chi2[~has_track] = np.nan

    # --- charge and velocity -------------------------------------------------------------
    charge = charge_z + (p.charge_resolution_constant + p.charge_resolution_slope * charge_z) * rng.standard_normal(n)
    charge = np.abs(charge)
    mass_per_charge = ELECTRON_MASS_GEV if electromagnetic else MASS_GEV.get(charge_z, 0.9315 * 2 * charge_z) / charge_z
    beta_true = r / np.sqrt(r * r + mass_per_charge**2)
    sigma_beta = max(p.beta_resolution_z1 / charge_z, p.beta_resolution_floor)
    beta = beta_true + sigma_beta * rng.standard_normal(n)
    beta = np.where(np.asarray(upward, bool), -beta, beta)

    # --- TRD ------------------------------------------------------------------------------
    has_trd = np.asarray(has_trd, bool)
    trd = p.trd_electron if electromagnetic else p.trd_hadron
    trd_estimator = np.full(n, np.nan, dtype=np.float32)
    trd_estimator[has_trd] = trd[0] + trd[1] * rng.standard_normal(int(np.count_nonzero(has_trd)))

    # --- ECAL -----------------------------------------------------------------------------
    has_ecal = np.asarray(has_ecal, bool)
    ecal_energy = np.full(n, np.nan, dtype=np.float32)
    ecal_estimator = np.full(n, np.nan, dtype=np.float32)
    r_ecal = r[has_ecal]
    m = r_ecal.size
    if electromagnetic:
        rel = ecal_relative_resolution(r_ecal, p.ecal_stochastic, p.ecal_constant)
        energy = r_ecal * (1.0 + rel * rng.standard_normal(m))
        estimator = _clipped_normal(rng, p.ecal_em, m)
    else:
        interacts = rng.random(m) < p.interaction_probability(charge_z)
        n_int = int(np.count_nonzero(interacts))
        energy = np.empty(m)
        estimator = np.empty(m)
        # GeV: momentum of the nucleus Z |R|, E ~ p at these rigidities; a Beta fraction of it is deposited
        energy[interacts] = rng.beta(*p.hadron_energy_fraction_beta, size=n_int) * charge_z * r_ecal[interacts]
        energy[~interacts] = p.mip_energy_gev * charge_z**2 * (1.0 + 0.1 * rng.standard_normal(m - n_int))
        estimator[interacts] = _clipped_normal(rng, p.ecal_hadron, n_int)
        estimator[~interacts] = _clipped_normal(rng, p.ecal_mip, m - n_int)
    ecal_energy[has_ecal] = np.maximum(energy, 1e-3)
    ecal_estimator[has_ecal] = estimator

    return {
        "rigidity_gv": rigidity.astype(np.float32),
        "rigidity_full_span_gv": rigidity_fs.astype(np.float32),
        "track_chi2_ndf": chi2.astype(np.float32),
        "charge": charge.astype(np.float32),
        "beta": beta.astype(np.float32),
        "has_trd_track": has_trd,
        "trd_estimator": trd_estimator,
        "has_ecal_cluster": has_ecal,
        "ecal_energy_gev": ecal_energy,
        "ecal_estimator": ecal_estimator,
    }
