"""asv benchmarks of the robust set-query pool behind KroneckerProjection's sketched mode.

One query: ``L`` sketched products ``S_j h`` (``L·b·N``), the coordinates' estimates
(``L·b·|C|``) and the private median over them. N = 4096 (= n² at n = 64), b = 128, L = 5.
"""

import numpy as np

from projkit.projectors._robust_query import RobustSetQuery

N, B, L, K = 4096, 128, 5, 8


class RobustQuery:
    params = ([1, 64, 4096], ["float32", "float64"])
    param_names = ["n_coords", "dtype"]
    timeout = 120

    def setup(self, n_coords, dtype):
        rng = np.random.default_rng(0)
        Q, _ = np.linalg.qr(rng.standard_normal((N, 64)))
        Q = Q.astype(dtype)
        self.rq = RobustSetQuery(N, sketch_size=B, n_sketches=K, per_query=L, dp_epsilon=4.0,
                                 max_queries=10**9, xp=np, dtype=dtype, rng=1)
        self.rq.refresh(lambda X: Q @ (Q.T @ X))
        self.h = rng.standard_normal(N).astype(dtype)
        self.coords = np.sort(rng.choice(N, size=n_coords, replace=False))

    def time_query(self, n_coords, dtype):
        self.rq.query(self.h, self.coords)

    def peakmem_query(self, n_coords, dtype):
        self.rq.query(self.h, self.coords)


class RobustRefresh:
    """One refresh: the block product P [R_1ᵀ … R_Kᵀ] (N × K·b) for a rank-64 projector."""

    params = (["float32", "float64"],)
    param_names = ["dtype"]
    timeout = 120

    def setup(self, dtype):
        rng = np.random.default_rng(0)
        Q, _ = np.linalg.qr(rng.standard_normal((N, 64)))
        self.Q = Q.astype(dtype)
        self.rq = RobustSetQuery(N, sketch_size=B, n_sketches=K, per_query=L, dp_epsilon=4.0,
                                 max_queries=10**9, xp=np, dtype=dtype, rng=1)

    def time_refresh(self, dtype):
        self.rq.refresh(lambda X: self.Q @ (self.Q.T @ X))
