"""The Householder projector as a differentiable torch function (imported only when used).

The forward and backward passes run :class:`projkit.HouseholderProjector` on NumPy (CPU tensors)
or CuPy (CUDA tensors) views of the tensors, shared through DLPack without copies, so torch
autograd gets the blocked compact-WY products and the ``O(n r^2)`` gradient of LAPACK storage
instead of torch's reflector-by-reflector ``householder_product`` backward.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.autograd.function import once_differentiable

from .._backend.namespace import native
from ..projectors.householder import HouseholderProjector

__all__ = ["HouseholderFunction", "householder_apply"]


def _mT(a: Any) -> Any:
    return a.swapaxes(-1, -2)


class HouseholderFunction(torch.autograd.Function):
    """``U @ X`` (or ``U`` when ``X`` is None) for ``U = Q[:, :rank]``, differentiable in
    ``vectors`` and ``X``.

    ``HouseholderFunction.apply(vectors, X, rank, tau, convention)``; prefer
    :func:`householder_apply`. The gradient with respect to ``vectors`` treats every
    ``tau_i`` as ``2 / ||v_i||^2`` (see :meth:`projkit.HouseholderProjector.vjp`); ``tau``
    itself gets no gradient.
    """

    @staticmethod
    def forward(ctx: Any, vectors: Any, X: Any, rank: int, tau: Any, convention: str) -> Any:
        V, back = native(vectors)
        t = None if tau is None else native(tau)[0]
        P = HouseholderProjector(V, rank, tau=t, convention=convention)
        if X is None:
            out = P.matrix()
            ctx.X = None
        else:
            Xn = native(X)[0]
            out = P @ Xn
            ctx.X = Xn
        ctx.P = P
        return back(out)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_out: Any) -> tuple[Any, ...]:
        P, Xn = ctx.P, ctx.X
        G, back = native(grad_out.contiguous())
        grad_v = grad_x = None
        if ctx.needs_input_grad[0]:
            if Xn is None:
                grad_U = G
            elif Xn.ndim == 1:
                grad_U = G[..., :, None] * Xn[None, :]
            else:
                grad_U = G @ _mT(Xn)  # (..., n, b) (..., b, r)
            grad_v = back(P.vjp(grad_U))
        if Xn is not None and ctx.needs_input_grad[1]:
            grad_x = back(P.T @ G)
        return grad_v, grad_x, None, None, None


def householder_apply(
    vectors: Any,
    X: Any = None,
    rank: int | None = None,
    *,
    tau: Any = None,
    convention: str = "lapack",
) -> Any:
    """``U @ X`` (or ``U``) for the Householder projector of ``vectors``, with torch autograd.

    Parameters
    ----------
    vectors : torch.Tensor of shape (..., n, k)
        Householder vectors (LAPACK storage by default: the strictly lower part is read), CPU or
        CUDA, float32 or float64. Gradients flow to it.
    X : torch.Tensor of shape (..., rank, b) or (rank,), optional
        The batch to map; ``None`` returns ``U`` itself (``n × rank``).
    rank : int, optional
        Columns of ``U``; defaults to ``X.shape[-2]`` (or ``X.shape[0]`` for a vector).
    tau : torch.Tensor of shape (..., k), optional
        Explicit scalar factors (default ``2 / ||v_i||^2``); not differentiated.
    convention : {"lapack", "full"}

    Returns
    -------
    torch.Tensor
        ``U @ X`` of shape (..., n, b), or ``U`` of shape (..., n, rank).

    Examples
    --------
    >>> import torch
    >>> V = torch.randn(6, 6, dtype=torch.float64, requires_grad=True)
    >>> U = householder_apply(V, rank=2)
    >>> bool(torch.allclose(U.T @ U, torch.eye(2, dtype=torch.float64)))
    True
    >>> U.sum().backward(); V.grad.shape
    torch.Size([6, 6])
    """
    if not isinstance(vectors, torch.Tensor):
        raise TypeError(f"vectors: expected a torch.Tensor, got {type(vectors).__name__}")
    if X is not None and not isinstance(X, torch.Tensor):
        raise TypeError(f"X: expected a torch.Tensor or None, got {type(X).__name__}")
    if rank is None:
        if X is None:
            raise ValueError("rank: required when X is None")
        rank = int(X.shape[0] if X.ndim == 1 else X.shape[-2])
    if X is not None and X.device != vectors.device:
        raise ValueError(f"X: expected a tensor on {vectors.device}, got one on {X.device}")
    return HouseholderFunction.apply(vectors, X, rank, tau, convention)
