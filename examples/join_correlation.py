"""Dataset discovery by join correlation: two tables sketched apart, correlated through keys.

Two "tables" share a key column (say, zip codes) but live in different places. Each owner
sketches its own numeric columns *once*, with the same public int seed and without seeing the
other table; the sketches alone then estimate the inner products over the join — here, the
correlations between every column of table A and every column of table B over the joined keys
(Daliri et al., "Sampling Methods for Inner Product Sketching", VLDB 2024; "Matrix Product
Sketching via Coordinated Sampling", ICLR 2025).

Run: python examples/join_correlation.py
"""

import numpy as np
import scipy.sparse as sp

import projkit

rng = np.random.default_rng(0)
n_keys = 200_000  # the key domain (rows of the aligned matrices)
SEED = 2024  # public: both owners use it

# Table A: 30 000 keys, 4 columns; table B: 40 000 keys, 3 columns; 10 000 keys in common.
common = rng.choice(n_keys, 10_000, replace=False)
rest = np.setdiff1d(np.arange(n_keys), common)
keys_a = np.r_[common, rng.choice(rest, 20_000, replace=False)]
keys_b = np.r_[common, rng.choice(np.setdiff1d(rest, keys_a), 30_000, replace=False)]
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
# --- owner of A, on their machine -------------------------------------------------------
sketch_a = projkit.sketch(A, 2_000, method="coordinated", rng=SEED)
# --- owner of B, on theirs ---------------------------------------------------------------
sketch_b = projkit.sketch(B, 2_000, method="coordinated", rng=SEED)
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
