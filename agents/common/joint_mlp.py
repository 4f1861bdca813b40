"""An actor and a critic MLP evaluated together for a rollout: their hidden layers stacked, K = 2.

A rollout evaluates π(·|s) and V(s) for a handful of observations at every vector step (N = 8 envs and 64 units:
a few hundred multiply-adds a product), so numpy's per-call overhead is most of the cost. Stacking the two
networks' hidden layers along a leading axis (``nngym.stacked``'s layout) makes each hidden layer one batched
product, one bias addition and one activation for both networks instead of two of each. The output layers stay
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
        self._pairs = list(zip(actor.layers[:-1], critic.layers[:-1], strict=True))
        self._kinds = [type(a) for a, _ in self._pairs]
        stacked = lambda key: [  # noqa: E731
            np.stack([a.params[key], c.params[key]]) if type(a) is Dense else None for a, c in self._pairs
        ]
        self._W = stacked("W")  # (2, n_out, n_in) per hidden Dense
        self._b = [None if b is None else b[:, None] for b in stacked("b")]  # (2, 1, n_out)
        self._WT = [None if W is None else W.transpose(0, 2, 1) for W in self._W]  # views: x @ Wᵀ, as Dense does
        self._heads = (actor.layers[-1], critic.layers[-1])

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
        """Whether this object stacks these networks' present layers with the dtype and shapes it was built for
        (networks whose layers or arrays were replaced, by ``astype`` for example, need a new one)."""
        if actor.layers[-1] is not self._heads[0] or critic.layers[-1] is not self._heads[1]:
            return False
        if len(actor.layers) != len(self._pairs) + 1 or len(critic.layers) != len(self._pairs) + 1:
            return False
        for (a, c), la, lc, W in zip(self._pairs, actor.layers, critic.layers, self._W, strict=False):
            if a is not la or c is not lc:
                return False
            if W is not None and (a.params["W"].dtype != W.dtype or a.params["W"].shape != W.shape[1:]):
                return False
        return True

    def refresh(self) -> JointMLP:
        """Copies the two networks' current hidden parameters into the stacked arrays; returns ``self``."""
        for (a, c), W, b in zip(self._pairs, self._W, self._b, strict=True):
            if W is not None:
                W[0], W[1] = a.params["W"], c.params["W"]
                b[0, 0], b[1, 0] = a.params["b"], c.params["b"]
        return self

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(the actor's output (N, K), V(s) (N,)) for inputs x (N, n_in), inference only (no caches kept)."""
        h = x
        for kind, WT, b in zip(self._kinds, self._WT, self._b, strict=True):
            if kind is Dense:
                h = np.matmul(h, WT)
                h += b
            elif kind is Tanh:
                np.tanh(h, out=h)
            else:
                np.maximum(h, 0, out=h)
        return self._outputs(h)

    def _outputs(self, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The two output layers on their networks' last hidden activations h (2, N, h)."""
        pi, vf = self._heads
        out = h[0] @ pi.params["W"].T
        out += pi.params["b"]
        v = h[1] @ vf.params["W"].T
        v += vf.params["b"]
        return out, v[:, 0]


def _layout(net: Sequential) -> list[str]:
    return [type(layer).__name__ for layer in net.layers]
