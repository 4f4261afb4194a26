"""Fisher scoring for binned Poisson models with a linear expectation, many maps at once.

The model of :mod:`ams_anisotropy.fit`: mu_p = M_p * (X_p . params) for the used pixels p, with M_p the
reference map and X_p the design row. :func:`fisher_scoring` maximises sum_p (C_p log mu_p - mu_p) for
each row of a counts array (iteratively reweighted least squares for the identity link), starting from
the linear least-squares solution, with step halving whenever a step would make some mu_p <= 0 or lower
the likelihood. No HEALPix or file handling here: arrays in, arrays out.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg


def log_likelihood(counts, mu):
    """Poisson log-likelihood without the log(C!) term, per row; -inf where some mu <= 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ll = np.sum(np.where(counts > 0, counts * np.log(np.where(mu > 0, mu, 1.0)), 0.0) - mu, axis=-1)
    return np.where(np.all(mu > 0, axis=-1), ll, -np.inf)


def expand_linear(coefficients, basis):
    """``coefficients @ basis.T`` for few columns (coefficients (n, P), basis (m, P)) -> (n, m).

    One BLAS product with the basis transposed to a contiguous (P, m) array. The workflow's jobs run
    single-threaded (Snakemake sets OMP_NUM_THREADS / OPENBLAS_NUM_THREADS to the job's threads, 1),
    where this is 10-100x faster than P numpy multiply-adds (0.12 ms instead of 2-13 ms for 32 x 4 x 11980
    on the shared machine). Multithreaded BLAS can lose time in thread synchronisation on a loaded
    machine: run benchmarks with OPENBLAS_NUM_THREADS=1 as the jobs do (benchmarks/bench_limits.py does).
    """
    coefficients = np.asarray(coefficients, dtype=np.float64)
    return coefficients @ np.ascontiguousarray(np.asarray(basis, dtype=np.float64).T)


def _fisher(weights, design, products):
    """Fisher matrices sum_p w_kp X_pi X_pj for each row k of ``weights`` (n, n_pixels).

    ``products``: None, or (upper-triangle index pairs, the products X_pi X_pj for i <= j of
    shape (n_pixels, P (P + 1) / 2)) from :func:`design_products`: one matrix product gives the independent
    elements of every row's symmetric matrix.
    """
    n_params = design.shape[1]
    if weights.shape[0] == 1 or products is None:  # one BLAS product per map (e.g. the l_max = 4 check)
        return np.stack([(design.T * row) @ design for row in weights])
    (rows, cols), columns = products
    upper = weights @ columns
    fisher = np.empty((weights.shape[0], n_params, n_params))
    fisher[:, rows, cols] = upper
    fisher[:, cols, rows] = upper
    return fisher


def design_products(design):
    """The index pairs i <= j and the products X_pi X_pj used by the vectorised Fisher matrices."""
    rows, cols = np.triu_indices(design.shape[1])
    return (rows, cols), design[:, rows] * design[:, cols]


def fisher_scoring(counts, reference, design, tolerance, max_iterations, products=None):
    """Maximum-likelihood parameters for each row of ``counts`` (n, n_pixels).

    ``products``: :func:`design_products` of ``design``, computed once by callers that fit many
    blocks of maps with the same design. Returns params (n, P), fisher (n, P, P), mu (n, n_pixels),
    n_iterations, converged (n,).
    """
    n_params = design.shape[1]
    mx = reference[:, None] * design  # dmu/dparams, (n_pixels, P)
    if products is None and counts.shape[0] > 1:
        products = design_products(design)
    # start: Gaussian least squares with variance ~ M (common matrix for all rows)
    gram = mx.T @ design
    try:
        params = linalg.solve(gram, (counts @ design).T, assume_a="pos").T
    except (linalg.LinAlgError, ValueError) as err:
        raise ValueError(
            f"the fit's design matrix is degenerate on the used pixels ({n_params} parameters, "
            f"{design.shape[0]} pixels): reduce lmax or check the extra templates"
        ) from err
    mx_t = np.ascontiguousarray(mx.T)  # (P, n_pixels): mu = params @ mx_t, one BLAS product
    mu = params @ mx_t
    bad = np.any(mu <= 0, axis=1)
    if bad.any():  # fall back to the isotropic start (c0 = sum C / sum M) where mu would be negative
        params[bad] = 0.0
        params[bad, 0] = counts[bad].sum(axis=1) / reference.sum()
        mu[bad] = params[bad] @ mx_t
    converged = np.zeros(counts.shape[0], dtype=bool)
    iteration = 0
    for iteration in range(1, max_iterations + 1):  # noqa: B007 (iteration count is returned)
        weights = reference[None, :] ** 2 / mu
        fisher = _fisher(weights, design, products)
        score = (counts / mu - 1.0) @ mx
        try:
            step = np.linalg.solve(fisher, score[:, :, None])[:, :, 0]
            inverse_diag = np.diagonal(np.linalg.inv(fisher), axis1=1, axis2=2)
        except np.linalg.LinAlgError as err:
            raise ValueError(
                "the Fisher matrix is singular: the parameters are not constrained by the used pixels "
                "(reduce lmax, check the mask and the extra templates)"
            ) from err
        step_in_sigma = np.max(np.abs(step) / np.sqrt(np.abs(inverse_diag)), axis=1)
        active = ~converged
        # small steps (quadratic regime): take the full step when it keeps every mu > 0
        small = active & (step_in_sigma < 1.0)
        idx = np.flatnonzero(small)
        if idx.size:
            trial = params[idx] + step[idx]
            trial_mu = trial @ mx_t
            ok = np.all(trial_mu > 0, axis=1)
            params[idx[ok]], mu[idx[ok]] = trial[ok], trial_mu[ok]
            small[idx[~ok]] = False
        # other rows: step halving until the likelihood does not decrease
        todo = active & ~small
        if todo.any():
            idx = np.flatnonzero(todo)
            base = log_likelihood(counts[idx], mu[idx])
            scale = np.ones(idx.size)
            pending = np.ones(idx.size, dtype=bool)
            for _ in range(40):  # loop over halvings, not over maps or pixels
                trial = params[idx[pending]] + scale[pending, None] * step[idx[pending]]
                trial_mu = trial @ mx_t
                trial_ll = log_likelihood(counts[idx[pending]], trial_mu)
                ok = trial_ll >= base[pending] - 1e-11 * np.maximum(1.0, np.abs(base[pending]))
                rows = idx[pending][ok]
                params[rows], mu[rows] = trial[ok], trial_mu[ok]
                pending[np.flatnonzero(pending)[ok]] = False
                if not pending.any():
                    break
                scale[pending] *= 0.5
        converged |= active & (step_in_sigma < tolerance)
        if converged.all():
            break
    # the Fisher matrix at the final parameters; when every row converged, that of the last iteration,
    # evaluated less than `tolerance` standard errors away (a relative difference of ~tolerance x sigma)
    if not converged.all():
        weights = reference[None, :] ** 2 / mu
        fisher = _fisher(weights, design, products)
    return params, fisher, mu, iteration, converged


def relative_dipole(params, covariance):
    """r = rho / c0 and its covariance (Jacobian propagation), for rows of params (n, P)."""
    c0 = params[:, 0]
    rho = params[:, 1:4]
    jac = np.zeros((params.shape[0], 3, params.shape[1]))
    jac[:, :, 0] = -rho / c0[:, None] ** 2
    jac[:, [0, 1, 2], [1, 2, 3]] = 1.0 / c0[:, None]
    return rho / c0[:, None], jac @ covariance @ np.transpose(jac, (0, 2, 1))
