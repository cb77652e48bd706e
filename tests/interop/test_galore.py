"""projkit.interop.torch.GaLoreAdamW / GaLoreAdam: parity with galore-torch, every method,
moments across a refresh, N-D and half-precision weights, the SVD fallback, checkpoints."""

from __future__ import annotations

import importlib.util
import io
import math
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from projkit.interop.torch import GaLoreAdam, GaLoreAdamW  # noqa: E402

PROJ_TYPES = ["std", "reverse_std", "left", "right", "full"]
METHODS = ["svd", "rsvd", "dct", "online_pca", "sparse_rows"]


# --------------------------------------------------------------------------------------------
# galore-torch's update, re-derived (galore_torch/adamw.py + galore_projector.py, v1.0)
# --------------------------------------------------------------------------------------------


class RefProjector:
    """galore-torch's GaLoreProjector, written out: the SVD is ``torch.linalg.svd`` of the
    float32 gradient, ``right`` keeps ``Vh[:r]``, ``left`` keeps ``U[:, :r]``."""

    def __init__(self, rank, update_proj_gap, scale, proj_type):
        self.rank, self.gap, self.scale, self.proj_type = rank, update_proj_gap, scale, proj_type
        self.ortho = None

    def _svd(self, G, kind):
        U, _, Vh = torch.linalg.svd(G, full_matrices=False)
        return {"right": Vh[:self.rank, :], "left": U[:, :self.rank],
                "full": [U[:, :self.rank], Vh[:self.rank, :]]}[kind]

    def _kind(self, G):
        m, n = G.shape
        if self.proj_type == "std":
            return "right" if m >= n else "left"
        if self.proj_type == "reverse_std":
            return "left" if m >= n else "right"
        return self.proj_type

    def project(self, G, it):
        self.kind = self._kind(G)
        if self.ortho is None or it % self.gap == 0:
            self.ortho = self._svd(G, self.kind)
        if self.kind == "right":
            return G @ self.ortho.t()
        if self.kind == "left":
            return self.ortho.t() @ G
        return (self.ortho[0].t() @ G) @ self.ortho[1].t()

    def project_back(self, R):
        if self.kind == "right":
            F = R @ self.ortho
        elif self.kind == "left":
            F = self.ortho @ R
        else:
            F = (self.ortho[0] @ R) @ self.ortho[1]
        return F * self.scale


def _galore_projector_class():
    """galore-torch's own GaLoreProjector when the package is installed (its module imports
    only torch; the package's __init__ also imports transformers and bitsandbytes)."""
    try:
        import importlib.metadata as md

        path = md.distribution("galore-torch").locate_file("galore_torch/galore_projector.py")
    except Exception:
        return None
    spec = importlib.util.spec_from_file_location("_galore_projector", path)
    if spec is None or spec.loader is None:
        return None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.GaLoreProjector


def ref_step(params_groups, states, Projector, lr, betas=(0.9, 0.999), eps=1e-6, wd=0.0):
    """One galore-torch AdamW step (correct_bias=True), written out."""
    b1, b2 = betas
    for group in params_groups:
        for p in group["params"]:
            if p.grad is None:
                continue
            st = states.setdefault(p, {"step": 0})
            grad = p.grad
            if "rank" in group:
                if "projector" not in st:
                    st["projector"] = Projector(group["rank"], update_proj_gap=group[
                        "update_proj_gap"], scale=group["scale"], proj_type=group["proj_type"])
                grad = st["projector"].project(grad, st["step"])
            if "exp_avg" not in st:
                st["exp_avg"], st["exp_avg_sq"] = torch.zeros_like(grad), torch.zeros_like(grad)
            st["step"] += 1
            st["exp_avg"].mul_(b1).add_(grad, alpha=1 - b1)
            st["exp_avg_sq"].mul_(b2).addcmul_(grad, grad, value=1 - b2)
            denom = st["exp_avg_sq"].sqrt().add_(eps)
            step_size = lr * math.sqrt(1 - b2 ** st["step"]) / (1 - b1 ** st["step"])
            norm = st["exp_avg"] / denom
            if "rank" in group:
                norm = st["projector"].project_back(norm)
            p.add_(norm, alpha=-step_size)
            if wd > 0:
                p.add_(p, alpha=-lr * wd)


def _mlp(seed=0, sizes=(20, 24, 12, 5)):
    torch.manual_seed(seed)
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:], strict=False):
        layers += [torch.nn.Linear(a, b), torch.nn.Tanh()]
    return torch.nn.Sequential(*layers[:-1])


def _data(seed=1, n=64, d=20, k=5):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g), torch.randint(0, k, (n,), generator=g)


def _groups(model, **proj):
    mats = [p for p in model.parameters() if p.ndim == 2]
    rest = [p for p in model.parameters() if p.ndim < 2]
    return [{"params": mats, **proj}, {"params": rest}]


def _loss(model, X, y):
    return torch.nn.functional.cross_entropy(model(X), y)


def _run_ours(model, opt, X, y, steps):
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = _loss(model, X, y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def _run_ref(model, groups, Projector, X, y, steps, lr, wd):
    states, losses = {}, []
    for _ in range(steps):
        model.zero_grad()
        loss = _loss(model, X, y)
        loss.backward()
        with torch.no_grad():
            ref_step(groups, states, Projector, lr, wd=wd)
        losses.append(loss.item())
    return losses


# --------------------------------------------------------------------------------------------
# parity
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("proj_type", PROJ_TYPES)
def test_parity_with_galore_update_50_steps(proj_type):
    # rank 4, refresh every 10 steps: 5 refreshes in 50 steps. The same torch ops in the same
    # order on bases in the same memory order as galore-torch's, so the runs agree bit for bit
    # (seen here with torch 2.13); the issue asks for agreement to rounding, which the
    # tolerances below check first (a wrong side, scale or bias correction is off by > 1e-2)
    X, y = _data()
    proj = {"rank": 4, "update_proj_gap": 10, "scale": 0.5, "proj_type": proj_type}
    refs = [("re-derived", RefProjector)]
    cls = _galore_projector_class()
    if cls is not None:
        refs.append(("galore-torch", cls))
    a = _mlp()
    ours = _run_ours(a, GaLoreAdamW(_groups(a, **proj), lr=1e-2, weight_decay=0.01), X, y, 50)
    for _, Projector in refs:
        b = _mlp()
        ref = _run_ref(b, _groups(b, **proj), Projector, X, y, 50, lr=1e-2, wd=0.01)
        np.testing.assert_allclose(ours, ref, rtol=1e-5)
        for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
            torch.testing.assert_close(pa, pb, rtol=1e-4, atol=1e-5)
            assert torch.equal(pa, pb)
    assert ours[-1] < 0.9 * ours[0]  # and it trains


def test_parity_fails_for_a_wrong_scale():
    # the comparison above can fail: scale 0.5 against 0.25 drifts far past its tolerance
    X, y = _data()
    a, b = _mlp(), _mlp()
    ours = _run_ours(a, GaLoreAdamW(_groups(a, rank=4, update_proj_gap=10, scale=0.5), lr=1e-2),
                     X, y, 20)
    ref = _run_ref(b, _groups(b, rank=4, update_proj_gap=10, scale=0.25, proj_type="std"),
                   RefProjector, X, y, 20, lr=1e-2, wd=0.0)
    assert not np.allclose(ours, ref, rtol=1e-5)


def test_groups_without_rank_are_plain_galore_adamw():
    X, y = _data()
    a, b = _mlp(), _mlp()
    ours = _run_ours(a, GaLoreAdamW(a.parameters(), lr=1e-2, weight_decay=0.1), X, y, 10)
    ref = _run_ref(b, [{"params": list(b.parameters())}], RefProjector, X, y, 10, 1e-2, 0.1)
    assert ours == ref


# --------------------------------------------------------------------------------------------
# every method, every proj_type
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("proj_type", ["std", "full"])
def test_every_method_trains(method, proj_type):
    X, y = _data()
    model = _mlp()
    opt = GaLoreAdamW(_groups(model, rank=6, update_proj_gap=10, scale=1.0, proj_type=proj_type),
                      lr=1e-2, method=method, rng=3)
    losses = _run_ours(model, opt, X, y, 40)
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < (0.9 if proj_type == "full" else 0.8) * losses[0]  # full: 6 × 6 moments
    W = model[0].weight
    st = opt.state[W]
    want = (6, 6) if proj_type == "full" else (W.shape[0], 6)  # 24 × 20: std keeps the right
    assert tuple(st["exp_avg"].shape) == want


@pytest.mark.parametrize("method", ["rsvd", "dct", "online_pca", "sparse_rows"])
def test_projection_matches_gradient_projector(method):
    # the torch projection uses the basis of projkit.optim.GradientProjector's refresh
    g = torch.Generator().manual_seed(0)
    w = torch.nn.Parameter(torch.randn(30, 12, generator=g))
    G = torch.randn(30, 12, generator=g)
    opt = GaLoreAdamW([{"params": [w], "rank": 4, "proj_type": "right"}], method=method, rng=5)
    w.grad = G.clone()
    opt.step()
    proj = opt._proj[(0, 0)]
    P = proj.gps["right"].basis_matrix()  # 12 × 4 (sparse_rows: the scaled selection)
    torch.testing.assert_close(proj.project(opt.state[w], G), G @ P, rtol=1e-5, atol=1e-6)
    back = proj.project_back(opt.state[w], G @ P)
    torch.testing.assert_close(back, G @ P @ P.T, rtol=1e-5, atol=1e-6)


def test_online_pca_oja_step_matches_gradient_projector():
    from projkit.optim import GradientProjector

    g = torch.Generator().manual_seed(0)
    w = torch.nn.Parameter(torch.randn(16, 40, generator=g))
    Gs = [torch.randn(16, 40, generator=g, dtype=torch.float64) for _ in range(3)]
    w64 = torch.nn.Parameter(w.detach().double())
    opt = GaLoreAdamW([{"params": [w64], "rank": 3, "proj_type": "left"}], method="online_pca",
                      rng=2)
    gp = GradientProjector(3, method="online_pca", side="left",
                           rng=np.random.default_rng(0))
    gp.load_state_dict(dict(opt._projector(0, 0, w64, opt.param_groups[0]).gps["left"]
                            .state_dict()))
    for t, G in enumerate(Gs):
        w64.grad = G.clone()
        opt.step()
        gp.project(G, t)
        torch.testing.assert_close(opt.state[w64]["proj_left"], gp.basis, rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------------------------
# moments across a refresh
# --------------------------------------------------------------------------------------------


def _rotating_quadratic(moments, seed=0, steps=150):
    """Noisy gradients of f_t(W) = ½‖D Q_tᵀ (W − W*)‖²_F, Q_t = exp(θ t K) a slow rotation (K
    skew): the top-4 left subspace of the gradient turns with Q_t, and the noise (σ = 0.1)
    makes the moments' averaging matter. Returns the noiseless loss at the end."""
    g = torch.Generator().manual_seed(seed)
    m, n, r = 24, 16, 4
    d = torch.logspace(0, -1, m, dtype=torch.float64)
    Wstar = torch.randn(m, n, generator=g, dtype=torch.float64)
    A = torch.randn(m, m, generator=g, dtype=torch.float64)
    K = (A - A.T) / torch.linalg.matrix_norm(A - A.T, 2)
    W = torch.nn.Parameter(torch.zeros(m, n, dtype=torch.float64))
    opt = GaLoreAdamW([{"params": [W], "rank": r, "update_proj_gap": 5, "proj_type": "left"}],
                      lr=0.02, moments=moments)
    turn = torch.linalg.matrix_exp(0.02 * K)
    Q = torch.eye(m, dtype=torch.float64)
    for _ in range(steps):
        H = (Q * d**2) @ Q.T
        W.grad = H @ (W.detach() - Wstar) + 0.1 * torch.randn(m, n, generator=g,
                                                                dtype=torch.float64)
        opt.step()
        Q = Q @ turn
    return float(0.5 * ((torch.diag(d) @ Q.T @ (W.detach() - Wstar)) ** 2).sum())


def test_reproject_beats_reset_on_a_rotating_quadratic():
    # seen here: reproject ends about 35% below reset and 70% below keep on every seed; the
    # margin asked (15%) fails if reproject were no better than reset
    for seed in range(3):
        rep, res = _rotating_quadratic("reproject", seed), _rotating_quadratic("reset", seed)
        keep = _rotating_quadratic("keep", seed)
        assert rep < 0.85 * res and rep < keep, (seed, rep, res, keep)


def test_reproject_rotates_the_first_moment_exactly():
    from projkit.optim import GradientProjector

    g = torch.Generator().manual_seed(0)
    w = torch.nn.Parameter(torch.randn(10, 30, generator=g, dtype=torch.float64))
    opt = GaLoreAdamW([{"params": [w], "rank": 3, "update_proj_gap": 2, "proj_type": "left"}],
                      moments="reproject", method="dct")
    G0, G1, G2 = (torch.randn(10, 30, generator=g, dtype=torch.float64) for _ in range(3))
    for G in (G0, G1):
        w.grad = G
        opt.step()
    m_before = opt.state[w]["exp_avg"].clone()
    v_before = opt.state[w]["exp_avg_sq"].clone()
    idx_old = opt.state[w]["proj_left"].clone()
    w.grad = G2
    opt.step()
    gp = opt._proj[(0, 0)].gps["left"]
    C = gp.rotation(idx_old)  # dct: a 0/1 selection between the index sets
    assert isinstance(C, torch.Tensor)
    Pn = gp.basis_matrix()
    R2 = Pn.T @ G2
    b1, b2 = 0.9, 0.999
    torch.testing.assert_close(opt.state[w]["exp_avg"], b1 * (C @ m_before) + (1 - b1) * R2)
    torch.testing.assert_close(opt.state[w]["exp_avg_sq"],
                               b2 * ((C * C) @ v_before) + (1 - b2) * R2 * R2)
    del GradientProjector


def test_reset_zeroes_moments_and_restarts_bias_correction():
    w = torch.nn.Parameter(torch.randn(8, 12, dtype=torch.float64))
    opt = GaLoreAdamW([{"params": [w], "rank": 2, "update_proj_gap": 3}], moments="reset")
    for _ in range(4):
        w.grad = torch.randn(8, 12, dtype=torch.float64)
        opt.step()
    st = opt.state[w]
    assert st["step"] == 4 and st["moment_step"] == 1  # reset at step 3, one step since


# --------------------------------------------------------------------------------------------
# shapes and dtypes
# --------------------------------------------------------------------------------------------


def test_nd_parameters_use_the_documented_reshape():
    g = torch.Generator().manual_seed(0)
    conv = torch.nn.Parameter(torch.randn(8, 3, 3, 3, generator=g, dtype=torch.float64))
    experts = torch.nn.Parameter(torch.randn(4, 6, 5, generator=g, dtype=torch.float64))
    opt = GaLoreAdamW([{"params": [conv, experts], "rank": 2, "proj_type": "left"}])
    Gc = torch.randn(8, 3, 3, 3, generator=g, dtype=torch.float64)
    Ge = torch.randn(4, 6, 5, generator=g, dtype=torch.float64)
    conv.grad, experts.grad = Gc, Ge
    c0 = conv.detach().clone()
    opt.step()
    assert tuple(opt.state[conv]["exp_avg"].shape) == (2, 27)  # (8, 3·3·3) → left: 2 × 27
    assert tuple(opt.state[experts]["exp_avg"].shape) == (2, 30)  # (4, 6·5)
    # first Adam step: −lr · U (R / (|R| + eps/√(1−β₂))) with R = Uᵀ G (galore folds the bias
    # correction into the step size, so eps is seen scaled), with U the
    # top-2 left singular vectors of the 8 × 27 matricization
    U = torch.linalg.svd(Gc.reshape(8, 27), full_matrices=False)[0][:, :2]
    R = U.T @ Gc.reshape(8, 27)
    want = c0 - 1e-3 * (U @ (R / (R.abs() + 1e-6 / math.sqrt(1e-3)))).reshape(8, 3, 3, 3)
    torch.testing.assert_close(conv.detach(), want, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_precision_parameters(dtype):
    dt = getattr(torch, dtype)
    X, y = _data()
    model = _mlp().to(dt)
    opt = GaLoreAdamW(_groups(model, rank=4, update_proj_gap=10), lr=1e-2)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = _loss(model, X.to(dt), y)
        loss.backward()
        opt.step()
        losses.append(loss.float().item())
    assert all(math.isfinite(v) for v in losses) and losses[-1] < 0.85 * losses[0]
    W = model[0].weight
    assert W.dtype == dt
    assert opt.state[W]["exp_avg"].dtype == torch.float32  # moments and basis in float32
    assert opt.state[W]["proj_right"].dtype == torch.float32


# --------------------------------------------------------------------------------------------
# the refresh never fails
# --------------------------------------------------------------------------------------------


def test_svd_failure_falls_back_to_a_qr_basis(monkeypatch):
    g = torch.Generator().manual_seed(0)
    A = torch.randn(40, 3, generator=g) @ torch.randn(3, 25, generator=g)  # rank 3
    w = torch.nn.Parameter(torch.zeros(40, 25))
    opt = GaLoreAdamW([{"params": [w], "rank": 3, "proj_type": "left"}])

    def broken_svd(*args, **kwargs):
        raise torch.linalg.LinAlgError("linalg.svd: The algorithm failed to converge")

    monkeypatch.setattr(torch.linalg, "svd", broken_svd)
    w.grad = A.clone()
    with pytest.warns(RuntimeWarning, match="SVD .* failed"):
        opt.step()
    U = opt.state[w]["proj_left"]
    assert bool(torch.isfinite(w).all()) and bool(torch.isfinite(U).all())
    torch.testing.assert_close(U.T @ U, torch.eye(3), atol=1e-5, rtol=0)
    # the QR basis spans the gradient's column space (rank 3): U Uᵀ A = A
    torch.testing.assert_close(U @ (U.T @ A), A, atol=1e-4, rtol=1e-4)


def test_svd_returning_nan_falls_back(monkeypatch):
    real_svd = torch.linalg.svd

    def nan_svd(A, *args, **kwargs):
        U, s, Vh = real_svd(A, *args, **kwargs)
        return U * float("nan"), s, Vh

    w = torch.nn.Parameter(torch.zeros(12, 30))
    opt = GaLoreAdamW([{"params": [w], "rank": 2}])
    monkeypatch.setattr(torch.linalg, "svd", nan_svd)
    w.grad = torch.randn(12, 30)
    with pytest.warns(RuntimeWarning, match="NaN"):
        opt.step()
    assert bool(torch.isfinite(w).all())


def test_gradient_projector_svd_failure_falls_back(monkeypatch):
    # projkit.optim.GradientProjector(method="svd") on NumPy: LinAlgError -> randomized SVD
    from projkit.optim import GradientProjector

    rng = np.random.default_rng(0)
    G = rng.standard_normal((30, 3)) @ rng.standard_normal((3, 20))  # rank 3

    def broken_svd(*args, **kwargs):
        raise np.linalg.LinAlgError("SVD did not converge")

    monkeypatch.setattr(np.linalg, "svd", broken_svd)
    p = GradientProjector(3, method="svd", side="left", rng=0)
    with pytest.warns(RuntimeWarning, match="did not converge"):
        R = p.project(G, 0)
    P = np.asarray(p.basis)
    assert np.all(np.isfinite(P))
    np.testing.assert_allclose(P.T @ P, np.eye(3), atol=1e-10)
    np.testing.assert_allclose(p.project_back(R), G, atol=1e-8)  # rank 3: exact


def test_nan_gradient_keeps_the_previous_basis():
    w = torch.nn.Parameter(torch.zeros(12, 30))
    opt = GaLoreAdamW([{"params": [w], "rank": 2, "update_proj_gap": 1}])
    w.grad = torch.randn(12, 30)
    opt.step()
    U = opt.state[w]["proj_left"].clone()
    w.grad = torch.full((12, 30), float("nan"))
    with pytest.warns(RuntimeWarning, match="keeping the previous basis"):
        opt.step()
    assert torch.equal(opt.state[w]["proj_left"], U)


# --------------------------------------------------------------------------------------------
# checkpoints
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_resume_is_bit_identical(method):
    X, y = _data()
    moments = "keep" if method == "online_pca" else "reproject"

    def make(model):
        return GaLoreAdamW(_groups(model, rank=4, update_proj_gap=3, proj_type="std"), lr=1e-2,
                           method=method, moments=moments, rng=11)

    a = _mlp()
    opt_a = make(a)
    _run_ours(a, opt_a, X, y, 20)
    b = _mlp()
    opt_b = make(b)
    _run_ours(b, opt_b, X, y, 10)
    buf = io.BytesIO()
    torch.save({"model": b.state_dict(), "opt": opt_b.state_dict()}, buf)
    buf.seek(0)
    ck = torch.load(buf, weights_only=True)
    c = _mlp(seed=5)
    c.load_state_dict(ck["model"])
    opt_c = make(c)
    opt_c.load_state_dict(ck["opt"])
    _run_ours(c, opt_c, X, y, 10)
    for pa, pc in zip(a.parameters(), c.parameters(), strict=True):
        assert torch.equal(pa, pc)


# --------------------------------------------------------------------------------------------
# the rest of the contract
# --------------------------------------------------------------------------------------------


def test_galore_adam_adds_l2_to_the_gradient():
    g = torch.Generator().manual_seed(0)
    w1 = torch.nn.Parameter(torch.randn(6, 9, generator=g, dtype=torch.float64))
    w2 = torch.nn.Parameter(w1.detach().clone())
    G = torch.randn(6, 9, generator=g, dtype=torch.float64)
    a = GaLoreAdam([{"params": [w1], "rank": 2}], lr=0.1, weight_decay=0.5)
    b = GaLoreAdamW([{"params": [w2], "rank": 2}], lr=0.1)
    w1.grad = G.clone()
    w2.grad = G + 0.5 * w2.detach()
    a.step()
    b.step()
    torch.testing.assert_close(w1, w2, rtol=0, atol=0)


def test_no_numpy_in_the_svd_step(monkeypatch):
    # method="svd": every step is torch ops; NumPy's linear algebra is never called
    import numpy.linalg

    def boom(*a, **k):
        raise AssertionError("NumPy linear algebra called")

    for name in ("svd", "qr", "eigh"):
        monkeypatch.setattr(numpy.linalg, name, boom)
    X, y = _data()
    model = _mlp()
    _run_ours(model, GaLoreAdamW(_groups(model, rank=4, update_proj_gap=2), lr=1e-2), X, y, 5)


def test_bad_arguments():
    w = torch.nn.Parameter(torch.zeros(4, 5))
    with pytest.raises(ValueError, match="method: expected one of"):
        GaLoreAdamW([w], method="qr")
    with pytest.raises(ValueError, match="moments: expected one of"):
        GaLoreAdamW([w], moments="rotate")
    with pytest.raises(ValueError, match="proj_type: expected one of"):
        GaLoreAdamW([{"params": [w], "rank": 2, "proj_type": "diag"}])
    with pytest.raises(ValueError, match="rank: expected a positive int"):
        GaLoreAdamW([{"params": [w], "rank": 0}])
    with pytest.raises(ValueError, match="update_proj_gap: expected a positive int"):
        GaLoreAdamW([{"params": [w], "rank": 2, "update_proj_gap": 0}])
    with pytest.raises(ValueError, match="lr: expected"):
        GaLoreAdamW([w], lr=-1.0)
    with pytest.raises(ValueError, match="moments: 'reset'"):
        GaLoreAdamW([{"params": [w], "rank": 2}], method="online_pca", moments="reset")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        GaLoreAdamW([w], no_deprecation_warning=False)  # accepted, and silent
