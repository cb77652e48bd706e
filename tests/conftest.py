"""Shared fixtures: the ``xp`` backend fixture, dtypes, real data, GPU skipping."""

from __future__ import annotations

import importlib
import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest


def _gpu_available() -> bool:
    """CuPy imports and sees a CUDA device. Only *absence* skips: CuPy not installed, or the
    CUDA runtime reporting no device/driver. A CuPy that is installed but broken (an import
    error inside CuPy, a failing kernel compile) is an error, not a silent GPU skip."""
    if importlib.util.find_spec("cupy") is None:
        return False
    cupy = importlib.import_module("cupy")
    try:
        return int(cupy.cuda.runtime.getDeviceCount()) > 0
    except cupy.cuda.runtime.CUDARuntimeError:  # no device, or no driver, on this machine
        return False


GPU = _gpu_available()


def pytest_collection_modifyitems(config, items):
    if GPU:
        return
    # conditional, not unconditional: reached only when _gpu_available() found no CuPy or no
    # CUDA device, and applied only to tests marked ``gpu`` (CPU is the floor, GPU the ceiling)
    skip = pytest.mark.skip(reason="needs CuPy and a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(params=["numpy", pytest.param("cupy", marks=pytest.mark.gpu)])
def xp(request):
    """NumPy, and CuPy when a device is present (tests marked ``gpu`` otherwise skip)."""
    return importlib.import_module(request.param)


@pytest.fixture(
    params=["numpy", "array_api_strict", pytest.param("cupy", marks=pytest.mark.gpu)]
)
def xp_any(request):
    """For functions that claim Array-API support: adds array-api-strict."""
    return pytest.importorskip(request.param)


@pytest.fixture(params=[np.float32, np.float64], ids=["f32", "f64"])
def dtype(request):
    return request.param


def tol(dtype) -> float:
    """A relative tolerance fit for ``dtype`` (about 1000 ulps)."""
    return 1e-4 if np.dtype(dtype) == np.float32 else 1e-10


def _data_dir() -> Path:
    env = os.environ.get("PROJKIT_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """``../shared/data`` (or ``$PROJKIT_DATA``); tests that use it skip when it is absent."""
    d = _data_dir()
    if not d.is_dir():
        pytest.skip(f"real data not found at {d}")
    return d


def to_host(a):
    """Test helper: any array to NumPy."""
    from projkit._backend import to_numpy

    return np.asarray(to_numpy(a))
