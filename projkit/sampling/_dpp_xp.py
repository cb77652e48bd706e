"""Batched chain-rule DPP sampler written once against an array namespace (NumPy or CuPy).

This is the GPU engine of :mod:`projkit.sampling.dpp` (and a NumPy reference the CPU tests run
against the Numba kernel). All samples advance together: at step ``t`` every unfinished sample
draws a block of ``P`` proposals from its proposal law ``p_j ∝ ||V_j||²``; the residuals of all
proposals are one batched matrix product against the samples' orthonormal bases, and the first
accepted proposal of each sample is kept — exactly what sequential rejection sampling returns.
Uniforms come from the counter-based hash of :mod:`projkit._backend.random`, so NumPy and CuPy
give the same words; the eigenvector selection uses the same counters as the Numba kernel.

The entry points (:func:`projection_dpp`, :func:`spectral_dpp`, :func:`k_dpp`) are those of
:mod:`projkit.sampling._dpp_numba`, with the same signatures; each returns sorted samples.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from .._backend.random import hash_entry, hash_row, uniform_from_bits

_SELECT_OFFSET = 1 << 40


def _uniforms(xp: ModuleType, row_hash: Any, counters: Any) -> Any:
    """Uniforms of shape ``row_hash.shape + counters.shape[1:]`` (row_hash broadcast)."""
    return uniform_from_bits(hash_entry(row_hash, counters, xp), xp)


def select_bernoulli(xp: ModuleType, lam: Any, row_hash: Any) -> Any:
    """Boolean mask (S × M): eigenvector ``i`` kept with probability ``lam[i]``."""
    M = lam.shape[0]
    cnt = xp.arange(M, dtype=xp.uint64)[None, :] + xp.asarray(_SELECT_OFFSET, dtype=xp.uint64)
    u = _uniforms(xp, row_hash[:, None], cnt)
    return u < lam[None, :]


def select_k(xp: ModuleType, log_lam: np.ndarray, log_e: np.ndarray, k: int,
             row_hash: Any) -> Any:
    """Boolean mask (S × M) with exactly ``k`` entries per row, P(set) ∝ ∏ λ_i."""
    S = row_hash.shape[0]
    M = log_lam.shape[0]
    log_lam_d = xp.asarray(log_lam)
    log_e_d = xp.asarray(log_e)
    remaining = xp.full((S,), k, dtype=xp.int64)
    mask = xp.zeros((S, M), dtype=bool)
    for n in range(M, 0, -1):
        rem = xp.maximum(remaining, 1)
        with np.errstate(invalid="ignore"):
            p = xp.exp(log_lam_d[n - 1] + log_e_d[rem - 1, n - 1] - log_e_d[rem, n])
        p = xp.where(remaining >= n, 1.0, p)
        p = xp.where(remaining == 0, 0.0, p)
        cnt = xp.asarray([[_SELECT_OFFSET + n]], dtype=xp.uint64)
        u = _uniforms(xp, row_hash[:, None], cnt)[:, 0]
        take = u < p
        mask[:, n - 1] = take
        remaining = remaining - take.astype(xp.int64)
    return mask


def chain_batch(xp: ModuleType, V: Any, cols: Any, ranks: Any, row_hash: Any, *,
                rtol: float, max_rounds: int = 64) -> Any:
    """Projection-DPP samples on the column sets ``cols[s, :ranks[s]]`` of ``V``.

    Parameters
    ----------
    V : (N, M) float64 array
    cols : (S, R) int64 array, padded with ``M`` (a zero column is appended internally)
    ranks : (S,) int64 array
    row_hash : (S,) uint64 array, the per-sample hash rows

    Returns
    -------
    out : (S, R) int64 array, ``-1`` past each sample's rank
    """
    N, M = V.shape
    S, R = cols.shape
    Vx = xp.concatenate([V, xp.zeros((N, 1), dtype=V.dtype)], axis=1)
    out = xp.full((S, R), -1, dtype=xp.int64)
    if R == 0:
        return out
    shared = bool(S == 1 or bool(xp.all(cols == cols[:1])))
    V2 = Vx * Vx
    if shared:
        norms = xp.sum(V2[:, cols[0]], axis=1)  # (N,)
        cdf = xp.cumsum(norms)
        totals = xp.broadcast_to(cdf[-1], (S,))
        starts = xp.zeros((S,), dtype=V.dtype)
    else:
        onehot = xp.zeros((S, M + 1), dtype=V.dtype)
        rows = xp.broadcast_to(xp.arange(S)[:, None], cols.shape)
        onehot[rows.reshape(-1), cols.reshape(-1)] = 1.0
        onehot[:, M] = 0.0
        norms_s = onehot @ V2.T  # (S, N)
        flat = xp.cumsum(norms_s.reshape(-1))
        cdf = flat
        ends = flat[N - 1::N]
        starts = xp.concatenate([xp.zeros((1,), dtype=V.dtype), ends[:-1]])
        totals = ends - starts
        norms = norms_s.reshape(-1)
    Q = xp.zeros((S, R, R), dtype=V.dtype)
    r_max = int(xp.max(ranks))
    for t in range(r_max):
        pending = xp.nonzero(ranks > t)[0]
        rnd = 0
        while pending.shape[0]:
            ps = pending.shape[0]
            left = int(xp.min(ranks[pending])) - t
            P = min(max(4, -(-3 * r_max // left)), 4 * r_max + 8)
            base = (t * (1 << 20) + rnd) * (1 << 21)
            cnt = xp.asarray(base, dtype=xp.uint64) + 2 * xp.arange(P, dtype=xp.uint64)
            rh = row_hash[pending][:, None]
            u = _uniforms(xp, rh, cnt[None, :])
            v = _uniforms(xp, rh, cnt[None, :] + xp.asarray(1, dtype=xp.uint64))
            target = starts[pending][:, None] + u * totals[pending][:, None]
            flat_idx = xp.searchsorted(cdf, target.reshape(-1), side="right").reshape(ps, P)
            if shared:
                j = xp.minimum(flat_idx, N - 1)
                nj = norms[j]
            else:
                lo = (pending * N)[:, None]
                flat_idx = xp.clip(flat_idx, lo, lo + N - 1)
                j = flat_idx - lo
                nj = norms[flat_idx]
            cs = cols[pending]  # (ps, R)
            W = Vx[j[:, :, None], cs[:, None, :]]  # (ps, P, R)
            Qp = Q[pending, :t, :]  # (ps, t, R)
            coef = xp.matmul(W, xp.swapaxes(Qp, 1, 2))  # (ps, P, t)
            res = nj - xp.sum(coef * coef, axis=2)
            dup = xp.any(j[:, :, None] == out[pending][:, None, :t], axis=2) if t else \
                xp.zeros((ps, P), dtype=bool)
            acc = (v * nj < res) & (res > rtol * nj) & (nj > 0) & ~dup
            has = xp.any(acc, axis=1)
            first = xp.argmax(acc.astype(xp.int8), axis=1)
            done = xp.nonzero(has)[0]
            if done.shape[0]:
                sd = pending[done]
                fd = first[done]
                jd = j[done, fd]
                out[sd, t] = jd
                w = W[done, fd, :] - xp.matmul(coef[done, fd][:, None, :], Qp[done])[:, 0, :]
                c2 = xp.matmul(Qp[done], w[:, :, None])  # second Gram-Schmidt pass
                w = w - xp.matmul(xp.swapaxes(Qp[done], 1, 2), c2)[:, :, 0]
                nrm = xp.sqrt(xp.sum(w * w, axis=1))
                Q[sd, t, :] = w / nrm[:, None]
            pending = pending[~has]
            rnd += 1
            if rnd >= max_rounds and pending.shape[0]:
                _full_scan(xp, Vx, cols, norms, Q, out, pending, t, row_hash, rtol, shared, N)
                pending = pending[:0]
    return out


def _full_scan(xp: ModuleType, Vx: Any, cols: Any, norms: Any, Q: Any, out: Any, pending: Any,
               t: int, row_hash: Any, rtol: float, shared: bool, N: int) -> None:
    """Exact step-``t`` conditional for the samples in ``pending`` by computing all residuals."""
    for s in [int(i) for i in pending.tolist()]:
        cs = cols[s]
        W = Vx[:, cs]  # (N, R)
        nj = norms if shared else norms[s * N:(s + 1) * N]
        coef = W @ Q[s, :t, :].T
        res = nj - xp.sum(coef * coef, axis=1)
        res = xp.where(res > rtol * nj, res, 0.0)
        if t:
            res[out[s, :t]] = 0.0
        tot = float(xp.sum(res))
        if tot <= 0.0:
            raise np.linalg.LinAlgError("the kernel's eigenvectors have rank below the sample size")
        cnt = xp.asarray([[(1 << 62) + t]], dtype=xp.uint64)
        u = float(_uniforms(xp, row_hash[s:s + 1, None], cnt)[0, 0]) * tot
        jj = int(xp.searchsorted(xp.cumsum(res), xp.asarray(u), side="right"))
        jj = min(jj, N - 1)
        out[s, t] = jj
        w = W[jj] - coef[jj] @ Q[s, :t, :]
        w = w - (Q[s, :t, :] @ w) @ Q[s, :t, :]
        Q[s, t, :] = w / xp.sqrt(xp.sum(w * w))


def row_hashes(xp: ModuleType, key: int, n_samples: int) -> Any:
    """The per-sample hash rows (same as the Numba kernel's ``hash_row_nb(key, s)``)."""
    return hash_row(key, xp.arange(n_samples, dtype=xp.uint64), xp)


# ---------------------------------------------------------------------------------------------
# entry points (the same as :mod:`._dpp_numba`'s)


def projection_dpp(xp: ModuleType, V: Any, n_samples: int, key: int, rtol: float) -> Any:
    """``(n_samples, r)`` sorted samples of the projection DPP ``K = V Vᵀ`` (``V`` float64)."""
    N, r = V.shape
    cols = xp.broadcast_to(xp.arange(r, dtype=xp.int64)[None, :], (n_samples, r))
    ranks = xp.full((n_samples,), r, dtype=xp.int64)
    out = chain_batch(xp, V, xp.asarray(cols), ranks, row_hashes(xp, key, n_samples), rtol=rtol)
    return xp.sort(out, axis=1)


def spectral_dpp(xp: ModuleType, U: Any, mu: Any, n_samples: int, key: int,
                 rtol: float) -> list[Any]:
    """Samples of the DPP ``K = U diag(mu) Uᵀ`` (``mu`` in (0, 1]): a list of sorted arrays."""
    rh = row_hashes(xp, key, n_samples)
    return chain_masked(xp, U, select_bernoulli(xp, mu, rh), rh, rtol)


def k_dpp(xp: ModuleType, U: Any, lam: np.ndarray, log_lam: np.ndarray, log_e: np.ndarray,
          k: int, n_samples: int, key: int, rtol: float) -> Any:
    """``(n_samples, k)`` sorted samples of the k-DPP of ``L = U diag(lam) Uᵀ`` (``lam > 0``,
    host arrays; ``log_e`` the table of :func:`projkit.sampling.dpp._log_esp`)."""
    rh = row_hashes(xp, key, n_samples)
    rows = chain_masked(xp, U, select_k(xp, log_lam, log_e, k, rh), rh, rtol)
    return xp.stack(rows) if rows else xp.zeros((0, k), dtype=xp.int64)


def chain_masked(xp: ModuleType, U: Any, mask: Any, rh: Any, rtol: float) -> list[Any]:
    """Projection DPPs on the eigenvector sets ``mask[s]`` (S × M booleans): sorted samples."""
    S, M = mask.shape
    ranks = xp.sum(mask, axis=1).astype(xp.int64)
    R = max(int(xp.max(ranks)) if S else 0, 0)
    # the columns of each set in increasing order, padded with M
    cols = xp.full((S, max(R, 1)), M, dtype=xp.int64)
    rows, idx = xp.nonzero(mask)
    pos = (xp.cumsum(mask.astype(xp.int64), axis=1) - 1)[rows, idx]
    cols[rows, pos] = idx
    cols = cols[:, :R]
    out = chain_batch(xp, U, cols.astype(xp.int64), ranks, rh, rtol=rtol)
    return [xp.sort(out[s, :int(ranks[s])]) for s in range(S)]
