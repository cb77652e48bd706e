"""GaLore for torch: a drop-in for galore-torch's ``GaLoreAdamW`` with every projkit projector.

:class:`GaLoreAdamW` takes galore-torch's constructor and parameter-group keys (``rank``,
``update_proj_gap``, ``scale``, ``proj_type``) and, with ``method="svd"`` (the default), does
galore-torch's arithmetic op for op in torch. ``method=`` also takes the other refreshes of
:class:`projkit.optim.GradientProjector` (``rsvd``, ``dct``, ``online_pca``, ``sparse_rows``).
What galore-torch lacks is here too: moments carried across a refresh, N-D weights, checkpoints
that resume bit-identically and load with ``torch.load(weights_only=True)``, identical projectors
on every DDP rank, a refresh that never fails, and bf16/fp16 weights.

Every per-step operation (projection, Adam, back-projection) is a torch op on the tensor's
device. Refreshes by ``svd`` and the Oja steps of ``online_pca`` are torch ops too; the other
refreshes are :class:`~projkit.optim.GradientProjector` on a zero-copy NumPy (CPU) or CuPy (CUDA)
view of the gradient, with NumPy's BLAS kept to one thread for small layers so it does not fight
torch's threads.
"""

from __future__ import annotations

import contextlib
import copy
import math
import numbers
import threading
import warnings
from typing import Any

import numpy as np
import torch

from .._backend.threads import serial_blas
from ..optim._dct import dct_matrix
from ..optim.lowrank import _METHODS, GradientProjector

__all__ = ["GaLoreAdam", "GaLoreAdamW"]

_PROJ_TYPES = ("std", "reverse_std", "left", "right", "full")
_MOMENTS = ("keep", "reset", "reproject")
_GROUP_DEFAULTS = {"update_proj_gap": 200, "scale": 1.0, "proj_type": "std"}


def _sides(proj_type: str, m: int, n: int) -> tuple[str, ...]:
    """galore-torch's choice of side(s): ``right`` keeps ``Vᵀ[:r]`` (r × n), ``left`` keeps
    ``U[:, :r]`` (m × r), ``full`` keeps both."""
    if proj_type == "std":
        return ("right",) if m >= n else ("left",)
    if proj_type == "reverse_std":
        return ("left",) if m >= n else ("right",)
    if proj_type == "full":
        return ("left", "right")
    return (proj_type,)


def _matrix_shape(shape: torch.Size) -> tuple[int, int]:
    """The reshape rule: ``(d0, d1, ..., dk)`` → ``(d0, d1·…·dk)`` (output channels as rows)."""
    return int(shape[0]), int(math.prod(shape[1:]))


_DCT: dict[tuple[Any, ...], torch.Tensor] = {}
_DCT_LOCK = threading.Lock()


def _dct_t(d: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``Qᵀ`` of projkit's orthonormal DCT-II matrix as a torch tensor, cached per device."""
    key = (d, dtype, str(device))
    with _DCT_LOCK:
        Qt = _DCT.get(key)
    if Qt is None:
        Q = dct_matrix(d, np.float64, np)  # built once on the host, a constant
        Qt = torch.from_numpy(np.ascontiguousarray(Q.T)).to(device=device, dtype=dtype)
        with _DCT_LOCK:
            if len(_DCT) >= 16:
                _DCT.pop(next(iter(_DCT)))
            _DCT[key] = Qt
    return Qt


def _compact(view: torch.Tensor) -> torch.Tensor:
    """A compact copy of a slice of an SVD factor in the factor's own memory order (LAPACK's
    factors are column-major): galore-torch keeps the slice itself, and with it the whole
    factor; the same memory order keeps the GEMMs, and so the rounding, identical to its."""
    if view.stride(0) < view.stride(1):
        return view.T.contiguous().T
    return view.contiguous()


def _qr_pos(X: torch.Tensor) -> torch.Tensor:
    Q, R = torch.linalg.qr(X)
    sign = torch.where(torch.diagonal(R) < 0, -1.0, 1.0).to(Q.dtype)
    return Q * sign


def _range_basis(G: torch.Tensor, r: int, seed: int) -> torch.Tensor:
    """Top-``r`` left singular vectors of ``G`` without a full SVD: two steps of subspace
    iteration from a seeded Gaussian start (QR only), then, when it succeeds, the SVD of the
    small ``(r + 10) × n`` projection to order the basis. Needs only QR, which does not fail on
    finite input."""
    m, n = G.shape
    r = min(r, m, n)
    k = min(r + 10, m, n)
    gen = torch.Generator(device=G.device).manual_seed(seed)
    Om = torch.randn(n, k, generator=gen, device=G.device, dtype=G.dtype)
    Q = torch.linalg.qr(G @ Om)[0]
    for _ in range(2):
        Q = torch.linalg.qr(G @ torch.linalg.qr(G.T @ Q)[0])[0]
    try:
        Ub = torch.linalg.svd(Q.T @ G, full_matrices=False)[0]
        U = Q @ Ub[:, :r]
        if bool(torch.isfinite(U).all()):
            return U
    except (RuntimeError, ValueError):  # torch.linalg.LinAlgError is a RuntimeError
        pass
    return Q[:, :r]


class _Projector:
    """The projection of one parameter: its side(s), the projkit projectors serving methods
    other than ``svd``, and the refresh. Bases live in the optimizer state (tensors only)."""

    def __init__(self, shape: torch.Size, group: dict[str, Any], seed: int,
                 options: dict[str, Any]) -> None:
        self.m, self.n = _matrix_shape(shape)
        self.sides = _sides(group["proj_type"], self.m, self.n)
        self.rank = int(group["rank"])
        self.gap = int(group["update_proj_gap"])
        self.scale = float(group["scale"])
        self.method = group["method"]
        self.moments = group["moments"]
        self.seed = seed
        self.dtype = torch.float32  # the dtype the gradient is projected in (set every step)
        self.gps: dict[str, GradientProjector] = {}
        if self.method != "svd":
            for j, side in enumerate(self.sides):
                sub = int(np.random.SeedSequence(seed, spawn_key=(j,)).generate_state(
                    1, dtype=np.uint64)[0] >> np.uint64(2))
                self.gps[side] = GradientProjector(
                    self.rank, method=self.method, side=side, update_gap=self.gap, rng=sub,
                    **options)

    # -- per-step maps (torch ops) ------------------------------------------------------------

    def _dense(self, st: dict[str, Any], side: str) -> torch.Tensor:
        """``U`` (m × r) for the left side, ``Vᵀ`` (r × n) for the right side."""
        b = st["proj_left" if side == "left" else "proj_right"]
        if self.method != "dct":
            return b
        d = self.m if side == "left" else self.n
        Qt = _dct_t(d, self.dtype, b.device)
        rows = Qt.index_select(0, b)  # rows of Qᵀ = the selected DCT columns, (r × d)
        return rows.T if side == "left" else rows

    def project(self, st: dict[str, Any], G: torch.Tensor) -> torch.Tensor:
        X = G
        for side in self.sides:
            if self.method == "sparse_rows":
                idx, s = st[f"proj_{side}"], st[f"proj_{side}_scale"]
                X = X[idx] * s[:, None] if side == "left" else X[:, idx] * s
            else:
                B = self._dense(st, side)
                X = torch.matmul(B.t(), X) if side == "left" else torch.matmul(X, B.t())
        return X

    def project_back(self, st: dict[str, Any], R: torch.Tensor) -> torch.Tensor:
        X = R
        for side in self.sides:
            if self.method == "sparse_rows":
                idx, s = st[f"proj_{side}"], st[f"proj_{side}_scale"]
                if side == "left":
                    X = X.new_zeros((self.m, X.shape[1])).index_add_(0, idx, X * s[:, None])
                else:
                    X = X.new_zeros((X.shape[0], self.n)).index_add_(1, idx, X * s)
            else:
                B = self._dense(st, side)
                X = torch.matmul(B, X) if side == "left" else torch.matmul(X, B)
        return X * self.scale

    # -- refresh ------------------------------------------------------------------------------

    def due(self, st: dict[str, Any], step: int) -> bool:
        if ("proj_left" if self.sides[0] == "left" else "proj_right") not in st:
            return True
        return self.method == "online_pca" or step % self.gap == 0

    def refresh(self, st: dict[str, Any], G: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        """New basis from ``G`` (m × n); returns ``{side: C}`` with ``C = P_newᵀ P_prev``
        (the :meth:`~projkit.optim.GradientProjector.rotation`) for every side that had a basis.
        """
        old = {s: st[f"proj_{s}"] for s in self.sides if f"proj_{s}" in st}
        dense_old = {s: self._dense(st, s) for s in old} if self.method != "sparse_rows" else {}
        if not bool(torch.isfinite(G).all()):
            if old:
                warnings.warn("GaLore: the gradient has NaN or inf at a refresh; keeping the "
                              "previous basis", RuntimeWarning, stacklevel=4)
                return {}
            G = torch.randn(G.shape, generator=torch.Generator(G.device).manual_seed(
                self.seed), device=G.device, dtype=G.dtype)
            warnings.warn("GaLore: the first gradient has NaN or inf; starting from a random "
                          "basis", RuntimeWarning, stacklevel=4)
        if self.method == "svd":
            self._refresh_svd(st, G)
        elif self.method == "online_pca" and old:
            for side in self.sides:
                self._oja_step(st, G, side)
        else:
            self._refresh_gp(st, G, step)
        if not old or self.moments != "reproject":
            return {}
        rot = {}
        for side in old:
            if side in self.gps and self.method != "online_pca":
                C = self.gps[side].rotation()
                rot[side] = C if isinstance(C, torch.Tensor) else torch.as_tensor(C)
            else:
                new = self._dense(st, side)
                prev = dense_old[side]
                rot[side] = new.T @ prev if side == "left" else new @ prev.T
        return rot

    def _refresh_svd(self, st: dict[str, Any], G: torch.Tensor) -> None:
        try:
            U, _, Vh = torch.linalg.svd(G, full_matrices=False)
            ok = bool(torch.isfinite(U).all()) and bool(torch.isfinite(Vh).all())
        except (RuntimeError, ValueError) as exc:  # torch.linalg.LinAlgError: no convergence
            ok, why = False, f"{type(exc).__name__}: {exc}"
        else:
            why = "it returned NaN or inf"
        if ok:
            if "left" in self.sides:
                st["proj_left"] = _compact(U[:, :self.rank])
            if "right" in self.sides:
                st["proj_right"] = _compact(Vh[:self.rank, :])
            return
        warnings.warn(f"GaLore: the SVD of a {self.m}×{self.n} gradient failed ({why}); using a "
                      "randomized QR basis instead", RuntimeWarning, stacklevel=5)
        if "left" in self.sides:
            st["proj_left"] = _range_basis(G, self.rank, self.seed).contiguous()
        if "right" in self.sides:
            st["proj_right"] = _range_basis(G.T, self.rank, self.seed + 1).T.contiguous()

    def _refresh_gp(self, st: dict[str, Any], G: torch.Tensor, step: int) -> None:
        # small layers: NumPy's BLAS on one thread, so that it does not fight torch's threads
        limit = serial_blas(np, work=2.0 * G.numel() * self.rank) if G.device.type == "cpu" \
            else contextlib.nullcontext()
        with limit:
            for side, gp in self.gps.items():
                gp.project(G, step if f"proj_{side}" in st else 0)
                if self.method in ("dct", "sparse_rows"):
                    st[f"proj_{side}"] = gp.basis.to(torch.int64)
                    if self.method == "sparse_rows":
                        st[f"proj_{side}_scale"] = gp.scales
                else:
                    P = gp.basis  # d × r, orthonormal columns
                    st[f"proj_{side}"] = (P if side == "left" else P.T).contiguous()

    def _oja_step(self, st: dict[str, Any], G: torch.Tensor, side: str) -> None:
        """One Oja step ``P ← qr(P + η H Hᵀ P / c)``, ``c = ‖Hᵀ P‖_F² / r`` in torch ops: the
        update of :class:`~projkit.optim.GradientProjector`'s ``online_pca``."""
        P = st[f"proj_{side}"]
        H, P = (G, P) if side == "left" else (G.T, P.T)
        HtP = H.T @ P
        c = (HtP * HtP).sum() / P.shape[1]
        c = torch.where(c > 0, c, torch.ones_like(c))
        lr = self.gps[side].oja_lr
        P = _qr_pos(P + (H @ HtP) * (lr / c))
        st[f"proj_{side}"] = P.contiguous() if side == "left" else P.T.contiguous()

    def carry(self, M: torch.Tensor, rot: dict[str, torch.Tensor], squared: bool) -> torch.Tensor:
        """A moment kept in the old basis, in the new one: ``C M`` (left), ``M Cᵀ`` (right);
        ``C∘C`` for the second moment."""
        for side, C in rot.items():
            C = C.to(device=M.device, dtype=M.dtype)
            if squared:
                C = C * C
            M = C @ M if side == "left" else M @ C.T
        return M


def _check_group(group: dict[str, Any]) -> None:
    if "rank" not in group:
        return
    for key, val in _GROUP_DEFAULTS.items():
        group.setdefault(key, val)
    rank, gap = group["rank"], group["update_proj_gap"]
    if isinstance(rank, bool) or not isinstance(rank, numbers.Integral) or rank < 1:
        raise ValueError(f"rank: expected a positive int in the parameter group, got {rank!r}")
    if isinstance(gap, bool) or not isinstance(gap, numbers.Integral) or gap < 1:
        raise ValueError(f"update_proj_gap: expected a positive int, got {gap!r}")
    if not isinstance(group["scale"], numbers.Real) or not math.isfinite(group["scale"]):
        raise ValueError(f"scale: expected a finite real number, got {group['scale']!r}")
    if group["proj_type"] not in _PROJ_TYPES:
        raise ValueError(f"proj_type: expected one of {_PROJ_TYPES}, got {group['proj_type']!r}")
    if group.get("method") == "online_pca" and group.get("moments") == "reset":
        raise ValueError("moments: 'reset' would zero the moments on every step with "
                         "method='online_pca' (its basis moves every step); use 'keep' or "
                         "'reproject'")


class GaLoreAdamW(torch.optim.Optimizer):
    """AdamW on low-rank projected gradients (GaLore), a drop-in for ``galore_torch.GaLoreAdamW``.

    Parameter groups that hold a ``rank`` are projected: the gradient ``G`` of each weight
    becomes ``R = G Vᵣ`` (``proj_type`` right), ``Uᵣᵀ G`` (left) or ``Uᵣᵀ G Vᵣ`` (full), Adam's
    moments are kept for ``R``, and the normalized step goes back as ``scale · (…)`` through
    the same basis. The basis is refreshed every ``update_proj_gap`` steps. Other groups (and
    1-D parameters of a projected group) get plain AdamW with galore-torch's arithmetic.

    Parameters
    ----------
    params : iterable
        Parameters or parameter groups. A projected group holds ``rank`` and may hold
        ``update_proj_gap`` (default 200), ``scale`` (default 1.0), ``proj_type`` (default
        ``"std"``; one of ``"std"``, ``"reverse_std"``, ``"left"``, ``"right"``, ``"full"``),
        and override ``method`` and ``moments``. galore-torch's ``dim`` key is accepted and
        ignored (N-D weights are reshaped, see Notes).
    lr, betas, eps, weight_decay, correct_bias : galore-torch's AdamW options
        ``eps`` defaults to 1e-6 and is added to ``√v`` (bias correction folded into the step
        size), weight decay is decoupled and applied after the step, as in galore-torch.
    no_deprecation_warning : bool
        Accepted for compatibility (projkit issues no deprecation warning).
    method : {"svd", "rsvd", "dct", "online_pca", "sparse_rows"}, default "svd"
        The refresh (see :class:`projkit.optim.GradientProjector`). ``"svd"`` is galore-torch's:
        ``torch.linalg.svd`` of the gradient (float32 for half-precision weights).
        ``"online_pca"`` takes one Oja step on every step after the first refresh.
    moments : {"keep", "reset", "reproject"}, default "keep"
        What happens to Adam's moments at a refresh. ``"keep"`` leaves them as they are
        (galore-torch); ``"reset"`` zeroes them and restarts the bias correction;
        ``"reproject"`` moves them into the new basis with ``C = P_newᵀ P_prev``
        (:meth:`projkit.optim.GradientProjector.rotation`): ``m ← C m`` exactly, and
        ``v ← (C∘C) v`` for the second moment (see Notes).
    rng : None, int or numpy.random.Generator, default 0
        Seeds the randomized refreshes (``rsvd``, ``online_pca``'s start, ``sparse_rows``, the
        fallback). The default is a fixed seed so that every DDP rank draws the same
        projectors; ``None`` draws fresh entropy (then pass one int to every rank yourself).
    oversample, n_iter, oja_lr :
        Options of the ``rsvd`` and ``online_pca`` refreshes
        (:class:`~projkit.optim.GradientProjector`).

    Notes
    -----
    **Shapes.** A parameter of shape ``(d0, d1, ..., dk)`` with ``k ≥ 1`` is projected as the
    ``d0 × (d1·…·dk)`` matrix that keeps its leading axis (output channels of a conv kernel,
    experts of a 3-D expert weight ``(E, d_in, d_out)`` become ``E × d_in·d_out``); the side is
    then chosen from that matrix as galore-torch chooses it for a 2-D weight. 1-D parameters in
    a projected group are not projected.

    **Second moment under reprojection.** With ``C = P_newᵀ P_prev`` the first moment, a linear
    average of projected gradients, moves exactly: ``m_new = C m``. The second moment averages
    squares, and ``(C g)² = Σ_j C_ij² g_j² + cross terms``; dropping the cross terms (as if the
    old coordinates were uncorrelated) gives ``v_new = (C∘C) v``, exact when ``C`` is a
    (partial) permutation, as for ``dct`` and ``sparse_rows`` selections, and never negative.

    **Precision.** bf16 and fp16 weights are projected in float32: the basis and the moments
    are float32 (galore-torch keeps them in the weight's dtype), and the step is rounded to the
    weight's dtype when applied. float64 weights are factorized in float64 (galore-torch rounds
    them to float32 for its SVD).

    **Robust refresh.** When ``torch.linalg.svd`` fails to converge (or returns NaN), the basis
    comes from randomized subspace iteration with QR (seeded, so DDP ranks agree) and a
    ``RuntimeWarning`` says so; a refresh from a gradient with NaN or inf keeps the previous
    basis.

    **Devices.** CUDA tensors stay on their device: the steps, the ``svd`` refresh and the Oja
    steps are torch ops; the ``rsvd``, ``dct`` and ``sparse_rows`` refreshes (and the first
    ``online_pca`` basis) run :class:`~projkit.optim.GradientProjector` on a CuPy view of the
    gradient (DLPack, no copy), so those methods need CuPy for CUDA tensors.

    **DDP.** The optimizer needs nothing from :mod:`torch.distributed`: DDP all-reduces the
    gradients before ``step``, every rank refreshes from the same bits with the same seed, and so
    computes the same basis with no extra communication.

    **Checkpoints.** :meth:`state_dict` holds tensors, ints, floats, strings and dicts only, so
    ``torch.load(..., weights_only=True)`` reads it, and :meth:`load_state_dict` restores the
    state tensors with their own dtypes (torch's default would cast basis indices to the
    weight's dtype): training resumes bit-identically on the CPU.

    References
    ----------
    .. [1] J. Zhao et al., "GaLore: Memory-Efficient LLM Training by Gradient Low-Rank
       Projection", ICML 2024.

    Examples
    --------
    >>> import torch
    >>> torch.manual_seed(0) and None
    >>> lin = torch.nn.Linear(12, 8)
    >>> groups = [{"params": [lin.weight], "rank": 2, "update_proj_gap": 5, "scale": 0.25,
    ...            "proj_type": "std"}, {"params": [lin.bias]}]
    >>> opt = GaLoreAdamW(groups, lr=1e-2)
    >>> for _ in range(3):
    ...     opt.zero_grad(); lin(torch.randn(4, 12)).square().mean().backward(); opt.step()
    >>> tuple(opt.state[lin.weight]["exp_avg"].shape)
    (2, 12)
    """

    _decoupled = True
    _entropy: int
    _options: dict[str, Any]

    def __init__(self, params: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-6, weight_decay: float = 0.0, correct_bias: bool = True,
                 no_deprecation_warning: bool = False, *, method: str = "svd",
                 moments: str = "keep", rng: Any = 0, oversample: int = 10,
                 n_iter: int | str = 2, oja_lr: float = 1.0) -> None:
        if not isinstance(lr, numbers.Real) or not lr >= 0:
            raise ValueError(f"lr: expected a non-negative number, got {lr!r}")
        if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"betas: expected two numbers in [0, 1), got {betas!r}")
        if not isinstance(eps, numbers.Real) or not eps >= 0:
            raise ValueError(f"eps: expected a non-negative number, got {eps!r}")
        if method not in _METHODS:
            raise ValueError(f"method: expected one of {_METHODS}, got {method!r}")
        if moments not in _MOMENTS:
            raise ValueError(f"moments: expected one of {_MOMENTS}, got {moments!r}")
        self._options = {"oversample": oversample, "n_iter": n_iter, "oja_lr": oja_lr}
        GradientProjector(1, **self._options)  # validate the options now
        if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
            self._entropy = int(rng)
        else:
            self._entropy = int(np.random.default_rng(rng).integers(2**62))
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                    "correct_bias": correct_bias, "method": method, "moments": moments}
        super().__init__(params, defaults)
        for group in self.param_groups:
            _check_group(group)
            if group["method"] not in _METHODS:
                raise ValueError(f"method: expected one of {_METHODS}, got {group['method']!r}")
            if group["moments"] not in _MOMENTS:
                raise ValueError(f"moments: expected one of {_MOMENTS}, got "
                                 f"{group['moments']!r}")
        self._proj: dict[tuple[int, int], _Projector] = {}

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        super().add_param_group(param_group)
        _check_group(self.param_groups[-1])

    def _projector(self, gi: int, pi: int, p: torch.Tensor, group: dict[str, Any]) -> _Projector:
        proj = self._proj.get((gi, pi))
        if proj is None:
            seed = int(np.random.SeedSequence(self._entropy, spawn_key=(gi, pi)).generate_state(
                1, dtype=np.uint64)[0] >> np.uint64(2))
            proj = _Projector(p.shape, group, seed, self._options)
            self._proj[(gi, pi)] = proj
        return proj

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        """One optimizer step (``closure`` re-evaluates the model and returns the loss)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for gi, group in enumerate(self.param_groups):
            beta1, beta2 = group["betas"]
            lr, wd = group["lr"], group["weight_decay"]
            for pi, p in enumerate(group["params"]):
                if p.grad is None:
                    continue
                grad = p.grad
                if grad.is_sparse:
                    raise RuntimeError("GaLoreAdamW: sparse gradients are not supported")
                if not self._decoupled and wd:
                    grad = grad.add(p, alpha=wd)
                st = self.state[p]
                if "step" not in st:
                    st["step"] = 0
                    st["moment_step"] = 0
                proj = self._projector(gi, pi, p, group) if "rank" in group and p.ndim >= 2 \
                    else None
                if proj is not None:
                    G = grad if grad.ndim == 2 else grad.reshape(proj.m, proj.n)
                    if G.dtype in (torch.float16, torch.bfloat16):
                        G = G.float()
                    proj.dtype = G.dtype
                    rot = proj.refresh(st, G, st["step"]) if proj.due(st, st["step"]) else None
                    grad = proj.project(st, G)
                    if rot is not None and "exp_avg" in st and proj.moments != "keep":
                        if proj.moments == "reset":
                            st["exp_avg"].zero_()
                            st["exp_avg_sq"].zero_()
                            st["moment_step"] = 0
                        elif rot:
                            st["exp_avg"] = proj.carry(st["exp_avg"], rot, squared=False)
                            st["exp_avg_sq"] = proj.carry(st["exp_avg_sq"], rot, squared=True)
                if "exp_avg" not in st:
                    st["exp_avg"] = torch.zeros_like(grad)
                    st["exp_avg_sq"] = torch.zeros_like(grad)
                exp_avg, exp_avg_sq = st["exp_avg"], st["exp_avg_sq"]
                st["step"] += 1
                st["moment_step"] += 1
                exp_avg.mul_(beta1).add_(grad, alpha=1.0 - beta1)
                exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1.0 - beta2)
                denom = exp_avg_sq.sqrt().add_(group["eps"])
                step_size = lr
                if group["correct_bias"]:
                    t = st["moment_step"]
                    step_size = step_size * math.sqrt(1.0 - beta2**t) / (1.0 - beta1**t)
                norm_grad = exp_avg / denom
                if proj is not None:
                    norm_grad = proj.project_back(st, norm_grad)
                    if p.ndim != 2:
                        norm_grad = norm_grad.reshape(p.shape)
                if norm_grad.dtype != p.dtype:
                    norm_grad = norm_grad.to(p.dtype)
                p.add_(norm_grad, alpha=-step_size)
                if self._decoupled and wd > 0.0:
                    p.add_(p, alpha=-lr * wd)
        return loss

    def state_nbytes(self) -> int:
        """Bytes of optimizer state: Adam's moments, the bases (or indices) and scales."""
        total = 0
        for st in self.state.values():
            for v in st.values():
                if isinstance(v, torch.Tensor):
                    total += v.numel() * v.element_size()
        return total

    def state_dict(self) -> dict[str, Any]:
        """torch's optimizer state plus ``"projectors"``: each projkit projector's state (its
        random generator among it), keyed ``"group.param"``. Loads with ``weights_only=True``."""
        sd = super().state_dict()
        sd["projkit_seed"] = self._entropy
        sd["projectors"] = {f"{gi}.{pi}": {side: gp.state_dict() for side, gp in pr.gps.items()}
                            for (gi, pi), pr in self._proj.items() if pr.gps}
        return sd

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`; state tensors keep their dtypes (see Notes)."""
        state_dict = dict(state_dict)
        projectors = state_dict.pop("projectors", {})
        self._entropy = int(state_dict.pop("projkit_seed", self._entropy))
        super().load_state_dict(state_dict)
        saved_ids = [i for g in state_dict["param_groups"] for i in g["params"]]
        params = [p for g in self.param_groups for p in g["params"]]
        saved = state_dict["state"]
        for i, p in zip(saved_ids, params, strict=True):
            if i in saved:
                self.state[p] = {k: v.to(device=p.device, copy=True) if isinstance(
                    v, torch.Tensor) else copy.deepcopy(v) for k, v in saved[i].items()}
        self._proj = {}
        for key, sides in projectors.items():
            gi, pi = (int(s) for s in key.split("."))
            group = self.param_groups[gi]
            proj = self._projector(gi, pi, group["params"][pi], group)
            for side, st in sides.items():
                proj.gps[side].load_state_dict(st)


class GaLoreAdam(GaLoreAdamW):
    """Adam with L2 weight decay (added to the gradient before projection) on low-rank
    projected gradients; otherwise :class:`GaLoreAdamW` (same options, same group keys).

    Examples
    --------
    >>> import torch
    >>> w = torch.nn.Parameter(torch.ones(6, 4))
    >>> opt = GaLoreAdam([{"params": [w], "rank": 2}], lr=0.1, weight_decay=0.01)
    >>> w.grad = torch.zeros(6, 4); opt.step()
    >>> bool((w < 1).all())
    True
    """

    _decoupled = False
