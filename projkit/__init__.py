"""projkit: projections, sketching and factorizations on NumPy/SciPy, CuPy and Array-API arrays.

The public API is flat: ``projkit.sketch``, ``projkit.rsvd``, ``projkit.Projector`` ... The
names are resolved lazily (PEP 562), so ``import projkit`` imports neither Numba kernels nor
CuPy; each subpackage is loaded on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._backend.validation import NotConvergedWarning

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY: dict[str, str] = {
    # sketching
    "Sketch": "projkit.sketching._core",
    "sketch": "projkit.sketching._core",
    "approx_matmul": "projkit.sketching._core",
    "merge_sketches": "projkit.sketching._core",
    "SketchOperator": "projkit.sketching.linear",
    "sketch_operator": "projkit.sketching.linear",
    "sketch_lstsq": "projkit.sketching.linf",
    "fastrp": "projkit.sketching.fastrp",
    "FastRP": "projkit.sketching.fastrp",
    # factorizations
    "SVD": "projkit.factorizations._results",
    "rsvd": "projkit.factorizations.rsvd",
    "range_finder": "projkit.factorizations.rsvd",
    "MetaFactorization": "projkit.factorizations.meta",
    "meta_factorize": "projkit.factorizations.meta",
    "CUR": "projkit.factorizations.cur",
    "cur": "projkit.factorizations.cur",
    "interpolative": "projkit.factorizations.cur",
    "nystrom": "projkit.factorizations.nystrom",
    "nystrom_psd": "projkit.factorizations.nystrom",
    "pinv": "projkit.factorizations.meta",
    "SVDUpdater": "projkit.factorizations.svd_update",
    # projectors
    "Projector": "projkit.projectors.oblique",
    "HouseholderProjector": "projkit.projectors.householder",
    "KroneckerProjection": "projkit.projectors.kronecker",
    "cholesky_update": "projkit.projectors.cholesky_update",
    # sampling
    "sample_projection_dpp": "projkit.sampling.dpp",
    "sample_dpp": "projkit.sampling.dpp",
    "volume_sample": "projkit.sampling.volume",
    "dpp_lstsq": "projkit.sampling.wls",
    "legendre_features": "projkit.sampling.wls",
    "trigonometric_features": "projkit.sampling.wls",
    # optimization
    "project_mmatrix": "projkit.optim.mmatrix",
    "project_dd_mmatrix": "projkit.optim.mmatrix",
    "mtp2_precision": "projkit.optim.mtp2",
    "MTP2Precision": "projkit.optim.mtp2",
    "MTP2PrecisionCV": "projkit.optim.mtp2",
    "GradientProjector": "projkit.optim.lowrank",
}

__all__ = ["NotConvergedWarning", "__version__", *sorted(_LAZY)]


_SUBPACKAGES = ("sketching", "factorizations", "projectors", "sampling", "optim", "interop",
                "testing", "distributed")


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return importlib.import_module(f"projkit.{name}")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'projkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    # the public names and the subpackages only (not Any, annotations, importlib, _LAZY ...)
    return sorted(set(__all__) | set(_SUBPACKAGES))
