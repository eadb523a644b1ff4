"""A small NumPy training loop as an hptrack objective (examples/numpy_mlp.toml).

A multilayer perceptron (ReLU hidden layers, softmax output, cross-entropy with L2) trained
by minibatch SGD on scikit-learn's bundled digits. hptrack calls ``objective(params, fold)``
once per (configuration, fold); each epoch is reported with ``fold.report``, so
``hptrack curves`` and the report show the learning curves. Every random draw comes from
``fold.seed``, so a re-run (``hptrack verify``) gives the same numbers bit for bit.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def load_digits_scaled() -> tuple[np.ndarray, np.ndarray]:
    """The 8x8 digits, pixels scaled to [0, 1]."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


def objective(params: dict[str, Any], fold: Any) -> dict[str, float]:
    """Train on ``fold``'s training rows, report each epoch, return the validation scores."""
    rng = np.random.default_rng(fold.seed)
    X, y, X_val, y_val = fold.X_train, fold.y_train, fold.X_val, fold.y_val
    n_classes = int(max(y.max(), y_val.max())) + 1
    sizes = [X.shape[1], *[params["units"]] * params["n_layers"], n_classes]
    weights = [rng.normal(0.0, np.sqrt(2.0 / a), size=(a, b)) for a, b in zip(sizes, sizes[1:])]
    biases = [np.zeros(b) for b in sizes[1:]]
    lr, l2, batch = params["learning_rate"], params["l2"], params["batch_size"]
    for epoch in range(params["epochs"]):
        order = rng.permutation(len(X))
        for start in range(0, len(X), batch):
            rows = order[start : start + batch]
            grads_w, grads_b = _gradients(weights, biases, X[rows], y[rows], l2)
            for i in range(len(weights)):
                weights[i] -= lr * grads_w[i]
                biases[i] -= lr * grads_b[i]
        train_loss, _ = _evaluate(weights, biases, X, y)
        val_loss, val_accuracy = _evaluate(weights, biases, X_val, y_val)
        fold.report(epoch, train_loss=train_loss, val_loss=val_loss, val_accuracy=val_accuracy)
    return {"val_accuracy": val_accuracy, "val_loss": val_loss}


def _forward(weights: list[np.ndarray], biases: list[np.ndarray], X: np.ndarray) -> list[np.ndarray]:
    """Each layer's activations, the input first and the softmax probabilities last."""
    activations = [X]
    for i, (w, b) in enumerate(zip(weights, biases)):
        z = activations[-1] @ w + b
        if i < len(weights) - 1:
            activations.append(np.maximum(z, 0.0))
        else:
            z = z - z.max(axis=1, keepdims=True)
            e = np.exp(z)
            activations.append(e / e.sum(axis=1, keepdims=True))
    return activations


def _gradients(
    weights: list[np.ndarray], biases: list[np.ndarray], X: np.ndarray, y: np.ndarray, l2: float
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Backpropagation of the mean cross-entropy plus ``l2 / 2 * ||w||^2``."""
    activations = _forward(weights, biases, X)
    delta = activations[-1].copy()
    delta[np.arange(len(y)), y] -= 1.0
    delta /= len(y)
    grads_w: list[np.ndarray] = []
    grads_b: list[np.ndarray] = []
    for i in range(len(weights) - 1, -1, -1):
        grads_w.insert(0, activations[i].T @ delta + l2 * weights[i])
        grads_b.insert(0, delta.sum(axis=0))
        if i:
            delta = (delta @ weights[i].T) * (activations[i] > 0)
    return grads_w, grads_b


def _evaluate(
    weights: list[np.ndarray], biases: list[np.ndarray], X: np.ndarray, y: np.ndarray
) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) on ``X``, ``y``."""
    probabilities = _forward(weights, biases, X)[-1]
    loss = float(-np.mean(np.log(probabilities[np.arange(len(y)), y] + 1e-12)))
    return loss, float(np.mean(probabilities.argmax(axis=1) == y))
