"""FastRP on BlogCatalog: quality (DeepWalk protocol) and speed/memory against the reference way.

Three parts, in one process (run from the repository root)::

    python benchmarks/compare/fastrp_blogcatalog.py            # full protocol
    python benchmarks/compare/fastrp_blogcatalog.py --quick    # 10/50/90 %, 2 shuffles

1. Quality: ``projkit.fastrp`` embeddings of BlogCatalog (``../shared/data/blogcatalog.mat``,
   ``network`` and ``group``) at dim 512, classified by the DeepWalk protocol: one-vs-rest
   logistic regression (liblinear, C = 0.1, as in the FastRP authors' notebooks) on 10 %..90 %
   of the nodes, 5 shuffles, each test node predicted with as many labels (top-k
   probabilities) as it has; Micro- and Macro-F1. The embedding is standardized column-wise
   (``sklearn.preprocessing.scale``) before the classifier, as the authors' ``fastrp_merge``
   does. The reference embedding (below) is scored on the same splits.
2. Speed and peak memory: the same FastRP formula written the reference way (the authors'
   ``fastrp.py``: ``sklearn.random_projection.SparseRandomProjection`` for R, SciPy sparse
   products for the powers, ``sklearn.preprocessing.normalize`` for the rows), same graph, same
   dim, same options; interleaved repeats, medians; peak memory by ``tracemalloc`` (NumPy and
   SciPy report their buffers to it) in the same process.
3. Scale: a random graph with 10^6 nodes and 10^7 undirected edges (numpy Generator), dim 128.

The machine these figures are meant for has 2 cores shared with other jobs: timings are
indicative and printed with the number of repeats.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import scipy.io
import scipy.sparse as sp

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[2]))

import projkit  # noqa: E402

DATA = Path(os.environ.get("PROJKIT_DATA", HERE.parents[3] / "shared" / "data"))

# FastRP settings for BlogCatalog: the projkit defaults (the paper's beta and a weighting that
# favours the 3rd and 4th powers, rows normalized per power).
SETTINGS = dict(weights=(0.0, 0.0, 1.0, 6.67), beta=-0.64, normalize=True)


# ---------------------------------------------------------------------------------------------
# the reference way


def reference_fastrp(A, dim, *, weights, beta, normalize, seed):
    """FastRP as the authors' fastrp.py computes it (sklearn + SciPy), transition matrix input.

    ``fastrp_projection(A, q, dim, 'sparse', 'trans', alpha=beta)`` then
    ``fastrp_merge(U_list, weights, normalization)`` without the final ``scale`` (applied by
    the evaluation to both embeddings alike).
    """
    from sklearn import random_projection
    from sklearn.preprocessing import normalize as sk_normalize

    n = A.shape[0]
    deg = np.asarray(A.sum(axis=1)).ravel()
    M = sp.spdiags(1.0 / deg, 0, n, n) @ A
    transformer = random_projection.SparseRandomProjection(n_components=dim, random_state=seed)
    transformer.fit(M)
    transformer.components_ = transformer.components_ @ sp.spdiags(deg**beta, 0, n, n)
    cur = transformer.transform(M)
    U_list = [cur]
    for _ in range(1, len(weights)):
        cur = M @ cur
        U_list.append(cur)
    U = None
    for cur, w in zip(U_list, weights, strict=True):
        cur = cur.toarray() if sp.issparse(cur) else cur
        if normalize:
            cur = sk_normalize(cur, norm="l2", axis=1)
        U = w * cur if U is None else U + w * cur
    return U


# ---------------------------------------------------------------------------------------------
# DeepWalk protocol


def deepwalk_scores(E, labels, ratios, shuffles, C=0.1):
    """Micro/Macro-F1 per training ratio, averaged over shuffles (top-k label prediction)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.preprocessing import scale

    X = scale(np.asarray(E, dtype=np.float64))
    Y = sp.csr_matrix(labels).astype(np.int64)
    n = X.shape[0]
    out = {}
    for ratio in ratios:
        micro, macro = [], []
        for s in range(shuffles):
            perm = np.random.default_rng(s).permutation(n)
            k = int(ratio * n)
            tr, te = perm[:k], perm[k:]
            Ytr, Yte = Y[tr].toarray(), Y[te].toarray()
            clf = OneVsRestClassifier(LogisticRegression(solver="liblinear", C=C))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # labels absent from a small training split
                clf.fit(X[tr], Ytr)
            P = clf.predict_proba(X[te])
            pred = np.zeros_like(Yte)
            counts = Yte.sum(axis=1)
            top = np.argsort(-P, axis=1)
            for i, c in enumerate(counts):
                pred[i, top[i, :c]] = 1
            micro.append(f1_score(Yte, pred, average="micro", zero_division=0))
            macro.append(f1_score(Yte, pred, average="macro", zero_division=0))
        out[ratio] = (float(np.mean(micro)), float(np.mean(macro)))
    return out


# ---------------------------------------------------------------------------------------------
# timing helpers


def timed(fn, *args, **kwargs):
    """(result, wall seconds, process CPU seconds over all threads)."""
    gc.collect()
    c = time.process_time()
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t, time.process_time() - c


def peak_bytes(fn, *args, **kwargs):
    gc.collect()
    tracemalloc.start()
    out = fn(*args, **kwargs)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del out
    return peak


def rss_delta(which, dim):
    """Peak-RSS growth (MiB) of one embedding computed in a fresh subprocess (Linux VmHWM);
    catches every allocation, including those tracemalloc does not see (Numba's)."""
    import subprocess

    out = subprocess.run([sys.executable, str(HERE), "--_rss", which, "--dim", str(dim)],
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def _peak_rss_kib():
    # VmHWM is per address space (reset by exec); ru_maxrss would carry the parent's peak
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _rss_child(which, dim):
    A = sp.csr_matrix(scipy.io.loadmat(DATA / "blogcatalog.mat")["network"])
    if which == "ours":
        projkit.fastrp(sp.random(20, 20, density=0.2, format="csr", rng=0), 8, rng=0, **SETTINGS)
    gc.collect()
    before = _peak_rss_kib()
    E = (projkit.fastrp(A, dim, rng=0, **SETTINGS) if which == "ours"
         else reference_fastrp(A, dim, seed=0, **SETTINGS))
    after = _peak_rss_kib()
    del E
    print((after - before) / 1024)


def random_graph(n, m, seed=0):
    """An undirected multigraph-free random graph: m edges drawn uniformly, symmetrized CSR."""
    g = np.random.default_rng(seed)
    i = g.integers(0, n, size=m, dtype=np.int64)
    j = g.integers(0, n, size=m, dtype=np.int64)
    keep = i != j
    i, j = i[keep], j[keep]
    rows = np.concatenate([i, j]).astype(np.int32)
    cols = np.concatenate([j, i]).astype(np.int32)
    S = sp.csr_matrix((np.ones(rows.size, dtype=np.float32), (rows, cols)), shape=(n, n))
    S.sum_duplicates()
    S.data[:] = 1.0
    return S


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10/50/90 %% training, 2 shuffles")
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--skip-quality", action="store_true")
    ap.add_argument("--skip-scale", action="store_true")
    ap.add_argument("--scale-nodes", type=int, default=10**6)
    ap.add_argument("--scale-edges", type=int, default=10**7)
    ap.add_argument("--ratios", type=float, nargs="+", help="training ratios (override)")
    ap.add_argument("--shuffles", type=int, help="shuffles per ratio (override)")
    ap.add_argument("--_rss", choices=["ours", "ref"], help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._rss:
        return _rss_child(args._rss, args.dim)

    mat = scipy.io.loadmat(DATA / "blogcatalog.mat")
    A = sp.csr_matrix(mat["network"])
    labels = mat["group"]
    n = A.shape[0]
    print(f"BlogCatalog: {n} nodes, {A.nnz} stored edges, {labels.shape[1]} labels; "
          f"dim {args.dim}; settings {SETTINGS}; cores {os.cpu_count()}")

    ours = lambda: projkit.fastrp(A, args.dim, rng=0, **SETTINGS)
    ref = lambda: reference_fastrp(A, args.dim, seed=0, **SETTINGS)
    ours()  # compile / load the cached Numba kernels outside the timings

    # --- speed (interleaved) and memory
    t_ours, t_ref = [], []
    for _ in range(args.repeats):
        t_ours.append(timed(ours)[1:])
        t_ref.append(timed(ref)[1:])
    mo, mr = (statistics.median(t[0] for t in ts) for ts in (t_ours, t_ref))
    co, cr = (statistics.median(t[1] for t in ts) for ts in (t_ours, t_ref))
    # the same, every pool on one thread (beside the default-thread headline)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import one_thread

    t1_ours, t1_ref = [], []
    with one_thread():
        for _ in range(args.repeats):
            t1_ours.append(timed(ours)[1])
            t1_ref.append(timed(ref)[1])
    mo1, mr1 = statistics.median(t1_ours), statistics.median(t1_ref)
    po, pr = peak_bytes(ours), peak_bytes(ref)
    ro, rr = rss_delta("ours", args.dim), rss_delta("ref", args.dim)
    print(f"\nspeed, median of {args.repeats} interleaved runs (dim {args.dim}); "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores:")
    print(f"  {'':20s} {'wall s':>8s} {'CPU s':>8s}   | {'1 thread wall s':>15s}")
    print(f"  projkit.fastrp      {mo:8.3f} {co:8.3f}   | {mo1:15.3f}")
    print(f"  reference (sklearn) {mr:8.3f} {cr:8.3f}   | {mr1:15.3f}")
    print(f"  ratio ref/ours      {mr / mo:7.2f}x {cr / co:7.2f}x   | {mr1 / mo1:14.2f}x"
          "  (target >= 3x)")
    print(f"peak memory, MiB:     {'tracemalloc':>11s} {'RSS growth':>10s}")
    print(f"  projkit.fastrp      {po / 2**20:11.1f} {ro:10.1f}")
    print(f"  reference (sklearn) {pr / 2**20:11.1f} {rr:10.1f}")
    print(f"  ratio ours/ref      {po / pr:11.2f} {ro / rr:10.2f}   (target <= 0.5)")

    # --- quality
    if not args.skip_quality:
        ratios = (0.1, 0.5, 0.9) if args.quick else tuple(np.round(np.arange(1, 10) / 10, 1))
        shuffles = 2 if args.quick else 5
        ratios = tuple(args.ratios) if args.ratios else ratios
        shuffles = args.shuffles or shuffles
        E_ours, E_ref = ours(), ref()
        print(f"\nDeepWalk protocol: liblinear C=0.1, {shuffles} shuffles; "
              "Micro-F1 / Macro-F1 (target at 10 %: >= 0.37 / >= 0.22)")
        print(f"  {'train':>6} | {'projkit micro':>13} {'macro':>7} | {'reference micro':>15} "
              f"{'macro':>7}", flush=True)
        for r in ratios:
            so = deepwalk_scores(E_ours, labels, (r,), shuffles)[r]
            sr = deepwalk_scores(E_ref, labels, (r,), shuffles)[r]
            print(f"  {r:6.0%} | {so[0]:13.4f} {so[1]:7.4f} | {sr[0]:15.4f} {sr[1]:7.4f}",
                  flush=True)

    # --- scale
    if not args.skip_scale:
        S, t_gen, _ = timed(random_graph, args.scale_nodes, args.scale_edges)
        print(f"\nrandom graph: {S.shape[0]} nodes, {S.nnz // 2} undirected edges "
              f"(built in {t_gen:.1f} s)")
        run = lambda: projkit.fastrp(S, 128, rng=0, **SETTINGS)
        times = [timed(run)[1:] for _ in range(max(1, min(3, args.repeats)))]
        wall = statistics.median(t[0] for t in times)
        cpu = statistics.median(t[1] for t in times)
        print(f"  projkit.fastrp dim 128: median wall {wall:.2f} s, CPU {cpu:.2f} s over "
              f"{len(times)} runs (target <= 30 s); load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
