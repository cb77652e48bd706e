"""The API reference (docs/api.rst) lists every public name, each once (issue 19)."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

import projkit

API = Path(__file__).resolve().parents[1] / "docs" / "api.rst"
# subpackages with public names of their own (the others are namespaces of modules)
SUBPACKAGES = ["projkit.optim", "projkit.interop.torch", "projkit.testing",
               "projkit.distributed"]


def _documented() -> dict[str, set[str]]:
    """module -> names listed in its autosummary blocks."""
    out: dict[str, set[str]] = {}
    module = "projkit"
    in_block = False
    for line in API.read_text().splitlines():
        m = re.match(r"\.\. currentmodule:: (\S+)", line)
        if m:
            module = m.group(1)
            continue
        if line.startswith(".. autosummary::"):
            in_block = True
            continue
        if in_block:
            if not line.strip() or line.lstrip().startswith(":"):
                continue
            if line.startswith("   "):
                out.setdefault(module, set()).add(line.strip())
                continue
            in_block = False
    return out


def test_every_top_level_name_is_documented_once():
    doc = _documented()
    public = {n for n in projkit.__all__ if not n.startswith("__")}
    assert doc["projkit"] == public, (
        f"missing: {sorted(public - doc['projkit'])}, unknown: {sorted(doc['projkit'] - public)}"
    )
    # a name listed in two sections would be two object descriptions (a Sphinx warning)
    text = API.read_text()
    for name in public:
        assert len(re.findall(rf"^   {re.escape(name)}$", text, flags=re.M)) == 1, name


def _has_torch() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.parametrize("sub", SUBPACKAGES)
def test_every_subpackage_name_is_documented(sub):
    if sub == "projkit.distributed":
        pytest.importorskip("dask")
    mod = importlib.import_module(sub)
    doc = _documented()
    missing = []
    for name in mod.__all__:
        if name in doc.get(sub, set()):
            continue
        # a re-export of a top-level object is documented there
        if sub != "projkit.interop.torch" or _has_torch():
            obj = getattr(mod, name)
            if name in doc["projkit"] and getattr(projkit, name) is obj:
                continue
        elif name in doc["projkit"]:
            continue
        missing.append(name)
    assert not missing, f"{sub}: not in docs/api.rst: {missing}"
    unknown = doc.get(sub, set()) - set(mod.__all__)
    assert not unknown, f"{sub}: docs/api.rst lists names it does not export: {unknown}"


def test_the_issue_s_missing_names_are_there():
    doc = _documented()
    assert {"legendre_features", "trigonometric_features", "MTP2PrecisionCV"} <= doc["projkit"]
    assert {"ProjectedAdam", "GradientProjectorHook", "householder_apply"} <= \
        doc["projkit.interop.torch"]
