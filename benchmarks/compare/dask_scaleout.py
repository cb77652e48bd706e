"""projkit on Dask against Dask's own randomized SVD, on a real LocalCluster.

On one ``distributed.LocalCluster`` (2 worker processes × 1 thread, the box's 2 cores) and the
same persisted dask arrays for both libraries:

1. ``projkit.rsvd`` against ``dask.array.linalg.svd_compressed`` (rank 50, q = 2 power
   iterations, 10 oversamples each): wall time, error against an in-memory reference and
   passes over X, for a tall-skinny dense matrix chunked by rows, the same matrix chunked
   both ways, and sparse (SciPy CSR) chunks. The error is ``‖X − U S Vᵀ‖_F`` relative to the
   optimal ``‖X − X_k‖_F``; both factorizations have ``U S Vᵀ = U Uᵀ X``, so
   ``‖X − U S Vᵀ‖²_F = ‖X‖²_F − ‖s‖²``, and the optimum comes from the exact eigenvalues of
   the Gram matrix ``XᵀX`` (the in-memory reference, ``numpy.linalg.eigvalsh``). Passes are
   counted, not assumed: on a small copy run on the threaded scheduler, every read of every
   chunk of X is counted.
2. Sketch throughput (GB of X read per second): ``projkit.sketch`` of the dask array on the
   cluster against ``projkit.sketch`` of the same matrix in memory (Numba, 2 threads).
3. The peak memory of each worker during each run (scheduler heartbeats, sampled every
   0.2 s).
4. The tall-skinny case once more on the threaded scheduler (one process).

"reads" counts how often each chunk of a lazy (not persisted) X is computed from its source:
projkit re-reads X q + 2 times (a power iteration's two products share one read) and holds a
few chunks at a time; dask's default (``compute=False``) reads each chunk once and keeps all of
X in worker memory across its 2q + 2 products (it cannot factor an X larger than the cluster's
memory that way), and its ``compute=True`` re-reads X for every product (2q + 2 reads). On
persisted X, both read the held chunks. The ``lazy`` case times the three on an X generated
chunk by chunk on every read (the out-of-core setting, where reads cost the most).

The issue's target size is 10⁶ × 10³ (chunks of 10⁵ rows); the default here is
4·10⁵ × 10³ (chunks of 4·10⁴ rows), which fits the 24 GiB box shared with other jobs;
``--rows 1000000 --chunk 100000`` runs the full size.

Run: ``python benchmarks/compare/dask_scaleout.py`` (a few minutes).
"""

from __future__ import annotations

import argparse
import collections
import threading
import time

import dask
import dask.array as da
import numpy as np
import scipy.sparse as sp

import projkit

RANK, Q, P = 50, 2, 10


def _dense_chunk(block_info=None, d=1000):
    """One row chunk of X = G diag(σ) W + noise: generated from the chunk's index alone."""
    info = block_info[None]
    i = info["chunk-location"][0]
    r0, r1 = info["array-location"][0]
    rng = np.random.default_rng(1000 + i)
    W = np.random.default_rng(7).standard_normal((80, d)) / np.sqrt(d)
    sig = np.logspace(0, -2, 80) * 30
    return (rng.standard_normal((r1 - r0, 80)) * sig) @ W + 0.05 * rng.standard_normal(
        (r1 - r0, d))


def _sparse_chunk(block_info=None, d=2000, density=5e-3):
    info = block_info[None]
    i = info["chunk-location"][0]
    r0, r1 = info["array-location"][0]
    rng = np.random.default_rng(5000 + i)
    return sp.random(r1 - r0, d, density=density, format="csr", rng=rng)


def dense_matrix(m, d, chunk):
    return da.map_blocks(_dense_chunk, chunks=(da.core.normalize_chunks(chunk, (m,))[0], (d,)),
                         dtype=np.float64, meta=np.empty((0, 0)), d=d)


def sparse_matrix(m, d, chunk):
    return da.map_blocks(_sparse_chunk, chunks=(da.core.normalize_chunks(chunk, (m,))[0], (d,)),
                         dtype=np.float64, meta=sp.csr_matrix((0, 0)), d=d)


class PeakMemory:
    """Peak memory of each worker (scheduler heartbeats) while the context is open."""

    def __init__(self, client):
        self.client = client
        self.peak: dict = collections.defaultdict(int)

    def __enter__(self):
        self._stop = threading.Event()

        def poll():
            while not self._stop.is_set():
                for addr, w in self.client.scheduler_info(n_workers=-1)["workers"].items():
                    self.peak[addr] = max(self.peak[addr], int(w["metrics"]["memory"]))
                time.sleep(0.2)

        self._t = threading.Thread(target=poll, daemon=True)
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()

    def text(self):
        return " / ".join(f"{v / 2**30:.2f}" for v in sorted(self.peak.values())) + " GiB"


def count_passes(fn, sparse):
    """Reads of each chunk of X by ``fn(X)`` on a small copy (threaded scheduler)."""
    calls: collections.Counter = collections.Counter()
    lock = threading.Lock()

    def read(block, block_info=None):
        with lock:
            calls[tuple(block_info[0]["chunk-location"])] += 1
        return block

    X = (sparse_matrix(3000, 200, 500) if sparse else dense_matrix(3000, 200, 500))
    X = X.persist(scheduler="threads").map_blocks(read, dtype=X.dtype, meta=X._meta)
    with dask.config.set(scheduler="threads"):  # also for svd_compressed(compute=True)'s persists
        dask.compute(*fn(X, 10))
    vals = set(calls.values())
    return vals.pop() if len(vals) == 1 else sorted(vals)


def ours(X, k=RANK):
    return projkit.rsvd(X, k, oversample=P, n_iter=Q, rng=0)


def theirs(X, k=RANK):
    return da.linalg.svd_compressed(X, k, n_power_iter=Q, n_oversamples=P, seed=0)


def theirs_reread(X, k=RANK):
    return da.linalg.svd_compressed(X, k, n_power_iter=Q, n_oversamples=P, seed=0,
                                    compute=True)


def theirs_qr(X, k=RANK):
    return da.linalg.svd_compressed(X, k, n_power_iter=Q, n_oversamples=P, seed=0,
                                    iterator="QR")


def timed(client, fn, X):
    """Best of two runs on the cluster (the first also loads code on the workers)."""
    best = np.inf
    with PeakMemory(client) as pm:
        for _ in range(2):
            t0 = time.perf_counter()
            U, s, Vt = client.compute(list(fn(X)), sync=True)
            best = min(best, time.perf_counter() - t0)
    return best, np.asarray(s), pm


def reference(X):
    """‖X‖²_F and the exact squared singular values (eigenvalues of XᵀX), in memory."""
    G = projkit.distributed.transpose_matmul(X, X).compute()
    G = G.toarray() if sp.issparse(G) else np.asarray(G)
    ev = np.sort(np.linalg.eigvalsh(G))[::-1]
    return float(np.trace(G)), ev


def err_ratio(s, fro2, ev):
    opt = fro2 - ev[:RANK].sum()
    return np.sqrt(max(fro2 - np.sum(s.astype(np.float64) ** 2), 0.0) / opt)


def rsvd_case(client, label, X, sparse, *, with_qr=False, lazy=False):
    if not lazy:
        X = X.persist()
        distributed_wait(X)
    fro2, ev = reference(X)
    print(f"\n[{label}] X {X.shape}, chunks {X.chunksize}, {X.npartitions} chunks, "
          f"{'CSR' if sparse else 'dense'}, {'generated on every read' if lazy else 'persisted'}"
          f"; rank {RANK}, q = {Q}; products with X: 2q + 2 = {2 * Q + 2} for both")
    print(f"  {'':<30}{'time (s)':>9}{'err/opt':>10}{'max|Δσ|/σ':>11}{'reads':>7}"
          "  peak memory per worker")
    sig = np.sqrt(ev[:RANK])

    def row(name, t, s, reads, pm):
        print(f"  {name:<30}{t:>9.2f}{err_ratio(s, fro2, ev):>10.5f}"
              f"{np.max(np.abs(s - sig) / sig):>11.2e}{reads!s:>7}  {pm.text()}")

    t_ours, s_ours, pm = timed(client, ours, X)
    row("projkit.rsvd", t_ours, s_ours, count_passes(ours, sparse), pm)
    ratio = None
    peers = ([("dask svd_compressed", theirs)]
             + ([("dask svd_compressed QR", theirs_qr)] if with_qr else [])
             + ([("dask svd_compressed compute=True", theirs_reread)] if lazy else []))
    for name, fn in peers:
        try:
            t_dask, s_dask, pm2 = timed(client, fn, X)
        except Exception as exc:  # dask has no answer for this case
            print(f"  {name:<30}no answer: {type(exc).__name__}: "
                  f"{str(exc).splitlines()[0][:80]}")
            continue
        row(name, t_dask, s_dask, count_passes(fn, sparse), pm2)
        print(f"  {'':<30}speed-up projkit vs {name}: {t_dask / t_ours:.2f}x")
        ratio = ratio or t_dask / t_ours
    return X, ratio


def threaded_case(A, chunk):
    """The tall-skinny case on the threaded scheduler (one process, 2 threads)."""
    X = da.from_array(A, chunks=(chunk, -1))
    print(f"\n[threaded scheduler] X {X.shape}, chunks {X.chunksize} (in-process array)")
    t = {}
    for name, fn in (("projkit.rsvd", ours), ("dask svd_compressed", theirs)):
        dask.compute(*fn(X[: 4 * chunk], 5), scheduler="threads")
        t[name] = min(_t(lambda fn=fn: dask.compute(*fn(X), scheduler="threads"))
                      for _ in range(2))
        print(f"  {name:<30}{t[name]:>9.2f} s")
    print(f"  {'':<30}speed-up: {t['dask svd_compressed'] / t['projkit.rsvd']:.2f}x")


def distributed_wait(X):
    import distributed

    distributed.wait(X)


def throughput(client, X, A):
    print(f"\n[sketch throughput] X {X.shape} dense float64, {X.nbytes / 1e9:.2f} GB; dask on "
          "the cluster (persisted X) vs in-memory projkit on the client (same machine)")
    print(f"  {'method (size 200)':<26}{'dask GB/s':>10}{'memory GB/s':>13}{'ratio':>8}")
    for method in ("countsketch", "sparse_sign", "gaussian", "coordinated"):
        projkit.sketch(A[:1000], 20, method=method, rng=1)  # load the kernels here
        projkit.sketch(X[:1000], 20, method=method, rng=1).compute()  # and on the workers
        # compute() runs on the client's cluster (the default scheduler) and gives the
        # in-memory Sketch: for "coordinated" its sample, two reads of the persisted X
        t_d = min(_t(lambda m=method: projkit.sketch(X, 200, method=m, rng=1).compute())
                  for _ in range(2))
        t_m = min(_t(lambda m=method: projkit.sketch(A, 200, method=m, rng=1)) for _ in range(2))
        gb = X.nbytes / 1e9
        print(f"  {method:<26}{gb / t_d:>10.2f}{gb / t_m:>13.2f}{t_m / t_d:>8.2f}")


def _t(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main():
    import os

    import distributed

    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=400_000)
    ap.add_argument("--cols", type=int, default=1000)
    ap.add_argument("--chunk", type=int, default=40_000)
    ap.add_argument("--cases", default="lazy,tall,throughput,both,sparse,threaded",
                    help="comma-separated subset of lazy,tall,throughput,both,sparse,threaded")
    args = ap.parse_args()
    print(f"load average at start: {os.getloadavg()}")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        print(f"cluster: 2 workers × 1 thread, memory_limit "
              f"{cluster.workers[0].memory_manager.memory_limit / 2**30:.1f} GiB each"
              if hasattr(cluster.workers[0], "memory_manager") else "cluster: 2 workers")
        m, d, c = args.rows, args.cols, args.chunk
        X = dense_matrix(m, d, c)
        # warm-up: load projkit and its kernels on the workers
        client.compute(list(ours(dense_matrix(2000, 100, 500), 5)), sync=True)
        cases = set(args.cases.split(","))
        if "lazy" in cases:
            rsvd_case(client, "tall-skinny dense, row chunks", X, False, lazy=True)
        if "tall" in cases:
            X, _ = rsvd_case(client, "tall-skinny dense, row chunks", X, False, with_qr=True)
        A = X.compute() if cases & {"throughput", "threaded"} else None
        if "throughput" in cases:
            throughput(client, X.persist(), A)
        if "both" in cases:
            rsvd_case(client, "dense chunked both ways", X.rechunk((c, d // 4)), False)
        del X
        if "sparse" in cases:
            rsvd_case(client, "sparse CSR chunks", sparse_matrix(m, 2000, c), True)
    if "threaded" in cases:
        threaded_case(A, c)
    print(f"\nload average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
