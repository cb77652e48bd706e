"""asv benchmarks of projkit.GradientProjector: refresh and per-step cost of each method."""

from __future__ import annotations

import numpy as np

import projkit


def _gradient(m, n, seed=0):
    """Synthetic low-rank-plus-noise float32 gradient with a decaying spectrum."""
    rng = np.random.default_rng(seed)
    K = min(m, n) // 2
    s = (1.0 / (1.0 + np.arange(K) / 16.0)).astype(np.float32)
    G = (rng.standard_normal((m, K), dtype=np.float32) * s) @ rng.standard_normal(
        (K, n), dtype=np.float32)
    return G + 0.1 * np.std(G) * rng.standard_normal((m, n), dtype=np.float32)


class GradientProjectorRefresh:
    """One refresh (new basis + R) per method; the full SVD is GaLore's refresh."""

    params = (["svd", "rsvd", "dct", "online_pca", "sparse_rows"], ["512x512", "512x1376"])
    param_names = ["method", "shape"]
    timeout = 300

    def setup(self, method, shape):
        m, n = (int(v) for v in shape.split("x"))
        self.G = _gradient(m, n)
        self.warm = projkit.GradientProjector(64, method=method, rng=0)
        self.warm.project(self.G, 0)

    def time_refresh(self, method, shape):
        projkit.GradientProjector(64, method=method, rng=0).project(self.G, 0)

    def time_project_between_refreshes(self, method, shape):
        self.warm.project(self.G, 1)

    def time_project_back(self, method, shape):
        self.warm.project_back(self.warm.project(self.G, 1))

    def peakmem_refresh(self, method, shape):
        projkit.GradientProjector(64, method=method, rng=0).project(self.G, 0)


class GradientProjectorBatched:
    """A list of equal-shape layers refreshed together (batched SVD / DCT)."""

    params = (["svd", "dct"], [4, 16])
    param_names = ["method", "layers"]
    timeout = 300

    def setup(self, method, layers):
        self.Gs = [_gradient(256, 256, seed=i) for i in range(layers)]

    def time_batched_refresh(self, method, layers):
        projkit.GradientProjector(32, method=method).project(self.Gs, 0)
