"""The networks of a population of K agents stacked: K actor-critics or K Q-networks as one (``nngym.stacked``).

The members' own networks stay what they are, ordinary ``Sequential`` MLPs, but their parameters and
gradients become views of row k of the stacked arrays (``share=True``): the population trains the stacked
network, and member k's ``predict``, ``save`` and evaluation see the same numbers without any copy.
"""

from __future__ import annotations

from collections.abc import Sequence

import gymnasium as gym
import numpy as np

from agents.common.distributions import Distribution
from agents.common.policies import ActorCriticPolicy, QNetwork, action_distribution
from nngym.network import Sequential
from nngym.stacked import infer_stacked, network_rows, stack_networks


class StackedActorCritic:
    """K actor-critics (``ActorCriticPolicy`` with separate MLPs, "mlp") as stacked actor and critic networks.

    With Box actions each member's log σ (D,) becomes row k of a stacked (K, D) array (the member's own
    ``log_std`` and its gradient are views of it), and the Gaussian's rows carry their member's σ.

    Args:
        policies: The members' policies, one architecture, Discrete / MultiDiscrete / MultiBinary or 1-D Box
            actions.

    Raises:
        ValueError: For policies with a shared trunk (CNN, custom trunks) or gSDE (``use_sde``).
    """

    def __init__(self, policies: Sequence[ActorCriticPolicy]) -> None:
        p0 = policies[0]
        if any(p.trunk is not None for p in policies):
            raise ValueError("a population needs separate actor and critic MLPs (net='mlp'); got a shared trunk")
        if getattr(p0, "use_sde", False):
            raise ValueError("a population does not support gSDE (use_sde=True); train those seeds one by one")
        self.n_members = len(policies)
        self.action_space: gym.Space = p0.action_space
        self.discrete = p0.discrete
        self.actor = _stacked([p.actor for p in policies], "actor")
        self.critic = _stacked([p.critic for p in policies], "critic")
        if self.discrete:
            self.log_std = np.zeros((self.n_members, 0), dtype=np.float32)
            self.log_std_grad = np.zeros_like(self.log_std)
        else:
            self.log_std = np.stack([p.log_std for p in policies])  # (K, D)
            self.log_std_grad = np.zeros_like(self.log_std)
            for k, p in enumerate(policies):  # the members see (and save) their row
                p.log_std, p.log_std_grad = self.log_std[k], self.log_std_grad[k]

    def rows(self, start: int, stop: int) -> StackedActorCritic:
        """Members ``start`` … ``stop − 1`` as a stacked actor-critic of their own, on views of their rows (its
        updates are theirs; ``agents.common.population_parts``)."""
        part = StackedActorCritic.__new__(StackedActorCritic)
        part.n_members, part.action_space, part.discrete = stop - start, self.action_space, self.discrete
        part.actor, part.critic = network_rows(self.actor, start, stop), network_rows(self.critic, start, stop)
        part.log_std, part.log_std_grad = self.log_std[start:stop], self.log_std_grad[start:stop]
        return part

    def distribution(self, out: np.ndarray) -> Distribution:
        """π(·|s) of all members from the stacked actor's output (K, B, n): one distribution over K·B rows."""
        rows = out.reshape(-1, out.shape[-1])
        if self.discrete:
            return action_distribution(self.action_space, rows, self.log_std[0])
        return action_distribution(self.action_space, rows, np.repeat(self.log_std, out.shape[1], axis=0))

    def forward(self, obs: np.ndarray, train: bool = False) -> tuple[Distribution, np.ndarray]:
        """(π(·|s) over the K·B rows in member order, V(s) (K, B)) for observations (K, B, n_in)."""
        if train:
            return self.distribution(self.actor.forward(obs, True)), self.critic.forward(obs, True)[..., 0]
        return self.distribution(infer_stacked(self.actor, obs)), infer_stacked(self.critic, obs)[..., 0]

    def values(self, obs: np.ndarray) -> np.ndarray:
        """V(s), (K, B)."""
        return infer_stacked(self.critic, obs)[..., 0]

    def backward(self, d_out: np.ndarray, d_values: np.ndarray, d_log_std: np.ndarray | None = None) -> None:
        """Backprops ∂L/∂(actor output) (K, B, n) and ∂L/∂V (K, B) after ``forward(train=True)``; with Box
        actions ``d_log_std`` (K, D) is ∂L/∂log σ of each member."""
        self.actor.backward(d_out)
        self.critic.backward(d_values[..., None])
        if d_log_std is not None:
            self.log_std_grad[...] = d_log_std

    def named_params(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """The stacked parameters under the members' names (``ActorCriticPolicy.named_params``), each (K, ...)."""
        nets = {"pi": self.actor, "vf": self.critic}
        out = [(f"{k}.{n}", p, g) for k, net in nets.items() for n, p, g in net.named_params()]
        if not self.discrete:
            out.append(("log_std", self.log_std, self.log_std_grad))
        return out


class StackedQNetwork:
    """K Q-networks (``QNetwork``, "mlp") as one stacked network, (K, B, n_in) → Q (K, B, n_actions)."""

    def __init__(self, q_nets: Sequence[QNetwork]) -> None:
        self.n_members = len(q_nets)
        self.q = _stacked([q.q for q in q_nets], "Q-network")

    def rows(self, start: int, stop: int) -> StackedQNetwork:
        """Members ``start`` … ``stop − 1`` as a stacked Q-network of their own, on views of their rows."""
        part = StackedQNetwork.__new__(StackedQNetwork)
        part.n_members, part.q = stop - start, network_rows(self.q, start, stop)
        return part

    def forward(self, obs: np.ndarray, train: bool = False) -> np.ndarray:
        """Q(s, ·) of every member, (K, B, n_actions); ``train=True`` keeps caches for backward."""
        return self.q.forward(obs, True) if train else infer_stacked(self.q, obs)

    def named_params(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        return self.q.named_params()


def _stacked(nets: Sequence[Sequential], what: str) -> Sequential:
    """The members' ``what`` networks stacked (``stack_networks``, parameters shared).

    Raises:
        ValueError: Naming the network and the layer that cannot be stacked, for networks other than MLPs on flat
            observations (image observations, SB3's rule: 3-D Boxes of dtype uint8 with bounds 0 and 255, give the
            networks an input layer that scales them; other 3-D Boxes arrive flattened and stack).
    """
    try:
        return stack_networks(nets, share=True)
    except ValueError as e:
        raise ValueError(
            f"a population stacks MLPs on flat observations, and the members' {what} is not one: {e}. Observations "
            "with images (or image parts: 3-D Boxes of dtype uint8 with bounds 0 and 255, SB3's image rule) train "
            "one seed per agent"
        ) from None
