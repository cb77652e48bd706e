"""Pick the compiled kernel (Numba on the CPU, CuPy on the GPU) that serves an array.

Kernels live beside the algorithm that uses them (``sketching/_countsketch_numba.py``,
``sketching/_countsketch_cupy.py``); this module only chooses between them, so every algorithm
module states its engines in one line::

    kernel = select(xp, cpu=_linear_numba.countsketch_csr, gpu=_countsketch_cupy_csr)
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

from .namespace import is_cupy_namespace, is_numpy_namespace

__all__ = ["engine", "select"]


def engine(xp: ModuleType) -> str:
    """"numba" for NumPy data, "cupy" for CuPy data, "dask" for dask arrays, "xp" for any
    other Array-API namespace."""
    if is_numpy_namespace(xp):
        return "numba"
    if is_cupy_namespace(xp):
        return "cupy"
    if xp.__name__.startswith("dask"):
        return "dask"
    return "xp"


def select(
    xp: ModuleType,
    *,
    cpu: Callable[..., Any] | None = None,
    gpu: Callable[..., Any] | None = None,
    fallback: Callable[..., Any] | None = None,
    dask: Callable[..., Any] | None = None,
    what: str = "this operation",
) -> Callable[..., Any]:
    """The implementation of an operation for arrays of namespace ``xp``.

    ``cpu`` serves NumPy, ``gpu`` serves CuPy, ``dask`` serves chunked dask arrays (the
    blockwise engine), and ``fallback`` (written against the array namespace alone) serves
    whatever has no dedicated implementation.

    Raises
    ------
    TypeError
        When no implementation fits ``xp``.
    """
    eng = engine(xp)
    fn = {"numba": cpu, "cupy": gpu, "dask": dask}.get(eng) or fallback
    if fn is None:
        raise TypeError(f"{what} has no implementation for {xp.__name__} arrays")
    return fn
