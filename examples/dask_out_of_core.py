"""Sketch and factor a matrix larger than the cluster's memory, chunk by chunk, on Dask.

A ``distributed.LocalCluster`` with two worker processes, each held to a small
``memory_limit``, factors a dense matrix generated lazily chunk by chunk (each chunk a pure
function of its index, never stored anywhere): ``X = G diag(σ) W + noise`` with a decaying
spectrum ``σ``. The script

1. sketches ``X`` (``projkit.sketch``, sparse sign, 400 rows; one pass, one task per chunk and
   a tree sum) and checks the sketch against ``‖X‖_F``, computed in the same pass;
2. samples 2 000 of its rows by coordinated (priority) sampling, a lazy sketch whose sample
   has unknown length until computed (two passes: rank the rows, gather the sample), and
   checks the estimate of ``XᵀX`` from it against the exact one and the paper's bound;
3. factors it (``projkit.rsvd``, rank 20, q = 2: ``q + 2 = 4`` fresh passes over ``X``,
   none of which holds more than a few chunks per worker);
4. checks the factorization on a slice small enough for memory: ``projkit.rsvd`` of the dask
   slice against NumPy's exact SVD of the same rows, and the out-of-core singular values
   against the slice's (rows are i.i.d., so σᵢ(X) ≈ √(m / m_slice) σᵢ(X_slice));
5. prints the figures (times, GB read per second, peak memory of each worker, whether any
   worker was restarted) and plots the singular values to ``dask_out_of_core.png``.

By default ``X`` is as large as the workers' total ``memory_limit`` (1 GiB, a short run);
``PROJKIT_EXAMPLES_FULL=1`` makes it 4 times larger (4 GiB against 2 × 512 MiB).

Run: ``python examples/dask_out_of_core.py`` (about a minute; a few with the full size).
"""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path

import dask
import dask.array as da
import numpy as np

import projkit

D, R, CHUNK = 500, 30, 8_192  # columns, rank of the signal, rows per chunk (32 MiB)
LIMIT = 512 * 2**20  # memory_limit of each of the two workers
SIGMA = 40.0 * np.logspace(0, -1.5, R)


def chunk(block_info=None):
    """Rows r0:r1 of X, from the chunk's index alone (any worker, any pass: the same bits)."""
    r0, r1 = block_info[None]["array-location"][0]
    rng = np.random.default_rng([2026, r0])
    W = np.random.default_rng(7).standard_normal((R, D)) / np.sqrt(D)
    return (rng.standard_normal((r1 - r0, R)) * SIGMA) @ W + 0.2 * rng.standard_normal(
        (r1 - r0, D))


def lazy_matrix(m):
    rows = da.core.normalize_chunks(CHUNK, (m,))[0]
    return da.map_blocks(chunk, chunks=(rows, (D,)), dtype=np.float64, meta=np.empty((0, 0)))


def peak_rss() -> float:
    """Peak resident memory of this process, in MiB (run on each worker)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    import distributed

    factor = 4.0 if os.environ.get("PROJKIT_EXAMPLES_FULL") == "1" else 1.0
    m = int(factor * 2 * LIMIT / (8 * D)) // CHUNK * CHUNK
    X = lazy_matrix(m)
    gb = X.nbytes / 1e9
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  memory_limit=LIMIT, dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        pids = client.run(os.getpid)
        print(f"X: {m:,} × {D} float64 = {gb:.2f} GB in {X.npartitions} chunks, generated "
              f"lazily; workers: 2 × {LIMIT / 2**20:.0f} MiB; "
              f"X is {X.nbytes / (2 * LIMIT):.1f}× their total memory_limit")

        # 1. one pass: the sketch and ‖X‖_F together
        t0 = time.perf_counter()
        sk = projkit.sketch(X, 400, method="sparse_sign", rng=0)
        SX, fro2 = dask.compute(sk.matrix, (X * X).sum())
        t_sk = time.perf_counter() - t0
        est = float(np.sum(SX * SX))  # E‖SX‖²_F = ‖X‖²_F (E[SᵀS] = I)
        print(f"sketch (sparse sign, 400 rows): {t_sk:.1f} s, {gb / t_sk:.2f} GB/s; "
              f"‖SX‖_F / ‖X‖_F = {np.sqrt(est / fro2):.4f}")

        # 2. a coordinated sample of 2 000 rows (lazy: nothing is read until computed), and
        # from it the estimate of XᵀX; the exact XᵀX is read in the same two passes
        t0 = time.perf_counter()
        sc = projkit.sketch(X, 2_000, method="coordinated", rng=0)
        W, G = dask.compute(projkit.approx_matmul(sc, sc), X.T @ X)
        t_cs = time.perf_counter() - t0
        err = np.linalg.norm(W - G) / fro2  # E‖W − XᵀX‖²_F ≤ 2/(k−1) ‖X‖⁴_F (Daliri et al.)
        print(f"coordinated sample (2 000 rows, 2 passes) + exact XᵀX: {t_cs:.1f} s; "
              f"‖W − XᵀX‖_F / ‖X‖²_F = {err:.4f} (bound on its root mean square: "
              f"{np.sqrt(2 / 1999):.4f})")

        # 3. the randomized SVD, q + 2 = 4 fresh passes over X
        t0 = time.perf_counter()
        res = projkit.rsvd(X, 20, n_iter=2, rng=0)
        s, Vt = dask.compute(res.s, res.Vt)
        t_svd = time.perf_counter() - t0
        print(f"rsvd (rank 20, q = 2, 4 passes): {t_svd:.1f} s, {4 * gb / t_svd:.2f} GB/s read")
        fit = 1 - max(fro2 - float(np.sum(s**2)), 0.0) / fro2
        print(f"  σ₁..σ₅ = {np.array2string(s[:5], precision=1)}; the rank-20 factors "
              f"capture {100 * fit:.2f} % of ‖X‖²_F")

        # 4. a slice that fits in memory: dask rsvd against NumPy's exact SVD
        ms = 4 * CHUNK
        Xs = X[:ms]
        s_slice = projkit.rsvd(Xs, 20, n_iter=2, rng=0).s.compute()
        # the reference runs in this process (the slice is the same bits wherever it is made)
        exact = np.linalg.svd(Xs.compute(scheduler="threads"), compute_uv=False)[:20]
        rel = np.max(np.abs(s_slice - exact) / exact)
        scaled = exact * np.sqrt(m / ms)
        print(f"slice {ms:,} rows: max |σ_rsvd − σ_exact| / σ_exact = {rel:.1e}; out-of-core "
              f"σ vs √(m/m_slice)·σ_slice: max rel. gap {np.max(np.abs(s - scaled) / scaled):.3f}")

        peaks = client.run(peak_rss)
        restarted = client.run(os.getpid) != pids or len(client.scheduler_info()["workers"]) != 2
        print("peak worker memory: " + ", ".join(f"{v:.0f} MiB" for v in peaks.values())
              + f" (limit {LIMIT / 2**20:.0f} MiB); workers restarted or killed: "
              + ("yes" if restarted else "none"))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = np.arange(1, 21)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.semilogy(k, s, "o-", label=f"projkit.rsvd, out of core ({gb:.1f} GB, dask)")
    ax.semilogy(k, scaled, "k--", label=f"exact SVD of a {ms:,}-row slice × √(m/m_slice)")
    ax.semilogy(k, s_slice * np.sqrt(m / ms), "x", label="projkit.rsvd of that slice (dask)")
    ax.set_xlabel("index i")
    ax.set_ylabel("singular value σᵢ")
    ax.set_title("Randomized SVD of a matrix larger than the cluster's memory")
    ax.legend(fontsize=8)
    fig.tight_layout()
    out = Path(__file__).with_suffix(".png")
    fig.savefig(out, dpi=120)
    print(f"plot: {out}")


if __name__ == "__main__":
    main()
