"""HouseholderProjector: agreement with LAPACK (orgqr/ormqr), a naive product of reflectors and
torch's householder_product; orthonormality; from_matrix vs QR; Haar sampling; vjp vs finite
differences; clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.linalg import lapack

import projkit.projectors.householder as hh
from projkit import HouseholderProjector
from projkit.projectors._householder_lapack import householder_qr as lapack_qr
from projkit.projectors._householder_xp import householder_qr
from projkit.testing import check_adjoint
from tests.conftest import to_host, tol


def _geqrf(A):
    qr, tau, *_ = lapack.get_lapack_funcs(("geqrf",), (A,))[0](A)
    return qr, tau


def _orgqr_full(qr, tau):
    """The whole n × n Q of the k reflectors in ``qr`` (orgqr on zero-padded storage)."""
    n, k = qr.shape
    (orgqr,) = lapack.get_lapack_funcs(("orgqr",), (qr,))
    a = np.hstack([qr, np.zeros((n, n - k), qr.dtype)])
    t = np.concatenate([tau, np.zeros(n - k, tau.dtype)])
    q, _, info = orgqr(a, t)
    assert info == 0
    return q


def _ormqr(qr, tau, C, trans):
    (ormqr,) = lapack.get_lapack_funcs(("ormqr",), (qr,))
    cq, _, info = ormqr("L", trans, qr, tau, C, max(1, C.shape[1]) * 64)
    assert info == 0
    return cq


def _naive_q(V, tau, lapack_storage=True):
    """Q = H_1 ... H_k, one rank-one update at a time (the definition)."""
    n, k = V.shape
    Q = np.eye(n)
    for i in range(k):
        v = V[:, i].astype(np.float64).copy()
        if lapack_storage:
            v[:i] = 0.0
            v[i] = 1.0
        Q = Q - tau[i] * np.outer(Q @ v, v)
    return Q


@pytest.fixture
def small_blocks(monkeypatch):
    # 3 reflectors per WY block, so small problems exercise several blocks and partial ones
    monkeypatch.setattr(hh, "_BLOCK", 3)


# ---------------------------------------------------------------------------------------------
# agreement with references


@pytest.mark.parametrize("n,k,r", [(37, 37, 5), (37, 20, 11), (50, 7, 30), (13, 13, 13)])
@pytest.mark.parametrize("blocks", ["default", "small"])
def test_matches_orgqr_ormqr(n, k, r, blocks, dtype, request):
    if blocks == "small":
        request.getfixturevalue("small_blocks")
    rng = np.random.default_rng(n * 100 + k + r)
    qr, tau = _geqrf(rng.standard_normal((n, k)).astype(dtype))
    P = HouseholderProjector(qr, r, tau=tau)
    Q = _orgqr_full(qr, tau)
    # tol: ~1000 ulps; the products involve O(k) rounding steps of size eps
    t = tol(dtype) * 10
    U = P.matrix()
    assert U.dtype == dtype
    np.testing.assert_allclose(U, Q[:, :r], atol=t)
    np.testing.assert_allclose(U.T @ U, np.eye(r), atol=t)
    X = rng.standard_normal((r, 4)).astype(dtype)
    C = np.zeros((n, 4), dtype)
    C[:r] = X
    np.testing.assert_allclose(P @ X, _ormqr(qr, tau, C, "N"), atol=t)
    Y = rng.standard_normal((n, 4)).astype(dtype)
    np.testing.assert_allclose(P.T @ Y, _ormqr(qr, tau, Y, "T")[:r], atol=t)
    Cp = P.orthogonal_complement
    assert Cp.shape == (n, n - r)
    if n > r:
        np.testing.assert_allclose(Cp.matrix(), Q[:, r:], atol=t)
        np.testing.assert_allclose(Cp.T @ Y, _ormqr(qr, tau, Y, "T")[r:], atol=t)
        Z = rng.standard_normal((n - r, 3)).astype(dtype)
        np.testing.assert_allclose(Cp @ Z, Q[:, r:] @ Z, atol=t)
    np.testing.assert_allclose(Cp.orthogonal_complement.matrix(), U, atol=t)


@pytest.mark.parametrize("convention", ["lapack", "full"])
def test_matches_naive_product(convention, small_blocks):
    rng = np.random.default_rng(3)
    n, k, r = 23, 17, 6
    V = rng.standard_normal((n, k))
    P = HouseholderProjector(V, r, convention=convention)
    if convention == "lapack":
        sq = 1.0 + np.sum(np.tril(V, -1) ** 2, axis=0)
    else:
        sq = np.sum(V * V, axis=0)
    np.testing.assert_allclose(P.tau, 2.0 / sq, rtol=1e-14)
    Q = _naive_q(V, P.tau, convention == "lapack")
    np.testing.assert_allclose(P.matrix(), Q[:, :r], atol=1e-13)
    np.testing.assert_allclose(P.orthogonal_complement.matrix(), Q[:, r:], atol=1e-13)


def test_only_first_rank_reflectors_act_on_U():
    # LAPACK storage: H_j e_i = e_i for i < j, so changing reflectors after the r-th leaves U
    rng = np.random.default_rng(4)
    V = rng.standard_normal((30, 30))
    V2 = V.copy()
    V2[:, 8:] = rng.standard_normal((30, 22))
    a = HouseholderProjector(V, 8).matrix()
    b = HouseholderProjector(V2, 8).matrix()
    np.testing.assert_array_equal(a, b)


def test_matches_torch_householder_product():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    qr, tau = _geqrf(rng.standard_normal((19, 12)))
    ref = torch.linalg.householder_product(torch.from_numpy(qr), torch.from_numpy(tau)).numpy()
    np.testing.assert_allclose(HouseholderProjector(qr, 12, tau=tau).matrix(), ref, atol=1e-13)


def test_zero_tau_reflectors_are_identity():
    # geqrf returns tau = 0 for columns already triangular; they enter as H = I
    rng = np.random.default_rng(6)
    W = np.triu(rng.standard_normal((9, 6)))
    W[:, 3] = rng.standard_normal(9)
    qr, tau = _geqrf(W)
    assert np.sum(tau == 0) >= 3
    P = HouseholderProjector(qr, 6, tau=tau)
    np.testing.assert_allclose(P.matrix(), _orgqr_full(qr, tau)[:, :6], atol=1e-14)
    G = rng.standard_normal((9, 6))
    g = P.vjp(G)
    assert np.all(g[:, tau == 0] == 0)


def test_dot_test_and_vector_operands(dtype):
    rng = np.random.default_rng(7)
    P = HouseholderProjector.random(31, 9, rng=1, dtype=dtype)
    x = rng.standard_normal(9).astype(dtype)
    y = rng.standard_normal(31).astype(dtype)
    ux, uty = P @ x, P.T @ y
    assert ux.shape == (31,) and uty.shape == (9,) and ux.dtype == dtype
    np.testing.assert_allclose(y @ ux, uty @ x, rtol=tol(dtype) * 10)
    Z = rng.standard_normal((4, 31)).astype(dtype)
    np.testing.assert_allclose(Z @ P, Z @ P.matrix(), atol=tol(dtype) * 10)
    np.testing.assert_allclose(P.T.matrix(), P.matrix().T)
    assert P.T.T is P and P.T.shape == (9, 31)


def test_dtype_promotion():
    P = HouseholderProjector.random(10, 3, dtype=np.float32, rng=0)
    X = np.ones((3, 2))
    assert (P @ X).dtype == np.float64
    assert (P @ X.astype(np.float32)).dtype == np.float32
    assert (P @ np.ones((3, 2), dtype=int)).dtype == np.float64  # ints -> float64 policy


def test_batched_vectors_match_loop():
    rng = np.random.default_rng(8)
    V = rng.standard_normal((3, 12, 10))
    P = HouseholderProjector(V, 4)
    X = rng.standard_normal((3, 4, 5))
    Y = rng.standard_normal((3, 12, 5))
    G = rng.standard_normal((3, 12, 4))
    U, UX, UtY, gV = P.matrix(), P @ X, P.T @ Y, P.vjp(G)
    for i in range(3):
        Pi = HouseholderProjector(V[i], 4)
        np.testing.assert_allclose(U[i], Pi.matrix(), atol=1e-14)
        np.testing.assert_allclose(UX[i], Pi @ X[i], atol=1e-14)
        np.testing.assert_allclose(UtY[i], Pi.T @ Y[i], atol=1e-14)
        np.testing.assert_allclose(gV[i], Pi.vjp(G[i]), atol=1e-13)
    # a batch of projectors applied to one operand, and one projector to a batch of operands
    np.testing.assert_allclose(P @ X[0], np.stack([U[i] @ X[0] for i in range(3)]), atol=1e-13)
    np.testing.assert_allclose(P.T @ Y[0], np.stack([U[i].T @ Y[0] for i in range(3)]),
                               atol=1e-13)
    P0 = HouseholderProjector(V[0], 4)
    np.testing.assert_allclose(P0 @ X, U[0] @ X, atol=1e-13)
    np.testing.assert_allclose(P0.T @ Y, np.swapaxes(U[0], 0, 1) @ Y, atol=1e-13)


def test_inputs_not_modified():
    rng = np.random.default_rng(9)
    qr, tau = _geqrf(rng.standard_normal((10, 6)))
    qr0, tau0 = qr.copy(), tau.copy()
    P = HouseholderProjector(qr, 3, tau=tau)
    Y = rng.standard_normal((10, 2))
    Y0 = Y.copy()
    P.matrix(), P.T @ Y, P.vjp(Y[:, :1] @ np.ones((1, 3)))
    np.testing.assert_array_equal(qr, qr0)
    np.testing.assert_array_equal(tau, tau0)
    np.testing.assert_array_equal(Y, Y0)


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 40),
    data=st.data(),
)
def test_orthonormal_columns_any_shape(n, data):
    k = data.draw(st.integers(1, n))
    r = data.draw(st.integers(1, n))
    seed = data.draw(st.integers(0, 2**32 - 1))
    conv = data.draw(st.sampled_from(["lapack", "full"]))
    V = np.random.default_rng(seed).standard_normal((n, k))
    P = HouseholderProjector(V, r, convention=conv)
    U = P.matrix()
    # ~k reflector applications, each with O(eps) error
    np.testing.assert_allclose(U.T @ U, np.eye(r), atol=1e-12)
    if r < n:
        Cm = P.orthogonal_complement.matrix()
        np.testing.assert_allclose(Cm.T @ U, 0, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# constructors


@pytest.mark.parametrize("positive", [True, False])
def test_from_matrix_reproduces_qr(positive, dtype):
    rng = np.random.default_rng(10)
    W = rng.standard_normal((21, 8)).astype(dtype)
    P = HouseholderProjector.from_matrix(W, 8, positive=positive)
    Q, R = np.linalg.qr(W.astype(np.float64))
    if positive:
        Q = Q * np.sign(np.diag(R))
    t = tol(dtype) * 10
    np.testing.assert_allclose(P.matrix(), Q, atol=t)
    # U R = W with R = U^T W upper triangular, sign convention explicit
    Rp = P.T @ W
    np.testing.assert_allclose(np.tril(Rp, -1), 0, atol=t * 10)
    d = np.diag(Rp)
    if positive:
        assert np.all(d > 0)
    else:  # geqrf: R_00 = -sign(W_00) ||W[:, 0]||
        assert np.sign(d[0]) == -np.sign(W[0, 0])
    np.testing.assert_allclose(P @ Rp, W, atol=t * 10)


def test_from_matrix_orthonormal_input_is_exact():
    rng = np.random.default_rng(11)
    Wo = np.linalg.qr(rng.standard_normal((40, 12)))[0]
    P = HouseholderProjector.from_matrix(Wo, 5)
    np.testing.assert_allclose(P.matrix(), Wo[:, :5], atol=1e-14)
    assert P.k == 12 and P.rank == 5
    np.testing.assert_allclose(HouseholderProjector.from_matrix(Wo, 12).matrix(), Wo, atol=1e-14)


@pytest.mark.parametrize("positive", [True, False])
def test_xp_householder_qr_matches_lapack(positive):
    # the unblocked xp QR is the CuPy path; check it with NumPy against geqrf/geqrfp
    rng = np.random.default_rng(12)
    W = rng.standard_normal((15, 9))
    W[:, 2] = 0.0  # a zero pivot column: tau = 0 (geqrf) / sign handling (geqrfp)
    qr, tau = householder_qr(W, positive, np)
    qr2, tau2 = lapack_qr(W, positive, np)
    np.testing.assert_allclose(qr, qr2, atol=1e-13)
    np.testing.assert_allclose(tau, tau2, atol=1e-14)


def test_random_reproducible_and_k():
    a = HouseholderProjector.random(12, 3, rng=5)
    b = HouseholderProjector.random(12, 3, rng=5)
    np.testing.assert_array_equal(a.matrix(), b.matrix())
    c = HouseholderProjector.random(12, 3, k=4, rng=np.random.default_rng(0))
    assert c.k == 4 and c.shape == (12, 3)
    U = c.matrix()
    np.testing.assert_allclose(U.T @ U, np.eye(3), atol=1e-14)
    assert HouseholderProjector.random(6, 2, dtype=np.float32, rng=0).matrix().dtype == np.float32


def test_random_is_haar():
    # Stewart/Mezzadri: with the positive sign fix Q is Haar on O(n). Without it (LAPACK's
    # beta = -sign(alpha)||x||) every diagonal entry of Q's first columns is biased negative.
    n, trials = 4, 2000
    rng = np.random.default_rng(13)
    Qs = np.stack(
        [
            np.hstack([P.matrix(), P.orthogonal_complement.matrix()])
            for P in (HouseholderProjector.random(n, 1, rng=rng) for _ in range(trials))
        ]
    )
    # each diagonal entry is symmetric: P(Q_ii > 0) = 1/2 (binomial sd = 0.011 at 2000 draws)
    frac = np.mean(np.diagonal(Qs, axis1=1, axis2=2) > 0, axis=0)
    np.testing.assert_allclose(frac, 0.5, atol=0.05)
    # det = +-1 equally often (O(n), not only SO(n))
    dets = np.linalg.det(Qs)
    np.testing.assert_allclose(np.abs(dets), 1, atol=1e-12)
    assert abs(np.mean(dets > 0) - 0.5) < 0.05
    # Q_00^2 ~ Beta(1/2, (n-1)/2) and the trace matches scipy's ortho_group (KS, alpha 1e-3)
    assert stats.kstest(Qs[:, 0, 0] ** 2, stats.beta(0.5, (n - 1) / 2).cdf).pvalue > 1e-3
    ref = stats.ortho_group.rvs(n, size=trials, random_state=14)
    tr_ref = np.trace(ref, axis1=1, axis2=2)
    assert stats.ks_2samp(np.trace(Qs, axis1=1, axis2=2), tr_ref).pvalue > 1e-3


# ---------------------------------------------------------------------------------------------
# vjp


def _fd_grad(f, V, h=1e-6):
    g = np.zeros_like(V)
    for idx in np.ndindex(V.shape):
        E = np.zeros_like(V)
        E[idx] = h
        g[idx] = (f(V + E) - f(V - E)) / (2 * h)
    return g


@pytest.mark.parametrize("convention", ["lapack", "full"])
@pytest.mark.parametrize("which", ["U", "complement"])
def test_vjp_matches_finite_differences(convention, which, small_blocks):
    rng = np.random.default_rng(15)
    n, k, r = 10, 8, 4
    V = rng.standard_normal((n, k))

    def op(V):
        P = HouseholderProjector(V, r, convention=convention)
        return P if which == "U" else P.orthogonal_complement

    G = rng.standard_normal(op(V).shape)
    g = op(V).vjp(G)
    fd = _fd_grad(lambda W: float(np.sum(G * op(W).matrix())), V)
    if convention == "lapack":
        fd = np.tril(fd, -1)  # only the strictly lower part is read
    # central differences with h = 1e-6: truncation O(h^2), rounding O(eps / h) ~ 1e-10
    np.testing.assert_allclose(g, fd, atol=1e-8)
    if convention == "lapack" and which == "U":
        assert np.all(g[:, r:] == 0)  # reflectors after the r-th do not act on U


def test_vjp_explicit_tau_uses_orthogonal_parametrization():
    rng = np.random.default_rng(16)
    qr, tau = _geqrf(rng.standard_normal((9, 6)))
    G = rng.standard_normal((9, 3))
    g1 = HouseholderProjector(qr, 3, tau=tau).vjp(G)
    g2 = HouseholderProjector(np.tril(qr, -1), 3).vjp(G)
    np.testing.assert_allclose(g1, g2, atol=1e-12)


def test_vjp_float32():
    rng = np.random.default_rng(17)
    V = rng.standard_normal((12, 7)).astype(np.float32)
    G = rng.standard_normal((12, 3)).astype(np.float32)
    g32 = HouseholderProjector(V, 3).vjp(G)
    g64 = HouseholderProjector(V.astype(np.float64), 3).vjp(G.astype(np.float64))
    assert g32.dtype == np.float32
    np.testing.assert_allclose(g32, g64, atol=1e-4)


# ---------------------------------------------------------------------------------------------
# errors


def test_errors():
    V = np.random.default_rng(0).standard_normal((5, 4))
    with pytest.raises(ValueError, match=r"vectors: expected at most n = 5 reflectors"):
        HouseholderProjector(np.ones((5, 6)), 2)
    with pytest.raises(ValueError, match=r"rank: expected at most 5"):
        HouseholderProjector(V, 6)
    with pytest.raises(ValueError, match=r"rank"):
        HouseholderProjector(V, 0)
    with pytest.raises(TypeError, match=r"rank"):
        HouseholderProjector(V, 2.0)
    Z = V.copy()
    Z[:, 2] = 0
    with pytest.raises(ValueError, match=r"vectors: column 2 is zero"):
        HouseholderProjector(Z, 2, convention="full")
    HouseholderProjector(Z, 2)  # LAPACK storage: v_2 = e_2 is a valid reflector
    with pytest.raises(ValueError, match=r"convention"):
        HouseholderProjector(V, 2, convention="paper")
    with pytest.raises(ValueError, match=r"tau: expected shape"):
        HouseholderProjector(V, 2, tau=np.ones(3))
    with pytest.raises(ValueError, match=r"tau: entry 0 makes H_0 non-orthogonal"):
        HouseholderProjector(V, 2, tau=np.ones(4) * 0.1)
    bad = V.copy()
    bad[1, 0] = np.nan
    with pytest.raises(ValueError, match=r"vectors: contains NaN or inf .* column 0"):
        HouseholderProjector(bad, 2)
    bad = V.copy()
    bad[4, 3] = np.inf  # a reflector that only acts on the complement: checked when used
    P = HouseholderProjector(bad, 2)
    with pytest.raises(ValueError, match=r"vectors: contains NaN or inf .* column 3"):
        _ = P.orthogonal_complement
    with pytest.raises(ValueError, match=r"vectors: contains NaN or inf .* column 3"):
        HouseholderProjector(bad, 2, convention="full")
    bad[0, 3] = np.nan  # above the diagonal: not read with LAPACK storage
    bad[4, 3] = 1.0
    HouseholderProjector(bad, 4).matrix()
    with pytest.raises(ValueError, match=r"vectors: expected a 2-D"):
        HouseholderProjector(np.ones(5), 2)
    P = HouseholderProjector(V, 2)
    with pytest.raises(ValueError, match=r"X: expected 2 rows"):
        P @ np.ones((3, 2))
    with pytest.raises(ValueError, match=r"Y: expected 5 rows"):
        P.T @ np.ones((4, 2))
    with pytest.raises(ValueError, match=r"grad_U: expected shape"):
        P.vjp(np.ones((5, 3)))
    with pytest.raises(ValueError, match=r"W: expected"):
        HouseholderProjector.from_matrix(np.ones((0, 3)), 1)
    with pytest.raises(ValueError, match=r"rank: expected at most 4"):
        HouseholderProjector.from_matrix(np.ones((4, 3)), 5)
    with pytest.raises(ValueError, match=r"k: expected at most 5"):
        HouseholderProjector.random(5, 2, k=6)
    with pytest.raises(ValueError, match=r"rank: expected at most 5"):
        HouseholderProjector.random(5, 7)
    with pytest.raises(TypeError, match=r"dtype"):
        HouseholderProjector.random(5, 2, dtype=np.int64)
    with pytest.raises(TypeError, match=r"rng"):
        HouseholderProjector.random(5, 2, rng=np.random.RandomState(0))


# ---------------------------------------------------------------------------------------------
# torch autograd wrapper (projkit.interop.torch)


def test_torch_gradcheck():
    torch = pytest.importorskip("torch")
    from projkit.interop.torch import HouseholderFunction, householder_apply

    g = torch.Generator().manual_seed(0)
    V = torch.randn(9, 7, dtype=torch.float64, generator=g, requires_grad=True)
    X = torch.randn(4, 5, dtype=torch.float64, generator=g, requires_grad=True)
    x = torch.randn(4, dtype=torch.float64, generator=g, requires_grad=True)
    assert torch.autograd.gradcheck(lambda V, X: householder_apply(V, X), (V, X))
    assert torch.autograd.gradcheck(lambda V, x: householder_apply(V, x), (V, x))
    assert torch.autograd.gradcheck(
        lambda V: HouseholderFunction.apply(V, None, 3, None, "full"), (V,)
    )
    Vb = torch.randn(2, 9, 7, dtype=torch.float64, generator=g, requires_grad=True)
    Xb = torch.randn(2, 4, 3, dtype=torch.float64, generator=g, requires_grad=True)
    assert torch.autograd.gradcheck(lambda V, X: householder_apply(V, X), (Vb, Xb))


def test_torch_matches_householder_product_gradient():
    # torch's orthogonal(..., orthogonal_map="householder") uses tau = 2 / (1 + ||tril(A)||^2)
    torch = pytest.importorskip("torch")
    from projkit.interop.torch import householder_apply

    g = torch.Generator().manual_seed(1)
    A = torch.randn(11, 6, dtype=torch.float64, generator=g)
    G = torch.randn(11, 6, dtype=torch.float64, generator=g)
    a = A.clone().requires_grad_(True)
    L = a.tril(-1)
    ref = torch.linalg.householder_product(L, 2.0 / (1.0 + (L * L).sum(0)))
    (ref * G).sum().backward()
    b = A.clone().requires_grad_(True)
    ours = householder_apply(b, rank=6)
    (ours * G).sum().backward()
    torch.testing.assert_close(ours.detach(), ref.detach(), atol=1e-13, rtol=0)
    torch.testing.assert_close(b.grad, a.grad, atol=1e-12, rtol=0)
    # float32 stays float32
    U32 = householder_apply(A.float(), rank=3)
    assert U32.dtype == torch.float32
    with pytest.raises(ValueError, match="rank: required"):
        householder_apply(A)
    with pytest.raises(TypeError, match="vectors: expected a torch.Tensor"):
        householder_apply(A.numpy(), rank=2)


# ---------------------------------------------------------------------------------------------
# dot test and engines (the xp fixture: NumPy here, CuPy when a device is present)


@pytest.mark.parametrize("convention", ["lapack", "full"])
def test_check_adjoint(xp, dtype, convention):
    # ⟨U x, y⟩ = ⟨x, Uᵀ y⟩ for U, its complement and through P.T
    V = np.random.default_rng(20).standard_normal((23, 17)).astype(dtype)
    P = HouseholderProjector(xp.asarray(V), 6, convention=convention)
    check_adjoint(P, xp=xp)
    check_adjoint(P.orthogonal_complement, xp=xp)
    check_adjoint(P.T, adjoint=lambda Y: P @ Y, xp=xp, dtype=dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("convention", ["lapack", "full"])
@pytest.mark.parametrize("block", [3, 64])
def test_engine_matches_numpy(xp, dtype, convention, block, monkeypatch):
    monkeypatch.setattr(hh, "_BLOCK", block)
    rng = np.random.default_rng(0)
    n, k, r = 45, 40, 7
    V = rng.standard_normal((n, k)).astype(dtype)
    X = rng.standard_normal((r, 5)).astype(dtype)
    Y = rng.standard_normal((n, 5)).astype(dtype)
    G = rng.standard_normal((n, r)).astype(dtype)
    Pc = HouseholderProjector(V, r, convention=convention)
    Pg = HouseholderProjector(xp.asarray(V), r, convention=convention)
    t = 1e-4 if dtype == np.float32 else 1e-11
    Ug = Pg.matrix()
    assert isinstance(Ug, xp.ndarray) and Ug.dtype == dtype
    np.testing.assert_allclose(to_host(Ug), Pc.matrix(), atol=t)
    np.testing.assert_allclose(to_host(Pg @ xp.asarray(X)), Pc @ X, atol=t)
    np.testing.assert_allclose(to_host(Pg.T @ xp.asarray(Y)), Pc.T @ Y, atol=t)
    Cg, Cc = Pg.orthogonal_complement, Pc.orthogonal_complement
    np.testing.assert_allclose(to_host(Cg.T @ xp.asarray(Y)), Cc.T @ Y, atol=t)
    np.testing.assert_allclose(to_host(Pg.vjp(xp.asarray(G))), Pc.vjp(G), atol=t * 10)
    np.testing.assert_allclose(to_host(Pg.tau), Pc.tau, rtol=t)  # the squared-norm engines


def test_xp_sq_norms_match_numba():
    # the CuPy engine's masked column blocks against the Numba kernel, on NumPy
    from projkit.projectors._householder_numba import vector_sq_norms
    from projkit.projectors._householder_xp import sq_norms

    V = np.random.default_rng(21).standard_normal((2, 30, 600))[:, :, :25]
    for lapack_storage in (True, False):
        np.testing.assert_allclose(sq_norms(V, lapack_storage, np),
                                   vector_sq_norms(V, lapack_storage, np), rtol=1e-13)


def test_engine_batched_and_mixing_error(xp):
    V = xp.asarray(np.random.default_rng(1).standard_normal((4, 30, 30)))
    P = HouseholderProjector(V, 6)
    U = to_host(P.matrix())
    eye = np.broadcast_to(np.eye(6), (4, 6, 6))
    np.testing.assert_allclose(np.swapaxes(U, -1, -2) @ U, eye, atol=1e-12)
    if xp is not np:
        with pytest.raises(TypeError, match="mix array libraries"):
            P @ np.ones((4, 6, 2))


@pytest.mark.parametrize("positive", [True, False])
def test_engine_from_matrix_and_random(xp, positive):
    W = np.random.default_rng(2).standard_normal((33, 9))
    Pg = HouseholderProjector.from_matrix(xp.asarray(W), 9, positive=positive)
    Pc = HouseholderProjector.from_matrix(W, 9, positive=positive)
    np.testing.assert_allclose(to_host(Pg.matrix()), Pc.matrix(), atol=1e-12)
    R = HouseholderProjector.random(50, 5, like=xp.zeros(1), rng=3)
    assert isinstance(R.vectors, xp.ndarray)
    U = to_host(R.matrix())
    np.testing.assert_allclose(U.T @ U, np.eye(5), atol=1e-12)


@pytest.mark.gpu
def test_torch_cuda_matches_householder_product():
    torch = pytest.importorskip("torch")
    pytest.importorskip("cupy")
    if not torch.cuda.is_available():
        pytest.skip("torch without CUDA")
    from projkit.interop.torch import householder_apply

    g = torch.Generator(device="cuda").manual_seed(0)
    A = torch.randn(40, 12, dtype=torch.float64, device="cuda", generator=g)
    G = torch.randn(40, 12, dtype=torch.float64, device="cuda", generator=g)
    a = A.clone().requires_grad_(True)
    L = a.tril(-1)
    ref = torch.linalg.householder_product(L, 2.0 / (1.0 + (L * L).sum(0)))
    (ref * G).sum().backward()
    b = A.clone().requires_grad_(True)
    ours = householder_apply(b, rank=12)
    assert ours.device.type == "cuda"
    (ours * G).sum().backward()
    torch.testing.assert_close(ours.detach(), ref.detach(), atol=1e-12, rtol=0)
    torch.testing.assert_close(b.grad, a.grad, atol=1e-11, rtol=0)


def test_torch_cpu_tensors_in_and_out():
    # check_input opens every entry point: torch in, torch out (NumPy views, no copies)
    torch = pytest.importorskip("torch")
    V = torch.randn(12, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    P = HouseholderProjector(V, 3)
    X = torch.ones(3, 2, dtype=torch.float64)
    assert isinstance(P.matrix(), torch.Tensor) and isinstance(P @ X, torch.Tensor)
    ref = HouseholderProjector(V.numpy(), 3)
    np.testing.assert_allclose((P @ X).numpy(), ref @ X.numpy())
    np.testing.assert_allclose((P.T @ (P @ X)).numpy(), X.numpy(), atol=1e-13)
