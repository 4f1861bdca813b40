"""Model files to agents, whatever wrote them: nngym's ``.npz``, the SB3 adapter's ``.npz``, or SB3's ``.zip``.

``load_model(path)`` reads the file's own metadata to pick the class, so scripts that act with a saved
model (scripts/enjoy.py, scripts/export.py) take any of them with the same arguments.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import gymnasium as gym

from agents import ALGOS
from agents.baselines.sb3_zip import load_sb3
from nngym.serialization import ModelFileError, load_npz


def load_model(
    path: str | os.PathLike, algo: str | None = None, env: str | gym.Env | None = None, **kwargs: Any
) -> Any:
    """The agent saved in ``path``.

    - ``.zip``: a Stable-Baselines3 model, read with numpy alone (``agents.baselines.sb3_zip.load_sb3``) into
      nngym's PPO / A2C / DQN;
    - ``.npz`` of nngym's agents (format ``nngym.agent``): the algorithm it names (``agents.ALGOS``);
    - ``.npz`` of the SB3 adapter (``train.py --impl sb3``, format ``nngym.sb3``): the adapter's class (needs
      torch and SB3).

    Args:
        path: The model file.
        algo: ``"ppo"``, ``"dqn"``, ...: checked against the file (``None``: the file says).
        env: Passed to ``load`` (the SB3 adapter builds its policy on it; default the saved env id).
        **kwargs: Passed to ``load``.

    Raises:
        ModelFileError: Not a model file (a folder, a population's folder among them), or one of another algorithm
            than ``algo``.
    """
    path = Path(path)
    if path.is_dir():
        members = sorted(p.name for p in path.glob("s*.npz"))
        what = (
            f"a population's folder (population.json and one model file per seed), not a model file: give one "
            f"member's file, {os.path.join(path, 's<seed>.npz')} ({', '.join(members) or 'none found'})"
            if (path / "population.json").exists()
            else "a folder, not a model file"
        )
        raise ModelFileError(f"{path} is {what}")
    if path.suffix == ".zip":
        return load_sb3(path, algo=algo, **kwargs)
    _, meta = load_npz(path)
    name = str(meta.get("algorithm", ""))
    if algo is not None and name.lower().replace("recurrentppo", "recurrent_ppo") != algo.lower():
        raise ModelFileError(f"{path} holds a {name} model, not {algo}")
    if meta.get("format") == "nngym.sb3":
        from agents.baselines.sb3 import SB3_ALGOS

        cls = next(c for c in SB3_ALGOS.values() if c.algo == name)
        return cls.load(path, env=env, **kwargs)
    classes = {cls.algo: cls for cls in ALGOS.values()}
    if meta.get("format") != "nngym.agent" or name not in classes:
        raise ModelFileError(f"{path}: format {meta.get('format')!r}, algorithm {name!r}: not an agent model file")
    return classes[name].load(path, **kwargs)
