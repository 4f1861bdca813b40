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
    """Fraction of ``x`` whose arg-max output equals ``labels`` (N,)."""
    return float((net.predict(x, batch_size).argmax(axis=1) == labels).mean())


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

    Args:
        net: The network.
        cost: The cost (its gradient is the batch mean).
        optimizer: Updates ``net``'s parameters.
        x: Inputs (N, ...).
        y: Targets as the cost expects them (one-hot (N, K) or labels (N,)).
        epochs: Passes over the data.
        batch_size: Mini-batch size m.
        rng: Generator for shuffling.
        eval_data: ``(x_eval, labels)`` evaluated (accuracy) after each epoch.
        lr_schedule: Maps progress remaining (1 → 0) to the learning rate, applied per batch.
        progress: Show a tqdm bar per epoch.
        on_epoch: Called after each epoch with ``(epoch, history)``.

    Raises:
        FloatingPointError: If the cost becomes NaN or infinite.
    """
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
