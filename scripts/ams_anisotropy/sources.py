"""Particle sources of the event simulation: the sky model and the particle streams.

A :class:`ParticleSource` is one simulated stream (a species, or a neighbouring-charge background such
as boron): its charge, its AMS-02 flux table, the simulated rigidity range, its sky, its
reconstruction efficiency and the track patterns in which its events are stored.
:func:`default_particles` builds the six species and the two neighbouring charges from the shipped
AMS tables. The simulation keys each stream's random numbers by its name (``rng.generator(seed,
"events", chunk, name, ...)``), so the events do not depend on the order of the particles in the config.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .spectra import FluxTable

MC_PARTICLES = ("electron", "positron", "proton", "helium", "carbon", "oxygen", "boron", "nitrogen")


@dataclass(frozen=True)
class SkyModel:
    """Sky anisotropy in galactic coordinates: flux ~ 1 + rho . n + n . Q . n.

    Parameters
    ----------
    dipole_gal : (rho_FB, rho_EW, rho_NS), the dipole along galactic x (l=0, b=0), y (l=90, b=0) and z
        (north galactic pole); dimensionless.
    quadrupole_gal : optional 3x3 symmetric traceless matrix Q (nested tuples), dimensionless.
    The flux must stay non-negative: |rho| - lambda_min(Q) <= 1 is required.
    """

    dipole_gal: tuple[float, float, float] = (0.0, 0.0, 0.0)
    quadrupole_gal: tuple | None = None

    def __post_init__(self):
        rho = np.asarray(self.dipole_gal, dtype=np.float64)
        if rho.shape != (3,) or not np.all(np.isfinite(rho)):
            raise ValueError(f"SkyModel: dipole_gal must be 3 finite numbers, got {self.dipole_gal!r}")
        object.__setattr__(self, "dipole_gal", tuple(float(v) for v in rho))
        lam_min = lam_max = 0.0
        if self.quadrupole_gal is not None:
            q = np.asarray(self.quadrupole_gal, dtype=np.float64)
            if q.shape != (3, 3) or not np.all(np.isfinite(q)):
                raise ValueError("SkyModel: quadrupole_gal must be a finite 3x3 matrix")
            if not np.allclose(q, q.T, atol=1e-12) or abs(np.trace(q)) > 1e-9:
                raise ValueError("SkyModel: quadrupole_gal must be symmetric and traceless")
            object.__setattr__(self, "quadrupole_gal", tuple(tuple(float(v) for v in row) for row in q))
            eig = np.linalg.eigvalsh(q)
            lam_min, lam_max = float(eig[0]), float(eig[-1])
        if np.linalg.norm(rho) - lam_min > 1.0:
            raise ValueError(
                f"SkyModel: |rho| = {np.linalg.norm(rho):.3g} with quadrupole eigenvalue {lam_min:.3g} makes the "
                "flux negative somewhere"
            )
        object.__setattr__(self, "_max_modulation", 1.0 + float(np.linalg.norm(rho)) + lam_max)

    @property
    def is_isotropic(self) -> bool:
        return not any(self.dipole_gal) and self.quadrupole_gal is None

    @property
    def max_modulation(self) -> float:
        """An upper bound of 1 + rho.n + n.Q.n over the sphere."""
        return self._max_modulation

    def modulation(self, direction_gal: np.ndarray) -> np.ndarray:
        """1 + rho . n + n . Q . n for galactic unit vectors (n, 3)."""
        n = np.asarray(direction_gal, dtype=np.float64)
        value = 1.0 + n @ np.asarray(self.dipole_gal)
        if self.quadrupole_gal is not None:
            value = value + np.einsum("ni,ij,nj->n", n, np.asarray(self.quadrupole_gal), n)
        return value


@dataclass(frozen=True, eq=False)
class ParticleSource:
    """One simulated particle stream.

    Parameters
    ----------
    name : mc_particle name (electron, positron, proton, helium, carbon, oxygen, boron, nitrogen).
    charge_z : charge number Z (1 for e± and protons).
    charge_sign : +1 or -1 (electrons -1).
    flux : FluxTable of the differential flux vs |rigidity| (GV; energy in GeV for e±).
    min_rigidity_gv : lowest true rigidity simulated, GV (below the analysis thresholds so that the
        resolution migration is modelled: e.g. 10 GV for nuclei with an 18 GV threshold).
    max_rigidity_gv : highest true rigidity, GV (None: no upper edge).
    sky : SkyModel of this particle.
    reconstruction_efficiency : probability (0, 1] that the track is well reconstructed; failures get
        the poor-track signature. The integrator calibrates it to the paper's sample sizes.
    electromagnetic : True for e± (TRD/ECAL respond as to electrons); default from the name.
    stored_patterns : pattern names one of which an event of this particle must satisfy to be stored
        (None: the ``stored_patterns`` argument of :func:`simulate_events`). E.g. protons only in
        ``l1_inner_l9`` and the ECAL patterns: the paper's proton sample needs L9, and the e±
        selections need the protons through the ECAL as background.
    pattern_min_ecal_energy_gev : optional dict pattern name -> GeV. An event stored only through that
        pattern (in none of the patterns listed before it) is written only if its ECAL energy is at
        least this: e.g. ``{"ecal": 16.0}`` for protons, which the e± selections (16 GeV and above) can
        take only through the ECAL with E >= 16 GeV. For hadrons the deposit is at most Z |R|, so those
        events are generated above max(min_rigidity_gv, E / Z) (exact, see :mod:`simulation`).
    store_above : optional dict with ``rigidity_gv`` and/or ``ecal_energy_gev``: an event is written only
        if one of its measured |rigidities| (inner+L1 or L1-L9 fit) reaches ``rigidity_gv`` or its ECAL
        energy reaches ``ecal_energy_gev`` -- the lowest nuclei threshold (18 GV) and the lowest e±
        threshold (16 GeV): no selection can take the other events (their observable is below every
        threshold). Removes the ~30% of nuclei generated in the 14-18 GV migration margin that stay below.
    """

    name: str
    charge_z: int
    charge_sign: int
    flux: FluxTable
    min_rigidity_gv: float
    max_rigidity_gv: float | None = None
    sky: SkyModel = field(default_factory=SkyModel)
    reconstruction_efficiency: float = 1.0
    electromagnetic: bool | None = None
    stored_patterns: tuple[str, ...] | None = None
    pattern_min_ecal_energy_gev: dict | None = None
    store_above: dict | None = None

    def __post_init__(self):
        if self.name not in MC_PARTICLES:
            raise ValueError(f"ParticleSource: name must be one of {MC_PARTICLES}, got {self.name!r}")
        if self.charge_sign not in (-1, 1) or int(self.charge_z) < 1:
            raise ValueError(f"ParticleSource {self.name}: bad charge Z={self.charge_z} sign={self.charge_sign}")
        if not self.min_rigidity_gv > 0:
            raise ValueError(f"ParticleSource {self.name}: min_rigidity_gv must be > 0 GV")
        if self.max_rigidity_gv is not None and not self.max_rigidity_gv > self.min_rigidity_gv:
            raise ValueError(f"ParticleSource {self.name}: max_rigidity_gv must exceed min_rigidity_gv")
        if not 0.0 < self.reconstruction_efficiency <= 1.0:
            raise ValueError(f"ParticleSource {self.name}: reconstruction_efficiency must be in (0, 1]")
        if self.electromagnetic is None:
            object.__setattr__(self, "electromagnetic", self.name in ("electron", "positron"))
        if self.stored_patterns is not None:
            object.__setattr__(self, "stored_patterns", tuple(self.stored_patterns))
        if self.pattern_min_ecal_energy_gev:
            limits = {str(k): float(v) for k, v in dict(self.pattern_min_ecal_energy_gev).items()}
            if any(not (np.isfinite(v) and v > 0) for v in limits.values()):
                raise ValueError(f"ParticleSource {self.name}: pattern_min_ecal_energy_gev values must be > 0 GeV")
            object.__setattr__(self, "pattern_min_ecal_energy_gev", limits)
        else:
            object.__setattr__(self, "pattern_min_ecal_energy_gev", {})
        floors = {str(k): float(v) for k, v in dict(self.store_above or {}).items()}
        if set(floors) - {"rigidity_gv", "ecal_energy_gev"} or any(not v > 0 for v in floors.values()):
            raise ValueError(f"ParticleSource {self.name}: store_above takes rigidity_gv and/or ecal_energy_gev "
                             f"(> 0), got {self.store_above!r}")
        object.__setattr__(self, "store_above", floors)

    def integral_flux(self) -> float:
        """Integral flux between the simulated rigidity limits, m^-2 sr^-1 s^-1."""
        upper = np.inf if self.max_rigidity_gv is None else self.max_rigidity_gv
        return float(self.flux.integral_flux(self.min_rigidity_gv, upper))


# species -> (flux file, Z, sign) of the shipped AMS tables
_SPECIES_TABLES = {
    "electron": ("AMS-02_e-_rigidity.txt", 1, -1),
    "positron": ("AMS-02_e+_rigidity.txt", 1, 1),
    "proton": ("AMS-02_H_rigidity.txt", 1, 1),
    "helium": ("AMS-02_He_rigidity.txt", 2, 1),
    "carbon": ("AMS-02_C_rigidity.txt", 6, 1),
    "oxygen": ("AMS-02_O_rigidity.txt", 8, 1),
}
# neighbouring charges: name -> (parent, Z, ratio at the pivot, index change, pivot GV); see module docstring
SECONDARY_SCALINGS = {
    "boron": ("carbon", 5, 0.20, -0.33, 20.0),
    "nitrogen": ("oxygen", 7, 0.12, -0.10, 20.0),
}


def default_particles(
    flux_dir,
    min_rigidity_gv: dict | None = None,
    reconstruction_efficiency: dict | None = None,
    sky: dict | None = None,
    include_neighbours: bool = True,
    stored_patterns: dict | None = None,
) -> list[ParticleSource]:
    """The six species (and boron, nitrogen) from the AMS tables in ``flux_dir``.

    min_rigidity_gv : name -> GV (default 10 GV for e± and nuclei: below the 16 GeV / 18 GV thresholds);
    reconstruction_efficiency : name -> (0, 1] (default 1); sky : name -> SkyModel (default isotropic);
    stored_patterns : name -> tuple of pattern names (default None: the simulate_events argument);
    boron and nitrogen default to the values of carbon and oxygen for min_rigidity_gv and stored_patterns.
    """
    flux_dir = Path(flux_dir)
    min_rigidity_gv = min_rigidity_gv or {}
    reconstruction_efficiency = reconstruction_efficiency or {}
    sky = sky or {}
    stored_patterns = stored_patterns or {}
    tables = {}
    sources = []
    for name, (filename, z, sign) in _SPECIES_TABLES.items():
        tables[name] = FluxTable.from_file(flux_dir / filename)
        sources.append(
            ParticleSource(
                name,
                z,
                sign,
                tables[name],
                min_rigidity_gv.get(name, 10.0),
                sky=sky.get(name, SkyModel()),
                reconstruction_efficiency=reconstruction_efficiency.get(name, 1.0),
                stored_patterns=stored_patterns.get(name),
            )
        )
    if include_neighbours:
        for name, (parent, z, ratio, index, pivot) in SECONDARY_SCALINGS.items():
            table = tables[parent].scaled(ratio, index, pivot, name=f"{name} = {parent} x {ratio}(R/{pivot}GV)^{index}")
            sources.append(
                ParticleSource(
                    name,
                    z,
                    1,
                    table,
                    min_rigidity_gv.get(name, min_rigidity_gv.get(parent, 10.0)),
                    sky=sky.get(name, SkyModel()),
                    reconstruction_efficiency=reconstruction_efficiency.get(name, 1.0),
                    stored_patterns=stored_patterns.get(name, stored_patterns.get(parent)),
                )
            )
    return sources


__all__ = ["MC_PARTICLES", "SkyModel", "ParticleSource", "SECONDARY_SCALINGS", "default_particles"]
