"""BLAS thread control for latency-bound NumPy/SciPy calls."""

from __future__ import annotations

import contextlib
import threading
from types import ModuleType
from typing import Any

from .namespace import is_numpy_namespace

__all__ = ["THREADED_WORK", "serial_blas"]

_LIBS: Any = None  # (get, set) thread-count functions of each BLAS library; False if none
_LOCK = threading.Lock()
_DEPTH = 0  # how many serial_blas contexts are open (in any thread)
_SAVED: list[int] = []  # the thread counts the outermost context restores


def _blas_libs() -> Any:
    global _LIBS
    if _LIBS is None:
        try:
            import scipy.linalg  # noqa: F401  (load SciPy's BLAS so the controller sees it)
            from threadpoolctl import ThreadpoolController

            libs = ThreadpoolController().select(user_api="blas").lib_controllers
            # (get, set) per library; OpenBLAS's raw setter, because threadpoolctl's wrapper
            # ignores calls from any Python thread but the first one that set a limit, and
            # this module's own counter already keeps threads from fighting
            _LIBS = [(lib.get_num_threads,
                      getattr(lib, "_real_set_num_threads", lib.set_num_threads))
                     for lib in libs] or False
        except Exception:  # threadpoolctl missing or unable to inspect the libraries
            _LIBS = False
    return _LIBS


class _SerialBlas:
    """The context: the outermost entry saves each BLAS library's thread count and sets it
    to 1, the matching exit restores it; nested and concurrent entries only count. One
    ``get``/``set_num_threads`` call per library through ctypes: about 2 µs per entry, against
    ~45 µs for ``ThreadpoolController.limit`` (which re-reads every library's state)."""

    __slots__ = ("_libs",)

    def __init__(self, libs: Any) -> None:
        self._libs = libs

    def __enter__(self) -> _SerialBlas:
        global _DEPTH, _SAVED
        with _LOCK:
            if _DEPTH == 0:
                _SAVED = [get() for get, _ in self._libs]
                for (_, set_), n in zip(self._libs, _SAVED, strict=True):
                    if n != 1:
                        set_(1)
            _DEPTH += 1
        return self

    def __exit__(self, *exc: Any) -> None:
        global _DEPTH
        with _LOCK:
            _DEPTH -= 1
            if _DEPTH == 0:
                for (_, set_), n in zip(self._libs, _SAVED, strict=True):
                    if n != 1 and n is not None:
                        set_(n)


THREADED_WORK = 1e8  # flops of one call from which BLAS threads pay (~10 ms on one core)


def serial_blas(xp: ModuleType, work: float | None = None) -> Any:
    """A context in which NumPy/SciPy's BLAS runs on one thread (a no-op elsewhere).

    ``work``, when given, is the flop count of the largest single BLAS/LAPACK call the
    context will hold: from :data:`THREADED_WORK` on, the context keeps all threads (the
    size rule for loops whose calls are small on small data but large on large data).

    Tall-skinny factorizations, matrix-vector products and the small dense kernels of update
    loops are latency-bound: multithreaded OpenBLAS gains nothing on them and, when the cores
    are shared (or are hyperthreads of one core, or busy with torch's OpenMP threads), its
    spinning threads make them 3-100× slower. Large products keep all threads by staying
    outside this context. Uses :mod:`threadpoolctl` (found once per process) when it is
    installed; entering and leaving the context costs a few µs, and nested contexts are free.
    """
    if not is_numpy_namespace(xp) or (work is not None and work >= THREADED_WORK):
        return contextlib.nullcontext()
    libs = _blas_libs()
    if libs is False:
        return contextlib.nullcontext()
    return _SerialBlas(libs)
