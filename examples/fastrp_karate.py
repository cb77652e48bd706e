"""
FastRP node embeddings of Zachary's karate club
===============================================

FastRP node embeddings of Zachary's karate club.

Embeds the 34 members of the club (the graph ships with networkx) with ``projkit.fastrp``,
then checks that the embedding knows which faction each member joined after the split: a
logistic regression trained on half of the members predicts the other half, the DeepWalk way,
averaged over 10 random splits. Writes ``fastrp_karate.png`` (a 2-D PCA of the embedding) next
to this file when matplotlib is available.

    python examples/fastrp_karate.py
"""

from pathlib import Path

import networkx as nx
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import scale

import projkit

# sphinx-gallery runs an example from its own folder, without __file__
HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()

G = nx.karate_club_graph()
y = np.array([G.nodes[v]["club"] == "Officer" for v in G], dtype=int)

# Small graph: three propagation steps, no degree damping, GDS's density 1/3 for R.
model = projkit.FastRP(64, weights=(1.0, 1.0, 1.0), beta=0.0, density=1 / 3, rng=0)
E = scale(model.fit_transform(G).astype(np.float64))
print(f"embedding: {E.shape[0]} nodes x {E.shape[1]} dims, dtype {model.embedding_.dtype}")

accs = []
for seed in range(10):
    perm = np.random.default_rng(seed).permutation(len(y))
    tr, te = perm[: len(y) // 2], perm[len(y) // 2 :]
    clf = LogisticRegression(C=0.1, solver="liblinear").fit(E[tr], y[tr])
    accs.append((clf.predict(E[te]) == y[te]).mean())
print(f"faction prediction from half the members: accuracy {np.mean(accs):.3f} "
      f"(+- {np.std(accs):.3f} over 10 splits; chance is {max(y.mean(), 1 - y.mean()):.3f})")

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:  # pragma: no cover - optional
    plt = None
if plt is not None:
    U, s, _ = np.linalg.svd(E - E.mean(0), full_matrices=False)
    xy = U[:, :2] * s[:2]
    fig, ax = plt.subplots(figsize=(5, 4))
    for club, color in ((0, "tab:blue"), (1, "tab:orange")):
        ax.scatter(*xy[y == club].T, c=color, label=["Mr. Hi", "Officer"][club])
    for v, (a, b) in enumerate(xy):
        ax.annotate(str(v), (a, b), fontsize=7)
    ax.set_title("FastRP embedding of the karate club (PCA)")
    ax.legend()
    out = HERE / "fastrp_karate.png"
    fig.savefig(out, dpi=120, bbox_inches="tight")
    print(f"wrote {out.name}")
