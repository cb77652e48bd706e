"""Nyström approximations: generalized Nyström for any matrix, and the stable PSD Nyström.

* :func:`nystrom` -- Nakatsukasa's generalized Nyström ``A ≈ (AX)(YᴴAX)⁺(YᴴA)`` with random
  ``X`` (n × r) and an oversampled ``Y`` (m × (r + ℓ)). One pass over ``A`` (the two sketches
  can be taken together), ``O(mn log n + r² (m + n))`` with structured test matrices, and in
  Karpowicz's terms the meta-factorization with ``F = AX``, ``Hᴴ = YᴴA``, ``B = Y``, ``D = X``.
* :func:`nystrom_psd` -- the classical Nyström ``A ≈ (AΩ)(ΩᴴAΩ)⁺(AΩ)ᴴ`` for a symmetric
  positive semidefinite ``A``, with the shifted, Cholesky-based stable implementation of
  Tropp, Yurtsever, Udell & Cevher, returned as an eigendecomposition.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._backend import check_positive_int, device_rng
from .._backend.linalg import (
    cholesky,
    conj_t,
    eps,
    orth,
    pinv_svd,
    real_dtype,
    solve_triangular,
    svd,
)
from .._backend.random import draw_key
from .._backend.threads import serial_blas
from ._operand import _as_operand, _Operand
from ._results import SVD
from .meta import MetaFactorization, _check_rtol, _factor_pair
from .rsvd import _check_sketch, _sign_flip

__all__ = ["nystrom", "nystrom_psd"]


# ---------------------------------------------------------------------------------------------
# generalized Nyström


def _left_sketch(op: Any, size: int, sketch: str, gen: Any) -> Any:
    """``Yᴴ A`` (size × n) for a random ``Y`` (m × size) of the requested kind."""
    xp = op.xp
    A = op.A
    m = A.shape[0]
    rdt = real_dtype(op.dtype)
    if sketch == "gaussian":
        Y = gen.standard_normal((m, size), dtype=rdt).astype(op.dtype)
        return conj_t(xp, _Operand(A, xp, op.dtype, adjoint=False, kind=op.kind).rmatmat(Y)), Y
    from ..sketching.linear import _operator  # the body of sketch_operator (key: one draw)

    S = _operator(m, size, sketch, draw_key(gen), dtype=rdt, xp=xp)
    if op.kind == "operator":
        Y = S.T @ xp.eye(size, dtype=rdt)
        return conj_t(xp, A.H @ Y), Y
    return S @ A, S.T @ xp.eye(size, dtype=rdt)


def _nystrom_body(op: Any, rank: int, oversample: int, sketch: str, rtol: float | None,
                  gen: Any) -> MetaFactorization:
    xp = op.xp
    m, n = op.A.shape
    # right sketch AX: reuse rsvd's test-matrix code on the (untransposed) operand
    rop = _Operand(op.A, xp, op.dtype, adjoint=False, kind=op.kind)
    rdt = real_dtype(op.dtype)
    if sketch == "gaussian":
        X = gen.standard_normal((n, rank), dtype=rdt).astype(op.dtype)
        AX = rop.matmat(X)
    else:
        from ..sketching.linear import _operator

        S = _operator(n, rank, sketch, draw_key(gen), dtype=rdt, xp=xp)
        X = S.T @ xp.eye(rank, dtype=rdt)
        AX = rop.matmat(X.astype(op.dtype))
    YhA, Y = _left_sketch(op, min(rank + oversample, m), sketch, gen)
    Y = Y.astype(op.dtype) if Y.dtype != op.dtype else Y
    X = X.astype(op.dtype) if X.dtype != op.dtype else X
    M = conj_t(xp, Y) @ AX  # (r + ℓ) × r
    with serial_blas(xp):  # thin SVDs gain nothing from BLAS threads
        G = pinv_svd(xp, M, rtol)  # the ε-pseudoinverse of Nakatsukasa's stable variant
    H = conj_t(xp, YhA)
    from ..projectors.oblique import Projector

    Pc = Projector._from_factors(xp, *_factor_pair(xp, AX, Y, rtol), orthogonal=False)
    Lr, Rr = _factor_pair(xp, H, X, rtol)
    Pr = Projector._from_factors(xp, Rr, Lr, orthogonal=False)
    keep = None if op.kind == "operator" else op.A
    return MetaFactorization(AX, G, H, Pc, Pr, keep)


def nystrom(
    A: Any,
    rank: int,
    *,
    oversample: int | None = None,
    sketch: str = "gaussian",
    rtol: float | None = None,
    rng: Any = None,
) -> MetaFactorization:
    """Generalized Nyström approximation ``A ≈ (AX) (YᴴAX)⁺ (YᴴA)`` of any matrix.

    Parameters
    ----------
    A : (m, n) array, sparse matrix or scipy.sparse.linalg.LinearOperator
    rank : int
        Columns of ``X``, ``1 <= rank <= min(m, n)``.
    oversample : int, optional
        ``ℓ``: ``Y`` has ``rank + ℓ`` columns (capped at ``m``). Default ``⌈rank / 2⌉``, the
        choice recommended by Nakatsukasa.
    sketch : {"gaussian", "srht", "sparse_sign", "countsketch", "sparse"}, default "gaussian"
        The random ``X`` and ``Y`` (structured ones via :func:`projkit.sketch_operator`).
    rtol : float, optional
        Relative cutoff of the ε-pseudoinverse of the core ``YᴴAX`` (default
        ``max(shape) · eps``); the truncation is what makes the method stable.
    rng : None, int or numpy.random.Generator
        SPEC-7 random source.

    Returns
    -------
    MetaFactorization
        ``F = AX`` (m × r), ``G = (YᴴAX)⁺`` (r × (r+ℓ)), ``H = AᴴY`` (n × (r+ℓ)), with the
        oblique projectors ``AX (YᴴAX)⁺ Yᴴ`` and ``X (YᴴAX)⁺ YᴴA``. ``to_dense()`` gives
        ``F G Hᴴ``; ``error()`` needs an array ``A`` (not an operator).

    Notes
    -----
    ``A X (YᴴAX)⁺ YᴴA = P_{AX, Y} A`` where ``P_{AX,Y} = AX (YᴴAX)⁺ Yᴴ`` is an oblique projector
    onto ``range(AX)``, so the error is ``‖(I − P) A‖ ≤ ‖I − P‖ ‖(I − AX(AX)⁺) A‖``: the HMT
    sketch error times a factor that oversampling ``Y`` keeps ``O(1)`` [1]_. The stable
    variant truncates the pseudo-inverse of the core at ``ε ‖YᴴAX‖`` [1]_. It is the
    meta-factorization with ``F = AX``, ``Hᴴ = YᴴA``, ``B = Y``, ``D = X`` [2]_.

    References
    ----------
    .. [1] Y. Nakatsukasa, "Fast and stable randomized low-rank matrix approximation",
       arXiv:2009.11392, 2020.
    .. [2] M. P. Karpowicz, "A theory of meta-factorization", arXiv:2111.14385, 2021.

    Examples
    --------
    >>> import numpy as np, projkit
    >>> rng = np.random.default_rng(0)
    >>> A = rng.standard_normal((50, 4)) @ rng.standard_normal((4, 30))     # rank 4
    >>> ny = projkit.nystrom(A, 4, rng=0)
    >>> ny.F.shape, ny.G.shape, ny.H.shape, bool(np.allclose(ny.to_dense(), A))
    ((50, 4), (4, 6), (30, 6), True)
    """
    op, back = _as_operand(A)
    m, n = op.A.shape
    rank = check_positive_int(rank, name="rank", high=min(m, n))
    if oversample is None:
        oversample = math.ceil(rank / 2)
    oversample = check_positive_int(oversample, name="oversample", low=0)
    sketch = _check_sketch(sketch)
    rtol = _check_rtol(rtol)
    gen = device_rng(rng, op.xp)
    res = _nystrom_body(op, rank, oversample, sketch, rtol, gen)
    if back(res.G) is res.G:
        return res
    return MetaFactorization(back(res.F), back(res.G), back(res.H), res.column_projector,
                             res.row_projector, res.A)


# ---------------------------------------------------------------------------------------------
# PSD Nyström


def _nystrom_psd_body(op: Any, rank: int, oversample: int, gen: Any) -> SVD:
    xp = op.xp
    n = op.A.shape[0]
    ell = min(rank + oversample, n)
    rdt = real_dtype(op.dtype)
    Omega = gen.standard_normal((n, ell), dtype=rdt).astype(op.dtype)
    Omega = orth(xp, Omega)
    rop = _Operand(op.A, xp, op.dtype, adjoint=False, kind=op.kind)
    Y = rop.matmat(Omega)
    # shift ν = √n · eps · ‖Y‖ keeps the Cholesky factorization alive (Tropp et al., Alg. 3)
    nu = math.sqrt(n) * eps(op.dtype) * float(xp.linalg.norm(Y))
    if nu == 0.0:
        z = xp.zeros((n, rank), dtype=op.dtype)
        return SVD(z, xp.zeros(rank, dtype=rdt), conj_t(xp, z))
    Ynu = Y + nu * Omega
    Bm = conj_t(xp, Omega) @ Ynu
    Bm = 0.5 * (Bm + conj_t(xp, Bm))
    try:
        L = cholesky(xp, Bm)
    except np.linalg.LinAlgError as exc:
        raise np.linalg.LinAlgError(
            "nystrom_psd: ΩᴴAΩ is not positive definite; is A symmetric positive semidefinite?"
        ) from exc
    # F = Y_ν L⁻ᴴ = (L⁻¹ Y_νᴴ)ᴴ, so F Fᴴ = Y_ν (ΩᴴY_ν)⁻¹ Y_νᴴ
    F = conj_t(xp, solve_triangular(xp, L, conj_t(xp, Ynu), lower=True))
    with serial_blas(xp):  # thin SVDs gain nothing from BLAS threads
        U, s, _ = svd(xp, F)
    lam = xp.maximum(s[:rank] ** 2 - nu, 0).astype(rdt)
    U = U[:, :rank]
    U, Vt = _sign_flip(xp, U, conj_t(xp, U))
    return SVD(U, lam, Vt)


def nystrom_psd(
    A: Any,
    rank: int,
    *,
    oversample: int = 10,
    check_symmetric: bool = True,
    rng: Any = None,
) -> SVD:
    """Randomized Nyström approximation ``A ≈ U diag(λ) Uᴴ`` of a symmetric PSD matrix.

    Parameters
    ----------
    A : (n, n) array, sparse matrix or scipy.sparse.linalg.LinearOperator
        Symmetric (Hermitian) positive semidefinite.
    rank : int
        Number of eigenpairs returned, ``1 <= rank <= n``.
    oversample : int, default 10
        The sketch has ``rank + oversample`` columns (capped at ``n``).
    check_symmetric : bool, default True
        Check ``A = Aᴴ`` (to a relative ``√eps``) for arrays; operators are trusted.
    rng : None, int or numpy.random.Generator
        SPEC-7 random source.

    Returns
    -------
    SVD
        ``U`` (n × rank), ``s`` the eigenvalues ``λ ≥ 0`` (non-increasing), ``Vt = Uᴴ``.

    Raises
    ------
    ValueError
        ``A`` not square, not symmetric, ``rank`` out of range, NaN.
    numpy.linalg.LinAlgError
        When the sketched core is not positive definite (``A`` is not PSD).

    Notes
    -----
    With an orthonormal test matrix ``Ω`` (n × ℓ) and ``Y = AΩ``, the Nyström approximation is
    ``Â = Y (ΩᴴY)⁺ Yᴴ``. The stable implementation shifts ``Y_ν = Y + νΩ`` with
    ``ν = √n · eps · ‖Y‖``, factors ``ΩᴴY_ν = L Lᴴ`` (Cholesky), takes the SVD of
    ``F = Y_ν L⁻ᴴ = U Σ Wᴴ``, and returns ``λ = max(Σ² − ν, 0)`` [1]_. It is the generalized
    Nyström / meta-factorization with ``X = Y = Ω`` [2]_.

    References
    ----------
    .. [1] J. A. Tropp, A. Yurtsever, M. Udell, V. Cevher, "Fixed-rank approximation of a
       positive-semidefinite matrix from streaming data", NeurIPS 2017.
    .. [2] Y. Nakatsukasa, "Fast and stable randomized low-rank matrix approximation",
       arXiv:2009.11392, 2020.

    Examples
    --------
    >>> import numpy as np, projkit
    >>> rng = np.random.default_rng(0)
    >>> G = rng.standard_normal((40, 3)); A = G @ G.T                      # PSD, rank 3
    >>> U, lam, Ut = projkit.nystrom_psd(A, 3, rng=0)
    >>> bool(np.allclose((U * lam) @ Ut, A)), bool(np.all(lam > 0))
    (True, True)
    """
    op, back = _as_operand(A)
    m, n = op.A.shape
    if m != n:
        raise ValueError(f"A: expected a square (symmetric PSD) matrix, got shape {(m, n)}")
    rank = check_positive_int(rank, name="rank", high=n)
    oversample = check_positive_int(oversample, name="oversample", low=0)
    if check_symmetric and op.kind != "operator":
        _check_hermitian(op)
    gen = device_rng(rng, op.xp)
    res = _nystrom_psd_body(op, rank, oversample, gen)
    return SVD(back(res.U), back(res.s), back(res.Vt))


def _check_hermitian(op: Any) -> None:
    xp = op.xp
    A = op.A
    tol = math.sqrt(eps(op.dtype))
    if op.kind == "sparse":
        D = A - A.conj().T if op.complex else A - A.T
        diff = float(xp.sqrt(xp.sum(xp.abs(D.data) ** 2))) if D.nnz else 0.0
        norm = float(xp.sqrt(xp.sum(xp.abs(A.data) ** 2)))
    else:
        diff = float(xp.linalg.norm(A - conj_t(xp, A)))
        norm = float(xp.linalg.norm(A))
    if diff > tol * norm:
        raise ValueError(
            f"A: expected a symmetric (Hermitian) PSD matrix, got ‖A − Aᴴ‖/‖A‖ = {diff / norm:.2e}"
        )
