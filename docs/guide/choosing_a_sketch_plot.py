"""The figure of docs/guide/choosing_a_sketch.rst: error against bytes and time, every method.

Run by matplotlib's plot directive while the docs build (working directory: docs/)."""

import os
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import scipy.sparse as sp

import projkit
from projkit.sketching.linear import LINEAR_METHODS

data = Path(os.environ.get("PROJKIT_DATA", Path.cwd().resolve().parent.parent / "shared"
                           / "data")) / "classic3.mat"
if data.is_file():
    from scipy.io import loadmat

    m = loadmat(data)
    C, labels = sp.csr_matrix(m["A"], dtype=float), np.asarray(m["labels"]).ravel()
    T = C.T.tocsr()  # terms x documents
    A, B = T[:, labels == 0].tocsr(), T[:, labels == 2].tocsr()
    title = "Classic3: MED x CRAN term co-occurrence"
else:
    g = np.random.default_rng(0)
    p = 1.0 / np.arange(1, 4304) ** 1.1
    p /= p.sum()

    def corpus(docs):
        rows = g.choice(4303, size=docs * 40, p=p)
        cols = np.repeat(np.arange(docs), 40)
        M = sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(4303, docs))
        M.sum_duplicates()
        return M

    A, B = corpus(1033), corpus(1398)
    title = "generated Zipf corpus (Classic3 not found)"

exact = (A.T @ B).toarray()
norm = sp.linalg.norm(A) * sp.linalg.norm(B)
methods = [m for m in LINEAR_METHODS if m != "linf"] + ["coordinated", "threshold"]
sizes = [128, 256, 512, 1024]
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4.2), constrained_layout=True)
for k, method in enumerate(methods):
    rows = []
    for size in sizes:
        projkit.sketch(A[:, :5], size, method=method, rng=0)  # warm (Numba compiles once)
        t0 = time.perf_counter()
        sa = projkit.sketch(A, size, method=method, rng=3)
        sb = projkit.sketch(B, size, method=method, rng=3)
        t = time.perf_counter() - t0
        W = projkit.approx_matmul(sa, sb)
        W = W.toarray() if sp.issparse(W) else np.asarray(W)
        rows.append((sa.nbytes, t, np.linalg.norm(W - exact) / norm))
    r = np.array(rows)
    style = "s-" if method in ("coordinated", "threshold") else "o-"
    ax1.loglog(r[:, 0] / 1024, r[:, 2], style, color=f"C{k}", label=method)
    ax2.loglog(r[:, 1] * 1e3, r[:, 2], style, color=f"C{k}", label=method)
ax1.set(xlabel="bytes of one sketch (KiB)", ylabel="relative error of AᵀB", title=title)
ax2.set(xlabel="time to sketch A and B (ms)", ylabel="relative error of AᵀB",
        title=f"sizes {sizes}")
for ax in (ax1, ax2):
    ax.grid(True, which="both", alpha=0.3)
ax1.legend(fontsize=8)
