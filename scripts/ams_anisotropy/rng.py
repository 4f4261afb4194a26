"""Seeded random generators: one independent stream per (seed, purpose, chunk).

A chunk's numbers depend only on the configured seed, the purpose and the chunk id, so a
run gives bitwise-identical files whatever the number of cores or the order of the jobs.
"""

from __future__ import annotations

import numpy as np

# One fixed integer per purpose; never reuse or renumber (it would change every result).
STREAMS = {
    "timeline": 1,
    "events": 2,
    "selection": 3,
    "reference_shuffle": 4,
    "limits_posterior": 5,
    "limits_pseudo_skies": 6,
    "tests": 99,
}


def generator(seed: int, purpose: str, *keys: int) -> np.random.Generator:
    """A PCG64 generator for ``purpose`` and integer keys (chunk id, species index, ...)."""
    if purpose not in STREAMS:
        raise KeyError(f"unknown random stream {purpose!r}; known: {sorted(STREAMS)}")
    entropy = [int(seed), STREAMS[purpose], *(int(k) for k in keys)]
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy)))
