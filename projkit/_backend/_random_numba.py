"""Scalar Numba twins of :mod:`projkit._backend.random` for use inside compiled kernels.

Bit-identical to the vectorized versions (integer-only hash); see that module for the design.
"""

import numba as nb
import numpy as np

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
