"""asv benchmarks of projkit.HouseholderProjector: apply, transpose, build U, complement, vjp."""

from __future__ import annotations

import numpy as np

import projkit


class HouseholderApply:
    """The rank-r projector of k = n reflectors applied to an r × 256 batch (the paper's use)."""

    params = ([1024, 4096], [16, 64], ["float32", "float64"])
    param_names = ["n", "rank", "dtype"]
    timeout = 300

    def setup(self, n, rank, dtype):
        P = projkit.HouseholderProjector.random(n, rank, rng=0, dtype=dtype)
        self.V, self.tau = P.vectors, P.tau
        self.P = projkit.HouseholderProjector(self.V, rank, tau=self.tau)
        g = np.random.default_rng(1)
        self.X = g.standard_normal((rank, 256)).astype(dtype)
        self.Y = g.standard_normal((n, 256)).astype(dtype)
        self.G = g.standard_normal((n, rank)).astype(dtype)
        self.P @ self.X  # build the cached WY block

    def time_apply(self, n, rank, dtype):
        self.P @ self.X

    def time_apply_transpose(self, n, rank, dtype):
        self.P.T @ self.Y

    def time_build_and_apply(self, n, rank, dtype):
        projkit.HouseholderProjector(self.V, rank, tau=self.tau) @ self.X

    def time_matrix(self, n, rank, dtype):
        projkit.HouseholderProjector(self.V, rank, tau=self.tau).matrix()

    def time_vjp(self, n, rank, dtype):
        self.P.vjp(self.G)

    def peakmem_build_and_apply(self, n, rank, dtype):
        projkit.HouseholderProjector(self.V, rank, tau=self.tau) @ self.X


class HouseholderComplement:
    """The complement Q[:, r:] needs all k reflectors: blocked WY over k = n."""

    params = ([1024, 2048], ["lapack", "full"])
    param_names = ["n", "convention"]
    timeout = 300

    def setup(self, n, convention):
        g = np.random.default_rng(0)
        V = g.standard_normal((n, n))
        self.C = projkit.HouseholderProjector(V, 64, convention=convention).orthogonal_complement
        self.Y = g.standard_normal((n, 256))

    def time_complement_transpose(self, n, convention):
        self.C.T @ self.Y
