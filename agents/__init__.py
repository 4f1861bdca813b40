"""RL agents learning with nngym networks, behind Stable-Baselines3's interface.

``PPO``, ``A2C``, ``DQN`` and ``REINFORCE`` take an env id / env / SAME_STEP vector env,
``net="mlp"``, a seed and hyperparameters (their ``Config`` dataclass fields); they
``learn``, ``predict``, ``save`` and ``load`` like SB3's. Hyperparameters per env id are in
``agents/hyperparams/<algo>.yml`` (rl-baselines3-zoo's layout), read by ``load_hyperparams``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agents.a2c import A2C, A2CConfig
from agents.callbacks import BaseCallback, CallbackList, CheckpointCallback, EvalCallback, ProgressBarCallback
from agents.dqn import DQN, DQNConfig
from agents.evaluation import evaluate, evaluate_episodes
from agents.ppo import PPO, PPOConfig
from agents.recurrent_ppo import RecurrentPPO, RecurrentPPOConfig, evaluate_recurrent
from agents.reinforce import REINFORCE, REINFORCEConfig

ALGOS = {"ppo": PPO, "a2c": A2C, "dqn": DQN, "reinforce": REINFORCE, "recurrent_ppo": RecurrentPPO}
HYPERPARAMS_DIR = Path(__file__).parent / "hyperparams"


def load_hyperparams(algo: str, env_id: str, path: str | Path | None = None) -> dict[str, Any]:
    """The zoo-style entry for ``env_id`` in ``hyperparams/<algo>.yml``: n_timesteps, n_envs and Config fields.

    ``policy_kwargs: {net_arch: [...]}`` is flattened to ``net_arch``; ``policy`` is dropped.

    Args:
        algo: Algorithm name.
        env_id: Env id, a top-level key of the file.
        path: Another file in the same layout (e.g. the best configuration a Ray Tune search wrote).

    Raises:
        ValueError: For an unknown algorithm or an env id without an entry.
    """
    import yaml

    if algo not in ALGOS:
        raise ValueError(f"unknown algo {algo!r}; expected one of {sorted(ALGOS)}")
    path = Path(path) if path is not None else HYPERPARAMS_DIR / f"{algo}.yml"
    with open(path) as f:
        table = yaml.safe_load(f)
    if not isinstance(table, dict) or env_id not in table:
        raise ValueError(f"{path}: no {algo} hyperparameters for {env_id!r}; have {sorted(table or {})}")
    hp = dict(table[env_id])
    hp.pop("policy", None)
    for k, v in (hp.pop("policy_kwargs", None) or {}).items():
        hp[k] = tuple(v) if k == "net_arch" else v
    return hp


__all__ = [
    "A2C",
    "ALGOS",
    "DQN",
    "PPO",
    "REINFORCE",
    "RecurrentPPO",
    "RecurrentPPOConfig",
    "A2CConfig",
    "BaseCallback",
    "CallbackList",
    "CheckpointCallback",
    "DQNConfig",
    "EvalCallback",
    "PPOConfig",
    "ProgressBarCallback",
    "REINFORCEConfig",
    "evaluate",
    "evaluate_episodes",
    "evaluate_recurrent",
    "load_hyperparams",
]
