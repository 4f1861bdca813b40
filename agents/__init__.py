"""RL agents learning with nngym networks, behind Stable-Baselines3's interface.

``PPO``, ``A2C``, ``DQN``, ``REINFORCE`` and ``RecurrentPPO`` take an env id / env / SAME_STEP vector
env, a ``net`` (``"mlp"``, ``"cnn"``, ``"dbn"``, a spec string or ready networks), a seed and
hyperparameters (their ``Config`` dataclass fields); they ``learn``, ``predict``, ``save`` and ``load``
like SB3's. A list of seeds (``PPO(env, seed=[0, 1, 2])``; PPO, A2C, DQN) gives a ``Population`` trained in one
process on stacked parameters (``agents.common.population``). Hyperparameters per env id are in
``agents/hyperparams/<algo>.yml`` (rl-baselines3-zoo's layout), read by ``load_hyperparams``.

The package, by floor (imports point down only)::

    agents.experiments   train runner, compare, sweeps (local, Ray), Ray Tune, reward-curve plots;
        │                also imports envs (scripts/ are thin command lines over it)
    agents.baselines     the SB3 adapter, the only importer of torch
        │
    agents.ppo, .a2c, .dqn, .reinforce, .recurrent_ppo     one file per algorithm
        │
    agents.common        shared machinery: base class, policies, buffers, rollout, distributions,
        │                vector env, normalisation, callbacks, evaluation, logging, hyperparameter files
    nngym                the neural-network library
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from agents.a2c import A2C, A2CConfig
from agents.common import hyperparams as _hyperparams
from agents.common.callbacks import (
    AccuracyCallback,
    BaseCallback,
    CallbackList,
    CheckpointCallback,
    ConvertCallback,
    EvalCallback,
    EventCallback,
    EveryNTimesteps,
    LogEveryNTimesteps,
    ProgressBarCallback,
    StopTrainingOnMaxEpisodes,
    StopTrainingOnNoModelImprovement,
    StopTrainingOnRewardThreshold,
)
from agents.common.evaluation import EpisodeStats, evaluate, evaluate_episodes, run_episodes
from agents.common.hyperparams import HYPERPARAMS_DIR, HyperparamsError, parse_policy_kwargs
from agents.common.population import Population, load_population
from agents.dqn import DQN, DQNConfig
from agents.ppo import PPO, PPOConfig
from agents.ram import RAM, RAMConfig
from agents.recurrent_ppo import RecurrentPPO, RecurrentPPOConfig
from agents.reinforce import REINFORCE, REINFORCEConfig

ALGOS = {"ppo": PPO, "a2c": A2C, "dqn": DQN, "reinforce": REINFORCE, "recurrent_ppo": RecurrentPPO, "ram": RAM}


def load_hyperparams(algo: str, env_id: str, path: str | os.PathLike | None = None) -> dict[str, Any]:
    """The entry for ``env_id`` in ``agents/hyperparams/<algo>.yml``, or in ``path`` (e.g. one of
    rl-baselines3-zoo's own files, read unchanged), as keyword arguments of ``ALGOS[algo]``.

    Every key must be one the algorithm honours (``agents.common.hyperparams`` translates the zoo's
    ``policy``, ``policy_kwargs``, ``normalize`` ...); the result holds the agent's arguments plus
    ``n_timesteps`` and, if the entry has them, ``env_wrapper`` / ``frame_stack`` for the env. An env id without an
    entry of its own gets the file's ``atari`` entry (an Atari env) or its ``default`` entry, as in the zoo.

    Raises:
        HyperparamsError: A ValueError naming the key, the file and the env id that cannot be honoured.
    """
    fields = [f.name for f in dataclasses.fields(ALGOS[algo].Config)] if algo in ALGOS else None
    return _hyperparams.load_hyperparams(algo, env_id, path, fields)


__all__ = [
    "A2C",
    "A2CConfig",
    "AccuracyCallback",
    "ALGOS",
    "BaseCallback",
    "CallbackList",
    "CheckpointCallback",
    "ConvertCallback",
    "DQN",
    "DQNConfig",
    "EpisodeStats",
    "EvalCallback",
    "evaluate",
    "evaluate_episodes",
    "EventCallback",
    "EveryNTimesteps",
    "LogEveryNTimesteps",
    "HYPERPARAMS_DIR",
    "HyperparamsError",
    "load_hyperparams",
    "load_population",
    "parse_policy_kwargs",
    "Population",
    "PPO",
    "PPOConfig",
    "ProgressBarCallback",
    "RAM",
    "RAMConfig",
    "RecurrentPPO",
    "RecurrentPPOConfig",
    "REINFORCE",
    "REINFORCEConfig",
    "run_episodes",
    "StopTrainingOnMaxEpisodes",
    "StopTrainingOnNoModelImprovement",
    "StopTrainingOnRewardThreshold",
]
