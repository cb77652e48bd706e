"""projkit.optim."""

from __future__ import annotations

import importlib
from typing import Any

# names resolved lazily (PEP 562): importing the package loads no algorithm module
_LAZY = {
    "GradientProjector": "projkit.optim.lowrank",
    "project_mmatrix": "projkit.optim.mmatrix",
    "project_dd_mmatrix": "projkit.optim.mmatrix",
    "mtp2_precision": "projkit.optim.mtp2",
    "MTP2Precision": "projkit.optim.mtp2",
    "MTP2PrecisionCV": "projkit.optim.mtp2",
}


__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'projkit.optim' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return list(__all__)
