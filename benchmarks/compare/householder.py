"""Householder projector vs LAPACK orgqr/ormqr, reflector-by-reflector application and torch.

Applies the rank-r projector U = Q[:, :r] of k Householder reflectors (LAPACK storage, from
dgeqrf of a Gaussian n × k matrix) to an r × b batch, and builds U, timing every method on the
same inputs in one process, interleaved, median of repeats:

* projkit, from scratch: HouseholderProjector(qr, r, tau=tau) (validation, tau check, WY block)
  then ``P @ X``; and ``P @ X`` alone on a built projector (cached T);
* (a)  dorgqr forming the whole n × n Q from all k reflectors, then GEMM ``Q[:, :r] @ X``;
* (a') dorgqr on the leading n × r reflectors only (a peer that knows what we know), then GEMM;
* (b)  the k reflectors applied one by one to [X; 0] (NumPy rank-one updates);
* (c)  dormqr applying Q (all k reflectors, LAPACK's own blocked WY) to [X; 0];
* (c') dormqr with the leading r reflectors only;
* torch (CPU, when installed): householder_product of the n × k reflectors then GEMM, and
  torch.ormqr on [X; 0].

Run: ``python benchmarks/compare/householder.py`` (n = 4096, k = n, r = 64, b = 256), or
``--quick`` (n = 1024) / ``--n N --k K --r R --b B --repeat R``. Prints ours, the peer's and the
ratio peer / ours (> 1: projkit faster).

``--gpu``: CuPy + torch on CUDA instead: projkit (CuPy arrays, and through
``projkit.interop.torch.householder_apply``) against torch's ``householder_product`` (forming Q)
+ GEMM and ``torch.ormqr`` on ``[X; 0]``, with all k and with the leading r reflectors.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from scipy.linalg import lapack

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from projkit import HouseholderProjector


def one_by_one(qr: np.ndarray, tau: np.ndarray, C: np.ndarray) -> np.ndarray:
    """Q @ C with Q = H_1 ... H_k applied right to left, one rank-one update per reflector."""
    C = C.copy()
    for i in range(qr.shape[1] - 1, -1, -1):
        v = qr[i:, i].copy()
        v[0] = 1.0
        w = v @ C[i:]
        C[i:] -= tau[i] * np.outer(v, w)
    return C


def gpu_main(n: int, k: int, r: int, b: int, repeat: int) -> None:
    """The same comparison on CUDA: projkit's CuPy path vs torch (timed with synchronization)."""
    import cupy as cp
    import torch

    from projkit.interop.torch import householder_apply

    dev = torch.device("cuda")
    g = torch.Generator(device=dev).manual_seed(0)
    A = torch.randn(n, k, dtype=torch.float64, device=dev, generator=g)
    qr, tau = torch.geqrf(A)
    X = torch.randn(r, b, dtype=torch.float64, device=dev, generator=g)
    C = torch.zeros(n, b, dtype=torch.float64, device=dev)
    C[:r] = X
    qr_r, tau_r = qr[:, :r].contiguous(), tau[:r].contiguous()
    cqr, ctau, cX = cp.from_dlpack(qr), cp.from_dlpack(tau), cp.from_dlpack(X)
    built = HouseholderProjector(cqr, r, tau=ctau)
    methods = {
        "projkit cupy (build + apply)": lambda: HouseholderProjector(cqr, r, tau=ctau) @ cX,
        "projkit cupy (apply, built)": lambda: built @ cX,
        "projkit torch wrapper (build + apply)": lambda: householder_apply(qr, X, tau=tau),
        "torch householder_product(all k) + mm": (
            lambda: torch.linalg.householder_product(qr, tau)[:, :r] @ X
        ),
        "torch ormqr, k reflectors": lambda: torch.ormqr(qr, tau, C),
        "torch householder_product(r) + mm": (
            lambda: torch.linalg.householder_product(qr_r, tau_r) @ X
        ),
        "torch ormqr, r reflectors": lambda: torch.ormqr(qr_r, tau_r, C),
    }
    ref = cp.asnumpy(built @ cX)
    for name, f in methods.items():
        out = f()
        out = out.cpu().numpy() if isinstance(out, torch.Tensor) else cp.asnumpy(out)
        assert np.max(np.abs(out[:, :b] - ref)) < 1e-8, name
    times: dict[str, list[float]] = {name: [] for name in methods}
    for _ in range(repeat):
        for name, f in methods.items():
            torch.cuda.synchronize()
            t = time.perf_counter()
            f()
            torch.cuda.synchronize()
            times[name].append(time.perf_counter() - t)
    med = {name: statistics.median(v) for name, v in times.items()}
    ours = med["projkit cupy (build + apply)"]
    print(f"GPU ({torch.cuda.get_device_name()}): n={n} k={k} r={r} b={b}, float64")
    print(f"{'method':40s} {'median ms':>11s} {'ratio':>8s}")
    for name, t in med.items():
        print(f"{name:40s} {1e3 * t:11.3f} {t / ours:8.1f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="n = 1024 instead of 4096")
    ap.add_argument("--n", type=int, default=None)
    ap.add_argument("--k", type=int, default=None, help="reflectors (default n)")
    ap.add_argument("--r", type=int, default=64)
    ap.add_argument("--b", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--slow-repeat", type=int, default=3, help="repeats of (a) and (b)")
    ap.add_argument("--no-slow", action="store_true", help="skip (a) and (b)")
    ap.add_argument("--gpu", action="store_true", help="CuPy/torch on CUDA (see module doc)")
    ap.add_argument("--threads", default="default,1",
                    help="BLAS/torch threads: 'default', N, or a comma list run one after the "
                         "other (default: the default threads, then 1 thread)")
    args = ap.parse_args()
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _common import run_per_thread_regime

    if run_per_thread_regime(os.path.abspath(__file__), sys.argv[1:], args.threads):
        return
    from threadpoolctl import threadpool_limits

    nthreads = None if args.threads == "default" else int(args.threads)
    threadpool_limits(nthreads)
    n = args.n or (1024 if args.quick else 4096)
    k = args.k or n
    r, b = args.r, args.b
    if args.gpu:
        gpu_main(n, k, r, b, max(args.repeat, 20))
        return

    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    qr, tau, _, info = lapack.dgeqrf(rng.standard_normal((n, k)))
    assert info == 0
    print(f"n={n} k={k} r={r} b={b} threads={args.threads} "
          f"(dgeqrf setup {time.perf_counter() - t0:.2f} s)")
    X = rng.standard_normal((r, b))
    C = np.zeros((n, b))
    C[:r] = X
    qr_r, tau_r = np.asfortranarray(qr[:, :r]), tau[:r].copy()
    lwork = 64 * max(n, b)

    built = HouseholderProjector(qr, r, tau=tau)
    built @ X  # build the cached WY block

    try:
        import torch

        if nthreads is not None:
            torch.set_num_threads(nthreads)
        tq, ttau, tX = torch.from_numpy(qr), torch.from_numpy(tau), torch.from_numpy(X)
        tC = torch.from_numpy(C)
        tq_r, ttau_r = torch.from_numpy(qr_r), torch.from_numpy(tau_r)
    except ImportError:
        torch = None

    apply_methods = {
        "projkit (build + apply)": lambda: HouseholderProjector(qr, r, tau=tau) @ X,
        "projkit (apply, built)": lambda: built @ X,
        "(c') dormqr, r reflectors": lambda: lapack.dormqr("L", "N", qr_r, tau_r, C, lwork)[0],
    }
    slow_apply = {
        "(a) dorgqr full Q + GEMM": lambda: lapack.dorgqr(qr, tau)[0][:, :r] @ X,
        "(b) one by one, k reflectors": lambda: one_by_one(qr, tau, C),
        "(c) dormqr, k reflectors": lambda: lapack.dormqr("L", "N", qr, tau, C, lwork)[0],
    }
    apply_methods["(a') dorgqr n x r + GEMM"] = lambda: lapack.dorgqr(qr_r, tau_r)[0] @ X
    apply_methods["(b') one by one, r reflectors"] = lambda: one_by_one(qr_r, tau_r, C)
    if torch is not None:
        apply_methods["torch householder_product(r) + mm"] = (
            lambda: torch.linalg.householder_product(tq_r, ttau_r) @ tX
        )
        slow_apply["torch ormqr, k reflectors"] = lambda: torch.ormqr(tq, ttau, tC)

    build_methods = {
        "projkit matrix() (build + form U)": lambda: HouseholderProjector(qr, r, tau=tau).matrix(),
        "dorgqr n x r": lambda: lapack.dorgqr(qr_r, tau_r)[0],
    }
    if torch is not None:
        build_methods["torch householder_product n x r"] = (
            lambda: torch.linalg.householder_product(tq_r, ttau_r)
        )
    slow_build = {"(a) dorgqr full Q[:, :r]": lambda: lapack.dorgqr(qr, tau)[0][:, :r]}

    # correctness first: every method must give the same numbers
    ref = built @ X
    for name, f in {**apply_methods, **({} if args.no_slow else slow_apply)}.items():
        out = f()
        out = out.numpy() if hasattr(out, "numpy") else out
        err = float(np.max(np.abs(np.asarray(out)[:, :b] - ref)))
        assert err < 1e-8, (name, err)

    def run(methods: dict, repeat: int) -> dict:
        # wall time and this thread's CPU time (with one BLAS thread all the work runs on the
        # calling thread, so CPU time is the cost without the other processes' interference)
        wall: dict[str, list[float]] = {name: [] for name in methods}
        cpu: dict[str, list[float]] = {name: [] for name in methods}
        for _ in range(repeat):  # interleaved: one call of each per round
            for name, f in methods.items():
                c, t = time.thread_time(), time.perf_counter()
                f()
                wall[name].append(time.perf_counter() - t)
                cpu[name].append(time.thread_time() - c)
        return {name: (statistics.median(wall[name]), statistics.median(cpu[name]))
                for name in methods}

    def table(title: str, res: dict, ours_name: str) -> None:
        ow, oc = res[ours_name]
        print(f"\n{title}; ratio = peer / {ours_name}")
        print(f"{'method':40s} {'wall ms':>10s} {'ratio':>7s} {'cpu ms':>10s} {'ratio':>7s}")
        for name, (w, c) in res.items():
            print(f"{name:40s} {1e3 * w:10.2f} {w / ow:6.1f}x {1e3 * c:10.2f} {c / oc:6.1f}x")

    fast = run(apply_methods, args.repeat)
    slow = {} if args.no_slow else run(slow_apply, args.slow_repeat)
    table("apply U (n x r) to an r x b batch", {**fast, **slow}, "projkit (build + apply)")
    bf = run(build_methods, args.repeat)
    bs = {} if args.no_slow else run(slow_build, args.slow_repeat)
    table("build U (n x r)", {**bf, **bs}, "projkit matrix() (build + form U)")

    # gradient of <G, U> w.r.t. the vectors (the backward pass of training U)
    G = rng.standard_normal((n, r))
    grad_methods = {
        "projkit vjp (build + U + vjp)": lambda: HouseholderProjector(qr, r, tau=tau).vjp(G),
    }
    if torch is not None:
        tA, tG = torch.from_numpy(qr_r), torch.from_numpy(G)

        def torch_grad() -> None:
            a = tA.clone().requires_grad_(True)
            L = a.tril(-1)
            U = torch.linalg.householder_product(L, 2.0 / (1.0 + (L * L).sum(0)))
            (U * tG).sum().backward()

        grad_methods["torch householder_product(r) fwd+bwd"] = torch_grad
    table("gradient w.r.t. the vectors", run(grad_methods, args.repeat),
          "projkit vjp (build + U + vjp)")


if __name__ == "__main__":
    main()
