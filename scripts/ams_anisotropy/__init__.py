"""AMS-02 cosmic-ray dipole anisotropy analysis: simulation, selection, maps, fit and limits.

The package has no Snakemake import: the rule scripts in ``scripts/`` call it.
"""

SPECIES = ("electron", "positron", "proton", "helium", "carbon", "oxygen")

__version__ = "0.1.0"
