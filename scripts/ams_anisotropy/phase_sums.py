"""Sparse phase sums of the deflection correction (:mod:`ams_anisotropy.deflected_exposure`).

For every cell c of the orbit and every class u of intervals the correction needs

    Q[c, u, m] = sum over the intervals s of cell c in class u of  w(s) exp(-i m psi_s),   m = 0 .. lmax,

where w(s) is the livetime times the factors that do not depend on the threshold (interval stride, time
factor) and the class u = (cutoff bin, efficiency bin) holds everything the thresholds' weights depend on:
within a class every threshold's efficiency and lower-edge bin are constant (the cutoff bins are cut at
every edge of every threshold and cutoff factor), so W_t(s) = eps_t(u) w(s) and the threshold's node weights
are a contraction of Q (:meth:`deflected_exposure.DeflectionCorrection.galactic_alm_channels`). A cell sees
a narrow range of cutoffs and rates, so only a few classes occur in it: the sums are kept as rows
(key, m-vector) for the keys that occur, key = c x n_classes + u.

Each block is reduced by one sparse-matrix product (rows = the keys met, columns = the block's intervals)
with its phase matrix; the blocks' rows are merged in block order, so the sums do not depend on how the
work is spread over processes (one process accumulates, in time order).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse

_MERGE_EVERY = 16  # blocks of rows kept before they are merged (bounds memory between merges)


class PhaseSums:
    """Accumulates P[c, t, e, m] sparsely; :meth:`rows` gives the merged (keys, sums)."""

    def __init__(self, n_classes: int, n_m: int):
        self.n_classes, self.n_m = int(n_classes), int(n_m)
        self._parts: list[tuple[np.ndarray, np.ndarray]] = []

    def add(self, cell, interval_class, weight, phase) -> None:
        """cell (n,) cell index per interval; interval_class (n,) its class in [0, n_classes); weight (n,) w(s);
        phase (n, n_m) complex exp(-i m psi_s). Intervals of zero weight are skipped."""
        cell = np.asarray(cell, dtype=np.int64)
        weight = np.asarray(weight, dtype=np.float64)
        n = cell.size
        if weight.shape != (n,) or np.shape(interval_class) != (n,) or phase.shape != (n, self.n_m):
            raise ValueError(f"phase sums: expected weight and class ({n},), phase ({n}, {self.n_m}); "
                             f"got {weight.shape}, {np.shape(interval_class)}, {phase.shape}")
        used = np.flatnonzero(weight != 0.0)
        if not used.size:
            return
        keys, row = np.unique(cell[used] * self.n_classes + np.asarray(interval_class)[used], return_inverse=True)
        matrix = scipy.sparse.csr_matrix((weight[used], (row, used)), shape=(keys.size, n))
        self._parts.append((keys, np.asarray(matrix @ phase)))
        if len(self._parts) >= _MERGE_EVERY:
            self._parts = [self._merged()]

    def _merged(self) -> tuple[np.ndarray, np.ndarray]:
        if not self._parts:
            return np.zeros(0, dtype=np.int64), np.zeros((0, self.n_m), dtype=np.complex128)
        if len(self._parts) == 1:
            return self._parts[0]
        keys = np.concatenate([k for k, _ in self._parts])
        sums = np.concatenate([s for _, s in self._parts])
        order = np.argsort(keys, kind="stable")  # equal keys stay in block order: a fixed summation order
        keys, sums = keys[order], sums[order]
        unique, starts = np.unique(keys, return_index=True)
        return unique, np.add.reduceat(sums, starts, axis=0)

    def rows(self) -> tuple[np.ndarray, np.ndarray]:
        """(keys (K,) ascending, sums (K, n_m) complex): the merged rows."""
        self._parts = [self._merged()]
        return self._parts[0]

    def split(self, key):
        """(cell, class) of keys."""
        key = np.asarray(key, dtype=np.int64)
        return key // self.n_classes, key % self.n_classes

    def nbytes(self) -> int:
        return sum(k.nbytes + s.nbytes for k, s in self._parts)


__all__ = ["PhaseSums"]
