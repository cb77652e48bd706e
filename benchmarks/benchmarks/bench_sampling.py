"""asv benchmarks of projkit.sampling: batched projection DPP, k-DPP / DPP (spectral and
Poulson), volume sampling and DPP-weighted least squares."""

from __future__ import annotations

import numpy as np

import projkit


def _orth(N, r, seed=0):
    return np.linalg.qr(np.random.default_rng(seed).standard_normal((N, r)))[0]


class ProjectionDPP:
    params = ([(2000, 50), (10_000, 100)], [1, 100])
    param_names = ["N_r", "n_samples"]
    timeout = 300

    def setup(self, N_r, n_samples):
        self.V = _orth(*N_r)
        projkit.sample_projection_dpp(self.V, n_samples=2, rng=0)  # load the kernel cache
        projkit.sample_projection_dpp(self.V, n_samples=1, rng=0)

    def time_sample(self, N_r, n_samples):
        projkit.sample_projection_dpp(self.V, n_samples=n_samples, rng=1)

    def peakmem_sample(self, N_r, n_samples):
        projkit.sample_projection_dpp(self.V, n_samples=n_samples, rng=1)


class KDPP:
    params = ([500, 2000], [10, 50])
    param_names = ["N", "k"]
    timeout = 300

    def setup(self, N, k):
        X = np.random.default_rng(1).standard_normal((N, 3))
        sq = np.sum(X * X, axis=1)
        self.L = np.exp(-(sq[:, None] + sq[None, :] - 2 * X @ X.T) / 2.0)
        self.eig = np.linalg.eigh(self.L)
        projkit.sample_dpp(eigen=self.eig, k=k, n_samples=2, rng=0)

    def time_k_dpp_100_from_eigen(self, N, k):
        projkit.sample_dpp(eigen=self.eig, k=k, n_samples=100, rng=1)

    def time_setup_eigh(self, N, k):
        np.linalg.eigh(self.L)


class GeneralDPP:
    params = ([300, 1000], ["spectral", "cholesky"])
    param_names = ["N", "method"]
    timeout = 300

    def setup(self, N, method):
        U = _orth(N, N, 2)
        self.K = (U * np.random.default_rng(3).uniform(0, 1, N)) @ U.T
        projkit.sample_dpp(K=self.K[:20, :20] * 0 + np.eye(20) * 0.5, method=method, rng=0)

    def time_one_sample(self, N, method):
        projkit.sample_dpp(K=self.K, method=method, rng=1)


class Volume:
    params = ([(5000, 20)], [20, 60])
    param_names = ["N_d", "k"]
    timeout = 300

    def setup(self, N_d, k):
        self.X = np.random.default_rng(4).standard_normal(N_d)
        self.q = np.full(N_d[0], 1.0 / N_d[0])
        projkit.volume_sample(self.X, k, n_samples=2, rng=0)

    def time_volume_100(self, N_d, k):
        projkit.volume_sample(self.X, k, n_samples=100, rng=1)

    def time_rescaled_100(self, N_d, k):
        projkit.volume_sample(self.X, k, q=self.q, n_samples=100, rng=1)


class DPPLstsq:
    params = (["projection_dpp", "volume", "repeated_dpp", "iid_optimal"],)
    param_names = ["scheme"]
    timeout = 300

    def setup(self, scheme):
        self.n = None if scheme == "projection_dpp" else 60
        projkit.dpp_lstsq(np.exp, "legendre", 20, n_samples=self.n, scheme=scheme, rng=0)

    def time_lstsq_m20(self, scheme):
        projkit.dpp_lstsq(np.exp, "legendre", 20, n_samples=self.n, scheme=scheme, rng=1)
