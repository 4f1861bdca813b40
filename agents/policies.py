"""Networks the agents learn with: an actor-critic (separate actor and critic MLPs, SB3's
default for PPO/A2C) and a Q-network for DQN, all nngym ``Sequential`` networks.

``net`` names a network family in ``NET_BUILDERS``; "mlp" is the only one so far, and
later families ("cnn", "lstm", ...) plug in by adding a builder with the same signature.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import gymnasium as gym
import numpy as np

from agents.distributions import Categorical, DiagGaussian
from nngym.activations import ReLU, Tanh
from nngym.builders import mlp
from nngym.dense import Dense
from nngym.network import Sequential

#: A builder maps (n_in, hidden sizes, n_out, activation, hidden init, output init, rng) to a network.
NetBuilder = Callable[[int, Sequence[int], int, str, str, str, np.random.Generator], Sequential]


def _mlp(
    n_in: int,
    hidden: Sequence[int],
    n_out: int,
    activation: str,
    w_init: str,
    out_w_init: str,
    rng: np.random.Generator,
) -> Sequential:
    return mlp([n_in, *hidden, n_out], rng, activation=activation, w_init=w_init, out_w_init=out_w_init)


NET_BUILDERS: dict[str, NetBuilder] = {"mlp": _mlp}


def build_net(
    net: str,
    n_in: int,
    hidden: Sequence[int],
    n_out: int,
    activation: str,
    w_init: str,
    out_w_init: str,
    rng: np.random.Generator,
) -> Sequential:
    """Builds one network of family ``net``.

    Raises:
        ValueError: For a family that is not (yet) supported.
    """
    if not isinstance(net, str) or net not in NET_BUILDERS:
        raise ValueError(f"net must be one of {sorted(NET_BUILDERS)}, got {net!r}")
    return NET_BUILDERS[net](n_in, hidden, n_out, activation, w_init, out_w_init, rng)


def infer(net: Sequential, x: np.ndarray) -> np.ndarray:
    """Inference-mode forward for the rollout's hot loop: the same arithmetic as ``net.forward(x, train=False)``
    for Dense / Tanh / ReLU layers, without shape checks or caches, activations applied in place; any other
    layer type runs its own ``forward``."""
    owned = False  # whether x is an intermediate this function allocated (safe to overwrite)
    for layer in net.layers:
        kind = type(layer)
        if kind is Dense:
            x = x @ layer.params["W"].T
            x += layer.params["b"]
            owned = True
        elif kind is Tanh and owned:
            np.tanh(x, out=x)
        elif kind is ReLU and owned:
            np.maximum(x, 0, out=x)
        else:
            x = layer.forward(x, train=False)
            owned = False
    return x


def check_spaces(algo: str, observation_space: gym.Space, action_space: gym.Space, box_actions: bool = True) -> None:
    """Raises a ValueError saying what ``algo`` supports if the spaces are not handled."""
    if not (isinstance(observation_space, gym.spaces.Box) and len(observation_space.shape) == 1):
        raise ValueError(f"{algo} supports 1-D Box observation spaces with net='mlp', got {observation_space}")
    ok = isinstance(action_space, gym.spaces.Discrete) or (
        box_actions and isinstance(action_space, gym.spaces.Box) and len(action_space.shape) == 1
    )
    if not ok:
        supported = "Discrete and 1-D Box" if box_actions else "Discrete only"
        raise ValueError(f"{algo} supports {supported} action spaces, got {action_space}")


class ActorCriticPolicy:
    """π(a|s) from an actor network and V(s) from a critic network, with SB3's orthogonal init.

    Args:
        observation_space: 1-D Box.
        action_space: Discrete (categorical logits) or 1-D Box (Gaussian mean, state-independent log σ).
        rng: Generator for the initial weights.
        net: Network family (see ``NET_BUILDERS``).
        net_arch: Hidden sizes of both actor and critic.
        activation: Hidden activation.
        ortho_init: Orthogonal init with gains √2 (hidden), 0.01 (policy head), 1 (value head).
        log_std_init: Initial log σ for Box actions.
    """

    def __init__(
        self,
        observation_space: gym.spaces.Box,
        action_space: gym.Space,
        rng: np.random.Generator,
        net: str = "mlp",
        net_arch: Sequence[int] = (64, 64),
        activation: str = "tanh",
        ortho_init: bool = True,
        log_std_init: float = 0.0,
    ) -> None:
        self.discrete = isinstance(action_space, gym.spaces.Discrete)
        n_in = int(observation_space.shape[0])
        n_out = int(action_space.n) if self.discrete else int(action_space.shape[0])
        hidden_init, pi_init, vf_init = (
            ("orthogonal:1.4142135623730951", "orthogonal:0.01", "orthogonal:1") if ortho_init else ("nielsen",) * 3
        )
        self.actor = build_net(net, n_in, net_arch, n_out, activation, hidden_init, pi_init, rng)
        self.critic = build_net(net, n_in, net_arch, 1, activation, hidden_init, vf_init, rng)
        self.log_std = np.full(0 if self.discrete else n_out, log_std_init, dtype=np.float32)
        self.log_std_grad = np.zeros_like(self.log_std)

    def distribution(self, out: np.ndarray) -> Categorical | DiagGaussian:
        """The action distribution given the actor's output (N, K or D)."""
        return Categorical(out) if self.discrete else DiagGaussian(out, self.log_std)

    def forward(self, obs: np.ndarray, train: bool = False) -> tuple[Categorical | DiagGaussian, np.ndarray]:
        """(π(·|s), V(s) (N,)) for observations (N, obs_dim); ``train=True`` keeps caches for ``backward``."""
        if train:
            return self.distribution(self.actor.forward(obs, True)), self.critic.forward(obs, True)[:, 0]
        return self.distribution(infer(self.actor, obs)), infer(self.critic, obs)[:, 0]

    def values(self, obs: np.ndarray) -> np.ndarray:
        """V(s), shape (N,)."""
        return infer(self.critic, obs)[:, 0]

    def backward(self, d_out: np.ndarray, d_values: np.ndarray, d_log_std: np.ndarray | None = None) -> None:
        """Backprops ∂L/∂(actor output) (N, K) and ∂L/∂V (N,) (and ∂L/∂log σ (D,)) after ``forward(train=True)``."""
        self.actor.backward(d_out)
        self.critic.backward(d_values[:, None])
        if d_log_std is not None:
            self.log_std_grad[...] = d_log_std

    def named_params(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """Actor, critic (and log σ) parameters together, so one optimiser and one clip_grad_norm cover both."""
        out = [(f"pi.{n}", p, g) for n, p, g in self.actor.named_params()]
        out += [(f"vf.{n}", p, g) for n, p, g in self.critic.named_params()]
        if not self.discrete:
            out.append(("log_std", self.log_std, self.log_std_grad))
        return out

    def nets(self) -> dict[str, Sequential]:
        return {"pi": self.actor, "vf": self.critic}


class QNetwork:
    """Q(s, ·) for Discrete actions: an MLP from observations to one value per action.

    Args:
        observation_space: 1-D Box.
        action_space: Discrete.
        rng: Generator for the initial weights.
        net: Network family.
        net_arch: Hidden sizes.
        activation: Hidden activation (SB3's DQN: ReLU).
    """

    def __init__(
        self,
        observation_space: gym.spaces.Box,
        action_space: gym.spaces.Discrete,
        rng: np.random.Generator,
        net: str = "mlp",
        net_arch: Sequence[int] = (64, 64),
        activation: str = "relu",
    ) -> None:
        n_in = int(observation_space.shape[0])
        self.q = build_net(net, n_in, net_arch, int(action_space.n), activation, "he_normal", "nielsen", rng)

    def forward(self, obs: np.ndarray, train: bool = False) -> np.ndarray:
        """Q(s, ·), shape (N, n_actions); ``train=True`` keeps caches for backward."""
        return self.q.forward(obs, True) if train else infer(self.q, obs)

    def named_params(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        return self.q.named_params()

    def nets(self) -> dict[str, Sequential]:
        return {"q": self.q}


def backward_policy_loss(
    policy: ActorCriticPolicy,
    dist: Categorical | DiagGaussian,
    actions: np.ndarray,
    d_log_prob: np.ndarray,
    d_entropy: float,
    d_values: np.ndarray,
) -> None:
    """Backprops a loss L(log π(a_i|s_i), H_i, V_i) given its partial derivatives, after ``forward(train=True)``.

    Chain rule through the distribution: ∂L/∂z_i = ∂L/∂log π_i · ∂log π_i/∂z_i + ∂L/∂H_i · ∂H_i/∂z_i.

    Args:
        policy: The actor-critic that produced ``dist``.
        dist: Distribution of the minibatch.
        actions: a_i, (N,) or (N, D).
        d_log_prob: ∂L/∂log π(a_i|s_i), (N,).
        d_entropy: ∂L/∂H_i, the same for every i (−ent_coef / N for the mean entropy bonus).
        d_values: ∂L/∂V(s_i), (N,).
    """
    if isinstance(dist, Categorical):
        d_out = d_log_prob[:, None] * dist.grad_log_prob(actions)
        if d_entropy:
            d_out += d_entropy * dist.grad_entropy()
        policy.backward(d_out.astype(np.float32), d_values.astype(np.float32))
    else:
        g_mean, g_log_std = dist.grad_log_prob(actions)
        d_out = d_log_prob[:, None] * g_mean
        d_log_std = (d_log_prob[:, None] * g_log_std).sum(axis=0) + d_entropy * len(actions)  # ∂H_i/∂log σ = 1
        policy.backward(d_out.astype(np.float32), d_values.astype(np.float32), d_log_std.astype(np.float32))
