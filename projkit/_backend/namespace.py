"""Which array library holds an input, where it lives, and how to move it.

Every public function asks this module once which namespace its inputs belong to. NumPy and
SciPy sparse map to :mod:`numpy`, CuPy and :mod:`cupyx.scipy.sparse` to :mod:`cupy`; any
other Array-API library (torch, array-api-strict, ...) goes through :mod:`array_api_compat`.
CuPy and torch are never imported here unless the input already is one of theirs, so importing
projkit on a CPU-only machine stays fast and silent.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

import numpy as np
import scipy.sparse as sp

__all__ = [
    "array_namespace",
    "device_of",
    "is_cupy",
    "is_cupy_namespace",
    "is_dask",
    "is_numpy_namespace",
    "is_sparse",
    "is_torch",
    "native",
    "to_device",
    "to_numpy",
]


def _cupy() -> ModuleType | None:
    """The cupy module if it was already imported by the caller's code, else None."""
    return sys.modules.get("cupy")


def is_cupy(x: Any) -> bool:
    """True for a CuPy array or a :mod:`cupyx.scipy.sparse` matrix."""
    mod = type(x).__module__
    return mod.startswith("cupy") or mod.startswith("cupyx")


def is_dask(x: Any) -> bool:
    """True for a ``dask.array.Array`` (chunked and lazy): the functions with a Dask engine
    (``_<name>_dask.py``) test this first and never turn the array into one in memory."""
    return type(x).__module__.startswith("dask.array")


def is_torch(x: Any) -> bool:
    """True for a ``torch.Tensor``."""
    return type(x).__module__.startswith("torch")


def is_sparse(x: Any) -> bool:
    """True for SciPy sparse arrays/matrices and :mod:`cupyx.scipy.sparse` matrices."""
    if sp.issparse(x):
        return True
    if is_cupy(x):
        return type(x).__module__.startswith("cupyx.scipy.sparse")
    return False


def is_numpy_namespace(xp: ModuleType) -> bool:
    """True when ``xp`` is NumPy (plain or its array-api-compat wrapper)."""
    return xp is np or xp.__name__ in ("numpy", "array_api_compat.numpy")


def is_cupy_namespace(xp: ModuleType) -> bool:
    """True when ``xp`` is CuPy (plain or its array-api-compat wrapper)."""
    return xp.__name__ in ("cupy", "array_api_compat.cupy")


def _namespace_of(x: Any) -> ModuleType:
    if isinstance(x, np.ndarray | np.generic) or sp.issparse(x):
        return np
    if is_cupy(x):
        import cupy

        return cupy
    if is_dask(x):
        import dask.array

        return dask.array
    import array_api_compat

    try:
        return array_api_compat.array_namespace(x)
    except TypeError as exc:
        raise TypeError(
            f"expected a NumPy, SciPy sparse, CuPy or Array-API array, got {type(x).__name__}"
        ) from exc


def array_namespace(*arrays: Any) -> ModuleType:
    """Return the one namespace that holds all non-None ``arrays``.

    NumPy arrays and SciPy sparse matrices give :mod:`numpy`; CuPy arrays and CuPy sparse
    matrices give :mod:`cupy`; other Array-API arrays give their :mod:`array_api_compat`
    namespace. Python scalars and ``None`` are ignored.

    Raises
    ------
    TypeError
        When the inputs come from different libraries (projkit never converts silently).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> array_namespace(np.ones(3), sp.eye(3)).__name__
    'numpy'
    """
    found: ModuleType | None = None
    for a in arrays:
        if a is None or isinstance(a, int | float | complex | bool):
            continue
        xp = _namespace_of(a)
        if found is None:
            found = xp
        elif xp.__name__ != found.__name__:
            raise TypeError(
                "inputs mix array libraries: "
                f"{found.__name__} and {xp.__name__}; move them to one library first"
            )
    return np if found is None else found


def device_of(x: Any) -> Any:
    """The device of ``x`` ("cpu" for NumPy/SciPy, a ``cupy.cuda.Device`` for CuPy)."""
    if isinstance(x, np.ndarray | np.generic) or sp.issparse(x):
        return "cpu"
    if is_cupy(x):
        return x.device
    import array_api_compat

    return array_api_compat.device(x)


def to_numpy(x: Any) -> Any:
    """Copy ``x`` to the host as NumPy (or SciPy sparse). The only place projkit copies to the
    host, and only when the user asks for it."""
    if isinstance(x, np.ndarray) or sp.issparse(x):
        return x
    if is_cupy(x):
        return x.get()
    if is_torch(x):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def to_device(x: Any, like: Any) -> Any:
    """Move ``x`` to the library and device of ``like`` (explicit, user-requested moves only)."""
    if is_cupy(like):
        import cupy

        if is_sparse(x):
            import cupyx.scipy.sparse as csp

            return csp.csr_matrix(x)
        with like.device:
            return cupy.asarray(x)
    return to_numpy(x)


def native(x: Any) -> tuple[Any, Any]:
    """View an Array-API tensor as NumPy or CuPy without a copy, and a function to go back.

    torch CPU tensors become NumPy views and CUDA tensors CuPy views (both through DLPack, no
    copy), so the algorithms can be written for NumPy/CuPy alone while torch in gives torch out
    on the same device.

    Returns
    -------
    x_native, back
        ``back(y)`` converts a result array to the input's library (the identity for NumPy and
        CuPy inputs).
    """
    if isinstance(x, np.ndarray) or sp.issparse(x) or is_cupy(x):
        return x, _identity
    if is_torch(x):
        import torch

        t = x.detach()
        if t.device.type == "cuda":
            import cupy

            arr = cupy.from_dlpack(t)

            def back_cuda(y: Any) -> Any:
                return torch.from_dlpack(y) if is_cupy(y) else y

            return arr, back_cuda
        arr = t.numpy()

        def back_cpu(y: Any) -> Any:
            return torch.from_numpy(np.ascontiguousarray(y)) if isinstance(y, np.ndarray) else y

        return arr, back_cpu
    xp = _namespace_of(x)
    try:
        arr = np.from_dlpack(x)
    except (TypeError, BufferError, AttributeError, RuntimeError):
        arr = np.asarray(x)

    def back_generic(y: Any) -> Any:
        return xp.asarray(y) if isinstance(y, np.ndarray) else y

    return arr, back_generic


def _identity(y: Any) -> Any:
    return y
