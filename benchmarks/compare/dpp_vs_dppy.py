"""projkit vs DPPy: per-sample time of exact DPP sampling, batched, on the same kernels.

Two cases (issue #7):

* projection DPP, ``K = V Vᵀ`` with ``V`` (N × r) orthonormal, N = 10 000, r = 100:
  projkit ``sample_projection_dpp(V, n_samples=B)`` against DPPy
  ``FiniteDPP("correlation", projection=True, K_eig_dec=(1, V)).sample_exact(mode="GS")``;
* k-DPP (k = 50) of an L-ensemble with N = 2000 (a Gaussian kernel on random points):
  projkit ``sample_dpp(eigen=(w, U), k=50, n_samples=B)`` against DPPy
  ``FiniteDPP("likelihood", L_eig_dec=(w, U)).sample_exact_k_dpp(50, mode="GS")``.

Both get the same eigendecomposition, so the per-sample figures exclude the setup; the setup
(``numpy.linalg.eigh``, which both libraries call) is timed and printed on its own. Each
repeat times projkit then DPPy (interleaved); the figures are medians over repeats. Last, two
kernels on which DPPy fails and projkit does not (overflowing ESPs, float32 eigenvectors).

Run: ``python benchmarks/compare/dpp_vs_dppy.py`` (``--quick`` for smaller sizes). Needs
``pip install dppy``.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from projkit import sample_dpp, sample_projection_dpp


def _median_time(fn, repeats):
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts))


def _row(name, ours, peer, unit="ms/sample"):
    ratio = peer / ours if ours > 0 else float("inf")
    print(f"{name:<34} projkit {ours * 1e3:10.3f} {unit}   DPPy {peer * 1e3:10.3f} {unit}"
          f"   ratio {ratio:8.1f}x")


def bench_projection(N, r, batch, peer_batch, repeats):
    from dppy.finite_dpps import FiniteDPP

    rng = np.random.default_rng(0)
    t = time.perf_counter()
    V, _ = np.linalg.qr(rng.standard_normal((N, r)))
    setup = time.perf_counter() - t
    dpp = FiniteDPP("correlation", projection=True, K_eig_dec=(np.ones(r), V))
    rs = np.random.RandomState(0)
    sample_projection_dpp(V, n_samples=2, rng=0)  # compile / load the kernel cache
    dpp.sample_exact(mode="GS", random_state=rs)
    ours, peer = [], []
    for rep in range(repeats):  # interleaved
        t = time.perf_counter()
        S = sample_projection_dpp(V, n_samples=batch, rng=rep)
        ours.append((time.perf_counter() - t) / batch)
        assert all(len(set(row)) == r for row in S)
        t = time.perf_counter()
        for _ in range(peer_batch):
            dpp.sample_exact(mode="GS", random_state=rs)
        peer.append((time.perf_counter() - t) / peer_batch)
    print(f"setup (orthonormal basis by QR, shared): {setup:.3f} s")
    _row(f"projection DPP N={N} r={r}", float(np.median(ours)), float(np.median(peer)))
    return float(np.median(peer)) / float(np.median(ours))


def bench_k_dpp(N, k, batch, peer_batch, repeats):
    from dppy.finite_dpps import FiniteDPP

    rng = np.random.default_rng(1)
    X = rng.standard_normal((N, 3))
    sq = np.sum(X * X, axis=1)
    L = np.exp(-(sq[:, None] + sq[None, :] - 2 * X @ X.T) / 2.0)
    t = time.perf_counter()
    w, U = np.linalg.eigh(L)
    setup = time.perf_counter() - t
    w = np.clip(w, 0.0, None)  # DPPy rejects tiny negative eigenvalues; same input for both
    dpp = FiniteDPP("likelihood", L_eig_dec=(w, U))
    rs = np.random.RandomState(0)
    sample_dpp(eigen=(w, U), k=k, n_samples=2, rng=0)  # load both kernels (batch, serial)
    sample_dpp(eigen=(w, U), k=k, n_samples=1, rng=0)
    dpp.sample_exact_k_dpp(size=k, mode="GS", random_state=rs)
    t = time.perf_counter()
    sample_dpp(eigen=(w, U), k=k, n_samples=1, rng=0)
    ours_first = time.perf_counter() - t
    ours, peer = [], []
    for rep in range(repeats):
        t = time.perf_counter()
        S = sample_dpp(eigen=(w, U), k=k, n_samples=batch, rng=rep)
        ours.append((time.perf_counter() - t) / batch)
        assert S.shape == (batch, k)
        t = time.perf_counter()
        for _ in range(peer_batch):
            dpp.sample_exact_k_dpp(size=k, mode="GS", random_state=rs)
        peer.append((time.perf_counter() - t) / peer_batch)
    print(f"setup (eigh of L, N={N}, shared by both): {setup:.3f} s; projkit one-sample call "
          f"from eigen (incl. log-space ESP table): {ours_first * 1e3:.1f} ms")
    _row(f"k-DPP N={N} k={k}", float(np.median(ours)), float(np.median(peer)))
    return float(np.median(peer)) / float(np.median(ours))


def robustness():
    """Two kernels where DPPy fails (cf. DPPy issue #61): large eigenvalues make its
    elementary symmetric polynomials overflow ("probabilities do not sum to 1"), and a float32
    eigendecomposition is refused as not orthonormal."""
    from dppy.finite_dpps import FiniteDPP

    rng = np.random.default_rng(2)
    N, k = 784, 380
    X = rng.standard_normal((N, 392))
    cases = {}
    w, U = np.linalg.eigh(X @ X.T)
    cases[f"k-DPP N={N} k={k}, L = X X^T rank 392 (eig up to {w.max():.0f})"] = (w, U)
    w32, U32 = np.linalg.eigh((X @ X.T).astype(np.float32))
    cases[f"k-DPP N={N} k={k}, float32 eigendecomposition"] = (w32, U32)
    for name, (w, U) in cases.items():
        ok_ours = ok_peer = "ok"
        try:
            S = sample_dpp(eigen=(w, U), k=k, n_samples=5, rng=0)
            assert all(len(set(row)) == k for row in S)
        except Exception as exc:  # pragma: no cover - report only
            ok_ours = f"FAILED: {type(exc).__name__}: {exc}"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                dpp = FiniteDPP("likelihood", L_eig_dec=(np.clip(w, 0, None), U))
                for s in range(5):
                    out = dpp.sample_exact_k_dpp(size=k, mode="GS",
                                                 random_state=np.random.RandomState(s))
                    assert len(set(out)) == k
        except Exception as exc:
            ok_peer = f"FAILED ({type(exc).__name__}: {str(exc)[:60]})"
        print(f"robustness, {name}: projkit {ok_ours}; DPPy {ok_peer}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    import os
    import sys

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _common import one_thread

    sizes = ((2000, 50, 100, 3), (1000, 50, 200, 10)) if args.quick else \
        ((10_000, 100, 200, 3), (2000, 50, 500, 20))
    # the headline at the default threads, then the same cases with every pool on one thread
    for label, regime in (("default threads", None), ("one thread", one_thread)):
        print(f"-- {label}")
        with regime() if regime else warnings.catch_warnings():
            bench_projection(*sizes[0], args.repeats)
            bench_k_dpp(*sizes[1], args.repeats)
    robustness()


if __name__ == "__main__":
    main()
