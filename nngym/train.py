"""Supervised training by mini-batch gradient descent (the seed's ``SGD`` loop, generalised)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from nngym.costs import Cost, check_finite
from nngym.network import Sequential
from nngym.optim import Optimizer


def accuracy(net: Sequential, x: np.ndarray, labels: np.ndarray, batch_size: int = 1000) -> float:
    """Fraction of outputs whose arg-max over the last axis equals ``labels``.

    Args:
        net: The network; its outputs are (N, K), or (N, T, K) for sequences (every step counts once).
        x: Inputs (N, ...).
        labels: Integer classes, the output's shape without its last axis: (N,) or (N, T).

    Raises:
        ValueError: If ``labels`` does not have that shape.
    """
    out = net.predict(x, batch_size)
    labels = np.asarray(labels)
    if labels.shape != out.shape[:-1]:
        raise ValueError(f"accuracy: labels must have shape {out.shape[:-1]} (outputs {out.shape}), got {labels.shape}")
    return float((out.argmax(axis=-1) == labels).mean())


@dataclass
class History:
    """Per-epoch training cost and evaluation accuracy."""

    train_cost: list[float] = field(default_factory=list)
    eval_accuracy: list[float] = field(default_factory=list)


def fit(
    net: Sequential,
    cost: Cost,
    optimizer: Optimizer,
    x: np.ndarray,
    y: np.ndarray,
    epochs: int,
    batch_size: int,
    rng: np.random.Generator,
    eval_data: tuple[np.ndarray, np.ndarray] | None = None,
    lr_schedule: Callable[[float], float] | None = None,
    progress: bool = False,
    on_epoch: Callable[[int, History], None] | None = None,
) -> History:
    """Trains ``net`` on ``(x, y)``: each epoch shuffles, splits into mini-batches and takes one step per batch.

    Sequences train like any other examples when the network's recurrent layers are built with
    ``batch_first=True``: x (N, T, D) and y (N, T, K) (or labels (N, T)) are shuffled and batched
    by sequence, and each sequence starts from the zero state.

    Args:
        net: The network; recurrent layers in it must be ``batch_first``.
        cost: The cost (its gradient is the batch mean).
        optimizer: Updates ``net``'s parameters.
        x: Inputs (N, ...).
        y: Targets as the cost expects them (one-hot (N, K) or labels (N,); (N, T, K) or (N, T) for sequences).
        epochs: Passes over the data.
        batch_size: Mini-batch size m.
        rng: Generator for shuffling.
        eval_data: ``(x_eval, labels)`` evaluated (accuracy) after each epoch.
        lr_schedule: Maps progress remaining (1 → 0) to the learning rate, applied per batch.
        progress: Show a tqdm bar per epoch.
        on_epoch: Called after each epoch with ``(epoch, history)``.

    Raises:
        FloatingPointError: If the cost becomes NaN or infinite.
        ValueError: If x and y differ in length, or a recurrent layer reads time-major sequences.
    """
    if net.batch_axis != 0:
        raise ValueError(
            "fit shuffles and batches along axis 0, but the network reads time-major (T, N, D) sequences: "
            "build its recurrent layers with batch_first=True"
        )
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} examples but y has {len(y)}")
    history = History()
    n = len(x)
    steps_total = epochs * ((n + batch_size - 1) // batch_size)
    step = 0
    for epoch in range(epochs):
        order = rng.permutation(n)
        batches = range(0, n, batch_size)
        bar = tqdm(batches, desc=f"epoch {epoch + 1}/{epochs}", leave=False, disable=not progress)
        total = 0.0
        for start in bar:
            idx = order[start : start + batch_size]
            if lr_schedule is not None:
                optimizer.lr = lr_schedule(1.0 - step / steps_total)
            out = net.forward(x[idx])
            loss = cost.value(out, y[idx])
            check_finite(loss, f"cost at epoch {epoch + 1}, batch {start // batch_size}")
            net.backward(cost.delta(out, y[idx]))
            optimizer.step()
            total += loss * len(idx)
            step += 1
        history.train_cost.append(total / n)
        if eval_data is not None:
            history.eval_accuracy.append(accuracy(net, *eval_data))
        if on_epoch is not None:
            on_epoch(epoch, history)
    return history
