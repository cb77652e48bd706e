"""The refresh bodies of :class:`.lowrank.GradientProjector`, written against the array namespace.

Every body sees a stack ``H`` of shape ``(B, d, k)`` (one ``d × k`` block per layer). NumPy's
``linalg`` factorizes a stack in one call; other namespaces (CuPy) get a loop over the layers,
and :func:`select` picks between the two (:func:`qr_pos`, :func:`svd_left`). The randomized
refresh calls the body of :func:`projkit.rsvd` once per layer (the stack is validated once, by
the projector).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from .._backend import device_rng
from .._backend.dispatch import select

__all__ = ["mT", "grass", "oja", "qr_pos", "rsvd_left", "seed_from", "svd_left"]


def mT(xp: ModuleType, X: Any) -> Any:
    """The transpose of the last two axes (the Array API's ``X.mT``)."""
    return xp.swapaxes(X, -1, -2)


def _qr_pos_stacked(xp: ModuleType, X: Any) -> Any:
    Q, R = xp.linalg.qr(X)
    d = xp.diagonal(R, axis1=-2, axis2=-1)
    sign = xp.where(d < 0, -1.0, 1.0).astype(Q.dtype)
    return Q * sign[..., None, :]


def _qr_pos_per_layer(xp: ModuleType, X: Any) -> Any:
    if X.ndim == 3:
        return xp.stack([_qr_pos_stacked(xp, X[b]) for b in range(X.shape[0])])
    return _qr_pos_stacked(xp, X)


def qr_pos(xp: ModuleType, X: Any) -> Any:
    """Orthonormal ``Q`` of each (d × r) block with ``diag(R) ≥ 0`` (so that a small change of
    ``X`` gives a small change of ``Q``: no sign flips between consecutive Oja steps)."""
    qr = select(xp, cpu=_qr_pos_stacked, fallback=_qr_pos_per_layer, what="the QR of a stack")
    return qr(xp, X)


def _svd_left_stacked(xp: ModuleType, H: Any, r: int) -> Any:
    # the full U only adds columns when d > k (the thin U of a wide block is d × d already);
    # full_matrices on a wide block would compute the k × k Vᵀ too (10 × 512: 5 ms, not 0.1)
    full = r > H.shape[-1] and H.shape[-2] > H.shape[-1]
    U = xp.linalg.svd(H, full_matrices=full)[0]
    return xp.ascontiguousarray(U[..., :r])


def _svd_left_per_layer(xp: ModuleType, H: Any, r: int) -> Any:
    if H.ndim == 3:
        return xp.stack([_svd_left_stacked(xp, H[b], r) for b in range(H.shape[0])])
    return _svd_left_stacked(xp, H, r)


def _svd_left_cpu(xp: ModuleType, H: Any, r: int) -> Any:
    """NumPy: float64 blocks by ``gesdd`` (:func:`_svd_left_stacked`); blocks of a lower
    precision (float32 gradients) from the top-``r`` eigenvectors of the float64 Gram matrix
    ``H Hᵀ`` (:func:`projkit.factorizations._svd_update_lapack.small_svd`), on one BLAS thread.

    Squaring the condition number costs nothing at float32's precision: the Gram route is taken
    while ``(σ₁/σ_r)² ≤ u₃₂/u₆₄`` (about 10⁹), where its orthogonality loss ``u₆₄ (σ₁/σ_r)²``
    stays below float32's unit roundoff, so the basis is at least as accurate as float32
    ``gesdd``'s. A 512 × 784 block takes about 35 ms instead of 180 ms on the 2-core dev
    machine. Blocks outside that range, or with ``r ≥ min(d, k)`` or ``d > k``, take
    ``gesdd`` as before.
    """
    d, k = H.shape[-2], H.shape[-1]
    if H.dtype == np.float64 or r >= min(d, k) or d > k:
        return _svd_left_stacked(xp, H, r)
    from .._backend.threads import serial_blas
    from ..factorizations._svd_update_lapack import small_svd

    u64 = float(np.finfo(np.float64).eps) / 2
    ratio = float(np.finfo(H.dtype).eps) / 2 / u64
    Hs = H.reshape((-1, d, k))
    out = np.empty((Hs.shape[0], d, r), dtype=H.dtype)
    with serial_blas(np):
        for b in range(Hs.shape[0]):
            F = small_svd(np.asarray(Hs[b], dtype=np.float64), r, u64, max_ratio=ratio,
                          right=False)[0]
            out[b] = F[:, :r]
    return out.reshape(H.shape[:-2] + (d, r))


def svd_left(xp: ModuleType, H: Any, r: int) -> Any:
    """Top-``r`` left singular vectors of each block (full matrices only when r > min(d, k))."""
    svd = select(xp, cpu=_svd_left_cpu, fallback=_svd_left_per_layer,
                 what="the SVD of a stack")
    return svd(xp, H, r)


def rsvd_left(xp: ModuleType, H: Any, r: int, oversample: int, n_iter: Any, seed: int) -> Any:
    """Top-``r`` left singular vectors of each block by the randomized SVD (layer ``b`` draws
    from ``seed + b``): :func:`projkit.rsvd`'s body, with its defaults and resolution rules."""
    if r > min(H.shape[-2], H.shape[-1]):
        return svd_left(xp, H, r)
    from ..factorizations._operand import _Operand
    from ..factorizations.rsvd import _resolve_n_iter, _rsvd

    _, d, k = H.shape
    n_iter = _resolve_n_iter(n_iter, r, (d, k))
    dtype = np.dtype(H.dtype)
    out = []
    for b in range(H.shape[0]):
        # the operand on the shorter side, as rsvd sets it up
        op = _Operand(H[b], xp, dtype, adjoint=d < k, kind="dense")
        U = _rsvd(op, r, oversample, n_iter, "gaussian", device_rng(seed + b, op.xp)).U
        out.append(U[:, :r])
    return xp.stack(out)


def seed_from(gen: np.random.Generator) -> int:
    """A fresh seed for a device generator, drawn from the projector's generator."""
    return int(gen.integers(0, 2**62))


def oja(xp: ModuleType, H: Any, r: int, lr: float, P: Any, seed: int) -> Any:
    """One Oja step ``P ← qr(P + η H Hᵀ P / c)``, ``c = ‖Hᵀ P‖_F² / r``; started from
    ``qr(H Ω)``."""
    B, d, k = H.shape
    if P is None:
        gen = device_rng(seed, xp)
        Om = gen.standard_normal((B, k, r), dtype=np.float64).astype(H.dtype)
        P = qr_pos(xp, xp.matmul(H, Om))
        if r > min(d, k):  # H Ω has rank ≤ k: fill the rest with a random orthonormal complement
            P = qr_pos(xp, P + 1e-3 * gen.standard_normal((B, d, r), dtype=np.float64)
                       .astype(H.dtype))
    HtP = xp.matmul(mT(xp, H), P)
    # scale-free step: c is the mean energy per basis direction (the Rayleigh quotients), so
    # η is relative to the captured spectrum whatever the gradient's scale or size
    c = xp.sum(HtP * HtP, axis=(-2, -1)) / r
    c = xp.where(c > 0, c, 1.0).astype(H.dtype)
    step = xp.matmul(H, HtP) * (lr / c)[:, None, None]
    return qr_pos(xp, P + step)


def grass(xp: ModuleType, H: Any, r: int, seed: int) -> tuple[Any, Any]:
    """GRASS rows: draw ``r`` with replacement, ``p_i ∝ ‖h_i‖²``, merge duplicates, rescale."""
    B, d, _ = H.shape
    w = xp.sum(H * H, axis=-1).astype(xp.float64)
    tot = xp.sum(w, axis=-1, keepdims=True)
    p = xp.where(tot > 0, w / xp.where(tot > 0, tot, 1.0), 1.0 / d)
    u = device_rng(seed, xp).random((B, r))
    idx_all, sc_all = [], []
    for b in range(B):
        cdf = xp.cumsum(p[b])
        draw = xp.searchsorted(cdf, u[b] * cdf[-1], side="right")
        draw = xp.minimum(draw, d - 1)
        counts = xp.bincount(draw, minlength=d).astype(xp.float64)
        # selected rows first (more draws first, then larger p), then the unused fill slots
        order = xp.argsort(-(counts + p[b]))[:r]
        c, pb = counts[order], p[b][order]
        scale = xp.where(c > 0, xp.sqrt(c / (r * xp.where(pb > 0, pb, 1.0))), 0.0)
        idx_all.append(order)
        sc_all.append(scale.astype(H.dtype))
    return xp.stack(idx_all).astype(xp.int64), xp.stack(sc_all)
