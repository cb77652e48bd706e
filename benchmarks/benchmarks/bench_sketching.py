"""asv benchmarks of the linear sketches: time and peak memory, float32/float64, dense/sparse.

Run from ``benchmarks/``: ``asv run --quick`` (or ``asv dev`` against the working tree).
"""

import numpy as np
import scipy.sparse as sp

import projkit

METHODS = ["gaussian", "srht", "countsketch", "sparse_sign", "sparse"]


class DenseSketch:
    params = (METHODS, ["float32", "float64"])
    param_names = ["method", "dtype"]

    def setup(self, method, dtype):
        self.A = np.random.default_rng(0).standard_normal((1 << 14, 256)).astype(dtype)
        projkit.sketch(self.A[:64], 32, method=method, rng=1)  # compile / load the kernels

    def time_sketch(self, method, dtype):
        projkit.sketch(self.A, 512, method=method, rng=1)

    def peakmem_sketch(self, method, dtype):
        projkit.sketch(self.A, 512, method=method, rng=1)


class SparseSketch:
    params = (["countsketch", "sparse_sign", "sparse", "gaussian"], ["float32", "float64"])
    param_names = ["method", "dtype"]

    def setup(self, method, dtype):
        rng = np.random.default_rng(0)
        self.A = sp.random(200_000, 20_000, density=1e-3, format="csr", rng=rng, dtype=dtype)
        projkit.sketch(self.A[:64], 32, method=method, rng=1)

    def time_sketch(self, method, dtype):
        projkit.sketch(self.A, 256, method=method, rng=1)

    def peakmem_sketch(self, method, dtype):
        projkit.sketch(self.A, 256, method=method, rng=1)


class SRHTvsGaussian:
    """The issue's O(nd log n) check: dense 2^16 x 512 float64 to 2048 rows."""

    params = (["srht", "gaussian"],)
    param_names = ["method"]
    timeout = 300

    def setup(self, method):
        self.A = np.random.default_rng(0).standard_normal((1 << 16, 512))
        projkit.sketch(self.A[:64], 32, method=method, rng=1)

    def time_sketch(self, method):
        projkit.sketch(self.A, 2048, method=method, rng=1)
