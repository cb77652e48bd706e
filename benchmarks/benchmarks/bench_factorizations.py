"""asv benchmarks of the factorizations: rsvd (dense, sparse), range_finder, CUR, ID, Nyström,
pinv and the Projector apply."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

import projkit


def _decaying(n, dtype, seed=0):
    g = np.random.default_rng(seed)
    r = 200
    L = g.standard_normal((n, r)) * (0.97 ** np.arange(r))
    A = L @ g.standard_normal((r, n)) / np.sqrt(n) + 1e-3 * g.standard_normal((n, n))
    return A.astype(dtype)


class RSVDDense:
    params = ([1000, 2000], [20, 100], ["float32", "float64"])
    param_names = ["n", "rank", "dtype"]
    timeout = 300

    def setup(self, n, rank, dtype):
        self.A = _decaying(n, dtype)

    def time_rsvd(self, n, rank, dtype):
        projkit.rsvd(self.A, rank, n_iter=4, rng=0)

    def time_range_finder(self, n, rank, dtype):
        projkit.range_finder(self.A, rank + 10, n_iter=2, rng=0)

    def time_rsvd_srht(self, n, rank, dtype):
        projkit.rsvd(self.A, rank, n_iter=4, sketch="srht", rng=0)

    def time_rsvd_adaptive(self, n, rank, dtype):
        projkit.rsvd(self.A, rank, tol=0.1, rng=0)

    def peakmem_rsvd(self, n, rank, dtype):
        projkit.rsvd(self.A, rank, n_iter=4, rng=0)


class RSVDSparse:
    params = ([(20_000, 5_000), (100_000, 10_000)], ["float32", "float64"])
    param_names = ["shape", "dtype"]
    timeout = 600

    def setup(self, shape, dtype):
        self.S = sp.random(*shape, density=1e-3, format="csr", random_state=0, dtype=dtype)
        projkit.rsvd(self.S[:100], 5, rng=0)  # compile the Numba kernel outside the timing

    def time_rsvd(self, shape, dtype):
        projkit.rsvd(self.S, 50, n_iter=4, rng=0)

    def peakmem_rsvd(self, shape, dtype):
        projkit.rsvd(self.S, 50, n_iter=4, rng=0)


class CURAndID:
    params = ([1000, 2000], ["deim", "qr", "leverage"])
    param_names = ["n", "method"]
    timeout = 300

    def setup(self, n, method):
        self.A = _decaying(n, np.float64)

    def time_cur(self, n, method):
        projkit.cur(self.A, 50, method=method, rng=0)

    def time_interpolative(self, n, method):
        projkit.interpolative(self.A, 50, rng=0)


class NystromAndPinv:
    params = [1000, 2000]
    param_names = ["n"]
    timeout = 300

    def setup(self, n):
        self.A = _decaying(n, np.float64)
        self.S = self.A @ self.A.T
        self.T = self.A[:, : n // 4]

    def time_nystrom(self, n):
        projkit.nystrom(self.A, 50, rng=0)

    def time_nystrom_psd(self, n):
        projkit.nystrom_psd(self.S, 50, rng=0)

    def time_pinv_tall(self, n):
        projkit.pinv(self.T)


class ProjectorApply:
    params = ([4096, 16384], [16, 128])
    param_names = ["m", "k"]

    def setup(self, m, k):
        g = np.random.default_rng(0)
        self.F = g.standard_normal((m, k))
        self.B = g.standard_normal((m, k + 8))
        self.P = projkit.Projector(self.F, self.B)
        self.X = g.standard_normal((m, 64))

    def time_build(self, m, k):
        projkit.Projector(self.F, self.B)

    def time_apply(self, m, k):
        self.P @ self.X

    def time_apply_complement(self, m, k):
        self.P.complement() @ self.X

    def peakmem_apply(self, m, k):
        self.P @ self.X
