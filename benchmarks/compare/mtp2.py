"""projkit.MTP2Precision (adaptive M-matrix estimator) vs sklearn.covariance.GraphicalLasso.

Synthetic MTP2 data: a sparse M-matrix precision (random graph, average degree 3, weights
U[2, 5], rescaled to unit variances), n = ``--ratio`` x p Gaussian samples. Each method gets a
grid of regularizations alpha = c * sqrt(log p / n) and is reported at its own best alpha
(best edge F-score, ties broken by error): relative Frobenius error of the precision, F-score of
the edge set, and run time (median of interleaved repeats at the chosen alpha, one process,
BLAS limited to ``--threads`` threads for both).

Real data: the 56 stocks of ``../shared/data/financial`` (close - open, standardized). No ground
truth there; for each method the alpha giving about ``--edges`` edges is found by bisection and
the graph's sector structure is reported (share of edges inside a sector, modularity of the
sector partition; the sector map is the one of ``examples/stock_graph.py``).

Usage::

    python benchmarks/compare/mtp2.py            # p = 100, 200, 500 and the stocks
    python benchmarks/compare/mtp2.py --quick    # p = 100, 200 and the stocks
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path


def _threads_from_argv(default: str = "default") -> str:
    argv = sys.argv[1:]
    for k, a in enumerate(argv):
        if a == "--threads" and k + 1 < len(argv):
            return argv[k + 1]
        if a.startswith("--threads="):
            return a.split("=", 1)[1]
    return default


# BLAS threads must be fixed before NumPy/SciPy load their OpenBLAS copies (threadpoolctl only
# limits libraries already loaded, and scipy.linalg.lapack / sklearn load lazily)
# (default: leave them; the headline is at the default threads, the one-thread time beside it)
if _threads_from_argv() != "default":
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_var] = _threads_from_argv()

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from _common import interleaved, one_txt  # noqa: E402

import projkit  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def make_precision(p: int, rng: np.random.Generator, degree: float = 3.0) -> np.ndarray:
    A = np.triu(rng.random((p, p)) < degree / (p - 1), 1)
    W = np.where(A, rng.uniform(2.0, 5.0, (p, p)), 0.0)
    W = W + W.T
    Theta = np.diag(W.sum(1) + rng.uniform(0.5, 1.5, p)) - W
    d = np.sqrt(np.diag(np.linalg.inv(Theta)))
    return Theta * np.outer(d, d)


def f_score(T: np.ndarray, Ttrue: np.ndarray) -> float:
    off = ~np.eye(len(T), dtype=bool)
    est = np.abs(T[off]) > 1e-8 * np.abs(np.diag(T)).mean()
    true = Ttrue[off] != 0
    return float(2 * np.sum(est & true) / max(est.sum() + true.sum(), 1))


def rel_err(T: np.ndarray, Ttrue: np.ndarray) -> float:
    return float(np.linalg.norm(T - Ttrue) / np.linalg.norm(Ttrue))


def ours(X: np.ndarray, alpha: float, constraint: str = "mmatrix") -> np.ndarray:
    return projkit.MTP2Precision(alpha=alpha, stages=3, constraint=constraint).fit(X).precision_


def glasso(X: np.ndarray, alpha: float) -> np.ndarray:
    from sklearn.covariance import GraphicalLasso

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning at max_iter=100 (its default)
        return GraphicalLasso(alpha=alpha).fit(X).precision_


def best_on_grid(fit, X, Ttrue, grid):
    """(alpha, F, error) at the best-F alpha of the grid, and the grid's smallest error."""
    best = None
    min_err = np.inf
    for a in grid:
        T = fit(X, a)
        key = (f_score(T, Ttrue), -rel_err(T, Ttrue))
        min_err = min(min_err, -key[1])
        if best is None or key > best[0]:
            best = (key, a)
    (f, e), a = best
    return a, f, -e, min_err


def synthetic(p: int, ratio: float, repeat: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    Theta = make_precision(p, rng)
    n = int(ratio * p)
    X = rng.multivariate_normal(np.zeros(p), np.linalg.inv(Theta), size=n)
    base = np.sqrt(np.log(p) / n)
    a_ours, f_ours, e_ours, m_ours = best_on_grid(ours, X, Theta,
                                                  base * np.array([1.0, 1.7, 2.5]))
    a_gl, f_gl, e_gl, m_gl = best_on_grid(glasso, X, Theta,
                                          base * np.array([0.5, 1.0, 1.5, 2.5]))
    t = interleaved({"ours": lambda: ours(X, a_ours), "glasso": lambda: glasso(X, a_gl)},
                    repeat=repeat, warmup=0)
    print(f"p={p:<4d} n={n:<6d} F-score {f_ours:6.3f} {f_gl:6.3f}   "
          f"rel.err {e_ours:6.3f} {e_gl:6.3f}   time {t['ours']:8.2f} s {t['glasso']:8.2f} s "
          f"{t['glasso'] / t['ours']:7.2f}x   (alpha {a_ours:.3f} / {a_gl:.3f}; "
          f"smallest rel.err on the grid {m_ours:.3f} / {m_gl:.3f})"
          + one_txt(t["ours"], t["glasso"], scale=1.0))


def alpha_for_edges(fit, X, target, lo=0.01, hi=0.9, steps=12):
    """Bisection on alpha for about ``target`` edges (edges fall as alpha grows)."""
    best = None
    for _ in range(steps):
        a = np.sqrt(lo * hi)
        T = fit(X, a)
        m = int(np.sum(np.abs(T[np.triu_indices(len(T), 1)]) > 1e-8 * np.abs(np.diag(T)).mean()))
        if best is None or abs(m - target) < abs(best[1] - target):
            best = (a, m)
        if m > target:
            lo = a
        else:
            hi = a
    return best[0]


def stocks(target: int, repeat: int) -> None:
    sys.path.insert(0, str(ROOT / "examples"))
    from stock_graph import data_dir, load_returns, sector_purity

    if not data_dir().is_dir():
        print(f"stock data not found at {data_dir()}; skipped")
        return
    X, names = load_returns()
    rows = {}
    fits = {"ours (M-matrix)": lambda X, a: ours(X, a),
            "ours (DD M-matrix)": lambda X, a: ours(X, a, "dd_mmatrix"),
            "GraphicalLasso": glasso}
    alphas = {k: alpha_for_edges(f, X, target) for k, f in fits.items()}
    times = interleaved({k: (lambda f=f, a=alphas[k]: f(X, a)) for k, f in fits.items()},
                        repeat=repeat, warmup=0)
    for k, f in fits.items():
        rows[k] = sector_purity(f(X, alphas[k]), names)
    print(f"\nstocks: {X.shape[0]} days x {X.shape[1]} tickers, alpha set for ~{target} edges")
    print(f"{'method':<22}{'alpha':>7}{'edges':>7}{'in-sector':>11}{'modularity':>12}"
          f"{'time':>10}")
    for k, (m, inside, mod) in rows.items():
        print(f"{k:<22}{alphas[k]:>7.3f}{m:>7d}{100 * inside:>10.0f}%{mod:>12.3f}"
              f"{times[k]:>9.2f}s   (1 thread {times[k].one:.2f}s)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="p = 100, 200 only")
    ap.add_argument("--sizes", type=int, nargs="*", default=None)
    ap.add_argument("--ratio", type=float, default=10.0, help="n / p (default 10)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", default="default",
                    help="pin BLAS threads for both (default: leave them)")
    ap.add_argument("--edges", type=int, default=112, help="target edges on the stock graph")
    args = ap.parse_args()
    sizes = args.sizes or ([100, 200] if args.quick else [100, 200, 500])
    import scipy.linalg  # noqa: F401  (load every BLAS copy before limiting them)
    import sklearn.covariance  # noqa: F401
    from threadpoolctl import threadpool_limits

    limit = None if args.threads == "default" else int(args.threads)
    with threadpool_limits(limits=limit):
        print("synthetic MTP2 data; columns: ours, GraphicalLasso (ratio = glasso / ours)")
        for p in sizes:
            synthetic(p, args.ratio, repeat=args.repeat if p < 500 else 1)
        stocks(args.edges, args.repeat)


if __name__ == "__main__":
    main()
