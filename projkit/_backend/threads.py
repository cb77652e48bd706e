"""BLAS thread control for latency-bound NumPy/SciPy calls."""

from __future__ import annotations

import contextlib
from types import ModuleType
from typing import Any

from .namespace import is_numpy_namespace

__all__ = ["serial_blas"]

_CONTROLLER: Any = None


def serial_blas(xp: ModuleType) -> Any:
    """A context in which NumPy/SciPy's BLAS runs on one thread (a no-op elsewhere).

    Tall-skinny factorizations, matrix-vector products and the small dense kernels of update
    loops are latency-bound: multithreaded OpenBLAS gains nothing on them and, when the cores
    are shared (or are hyperthreads of one core), its spinning threads make them 3-100× slower.
    Large products keep all threads by staying outside this context. Uses :mod:`threadpoolctl`
    when it is installed; entering the context costs about 20 µs.
    """
    global _CONTROLLER
    if not is_numpy_namespace(xp):
        return contextlib.nullcontext()
    if _CONTROLLER is None:
        try:
            import scipy.linalg  # noqa: F401  (load SciPy's BLAS so the controller sees it)
            from threadpoolctl import ThreadpoolController

            _CONTROLLER = ThreadpoolController()
        except Exception:  # threadpoolctl missing or unable to inspect the libraries
            _CONTROLLER = False
    if _CONTROLLER is False:
        return contextlib.nullcontext()
    return _CONTROLLER.limit(limits=1, user_api="blas")
