"""Hyperparameter files in rl-baselines3-zoo's layout: ``<algo>.yml`` maps env ids to entries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

#: The files that come with the package, one per algorithm.
HYPERPARAMS_DIR = Path(__file__).resolve().parents[1] / "hyperparams"


def load_hyperparams(algo: str, env_id: str, path: str | Path | None = None) -> dict[str, Any]:
    """The zoo-style entry for ``env_id`` in ``hyperparams/<algo>.yml``: n_timesteps, n_envs and Config fields.

    ``policy_kwargs: {net_arch: [...]}`` is flattened to ``net_arch``; ``policy`` is dropped.

    Args:
        algo: Algorithm name (``ppo``, ``a2c``, ``dqn``, ``reinforce``, ``recurrent_ppo``).
        env_id: Env id, a top-level key of the file.
        path: Another file in the same layout (e.g. the best configuration a Ray Tune search wrote).

    Raises:
        ValueError: For an algorithm without a file here, or an env id without an entry.
    """
    if path is None:
        known = sorted(p.stem for p in HYPERPARAMS_DIR.glob("*.yml"))
        if algo not in known:
            raise ValueError(f"unknown algo {algo!r}; expected one of {known}")
        path = HYPERPARAMS_DIR / f"{algo}.yml"
    path = Path(path)
    with open(path) as f:
        table = yaml.safe_load(f)
    if not isinstance(table, dict) or env_id not in table:
        raise ValueError(f"{path}: no {algo} hyperparameters for {env_id!r}; have {sorted(table or {})}")
    hp = dict(table[env_id])
    hp.pop("policy", None)
    for k, v in (hp.pop("policy_kwargs", None) or {}).items():
        hp[k] = tuple(v) if k == "net_arch" else v
    return hp
