"""asv benchmarks of the Dask engines (threaded scheduler): chunked sketches and rsvd, beside
dask's own ``svd_compressed`` on the same array.

Run from ``benchmarks/``: ``asv run --quick -b bench_dask`` (or ``asv dev``).
"""

import dask
import dask.array as da
import numpy as np
import scipy.sparse as sp

import projkit


class DaskSketch:
    params = (["gaussian", "countsketch", "sparse_sign", "coordinated"], ["dense", "sparse"])
    param_names = ["method", "chunks"]

    def setup(self, method, chunks):
        rng = np.random.default_rng(0)
        if chunks == "dense":
            A = rng.standard_normal((1 << 16, 256))
        else:
            A = sp.random(1 << 17, 4096, density=1e-3, format="csr", rng=rng)
        self.X = da.from_array(A, chunks=(1 << 13, -1), asarray=False).persist(
            scheduler="threads")
        projkit.sketch(self.X, 32, method=method, rng=1).compute()  # load the kernels

    def time_sketch(self, method, chunks):
        # compute() gives the in-memory Sketch (a sampling sketch's rows, indices and τ at once)
        projkit.sketch(self.X, 256, method=method, rng=1).compute(scheduler="threads")

    def peakmem_sketch(self, method, chunks):
        projkit.sketch(self.X, 256, method=method, rng=1).compute(scheduler="threads")


class DaskRSVD:
    params = (["rows", "both"],)
    param_names = ["chunking"]

    def setup(self, chunking):
        rng = np.random.default_rng(0)
        A = rng.standard_normal((1 << 16, 500))
        chunks = (1 << 13, -1) if chunking == "rows" else (1 << 13, 125)
        self.X = da.from_array(A, chunks=chunks).persist(scheduler="threads")

    def time_projkit_rsvd(self, chunking):
        dask.compute(*projkit.rsvd(self.X, 20, n_iter=2, rng=1), scheduler="threads")

    def time_dask_svd_compressed(self, chunking):
        dask.compute(*da.linalg.svd_compressed(self.X, 20, n_power_iter=2, seed=1),
                     scheduler="threads")
