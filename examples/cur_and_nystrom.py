"""
CUR picks real terms and documents; Nyström compresses a kernel
===============================================================

CUR picks real terms and documents; Nyström compresses a kernel matrix.

Part 1 -- CUR on the Classic3 term-document matrix (3 891 abstracts from medicine, aeronautics
and information retrieval; ``../shared/data/classic3.mat``). A rank-k CUR keeps k actual
*terms* (columns) and k actual *documents* (rows), so the factors are readable: the DEIM terms
name the topics, and the chosen documents come from all three collections. The script compares
the Frobenius error of CUR (DEIM, Q-DEIM, leverage sampling) with the optimal rank-k error
(truncated SVD, from :func:`projkit.rsvd`) and with the interpolative decomposition, for
several k, and plots error versus k to ``cur_and_nystrom.png`` next to this file.

Part 2 -- Nyström on an RBF kernel of the handwritten digits bundled with scikit-learn
(1 797 × 1 797, PSD): :func:`projkit.nystrom_psd` (one product with the kernel) against
:func:`projkit.rsvd` (2q + 2 products) and the generalized Nyström :func:`projkit.nystrom`.

Run: ``python examples/cur_and_nystrom.py`` (about half a minute on one core).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp

import projkit

# sphinx-gallery runs an example from its own folder, without __file__
HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()

DATA = HERE.parent.parent / "shared" / "data" / "classic3.mat"
RANKS = [5, 10, 20, 40]


def frob_err_sparse(A: sp.spmatrix, C, U, R) -> float:
    """‖A − C U R‖_F / ‖A‖_F without forming C U R (A stays sparse)."""
    a2 = float(A.multiply(A).sum())
    cross = float(np.sum(np.asarray((A @ R.T).todense()) * np.asarray(C @ U)))
    r2 = float(np.trace(np.asarray((C.T @ C).todense()) @ U @ np.asarray((R @ R.T).todense())
                        @ U.T))
    return np.sqrt(max(a2 - 2 * cross + r2, 0.0) / a2)


def part_cur() -> dict[str, list[float]]:
    import scipy.io as sio

    d = sio.loadmat(DATA)
    A = d["A"].tocsr().astype(np.float64)  # documents × terms, raw counts
    # tf-idf-like scaling so that frequent function words do not dominate
    df = np.asarray((A > 0).sum(axis=0)).ravel()
    A = A @ sp.diags(np.log(A.shape[0] / np.maximum(df, 1)))
    A = sp.csr_matrix(A)
    terms = np.array([str(t[0][0]) for t in d["ms"]])
    labels = d["labels"].ravel()
    a2 = float(A.multiply(A).sum())
    print(f"Classic3: {A.shape[0]} documents × {A.shape[1]} terms, nnz = {A.nnz}")

    k = 10
    res = projkit.cur(A, k, method="deim", rng=0)
    print(f"\nDEIM CUR, k = {k}: chosen terms ->", ", ".join(terms[res.cols]))
    print("chosen documents come from collections", np.bincount(labels[res.rows], minlength=3),
          "(MED, CRAN, CISI)")

    curves: dict[str, list[float]] = {"SVD (optimal)": [], "CUR deim": [], "CUR qr": [],
                                      "CUR leverage": [], "ID (columns only)": []}
    for k in RANKS:
        s = projkit.rsvd(A, k, n_iter=7, rng=0).s
        curves["SVD (optimal)"].append(np.sqrt(max(a2 - float(np.sum(s**2)), 0.0) / a2))
        for m in ("deim", "qr", "leverage"):
            C, U, R, _, _ = projkit.cur(A, k, method=m, rng=0)
            curves[f"CUR {m}"].append(frob_err_sparse(A, C, U, R))
        idd = projkit.interpolative(A, k, rng=0)
        # ‖A − C Z‖ with C sparse and Z dense (k × n): via the same expansion
        C, Z = idd.C, idd.Z
        cross = float(np.sum(np.asarray((C.T @ A).todense()) * Z))
        r2 = float(np.trace(np.asarray((C.T @ C).todense()) @ Z @ Z.T))
        curves["ID (columns only)"].append(np.sqrt(max(a2 - 2 * cross + r2, 0.0) / a2))
    print(f"\n{'k':>4}" + "".join(f"{name:>20}" for name in curves))
    for i, k in enumerate(RANKS):
        print(f"{k:>4}" + "".join(f"{curves[n][i]:>20.4f}" for n in curves))
    ratio = np.array(curves["CUR deim"]) / np.array(curves["SVD (optimal)"])
    print("CUR (DEIM) error / optimal error:", np.round(ratio, 3))
    return curves


def part_nystrom() -> None:
    from sklearn.datasets import load_digits

    X = load_digits().data.astype(np.float64)
    sq = np.sum(X**2, axis=1)
    D2 = np.maximum(sq[:, None] + sq[None, :] - 2 * X @ X.T, 0)
    K = np.exp(-D2 / np.median(D2))  # RBF kernel, bandwidth = median distance
    lam = np.linalg.eigvalsh(K)[::-1]
    nK = np.linalg.norm(K)
    print(f"\nRBF kernel of the digits: {K.shape}, trace {np.trace(K):.0f}")
    print(f"{'k':>4}{'optimal':>12}{'nystrom_psd':>14}{'nystrom':>12}{'rsvd q=2':>12}")
    for k in (10, 40, 100):
        opt = np.sqrt(np.sum(lam[k:] ** 2)) / nK
        e_psd = np.linalg.norm(K - projkit.nystrom_psd(K, k, rng=0).to_dense()) / nK
        e_gen = projkit.nystrom(K, k, rng=0).error(relative=True)
        e_rsvd = np.linalg.norm(K - projkit.rsvd(K, k, n_iter=2, rng=0).to_dense()) / nK
        print(f"{k:>4}{opt:>12.4f}{e_psd:>14.4f}{e_gen:>12.4f}{e_rsvd:>12.4f}")


def plot(curves: dict[str, list[float]]) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for name, errs in curves.items():
        ax.plot(RANKS, errs, marker="o", label=name)
    ax.set_xlabel("rank k (columns / rows kept)")
    ax.set_ylabel("relative Frobenius error")
    ax.set_title("Classic3 (tf-idf): CUR vs the optimal rank-k error")
    ax.legend()
    fig.tight_layout()
    out = HERE / "cur_and_nystrom.png"
    fig.savefig(out, dpi=120)
    print(f"\nwrote {out}")


if __name__ == "__main__":
    if DATA.exists():
        plot(part_cur())
    else:
        print(f"{DATA} not found: skipping the CUR part")
    part_nystrom()
