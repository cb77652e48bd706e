"""asv benchmarks of projkit.fastrp: random graphs of growing size, dims, dtypes."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

import projkit


def _graph(n, avg_degree, seed=0):
    g = np.random.default_rng(seed)
    m = n * avg_degree // 2
    i = g.integers(0, n, size=m)
    j = g.integers(0, n, size=m)
    S = sp.coo_matrix((np.ones(m, dtype=np.float32), (i, j)), shape=(n, n)).tocsr()
    S = (S + S.T).tocsr()
    S.data[:] = 1.0
    return S


class FastRPRandomGraph:
    """Embedding time and peak memory on an Erdos-Renyi-like graph (average degree 20)."""

    params = ([10_000, 100_000], [128, 512], ["float32", "float64"])
    param_names = ["n", "dim", "dtype"]
    timeout = 300

    def setup(self, n, dim, dtype):
        self.S = _graph(n, 20)
        projkit.fastrp(_graph(50, 4), 8, rng=0, dtype=dtype)  # load the compiled kernels

    def time_fastrp(self, n, dim, dtype):
        projkit.fastrp(self.S, dim, rng=0, dtype=dtype)

    def peakmem_fastrp(self, n, dim, dtype):
        projkit.fastrp(self.S, dim, rng=0, dtype=dtype)


class FastRPOptions:
    """The cost of the options: self influence, features, raw adjacency, no normalization."""

    params = ["plain", "self_influence", "features", "adjacency", "unnormalized"]
    param_names = ["variant"]

    def setup(self, variant):
        n = 20_000
        self.S = _graph(n, 20)
        self.kw = {
            "plain": {},
            "self_influence": {"self_influence": 1.0},
            "features": {"features": np.random.default_rng(0).random((n, 16)),
                         "feature_ratio": 0.25},
            "adjacency": {"transition": False},
            "unnormalized": {"normalize": False},
        }[variant]
        projkit.fastrp(_graph(50, 4), 8, rng=0)

    def time_fastrp(self, variant):
        projkit.fastrp(self.S, 256, rng=0, **self.kw)
