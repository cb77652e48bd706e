"""Gradient low-rank projectors for memory-efficient training (GaLore and its SVD-free kin).

A training library keeps its optimizer state (Adam's moments) for a weight matrix ``W`` (m × n)
in a rank-``r`` subspace: it projects each gradient ``G`` onto a basis ``P``, runs the optimizer
on the small ``R = Pᵀ G``, and maps the step back with ``P``. :class:`GradientProjector` is that
basis, refreshed every ``update_gap`` steps by one of five methods:

=============== ========================================================== =================
method          refresh                                                    basis kept
=============== ========================================================== =================
``svd``         full SVD of ``G``, top ``r`` singular vectors (GaLore)     ``P`` (d × r)
``rsvd``        randomized SVD (:func:`projkit.rsvd`)                      ``P`` (d × r)
``dct``         the ``r`` DCT-II columns best aligned with ``G``           ``r`` indices
``online_pca``  one Oja / online-PCA step per call (Online Subspace        ``P`` (d × r)
                Descent)
``sparse_rows`` ``r`` rows sampled ∝ their squared norm, rescaled to be    indices + scales
                unbiased (GRASS)
=============== ========================================================== =================

``d`` is the side the basis lives on: ``side="left"`` projects the rows (``R = Pᵀ G``, r × n),
``"right"`` the columns (``R = G P``, m × r); ``"auto"`` follows GaLore (right when m ≥ n).
The DCT matrix is never stored per layer: it is built once per (size, dtype, device) and shared.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import numpy as np

from .._backend import check_input, check_rng, native
from .._backend.namespace import is_torch
from .._backend.threads import serial_blas
from ._dct import dct_coefficients, dct_matrix
from ._lowrank_xp import grass, oja, rsvd_left, seed_from, svd_left
from ._lowrank_xp import mT as _T

__all__ = ["GradientProjector"]

_METHODS = ("svd", "rsvd", "dct", "online_pca", "sparse_rows")
_SIDES = ("auto", "left", "right")


class GradientProjector:
    """A rank-``r`` gradient projector refreshed every ``update_gap`` steps (GaLore-style).

    Parameters
    ----------
    rank : int
        Rank ``r`` of the subspace. Values larger than the projected side are clipped to it
        (the projection is then the identity).
    method : {"svd", "rsvd", "dct", "online_pca", "sparse_rows"}, default "svd"
        How the basis is refreshed (see the module docstring and Notes).
    side : {"auto", "left", "right"}, default "auto"
        ``"left"``: ``R = Pᵀ G`` (r × n), ``P`` spans columns of ``G``; ``"right"``:
        ``R = G P`` (m × r). ``"auto"`` picks ``"right"`` when m ≥ n, else ``"left"`` (GaLore),
        so the basis lives on the shorter side.
    update_gap : int, default 200
        The basis is refreshed when ``step % update_gap == 0`` (and at the first call).
        ``online_pca`` ignores it: it takes one Oja step on every call.
    scale : float, default 1.0
        Factor applied by :meth:`project_back` (GaLore's ``α``).
    oversample, n_iter : int
        Oversampling and power iterations for ``method="rsvd"`` (see :func:`projkit.rsvd`).
    oja_lr : float, default 1.0
        Step size ``η`` of the Oja update for ``method="online_pca"`` (scale-free: the step is
        normalized by the mean Rayleigh quotient ``‖Hᵀ P‖_F² / r``). Larger values track the
        top subspace faster (``η → ∞`` is subspace iteration), smaller ones average over more
        steps of a noisy stream.
    rng : None, int or numpy.random.Generator
        Randomness for ``rsvd``, the ``online_pca`` start and ``sparse_rows`` sampling (SPEC 7;
        draws on CuPy happen on the device, seeded from this generator).

    Attributes
    ----------
    basis : array
        The current basis ``P`` (d × r) for ``svd``/``rsvd``/``online_pca``; the selected
        indices (r,) for ``dct`` and ``sparse_rows``. A leading batch axis in the batched form.
    scales : array or None
        ``sparse_rows`` only: the rescaling of each selected row.
    refreshed : bool
        Whether the last :meth:`project` call refreshed the basis.
    last_refresh : int or None
        The step of the latest refresh.

    Notes
    -----
    Write ``H = G`` (left) or ``H = Gᵀ`` (right), ``d × k``. For the orthonormal methods
    (``svd``, ``rsvd``, ``dct``, ``online_pca``) ``project_back(project(G)) = s · P Pᵀ H`` is the
    orthogonal projection onto ``range(P)`` (idempotent, residual orthogonal to ``P``).

    * ``svd`` (GaLore): ``P = U[:, :r]`` from ``H = U Σ Vᵀ``; the best rank-``r`` subspace.
      On NumPy, float32 (and lower) gradients get it from the top-``r`` eigenvectors of the
      float64 Gram matrix ``H Hᵀ`` while ``(σ₁/σ_r)² ≤ u₃₂/u₆₄``: as accurate as a float32 SVD,
      about 5× cheaper; float64 gradients and the rest always take LAPACK's ``gesdd``.
    * ``rsvd``: the same from a randomized SVD (a few GEMMs instead of a full SVD).
    * ``dct`` (Modoranu et al.): with ``Q`` the orthonormal DCT-II basis, the scores are
      ``‖Hᵀ q_j‖₂`` (row norms of ``Qᵀ H``, one FFT pass); the top-``r`` columns are kept. Since
      ``‖Pᵀ H‖² = Σ_{j∈S} ‖Hᵀq_j‖²``, this selection maximizes captured energy over all
      ``r``-subsets of DCT columns. Only the indices are stored per layer.
    * ``online_pca`` (Liang et al.): ``P ← qr(P + η H Hᵀ P / c)`` with ``c = ‖Hᵀ P‖_F² / r``,
      one Oja step per call, started from ``qr(H Ω)`` with Gaussian ``Ω``; on a stationary
      stream it converges to the top-``r`` subspace at the rate of subspace iteration on
      ``I + η HHᵀ/c``.
    * ``sparse_rows`` (GRASS): ``r`` rows drawn with replacement with ``p_i ∝ ‖h_i‖²``; row
      ``i`` drawn ``c_i`` times gets scale ``√(c_i / (r p_i))``, so ``E[P Pᵀ] = I`` and
      ``project_back(project(G))`` is an unbiased estimate of ``G`` (not a projection).
      Unused slots (duplicates merged) are filled with scale 0.

    :meth:`rotation` gives ``C = P_newᵀ P_prev`` (r × r): optimizer moments ``M`` kept in the old
    basis move to the new one as ``C M``. ``C`` is orthogonal when both bases span the same
    subspace, a selection matrix for ``dct``, and a contraction in general.

    Shapes. A gradient of shape ``(m, n)`` is used as is; a 1-D gradient ``(n,)`` as ``(1, n)``;
    a gradient with more axes (a conv kernel ``(out, in, kh, kw)``) as ``(out, in·kh·kw)``, the
    matricization that keeps output channels as rows. :meth:`project_back` restores the shape.
    A list (or tuple) of equal-shape gradients is the batched form: each layer keeps its own
    basis, ``R`` gains a leading batch axis, and ``project_back`` returns a stacked array.

    NumPy and CuPy arrays are used directly; torch tensors (and other DLPack arrays) are viewed
    as NumPy/CuPy without copying (CUDA stays on its device), and results come back as tensors.
    Half-precision gradients (float16, torch's bfloat16) are projected in float32.
    The gradient is checked for NaN/inf only at a refresh (a check forces a device sync).

    References
    ----------
    .. [1] J. Zhao et al., "GaLore: Memory-Efficient LLM Training by Gradient Low-Rank
       Projection", ICML 2024.
    .. [2] I. Modoranu et al., "SVD-Free Low-Rank Adaptive Gradient Optimization for Large
       Language Models", 2025.
    .. [3] K. Liang et al., "Memory-Efficient LLM Training with Online Subspace Descent",
       NeurIPS 2024.
    .. [4] A. Muhamed et al., "Grass: Compute Efficient Low-Memory LLM Training with Structured
       Sparse Gradients", EMNLP 2024.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> G = rng.standard_normal((20, 3)) @ rng.standard_normal((3, 30))
    >>> proj = GradientProjector(3, method="svd")
    >>> R = proj.project(G, step=0)
    >>> R.shape
    (3, 30)
    >>> bool(np.allclose(proj.project_back(R), G))
    True
    """

    rank: int
    method: str
    side: str
    update_gap: int
    scale: float
    oversample: int
    n_iter: int | str
    oja_lr: float
    _rng: np.random.Generator
    _layout: dict[str, Any] | None

    def __init__(
        self,
        rank: int,
        *,
        method: str = "svd",
        side: str = "auto",
        update_gap: int = 200,
        scale: float = 1.0,
        oversample: int = 10,
        n_iter: int | str = 2,
        oja_lr: float = 1.0,
        rng: Any = None,
    ) -> None:
        if isinstance(rank, bool) or not isinstance(rank, numbers.Integral) or rank < 1:
            raise ValueError(f"rank: expected a positive int, got {rank!r}")
        if method not in _METHODS:
            raise ValueError(f"method: expected one of {_METHODS}, got {method!r}")
        if side not in _SIDES:
            raise ValueError(f"side: expected one of {_SIDES}, got {side!r}")
        if (isinstance(update_gap, bool) or not isinstance(update_gap, numbers.Integral)
                or update_gap < 1):
            raise ValueError(f"update_gap: expected a positive int, got {update_gap!r}")
        if not isinstance(scale, numbers.Real) or not math.isfinite(scale):
            raise ValueError(f"scale: expected a finite real number, got {scale!r}")
        if not isinstance(oja_lr, numbers.Real) or not oja_lr > 0:
            raise ValueError(f"oja_lr: expected a positive number, got {oja_lr!r}")
        if isinstance(oversample, bool) or not isinstance(oversample, numbers.Integral) \
                or oversample < 0:
            raise ValueError(f"oversample: expected a non-negative int, got {oversample!r}")
        if n_iter != "auto" and (isinstance(n_iter, bool) or not isinstance(
                n_iter, numbers.Integral) or n_iter < 0):
            raise ValueError(f"n_iter: expected a non-negative int or 'auto', got {n_iter!r}")
        self.rank = int(rank)
        self.method = method
        self.side = side
        self.update_gap = int(update_gap)
        self.scale = float(scale)
        self.oversample = int(oversample)
        self.n_iter = n_iter
        self.oja_lr = float(oja_lr)
        self._rng = check_rng(rng)
        self._reset()

    def _reset(self) -> None:
        self._layout = None
        self._P: Any = None  # (B, d, r) dense basis, or (B, r) indices
        self._scales: Any = None  # (B, r), sparse_rows
        self._rot: Any = None  # (B, r, r): P_newᵀ P_prev at the latest refresh
        self._back: Any = _identity
        self.refreshed = False
        self.last_refresh: int | None = None

    def __repr__(self) -> str:
        return (f"GradientProjector(rank={self.rank}, method={self.method!r}, side={self.side!r},"
                f" update_gap={self.update_gap}, scale={self.scale})")

    # -- input handling -----------------------------------------------------------------------

    def _as_stack(self, G: Any, name: str) -> tuple[Any, ModuleType, bool, tuple[int, ...]]:
        """Validate ``G`` (array or list of equal-shape arrays) → (B, m, n) native stack."""
        batched = isinstance(G, list | tuple)
        items = list(G) if batched else [G]
        if batched and not items:
            raise ValueError(f"{name}: expected a non-empty list of gradients, got an empty list")
        arrs = []
        back = None
        for j, g in enumerate(items):
            if is_torch(g) and str(g.dtype) in ("torch.bfloat16", "torch.float16"):
                g = g.float()  # NumPy/CuPy have no bfloat16: half precision works in float32
            nm = f"{name}[{j}]" if batched else name
            if getattr(g, "ndim", None) == 0:
                raise ValueError(f"{nm}: expected an array with at least 1 dimension, got a scalar")
            # float16 (NumPy, CuPy or another DLPack library) is projected in float32
            half = str(getattr(g, "dtype", "")).rsplit(".", 1)[-1] == "float16"
            a, _, b = check_input(g, name=nm, ndim=tuple(range(1, 9)), accept_sparse=False,
                                  finite=False, dtype=np.float32 if half else None)
            if 0 in tuple(a.shape):
                raise ValueError(f"{nm}: expected a non-empty gradient, got shape "
                                 f"{tuple(a.shape)}")
            back = back or b
            arrs.append(a)
        xp = _namespace(arrs[0])
        shape = tuple(arrs[0].shape)
        for j, a in enumerate(arrs[1:], 1):
            if type(a) is not type(arrs[0]):
                raise TypeError(f"{name}[{j}]: mixes array libraries with {name}[0]")
            if tuple(a.shape) != shape or a.dtype != arrs[0].dtype:
                raise ValueError(f"{name}[{j}]: expected shape {shape} and dtype "
                                 f"{arrs[0].dtype} like {name}[0], got {tuple(a.shape)} "
                                 f"and {a.dtype}")
        m, n = _matrix_shape(shape)
        mats = [xp.reshape(a, (m, n)) for a in arrs]
        stack = xp.stack(mats) if batched else mats[0][None]
        self._back = back
        return stack, xp, batched, shape

    def _bind(self, stack: Any, shape: tuple[int, ...], batched: bool) -> dict[str, Any]:
        B, m, n = stack.shape
        lay = self._layout
        want = {"shape": shape, "batch": B if batched else None,
                "dtype": np.dtype(str(stack.dtype))}
        if lay is None:
            side = self.side if self.side != "auto" else ("right" if m >= n else "left")
            d = m if side == "left" else n
            lay = dict(want, side=side, m=m, n=n, d=d, k=n if side == "left" else m,
                       r=min(self.rank, d))
            self._layout = lay
            return lay
        for key, val in want.items():
            if lay[key] != val:
                raise ValueError(f"G: this projector is bound to {key} {lay[key]!r} (its first "
                                 f"gradient), got {val!r}; use one projector per layer or group")
        return lay

    # -- public API -----------------------------------------------------------------------------

    def project(self, G: Any, step: int) -> Any:
        """The low-rank representation ``R`` of ``G``, refreshing the basis when due.

        Parameters
        ----------
        G : array or list of arrays
            The gradient (NumPy, CuPy or torch), or a list of equal-shape gradients.
        step : int
            The optimizer step; the basis is refreshed when ``step % update_gap == 0``, at the
            first call, and (``online_pca``) on every call.

        Returns
        -------
        R : array
            ``Pᵀ G`` (r × n) for ``side="left"``, ``G P`` (m × r) for ``"right"``; a leading
            batch axis for a list input. Same library, device and dtype as ``G``.
        """
        if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 0:
            raise ValueError(f"step: expected a non-negative int, got {step!r}")
        stack, xp, batched, shape = self._as_stack(G, "G")
        lay = self._bind(stack, shape, batched)
        H = stack if lay["side"] == "left" else _T(xp, stack)
        due = self._due(step)
        RH = None
        # small per-layer products and factorizations: one BLAS thread (they fight torch's
        # OpenMP threads otherwise) unless the projection itself is a large GEMM
        with serial_blas(xp, work=2.0 * math.prod(H.shape) * lay["r"]):
            if due:
                _check_finite(xp, stack)
                RH = self._refresh(xp, H, lay["r"])
                self.refreshed = True
                self.last_refresh = int(step)
            else:
                self.refreshed = False
            if RH is None:
                RH = self._project_body(xp, H)
        R = RH if lay["side"] == "left" else _T(xp, RH)
        if not batched:
            R = R[0]
        return self._back(xp.ascontiguousarray(R))

    def project_back(self, R: Any) -> Any:
        """The full-size update ``scale · P R`` (left) or ``scale · R Pᵀ`` (right).

        Parameters
        ----------
        R : array
            A low-rank array shaped like the output of :meth:`project`.

        Returns
        -------
        array
            Shaped like the gradient (stacked along a leading axis in the batched form).
        """
        lay = self._require()
        a, xp, back = check_input(R, name="R", ndim=(2, 3), accept_sparse=False, finite=False,
                                  dtype=lay["dtype"])
        r, k = lay["r"], lay["k"]
        want: tuple[int, ...] = (r, k) if lay["side"] == "left" else (k, r)
        if lay["batch"] is not None:
            want = (lay["batch"], *want)
        if tuple(a.shape) != want:
            raise ValueError(f"R: expected shape {want} (the output of project), got "
                             f"{tuple(a.shape)}")
        RH = a if lay["side"] == "left" else _T(xp, a)
        if lay["batch"] is None:
            RH = RH[None]
        with serial_blas(xp, work=2.0 * math.prod(RH.shape) * lay["d"]):
            full = self._back_body(xp, RH)
        if lay["side"] == "right":
            full = _T(xp, full)
        if self.scale != 1.0:
            full = full * xp.asarray(self.scale, dtype=full.dtype)
        out_shape = lay["shape"] if lay["batch"] is None else (lay["batch"], *lay["shape"])
        if lay["batch"] is None:
            full = full[0]
        return back(xp.reshape(xp.ascontiguousarray(full), out_shape))

    @property
    def basis(self) -> Any:
        """The current basis ``P`` (d × r), or the selected indices (r,) for dct/sparse_rows."""
        if self._P is None:
            return None
        return self._back(self._squeeze(self._P))

    @property
    def scales(self) -> Any:
        """``sparse_rows``: the scale of each selected row (None otherwise)."""
        if self._scales is None:
            return None
        return self._back(self._squeeze(self._scales))

    def basis_matrix(self) -> Any:
        """The basis as a dense ``d × r`` matrix with orthonormal columns (``sparse_rows``: the
        scaled selection matrix), whatever the method stores."""
        lay = self._require()
        xp = _namespace(self._P)
        return self._back(self._squeeze(self._dense(xp, self._P, self._scales, lay)))

    def rotation(self, prev: Any = None) -> Any:
        """The r × r change of basis ``C = P_newᵀ P_prev`` that carries moments across a refresh.

        Parameters
        ----------
        prev : None, GradientProjector, dict or array
            The earlier basis: None for the one replaced at the latest refresh; another
            projector or a :meth:`state_dict`; or an array as returned by :attr:`basis`
            (indices for ``dct``; ``sparse_rows`` needs a projector or a state dict).

        Returns
        -------
        C : array, shape (r, r) (batched: (B, r, r))
            A moment ``M`` (r × ·) kept in the old basis becomes ``C @ M`` (left side); for the
            right side (``R`` is m × r) it becomes ``M @ C.T``.

        Examples
        --------
        >>> import numpy as np
        >>> G = np.random.default_rng(0).standard_normal((8, 12))
        >>> p = GradientProjector(3, method="dct", update_gap=2)
        >>> _ = p.project(G, 0); _ = p.project(G[::-1], 2)
        >>> C = p.rotation()
        >>> C.shape, bool(np.all((C == 0) | (C == 1)))
        ((3, 3), True)
        """
        lay = self._require()
        xp = _namespace(self._P)
        if prev is None:
            if self._rot is None:
                raise ValueError("prev: no earlier basis yet (the basis was set once); pass one")
            return self._back(self._squeeze(self._rot))
        Pp, Sp = self._coerce_prev(prev, xp, lay)
        C = self._rotation_body(xp, self._P, self._scales, Pp, Sp, lay)
        return self._back(self._squeeze(C))

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume: options, layout, basis, last rotation and rng state.

        Arrays are in the library of the latest input (torch tensors for torch training)."""
        def out(a: Any) -> Any:
            return None if a is None else self._back(a)

        return {
            "method": self.method, "rank": self.rank, "side": self.side,
            "update_gap": self.update_gap, "scale": self.scale, "oversample": self.oversample,
            "n_iter": self.n_iter, "oja_lr": self.oja_lr,
            "layout": None if self._layout is None else dict(
                self._layout, dtype=self._layout["dtype"].str),
            "basis": out(self._P), "scales": out(self._scales), "rotation": out(self._rot),
            "refreshed": self.refreshed, "last_refresh": self.last_refresh,
            "rng": self._rng.bit_generator.state,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` (the options must match this projector's)."""
        if not isinstance(state, dict):
            raise TypeError(f"state: expected a dict from state_dict(), got {type(state).__name__}")
        for key in ("method", "rank", "side"):
            if state.get(key) != getattr(self, key):
                raise ValueError(f"state: {key} is {state.get(key)!r} but this projector has "
                                 f"{getattr(self, key)!r}")
        self._reset()
        for key in ("update_gap", "scale", "oversample", "n_iter", "oja_lr"):
            if key in state:
                setattr(self, key, state[key])
        lay = state.get("layout")
        if lay is not None:
            lay = dict(lay, dtype=np.dtype(lay["dtype"]), shape=tuple(lay["shape"]))
        self._layout = lay

        def inp(a: Any) -> Any:
            if a is None:
                return None
            arr, back = native(a)
            self._back = back
            return arr

        self._P = inp(state.get("basis"))
        self._scales = inp(state.get("scales"))
        self._rot = inp(state.get("rotation"))
        self.refreshed = bool(state.get("refreshed", False))
        self.last_refresh = state.get("last_refresh")
        if "rng" in state:
            self._rng.bit_generator.state = state["rng"]

    # -- bodies ---------------------------------------------------------------------------------

    def _due(self, step: int) -> bool:
        """Whether :meth:`project` at ``step`` refreshes the basis."""
        return (self._P is None or self.method == "online_pca"
                or int(step) % self.update_gap == 0)

    def _require(self) -> dict[str, Any]:
        if self._layout is None or self._P is None:
            raise ValueError("no basis yet: call project(G, step) first")
        return self._layout

    def _bound(self) -> dict[str, Any]:
        assert self._layout is not None  # set by the first project()
        return self._layout

    def _squeeze(self, a: Any) -> Any:
        return a if self._layout is not None and self._layout["batch"] is not None else a[0]

    def _refresh(self, xp: ModuleType, H: Any, r: int) -> Any:
        """New basis from ``H`` (B, d, k); returns ``R_H`` when the refresh computed it."""
        old, old_s = self._P, self._scales
        RH = None
        if self.method == "svd":
            try:
                self._P = svd_left(xp, H, r)
                ok = bool(xp.all(xp.isfinite(self._P)))
            except np.linalg.LinAlgError:
                ok = False
            if not ok:  # no convergence: a randomized basis instead (never NaN), and say so
                warnings.warn("GradientProjector: the SVD did not converge; refreshed with the "
                              "randomized SVD instead", RuntimeWarning, stacklevel=3)
                self._P = rsvd_left(xp, H, r, self.oversample, self.n_iter, seed_from(self._rng))
        elif self.method == "rsvd":
            self._P = rsvd_left(xp, H, r, self.oversample, self.n_iter, seed_from(self._rng))
        elif self.method == "dct":
            D = dct_coefficients(H, xp)
            scores = xp.sum(D * D, axis=-1)
            idx = xp.argsort(-scores, axis=-1)[..., :r]
            self._P = idx
            RH = xp.take_along_axis(D, idx[..., None], axis=-2)
        elif self.method == "online_pca":
            self._P = oja(xp, H, r, self.oja_lr, self._P, seed_from(self._rng))
        else:
            self._P, self._scales = grass(xp, H, r, seed_from(self._rng))
            RH = self._project_body(xp, H)
        if old is not None:
            self._rot = self._rotation_body(xp, self._P, self._scales, old, old_s,
                                            self._bound())
        return RH

    def _project_body(self, xp: ModuleType, H: Any) -> Any:
        if self.method == "sparse_rows":
            rows = xp.take_along_axis(H, self._P[..., None], axis=-2)
            return rows * self._scales[..., None]
        return xp.matmul(_T(xp, self._dense(xp, self._P, None, self._bound())), H)

    def _back_body(self, xp: ModuleType, RH: Any) -> Any:
        lay = self._bound()
        if self.method == "sparse_rows":
            B, r, k = RH.shape
            d = lay["d"]
            out = xp.zeros((B * d, k), dtype=RH.dtype)
            flat = (self._P + xp.arange(B, dtype=self._P.dtype)[:, None] * d).reshape(-1)
            out[flat] = (RH * self._scales[..., None]).reshape(B * r, k)
            return out.reshape(B, d, k)
        return xp.matmul(self._dense(xp, self._P, None, lay), RH)

    def _dense(self, xp: ModuleType, P: Any, S: Any, lay: dict[str, Any]) -> Any:
        """(B, d, r) dense basis from whatever the method stores."""
        if self.method == "dct":
            Q = dct_matrix(lay["d"], lay["dtype"], xp, like=P)
            return _T(xp, Q.T[P])  # rows of Qᵀ = columns of Q, (B, r, d) → (B, d, r)
        if self.method == "sparse_rows":
            B, r = P.shape
            E = xp.zeros((B, lay["d"], r), dtype=lay["dtype"])
            b = xp.arange(B)[:, None]
            j = xp.arange(r)[None, :]
            E[b, P, j] = S
            return E
        return P

    def _rotation_body(self, xp: ModuleType, P: Any, S: Any, Pp: Any, Sp: Any,
                       lay: dict[str, Any]) -> Any:
        if self.method in ("dct", "sparse_rows"):
            C = (P[..., :, None] == Pp[..., None, :]).astype(lay["dtype"])
            if self.method == "sparse_rows":
                C = C * S[..., :, None] * Sp[..., None, :]
            return C
        return xp.matmul(_T(xp, P), Pp)

    def _coerce_prev(self, prev: Any, xp: ModuleType, lay: dict[str, Any]) -> tuple[Any, Any]:
        if isinstance(prev, GradientProjector):
            if prev.method != self.method or prev._layout is None or prev._P is None:
                raise ValueError("prev: expected a projector of the same method with a basis")
            return prev._P, prev._scales
        if isinstance(prev, dict):
            if prev.get("method") != self.method or prev.get("basis") is None:
                raise ValueError("prev: expected a state_dict of the same method with a basis")
            Pp = native(prev["basis"])[0]
            Sp = None if prev.get("scales") is None else native(prev["scales"])[0]
        else:
            if self.method == "sparse_rows":
                raise ValueError("prev: sparse_rows needs a projector or a state_dict (the "
                                 "scales are part of its basis)")
            Pp, Sp = native(prev)[0], None
        if lay["batch"] is None and Pp.ndim == self._P.ndim - 1:
            Pp = Pp[None]
            Sp = None if Sp is None else Sp[None]
        if tuple(Pp.shape) != tuple(self._P.shape):
            want = tuple(self._squeeze(self._P).shape)
            raise ValueError(f"prev: expected a basis of shape {want}, got {tuple(Pp.shape)}")
        return Pp, Sp


def _check_finite(xp: ModuleType, a: Any) -> None:
    if a.size and not bool(xp.all(xp.isfinite(a))):
        raise ValueError("G: contains NaN or inf; the basis cannot be refreshed from it")


def _matrix_shape(shape: Sequence[int]) -> tuple[int, int]:
    if len(shape) == 1:
        return 1, int(shape[0])
    if len(shape) == 2:
        return int(shape[0]), int(shape[1])
    return int(shape[0]), int(math.prod(shape[1:]))


def _namespace(a: Any) -> ModuleType:
    if isinstance(a, np.ndarray):
        return np
    from .._backend import array_namespace

    return array_namespace(a)


def _identity(y: Any) -> Any:
    return y
