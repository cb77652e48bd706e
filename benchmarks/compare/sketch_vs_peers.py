"""projkit's linear sketches against their peers, same inputs, one process, interleaved.

* very sparse RP and CountSketch of a 200 000 × 20 000 CSR matrix (0.1 % density) to 256 rows,
  against scikit-learn's SparseRandomProjection (which compresses columns: run on Aᵀ) and
  scipy.linalg.clarkson_woodruff_transform;
* the Gaussian sketch against scikit-learn's GaussianRandomProjection;
* SRHT against the Gaussian sketch on a dense 2¹⁶ × 512 float64 matrix at size 2048.

Every time is at the default threads (what users get), with the one-thread figure beside it
(see ``_common.interleaved``).

Usage: python benchmarks/compare/sketch_vs_peers.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

import numpy as np
import scipy.sparse as sp
from scipy.linalg import clarkson_woodruff_transform
from sklearn.random_projection import GaussianRandomProjection, SparseRandomProjection

import projkit

sys.path.insert(0, os.path.dirname(__file__))
from _common import interleaved, peak_bytes, row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller inputs (a minute)")
    args = ap.parse_args()
    n, d = (50_000, 5_000) if args.quick else (200_000, 20_000)
    rng = np.random.default_rng(0)
    print(f"{'case':<48}{'projkit':>14}{'peer':>14}{'ratio':>10}")
    for dtype in (np.float64, np.float32):
        A = sp.random(n, d, density=1e-3, format="csr", rng=rng, dtype=dtype)
        At = A.T.tocsr()
        tag = f"CSR {n}x{d} 0.1% {np.dtype(dtype).name} -> 256"
        dens = 1 / np.sqrt(n)

        def ours_sparse(A=A, dens=dens):
            return projkit.sketch(A, 256, method="sparse", rng=1, density=dens)

        def sk_sparse(At=At, dens=dens):
            return SparseRandomProjection(256, density=dens, random_state=1).fit_transform(At)

        def ours_sparse_csr(A=A, dens=dens):
            return projkit.sketch(A, 256, method="sparse", rng=1, density=dens,
                                  dense_output=False)

        def ours_cs(A=A):
            return projkit.sketch(A, 256, method="countsketch", rng=1)

        def scipy_cs(A=A):
            return clarkson_woodruff_transform(A, 256, rng=1)

        t = interleaved({"o1": ours_sparse, "p1": sk_sparse, "o2": ours_cs, "p2": scipy_cs},
                        repeat=5)
        print(row(f"sparse RP vs sklearn SRP, {tag}", t["o1"], t["p1"]))
        print(row(f"countsketch vs scipy CW, {tag}", t["o2"], t["p2"]))
        m = {k: peak_bytes(f) for k, f in
             {"o1": ours_sparse, "p1": sk_sparse, "o2": ours_cs, "p2": scipy_cs,
              "o3": ours_sparse_csr}.items()}
        print(f"{'  peak memory (MiB) sparse RP / sklearn':<48}{m['o1'] / 2**20:>11.1f} MiB"
              f"{m['p1'] / 2**20:>11.1f} MiB{m['p1'] / m['o1']:>9.2f}x")
        print(f"{'  peak memory (MiB) sparse dense_output=False':<48}{m['o3'] / 2**20:>11.1f} MiB"
              f"{m['p1'] / 2**20:>11.1f} MiB{m['p1'] / m['o3']:>9.2f}x")
        print(f"{'  peak memory (MiB) countsketch / scipy':<48}{m['o2'] / 2**20:>11.1f} MiB"
              f"{m['p2'] / 2**20:>11.1f} MiB{m['p2'] / m['o2']:>9.2f}x")

    nd = 1 << (14 if args.quick else 16)
    X = rng.standard_normal((nd, 512))
    size = 512 if args.quick else 2048
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = interleaved({
            "srht": lambda: projkit.sketch(X, size, method="srht", rng=1),
            "gauss": lambda: projkit.sketch(X, size, method="gaussian", rng=1),
            "skg": lambda: GaussianRandomProjection(size, random_state=1).fit_transform(X.T),
        }, repeat=3)
    print(row(f"srht vs gaussian sketch, dense {nd}x512 -> {size}", t["srht"], t["gauss"]))
    print(row(f"gaussian vs sklearn GRP, dense {nd}x512 -> {size}", t["gauss"], t["skg"]))


if __name__ == "__main__":
    main()
