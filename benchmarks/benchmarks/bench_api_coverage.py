"""asv benchmarks of the public hot paths no other file times (issue 19): the scikit-learn
estimators (FastRP.transform, MTP2Precision at its default alpha, MTP2PrecisionCV), products
and merges of sketches, the sketch operator, sketch-and-solve least squares, the
meta-factorization and the feature maps of weighted least squares."""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp

import projkit


def _mtp2_samples(p, n, seed=0):
    rng = np.random.default_rng(seed)
    A = np.triu(rng.random((p, p)) < 3.0 / (p - 1), 1)
    W = np.where(A, rng.uniform(2.0, 5.0, (p, p)), 0.0)
    W = W + W.T
    Theta = np.diag(W.sum(1) + rng.uniform(0.5, 1.5, p)) - W
    return rng.multivariate_normal(np.zeros(p), np.linalg.inv(Theta), size=n)


class FastRPTransform:
    """Embedding new nodes from their edges to a fitted 20 000-node graph."""

    params = ([100, 2_000],)
    param_names = ["new_nodes"]

    def setup(self, m):
        g = np.random.default_rng(0)
        n = 20_000
        S = sp.random(n, n, density=10 / n, format="csr", rng=g)
        S = ((S + S.T) > 0).astype(np.float32)
        self.model = projkit.FastRP(128, rng=0).fit(S)
        self.X = sp.random(m, n, density=10 / n, format="csr", rng=g)

    def time_transform(self, m):
        self.model.transform(self.X)


class MTP2Estimators:
    """MTP2Precision at alpha="auto" and MTP2PrecisionCV (3 folds, 4 x 1 grid), n = 5p."""

    params = ([30, 60],)
    param_names = ["p"]
    timeout = 300

    def setup(self, p):
        self.X = _mtp2_samples(p, 5 * p)

    def time_mtp2_auto(self, p):
        projkit.MTP2Precision().fit(self.X)

    def time_mtp2_cv(self, p):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            projkit.MTP2PrecisionCV(alphas=4, n_refinements=1, cv=3).fit(self.X)


class SketchProducts:
    """approx_matmul and merge_sketches on a 20 000 x 64 dense pair, sketch size 512."""

    params = (["gaussian", "countsketch", "coordinated"],)
    param_names = ["method"]

    def setup(self, method):
        g = np.random.default_rng(0)
        self.A = g.standard_normal((20_000, 64))
        self.B = g.standard_normal((20_000, 64))
        self.sa = projkit.sketch(self.A, 512, method=method, rng=1)
        self.sb = projkit.sketch(self.B, 512, method=method, rng=1)
        n = self.A.shape[0]
        self.blocks = [projkit.sketch(self.A[i:i + n // 4], 512, method=method, rng=1,
                                      offset=i, n_total=n)
                       for i in range(0, n, n // 4)]

    def time_approx_matmul(self, method):
        projkit.approx_matmul(self.sa, self.sb)

    def time_merge_sketches(self, method):
        projkit.merge_sketches(self.blocks)


class SketchOperatorApply:
    """The operator S of sketch_operator applied to a 50 000 x 128 block."""

    params = (["gaussian", "srht", "sparse_sign"],)
    param_names = ["method"]

    def setup(self, method):
        self.A = np.random.default_rng(0).standard_normal((50_000, 128))
        self.S = projkit.sketch_operator(50_000, 512, method=method, rng=0)

    def time_apply(self, method):
        self.S @ self.A


class SketchLstsq:
    """Sketch-and-solve least squares (the dense l-infinity sketch) on 5 000 x 30."""

    def setup(self):
        g = np.random.default_rng(0)
        self.A = g.standard_normal((5_000, 30))
        self.b = self.A @ g.standard_normal(30) + 0.1 * g.standard_normal(5_000)

    def time_sketch_lstsq(self):
        projkit.sketch_lstsq(self.A, self.b, rng=0)


class MetaFactorize:
    """meta_factorize with sketched bases (generalized Nystrom's) of a 2 000 x 1 000 matrix."""

    def setup(self):
        g = np.random.default_rng(0)
        self.A = g.standard_normal((2_000, 50)) @ g.standard_normal((50, 1_000))
        self.F = self.A @ g.standard_normal((1_000, 60))
        self.H = self.A.T @ g.standard_normal((2_000, 80))

    def time_meta_factorize(self):
        projkit.meta_factorize(self.A, self.F, self.H)


class FeatureMaps:
    """legendre_features and trigonometric_features on 100 000 points, dimension 64."""

    params = (["legendre", "trigonometric"],)
    param_names = ["basis"]

    def setup(self, basis):
        self.x = np.random.default_rng(0).uniform(-1, 1, 100_000)
        self.f = (projkit.legendre_features if basis == "legendre"
                  else projkit.trigonometric_features)

    def time_features(self, basis):
        self.f(self.x, 64)
