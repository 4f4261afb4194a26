"""Spurious dipole of each unmodelled detector effect with the nominal data-driven reference, protons.

Protons over the default 73-day period at full statistics (prescale 1; the timeline at the validation's
30 s cadence), isotropic sky, the same seed for every case. For each case (every effect off; one effect on
at its config.yaml size; the per-interval effects at 10x their size; every effect on): simulate
(``simulation.iter_event_slices``), select and bin (5 thresholds), the nominal data-driven reference
(``reference.data_driven_reference``, config.yaml ``reference.*``), the dipole fit with the
dipole-absorption correction (as ``validation.run_experiment``). Printed per threshold: the fitted
(rho_EW, rho_NS, rho_FB) and sigma of the case, and its difference from the all-off case.

The dead layer draws no random number, so its difference from the all-off case is that of the same events
(noise: only the events it removes). The per-interval factors change the Poisson means, so their events
are a new random draw (difference noise ~sqrt(2) sigma); the 10x cases divided by 10 estimate the default
size's spurious dipole with a tenth of that noise (linear in the size for these small factors).

With ``--efftime`` only the all-off, dead-layer and all-effects cases run, each with the nominal reference
and the ``efftime`` variant (efficiency per trigger-rate bin and time block of config.yaml
``reference.efficiency_time_block_days``, :mod:`ams_anisotropy.efficiency_time`) from the same events:
printed per case, threshold and reference the fit, its difference from the all-off case with the same
reference (the spurious dipole), and the systematic shift efftime - nominal of the case (what the
efficiency-model group of ``limits.systematics_groups`` counts for efftime), with the CPU time of each
reference.

``--inject=FB,EW,NS`` (per cent, galactic) simulates that dipole instead of an isotropic sky: the shift
efftime - nominal of the all-off case then measures how much of a real dipole the time factors absorb.

``--deflection TABLE`` (an IGRF-13 table of asymptotic directions, :class:`asymptotic.AsymptoticTable`, as the
workflow's rule asymptotic_table writes) simulates the events backtraced through TABLE (as
``simulation.geomagnetic_deflection: true``) and builds every reference with the deflection correction
(config.yaml ``reference.deflection``, or with ``--coarse`` the cells of config/ci.yaml: lat 8, lon 24 deg,
acceptance Nside 16, lmax 48), the species' charge sign and resolution (as scripts/reference_maps.py). The
cases are then the all-off case, the dead layer, the three per-interval effects at 10x (printed divided by
10) and every effect on, each with the nominal reference and, with ``--efftime`` too, the efftime variant from
the same events. Printed per case, threshold and reference: the fit, the spurious dipole (minus the all-off
case with the same reference; divided by 10 for the x10 cases) and, on the all-off rows, its pulls rho/sigma
against zero (the closure of the deflected reference). ``--prescale=P`` keeps one proton in P (default 1),
``--thresholds=18,30,45`` the thresholds (GV); the all-off closure is printed as soon as it is measured.

    PYTHONPATH=scripts .venv/bin/python benchmarks/bench_detector_effects.py [days] [--efftime] [--inject=FB,EW,NS]
        [--deflection TABLE [--coarse] [--prescale=P] [--thresholds=18,30,45]]
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import yaml
from snakemake.utils import update_config

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from ams_anisotropy import binning, fit, reference, selection, simulation, validation  # noqa: E402
from ams_anisotropy.asymptotic import AsymptoticTable  # noqa: E402
from ams_anisotropy.deflected_exposure import DeflectionSettings  # noqa: E402
from ams_anisotropy.detector_effects import detector_effects_from_config  # noqa: E402
from ams_anisotropy.efficiency_time import TimeBlockHistogram, read_time_histogram  # noqa: E402

COMPONENTS = ("ew", "ns", "fb")  # printed order; fit order is (fb, ew, ns)


def _option(name):
    """The value of ``--name=VALUE`` or ``--name VALUE`` (None when absent) and the arguments without it."""
    argv = sys.argv[1:]
    for i, a in enumerate(argv):
        if a.startswith(f"--{name}="):
            return a.split("=", 1)[1], argv[:i] + argv[i + 1:]
        if a == f"--{name}":
            return argv[i + 1], argv[:i] + argv[i + 2:]
    return None, argv


DEFLECTION, _REST = _option("deflection")
ARGS = [a for a in _REST if not a.startswith("--")]
EFFTIME = "--efftime" in sys.argv[1:]
COARSE = "--coarse" in sys.argv[1:]
INJECT = next((tuple(float(v) / 100.0 for v in a.split("=", 1)[1].split(",")) for a in sys.argv[1:]
               if a.startswith("--inject=")), None)
PRESCALE = float(_option("prescale")[0] or 1.0)
_THRESHOLDS = _option("thresholds")[0]
THRESHOLDS_GV = ([float(t) for t in _THRESHOLDS.split(",")] if _THRESHOLDS
                 else [18.0, 30.0, 45.0, 80.0, 150.0])
COARSE_DEFLECTION = dict(lmax=48, lat_step_deg=8.0, lon_step_deg=24.0, acceptance_nside=16)  # config/ci.yaml


def _config():
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    update_config(config, yaml.safe_load((ROOT / "config" / "validation.yaml").read_text()))
    if ARGS:  # a shorter period to try the script (days); the dead layer then starts at day 0
        config["period"]["duration_days"] = float(ARGS[0])
        config["simulation"]["detector_effects"]["dead_layer"]["start_day"] = 0.0
    return config


def _cases(section):
    off = {name: dict(effect, enabled=False) for name, effect in section.items()}

    def only(name, scale=1.0):
        case = {k: dict(v) for k, v in off.items()}
        case[name]["enabled"] = True
        for key in ("amplitude", "per_year", "quadratic_loss_at_polar_rate"):
            if key in case[name]:
                case[name][key] *= scale
        return case

    cases = {"off": off}
    for name in section:
        cases[name] = only(name)
    for name in ("longitude", "drift", "trigger_nonlinearity"):
        cases[f"{name}_x10"] = only(name, 10.0)
    cases["all"] = {name: dict(effect, enabled=True) for name, effect in section.items()}
    if DEFLECTION is not None:  # the x10 cases measure the per-interval effects with a tenth of the noise
        return {name: cases[name] for name in ("off", "dead_layer", "longitude_x10", "drift_x10",
                                               "trigger_nonlinearity_x10", "all")}
    if EFFTIME:
        return {name: cases[name] for name in ("off", "dead_layer", "all")}
    return cases


def _measure(setup, effects, correct, block_days=None):
    """Fitted rows per threshold with the nominal reference; with ``block_days`` a dict {"nominal": rows,
    "efftime": rows, "cpu_s": {reference: CPU s}} from the same events."""
    kwargs = dict(setup.simulation_kwargs, prescale=PRESCALE, detector_effects=effects,
                  deflection=setup.reference_options.get("deflection_table"))
    acc = binning.MapAccumulator(THRESHOLDS_GV, setup.upper, setup.nside, setup.nside_detector,
                                 {"trigger_rate_hz": setup.efficiency_edges}, species="proton", unit="GV")
    per_block = None if block_days is None else TimeBlockHistogram(THRESHOLDS_GV, setup.upper,
                                                                   setup.efficiency_edges, block_days)
    if DEFLECTION is not None and block_days is None:  # the dict form, nominal reference only
        references = (("nominal", False),)
    else:
        references = (("nominal", False), ("efftime", True))
    for frame in simulation.iter_event_slices(setup.timeline, seed=setup.seed, chunk_id=0,
                                              particles=[setup.particle], **kwargs):
        selected, _ = selection.select_events(frame, setup.timeline, setup.cuts)
        acc.add(selected)
        if per_block is not None:
            per_block.add(selected)
    if per_block is None and DEFLECTION is None:
        return _fit_rows(setup, acc, _reference(setup, acc, None), correct)
    out = {"cpu_s": {}}
    time_histogram = None if per_block is None else read_time_histogram(
        per_block.table(), setup.efficiency_edges, per_block.labels[0], block_days)
    for name, efftime in references:
        t0 = time.process_time()
        ref = _reference(setup, acc, time_histogram if efftime else None)
        out["cpu_s"][name] = time.process_time() - t0
        out[name] = _fit_rows(setup, acc, ref, correct)
    return out


def _reference(setup, acc, time_histogram):
    ref, _, _ = reference.data_driven_reference(
        setup.timeline, acc.detector, acc.histograms["trigger_rate_hz"], acc.n_events, THRESHOLDS_GV,
        setup.upper, setup.flux.integral_above, setup.nside, cone_column=setup.cone_column,
        efficiency_variable="trigger_rate_hz", efficiency_edges=setup.efficiency_edges, settings=setup.settings,
        time_histogram=time_histogram, **setup.reference_options)
    return ref


def _fit_rows(setup, acc, ref, correct):
    rows = []
    for k in range(len(THRESHOLDS_GV)):
        counts, ref_map = acc.counts[k], ref.maps[k]
        mask = fit.pixels_with_exposure(ref_map, setup.min_exposure_fraction)
        if correct:
            transform = reference.absorption_transform(
                reference.dipole_response_matrix(ref_map, ref.dipole_response[k], mask), setup.max_absorption)
        else:  # a trial period shorter than the 72-day precession cycle: no correction (as ci.yaml)
            transform = np.eye(3)
        raw = fit.fit_multipoles(counts, ref_map, mask, lmax_check=())
        rho = transform @ raw.rho
        sigma = np.sqrt(np.diag(transform @ raw.rho_covariance @ transform.T))
        rows.append((int(acc.n_events[k]), rho, sigma))
    return rows


def main():
    config = _config()
    start, setup = validation.workflow_species_setup(config, "proton", THRESHOLDS_GV[0], ROOT)
    if INJECT is not None:
        setup = dataclasses.replace(setup, particle=dataclasses.replace(setup.particle,
                                                                         sky=simulation.SkyModel(INJECT)))
        print(f"# injected dipole (FB, EW, NS) = {INJECT}", flush=True)
    if DEFLECTION is not None:  # as scripts/simulate_events.py and scripts/reference_maps.py
        spec = config["species"]["proton"]
        cells = {k: v for k, v in config["reference"]["deflection"].items() if k != "enabled"}
        if COARSE:
            cells.update(COARSE_DEFLECTION)
        options = dict(setup.reference_options, deflection_table=AsymptoticTable.load(DEFLECTION),
                       charge_sign=spec["cuts"]["charge_sign"], deflection_settings=DeflectionSettings(**cells),
                       resolution=tuple(spec["resolution"]) if spec.get("resolution") else None)
        setup = dataclasses.replace(setup, reference_options=options)
        print(f"# deflection through {DEFLECTION}; correction {options['deflection_settings']}; prescale "
              f"{PRESCALE:g}; thresholds {THRESHOLDS_GV} GV", flush=True)
    results = {}
    block_days = config["reference"]["efficiency_time_block_days"] if EFFTIME else None
    for name, section in _cases(config["simulation"]["detector_effects"]).items():
        t0 = time.process_time()
        results[name] = _measure(setup, detector_effects_from_config(section, start),
                                 correct=config["period"]["duration_days"] >= 72.0, block_days=block_days)
        print(f"# {name}: {time.process_time() - t0:.0f} s CPU", flush=True)
        if DEFLECTION is not None and name == "off":  # the closure, before the other cases
            for ref in ("nominal", "efftime") if EFFTIME else ("nominal",):
                pulls = [", ".join(f"{rho[j] / sigma[j]:+.2f}" for j in (1, 2, 0)) for _, rho, sigma in
                         results[name][ref]]
                print(f"# closure, {ref} reference, pulls (EW, NS, FB) per threshold: {'; '.join(pulls)}",
                      flush=True)
        if EFFTIME or DEFLECTION is not None:
            print("# " + ", ".join(f"{ref} reference {cpu:.1f} s CPU" for ref, cpu in results[name]["cpu_s"].items()),
                  flush=True)
    if DEFLECTION is not None:
        _print_deflected(results)
        return
    if EFFTIME:
        _print_efftime(results)
        return
    print("case,threshold_gv,n_events," + ",".join(f"rho_{c}_pct,sigma_{c}_pct,diff_{c}_pct" for c in COMPONENTS)
          + ",diff_over_sigma_max")
    order = [1, 2, 0]  # fit (fb, ew, ns) -> (ew, ns, fb)
    for name, rows in results.items():
        scale = 10.0 if name.endswith("_x10") else 1.0
        for k, (n, rho, sigma) in enumerate(rows):
            diff = (rho - results["off"][k][1]) / scale
            cells = ",".join(f"{100 * rho[j]:.4f},{100 * sigma[j]:.4f},{100 * diff[j]:.4f}" for j in order)
            print(f"{name},{THRESHOLDS_GV[k]:g},{n},{cells},{np.max(np.abs(diff * scale / sigma)):.2f}")


def _print_efftime(results):
    """Per case, threshold and reference: the fit, the spurious dipole (minus the all-off case with the same
    reference) and, on the efftime rows, the systematic shift efftime - nominal of the case."""
    print("case,threshold_gv,reference,n_events," + ",".join(
        f"rho_{c}_pct,sigma_{c}_pct,spurious_{c}_pct,shift_{c}_pct" for c in COMPONENTS) + ",spurious_over_sigma_max")
    order = [1, 2, 0]  # fit (fb, ew, ns) -> (ew, ns, fb)
    for name, result in results.items():
        for ref in ("nominal", "efftime"):
            for k, (n, rho, sigma) in enumerate(result[ref]):
                spurious = rho - results["off"][ref][k][1]
                shift = rho - result["nominal"][k][1]
                cells = ",".join(f"{100 * rho[j]:.4f},{100 * sigma[j]:.4f},{100 * spurious[j]:.4f},"
                                 f"{100 * shift[j]:.4f}" for j in order)
                print(f"{name},{THRESHOLDS_GV[k]:g},{ref},{n},{cells},{np.max(np.abs(spurious / sigma)):.2f}")


def _print_deflected(results):
    """Per case, threshold and reference: the fit, the spurious dipole (minus the all-off case with the same
    reference, divided by 10 for the x10 cases) and its largest |spurious / sigma| (not divided); on the
    all-off rows the spurious columns are its pulls rho / sigma against zero (the closure)."""
    print("case,threshold_gv,reference,n_events," + ",".join(
        f"rho_{c}_pct,sigma_{c}_pct,spurious_{c}_pct" for c in COMPONENTS) + ",spurious_over_sigma_max,"
        + ",".join(f"pull_{c}" for c in COMPONENTS))
    order = [1, 2, 0]  # fit (fb, ew, ns) -> (ew, ns, fb)
    for name, result in results.items():
        scale = 10.0 if name.endswith("_x10") else 1.0
        for ref in (r for r in ("nominal", "efftime") if r in result):
            for k, (n, rho, sigma) in enumerate(result[ref]):
                spurious = rho - results["off"][ref][k][1]
                cells = ",".join(f"{100 * rho[j]:.4f},{100 * sigma[j]:.4f},{100 * spurious[j] / scale:.4f}"
                                 for j in order)
                pulls = ",".join(f"{rho[j] / sigma[j]:.2f}" for j in order)
                print(f"{name},{THRESHOLDS_GV[k]:g},{ref},{n},{cells},{np.max(np.abs(spurious / sigma)):.2f},{pulls}")


if __name__ == "__main__":
    main()
