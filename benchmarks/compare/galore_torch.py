"""projkit's GaLoreAdamW against galore-torch: refresh time, step time, optimizer-state bytes.

Two workloads, CPU float32 by default (``--device cuda`` for CUDA tensors):

(a) one ``4096 × 4096`` weight at rank 128 (``--quick``: 1024 × 1024 at rank 32) with a
    synthetic gradient (a decaying spectrum over a noise floor): the time of one basis refresh
    (galore-torch: ``GaLoreProjector.get_orthogonal_matrix``, a full ``torch.linalg.svd``;
    projkit: the refresh of each method), and of one optimizer step between refreshes
    (project, Adam, project back);
(b) the model of ``examples/galore_digits.py`` (an MLP 64-256-256-10 on sklearn's digits,
    batch 128, rank 16, refresh every 50 steps): the median ``optimizer.step()`` time over
    300 training steps, and the whole training loop.

The peer is galore-torch's own code: ``galore_torch.GaLoreAdamW`` when the package imports
(it needs transformers and bitsandbytes); otherwise its ``GaLoreProjector`` (the module imports
only torch) driven by galore-torch's AdamW step, written out as in ``galore_torch/adamw.py``.
Timings are at the default threads (the headline) and on one thread beside it; the first call
(cold: library start-up, the DCT matrix) is reported apart from the warm median. Usage::

    python benchmarks/compare/galore_torch.py            # 4096 × 4096, rank 128
    python benchmarks/compare/galore_torch.py --quick    # 1024 × 1024, rank 32
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import statistics
import sys
import time
import types
from typing import Any

import numpy as np
import torch

# this file is named like the peer's package: keep its folder off sys.path so that
# ``import galore_torch`` finds the peer, and load the shared helpers by path
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
_spec = importlib.util.spec_from_file_location("_common", os.path.join(_HERE, "_common.py"))
assert _spec is not None and _spec.loader is not None
_common = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_common)
interleaved, row = _common.interleaved, _common.row

from projkit.interop._galore_torch import _Projector  # noqa: E402
from projkit.interop.torch import GaLoreAdamW  # noqa: E402


def galore_peer() -> tuple[Any, str]:
    """(an optimizer factory ``make(groups, lr)``, a description) for galore-torch."""
    try:
        from galore_torch import GaLoreAdamW as Peer

        return (lambda g, lr: Peer(g, lr=lr, no_deprecation_warning=True)), "galore_torch"
    except ImportError:
        pass
    import importlib.metadata as md

    path = md.distribution("galore-torch").locate_file("galore_torch/galore_projector.py")
    spec = importlib.util.spec_from_file_location("_galore_projector", path)
    assert spec is not None and spec.loader is not None
    mod = types.ModuleType("_galore_projector")
    spec.loader.exec_module(mod)
    return (lambda g, lr: _PeerAdamW(g, lr, mod.GaLoreProjector),
            "galore_torch.galore_projector + galore's AdamW step")


class _PeerAdamW(torch.optim.Optimizer):
    """galore_torch/adamw.py's step (correct_bias=True, eps=1e-6), with its GaLoreProjector."""

    def __init__(self, params: Any, lr: float, projector: Any) -> None:
        super().__init__(params, {"lr": lr, "betas": (0.9, 0.999), "eps": 1e-6,
                                  "weight_decay": 0.0})
        self.Projector = projector

    @torch.no_grad()
    def step(self, closure: Any = None) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad, state = p.grad, self.state[p]
                if "step" not in state:
                    state["step"] = 0
                if "rank" in group:
                    if "projector" not in state:
                        state["projector"] = self.Projector(
                            group["rank"], update_proj_gap=group["update_proj_gap"],
                            scale=group["scale"], proj_type=group["proj_type"])
                    grad = state["projector"].project(grad, state["step"])
                if "exp_avg" not in state:
                    state["exp_avg"] = torch.zeros_like(grad)
                    state["exp_avg_sq"] = torch.zeros_like(grad)
                exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
                beta1, beta2 = group["betas"]
                state["step"] += 1
                exp_avg.mul_(beta1).add_(grad, alpha=(1.0 - beta1))
                exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1.0 - beta2)
                denom = exp_avg_sq.sqrt().add_(group["eps"])
                step_size = group["lr"] * math.sqrt(1.0 - beta2 ** state["step"]) / (
                    1.0 - beta1 ** state["step"])
                norm_grad = exp_avg / denom
                if "rank" in group:
                    norm_grad = state["projector"].project_back(norm_grad)
                p.add_(norm_grad, alpha=-step_size)


def state_bytes(opt: torch.optim.Optimizer) -> int:
    """State tensors, plus galore-torch's projection matrices by the storage they keep alive
    (a slice of the full SVD factor)."""
    total = 0
    for st in opt.state.values():
        for v in st.values():
            if torch.is_tensor(v):
                total += v.numel() * v.element_size()
            om = getattr(v, "ortho_matrix", None)
            for t in ([om] if torch.is_tensor(om) else om or ()):
                total += t.untyped_storage().nbytes()
    return total


def synthetic_gradient(m: int, n: int, device: str) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    K = min(m, n) // 2
    s = 1.0 / (1.0 + torch.arange(K) / 16.0)
    G = (torch.randn(m, K, generator=g) * s) @ torch.randn(K, n, generator=g) / math.sqrt(n)
    G += 0.3 * G.norm() / math.sqrt(m * n) * torch.randn(m, n, generator=g)
    return G.to(device)


def timed_first(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def big_weight(n: int, r: int, device: str, repeat: int, peer: Any, slow_one: bool) -> None:
    print(f"\n(a) one {n} × {n} weight, rank {r}, {device} float32")
    G = synthetic_gradient(n, n, device)
    group = {"rank": r, "update_proj_gap": 200, "scale": 0.25, "proj_type": "std",
             "method": "svd", "moments": "keep"}
    peer_proj = peer_projector_class()(r, update_proj_gap=200, scale=0.25, proj_type="std")

    def peer_refresh() -> None:
        peer_proj.ortho_matrix = peer_proj.get_orthogonal_matrix(G, r, type="right")
        sync(device)

    def ours(method: str) -> Any:
        pr = _Projector(G.shape, dict(group, method=method), seed=0,
                        options={"oversample": 10, "n_iter": 2, "oja_lr": 1.0})
        st: dict[str, Any] = {}

        def refresh() -> None:
            if method == "online_pca" and f"proj_{pr.sides[0]}" in st:
                pr.refresh(st, G, 1)  # warm: one Oja step, as in training
            else:
                st.clear()
                pr.refresh(st, G, 0)
            sync(device)

        return pr, st, refresh

    print(f"{'refresh':<48}{'projkit':>14}{'galore-torch':>14}{'speed-up':>10}")
    fns = {"peer": peer_refresh}
    firsts = {"peer": timed_first(peer_refresh)}
    held = {}
    for method in ("svd", "rsvd", "dct", "online_pca"):
        pr, st, fn = ours(method)
        firsts[method] = timed_first(fn)
        fns[method] = fn
        held[method] = (pr, st)
    times = interleaved(fns, repeat=repeat, warmup=0, one=slow_one)
    for method in ("svd", "rsvd", "dct", "online_pca"):
        print(row(f"  {method} (warm median)", times[method], times["peer"]))
        print(row(f"  {method} (first call)", firsts[method], firsts["peer"]))

    # one step between refreshes: project, Adam, project back (basis already set)
    w_ours = torch.nn.Parameter(torch.zeros(n, n, device=device))
    w_peer = torch.nn.Parameter(torch.zeros(n, n, device=device))
    opt_o = GaLoreAdamW([{"params": [w_ours], "rank": r, "update_proj_gap": 10**9,
                          "scale": 0.25}], lr=1e-3)
    opt_p = peer[0]([{"params": [w_peer], "rank": r, "update_proj_gap": 10**9, "scale": 0.25,
                      "proj_type": "std"}], 1e-3)
    for w, opt in ((w_ours, opt_o), (w_peer, opt_p)):
        w.grad = G.clone()
        opt.step()  # the refresh, not timed here

    def step(opt: Any) -> Any:
        def fn() -> None:
            opt.step()
            sync(device)
        return fn

    st_times = interleaved({"ours": step(opt_o), "peer": step(opt_p)}, repeat=max(repeat, 5))
    print(row("step between refreshes (warm median)", st_times["ours"], st_times["peer"]))
    bo, bp = state_bytes(opt_o), state_bytes(opt_p)
    print(f"{'optimizer state (MiB)':<48}{bo / 2**20:>11.2f}   {bp / 2**20:>11.2f}   "
          f"(galore-torch keeps the whole Vh of the SVD alive: {bp / bo:.1f}x)")


def peer_projector_class() -> Any:
    try:
        from galore_torch.galore_projector import GaLoreProjector

        return GaLoreProjector
    except ImportError:
        import importlib.metadata as md

        path = md.distribution("galore-torch").locate_file("galore_torch/galore_projector.py")
        spec = importlib.util.spec_from_file_location("_galore_projector", path)
        assert spec is not None and spec.loader is not None
        mod = types.ModuleType("_galore_projector")
        spec.loader.exec_module(mod)
        return mod.GaLoreProjector


def digits_model(device: str, peer: Any, steps: int) -> None:
    from sklearn.datasets import load_digits

    print(f"\n(b) the example's model: MLP 64-256-256-10 on digits, batch 128, rank 16, "
          f"{steps} steps, {device}")
    d = load_digits()
    X = torch.tensor(d.data / 16.0, dtype=torch.float32, device=device)
    y = torch.tensor(d.target, device=device)

    def setup(make: Any) -> tuple[Any, Any]:
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(),
                                    torch.nn.Linear(256, 256), torch.nn.ReLU(),
                                    torch.nn.Linear(256, 10)).to(device)
        mats = [p for p in model.parameters() if p.ndim == 2]
        rest = [p for p in model.parameters() if p.ndim < 2]
        groups = [{"params": mats, "rank": 16, "update_proj_gap": 50, "scale": 0.25,
                   "proj_type": "std"}, {"params": rest}]
        return model, make(groups)

    makers = {
        "projkit svd": lambda g: GaLoreAdamW(g, lr=1e-2),
        "projkit dct": lambda g: GaLoreAdamW(g, lr=1e-2, method="dct", moments="reproject"),
        "projkit online_pca": lambda g: GaLoreAdamW(g, lr=1e-2, method="online_pca",
                                                    moments="reproject"),
        "galore-torch": lambda g: peer[0](g, 1e-2),
        "torch AdamW (full)": lambda g: torch.optim.AdamW(
            [p for grp in g for p in grp["params"]], lr=1e-3),
    }
    out = {}
    for name, make in makers.items():
        model, opt = setup(make)
        step_t, loss = [], 0.0
        t0 = time.perf_counter()
        for i in range(steps):
            idx = torch.randint(0, len(X), (128,), generator=torch.Generator().manual_seed(i))
            loss_t = torch.nn.functional.cross_entropy(model(X[idx.to(device)]), y[idx.to(device)])
            opt.zero_grad()
            loss_t.backward()
            sync(device)
            s0 = time.perf_counter()
            opt.step()
            sync(device)
            step_t.append(time.perf_counter() - s0)
            loss = loss_t.item()
        total = time.perf_counter() - t0
        refresh_steps = [step_t[i] for i in range(0, steps, 50)]
        plain = [step_t[i] for i in range(steps) if i % 50]
        out[name] = (statistics.median(plain), statistics.median(refresh_steps), total,
                     state_bytes(opt), loss)
    peer_vals = out["galore-torch"]
    print(f"{'':<24}{'step (median)':>14}{'refresh step':>14}{'loop total':>12}"
          f"{'state KiB':>11}{'last loss':>10}{'step vs galore':>16}")
    for name, (st, rs, total, nb, loss) in out.items():
        print(f"{name:<24}{st * 1e3:>11.3f} ms{rs * 1e3:>11.3f} ms{total:>10.2f} s"
              f"{nb / 1024:>11.1f}{loss:>10.3f}{st / peer_vals[0]:>15.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1024 × 1024 at rank 32")
    ap.add_argument("--n", type=int, default=None)
    ap.add_argument("--rank", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--one-thread-big", action="store_true",
                    help="also time the big refreshes on one thread (slow at 4096)")
    ap.add_argument("--skip-big", action="store_true", help="only (b), the example's model")
    args = ap.parse_args()
    n = args.n or (1024 if args.quick else 4096)
    r = args.rank or (32 if args.quick else 128)
    peer = galore_peer()
    print(f"peer: {peer[1]}; torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"numpy {np.__version__}; load average {os.getloadavg()[0]:.2f}")
    if not args.skip_big:
        big_weight(n, r, args.device, args.repeat, peer,
                   slow_one=args.one_thread_big or args.quick)
    digits_model(args.device, peer, args.steps)  # the headline: default threads
    print("\nbeside it, every pool on one thread:", end="")
    with _common.one_thread():
        digits_model(args.device, peer, args.steps)


if __name__ == "__main__":
    main()
