"""SBX (Stable-Baselines3 on JAX) baselines behind nngym's agent interface, for speed comparisons.

``SBXPPO`` and ``SBXDQN`` take what nngym's ``PPO``/``DQN`` take (an env id, ``seed`` and the fields of the
agent's Config as read by ``agents.load_hyperparams``) and build sbx's ``PPO``/``DQN`` with the zoo's semantics,
through the same construction as the SB3 adapter (``agents.baselines.sb3.SB3Agent``: ``DummyVecEnv`` of
``n_envs`` copies seeded ``seed + i``, ``lin_<x>`` schedules, ``net_arch``); activations become JAX's.
``learn`` and ``predict`` are SB3's; models are not saved. sbx has no A2C and no CNN features extractor of
nngym's specs, so only MLP PPO and DQN are offered. Needs ``pip install -e ".[sbx]"``; JAX runs on the CPU
(``JAX_PLATFORMS=cpu`` unless set otherwise).

Example:
    >>> agent = sbx_agent("ppo", "CartPole-v1", seed=0, n_envs=8, n_steps=32).learn(10_000)
"""

from __future__ import annotations

import os
from functools import partial
from typing import Any, ClassVar

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import flax.linen as nn  # noqa: E402  (after choosing JAX's platform)
import sbx  # noqa: E402

from agents.baselines.sb3 import SB3Agent  # noqa: E402

#: nngym activation names -> JAX activations.
#: flax's gelu is the tanh approximation unless told otherwise; torch's nn.GELU and nngym's GELU are exact
JAX_ACTIVATIONS = {"tanh": nn.tanh, "relu": nn.relu, "sigmoid": nn.sigmoid, "gelu": partial(nn.gelu, approximate=False)}
#: yml options sbx's agents have no counterpart for, by algorithm (dropped by ``sbx_hyperparams``).
SBX_LACKS: dict[str, tuple[str, ...]] = {"ppo": (), "dqn": ("double_q", "max_grad_norm")}


class SBXAgent(SB3Agent):
    """An sbx algorithm built from nngym's hyperparameters (see the module docstring)."""

    policy_names: ClassVar[dict[str, str]] = {"mlp": "MlpPolicy"}

    def _sb3_kwargs(self, hp: dict[str, Any]) -> dict[str, Any]:
        activation = hp.pop("activation", None)
        if activation is not None and activation not in JAX_ACTIVATIONS:
            raise ValueError(
                f"SBX {self.algo}: activation must be one of {sorted(JAX_ACTIVATIONS)}, got {activation!r}"
            )
        kwargs = super()._sb3_kwargs(hp)
        if activation is not None:
            kwargs["policy_kwargs"]["activation_fn"] = JAX_ACTIVATIONS[activation]
        return kwargs


class SBXPPO(SBXAgent):
    """sbx's PPO with nngym's PPO hyperparameters (``agents/hyperparams/ppo.yml``)."""

    algo = "PPO"
    sb3_class = sbx.PPO
    schedule_keys = ("learning_rate", "clip_range")


class SBXDQN(SBXAgent):
    """sbx's DQN with nngym's DQN hyperparameters; ``learning_rate_final`` as for SB3 (``SB3DQN``)."""

    algo = "DQN"
    sb3_class = sbx.DQN

    def _sb3_kwargs(self, hp: dict[str, Any]) -> dict[str, Any]:
        if hp.pop("double_q", False):
            raise ValueError("SBX DQN has no double Q-learning; drop double_q=True for the comparison")
        if "max_grad_norm" in hp:
            raise ValueError("SBX DQN has no max_grad_norm; drop it for the comparison")
        final = hp.pop("learning_rate_final", None)
        start, end = hp.pop("learning_rate_decay_start", 0.0), hp.pop("learning_rate_decay_end", 1.0)
        if final is not None:
            from agents.dqn import lr_decay_schedule

            hp["learning_rate"] = lr_decay_schedule(hp.get("learning_rate", 1e-4), final, start, end)
        return super()._sb3_kwargs(hp)


#: Algorithm names -> SBX wrappers.
SBX_ALGOS: dict[str, type[SBXAgent]] = {"ppo": SBXPPO, "dqn": SBXDQN}


def sbx_hyperparams(algo: str, hp: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A yml entry as sbx can take it: ``hp`` without the ``SBX_LACKS`` options of ``algo``, and their names."""
    lacks = SBX_LACKS.get(algo, ())
    return {k: v for k, v in hp.items() if k not in lacks}, sorted(k for k in hp if k in lacks)


def sbx_agent(algo: str, env: str, seed: int = 0, **config: Any) -> SBXAgent:
    """The SBX agent for an nngym algorithm name, e.g. ``sbx_agent("dqn", "CartPole-v1", 0, **hp)``.

    Raises:
        ValueError: For an algorithm sbx does not offer here (A2C, recurrent PPO).
    """
    if algo not in SBX_ALGOS:
        raise ValueError(f"no SBX baseline for {algo!r}; expected one of {sorted(SBX_ALGOS)}")
    return SBX_ALGOS[algo](env, seed=seed, **config)


__all__ = ["SBXDQN", "SBXPPO", "SBX_ALGOS", "SBXAgent", "sbx_agent", "sbx_hyperparams"]
