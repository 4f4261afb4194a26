"""The ``efftime`` reference variant (ams_anisotropy.efficiency_time): the efficiency per trigger-rate bin and
time block follows an efficiency loss of a few days that the nominal (whole-period) efficiency leaves as a
spurious dipole, and agrees with the nominal where nothing depends on time.

The events are drawn from the true model: per good interval of the synthetic 74-day timeline of
test_reference, a Poisson number of events with mean proportional to livetime x cutoff weight x the
hidden efficiency, each with a detector direction drawn from the detector acceptance and rotated to the sky
by the interval's attitude. The reference maps use that same acceptance, so the efficiency is the only
ingredient that can be wrong.
"""

from __future__ import annotations

import healpy as hp
import numpy as np
import pandas as pd
import pytest
from test_reference import SETTINGS, power_law_integral, synthetic_timeline

from ams_anisotropy import fit, io, reference
from ams_anisotropy.efficiency_time import (
    DAY_S,
    TimeBlockEvents,
    TimeBlockHistogram,
    check_block_days,
    estimate_time_efficiency,
    read_time_histogram,
    time_block_index,
)
from ams_anisotropy.reference_variants import refined_edges, variant_spec
from ams_anisotropy.rng import generator

NSIDE, NSIDE_DET = 16, 32
EDGES = np.array([0, 400, 800, 1200, 1600, 2500])
N_EVENTS = 3.0e6
DROP = 0.3  # efficiency loss during the dead days (the simulation's dead layer: 19%)


@pytest.fixture(scope="module")
def timeline():
    return synthetic_timeline(cadence_s=320.0)  # 74 days, one precession cycle


def dead_days(frame):
    """Intervals in 5 whole days from the 30th block on (blocks of 1 day since the epoch)."""
    block = time_block_index(frame["time_unix_s"].to_numpy(), DAY_S)
    first = block.min() + 30
    return (block >= first) & (block < first + 5)


def draw_events(timeline, drop, seed):
    """Events of the true model (module docstring): (events frame, counts map at NSIDE)."""
    rng = generator(seed, "tests", "efficiency_time")
    good = timeline["good"].to_numpy()
    frame = timeline[good]
    live = (frame["duration_s"] * frame["livetime_fraction"]).to_numpy(np.float64)
    w = reference.cutoff_weights(frame["cutoff_max_pos_40_gv"].to_numpy(), [18.0], None, power_law_integral)[:, 0]
    rate = frame["trigger_rate_hz"].to_numpy(np.float64)
    eps = (1.0 - 0.04 * rate / 2000.0) * np.where(dead_days(frame), 1.0 - drop, 1.0)
    mean = live * w * eps
    n = rng.poisson(N_EVENTS * mean / mean.sum())
    interval = np.repeat(np.arange(n.size), n)
    vec = np.array(hp.pix2vec(NSIDE_DET, np.arange(hp.nside2npix(NSIDE_DET))))
    acceptance = np.where(vec[2] > np.cos(np.radians(40)), vec[2] * (1 + 0.3 * vec[0]), 0.0)
    pixel = rng.choice(acceptance.size, size=interval.size, p=acceptance / acceptance.sum())
    rotations = frame[io.AXIS_COLUMNS].to_numpy(np.float64).reshape(-1, 3, 3).transpose(0, 2, 1)
    sky = np.einsum("nij,jn->ni", rotations[interval], vec[:, pixel])
    counts = np.bincount(hp.vec2pix(NSIDE, *sky.T), minlength=hp.nside2npix(NSIDE)).astype(np.float64)
    # events at uniform times inside their interval, above 18 GV (the lowest threshold)
    events = pd.DataFrame({"observable": np.full(interval.size, 20.0),
                           "time_unix_s": frame["time_unix_s"].to_numpy()[interval]
                           + rng.random(interval.size) * frame["duration_s"].to_numpy()[interval],
                           "trigger_rate_hz": rate[interval]})
    return events, counts, acceptance


def references(timeline, events, counts, acceptance):
    """(nominal, efftime) reference maps from the events' histograms."""
    beams, _ = reference.acceptance_beams(acceptance[None], SETTINGS.lmax, SETTINGS.kmax, dipole_response=False)
    histogram = np.bincount(reference.efficiency_bin(events["trigger_rate_hz"], EDGES),
                            minlength=EDGES.size + 1)[None].astype(np.float64)
    per_block = TimeBlockHistogram([18.0], None, refined_edges(EDGES), 1.0)
    per_block.add(events)
    time_histogram = read_time_histogram(per_block.table(), EDGES, "18GV", 1.0)
    common = dict(nside=NSIDE, n_events=[counts.sum()], thresholds=[18.0], upper=None,
                  integral_flux=power_law_integral, efficiency_edges=EDGES, event_histogram=histogram,
                  settings=SETTINGS)
    nominal = reference.reference_maps(timeline, beams, **common)
    efftime = reference.reference_maps(timeline, beams, time_histogram=time_histogram, **common)
    return nominal, efftime


def dipole(counts, ref):
    """Fitted (rho, covariance) of counts against a reference map."""
    mask = fit.pixels_with_exposure(ref.maps[0], 0.05)
    result = fit.fit_multipoles(counts, ref.maps[0], mask, lmax_check=())
    return result.rho, result.rho_covariance


def chi2(rho, covariance):
    return float(rho @ np.linalg.solve(covariance, rho))


def test_a_few_days_of_efficiency_loss_are_followed(timeline):
    """A 30% loss over 5 of 74 days: the nominal reference leaves a spurious dipole, efftime does not.

    chi2(rho = 0) with 3 dof: > 40 for the nominal (the loss is large: ~8 sigma), below 16.3 (p = 0.001 of an
    isotropic sky) with efftime; efftime's time factors in the dead days are 0.7 within their statistics."""
    events, counts, acceptance = draw_events(timeline, DROP, seed=1)
    nominal, efftime = references(timeline, events, counts, acceptance)
    rho_nominal, cov_nominal = dipole(counts, nominal)
    rho_efftime, cov_efftime = dipole(counts, efftime)
    assert chi2(rho_nominal, cov_nominal) > 40.0, (rho_nominal, np.sqrt(np.diag(cov_nominal)))
    assert chi2(rho_efftime, cov_efftime) < 16.3, (rho_efftime, np.sqrt(np.diag(cov_efftime)))
    te = efftime.time_efficiency
    first = time_block_index(timeline["time_unix_s"][timeline["good"]].min(), DAY_S) + 30
    dead = (te.blocks >= first) & (te.blocks < first + 5)
    assert dead.sum() == 5
    # the trigger rate spans 4 of the bins; every (day, bin) cell holds > 2500 events (3e6 / 74 / 4 on average)
    ok = te.cell_estimated
    assert np.all(ok.sum(axis=1) == 4)
    # c is relative to the whole-period bin (which holds the loss too): the other days' factors are ~1 / (1 -
    # 0.3 x 5/74); each cell's own factor within 5 sigma of the truth (2% at 2500 events), the dead days'
    # median over the others' within 1% of 1 - DROP
    others = np.median(te.factors[~dead][ok[~dead]])
    ratio = np.broadcast_to(np.where(dead[:, None], 1.0 - DROP, 1.0), ok.shape) * others
    assert np.all(np.abs(te.factors[ok] - ratio[ok]) < 0.1), te.factors[dead]
    assert np.abs(np.median(te.factors[dead][ok[dead]]) / others - (1.0 - DROP)) < 0.01


def test_without_time_dependence_efftime_agrees_with_nominal(timeline):
    """No time dependence: efftime and nominal fits agree within statistics and are both isotropic.

    Both fit the same events; the difference is what the time factors absorb of the data's own
    fluctuations (its variance is a fraction of sigma^2, asserted below 0.5 sigma per component)."""
    events, counts, acceptance = draw_events(timeline, 0.0, seed=2)
    nominal, efftime = references(timeline, events, counts, acceptance)
    rho_nominal, cov_nominal = dipole(counts, nominal)
    rho_efftime, cov_efftime = dipole(counts, efftime)
    sigma = np.sqrt(np.diag(cov_nominal))
    assert np.all(np.abs(rho_efftime - rho_nominal) < 0.5 * sigma), (rho_efftime - rho_nominal) / sigma
    assert chi2(rho_nominal, cov_nominal) < 16.3 and chi2(rho_efftime, cov_efftime) < 16.3
    assert np.all(np.abs(efftime.time_efficiency.factors - 1.0) < 5 / np.sqrt(400))


def test_time_histogram_adds_up_and_merges_to_the_nominal_bins():
    rng = generator(5, "tests", "time_histogram")
    n = 20000
    events = pd.DataFrame({"observable": rng.uniform(10, 100, n), "time_unix_s": 1.3e9 + rng.uniform(0, 5 * DAY_S, n),
                           "trigger_rate_hz": rng.uniform(0, 3000, n)})
    whole = TimeBlockHistogram([18.0, 40.0], None, refined_edges(EDGES), 1.0)
    whole.add(events)
    parts = TimeBlockHistogram([18.0, 40.0], None, refined_edges(EDGES), 1.0)
    for chunk in np.array_split(np.arange(n), 3):
        parts.add(events.iloc[chunk])
    pd.testing.assert_frame_equal(whole.table(), parts.table())
    merged = read_time_histogram(whole.table(), EDGES, "40GV", 1.0)
    above = events[events["observable"] >= 40.0]
    block = time_block_index(above["time_unix_s"], DAY_S)
    direct = np.zeros((merged.blocks.size, EDGES.size + 1))
    rate_bin = reference.efficiency_bin(above["trigger_rate_hz"], EDGES)
    np.add.at(direct, (np.searchsorted(merged.blocks, block), rate_bin), 1)
    assert np.array_equal(merged.counts, direct)
    with pytest.raises(ValueError, match="time blocks of 1 days, the config asks for 2"):
        read_time_histogram(whole.table(), EDGES, "40GV", 2.0)
    with pytest.raises(ValueError, match="not a subset"):
        read_time_histogram(whole.table(), [0, 300, 2500], "40GV", 1.0)


def test_sparse_cells_take_their_block_factor_and_sparse_blocks_one():
    """Minimum events: a cell below it takes its block's merged factor; a block below it takes c = 1."""
    exposure = np.array([[100.0, 100.0, 1.0], [100.0, 100.0, 1.0], [1.0, 1.0, 0.0]])
    counts = np.array([[1000.0, 1000.0, 5.0], [500.0, 500.0, 5.0], [8.0, 8.0, 0.0]])
    events = TimeBlockEvents(DAY_S, np.array([10, 11, 12]), counts, (0.0, 1.0))
    te = estimate_time_efficiency(events, np.array([10, 11, 12]), exposure, min_events_per_bin=400)
    rate = counts.sum(axis=0) / exposure.sum(axis=0)
    np.testing.assert_allclose(te.factors[:2, :2], counts[:2, :2] / (exposure[:2, :2] * rate[:2]))
    block_factor = counts[1].sum() / (exposure[1] * rate).sum()
    assert te.factors[1, 2] == pytest.approx(block_factor) and not te.cell_estimated[1, 2]
    assert np.all(te.factors[2] == 1.0) and not te.block_estimated[2]
    # an interval outside the table's blocks keeps its livetime
    assert te.interval_factors(np.array([9.5, 10.5]) * DAY_S, np.array([0.5, 0.5])).tolist() == [
        1.0, te.factors[0, 1]]


@pytest.mark.parametrize("value", [0, -1.0, float("nan"), None, "one"])
def test_bad_block_length_names_the_config_key(value):
    with pytest.raises(ValueError, match=r"reference\.efficiency_time_block_days must be a positive number"):
        check_block_days(value)
    config = {"efficiency_variable": "trigger_rate_hz", "efficiency_edges": list(EDGES), "lmax": 96, "kmax": 8,
              "efficiency_time_block_days": value}
    with pytest.raises(ValueError, match=r"reference\.efficiency_time_block_days"):
        variant_spec("efftime", config, 1.2)
    with pytest.raises(ValueError, match=r"reference\.efficiency_time_block_days"):
        TimeBlockHistogram([18.0], None, EDGES, value)
