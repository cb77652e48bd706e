"""``python -m projkit warmup``: compile every Numba kernel once, after install.

Every kernel is ``@njit(cache=True)``: the first call in any process compiles it (seconds) and
writes it to Numba's on-disk cache beside the module (or under ``NUMBA_CACHE_DIR``); later
processes load it from there in milliseconds. :func:`warmup` makes those first calls on tiny
data, through the public functions, for the argument types users pass (float64 and float32,
dense and CSR), so that no user call pays the compilation.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp


def _steps() -> list[tuple[str, Callable[[], object]]]:
    import projkit
    from projkit.sketching.linear import LINEAR_METHODS

    rng = np.random.default_rng(0)
    steps: list[tuple[str, Callable[[], object]]] = []
    for dt in (np.float64, np.float32):
        D = rng.standard_normal((300, 8)).astype(dt)
        C = sp.random(300, 8, density=0.2, format="csr", rng=rng, dtype=dt)
        Cd = sp.random(300, 8, density=0.9, format="csr", rng=rng, dtype=dt)  # dense-ish CSR

        def sketches(D=D, C=C, Cd=Cd) -> None:
            for m in (*LINEAR_METHODS, "linf"):
                for X in (D, C, Cd):
                    projkit.sketch(X, 20, method=m, rng=1)
            for m in LINEAR_METHODS:
                op = projkit.sketch_operator(300, 20, method=m, rng=1, dtype=D.dtype)
                op.T @ np.ones((20, 3), dtype=D.dtype)
                if m in ("countsketch", "sparse_sign", "sparse"):
                    op.tosparse()
            for m in ("coordinated", "threshold"):
                projkit.sketch(D, 20, method=m, rng=1)
                projkit.sketch(C, 20, method=m, rng=1)

        def factorizations(D=D, C=C) -> None:
            A = rng.standard_normal((120, 60)).astype(D.dtype)
            projkit.rsvd(A, 5, rng=1)
            projkit.rsvd(sp.csr_matrix(A), 5, rng=1)
            for method in ("sparse", "zha-simon", "gkl", "randomized"):
                up = projkit.SVDUpdater(A[:60], 5, method=method, rng=1)
                up.add_rows(sp.csr_matrix(A[60:70])).add_rows(A[70:80])
                up.add_columns(sp.csr_matrix(rng.standard_normal((80, 4)).astype(D.dtype)))
                up.update(np.ones(80, dtype=D.dtype), np.ones(64, dtype=D.dtype))

        name = np.dtype(dt).name
        steps += [(f"sketches ({name})", sketches), (f"factorizations ({name})", factorizations)]

    def graphs() -> None:
        G = sp.random(200, 200, density=0.05, format="csr", rng=rng)
        G = G + G.T
        projkit.fastrp(G, 16, rng=1)
        projkit.fastrp(G, 16, rng=1, dtype=np.float64)

    def sampling() -> None:
        V = np.linalg.qr(rng.standard_normal((60, 5)))[0]
        projkit.sample_projection_dpp(V, n_samples=3, rng=1)
        K = V @ V.T * 0.9
        projkit.sample_dpp(K=K, n_samples=2, method="spectral", rng=1)
        projkit.sample_dpp(K=K, method="cholesky", rng=1)
        projkit.sample_dpp(L=K, k=3, n_samples=2, rng=1)
        projkit.volume_sample(rng.standard_normal((40, 6)), 3, rng=1)

    def projectors() -> None:
        for dt in (np.float64, np.float32):
            M = rng.standard_normal((30, 30))
            L = np.linalg.cholesky(M @ M.T + 30 * np.eye(30)).astype(dt)
            projkit.cholesky_update(L, rng.standard_normal((30, 2)).astype(dt))
            H = projkit.HouseholderProjector(rng.standard_normal((30, 4)).astype(dt), 4)
            H @ np.ones((4, 2), dtype=dt)
            H.T @ np.ones((30, 2), dtype=dt)
            projkit.HouseholderProjector(rng.standard_normal((30, 4)).astype(dt), 4,
                                         convention="full") @ np.ones((4, 2), dtype=dt)

    return [*steps, ("graphs", graphs), ("sampling", sampling), ("projectors", projectors)]


def warmup(verbose: bool = True) -> float:
    """Compile (or load from the cache) every Numba kernel; returns the seconds it took."""
    t_all = time.perf_counter()
    for name, fn in _steps():
        t0 = time.perf_counter()
        fn()
        if verbose:
            print(f"  {name:<28}{time.perf_counter() - t0:>8.2f} s", flush=True)
    total = time.perf_counter() - t_all
    if verbose:
        print(f"  {'total':<28}{total:>8.2f} s (a second run loads everything from the cache)")
    return total
