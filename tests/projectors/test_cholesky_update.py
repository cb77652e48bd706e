"""projkit.cholesky_update: rank-k up/downdates of a lower Cholesky factor."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import projkit
from tests.conftest import to_host, tol


def _spd(rng, m, dtype=np.float64):
    G = rng.standard_normal((m, m))
    return (G @ G.T / m + np.eye(m)).astype(dtype)


@pytest.mark.parametrize("k", [1, 3, 7])
def test_update_matches_refactor(dtype, k):
    rng = np.random.default_rng(k)
    m = 12
    M = _spd(rng, m, dtype)
    L = np.linalg.cholesky(M)
    U = rng.standard_normal((m, k)).astype(dtype)
    L1 = projkit.cholesky_update(L, U, 1)
    assert L1.dtype == dtype
    assert np.allclose(np.triu(L1, 1), 0)
    ref = np.linalg.cholesky(M.astype(np.float64) + U.astype(np.float64) @ U.T)
    # the Cholesky factor is unique: compare to a fresh factorization (cond(M) ~ 10 here)
    assert np.linalg.norm(L1 - ref) <= 100 * tol(dtype) * np.linalg.norm(ref)


def test_downdate_inverts_update(dtype):
    rng = np.random.default_rng(1)
    m = 10
    L = np.linalg.cholesky(_spd(rng, m, dtype))
    U = rng.standard_normal((m, 4)).astype(dtype)
    L2 = projkit.cholesky_update(projkit.cholesky_update(L, U, 1), U, -1)
    assert np.linalg.norm(L2 - L) <= 100 * tol(dtype) * np.linalg.norm(L)


def test_vector_and_inputs_untouched():
    rng = np.random.default_rng(2)
    L = np.linalg.cholesky(_spd(rng, 5))
    u = rng.standard_normal(5)
    L0, u0 = L.copy(), u.copy()
    L1 = projkit.cholesky_update(L, u, 1)
    assert np.array_equal(L, L0) and np.array_equal(u, u0)
    assert np.allclose(L1 @ L1.T, L @ L.T + np.outer(u, u))


def test_downdate_losing_definiteness_raises():
    L = np.eye(3)
    with pytest.raises(np.linalg.LinAlgError, match="not positive definite"):
        projkit.cholesky_update(L, np.array([0.0, 2.0, 0.0]), -1)


def test_bad_inputs():
    L = np.eye(3)
    with pytest.raises(ValueError, match="sign"):
        projkit.cholesky_update(L, np.ones(3), 2)
    with pytest.raises(ValueError, match="U: expected 3 rows"):
        projkit.cholesky_update(L, np.ones(4), 1)
    with pytest.raises(ValueError, match="square"):
        projkit.cholesky_update(np.ones((3, 2)), np.ones(3), 1)
    with pytest.raises(ValueError, match="positive diagonal"):
        projkit.cholesky_update(-np.eye(3), np.ones(3), 1)
    with pytest.raises(ValueError, match="NaN"):
        projkit.cholesky_update(L, np.array([1.0, np.nan, 0.0]), 1)


def test_empty_update_is_identity():
    L = np.linalg.cholesky(_spd(np.random.default_rng(3), 4))
    assert np.allclose(projkit.cholesky_update(L, np.zeros((4, 0)), 1), L)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), m=st.integers(1, 8), k=st.integers(1, 4))
def test_identity_llt_plus_uut(seed, m, k):
    rng = np.random.default_rng(seed)
    L = np.linalg.cholesky(_spd(rng, m))
    U = rng.standard_normal((m, k))
    L1 = projkit.cholesky_update(L, U, 1)
    assert np.allclose(L1 @ L1.T, L @ L.T + U @ U.T, atol=1e-10)
    assert np.all(np.diag(L1) > 0)


@pytest.mark.parametrize("order", ["C", "F"])
def test_strict_upper_ignored_any_layout(order):
    # the kernel reads only the lower triangle and zeroes the rest (LAPACK factors leave garbage
    # above the diagonal), whichever memory order L comes in
    rng = np.random.default_rng(5)
    m = 9
    L = np.linalg.cholesky(_spd(rng, m))
    junk = L + np.triu(rng.standard_normal((m, m)), 1)
    junk = np.array(junk, order=order)
    U = rng.standard_normal((m, 3))
    before = junk.copy()
    out = projkit.cholesky_update(junk, U, 1)
    assert np.array_equal(junk, before)
    assert np.array_equal(np.triu(out, 1), np.zeros((m, m)))
    np.testing.assert_allclose(out, projkit.cholesky_update(L, U, 1), rtol=0, atol=1e-14)
    np.testing.assert_allclose(out @ out.T, L @ L.T + U @ U.T, rtol=1e-12, atol=1e-12)


def test_engine_matches_numpy(xp):
    # CuPy (when present) refactors instead of rotating: same factor, on the device
    rng = np.random.default_rng(2)
    G = rng.standard_normal((8, 8))
    L = np.linalg.cholesky(G @ G.T / 8 + np.eye(8))
    U = rng.standard_normal((8, 3))
    L1 = projkit.cholesky_update(xp.asarray(L), xp.asarray(U), 1)
    assert isinstance(L1, xp.ndarray)
    np.testing.assert_allclose(to_host(L1), projkit.cholesky_update(L, U, 1), atol=1e-10)
    with pytest.raises(np.linalg.LinAlgError):
        projkit.cholesky_update(xp.asarray(np.eye(3)), xp.asarray([0.0, 2.0, 0.0]), -1)


def test_xp_engine_on_numpy():
    # the array-namespace engine (CuPy's) run on NumPy: same factor as the Numba kernel,
    # strict upper triangle ignored, LinAlgError on a downdate that is not positive definite
    from projkit.projectors._cholesky_xp import refactor_update

    rng = np.random.default_rng(6)
    L = np.linalg.cholesky(_spd(rng, 7))
    junk = L + np.triu(rng.standard_normal((7, 7)), 1)
    U = rng.standard_normal((7, 2))
    np.testing.assert_allclose(refactor_update(np, junk, U, 1.0),
                               projkit.cholesky_update(L, U, 1), atol=1e-12)
    np.testing.assert_array_equal(refactor_update(np, junk, U[:, :0], 1.0), L)
    with pytest.raises(np.linalg.LinAlgError, match="not positive definite"):
        refactor_update(np, np.eye(3), np.array([[0.0], [2.0], [0.0]]), -1.0)
