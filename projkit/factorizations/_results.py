"""Result types shared by the factorizations (small frozen dataclasses of device arrays)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._backend.estimator import compact_repr

__all__ = ["SVD"]


@dataclass(frozen=True)
class SVD:
    """A (truncated) singular value decomposition ``A ≈ U @ diag(s) @ Vt``.

    Attributes
    ----------
    U : array, shape (m, k)
        Left singular vectors (orthonormal columns).
    s : array, shape (k,)
        Singular values, non-increasing.
    Vt : array, shape (k, n)
        Right singular vectors as rows (orthonormal rows).
    """

    U: Any
    s: Any
    Vt: Any

    __repr__ = compact_repr

    def __iter__(self):  # allows ``U, s, Vt = rsvd(...)``
        return iter((self.U, self.s, self.Vt))

    @property
    def rank(self) -> int:
        """Number of singular triplets kept."""
        return int(self.s.shape[0])

    def to_dense(self) -> Any:
        """The matrix ``U diag(s) Vt`` (forms an m × n array)."""
        return (self.U * self.s[None, :]) @ self.Vt
