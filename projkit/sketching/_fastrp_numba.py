"""The Numba engine of FastRP (SciPy data): one fused pass per propagation step.

:func:`propagate` is the engine's entry point (what :mod:`projkit.sketching.fastrp` selects
for SciPy input); the compiled kernels below it do the work.

Each kernel computes, for every node ``i`` in parallel, the new row
``cur[i] = rowscale[i] * sum_j S[i, j] * prev[j]`` straight into ``cur`` (no temporary) and in
the same pass adds ``alpha * cur[i] / ||cur[i]||`` (or ``alpha * cur[i]`` without normalization)
to the output ``acc[i]``. SciPy's SpMM is single-threaded and would need two more passes over
the n x dim block for the normalization and the weighted sum; this does one.

``prev`` is dense for the steps i >= 2 and a CSR matrix (the degree-scaled very sparse random
projection, n x dim) for the first step, so R is never materialized densely.
Graph weights, ``prev`` and ``cur`` share one float dtype; indices may be int32 or int64.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numba as nb
import numpy as np


def propagate(S: Any, V: Any, rowscale: np.ndarray, xp: ModuleType, alphas: tuple[float, ...],
              self_influence: float, normalize: bool, dtype: np.dtype) -> np.ndarray:
    """``E = Σ αᵢ nrm(Aⁱ V) + σ nrm(V)`` for SciPy CSR ``S`` and ``V`` (``xp`` is NumPy)."""
    n, dim = V.shape
    acc = np.zeros((n, dim), dtype=dtype)
    cur = np.empty((n, dim), dtype=dtype)
    if self_influence != 0.0:
        add_rows_sparse(V.indptr, V.indices, V.data, acc, self_influence, normalize)
    propagate_sparse(S.indptr, S.indices, S.data, rowscale, V.indptr, V.indices, V.data,
                     cur, acc, alphas[0], normalize)
    if len(alphas) > 1:
        prev = np.empty((n, dim), dtype=dtype)
        for alpha in alphas[1:]:
            prev, cur = cur, prev
            propagate_dense(S.indptr, S.indices, S.data, rowscale, prev, cur, acc, alpha,
                            normalize)
    return acc


@nb.njit(cache=True, inline="always")
def _finish_row(row, out, scale, alpha, normalize):  # pragma: no cover - compiled
    dim = row.shape[0]
    if scale != 1.0:
        for k in range(dim):
            row[k] *= scale
    if alpha == 0.0:
        return
    coef = alpha
    if normalize:
        ss = 0.0
        for k in range(dim):
            ss += np.float64(row[k]) * np.float64(row[k])
        if ss == 0.0:
            return
        coef = alpha / np.sqrt(ss)
    for k in range(dim):
        out[k] += coef * row[k]


@nb.njit(cache=True, parallel=True)
def propagate_sparse(indptr, indices, data, rowscale, vptr, vind, vval, cur, acc, alpha,
                     normalize):  # pragma: no cover - compiled
    """``cur = diag(rowscale) S V`` with V in CSR (vptr, vind, vval); ``acc += alpha·nrm(cur)``."""
    n = indptr.shape[0] - 1
    dt = cur.dtype.type
    for i in nb.prange(n):
        row = cur[i]
        row[:] = 0
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            w = data[p]
            for q in range(vptr[j], vptr[j + 1]):
                row[vind[q]] += w * vval[q]
        _finish_row(row, acc[i], dt(rowscale[i]), dt(alpha), normalize)


@nb.njit(cache=True, parallel=True)
def propagate_dense(indptr, indices, data, rowscale, prev, cur, acc, alpha,
                    normalize):  # pragma: no cover - compiled
    """``cur = diag(rowscale) S prev`` (prev dense); ``acc += alpha·nrm(cur)``."""
    n = indptr.shape[0] - 1
    dim = cur.shape[1]
    dt = cur.dtype.type
    for i in nb.prange(n):
        row = cur[i]
        row[:] = 0
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            w = data[p]
            src = prev[j]
            for k in range(dim):
                row[k] += w * src[k]
        _finish_row(row, acc[i], dt(rowscale[i]), dt(alpha), normalize)


@nb.njit(cache=True, parallel=True)
def add_rows_sparse(vptr, vind, vval, acc, alpha, normalize):  # pragma: no cover - compiled
    """``acc += alpha·nrm(V)`` for V in CSR (the self-influence term)."""
    n = vptr.shape[0] - 1
    dt = acc.dtype.type
    for i in nb.prange(n):
        lo = vptr[i]
        hi = vptr[i + 1]
        if lo == hi:
            continue
        coef = np.float64(alpha)
        if normalize:
            ss = 0.0
            for q in range(lo, hi):
                ss += np.float64(vval[q]) * np.float64(vval[q])
            if ss == 0.0:
                continue
            coef = coef / np.sqrt(ss)
        c = dt(coef)
        out = acc[i]
        for q in range(lo, hi):
            out[vind[q]] += c * vval[q]
