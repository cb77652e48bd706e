"""GaLore on sklearn's digits: full AdamW against AdamW on low-rank projected gradients.

An MLP (64-256-256-10) learns the 8×8 digits with

* full AdamW (``torch.optim.AdamW``),
* galore-torch's ``GaLoreAdamW``, when the package is installed,
* projkit's drop-in :class:`projkit.interop.torch.GaLoreAdamW` with the ``svd`` refresh
  (galore-torch's arithmetic), the SVD-free ``dct`` refresh and ``online_pca`` (an Oja step
  every step, moments carried into the moving basis).

The weight matrices keep Adam's moments in a rank-16 subspace refreshed every 50 steps, so their
optimizer state shrinks several-fold while the loss follows full AdamW. It prints each run's
final loss, training accuracy, optimizer-state bytes and time, and plots the loss curves to
``galore_digits.png`` beside this file (skipped when matplotlib is not installed).
"""

import time
from pathlib import Path

import torch
from sklearn.datasets import load_digits

from projkit.interop.torch import GaLoreAdamW

STEPS, BATCH, RANK, GAP = 300, 128, 16, 50

digits = load_digits()
X = torch.tensor(digits.data / 16.0, dtype=torch.float32)
y = torch.tensor(digits.target)


def model_and_groups():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(),
                                torch.nn.Linear(256, 256), torch.nn.ReLU(),
                                torch.nn.Linear(256, 10))
    mats = [p for p in model.parameters() if p.ndim == 2]
    rest = [p for p in model.parameters() if p.ndim < 2]
    groups = [{"params": mats, "rank": RANK, "update_proj_gap": GAP, "scale": 0.25,
               "proj_type": "std"}, {"params": rest}]
    return model, groups


def state_bytes(opt):
    """Bytes the optimizer keeps: its state tensors, and galore-torch's projection matrices
    (counted by the storage they keep alive: a slice of the full SVD factor)."""
    total = 0
    for st in opt.state.values():
        for v in st.values():
            if torch.is_tensor(v):
                total += v.numel() * v.element_size()
            for t in getattr(v, "ortho_matrix", None) or ():
                total += t.untyped_storage().nbytes()
    return total


def train(make_opt):
    model, groups = model_and_groups()
    opt, losses = make_opt(model, groups), []
    t0 = time.perf_counter()
    for step in range(STEPS):
        idx = torch.randint(0, len(X), (BATCH,), generator=torch.Generator().manual_seed(step))
        loss = torch.nn.functional.cross_entropy(model(X[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    seconds = time.perf_counter() - t0
    with torch.no_grad():
        acc = (model(X).argmax(1) == y).float().mean().item()
    return losses, state_bytes(opt), acc, seconds


runs = {"AdamW (full)": lambda m, g: torch.optim.AdamW(m.parameters(), lr=1e-3)}
try:  # galore-torch's package imports transformers and bitsandbytes too
    from galore_torch import GaLoreAdamW as PeerGaLoreAdamW

    runs["galore-torch GaLoreAdamW"] = lambda m, g: PeerGaLoreAdamW(
        g, lr=1e-2, no_deprecation_warning=True)
except ImportError:
    print("galore-torch is not installed (or not importable): its run is skipped")
runs["projkit GaLoreAdamW svd"] = lambda m, g: GaLoreAdamW(g, lr=1e-2)
runs["projkit GaLoreAdamW dct"] = lambda m, g: GaLoreAdamW(g, lr=1e-2, method="dct",
                                                           moments="reproject")
runs["projkit GaLoreAdamW online_pca"] = lambda m, g: GaLoreAdamW(
    g, lr=1e-2, method="online_pca", moments="reproject")

results = {}
for name, make in runs.items():
    losses, nbytes, acc, seconds = train(make)
    results[name] = (losses, nbytes)
    print(f"{name:>32}: final loss {sum(losses[-20:]) / 20:.3f}, train accuracy {acc:.3f}, "
          f"optimizer state {nbytes / 1024:7.1f} KiB, {seconds:.2f} s")

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    print("matplotlib is not installed: no plot")
else:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, (losses, nbytes) in results.items():
        ax.plot(losses, label=f"{name} ({nbytes / 1024:.0f} KiB state)", alpha=0.8)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (minibatch)")
    ax.set_title(f"MLP on sklearn digits: full AdamW vs GaLore (rank {RANK})")
    ax.legend()
    out = Path(__file__).with_suffix(".png")
    fig.savefig(out, dpi=120, bbox_inches="tight")
    print(f"wrote {out}")
