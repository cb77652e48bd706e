"""The paired Gaussian stream behind the Gaussian sketch (``random.gaussian_entries`` and its
vectorized Numba twin): a pure function of (key, row, column), equal across engines, N(0, 1)."""

import math

import numpy as np
from scipy import stats

from projkit._backend import _random_numba as rnb
from projkit._backend import random as prand
from projkit.sketching import _linear_numba as LN
from projkit.sketching import _linear_xp as LX
from projkit.sketching import linear as L

KEY = 2**63 + 99


def _normal_ok(z):
    """Checks fixed in advance, at about 5 sigma for n = 10⁶ draws: mean (sd 1/√n), variance
    (sd √(2/n)), fourth moment (sd √(96/n)) and the KS distance (critical value at α = 10⁻⁶,
    √(−ln(α/2)/2)/√n ≈ 2.7/√n). A ×1.5 scale moves the variance by 1.25 and D by ~0.1."""
    n = z.size
    return (abs(z.mean()) < 5 / math.sqrt(n) and abs(z.var() - 1) < 5 * math.sqrt(2 / n)
            and abs((z**4).mean() - 3) < 5 * math.sqrt(96 / n)
            and stats.kstest(z, "norm").statistic < 2.7 / math.sqrt(n))


def test_numba_matches_vectorized_every_offset():
    import numba as nb

    @nb.njit
    def row(key, r, c0, w):
        out = np.empty(w)
        rnb.gaussian_row_nb(rnb.hash_row_nb(key, r), c0, 1.0, out)
        return out

    @nb.njit
    def entry(key, r, c):
        return rnb.gaussian_entry_nb(rnb.hash_row_nb(key, r), c)

    for c0, w in [(0, 1000), (1, 999), (7, 4), (5, 1), (3, 0), (2**40 + 1, 51)]:
        ref = prand.gaussian_entries(KEY, 3, np.arange(c0, c0 + w))
        # musl's log/sin/cos kernels against libm's: < 1 ulp each, so a few ulp of |z| ≤ 7
        np.testing.assert_allclose(row(KEY, 3, c0, w), ref, rtol=0, atol=8e-15)
        for j in range(min(w, 5)):
            assert abs(entry(KEY, 3, c0 + j) - ref[j]) <= 8e-15
    # the entry is the cosine (even) / sine (odd) normal of word hash2(key, row, col // 2)
    z0, z1 = prand.gaussian_pair_from_bits(prand.hash2(KEY, 3, np.arange(5)))
    ref = prand.gaussian_entries(KEY, 3, np.arange(10))
    np.testing.assert_array_equal(ref[0::2], z0)
    np.testing.assert_array_equal(ref[1::2], z1)


def test_row_kernel_asks_for_the_widest_vectors():
    # gaussian_row_nb marks the kernel it is inlined into with "prefer-vector-width"="512";
    # the attribute must reach the LLVM function that holds the loop (else LLVM keeps 256-bit
    # vectors on AVX-512 CPUs and the generator runs at half speed)
    import numba as nb

    @nb.njit(error_model="numpy")
    def row(key, r, out):
        rnb.gaussian_row_nb(rnb.hash_row_nb(key, r), 0, 1.0, out)

    @nb.njit(error_model="numpy")
    def plain(out):
        out[:] = 1.0

    out = np.empty(64)
    row(KEY, 3, out)
    plain(out)
    ir = "".join(row.inspect_llvm().values()).splitlines()
    # optimized IR moves the attribute into a group: "attributes #k = { ... }"
    groups = {ln.split()[1] for ln in ir
              if ln.startswith("attributes #") and '"prefer-vector-width"="512"' in ln}
    body = [ln for ln in ir if ln.startswith("define") and "3rowB" in ln
            and "cpython" not in ln and "cfunc" not in ln]
    assert len(body) == 1 and any(f" {g} " in body[0] for g in groups)
    assert '"prefer-vector-width"' not in "".join(plain.inspect_llvm().values())
    np.testing.assert_allclose(out, 1.0)  # plain ran after row: out is plain's


def test_pair_is_box_muller():
    # R cos θ, R sin θ with R = sqrt(−2 log u₁), θ = 2π u₂, computed the textbook way
    w = prand.hash2(5, np.arange(50)[:, None], np.arange(40)[None, :])
    u1 = ((w >> np.uint64(32)).astype(float) + 0.5) / 2**32
    u2 = ((w & np.uint64(0xFFFFFFFF)).astype(float) + 0.5) / 2**32
    R = np.sqrt(-2 * np.log(u1))
    z0, z1 = prand.gaussian_pair_from_bits(w)
    np.testing.assert_allclose(z0, R * np.cos(2 * np.pi * u2), rtol=0, atol=1e-14)
    np.testing.assert_allclose(z1, R * np.sin(2 * np.pi * u2), rtol=0, atol=1e-14)


def test_stream_is_standard_normal_and_test_has_power():
    z = prand.gaussian_entries(11, np.arange(1000)[:, None], np.arange(1000)[None, :]).ravel()
    assert _normal_ok(z)
    # the checks reject a zero answer and a x1.5 scale of the right answer
    assert not _normal_ok(np.zeros_like(z)) and not _normal_ok(1.5 * z)
    # the two normals of one word are uncorrelated, and so are their squares
    a, b = z[0::2], z[1::2]
    tol = 5 / math.sqrt(a.size)
    assert abs(np.corrcoef(a, b)[0, 1]) < tol
    assert abs(np.corrcoef(a**2, b**2)[0, 1]) < tol


def test_sketch_tiles_are_the_stream(dtype):
    # the Numba tile generator, at an odd global offset, is the stream scaled by 1/√size, on
    # both engines, and the same key gives the same tile
    p = L._params("gaussian", 300, 5000, 77, {"offset": 4097, "n_total": 20000})
    ref = LX.gaussian_block(p, 0, p.n, np.float64, np)
    tile = np.empty((p.size, p.n), dtype=dtype)
    LN.gaussian_block(np.uint64(p.subkey("gaussian")), np.int64(p.offset),
                      np.float64(1 / math.sqrt(p.size)), tile)
    np.testing.assert_allclose(tile, ref, rtol=0, atol=8e-15 if dtype == np.float64 else 1e-6)
    tile2 = np.empty_like(tile)
    LN.gaussian_block(np.uint64(p.subkey("gaussian")), np.int64(p.offset),
                      np.float64(1 / math.sqrt(p.size)), tile2)
    np.testing.assert_array_equal(tile, tile2)
    if dtype == np.float64:
        assert _normal_ok(tile.ravel() * math.sqrt(p.size))
