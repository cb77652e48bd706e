"""projkit.optim."""

from __future__ import annotations

import importlib
from typing import Any

# names resolved lazily (PEP 562): importing the package loads no algorithm module
_LAZY = {
    "GradientProjector": "projkit.optim.lowrank",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'projkit.optim' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
