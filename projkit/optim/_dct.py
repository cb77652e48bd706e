"""The orthonormal DCT-II basis: one cached matrix per (n, dtype, device), and fast coefficients.

The DCT-II basis vectors are the columns of ``Q`` (n × n),

    Q[i, k] = c_k · cos(π (2i + 1) k / (2n)),   c_0 = √(1/n),  c_k = √(2/n) (k ≥ 1),

so ``Qᵀ x`` is ``scipy.fft.dct(x, type=2, norm="ortho")``. The matrix is filled in closed form
(O(n²) cosines, with the angle reduced exactly in integers so that float32 columns are
orthonormal to rounding) on the device of the array it serves, once per ``(n, dtype, device)``,
and shared by every layer and every projector that needs it.
"""

from __future__ import annotations

import threading
from types import ModuleType
from typing import Any

import numpy as np

from .._backend.dispatch import select
from .._backend.namespace import device_of

__all__ = ["dct_coefficients", "dct_matrix"]

_CACHE: dict[tuple[Any, ...], Any] = {}
_CACHE_MAX = 16
_LOCK = threading.Lock()


def _key(n: int, dtype: Any, xp: ModuleType, like: Any) -> tuple[Any, ...]:
    dev = "cpu" if like is None else str(device_of(like))
    return (int(n), np.dtype(dtype).str, xp.__name__, dev)


def _fill(n: int, dtype: Any, xp: ModuleType) -> Any:
    i = xp.arange(n, dtype=xp.int64)
    # (2i+1)k mod 4n in exact integer arithmetic, then one float64 cosine per entry
    t = ((2 * i[:, None] + 1) * i[None, :]) % (4 * n)
    Q = xp.cos(t.astype(xp.float64) * (np.pi / (2.0 * n)))
    Q *= np.sqrt(2.0 / n)
    Q[:, 0] = np.sqrt(1.0 / n)
    return Q.astype(dtype)


def dct_matrix(n: int, dtype: Any, xp: ModuleType = np, *, like: Any = None) -> Any:
    """The orthonormal DCT-II matrix ``Q`` (n × n, basis vectors as columns), cached.

    Parameters
    ----------
    n : int
        Length of the transformed axis.
    dtype : dtype
        float32 or float64.
    xp : module
        NumPy or CuPy; the matrix is built on ``xp``'s current device.
    like : array, optional
        An array on the target device (used only for the cache key).

    Returns
    -------
    Q : array, shape (n, n)
        Read-only by convention: it is shared by every caller.

    Examples
    --------
    >>> import numpy as np, scipy.fft
    >>> Q = dct_matrix(8, np.float64)
    >>> x = np.arange(8.0)
    >>> bool(np.allclose(Q.T @ x, scipy.fft.dct(x, norm="ortho")))
    True
    """
    key = _key(n, dtype, xp, like)
    with _LOCK:
        Q = _CACHE.get(key)
    if Q is None:
        Q = _fill(n, dtype, xp)
        with _LOCK:
            if len(_CACHE) >= _CACHE_MAX:
                _CACHE.pop(next(iter(_CACHE)))
            _CACHE[key] = Q
    return Q


def _coefficients_fft(H: Any, xp: ModuleType) -> Any:
    """``Qᵀ H`` by :func:`scipy.fft.dct` (NumPy only)."""
    import scipy.fft

    return scipy.fft.dct(H, type=2, axis=-2, norm="ortho")


def _coefficients_gemm(H: Any, xp: ModuleType) -> Any:
    """``Qᵀ H`` as one GEMM with the cached matrix (any namespace)."""
    Q = dct_matrix(H.shape[-2], H.dtype, xp, like=H)
    return xp.matmul(Q.T, H)


def dct_coefficients(H: Any, xp: ModuleType, *, use_matrix: bool | None = None) -> Any:
    """``Qᵀ H`` along axis -2 of ``H`` (shape (..., n, k)): the DCT-II of every column.

    On NumPy this is :func:`scipy.fft.dct` (O(n k log n) through the FFT; its thread count is
    SciPy's default, set with ``scipy.fft.set_workers``); on other namespaces (CuPy) it is one
    GEMM with the cached matrix (dense GEMM is what a GPU does best, and it needs nothing beyond
    the array namespace). ``use_matrix`` forces either path (tests).
    """
    if use_matrix is None:
        transform = select(xp, cpu=_coefficients_fft, fallback=_coefficients_gemm,
                           what="the DCT")
    else:
        transform = _coefficients_gemm if use_matrix else _coefficients_fft
    return transform(H, xp)
