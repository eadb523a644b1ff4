"""A PyTorch training loop as an hptrack objective (examples/mlp_torch.toml), on the CPU.

The same study as examples/numpy_mlp.py: an MLP on scikit-learn's bundled digits, trained
with minibatch SGD and L2 (weight decay), each epoch reported with ``fold.report``. Needs
``pip install 'hptrack[torch]'``. The weights' initialisation and the batches' order come
from a ``torch.Generator`` seeded with ``fold.seed`` (never torch's global seed), and
torch runs on one thread, so ``hptrack verify`` finds the same scores.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn


def load_digits_scaled() -> tuple[np.ndarray, np.ndarray]:
    """The 8x8 digits, pixels scaled to [0, 1], as float32."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return (X / 16.0).astype(np.float32), y


def objective(params: dict[str, Any], fold: Any) -> dict[str, float]:
    """Train on ``fold``'s training rows, report each epoch, return the validation scores."""
    torch.set_num_threads(1)  # deterministic sums, and no oversubscription under --n-jobs
    generator = torch.Generator().manual_seed(fold.seed)
    X, y = torch.from_numpy(np.ascontiguousarray(fold.X_train)), torch.from_numpy(fold.y_train)
    X_val, y_val = torch.from_numpy(np.ascontiguousarray(fold.X_val)), torch.from_numpy(fold.y_val)
    n_classes = int(max(y.max(), y_val.max())) + 1
    model = _mlp(X.shape[1], params["units"], params["n_layers"], n_classes, generator)
    optimiser = torch.optim.SGD(model.parameters(), lr=params["learning_rate"], weight_decay=params["l2"])
    loss_of = nn.CrossEntropyLoss()
    for epoch in range(params["epochs"]):
        model.train()
        order = torch.randperm(len(X), generator=generator)
        for start in range(0, len(X), params["batch_size"]):
            rows = order[start : start + params["batch_size"]]
            optimiser.zero_grad()
            loss_of(model(X[rows]), y[rows]).backward()
            optimiser.step()
        model.eval()
        with torch.no_grad():
            train_loss = float(loss_of(model(X), y))
            logits = model(X_val)
            val_loss = float(loss_of(logits, y_val))
            val_accuracy = float((logits.argmax(dim=1) == y_val).float().mean())
        fold.report(epoch, train_loss=train_loss, val_loss=val_loss, val_accuracy=val_accuracy)
    return {"val_accuracy": val_accuracy, "val_loss": val_loss}


def _mlp(n_in: int, units: int, n_layers: int, n_out: int, generator: torch.Generator) -> nn.Module:
    """ReLU hidden layers, He-initialised from ``generator``."""
    layers: list[nn.Module] = []
    sizes = [n_in, *[units] * n_layers]
    for a, b in zip(sizes, sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    layers.append(nn.Linear(sizes[-1], n_out))
    model = nn.Sequential(*layers)
    with torch.no_grad():
        for layer in model:
            if isinstance(layer, nn.Linear):
                layer.weight.normal_(0.0, (2.0 / layer.in_features) ** 0.5, generator=generator)
                layer.bias.zero_()
    return model
