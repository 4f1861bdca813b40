"""Supervised training by mini-batch gradient descent (the seed's ``SGD`` loop, generalised)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from nngym.activations import Sigmoid, Softmax
from nngym.checks import check_int, check_rng, is_real
from nngym.costs import Cost, CrossEntropyCost, SoftmaxCrossEntropy, check_finite
from nngym.network import Sequential
from nngym.optim import Optimizer
from nngym.schedules import parse_schedule


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
    lr_schedule: Callable[[float], float] | float | str | None = None,
    progress: bool = False,
    on_epoch: Callable[[int, History], None] | None = None,
) -> History:
    """Trains ``net`` on ``(x, y)``: each epoch shuffles, splits into mini-batches and takes one step per batch.

    Sequences train like any other examples when the network's recurrent layers are built with
    ``batch_first=True``: x (N, T, D) and y (N, T, K) (or labels (N, T)) are shuffled and batched
    by sequence, and each sequence starts from the zero state.

    Args:
        net: The network; recurrent layers in it must be ``batch_first``.
        cost: The cost, an instance such as ``SoftmaxCrossEntropy()`` (its gradient is the batch mean).
        optimizer: Updates ``net``'s parameters.
        x: Inputs (N, ...), N >= 1; anything ``np.asarray`` reads (e.g. nested lists).
        y: Targets as the cost expects them (one-hot (N, K) or labels (N,); (N, T, K) or (N, T) for sequences);
            anything ``np.asarray`` reads.
        epochs: Passes over the data, an integer >= 0 (0 trains nothing and returns an empty ``History``).
        batch_size: Mini-batch size m, an integer >= 1.
        rng: ``np.random.Generator`` for shuffling.
        eval_data: A pair ``(x_eval, labels)`` evaluated (accuracy) after each epoch.
        lr_schedule: Maps progress remaining (1 → 0) to the learning rate, applied per batch; a number or a
            ``"lin_<x>"`` string is read by ``nngym.schedules.parse_schedule``. Each rate it gives must be a
            finite number >= 0. The optimiser's own ``lr`` is set back when ``fit`` returns (or fails), so a later
            ``fit`` without a schedule runs at it, not at the schedule's last rate.
        progress: Show a tqdm bar per epoch.
        on_epoch: Called after each epoch with ``(epoch, history)``.

    Raises:
        FloatingPointError: If the cost becomes NaN or infinite.
        ValueError: If x and y differ in length or are empty, a recurrent layer reads time-major sequences,
            ``epochs`` or ``batch_size`` is not an integer in its range (bools are not integers), ``rng`` is not a
            ``np.random.Generator``, ``cost`` is not a cost instance, ``eval_data`` is not an ``(x, labels)`` pair,
            the schedule gives a learning rate that is not a finite number >= 0, or the network ends in the
            non-linearity the cost applies itself (a Sigmoid with ``CrossEntropyCost``, a Softmax with
            ``SoftmaxCrossEntropy``: these costs take logits).
    """
    if not all(callable(getattr(net, m, None)) for m in ("forward", "backward", "predict")):
        raise ValueError(f"fit trains a network (a Sequential), got {type(net).__name__} {net!r:.80}")
    epochs = check_int(epochs, "fit epochs", minimum=0)
    batch_size = check_int(batch_size, "fit batch_size")
    check_rng(rng, "fit rng")
    if isinstance(cost, type) or not (
        callable(getattr(cost, "value", None)) and callable(getattr(cost, "delta", None))
    ):
        raise ValueError(
            f"fit needs a cost instance with value() and delta(), e.g. SoftmaxCrossEntropy(); got {cost!r}"
        )
    if isinstance(optimizer, type) or not callable(getattr(optimizer, "step", None)):
        raise ValueError(f"fit needs an optimizer instance, e.g. Adam(net), got {optimizer!r}")
    _check_output_for_cost(net, cost)
    if lr_schedule is not None and not callable(lr_schedule):
        lr_schedule = parse_schedule(lr_schedule)
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim < 1 or y.ndim < 1:
        raise ValueError(f"fit needs batches of examples along axis 0, got x of shape {x.shape}, y of shape {y.shape}")
    if eval_data is not None:
        if not isinstance(eval_data, tuple | list) or len(eval_data) != 2:
            raise ValueError(
                f"eval_data must be a pair (x_eval, labels), got {type(eval_data).__name__}"
                + (f" of shape {eval_data.shape}" if isinstance(eval_data, np.ndarray) else f" {eval_data!r:.80}")
            )
        if len(eval_data[0]) != len(eval_data[1]):
            raise ValueError(f"eval_data has {len(eval_data[0])} inputs but {len(eval_data[1])} labels")
    if net.batch_axis != 0:
        raise ValueError(
            "fit shuffles and batches along axis 0, but the network reads time-major (T, N, D) sequences: "
            "build its recurrent layers with batch_first=True"
        )
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} examples but y has {len(y)}")
    if len(x) == 0:
        raise ValueError("fit needs at least one example, got an empty x")
    base_lr = getattr(optimizer, "lr", None)
    try:
        return _fit_epochs(
            net, cost, optimizer, x, y, epochs, batch_size, rng, eval_data, lr_schedule, progress, on_epoch
        )
    finally:
        if lr_schedule is not None and base_lr is not None:
            optimizer.lr = base_lr  # the schedule's last rate was for this run only


#: The output layers the fused costs apply themselves: a network ending in one would apply it twice.
_FUSED = {CrossEntropyCost: (Sigmoid, "sigmoid"), SoftmaxCrossEntropy: (Softmax, "softmax")}


def _check_output_for_cost(net: Sequential, cost: Cost) -> None:
    """Raises a ValueError if ``net`` ends in the non-linearity ``cost`` fuses (it takes logits)."""
    layers = getattr(net, "layers", None)
    if not layers:
        return
    for cost_cls, (layer_cls, name) in _FUSED.items():
        if isinstance(cost, cost_cls) and isinstance(layers[-1], layer_cls):
            raise ValueError(
                f"{type(cost).__name__} takes logits and applies the {name} itself, but the network ends in a "
                f"{type(layers[-1]).__name__} layer, so the {name} would be applied twice: drop the output "
                f"activation (mlp(..., output_activation=None), or leave out the last {type(layers[-1]).__name__}); "
                f"predict then gives logits (nngym.{name} of them gives the probabilities)"
            )


def _fit_epochs(
    net: Sequential,
    cost: Cost,
    optimizer: Optimizer,
    x: np.ndarray,
    y: np.ndarray,
    epochs: int,
    batch_size: int,
    rng: np.random.Generator,
    eval_data: tuple[np.ndarray, np.ndarray] | None,
    lr_schedule: Callable[[float], float] | None,
    progress: bool,
    on_epoch: Callable[[int, History], None] | None,
) -> History:
    """``fit``'s loop over epochs and mini-batches, its arguments checked."""
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
                lr = lr_schedule(1.0 - step / steps_total)
                if not (is_real(lr) and 0.0 <= lr < math.inf):  # a negative rate would climb the cost
                    raise ValueError(
                        f"lr_schedule gave learning rate {lr!r} at epoch {epoch + 1}, batch {start // batch_size}; "
                        "it must be a finite number >= 0"
                    )
                optimizer.lr = lr
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
