"""Geomagnetic deflection: the backtraced simulation and the reference in asymptotic directions.

Known answers: the rotation conventions of the correction (an active rotation of a known function), the
node shares of the spectrum (their sum is the straight-line exposure's cutoff weight), a table without
deflection gives no correction. Closure (protons, 73 days, prescale 25, a coarse IGRF-13 table traced in the
fixture, shared by the simulation and the analysis as AMS's backtracing is): with the deflection on, the
reference of the arrival directions (the old method) gives a spurious dipole of tens of sigma at 18 GV,
the reference in asymptotic directions is consistent with isotropy, and leaving out the rigidity
resolution's spill-over fails at 18 GV (so the test can fail).
"""

from __future__ import annotations

import dataclasses

import healpy as hp
import numpy as np
import pytest
from test_closure import CONE_COLUMN, EDGES_HZ, NSIDE, ROOT, SETTINGS, bin_sample

from ams_anisotropy import fit, reference, selection, simulation, spectra
from ams_anisotropy import timeline as timeline_module
from ams_anisotropy.asymptotic import build_asymptotic_table, grid_from_config
from ams_anisotropy.constants import AMS_DATA_TAKING_START_UNIX_S
from ams_anisotropy.deflected_exposure import (
    DeflectionCorrection,
    DeflectionSettings,
    node_shares,
    quadrature_nodes,
    rotate_alm,
)
from ams_anisotropy.frames import Attitude
from ams_anisotropy.geomagnetic import DipoleField
from ams_anisotropy.igrf_field import IgrfField
from ams_anisotropy.orbit import CircularOrbit

THRESHOLDS_GV = (18.0, 30.0, 45.0)
# a coarse table (4.9e5 trajectories, ~40 s on 2 cores): the rigidity nodes of the default table (config.yaml
# tracing; 2 GV nodes below 20 GV leave 3.5 sigma at 18 GV), directions to 40 deg from the zenith (the
# simulation below stores tracks within 35 deg; the table's edge deflection serves beyond, clamp=True)
COARSE_TABLE = dict(lat_max_deg=56.0, lat_step_deg=8.0, lon_step_deg=30.0, max_zenith_deg=40.0, n_direction=7,
                    rigidity_fine_gv=[10.0, 20.0, 1.0], rigidity_log_gv=[20.0, 1.25, 17])
PROTON_RESOLUTION = (900.0, 0.09)  # inner + L1 (detector.py: 0.45 x MDR 2 TV, 9% multiple scattering)


def test_rotate_alm_is_an_active_rotation():
    nside, lmax = 16, 6
    n = np.array(hp.pix2vec(nside, np.arange(hp.nside2npix(nside))))

    def f(v):
        return v[0] + 0.5 * v[0] * v[2] - 0.3 * v[1] ** 2

    matrix = hp.rotator.euler_matrix_new(0.3, 1.1, -0.4)
    rotated = hp.alm2map(rotate_alm(hp.map2alm(f(n), lmax=lmax, iter=3), matrix, lmax), nside, lmax=lmax)
    assert np.abs(rotated - f(matrix.T @ n)).max() < 1e-10
    # and a rotation about z by psi multiplies a_lm by exp(-i m psi) (the correction's phase sums)
    psi = 0.7
    m = hp.Alm.getlm(lmax)[1]
    phased = hp.alm2map(hp.map2alm(f(n), lmax=lmax, iter=3) * np.exp(-1j * m * psi), nside, lmax=lmax)
    rz = np.array([[np.cos(psi), -np.sin(psi), 0], [np.sin(psi), np.cos(psi), 0], [0, 0, 1]])
    assert np.abs(phased - f(rz.T @ n)).max() < 1e-10


def test_node_shares_sum_to_the_cutoff_weight_and_spill_below_the_edge():
    flux = spectra.FluxTable.from_file(ROOT / "resources/ams02-fluxes/AMS-02_H_rigidity.txt")
    nodes = np.array([10.0, 14.0, 18.0, 25.0, 40.0, 100.0, 400.0])
    edges = np.array([[18.0, 21.6, 30.0]])
    exact = node_shares([18.0], None, flux.integral_above, nodes, edges)
    smeared = node_shares([18.0], None, flux.integral_above, nodes, edges, resolution=PROTON_RESOLUTION)
    expected = flux.integral_above(edges[0]) / flux.integral_above(np.array([18.0]))
    for shares in (exact, smeared):
        np.testing.assert_allclose(shares[0].sum(axis=1), expected, rtol=1e-9)
    # without resolution nothing below the edge; with it, the 14 GV node carries part of the 18 GV edge
    assert exact[0, 0, 1] == 0.0 and smeared[0, 0, 1] > 0.01 * smeared[0, 0].sum()
    # the mean curvature of the sample rises with the spill-over
    u = np.concatenate([1.0 / nodes, [0.0]])
    assert smeared[0, 0] @ u > 1.02 * (exact[0, 0] @ u)


def test_quadrature_nodes_keep_the_table_nodes_and_bound_every_gap():
    table_nodes = np.array([10.0, 14.0, 18.0, 25.0, 40.0, 100.0, 400.0])
    assert np.array_equal(quadrature_nodes(table_nodes, 0.0), table_nodes)
    nodes = quadrature_nodes(table_nodes, 0.005)
    assert np.all(np.isin(table_nodes, nodes))  # bitwise: the table's own nodes stay
    u = np.append(1.0 / nodes, 0.0)
    assert np.all(np.diff(u) < 0) and np.max(-np.diff(u)) <= 0.005 * (1 + 1e-12)
    # the fewest extra nodes: 1/10 - 1/14 = 0.0286 -> 6 gaps; 1/400 -> 0 (the infinity gap) -> 1 gap
    assert np.sum((nodes > 10.0) & (nodes < 14.0)) == 5 and nodes[-1] == 400.0


def test_cells_that_straddle_a_table_node_are_refused(coarse_table):
    counts = np.ones(hp.nside2npix(8))
    flux = spectra.FluxTable.from_file(ROOT / "resources/ams02-fluxes/AMS-02_H_rigidity.txt")
    for bad in (dict(lat_step_deg=3.0, lon_step_deg=30.0), dict(lat_step_deg=8.0, lon_step_deg=24.0)):
        settings = DeflectionSettings(lmax=24, acceptance_nside=8, high_lat_step_deg=None, **bad)
        with pytest.raises(ValueError, match="reference.deflection.l(at|on)_step_deg.*straddle"):
            DeflectionCorrection(coarse_table, counts, 1, THRESHOLDS_GV, None, flux.integral_above, 1.2, settings)


@pytest.fixture(scope="module")
def coarse_table():
    grid, settings = grid_from_config(COARSE_TABLE)
    return build_asymptotic_table(IgrfField.igrf13(2011.5), grid, settings)


def test_the_per_cell_lookup_is_bitwise_the_flat_lookup(coarse_table):
    """lookup_fraction_nodes (one position, every direction x node: what a correction cell asks) gives the
    same bits as lookup_fraction on the tiled inputs, for both charges and a clamped edge direction."""
    draw = np.random.default_rng(7)
    directions = draw.normal(size=(50, 3))
    directions[:, 2] = np.abs(directions[:, 2]) + 0.3
    directions[0] = [0.9, 0.0, 0.1]  # outside the 40-degree direction grid: clamped
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    nodes = coarse_table.rigidity_gv
    n, q = len(directions), nodes.size
    for lat, lon, sign in [(12.5, -47.0, 1), (-50.0, 171.0, -1)]:
        flat = coarse_table.lookup_fraction(np.full(n * q, lat), np.full(n * q, lon), np.tile(directions, (q, 1)),
                                            np.repeat(nodes, n), np.full(n * q, sign), clamp=True)
        per_cell = coarse_table.lookup_fraction_nodes(lat, lon, directions, nodes, sign, clamp=True)
        np.testing.assert_array_equal(per_cell[0], flat[0].reshape(q, n, 3))
        np.testing.assert_array_equal(per_cell[1], flat[1].reshape(q, n))


def test_a_table_without_deflection_gives_no_correction(coarse_table):
    flat = dataclasses.replace(coarse_table, deflection_enu=np.zeros_like(coarse_table.deflection_enu),
                               allowed=np.ones_like(coarse_table.allowed))
    start = AMS_DATA_TAKING_START_UNIX_S
    timeline = timeline_module.simulate_timeline(
        start, start + 86400.0, 60.0, CircularOrbit(), Attitude(), DipoleField(), timeline_module.TriggerModel(),
        timeline_module.SaaRegion(), timeline_module.GoodIntervalCriteria())
    counts = np.zeros(hp.nside2npix(32))
    up = hp.query_disc(32, [0.0, 0.0, 1.0], np.radians(40.0))
    counts[up] = 1.0
    flux = spectra.FluxTable.from_file(ROOT / "resources/ams02-fluxes/AMS-02_H_rigidity.txt")
    coarse = DeflectionSettings(lmax=24, lat_step_deg=8.0, lon_step_deg=30.0, acceptance_nside=8)  # the table's cells
    correction = DeflectionCorrection(flat, counts, 1, THRESHOLDS_GV, None, flux.integral_above, 1.2, coarse)
    for block in reference.timeline_blocks(timeline, CONE_COLUMN, with_position=True):
        correction.add(block)
    alm = correction.galactic_alm()
    # against the accumulated weight of the straight beam (its monopole): relative size < 1e-6
    scale = correction.total_livetime_s / np.sqrt(4 * np.pi)
    assert np.abs(alm).max() < 1e-6 * scale


@pytest.fixture(scope="module")
def deflected_world(coarse_table):
    start = AMS_DATA_TAKING_START_UNIX_S
    orbit, attitude, field = CircularOrbit(), Attitude(), DipoleField()
    timeline = timeline_module.simulate_timeline(
        start, start + 73 * 86400.0, 10.0, orbit, attitude, field, timeline_module.TriggerModel(),
        timeline_module.SaaRegion(), timeline_module.GoodIntervalCriteria())
    flux = spectra.FluxTable.from_file(ROOT / "resources/ams02-fluxes/AMS-02_H_rigidity.txt")
    proton = simulation.ParticleSource("proton", 1, 1, flux, 14.0)
    events = simulation.simulate_events(
        timeline, seed=1, chunk_id=0, particles=[proton], orbit=orbit, attitude=attitude, field=field,
        prescale=25.0, hidden_efficiency_amplitude=0.03, albedo_fraction=0.0, poor_track_fraction=0.0,
        max_zenith_deg=35.0, good_only=True, stored_patterns=("l1_inner",), deflection=coarse_table)
    cuts = selection.SpeciesCuts("proton", "rigidity", THRESHOLDS_GV[0], charge_min=0.6, charge_max=1.5,
                                 beta_min=0.5, beta_max=1.3, require_l1=True, min_inner_layers=7)
    selected, _ = selection.select_events(events, timeline, cuts)
    acc = bin_sample(selected, THRESHOLDS_GV)
    return {"timeline": timeline, "flux": flux, "acc": acc, "table": coarse_table}


def _fits(world, table, resolution):
    acc = world["acc"]
    result, _, _ = reference.data_driven_reference(
        world["timeline"], acc.detector, acc.histograms["trigger_rate_hz"], acc.n_events, THRESHOLDS_GV, None,
        world["flux"].integral_above, NSIDE, 1.2, CONE_COLUMN, "trigger_rate_hz", EDGES_HZ, settings=SETTINGS,
        deflection_table=table, charge_sign=1, resolution=resolution,
        deflection_settings=DeflectionSettings(lon_step_deg=15.0))  # config.yaml's, lon dividing the table's 30 deg
    out = []
    for k in range(len(THRESHOLDS_GV)):
        mask = fit.pixels_with_exposure(result.maps[k], 0.05)
        f = fit.fit_multipoles(acc.counts[k], result.maps[k], mask, lmax_check=())
        out.append((f.rho / f.sigma, float(f.rho @ np.linalg.solve(f.rho_covariance, f.rho))))
    return out


def test_reference_in_asymptotic_directions_closes_and_the_old_one_fails(deflected_world):
    deflected = _fits(deflected_world, deflected_world["table"], PROTON_RESOLUTION)
    straight = _fits(deflected_world, None, None)
    no_spill = _fits(deflected_world, deflected_world["table"], None)
    report = [f"{t:g} GV: deflected pulls {np.round(d[0], 2)}; straight chi2 {s[1]:.0f}; no spill-over chi2 "
              f"{n[1]:.1f}" for t, d, s, n in zip(THRESHOLDS_GV, deflected, straight, no_spill, strict=True)]
    print("\n".join(report))
    for pulls, _ in deflected:  # isotropic sky: every component within 3 sigma
        assert np.all(np.abs(pulls) < 3.0), report
    # the reference of the arrival directions: chi2 of the spurious dipole (3 d.o.f.) > 100 at 18 and 30 GV
    assert straight[0][1] > 100.0 and straight[1][1] > 100.0, report
    # without the resolution's spill-over the correction is too small at 18 GV: chi2 > 16.3 (p < 1e-3)
    assert no_spill[0][1] > 16.3, report


def test_variants_sharing_the_correction_match_their_own_correction(deflected_world):
    """data_driven_reference_set: the variants of a species as channels of one correction (shared lookups and
    deflected beams, channel 0's acceptance). Channel 0 is bitwise-close to its reference alone; every other
    channel's correction differs from its own by far less than the variants' corrections differ from each
    other (the sharing keeps what distinguishes them: efficiency, cutoff factor, stride)."""
    from ams_anisotropy.reference_set import VariantInputs, data_driven_reference_set

    acc, five_days = deflected_world["acc"], deflected_world["timeline"].iloc[:43200]
    histogram = acc.histograms["trigger_rate_hz"]
    common = dict(detector_maps=acc.detector, n_events=acc.n_events, efficiency_variable="trigger_rate_hz",
                  efficiency_edges=tuple(EDGES_HZ))
    variants = [VariantInputs("nominal", event_histogram=histogram, cutoff_factor=1.2, settings=SETTINGS, **common),
                VariantInputs("noeff", event_histogram=None, cutoff_factor=1.2, settings=SETTINGS, **common),
                VariantInputs("cutoff1.4", event_histogram=histogram, cutoff_factor=1.4, settings=SETTINGS, **common),
                VariantInputs("cadence2", event_histogram=histogram, cutoff_factor=1.2,
                              settings=dataclasses.replace(SETTINGS, interval_stride=2), **common)]
    kwargs = dict(thresholds=THRESHOLDS_GV, upper=None, integral_flux=deflected_world["flux"].integral_above,
                  nside=NSIDE, cone_column=CONE_COLUMN, charge_sign=1, resolution=PROTON_RESOLUTION,
                  deflection_settings=DeflectionSettings(lmax=24, lat_step_deg=8.0, lon_step_deg=30.0,
                                                         acceptance_nside=8, high_lat_step_deg=None))
    shared = data_driven_reference_set(five_days, variants, deflection_table=deflected_world["table"], **kwargs)
    corrections = {}
    for v in variants:
        alone = data_driven_reference_set(five_days, [v], deflection_table=deflected_world["table"], **kwargs)
        straight = data_driven_reference_set(five_days, [v], deflection_table=None, **kwargs)
        corrections[v.name] = (shared[v.name][0].maps - straight[v.name][0].maps,
                               alone[v.name][0].maps - straight[v.name][0].maps)
    rms = lambda x: float(np.sqrt(np.mean(x**2)))  # noqa: E731
    nominal_shared, nominal_alone = corrections["nominal"]
    assert rms(nominal_shared - nominal_alone) < 1e-12 * rms(nominal_alone)
    for name in ("noeff", "cutoff1.4", "cadence2"):
        with_shared, own = corrections[name]
        sharing_error, between_variants = rms(with_shared - own), rms(own - nominal_alone)
        print(f"{name}: sharing error {sharing_error:.3g}, own - nominal correction {between_variants:.3g}")
        assert sharing_error < 0.02 * between_variants, name
