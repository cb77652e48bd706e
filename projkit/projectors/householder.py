"""Householder projectors: orthonormal n × r maps stored as products of Householder reflectors.

A product of ``k`` Householder reflectors ``Q = H_1 H_2 ... H_k`` with ``H_i = I - tau_i v_i v_i^T``
is an orthogonal ``n × n`` matrix held in ``O(nk)`` numbers; its first ``r`` columns
``U = Q[:, :r]`` are the *Householder projector* of Song et al. (ICCV 2023): an ``n × r`` matrix
with orthonormal columns by construction, so a model that learns ``v_1 ... v_k`` never has to
re-orthonormalize. :class:`HouseholderProjector` applies ``U``, ``U^T``, the complement
``Q[:, r:]`` and the gradient of a loss with respect to the vectors without ever forming ``Q``,
with the compact WY form ``Q = I - V T V^T`` in blocks (BLAS-3 on the CPU, cuBLAS with CuPy).

Storage follows LAPACK (``geqrf``/``orgqr``/``ormqr``) and :func:`torch.linalg.householder_product`:
the vectors are the columns of an ``n × k`` unit lower trapezoidal ``V`` (``v_i[j] = 0`` for
``j < i``, ``v_i[i] = 1``; only the strictly lower part of the array passed in is read), so a
``geqrf`` output can be passed as is and ``Q`` agrees with ``orgqr`` to rounding. The paper's own
convention (full, unconstrained vectors with ``tau_i = 2 / ||v_i||^2``) is
``convention="full"``.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

from .._backend.dispatch import select
from .._backend.linalg import eps
from .._backend.namespace import array_namespace, is_cupy_namespace, is_numpy_namespace
from .._backend.random import device_rng
from .._backend.validation import check_input, check_size
from . import _householder_lapack
from ._householder_xp import householder_qr, larfg_columns
from ._householder_xp import sq_norms as _sq_norms_xp

__all__ = ["HouseholderProjector"]

#: reflectors per compact-WY block: T is block × block, V_b^T Y costs n·block·b flops per block
_BLOCK = 64
_CONVENTIONS = ("lapack", "full")


# ---------------------------------------------------------------------------------------------
# private bodies (NumPy or CuPy, leading batch dimensions allowed; no checking)


def _mT(a: Any) -> Any:
    return a.swapaxes(-1, -2)


def _eye_like(xp: ModuleType, rows: int, cols: int, like: Any) -> Any:
    return xp.eye(rows, cols, dtype=like.dtype)


def _block_vectors(vectors: Any, j0: int, j1: int, lapack: bool, xp: ModuleType) -> tuple[int, Any]:
    """The explicit vectors of reflectors ``j0 .. j1-1`` and the first row they can touch.

    LAPACK convention: rows ``j0 ..`` of the unit lower trapezoidal block (rows above ``j0`` are
    structurally zero and never enter a product); full convention: all rows.
    """
    if lapack:
        nb = j1 - j0
        Vb = xp.array(vectors[..., j0:, j0:j1], copy=True)
        # only the top nb × nb square holds entries on or above the diagonal
        top = Vb[..., :nb, :]
        Vb[..., :nb, :] = xp.tril(top, -1) + _eye_like(xp, nb, nb, top)
        return j0, Vb
    return 0, xp.array(vectors[..., :, j0:j1], copy=True)


def _sq_norms(vectors: Any, lapack: bool, xp: ModuleType) -> Any:
    """``||v_i||^2`` of every reflector (NaN/inf propagate), without an ``n × k`` temporary.

    NumPy: one Numba pass over the part that is read; CuPy: masked column blocks.
    """
    body = select(xp, cpu=_sq_norms_numba, gpu=_sq_norms_xp, what="HouseholderProjector")
    return body(vectors, lapack, xp)


def _sq_norms_numba(vectors: Any, lapack: bool, xp: ModuleType) -> Any:
    """The CPU engine, imported on first use (Numba loads only when it runs)."""
    from ._householder_numba import vector_sq_norms

    return vector_sq_norms(vectors, lapack, xp)


def _build_T(Vb: Any, tau_b: Any, S: Any, xp: ModuleType) -> tuple[Any, Any, Any]:
    """Compact WY factor of one block: ``H_0 ... H_{nb-1} = I - V_b T V_b^T``.

    ``T^{-1} = diag(1/tau) + striu(V_b^T V_b)`` (the UT transform); a reflector with
    ``tau = 0`` is the identity and enters as a zero vector with ``tau = 1``.
    Returns ``(V_b, T, S)`` with those substitutions made (``S``: upper triangle of
    ``V_b^T V_b``, the rest unspecified).
    """
    zero = tau_b == 0
    if bool(xp.any(zero)):
        Vb = xp.where(zero[..., None, :], 0.0, Vb).astype(Vb.dtype)
        tau_b = xp.where(zero, 1.0, tau_b).astype(Vb.dtype)
        S = _mT(Vb) @ Vb
    nb = S.shape[-1]
    Tinv = xp.triu(S, 1) + _eye_like(xp, nb, nb, S) * (1.0 / tau_b)[..., None, :]
    T = xp.triu(xp.linalg.inv(Tinv))
    return Vb, T, S


def _gram(Vb: Any, xp: ModuleType) -> Any:
    """``V_b^T V_b`` (only its upper triangle is used; BLAS ``syrk`` measured no faster than
    the GEMM at these shapes, so the GEMM serves every namespace)."""
    return _mT(Vb) @ Vb


def _first_bad(mask: Any, xp: ModuleType) -> int:
    """Index of the first reflector (last axis) flagged in any batch entry."""
    flat = xp.reshape(mask, (-1, mask.shape[-1])).any(axis=0)
    return int(xp.nonzero(flat)[0][0])


class _Blocks:
    """Compact-WY blocks ``(row0, V_b, T_b, S_b, tau_b)`` of a product, built on first use and
    cached; building a block validates its vectors (and ``tau``) and computes its ``tau``."""

    def __init__(self, vectors: Any, tau: Any, lapack: bool, xp: ModuleType, block: int,
                 check_finite: bool = True):
        self.vectors, self.tau, self.lapack, self.xp, self.block = vectors, tau, lapack, xp, block
        self.check_finite = check_finite
        self._cache: dict[tuple[int, int], tuple[int, Any, Any, Any, Any]] = {}

    def ranges(self, m: int) -> list[tuple[int, int]]:
        return [(j0, min(m, j0 + self.block)) for j0 in range(0, m, self.block)]

    def get(self, j0: int, j1: int) -> tuple[int, Any, Any, Any, Any]:
        key = (j0, j1)
        hit = self._cache.get(key)
        if hit is None:
            xp = self.xp
            row0, Vb = _block_vectors(self.vectors, j0, j1, self.lapack, xp)
            S = _gram(Vb, xp)
            sq = xp.diagonal(S, axis1=-2, axis2=-1)  # ||v_i||^2, NaN/inf propagate
            if self.check_finite and not bool(xp.all(xp.isfinite(sq))):
                j = j0 + _first_bad(~xp.isfinite(sq), xp)
                raise ValueError(
                    f"vectors: contains NaN or inf (or ||v||^2 overflows) in column {j}, "
                    "which defines a reflector"
                )
            if not self.lapack and bool(xp.any(sq == 0)):
                j = j0 + _first_bad(sq == 0, xp)
                raise ValueError(
                    f"vectors: column {j} is zero; a Householder vector must be nonzero "
                    "(convention='full')"
                )
            if self.tau is None:
                tau_b = (2.0 / sq).astype(Vb.dtype)
            else:
                tau_b = self.tau[..., j0:j1]
                # an orthogonal reflector has tau = 0 or tau = 2 / ||v||^2
                tol = 20.0 * float(np.sqrt(eps(Vb.dtype)))
                bad = (tau_b != 0) & (xp.abs(tau_b * sq - 2.0) > tol)
                if bool(xp.any(bad)):
                    j = j0 + _first_bad(bad, xp)
                    raise ValueError(
                        f"tau: entry {j} makes H_{j} non-orthogonal; expected 0 or "
                        f"2/||v_{j}||^2 (as geqrf returns), got a value off by more than rounding"
                    )
            Vb, T, S = _build_T(Vb, tau_b, S, xp)
            hit = (row0, Vb, T, S, tau_b)
            self._cache[key] = hit
        return hit

    def all_tau(self) -> Any:
        """``tau`` of every reflector (given, or ``2 / ||v_i||^2``)."""
        if self.tau is None:
            sq = _sq_norms(self.vectors, self.lapack, self.xp)
            self.tau = (2.0 / sq).astype(self.vectors.dtype)
        return self.tau


def _apply(blocks: _Blocks, m: int, n: int, c0: int, c1: int, X: Any) -> Any:
    """``Q[:, c0:c1] @ X`` = ``Q @ [0; X; 0]`` with the first ``m`` reflectors (the others are
    the identity on those columns)."""
    xp = blocks.xp
    batch = np.broadcast_shapes(tuple(blocks.vectors.shape[:-2]), tuple(X.shape[:-2]))
    shape = (*batch, n, X.shape[-1])
    ranges = blocks.ranges(m)
    j0, j1 = ranges[-1]
    row0, Vb, T, _, _ = blocks.get(j0, j1)
    a = max(c0, row0)
    if a < c1:
        # first block on [0; X; 0] without forming it: V_b^T reads only the rows of X, and the
        # result is -V_b W plus X added into its rows (one GEMM output, no zero fill)
        W = T @ (_mT(Vb[..., a - row0 : c1 - row0, :]) @ X[..., a - c0 :, :])
        Z = Vb @ (-W)
        if row0 == 0 and Z.shape == shape:
            Y = Z
        else:
            Y = xp.zeros(shape, dtype=X.dtype)
            Y[..., row0:, :] = Z
        Y[..., c0:c1, :] += X
        lo, hi = min(c0, row0), n
    else:
        Y = xp.zeros(shape, dtype=X.dtype)
        Y[..., c0:c1, :] = X
        lo, hi = c0, c1
    for j0, j1 in reversed(ranges[:-1]):
        row0, Vb, T, _, _ = blocks.get(j0, j1)
        a, b = max(lo, row0), hi
        if a >= b:
            continue  # Y vanishes on every row this block reads: it acts as the identity
        # V_b^T Y only over the rows where Y can be nonzero
        W = T @ (_mT(Vb[..., a - row0 : b - row0, :]) @ Y[..., a:b, :])
        Y[..., row0:, :] -= Vb @ W
        lo, hi = min(lo, row0), n
    return Y


def _apply_t(blocks: _Blocks, m: int, c0: int, c1: int, Y: Any) -> Any:
    """``Q[:, c0:c1]^T @ Y`` = rows ``c0:c1`` of ``H_m ... H_1 Y``."""
    ranges = blocks.ranges(m)
    batch = np.broadcast_shapes(tuple(blocks.vectors.shape[:-2]), tuple(Y.shape[:-2]))
    Y = blocks.xp.broadcast_to(Y, (*batch, *Y.shape[-2:]))
    Z = Y
    copied = False
    for idx, (j0, j1) in enumerate(ranges):
        row0, Vb, T, _, _ = blocks.get(j0, j1)
        W = _mT(T) @ (_mT(Vb) @ Z[..., row0:, :])
        if idx == len(ranges) - 1:
            # the last block: only rows c0:c1 of its output are wanted
            out = Z[..., c0:c1, :]
            out = out.copy() if not copied else out
            a = max(c0, row0)
            if a < c1:
                out[..., a - c0 :, :] -= Vb[..., a - row0 : c1 - row0, :] @ W
            return out
        if not copied:
            Z = Z.copy()
            copied = True
        Z[..., row0:, :] -= Vb @ W
    return Y[..., c0:c1, :].copy()


def _vjp(blocks: _Blocks, m: int, n: int, c0: int, c1: int, G: Any) -> Any:
    """Gradient of ``<G, Q[:, c0:c1]>`` with respect to the vectors (τ = 2/||v||², see Notes of
    :meth:`HouseholderProjector.vjp`), as an ``n × k`` array."""
    xp = blocks.xp
    vectors = blocks.vectors
    eye = _eye_like(xp, c1 - c0, c1 - c0, G)
    a = _apply(blocks, m, n, c0, c1, xp.broadcast_to(eye, (*G.shape[:-2], *eye.shape)))  # R_0 = U
    g = xp.array(G, copy=True)
    grad = xp.zeros(vectors.shape, dtype=G.dtype)
    for j0, j1 in blocks.ranges(m):
        row0, Vb, T, S, tau_b = blocks.get(j0, j1)
        Gv = _mT(Vb) @ g[..., row0:, :]
        c = _mT(T) @ Gv
        # R_b = Q_b^T R_{b-1}  (Q_b orthogonal)
        a[..., row0:, :] -= Vb @ (_mT(T) @ (_mT(Vb) @ a[..., row0:, :]))
        Av = _mT(Vb) @ a[..., row0:, :]
        d = T @ Av
        p = Gv - _mT(xp.triu(S, 1)) @ c  # p_i = v_i^T (H_{i-1} ... H_0 g)
        q = Av - xp.triu(S, 1) @ d  # q_i = v_i^T (H_{i+1} ... H_{nb-1} R_b)
        gtau = -xp.sum(p * q, axis=-1)
        K = xp.triu(c @ _mT(q), 1) + xp.tril(d @ _mT(p), -1)
        gV = (Vb @ K - g[..., row0:, :] @ _mT(q) - a[..., row0:, :] @ _mT(p)) * tau_b[..., None, :]
        # tau = 2 / ||v||^2  =>  d tau / d v = -tau^2 v
        gV = gV - Vb * (gtau * tau_b * tau_b)[..., None, :]
        grad[..., row0:, j0:j1] = gV
        g[..., row0:, :] -= Vb @ c  # g_{b+1} = Q_b^T g_b
    if blocks.lapack:
        grad = xp.tril(grad, -1)
    return grad


# ---------------------------------------------------------------------------------------------
# public class


class HouseholderProjector:
    """The ``n × r`` orthonormal map ``U = Q[:, :r]`` of a product of Householder reflectors.

    ``Q = H_1 H_2 ... H_k`` with ``H_i = I - tau_i v_i v_i^T``; ``U`` has orthonormal columns
    for any vectors, so it parametrizes the Stiefel manifold without constraints (the paper's
    *Householder projector*). ``U`` and ``Q`` are never formed: ``P @ X``, ``P.T @ Y``,
    :meth:`matrix`, :attr:`orthogonal_complement` and :meth:`vjp` use the blocked compact WY
    form.

    Parameters
    ----------
    vectors : array of shape (..., n, k)
        The Householder vectors, ``k <= n``. With ``convention="lapack"`` (default) only the
        strictly lower trapezoidal part is read: ``v_i`` has ``v_i[i] = 1`` and zeros above, as
        ``geqrf`` stores them (so the output of ``scipy.linalg.lapack.dgeqrf`` can be passed as
        is). With ``convention="full"`` every entry is read and each column must be nonzero.
        Leading dimensions hold a batch of independent products. NumPy or CuPy; float32 is kept.
    rank : int
        ``r``, the number of columns of ``U`` (``1 <= r <= n``).
    tau : array of shape (..., k), optional
        The scalar factors. Default ``2 / ||v_i||^2``, which makes every ``H_i`` an exact
        reflection (torch's ``orthogonal`` parametrization does the same). Explicit values (from
        ``geqrf``) must be ``0`` or ``2 / ||v_i||^2`` to rounding, so that ``Q`` is orthogonal.
    convention : {"lapack", "full"}
        How ``vectors`` is read (see above).
    check_finite : bool
        Reject NaN/inf in ``tau`` and in the entries of ``vectors`` that are read.

    Raises
    ------
    ValueError
        For ``k > n``, ``rank`` outside ``[1, n]``, a zero vector (``convention="full"``), NaN
        or inf, or a ``tau`` that is not ``0`` or ``2/||v_i||^2``. Only the reflectors that act
        on ``U`` (the first ``min(k, rank)`` with LAPACK storage, all ``k`` otherwise) are
        read at construction — that is what makes building ``U`` ``O(n r^2)`` rather than
        ``O(nk)``; the others are read, checked and cached the first time the
        :attr:`orthogonal_complement` needs them.

    Attributes
    ----------
    n, k, rank : int
    shape : tuple
        ``(n, rank)``.
    dtype
    vectors, tau : arrays
        As given (``tau`` computed when not given).
    convention : str

    Notes
    -----
    Compact WY (Schreiber & Van Loan): the product of the reflectors ``j0 .. j1-1`` of one block
    is ``I - V_b T_b V_b^T`` with ``T_b`` upper triangular,
    ``T_b^{-1} = diag(1/tau) + striu(V_b^T V_b)`` (the UT transform of Joffrain et al.). Blocks
    of 64 reflectors are built once, cached, and applied with three matrix products each.

    With LAPACK storage ``v_j`` vanishes on rows ``< j``, so ``H_j e_i = e_i`` for ``i < j``:
    ``U = Q[:, :r] = H_1 ... H_{min(k, r)} [I_r; 0]`` and the reflectors after the ``r``-th only
    shape the complement ``Q[:, r:]``. Applying ``U`` to an ``r × b`` batch therefore costs
    ``O(n r b + r^2 b)`` whatever ``k``; the first block's ``V_b^T [X; 0]`` reads only the ``r``
    nonzero rows of ``[X; 0]``. With ``convention="full"`` all ``k`` reflectors act on every
    column and the cost is ``O(n k b + k^2 b)``.

    References
    ----------
    .. [1] Y. Song, J. Zhang, N. Sebe, W. Wang, "Householder Projector for Unsupervised Latent
       Semantics Discovery", ICCV 2023.
    .. [2] R. Schreiber, C. Van Loan, "A storage-efficient WY representation for products of
       Householder transformations", SIAM J. Sci. Stat. Comput. 10(1), 1989.
    .. [3] T. Joffrain, T. M. Low, E. S. Quintana-Ortí, R. van de Geijn, F. Van Zee,
       "Accumulating Householder transformations, revisited", ACM TOMS 32(2), 2006.
    .. [4] G. W. Stewart, "The efficient generation of random orthogonal matrices with an
       application to condition estimators", SIAM J. Numer. Anal. 17(3), 1980; F. Mezzadri,
       "How to generate random matrices from the classical compact groups", Notices AMS, 2007.

    Examples
    --------
    >>> import numpy as np
    >>> from projkit import HouseholderProjector
    >>> P = HouseholderProjector.random(6, 2, rng=0)
    >>> U = P.matrix()
    >>> U.shape, bool(np.allclose(U.T @ U, np.eye(2)))
    ((6, 2), True)
    >>> X = np.ones((2, 3))
    >>> bool(np.allclose(P @ X, U @ X)), bool(np.allclose(P.T @ (P @ X), X))
    (True, True)
    """

    __array_ufunc__ = None  # so that ndarray @ P defers to __rmatmul__

    def __init__(
        self,
        vectors: Any,
        rank: int,
        *,
        tau: Any = None,
        convention: str = "lapack",
        check_finite: bool = True,
    ) -> None:
        if convention not in _CONVENTIONS:
            raise ValueError(f"convention: expected one of {_CONVENTIONS}, got {convention!r}")
        V, xp, back = check_input(
            vectors, name="vectors", ndim=(2, 3, 4, 5), accept_sparse=False, finite=False
        )
        n, k = V.shape[-2:]
        if n < 1 or k < 1:
            raise ValueError(f"vectors: expected a nonempty (n, k) array, got shape {V.shape}")
        if k > n:
            raise ValueError(
                f"vectors: expected at most n = {n} reflectors (k <= n columns), got k = {k}"
            )
        rank = check_size(rank, name="rank", upper=n, upper_name=f"the dimension n = {n}")
        t = None
        if tau is not None:
            t, _, _ = check_input(
                tau, name="tau", ndim=V.ndim - 1, accept_sparse=False, dtype=V.dtype,
                finite=check_finite,
            )
            array_namespace(V, t)
            if tuple(t.shape) != tuple(V.shape[:-2]) + (k,):
                raise ValueError(
                    f"tau: expected shape {tuple(V.shape[:-2]) + (k,)}, got {tuple(t.shape)}"
                )
        blocks = _Blocks(V, t, convention == "lapack", xp, _BLOCK, check_finite)
        self._init(V, t, rank, convention, xp, (0, rank), blocks, back)
        self._prepare()

    def _init(self, V: Any, tau: Any, rank: int, convention: str, xp: ModuleType,
              cols: tuple[int, int], blocks: _Blocks | None = None,
              back: Callable[[Any], Any] | None = None) -> None:
        self.vectors = V
        self.convention = convention
        self.n, self.k = int(V.shape[-2]), int(V.shape[-1])
        self.rank = int(rank)
        self.dtype = V.dtype
        self._xp = xp
        self._cols = cols
        self._blocks = blocks or _Blocks(V, tau, convention == "lapack", xp, _BLOCK)
        #: converts a result to the library of the vectors (torch in, torch out)
        self._back = back if back is not None else _same

    def _prepare(self) -> HouseholderProjector:
        """Build (and so validate) the WY blocks of the reflectors that act on these columns."""
        for j0, j1 in self._blocks.ranges(self._m):
            self._blocks.get(j0, j1)
        return self

    @property
    def tau(self) -> Any:
        """The scalar factors ``tau_i`` (as given, else ``2 / ||v_i||^2``, computed on use)."""
        return self._blocks.all_tau()

    @classmethod
    def _trusted(cls, V: Any, tau: Any, rank: int, convention: str, xp: ModuleType,
                 cols: tuple[int, int], blocks: _Blocks | None = None,
                 back: Callable[[Any], Any] | None = None) -> HouseholderProjector:
        obj = cls.__new__(cls)
        obj._init(V, tau, rank, convention, xp, cols, blocks, back)
        return obj

    # -- constructors ------------------------------------------------------------------------

    @classmethod
    def from_matrix(cls, W: Any, rank: int, *, positive: bool = True) -> HouseholderProjector:
        """The Householder QR ``W = Q R`` of an ``n × m`` matrix, as a projector of rank ``rank``.

        ``Q[:, :m]`` spans the columns of ``W`` in order, so ``U = Q[:, :rank]`` is an orthonormal
        basis of ``W[:, :rank]``; the paper initializes its projector this way from the
        singular vectors of pretrained weights.

        Parameters
        ----------
        W : array of shape (n, m)
        rank : int
            ``1 <= rank <= n``.
        positive : bool
            Sign convention. ``True`` (default): ``R`` has a nonnegative diagonal (LAPACK
            ``geqrfp``), so ``U = W[:, :rank] R_{11}^{-1}`` is the Gram–Schmidt basis and equals
            ``W[:, :rank]`` when ``W`` has orthonormal columns. ``False``: ``geqrf``'s convention
            (``R_{ii}`` has the opposite sign of the pivot entry), which is the ``Q`` of
            ``numpy.linalg.qr`` and ``scipy.linalg.qr``.

        Returns
        -------
        HouseholderProjector
            With ``k = min(n, m)`` reflectors in LAPACK storage.

        Examples
        --------
        >>> import numpy as np
        >>> W = np.linalg.qr(np.random.default_rng(0).standard_normal((5, 3)))[0]
        >>> P = HouseholderProjector.from_matrix(W, 3)
        >>> bool(np.allclose(P.matrix(), W))
        True
        """
        A, xp, back = check_input(W, name="W", ndim=2, accept_sparse=False)
        n, m = A.shape
        if n < 1 or m < 1:
            raise ValueError(f"W: expected a nonempty matrix, got shape {A.shape}")
        rank = check_size(rank, name="rank", upper=n, upper_name=f"the number of rows n = {n}")
        qr_body = select(xp, cpu=_householder_lapack.householder_qr, gpu=householder_qr,
                         what="from_matrix")
        qr, tau = qr_body(A, positive, xp)
        k = min(n, m)
        V = qr[:, :k]
        return cls._trusted(V, tau[:k], rank, "lapack", xp, (0, rank), back=back)

    @classmethod
    def random(
        cls,
        n: int,
        rank: int,
        k: int | None = None,
        *,
        dtype: Any = np.float64,
        like: Any = None,
        rng: Any = None,
    ) -> HouseholderProjector:
        """A random projector: ``Q`` Haar-distributed on O(n) when ``k = n`` (the default).

        Stewart's construction: the ``i``-th reflector maps an independent standard Gaussian
        vector of length ``n - i`` onto ``+||x|| e_1`` (``dlarfgp``), so ``Q`` is the ``Q`` factor
        of a Gaussian matrix with positive diagonal ``R`` — Mezzadri's sign fix, without which
        ``Q`` is not Haar (LAPACK's ``beta = -sign(alpha)||x||`` makes every ``Q_{ii}`` of the
        reflectors' columns negative-biased). ``U = Q[:, :rank]`` is uniform on the Stiefel
        manifold for any ``k >= rank``, and only the first ``min(k, rank)`` reflectors act on
        ``U``; ``k < n`` saves memory, ``k = n`` gives the whole Haar ``Q``.

        Parameters
        ----------
        n, rank : int
        k : int, optional
            Number of reflectors, ``1 <= k <= n``; default ``n``.
        dtype : {float64, float32}
        like : array, optional
            A CuPy array to draw on its device (default NumPy).
        rng : None, int or Generator
            SPEC 7.

        Examples
        --------
        >>> P = HouseholderProjector.random(5, 2, rng=1)
        >>> P.shape, P.k
        ((5, 2), 5)
        """
        n = check_size(n, name="n")
        rank = check_size(rank, name="rank", upper=n, upper_name=f"the dimension n = {n}")
        if k is not None:
            k = check_size(k, name="k", upper=n, upper_name=f"the dimension n = {n}")
        k = n if k is None else k
        dt = np.dtype(dtype)
        if dt not in (np.float32, np.float64):
            raise TypeError(f"dtype: expected float32 or float64, got {dt}")
        xp = np if like is None else array_namespace(like)
        if not (is_numpy_namespace(xp) or is_cupy_namespace(xp)):
            raise TypeError(f"like: expected a NumPy or CuPy array, got {type(like).__name__}")
        gen = device_rng(rng, xp)
        G = gen.standard_normal((n, k), dtype=dt)
        L = xp.tril(G, -1)
        alpha = xp.diagonal(G).copy()
        sigma2 = xp.sum(L * L, axis=0)
        _, tau, scale = larfg_columns(alpha, sigma2, True, xp)
        V = L * scale[None, :]
        return cls._trusted(V, tau.astype(dt), rank, "lapack", xp, (0, rank))

    # -- structure ---------------------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n, self._cols[1] - self._cols[0])

    @property
    def _m(self) -> int:
        """How many reflectors act on the columns ``c0:c1`` (LAPACK storage: the first c1)."""
        return min(self.k, self._cols[1]) if self.convention == "lapack" else self.k

    @property
    def orthogonal_complement(self) -> HouseholderProjector:
        """The ``n × (n - r)`` map ``Q[:, r:]`` (and back): same reflectors, other columns.

        Its columns are orthonormal and orthogonal to those of ``U``; with LAPACK storage it
        needs all ``k`` reflectors. For ``rank = n`` it has no columns.
        """
        c0, c1 = self._cols
        cols = (c1, self.n) if c0 == 0 else (0, c0)
        return type(self)._trusted(
            self.vectors, self._blocks.tau, cols[1] - cols[0], self.convention, self._xp, cols,
            self._blocks, self._back,
        )._prepare()

    @property
    def T(self) -> _Transposed:
        """``U^T`` as an operator (``P.T @ Y``)."""
        return _Transposed(self)

    def __repr__(self) -> str:
        return (
            f"HouseholderProjector(n={self.n}, rank={self.shape[1]}, k={self.k}, "
            f"columns={self._cols[0]}:{self._cols[1]}, dtype={np.dtype(self.dtype).name}, "
            f"convention={self.convention!r})"
        )

    # -- application -------------------------------------------------------------------------

    def _check_operand(self, X: Any, rows: int, name: str
                       ) -> tuple[Any, bool, Callable[[Any], Any]]:
        """Validate an operand ``X`` with ``rows`` rows: ``(A, was_a_vector, back)``."""
        A, _, back = check_input(X, name=name, ndim=(1, 2, 3, 4, 5), accept_sparse=False)
        return (*self._fit_operand(A, rows, name), back)

    def _fit_operand(self, A: Any, rows: int, name: str) -> tuple[Any, bool]:
        """A checked operand ``A`` as an ``(..., rows, b)`` block in the working dtype."""
        array_namespace(self.vectors, A)
        shape = tuple(A.shape)
        vec = A.ndim == 1
        if vec:
            A = A[:, None]
        if A.shape[-2] != rows:
            raise ValueError(f"{name}: expected {rows} rows, got shape {shape}")
        if A.dtype != self.dtype:
            A = A.astype(np.promote_types(A.dtype, self.dtype))
        return A, vec

    def _for_dtype(self, dtype: Any) -> HouseholderProjector:
        if dtype == self.dtype:
            return self
        cache = self.__dict__.setdefault("_dtype_cache", {})
        key = np.dtype(dtype).str
        if key not in cache:
            t = self._blocks.tau
            cache[key] = type(self)._trusted(
                self.vectors.astype(dtype), None if t is None else t.astype(dtype),
                self.shape[1], self.convention, self._xp, self._cols, back=self._back,
            )
        return cache[key]

    def __matmul__(self, X: Any) -> Any:
        A, vec, back = self._check_operand(X, self.shape[1], "X")
        P = self._for_dtype(A.dtype)
        Y = _apply(P._blocks, P._m, P.n, *P._cols, A)
        return back(Y[..., 0] if vec else Y)

    def __rmatmul__(self, Z: Any) -> Any:
        # Z @ U = (U^T Z^T)^T
        A, _, back = check_input(Z, name="Z", ndim=2, accept_sparse=False)
        return back(_mT(self._apply_t(_mT(A))))

    def _apply_t(self, Y: Any) -> Any:
        """``U^T @ Y`` for a checked ``Y`` (the body of ``P.T @ Y``)."""
        A, vec = self._fit_operand(Y, self.n, "Y")
        P = self._for_dtype(A.dtype)
        Z = _apply_t(P._blocks, P._m, *P._cols, A)
        return Z[..., 0] if vec else Z

    def matrix(self) -> Any:
        """``U`` as a dense ``n × r`` array (``O(n r min(k, r))`` with LAPACK storage)."""
        r = self.shape[1]
        eye = self._xp.eye(r, dtype=self.dtype)
        eye = self._xp.broadcast_to(eye, (*self.vectors.shape[:-2], r, r))
        return self._back(_apply(self._blocks, self._m, self.n, *self._cols, eye))

    def vjp(self, grad_U: Any) -> Any:
        """Gradient of a loss with respect to ``vectors`` from its gradient ``grad_U`` w.r.t. ``U``.

        Parameters
        ----------
        grad_U : array of shape (..., n, r)

        Returns
        -------
        array of shape (..., n, k)
            Zero where ``vectors`` is not read (on and above the diagonal for LAPACK storage)
            and for reflectors that do not act on ``U``.

        Notes
        -----
        ``tau_i`` is treated as the function ``2 / ||v_i||^2`` of its vector (the orthogonal
        parametrization; explicit ``tau = 0`` reflectors are constants). With
        ``U = L_i H_i R_i`` (``L_i`` the reflectors before ``i``, ``R_i`` those after, times
        ``[I; 0]``), ``g_i = L_i^T G`` and ``a_i = R_i``, ``p_i = g_i^T v_i``, ``q_i = a_i^T v_i``:

        ``dL/dtau_i = -p_i . q_i`` and
        ``dL/dv_i = -tau_i (g_i q_i + a_i p_i) - (dL/dtau_i) tau_i^2 v_i``.

        Per WY block, ``c = T^T V_b^T g`` and ``d = T V_b^T a`` give every ``g_i``, ``a_i`` as
        ``g - V_b c`` and ``a - V_b d`` restricted to the right rows, so the block's gradient is
        ``(V_b K - g q^T - a p^T) diag(tau)`` with ``K = striu(c q^T) + stril(d p^T)`` — matrix
        products only, ``O(n m (r + 64))`` for the ``m`` reflectors that act on ``U``.

        Examples
        --------
        >>> import numpy as np
        >>> P = HouseholderProjector.random(5, 2, rng=0)
        >>> P.vjp(np.ones((5, 2))).shape
        (5, 5)
        """
        c0, c1 = self._cols
        G, _, back = check_input(grad_U, name="grad_U", ndim=self.vectors.ndim,
                                 accept_sparse=False)
        array_namespace(self.vectors, G)
        want = (*self.vectors.shape[:-2], self.n, c1 - c0)
        if tuple(G.shape) != want:
            raise ValueError(f"grad_U: expected shape {want}, got {tuple(G.shape)}")
        P = self._for_dtype(np.promote_types(G.dtype, self.dtype))
        G = G.astype(P.dtype)
        return back(_vjp(P._blocks, P._m, P.n, c0, c1, G))


class _Transposed:
    """``U^T`` of a :class:`HouseholderProjector` (an operator: ``P.T @ Y``)."""

    __array_ufunc__ = None

    def __init__(self, parent: HouseholderProjector) -> None:
        self._parent = parent

    @property
    def T(self) -> HouseholderProjector:
        return self._parent

    @property
    def shape(self) -> tuple[int, int]:
        n, r = self._parent.shape
        return (r, n)

    def __matmul__(self, Y: Any) -> Any:
        A, _, back = check_input(Y, name="Y", ndim=(1, 2, 3, 4, 5), accept_sparse=False)
        return back(self._parent._apply_t(A))

    def matrix(self) -> Any:
        """``U^T`` as a dense ``r × n`` array."""
        return _mT(self._parent.matrix())


def _same(y: Any) -> Any:
    return y
