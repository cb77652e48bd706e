"""The scikit-learn estimator protocol (``get_params``/``set_params``/repr/tags), without
importing scikit-learn: one mixin for every projkit estimator."""

from __future__ import annotations

import inspect
from typing import Any

__all__ = ["ParamsMixin"]


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

    def __sklearn_tags__(self) -> Any:
        # scikit-learn >= 1.6 asks every estimator for its tags (GridSearchCV, clone checks);
        # built lazily so that scikit-learn stays optional
        from sklearn.utils import InputTags, Tags, TargetTags

        return Tags(estimator_type=None, target_tags=TargetTags(required=False),
                    input_tags=InputTags(allow_nan=False))

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
