"""Dense ℓ∞ sketch and sketch-and-solve least squares.

For least squares ``x* = argmin ‖Ax − b‖₂`` the sketched solution ``x' = argmin ‖SAx − Sb‖₂``
can satisfy the coordinate-wise guarantee

    ‖x' − x*‖∞ ≤ ε/√d · ‖Ax* − b‖₂ · ‖A†‖₂          with probability ≥ 1 − δ.

**What is the paper's.** Song, Ye, Yin & Zhang ("A Nearly-Optimal Bound for Fast Regression with
ℓ∞ Guarantee", ICML 2023, arXiv:2302.00248; statement from its abstract, the only part of the
text retrieved for this comparison) prove that *there exists a distribution of dense sketching
matrices* with ``m = ε⁻² d log³(n/δ)`` rows (no constant given) that gives this guarantee, with
``SA`` computable in ``O(nd log n)``; their analysis goes through the Oblivious Coordinate-wise
Embedding property of Song & Yu (ICML 2021). The ``O(nd log n)`` cost is that of a subsampled
randomized Hadamard transform, whose rows are dense (every entry ``±1/√m``); projkit's
``method="srht"`` is that matrix. Price, Song & Woodruff (ICALP 2017) show that sparse sketches
(CountSketch, leverage sampling) cannot give the guarantee.

**What is projkit's.** ``"linf"`` is ``S = G Π``: an SRHT ``Π`` to ``m₁ = intermediate`` rows
(default ``min(n, 4m)``) followed by a dense Gaussian ``G`` (``m × m₁``, entries N(0, 1/m)).
It is *not* a construction taken from the paper, and no theorem covers it as a whole; what
can be said is by composition: if ``Π`` (at ``m₁`` rows) and ``G`` (at ``m`` rows) each give
the guarantee with accuracy ``ε/3`` for the problem they see (``G`` sees ``(ΠA, Πb)``, whose
residual norm and ``‖(ΠA)†‖`` are within ``1 ± ε/3`` of the original when ``Π`` is a subspace
embedding), the triangle inequality gives it with accuracy ``ε`` — with the paper's unstated
constants. Its cost is ``O(nd log n + m m₁ d)``: the Gaussian stage dominates once
``8m² ≳ n log₂ n`` (measured with ``d = 20``: at ``n = 2¹⁷`` ``"linf"`` is 1.8× the SRHT's CPU
time at ``m = 1024`` and 12× at ``m = 4096``; at the default size for ``eps = 0.5`` it is
``8m² ≈ 70 n log₂ n`` there), so for large ``m`` the ``O(nd log n)`` cost holds for ``"srht"``, not
for ``"linf"``. ``E[SᵀS] = ΠᵀE[GᵀG]Π = E[ΠᵀΠ] = I``. Both stages are generated from the key's
hash, so ``"linf"`` sketches merge blockwise like every linear sketch.
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import numpy as np

from .._backend import linalg
from .._backend import random as prand
from .._backend.namespace import is_sparse
from .._backend.random import draw_key
from .._backend.validation import check_input, check_positive_int, check_size
from . import _core
from . import linear as _lin
from ._core import Sketch, register

__all__ = ["default_lstsq_size", "sketch_lstsq"]

_C_LINF = 0.02  # constant of the paper's row count, see default_lstsq_size


def _linf_apply(A: Any, size: int, key: int, xp: ModuleType, offset: int, n_total: int,
                intermediate: int) -> Any:
    k_pi = int(prand.hash2(key, np.uint64(21), np.uint64(0)))
    k_g = int(prand.hash2(key, np.uint64(22), np.uint64(0)))
    p_pi = _lin._params("srht", intermediate, A.shape[0], k_pi,
                        {"offset": offset, "n_total": n_total})
    Y = _lin._apply(p_pi, A, xp)  # m₁ × d, dense
    p_g = _lin._params("gaussian", size, intermediate, k_g, {})
    return _lin._apply(p_g, Y, xp)


def _sketch_linf(A: Any, size: int, key: int, xp: ModuleType, **options: Any) -> Sketch:
    options = dict(options)
    n = A.shape[0]
    offset = check_positive_int(options.pop("offset", 0), name="offset", low=0)
    n_total = options.pop("n_total", None)
    n_total = offset + n if n_total is None else check_positive_int(n_total, name="n_total")
    if offset + n > n_total:
        raise ValueError(f"offset: rows {offset}..{offset + n} exceed n_total={n_total}")
    inter = options.pop("intermediate", None)
    inter = min(n_total, 4 * size) if inter is None else check_positive_int(
        inter, name="intermediate", low=size, high=n_total)
    if options:
        raise TypeError(f"unexpected option(s) for method='linf': {sorted(options)}")
    opts: dict[str, Any] = {"intermediate": inter}
    if n_total != n or offset:
        opts["n_total"] = n_total
    return Sketch(method="linf", size=size, key=key, n_rows=n,
                  matrix=_linf_apply(A, size, key, xp, offset, n_total, inter),
                  options=opts, offset=offset)


def default_lstsq_size(n: int, d: int, *, eps: float = 0.5, delta: float = 0.1) -> int:
    """The paper's row count ``m = ⌈c ε⁻² d log³(n/δ)⌉`` (capped at ``n``), ``c = 0.02``.

    Song et al. prove ``m = O(ε⁻² d log³(n/δ))`` without a constant; ``c = 0.02`` keeps the
    paper's form and is **empirical**: it was tuned so that the ℓ∞ guarantee held on every seed
    of projkit's own test designs (a coherent ``2048 × 10`` design and a Gaussian ``3000 × 8``
    one), and no theorem gives it. Validated afterwards on designs not used to choose it (a
    coherent ``5000 × 20`` design with leverage 1 rows and the residual on 40 other rows, a
    Student-t(1.5) ``8000 × 15`` design with t(2) noise, a sparse ``10000 × 12`` design of
    density 0.005 with a 30-row residual, an ill-conditioned ``6000 × 30`` design with
    condition number 10⁴; ``eps`` 1 and 0.5, ``delta = 0.1``, 40 seeds each): no failure in
    320 solves for ``"linf"`` nor for ``"srht"`` at the same size (the largest error was 0.81
    of the bound), i.e. a measured failure rate of 0 against ``δ = 0.1`` (95 % upper
    confidence limit 0.9 % over the 320, 7 % per design and ``eps``). The margin is small:
    at a quarter of the default size (``c = 0.005``, ``eps = 1``) the coherent design failed
    on 33 % of 40 seeds and the sparse one on 10 %, above ``δ``; at ``c/16`` every design
    failed on 38-100 % of the seeds. Pass ``size=`` to :func:`sketch_lstsq` to choose it
    yourself.

    Examples
    --------
    >>> default_lstsq_size(100_000, 20)
    4220
    """
    if not 0 < eps:
        raise ValueError(f"eps: expected a positive float, got {eps}")
    if not 0 < delta < 1:
        raise ValueError(f"delta: expected a float in (0, 1), got {delta}")
    m = math.ceil(_C_LINF * d * math.log(n / delta) ** 3 / eps**2)
    return int(min(n, max(m, d + 1)))


def sketch_lstsq(A: Any, b: Any, *, size: int | None = None, method: str = "linf",
                 eps: float = 0.5, delta: float = 0.1, rng: Any = None) -> Any:
    """Sketch-and-solve least squares: ``argmin_x ‖S(Ax − b)‖₂``.

    Parameters
    ----------
    A : array or sparse matrix, shape (n, d)
        Full column rank (``numpy.linalg.LinAlgError`` otherwise: the sketched problem would
        have no unique solution).
    b : array, shape (n,) or (n, k)
    size : int, optional
        Rows of the sketch; by default :func:`default_lstsq_size` of ``(n, d, eps, delta)``.
    method : {"linf", "gaussian", "srht", "countsketch", "sparse_sign", "sparse"}
        ``"linf"`` carries the ℓ∞ guarantee; the sparse ones only the ℓ₂ one.
    eps, delta : float
        Accuracy and failure probability of the ℓ∞ guarantee (used for the default size).
    rng : None, int or numpy.random.Generator
        SPEC 7.

    Returns
    -------
    x : array, shape (d,) or (d, k)
        On ``A``'s device, in ``A``'s float dtype.

    Notes
    -----
    With ``x*`` the exact solution, the target is ``‖x − x*‖∞ ≤ ε/√d ‖Ax* − b‖₂ ‖A†‖₂`` with
    probability ``1 − δ``. Song et al. (2023) prove that a dense sketch with
    ``m = O(ε⁻² d log³(n/δ))`` rows achieves it; the default size uses that form with an
    **empirical** constant ``c = 0.02`` (see :func:`default_lstsq_size`), so at the default
    size the guarantee is a measured property (no failure in 320 solves on four designs not
    used to choose ``c``, and on the tests' designs), not a theorem. ``"linf"`` itself is
    projkit's composition of an SRHT and a Gaussian (module docstring), covered only by
    composing the two stages' guarantees. The small problem is solved by a QR-based
    least-squares solver on the ``size × d`` sketch.

    References
    ----------
    Z. Song, M. Ye, J. Yin, L. Zhang. A Nearly-Optimal Bound for Fast Regression with ℓ∞
    Guarantee. ICML 2023.

    Examples
    --------
    >>> import numpy as np, projkit
    >>> rng = np.random.default_rng(0)
    >>> A = rng.standard_normal((4000, 5)); x0 = np.arange(5.0)
    >>> b = A @ x0 + 0.01 * rng.standard_normal(4000)
    >>> x = projkit.sketch_lstsq(A, b, size=400, rng=1)
    >>> bool(np.abs(x - x0).max() < 0.01)
    True
    """
    A, xp, back = check_input(A, name="A")
    n, d = A.shape
    b, _, _ = check_input(b, name="b", ndim=(1, 2), accept_sparse=False, dtype=A.dtype)
    if b.shape[0] != n:
        raise ValueError(f"b: expected {n} rows (the rows of A), got shape {tuple(b.shape)}")
    if n < d:
        raise ValueError(f"A: expected at least as many rows as columns, got shape {(n, d)}")
    size = default_lstsq_size(n, d, eps=eps, delta=delta) if size is None else \
        check_size(size, upper=n, upper_name="the rows of A")
    if size < d:
        raise ValueError(f"size: expected at least d={d} rows to solve, got {size}")
    key = draw_key(rng)
    spec = _core._get_method(method)
    vec = b.ndim == 1
    B = b[:, None] if vec else b
    # the body of projkit.sketch on [A, b]: both are checked, size is at most n, key is an int
    sk = spec.sketch(_hstack(A, B, xp), size, key, xp)
    SA, Sb = sk.matrix[:, :d], sk.matrix[:, d:]
    x = _solve_small(SA, Sb, xp)
    return back(x[:, 0] if vec else x)


def _hstack(A: Any, B: Any, xp: ModuleType) -> Any:
    if is_sparse(A):
        return linalg.sparse_module(xp).hstack([A, linalg.csr(xp, B)], format="csr")
    return xp.concatenate([A, B], axis=1)


def _solve_small(SA: Any, Sb: Any, xp: ModuleType) -> Any:
    """Least squares on the sketch by Householder QR (raises LinAlgError if rank deficient)."""
    Q, R = xp.linalg.qr(SA)
    diag = xp.abs(xp.diagonal(R))
    tiny = float(xp.max(diag)) * max(SA.shape) * linalg.eps(SA.dtype)
    if float(xp.min(diag)) <= tiny:
        raise np.linalg.LinAlgError("A: the sketched matrix is rank deficient; A must have "
                                    "full column rank (or increase size)")
    return linalg.solve_triangular(xp, R, Q.T @ Sb, lower=False)


register("linf", sketch=_sketch_linf, matmul=_lin._linear_matmul, merge=_lin._linear_merge,
         linear=True)
