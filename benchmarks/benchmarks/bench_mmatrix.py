"""asv benchmarks of projkit's MTP2 estimator and its two projections."""

from __future__ import annotations

import numpy as np

import projkit


def _mtp2_data(p, ratio=10, seed=0):
    rng = np.random.default_rng(seed)
    A = np.triu(rng.random((p, p)) < 3.0 / (p - 1), 1)
    W = np.where(A, rng.uniform(2.0, 5.0, (p, p)), 0.0)
    W = W + W.T
    Theta = np.diag(W.sum(1) + rng.uniform(0.5, 1.5, p)) - W
    d = np.sqrt(np.diag(np.linalg.inv(Theta)))
    Theta = Theta * np.outer(d, d)
    X = rng.multivariate_normal(np.zeros(p), np.linalg.inv(Theta), size=ratio * p)
    return X, np.cov(X.T, bias=True)


class MTP2Fit:
    """The adaptive estimator (3 stages) and one weighted-l1 stage, on synthetic MTP2 data."""

    params = ([100, 200, 500], ["mmatrix", "dd_mmatrix"])
    param_names = ["p", "constraint"]
    timeout = 600

    def setup(self, p, constraint):
        self.X, self.S = _mtp2_data(p)
        self.alpha = 1.7 * np.sqrt(np.log(p) / self.X.shape[0])

    def time_adaptive_3_stages(self, p, constraint):
        projkit.MTP2Precision(alpha=self.alpha, stages=3, constraint=constraint).fit(self.X)

    def time_one_stage(self, p, constraint):
        projkit.mtp2_precision(self.S, self.alpha, stages=1, constraint=constraint)

    def peakmem_adaptive_3_stages(self, p, constraint):
        projkit.MTP2Precision(alpha=self.alpha, stages=3, constraint=constraint).fit(self.X)


class Projections:
    """project_mmatrix (a clip) and project_dd_mmatrix (projected Newton on the dual)."""

    params = [100, 500, 1000]
    param_names = ["p"]

    def setup(self, p):
        rng = np.random.default_rng(0)
        self.T = rng.standard_normal((p, p))

    def time_project_mmatrix(self, p):
        projkit.project_mmatrix(self.T)

    def time_project_dd_mmatrix(self, p):
        projkit.project_dd_mmatrix(self.T)

    def peakmem_project_dd_mmatrix(self, p):
        projkit.project_dd_mmatrix(self.T)
