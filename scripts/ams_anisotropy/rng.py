"""Seeded random generators: one independent stream per (seed, purpose, keys).

A stream's numbers depend only on the configured seed, the purpose and its keys, so a run gives
bitwise-identical files whatever the number of cores or the order of the jobs.

Keys are *names*, never positions in a list: a species name (``"proton"``), a reference variant
(``"shuffle"``), a threshold label (``"18GV"``, i.e. the threshold value with its unit) or a chunk id
(the integer of ``chunk0003``). Reordering, adding or dropping species or thresholds in the config
therefore leaves every other stream, and every other result, bitwise unchanged.

Encoding (fixed; changing it changes every result): the entropy of the ``numpy.random.SeedSequence``
is the list of 32-bit words ``[seed, STREAMS[purpose], *words(key) for each key]`` where an integer key
k (0 <= k < 2**31) is the single word k, and a string key is four words: the first 16 bytes of the
SHA-256 of its UTF-8 text, little-endian, with the top bit of the first word set. A word with the top
bit set thus always starts a string key, so two different key tuples never give the same entropy.
Integer-only keys give exactly the entropy of the earlier ``[seed, stream, *ints]`` encoding.
"""

from __future__ import annotations

import hashlib

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

_STRING_FLAG = 0x8000_0000  # top bit of the first word of a string key
_MAX_INT_KEY = 0x8000_0000  # integer keys are single words below the flag


def key_words(key) -> list[int]:
    """The 32-bit words of one stream key (a name or a non-negative integer id)."""
    if isinstance(key, str):
        if not key:
            raise ValueError("random-stream key: empty name")
        digest = hashlib.sha256(key.encode("utf-8")).digest()[:16]
        words = [int.from_bytes(digest[i:i + 4], "little") for i in range(0, 16, 4)]
        words[0] |= _STRING_FLAG
        return words
    if isinstance(key, (bool, np.bool_)) or not isinstance(key, (int, np.integer)):
        raise TypeError(
            f"random-stream key {key!r} ({type(key).__name__}): use a name (str: species, variant, threshold "
            "label such as '18GV') or an integer id (chunk number); floats are not keys (format them)"
        )
    if not 0 <= int(key) < _MAX_INT_KEY:
        raise ValueError(f"random-stream key {key}: integer ids must be in [0, 2**31)")
    return [int(key)]


def entropy(seed: int, purpose: str, *keys) -> list[int]:
    """The SeedSequence entropy of a stream (see the module docstring)."""
    if purpose not in STREAMS:
        raise KeyError(f"unknown random stream {purpose!r}; known: {sorted(STREAMS)}")
    words = [int(seed), STREAMS[purpose]]
    for key in keys:
        words.extend(key_words(key))
    return words


def generator(seed: int, purpose: str, *keys) -> np.random.Generator:
    """A PCG64 generator for ``purpose`` and its keys: names (str) or integer ids.

    E.g. ``generator(seed, "limits_pseudo_skies", "proton", "18GV")`` or
    ``generator(seed, "events", 3, "proton")`` (chunk 3, particle stream named proton).
    """
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy(seed, purpose, *keys))))
