"""
Maintaining an SDP projection along an interior-point path
===========================================================

The projection is ``P = Bᵀ(BBᵀ)⁻¹B`` with ``B = A(W ⊗ I)``.
An interior-point method for a semidefinite program with symmetric constraint matrices
``A_1..A_m`` needs ``P h`` at every step while its weight ``W`` drifts by low-rank changes.
This script builds such a sequence (small rank-1/2 updates that keep ``W`` positive definite),
answers the queries three ways — recomputing from scratch with NumPy, the exact
``KroneckerProjection`` and its lazy (``mode="lazy"``) variant — and plots the error of
every query and the total time of each way.

Run: ``python examples/kronecker_projection.py`` (``PROJKIT_EXAMPLES_FULL=1``: n = 40, m = 400,
40 steps; the default is n = 24, m = 200, 24 steps).
"""

from __future__ import annotations

import os
import time

import matplotlib.pyplot as plt
import numpy as np

import projkit

rng = np.random.default_rng(0)
FULL = os.environ.get("PROJKIT_EXAMPLES_FULL") == "1"
n, m, T = (40, 400, 40) if FULL else (24, 200, 24)

# symmetric constraint matrices, vectorized row-major (Aᵢ.ravel()) as rows of A
A3 = rng.standard_normal((m, n, n))
A = ((A3 + A3.transpose(0, 2, 1)) / 2).reshape(m, n * n)
G = rng.standard_normal((n, n))
W0 = G @ G.T / n + np.eye(n)


def steps():
    W = W0.copy()
    g = np.random.default_rng(1)
    for t in range(T):
        U, _ = np.linalg.qr(g.standard_normal((n, 1 + t % 2)))
        c = 0.05 * np.linalg.eigvalsh(W)[0] * g.uniform(-1, 1, U.shape[1])
        W = W + (U * c) @ U.T
        yield W, U, c, g.standard_normal(n * n)


def from_scratch(W, h):
    B = np.matmul(W, A.reshape(m, n, n)).reshape(m, n * n)     # (W ⊗ I) by the identity
    return B.T @ np.linalg.solve(B @ B.T, B @ h)


t0 = time.perf_counter()
ref = [from_scratch(W, h) for W, _, _, h in steps()]
t_ref = time.perf_counter() - t0
print(f"recompute every step (NumPy): {t_ref:.3f} s")

errors, times = {}, {"recompute (NumPy)": t_ref}
for mode, eps in [("exact", None), ("lazy", 0.01), ("lazy", 0.1)]:
    kp = projkit.KroneckerProjection(A, W0, mode=mode, eps=eps)
    t0 = time.perf_counter()
    out = []
    for _, U, c, h in steps():
        kp.update(U, c)
        out.append(kp.query(h))
    dt = time.perf_counter() - t0
    step_err = [np.linalg.norm(o - r) / np.linalg.norm(h)
                for o, r, (_, _, _, h) in zip(out, ref, steps(), strict=True)]
    err = max(step_err)
    label = mode if eps is None else f"{mode} eps={eps}"
    errors[label], times[label] = step_err, dt
    print(f"{label:22s} {dt:.3f} s ({t_ref / dt:4.1f}x)  max ‖error‖/‖h‖ = {err:.1e}  "
          f"refreshes: {kp.stats['updates'] - kp.stats['lazy']}/{T}")

# %%
# Error of every query, and the cost of the whole path
# ----------------------------------------------------
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
for label, e in errors.items():
    ax1.semilogy(np.arange(1, T + 1), np.maximum(e, 1e-17), "o-", ms=3, label=label)
ax1.set(xlabel="step of the path", ylabel="‖query − exact‖ / ‖h‖",
        title="error of each query P h")
ax1.legend()
ax2.barh(list(times), list(times.values()), color=["0.5", "C0", "C1", "C2"])
ax2.set(xlabel="seconds for the whole path", title=f"n = {n}, m = {m}, {T} steps")
plt.show()
