"""Numba kernels for batched DPP sampling: the CPU engine of :mod:`projkit.sampling.dpp`.

Every sample ``s`` draws its uniforms from the counter-based hash
``uniform(hash_entry(hash_row(key, s), counter))``, so a batch gives the same result whatever
the number of threads and whatever the batch split.

The projection-DPP kernel is the chain rule (sequential conditionals) with the conditional
drawn by *rejection* from the fixed proposal ``p_j = ||V_j||² / r``: at step ``t`` an item ``j``
is accepted with probability ``||(I - Q_t Q_tᵀ) V_j||² / ||V_j||²`` where ``Q_t`` (``t × r``)
is an orthonormal basis of the span of the rows already selected. The acceptance rate at step
``t`` is exactly ``(r - t) / r``, so a whole sample costs ``O(r³ log r)`` flops on average and
nothing that grows with ``N`` beyond an ``O(log N)`` binary search per proposal.

The entry points at the end (:func:`projection_dpp`, :func:`spectral_dpp`, :func:`k_dpp`) are
those of :mod:`projkit.sampling._dpp_xp`, with the same signatures; :mod:`projkit.sampling.dpp`
picks one of the two modules with :func:`projkit._backend.dispatch.select`. Importing this
module compiles nothing (``cache=True`` kernels compile, or load from the cache, on first call).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from .._backend._random_numba import hash_entry_nb, hash_row_nb, uniform_nb

# counters used for the eigenvector selection of the spectral sampler live above this offset,
# far from the counters of the chain rule (which use < 2**40 draws per sample)
_SELECT_OFFSET = np.uint64(1) << np.uint64(40)
# reassociation lets the dot products vectorize (SIMD); no flag that assumes away NaN/inf
_FAST = {"reassoc", "contract"}


@nb.njit(cache=True, fastmath=_FAST)
def _chain_one(V, cols, r, norms, cdf, row_hash, out_row, Q, w, coef, rtol, max_tries):
    """One projection-DPP sample of size ``r`` on the columns ``cols[:r]`` of ``V``.

    ``norms[j] = ||V[j, cols[:r]]||²``, ``cdf`` its running sum. Writes the items to
    ``out_row[:r]`` and returns the number of steps that needed the exact full-scan fallback
    (``-1`` when the residual mass vanished: ``V[:, cols]`` has rank below ``r``).
    """
    N = V.shape[0]
    total = cdf[N - 1]
    counter = np.uint64(0)
    fallbacks = 0
    for t in range(r):
        chosen = -1
        tries = 0
        # expected number of proposals is r / (r - t); past the cap (never reached for a
        # well-posed kernel) switch to the exact full scan, which keeps the law exact
        cap = max_tries * (r // (r - t) + 2)
        while tries < cap:
            u = uniform_nb(hash_entry_nb(row_hash, counter))
            counter += np.uint64(1)
            v = uniform_nb(hash_entry_nb(row_hash, counter))
            counter += np.uint64(1)
            tries += 1
            j = np.searchsorted(cdf, u * total, side="right")
            if j >= N:
                j = N - 1
            nj = norms[j]
            if nj <= 0.0:
                continue
            dup = False
            for a in range(t):
                if out_row[a] == j:
                    dup = True
                    break
            if dup:
                continue
            for c in range(r):
                w[c] = V[j, cols[c]]
            proj = 0.0
            for a in range(t):
                d = 0.0
                for c in range(r):
                    d += Q[a, c] * w[c]
                coef[a] = d
                proj += d * d
            res = nj - proj
            if res <= rtol * nj:
                continue
            if v * nj < res:
                chosen = j
                break
        if chosen < 0:
            fallbacks += 1
            chosen = _full_scan(V, cols, r, t, norms, Q, w, coef, out_row, row_hash, counter,
                                rtol)
            counter += np.uint64(1)
            if chosen < 0:
                return -1
            for c in range(r):
                w[c] = V[chosen, cols[c]]
            for a in range(t):
                d = 0.0
                for c in range(r):
                    d += Q[a, c] * w[c]
                coef[a] = d
        out_row[t] = chosen
        # new direction: Gram-Schmidt of V_j against Q_t, twice (CGS2) for orthogonality
        for a in range(t):
            for c in range(r):
                w[c] -= coef[a] * Q[a, c]
        for a in range(t):
            d = 0.0
            for c in range(r):
                d += Q[a, c] * w[c]
            for c in range(r):
                w[c] -= d * Q[a, c]
        nrm = 0.0
        for c in range(r):
            nrm += w[c] * w[c]
        nrm = np.sqrt(nrm)
        if nrm <= 0.0:
            return -1
        for c in range(r):
            Q[t, c] = w[c] / nrm
    return fallbacks


@nb.njit(cache=True, fastmath=_FAST)
def _chain_one_scan(V, cols, r, norms, row_hash, out_row, Q, w, rtol):
    """Same law as :func:`_chain_one` with every residual kept up to date: ``O(N r²)``.

    Cheaper than rejection when ``N < r (H_r - 1)`` (large samples on small ground sets).
    """
    N = V.shape[0]
    res = norms.copy()
    for t in range(r):
        tot = 0.0
        for j in range(N):
            if res[j] <= rtol * norms[j]:
                res[j] = 0.0
            tot += res[j]
        if tot <= 0.0:
            return -1
        u = uniform_nb(hash_entry_nb(row_hash, np.uint64(t))) * tot
        acc = 0.0
        j = -1
        for i in range(N):
            if res[i] > 0.0:
                j = i
                acc += res[i]
                if u < acc:
                    break
        out_row[t] = j
        for c in range(r):
            w[c] = V[j, cols[c]]
        for _ in range(2):  # CGS2
            for a in range(t):
                d = 0.0
                for c in range(r):
                    d += Q[a, c] * w[c]
                for c in range(r):
                    w[c] -= d * Q[a, c]
        nrm = 0.0
        for c in range(r):
            nrm += w[c] * w[c]
        nrm = np.sqrt(nrm)
        if nrm <= 0.0:
            return -1
        for c in range(r):
            Q[t, c] = w[c] / nrm
        for i in range(N):
            if res[i] > 0.0:
                d = 0.0
                for c in range(r):
                    d += V[i, cols[c]] * Q[t, c]
                res[i] -= d * d
        res[j] = 0.0
    return 0


@nb.njit(cache=True)
def _use_scan(N, r):
    """Whether the full-scan chain is cheaper than rejection (cost N r² vs r³ (H_r - 1))."""
    return N < r * (np.log(r) - 0.42)


@nb.njit(cache=True, fastmath=_FAST)
def _full_scan(V, cols, r, t, norms, Q, w, coef, out_row, row_hash, counter, rtol):
    """Exact conditional of step ``t`` by computing every residual (``O(N r t)``)."""
    N = V.shape[0]
    res = np.empty(N)
    tot = 0.0
    for j in range(N):
        nj = norms[j]
        x = 0.0
        if nj > 0.0:
            proj = 0.0
            for a in range(t):
                d = 0.0
                for c in range(r):
                    d += Q[a, c] * V[j, cols[c]]
                proj += d * d
            x = nj - proj
            if x <= rtol * nj:
                x = 0.0
        res[j] = x
    for a in range(t):
        res[out_row[a]] = 0.0
    for j in range(N):
        tot += res[j]
    if tot <= 0.0:
        return -1
    u = uniform_nb(hash_entry_nb(row_hash, counter)) * tot
    acc = 0.0
    last = -1
    for j in range(N):
        if res[j] > 0.0:
            last = j
            acc += res[j]
            if u < acc:
                return j
    return last


@nb.njit(cache=True, fastmath=_FAST)
def _row_norms(V):
    N, r = V.shape
    norms = np.empty(N)
    for j in range(N):
        x = 0.0
        for c in range(r):
            x += V[j, c] * V[j, c]
        norms[j] = x
    return norms


@nb.njit(cache=True)
def _projection_one(V, norms, cdf, cols, scan, key, s, out_row, rtol, max_tries):
    r = V.shape[1]
    Q = np.empty((r, r))
    w = np.empty(r)
    rh = hash_row_nb(key, s)
    if scan:
        return _chain_one_scan(V, cols, r, norms, rh, out_row, Q, w, rtol)
    coef = np.empty(r)
    return _chain_one(V, cols, r, norms, cdf, rh, out_row, Q, w, coef, rtol, max_tries)


@nb.njit(cache=True, parallel=True)
def projection_dpp_batch(V, key, n_samples, rtol, max_tries):  # pragma: no cover - compiled
    """``n_samples`` projection-DPP samples for ``K = V Vᵀ`` (rows: samples, size ``r``),
    spread over threads; returns ``(out, status)`` (status: fallbacks used, -1 on failure)."""
    N, r = V.shape
    norms = _row_norms(V)
    cdf = np.cumsum(norms)
    cols = np.arange(r)
    scan = _use_scan(N, r)
    out = np.empty((n_samples, r), dtype=np.int64)
    status = np.zeros(n_samples, dtype=np.int64)
    for s in nb.prange(n_samples):
        status[s] = _projection_one(V, norms, cdf, cols, scan, key, s, out[s], rtol, max_tries)
    return out, status


@nb.njit(cache=True)
def projection_dpp_serial(V, key, n_samples, rtol, max_tries):  # pragma: no cover - compiled
    """Same as :func:`projection_dpp_batch` on one thread (small batches: no thread start-up)."""
    N, r = V.shape
    norms = _row_norms(V)
    cdf = np.cumsum(norms)
    cols = np.arange(r)
    scan = _use_scan(N, r)
    out = np.empty((n_samples, r), dtype=np.int64)
    status = np.zeros(n_samples, dtype=np.int64)
    for s in range(n_samples):
        status[s] = _projection_one(V, norms, cdf, cols, scan, key, s, out[s], rtol, max_tries)
    return out, status


@nb.njit(cache=True)
def _select_bernoulli(lam, row_hash, cols):
    """Eigenvector ``i`` kept with probability ``lam[i]``; returns how many were kept."""
    M = lam.shape[0]
    r = 0
    for i in range(M):
        u = uniform_nb(hash_entry_nb(row_hash, _SELECT_OFFSET + np.uint64(i)))
        if u < lam[i]:
            cols[r] = i
            r += 1
    return r


@nb.njit(cache=True)
def _select_k(log_lam, log_e, k, row_hash, cols):
    """Exactly ``k`` eigenvectors with probability ∝ ∏ λ_i (Kulesza & Taskar, Alg. 8).

    ``log_e[l, n] = log e_l(λ_1, …, λ_n)`` (elementary symmetric polynomials in log space).
    """
    M = log_lam.shape[0]
    remaining = k
    r = 0
    for n in range(M, 0, -1):
        if remaining == 0:
            break
        if remaining >= n:
            p = 1.0
        else:
            p = np.exp(log_lam[n - 1] + log_e[remaining - 1, n - 1] - log_e[remaining, n])
        u = uniform_nb(hash_entry_nb(row_hash, _SELECT_OFFSET + np.uint64(n)))
        if u < p:
            cols[r] = n - 1
            r += 1
            remaining -= 1
    return r


@nb.njit(cache=True, fastmath=_FAST)
def _spectral_one(V, lam, log_lam, log_e, k, key, s, out_row, rtol, max_tries):
    """One spectral sample into ``out_row``; returns ``(size, status)``."""
    N, M = V.shape
    rh = hash_row_nb(key, s)
    cols = np.empty(M, dtype=np.int64)
    if k < 0:
        r = _select_bernoulli(lam, rh, cols)
    else:
        r = _select_k(log_lam, log_e, k, rh, cols)
    if r == 0:
        return 0, 0
    norms = np.empty(N)
    for j in range(N):
        x = 0.0
        for c in range(r):
            y = V[j, cols[c]]
            x += y * y
        norms[j] = x
    Q = np.empty((r, r))
    w = np.empty(r)
    if _use_scan(N, r):
        st = _chain_one_scan(V, cols, r, norms, rh, out_row, Q, w, rtol)
    else:
        cdf = np.cumsum(norms)
        coef = np.empty(r)
        st = _chain_one(V, cols, r, norms, cdf, rh, out_row, Q, w, coef, rtol, max_tries)
    return r, st


@nb.njit(cache=True, parallel=True)
def spectral_dpp_batch(V, lam, log_lam, log_e, k, key, n_samples, rtol,
                       max_tries):  # pragma: no cover - compiled
    """Spectral sampler: per sample, choose eigenvectors, then a projection DPP on them.

    ``k < 0``: Bernoulli(λ_i) selection (``lam`` = eigenvalues of K in [0, 1]); else exactly
    ``k`` eigenvectors from the elementary-symmetric table ``log_e``. Returns ``(out, sizes,
    status)`` with the items of sample ``s`` in ``out[s, :sizes[s]]``.
    """
    N, M = V.shape
    width = M if k < 0 else k
    out = np.full((n_samples, max(width, 1)), -1, dtype=np.int64)
    sizes = np.zeros(n_samples, dtype=np.int64)
    status = np.zeros(n_samples, dtype=np.int64)
    for s in nb.prange(n_samples):
        r, st = _spectral_one(V, lam, log_lam, log_e, k, key, s, out[s], rtol, max_tries)
        sizes[s] = r
        status[s] = st
    return out, sizes, status


@nb.njit(cache=True)
def spectral_dpp_serial(V, lam, log_lam, log_e, k, key, n_samples, rtol,
                        max_tries):  # pragma: no cover - compiled
    """:func:`spectral_dpp_batch` on one thread (small batches)."""
    N, M = V.shape
    width = M if k < 0 else k
    out = np.full((n_samples, max(width, 1)), -1, dtype=np.int64)
    sizes = np.zeros(n_samples, dtype=np.int64)
    status = np.zeros(n_samples, dtype=np.int64)
    for s in range(n_samples):
        r, st = _spectral_one(V, lam, log_lam, log_e, k, key, s, out[s], rtol, max_tries)
        sizes[s] = r
        status[s] = st
    return out, sizes, status


@nb.njit(cache=True)
def cholesky_dpp(K, key, sample_index):  # pragma: no cover - compiled
    """Poulson's factorization sampler: one DPP sample from ``K`` by an in-place LDLᵀ.

    Item ``i`` is kept with probability ``D_ii`` (the Schur complement's pivot); a kept item
    is eliminated with pivot ``D_ii``, a rejected one with ``D_ii - 1``. ``K`` is overwritten
    (pass a copy); only its upper triangle is used. Returns a boolean mask.
    """
    N = K.shape[0]
    rh = hash_row_nb(key, sample_index)
    keep = np.zeros(N, dtype=np.bool_)
    for i in range(N):
        p = K[i, i]
        if p < 0.0:
            p = 0.0
        elif p > 1.0:
            p = 1.0
        u = uniform_nb(hash_entry_nb(rh, np.uint64(i)))
        if u < p:
            keep[i] = True
            piv = K[i, i]
        else:
            piv = K[i, i] - 1.0
        if piv == 0.0:
            continue
        inv = 1.0 / piv
        # rank-one Schur update of the trailing upper triangle, row by row (contiguous)
        for c in range(i + 1, N):
            f = K[i, c] * inv
            if f != 0.0:
                for rr in range(c, N):
                    K[c, rr] -= f * K[i, rr]
    return keep


# ---------------------------------------------------------------------------------------------
# entry points of the CPU engine (plain Python around the kernels; :mod:`._dpp_xp` has the same
# ones for the other namespaces). Each returns sorted samples.

# proposals of one chain-rule step before it falls back to the exact full scan
MAX_TRIES = 40


def projection_dpp(xp, V, n_samples, key, rtol):
    """``(n_samples, r)`` sorted samples of the projection DPP ``K = V Vᵀ`` (``V`` float64)."""
    r = V.shape[1]
    # threads pay off once the batch holds a few million flops of work
    kern = (projection_dpp_batch if n_samples > 1 and n_samples * r**3 > 2e6
            else projection_dpp_serial)
    out, status = kern(np.ascontiguousarray(V), np.uint64(key), n_samples, rtol, MAX_TRIES)
    if np.any(status < 0):
        raise np.linalg.LinAlgError("V: rank is below its column count")
    return np.sort(out, axis=1)


def spectral_dpp(xp, U, mu, n_samples, key, rtol):
    """Samples of the DPP ``K = U diag(mu) Uᵀ`` (``mu`` in (0, 1]): a list of sorted arrays."""
    out, sizes = _spectral(U, mu, np.zeros(1), np.zeros((1, 1)), -1, n_samples, key, rtol)
    return [np.sort(out[s, :sizes[s]]) for s in range(n_samples)]


def k_dpp(xp, U, lam, log_lam, log_e, k, n_samples, key, rtol):
    """``(n_samples, k)`` sorted samples of the k-DPP of ``L = U diag(lam) Uᵀ`` (``lam > 0``,
    host arrays; ``log_e`` the table of :func:`projkit.sampling.dpp._log_esp`)."""
    out, _ = _spectral(U, lam, log_lam, log_e, k, n_samples, key, rtol)
    return np.sort(out, axis=1)


def _spectral(U, lam, log_lam, log_e, k, n_samples, key, rtol):
    kern = spectral_dpp_batch if n_samples > 1 else spectral_dpp_serial
    out, sizes, status = kern(np.ascontiguousarray(U), np.ascontiguousarray(lam), log_lam, log_e,
                              k, np.uint64(key), n_samples, rtol, MAX_TRIES)
    if np.any(status < 0):
        raise np.linalg.LinAlgError("the kernel's eigenvectors are not orthonormal")
    return out, sizes
