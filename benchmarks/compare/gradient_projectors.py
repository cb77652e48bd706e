"""Gradient projectors: refresh cost and captured energy against GaLore's full SVD.

For an m × n float32 gradient ``G`` and rank ``r`` this times one refresh of each projkit
:class:`~projkit.GradientProjector` method (the ``project`` call at a refresh step: new basis
plus ``R``) and reports the energy it captures, ``‖Pᵀ G‖² / ‖G‖²``, next to the optimum (the
top-``r`` singular subspace, which GaLore's SVD finds). The peer is GaLore's refresh: a full
``svd(G, full_matrices=False)`` and the top ``r`` vectors (projkit's ``method="svd"`` runs exactly
that through LAPACK; ``--torch-peer`` also times ``torch.linalg.svd`` as galore-torch calls it).

The gradients are SYNTHETIC: ``G = A diag(σ) B / √n + noise`` with Gaussian ``A`` (m × K),
``B`` (K × n), ``K = min(m, n) / 2``, a slowly decaying spectrum ``σ_k = 1 / (1 + k / 16)``
and Gaussian noise carrying 10% of the energy (the shape GaLore reports for LLM gradients:
a heavy top of the spectrum over a noise floor). This kind ("lowrank") is rotation invariant: no
fixed basis is aligned with it, so ``dct`` captures only about ``r/d`` of its energy, the worst
case for an SVD-free basis. The second kind ("smooth") passes the same matrix through an AR(1)
filter (ρ = 0.99) along both axes, so neighbouring rows and columns are correlated, as in
layers fed by spatially or temporally smooth inputs; the DCT is close to the principal basis of
AR(1) data (it is the limit of its Karhunen-Loève basis), the case the DCT paper relies on.

``online_pca`` is timed warm (one Oja step on a projector that has already seen the stream, as
in training); its energy is measured after ``--oja-steps`` calls on a stationary stream
(``G`` plus fresh noise at every step).

All timings in one process, methods interleaved within each round, median over ``--repeats``
rounds (the full SVD runs ``--svd-repeats`` times, once per size: its cost does not
depend on ``r``). Usage::

    python benchmarks/compare/gradient_projectors.py --quick --threads 1  # 1024×1024, 1024×2752
    python benchmarks/compare/gradient_projectors.py                  # 4096×4096, 4096×11008
    python benchmarks/compare/gradient_projectors.py --backend cupy   # on a GPU (or torch)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Any

import numpy as np

from projkit.optim import GradientProjector

FULL_SIZES = [(4096, 4096), (4096, 11008)]
QUICK_SIZES = [(1024, 1024), (1024, 2752)]


def make_gradient(m: int, n: int, seed: int = 0, kind: str = "lowrank") -> np.ndarray:
    """A synthetic float32 gradient (see the module docstring for the two kinds)."""
    rng = np.random.default_rng(seed)
    K = min(m, n) // 2
    A = rng.standard_normal((m, K), dtype=np.float32)
    B = rng.standard_normal((K, n), dtype=np.float32)
    s = (1.0 / (1.0 + np.arange(K) / 16.0)).astype(np.float32)
    G = (A * s) @ B
    G /= np.float32(np.sqrt(n))
    sig = np.sqrt(np.sum(G.astype(np.float64) ** 2))
    noise = rng.standard_normal((m, n), dtype=np.float32)
    noise *= np.float32(np.sqrt(0.1 / 0.9) * sig / np.sqrt(m * n))
    G += noise
    if kind == "smooth":
        from scipy.signal import lfilter

        rho = 0.99  # AR(1) correlation between neighbouring rows and between neighbouring columns
        for axis in (0, 1):
            G = lfilter([np.sqrt(1 - rho**2)], [1.0, -rho], G, axis=axis).astype(np.float32)
    return G


def to_backend(G: np.ndarray, backend: str) -> Any:
    if backend == "cupy":
        import cupy

        return cupy.asarray(G)
    if backend == "torch":
        import torch

        dev = "cuda" if torch.cuda.is_available() else "cpu"
        return torch.from_numpy(G).to(dev)
    return G


def sync(backend: str) -> None:
    if backend == "cupy":
        import cupy

        cupy.cuda.Device().synchronize()
    elif backend == "torch":
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()


def energy(R: Any, G: Any) -> float:
    from projkit._backend import to_numpy

    R64 = np.asarray(to_numpy(R), dtype=np.float64)
    G64 = np.asarray(to_numpy(G), dtype=np.float64)
    return float(np.sum(R64 * R64) / np.sum(G64 * G64))


def timed(fn: Any, backend: str) -> tuple[float, Any]:
    sync(backend)
    t = time.perf_counter()
    out = fn()
    sync(backend)
    return time.perf_counter() - t, out


def torch_galore_refresh(G: Any, r: int) -> Any:
    """galore-torch's projector, 'std' type: full SVD, top r vectors, project."""
    import torch

    Gt = G if isinstance(G, torch.Tensor) else torch.from_numpy(np.asarray(G))
    U, s, Vh = torch.linalg.svd(Gt, full_matrices=False)
    if Gt.shape[0] >= Gt.shape[1]:
        return Gt @ Vh[:r].T
    return U[:, :r].T @ Gt


def _leading(R: Any, r: int, m: int, n: int) -> Any:
    """The first ``r`` coordinates of a projection (left side: rows, right side: columns)."""
    return R[:, :r] if m >= n else R[:r]


def run_size(m: int, n: int, ranks: list[int], kind: str,
             args: argparse.Namespace) -> list[dict[str, Any]]:
    """One size: GaLore's full SVD once (its cost does not depend on r), the others per rank."""
    Gh = make_gradient(m, n, seed=args.seed, kind=kind)
    G = to_backend(Gh, args.backend)
    rmax = max(ranks)
    t_svd, t_torch, R_svd = [], [], None
    for _ in range(args.svd_repeats):
        dt, R_svd = timed(lambda: GradientProjector(rmax, method="svd").project(G, 0),
                          args.backend)
        t_svd.append(dt)
        if args.torch_peer:
            t_torch.append(timed(lambda: torch_galore_refresh(G, rmax), args.backend)[0])
    svd_time = statistics.median(t_svd)
    rows = []
    for r in ranks:
        opt = energy(_leading(R_svd, r, m, n), G)
        rows.append(dict(size=f"{m}x{n}", kind=kind, r=r, method="svd (GaLore, LAPACK)",
                         time=svd_time, speedup=1.0, energy=opt, rel=1.0))
        if t_torch:
            t = statistics.median(t_torch)
            rows.append(dict(size=f"{m}x{n}", kind=kind, r=r,
                             method="torch.linalg.svd (galore-torch)", time=t,
                             speedup=svd_time / t, energy=opt, rel=1.0))
        rows += run_rank(G, Gh, r, opt, svd_time, kind, args)
    return rows


def run_rank(G: Any, Gh: np.ndarray, r: int, opt: float, svd_time: float, kind: str,
             args: argparse.Namespace) -> list[dict[str, Any]]:
    m, n = Gh.shape
    rng = np.random.default_rng(args.seed + 1)
    methods = ["rsvd", "dct", "online_pca"]
    times: dict[str, list[float]] = {k: [] for k in methods}
    quality: dict[str, float] = {}
    # online_pca: a warm projector that has followed a stationary stream for oja_steps calls
    oja = GradientProjector(r, method="online_pca", rng=0)
    noise_scale = float(np.std(Gh)) * 0.3
    for t in range(args.oja_steps):
        Gt = Gh + np.float32(noise_scale) * rng.standard_normal(Gh.shape, dtype=np.float32)
        oja.project(to_backend(Gt, args.backend), t)
    quality["online_pca"] = energy(oja.project(G, args.oja_steps), G)
    for i in range(args.repeats):  # interleaved rounds
        for meth in methods:
            if meth == "online_pca":
                step = args.oja_steps + 1 + i
                dt, R = timed(lambda s=step: oja.project(G, s), args.backend)
            else:
                p = GradientProjector(r, method=meth, rng=i)
                dt, R = timed(lambda p=p: p.project(G, 0), args.backend)
                quality[meth] = energy(R, G)
            times[meth].append(dt)
    rows = []
    for meth in methods:
        t = statistics.median(times[meth])
        rows.append(dict(size=f"{m}x{n}", kind=kind, r=r, method=meth, time=t, speedup=svd_time / t,
                         energy=quality[meth], rel=quality[meth] / opt))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="1024×1024 and 1024×2752, r = 32, 64")
    ap.add_argument("--sizes", default=None, help="e.g. 4096x4096,4096x11008")
    ap.add_argument("--ranks", default=None, help="e.g. 128,256")
    ap.add_argument("--backend", default="numpy", choices=["numpy", "cupy", "torch"])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--svd-repeats", type=int, default=1)
    ap.add_argument("--oja-steps", type=int, default=10)
    ap.add_argument("--torch-peer", action="store_true", help="also time torch.linalg.svd")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--gradient", default="both", choices=["lowrank", "smooth", "both"])
    ap.add_argument("--threads", default="default,1",
                    help="BLAS/FFT/torch threads: 'default', N, or a comma list run one after "
                         "the other (default: the default threads, the headline, then 1)")
    args = ap.parse_args()
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _common import run_per_thread_regime

    if run_per_thread_regime(os.path.abspath(__file__), sys.argv[1:], args.threads):
        return
    if args.threads != "default":
        from threadpoolctl import threadpool_limits

        threadpool_limits(int(args.threads))
        if args.torch_peer:
            import torch

            torch.set_num_threads(int(args.threads))
    if args.sizes:
        sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    else:
        sizes = QUICK_SIZES if args.quick else FULL_SIZES
    ranks = ([int(v) for v in args.ranks.split(",")] if args.ranks
             else ([32, 64] if args.quick else [128, 256]))
    print(f"backend={args.backend}  threads={args.threads or 'default'}  repeats={args.repeats} "
          f"(full SVD: {args.svd_repeats})  synthetic decaying-spectrum gradients, float32")
    hdr = (f"{'size':>12} {'gradient':>8} {'r':>4} {'method':>32} {'refresh s':>10} {'vs SVD':>8} "
           f"{'energy':>7} {'/optimal':>8}")
    print(hdr)
    print("-" * len(hdr))
    kinds = ["lowrank", "smooth"] if args.gradient == "both" else [args.gradient]
    for m, n in sizes:
        for kind in kinds:
            for row in run_size(m, n, ranks, kind, args):
                print(f"{row['size']:>12} {row['kind']:>8} {row['r']:>4} {row['method']:>32} "
                      f"{row['time']:>10.4f} {row['speedup']:>7.1f}x {row['energy']:>7.4f} "
                      f"{row['rel']:>8.3f}", flush=True)


if __name__ == "__main__":
    main()
