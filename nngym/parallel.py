"""Data parallelism on threads: a network's batch split into slices that run side by side.

A mini-batch's gradient is a sum over its examples (BP3 and BP4 sum δ·aᵀ over the batch), so the batch can
be cut into slices, each slice run forward and backward by a *replica* of the network, and the replicas'
gradients added. A replica shares the layers' parameters (the very arrays: an optimiser step is seen by all)
and has its own caches and gradient arrays. numpy releases the GIL inside its loops and BLAS products, so on
a machine with several cores the slices run at the same time.

Why by hand (``concurrent.futures`` threads, not BLAS threads): the products of a small CNN on a batch of 64
are too small for BLAS to split well (its threads also wait spinning between calls), and the copies of
im2col, col2im and pooling are single-threaded in numpy. Splitting the batch parallelises all of it; on the
main job's CNN a forward and backward pass at batch 64 took 1.6× less time on two threads this way against
1.17× with two BLAS threads, and the whole main job 1.03–1.33× less than on one thread against 1.03–1.07×
(RESULTS.md, "The main job": the two threads share the memory bandwidth the copies need).

A split run rounds differently from an unsplit one (a sum over 64 examples becomes two sums of 32, added),
and the same for a given thread count: runs stay reproducible for a given ``threads``.
"""

from __future__ import annotations

import contextlib
import copy
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

import numpy as np

from nngym.layer import Layer

T = TypeVar("T")


class Sequential(Protocol):
    """What is split: ``nngym.network.Sequential`` (which imports this module, so only its shape is named here)."""

    layers: list[Layer]
    threads: int

    def __init__(self, layers: list[Layer]) -> None: ...

    @property
    def batch_axis(self) -> int: ...

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray: ...

    def backward(self, delta: np.ndarray, input_grad: bool = True) -> np.ndarray | None: ...


_POOLS: dict[tuple[int, str], ThreadPoolExecutor] = {}


def _pool_named(threads: int, name: str) -> ThreadPoolExecutor:
    """One executor per thread count and use, shared by all networks (threads are started once)."""
    key = (threads, name)
    if key not in _POOLS:
        _POOLS[key] = ThreadPoolExecutor(threads, thread_name_prefix=name)
    return _POOLS[key]


def _pool(threads: int) -> ThreadPoolExecutor:
    """The executor of the batch split's ``threads`` slices."""
    return _pool_named(threads, "nngym-batch")


def beside(fn: Callable[..., T], *args: Any) -> Future[T]:
    """Starts ``fn(*args)`` on a worker thread beside the caller and returns its future.

    For work the caller does not need until later, e.g. a DQN target network's pass over the next chunk of
    minibatches while the online network trains on this one: numpy releases the GIL in its BLAS products and
    large loops, so on a second core the two run at the same time. One worker, shared by all callers.
    """
    return _pool_named(1, "nngym-beside").submit(fn, *args)


def done(value: T) -> Future[T]:
    """A finished future holding ``value`` (the one-thread stand-in for ``beside``)."""
    future: Future[T] = Future()
    future.set_result(value)
    return future


def splittable(net: Sequential) -> bool:
    """Whether ``net``'s batch can be split across threads (``check_splittable`` would not raise)."""
    try:
        check_splittable(net)
    except ValueError:
        return False
    return True


def check_splittable(net: Sequential) -> None:
    """Raises ValueError if ``net``'s batch cannot be split across threads.

    Raises:
        ValueError: For a layer that keeps a random generator (``Dropout``: its masks would depend on which
            thread drew first), a layer holding networks of its own (their caches would be shared by the
            threads), or a network whose examples are not along axis 0 (time-major recurrent layers).
    """
    for i, layer in enumerate(net.layers):
        name = type(layer).__name__
        if isinstance(getattr(layer, "rng", None), np.random.Generator):
            raise ValueError(f"layer {i} ({name}) draws random numbers: its batch cannot be split")
        held = [v for value in vars(layer).values() for v in (value if isinstance(value, list) else [value])]
        if any(hasattr(v, "layers") and hasattr(v, "forward") for v in held):
            raise ValueError(f"layer {i} ({name}) holds networks of its own: its batch cannot be split")
    if net.batch_axis != 0:
        raise ValueError(f"the network's examples are along axis {net.batch_axis}: its batch cannot be split")


class BatchSplit:
    """Runs ``net``'s forward and backward on ``threads`` slices of the batch at once.

    Args:
        net: The network. Its own layers keep the parameters and receive the summed gradients.
        threads: Number of slices and threads, at least 2.

    Raises:
        ValueError: For fewer than 2 threads or a network whose batch cannot be split (``check_splittable``).
    """

    def __init__(self, net: Sequential, threads: int) -> None:
        if threads < 2:
            raise ValueError(f"BatchSplit needs at least 2 threads, got {threads}")
        check_splittable(net)
        self.net, self.threads = net, threads
        # each replica a network of the same class (one thread each), so its forward and backward are net's own
        self.replicas = [type(net)([self._replica(layer) for layer in net.layers]) for _ in range(threads)]

    @staticmethod
    def _replica(layer: Layer) -> Layer:
        """``layer`` with the same ``params`` dict (shared arrays), its own gradients and cache."""
        r = copy.copy(layer)
        r.grads = {k: np.zeros_like(g) for k, g in layer.grads.items()}
        r._cache = None
        return r

    def current(self) -> bool:
        """Whether the replicas still share the network's parameters (``astype`` replaces them)."""
        return all(
            r.params is layer.params and r.dtype == layer.dtype
            for replica in self.replicas
            for r, layer in zip(replica.layers, self.net.layers, strict=True)
        )

    def forward(self, x: np.ndarray, train: bool) -> np.ndarray:
        """The network's output on ``x`` (N, ...), N ≥ ``threads``: each slice by its replica, concatenated."""
        slices = np.array_split(x, self.threads)
        outs = _pool(self.threads).map(lambda k: self.replicas[k].forward(slices[k], train), range(self.threads))
        return np.concatenate(list(outs), axis=0)

    def backward(self, delta: np.ndarray, input_grad: bool) -> np.ndarray | None:
        """Backprop of each slice of ∂C/∂output (N, ...) by its replica (``Sequential.backward``), then the
        replicas' gradients summed into the network's.

        Returns:
            ∂C/∂input (N, ...) concatenated over the slices; None with ``input_grad=False``.
        """
        slices = np.array_split(delta, self.threads)  # the slices forward made
        grads_in = list(
            _pool(self.threads).map(lambda k: self.replicas[k].backward(slices[k], input_grad), range(self.threads))
        )
        for i, layer in enumerate(self.net.layers):  # Σ over the slices, in slice order (reproducible)
            for key, g in layer.grads.items():
                np.copyto(g, self.replicas[0].layers[i].grads[key])
                for replica in self.replicas[1:]:
                    g += replica.layers[i].grads[key]
        return np.concatenate(grads_in, axis=0) if input_grad else None


@contextlib.contextmanager
def split_batches(nets: Sequence[Sequential], threads: int) -> Iterator[None]:
    """Within the block, ``nets`` split their batches across ``threads`` threads (``Sequential.threads``);
    their previous settings are restored afterwards, also when the block raises."""
    before = [net.threads for net in nets]
    try:
        for net in nets:
            net.threads = threads
        yield
    finally:
        for net, n in zip(nets, before, strict=True):
            net.threads = n


def available_cores() -> int:
    """The number of cores this process may run on (its CPU affinity, e.g. 1 under ``taskset -c 0``)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
