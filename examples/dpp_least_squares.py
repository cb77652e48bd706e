"""
DPP-weighted least squares: error against the number of samples
===============================================================

DPP-weighted least squares: error versus number of samples (Nouy & Michel, arXiv 2312.14057).

Approximate the smooth function ``f(x) = 1 / (1 + 4 x²)`` on [-1, 1] by a polynomial of degree
``m - 1`` (the Legendre space of dimension ``m``) from ``n`` evaluations at random points, with
four samplers: optimal i.i.d. weighted least squares, the projection DPP (``n = m``),
generalized volume-rescaled sampling, and independent repetitions of projection DPPs. For each
``n`` the script reports the error ratio ``‖f - f̂‖² / ‖f - P_m f‖²`` (1 = the best
approximation) averaged over independent draws, prints a table and plots it to
``dpp_least_squares.png`` next to this file.

Run: ``python examples/dpp_least_squares.py`` (40 draws per point, seconds;
``PROJKIT_EXAMPLES_FULL=1``: 200 draws, about a minute).
"""

from __future__ import annotations

import os

# thousands of tiny (10 000 × 10) problems: one BLAS thread avoids thread start-up per call
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from pathlib import Path

import numpy as np

from projkit import dpp_lstsq
from projkit.sampling.wls import legendre_features

# sphinx-gallery runs an example from its own folder, without __file__
HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()

FULL = os.environ.get("PROJKIT_EXAMPLES_FULL") == "1"
M = 10  # dimension of the Legendre space
REPS = 200 if FULL else 40  # independent draws per point of the curves
CANDIDATES = 10_000  # midpoint grid representing the uniform measure on [-1, 1]
FACTORS = [1, 1.5, 2, 3, 4, 6]  # n / m
SCHEMES = {
    "iid_optimal": "i.i.d. optimal density",
    "volume": "volume-rescaled",
    "repeated_dpp": "repeated projection DPP",
    "projection_dpp": "projection DPP (n = m)",
}


def f(x):
    return 1.0 / (1.0 + 4.0 * x**2)


def main() -> dict:
    # L²(dx/2) errors by Gauss–Legendre quadrature (400 nodes: exact far beyond degree 2m)
    xq, wq = np.polynomial.legendre.leggauss(400)
    wq = wq / 2
    Pq = legendre_features(xq, M)
    best_c = Pq.T @ (wq * f(xq))
    best = float(np.sum(wq * (f(xq) - Pq @ best_c) ** 2))

    def ratio(c):
        return float(np.sum(wq * (f(xq) - Pq @ c) ** 2)) / best

    results: dict = {}
    for scheme in SCHEMES:
        factors = [1] if scheme == "projection_dpp" else FACTORS
        for fac in factors:
            n = int(round(fac * M))
            if scheme == "repeated_dpp" and n % M:
                continue  # repetitions come in blocks of m points
            errs = [ratio(dpp_lstsq(f, "legendre", M, n_samples=n, scheme=scheme,
                                    candidates=CANDIDATES, rng=rep).coefficients)
                    for rep in range(REPS)]
            results[(scheme, n)] = np.array(errs)

    print(f"f(x) = 1/(1+4x^2), Legendre space m = {M}, best L2 error^2 = {best:.3e}, "
          f"{REPS} draws per cell")
    print(f"{'scheme':<26}{'n':>5}{'mean ratio':>14}{'median':>10}{'90%':>10}")
    for (scheme, n), e in results.items():
        print(f"{SCHEMES[scheme]:<26}{n:>5}{e.mean():>14.3g}{np.median(e):>10.3g}"
              f"{np.quantile(e, 0.9):>10.3g}")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for scheme, label in SCHEMES.items():
        pts = sorted((n, e.mean()) for (s, n), e in results.items() if s == scheme)
        ns, means = zip(*pts, strict=True)
        style = "o" if len(ns) == 1 else "o-"
        ax.semilogy(np.array(ns) / M, means, style, label=label)
    ax.axhline(1.0, color="gray", lw=0.8, ls="--")
    ax.set_xlabel("n / m")
    ax.set_ylabel("mean ‖f − f̂‖² / ‖f − P_m f‖²")
    ax.set_title(f"Weighted least squares in the Legendre space, m = {M}")
    ax.legend()
    fig.tight_layout()
    out = HERE / "dpp_least_squares.png"
    fig.savefig(out, dpi=120)
    print(f"wrote {out}")
    return results


if __name__ == "__main__":
    main()
