"""asv benchmarks of issue #18's paths, at the default threads (what users get).

The paths of ``benchmarks/compare/as_users_run.py``: the Gaussian sketch against NumPy draw +
GEMM and the GEMM alone, ``SVDUpdater.add_rows`` (sparse updates against Zha–Simon),
CountSketch against SciPy, the sparse result (``dense_output=False``), the cost of entering
``serial_blas``, ``ProjectedAdam.step`` against Adam's, and the first calls in a fresh
process (``timeraw_``: asv runs the returned code in a new interpreter).
"""

import math

import numpy as np
import scipy.sparse as sp

import projkit


class GaussianSketch:
    """Dense 2^16 x 512 float64 to 2048 rows (the issue's case)."""

    timeout = 300

    def setup(self):
        self.X = np.random.default_rng(0).standard_normal((1 << 16, 512))
        self.G = np.random.default_rng(1).standard_normal((2048, 1 << 16))
        projkit.sketch(self.X[:4096], 2048, method="gaussian", rng=1)

    def time_projkit(self):
        projkit.sketch(self.X, 2048, method="gaussian", rng=1)

    def time_numpy_draw_gemm(self):
        (np.random.default_rng(1).standard_normal((2048, 1 << 16)) @ self.X) / math.sqrt(2048)

    def time_gemm_alone(self):
        self.G @ self.X


class SVDUpdaterRows:
    """Classic3-like term-document CSR (3891 x 4303, ~45 nnz per row), k = 64, 50 % then 10
    row batches."""

    params = (["sparse", "zha-simon"],)
    param_names = ["method"]
    timeout = 300

    def setup(self, method):
        rng = np.random.default_rng(0)
        n, d = 3891, 4303
        p = 1.0 / np.arange(1, d + 1) ** 1.1
        cols = rng.choice(d, size=n * 45, p=p / p.sum())
        A = sp.csr_matrix((1.0 + rng.poisson(1.0, n * 45), (np.repeat(np.arange(n), 45), cols)),
                          shape=(n, d))
        A.sum_duplicates()
        half = n // 2
        self.init = projkit.rsvd(A[:half], 64, rng=0)
        edges = np.linspace(half, n, 11).round().astype(int)
        self.pieces = [A[a:b] for a, b in zip(edges[:-1], edges[1:], strict=True)]
        self.run(method)

    def run(self, method):
        s = self.init
        up = projkit.SVDUpdater.from_factors(s.U, s.s, s.Vt, method=method, rng=0)
        for E in self.pieces:
            up.add_rows(E)

    def time_add_rows(self, method):
        self.run(method)


class CountSketchVsScipy:
    timeout = 300

    def setup(self):
        self.A = sp.random(200_000, 20_000, density=1e-3, format="csr",
                           rng=np.random.default_rng(0))
        projkit.sketch(self.A[:1000], 256, method="countsketch", rng=1)

    def time_projkit(self):
        projkit.sketch(self.A, 256, method="countsketch", rng=1)

    def time_scipy(self):
        from scipy.linalg import clarkson_woodruff_transform

        clarkson_woodruff_transform(self.A, 256, rng=1)


class SparseOutput:
    """``method="sparse"`` of a 200 000 x 20 000 CSR: dense against CSR result."""

    params = ([256, 4096], [True, False])
    param_names = ["size", "dense_output"]
    timeout = 300

    def setup(self, size, dense_output):
        self.A = sp.random(200_000, 20_000, density=1e-3, format="csr",
                           rng=np.random.default_rng(0))
        projkit.sketch(self.A[:1000], 256, method="sparse", rng=1)

    def time_sketch(self, size, dense_output):
        projkit.sketch(self.A, size, method="sparse", rng=1, dense_output=dense_output)

    def peakmem_sketch(self, size, dense_output):
        projkit.sketch(self.A, size, method="sparse", rng=1, dense_output=dense_output)


class SerialBlas:
    def setup(self):
        from projkit._backend.threads import serial_blas

        self.ctx = serial_blas
        with serial_blas(np):
            pass

    def time_enter_exit_1000(self):
        for _ in range(1000):
            with self.ctx(np):
                pass


class ProjectedAdamStep:
    """Mean ``step()`` of ProjectedAdam (rank 64) and Adam on a 784-512-512-10 MLP."""

    params = (["projected", "adam"],)
    param_names = ["optimizer"]

    def setup(self, optimizer):
        try:
            import torch
        except ImportError:
            raise NotImplementedError("torch is not installed") from None
        from projkit.interop.torch import ProjectedAdam

        torch.manual_seed(0)
        self.net = torch.nn.Sequential(torch.nn.Linear(784, 512), torch.nn.ReLU(),
                                       torch.nn.Linear(512, 512), torch.nn.ReLU(),
                                       torch.nn.Linear(512, 10))
        x, y = torch.randn(128, 784), torch.randint(0, 10, (128,))
        torch.nn.functional.cross_entropy(self.net(x), y).backward()
        self.opt = (ProjectedAdam(self.net.parameters(), lr=1e-3, rank=64, rng=0)
                    if optimizer == "projected" else torch.optim.Adam(self.net.parameters()))
        self.opt.step()  # the first step computes the bases (GaLore: every 200 steps)

    def time_step(self, optimizer):
        self.opt.step()


class ProjectedAdamRefresh(ProjectedAdamStep):
    """A ``step()`` that refreshes every basis (``update_gap=1``: the SVDs of the two 512-row
    layers side by side, then the step); Adam's step beside it."""

    def setup(self, optimizer):
        super().setup(optimizer)
        if optimizer == "projected":
            from projkit.interop.torch import ProjectedAdam

            self.opt = ProjectedAdam(self.net.parameters(), lr=1e-3, rank=64, update_gap=1,
                                     rng=0)
            self.opt.step()


_FRESH = """
import numpy as np, scipy.sparse as sp
rng = np.random.default_rng(0)
A = rng.standard_normal((4000, 200))
C = sp.random(4000, 300, density=0.01, format="csr", rng=rng)
"""


class FirstCall:
    """A fresh interpreter: ``import projkit`` and each first call (kernels from the cache)."""

    def timeraw_import(self):
        return "import projkit"

    def timeraw_first_sketch(self):
        return _FRESH + "import projkit\nprojkit.sketch(A, 100, method='gaussian', rng=1)"

    def timeraw_first_rsvd(self):
        return _FRESH + "import projkit\nprojkit.rsvd(A, 10, rng=1)"

    def timeraw_first_svd_updater(self):
        return _FRESH + ("import projkit\n"
                         "projkit.SVDUpdater(C[:2000], 10, rng=1).add_rows(C[2000:2500])")
