"""GaLore-style training: full Adam vs Adam on projected gradients, an MLP on sklearn's digits.

``ProjectedAdam`` keeps Adam's moments of every weight matrix in a rank-16 gradient subspace
(refreshed every 50 steps by SVD or by DCT column selection), so the optimizer state shrinks
several-fold while the loss follows full Adam (as in GaLore, the projected run takes a larger
learning rate: its normalized step has only r·n entries). Writes ``galore_digits.png`` here.
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from sklearn.datasets import load_digits

from projkit.interop.torch import ProjectedAdam

digits = load_digits()
X = torch.tensor(digits.data / 16.0, dtype=torch.float32)
y = torch.tensor(digits.target)


def train(make_opt, steps=400):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(),
                                torch.nn.Linear(256, 256), torch.nn.ReLU(),
                                torch.nn.Linear(256, 10))
    opt, losses = make_opt(model.parameters()), []
    for step in range(steps):
        idx = torch.randint(0, len(X), (128,), generator=torch.Generator().manual_seed(step))
        loss = torch.nn.functional.cross_entropy(model(X[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    state = sum(t.numel() * t.element_size() for s in opt.state.values()
                for t in s.values() if torch.is_tensor(t))
    if isinstance(opt, ProjectedAdam):
        state = opt.state_nbytes()
    acc = (model(X).argmax(1) == y).float().mean().item()
    return losses, state, acc


runs = {
    "Adam": lambda p: torch.optim.Adam(p, lr=1e-3),
    "ProjectedAdam svd r=16": lambda p: ProjectedAdam(p, lr=3e-3, rank=16, update_gap=50,
                                                      scale=1.0),
    "ProjectedAdam dct r=16": lambda p: ProjectedAdam(p, lr=3e-3, rank=16, update_gap=50,
                                                      scale=1.0, method="dct", rotate_moments=True),
}
for name, make in runs.items():
    losses, state, acc = train(make)
    print(f"{name:>24}: final loss {sum(losses[-20:]) / 20:.3f}, train accuracy {acc:.3f}, "
          f"optimizer state {state / 1024:.0f} KiB")
    plt.plot(losses, label=f"{name} ({state / 1024:.0f} KiB state)", alpha=0.8)
plt.yscale("log")
plt.xlabel("step")
plt.ylabel("cross-entropy (minibatch)")
plt.legend()
plt.title("MLP on sklearn digits: full vs projected Adam")
plt.savefig(Path(__file__).with_suffix(".png"), dpi=120)
