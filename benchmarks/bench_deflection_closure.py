"""Closure of the deflected reference at N times the default statistics, and its convergence in the settings.

Protons over the default 73-day period (config.yaml + validation.yaml: the timeline at the validation's 30 s
cadence), isotropic sky, every unmodelled detector effect off, the geomagnetic deflection through TABLE (as
``simulation.geomagnetic_deflection: true``). N independent draws (seeds seed + 1000 i) are selected and
binned into one accumulator: N x 3.5e6 protons above 18 GV, so a bias of the reference shows at sigma / sqrt(N)
(N = 16: sigma 0.033% in rho_EW at 18 GV, the statistics of 1.6 years). Every reference is built from the same
events, so the differences between settings are free of the events' noise. Printed per setting and
threshold: the fitted dipole (per cent, galactic (rho_EW, rho_NS, rho_FB), with the dipole-absorption
correction), its pulls, chi2/dof of the dipole fit, the drop of chi2 with a quadrupole (dq2, ~5 if the
reference has no large-scale error), the CPU time of the reference, and for the lowest threshold the data /
reference ratio in 6-degree bands of equatorial declination (where a reference error sits).

Settings (``--settings=a,b``): ``config`` (config.yaml reference.deflection), ``table_nodes`` (its rigidity
quadrature on the table's nodes only, max_node_gap_inv_gv 0), ``lat4`` (no high-latitude refinement of the cells),
``straight`` (the reference of the arrival directions).

    PYTHONPATH=scripts .venv/bin/python benchmarks/bench_deflection_closure.py TABLE [--draws=16]
        [--settings=config,table_nodes,lat4] [--cache=FILE.npz]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import healpy as hp
import numpy as np
import yaml
from snakemake.utils import update_config

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from ams_anisotropy import binning, fit, reference, selection, simulation, validation  # noqa: E402
from ams_anisotropy.asymptotic import AsymptoticTable  # noqa: E402
from ams_anisotropy.deflected_exposure import DeflectionSettings  # noqa: E402
from ams_anisotropy.detector_effects import detector_effects_from_config  # noqa: E402

THRESHOLDS_GV = [18.0, 30.0, 45.0]
DEC_BAND_DEG = 6.0


def _option(name, default):
    for a in sys.argv[1:]:
        if a.startswith(f"--{name}="):
            return a.split("=", 1)[1]
    return default


def _settings(config) -> dict:
    base = {k: v for k, v in config["reference"]["deflection"].items() if k != "enabled"}
    return {"config": base, "table_nodes": dict(base, max_node_gap_inv_gv=0.0),
            "lat4": dict(base, high_lat_step_deg=None),
            "straight": None}


def _accumulate(setup, table, effects, draws, cache):
    acc = binning.MapAccumulator(THRESHOLDS_GV, setup.upper, setup.nside, setup.nside_detector,
                                 {"trigger_rate_hz": setup.efficiency_edges}, species="proton", unit="GV")
    if cache is not None and Path(cache).exists():
        saved = np.load(cache)
        acc.counts[:], acc.detector[:] = saved["counts"], saved["detector"]
        acc.histograms["trigger_rate_hz"][:] = saved["histogram"]
        print(f"# events from {cache}: {acc.n_events}", flush=True)
        return acc
    kwargs = dict(setup.simulation_kwargs, prescale=1.0, detector_effects=effects, deflection=table)
    t0 = time.process_time()
    for draw in range(draws):
        for frame in simulation.iter_event_slices(setup.timeline, seed=setup.seed + 1000 * draw, chunk_id=0,
                                                  particles=[setup.particle], **kwargs):
            selected, _ = selection.select_events(frame, setup.timeline, setup.cuts)
            acc.add(selected)
    print(f"# {draws} draws: {acc.n_events} events, {time.process_time() - t0:.0f} s CPU", flush=True)
    if cache is not None:
        np.savez(cache, counts=acc.counts, detector=acc.detector, histogram=acc.histograms["trigger_rate_hz"])
    return acc


def _declination_bands(counts, ref_map, mask):
    """'dec: data/reference - 1 (%) / mean chi2 per pixel' in bands of equatorial declination."""
    nside = hp.npix2nside(counts.size)
    theta, phi = hp.pix2ang(nside, np.arange(counts.size))
    theta_eq, _ = hp.Rotator(coord=["G", "C"])(theta, phi)
    dec = 90.0 - np.degrees(theta_eq)
    mu = ref_map * counts[mask].sum() / ref_map[mask].sum()
    chi2 = np.where(mask, (counts - mu) ** 2 / np.maximum(mu, 1e-300), 0.0)
    edges = np.arange(-90.0, 90.0 + DEC_BAND_DEG, DEC_BAND_DEG)
    band = np.digitize(dec, edges)
    out = []
    for b in range(1, edges.size):
        sel = mask & (band == b)
        if sel.any():
            out.append(f"{edges[b - 1]:+.0f}:{100 * (counts[sel].sum() / mu[sel].sum() - 1):+.2f}/"
                       f"{chi2[sel].mean():.2f}")
    return " ".join(out)


def main():
    table_path = next(a for a in sys.argv[1:] if not a.startswith("--"))
    draws = int(_option("draws", "16"))
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    update_config(config, yaml.safe_load((ROOT / "config" / "validation.yaml").read_text()))
    start, setup = validation.workflow_species_setup(config, "proton", THRESHOLDS_GV[0], ROOT)
    table = AsymptoticTable.load(table_path)
    off = {name: dict(effect, enabled=False) for name, effect in config["simulation"]["detector_effects"].items()}
    acc = _accumulate(setup, table, detector_effects_from_config(off, start), draws, _option("cache", None))
    spec = config["species"]["proton"]
    known = _settings(config)
    for name in _option("settings", "config,table_nodes,lat4").split(","):
        options = dict(setup.reference_options)
        if known[name] is not None:
            options.update(deflection_table=table, charge_sign=spec["cuts"]["charge_sign"],
                           deflection_settings=DeflectionSettings(**known[name]),
                           resolution=tuple(spec["resolution"]))
        t0 = time.process_time()
        ref, _, _ = reference.data_driven_reference(
            setup.timeline, acc.detector, acc.histograms["trigger_rate_hz"], acc.n_events, THRESHOLDS_GV,
            setup.upper, setup.flux.integral_above, setup.nside, cone_column=setup.cone_column,
            efficiency_variable="trigger_rate_hz", efficiency_edges=setup.efficiency_edges, settings=setup.settings,
            **options)
        cpu = time.process_time() - t0
        print(f"# {name}: {known[name]}; reference {cpu:.0f} s CPU", flush=True)
        for k, threshold in enumerate(THRESHOLDS_GV):
            mask = fit.pixels_with_exposure(ref.maps[k], setup.min_exposure_fraction)
            transform = reference.absorption_transform(
                reference.dipole_response_matrix(ref.maps[k], ref.dipole_response[k], mask), setup.max_absorption)
            raw = fit.fit_multipoles(acc.counts[k], ref.maps[k], mask, lmax_check=(2,))
            rho = transform @ raw.rho
            sigma = np.sqrt(np.diag(transform @ raw.rho_covariance @ transform.T))
            dq2 = raw.higher_multipoles[0].delta_chi2 if raw.higher_multipoles else float("nan")
            order = (1, 2, 0)  # fit (fb, ew, ns) -> (ew, ns, fb)
            print(f"{name},{threshold:g} GV,N={acc.n_events[k]},rho%(EW,NS,FB)="
                  + ",".join(f"{100 * rho[j]:+.3f}" for j in order) + ",pulls="
                  + ",".join(f"{rho[j] / sigma[j]:+.2f}" for j in order)
                  + f",chi2/dof={raw.chi2:.0f}/{raw.dof},dq2={dq2:.0f}", flush=True)
            if k == 0:
                print(f"#   {threshold:g} GV, declination bands (data/reference - 1 % / chi2 per pixel): "
                      + _declination_bands(acc.counts[k], ref.maps[k], mask), flush=True)


if __name__ == "__main__":
    main()
