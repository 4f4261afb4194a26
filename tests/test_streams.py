"""Random streams keyed by names (ams_anisotropy.rng), and results that do not depend on the order or the
presence of the other species and thresholds."""

from __future__ import annotations

import numpy as np
import pytest

from ams_anisotropy import rng


def _draws(*keys, seed=20110519, purpose="limits_pseudo_skies"):
    return rng.generator(seed, purpose, *keys).random(8)


def test_integer_keys_keep_the_earlier_encoding():
    # the chunk streams of the simulation were keyed [seed, stream, chunk]: the same bits as before names
    expected = np.random.Generator(np.random.PCG64(np.random.SeedSequence([7, rng.STREAMS["events"], 3, 1])))
    np.testing.assert_array_equal(rng.generator(7, "events", 3, 1).random(8), expected.random(8))


def test_names_give_distinct_reproducible_streams():
    a = _draws("proton", "18GV")
    np.testing.assert_array_equal(a, _draws("proton", "18GV"))
    others = [_draws("helium", "18GV"), _draws("proton", "30GV"), _draws("18GV", "proton"), _draws("proton"),
              _draws("proton", "18GV", purpose="limits_posterior"), _draws("proton", "18GV", seed=1)]
    for other in others:
        assert not np.array_equal(a, other)


def test_a_string_key_never_collides_with_integer_keys():
    words = rng.key_words("proton")
    assert len(words) == 4 and words[0] >= 2**31 and all(0 <= w < 2**32 for w in words)
    # the same words given as integers are refused (they would start with the string flag)
    with pytest.raises(ValueError, match=r"\[0, 2\*\*31\)"):
        rng.entropy(1, "tests", *words)
    assert rng.entropy(1, "tests", "proton") == [1, rng.STREAMS["tests"], *words]


@pytest.mark.parametrize("key", [1.5, 18.0, True, None, b"proton"])
def test_keys_that_are_not_names_or_ids_are_refused(key):
    with pytest.raises(TypeError, match="random-stream key"):
        rng.generator(1, "tests", key)


def test_bad_keys_and_purposes_fail_clearly():
    with pytest.raises(ValueError, match="empty name"):
        rng.generator(1, "tests", "")
    with pytest.raises(ValueError, match="integer ids"):
        rng.generator(1, "tests", -1)
    with pytest.raises(KeyError, match="unknown random stream"):
        rng.generator(1, "no_such_purpose", "proton")
