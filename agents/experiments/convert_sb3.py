"""Convert a Stable-Baselines3 model zip into an nngym model file, with numpy alone (no torch, no SB3).

    python scripts/convert_sb3.py ppo_cartpole.zip runs/ppo_cartpole.npz
    python scripts/convert_sb3.py ppo_acrobot.zip runs/ppo_acrobot.npz --vecnormalize vecnormalize.pkl

Reads the zip with ``agents.baselines.sb3_zip.load_sb3`` (PPO, A2C or DQN; MlpPolicy or NatureCNN's
CnnPolicy) and saves the nngym agent to OUT (``.npz`` added to a name without it; a folder is refused, not written
beside): ``PPO.load("runs/ppo_cartpole.npz")`` (or ``A2C``/``DQN``) reads it,
to predict, continue training, export (scripts/export.py) or watch (scripts/enjoy.py). ``--vecnormalize`` reads
the statistics SB3's ``VecNormalize.save`` wrote (the zoo's ``vecnormalize.pkl``) into the model file.

The three commands take ``--vecnormalize`` for an SB3 zip alike (``add_vecnormalize_option``,
``vecnormalize_for``, ``warn_unapplied_vecnormalize``). Without it, statistics found where SB3 users keep them
(``STATS_FILES``: next to the zip, or in the zoo's ``<folder>/<env>/`` beside ``<folder>/<env>.zip``) are not
applied, with a one-line warning that names the file and the option: a model trained behind VecNormalize acts on
raw observations otherwise. They are not applied unasked, as the zoo's enjoy.py does in its own run folders (where
its config.yml says whether the run normalised): a folder of several zips may hold one file that belongs to only
one of them.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from agents.baselines.sb3_zip import SB3ZipError, load_sb3, read_sb3_zip
from agents.experiments.cli import reported_as_errors, writing

#: Where a zip's VecNormalize statistics are looked for, relative to the zip's folder (``{stem}``: the zip's name
#: without ``.zip``): ``VecNormalize.save``'s usual name and the Hugging Face hub's next to it, and the zoo's
#: run layout (``logs/ppo/CartPole-v1_1/CartPole-v1.zip`` with ``CartPole-v1/vecnormalize.pkl``).
STATS_FILES = ("vecnormalize.pkl", "vec_normalize.pkl", "{stem}/vecnormalize.pkl")


def add_vecnormalize_option(p: argparse.ArgumentParser) -> None:
    """Adds ``--vecnormalize PKL`` (default None): the statistics ``VecNormalize.save`` wrote for an SB3 zip."""
    p.add_argument(
        "--vecnormalize",
        default=None,
        metavar="PKL",
        help="VecNormalize.save's file for an SB3 zip (the zoo's vecnormalize.pkl): observations are normalised "
        "with its statistics, as SB3's model saw them",
    )


def nearby_vecnormalize(model: str | os.PathLike) -> Path | None:
    """A VecNormalize statistics file kept with the SB3 zip ``model`` (``STATS_FILES``, or the one
    ``<folder>/*/vecnormalize.pkl`` of the zoo's run folder, for its ``best_model.zip`` and checkpoints); None if
    there is none."""
    model = Path(model)
    for name in STATS_FILES:
        candidate = model.parent / name.format(stem=model.stem)
        if candidate.is_file():
            return candidate
    in_subfolders = sorted(model.parent.glob("*/vecnormalize.pkl"))
    return in_subfolders[0] if len(in_subfolders) == 1 else None


def vecnormalize_for(model: str | os.PathLike, vecnormalize: str | None, is_zip: bool | None = None) -> str | None:
    """``--vecnormalize`` checked against the model, to pass to ``load_sb3`` (None when not given).

    Args:
        model: The model file the command was given.
        vecnormalize: ``--vecnormalize``'s value, or None.
        is_zip: Whether ``model`` is an SB3 zip; default: its name ends in ``.zip`` (as ``load_model`` decides).

    Raises:
        SystemExit: ``--vecnormalize`` with a model file that is not an SB3 zip (nngym's files keep their own
            statistics).
    """
    if vecnormalize is not None and not (Path(model).suffix == ".zip" if is_zip is None else is_zip):
        raise SystemExit(
            f"error: --vecnormalize applies to SB3 zips; {model} is not one (nngym's model files keep their own "
            "normalisation statistics)"
        )
    return vecnormalize


def warn_unapplied_vecnormalize(model: str | os.PathLike, vecnormalize: str | None, is_zip: bool | None = None) -> None:
    """Without ``--vecnormalize``, names a statistics file found with the SB3 zip ``model``
    (``nearby_vecnormalize``) in a one-line warning on stderr, with the option that applies it."""
    if vecnormalize is not None or not (Path(model).suffix == ".zip" if is_zip is None else is_zip):
        return
    found = nearby_vecnormalize(model)
    if found is not None:
        print(
            f"warning: {model}: VecNormalize statistics not applied, so a model trained behind VecNormalize acts on "
            f"raw observations; {found} lies with it: give --vecnormalize {found} to apply them",
            file=sys.stderr,
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("zip", help="the SB3 model file (model.save's .zip)")
    p.add_argument(
        "out",
        help="the nngym model file to write (.npz, added to a name without it); an existing folder is refused, as "
        "export.py refuses one",
    )
    p.add_argument("--algo", default=None, choices=["ppo", "a2c", "dqn"], help="default: told by the zip")
    add_vecnormalize_option(p)
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
    if Path(args.out).is_dir():  # the agent's save would write OUT.npz beside it
        raise SystemExit(f"error: cannot write {args.out}: Is a directory")
    with reported_as_errors():  # a missing or corrupt zip, an unknown algorithm
        check_algo(args.zip, args.algo)
        agent = load_sb3(args.zip, algo=args.algo, vecnormalize=vecnormalize_for(args.zip, args.vecnormalize, True))
    warn_unapplied_vecnormalize(args.zip, args.vecnormalize, True)
    with writing(args.out):
        out = agent.save(args.out)
    print(f"{args.zip}: SB3 {agent.algo} -> {out} (load it with agents.{agent.algo}.load)")
    return out


if __name__ == "__main__":
    main()
