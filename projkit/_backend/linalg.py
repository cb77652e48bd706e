"""Dense linear algebra: which LAPACK/cuSOLVER routine serves a factorization, and how it fails.

Every algorithm module takes its SVDs, Cholesky factors, orthonormal bases, machine epsilons
and CSR constructors from here, so there is one answer to "what happens when gesdd does not
converge" or "how does CuPy report a matrix that is not positive definite":

- :func:`svd` is the thin SVD; on NumPy it is LAPACK ``gesdd`` with ``gesvd`` (slower, always
  converges) as the fallback.
- :func:`cholesky` returns the lower factor or raises :class:`numpy.linalg.LinAlgError`, on
  every engine (CuPy reports failure with NaN, or an error under ``cupyx.errstate``).
- :func:`cholqr2` / :func:`orth` build orthonormal bases (Cholesky-QR2, Householder QR when it
  declines).

The functions take the array namespace ``xp`` first, do no input checking, and know no
algorithm.
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import numpy as np
import scipy.sparse as sp

from .namespace import is_cupy_namespace, is_numpy_namespace, is_sparse
from .threads import serial_blas

__all__ = [
    "cho_solve",
    "cholesky",
    "cholesky_qr_step",
    "cholqr2",
    "conj_t",
    "csr",
    "dense",
    "eigh_top",
    "eps",
    "gemm_into",
    "numerical_rank",
    "orth",
    "orth_householder",
    "pinv_svd",
    "real_dtype",
    "solve_triangular",
    "sparse_module",
    "svd",
]


# ----------------------------------------------------------------------------- dtypes
def _np_dtype(dtype: Any) -> np.dtype:
    """``dtype`` (NumPy, CuPy, torch or Array-API) as a NumPy dtype."""
    try:
        return np.dtype(dtype)
    except TypeError:  # torch.float32, array_api_strict.float64, ...
        return np.dtype(str(dtype).rsplit(".", 1)[-1])


def real_dtype(dtype: Any) -> Any:
    """The real dtype of the same precision (float32 for float32/complex64, else float64)."""
    return np.float32 if _np_dtype(dtype) in (np.float32, np.complex64) else np.float64


def eps(dtype: Any) -> float:
    """Machine epsilon of ``dtype``'s precision (complex dtypes give their real part's)."""
    return float(np.finfo(real_dtype(dtype)).eps)


TINY = float(np.finfo(np.float64).tiny)


# ----------------------------------------------------------------------------- small helpers
def conj_t(xp: ModuleType, X: Any) -> Any:
    """The conjugate transpose ``Xᴴ`` (plain ``Xᵀ`` for real data; dense or sparse)."""
    if _np_dtype(X.dtype).kind != "c":
        return X.T
    return X.conj().T if is_sparse(X) else xp.conj(X).T


def dense(X: Any) -> Any:
    """``X`` as a dense array (sparse matrices are expanded; dense arrays pass through)."""
    return X.toarray() if is_sparse(X) else X


def sparse_module(xp: ModuleType) -> ModuleType:
    """``scipy.sparse`` for NumPy data, ``cupyx.scipy.sparse`` for CuPy data."""
    if is_cupy_namespace(xp):
        import cupyx.scipy.sparse as csp

        return csp
    return sp


def csr(xp: ModuleType, arg: Any, shape: tuple[int, int] | None = None) -> Any:
    """A CSR matrix on ``xp``'s device from ``(data, indices, indptr)``, ``(data, (i, j))``, a
    dense array or another sparse matrix (which is returned as is when already CSR)."""
    if is_sparse(arg):
        return arg if arg.format == "csr" else arg.tocsr()
    return sparse_module(xp).csr_matrix(arg, shape=shape)


# ----------------------------------------------------------------------------- SVD
def svd(xp: ModuleType, M: Any) -> tuple[Any, Any, Any]:
    """Thin SVD ``M = U diag(s) Vh`` of a dense matrix.

    NumPy: LAPACK ``gesdd`` (divide and conquer), and ``gesvd`` when ``gesdd`` fails to
    converge. Elsewhere: the namespace's ``linalg.svd``.
    """
    if is_numpy_namespace(xp):
        import scipy.linalg as sla

        try:
            return sla.svd(M, full_matrices=False, check_finite=False, lapack_driver="gesdd")
        except np.linalg.LinAlgError:  # gesdd can fail to converge; gesvd is the robust one
            return sla.svd(M, full_matrices=False, check_finite=False, lapack_driver="gesvd")
    return xp.linalg.svd(M, full_matrices=False)


def numerical_rank(xp: ModuleType, s: Any, shape: tuple[int, ...], rtol: float | None,
                   dtype: Any) -> int:
    """The number of singular values ``s`` (descending) above ``rtol · s[0]``.

    ``rtol`` defaults to ``max(shape) · eps(dtype)``, the LAPACK/NumPy ``matrix_rank`` rule.
    """
    if s.shape[0] == 0:
        return 0
    if rtol is None:
        rtol = max(shape) * eps(dtype)
    smax = float(s[0])
    if smax == 0.0:
        return 0
    return int(xp.sum(s > rtol * smax))


def pinv_svd(xp: ModuleType, M: Any, rtol: float | None = None) -> Any:
    """``M⁺`` of a small matrix (dense or sparse) by its SVD, cut at :func:`numerical_rank`."""
    M = dense(M)
    U, s, Vh = svd(xp, M)
    r = numerical_rank(xp, s, M.shape, rtol, M.dtype)
    return conj_t(xp, Vh[:r]) @ (conj_t(xp, U[:, :r]) / s[:r][:, None])


# ----------------------------------------------------------------------------- Cholesky
def cholesky(xp: ModuleType, M: Any, *, clean: bool = True) -> Any:
    """Lower Cholesky factor ``L`` (``M = L Lᴴ``), or :class:`numpy.linalg.LinAlgError`.

    Only the lower triangle of ``M`` is read. On NumPy, LAPACK ``potrf`` runs on a
    Fortran-ordered view of ``M`` (no input copy for a symmetric C-ordered ``M``, whose
    transpose is that view); ``clean=False`` leaves the strict upper triangle of the result
    unspecified, which callers that read the lower triangle only may accept to save a pass.
    On CuPy the factorization runs under ``cupyx.errstate(linalg="raise")``, and a factor with
    a non-finite or non-positive diagonal is a failure too.
    """
    if is_numpy_namespace(xp):
        from scipy.linalg import lapack

        potrf = lapack.get_lapack_funcs("potrf", (M,))
        if M.flags.f_contiguous or M.dtype.kind == "c":
            L, info = potrf(M, lower=1, clean=int(clean))
        else:  # Mᵀ is Fortran-ordered; its lower triangle is M's upper one (M is symmetric)
            L, info = potrf(M.T, lower=1, clean=int(clean))
        if info:
            raise np.linalg.LinAlgError(
                "matrix is not positive definite" if info > 0 else f"potrf: bad argument {-info}")
        return L
    if is_cupy_namespace(xp):
        import cupyx

        try:
            with cupyx.errstate(linalg="raise"):
                L = xp.linalg.cholesky(M)
        except (np.linalg.LinAlgError, RuntimeError) as exc:  # cuSOLVER's devInfo > 0
            raise np.linalg.LinAlgError("matrix is not positive definite") from exc
    else:
        L = xp.linalg.cholesky(M)
    d = xp.real(xp.diagonal(L)) if hasattr(xp, "diagonal") else xp.real(xp.diag(L))
    if not bool(xp.all(xp.isfinite(d))) or not bool(xp.all(d > 0)):
        raise np.linalg.LinAlgError("matrix is not positive definite")
    return L


def solve_triangular(xp: ModuleType, L: Any, B: Any, *, lower: bool = True,
                     trans: str = "N") -> Any:
    """``L⁻¹B`` (``trans="N"``), ``L⁻ᵀB`` (``"T"``) or ``L⁻ᴴB`` (``"C"``) for triangular ``L``."""
    if is_numpy_namespace(xp):
        import scipy.linalg as sla

        return sla.solve_triangular(L, B, lower=lower, trans=trans, check_finite=False)
    if is_cupy_namespace(xp):
        import cupyx.scipy.linalg as csla

        return csla.solve_triangular(L, B, lower=lower, trans=trans)
    Lt = {"N": L, "T": L.T, "C": conj_t(xp, L)}[trans]
    return xp.linalg.solve(Lt, B)


def cho_solve(xp: ModuleType, L: Any, b: Any) -> Any:
    """``M⁻¹b`` from the lower Cholesky factor ``L`` of a real ``M`` (LAPACK ``potrs``)."""
    if is_numpy_namespace(xp):
        from scipy.linalg import lapack

        potrs = lapack.get_lapack_funcs("potrs", (L, b))
        x, info = potrs(L, b, lower=1)
        if info:
            raise ValueError(f"potrs: illegal argument {-info}")
        return x
    y = solve_triangular(xp, L, b, lower=True)
    return solve_triangular(xp, L, y, lower=True, trans="T")


# ----------------------------------------------------------------------------- orthonormal bases
def orth_householder(xp: ModuleType, Y: Any, *, overwrite: bool = False) -> Any:
    """Orthonormal basis of ``range(Y)`` by economic Householder QR (``geqrf`` + ``orgqr``)."""
    if is_numpy_namespace(xp):
        import scipy.linalg as sla

        with serial_blas(xp):
            return sla.qr(Y, mode="economic", check_finite=False, overwrite_a=overwrite)[0]
    return xp.linalg.qr(Y, mode="reduced")[0]


def cholesky_qr_step(xp: ModuleType, Y: Any, max_cond: float) -> tuple[Any, Any] | None:
    """One Cholesky-QR step: ``(Y L⁻ᴴ, L)`` with ``L Lᴴ = YᴴY``, or None on breakdown.

    Breakdown: the Cholesky factorization fails, or the diagonal of ``L`` spans more than
    ``max_cond`` (a lower bound on ``κ(Y)``), beyond which the Gram matrix has lost the
    weak directions to rounding.
    """
    with serial_blas(xp):
        G = conj_t(xp, Y) @ Y  # BLAS-3 Gram matrix (the one pass over Y)
    try:
        with serial_blas(xp):
            L = cholesky(xp, G)
    except np.linalg.LinAlgError:
        return None
    d = xp.abs(xp.diagonal(L)) if hasattr(xp, "diagonal") else xp.abs(xp.diag(L))
    dmin, dmax = float(xp.min(d)), float(xp.max(d))
    if not (math.isfinite(dmin) and math.isfinite(dmax)) or dmin <= 0 or dmax > max_cond * dmin:
        return None
    # Y L⁻ᴴ through the explicit l × l inverse: one more GEMM, span-preserving to rounding
    eye = xp.eye(L.shape[0], dtype=L.dtype)
    with serial_blas(xp):
        Linv = solve_triangular(xp, L, eye, lower=True)
        return Y @ conj_t(xp, Linv), L


def cholqr2(xp: ModuleType, Y: Any) -> Any | None:
    """Orthonormal basis of ``range(Y)`` by Cholesky-QR2, or None where it is not accurate.

    Two Gram + ``l × l`` Cholesky + GEMM passes (all BLAS-3; several times faster than
    Householder QR on tall-skinny blocks, and the natural choice on GPUs). Accepted only when
    the first pass leaves ``Q₁`` with ``‖Q₁ᴴQ₁ − I‖ ≤ 1/2`` (visible in the second factor),
    which makes the result orthonormal to working precision (Yamamoto et al. 2015); the
    backward error of the span is that of the triangular solve, ``O(u)``.
    """
    first = cholesky_qr_step(xp, Y, 0.1 / math.sqrt(eps(Y.dtype)))
    if first is None:
        return None
    second = cholesky_qr_step(xp, first[0], 2.0)
    if second is None:
        return None
    L2 = second[1]
    dev = float(xp.max(xp.abs(L2 - xp.eye(L2.shape[0], dtype=L2.dtype))))
    return second[0] if dev <= 0.5 else None


def orth(xp: ModuleType, Y: Any) -> Any:
    """Orthonormal basis of ``range(Y)``: Cholesky-QR2, else Householder QR."""
    Q = cholqr2(xp, Y)
    return Q if Q is not None else orth_householder(xp, Y, overwrite=True)


# ------------------------------------------------ SciPy's BLAS/LAPACK with the GIL released


def _cython_address(module: str, name: str) -> int:
    """The C address of the function ``name`` a Cython module exports (its ``__pyx_capi__``
    capsule), as ``numba.extending.get_cython_function_address`` reads it, without importing
    Numba (about 0.2 s: a torch user's first ``ProjectedAdam`` step paid it)."""
    import ctypes
    import importlib

    capsule = importlib.import_module(module).__pyx_capi__[name]
    # private prototypes: setting restype on ctypes.pythonapi's shared ones would leak
    get_name = ctypes.PYFUNCTYPE(ctypes.c_char_p, ctypes.py_object)(
        ("PyCapsule_GetName", ctypes.pythonapi))
    get_pointer = ctypes.PYFUNCTYPE(ctypes.c_void_p, ctypes.py_object, ctypes.c_char_p)(
        ("PyCapsule_GetPointer", ctypes.pythonapi))
    addr = get_pointer(capsule, get_name(capsule))
    if not addr:
        raise ValueError(f"{module}.{name}: no address in its capsule")
    return int(addr)


_ROUTINES: dict[str, Any] = {}  # SciPy's BLAS/LAPACK routines through ctypes, once loaded


def _scipy_routine(module: str, name: str, args: str) -> Any:
    """SciPy's routine ``name`` (``scipy.linalg.cython_blas`` or ``cython_lapack``) as a
    ctypes function, which releases the GIL for the call; None when it cannot be loaded.
    ``args`` spells its arguments, one letter each: ``p`` a pointer, ``i`` a pointer to int."""
    if name not in _ROUTINES:
        import ctypes

        try:
            addr = _cython_address(module, name)
        except Exception:  # any failure to load it: the caller's fallback serves instead
            _ROUTINES[name] = None
            return None
        kinds: dict[str, Any] = {"p": ctypes.c_void_p, "i": ctypes.POINTER(ctypes.c_int)}
        _ROUTINES[name] = ctypes.CFUNCTYPE(None, *(kinds[c] for c in args))(addr)
    return _ROUTINES[name]


def _syevr(char: str) -> Any:
    """LAPACK ``?syevr``; None when it cannot be loaded (SciPy's wrapper serves instead)."""
    # jobz range uplo n a lda vl vu il iu abstol m w z ldz isuppz work lwork iwork liwork info
    return _scipy_routine("scipy.linalg.cython_lapack", f"{char}syevr", "pppipippiipippippipii")


def _gemm(char: str) -> Any:
    """BLAS ``?gemm``; None when it cannot be loaded (NumPy's matmul serves instead)."""
    # transa transb m n k alpha a lda b ldb beta c ldc
    return _scipy_routine("scipy.linalg.cython_blas", f"{char}gemm", "ppiiippipippi")


def _blas_operand(M: np.ndarray) -> tuple[bytes, int] | None:
    """How BLAS (column-major) reads the row-major matrix ``M`` as ``Mᵀ``: ``(b"N", ld)`` for
    unit column stride, ``(b"T", ld)`` for unit row stride, None for any other layout."""
    r, c = M.shape
    s0, s1 = (st // M.itemsize for st in M.strides)
    if (s1 == 1 or c == 1) and s0 >= max(1, c) and s0 < 2**31:
        return b"N", s0
    if (s0 == 1 or r == 1) and s1 >= max(1, r) and s1 < 2**31:
        return b"T", s1
    return None


def gemm_into(A: np.ndarray, B: np.ndarray, C: np.ndarray, *, accumulate: bool) -> None:
    """``C = A @ B``, or ``C += A @ B`` with ``accumulate``, for float32/float64 NumPy matrices.

    One BLAS ``?gemm`` (``beta = 1`` to accumulate, so no temporary for the product), made
    through ctypes with the GIL released: threads that each multiply their own block run side
    by side, as with ``np.matmul``. ``C`` must have unit column stride; ``A`` and ``B`` may be
    row- or column-major views. Any other case (another dtype, mixed dtypes, other strides, no
    loadable BLAS) falls back to ``np.matmul``.
    """
    import ctypes

    m, k = A.shape
    n = B.shape[1]
    if B.shape[0] != k or C.shape != (m, n):
        raise ValueError(f"gemm_into: shapes {A.shape} @ {B.shape} -> {C.shape} do not match")
    fn = (_gemm("d" if C.dtype == np.float64 else "s")
          if C.dtype in (np.float32, np.float64) and A.dtype == B.dtype == C.dtype else None)
    # row-major C = A B is column-major Cᵀ = Bᵀ Aᵀ
    ob, oa, oc = _blas_operand(B), _blas_operand(A), _blas_operand(C)
    if fn is None or ob is None or oa is None or oc is None or oc[0] != b"N" or 0 in (m, n, k):
        if accumulate:
            C += A @ B
        else:
            np.matmul(A, B, out=C)
        return
    (tb, ldb), (ta, lda), ldc = ob, oa, oc[1]
    c_int = ctypes.c_int
    one, beta = np.ones(1, dtype=C.dtype), np.full(1, 1.0 if accumulate else 0.0, dtype=C.dtype)
    fn(ctypes.c_char_p(tb), ctypes.c_char_p(ta), ctypes.byref(c_int(n)), ctypes.byref(c_int(m)),
       ctypes.byref(c_int(k)), one.ctypes.data, B.ctypes.data, ctypes.byref(c_int(ldb)),
       A.ctypes.data, ctypes.byref(c_int(lda)), beta.ctypes.data, C.ctypes.data,
       ctypes.byref(c_int(ldc)))


# ----------------------------------------------------------------------------- eigensolver


def eigh_top(G: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` largest eigenpairs (ascending) of a symmetric float32/float64 NumPy matrix
    (its lower triangle is read), by LAPACK ``?syevr`` for that index range.

    The same call, with the same arguments and workspace, as
    ``scipy.linalg.eigh(G, subset_by_index=[n - k, n - 1], driver="evr")``, made through
    ctypes with the GIL released: SciPy's wrapper holds it, so threads that each factor a
    matrix (one layer each) ran one at a time. Falls back to SciPy when the routine cannot be
    loaded.
    """
    import ctypes

    n = int(G.shape[0])
    fn = _syevr("d" if G.dtype == np.float64 else "s") if G.dtype in (np.float32,
                                                                      np.float64) else None
    if fn is None or not 1 <= k <= n:
        import scipy.linalg as sl

        return sl.eigh(G, subset_by_index=[n - k, n - 1], driver="evr", check_finite=False)
    a = np.array(G, order="F")  # overwritten by the routine
    c_int = ctypes.c_int
    jobz, rng, uplo = (ctypes.c_char(b) for b in (b"V", b"I", b"L"))
    vl, vu, abstol = (np.zeros(1, dtype=a.dtype) for _ in range(3))  # abstol 0: LAPACK's default
    m, info = c_int(0), c_int(0)
    w = np.empty(n, dtype=a.dtype)
    z = np.empty((n, k), dtype=a.dtype, order="F")
    isuppz = np.empty(2 * k, dtype=np.intc)
    il, iu, nn, ld = c_int(n - k + 1), c_int(n), c_int(n), c_int(max(1, n))

    def call(work: np.ndarray, lwork: int, iwork: np.ndarray, liwork: int) -> None:
        fn(ctypes.byref(jobz), ctypes.byref(rng), ctypes.byref(uplo), ctypes.byref(nn),
           a.ctypes.data, ctypes.byref(ld), vl.ctypes.data, vu.ctypes.data, ctypes.byref(il),
           ctypes.byref(iu), abstol.ctypes.data, ctypes.byref(m), w.ctypes.data, z.ctypes.data,
           ctypes.byref(ld), isuppz.ctypes.data, work.ctypes.data, ctypes.byref(c_int(lwork)),
           iwork.ctypes.data, ctypes.byref(c_int(liwork)), ctypes.byref(info))

    wq, iq = np.empty(1, dtype=a.dtype), np.empty(1, dtype=np.intc)
    call(wq, -1, iq, -1)  # the workspace query
    lwork, liwork = int(wq[0]), int(iq[0])
    call(np.empty(max(1, lwork), dtype=a.dtype), lwork, np.empty(max(1, liwork), np.intc),
         liwork)
    if info.value != 0:
        raise np.linalg.LinAlgError(f"eigh_top: LAPACK {a.dtype.char}syevr failed "
                                    f"(info={info.value})")
    return w[: m.value].copy(), z[:, : m.value]
