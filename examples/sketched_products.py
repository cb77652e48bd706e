"""Approximating products from sketches: attention scores Q Kᵀ and bag-of-words co-occurrence.

1. Attention scores ``S = Q Kᵀ`` (``n_q × n_k``) with a shared inner dimension ``d``: sketch the
   *columns* of ``Qᵀ`` and ``Kᵀ`` (i.e. the ``d`` feature rows) and estimate ``QKᵀ = (Qᵀ)ᵀ Kᵀ``.
   Heavy-tailed features (a few large coordinates, as in trained transformers) favour
   coordinated sampling over a Gaussian projection of the same storage.
2. Term co-occurrence across two document collections, from the Classic3 bag-of-words matrix in
   ``../shared/data`` when present (else a generated Zipf corpus).

Run: python examples/sketched_products.py
"""

from pathlib import Path

import numpy as np
import scipy.sparse as sp

import projkit

rng = np.random.default_rng(1)

# 1. attention scores -----------------------------------------------------------------------
d, n_q, n_k = 4096, 64, 64
scale = np.where(rng.random(d) < 0.02, 20.0, 1.0)  # 2% outlier feature dimensions
Q = rng.standard_normal((n_q, d)) * scale
K = rng.standard_normal((n_k, d)) * scale
exact = Q @ K.T
for method in ("coordinated", "gaussian", "countsketch"):
    size = 256
    sq = projkit.sketch(Q.T, size, method=method, rng=5)
    sk = projkit.sketch(K.T, size, method=method, rng=5)
    est = projkit.approx_matmul(sq, sk)
    err = np.linalg.norm(est - exact) / (np.linalg.norm(Q) * np.linalg.norm(K))
    print(f"attention scores, {method:<12} size {size}: relative error {err:.4f} "
          f"({sq.nbytes // 1024} KiB per sketch)")

# 2. bag of words ------------------------------------------------------------------------------
f = Path(__file__).resolve().parents[2] / "shared" / "data" / "classic3.mat"
if f.is_file():
    from scipy.io import loadmat

    m = loadmat(f)
    C, labels = sp.csr_matrix(m["A"], dtype=float), np.asarray(m["labels"]).ravel()
    T = C.T.tocsr()  # terms × documents
    A, B = T[:, labels == 0].tocsr(), T[:, labels == 2].tocsr()  # MED vs CRAN documents
    name = "Classic3 MED x CRAN documents over shared terms"
else:
    A = sp.random(5000, 300, density=0.01, format="csr", rng=rng)
    B = sp.random(5000, 300, density=0.01, format="csr", rng=rng)
    name = "generated corpus"
exact = (A.T @ B).toarray()
norm = sp.linalg.norm(A) * sp.linalg.norm(B)
for method in ("coordinated", "threshold", "gaussian", "countsketch"):
    size = 400
    sa = projkit.sketch(A, size, method=method, rng=3)
    W = projkit.approx_matmul(sa, projkit.sketch(B, size, method=method, rng=3))
    W = W.toarray() if sp.issparse(W) else W
    print(f"{name}, {method:<12} size {size}: relative error "
          f"{np.linalg.norm(W - exact) / norm:.4f} ({sa.nbytes // 1024} KiB for A's sketch)")
