"""Helpers shared by test modules (not fixtures: plain functions)."""

from __future__ import annotations

import tracemalloc

import numpy as np
import scipy.sparse as sp

_SPARSE_CLASSES = tuple(
    getattr(sp, name) for name in dir(sp)
    if name.endswith(("_matrix", "_array")) and isinstance(getattr(sp, name), type)
)


def assert_never_densified(monkeypatch, f, A, *, thin, peak_fraction=1 / 8):
    """Run ``f()`` twice and fail if it densifies the sparse ``A`` (shape m × n).

    1. ``toarray`` and ``todense`` of every SciPy sparse class (``csr_matrix``, ``csr_array``,
       ``csc_*``, ``coo_*``, ...; SciPy ≥ 1.14 has no ``.A``) raise when the dense result would
       have more than ``thin`` rows *and* more than ``thin`` columns. Densifying a thin piece is
       allowed: the chosen columns ``C = A[:, J]`` (m × k), ``A @ H`` (m × k''), a k × k Gram.
       So the guard fires for ``A``, ``Aᵀ``, a copy in another format, or any block of ``A``
       that is big both ways, not only for the exact input shape.
    2. The peak of traced allocations (``tracemalloc``, which sees NumPy's buffers) of the
       second call stays below ``peak_fraction`` (⅛) of the m × n dense array (None: skip this
       check, for methods whose own dense work space is of that order): this also catches a
       densification
       that bypasses ``toarray`` (``A @ np.eye(n)``, ``np.asarray(A.todense())``...). The first
       call warms up (Numba compiles once, and its compiler's allocations are not the data's).
    """
    real = {}

    def guard(name, orig):
        def densify(self, *args, **kwargs):
            if min(self.shape) > thin:
                raise AssertionError(f"{name} of a {self.shape} {type(self).__name__}: the "
                                     f"{A.shape} sparse input would be densified")
            return orig(self, *args, **kwargs)

        return densify

    for cls in _SPARSE_CLASSES:
        for name in ("toarray", "todense"):
            real[cls, name] = getattr(cls, name)
            monkeypatch.setattr(cls, name, guard(name, real[cls, name]))
    f()
    tracemalloc.start()
    try:
        out = f()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    dense_bytes = A.shape[0] * A.shape[1] * np.dtype(A.dtype).itemsize
    if peak_fraction is not None:
        assert peak < dense_bytes * peak_fraction, (peak, dense_bytes)
    return out


def fp_tol(dtype, cond=1.0, n=1, c=10.0) -> float:
    """A relative tolerance derived from the dtype's unit roundoff: ``c · n · eps · cond``.

    Backward-stable dense factorizations (QR, SVD, LU with pivoting, Cholesky) give a computed
    result whose relative forward error is at most ``γ_n · κ`` with ``γ_n ≈ n·eps`` (Higham,
    *Accuracy and Stability of Numerical Algorithms*, 2nd ed., §19–20), for a problem of size
    ``n`` and condition number ``κ``; ``c`` is the small constant those bounds hide. For float32
    (eps = 1.19e-7) on the 20–40 sized, κ ≤ 100 problems of the tests this is 1e-4 to 1e-2.
    """
    return float(c * n * np.finfo(dtype).eps * cond)
