import numpy as np
import pytest
import scipy.sparse as sp

from projkit._backend import _random_numba as rnb
from projkit._backend import (
    array_namespace,
    check_array,
    check_rng,
    check_size,
    draw_key,
    is_sparse,
    native,
)
from projkit._backend import random as prand


def test_namespace_numpy_and_sparse():
    assert array_namespace(np.ones(2), sp.eye(2)) is np
    assert is_sparse(sp.eye(2)) and is_sparse(sp.csr_array(np.eye(2)))
    assert not is_sparse(np.eye(2))


def test_namespace_mixing_raises():
    strict = pytest.importorskip("array_api_strict")
    with pytest.raises(TypeError, match="mix array libraries"):
        array_namespace(np.ones(2), strict.ones(2))


def test_check_rng_spec7():
    g = np.random.default_rng(3)
    assert check_rng(g) is g
    assert check_rng(5).integers(100) == np.random.default_rng(5).integers(100)
    with pytest.raises(TypeError, match="rng"):
        check_rng(np.random.RandomState(0))
    with pytest.raises(ValueError, match="non-negative"):
        check_rng(-1)


def test_draw_key_int_is_key_and_generator_reproduces():
    assert draw_key(7) == 7
    assert draw_key(np.random.default_rng(1)) == draw_key(np.random.default_rng(1))
    assert draw_key(None) != draw_key(None)


def test_check_array_dtype_policy_and_errors():
    A, xp = check_array(np.arange(6).reshape(2, 3))
    assert A.dtype == np.float64 and xp is np
    B, _ = check_array(np.ones((2, 2), np.float32))
    assert B.dtype == np.float32
    S, _ = check_array(sp.coo_matrix(np.eye(3)))
    assert S.format == "csr"
    with pytest.raises(ValueError, match="A: expected a 2-D array, got shape"):
        check_array(np.ones(3))
    with pytest.raises(ValueError, match="NaN"):
        check_array(np.array([[1.0, np.nan]]))
    with pytest.raises(ValueError, match="NaN"):
        check_array(sp.csr_matrix(np.array([[1.0, np.inf]])))
    with pytest.raises(TypeError, match="complex"):
        check_array(np.ones((2, 2), complex))
    with pytest.raises(TypeError, match="sparse"):
        check_array(sp.eye(2), accept_sparse=False)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_check_finite_fast_path_catches_every_bad_entry(bad, dtype):
    # the fast path trusts a finite sum; each bad value, anywhere, must make it not finite
    from projkit._backend.validation import check_finite

    for pos in [(0, 0), (3, 2), (6, 4)]:
        a = np.ones((7, 5), dtype)
        a[pos] = bad
        with pytest.raises(ValueError, match="X: contains NaN or inf"):
            check_finite(a, name="X")
    with pytest.raises(ValueError, match="NaN or inf"):  # +inf and -inf: the sum is NaN
        check_finite(np.array([[np.inf, -np.inf]], dtype))


def test_check_finite_overflowing_sum_of_finite_entries_passes_without_warning():
    # a sum that overflows takes the entrywise test: finite data is never refused, and the
    # overflow inside the fast path warns no one (pytest's -W error would turn it into a raise)
    import warnings

    from projkit._backend.validation import check_finite

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_finite(np.full((4, 4), 1e308))
        check_finite(np.full((4, 4), 6e4, np.float16))
        check_finite(np.array([[1e308, -1e308, 1e308, 1e308]]))
        with pytest.raises(ValueError, match="NaN or inf"):
            check_finite(np.array([[1e308, 1e308, np.nan]]))


def test_check_size():
    assert check_size(3, upper=4) == 3
    with pytest.raises(ValueError, match="size"):
        check_size(0)
    with pytest.raises(ValueError, match="at most 4"):
        check_size(5, upper=4, upper_name="rows of A")
    with pytest.raises(TypeError, match="size"):
        check_size(2.0)


def test_hash_numba_matches_vectorized():
    import numba as nb

    @nb.njit
    def words(key, a, b):
        out = np.empty((a.size, b.size), np.uint64)
        g = np.empty((a.size, b.size))
        for i in range(a.size):
            r = rnb.hash_row_nb(key, a[i])
            for j in range(b.size):
                out[i, j] = rnb.hash_entry_nb(r, b[j])
                g[i, j] = rnb.gaussian_nb(out[i, j])
        return out, g

    a = np.arange(5, dtype=np.int64)
    b = np.arange(1000, 1100, dtype=np.int64)
    key = 2**63 + 12345
    w_nb, g_nb = words(key, a, b)
    w = prand.hash2(key, a[:, None], b[None, :])
    np.testing.assert_array_equal(w_nb, w)
    np.testing.assert_allclose(g_nb, prand.gaussian_from_bits(w), rtol=1e-14, atol=1e-14)


def test_hash_distribution():
    # 10^6 words: the uniform's mean and the Gaussian's first moments are within 5 sigma
    w = prand.hash2(11, np.arange(1000)[:, None], np.arange(1000)[None, :]).ravel()
    u = prand.uniform_from_bits(w)
    assert abs(u.mean() - 0.5) < 5 * np.sqrt(1 / 12 / u.size)
    g = prand.gaussian_from_bits(w)
    assert abs(g.mean()) < 5e-3 and abs(g.var() - 1) < 1e-2
    s = prand.sign_from_bits(w)
    assert abs(s.mean()) < 5e-3


def test_native_numpy_identity():
    a = np.ones(3)
    x, back = native(a)
    assert x is a and back(a) is a


def test_check_real_intervals():
    from projkit._backend.validation import check_real

    assert check_real(0.5, name="eps", high=1.0) == 0.5
    assert check_real(1, name="eps", high=1.0) == 1.0                 # closed at the top
    assert check_real(0.0, name="x", low_open=False) == 0.0
    for bad in (0.0, 1.5, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="eps: expected a finite number in"):
            check_real(bad, name="eps", high=1.0)
    with pytest.raises(ValueError, match=r"\(0.0, 1.0\)"):
        check_real(1.0, name="delta", high=1.0, high_open=True)
    for bad in (True, "0.1", None):
        with pytest.raises(TypeError, match="eps: expected a real number"):
            check_real(bad, name="eps")
