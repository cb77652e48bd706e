"""Speed as users get it: default threads (the headline), the one-thread figure beside it.

Run from the repository root::

    python benchmarks/compare/as_users_run.py           # the issue's sizes, ~5 minutes
    python benchmarks/compare/as_users_run.py --quick   # smaller inputs, ~1 minute

Nothing pins threads at start-up: each case runs first at the default threads (what a user
gets: all BLAS threads, all Numba threads, torch's default) and then, in the same process,
under one thread (``threadpoolctl`` for BLAS/OpenMP, ``numba.set_num_threads(1)``,
``torch.set_num_threads(1)``). Ours and the peer run interleaved, median of the repeats.

Cases (issue #18):

* ``SVDUpdater.add_rows`` (``method="sparse"``) on Classic3, k = 64, the first 50 % then 10
  row batches, against a plain dense Zha–Simon written in NumPy/SciPy as a user would
  (``qr`` of the residual, ``svd`` of the (k+s)² core; the same error), projkit's own
  ``method="zha-simon"`` and the authors' IncSVD (``pip install IncSVD``; its fastest variant
  on this data, GKL with l = 10; ZhaSimon and RPI took 25× and 9× longer). Targets: ≥ 5× the
  dense Zha–Simon, faster than IncSVD.
* the Gaussian sketch of a dense 65 536 × 512 float64 matrix to 2048 rows against NumPy
  drawing G and one GEMM, and against the GEMM alone (G drawn beforehand). Targets: ≥ 1.4×
  NumPy, within 1.3× of the GEMM.
* CountSketch of a 200 000 × 20 000 CSR (0.1 %) to 256 rows against SciPy's
  ``clarkson_woodruff_transform``. Target ≥ 3×. Beside it, ``method="sparse"`` with
  ``dense_output=False`` against scikit-learn's ``SparseRandomProjection`` (run on Aᵀ): peak
  memory.
* ``ProjectedAdam`` against ``torch.optim.Adam``: the mean ``step()`` time on a small MLP
  (784-512-512-10, batch 128, rank 64) over one period of GaLore's update gap (200 steps: one
  SVD refresh, then 199 steps in its basis), ours and Adam alternating period by period,
  median of 5 periods; beside it the mean over the first 100 steps (refreshes twice as
  often), the steady step and the first step (the refresh) apart, when torch is installed.
  Target ≤ 1.5× Adam.
* the first call of ``sketch``, ``rsvd`` and ``SVDUpdater`` in a fresh Python process: with
  the Numba cache filled (after ``python -m projkit warmup``, as after install) and with an
  empty cache (``NUMBA_CACHE_DIR`` set to a new directory: what a first call costs without the
  warm-up), beside the peers' first calls (NumPy draw + GEMM, scikit-learn's
  ``randomized_svd``); with torch installed, also ``ProjectedAdam``'s first ``step()`` (the
  first SVD refresh, in a process that has imported torch) beside ``torch.optim.Adam``'s.

Timings on a shared machine are noisy: the script prints ``os.getloadavg()`` at the start.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from scipy.linalg import clarkson_woodruff_transform

HERE = Path(__file__).resolve()
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE.parent))

from _common import interleaved, one_thread, peak_bytes  # noqa: E402

import projkit  # noqa: E402

DATA = Path(os.environ.get("PROJKIT_DATA", ROOT.parent / "shared" / "data"))


def _torch():
    try:
        import torch
    except Exception:
        return None
    return torch


def both(fns: dict[str, Callable[[], object]], repeat: int) -> tuple[dict, dict]:
    """Medians at the default threads, then under one thread."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        default = interleaved(fns, repeat=repeat)
        with one_thread():
            single = interleaved(fns, repeat=repeat)
    return default, single


HEAD = (f"{'case':<44}{'ours':>9}{'peer':>9}{'ratio':>8}   |{'ours 1t':>9}{'peer 1t':>9}"
        f"{'ratio':>8}   target")


def line(label: str, d: dict, s: dict, ours: str, peer: str, target: str = "",
         unit: float = 1e3) -> None:
    """One row: ours, peer and peer/ours at default threads | the same on one thread."""
    print(f"{label:<44}{d[ours] * unit:>9.1f}{d[peer] * unit:>9.1f}{d[peer] / d[ours]:>7.2f}x"
          f"   |{s[ours] * unit:>9.1f}{s[peer] * unit:>9.1f}{s[peer] / s[ours]:>7.2f}x   {target}",
          flush=True)


# ---------------------------------------------------------------------------------------------
# SVDUpdater on Classic3


def dense_zha_simon(U, s, V, pieces):
    """Zha & Simon (1999) row updates as a user writes them in NumPy/SciPy (dense E)."""
    import scipy.linalg as sla

    k = s.size
    for E in pieces:
        Ed = E.toarray()
        C = Ed @ V  # s × k
        Q, R = np.linalg.qr(Ed.T - V @ C.T)  # the part of Eᵀ outside span(V)
        b = Ed.shape[0]
        M = np.zeros((k + b, k + b))
        M[:k, :k] = np.diag(s)
        M[k:, :k] = C
        M[k:, k:] = R.T
        F, T, Gt = sla.svd(M, full_matrices=False, lapack_driver="gesdd")
        U = np.vstack([U @ F[:k, :k], F[k:, :k]])
        V = V @ Gt[:k, :k].T + Q @ Gt[:k, k:].T
        s = T[:k]
    return U, s, V


def case_svd_update(repeat: int) -> None:
    import scipy.io
    from scipy.sparse.linalg import svds

    path = DATA / "classic3.mat"
    if not path.exists():
        print(f"SVDUpdater: {path} not found (set PROJKIT_DATA); skipped")
        return
    A = sp.csr_matrix(scipy.io.loadmat(path)["A"], dtype=np.float64)
    k, half = 64, A.shape[0] // 2
    edges = np.linspace(half, A.shape[0], 11).round().astype(int)
    pieces = [A[a:b] for a, b in zip(edges[:-1], edges[1:], strict=True)]
    v0 = np.random.default_rng(0).uniform(-1, 1, min(A[:half].shape))
    U0, s0, Vt0 = svds(A[:half], k=k, v0=v0)
    order = np.argsort(-s0)
    U0, s0, V0 = U0[:, order], s0[order], Vt0[order].T
    out: dict[str, tuple] = {}

    def ours(method="sparse"):
        up = projkit.SVDUpdater.from_factors(U0, s0, V0.T, method=method, rng=0)
        for E in pieces:
            up.add_rows(E)
        out[method] = (up.U, up.s, up.Vt.T)

    def dense():
        out["dense"] = dense_zha_simon(U0, s0, V0, pieces)

    fns = {"ours": ours, "dense": dense, "pk-zs": lambda: ours("zha-simon"),
           "pk-gkl": lambda: ours("sparse_gkl")}  # Deng et al.'s sparse GKL, l = 10 as IncSVD
    try:
        from IncSVD.EvolvingMatrix import EvolvingMatrix

        def incsvd():
            with contextlib.redirect_stdout(io.StringIO()):
                em = _incsvd_matrix(EvolvingMatrix, A[:half], k)
                em._Uk, em._sigmak, em._Vk = U0.copy(), s0.copy(), V0.copy()
                em._Ku, em._Kv = np.eye(k), np.eye(k)
                for E in pieces:
                    em.add_row(sp.csr_matrix(E), l=10)
            out["incsvd"] = (em.Uk, em.Sigmak, em.Vk)

        fns["incsvd"] = incsvd
    except Exception:
        print("IncSVD not importable (pip install IncSVD): compare with the issue's 0.157 s")
    d, s1 = both(fns, repeat)
    Ad = A.toarray()
    nA = float(np.linalg.norm(Ad))

    def err(key):
        U, s, V = out[key]
        return float(np.linalg.norm(Ad - (U * s) @ V.T) / nA)

    print(f"\n## SVDUpdater.add_rows, Classic3 {A.shape[0]}x{A.shape[1]}, k={k}, "
          f"50 % then 10 batches (ms); rel. errors: ours {err('sparse'):.5f}, dense "
          f"{err('dense'):.5f}, ours sparse_gkl {err('sparse_gkl'):.5f}"
          + (f", IncSVD GKL {err('incsvd'):.5f}" if "incsvd" in out else ""))
    print(HEAD)
    line("sparse vs dense Zha-Simon (NumPy)", d, s1, "ours", "dense", ">= 5x")
    line("sparse vs projkit method='zha-simon'", d, s1, "ours", "pk-zs")
    if "incsvd" in fns:
        # like for like: the same approximate method (sparse GKL, l = 10) on both sides; the
        # exact-basis "sparse" beside it, which IncSVD's fastest variant does not compute
        line("sparse_gkl vs IncSVD GKL (both l=10)", d, s1, "pk-gkl", "incsvd", "> 1x")
        line("sparse (exact basis) vs IncSVD GKL (l=10)", d, s1, "ours", "incsvd")


def _incsvd_matrix(EvolvingMatrix, A0, k):
    """An IncSVD EvolvingMatrix (GKL) without the svds its constructor runs: the attributes
    that ``__init__`` sets (IncSVD 0.2.7), the factors set by the caller to the shared ones."""
    em = EvolvingMatrix.__new__(EvolvingMatrix)
    em._m, em._n = A0.shape
    em._sparse = True
    em._method_dict = {"ZhaSimon": 1, "GKL": 2, "RPI": 3}
    em._method = 2
    em._k_dim = k
    em._inverted_index = [0] * max(em._m, em._n)
    return em


# ---------------------------------------------------------------------------------------------
# Gaussian sketch, CountSketch, sparse output


def case_gaussian(quick: bool, repeat: int) -> None:
    n, d, m = (16384, 512, 1024) if quick else (65536, 512, 2048)
    X = np.random.default_rng(0).standard_normal((n, d))
    G = np.random.default_rng(1).standard_normal((m, n))
    projkit.sketch(X[: 2 * m], m, method="gaussian", rng=1)  # load the kernels
    fns = {
        "ours": lambda: projkit.sketch(X, m, method="gaussian", rng=1),
        "numpy": lambda: (np.random.default_rng(1).standard_normal((m, n)) @ X) / math.sqrt(m),
        "gemm": lambda: G @ X,
    }
    dft, one = both(fns, repeat)
    print(f"\n## Gaussian sketch, dense {n}x{d} float64 -> {m} (ms)")
    print(HEAD)
    line("gaussian sketch vs NumPy draw + GEMM", dft, one, "ours", "numpy", ">= 1.4x")
    line("gaussian sketch vs the GEMM alone", dft, one, "ours", "gemm", ">= 1/1.3 = 0.77x")


def case_countsketch(quick: bool, repeat: int) -> None:
    from sklearn.random_projection import SparseRandomProjection

    n, d = (50_000, 5_000) if quick else (200_000, 20_000)
    A = sp.random(n, d, density=1e-3, format="csr", rng=np.random.default_rng(0))
    At = A.T.tocsr()
    projkit.sketch(A[:1000], 256, method="countsketch", rng=1)
    fns = {"ours": lambda: projkit.sketch(A, 256, method="countsketch", rng=1),
           "scipy": lambda: clarkson_woodruff_transform(A, 256, rng=1)}
    dft, one = both(fns, repeat)
    print(f"\n## CountSketch, CSR {n}x{d} 0.1 % -> 256 (ms)")
    print(HEAD)
    line("countsketch vs scipy clarkson_woodruff", dft, one, "ours", "scipy", ">= 3x")
    dens = 1 / math.sqrt(n)
    sizes = (256, 4096)
    for size in sizes:
        ours_s = peak_bytes(lambda size=size: projkit.sketch(
            A, size, method="sparse", rng=1, density=dens, dense_output=False))
        ours_d = peak_bytes(lambda size=size: projkit.sketch(A, size, method="sparse", rng=1,
                                                             density=dens))
        peer = peak_bytes(lambda size=size: SparseRandomProjection(
            size, density=dens, random_state=1).fit_transform(At))
        sk = projkit.sketch(A, size, method="sparse", rng=1, density=dens, dense_output=False)
        fill = sk.matrix.nnz / (size * d)
        print(f"  sparse -> {size}: peak MiB dense_output=False {ours_s / 2**20:.1f}, dense "
              f"{ours_d / 2**20:.1f}, sklearn SRP {peer / 2**20:.1f} (result {fill:.0%} full)")


# ---------------------------------------------------------------------------------------------
# ProjectedAdam


def case_projected_adam(quick: bool) -> None:
    torch = _torch()
    if torch is None:
        print("\n## ProjectedAdam: torch not installed; skipped")
        return
    from projkit.interop.torch import ProjectedAdam

    gap = 200  # GaLore's update_gap, ProjectedAdam's default: one SVD refresh per period
    rounds = 3 if quick else 5

    def mlp():
        torch.manual_seed(0)
        return torch.nn.Sequential(torch.nn.Linear(784, 512), torch.nn.ReLU(),
                                   torch.nn.Linear(512, 512), torch.nn.ReLU(),
                                   torch.nn.Linear(512, 10))

    x = torch.randn(128, 784, generator=torch.Generator().manual_seed(1))
    y = torch.randint(0, 10, (128,), generator=torch.Generator().manual_seed(2))

    def run(make_opt, steps: int = gap) -> np.ndarray:
        """The time of each ``step()`` over one refresh period of a fresh model/optimizer."""
        net = mlp()
        opt = make_opt(net.parameters())
        out = np.empty(steps)
        for i in range(steps):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(x), y).backward()
            t0 = time.perf_counter()
            opt.step()
            out[i] = time.perf_counter() - t0
        return out

    makers = {"ours": lambda p: ProjectedAdam(p, lr=1e-3, rank=64, update_gap=gap, rng=0),
              "adam": lambda p: torch.optim.Adam(p, lr=1e-3)}
    for mk in makers.values():
        run(mk, 20)  # warm-up (kernels, allocator)

    def measure() -> dict[str, np.ndarray]:
        """``rounds × gap`` step times each, ours and Adam alternating period by period (the
        machine's drift hits both)."""
        res: dict[str, list[np.ndarray]] = {k: [] for k in makers}
        for _ in range(rounds):
            for k, mk in makers.items():
                res[k].append(run(mk))
        return {k: np.stack(v) for k, v in res.items()}

    dft = measure()
    with one_thread():
        one = measure()

    def stats(t: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
        return {"period": {k: float(np.median(v.mean(axis=1))) for k, v in t.items()},
                "half": {k: float(np.median(v[:, : gap // 2].mean(axis=1)))
                         for k, v in t.items()},
                "steady": {k: float(np.median(v[:, 1:])) for k, v in t.items()},
                "first": {k: float(np.median(v[:, 0])) for k, v in t.items()}}

    sd, so = stats(dft), stats(one)
    print(f"\n## ProjectedAdam vs torch.optim.Adam, MLP 784-512-512-10, batch 128, rank 64, "
          f"update_gap {gap}: step() in ms, median of {rounds} periods (peer/ours < 1: ours "
          f"is slower)")
    print(HEAD)
    line(f"mean step over a period ({gap} steps)", sd["period"], so["period"], "ours", "adam",
         "ours/adam <= 1.5")
    line(f"mean step over {gap // 2} steps (2x the refreshes)", sd["half"], so["half"], "ours",
         "adam")
    line("steady step (median, between refreshes)", sd["steady"], so["steady"], "ours", "adam")
    line("first step (ours: the SVD refresh)", sd["first"], so["first"], "ours", "adam")
    for label, t in (("default threads", dft), ("one thread", one)):
        ratios = t["ours"].mean(axis=1) / t["adam"].mean(axis=1)
        print(f"  ours/adam per period, {label}: "
              + " ".join(f"{r:.2f}" for r in ratios) + f"  (median {np.median(ratios):.2f})")


# ---------------------------------------------------------------------------------------------
# first calls in a fresh process

_FIRST = r"""
import json, sys, time
t0 = time.perf_counter()
import numpy as np, scipy.sparse as sp
t_np = time.perf_counter() - t0
t0 = time.perf_counter()
import projkit
t_imp = time.perf_counter() - t0
rng = np.random.default_rng(0)
A = rng.standard_normal((4000, 200))
C = sp.random(4000, 300, density=0.01, format="csr", rng=rng)
res = {"import numpy+scipy": t_np, "import projkit": t_imp}
which = sys.argv[1]
def timed(name, f):
    t0 = time.perf_counter(); f(); res[name] = time.perf_counter() - t0
if which == "ours":
    timed("sketch gaussian (dense)", lambda: projkit.sketch(A, 100, method="gaussian", rng=1))
    timed("sketch countsketch (CSR)", lambda: projkit.sketch(C, 100, method="countsketch", rng=1))
    timed("rsvd (dense)", lambda: projkit.rsvd(A, 10, rng=1))
    timed("SVDUpdater + add_rows (CSR)",
          lambda: projkit.SVDUpdater(C[:2000], 10, rng=1).add_rows(C[2000:2500]))
else:
    from sklearn.utils.extmath import randomized_svd
    timed("sketch gaussian (dense)",
          lambda: np.random.default_rng(1).standard_normal((100, 4000)) @ A)
    timed("rsvd (dense)", lambda: randomized_svd(A, 10, random_state=1))
try:  # a training library's first step: ProjectedAdam against torch's Adam (torch imported)
    import torch
except ImportError:
    torch = None
if torch is not None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(784, 512), torch.nn.ReLU(),
                              torch.nn.Linear(512, 512), torch.nn.ReLU(), torch.nn.Linear(512, 10))
    out = net(torch.randn(128, 784))
    torch.nn.functional.cross_entropy(out, torch.zeros(128, dtype=torch.long)).backward()
    if which == "ours":
        from projkit.interop.torch import ProjectedAdam
        opt = ProjectedAdam(net.parameters(), lr=1e-3, rank=64, rng=0)
    else:
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    timed("first optimizer step (torch MLP, rank 64)", opt.step)
print(json.dumps(res))
"""


def _fresh(which: str, env: dict) -> dict:
    out = subprocess.run([sys.executable, "-c", _FIRST, which], capture_output=True, text=True,
                         env=env, cwd=str(ROOT), check=True, timeout=900)
    return json.loads(out.stdout.strip().splitlines()[-1])


def case_first_calls() -> None:
    base = dict(os.environ)
    base.pop("NUMBA_CACHE_DIR", None)
    one = {**base, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "NUMBA_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "projkit", "warmup"], env=base, cwd=str(ROOT),
                   check=True, capture_output=True, timeout=900)
    warm, warm1 = _fresh("ours", base), _fresh("ours", one)
    with tempfile.TemporaryDirectory() as tmp:
        cold = _fresh("ours", {**base, "NUMBA_CACHE_DIR": tmp})
    peer, peer1 = _fresh("peer", base), _fresh("peer", one)
    print("\n## first calls in a fresh process (ms): cache filled by `python -m projkit warmup`"
          " | one thread | empty Numba cache (no warm-up) | peer (NumPy / sklearn / torch)")
    for name in warm:
        p = peer.get(name)
        ptxt = f"{p * 1e3:>9.1f} (1t {peer1[name] * 1e3:.1f})" if p is not None else ""
        print(f"{name:<44}{warm[name] * 1e3:>9.1f}   |{warm1[name] * 1e3:>9.1f}"
              f"{cold[name] * 1e3:>12.1f}   {ptxt}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller inputs, fewer repeats")
    ap.add_argument("--only", nargs="+", default=None,
                    choices=["svd_update", "gaussian", "countsketch", "adam", "first"])
    args = ap.parse_args(argv)
    repeat = 2 if args.quick else 3
    import numba

    print(f"load average {os.getloadavg()}; {os.cpu_count()} CPUs; numba threads "
          f"{numba.get_num_threads()}; BLAS threads "
          f"{[i['num_threads'] for i in __import__('threadpoolctl').threadpool_info()]}")
    todo = args.only or ["svd_update", "gaussian", "countsketch", "adam", "first"]
    if "svd_update" in todo:
        case_svd_update(repeat)
    if "gaussian" in todo:
        case_gaussian(args.quick, repeat)
    if "countsketch" in todo:
        case_countsketch(args.quick, repeat)
    if "adam" in todo:
        case_projected_adam(args.quick)
    if "first" in todo:
        case_first_calls()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
