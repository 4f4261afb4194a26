"""Random streams keyed by names (ams_anisotropy.rng), and results that do not depend on the order or the
presence of the other species and thresholds."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import yaml
from regenerate_expected import EXPECTED, compare_tables, copy_project, run_ci_workflow
from workflow_helpers import seed_tracing_tables

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


# --------------------------------------------------------------------------- the fit and limit jobs
LIMITS_CONFIG = {"n_posterior_samples": 2000, "n_pseudo_skies": 40, "credibility": 0.95,
                 "max_failed_fraction": 0.1, "systematics_groups": [["cutoff1.0"]]}


def _species_maps(labels, seed):
    """Counts (nominal and a cutoff variant) and reference maps, one per threshold, Nside 8."""
    import healpy as hp

    vec = np.array(hp.pix2vec(8, np.arange(hp.nside2npix(8))))
    shape = 1 + 0.3 * vec[2]
    references = np.stack([shape * 2e4 / 2 ** k / shape.sum() for k in range(len(labels))])
    draw = rng.generator(seed, "tests", 0)
    counts = {"": draw.poisson(references).astype(float), "_cutoff1.0": draw.poisson(1.1 * references).astype(float)}
    return counts, {"nominal": references, "cutoff1.0": references * 1.1}


def _limits(species, labels, values, counts, references, **kwargs):
    from ams_anisotropy.species_statistics import fit_species, limit_species

    fits = fit_species(species, labels, counts, [("nominal", ""), ("cutoff1.0", "_cutoff1.0")], references,
                       min_exposure_fraction=0.05, lmax_check=(2,), **kwargs)
    if "responses" in kwargs:  # the limits use the nominal reference's responses
        kwargs["responses"] = kwargs["responses"]["nominal"]
    return fits, limit_species(species, labels, values, "GV", fits, counts[""], references["nominal"], 7, 0.05,
                               LIMITS_CONFIG, **kwargs)


def test_a_thresholds_limits_do_not_depend_on_the_other_thresholds():
    labels, values = ["18GV", "30GV", "45GV"], [18, 30, 45]
    counts, references = _species_maps(labels, 1)
    fits, table = _limits("proton", labels, values, counts, references)
    assert list(table["threshold"]) == values and set(fits["variant"]) == {"nominal", "cutoff1.0"}
    assert len(fits) == 6 and list(fits["threshold"].unique()) == labels
    # 30 GV alone (the others dropped), and the thresholds in another order: the same bits for 30 GV
    alone_counts = {suffix: maps[1:2] for suffix, maps in counts.items()}
    alone_references = {variant: maps[1:2] for variant, maps in references.items()}
    _, alone = _limits("proton", ["30GV"], [30], alone_counts, alone_references)
    order = [2, 1, 0]
    _, reordered = _limits("proton", [labels[i] for i in order], [values[i] for i in order],
                           {s: m[order] for s, m in counts.items()}, {v: m[order] for v, m in references.items()})
    row = table[table["threshold"] == 30].reset_index(drop=True)
    for other in (alone, reordered[reordered["threshold"] == 30].reset_index(drop=True)):
        assert row.equals(other), "the 30 GV limits changed with the other thresholds"
    # the streams are keyed by the species name: another species with the same maps gets other numbers
    _, helium = _limits("helium", labels, values, counts, references)
    assert not np.array_equal(helium["delta_ul95"], table["delta_ul95"])
    np.testing.assert_array_equal(helium["rho_fb"], table["rho_fb"])  # the fit itself has no randomness


def test_the_dipole_correction_is_applied_to_the_fit_and_the_limits():
    labels = ["18GV"]
    counts, references = _species_maps(labels, 2)
    responses = {"nominal": np.zeros((1, 3, references["nominal"].shape[1])),
                 "cutoff1.0": np.zeros((1, 3, references["nominal"].shape[1]))}

    def doubling(reference, response, mask, max_absorption):
        assert response.shape == (3, reference.size) and mask.dtype == bool and max_absorption == 0.5
        return 2.0 * np.eye(3)

    plain_fits, plain = _limits("proton", labels, [18], counts, references)
    fits, corrected = _limits("proton", labels, [18], counts, references, responses=responses,
                              dipole_transform=doubling)
    for name in ("rho_fb", "rho_ew", "rho_ns", "sigma_fb"):
        np.testing.assert_allclose(fits[name], 2 * fits[f"{name}_uncorrected"], rtol=1e-12)
        np.testing.assert_array_equal(fits[f"{name}_uncorrected"], plain_fits[name])
    # the limit scales with the correction (the same random numbers)
    assert corrected["delta_ul95"][0] == pytest.approx(2 * plain["delta_ul95"][0], rel=1e-9)
    assert corrected["expected_ul95_median"][0] == pytest.approx(2 * plain["expected_ul95_median"][0], rel=1e-9)


def test_bad_fit_inputs_fail_clearly():
    from ams_anisotropy.species_statistics import fit_species

    counts, references = _species_maps(["18GV"], 3)
    with pytest.raises(ValueError, match="first reference variant must be 'nominal'"):
        fit_species("proton", ["18GV"], counts, [("cutoff1.0", "_cutoff1.0")], references, 0.05)
    with pytest.raises(ValueError, match="expected 2 threshold maps"):
        fit_species("proton", ["18GV", "30GV"], counts, [("nominal", "")], references, 0.05)
    with pytest.raises(ValueError, match="needs the counts maps 'counts_cutoff1.4'"):
        fit_species("proton", ["18GV"], counts, [("nominal", ""), ("cutoff1.4", "_cutoff1.4")],
                    {**references, "cutoff1.4": references["nominal"]}, 0.05)


# --------------------------------------------------------------------------- the CI workflow
# One run of the CI configuration up to the result table, and a second one whose config lists the species
# in reverse order with four of them dropped (oxygen now first, proton second): these two must come out
# bitwise identical. The second run reuses the first run's simulated timeline and events (they do not depend on
# the `species` section: the simulation's particle streams are keyed by their names in
# `simulation.particles`) and redoes everything from the selection on. The first run's table is also
# compared with the committed tests/expected/ci_dipole_limits.csv (tests/regenerate_expected.py).
DROPPED = ("electron", "positron", "helium", "carbon")


def _reorder_species(workdir):
    for name in ("config.yaml", "ci.yaml"):
        path = workdir / "config" / name
        config = yaml.safe_load(path.read_text())
        kept = [s for s in reversed(list(config["species"])) if s not in DROPPED]
        config["species"] = {s: config["species"][s] for s in kept}
        path.write_text(yaml.safe_dump(config, sort_keys=False))
    return kept


@pytest.fixture(scope="module")
def ci_runs(tmp_path_factory, ci_session_run):
    full = ci_session_run / "results" / "ci"  # the session's uninterrupted CI run (tests/conftest.py)
    workdir = copy_project(tmp_path_factory.mktemp("ci_reordered"))
    kept = _reorder_species(workdir)
    shutil.copytree(full / "sim", workdir / "results" / "ci" / "sim")  # copytree keeps the times
    seed_tracing_tables(full, workdir / "results" / "ci")  # the same tracing config: not traced again
    # on one core (the session run used two, and the reference maps two threads): the comparison below
    # also shows that the results do not depend on --cores or on the threads of a job
    return full, run_ci_workflow(workdir, cores=1), kept


@pytest.mark.slow
def test_ci_table_matches_the_committed_expected_table(ci_runs):
    full, _, _ = ci_runs
    problems = compare_tables(pd.read_csv(full / "tables" / "dipole_limits.csv"), pd.read_csv(EXPECTED))
    assert not problems, ("the CI results changed; if the change is deliberate, run `.venv/bin/python "
                          "tests/regenerate_expected.py` and commit the table:\n" + "\n".join(problems))


@pytest.mark.slow
def test_reordered_and_dropped_species_and_one_core_leave_the_others_bitwise_identical(ci_runs):
    full, reordered, kept = ci_runs
    assert kept == ["oxygen", "proton"]
    compared = []
    for species in kept:
        paths = [f"fit/{species}.csv", f"limits/{species}.csv", f"tables/{species}_dipole_limits.csv",
                 *(str(p.relative_to(full)) for p in sorted((full / "maps" / species).glob("*.fits")))]
        assert any(p.endswith("reference_shuffle.fits") for p in paths)  # the shuffled (random) reference
        for relative in paths:
            assert (full / relative).read_bytes() == (reordered / relative).read_bytes(), relative
            compared.append(relative)
    assert not (reordered / "fit" / "electron.csv").exists()
    table = pd.read_csv(reordered / "tables" / "dipole_limits.csv")
    assert list(table["species"].unique()) == kept  # the config's (new) order
    full_table = pd.read_csv(full / "tables" / "dipole_limits.csv")
    for species in kept:  # the same values (a column's dtype may depend on the other species' rows)
        pd.testing.assert_frame_equal(table[table["species"] == species].reset_index(drop=True),
                                      full_table[full_table["species"] == species].reset_index(drop=True),
                                      check_dtype=False, check_exact=True)
    assert len(compared) >= 2 * 6
