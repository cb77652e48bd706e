"""MTP2Precision at its default alpha and MTP2PrecisionCV vs sklearn's GraphicalLassoCV.

Synthetic MTP2 data (the M-matrix design of ``mtp2.py``: a random sparse graph of average
degree 3, weights U[2, 5], unit variances), n = ``--ratio`` x p Gaussian samples. Each row
reports the edge F-score, the relative Frobenius error of the precision, the alpha used and the
wall time of one fit (cross-validation included for the CV estimators; one process, BLAS
limited to ``--threads`` threads). ``MTP2Precision()`` uses ``alpha="auto"``, i.e.
sqrt(log p / n) on the correlation scale; both CV estimators use 5 folds and their default
grids (GraphicalLassoCV: 4 values x 4 refinements; MTP2PrecisionCV: 6 values x 2 refinements).

Usage::

    python benchmarks/compare/mtp2_vs_glasso.py              # p = 100, 200 (n = 5p)
    python benchmarks/compare/mtp2_vs_glasso.py --sizes 500  # the issue's size (slow)
    python benchmarks/compare/mtp2_vs_glasso.py --quick      # p = 50
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(__file__))
from mtp2 import _threads_from_argv

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = _threads_from_argv()

import numpy as np  # noqa: E402
from mtp2 import f_score, make_precision, rel_err  # noqa: E402

import projkit  # noqa: E402


def _timed(fit):
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning of GraphicalLasso at max_iter
        est = fit()
    return est, time.perf_counter() - t0


def run(p: int, ratio: float, seed: int = 0) -> None:
    from sklearn.covariance import GraphicalLassoCV

    rng = np.random.default_rng(seed)
    Theta = make_precision(p, rng)
    n = int(ratio * p)
    X = rng.multivariate_normal(np.zeros(p), np.linalg.inv(Theta), size=n)
    fits = {
        "MTP2Precision() (alpha='auto')": lambda: projkit.MTP2Precision().fit(X),
        "MTP2PrecisionCV()": lambda: projkit.MTP2PrecisionCV().fit(X),
        "sklearn GraphicalLassoCV()": lambda: GraphicalLassoCV().fit(X),
    }
    print(f"\np = {p}, n = {n} (true edges: {int((Theta != 0).sum() - p) // 2})")
    print(f"{'method':<34}{'F-score':>9}{'rel.err':>9}{'alpha':>9}{'time':>10}")
    for name, fit in fits.items():
        est, t = _timed(fit)
        T = np.asarray(est.precision_)
        if name.startswith("MTP2Precision()"):
            alpha = np.sqrt(np.log(p) / n)
        else:
            alpha = est.alpha_
        print(f"{name:<34}{f_score(T, Theta):>9.3f}{rel_err(T, Theta):>9.3f}{alpha:>9.4f}"
              f"{t:>9.2f}s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="p = 50 only")
    ap.add_argument("--sizes", type=int, nargs="*", default=None)
    ap.add_argument("--ratio", type=float, default=5.0, help="n / p (default 5, the issue's)")
    ap.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
    args = ap.parse_args()
    sizes = args.sizes or ([50] if args.quick else [100, 200])
    import scipy.linalg  # noqa: F401  (load every BLAS copy before limiting them)
    import sklearn.covariance  # noqa: F401
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=args.threads):
        for p in sizes:
            run(p, args.ratio)


if __name__ == "__main__":
    main()
