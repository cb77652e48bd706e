"""One contract over the whole public API.

``CASES`` holds every public callable with a small valid input for its main array argument;
``EXEMPT`` the public names that take no array data (result types, classes made by another
public function, warnings, scalar helpers), each with the reason. ``test_table_covers_api``
fails when a public name (``projkit.__all__`` and the ``__all__`` of every public module of
the subpackages) is in neither, so a new public function must be added here. Names whose
module cannot be imported (an optional dependency is missing) are not required.

For each case the tests check the package's policies:

- NaN and inf give ``ValueError`` (``nan="propagate"``: a linear operator applied to data
  propagates them, like ``@``);
- empty input gives ``ValueError`` (``empty="ok"``: a documented empty result);
- the wrong number of dimensions gives ``ValueError``;
- complex where unsupported, and object dtype, give ``TypeError`` or ``ValueError``;
- array-likes are accepted as NumPy accepts them: ``np.matrix``, nested lists and tuples give
  the ndarray's result;
- float16 computes in float32, float32 stays float32;
- the input is not modified (dense, sparse where accepted, torch when installed);
- no other exception than ``ValueError``, ``TypeError`` and ``LinAlgError`` escapes
  (hypothesis over shapes and dtypes).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil
import subprocess
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import projkit

ERRORS = (ValueError, TypeError, np.linalg.LinAlgError)
HAVE_TORCH = importlib.util.find_spec("torch") is not None


# ------------------------------------------------------------------------------ valid inputs
def _normal(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _psd(shape, seed=0):
    n = shape[0]
    X = _normal((n, n + 2), seed)
    return X @ X.T / n + np.eye(n)


def _orth(shape, seed=0):
    return np.linalg.qr(_normal(shape, seed))[0]


def _graph(shape, seed=0):
    R = np.random.default_rng(seed).random(shape)
    G = np.triu((R < 0.4).astype(float), 1)
    return G + G.T


def _chol(shape, seed=0):
    return np.linalg.cholesky(_psd(shape, seed))


def _unit(shape, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, shape)


def _mmatrix_target(shape, seed=0):
    S = _normal(shape, seed)
    return (S + S.T) / 2 + 2 * np.eye(shape[0])


def _cov(shape, seed=0):
    # a sample covariance-like SPD matrix for the M-matrix estimators
    return _psd(shape, seed)


@dataclass
class Case:
    """One public callable: ``call(A)`` runs it on the array under test."""

    name: str
    call: Callable[[Any], Any]
    shape: tuple[int, ...]
    make: Callable[..., np.ndarray] = _normal
    out: Callable[[Any], Any] | None = None  # the float result whose dtype follows A's
    sparse: bool = False                     # sparse A accepted
    complex_ok: bool = False                 # complex A accepted (kept complex)
    empty: str = "error"                     # "error" or "ok" (documented empty result)
    nan: str = "error"                       # "error" or "propagate"
    ndim_ok: tuple[int, ...] = (2,)          # accepted numbers of dimensions
    square: bool = False                     # the empty input is (0, 0)
    integer_out: bool = False                # the result is indices (no dtype policy)
    fixed_dtype: Any = None                  # documented output dtype, whatever A's
    lists: bool = True                       # nested lists/tuples are read as one array
    object_ok: bool = False                  # numeric object arrays accepted (sklearn)

    def valid(self, dtype=np.float64):
        return self.make(self.shape).astype(dtype)


def _sk(method, **kw):
    return lambda A: projkit.sketch(A, 6, method=method, rng=0, **kw)


def _K_proj():
    from projkit.projectors.kronecker import KroneckerProjection

    W = _psd((3, 3), 5)
    h = _normal(9, 6)
    return lambda A: KroneckerProjection(A, _like(W, A)).query(_like(h, A))


def _like(M, A):
    """M in A's float32 working dtype when A is float32/float16 (the other arguments of a
    call follow the array under test, so that its dtype alone decides the result's)."""
    dt = str(getattr(A, "dtype", "float64")).rsplit(".", 1)[-1]
    return M.astype(np.float32) if dt in ("float32", "float16") else M


_F, _H = _normal((15, 3), 1), _normal((12, 3), 2)


def _meta(A):
    return projkit.meta_factorize(A, _like(_F, A), _like(_H, A))


_RHS = _normal(30, 9)

CASES: list[Case] = [
    # sketching
    *[Case(f"sketch[{m}]", _sk(m), (30, 4), out=lambda r: r.matrix, sparse=True)
      for m in ("gaussian", "srht", "countsketch", "sparse_sign", "sparse", "coordinated",
                "threshold", "linf")],
    Case("approx_matmul", lambda A: projkit.approx_matmul(projkit.sketch(A, 6, rng=0),
                                                          projkit.sketch(A, 6, rng=0)),
         (30, 4), out=lambda r: r, sparse=True),
    Case("merge_sketches", lambda A: projkit.merge_sketches([projkit.sketch(A, 6, rng=0)]),
         (30, 4), out=lambda r: r.matrix, sparse=True),
    Case("sketch_operator", lambda X: projkit.sketch_operator(30, 6, rng=0) @ X, (30, 4),
         out=lambda r: r, sparse=True, nan="propagate", ndim_ok=(1, 2)),
    Case("sketch_lstsq", lambda A: projkit.sketch_lstsq(A, _RHS, size=12, rng=0), (30, 3),
         out=lambda r: r, sparse=True),
    # FastRP: the embedding has the ``dtype`` parameter's dtype (float32 by default)
    Case("fastrp", lambda G: projkit.fastrp(G, 4, rng=0), (12, 12), make=_graph,
         out=lambda r: r, sparse=True, square=True, fixed_dtype=np.float32),
    Case("FastRP", lambda G: projkit.FastRP(4, rng=0).fit(G).embedding_, (12, 12),
         make=_graph, out=lambda r: r, sparse=True, square=True, fixed_dtype=np.float32,
         object_ok=True),
    # factorizations
    Case("rsvd", lambda A: projkit.rsvd(A, 3, rng=0), (20, 12), out=lambda r: r.s,
         sparse=True, complex_ok=True),
    Case("range_finder", lambda A: projkit.range_finder(A, 3, rng=0), (20, 12),
         out=lambda r: r, sparse=True, complex_ok=True),
    Case("meta_factorize", _meta, (15, 12), out=lambda r: r.G, sparse=True, complex_ok=True),
    Case("cur", lambda A: projkit.cur(A, 3, rng=0), (20, 12), out=lambda r: r.U, sparse=True,
         complex_ok=True),
    Case("interpolative", lambda A: projkit.interpolative(A, 3, rng=0), (20, 12),
         out=lambda r: r.Z, sparse=True, complex_ok=True),
    Case("nystrom", lambda A: projkit.nystrom(A, 3, rng=0), (20, 12), out=lambda r: r.G,
         sparse=True, complex_ok=True),
    Case("nystrom_psd", lambda A: projkit.nystrom_psd(A, 3, rng=0), (12, 12), make=_psd,
         out=lambda r: r.s, sparse=True, square=True),
    Case("pinv", lambda A: projkit.pinv(A), (8, 5), out=lambda r: r, complex_ok=True,
         empty="ok"),
    Case("SVDUpdater", lambda A: projkit.SVDUpdater(A, 3, init="exact", rng=0).svd,
         (20, 12), out=lambda r: r.s, sparse=True),
    # projectors
    Case("Projector", lambda F: projkit.Projector(F).matrix(), (10, 3), out=lambda r: r,
         complex_ok=True),
    Case("HouseholderProjector", lambda V: projkit.HouseholderProjector(V, 2).matrix(),
         (8, 2), out=lambda r: r),
    Case("KroneckerProjection", _K_proj(), (4, 9), out=lambda r: r, sparse=True),
    Case("cholesky_update", lambda L: projkit.cholesky_update(L, np.ones(5)), (5, 5),
         make=_chol, out=lambda r: r, square=True),
    # sampling
    Case("sample_dpp", lambda L: projkit.sample_dpp(L=L, k=2, n_samples=3, rng=0), (8, 8),
         make=_psd, square=True, integer_out=True),
    Case("sample_projection_dpp", lambda V: projkit.sample_projection_dpp(V, n_samples=3,
                                                                          rng=0),
         (10, 3), make=_orth, integer_out=True),
    Case("volume_sample", lambda X: projkit.volume_sample(X, 4, n_samples=2, rng=0), (12, 3),
         integer_out=True),
    Case("dpp_lstsq", lambda x: projkit.dpp_lstsq(np.exp, "legendre", 3, scheme="volume",
                                                  n_samples=5, candidates=x, rng=0).sample,
         (40,), make=_unit, ndim_ok=(1,), integer_out=True),
    Case("legendre_features", lambda x: projkit.legendre_features(x, 3), (10,), make=_unit,
         out=lambda r: r, ndim_ok=(1,), empty="ok"),
    Case("trigonometric_features", lambda x: projkit.trigonometric_features(x, 3), (10,),
         make=_unit, out=lambda r: r, ndim_ok=(1,), empty="ok"),
    # optimization
    Case("project_mmatrix", projkit.project_mmatrix, (5, 5), make=_mmatrix_target,
         out=lambda r: r, square=True),
    Case("project_dd_mmatrix", projkit.project_dd_mmatrix, (5, 5), make=_mmatrix_target,
         out=lambda r: r, square=True),
    Case("mtp2_precision", lambda S: projkit.mtp2_precision(S, 0.1), (5, 5), make=_cov,
         out=lambda r: r, square=True),
    # scikit-learn estimators: check_estimator's check_dtype_object wants numeric object
    # arrays accepted (and strings rejected)
    Case("MTP2Precision", lambda X: projkit.MTP2Precision(0.1).fit(X).precision_, (40, 4),
         out=lambda r: r, object_ok=True),
    Case("MTP2PrecisionCV",
         lambda X: projkit.MTP2PrecisionCV(alphas=2, n_refinements=1, cv=2).fit(X).precision_,
         (40, 4), out=lambda r: r, object_ok=True),
    # a list (or tuple) of gradients is GradientProjector's batched form (documented), and a
    # gradient with more axes is matricized (documented): neither is an array-like here
    Case("GradientProjector", lambda G: projkit.GradientProjector(2).project(G, 0), (8, 6),
         out=lambda r: r, ndim_ok=tuple(range(1, 9)), lists=False),
]

# public names that take no array data, with the reason; they are still public API
EXEMPT: dict[str, str] = {
    "NotConvergedWarning": "a warning class",
    "__version__": "a string",
    "CUR": "result type, built by cur",
    "ID": "result type, built by interpolative",
    "SVD": "result type, built by rsvd / nystrom_psd / SVDUpdater",
    "MetaFactorization": "result type, built by meta_factorize / nystrom",
    "Sketch": "result type, built by sketch",
    "DPPLstsq": "result type, built by dpp_lstsq",
    "SketchOperator": "built by sketch_operator (covered)",
    "LINEAR_METHODS": "a tuple of method names",
    "default_lstsq_size": "integers only (n, d, eps, delta)",
    "row_hash": "hash of integer row ids, no float data",
    "check_adjoint": "test utility taking an operator",
    # projkit.interop.torch: autograd functions, hooks and optimizers over torch parameters;
    # their contract (dtype, device, state) is torch's and is tested in tests/interop
    "GaLoreAdam": "torch optimizer (tests/interop)",
    "GaLoreAdamW": "torch optimizer (tests/interop)",
    "ProjectedAdam": "torch optimizer (tests/interop)",
    "GradientProjectorHook": "torch gradient hook (tests/interop)",
    "HouseholderFunction": "torch autograd function (tests/interop)",
    "householder_apply": "torch autograd function (tests/interop)",
}
# projkit.distributed: the Dask engine's building blocks, over dask arrays and their chunks
# (tested on a distributed.LocalCluster in tests/distributed)
EXEMPT.update({n: "Dask engine building block over dask arrays (tests/distributed)"
               for n in ("check_dask", "check_row_chunks", "chunk_offsets", "fresh_pass",
                         "materialized", "matmul", "serial", "transpose_matmul", "tree_sum",
                         "tsqr")})

BY_NAME = {c.name: c for c in CASES}
IDS = [c.name for c in CASES]


def _public_names() -> set[str]:
    """``projkit.__all__`` plus the ``__all__`` of every public module of the subpackages
    (modules that cannot be imported for a missing optional dependency are skipped)."""
    names = set()
    for n in projkit.__all__:
        try:
            getattr(projkit, n)
        except ImportError:
            continue  # a lazy name whose optional dependency is not installed
        names.add(n)
    for sub in projkit._SUBPACKAGES:
        try:
            pkg = importlib.import_module(f"projkit.{sub}")
        except ImportError:
            continue
        names.update(getattr(pkg, "__all__", ()))
        for info in pkgutil.iter_modules(getattr(pkg, "__path__", [])):
            if info.name.startswith("_"):
                continue
            try:
                mod = importlib.import_module(f"projkit.{sub}.{info.name}")
            except ImportError:
                continue
            names.update(getattr(mod, "__all__", ()))
    return names


def test_table_covers_api():
    covered = {c.name.split("[")[0] for c in CASES} | set(EXEMPT)
    missing = sorted(_public_names() - covered)
    assert not missing, f"public names without a contract case (add them to CASES): {missing}"
    stale = sorted({c.name.split("[")[0] for c in CASES} - _public_names())
    assert not stale, f"contract cases for names that are not public: {stale}"


# ------------------------------------------------------------------------------ helpers
def _run(case, A):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NotConvergedWarning and friends are not the point
        return case.call(A)


def _result(case, r):
    return None if case.out is None else np.asarray(_host(case.out(r)))


def _host(x):
    from projkit._backend import to_numpy

    if sp.issparse(x):
        return x.toarray()
    return np.asarray(to_numpy(x))


def _same(case, r1, r2):
    if case.integer_out or case.out is None:
        a = r1 if not hasattr(r1, "__len__") else [np.asarray(_host(x)) for x in r1]
        b = r2 if not hasattr(r2, "__len__") else [np.asarray(_host(x)) for x in r2]
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x, y)
        return
    np.testing.assert_allclose(_result(case, r1), _result(case, r2), rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------------------ the contract
@pytest.mark.parametrize("name", IDS)
def test_valid_input_and_float_policy(name):
    case = BY_NAME[name]
    r64 = _run(case, case.valid(np.float64))
    r32 = _run(case, case.valid(np.float32))
    r16 = _run(case, case.valid(np.float16))
    if case.out is not None and case.fixed_dtype is not None:
        for r in (r64, r32, r16):
            assert _result(case, r).dtype == case.fixed_dtype
    elif case.out is not None:
        assert _result(case, r64).dtype == np.float64
        assert _result(case, r32).dtype == np.float32, "float32 must stay float32"
        assert _result(case, r16).dtype == np.float32, "float16 computes in float32"


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("name", IDS)
def test_nan_and_inf(name, bad):
    case = BY_NAME[name]
    A = case.valid()
    A.flat[0] = A.flat[-1] = bad  # both ends (a LAPACK-convention V ignores V[0, 0])
    if case.nan == "propagate":
        r = _result(case, _run(case, A))
        assert not np.all(np.isfinite(r))
        return
    with pytest.raises(ValueError):
        _run(case, A)


@pytest.mark.parametrize("name", IDS)
def test_empty_input(name):
    case = BY_NAME[name]
    shape = (0,) * len(case.shape) if case.square else (0, *case.shape[1:])
    A = np.zeros(shape)
    if case.empty == "ok":
        _run(case, A)
    else:
        with pytest.raises(ValueError):
            _run(case, A)


@pytest.mark.parametrize("name", IDS)
def test_wrong_ndim(name):
    case = BY_NAME[name]
    A = case.valid()
    flat = A.reshape(-1)
    wrong = {0: np.asarray(flat[0]), 1: flat, 2: flat.reshape(1, -1), 3: flat.reshape(1, 1, -1)}
    for nd, B in wrong.items():
        if nd in case.ndim_ok:
            continue
        with pytest.raises(ValueError):
            _run(case, B)


@pytest.mark.parametrize("name", IDS)
def test_complex_and_object_dtype(name):
    case = BY_NAME[name]
    A = case.valid()
    if case.complex_ok:
        _run(case, A + 0.5j * A)
    else:
        with pytest.raises((TypeError, ValueError)):
            _run(case, A + 0.5j * A)
    if case.object_ok:
        _same(case, _run(case, A.astype(object)), _run(case, A))
        with pytest.raises((TypeError, ValueError)):
            _run(case, np.full(A.shape, "x", dtype=object))
    else:
        with pytest.raises((TypeError, ValueError)):
            _run(case, A.astype(object))


@pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")
@pytest.mark.parametrize("name", IDS)
def test_array_likes_accepted_as_numpy(name):
    case = BY_NAME[name]
    A = case.valid()
    ref = _run(case, A)
    likes = []
    if case.lists:
        likes += [A.tolist(), tuple(map(tuple, A)) if A.ndim == 2 else tuple(A.tolist())]
    if A.ndim == 2:
        likes.append(np.asmatrix(A))
    for like in likes:
        _same(case, _run(case, like), ref)


@pytest.mark.parametrize("name", IDS)
def test_input_not_modified(name):
    case = BY_NAME[name]
    A = case.valid()
    A0 = A.copy()
    _run(case, A)
    np.testing.assert_array_equal(A, A0)
    A32 = case.valid(np.float32)
    A32_0 = A32.copy()
    _run(case, A32)
    np.testing.assert_array_equal(A32, A32_0)
    if case.sparse:
        S = sp.csr_matrix(A)
        parts = (S.data.copy(), S.indices.copy(), S.indptr.copy())
        _run(case, S)
        for a, b in zip((S.data, S.indices, S.indptr), parts, strict=True):
            np.testing.assert_array_equal(a, b)
    if HAVE_TORCH:
        import torch

        T = torch.from_numpy(A.copy())
        _run(case, T)
        np.testing.assert_array_equal(T.numpy(), A0)


@pytest.mark.parametrize("name", [c.name for c in CASES if c.sparse])
def test_sparse_gives_the_dense_answer(name):
    case = BY_NAME[name]
    A = case.valid()
    dense, sparse = _run(case, A), _run(case, sp.csr_matrix(A))
    if case.integer_out:
        _same(case, sparse, dense)
    else:
        np.testing.assert_allclose(_result(case, sparse), _result(case, dense), rtol=1e-8,
                                   atol=1e-10)


# ------------------------------------------------------------------------------ hypothesis
_DTYPES = [np.float64, np.float32, np.float16, np.int64, np.int32, np.bool_, np.complex128,
           np.uint8]


@settings(max_examples=int(os.environ.get("CONTRACT_EXAMPLES", 60)), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(name=st.sampled_from(IDS), dtype=st.sampled_from(_DTYPES),
       dims=st.lists(st.integers(0, 9), min_size=1, max_size=3), seed=st.integers(0, 3))
def test_hypothesis_shapes_and_dtypes(name, dtype, dims, seed):
    """Any shape and dtype: a result that follows the dtype policy, or one of the three
    documented exceptions (nothing else escapes: no IndexError, no ZeroDivisionError ...)."""
    case = BY_NAME[name]
    rng = np.random.default_rng(seed)
    if case.square and len(dims) == 2:
        dims = [dims[0], dims[0]]
    raw = rng.standard_normal(tuple(dims)) * 3
    if case.make in (_psd, _cov, _chol, _orth, _graph, _mmatrix_target) and len(dims) == 2 \
            and dims[0] == dims[1] and dims[0] > 0:
        raw = case.make(tuple(dims), seed)
    A = raw.astype(dtype) if dtype is not np.complex128 else raw + 1j * raw
    try:
        r = _run(case, A)
    except ERRORS:
        return
    if case.out is not None and case.fixed_dtype is None and np.dtype(dtype).kind in "fbiu":
        got = _result(case, r).dtype
        want = np.float32 if np.dtype(dtype) in (np.float32, np.float16) else np.float64
        assert got == want, (name, dtype, got)


# ------------------------------------------------------------------------------ the CLI
def test_cli_info_into_a_closed_pipe():
    """``python -m projkit info | head -1``: no BrokenPipeError traceback."""
    p = subprocess.Popen([sys.executable, "-m", "projkit", "info"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    assert p.stdout is not None and p.stderr is not None
    p.stdout.readline()
    p.stdout.close()  # the reader goes away, like head after one line
    err = p.stderr.read().decode()
    p.wait(timeout=60)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
