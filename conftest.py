"""Root conftest: doctest collection skips the modules whose optional dependency is absent.

``pytest --doctest-modules`` imports every module under ``projkit/``; the torch wrappers in
``projkit/interop/_*_torch.py`` import torch at the top, which the test extra does not install.
"""

from __future__ import annotations

import importlib.util


def _have(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


collect_ignore_glob: list[str] = []
if not _have("torch"):
    collect_ignore_glob.append("projkit/interop/_*_torch.py")
