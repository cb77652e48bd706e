"""``python -m projkit info | demo | bench | warmup``.

``info`` prints versions and the backends found; ``demo`` is a short tour on built-in data
(generated here, no downloads; the Classic3 term–document matrix too when ``../shared/data`` or
``$PROJKIT_DATA`` holds it); ``bench`` times the sketches on this machine; ``warmup`` compiles
every Numba kernel once (run it after install, so that no first call pays the compilation).
"""

from __future__ import annotations

import argparse
import functools
import importlib
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import scipy.sparse as sp

import projkit
from projkit.sketching.linear import LINEAR_METHODS


def _version(mod: str) -> str:
    try:
        return str(importlib.import_module(mod).__version__)
    except Exception:
        return "not installed"


def info() -> None:
    """Print versions, CPU threads and whether a CUDA device is usable through CuPy."""
    print(f"projkit {projkit.__version__} on Python {platform.python_version()} "
          f"({platform.machine()}, {os.cpu_count()} CPUs)")
    for mod in ("numpy", "scipy", "numba", "array_api_compat", "cupy", "torch", "dask"):
        print(f"  {mod:<17}{_version(mod)}")
    gpu = "none"
    try:
        import cupy

        n = cupy.cuda.runtime.getDeviceCount()
        if n:
            props = cupy.cuda.runtime.getDeviceProperties(0)
            gpu = f"{n} device(s), first: {props['name'].decode()}"
    except Exception:
        pass
    print(f"  GPU (CuPy)       {gpu}")


_T = TypeVar("_T")


def _timed(fn: Callable[[], _T], repeat: int = 3) -> tuple[_T, float]:
    fn()  # warm (Numba compiles on first use, cached on disk afterwards)
    best = np.inf
    out: Any = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return out, best


def _power_law_matrix(n: int, d: int, nnz_per_row: int, seed: int = 0) -> sp.csr_matrix:
    """A term–document-like sparse matrix: Zipf column popularity, Poisson counts."""
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, d + 1) ** 1.1
    p /= p.sum()
    cols = rng.choice(d, size=n * nnz_per_row, p=p)
    rows = np.repeat(np.arange(n), nnz_per_row)
    vals = 1.0 + rng.poisson(1.0, size=rows.size)
    A = sp.csr_matrix((vals, (rows, cols)), shape=(n, d))
    A.sum_duplicates()
    return A


def _classic3() -> tuple[sp.csr_matrix, str] | None:
    root = os.environ.get("PROJKIT_DATA")
    cands = [Path(root)] if root else []
    cands += [Path.cwd().parent / "shared" / "data", Path(__file__).resolve().parents[2] /
              "shared" / "data"]
    for d in cands:
        f = d / "classic3.mat"
        if f.is_file():
            from scipy.io import loadmat

            return sp.csr_matrix(loadmat(f)["A"], dtype=np.float64), str(f)
    return None


def _sketch_pair(A: Any, B: Any, size: int, method: str) -> tuple[Any, Any]:
    return (projkit.sketch(A, size, method=method, rng=1),
            projkit.sketch(B, size, method=method, rng=1))


def demo_sketching() -> None:
    print("\n== Sketching A.T @ B from two sketches ==")
    datasets = [("generated power-law 20000 x 2000, 20 nnz/row", _power_law_matrix(20000, 2000,
                                                                                   20))]
    c3 = _classic3()
    if c3 is not None:
        datasets.append((f"Classic3 term-document {c3[0].shape[0]} x {c3[0].shape[1]}", c3[0]))
    for name, A in datasets:
        n = A.shape[0]
        B = A[:, :50]
        exact = (A.T @ B).toarray()
        scale = sp.linalg.norm(A) * sp.linalg.norm(B)
        print(f"{name}, nnz={A.nnz}; error = ||W - A^T B||_F / (||A||_F ||B||_F)")
        print(f"  {'method':<13}{'size':>6}{'rel. error':>12}{'time (ms)':>11}")
        size = min(500, n // 4)
        for method in LINEAR_METHODS:
            (sa, sb), t = _timed(functools.partial(_sketch_pair, A, B, size, method))
            err = np.linalg.norm(projkit.approx_matmul(sa, sb) - exact) / scale
            print(f"  {method:<13}{size:>6}{err:>12.4f}{1e3 * t:>11.1f}")


def _header(title: str) -> None:
    print(f"\n== {title} ==")


def demo_factorizations() -> None:
    _header("Randomized SVD, CUR and Nystrom on a matrix with a decaying spectrum")
    rng = np.random.default_rng(0)
    m, n, k = 2000, 600, 20
    U, _ = np.linalg.qr(rng.standard_normal((m, n)))
    V, _ = np.linalg.qr(rng.standard_normal((n, n)))
    A = (U * (0.8 ** np.arange(n))) @ V.T
    s = np.linalg.svd(A, compute_uv=False)
    opt = np.sqrt(np.sum(s[k:] ** 2))
    res, t = _timed(lambda: projkit.rsvd(A, k, rng=0))
    print(f"  rank {k}: optimal error {opt:.3e}")
    print(f"  rsvd          error {np.linalg.norm(A - res.to_dense()):.3e}  ({1e3 * t:.1f} ms)")
    c, t = _timed(lambda: projkit.cur(A, k, rng=0))
    print(f"  cur (DEIM)    error {np.linalg.norm(A - c.to_dense()):.3e}  ({1e3 * t:.1f} ms)")
    ny, t = _timed(lambda: projkit.nystrom(A, k, rng=0))
    print(f"  nystrom       error {np.linalg.norm(A - ny.to_dense()):.3e}  ({1e3 * t:.1f} ms)")
    B = rng.standard_normal((300, 40)) @ rng.standard_normal((40, 200))
    print(f"  pinv of a rank-40 300x200 matrix: max |pinv - numpy.linalg.pinv| = "
          f"{np.abs(projkit.pinv(B) - np.linalg.pinv(B)).max():.1e}")


def demo_svd_update() -> None:
    _header("Truncated SVD of a growing sparse matrix (SVDUpdater, rank 16)")
    A = _power_law_matrix(6000, 1500, 15, seed=3)
    half = A.shape[0] // 2
    # warm-up on a small slice: compiles the Numba kernels (seconds on a first run, cached on
    # disk afterwards), so the timing below is the update's own
    projkit.SVDUpdater(A[:300], 16, rng=0).add_rows(A[300:400])
    t0 = time.perf_counter()
    up = projkit.SVDUpdater(A[:half], 16, rng=0)
    for b in np.array_split(np.arange(half, A.shape[0]), 10):
        up.add_rows(A[b])
    t = time.perf_counter() - t0
    err = sp.linalg.norm(A - sp.csr_matrix(up.svd.to_dense())) / sp.linalg.norm(A)
    s_opt = sp.linalg.svds(A, k=16, random_state=0)[1]
    opt = np.sqrt(max(sp.linalg.norm(A) ** 2 - np.sum(s_opt**2), 0)) / sp.linalg.norm(A)
    print(f"  10 row batches onto half of a {A.shape[0]}x{A.shape[1]} matrix: {t:.2f} s "
          "(after a warm-up), "
          f"relative error {err:.4f} (optimal rank-16: {opt:.4f})")


def demo_fastrp() -> None:
    _header("FastRP node embeddings of a generated 4-community graph")
    rng = np.random.default_rng(0)
    n, blocks = 2000, 4
    labels = np.repeat(np.arange(blocks), n // blocks)
    i, j = rng.integers(0, n, 60_000), rng.integers(0, n, 60_000)
    keep = (labels[i] == labels[j]) | (rng.random(i.size) < 0.1)
    G = sp.coo_matrix((np.ones(keep.sum()), (i[keep], j[keep])), shape=(n, n)).tocsr()
    G = ((G + G.T) > 0).astype(float)
    emb, t = _timed(lambda: projkit.fastrp(G, 64, rng=0), repeat=1)
    cent = np.array([emb[labels == c].mean(0) for c in range(blocks)])
    acc = np.mean(np.argmax(emb @ cent.T, axis=1) == labels)
    print(f"  {n} nodes, {G.nnz // 2} edges, dim 64: {1e3 * t:.1f} ms; nearest-centroid "
          f"community accuracy {acc:.3f}")


def demo_sampling() -> None:
    _header("DPP-weighted least squares (Legendre space of dimension 10)")
    from projkit.sampling.wls import legendre_features

    def f(x):
        return np.exp(x) * np.sin(3 * x)

    grid = np.linspace(-1, 1, 4001)
    for scheme, n_s in (("iid_optimal", 10), ("iid_optimal", 20), ("projection_dpp", 10),
                        ("volume", 12), ("repeated_dpp", 20)):
        errs = []
        for seed in range(20):
            fit = projkit.dpp_lstsq(f, legendre_features, 10, n_samples=n_s, scheme=scheme,
                                    candidates=grid, rng=seed)
            errs.append(np.sqrt(np.mean((legendre_features(grid, 10) @ fit.coefficients
                                         - f(grid)) ** 2)))
        print(f"  {scheme:<15} {n_s:>2} samples: median L2 error {np.median(errs):.2e}, "
              f"worst of 20 {np.max(errs):.2e}")


def demo_projectors() -> None:
    _header("Householder projector and Kronecker projection maintenance")
    H = projkit.HouseholderProjector.random(1024, 32, rng=0)
    X = np.random.default_rng(1).standard_normal((32, 256))
    Y, t = _timed(lambda: H @ X)
    U = H.matrix()
    print(f"  rank-32 projector in R^1024 (k = 1024 reflectors): ||U^T U - I|| = "
          f"{np.linalg.norm(U.T @ U - np.eye(32)):.1e}, apply to 32x256 in {1e3 * t:.2f} ms")
    rng = np.random.default_rng(2)
    n, m = 12, 40
    A = rng.standard_normal((m, n * n))
    W0 = rng.standard_normal((n, n))
    W = W0 @ W0.T + n * np.eye(n)
    kp = projkit.KroneckerProjection(A, W)
    for _ in range(5):
        u = rng.standard_normal((n, 2))
        kp.update(u, np.full(2, 0.5))
        W = W + 0.5 * u @ u.T
    h = rng.standard_normal(n * n)
    B = A @ np.kron(W, np.eye(n))
    exact = B.T @ np.linalg.solve(B @ B.T, B @ h)
    print(f"  KroneckerProjection after 5 rank-2 updates: relative query error "
          f"{np.linalg.norm(kp.query(h) - exact) / np.linalg.norm(exact):.1e}")
    lazy = projkit.KroneckerProjection(A, kp.W, mode="lazy", eps=0.2, sketch_size=64,
                                       rng=0)
    u = rng.standard_normal((n, 1))
    lazy.update(u / np.linalg.norm(u), np.array([1.0]))      # small: absorbed lazily
    W = lazy.W
    B = A @ np.kron(W, np.eye(n))
    exact = B.T @ np.linalg.solve(B @ B.T, B @ h)
    C = np.arange(6)
    est = lazy.query(h, C)
    print(f"  sketched (lazy) mode, eps = 0.2: certified error {lazy.error_bound:.3f}, "
          f"measured {np.linalg.norm(lazy.query(h) - exact) / np.linalg.norm(h):.1e} (x ||h||); "
          f"robust set query of 6 coordinates: max error "
          f"{np.max(np.abs(est - exact[C])) / np.linalg.norm(h):.2f} x ||h||")


def demo_optim() -> None:
    _header("MTP2 graphical model and gradient low-rank projectors")
    rng = np.random.default_rng(0)
    p = 30
    Theta = np.zeros((p, p))
    for a in range(p - 1):  # a chain graph: an M-matrix precision
        Theta[a, a + 1] = Theta[a + 1, a] = -0.4
    Theta += np.eye(p)
    X = rng.multivariate_normal(np.zeros(p), np.linalg.inv(Theta), size=600)
    est = projkit.MTP2Precision(alpha=0.1).fit(X)
    found = np.abs(np.triu(est.precision_, 1)) > 1e-4
    true = np.abs(np.triu(Theta, 1)) > 0
    prec = (found & true).sum() / max(found.sum(), 1)
    rec = (found & true).sum() / true.sum()
    print(f"  MTP2Precision on a 30-node chain, 600 samples: edge precision {prec:.2f}, "
          f"recall {rec:.2f}")
    G = rng.standard_normal((512, 32)) @ rng.standard_normal((32, 512)) + 0.1 * \
        rng.standard_normal((512, 512))
    G = G.astype(np.float32)
    for method in ("svd", "rsvd", "dct"):
        gp = projkit.GradientProjector(32, method=method, rng=0)
        R, t = _timed(functools.partial(gp.project, G, 0), repeat=1)
        energy = float(np.linalg.norm(R) ** 2 / np.linalg.norm(G) ** 2)
        print(f"  GradientProjector({method!r:<6}) 512x512 -> rank 32: captured energy "
              f"{energy:.3f}, refresh {1e3 * t:.1f} ms")


_SECTIONS: list[Callable[[], None]] = [demo_sketching, demo_factorizations, demo_svd_update,
                                       demo_fastrp, demo_sampling, demo_projectors, demo_optim]


def demo() -> None:
    """A tour of projkit on built-in data."""
    info()
    print("\nEvery timing is taken after a warm-up call, so none includes Numba's compilation "
          "(which a first run pays once; the compiled kernels are cached on disk).")
    for section in _SECTIONS:
        section()


def bench() -> None:
    """Time each linear sketch on a dense and a sparse matrix."""
    rng = np.random.default_rng(0)
    dense = rng.standard_normal((1 << 14, 256))
    sparse = sp.random(100_000, 10_000, density=1e-3, format="csr", rng=rng)
    print(f"{'method':<13}{'dense 16384x256 -> 512 (ms)':>30}{'CSR 1e5x1e4 0.1% -> 256 (ms)':>32}")
    for method in LINEAR_METHODS:
        _, td = _timed(functools.partial(projkit.sketch, dense, 512, method=method, rng=1))
        _, ts = _timed(functools.partial(projkit.sketch, sparse, 256, method=method, rng=1))
        print(f"{method:<13}{1e3 * td:>30.1f}{1e3 * ts:>32.1f}")


def warmup() -> None:
    """Compile every Numba kernel once (cached on disk for every later process)."""
    from projkit._warmup import warmup as _warmup

    print("compiling projkit's Numba kernels (cached on disk afterwards):")
    _warmup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m projkit", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["info", "demo", "bench", "warmup"], nargs="?",
                        default="demo")
    args = parser.parse_args(argv)
    try:
        {"info": info, "demo": demo, "bench": bench, "warmup": warmup}[args.command]()
        sys.stdout.flush()
    except BrokenPipeError:
        # the reader went away (``python -m projkit info | head -2``): stop quietly. Python
        # would flush stdout again at exit and fail once more, so point it at devnull first
        # (the recipe of the signal module's documentation, "Note on SIGPIPE").
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
