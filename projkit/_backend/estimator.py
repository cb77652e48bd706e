"""The scikit-learn estimator protocol (``get_params``/``set_params``/repr/tags), without
importing scikit-learn: one mixin for every projkit estimator."""

from __future__ import annotations

import inspect
import numbers
from types import ModuleType
from typing import Any, ClassVar

import numpy as np

__all__ = ["ParamsMixin", "TransformerMixin", "compact_repr", "resolve_rng"]


def resolve_rng(rng: Any, random_state: Any) -> Any:
    """The SPEC-7 ``rng`` of an estimator given both ``rng`` and scikit-learn's ``random_state``.

    ``random_state`` is what scikit-learn users pass (``set_random_state``, grid searches): an
    int means the same as ``rng=int``; a legacy ``numpy.random.RandomState`` is consumed as
    scikit-learn does (each call draws a fresh int seed from it, so two fits differ and the
    sequence is reproducible from the RandomState's seed); a ``Generator`` is passed on.

    Raises
    ------
    ValueError
        When both are given (they would disagree).
    TypeError
        For a ``random_state`` of another type.
    """
    if random_state is None:
        return rng
    if rng is not None:
        raise ValueError(
            "rng, random_state: expected at most one of them (random_state is scikit-learn's "
            f"name for rng), got rng={rng!r} and random_state={random_state!r}"
        )
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(np.iinfo(np.int64).max, dtype=np.int64))
    if isinstance(random_state, np.random.Generator) or (
        isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool)
    ):
        if not isinstance(random_state, np.random.Generator) and int(random_state) < 0:
            raise ValueError(f"random_state: expected a non-negative int, got {random_state}")
        return random_state
    raise TypeError(
        "random_state: expected None, an int or a numpy.random.RandomState, got "
        f"{type(random_state).__name__}"
    )


class ParamsMixin:
    """get_params/set_params/repr of scikit-learn estimators, read off ``__init__``'s signature.

    Every constructor parameter is stored unchanged under its own name (scikit-learn's rule),
    so ``clone`` and grid searches work.
    """

    @classmethod
    def _get_param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return sorted(n for n, p in sig.parameters.items()
                      if n != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor parameters (scikit-learn's estimator protocol)."""
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params: Any) -> Any:
        """Set constructor parameters and return self; unknown names raise ``ValueError``."""
        valid = self._get_param_names()
        for key, value in params.items():
            if key not in valid:
                raise ValueError(
                    f"invalid parameter {key!r} for estimator {type(self).__name__}; "
                    f"valid parameters are {valid}"
                )
            setattr(self, key, value)
        return self

    #: per-class tag overrides read by :meth:`__sklearn_tags__`: ``transformer`` (adds
    #: scikit-learn's TransformerTags), ``pairwise`` (``X`` is a square affinity/adjacency),
    #: ``positive_only``, ``sparse`` (SciPy sparse input accepted), ``non_deterministic``
    _projkit_tags: ClassVar[dict[str, bool]] = {}

    def __sklearn_tags__(self) -> Any:
        # scikit-learn >= 1.6 asks every estimator for its tags (GridSearchCV, clone checks);
        # built lazily so that scikit-learn stays optional
        from sklearn.utils import InputTags, Tags, TargetTags, TransformerTags

        opts = type(self)._projkit_tags
        return Tags(
            estimator_type=None,
            target_tags=TargetTags(required=False),
            transformer_tags=TransformerTags() if opts.get("transformer") else None,
            input_tags=InputTags(allow_nan=False, pairwise=opts.get("pairwise", False),
                                 positive_only=opts.get("positive_only", False),
                                 sparse=opts.get("sparse", False)),
            non_deterministic=opts.get("non_deterministic", False),
        )

    def _check_samples(self, X: Any, *, reset: bool, name: str = "X", min_samples: int = 1,
                       accept_sparse: bool = False) -> tuple[Any, ModuleType, Any]:
        """Validate the sample matrix of ``fit`` (``reset=True``) or of a later method.

        The checks and messages of scikit-learn's ``validate_data``, without importing it:
        complex input is a ``ValueError``, an object array of numbers is read as floats,
        empty arrays name the shape and the minimum, ``fit`` records ``n_features_in_`` and
        every later call must match it. NumPy, CuPy and torch arrays are kept on their device
        (through :func:`~projkit._backend.check_input`).
        """
        from .namespace import is_cupy, is_dask, is_sparse, is_torch
        from .validation import check_input

        if not (hasattr(X, "__array_namespace__") or is_sparse(X) or is_cupy(X) or is_torch(X)
                or is_dask(X)):  # a dask array goes to check_input, which refuses it lazily
            if hasattr(X, "__array__") or isinstance(X, list | tuple):
                X = np.asarray(X)  # array-likes (scikit-learn's _NotAnArray, nested lists)
        if getattr(X, "ndim", 2) == 1:
            raise ValueError(
                f"{name}: expected a 2-D array, got a 1-D array of shape {tuple(X.shape)}; "
                "Reshape your data with X.reshape(-1, 1) for a single feature or "
                "X.reshape(1, -1) for a single sample."
            )
        if isinstance(X, np.ndarray) and X.dtype == object:
            try:
                X = X.astype(np.float64)
            except (TypeError, ValueError) as exc:
                raise TypeError(
                    f"{name}: expected numeric entries in the object array ({exc})"
                ) from exc
        kind = getattr(getattr(X, "dtype", None), "kind", None)
        if kind == "c" or "complex" in str(getattr(X, "dtype", "")):
            raise ValueError(f"{name}: Complex data not supported; expected real numbers")
        Xc, xp, back = check_input(X, name=name, ndim=2, accept_sparse=accept_sparse)
        n, p = (int(d) for d in Xc.shape)
        for got, low, what in ((n, min_samples, "sample"), (p, 1, "feature")):
            if got < low:
                raise ValueError(
                    f"{name}: Found array with {got} {what}(s) (shape=({n}, {p})) while a "
                    f"minimum of {low} is required."
                )
        if reset:
            self.n_features_in_ = p
        elif p != getattr(self, "n_features_in_", p):
            raise ValueError(
                f"{name}: X has {p} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input."
            )
        return Xc, xp, back

    def _check_is_fitted(self, attribute: str) -> None:
        if not hasattr(self, attribute):
            msg = (f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                   "appropriate arguments before using this estimator.")
            try:  # scikit-learn's own exception class when it is there (an AttributeError)
                from sklearn.exceptions import NotFittedError
            except ImportError:
                raise AttributeError(msg) from None
            raise NotFittedError(msg)

    def __repr__(self) -> str:
        sig = inspect.signature(type(self).__init__)
        changed = [
            f"{n}={getattr(self, n)!r}"
            for n, prm in sig.parameters.items()
            if n != "self" and prm.kind not in (prm.VAR_POSITIONAL, prm.VAR_KEYWORD)
            and getattr(self, n) is not prm.default
            and not (isinstance(prm.default, int | float | str) and getattr(self, n) == prm.default)
        ]
        return f"{type(self).__name__}({', '.join(changed)})"


class TransformerMixin:
    """``fit_transform`` of scikit-learn's TransformerMixin, for estimators with ``transform``
    (set ``_projkit_tags = {"transformer": True, ...}`` beside it for the tags)."""

    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> Any:
        """``fit(X, y, **fit_params).transform(X)``."""
        return self.fit(X, y, **fit_params).transform(X)  # type: ignore[attr-defined]


def _summary(value: Any) -> str:
    """An array as ``<ndarray (256, 50) float64>`` (sparse: with ``nnz``), else ``repr``."""
    shape = getattr(value, "shape", None)
    if shape is None or not hasattr(value, "dtype"):
        return repr(value)
    dims = "x".join(str(int(d)) for d in shape) if len(shape) else "scalar"
    nnz = f" nnz={int(value.nnz)}" if hasattr(value, "nnz") else ""
    lib = type(value).__module__.split(".")[0]
    kind = type(value).__name__ if lib in ("numpy", "scipy") else f"{lib}.{type(value).__name__}"
    return f"<{kind} {dims} {value.dtype}{nnz}>"


def compact_repr(obj: Any) -> str:
    """The repr of a result dataclass with each array summarized by shape and dtype.

    Fields that are ``None`` and fields declared with ``repr=False`` are left out, so a
    ``Sketch`` or an ``SVD`` prints in one line whatever its size. Use it as
    ``__repr__ = compact_repr`` in the class body (a dataclass keeps a ``__repr__`` that the
    class defines itself).
    """
    from dataclasses import fields

    parts = [f"{f.name}={_summary(getattr(obj, f.name))}" for f in fields(obj)
             if f.repr and getattr(obj, f.name) is not None]
    return f"{type(obj).__name__}({', '.join(parts)})"
