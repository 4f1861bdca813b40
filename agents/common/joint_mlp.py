"""An actor and a critic MLP evaluated together for a rollout: their hidden layers stacked, K = 2.

A rollout evaluates π(·|s) and V(s) for a handful of observations at every vector step (N = 8 envs and 64 units:
a few hundred multiply-adds a product), so numpy's per-call overhead is most of the cost. Stacking the two
networks' hidden layers along a leading axis (``nngym.stacked.stack_networks``, evaluated by ``infer_stacked`` as a
population's are) makes each hidden layer one batched product, one bias addition and one activation for both
networks instead of two of each. The output layers stay
separate (their widths differ).

The numbers are those of ``infer`` on each network bit for bit: numpy's batched ``matmul`` makes one BLAS product
per stacked matrix, the same product ``x @ W.T`` makes for the network alone.

Inference only: on training minibatches (PPO's 256 rows, A2C's 40) the same stacking measured no faster (the
products there cost what two separate ones do, and stacked temporaries of 2 × 256 × 64 float32 reach glibc's
128 KiB mmap threshold, where each fresh array costs page faults).

The stacked weights are copies, taken by ``refresh``: a rollout refreshes them once before its first step, as the
parameters do not change during a rollout (``ActorCriticPolicy.joint``).
"""

from __future__ import annotations

import numpy as np

from nngym.activations import ReLU, Tanh
from nngym.dense import Dense
from nngym.network import Sequential
from nngym.stacked import infer_stacked, stack_networks


class JointMLP:
    """π's output and V(s) of an actor and a critic MLP of the same hidden sizes and activations, in one pass.

    Args:
        actor: Dense and elementwise (Tanh / ReLU) layers, starting and ending with a Dense layer; (N, n_in) → (N, K).
        critic: The same layer types and hidden sizes, ending in a Dense layer of one output; (N, n_in) → (N, 1).

    Raises:
        ValueError: For networks ``JointMLP.supports`` rejects.
    """

    def __init__(self, actor: Sequential, critic: Sequential) -> None:
        if not self.supports(actor, critic):
            raise ValueError(
                "JointMLP needs an actor and a critic MLP of the same Dense / Tanh / ReLU layers and hidden sizes, "
                f"got {_layout(actor)} and {_layout(critic)}"
            )
        self._pairs = [(a, c) for a, c in zip(actor.layers[:-1], critic.layers[:-1], strict=True) if type(a) is Dense]
        self._layers = (actor.layers[:-1], critic.layers[:-1])
        self._hidden = stack_networks([Sequential(actor.layers[:-1]), Sequential(critic.layers[:-1])])  # copies
        self._stacked = [layer for layer in self._hidden.layers if layer.params]  # one StackedDense per pair
        self._heads = (actor.layers[-1], critic.layers[-1])
        self._dtype = actor.layers[0].dtype  # that of every hidden Dense layer (``supports``)

    @staticmethod
    def supports(actor: Sequential, critic: Sequential) -> bool:
        """Whether the two networks can run together: the same sequence of Dense / Tanh / ReLU layers beginning and
        ending with Dense, one hidden layer at least, the same hidden weight shapes and dtypes."""
        a, c = actor.layers, critic.layers
        if len(a) != len(c) or len(a) < 3 or type(a[0]) is not Dense or type(a[-1]) is not Dense:
            return False
        if type(c[-1]) is not Dense or c[-1].params["W"].shape[0] != 1:
            return False
        for la, lc in zip(a[:-1], c[:-1], strict=True):
            if type(la) is not type(lc) or type(la) not in (Dense, Tanh, ReLU):
                return False
            if type(la) is Dense and (
                la.params["W"].shape != lc.params["W"].shape or la.params["W"].dtype != lc.params["W"].dtype
            ):
                return False
        return True

    def matches(self, actor: Sequential, critic: Sequential) -> bool:
        """Whether this object stacks these networks' present layers with the dtype it was built for (networks
        whose layers or arrays were replaced, by ``astype`` for example, need a new one)."""
        if (actor.layers[-1], critic.layers[-1]) != self._heads:
            return False
        if actor.layers[:-1] != self._layers[0] or critic.layers[:-1] != self._layers[1]:
            return False
        return all(a.params["W"].dtype == s.dtype for (a, _), s in zip(self._pairs, self._stacked, strict=True))

    def refresh(self) -> JointMLP:
        """Copies the two networks' current hidden parameters into the stacked arrays; returns ``self``."""
        for (a, c), stacked in zip(self._pairs, self._stacked, strict=True):
            for key, value in stacked.params.items():
                value[0], value[1] = a.params[key], c.params[key]
        return self

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(the actor's output (N, K), V(s) (N,)) for inputs x (N, n_in), inference only (no caches kept); x is
        cast to the networks' dtype first, as their ``forward`` does (no copy when it already has that dtype)."""
        x = np.asarray(x, dtype=self._dtype)
        h = infer_stacked(self._hidden, x)  # both networks' last hidden activations, (2, N, h)
        pi, vf = self._heads
        out = h[0] @ pi.params["W"].T
        out += pi.params["b"]
        v = h[1] @ vf.params["W"].T
        v += vf.params["b"]
        return out, v[:, 0]


def _layout(net: Sequential) -> list[str]:
    return [type(layer).__name__ for layer in net.layers]
