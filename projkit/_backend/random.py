"""Random numbers: SPEC-7 ``rng`` normalization and the counter-based hash behind every sketch.

Two kinds of randomness live here.

* A *generator* for algorithms that draw sequentially (DPP sampling, ...): :func:`check_rng`
  turns ``rng`` (None, an int, or a ``numpy.random.Generator``) into a
  ``numpy.random.Generator`` with :func:`numpy.random.default_rng`, exactly as SciPy does, and
  :func:`device_rng` gives the matching generator on a CuPy input's device.
* A *key* for operators whose entries must be a pure function of their position (sketches):
  :func:`draw_key` turns ``rng`` into one unsigned 64-bit integer (an int ``rng`` *is* the key,
  so two processes that share an int share the operator), and :func:`hash2` /
  :func:`hash_row` + :func:`hash_entry` map ``(key, a, b)`` to 64 pseudo-random bits.

The hash is SplitMix64's finalizer (Steele, Lea & Flood, "Fast splittable pseudorandom number
generators", OOPSLA 2014) applied twice: ``hash_entry(hash_row(key, a), b)`` with
``hash_row(key, a) = mix(key + (a + 1)·γ)`` and ``hash_entry(r, b) = mix(r ^ (b + 1)·γ')``. It
is integer-only, so the NumPy, Numba and CuPy versions below give bit-identical words; floats
made from them (uniforms, Gaussians) agree to rounding of ``log``/``cos`` on each device.
Every function here is vectorized over an array namespace ``xp`` (NumPy or CuPy); the scalar
``@njit`` twins for use inside Numba kernels live in :mod:`._random_numba` (kept apart so that
importing projkit does not import Numba).
"""

from __future__ import annotations

import numbers
from types import ModuleType
from typing import Any

import numpy as np

__all__ = [
    "check_rng",
    "device_rng",
    "draw_key",
    "gaussian_entries",
    "gaussian_from_bits",
    "gaussian_pair_from_bits",
    "hash2",
    "hash_entry",
    "hash_row",
    "sign_from_bits",
    "uniform_from_bits",
]

_M1 = 0xBF58476D1CE4E5B9
_M2 = 0x94D049BB133111EB
_GAMMA = 0x9E3779B97F4A7C15
_GAMMA2 = 0xD6E8FEB86659FD93
_MASK64 = (1 << 64) - 1
_TWO_PI = 2.0 * np.pi
_INV_2_53 = 1.0 / 9007199254740992.0
_INV_2_32 = 1.0 / 4294967296.0


def check_rng(rng: Any) -> np.random.Generator:
    """Normalize a SPEC-7 ``rng`` (None, int, Generator) to a ``numpy.random.Generator``.

    Raises
    ------
    TypeError
        For a legacy ``RandomState`` or anything else: projkit never touches global state.
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or (isinstance(rng, numbers.Integral) and not isinstance(rng, bool)):
        if rng is not None and int(rng) < 0:
            raise ValueError(f"rng: expected a non-negative int seed, got {rng}")
        return np.random.default_rng(None if rng is None else int(rng))
    if type(rng).__module__.startswith("cupy"):
        raise TypeError(
            "rng: a cupy Generator is accepted only with CuPy input; pass an int to share seeds"
        )
    raise TypeError(
        "rng: expected None, an int or a numpy.random.Generator "
        f"(SPEC 7), got {type(rng).__name__}"
    )


def device_rng(rng: Any, xp: ModuleType) -> Any:
    """A generator on ``xp``'s device: ``numpy.random.Generator`` or ``cupy.random.Generator``.

    An int seeds the device generator directly; a NumPy Generator seeds it with one draw.
    """
    if xp.__name__ in ("cupy", "array_api_compat.cupy"):
        import cupy

        if type(rng).__module__.startswith("cupy"):
            return rng
        if rng is None or isinstance(rng, numbers.Integral):
            return cupy.random.default_rng(rng)
        return cupy.random.default_rng(int(check_rng(rng).integers(0, 2**63)))
    return check_rng(rng)


def draw_key(rng: Any) -> int:
    """The 64-bit key that fixes a hashed operator.

    An int ``rng`` is its own key (reduced mod 2⁶⁴), so independent processes that share the
    int build the same operator; a Generator gives one draw; None gives fresh entropy.
    """
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        if int(rng) < 0:
            raise ValueError(f"rng: expected a non-negative int seed, got {rng}")
        return int(rng) & _MASK64
    if type(rng).__module__.startswith("cupy"):
        return int(rng.integers(0, 2**63)) & _MASK64
    gen = check_rng(rng)
    return int(gen.integers(0, 2**64 - 1, dtype=np.uint64, endpoint=True))


# ---------------------------------------------------------------------------------------------
# vectorized (NumPy or CuPy)


def _u64(xp: ModuleType, v: Any) -> Any:
    return xp.asarray(v, dtype=xp.uint64)


def _mix(xp: ModuleType, z: Any) -> Any:
    z = (z ^ (z >> _u64(xp, 30))) * _u64(xp, _M1)
    z = (z ^ (z >> _u64(xp, 27))) * _u64(xp, _M2)
    return z ^ (z >> _u64(xp, 31))


def hash_row(key: int, a: Any, xp: ModuleType = np) -> Any:
    """First stage: ``mix(key + (a + 1)·γ)`` for integer array ``a`` (uint64 result)."""
    a = xp.asarray(a).astype(xp.uint64)
    return _mix(xp, _u64(xp, key) + (a + _u64(xp, 1)) * _u64(xp, _GAMMA))


def hash_entry(row_hash: Any, b: Any, xp: ModuleType = np) -> Any:
    """Second stage: ``mix(row_hash ^ (b + 1)·γ')`` (broadcasts ``row_hash`` against ``b``)."""
    b = xp.asarray(b).astype(xp.uint64)
    return _mix(xp, xp.asarray(row_hash, dtype=xp.uint64) ^ ((b + _u64(xp, 1)) * _u64(xp, _GAMMA2)))


def hash2(key: int, a: Any, b: Any, xp: ModuleType = np) -> Any:
    """64 pseudo-random bits for each ``(a, b)`` pair under ``key`` (broadcasting)."""
    return hash_entry(hash_row(key, a, xp), b, xp)


def uniform_from_bits(bits: Any, xp: ModuleType = np) -> Any:
    """Uniform float64 in the open interval (0, 1) from the top 53 bits."""
    return ((bits >> _u64(xp, 11)).astype(xp.float64) + 0.5) * _INV_2_53


def gaussian_from_bits(bits: Any, xp: ModuleType = np) -> Any:
    """Standard normal float64 by Box–Muller from the two 32-bit halves of each word."""
    hi = ((bits >> _u64(xp, 32)).astype(xp.float64) + 0.5) * _INV_2_32
    lo = ((bits & _u64(xp, 0xFFFFFFFF)).astype(xp.float64) + 0.5) * _INV_2_32
    return xp.sqrt(-2.0 * xp.log(hi)) * xp.cos(_TWO_PI * lo)


def sign_from_bits(bits: Any, xp: ModuleType = np) -> Any:
    """±1.0 (float64) from the top bit."""
    return 1.0 - 2.0 * (bits >> _u64(xp, 63)).astype(xp.float64)


def gaussian_pair_from_bits(bits: Any, xp: ModuleType = np) -> tuple[Any, Any]:
    """Two independent standard normals per word (Box–Muller's cosine and sine), float64.

    ``R = sqrt(−2 log u₁)`` with ``u₁`` from the high 32 bits; the angle ``2π u₂`` (low 32
    bits) is reduced by quarter turns exactly in integers, ``q = round(4 u₂)``, so that
    ``cos``/``sin`` see only ``|θ| ≤ π/4``: the same arithmetic as the vectorized Numba twin
    :func:`._random_numba.gaussian_pair_nb`, whose results agree with these to a few ulp.
    """
    u1 = ((bits >> _u64(xp, 32)).astype(xp.float64) + 0.5) * _INV_2_32
    v = bits & _u64(xp, 0xFFFFFFFF)
    q = (v + _u64(xp, 1 << 29)) >> _u64(xp, 30)
    iy = v + (_u64(xp, 1 << 31) - (q << _u64(xp, 30)))
    x = _TWO_PI * ((iy.astype(xp.float64) - 2147483648.0 + 0.5) * _INV_2_32)
    rad = xp.sqrt(-2.0 * xp.log(u1))
    c, s = xp.cos(x), xp.sin(x)
    m = q & _u64(xp, 3)
    odd = (m & _u64(xp, 1)) != _u64(xp, 0)
    a = xp.where(odd, s, c)
    b = xp.where(odd, c, s)
    a = xp.where(((m + _u64(xp, 1)) & _u64(xp, 2)) != _u64(xp, 0), -a, a)
    b = xp.where((m & _u64(xp, 2)) != _u64(xp, 0), -b, b)
    return rad * a, rad * b


def gaussian_entries(key: int, a: Any, b: Any, xp: ModuleType = np) -> Any:
    """The paired Gaussian stream: N(0, 1) for each ``(a, b)`` under ``key`` (broadcasting).

    Entry ``(a, b)`` is the cosine (even ``b``) or sine (odd ``b``) normal of the word
    ``hash2(key, a, b // 2)``, so each entry is a pure function of ``(key, a, b)`` and a row
    of consecutive entries costs one word, one ``log`` and one ``sqrt`` per pair. This is
    the stream of the Gaussian sketch on every engine.
    """
    b = xp.asarray(b).astype(xp.uint64)
    z0, z1 = gaussian_pair_from_bits(hash2(key, a, b >> _u64(xp, 1), xp), xp)
    return xp.where((b & _u64(xp, 1)) != _u64(xp, 0), z1, z0)
