"""projkit.rsvd vs sklearn.utils.extmath.randomized_svd, and CUR/ID vs scipy.linalg.interpolative.

Same matrix, rank, oversampling and power iterations for both; timings are interleaved in one
process (median of repeats) and the errors are printed next to them, so "faster at equal or
better error" can be read off one table. The ratio is peer / ours (> 1: projkit is faster).

Usage::

    python benchmarks/compare/rsvd_vs_sklearn.py            # dense 4000², sparse 1e5 × 1e4
    python benchmarks/compare/rsvd_vs_sklearn.py --quick    # dense 2000², sparse 2e4 × 5e3
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, os.path.dirname(__file__))
from _common import interleaved, one_txt

import projkit


def dense_matrix(n: int, dtype, seed: int = 0) -> np.ndarray:
    """Decaying spectrum σ_i ≈ 0.97^i on top of a noise floor (a typical PCA matrix)."""
    rng = np.random.default_rng(seed)
    r = 300
    L = rng.standard_normal((n, r)) * (0.97 ** np.arange(r))
    A = L @ rng.standard_normal((r, n)) / np.sqrt(n)
    A += 1e-3 * rng.standard_normal((n, n))
    return A.astype(dtype)


def sparse_matrix(m: int, n: int, density: float, dtype, seed: int = 0):
    """Random sparse matrix with a low-rank part in its values (term-document-like)."""
    rng = np.random.default_rng(seed)
    A = sp.random(m, n, density=density, format="csr", random_state=rng, dtype=np.float64)
    # give rows/columns popularity so that the spectrum decays (power-law weights)
    rw = (1.0 + np.arange(m)) ** -0.5
    cw = (1.0 + np.arange(n)) ** -0.5
    A = sp.diags(rng.permutation(rw)) @ A @ sp.diags(rng.permutation(cw))
    return sp.csr_matrix(A, dtype=dtype)


def frob_error(A, U, s, Vt) -> float:
    """‖A − U S Vᵀ‖_F / ‖A‖_F without forming the product for sparse A."""
    U = U.astype(np.float64)
    s = s.astype(np.float64)
    Vt = Vt.astype(np.float64)
    if sp.issparse(A):
        A = A.astype(np.float64)
        a2 = float(A.multiply(A).sum())
        cross = float(np.sum((A @ Vt.T) * (U * s)))
        approx2 = float(np.sum(s**2))  # U, V orthonormal
    else:
        A = A.astype(np.float64)
        a2 = float(np.sum(A * A))
        cross = float(np.sum((U.T @ A) * (s[:, None] * Vt)))
        approx2 = float(np.sum(s**2))
    return float(np.sqrt(max(a2 - 2 * cross + approx2, 0.0) / a2))


def bench_rsvd(label: str, A, rank: int, n_iter: int, repeat: int, seeds: int = 3) -> None:
    from sklearn.utils.extmath import randomized_svd

    def ours(seed=0):
        return projkit.rsvd(A, rank, oversample=10, n_iter=n_iter, rng=seed)

    def peer(seed=0):
        return randomized_svd(A, rank, n_oversamples=10, n_iter=n_iter, random_state=seed)

    t = interleaved({"ours": ours, "peer": peer}, repeat=repeat, warmup=1)
    # the error depends on the random test matrix: compare means over a few seeds
    e_ours = float(np.mean([frob_error(A, *ours(sd)) for sd in range(seeds)]))
    e_peer = float(np.mean([frob_error(A, *peer(sd)) for sd in range(seeds)]))
    print(f"{label:<46}{t['ours'] * 1e3:>10.1f} ms{t['peer'] * 1e3:>10.1f} ms"
          f"{t['peer'] / t['ours']:>8.2f}x   err {e_ours:.6f} vs {e_peer:.6f}"
          + one_txt(t["ours"], t["peer"]), flush=True)


def bench_cur(label: str, A, rank: int, repeat: int) -> None:
    import scipy.linalg.interpolative as sli

    def ours_id():
        return projkit.interpolative(A, rank, rng=0)

    def ours_qr():
        return projkit.interpolative(A, rank, method="qr")

    def ours_cur():
        return projkit.cur(A, rank, rng=0)

    def peer_id():
        return sli.interp_decomp(A, rank, rng=0)  # randomized ID (rand=True), as ours

    t = interleaved({"id": ours_id, "qr": ours_qr, "cur": ours_cur, "peer": peer_id},
                    repeat=repeat, warmup=1)
    A64 = A.astype(np.float64)
    nA = np.linalg.norm(A64)
    r = ours_id()
    e_id = np.linalg.norm(A64 - r.to_dense()) / nA
    e_qr = np.linalg.norm(A64 - ours_qr().to_dense()) / nA
    c = ours_cur()
    e_cur = np.linalg.norm(A64 - c.to_dense()) / nA
    idx, proj = peer_id()
    e_peer = np.linalg.norm(A64 - sli.reconstruct_matrix_from_id(A64[:, idx[:rank]], idx, proj))
    e_peer /= nA
    print(f"{label + ' ID (randomized, q=1)':<46}{t['id'] * 1e3:>10.1f} ms"
          f"{t['peer'] * 1e3:>10.1f} ms{t['peer'] / t['id']:>8.2f}x   err {e_id:.6f} vs "
          f"{e_peer:.6f}" + one_txt(t["id"], t["peer"]), flush=True)
    print(f"{label + ' ID (pivoted QR)':<46}{t['qr'] * 1e3:>10.1f} ms"
          f"{t['peer'] * 1e3:>10.1f} ms{t['peer'] / t['qr']:>8.2f}x   err {e_qr:.6f} vs "
          f"{e_peer:.6f}" + one_txt(t["qr"], t["peer"]), flush=True)
    print(f"{label + ' CUR (deim) vs scipy ID':<46}{t['cur'] * 1e3:>10.1f} ms"
          f"{t['peer'] * 1e3:>10.1f} ms{t['peer'] / t['cur']:>8.2f}x   err {e_cur:.6f} vs "
          f"{e_peer:.6f}" + one_txt(t["cur"], t["peer"]), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes (a minute or two)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--rank", type=int, default=100)
    ap.add_argument("--n-iter", type=int, default=4)
    ap.add_argument("--seeds", type=int, default=3, help="seeds averaged for the error")
    ap.add_argument("--skip-cur", action="store_true")
    ap.add_argument("--skip-dense", action="store_true")
    ap.add_argument("--skip-sparse", action="store_true")
    args = ap.parse_args()
    n = 2000 if args.quick else 4000
    sm, sn = (20_000, 5_000) if args.quick else (100_000, 10_000)
    print(f"cores: {os.cpu_count()}, load: {os.getloadavg()[0]:.1f}; rank {args.rank}, "
          f"oversample 10, n_iter {args.n_iter}; ratio = sklearn / projkit")
    print(f"{'case':<46}{'projkit':>13}{'sklearn':>13}{'ratio':>9}   rel. Frobenius error "
          f"(mean of {args.seeds} seeds, ours vs sklearn)")
    for dt in () if args.skip_dense else (np.float32, np.float64):
        A = dense_matrix(n, dt)
        bench_rsvd(f"dense {n}x{n} {np.dtype(dt).name}", A, args.rank, args.n_iter, args.repeat,
                   args.seeds)
        del A
    for dt in () if args.skip_sparse else (np.float32, np.float64):
        S = sparse_matrix(sm, sn, 1e-3, dt)
        bench_rsvd(f"sparse {sm}x{sn} nnz={S.nnz} {np.dtype(dt).name}", S, args.rank,
                   args.n_iter, args.repeat, args.seeds)
        del S
    if not args.skip_cur:
        nc = 1000 if args.quick else 2000
        A = dense_matrix(nc, np.float64)
        print(f"\n{'case':<46}{'projkit':>13}{'scipy ID':>13}{'ratio':>9}   rel. error")
        bench_cur(f"dense {nc}x{nc} rank 50", A, 50, args.repeat)


if __name__ == "__main__":
    main()
