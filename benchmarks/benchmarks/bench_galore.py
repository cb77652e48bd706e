"""asv benchmarks of projkit.interop.torch.GaLoreAdamW: refresh and between-refresh step time
of each method on a CPU float32 weight, and one training step of the example's MLP.

Skipped (``NotImplementedError`` in setup) where torch is not installed in the asv env.
"""

from __future__ import annotations

import math


def _torch():
    try:
        import torch
    except ImportError as exc:  # asv skips a benchmark whose setup raises this
        raise NotImplementedError("torch is not installed") from exc
    return torch


def _gradient(torch, m, n):
    g = torch.Generator().manual_seed(0)
    K = min(m, n) // 2
    s = 1.0 / (1.0 + torch.arange(K) / 16.0)
    G = (torch.randn(m, K, generator=g) * s) @ torch.randn(K, n, generator=g) / math.sqrt(n)
    return G + 0.1 * G.std() * torch.randn(m, n, generator=g)


class GaLoreStep:
    """GaLoreAdamW on one 512 × 512 weight at rank 64: a refresh step and a plain step."""

    params = (["svd", "rsvd", "dct", "online_pca", "sparse_rows"],)
    param_names = ["method"]
    timeout = 300

    def setup(self, method):
        torch = _torch()
        from projkit.interop.torch import GaLoreAdamW

        self.torch = torch
        self.G = _gradient(torch, 512, 512)
        self.w = torch.nn.Parameter(torch.zeros(512, 512))
        moments = "keep" if method == "online_pca" else "reproject"
        # gap 2: every other step refreshes; step is even right after setup
        self.opt = GaLoreAdamW([{"params": [self.w], "rank": 64, "update_proj_gap": 2}],
                               method=method, moments=moments)
        self.w.grad = self.G.clone()
        self.opt.step()  # the first refresh; next call (step 1) is a plain step
        self.opt.step()  # step 2 would refresh: leave the counter at 2

    def time_refresh_step(self, method):
        st = self.opt.state[self.w]
        st["step"] = 2  # a refresh step every call
        self.opt.step()

    def time_plain_step(self, method):
        st = self.opt.state[self.w]
        st["step"] = 1  # between refreshes every call
        self.opt.step()


class GaLoreDigitsMLP:
    """One forward/backward/step of the example's MLP (64-256-256-10, batch 128, rank 16)."""

    params = (["galore-svd", "galore-dct", "adamw"],)
    param_names = ["optimizer"]
    timeout = 300

    def setup(self, optimizer):
        torch = _torch()
        from projkit.interop.torch import GaLoreAdamW

        torch.manual_seed(0)
        self.model = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(),
                                         torch.nn.Linear(256, 256), torch.nn.ReLU(),
                                         torch.nn.Linear(256, 10))
        mats = [p for p in self.model.parameters() if p.ndim == 2]
        rest = [p for p in self.model.parameters() if p.ndim < 2]
        groups = [{"params": mats, "rank": 16, "update_proj_gap": 50, "scale": 0.25},
                  {"params": rest}]
        if optimizer == "adamw":
            self.opt = torch.optim.AdamW(self.model.parameters(), lr=1e-3)
        else:
            self.opt = GaLoreAdamW(groups, lr=1e-2, method=optimizer.split("-")[1])
        g = torch.Generator().manual_seed(0)
        self.X = torch.randn(128, 64, generator=g)
        self.y = torch.randint(0, 10, (128,), generator=g)
        self.F = torch.nn.functional
        self.train_step()  # the first refresh happens here

    def train_step(self):
        loss = self.F.cross_entropy(self.model(self.X), self.y)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()

    def time_train_step(self, optimizer):
        self.train_step()
