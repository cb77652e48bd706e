"""Randomized SVD and range finding (Halko, Martinsson & Tropp).

A randomized SVD needs only products ``A @ X`` and ``Aᴴ @ Y`` with thin blocks, so the same code
serves dense NumPy/CuPy arrays, SciPy/CuPyX sparse matrices and
:class:`scipy.sparse.linalg.LinearOperator` objects. The pieces:

* :func:`range_finder` -- an orthonormal ``Q`` whose range captures the top of ``range(A)``
  (a fixed ``size`` with power iterations, or adaptively until a tolerance is met);
* :func:`rsvd` -- ``Q``, then the small SVD of ``B = Qᴴ A``, sign-normalized.

Speed notes (what makes this faster than a straightforward implementation):

* float32 stays float32 end to end, including the Gaussian test matrix (drawn on the device in
  the working dtype), so every GEMM runs in single precision;
* the operand is transposed (as a view) so that the basis lives on the shorter side;
* every tall-skinny factorization is Cholesky-QR (a Gram GEMM, an ``l × l`` Cholesky and a
  GEMM -- BLAS-3 only, several times faster than Householder QR or LU on an ``m × l`` block,
  and the natural choice on GPUs): one pass normalizes a power iteration, two passes
  (Cholesky-QR2) give the final orthonormal basis, and Cholesky-QR2 of ``Bᴴ`` plus an
  ``l × l`` SVD replaces the SVD of the wide ``B``. Each use is checked (Cholesky breakdown,
  conditioning read off the factor, orthogonality of the first pass) and falls back to the
  LAPACK route -- partially pivoted LU (``getrf``, as scikit-learn) for the normalization on
  NumPy, Householder QR (``geqrf``) for the basis, ``gesdd`` for the SVD -- when it would
  lose accuracy. CuPy has no pivoted LU or QR, so its fallbacks are Householder QR;
* the tall-skinny BLAS/LAPACK calls run on one BLAS thread
  (:func:`~projkit._backend.threads.serial_blas`): they are
  latency-bound, and multithreaded OpenBLAS spinning on shared cores makes them far slower;
* SciPy sparse ``A @ X`` runs in a parallel Numba kernel (each thread owns a block of rows);
  ``Aᵀ @ Y`` stays SciPy's CSC scatter, which streams ``Y`` once.
"""

from __future__ import annotations

import math
import numbers
from types import ModuleType
from typing import Any

import numpy as np

from .._backend import check_positive_int, device_rng
from .._backend.dispatch import select
from .._backend.linalg import cholesky_qr_step, cholqr2, conj_t, eps, orth, real_dtype, svd
from .._backend.namespace import is_dask
from .._backend.random import draw_key
from .._backend.threads import serial_blas
from . import _rsvd_lapack, _rsvd_xp
from ._operand import _as_operand, _Operand, _require_adjoint
from ._results import SVD

__all__ = ["range_finder", "rsvd"]

_SKETCHES = ("gaussian", "srht", "sparse_sign", "countsketch", "sparse")


def _resolve_n_iter(n_iter: Any, rank: int, shape: tuple[int, int]) -> int:
    if isinstance(n_iter, str):
        if n_iter != "auto":
            raise ValueError(f"n_iter: expected a non-negative int or 'auto', got {n_iter!r}")
        # Same rule as scikit-learn (7 was found a good compromise for PCA, sklearn #5299).
        return 7 if rank < 0.1 * min(shape) else 4
    return check_positive_int(n_iter, name="n_iter", low=0)


def _check_sketch(sketch: Any) -> str:
    if not isinstance(sketch, str) or sketch not in _SKETCHES:
        raise ValueError(f"sketch: expected one of {_SKETCHES}, got {sketch!r}")
    return sketch


def _check_tol(tol: Any) -> float | None:
    if tol is None:
        return None
    if isinstance(tol, bool) or not isinstance(tol, numbers.Real):
        raise TypeError(f"tol: expected a float in (0, 1), got {type(tol).__name__}")
    tol = float(tol)
    if not 0.0 < tol < 1.0:
        raise ValueError(f"tol: expected a float in (0, 1), got {tol}")
    return tol


# ---------------------------------------------------------------------------------------------
# the small dense steps (orthonormal bases and SVDs come from _backend.linalg)


def _normalize(xp: ModuleType, Y: Any) -> Any:
    """Keep the columns of a power-iteration block from collapsing onto the top vector.

    One Cholesky-QR pass ``Y L⁻ᴴ`` (BLAS-3, not exactly orthonormal, which the power iteration
    does not need). When ``Y`` is too ill-conditioned for it: ``P L`` of a partially pivoted LU
    on NumPy (as scikit-learn), Householder QR elsewhere (CuPy has no pivoted LU/QR).
    """
    step = cholesky_qr_step(xp, Y, 0.1 / math.sqrt(eps(Y.dtype)))
    if step is not None:
        return step[0]
    fallback = select(xp, cpu=_rsvd_lapack.lu_normalize, fallback=_rsvd_xp.qr_normalize,
                      what="the power-iteration normalization")
    return fallback(xp, Y)


def _small_svd(xp: ModuleType, B: Any) -> tuple[Any, Any, Any]:
    """Thin SVD of the short-wide ``B`` (l × n).

    ``Bᴴ = Q R`` by Cholesky-QR2 and the SVD of the ``l × l`` triangle ``Rᴴ = W Σ Zᴴ`` give
    ``B = W Σ (Q Z)ᴴ``; LAPACK ``gesdd`` on ``B`` when Cholesky-QR2 declines.
    """
    Bh = conj_t(xp, B)
    Q = cholqr2(xp, Bh)
    if Q is not None:
        with serial_blas(xp):
            R = conj_t(xp, Q) @ Bh  # l × l, recomputed from Q for accuracy
            W, s, Zh = svd(xp, conj_t(xp, R))
            Vt = conj_t(xp, Q @ conj_t(xp, Zh))
        return W, s, Vt
    with serial_blas(xp):
        return svd(xp, B)


def _sign_flip(xp: ModuleType, U: Any, Vt: Any) -> tuple[Any, Any]:
    """Make the largest-magnitude entry of each column of ``U`` real positive (as svd_flip)."""
    if U.shape[1] == 0:
        return U, Vt
    if np.dtype(U.dtype).kind != "c":
        # two column reductions instead of |U| and an argmax along the strided axis (no m × k
        # temporary); the sign of the largest-magnitude entry is + iff max ≥ −min
        signs = xp.where(xp.max(U, axis=0) >= -xp.min(U, axis=0), 1.0, -1.0).astype(U.dtype)
        return U * signs[None, :], Vt * signs[:, None]
    # complex: divide each column by the phase of its largest-magnitude entry
    idx = xp.argmax(xp.abs(U), axis=0)
    piv = U[idx, xp.arange(U.shape[1])]
    mag = xp.abs(piv)
    signs = xp.where(mag > 0, piv / xp.where(mag > 0, mag, 1), 1)
    return U * xp.conj(signs)[None, :], Vt * signs[:, None]


# ---------------------------------------------------------------------------------------------
# test matrices


def _test_matrix(op: _Operand, size: int, sketch: str, gen: Any) -> Any:
    """``M @ Ω`` for the test matrix Ω (n × size) of the requested kind."""
    xp = op.xp
    n = op.shape[1]
    rdt = real_dtype(op.dtype)
    if sketch == "gaussian":
        Omega = gen.standard_normal((n, size), dtype=rdt)
        if op.complex:
            Omega = Omega.astype(op.dtype)
        return op.matmat(Omega)
    # structured test matrices are the sketch operators of projkit.sketching.linear (its body,
    # keyed by one draw from gen as sketch_operator(rng=gen) would be): Ω = Sᵀ with S
    # (size × n), so M Ω = (S Mᴴ)ᴴ -- the sketch operator is applied to the rows of Mᴴ
    from ..sketching.linear import _operator

    S = _operator(n, size, sketch, draw_key(gen), dtype=rdt, xp=xp)
    if op.kind == "operator":
        return op.matmat(S.T @ xp.eye(size, dtype=rdt))
    MH = op.A if op.adjoint else conj_t(xp, op.A)  # n × m, a view (sparse: CSC, re-laid out)
    return conj_t(xp, S @ MH)


# ---------------------------------------------------------------------------------------------
# private bodies


def _range_finder(op: _Operand, size: int, n_iter: int, sketch: str, gen: Any) -> Any:
    """Orthonormal ``Q`` (m × size) by ``n_iter`` normalized power iterations (HMT Alg. 4.4)."""
    xp = op.xp
    Y = _test_matrix(op, size, sketch, gen)
    for _ in range(n_iter):
        Y = _normalize(xp, Y)
        Z = _normalize(xp, op.rmatmat(Y))
        Y = op.matmat(Z)
    return orth(xp, Y)


def _randqb(op: _Operand, tol: float, max_rank: int, block: int, n_iter: int, sketch: str,
            gen: Any) -> tuple[Any, Any, float]:
    """Blocked adaptive QB with error indicator (randQB_EI, Yu, Gu & Li 2018).

    Grows ``Q`` by blocks of ``block`` columns until ``‖A − QB‖_F ≤ tol ‖A‖_F`` (computed
    exactly and cheaply as ``‖A‖_F² − ‖B‖_F²``), or ``max_rank`` columns.
    """
    xp = op.xp
    m, n = op.shape
    normA2 = op.frobenius2()
    if not math.isfinite(normA2):
        # LinearOperator: estimate ‖A‖_F² from a Gaussian probe (unbiased, ~√(2/p) rel. error)
        p = min(max(2 * block, 20), n)
        Omega = gen.standard_normal((n, p), dtype=real_dtype(op.dtype)).astype(op.dtype)
        Y = op.matmat(Omega)
        normA2 = float(xp.sum(xp.abs(Y) ** 2)) / p
    Q: Any = None
    B: Any = None
    E = normA2
    target = (tol**2) * normA2
    k = 0
    while k < max_rank:
        b = min(block, max_rank - k)
        Yi = _test_matrix(op, b, sketch, gen)
        if Q is not None:  # sample the residual (M - QB) instead of M
            Yi = Yi - Q @ (conj_t(xp, Q) @ Yi)
        for _ in range(n_iter):
            Zi = op.rmatmat(orth(xp, Yi))
            if Q is not None:
                Zi = Zi - conj_t(xp, B) @ (conj_t(xp, Q) @ orth(xp, Yi))
            Zi = orth(xp, Zi)
            Yi = op.matmat(Zi)
            if Q is not None:
                Yi = Yi - Q @ (B @ Zi)
        Qi = orth(xp, Yi)
        if Q is not None:  # re-orthogonalize against the basis (twice is enough)
            Qi = orth(xp, Qi - Q @ (conj_t(xp, Q) @ Qi))
        Bi = conj_t(xp, op.rmatmat(Qi))
        Q = Qi if Q is None else xp.concatenate([Q, Qi], axis=1)
        B = Bi if B is None else xp.concatenate([B, Bi], axis=0)
        k += b
        E -= float(xp.sum(xp.abs(Bi) ** 2))
        if E <= target:
            break
    return Q, B, normA2


def _svd_from_qb(op: _Operand, Q: Any, small: tuple[Any, Any, Any], rank: int) -> SVD:
    """SVD of ``M ≈ Q B`` (``small`` = SVD of B) truncated to ``rank``, mapped back to ``A``
    and sign-normalized."""
    xp = op.xp
    Uh, s, Vt = small
    with serial_blas(xp):
        U = Q @ Uh[:, :rank]
    s = s[:rank]
    Vt = Vt[:rank]
    if op.adjoint:  # M = Aᴴ = U S Vᴴ  =>  A = V S Uᴴ
        U, Vt = conj_t(xp, Vt), conj_t(xp, U)
    U, Vt = _sign_flip(xp, U, Vt)
    layout = select(xp, cpu=np.ascontiguousarray, fallback=_rsvd_xp.as_is,
                    what="the layout of the factors")
    U, Vt = layout(U), layout(Vt)
    s = s.astype(real_dtype(op.dtype))
    return SVD(U, s, Vt)


def _rsvd(op: _Operand, rank: int, oversample: int, n_iter: int, sketch: str, gen: Any) -> SVD:
    size = min(rank + oversample, min(op.shape))
    Q = _range_finder(op, size, n_iter, sketch, gen)
    B = conj_t(op.xp, op.rmatmat(Q))
    return _svd_from_qb(op, Q, _small_svd(op.xp, B), rank)


def _rank_for_tol(xp: ModuleType, s: Any, normA2: float, tol: float) -> int:
    """Smallest k with ‖A − A_k‖_F ≤ tol ‖A‖_F, using ‖A − A_k‖² ≈ ‖A‖² − Σ_{i≤k} s_i²."""
    s2 = np.asarray(xp.asnumpy(s) if hasattr(xp, "asnumpy") else s, dtype=np.float64) ** 2
    tail = normA2 - np.cumsum(s2)
    ok = np.nonzero(tail <= (tol**2) * normA2)[0]
    return int(ok[0]) + 1 if ok.size else int(s2.shape[0])


# ---------------------------------------------------------------------------------------------
# public API


def _setup(A: Any, *, adjoint_for: str | None = None) -> tuple[_Operand, Any]:
    op, back = _as_operand(A)
    if adjoint_for is not None:  # B = Qᴴ A needs Aᴴ: refuse an operator without it up front
        _require_adjoint(op, adjoint_for)
    m, n = op.shape
    if m < n:  # work on Aᴴ (a view) so that the basis lives on the shorter side
        op.adjoint = True
        op.shape = (n, m)
    return op, back


def range_finder(
    A: Any,
    size: int | None = None,
    *,
    n_iter: int = 2,
    sketch: str = "gaussian",
    tol: float | None = None,
    rng: Any = None,
) -> Any:
    """An orthonormal basis ``Q`` whose range approximates the dominant range of ``A``.

    Parameters
    ----------
    A : (m, n) array, sparse matrix or scipy.sparse.linalg.LinearOperator
        NumPy, CuPy or Array-API (e.g. torch) array, SciPy/CuPyX sparse matrix, or operator.
    size : int, optional
        Number of columns of ``Q`` (``<= min(m, n)``). With ``tol`` it is the maximum size
        (default ``min(m, n)``); without ``tol`` it is required.
    n_iter : int, default 2
        Power iterations (each is one product with ``Aᴴ`` and one with ``A``).
    sketch : {"gaussian", "srht", "sparse_sign", "countsketch", "sparse"}, default "gaussian"
        The random test matrix. Structured ones come from :func:`projkit.sketch_operator`.
    tol : float in (0, 1), optional
        Adaptive mode: grow ``Q`` by blocks until ``‖A − Q Qᴴ A‖_F ≤ tol ‖A‖_F``.
    rng : None, int or numpy.random.Generator
        SPEC-7 random source (a CuPy input draws on its device).

    Returns
    -------
    Q : (m, size) array
        Orthonormal columns, same library, device and dtype as ``A``.

    Notes
    -----
    A ``dask.array.Array`` (NumPy or SciPy sparse chunks, chunked along the rows or both
    ways) gives a lazy dask ``Q`` chunked like ``A``'s rows, equal to the in-memory ``Q`` for
    the same int ``rng`` to rounding; it reads ``A`` ``n_iter + 1`` times (TSQR bases, see
    :func:`rsvd`). ``tol`` is not available for dask arrays.

    Fixed size: ``Q = orth((A Aᴴ)^q A Ω)`` for a random ``Ω`` (n × size), with the block
    renormalized after every product (HMT Algorithm 4.4) by a Cholesky-QR pass, with LU as
    in Szlam et al. (2014) as the fallback on NumPy. Adaptive: the blocked randQB_EI algorithm of
    Yu, Gu & Li, whose error indicator ``‖A‖_F² − ‖B‖_F²`` costs nothing extra. For a
    LinearOperator, ``‖A‖_F`` is estimated from a Gaussian probe.

    References
    ----------
    .. [1] N. Halko, P.-G. Martinsson, J. A. Tropp, "Finding structure with randomness:
       probabilistic algorithms for constructing approximate matrix decompositions",
       SIAM Review 53(2), 2011.
    .. [2] Y. Yamamoto, Y. Nakatsukasa, Y. Yanagisawa, T. Fukaya, "Roundoff error analysis of
       the CholeskyQR2 algorithm", Electron. Trans. Numer. Anal. 44, 2015.
    .. [3] W. Yu, Y. Gu, Y. Li, "Efficient randomized algorithms for the fixed-precision
       low-rank matrix approximation", SIAM J. Matrix Anal. Appl. 39(3), 2018.

    Examples
    --------
    >>> import numpy as np, projkit
    >>> A = np.outer(np.arange(1.0, 6.0), np.ones(4))        # rank one
    >>> Q = projkit.range_finder(A, 1, rng=0)
    >>> bool(np.allclose(Q @ (Q.T @ A), A))
    True
    """
    if is_dask(A):  # the blockwise engine (lazy; A is never made one in-memory array)
        from ._rsvd_dask import range_finder_dask

        return range_finder_dask(A, size, n_iter=n_iter, sketch=sketch, tol=tol, rng=rng)
    op, back = _as_operand(A)
    m, n = op.shape
    n_iter = check_positive_int(n_iter, name="n_iter", low=0)
    sketch = _check_sketch(sketch)
    tol = _check_tol(tol)
    if size is None and tol is None:
        raise TypeError("range_finder: give size, tol, or both")
    if size is not None:
        size = check_positive_int(size, name="size", high=min(m, n))
    if n_iter > 0 or tol is not None:  # power iterations and the adaptive QB apply Aᴴ
        _require_adjoint(op, "range_finder with n_iter > 0 or tol")
    gen = device_rng(rng, op.xp)
    if tol is None:
        assert size is not None
        Q = _range_finder(op, size, n_iter, sketch, gen)
    else:
        max_rank = size if size is not None else min(m, n)
        block = min(max(10, max_rank // 20), max_rank)
        Q, _, _ = _randqb(op, tol, max_rank, block, n_iter, sketch, gen)
    return back(Q)


def rsvd(
    A: Any,
    rank: int | None = None,
    *,
    oversample: int = 10,
    n_iter: int | str = "auto",
    sketch: str = "gaussian",
    tol: float | None = None,
    rng: Any = None,
) -> SVD:
    """Randomized truncated SVD ``A ≈ U diag(s) Vt``.

    Parameters
    ----------
    A : (m, n) array, sparse matrix or scipy.sparse.linalg.LinearOperator
        Dense NumPy/CuPy/Array-API array, SciPy/CuPyX sparse matrix (never densified), or a
        LinearOperator (only ``A @ X`` and ``A.H @ Y`` are used). float32 stays float32;
        complex input gives complex singular vectors.
    rank : int, optional
        Number of singular triplets, ``1 <= rank <= min(m, n)``. Required unless ``tol`` is
        given (then it caps the rank).
    oversample : int, default 10
        Extra test vectors (the sketch has ``rank + oversample`` columns, capped at
        ``min(m, n)``).
    n_iter : int or "auto", default "auto"
        Power iterations; "auto" is 7 when ``rank < 0.1 min(m, n)`` and 4 otherwise (the
        scikit-learn rule, so results are comparable at the same settings); 2 per block in
        adaptive (``tol``) mode.
    sketch : {"gaussian", "srht", "sparse_sign", "countsketch", "sparse"}, default "gaussian"
        The random test matrix. Gaussian is drawn on the device in the working dtype (fastest
        for dense GEMMs); the others come from :func:`projkit.sketch_operator`.
    tol : float in (0, 1), optional
        Adaptive rank: the smallest rank with ``‖A − U S Vt‖_F ≤ tol ‖A‖_F`` (estimated from
        the blocked QB factorization, see :func:`range_finder`).
    rng : None, int or numpy.random.Generator
        SPEC-7 random source; the same int gives the same result.

    Returns
    -------
    SVD
        ``U`` (m, k), ``s`` (k,), ``Vt`` (k, n) on the input's device and dtype (``s`` real).
        Signs are deterministic: the largest-magnitude entry of each column of ``U`` is
        positive (as ``sklearn.utils.extmath.svd_flip``).

    Raises
    ------
    ValueError
        ``rank`` outside ``[1, min(m, n)]``, bad ``n_iter``/``sketch``/``tol``, NaN in ``A``.
    TypeError
        ``A`` a LinearOperator without ``rmatvec``/``rmatmat`` (``A.H @ Y`` is needed), found
        before the operator is applied.

    Notes
    -----
    **Dask arrays** (chunks NumPy or SciPy sparse, kept sparse; chunked along the rows only or
    along both dimensions): the result is lazy, ``U`` a dask array chunked like ``A``'s rows and
    ``Vt`` like its columns, equal to the in-memory result for the same int ``rng`` to
    rounding, whatever the chunking. Every step is blockwise (one task per chunk and a tree
    sum; Cholesky-QR normalizations as in memory, the bases by TSQR), ``Ω`` is drawn on the
    client on the shorter side, and a call reads
    ``A`` exactly ``n_iter + 2`` times (a power iteration's two products ``Y = A Z`` and
    ``Aᴴ Y`` share one read of each chunk; the first read also makes the sample, one more makes
    the final basis and one ``B = Qᴴ A``), each pass a fresh chunk-by-chunk read so that ``A``
    may exceed the cluster's memory. ``tol`` is not available for dask arrays; NaN/inf are not
    looked for.

    With ``M = A`` (or ``Aᴴ`` when ``m < n``, so that the basis has the shorter length):
    ``Q = orth((M Mᴴ)^q M Ω)``, ``B = Qᴴ M`` (l × n, l = rank + oversample),
    ``B = Û Σ Vᴴ``, ``U = Q Û``. Halko, Martinsson & Tropp (Thm. 10.6) bound the expected error
    ``E‖A − U Σ Vᴴ‖ ≤ [1 + 4√(l)/(p−1) · √min(m,n)]^{1/(2q+1)} σ_{k+1}`` with
    ``p = l − k``. Power iterations are renormalized by one Cholesky-QR pass, the final basis is
    Cholesky-QR2, and the SVD of ``B`` goes through Cholesky-QR2 of ``Bᴴ``; each falls back to
    LU (NumPy, as scikit-learn) / Householder QR / ``gesdd`` when the Gram matrix is too
    ill-conditioned. No pivoted factorization is needed on CuPy.

    References
    ----------
    .. [1] N. Halko, P.-G. Martinsson, J. A. Tropp, "Finding structure with randomness:
       probabilistic algorithms for constructing approximate matrix decompositions",
       SIAM Review 53(2), 2011.
    .. [2] Y. Yamamoto, Y. Nakatsukasa, Y. Yanagisawa, T. Fukaya, "Roundoff error analysis of
       the CholeskyQR2 algorithm", Electron. Trans. Numer. Anal. 44, 2015.
    .. [3] A. Szlam, Y. Kluger, M. Tygert, "An implementation of a randomized algorithm for
       principal component analysis", arXiv:1412.3510, 2014.

    Examples
    --------
    >>> import numpy as np, projkit
    >>> rng = np.random.default_rng(0)
    >>> A = rng.standard_normal((60, 5)) @ rng.standard_normal((5, 40))   # rank 5
    >>> U, s, Vt = projkit.rsvd(A, 5, rng=0)
    >>> bool(np.allclose((U * s) @ Vt, A))
    True
    >>> bool(np.allclose(s, np.linalg.svd(A, compute_uv=False)[:5]))
    True
    """
    if is_dask(A):  # the blockwise engine (lazy; A is never made one in-memory array)
        from ._rsvd_dask import rsvd_dask

        return rsvd_dask(A, rank, oversample=oversample, n_iter=n_iter, sketch=sketch, tol=tol,
                         rng=rng)
    op, back = _setup(A, adjoint_for="rsvd")
    m, n = op.shape
    tol = _check_tol(tol)
    if rank is None:
        if tol is None:
            raise TypeError("rsvd: give rank, tol, or both")
        max_rank = min(m, n)
    else:
        max_rank = rank = check_positive_int(rank, name="rank", high=min(m, n))
    oversample = check_positive_int(oversample, name="oversample", low=0)
    sketch = _check_sketch(sketch)
    if tol is not None and n_iter == "auto":
        n_iter = 2  # adaptive mode: each block is refined on its own, 2 passes suffice
    n_iter = _resolve_n_iter(n_iter, max_rank, (m, n))
    gen = device_rng(rng, op.xp)
    if tol is None:
        assert rank is not None
        res = _rsvd(op, rank, oversample, n_iter, sketch, gen)
    else:
        block = min(max(oversample, 10, max_rank // 20), max_rank)
        Q, B, normA2 = _randqb(op, tol, max_rank, block, n_iter, sketch, gen)
        small = _small_svd(op.xp, B)
        k = min(_rank_for_tol(op.xp, small[1], normA2, tol), max_rank)
        res = _svd_from_qb(op, Q, small, k)
    return SVD(back(res.U), back(res.s), back(res.Vt))
