"""One name for the dense approximation, compact reprs, clean dir() (issue 19)."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import projkit


def _matrix(m=80, n=30, seed=0):
    return np.random.default_rng(seed).standard_normal((m, n))


def test_every_result_type_has_to_dense():
    g = np.random.default_rng(1)
    A = g.standard_normal((80, 5)) @ g.standard_normal((5, 30))  # rank 5: all exact
    for result in (projkit.rsvd(A, 5, rng=0), projkit.cur(A, 5, rng=0),
                   projkit.nystrom(A, 5, rng=0)):
        D = result.to_dense()
        assert D.shape == A.shape
        np.testing.assert_allclose(D, A, atol=1e-9 * np.abs(A).max())


def test_reconstruct_is_a_deprecated_alias():
    ny = projkit.nystrom(_matrix(), 5, rng=0)
    with pytest.warns(DeprecationWarning, match="to_dense"):
        old = ny.reconstruct()
    np.testing.assert_array_equal(old, ny.to_dense())


@pytest.mark.parametrize("method", ["gaussian", "threshold", "countsketch"])
def test_sketch_repr_is_compact(method):
    A = _matrix(2048, 64)
    sk = projkit.sketch(A, 256, method=method, rng=0)
    r = repr(sk)
    assert len(r) < 300 and "\n" not in r, r
    assert f"method={method!r}" in r and "float64" in r
    assert "x".join(map(str, sk.matrix.shape)) in r


def test_result_reprs_are_compact():
    A = _matrix(500, 200)
    for result in (projkit.rsvd(A, 20, rng=0), projkit.cur(A, 20, rng=0),
                   projkit.nystrom(A, 20, rng=0)):
        r = repr(result)
        assert len(r) < 400 and "\n" not in r and "500x" in r, r


def _public(mod):
    return [n for n in dir(mod) if not n.startswith("_")]


@pytest.mark.parametrize("name", ["projkit", "projkit.optim", "projkit.testing",
                                  "projkit.sketching", "projkit.factorizations",
                                  "projkit.projectors", "projkit.sampling", "projkit.interop"])
def test_dir_shows_no_implementation_names(name):
    mod = importlib.import_module(name)
    leaked = {"Any", "annotations", "importlib", "np", "numpy"} & set(dir(mod))
    assert not leaked, leaked
    for n in _public(mod):
        getattr(mod, n)  # every listed name resolves


def test_dir_of_projkit_lists_all():
    assert set(projkit.__all__) <= set(dir(projkit))
    assert "sketching" in dir(projkit)


def test_dir_of_interop_torch_shows_its_lazy_names():
    # the module itself imports torch only when a name is used, so this needs no torch
    mod = importlib.import_module("projkit.interop.torch")
    assert set(mod.__all__) <= set(dir(mod))
    assert {"ProjectedAdam", "GradientProjectorHook", "householder_apply"} <= set(dir(mod))
