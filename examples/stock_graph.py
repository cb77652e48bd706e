"""
The conditional-dependence graph of 56 US stocks under total positivity
=======================================================================

The conditional-dependence graph of 56 US stocks under total positivity.

Stock returns are positively dependent (they share the market factor), so their Gaussian model
is plausibly MTP2: the precision matrix is an M-matrix and every edge is a positive partial
correlation. ``projkit.MTP2Precision`` estimates it with the adaptive multi-stage method of Ying,
Cardoso & Palomar (ICML 2023); the graph below has one node per stock, coloured by sector, and
an edge per non-zero partial correlation (width ~ its strength).

Data: daily open/close quotes 2003-2007 of the scikit-learn stock-market example
(``../shared/data/financial/*.csv``); the daily variation close - open is standardized per stock.

Run ``python examples/stock_graph.py``; it writes ``examples/stock_graph.png``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

import projkit

# sphinx-gallery runs an example from its own folder, without __file__
HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()

# sector of each ticker (hand-made from the companies' lines of business in 2003-2007)
SECTORS: dict[str, str] = {
    "AAPL": "Technology", "CAJ": "Technology", "CSCO": "Technology", "DELL": "Technology",
    "HPQ": "Technology", "IBM": "Technology", "MSFT": "Technology", "SAP": "Technology",
    "SNE": "Technology", "TXN": "Technology", "XRX": "Technology", "YHOO": "Technology",
    "AMZN": "Retail", "CVS": "Retail", "HD": "Retail", "WMT": "Retail", "MCD": "Retail",
    "MAR": "Retail",
    "AIG": "Financials", "AXP": "Financials", "BAC": "Financials", "GS": "Financials",
    "JPM": "Financials", "WFC": "Financials",
    "COP": "Energy", "CVX": "Energy", "TOT": "Energy", "VLO": "Energy", "XOM": "Energy",
    "BA": "Aerospace & defense", "GD": "Aerospace & defense", "NOC": "Aerospace & defense",
    "RTN": "Aerospace & defense",
    "CAT": "Industrials", "DD": "Industrials", "GE": "Industrials", "MMM": "Industrials",
    "NAV": "Industrials", "R": "Industrials",
    "F": "Automobiles", "HMC": "Automobiles", "TM": "Automobiles",
    "GSK": "Pharmaceuticals", "NVS": "Pharmaceuticals", "PFE": "Pharmaceuticals",
    "SNY": "Pharmaceuticals",
    "CL": "Consumer staples", "K": "Consumer staples", "KMB": "Consumer staples",
    "KO": "Consumer staples", "PEP": "Consumer staples", "PG": "Consumer staples",
    "UN": "Consumer staples",
    "CMCSA": "Media", "CVC": "Media", "TWX": "Media",
}


def data_dir() -> Path:
    env = os.environ.get("PROJKIT_DATA")
    if env:
        return Path(env) / "financial"
    return HERE.parent.parent / "shared" / "data" / "financial"


def load_returns(folder: Path | None = None) -> tuple[np.ndarray, list[str]]:
    """Standardized daily close - open of every ticker (rows: days, columns: stocks)."""
    folder = data_dir() if folder is None else folder
    if not any(folder.glob("*.csv")):
        return synthetic_returns()
    names, cols = [], []
    for f in sorted(folder.glob("*.csv")):
        raw = np.genfromtxt(f, delimiter=",", names=True, dtype=None, encoding="utf-8")
        cols.append(np.asarray(raw["close"], float) - np.asarray(raw["open"], float))
        names.append(f.stem)
    X = np.column_stack(cols)
    X = (X - X.mean(0)) / X.std(0)
    return X, names


def synthetic_returns(days: int = 1258, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """A stand-in when the data are absent: a market factor plus one factor per sector
    (positive loadings, so the model is MTP2), standardized like the real returns."""
    print(f"{data_dir()} not found: using generated returns for the same 56 tickers")
    g = np.random.default_rng(seed)
    names = sorted(SECTORS)
    sectors = sorted(set(SECTORS.values()))
    market = g.standard_normal(days)
    factor = {s: g.standard_normal(days) for s in sectors}
    X = np.column_stack([0.6 * market + 0.8 * factor[SECTORS[t]] + g.standard_normal(days)
                         for t in names])
    return (X - X.mean(0)) / X.std(0), names


def sector_purity(precision: np.ndarray, names: list[str]) -> tuple[int, float, float]:
    """(edges, share of edges inside a sector, modularity of the sector partition)."""
    import networkx as nx

    p = len(names)
    iu = np.triu_indices(p, 1)
    w = -precision[iu]
    keep = w > 1e-8 * np.abs(np.diag(precision)).mean()
    G = nx.Graph()
    G.add_nodes_from(range(p))
    G.add_weighted_edges_from((i, j, float(x)) for i, j, x, k in zip(*iu, w, keep, strict=True)
                              if k)
    n_edges = G.number_of_edges()
    if n_edges == 0:
        return 0, 0.0, 0.0
    inside = sum(SECTORS[names[i]] == SECTORS[names[j]] for i, j in G.edges)
    groups: dict[str, set[int]] = {}
    for k, name in enumerate(names):
        groups.setdefault(SECTORS[name], set()).add(k)
    mod = nx.community.modularity(G, list(groups.values()), weight="weight")
    return n_edges, inside / n_edges, mod


def main() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import networkx as nx

    X, names = load_returns()
    n, p = X.shape
    est = projkit.MTP2Precision(alpha=0.4, stages=3).fit(X)
    Theta = est.precision_
    n_edges, inside, mod = sector_purity(Theta, names)
    print(f"{n} days x {p} stocks; {est.n_iter_} iterations; {n_edges} edges, "
          f"{100 * inside:.0f}% inside a sector, sector modularity {mod:.3f}")

    d = np.sqrt(np.diag(Theta))
    pcor = -Theta / np.outer(d, d)  # partial correlations (>= 0 under MTP2)
    G = nx.Graph()
    G.add_nodes_from(names)
    for i in range(p):
        for j in range(i + 1, p):
            if pcor[i, j] > 1e-8:
                G.add_edge(names[i], names[j], weight=pcor[i, j])
    sectors = sorted(set(SECTORS.values()))
    cmap = plt.get_cmap("tab10")
    colour = {s: cmap(k % 10) for k, s in enumerate(sectors)}
    pos = nx.spring_layout(G, weight="weight", seed=3, k=0.35)
    fig, ax = plt.subplots(figsize=(11, 9))
    widths = [6 * G[u][v]["weight"] for u, v in G.edges]
    nx.draw_networkx_edges(G, pos, width=widths, alpha=0.5, ax=ax)
    nx.draw_networkx_nodes(G, pos, node_color=[colour[SECTORS[v]] for v in G.nodes],
                           node_size=420, ax=ax)
    nx.draw_networkx_labels(G, pos, font_size=7, ax=ax)
    for s in sectors:
        ax.scatter([], [], color=colour[s], label=s)
    ax.legend(loc="lower left", fontsize=8, frameon=False)
    ax.set_title(f"MTP2 graph of {p} stocks (adaptive M-matrix estimate, {n_edges} edges, "
                 f"{100 * inside:.0f}% within sector)")
    ax.axis("off")
    out = HERE / "stock_graph.png"
    fig.savefig(out, dpi=110, bbox_inches="tight")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
