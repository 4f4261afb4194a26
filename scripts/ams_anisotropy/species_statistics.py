"""The statistics of one species over all its thresholds: the jobs of the fit_dipole and sample_limits rules.

:func:`fit_species` fits the counts of every threshold against the nominal reference map and every
reference-map variant (one row each), with the l_max check and, when asked, the correction of the dipole
absorbed by the data-driven acceptance, rho_true = T rho_fit (T from ``dipole_transform``, the uncorrected
components kept in ``*_uncorrected``). :func:`limit_species` turns these fits into the rows of the result
table: the systematic uncertainties (spread of the variants), the 95% credible upper limits with and
without them, and the isotropic expectation from Poisson pseudo-skies.

Random numbers: each threshold has its own streams keyed by names, ``rng.generator(seed,
"limits_posterior", species, label)`` and ``rng.generator(seed, "limits_pseudo_skies", species, label)``
(``label`` such as ``"18GV"``), so a threshold's limits do not depend on the other thresholds or species
of the config, nor on their order.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from .fit import FitNotConverged, fit_multipoles, pixels_with_exposure
from .limits import dipole_upper_limit, isotropic_expectation, systematic_sigmas
from .rng import generator

LOG = logging.getLogger(__name__)
DATA_FIT_MAX_ITERATIONS = 2000  # the retry of a data or variant fit (one per map: cheap); pseudo-skies keep their own
COMPONENTS = ["rho_fb", "rho_ew", "rho_ns"]
ERRORS = ["sigma_fb", "sigma_ew", "sigma_ns"]


def _fit_data(counts_map, reference_map, used, lmax_check):
    """The dipole fit of one map; if it does not converge in the default iterations, once more with
    DATA_FIT_MAX_ITERATIONS: a few tens of events may put the maximum near the edge of mu > 0 (a dipole ~1),
    where the step halving creeps (CI's 51 positrons above 25 GeV need 399 iterations, measured)."""
    try:
        return fit_multipoles(counts_map, reference_map, mask=used, lmax=1, lmax_check=tuple(lmax_check))
    except FitNotConverged:
        return fit_multipoles(counts_map, reference_map, mask=used, lmax=1, lmax_check=tuple(lmax_check),
                              max_iterations=DATA_FIT_MAX_ITERATIONS)


NOT_CORRECTED = ("shuffle",)  # shuffling removes the sky's dipole instead of absorbing a fraction of it

# dipole_transform(reference_map, response (3, npix), mask, max_absorption) -> 3x3 correction matrix
DipoleTransform = Callable[[np.ndarray, np.ndarray, np.ndarray, float], np.ndarray]


def _check_maps(name: str, maps, n_thresholds: int, npix: int | None = None) -> np.ndarray:
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim < 2 or maps.shape[0] != n_thresholds or (npix is not None and maps.shape[-1] != npix):
        raise ValueError(f"{name}: expected {n_thresholds} threshold maps"
                         f"{'' if npix is None else f' of {npix} pixels'}, got shape {maps.shape}")
    return maps


def _count(value):
    """Degrees of freedom read back from a fit table (floats where a variant has none) as integers."""
    return int(value) if np.isfinite(value) else value


def fit_species(
    species: str,
    labels: Sequence[str],
    counts: Mapping[str, np.ndarray],
    variants: Sequence[tuple[str, str]],
    references: Mapping[str, np.ndarray],
    min_exposure_fraction: float,
    lmax_check: Sequence[int] = (2, 3, 4),
    responses: Mapping[str, np.ndarray] | None = None,
    dipole_transform: DipoleTransform | None = None,
    max_absorption: float = 0.5,
) -> pd.DataFrame:
    """The fit table of one species: one row per threshold and reference variant.

    Parameters
    ----------
    species, labels : the species name and its threshold labels (``"18GV"``, ...), in config order.
    counts : mapping counts-file suffix ("" nominal, "_cutoff1.0", ...) -> maps (n_thresholds, npix).
    variants : (variant name, counts suffix) pairs; the first must be ``nominal``, whose mask (pixels
        with at least ``min_exposure_fraction`` of the largest reference value) every variant uses.
    references : variant -> reference maps (n_thresholds, npix).
    responses : variant -> dipole responses (n_thresholds, 3, npix), for the absorption correction;
        needed for every variant except ``shuffle`` when ``dipole_transform`` is given.
    dipole_transform : e.g. ``ams_anisotropy.reference.fitted_dipole_transform``; None: no correction.
    """
    if not variants or variants[0][0] != "nominal":
        raise ValueError(f"{species}: the first reference variant must be 'nominal', got {list(variants)}")
    n = len(labels)
    counts = {suffix: _check_maps(f"{species} counts{suffix}", maps, n) for suffix, maps in counts.items()}
    rows = []
    for k, label in enumerate(labels):
        mask = None
        for variant, suffix in variants:
            if suffix not in counts:
                raise ValueError(f"{species}: variant {variant} needs the counts maps 'counts{suffix}'")
            reference_map = _check_maps(f"{species} reference_{variant}", references[variant], n)[k]
            counts_map = counts[suffix][k]
            if mask is None:  # the nominal reference (first) defines the pixels used by every variant
                mask = pixels_with_exposure(reference_map, min_exposure_fraction)
            used = mask & (reference_map > 0)  # a sparse shuffled variant may leave nominal pixels empty
            head = {"species": species, "threshold": label, "variant": variant,
                    "n_events": int(counts_map.sum()), "n_pixels": int(used.sum())}
            try:
                fit = _fit_data(counts_map, reference_map, used, lmax_check)
            except ValueError as err:
                if variant == "nominal":
                    raise ValueError(f"{species} {label}: the nominal fit failed: {err}") from err
                # e.g. a shuffled reference of a few events covers too few pixels to constrain a dipole;
                # reported as not available (a systematics group naming it then fails clearly)
                LOG.warning("%s %s %s: fit not available (%s)", species, label, variant, err)
                rows.append(head)
                continue
            head["n_pixels"] = fit.n_pixels
            row = {**head, **{f"{key}_uncorrected": value for key, value in fit.as_row().items()
                              if key.startswith(("rho_", "sigma_"))}}
            if dipole_transform is not None and variant not in NOT_CORRECTED:
                if responses is None or variant not in responses:
                    raise ValueError(f"{species}: the dipole correction needs the responses of {variant}")
                response = _check_maps(f"{species} reference_{variant} responses", responses[variant], n)[k]
                transform = dipole_transform(reference_map, response, used, max_absorption)
                fit = dataclasses.replace(
                    fit, rho=transform @ fit.rho, rho_covariance=transform @ fit.rho_covariance @ transform.T
                )
            rows.append({**row, **fit.as_row()})
            LOG.info("%s %s %s: delta = %.4f, chi2/dof = %.1f/%d", species, label, variant, fit.delta,
                     fit.chi2, fit.dof)
    return pd.DataFrame(rows)


def limit_species(
    species: str,
    labels: Sequence[str],
    threshold_values: Sequence[float],
    unit: str,
    fits: pd.DataFrame,
    counts: np.ndarray,
    reference: np.ndarray,
    seed: int,
    min_exposure_fraction: float,
    limits_config: Mapping,
    responses: np.ndarray | None = None,
    dipole_transform: DipoleTransform | None = None,
    max_absorption: float = 0.5,
) -> pd.DataFrame:
    """The result-table rows of one species, one per threshold (docs/architecture.md).

    ``fits``: the table of :func:`fit_species`; ``counts``, ``reference``: the nominal counts and
    reference maps (n_thresholds, npix); ``responses`` (n_thresholds, 3, npix) of the nominal reference
    with ``dipole_transform`` for the same absorption correction as the fit; ``limits_config``: the
    config section ``limits`` (n_posterior_samples, n_pseudo_skies, credibility, max_failed_fraction,
    systematics_groups).
    """
    n = len(labels)
    if len(threshold_values) != n:
        raise ValueError(f"{species}: {n} threshold labels but {len(threshold_values)} values")
    counts = _check_maps(f"{species} counts", counts, n)
    reference = _check_maps(f"{species} reference_nominal", reference, n, counts.shape[-1])
    rows = []
    for k, label in enumerate(labels):
        table = fits[fits["threshold"].astype(str) == label].set_index("variant")
        if "nominal" not in table.index:
            raise ValueError(f"{species} {label}: the fit table has no nominal row")
        nominal, others = table.loc["nominal"], table.drop(index="nominal")
        sigma_sys = systematic_sigmas(
            nominal[COMPONENTS].to_numpy(float),
            {name: row[COMPONENTS].to_numpy(float) for name, row in others.iterrows()},
            limits_config["systematics_groups"],
            sigma_nominal=nominal[ERRORS].to_numpy(float),
            sigma_variants={name: row[ERRORS].to_numpy(float) for name, row in others.iterrows()},
        )
        # the budget per group of variants (the total above is their quadrature sum): sys_<group>_<component>
        budget = {}
        for group in limits_config["systematics_groups"]:
            group_sigma = systematic_sigmas(
                nominal[COMPONENTS].to_numpy(float),
                {name: row[COMPONENTS].to_numpy(float) for name, row in others.iterrows()}, [group],
                sigma_nominal=nominal[ERRORS].to_numpy(float),
                sigma_variants={name: row[ERRORS].to_numpy(float) for name, row in others.iterrows()},
            )
            for component, value in zip(("fb", "ew", "ns"), group_sigma, strict=True):
                budget[f"sys_{'+'.join(group)}_{component}"] = float(value)
        mask = pixels_with_exposure(reference[k], min_exposure_fraction)
        transform = None
        if dipole_transform is not None:
            if responses is None:
                raise ValueError(f"{species}: the dipole correction needs the nominal responses")
            transform = dipole_transform(reference[k], _check_maps(f"{species} responses", responses, n)[k],
                                         mask, max_absorption)
        limit = dipole_upper_limit(
            counts[k], reference[k], generator(seed, "limits_posterior", species, label), mask=mask,
            sigma_sys=sigma_sys, credibility=limits_config["credibility"],
            n_samples=limits_config["n_posterior_samples"], transform=transform,
        )
        expectation = isotropic_expectation(
            reference[k], generator(seed, "limits_pseudo_skies", species, label), mask=mask,
            n_skies=limits_config["n_pseudo_skies"], sigma_sys=sigma_sys,
            credibility=limits_config["credibility"], transform=transform,
            max_failed_fraction=limits_config["max_failed_fraction"],
        )
        rows.append({
            "species": species, "threshold": threshold_values[k], "unit": unit,
            "n_events": int(nominal["n_events"]),
            **{key: _count(value) if key.startswith("dof") else value for key, value in nominal.items()
               if key not in ("species", "threshold", "n_events", "n_pixels")},
            "sys_fb": sigma_sys[0], "sys_ew": sigma_sys[1], "sys_ns": sigma_sys[2], **budget,
            "delta_ul95": limit.delta_ul, "delta_ul95_mc_error": limit.delta_ul_mc_error,
            "delta_ul95_sys": limit.delta_ul_sys, "delta_ul95_sys_mc_error": limit.delta_ul_sys_mc_error,
            **expectation.as_row(),
            **expectation.chi2_row(float(nominal["chi2"])),
            **expectation.component_row(),
        })
        LOG.info("%s %s: delta < %.4f (stat), < %.4f (with syst.); expected %.4f", species, label,
                 limit.delta_ul, limit.delta_ul_sys, expectation.bands.median)
    return pd.DataFrame(rows)
