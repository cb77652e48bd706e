"""
Approximating products from sketches
====================================

Two products estimated from sketches of their factors, each sketched on its own:

1. **Attention scores** ``S = Q Kᵀ`` (``n_q × n_k``) with a shared inner dimension ``d``: sketch
   the ``d`` feature rows of ``Qᵀ`` and ``Kᵀ`` and estimate ``QKᵀ = (Qᵀ)ᵀ Kᵀ``. Heavy-tailed
   features (a few large coordinates, as in trained transformers) favour coordinated sampling,
   which keeps the large coordinates, over a Gaussian projection of the same storage.
2. **Term co-occurrence** across two document collections, from the Classic3 bag-of-words
   matrix in ``../shared/data`` when present (else a generated Zipf-like corpus).

The figure plots the relative error ``‖W − AᵀB‖_F / (‖A‖_F ‖B‖_F)`` against the bytes a sketch
stores, for each method and a few sketch sizes.

Run: ``python examples/sketched_products.py`` (``PROJKIT_EXAMPLES_FULL=1`` for more sizes).
"""

import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import scipy.sparse as sp

import projkit

FULL = os.environ.get("PROJKIT_EXAMPLES_FULL") == "1"
# sphinx-gallery runs an example from its own folder, without __file__
HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
DATA = Path(os.environ.get("PROJKIT_DATA", HERE.parent.parent / "shared" / "data"))
SIZES = [64, 128, 256, 512, 1024] if FULL else [64, 256, 1024]

rng = np.random.default_rng(1)


def error_curve(A, B, method, seed):
    """(bytes of A's sketch, relative error) for each sketch size."""
    exact = A.T @ B
    exact = exact.toarray() if sp.issparse(exact) else exact
    norm = (sp.linalg.norm(A) if sp.issparse(A) else np.linalg.norm(A)) * \
        (sp.linalg.norm(B) if sp.issparse(B) else np.linalg.norm(B))
    out = []
    for size in SIZES:
        sa = projkit.sketch(A, size, method=method, rng=seed)
        W = projkit.approx_matmul(sa, projkit.sketch(B, size, method=method, rng=seed))
        W = W.toarray() if sp.issparse(W) else W
        out.append((sa.nbytes, np.linalg.norm(W - exact) / norm))
    return np.array(out)


# %%
# Attention scores with outlier features
# --------------------------------------
d, n_q, n_k = 4096, 64, 64
scale = np.where(rng.random(d) < 0.02, 20.0, 1.0)  # 2% outlier feature dimensions
Q = rng.standard_normal((n_q, d)) * scale
K = rng.standard_normal((n_k, d)) * scale
attention = {m: error_curve(Q.T, K.T, m, 5) for m in ("coordinated", "gaussian", "countsketch")}
for m, c in attention.items():
    print(f"attention scores, {m:<12}: " + ", ".join(
        f"{b // 1024} KiB -> {e:.3f}" for b, e in c))

# %%
# Term co-occurrence between two collections
# ------------------------------------------
f = DATA / "classic3.mat"
if f.is_file():
    from scipy.io import loadmat

    m = loadmat(f)
    C, labels = sp.csr_matrix(m["A"], dtype=float), np.asarray(m["labels"]).ravel()
    T = C.T.tocsr()  # terms × documents
    A, B = T[:, labels == 0].tocsr(), T[:, labels == 2].tocsr()  # MED vs CRAN documents
    name = "Classic3 terms: MED x CRAN co-occurrence"
else:
    A = sp.random(5000, 300, density=0.01, format="csr", rng=rng)
    B = sp.random(5000, 300, density=0.01, format="csr", rng=rng)
    name = "generated corpus (Classic3 not found)"
words = {m: error_curve(A, B, m, 3)
         for m in ("coordinated", "threshold", "gaussian", "countsketch")}
for m, c in words.items():
    print(f"{name}, {m:<12}: " + ", ".join(f"{b // 1024} KiB -> {e:.3f}" for b, e in c))

# %%
# Error against storage
# ---------------------
fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
for ax, curves, title in ((axes[0], attention, "attention scores Q Kᵀ (2% outlier features)"),
                          (axes[1], words, name)):
    for m, c in curves.items():
        ax.loglog(c[:, 0] / 1024, c[:, 1], "o-", label=m)
    ax.set(xlabel="bytes of one sketch (KiB)", ylabel="relative error", title=title)
    ax.xaxis.set_minor_formatter(plt.NullFormatter())  # decades only: no crowded labels
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
plt.show()
