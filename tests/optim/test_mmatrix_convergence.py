"""project_dd_mmatrix reports running out of Newton steps (issue 21)."""

import warnings

import numpy as np
import pytest

from projkit import NotConvergedWarning, mtp2_precision, project_dd_mmatrix
from projkit.optim.mtp2 import MTP2Precision


def _random(p, seed=0):
    return np.random.default_rng(seed).standard_normal((p, p))


def test_dd_projection_warns_when_max_iter_runs_out():
    # one Newton step cannot identify the active set of a dense random 30 x 30 input
    with pytest.warns(NotConvergedWarning, match="max_iter=1"):
        project_dd_mmatrix(_random(30), max_iter=1)


def test_dd_projection_silent_when_converged():
    T = _random(30)
    with warnings.catch_warnings():
        warnings.simplefilter("error", NotConvergedWarning)
        X = project_dd_mmatrix(T)
    # the documented tolerance: complementarity below 100 eps * p * max|T_sym|
    Ts = (T + T.T) / 2
    assert np.min(X.sum(axis=1)) >= -100 * np.finfo(float).eps * 30 * np.abs(Ts).max()


def test_function_and_estimator_default_stages_agree():
    import inspect

    f = inspect.signature(mtp2_precision).parameters["stages"].default
    assert f == MTP2Precision().stages == 3
