"""Fast updates of a truncated SVD when a sparse matrix grows or changes (Deng et al., ICLR 2024).

:class:`SVDUpdater` holds the rank-``k`` truncated SVD ``A ≈ U diag(s) Vᵀ`` of a matrix that keeps
changing -- new rows (documents, nodes), new columns (terms), or a low-rank change
``A + D Eᵀ`` -- and updates it without recomputing from scratch. Every method is a
Rayleigh--Ritz projection on an augmented pair of subspaces:

    [A; E] ≈ [U 0; 0 I] · M · [V Q]ᵀ,   M = [diag(s) 0; E V  E Q],

where ``Q`` is an orthonormal basis of (an approximation of) the part of ``range(Eᵀ)`` that
``V`` misses; the rank-``k`` SVD ``M ≈ F T Gᵀ`` gives ``U ← [U 0; 0 I] F``, ``s ← T``,
``V ← [V Q] G``. The methods differ in how they get ``Q`` and apply ``F`` and ``G``:

``"zha-simon"`` (Zha & Simon 1999)
    ``Q`` from a QR factorization of the dense residual ``(I - V Vᵀ) Eᵀ``; ``U`` and ``V``
    are rewritten in full: ``O((m + n) k (k + s))`` per update.
``"gkl"`` (Vecharynski & Saad 2014)
    ``Q`` from ``l`` steps of Golub--Kahan--Lanczos bidiagonalization of the residual.
``"randomized"`` (Yamazaki et al. 2015)
    ``Q`` from a randomized range finder (``l`` columns, ``t`` power iterations) of the residual.
``"sparse"`` (Deng et al. 2024, the default)
    ``Q = (B - V C) P`` is never formed: it is the sparse ``B = Eᵀ`` minus a combination of
    the orthonormal ``V``, and both factors are stored in *extended* form ``U = U′ K_U``,
    ``V = V′ K_V`` with small ``k × k`` matrices ``K``. An update then multiplies the ``K``\\ s
    and touches only the rows of ``U′`` and ``V′`` it changes (Numba gather/scatter kernels):
    ``O(nnz(E) k + s² k + (k + s)³)`` per update, independent of ``m`` and ``n``.
``"sparse_gkl"``, ``"sparse_rpi"`` (Deng et al. 2024, their sparse GKL and sparse RPI)
    The same implicit ``Q = (B - V C) P`` and extended storage, with ``P`` (``s × l``) from
    ``l`` Golub--Kahan--Lanczos steps, or a randomized range finder with ``t`` power
    iterations, run on the implicit pair instead of an exact orthogonalization: the core is
    ``(k + s) × (k + l)``, so an update costs ``O(nnz(E) k + s² (k + l t) + (k + s)(k + l)²)``
    instead of the ``(k + s)³`` of ``"sparse"``. projkit carries each implicit vector by its
    ``s`` coefficients on ``X = B - V C`` (inner products through the ``s × s`` Gram matrix
    ``XᵀX = BᵀB - CᵀC``), where the authors' code carries the pair ``(B a, C a)``: the same
    subspaces, with every Lanczos/power step ``O(s²)``.

Use ``"sparse"`` for sparse updates (its speed comes from sparsity), ``"sparse_gkl"`` /
``"sparse_rpi"`` for sparse updates with many rows (``s ≫ l``), ``"zha-simon"`` as the accurate
reference, ``"gkl"``/``"randomized"`` when updates are dense and large.
"""

from __future__ import annotations

import math
import numbers
from types import ModuleType
from typing import Any

import numpy as np

from .._backend import (
    array_namespace,
    check_input,
    check_positive_int,
    check_size,
    device_rng,
    is_sparse,
)
from .._backend.dispatch import select
from .._backend.linalg import csr, eps
from .._backend.threads import serial_blas
from . import _svd_update_lapack, _svd_update_xp
from ._operand import _Operand
from ._results import SVD
from ._svd_update_core import (
    DROP,
    _Factor,
    _frob2,
    _gkl_basis,
    _implicit_apply,
    _implicit_gkl,
    _implicit_orth,
    _implicit_rpi,
    _randomized_basis,
    _zha_simon_basis,
    bound,
    engine_ops,
    kappa_max,
)

__all__ = ["SVDUpdater"]

_METHODS = ("sparse", "zha-simon", "gkl", "randomized", "sparse_gkl", "sparse_rpi")
# the methods that keep the factors in extended form and update them through the implicit pair
_IMPLICIT = ("sparse", "sparse_gkl", "sparse_rpi")
_INITS = ("rsvd", "exact")


# ---------------------------------------------------------------------------------------------
# initial factorization


def _initial_svd(A: Any, xp: ModuleType, rank: int, init: str, gen: Any) -> tuple[Any, Any, Any]:
    m, n = A.shape
    if init == "rsvd":
        # the body of projkit.rsvd(A, rank, rng=gen) (A is already validated): its defaults,
        # with the operand on the shorter side and n_iter/gen resolved as rsvd resolves them
        from .rsvd import _resolve_n_iter, _rsvd

        op = _Operand(A, xp, np.dtype(A.dtype), adjoint=m < n,
                      kind="sparse" if is_sparse(A) else "dense")
        n_iter = _resolve_n_iter("auto", rank, op.shape)
        res = _rsvd(op, rank, 10, n_iter, "gaussian", device_rng(gen, op.xp))
        return res.U, res.s, res.Vt.T
    if is_sparse(A) and rank < min(m, n) - 1:
        svds = select(xp, cpu=_svd_update_lapack.svds, gpu=_svd_update_xp.svds_cupy,
                      what="the sparse truncated SVD")
        U, s, Vt = svds(A, rank, gen)
        order = xp.argsort(-s)
        return U[:, order], s[order], Vt[order].T
    Ad = A.toarray() if is_sparse(A) else A
    U, s, Vt = xp.linalg.svd(Ad, full_matrices=False)
    return U[:, :rank], s[:rank], Vt[:rank].T


# ---------------------------------------------------------------------------------------------
# the public class


class SVDUpdater:
    """The rank-``k`` truncated SVD of a matrix that grows by rows or columns or changes by
    ``D Eᵀ``, kept up to date without recomputation.

    Parameters
    ----------
    A : (m, n) array or sparse matrix
        The initial matrix (NumPy/SciPy sparse, or CuPy/CuPyX sparse; a torch tensor is viewed
        as NumPy/CuPy and the factors come back as tensors). float32 stays float32, integers
        become float64. It is not stored: only its truncated SVD is.
    rank : int
        ``k``, the number of singular triplets kept (``1 <= k <= min(m, n)``).
    method : {"sparse", "zha-simon", "gkl", "randomized", "sparse_gkl", "sparse_rpi"}
        How updates are computed (default ``"sparse"``; see Notes and the module docstring).
    init : {"rsvd", "exact"}, default "rsvd"
        Initial factorization: :func:`projkit.rsvd`, or an exact truncated SVD
        (:func:`scipy.sparse.linalg.svds` for sparse ``A``, LAPACK for dense).
    subspace : int, default 10
        ``l``, the number of augmentation vectors of ``"gkl"``, ``"randomized"``,
        ``"sparse_gkl"`` and ``"sparse_rpi"`` (when an update has at most ``l`` new directions
        they compute the exact Zha--Simon, resp. ``"sparse"``, basis).
    power_iter : int, default 1
        ``t``, the power iterations of ``"randomized"`` and ``"sparse_rpi"``.
    rng : None, int or numpy.random.Generator
        Randomness of ``init="rsvd"``, of the ARPACK start vector and of the
        ``"gkl"``/``"randomized"``/``"sparse_gkl"``/``"sparse_rpi"`` methods (SPEC 7).

    Attributes
    ----------
    n_rows, n_cols, rank : int
    method : str

    Notes
    -----
    Adding rows ``E`` (``s × n``) to ``A ≈ U Σ Vᵀ`` (Zha & Simon 1999): with ``C = Vᵀ Eᵀ`` and
    an orthonormal ``Q`` spanning ``(I - V Vᵀ) Eᵀ = Q R``,

    .. math:: \\begin{bmatrix} A \\\\ E \\end{bmatrix} \\approx
              \\begin{bmatrix} U & 0 \\\\ 0 & I \\end{bmatrix}
              \\begin{bmatrix} Σ & 0 \\\\ Cᵀ & Rᵀ \\end{bmatrix}
              \\begin{bmatrix} V & Q \\end{bmatrix}ᵀ ,

    and the rank-``k`` SVD ``F T Gᵀ`` of the small middle matrix gives the update. Columns are
    rows of ``Aᵀ``; ``A + D Eᵀ`` augments both sides. ``"sparse"`` (Deng et al. 2024) writes
    ``Q = (B - V C) P`` with ``B = Eᵀ`` sparse and ``P = W Λ^{-1/2}`` from the eigen-
    decomposition of the implicit Gram matrix ``BᵀB - CᵀC = W Λ Wᵀ``, and keeps
    ``U = U′ K_U``, ``V = V′ K_V``. Then

    .. math:: K_U ← K_U F_{top}, \\quad U′ ← [U′; F_{bot} K_U^{-1}], \\qquad
              K_V ← K_V (G_{top} - C P G_{bot}), \\quad
              V′_S ← V′_S + B_S P G_{bot} K_V^{-1},

    so only the rows ``S`` that ``E`` touches and the ``s`` new rows are written; ``K⁻¹`` is
    applied by an LU solve, never formed. Safeguards: residual directions below the rounding
    level of the Gram matrix are dropped; a ``K`` whose condition number passes ``u^{-1/3}``
    is folded into its factor; a running estimate of ``‖UᵀU - I‖`` and ``‖VᵀV - I‖`` (from
    ``u ‖E‖_F²/λ_min`` and ``u κ(K)`` per update) triggers a Householder re-orthogonalization
    of that factor (its ``R`` goes into the small core) when it passes ``u^{2/3}``.

    The projection methods are exact when the updated matrix has rank at most ``k`` (and the
    basis captures the update: always for ``"zha-simon"`` and ``"sparse"``). In general the
    error is that of a Rayleigh--Ritz projection, close to but above the optimal rank-``k``
    error, and it accumulates over updates (Zha & Simon 1999; Kalantzis et al. 2021).

    References
    ----------
    .. [1] H. Deng, Y. Yang, J. Li, C. Chen, W. Jiang and S. Pu, "Fast updating truncated SVD
       for representation learning with sparse matrices", ICLR 2024.
    .. [2] H. Zha and H. D. Simon, "On updating problems in latent semantic indexing",
       SIAM J. Sci. Comput. 21(2), 782--791, 1999.
    .. [3] E. Vecharynski and Y. Saad, "Fast updating algorithms for latent semantic
       indexing", SIAM J. Matrix Anal. Appl. 35(3), 1105--1131, 2014.
    .. [4] I. Yamazaki, S. Tomov, J. Kurzak, J. Dongarra and J. Barlow, "Mixed-precision
       block Gram Schmidt orthogonalization" / "Randomized algorithms to update partial
       singular value decomposition on a hybrid CPU/GPU cluster", SC 2015.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp, projkit
    >>> A = sp.random(200, 80, density=0.05, random_state=0, format="csr")
    >>> up = projkit.SVDUpdater(A[:100], 10, init="exact", rng=0)
    >>> up = up.add_rows(A[100:150]).add_rows(A[150:])
    >>> up.n_rows, up.n_cols, up.rank
    (200, 80, 10)
    >>> U, s, Vt = up.svd
    >>> bool(np.allclose(U.T @ U, np.eye(10)))
    True
    >>> best = np.linalg.norm(A.toarray() - projkit.SVDUpdater(A, 10, init="exact").svd.to_dense())
    >>> bool(np.linalg.norm(A.toarray() - up.svd.to_dense()) < 1.05 * best)
    True
    """

    def __init__(self, A: Any, rank: int, *, method: str = "sparse", init: str = "rsvd",
                 subspace: int = 10, power_iter: int = 1, rng: Any = None):
        self._configure(method, subspace, power_iter)
        if init not in _INITS:
            raise ValueError(f"init: expected one of {_INITS}, got {init!r}")
        A, xp, back = check_input(A, name="A")
        m, n = A.shape
        if m == 0 or n == 0:
            raise ValueError(f"A: expected a non-empty matrix, got shape {tuple(A.shape)}")
        k = check_size(rank, name="rank", upper=min(m, n), upper_name="min(A.shape)")
        self._gen = device_rng(rng, xp)
        U, s, V = _initial_svd(A, xp, k, init, self._gen)
        self._setup(xp, U, s, V, back)

    @classmethod
    def from_factors(cls, U: Any, s: Any, Vt: Any, *, method: str = "sparse",
                     subspace: int = 10, power_iter: int = 1, rng: Any = None) -> SVDUpdater:
        """Start from a known truncated SVD ``U diag(s) Vt`` (``U``, ``Vt`` orthonormal).

        Examples
        --------
        >>> import numpy as np, projkit
        >>> U, s, Vt = np.linalg.svd(np.arange(12.0).reshape(4, 3), full_matrices=False)
        >>> up = projkit.SVDUpdater.from_factors(U[:, :2], s[:2], Vt[:2])
        >>> up.add_columns(np.ones((4, 1))).n_cols
        4
        """
        self = cls.__new__(cls)
        self._configure(method, subspace, power_iter)
        U, xp, back = check_input(U, name="U", accept_sparse=False)
        s, _, _ = check_input(s, name="s", ndim=1, accept_sparse=False, dtype=U.dtype)
        Vt, _, _ = check_input(Vt, name="Vt", accept_sparse=False, dtype=U.dtype)
        array_namespace(U, s, Vt)
        k = U.shape[1]
        if k == 0 or s.shape[0] != k or Vt.shape[0] != k:
            raise ValueError(
                f"U, s, Vt: expected shapes (m, k), (k,), (k, n) with k >= 1, got "
                f"{tuple(U.shape)}, {tuple(s.shape)}, {tuple(Vt.shape)}"
            )
        if bool(xp.any(s < 0)):
            raise ValueError("s: expected non-negative singular values")
        self._gen = device_rng(rng, xp)
        self._setup(xp, U, s, Vt.T, back)
        return self

    # -- setup ------------------------------------------------------------------------------

    def _configure(self, method: str, subspace: int, power_iter: int) -> None:
        if method not in _METHODS:
            raise ValueError(f"method: expected one of {_METHODS}, got {method!r}")
        self.method = method
        self._l = check_positive_int(subspace, name="subspace")
        self._t = check_positive_int(power_iter, name="power_iter", low=0)

    def _setup(self, xp: ModuleType, U: Any, s: Any, V: Any, back: Any) -> None:
        self._xp = xp
        self._ops = engine_ops(xp)
        self._back = back  # results go back to the library of the initial input (torch)
        self._dtype = np.dtype(str(U.dtype))
        self._eps = eps(self._dtype)
        self._bound = bound(self._dtype)
        self._kmax = kappa_max(self._dtype)
        k = U.shape[1]
        self._k = k
        loss = self._eps * k
        self._U = _Factor(xp.asarray(U, dtype=U.dtype), xp, loss)
        self._V = _Factor(xp.asarray(V, dtype=U.dtype), xp, loss)
        self._s = xp.asarray(s, dtype=U.dtype).copy()

    # -- queries ----------------------------------------------------------------------------

    @property
    def n_rows(self) -> int:
        """``m``, the current number of rows."""
        return self._U.n

    @property
    def n_cols(self) -> int:
        """``n``, the current number of columns."""
        return self._V.n

    @property
    def rank(self) -> int:
        """``k``, the number of singular triplets kept."""
        return self._k

    @property
    def U(self) -> Any:
        """Left singular vectors, ``(m, k)`` (formed on each access: ``O(m k²)``)."""
        return self._back(self._U.dense())

    @property
    def s(self) -> Any:
        """Singular values, ``(k,)``, non-increasing."""
        return self._back(self._s.copy())

    @property
    def Vt(self) -> Any:
        """Right singular vectors as rows, ``(k, n)`` (formed on each access)."""
        return self._back(self._V.dense().T)

    @property
    def svd(self) -> SVD:
        """The current factorization as an :class:`projkit.SVD`."""
        return SVD(self.U, self.s, self.Vt)

    def row_factor(self, i: Any) -> Any:
        """Row(s) ``i`` of ``U`` (``O(k²)`` per row; ``U`` is not formed).

        ``i`` is an int (gives shape ``(k,)``) or a 1-D integer array (``(len(i), k)``).
        """
        return self._back(self._U.rows(self._check_index(i, self._U.n, "i")))

    def col_factor(self, j: Any) -> Any:
        """Row(s) ``j`` of ``V`` (= columns of ``Vt``), without forming ``V``."""
        return self._back(self._V.rows(self._check_index(j, self._V.n, "j")))

    def _check_index(self, i: Any, n: int, name: str) -> Any:
        if isinstance(i, numbers.Integral) and not isinstance(i, bool):
            if not -n <= int(i) < n:
                raise IndexError(f"{name}: index {int(i)} out of range for {n} rows")
            return int(i) % n
        xp = self._xp
        idx = xp.asarray(i)
        if idx.ndim != 1 or idx.dtype.kind not in "iu":
            raise TypeError(f"{name}: expected an int or a 1-D integer array, got {i!r}")
        if idx.size and (int(idx.min()) < -n or int(idx.max()) >= n):
            raise IndexError(f"{name}: indices out of range for {n} rows")
        return idx % n

    def __repr__(self) -> str:
        return (f"SVDUpdater(n_rows={self.n_rows}, n_cols={self.n_cols}, rank={self._k}, "
                f"method={self.method!r})")

    # -- updates ----------------------------------------------------------------------------

    def _check_update(self, E: Any, name: str) -> Any:
        E, xp, _ = check_input(E, name=name)
        if np.dtype(str(E.dtype)) != self._dtype:
            E = E.astype(self._dtype)
        if xp.__name__.split(".")[-1] != self._xp.__name__.split(".")[-1]:
            raise TypeError(f"{name}: the factorization lives in {self._xp.__name__}, got "
                            f"{xp.__name__} input; move it to one library first")
        return E

    def add_rows(self, E: Any) -> SVDUpdater:
        """Append the rows ``E`` (``s × n``, dense or sparse): ``A ← [A; E]``.

        Returns ``self`` (so updates chain). ``s = 0`` is a no-op.
        """
        E = self._check_update(E, "E")
        if E.shape[1] != self.n_cols:
            raise ValueError(f"E: expected shape (s, {self.n_cols}), got {tuple(E.shape)}")
        if E.shape[0]:
            with serial_blas(self._xp):  # many small products and a small SVD per update
                self._append(self._U, self._V, E)
        return self

    def add_columns(self, E: Any) -> SVDUpdater:
        """Append the columns ``E`` (``m × s``, dense or sparse): ``A ← [A, E]``."""
        E = self._check_update(E, "E")
        if E.shape[0] != self.n_rows:
            raise ValueError(f"E: expected shape ({self.n_rows}, s), got {tuple(E.shape)}")
        if E.shape[1]:
            Et = E.T.tocsr() if is_sparse(E) else E.T
            with serial_blas(self._xp):
                self._append(self._V, self._U, Et)
        return self

    def update(self, D: Any, E: Any) -> SVDUpdater:
        """Apply the low-rank change ``A ← A + D Eᵀ`` (``D``: ``m × r``, ``E``: ``n × r``;
        1-D vectors are a rank-one change)."""
        D = self._check_update(D if is_sparse(D) else _as_2d(D), "D")
        E = self._check_update(E if is_sparse(E) else _as_2d(E), "E")
        if D.shape[0] != self.n_rows or E.shape[0] != self.n_cols or D.shape[1] != E.shape[1]:
            raise ValueError(
                f"D, E: expected shapes ({self.n_rows}, r) and ({self.n_cols}, r), got "
                f"{tuple(D.shape)} and {tuple(E.shape)}"
            )
        if D.shape[1]:
            Dt = D.T.tocsr() if is_sparse(D) else D.T
            Et = E.T.tocsr() if is_sparse(E) else E.T
            with serial_blas(self._xp):
                self._lowrank(Dt, Et)
        return self

    # -- bodies -----------------------------------------------------------------------------

    def _basis(self, Y: _Factor, E: Any) -> tuple[Any, Any, Any, Any]:
        """Orthogonal complement of the rows of ``E`` against ``Y``.

        Returns ``(orth, Q, Ct, EQ)``: the implicit basis (``"sparse"``) or the explicit ``Q``,
        ``Ct = E Y`` and ``EQ = E Q``.
        """
        xp = self._xp
        if self.method in _IMPLICIT:
            Ec = csr(xp, E)
            if self.method == "sparse" or self._l >= E.shape[0]:
                orth = _implicit_orth(xp, self._ops, Y, Ec, self._eps)
            elif self.method == "sparse_gkl":
                orth = _implicit_gkl(xp, self._ops, Y, Ec, self._eps, self._l, self._gen)
            else:
                orth = _implicit_rpi(xp, self._ops, Y, Ec, self._eps, self._l, self._t,
                                     self._gen)
            Y.loss += orth.loss
            return orth, None, orth.Ct, orth.EQ
        V = Y.stored()  # baselines keep K = I
        Ct = xp.asarray(E @ V)
        s = E.shape[0]
        if self.method == "zha-simon" or self._l >= s:
            Q = _zha_simon_basis(xp, V, E, Ct)
        elif self.method == "gkl":
            tiny = DROP * self._eps * math.sqrt(_frob2(xp, E))
            Q = _gkl_basis(xp, V, E, Ct, self._l, self._gen, tiny)
        else:
            Q = _randomized_basis(xp, V, E, Ct, self._l, self._t, self._gen)
        Y.loss += self._eps * math.sqrt(self._k + Q.shape[1])
        # E Q through the residual, (E - Ct Vᵀ) Q: exact zero weight for any part of Q along V
        EQ = xp.asarray(E @ Q) - Ct @ (V.T @ Q)
        return None, Q, Ct, EQ

    def _append(self, X: _Factor, Y: _Factor, E: Any) -> None:
        """``[A; E]`` where the rows of the matrix are indexed by ``X`` and columns by ``Y``."""
        xp, k = self._xp, self._k
        orth, Q, Ct, EQ = self._basis(Y, E)
        s, r = E.shape[0], EQ.shape[1]
        M = xp.zeros((k + s, k + r), dtype=self._dtype)
        M[:k, :k] = xp.diag(self._s)
        M[k:, :k] = Ct
        M[k:, k:] = EQ
        F, T, G, core_loss = self._ops.small_svd(M, k, self._eps)
        self._U.loss += core_loss
        self._V.loss += core_loss
        if orth is not None:
            Knew = F[:k] if X.K is None else X.K @ F[:k]
            quotient, kappa = self._ops.right_divide(Knew, F[k:], self._kmax)
            X.K = Knew
            if quotient is None:
                X.fold()
                X.append(xp, F[k:])
            else:
                X.append(xp, quotient)
            X.loss += self._eps * (min(kappa, self._kmax) + k)
            kv = _implicit_apply(self._ops, Y, orth, G[:k], G[k:], self._kmax)
            Y.loss += self._eps * (kv + k)
        else:
            X.rotate(F[:k], extended=False)
            X.append(xp, F[k:])
            X.loss += self._eps * k
            V = Y.stored()
            V[...] = V @ G[:k] + Q @ G[k:]
        self._s = T
        self._maintain()

    def _lowrank(self, Dt: Any, Et: Any) -> None:
        """``A + D Eᵀ`` with ``Dt = Dᵀ`` and ``Et = Eᵀ`` (rows are the update vectors)."""
        xp, k = self._xp, self._k
        od, Qd, Cdt, DQ = self._basis(self._U, Dt)
        oe, Qe, Cet, EQ = self._basis(self._V, Et)
        Lft = xp.concatenate([Cdt.T, DQ.T], axis=0)  # [UᵀD; QdᵀD]
        Rgt = xp.concatenate([Cet.T, EQ.T], axis=0)  # [VᵀE; QeᵀE]
        M = Lft @ Rgt.T
        M[:k, :k] += xp.diag(self._s)
        F, T, G, core_loss = self._ops.small_svd(M, k, self._eps)
        self._U.loss += core_loss
        self._V.loss += core_loss
        kmax = self._kmax
        for fac, orth, Q, W in ((self._U, od, Qd, F), (self._V, oe, Qe, G)):
            if orth is not None:
                kap = _implicit_apply(self._ops, fac, orth, W[:k], W[k:], kmax)
                fac.loss += self._eps * (kap + k)
            else:
                Z = fac.stored()
                Z[...] = Z @ W[:k] + Q @ W[k:]
                fac.loss += self._eps * k
        self._s = T
        self._maintain()

    def _maintain(self) -> None:
        """Re-orthogonalize a factor whose estimated loss of orthogonality passed the bound."""
        bound = self._bound
        for X, Y in ((self._U, self._V), (self._V, self._U)):
            if X.loss > bound:
                # the a-priori estimate is a worst case: measure before paying for a QR
                F = X.dense()
                xp = self._xp
                actual = float(xp.linalg.norm(F.T @ F - xp.eye(self._k, dtype=F.dtype)))
                if actual > 0.1 * bound:
                    self._reorthogonalize(X, Y, F)
                else:
                    X.loss = actual

    def _reorthogonalize(self, X: _Factor, Y: _Factor, F: Any) -> None:
        """``X = Q R`` (Householder); the SVD ``R Σ = a t bᵀ`` gives ``X ← Q a``, ``s ← t``,
        ``Y ← Y b``: an exact SVD of the current product, ``O(n k²)``."""
        xp = self._xp
        Q, R = xp.linalg.qr(F)
        a, t, bt = xp.linalg.svd(R * self._s[None, :])
        X.buf[: X.n] = Q @ a
        X.K = None
        X.loss = self._eps * self._k
        Y.rotate(bt.T, extended=self.method in _IMPLICIT)
        Y.loss += self._eps * self._k
        self._s = t


def _as_2d(x: Any) -> Any:
    shape = getattr(x, "shape", None)
    if shape is not None and len(shape) == 1:
        return x.reshape(-1, 1)
    if shape is None and not isinstance(x, str | bytes):
        arr = np.asarray(x)
        return arr.reshape(-1, 1) if arr.ndim == 1 else arr
    return x
