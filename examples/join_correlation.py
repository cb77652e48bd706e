"""
Dataset discovery by join correlation
=====================================

Two "tables" share a key column (say, zip codes) but live in different places. Each owner
sketches its own numeric columns *once*, with the same public int seed and without seeing the
other table; the sketches alone then estimate the inner products over the join — here, the
correlations between every column of table A and every column of table B over the joined keys
(Daliri et al., "Sampling Methods for Inner Product Sketching", VLDB 2024; "Matrix Product
Sketching via Coordinated Sampling", ICLR 2025).

The figure shows the estimated join inner products against the exact ones for 20 independent
seeds (one hidden pair is strongly correlated, the others not at all), and how the spread of
the estimates shrinks with the sketch size.

Run: ``python examples/join_correlation.py`` (``PROJKIT_EXAMPLES_FULL=1`` for the 200 000-key
domain; the default uses 50 000 keys).
"""

import os

import matplotlib.pyplot as plt
import numpy as np
import scipy.sparse as sp

import projkit

FULL = os.environ.get("PROJKIT_EXAMPLES_FULL") == "1"
rng = np.random.default_rng(0)
n_keys = 200_000 if FULL else 50_000  # the key domain (rows of the aligned matrices)
k = n_keys // 20  # keys in common
SEED = 2024  # public: both owners use it

# Table A: 3k keys, 4 columns; table B: 4k keys, 3 columns; k keys in common.
common = rng.choice(n_keys, k, replace=False)
rest = np.setdiff1d(np.arange(n_keys), common)
keys_a = np.r_[common, rng.choice(rest, 2 * k, replace=False)]
keys_b = np.r_[common, rng.choice(np.setdiff1d(rest, keys_a), 3 * k, replace=False)]
latent = rng.standard_normal(n_keys)  # a hidden signal both tables partly measure
cols_a = np.c_[latent[keys_a] + 0.5 * rng.standard_normal(keys_a.size),
               rng.standard_normal((keys_a.size, 3))]
cols_b = np.c_[-2 * latent[keys_b] + rng.standard_normal(keys_b.size),
               rng.standard_normal((keys_b.size, 2))]


def aligned(keys, cols):
    """The table as an n_keys × k sparse matrix, centred and scaled per column."""
    cols = (cols - cols.mean(0)) / cols.std(0)
    return sp.csr_matrix((cols.ravel(), (np.repeat(keys, cols.shape[1]),
                                         np.tile(np.arange(cols.shape[1]), keys.size))),
                         shape=(n_keys, cols.shape[1]))


A, B = aligned(keys_a, cols_a), aligned(keys_b, cols_b)
size = 2_000  # sampled keys per table (1% of the full key domain)
# --- owner of A, on their machine -------------------------------------------------------
sketch_a = projkit.sketch(A, size, method="coordinated", rng=SEED)
# --- owner of B, on theirs ---------------------------------------------------------------
sketch_b = projkit.sketch(B, size, method="coordinated", rng=SEED)
# --- anyone holding both sketches --------------------------------------------------------
W = projkit.approx_matmul(sketch_a, sketch_b).toarray()
exact = (A.T @ B).toarray()
print(f"sketch sizes: {sketch_a.nbytes / 1024:.0f} KiB and {sketch_b.nbytes / 1024:.0f} KiB "
      f"(tables: {A.data.nbytes / 1024:.0f} and {B.data.nbytes / 1024:.0f} KiB of values)")
print("join inner products A.T @ B (exact / estimated):")
for i in range(A.shape[1]):
    print("  " + "  ".join(f"{exact[i, j]:9.1f}/{W[i, j]:9.1f}" for j in range(B.shape[1])))
i, j = np.unravel_index(np.abs(W).argmax(), W.shape)
print(f"most correlated pair over the join: A[:, {i}] and B[:, {j}] "
      f"(estimate {W[i, j]:.0f}, exact {exact[i, j]:.0f})")

# %%
# Estimates over independent seeds, and against the sketch size
# --------------------------------------------------------------
seeds = range(20)
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
for s in seeds:
    Ws = projkit.approx_matmul(projkit.sketch(A, size, method="coordinated", rng=s),
                               projkit.sketch(B, size, method="coordinated", rng=s)).toarray()
    ax1.scatter(exact.ravel(), Ws.ravel(), s=10, c="C0", alpha=0.4)
lim = np.abs(exact).max() * 1.3
ax1.plot([-lim, lim], [-lim, lim], "k--", lw=1)
ax1.set(xlabel="exact inner product over the join", ylabel="estimate from the two sketches",
        title=f"12 column pairs x {len(seeds)} seeds, sketch size {size}")
sizes = [size // 4, size // 2, size, 2 * size]
spread = []
for sz in sizes:
    errs = [np.abs(projkit.approx_matmul(projkit.sketch(A, sz, method="coordinated", rng=s),
                                         projkit.sketch(B, sz, method="coordinated", rng=s))
                   .toarray() - exact).max() for s in seeds]
    spread.append(np.median(errs))
ax2.loglog(sizes, spread, "o-", label="median over seeds of max |error|")
ax2.loglog(sizes, spread[0] * np.sqrt(sizes[0] / np.array(sizes)), "k:",
           label="∝ 1/√size")
ax2.set(xlabel="sketch size (sampled keys per table)", ylabel="max |error| over the 12 pairs",
        title="error shrinks like 1/√size")
ax2.legend()
plt.show()
