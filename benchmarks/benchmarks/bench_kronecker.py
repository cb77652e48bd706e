"""asv benchmarks of projkit.KroneckerProjection: update, query and build, both forms."""

from __future__ import annotations

import numpy as np

import projkit


def _problem(n, m, seed=0):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, n * n)) / n
    G = rng.standard_normal((n, n))
    return rng, A, G @ G.T / n + np.eye(n)


class KroneckerUpdateQuery:
    """One rank-k update followed by one query (the per-iteration cost of an IPM step)."""

    params = ([(32, 200), (64, 500)], [1, 5], ["w_kron_i", "sqrt_kron_sqrt"],
              ["exact", "lazy"])
    param_names = ["n_m", "k", "form", "mode"]
    timeout = 300

    def setup(self, n_m, k, form, mode):
        n, m = n_m
        rng, A, W = _problem(n, m)
        self.kp = projkit.KroneckerProjection(A, W, form=form, mode=mode,
                                              eps=0.05 if mode == "lazy" else None)
        self.U, _ = np.linalg.qr(rng.standard_normal((n, k)))
        self.c = 0.05 * rng.uniform(-1, 1, k)
        self.h = rng.standard_normal(n * n)
        self.sign = 1.0

    def time_update_query(self, n_m, k, form, mode):
        # alternate +c and -c so that W stays where it started across asv's repeats
        self.kp.update(self.U, self.sign * self.c)
        self.sign = -self.sign
        self.kp.query(self.h)


class KroneckerSetQuery:
    """Sketched mode: a set query of ``c`` coordinates from the robust pool of query sketches,
    beside the full lazy answer it replaces (the pool is built in setup)."""

    params = ([(64, 500)], [16, 64], [1, 64])
    param_names = ["n_m", "sketch_size", "n_coords"]
    timeout = 300

    def setup(self, n_m, sketch_size, n_coords):
        n, m = n_m
        rng, A, W = _problem(n, m)
        self.kp = projkit.KroneckerProjection(A, W, mode="lazy", eps=0.2,
                                              sketch_size=sketch_size,
                                              robust={"per_query": 5, "n_sketches": 20,
                                                      "max_queries": 10**6},
                                              rng=0)
        self.h = rng.standard_normal(n * n)
        self.C = rng.choice(n * n, n_coords, replace=False)
        self.kp.query(self.h, self.C)                  # builds and sketches the pool

    def time_set_query(self, n_m, sketch_size, n_coords):
        self.kp.query(self.h, self.C)

    def time_full_lazy_query(self, n_m, sketch_size, n_coords):
        self.kp.query(self.h)


class KroneckerBuild:
    """Construction (B by the Kronecker identity, BBᵀ, Cholesky) and its peak memory."""

    params = ([(32, 200), (64, 500)], ["w_kron_i", "sqrt_kron_sqrt"])
    param_names = ["n_m", "form"]
    timeout = 300

    def setup(self, n_m, form):
        _, self.A, self.W = _problem(*n_m)

    def time_build(self, n_m, form):
        projkit.KroneckerProjection(self.A, self.W, form=form)

    def peakmem_build(self, n_m, form):
        projkit.KroneckerProjection(self.A, self.W, form=form)


class CholeskyUpdate:
    """projkit.cholesky_update (Numba) against refactoring with SciPy."""

    params = ([200, 1000], [1, 16])
    param_names = ["m", "k"]

    def setup(self, m, k):
        rng = np.random.default_rng(0)
        G = rng.standard_normal((m, m))
        self.M = G @ G.T / m + np.eye(m)
        self.L = np.linalg.cholesky(self.M)
        self.U = rng.standard_normal((m, k))
        projkit.cholesky_update(self.L[:3, :3], self.U[:3], 1)   # compile outside the timing

    def time_cholesky_update(self, m, k):
        projkit.cholesky_update(self.L, self.U, 1)

    def time_refactor(self, m, k):
        np.linalg.cholesky(self.M + self.U @ self.U.T)
