"""Scalar Numba twins of :mod:`projkit._backend.random` for use inside compiled kernels.

Bit-identical to the vectorized versions (integer-only hash); see that module for the design.
"""

import numba as nb
import numpy as np
from numba import types
from numba.extending import intrinsic

from .random import _GAMMA, _GAMMA2, _INV_2_32, _INV_2_53, _M1, _M2, _TWO_PI

_M1_U = np.uint64(_M1)
_M2_U = np.uint64(_M2)
_G_U = np.uint64(_GAMMA)
_G2_U = np.uint64(_GAMMA2)
_ONE_U = np.uint64(1)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_S32 = np.uint64(32)
_S63 = np.uint64(63)
_LOW32 = np.uint64(0xFFFFFFFF)


@nb.njit(cache=True, inline="always")
def mix_nb(z):  # pragma: no cover - compiled
    z = (z ^ (z >> _S30)) * _M1_U
    z = (z ^ (z >> _S27)) * _M2_U
    return z ^ (z >> _S31)


@nb.njit(cache=True, inline="always")
def hash_row_nb(key, a):  # pragma: no cover - compiled
    return mix_nb(np.uint64(key) + (np.uint64(a) + _ONE_U) * _G_U)


@nb.njit(cache=True, inline="always")
def hash_entry_nb(row_hash, b):  # pragma: no cover - compiled
    return mix_nb(np.uint64(row_hash) ^ ((np.uint64(b) + _ONE_U) * _G2_U))


@nb.njit(cache=True, inline="always")
def uniform_nb(bits):  # pragma: no cover - compiled
    return (np.float64(bits >> _S11) + 0.5) * _INV_2_53


@nb.njit(cache=True, inline="always")
def gaussian_nb(bits):  # pragma: no cover - compiled
    hi = (np.float64(bits >> _S32) + 0.5) * _INV_2_32
    lo = (np.float64(bits & _LOW32) + 0.5) * _INV_2_32
    return np.sqrt(-2.0 * np.log(hi)) * np.cos(_TWO_PI * lo)


@nb.njit(cache=True, inline="always")
def sign_nb(bits):  # pragma: no cover - compiled
    return 1.0 - 2.0 * np.float64(bits >> _S63)


# ---------------------------------------------------------------------------------------------
# the paired Gaussian stream (``random.gaussian_entries``): one hash word gives two normals
# (Box–Muller's cosine and sine), with a branch-free log and sin/cos that LLVM vectorizes
# (AVX2 has no vector libm call in Numba without SVML). Both are fdlibm/musl's kernels
# (|error| < 1 ulp), so the floats agree with NumPy/CuPy's ``log``/``sin``/``cos`` to a few ulp.
# A kernel that inlines them must be compiled with ``error_model="numpy"``: under Numba's default
# "python" model each float division carries a zero check that raises, and that branch stops LLVM
# vectorizing the loop (one thread, 2048 × 65 536 entries: 1.7 s scalar, 0.68 s vectorized, the
# same bits).


@intrinsic
def _f2u(typingctx, x):  # pragma: no cover - compiled
    """Reinterpret a float64's bits as uint64 (a bitcast, no conversion)."""
    if x != types.float64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.uint64))

    return types.uint64(types.float64), codegen


@intrinsic
def _u2f(typingctx, x):  # pragma: no cover - compiled
    """Reinterpret a uint64's bits as float64."""
    if x != types.uint64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.float64))

    return types.float64(types.uint64), codegen


@intrinsic
def wide_vectors(typingctx):  # pragma: no cover - compiled
    """Ask LLVM to vectorize the calling kernel with the widest registers (512-bit on AVX-512).

    On AVX-512 CPUs of the Skylake-server line and later, LLVM prefers 256-bit vectors
    (``prefer-256-bit`` in its tuning) to spare the clock; for the Gaussian generator, which is
    all arithmetic, 512-bit vectors halve the time (one thread, Intel Xeon with AVX-512:
    3.9 → 2.0 ns an entry, the same bits: the lanes compute the same operations in the same
    order). It sets the string attribute ``"prefer-vector-width"="512"`` on the LLVM function
    being lowered (llvmlite validates only enum attributes, hence ``set.add``); where the CPU
    has no 512-bit vectors the attribute changes nothing. Call it in the body that holds the
    loop (an ``inline="always"`` callee's body lowers into its caller).
    """

    def codegen(context, builder, signature, args):
        set.add(builder.function.attributes, '"prefer-vector-width"="512"')
        return context.get_dummy_value()

    return types.none(), codegen


_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_LG1 = 6.666666666666735130e-01
_LG2 = 3.999999999940941908e-01
_LG3 = 2.857142874366239149e-01
_LG4 = 2.222219843214978396e-01
_LG5 = 1.818357216161805012e-01
_LG6 = 1.531383769920937332e-01
_LG7 = 1.479819860511658591e-01
_LOG_OFF = np.uint64(0x3FF0000000000000 - 0x3FE6A09E667F3BCD)
_LOG_BASE = np.uint64(0x3FE6A09E667F3BCD)
_MANT = np.uint64(0x000FFFFFFFFFFFFF)
_S52 = np.uint64(52)
_C1 = 4.16666666666666019037e-02
_C2 = -1.38888888888741095749e-03
_C3 = 2.48015872894767294178e-05
_C4 = -2.75573143513906633035e-07
_C5 = 2.08757232129817482790e-09
_C6 = -1.13596475577881948265e-11
_SN1 = -1.66666666666666324348e-01
_SN2 = 8.33333333332248946124e-03
_SN3 = -1.98412698298579493134e-04
_SN4 = 2.75573137070700676789e-06
_SN5 = -2.50507602534068634195e-08
_SN6 = 1.58969099521155010221e-10
_MAGIC = np.uint64(0x4330000000000000)  # 2^52 as float64 bits: OR in a 32-bit int, minus 2^52
_TWO52 = 4503599627370496.0
_TWO31 = 2147483648.0
_Q29 = np.uint64(1 << 29)
_S30_ = np.uint64(30)
_OFF31 = np.uint64(1 << 31)
_THREE = np.uint64(3)
_TWO = np.uint64(2)


@nb.njit(cache=True, inline="always")
def log_nb(x):  # pragma: no cover - compiled
    """Natural log of a positive normal float64 (musl's ``log``, branch-free, < 1 ulp)."""
    ix = _f2u(x) + _LOG_OFF
    k = np.float64(np.int64(ix >> _S52) - 1023)
    f = _u2f((ix & _MANT) + _LOG_BASE) - 1.0
    hfsq = 0.5 * f * f
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    r = z * (_LG1 + w * (_LG3 + w * (_LG5 + w * _LG7))) + w * (_LG2 + w * (_LG4 + w * _LG6))
    return s * (hfsq + r) + k * _LN2_LO - hfsq + f + k * _LN2_HI


@nb.njit(cache=True, inline="always")
def gaussian_pair_nb(bits):  # pragma: no cover - compiled
    """Two independent N(0, 1) from one word: ``R·cos θ, R·sin θ`` (Box–Muller).

    ``R = sqrt(−2 log u₁)`` with ``u₁`` from the high 32 bits and ``θ = 2π u₂`` from the low 32
    bits, as in :func:`projkit._backend.random.gaussian_pair_from_bits`; ``u₂`` is reduced by
    quarter turns exactly in integers (``q = round(4 u₂)``), so the polynomials only see
    ``|θ| ≤ π/4``. Ints become floats by the 2⁵² trick, which AVX2 vectorizes.
    """
    u1 = (_u2f((bits >> _S32) | _MAGIC) - _TWO52 + 0.5) * _INV_2_32
    v = bits & _LOW32
    q = (v + _Q29) >> _S30_  # round(4·u₂) in 0..4
    iy = v + (_OFF31 - (q << _S30_))  # v − q·2³⁰, shifted by 2³¹ to stay unsigned
    x = _TWO_PI * ((_u2f(iy | _MAGIC) - _TWO52 - _TWO31 + 0.5) * _INV_2_32)
    rad = np.sqrt(-2.0 * log_nb(u1))
    z = x * x
    w = z * z
    r = z * (_C1 + z * (_C2 + z * _C3)) + w * w * (_C4 + z * (_C5 + z * _C6))
    hz = 0.5 * z
    ww = 1.0 - hz
    c = ww + (((1.0 - ww) - hz) + z * r)
    rs = _SN2 + z * (_SN3 + z * _SN4) + z * w * (_SN5 + z * _SN6)
    s = x + z * x * (_SN1 + z * rs)
    m = q & _THREE  # rotate by m quarter turns: (cos, sin)(x + m·π/2)
    odd = m & _ONE_U
    a = s if odd else c
    b = c if odd else s
    a = -a if (m + _ONE_U) & _TWO else a
    b = -b if m & _TWO else b
    return rad * a, rad * b


@nb.njit(cache=True, inline="always")
def gaussian_entry_nb(row_hash, col):  # pragma: no cover - compiled
    """Entry ``col`` of the paired stream of a row: the cosine (even) or sine (odd) normal of
    the word ``hash_entry(row_hash, col // 2)``."""
    c = np.uint64(col)
    z0, z1 = gaussian_pair_nb(hash_entry_nb(row_hash, c >> _ONE_U))
    return z1 if c & _ONE_U else z0


@nb.njit(cache=True, inline="always")
def gaussian_row_nb(row_hash, c0, scale, out):  # pragma: no cover - compiled
    """``out[j] = scale · gaussian_entry_nb(row_hash, c0 + j)`` for a 1-D ``out``, two at a
    time (one word, one log, one sqrt per pair), vectorized at the CPU's widest registers."""
    wide_vectors()
    w = out.shape[0]
    j = 0
    if w > 0 and c0 & 1:
        out[0] = gaussian_entry_nb(row_hash, c0) * scale
        j = 1
    p0 = (c0 + j) >> 1
    npair = (w - j) >> 1
    for t in range(npair):
        z0, z1 = gaussian_pair_nb(hash_entry_nb(row_hash, p0 + t))
        out[j + 2 * t] = z0 * scale
        out[j + 2 * t + 1] = z1 * scale
    if (w - j) & 1:
        out[w - 1] = gaussian_entry_nb(row_hash, c0 + w - 1) * scale
