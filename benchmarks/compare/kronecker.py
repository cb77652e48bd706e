"""KroneckerProjection vs recomputing the projection from scratch with NumPy, every iteration.

The workload of issue #9: ``A`` is ``m × n²`` (Gaussian), ``W`` starts well conditioned, and each
of ``T`` iterations applies a rank-``k`` symmetric update ``W ← W + U diag(c) Uᵀ`` (``k`` cycles
through 1..5, ``U`` orthonormal, ``|c| ≤ scale · λ_min(W)`` so ``W`` stays positive definite),
then asks for ``P h`` with a fresh Gaussian ``h``.

The peer is the best plain-NumPy recomputation we know: form ``B`` through the Kronecker identity
(``B = A(W ⊗ I)`` is ``vec(W Aᵢ)`` row by row, one batched matmul; ``sqrt_kron_sqrt`` takes
``W^{1/2}`` from ``eigh``), ``BBᵀ`` by one SYRK-backed product, a SciPy Cholesky and two
triangular solves. Ours and the peer run on the same sequence, interleaved, median of
``--repeats``; the accuracy column is ``max_t ‖ours_t − peer_t‖ / ‖peer_t‖``.

A second table gives the sketched (lazy) mode's time/accuracy trade-off over ``eps``.

Run: ``python benchmarks/compare/kronecker.py`` (n=64, m=500, T=100) or ``--quick``.
"""

from __future__ import annotations

import argparse
import contextlib
import time

import numpy as np
import scipy.linalg as sla
from threadpoolctl import threadpool_limits

import projkit


def make_sequence(n, m, T, scale, seed):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, n * n)) / n
    G = rng.standard_normal((n, n))
    W0 = G @ G.T / n + np.eye(n)
    W = W0.copy()
    seq = []
    for t in range(T):
        k = 1 + t % 5
        U, _ = np.linalg.qr(rng.standard_normal((n, k)))
        lam_min = np.linalg.eigvalsh(W)[0]
        c = scale * lam_min * rng.uniform(-1.0, 1.0, k)
        W = W + (U * c) @ U.T
        seq.append((U, c, rng.standard_normal(n * n)))
    return A, W0, seq


def peer_run(A, W0, seq, form):
    m, n2 = A.shape
    n = int(round(n2**0.5))
    A3 = A.reshape(m, n, n)
    W = W0.copy()
    out = []
    for U, c, h in seq:
        W = W + (U * c) @ U.T
        if form == "w_kron_i":
            B = np.matmul(W, A3).reshape(m, n2)
        else:
            lam, Q = np.linalg.eigh(W)
            S = (Q * np.sqrt(np.clip(lam, 0, None))) @ Q.T
            B = np.matmul(np.matmul(S, A3), S).reshape(m, n2)
        cf = sla.cho_factor(B @ B.T, lower=True, check_finite=False)
        out.append(B.T @ sla.cho_solve(cf, B @ h, check_finite=False))
    return out


def ours_run(A, W0, seq, form, mode="exact", eps=None):
    kp = projkit.KroneckerProjection(A, W0, form=form, mode=mode, eps=eps)
    out = [kp.update(U, c) or kp.query(h) for U, c, h in seq]
    return out, kp


def timed(fn, *args, **kw):
    """(CPU seconds, wall seconds, result). On a shared, oversubscribed machine the wall clock
    mostly measures waiting for a core; the process CPU time is the cost of the work itself."""
    t, c = time.perf_counter(), time.process_time()
    r = fn(*args, **kw)
    return time.process_time() - c, time.perf_counter() - t, r


def max_rel(a, b):
    return max(np.linalg.norm(x - y) / max(np.linalg.norm(y), 1e-300)
               for x, y in zip(a, b, strict=True))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--m", type=int, default=500)
    ap.add_argument("--T", type=int, default=100)
    ap.add_argument("--scale", type=float, default=0.1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--forms", default="w_kron_i,sqrt_kron_sqrt")
    ap.add_argument("--threads", default="default,1",
                    help="BLAS thread settings to time both sides under (comma list of '1' and "
                         "'default'); the default threads are the headline (what users get), "
                         "one thread beside it (on a 2-vCPU VM the peer's large SYRK is "
                         "fastest on one thread)")
    ap.add_argument("--quick", action="store_true", help="n=32, m=200, T=30, 1 repeat")
    a = ap.parse_args()
    if a.quick:
        a.n, a.m, a.T, a.repeats = 32, 200, 30, 1
    A, W0, seq = make_sequence(a.n, a.m, a.T, a.scale, seed=0)
    ours_run(A, W0, seq[:2], "w_kron_i")                      # warm up (Numba, BLAS threads)
    print(f"n={a.n} (n²={a.n * a.n}), m={a.m}, T={a.T} updates of rank 1..5 + queries, "
          f"|c| ≤ {a.scale}·λ_min(W); median of {a.repeats}; seconds for the whole sequence")
    print("CPU = process CPU seconds (the primary figure); wall = elapsed seconds")
    for threads in a.threads.split(","):
        limit = (threadpool_limits(1, user_api="blas") if threads == "1"
                 else contextlib.nullcontext())
        with limit:
            peer_out = exact_table(a, A, W0, seq, threads)
    print()
    with threadpool_limits(1, user_api="blas"):
        sketched_table(a, A, W0, seq, peer_out)


def exact_table(a, A, W0, seq, threads):
    print(f"BLAS threads: {threads}")
    print(f"{'form':16s} {'ours CPU':>9s} {'peer CPU':>9s} {'ratio':>7s} {'ours wall':>10s} "
          f"{'peer wall':>10s} {'ratio':>7s} {'max rel err':>12s}")
    peer_out, peer_cpu = {}, {}
    for form in a.forms.split(","):
        t_o, t_p, w_o, w_p = [], [], [], []
        for _ in range(a.repeats):                            # interleaved
            t, w, (o, kp) = timed(ours_run, A, W0, seq, form)
            t_o.append(t)
            w_o.append(w)
            t, w, p = timed(peer_run, A, W0, seq, form)
            t_p.append(t)
            w_p.append(w)
        peer_out[form] = p
        to, tp = float(np.median(t_o)), float(np.median(t_p))
        peer_cpu[form] = tp
        wo, wp = float(np.median(w_o)), float(np.median(w_p))
        print(f"{form:16s} {to:9.3f} {tp:9.3f} {tp / to:6.1f}x {wo:10.3f} {wp:10.3f} "
              f"{wp / wo:6.1f}x {max_rel(o, p):12.2e}")
        print(f"{'':16s} stats={kp.stats}")
    print(f"{'':16s} flop-count ceiling of the exact update (any method that maintains a "
          f"factorization of BBᵀ): {flop_ceiling(A, seq):.1f}x (form w_kron_i)")
    if threads == "1" and "w_kron_i" in peer_cpu:
        t_floor = float(np.median([kernel_floor(A, seq)[0] for _ in range(a.repeats)]))
        print(f"{'':16s} measured floor: the SYRK of each rank-2kn ΔBBᵀ + one potrf alone take "
              f"{t_floor:.3f} s CPU, i.e. at most {peer_cpu['w_kron_i'] / t_floor:.1f}x against "
              "the w_kron_i peer")
    return peer_out


def kernel_floor(A, seq):
    """CPU seconds of the two kernels no exact factorization update avoids, on random data of
    the sequence's shapes: SYRK of an ``m × 2kn`` factor into ``M`` and a Cholesky of ``M``."""
    from scipy.linalg import blas, lapack

    m, n2 = A.shape
    n = int(round(n2**0.5))
    rng = np.random.default_rng(0)
    G = rng.standard_normal((m, m))
    M0 = np.asfortranarray(G @ G.T + m * np.eye(m))
    Vs = [np.ascontiguousarray(rng.standard_normal((m, 2 * U.shape[1] * n)) * 1e-3)
          for U, _, _ in seq]

    def run():
        M = M0.copy(order="F")
        for V in Vs:
            M = blas.dsyrk(1.0, V.T, beta=1.0, c=M, trans=1, lower=1, overwrite_c=1)
            lapack.dpotrf(M, lower=1, clean=0)
        return M

    return timed(run)[::2]


def flop_ceiling(A, seq):
    """Peer flops / the least an exact factorization update can do, summed over ``seq``.

    Peer per iteration: ``B`` by the identity (``2mn³``), ``BBᵀ`` by SYRK (``m²n²``), Cholesky
    (``m³/3``), query (``4mn²``). An exact update: ``ΔM = A(ΔK ⊗ I)Aᵀ`` has rank ``2kn``, so
    forming it costs at least ``m²·2kn`` (SYRK), plus the pass over ``A`` that builds its
    factors (``2·2k·n·mn``), a new factorization or an equivalent solve (``m³/3``) and the query.
    """
    m, n2 = A.shape
    n = int(round(n2**0.5))
    peer = ours = 0.0
    for U, _, _ in seq:
        k = U.shape[1]
        peer += 2 * m * n**3 + m * m * n2 + m**3 / 3 + 4 * m * n2
        ours += m * m * 2 * k * n + 4 * k * n * m * n + m**3 / 3 + 4 * m * n2
    return peer / ours


def sketched_table(a, A, W0, seq, peer_out):
    print("sketched (lazy) mode: time/accuracy trade-off, form w_kron_i "
          "(error = max_t ‖ours_t − P_t h_t‖ / ‖h_t‖; bound = eps)")
    print(f"{'eps':>7s} {'CPU (s)':>9s} {'vs exact':>9s} {'vs peer':>8s} {'max err':>10s} "
          f"{'refreshes':>10s}")
    t_exact = float(np.median([timed(ours_run, A, W0, seq, "w_kron_i")[0]
                               for _ in range(a.repeats)]))
    t_peer = float(np.median([timed(peer_run, A, W0, seq, "w_kron_i")[0]
                              for _ in range(a.repeats)]))
    p = peer_out.get("w_kron_i") or peer_run(A, W0, seq, "w_kron_i")
    for eps in (1e-3, 1e-2, 5e-2, 0.2, 0.5):
        ts = []
        for _ in range(a.repeats):
            t, _, (o, kp) = timed(ours_run, A, W0, seq, "w_kron_i", "lazy", eps)
            ts.append(t)
        err = max(np.linalg.norm(x - y) / np.linalg.norm(h)
                  for x, y, (_, _, h) in zip(o, p, seq, strict=True))
        refreshes = kp.stats["updates"] - kp.stats["lazy"]
        tm = float(np.median(ts))
        print(f"{eps:7.0e} {tm:9.3f} {t_exact / tm:8.1f}x {t_peer / tm:7.1f}x {err:10.2e} "
              f"{refreshes:10d}")
    print(f"(same sequence: exact mode {t_exact:.3f} s CPU, NumPy recompute {t_peer:.3f} s CPU)")
    set_query_table(A, W0, seq, p)


def set_query_table(A, W0, seq, p, eps=0.2, n_coords=64):
    """Robust set queries (the paper's query sketches + DP median) against the full lazy answer:
    per-query time (pool re-sketching reported apart), and the worst coordinate error."""
    print()
    print(f"set queries of {n_coords} coordinates, sketched mode eps={eps} (pool: L sketches of "
          f"b rows per query, K = L·⌈√16⌉, re-sketched at each refresh of W̃); "
          "error = max |ans_i − (P h)_i| / ‖h‖")
    print(f"{'b':>5s} {'L':>3s} {'set query':>10s} {'full lazy':>10s} {'ratio':>6s} "
          f"{'re-sketch':>10s} {'max err':>9s} {'bound':>7s} {'pool MiB':>9s}")
    rng = np.random.default_rng(1)
    for b, L in ((16, 5), (64, 5), (64, 15), (256, 15)):
        kp = projkit.KroneckerProjection(A, W0, mode="lazy", eps=eps, sketch_size=b,
                                         robust={"per_query": L}, rng=0)
        t_set, t_full, t_sketch, err, bound = [], [], [], 0.0, 0.0
        for (U, c, h), ph in zip(seq, p, strict=True):
            kp.update(U, c)
            C = rng.choice(h.shape[0], n_coords, replace=False)
            t0 = time.perf_counter()
            kp.query(h)
            t_full.append(time.perf_counter() - t0)
            before = kp._pool.n_refreshes if kp._pool is not None else 0
            t0 = time.perf_counter()
            ans = kp.query(h, C)
            dt = time.perf_counter() - t0
            (t_sketch if kp._pool.n_refreshes > before else t_set).append(dt)
            nh = np.linalg.norm(h)
            err = max(err, float(np.max(np.abs(ans - ph[C]))) / nh)
            bound = max(bound, kp.error_bound + np.sqrt(8 / b) + eps / 8)
        ts, tf = float(np.median(t_set)) * 1e3, float(np.median(t_full)) * 1e3
        tk = float(np.median(t_sketch)) * 1e3
        print(f"{b:5d} {L:3d} {ts:8.2f}ms {tf:8.2f}ms {tf / ts:5.1f}x {tk:8.0f}ms "
              f"{err:9.2e} {bound:7.2f} {kp._pool.nbytes / 2**20:9.0f}")


if __name__ == "__main__":
    main()
