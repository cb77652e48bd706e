"""
Interpretable directions of a linear map with Householder projectors
====================================================================

Interpretable directions of a linear map, the Householder-projector way.

Song et al. (ICCV 2023) look for the directions of a generator's latent space that change its
output most, and constrain the projection onto them to be a low-rank *orthogonal* matrix
``U = Q[:, :r]``, ``Q`` a product of Householder reflectors: orthogonal directions do not
interfere, and the constraint holds exactly for any value of the learned vectors, so training
needs no re-orthonormalization. Raw eigenvectors of a (non-symmetric) map, the usual starting
point, overlap: moving along one of them also moves the latent code along the others.

Here the map is a linear "generator" ``x = A z`` from a 48-dim latent space to 48 outputs with a
planted, non-orthogonal eigenbasis (a random map; no download). We

1. take the raw top-5 eigenvectors of ``A`` and measure how much they overlap;
2. initialize a Householder projector from them (``from_matrix``: the exact QR, positive sign
   convention, so ``U`` spans the same subspace with orthonormal columns);
3. train the Householder vectors by gradient ascent on the output energy ``||A U||_F^2`` with
   ``HouseholderProjector.vjp`` (the paper trains the same parametrization end to end), and
   compare with gradient ascent on unit-norm directions without the orthogonality constraint;
4. check the result against the optimum (top right singular vectors of ``A``); unit directions
   trained without the orthogonality constraint all collapse onto the dominant one.

Run: ``python examples/householder_directions.py`` (about a second; writes
``householder_directions.png`` next to this file when matplotlib is installed).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from projkit import HouseholderProjector

# sphinx-gallery runs an example from its own folder, without __file__
HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()

n, r = 48, 5
rng = np.random.default_rng(0)

# a non-normal map with real, decreasing eigenvalues and a skewed eigenbasis
S = np.eye(n) + 0.5 * rng.standard_normal((n, n)) / np.sqrt(n)
lam = np.concatenate([[5.0, 4.0, 3.2, 2.6, 2.1], np.linspace(1.5, 0.1, n - r)])
A = S @ np.diag(lam) @ np.linalg.inv(S)

# 1. raw eigenvectors -----------------------------------------------------------------------
w, E = np.linalg.eig(A)
order = np.argsort(-np.abs(w))[:r]
E = np.real(E[:, order])
E /= np.linalg.norm(E, axis=0)
gram = E.T @ E
print("raw eigenvectors: eigenvalues", np.round(np.real(w[order]), 2))
print(f"  largest |cos| between two directions: {np.max(np.abs(gram - np.eye(r))):.3f}")
print("  moving along direction i shifts the coordinates of the others by (E^T E - I):")
print(np.array2string(gram - np.eye(r), precision=2, suppress_small=True))


def energy(U: np.ndarray) -> float:
    return float(np.sum((A @ U) ** 2))


best = float(np.sum(np.linalg.svd(A, compute_uv=False)[:r] ** 2))

# 2. Householder projector from the eigenvectors --------------------------------------------
P0 = HouseholderProjector.from_matrix(E, r)  # k = r reflectors: all that act on U
V = np.tril(P0.vectors, -1)  # the free parameters (LAPACK storage: strictly lower part)
U0 = P0.matrix()
print(f"\nHouseholder init: ||U^T U - I|| = {np.linalg.norm(U0.T @ U0 - np.eye(r)):.1e}, "
      f"energy {energy(U0):.2f} (optimum {best:.2f})")

# 3. train the vectors (Adam on the Householder vectors) vs plain gradient ascent -----------
AtA = A.T @ A
lr, b1, b2, steps = 0.02, 0.9, 0.999, 600
m = np.zeros_like(V)
v2 = np.zeros_like(V)
W = E.copy()  # the unconstrained baseline starts from the raw eigenvectors too
hist_h, hist_w = [], []
for t in range(1, steps + 1):
    P = HouseholderProjector(V, r)
    U = P.matrix()
    g = P.vjp(2.0 * AtA @ U)  # d ||AU||^2 / d vectors, through the WY blocks
    m = b1 * m + (1 - b1) * g
    v2 = b2 * v2 + (1 - b2) * g * g
    V = V + lr * (m / (1 - b1**t)) / (np.sqrt(v2 / (1 - b2**t)) + 1e-12)  # ascent
    W = W + 0.05 * (2.0 * AtA @ W) / np.linalg.norm(AtA, 2)
    W /= np.linalg.norm(W, axis=0)  # unit directions, but no orthogonality
    hist_h.append((energy(U), np.linalg.norm(U.T @ U - np.eye(r))))
    hist_w.append(np.max(np.abs(W.T @ W - np.eye(r))))

P = HouseholderProjector(V, r)
U = P.matrix()
print(f"after {steps} steps: energy {energy(U):.3f} of optimum {best:.3f}; "
      f"max ||U^T U - I|| along the way {max(h[1] for h in hist_h):.1e}")
print(f"plain ascent on unit directions (no orthogonality): largest |cos| = {hist_w[-1]:.3f}"
      " -- they collapse onto the dominant direction")

# 4. order the learned directions by effect (a rotation inside the subspace keeps U orthonormal)
evals, R = np.linalg.eigh(U.T @ AtA @ U)
R = R[:, ::-1]
D = HouseholderProjector.from_matrix(U @ R, r).matrix()
_, sv, Vt = np.linalg.svd(A)
print("learned direction i vs i-th right singular vector, |cos|:",
      np.round(np.abs(np.sum(D * Vt[:r].T, axis=0)), 4))
print("cross-talk of the learned directions, max |D^T D - I|:",
      f"{np.max(np.abs(D.T @ D - np.eye(r))):.1e}")
print("effect of each direction ||A d_i||:", np.round(np.linalg.norm(A @ D, axis=0), 3),
      " raw eigenvectors ||A e_i||:", np.round(np.linalg.norm(A @ E, axis=0), 3))

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:  # pragma: no cover
    plt = None
if plt is not None:
    fig, ax = plt.subplots(1, 3, figsize=(11, 3.2))
    ax[0].imshow(np.abs(gram), vmin=0, vmax=1, cmap="magma")
    ax[0].set_title("|E^T E|: raw eigenvectors")
    ax[1].imshow(np.abs(D.T @ D), vmin=0, vmax=1, cmap="magma")
    ax[1].set_title("|U^T U|: Householder directions")
    ax[2].plot([h[0] / best for h in hist_h], label="Householder (energy / optimum)")
    ax[2].semilogy([max(h[1], 1e-17) for h in hist_h], label="Householder ||U^T U - I||")
    ax[2].semilogy(hist_w, label="plain ascent: max |cos| between directions")
    ax[2].set_xlabel("step")
    ax[2].legend(fontsize=7)
    fig.tight_layout()
    out = HERE / "householder_directions.png"
    fig.savefig(out, dpi=100)
    print(f"wrote {out}")
