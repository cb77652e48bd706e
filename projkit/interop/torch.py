"""torch interop: autograd wrappers and optimizer hooks (needs torch; imported only on use).

The pieces live in private modules beside this one, one per capability, and are re-exported here
lazily so that ``import projkit.interop.torch`` does not import torch until a name is used.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    # Householder projector as a differentiable torch function (projectors/householder.py)
    "HouseholderFunction": "projkit.interop._householder_torch",
    "householder_apply": "projkit.interop._householder_torch",
    # gradient low-rank projectors as optimizer hooks (optim/lowrank.py)
    "GradientProjectorHook": "projkit.interop._lowrank_torch",
    "ProjectedAdam": "projkit.interop._lowrank_torch",
    # GaLore optimizers, a drop-in for galore-torch (optim/lowrank.py refreshes)
    "GaLoreAdam": "projkit.interop._galore_torch",
    "GaLoreAdamW": "projkit.interop._galore_torch",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'projkit.interop.torch' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    # the lazily loaded names (PEP 562), which the module's globals do not hold until used
    return list(__all__)
