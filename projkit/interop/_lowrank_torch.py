"""torch side of :mod:`projkit.optim.lowrank`: per-parameter projectors and a GaLore-style Adam.

:class:`GradientProjectorHook` owns one :class:`~projkit.optim.GradientProjector` per matrix
parameter and is what a torch optimizer calls around its update (project the gradient, run the
optimizer on the small tensor, project the step back, carry moments across a refresh).
:class:`ProjectedAdam` is Adam(W) written with it: the moments of every projected parameter are
``r × n`` (or ``m × r``) instead of ``m × n``. Tensors stay on their device: the projector sees
CPU tensors as NumPy views and CUDA tensors as CuPy views (DLPack), never a host copy.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import torch

from ..optim.lowrank import GradientProjector

__all__ = ["GradientProjectorHook", "ProjectedAdam"]

_PROJ_KEYS = ("rank", "method", "side", "update_gap", "scale")


def _work(g: torch.Tensor) -> torch.Tensor:
    """Gradients in half precision are projected in float32 (NumPy/CuPy have no bfloat16)."""
    return g if g.dtype in (torch.float32, torch.float64) else g.float()


class GradientProjectorHook:
    """One :class:`~projkit.optim.GradientProjector` per matrix parameter, created on first use.

    Parameters
    ----------
    params : iterable of torch.Tensor
        The parameters it may project (their order fixes the keys of :meth:`state_dict`).
    rank : int
        Rank of every projector.
    min_ndim : int, default 2
        Parameters with fewer axes (biases, norms) are passed through unprojected.
    rng : None, int or numpy.random.Generator
        Seeds the projectors (parameter ``i`` gets an independent stream).
    **options
        ``method``, ``side``, ``update_gap``, ``scale``, ... of
        :class:`~projkit.optim.GradientProjector`.

    Examples
    --------
    >>> import torch
    >>> w = torch.nn.Parameter(torch.randn(8, 6))
    >>> hook = GradientProjectorHook([w], rank=2, method="dct")
    >>> low = hook.project(w, torch.randn(8, 6), step=0)
    >>> tuple(low.shape), tuple(hook.project_back(w, low).shape)
    ((8, 2), (8, 6))
    """

    def __init__(self, params: Iterable[torch.Tensor], rank: int, *, min_ndim: int = 2,
                 rng: Any = None, **options: Any) -> None:
        self.params = list(params)
        self.rank = rank
        self.min_ndim = int(min_ndim)
        self.options = options
        GradientProjector(rank, **options)  # validate the options now, not at the first step
        self._entropy = int(rng) if isinstance(rng, int) and not isinstance(rng, bool) else int(
            np.random.default_rng(rng).integers(2**62))
        self._index = {id(p): i for i, p in enumerate(self.params)}
        self._proj: dict[int, GradientProjector] = {}
        # per parameter, between refreshes: (shape, dtype, device, side, m, n, dense basis,
        # low-rank shape, scale), the basis as a torch tensor, so that a step is two torch
        # GEMMs (no NumPy round trip, no BLAS thread switching); rebuilt after every refresh
        self._fast: dict[int, tuple[Any, ...]] = {}

    def projects(self, p: torch.Tensor) -> bool:
        """Whether ``p`` is projected (it has at least ``min_ndim`` axes and is known)."""
        return p.ndim >= self.min_ndim and id(p) in self._index

    def projector(self, p: torch.Tensor) -> GradientProjector:
        """The projector of ``p`` (created on first use)."""
        i = self._index.get(id(p))
        if i is None:
            raise ValueError("p: not one of the parameters this hook was built with")
        if i not in self._proj:
            seq = np.random.SeedSequence(self._entropy, spawn_key=(i,))
            seed = int(seq.generate_state(1, dtype=np.uint64)[0] >> np.uint64(2))
            self._proj[i] = GradientProjector(self.rank, rng=seed, **self.options)
        return self._proj[i]

    def _cache(self, i: int, proj: GradientProjector, g: torch.Tensor) -> None:
        """Keep the dense basis of ``proj`` as a tensor for the steps until its next refresh
        (methods with an orthonormal basis; ``sparse_rows`` keeps the projector's own path)."""
        self._fast.pop(i, None)
        if proj.method == "sparse_rows" or proj._P is None:
            return
        lay = proj._bound()
        if lay["batch"] is not None:
            return
        P = proj.basis_matrix()  # d × r, a view of the projector's basis (no copy)
        if not isinstance(P, torch.Tensor) or P.dtype != g.dtype or P.device != g.device:
            return
        low = (P.shape[1], lay["n"]) if lay["side"] == "left" else (lay["m"], P.shape[1])
        self._fast[i] = (g.shape, g.dtype, g.device, lay["side"], lay["m"], lay["n"], P, low,
                         proj.scale)

    def project(self, p: torch.Tensor, grad: torch.Tensor, step: int) -> torch.Tensor:
        """``R`` for ``grad`` of ``p`` (the gradient itself when ``p`` is not projected)."""
        if not self.projects(p):
            return grad
        g = _work(grad)
        i = self._index[id(p)]
        proj = self.projector(p)
        fast = self._fast.get(i)
        if (fast is not None and type(step) is int and step >= 0 and not proj._due(step)
                and g.shape == fast[0] and g.dtype == fast[1] and g.device == fast[2]):
            # between refreshes: R = Pᵀ G or G P as the projector computes it, in torch
            side, m, n, P = fast[3:7]
            proj.refreshed = False
            G = g.reshape(m, n)
            return torch.mm(P.T, G) if side == "left" else torch.mm(G, P)
        R = proj.project(g, step)
        self._cache(i, proj, g)
        return R

    __call__ = project

    def project_back(self, p: torch.Tensor, update: torch.Tensor) -> torch.Tensor:
        """The full-size update (shaped and typed like ``p``) from a low-rank one."""
        if not self.projects(p):
            return update
        return self.projector(p).project_back(update).to(p.dtype)

    def add_back_(self, p: torch.Tensor, update: torch.Tensor, alpha: float = 1.0) -> None:
        """``p += alpha · project_back(p, update)`` in place, as one GEMM when it can
        (``p += alpha·s · P N`` or ``N Pᵀ``: no full-size temporary)."""
        i = self._index.get(id(p))
        fast = self._fast.get(i) if i is not None and p.ndim >= self.min_ndim else None
        if (fast is not None and p.dtype == fast[1] and update.shape == fast[7]
                and p.is_contiguous()):
            side, m, n, P = fast[3:7]
            W = p.view(m, n)
            a = alpha * fast[8]
            if side == "left":
                W.addmm_(P, update, alpha=a)
            else:
                W.addmm_(update, P.T, alpha=a)
            return
        p.add_(self.project_back(p, update), alpha=alpha)

    def refreshed(self, p: torch.Tensor) -> bool:
        """Whether the latest :meth:`project` of ``p`` refreshed its basis."""
        i = self._index.get(id(p))
        return i in self._proj and self._proj[i].refreshed

    def carry(self, p: torch.Tensor, M: torch.Tensor, *, squared: bool = False) -> torch.Tensor:
        """Move a moment ``M`` kept in the previous basis of ``p`` to its current basis.

        ``C M`` (left side) or ``M Cᵀ`` (right side) with ``C = P_newᵀ P_prev``; for a second
        moment (``squared=True``) the entrywise square ``C∘C`` is used, which is exact for the
        (partial) permutations of ``dct`` and a heuristic for rotations.
        """
        proj = self.projector(p)
        C = proj.rotation().to(M.dtype)
        if squared:
            C = C * C
        return C @ M if proj._bound()["side"] == "left" else M @ C.T

    def state_dict(self) -> dict[int, Any]:
        """``{parameter index: projector state}``."""
        return {i: proj.state_dict() for i, proj in self._proj.items()}

    def load_state_dict(self, state: dict[int, Any]) -> None:
        """Restore from :meth:`state_dict` (same parameters, same order)."""
        self._proj = {}
        self._fast = {}
        for i, st in state.items():
            proj = GradientProjector(self.rank, **self.options)
            proj.load_state_dict(st)
            self._proj[int(i)] = proj

    def nbytes(self) -> int:
        """Bytes held by the bases (indices for ``dct``; the shared DCT matrix not counted)."""
        total = 0
        for proj in self._proj.values():
            for a in (proj._P, proj._scales):
                total += 0 if a is None else int(a.nbytes)
        return total


class ProjectedAdam(torch.optim.Optimizer):
    """Adam(W) whose moments live in a low-rank gradient subspace (GaLore-style).

    For each parameter with at least two axes, the gradient ``G`` is projected to
    ``R = Pᵀ G`` by a :class:`~projkit.optim.GradientProjector`, Adam's moments are kept for
    ``R``, and the normalized step ``N`` is applied as ``W ← W − lr · scale · P N``. Other
    parameters (and groups with ``rank=None``) get plain Adam(W).

    Parameters
    ----------
    params : iterable
        Parameters or parameter groups; a group may override ``rank`` (None: no projection),
        ``method``, ``side``, ``update_gap``, ``scale`` and the Adam options.
    lr, betas, eps, weight_decay : Adam(W) options (decoupled weight decay).
    rank : int or None, default 128
    method, side, update_gap, scale : see :class:`~projkit.optim.GradientProjector`
        (GaLore's defaults: ``update_gap=200``, ``scale=0.25``).
    rotate_moments : bool, default False
        Carry the moments into the new basis at a refresh (``C m``, ``(C∘C) v``) as the DCT
        paper does; GaLore keeps them as they are.
    rng : None, int or numpy.random.Generator

    Notes
    -----
    Optimizer-state memory for an ``m × n`` matrix falls from ``2mn`` numbers to
    ``2 r n + d r`` (``d r`` for the basis; ``r`` indices for ``dct``); :meth:`state_nbytes`
    reports it.

    On the CPU, a group of float32/float64 tensors is updated by torch's fused AdamW kernel
    (torch 2.4 and later: one pass per tensor), any other group by foreach ops; both compute
    the same update to rounding.

    References
    ----------
    .. [1] J. Zhao et al., "GaLore: Memory-Efficient LLM Training by Gradient Low-Rank
       Projection", ICML 2024.

    Examples
    --------
    >>> import torch
    >>> torch.manual_seed(0) and None
    >>> lin = torch.nn.Linear(6, 8)
    >>> opt = ProjectedAdam(lin.parameters(), lr=1e-2, rank=2, update_gap=5)
    >>> for _ in range(3):
    ...     opt.zero_grad(); lin(torch.randn(4, 6)).square().mean().backward(); opt.step()
    >>> tuple(opt.state[lin.weight]["exp_avg"].shape)
    (8, 2)
    """

    def __init__(self, params: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, *, rank: int | None = 128,
                 method: str = "svd", side: str = "auto", update_gap: int = 200,
                 scale: float = 0.25, rotate_moments: bool = False, rng: Any = None) -> None:
        if not lr >= 0:
            raise ValueError(f"lr: expected a non-negative number, got {lr}")
        if not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"betas: expected two numbers in [0, 1), got {betas}")
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, rank=rank,
                        method=method, side=side, update_gap=update_gap, scale=scale)
        super().__init__(params, defaults)
        self.rotate_moments = bool(rotate_moments)
        self._rng = np.random.default_rng(rng)
        self._hooks: list[GradientProjectorHook | None] = []
        for group in self.param_groups:
            if group["rank"] is None:
                self._hooks.append(None)
                continue
            opts = {k: group[k] for k in _PROJ_KEYS if k != "rank"}
            self._hooks.append(GradientProjectorHook(
                group["params"], group["rank"], rng=int(self._rng.integers(2**62)), **opts))

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        low = self._refresh_in_parallel()
        for group, hook in zip(self.param_groups, self._hooks, strict=True):
            b1, b2 = group["betas"]
            lr, eps, wd = group["lr"], group["eps"], group["weight_decay"]
            ps, gs, ms, vs, ts, pj = [], [], [], [], [], []
            for p in group["params"]:
                if p.grad is None:
                    continue
                st = self.state[p]
                t = st.get("step", 0)
                proj = hook is not None and hook.projects(p)
                if id(p) in low:
                    g = low.pop(id(p))
                else:
                    g = hook.project(p, p.grad, t) if hook is not None and proj else p.grad
                if "exp_avg" not in st:
                    st["exp_avg"] = torch.zeros_like(g)
                    st["exp_avg_sq"] = torch.zeros_like(g)
                elif (hook is not None and proj and self.rotate_moments
                      and hook.refreshed(p)):
                    st["exp_avg"] = hook.carry(p, st["exp_avg"])
                    st["exp_avg_sq"] = hook.carry(p, st["exp_avg_sq"], squared=True)
                st["step"] = t + 1
                ps.append(p)
                gs.append(g)
                ms.append(st["exp_avg"])
                vs.append(st["exp_avg_sq"])
                ts.append(t + 1)
                pj.append(proj)
            if not ps:
                continue
            if _fused_cpu(pj, ps, gs, ms, vs):
                _adam_fused(hook, pj, ps, gs, ms, vs, ts, lr, b1, b2, eps, wd)
            else:
                _adam_foreach(hook, pj, ps, gs, ms, vs, ts, lr, b1, b2, eps, wd)
        return loss

    def _refresh_in_parallel(self) -> dict[int, torch.Tensor]:
        """Project the gradients whose ``svd`` basis is due this step, the layers side by side
        on up to ``torch.get_num_threads()`` threads; ``{id(p): R}``.

        Each refresh is one LAPACK SVD (or Gram eigensolve) on one BLAS thread (threaded,
        these latency-bound factorizations fight torch's threads), so the layers' SVDs run
        concurrently instead: the same calls with the same results, on all the cores. Both
        release the GIL (NumPy's ``gesdd``; ``syevr`` through
        :func:`projkit._backend.linalg.eigh_top`, since SciPy's wrapper holds it and the
        eigensolves ran one at a time). Nothing is done when fewer than two are due or torch
        runs on one thread.
        """
        workers = torch.get_num_threads()
        if workers < 2:
            return {}
        jobs = []
        for group, hook in zip(self.param_groups, self._hooks, strict=True):
            if hook is None or group["method"] != "svd":
                continue
            for p in group["params"]:
                if p.grad is None or not p.is_cpu or not hook.projects(p):
                    continue
                st = self.state.get(p)
                t = 0 if st is None else st.get("step", 0)
                if hook.projector(p)._due(t):
                    jobs.append((hook, p, t))
        if len(jobs) < 2:
            return {}
        with ThreadPoolExecutor(min(workers, len(jobs))) as pool:
            out = list(pool.map(lambda job: job[0].project(job[1], job[1].grad, job[2]), jobs))
        return {id(job[1]): R for job, R in zip(jobs, out, strict=True)}

    def state_nbytes(self) -> int:
        """Bytes of optimizer state: Adam's moments plus the projectors' bases."""
        total = 0
        for st in self.state.values():
            for v in st.values():
                if isinstance(v, torch.Tensor):
                    total += v.numel() * v.element_size()
        return total + sum(h.nbytes() for h in self._hooks if h is not None)

    def state_dict(self) -> dict[str, Any]:
        sd = super().state_dict()
        sd["projectors"] = [None if h is None else h.state_dict() for h in self._hooks]
        return sd

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state_dict = dict(state_dict)
        projectors = state_dict.pop("projectors", None)
        super().load_state_dict(state_dict)
        if projectors is not None:
            for h, st in zip(self._hooks, projectors, strict=True):
                if h is not None and st is not None:
                    h.load_state_dict(st)


_FUSED_OK: list[bool] = []  # whether torch's CPU fused AdamW kernel runs here (probed once)


def _fused_cpu(proj: list[bool], ps: list[torch.Tensor], gs: list[torch.Tensor],
               ms: list[torch.Tensor], vs: list[torch.Tensor]) -> bool:
    """Whether one :func:`torch._fused_adamw_` call can serve the group: contiguous CPU
    tensors of float32/float64 (the kernel walks raw memory: other strides give wrong numbers,
    not an error), a parameter that is not projected typed like its gradient, and a torch
    whose CPU kernel exists (2.4 and later; probed on a one-element tensor). ``proj``: which
    parameters the hook projects (theirs do not enter the kernel)."""
    for q, p, g, m, v in zip(proj, ps, gs, ms, vs, strict=True):
        if (not g.is_cpu or g.dtype not in (torch.float32, torch.float64)
                or not (g.is_contiguous() and m.is_contiguous() and v.is_contiguous())
                or not (q or (p.dtype == g.dtype and p.is_cpu and p.is_contiguous()))):
            return False
    if not _FUSED_OK:
        try:
            p, g, m, v = (torch.zeros(1) for _ in range(4))
            torch._fused_adamw_([p], [g], [m], [v], [], [torch.ones(())], lr=0.1, beta1=0.9,
                                beta2=0.9, weight_decay=0.0, eps=1e-8, amsgrad=False,
                                maximize=False)
            _FUSED_OK.append(True)
        except (AttributeError, NotImplementedError, RuntimeError):
            _FUSED_OK.append(False)
    return _FUSED_OK[0]


def _adam_fused(hook: GradientProjectorHook | None, proj: list[bool], ps: list[torch.Tensor],
                gs: list[torch.Tensor], ms: list[torch.Tensor], vs: list[torch.Tensor],
                ts: list[int], lr: float, b1: float, b2: float, eps: float, wd: float) -> None:
    """Adam(W) on a group in one call of torch's fused CPU kernel (one pass per tensor instead
    of six foreach ops). A projected parameter's "parameter" there is a zero tensor shaped
    like its moments, which the kernel turns into the step ``−lr/(1 − b1ᵗ) · N``; that is
    added back to ``W`` by one GEMM (:meth:`GradientProjectorHook.add_back_`) after ``W``'s
    own decoupled decay. The zero tensor stays zero under the kernel's decay. ``proj``: which
    parameters the hook projects."""
    targets = [torch.zeros_like(g) if q else p for p, g, q in zip(ps, gs, proj, strict=True)]
    if wd and any(proj):
        torch._foreach_mul_([p for p, q in zip(ps, proj, strict=True) if q], 1 - lr * wd)
    steps = {t: torch.tensor(float(t)) for t in set(ts)}  # the kernel reads them, as floats
    torch._fused_adamw_(targets, gs, ms, vs, [], [steps[t] for t in ts],
                        lr=lr, beta1=b1, beta2=b2, weight_decay=wd, eps=eps, amsgrad=False,
                        maximize=False)
    for p, d, q in zip(ps, targets, proj, strict=True):
        if q and hook is not None:
            hook.add_back_(p, d)


def _adam_foreach(hook: GradientProjectorHook | None, proj: list[bool], ps: list[torch.Tensor],
                  gs: list[torch.Tensor], ms: list[torch.Tensor], vs: list[torch.Tensor],
                  ts: list[int], lr: float, b1: float, b2: float, eps: float,
                  wd: float) -> None:
    """Adam(W) on a group, one foreach call per op (any device and dtype):
    ``N = (m / (1 - b1ᵗ)) / (√(v / (1 - b2ᵗ)) + eps)``, the bias correction of ``m`` folded
    into the step size as torch's Adam does."""
    torch._foreach_lerp_(ms, gs, 1 - b1)
    torch._foreach_mul_(vs, b2)
    torch._foreach_addcmul_(vs, gs, gs, value=1 - b2)
    denoms = torch._foreach_sqrt(vs)
    torch._foreach_div_(denoms, [math.sqrt(1 - b2**t) for t in ts])
    torch._foreach_add_(denoms, eps)
    if wd:
        torch._foreach_mul_(ps, 1 - lr * wd)
    for p, m, denom, t, q in zip(ps, ms, denoms, ts, proj, strict=True):
        step_size = lr / (1 - b1**t)
        if q and hook is not None:
            hook.add_back_(p, m / denom, alpha=-step_size)
        elif m.dtype == p.dtype:
            p.addcdiv_(m, denom, value=-step_size)
        else:
            p.add_((m / denom).to(p.dtype), alpha=-step_size)
