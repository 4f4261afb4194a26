"""The cuts of one species: their parameters (:class:`SpeciesCuts`) and their tests in order (:func:`cut_steps`).

Every field of :class:`SpeciesCuts` is one config key of ``species.<name>.cuts`` (plus the lowest
threshold, the upper edge, the cutoff factor and cone, and the species' data-taking end).
:func:`cut_steps` lists the cuts in a fixed order, each one a row of the cut-flow (``all``, every event
of the chunk, comes first; the :mod:`selection` applies the steps and counts the rows):

1. ``good interval``: the interval's ``good`` flag (not in the SAA, livetime > 0.5, AMS z within
   40 deg of the zenith; computed by the timeline); then, when the species has its own data-taking
   end (``time_max_unix_s``), the events before it;
2. quality and identification cuts, in the order beta window (downward-going, beta_min > 0), L1 hit,
   inner layers, L9 hit, track chi2/ndf, track present with the required sign of rigidity, charge
   window, TRD track, TRD estimator, ECAL cluster, ECAL estimator, E/|R| matching; a cut whose field
   is None (or False for the ``require_*`` flags) does not apply and has no row;
3. ``observable > cutoff_factor x max cutoff``: the observable against the maximum Stoermer cutoff
   of the interval in a cone of ``cone_half_angle_deg`` around the AMS axis, for the charge sign of
   the species (paper, section 3: "R (or E) > 1.2 x the maximum geomagnetic cutoff in the field of
   view"; the factor 1.0/1.4 variants are the AMS flux papers' systematic);
4. ``observable >= lowest threshold`` (and ``< upper edge`` when there is one, 350 GeV for e±).

The observable is the ECAL energy (GeV) for e± and |rigidity| (GV) for nuclei.

Simplifications (for the README):
* the cuts are simple one-dimensional windows on the estimators of the event file, not the AMS
  multivariate classifiers;
* e± use the inner-tracker + L1 rigidity for the charge sign and the E/|R| matching; nuclei use the
  inner-tracker + L1 rigidity unless ``use_full_span_rigidity`` (L1 to L9 fit) is set;
* the cutoff is the timeline's per-interval maximum in the cone, not a per-event backtraced cutoff.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import io

OBSERVABLES = ("ecal_energy", "rigidity")
OBSERVABLE_UNITS = {"ecal_energy": "GeV", "rigidity": "GV"}


@dataclass(frozen=True)
class SpeciesCuts:
    """Every cut of one species; each field maps to one config key.

    Fields that do not apply to a species are None (the ``require_*`` flags are False); a cut that
    does not apply has no cut-flow row.

    Parameters
    ----------
    species : str
        Species name (``electron, positron, proton, helium, carbon, oxygen``).
    observable : str
        ``"ecal_energy"`` (e±: ECAL energy in GeV) or ``"rigidity"`` (nuclei: |rigidity| in GV).
    observable_min : float
        Lowest threshold (GeV or GV); events below it are dropped (16 GeV e±, 18 GV nuclei, paper).
    observable_max : float or None
        Upper edge (exclusive, GeV or GV): 350 GeV for e± (paper), None for nuclei.
    charge_sign : int
        Required sign of the rigidity: -1 electrons, +1 positrons and nuclei. It also picks the
        cutoff column (``pos`` for +1, ``neg`` for -1).
    charge_min, charge_max : float or None
        Window on the measured charge magnitude (units of e), inclusive.
    beta_min, beta_max : float or None
        Window on the TOF velocity, inclusive; ``beta_min`` must be > 0 (downward-going).
    require_l1, require_l9 : bool
        Require a hit in tracker layer 1 / layer 9.
    min_inner_layers : int or None
        Minimum number of inner tracker layers hit (0-7; 7 for nuclei, paper).
    require_trd_track : bool
        Require a TRD track (e±).
    trd_estimator_max : float or None
        Upper cut on the TRD estimator (~0.55 for e±, ~1.0 for protons), inclusive.
    require_ecal_cluster : bool
        Require an ECAL shower (e±).
    ecal_estimator_min : float or None
        Lower cut on the ECAL shower-shape classifier in [-1, 1], inclusive.
    energy_over_rigidity_min, energy_over_rigidity_max : float or None
        Window on E_ECAL / |R| (GeV/GV), inclusive: energy-momentum matching for e±.
    track_chi2_max : float or None
        Upper cut on the track fit chi2 per degree of freedom, inclusive.
    cutoff_factor : float
        Safety factor on the maximum cutoff: observable > factor x cutoff (1.2 nominal, paper;
        1.0 and 1.4 systematic variants, AMS flux papers).
    cone_half_angle_deg : int
        Field of view (deg) of the max cutoff, one of 25, 30, 35, 40 (the timeline's columns).
    use_full_span_rigidity : bool
        Nuclei only: take the rigidity from the L1-to-L9 fit (``rigidity_full_span_gv``) instead of
        the inner + L1 fit. Off by default (the inner + L1 fit exists for every selected nucleus).
    time_max_unix_s : float or None
        End of the species' data-taking period (POSIX s, exclusive): events at or after it are cut
        (config ``species.<name>.duration_days``; the paper's e± use the first 6.5 years). None: no cut.
    """

    species: str
    observable: str
    observable_min: float
    observable_max: float | None = None
    charge_sign: int = 1
    charge_min: float | None = None
    charge_max: float | None = None
    beta_min: float | None = None
    beta_max: float | None = None
    require_l1: bool = False
    min_inner_layers: int | None = None
    require_l9: bool = False
    require_trd_track: bool = False
    trd_estimator_max: float | None = None
    require_ecal_cluster: bool = False
    ecal_estimator_min: float | None = None
    energy_over_rigidity_min: float | None = None
    energy_over_rigidity_max: float | None = None
    track_chi2_max: float | None = None
    cutoff_factor: float = 1.2
    cone_half_angle_deg: int = 40
    use_full_span_rigidity: bool = False
    time_max_unix_s: float | None = None

    def __post_init__(self):
        def bad(message):
            raise ValueError(f"SpeciesCuts({self.species!r}): {message}")

        if self.observable not in OBSERVABLES:
            bad(f"observable must be one of {OBSERVABLES}, got {self.observable!r}")
        if self.charge_sign not in (-1, 1):
            bad(f"charge_sign must be +1 or -1, got {self.charge_sign!r}")
        if self.observable == "rigidity" and self.charge_sign != 1:
            bad("nuclei are selected with charge_sign = +1")
        if self.observable == "rigidity" and (
            self.require_ecal_cluster
            or self.energy_over_rigidity_min is not None
            or self.energy_over_rigidity_max is not None
        ):
            bad("ECAL cuts are for the e± (observable ecal_energy) only")
        if self.use_full_span_rigidity and self.observable != "rigidity":
            bad("use_full_span_rigidity applies to nuclei (observable rigidity) only")
        if self.cone_half_angle_deg not in io.CONE_HALF_ANGLES_DEG:
            bad(
                f"cone_half_angle_deg must be one of {io.CONE_HALF_ANGLES_DEG}, "
                f"got {self.cone_half_angle_deg!r}"
            )
        if not (np.isfinite(self.cutoff_factor) and self.cutoff_factor > 0):
            bad(f"cutoff_factor must be a positive number, got {self.cutoff_factor!r}")
        if self.observable_min is None or not (np.isfinite(self.observable_min) and self.observable_min > 0):
            bad(f"observable_min must be a positive number, got {self.observable_min!r}")
        if self.observable_max is not None and not self.observable_max > self.observable_min:
            bad(f"observable_max ({self.observable_max}) must exceed observable_min ({self.observable_min})")
        if self.time_max_unix_s is not None and not np.isfinite(self.time_max_unix_s):
            bad(f"time_max_unix_s must be a finite time (POSIX s), got {self.time_max_unix_s!r}")
        if self.beta_min is not None and not self.beta_min > 0:
            bad(f"beta_min must be > 0 (downward-going particles), got {self.beta_min!r}")
        if self.min_inner_layers is not None and not 0 <= self.min_inner_layers <= 7:
            bad(f"min_inner_layers must be in 0..7, got {self.min_inner_layers!r}")
        for low, high in (
            ("charge_min", "charge_max"),
            ("beta_min", "beta_max"),
            ("energy_over_rigidity_min", "energy_over_rigidity_max"),
        ):
            lo, hi = getattr(self, low), getattr(self, high)
            if lo is not None and hi is not None and not lo < hi:
                bad(f"{low} ({lo}) must be below {high} ({hi})")

    @property
    def unit(self) -> str:
        """Unit of the observable: ``"GeV"`` (e±) or ``"GV"`` (nuclei)."""
        return OBSERVABLE_UNITS[self.observable]

    @property
    def cutoff_column(self) -> str:
        """Timeline column of the max cutoff used for this species."""
        sign = "pos" if self.charge_sign > 0 else "neg"
        return f"cutoff_max_{sign}_{self.cone_half_angle_deg}_gv"

    @property
    def rigidity_column(self) -> str:
        """Event column of the signed rigidity used for the sign, matching and nuclei observable."""
        return "rigidity_full_span_gv" if self.use_full_span_rigidity else "rigidity_gv"


def _finite_within(values, low, high) -> np.ndarray:
    """Finite values in the closed interval [low, high] (None: unbounded on that side)."""
    keep = np.isfinite(values)
    if low is not None:
        keep &= values >= low
    if high is not None:
        keep &= values <= high
    return keep


def cut_steps(cuts: SpeciesCuts, col):
    """The cuts in their documented order: (row name, key, test(rows) -> bool array for those rows).

    ``col`` gives the chunk's quantities for the rows at hand (``selection``'s column accessor):
    ``col(name, rows)`` an event column (floats in float64), ``col.observable(cuts, rows)`` the species'
    observable and ``col.interval_value(column)`` a timeline column for every event of the chunk.
    ``key`` identifies the test and its parameters, so that species sharing a prefix of identical cuts
    (the nuclei, the e±) share its evaluation. NaN compares False, so missing quantities fail their cut.
    """
    steps = [("good interval", ("good",), lambda i: col.interval_value("good").astype(bool)[i])]
    if cuts.time_max_unix_s is not None:
        stop = float(cuts.time_max_unix_s)
        steps.append((f"time before the end of data taking ({stop:.0f} s)", ("time", stop),
                      lambda i: col("time_unix_s", i) < stop))
    lo = cuts.beta_min if cuts.beta_min is not None else 0.0
    hi = cuts.beta_max

    def beta_cut(i):
        beta = col("beta", i)
        keep = (beta > 0) & (beta >= lo)
        return keep & (beta <= hi) if hi is not None else keep

    name = (f"downward beta in [{lo:g}, {_fmt(hi, 'inf')}]" if cuts.beta_min is not None or hi is not None
            else "downward-going (beta > 0)")
    steps.append((name, ("beta", lo, hi), beta_cut))
    if cuts.require_l1:
        steps.append(("L1 hit", ("l1",), lambda i: col("has_l1", i).astype(bool)))
    if cuts.min_inner_layers is not None:
        k = cuts.min_inner_layers
        steps.append((f"inner layers >= {k}", ("inner", k), lambda i: col("n_inner_layers", i) >= k))
    if cuts.require_l9:
        steps.append(("L9 hit", ("l9",), lambda i: col("has_l9", i).astype(bool)))
    if cuts.track_chi2_max is not None:
        chi2 = cuts.track_chi2_max
        steps.append((f"track chi2/ndf <= {chi2:g}", ("chi2", chi2), lambda i: col("track_chi2_ndf", i) <= chi2))
    sign, rig = cuts.charge_sign, cuts.rigidity_column
    steps.append((f"track with {'positive' if sign > 0 else 'negative'} rigidity ({rig})", ("sign", rig, sign),
                  lambda i: col(rig, i) * sign > 0))
    if cuts.charge_min is not None or cuts.charge_max is not None:
        qmin, qmax = cuts.charge_min, cuts.charge_max

        def charge_cut(i):
            return _finite_within(col("charge", i), qmin, qmax)

        steps.append((f"charge in [{_fmt(qmin, '-inf')}, {_fmt(qmax, 'inf')}]", ("charge", qmin, qmax), charge_cut))
    if cuts.require_trd_track:
        steps.append(("TRD track", ("trd",), lambda i: col("has_trd_track", i).astype(bool)))
    if cuts.trd_estimator_max is not None:
        trd = cuts.trd_estimator_max
        steps.append((f"TRD estimator <= {trd:g}", ("trd_max", trd), lambda i: col("trd_estimator", i) <= trd))
    if cuts.require_ecal_cluster:
        steps.append(("ECAL cluster", ("ecal",),
                      lambda i: col("has_ecal_cluster", i).astype(bool) & np.isfinite(col("ecal_energy_gev", i))))
    if cuts.ecal_estimator_min is not None:
        est = cuts.ecal_estimator_min
        steps.append((f"ECAL estimator >= {est:g}", ("ecal_min", est), lambda i: col("ecal_estimator", i) >= est))
    if cuts.energy_over_rigidity_min is not None or cuts.energy_over_rigidity_max is not None:
        emin, emax = cuts.energy_over_rigidity_min, cuts.energy_over_rigidity_max

        def matching(i):
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = col("ecal_energy_gev", i) / np.abs(col(rig, i))
            return _finite_within(ratio, emin, emax)

        steps.append((f"E/|R| in [{_fmt(emin, '0')}, {_fmt(emax, 'inf')}]", ("matching", rig, emin, emax), matching))
    factor, column = cuts.cutoff_factor, cuts.cutoff_column
    obs_key = (cuts.observable, rig)
    steps.append((f"observable > {factor:g} x max cutoff ({column})", ("cutoff", obs_key, factor, column),
                  lambda i: col.observable(cuts, i) > factor * col.interval_value(column).astype(np.float64)[i]))
    omin, omax = cuts.observable_min, cuts.observable_max
    name = f"observable >= {omin:g} {cuts.unit}" + (f" and < {omax:g} {cuts.unit}" if omax is not None else "")

    def in_range(i):
        values = col.observable(cuts, i)
        keep = values >= omin
        return keep & (values < omax) if omax is not None else keep

    steps.append((name, ("range", obs_key, omin, omax), in_range))
    return steps


def _fmt(value, unbounded: str) -> str:
    return unbounded if value is None else f"{value:g}"
