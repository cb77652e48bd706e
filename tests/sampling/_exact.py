"""Exact subset laws by enumeration and a χ² goodness-of-fit check for the sampling tests."""

from __future__ import annotations

from itertools import combinations

import numpy as np
from scipy import stats


def subsets(N, sizes=None):
    sizes = range(N + 1) if sizes is None else sizes
    return [S for r in sizes for S in combinations(range(N), r)]


def det_sub(A, S):
    if len(S) == 0:
        return 1.0
    idx = np.asarray(S)
    return float(np.linalg.det(A[np.ix_(idx, idx)]))


def chi2_pvalue(samples, law):
    """p-value of the χ² test of the observed subset counts against ``law`` (dict set→prob).

    Bins with expected count < 5 are pooled into one bin so the χ² approximation holds.
    """
    counts = {}
    for s in samples:
        key = tuple(sorted(int(i) for i in s))
        counts[key] = counts.get(key, 0) + 1
    n = len(samples)
    unknown = set(counts) - set(law)
    assert not unknown, f"sampled subsets outside the support: {sorted(unknown)[:5]}"
    obs, exp, pool_o, pool_e = [], [], 0.0, 0.0
    for S, p in law.items():
        if n * p >= 5:
            obs.append(counts.get(S, 0))
            exp.append(n * p)
        else:
            pool_o += counts.get(S, 0)
            pool_e += n * p
    if pool_e > 0:
        obs.append(pool_o)
        exp.append(pool_e)
    exp = np.asarray(exp) * (n / np.sum(exp))
    return stats.chisquare(obs, exp).pvalue
