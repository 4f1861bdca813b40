"""Convert a Stable-Baselines3 model zip into an nngym model file, with numpy alone (no torch, no SB3).

    python scripts/convert_sb3.py ppo_cartpole.zip runs/ppo_cartpole.npz
    python scripts/convert_sb3.py ppo_acrobot.zip runs/ppo_acrobot.npz --vecnormalize vecnormalize.pkl

Reads the zip with ``agents.baselines.sb3_zip.load_sb3`` (PPO, A2C or DQN; MlpPolicy or NatureCNN's
CnnPolicy) and saves the nngym agent: ``PPO.load("runs/ppo_cartpole.npz")`` (or ``A2C``/``DQN``) reads it,
to predict, continue training, export (scripts/export.py) or watch (scripts/enjoy.py). ``--vecnormalize`` reads
the statistics SB3's ``VecNormalize.save`` wrote (the zoo's ``vecnormalize.pkl``) into the model file.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from agents.baselines.sb3_zip import SB3ZipError, load_sb3, read_sb3_zip
from agents.experiments.cli import reported_as_errors, writing


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("zip", help="the SB3 model file (model.save's .zip)")
    p.add_argument("out", help="the nngym model file to write (.npz)")
    p.add_argument("--algo", default=None, choices=["ppo", "a2c", "dqn"], help="default: told by the zip")
    p.add_argument("--vecnormalize", default=None, help="VecNormalize.save's file for this model (vecnormalize.pkl)")
    return p.parse_args(argv)


def zip_kind(path: str | Path) -> str:
    """What the zip's policy is, told by its state dict: ``"DQN"`` (a Q-network, ``q_net.*``), ``"PPO/A2C"``
    (an actor-critic, ``action_net.*``) or ``"unknown"``."""
    _, state = read_sb3_zip(path)
    if any(k.startswith("q_net.") for k in state):
        return "DQN"
    if any(k.startswith("action_net.") for k in state):
        return "PPO/A2C"
    return "unknown"


def check_algo(path: str | Path, algo: str | None) -> None:
    """Raises an SB3ZipError if ``--algo`` names a Q-network for an actor-critic's zip, or the other way round."""
    if algo is None:
        return
    kind = zip_kind(path)
    wanted = "DQN" if algo.lower() == "dqn" else "PPO/A2C"
    if kind != "unknown" and kind != wanted:
        keys = "q_net.*" if kind == "DQN" else "action_net.*, value_net.*"
        raise SB3ZipError(
            f"{path}: the zip holds a {kind} model's parameters (policy {keys}), not {algo.upper()}'s; "
            f"drop --algo or give {'dqn' if kind == 'DQN' else 'ppo or a2c'}"
        )


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(argv)
    with reported_as_errors():  # a missing or corrupt zip, an unknown algorithm
        check_algo(args.zip, args.algo)
        agent = load_sb3(args.zip, algo=args.algo, vecnormalize=args.vecnormalize)
    with writing(args.out):
        out = agent.save(args.out)
    print(f"{args.zip}: SB3 {agent.algo} -> {out} (load it with agents.{agent.algo}.load)")
    return out


if __name__ == "__main__":
    main()
