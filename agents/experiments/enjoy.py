"""Watch a saved agent play: its episode returns, and with ``--video-folder`` a video of each episode.

    python scripts/enjoy.py --algo ppo --env CartPole-v1 --model runs/ppo_CartPole-v1_s0/model.npz
    python scripts/enjoy.py --algo ppo --env nngym/DigitGlimpse-v0 --model runs/.../model.npz \\
        --n-episodes 3 --video-folder runs/videos --stochastic
    python scripts/enjoy.py --algo ppo --env CartPole-v1 --model sb3_model.zip     # an SB3 zip, without torch
    python scripts/enjoy.py --env Acrobot-v1 --model sb3_model.zip --vecnormalize vecnormalize.pkl

``--model`` is an nngym model file, the SB3 adapter's (``train.py --impl sb3``), or an SB3 ``.zip``
(``agents.experiments.models.load_model``; with ``--impl sb3`` a zip is loaded by SB3 itself, and an nngym model
file is refused: nngym plays it). Recurrent
agents keep their state through each episode. With ``--video-folder`` every episode is rendered
(``render_mode="rgb_array"``: the nngym envs draw with numpy, classic control with pygame) and written
as ``<folder>/<algo>-<env>-episode-<i>.mp4`` (or ``.gif`` with ``--video-format gif``; ``<algo>`` is ``--algo``,
or the model's algorithm by its ``--algo`` name, e.g. ``recurrent_ppo``): one frame after
the reset and one after every step, at ``--fps`` (default the env's ``render_fps``; a GIF stores a repeated frame
once, shown for longer). Videos are written with imageio
(``pip install -e ".[video]"``: imageio, and imageio-ffmpeg's bundled ffmpeg for mp4), not Gymnasium's
``RecordVideo``, whose moviepy dependency is heavier and brings nothing here.

Actions are deterministic (greedy / the mean) by default and sampled on Atari and MiniGrid envs, as in
rl-baselines3-zoo's enjoy.py; ``--stochastic`` samples them on any env, ``--deterministic`` takes the deterministic
ones on any env (giving both is an error).

An episode of an env without a time limit of its own (CliffWalking-v1's, say) is cut after 10,000 steps, with a
warning (``agents.common.evaluation.episode_step_cap``), so a policy walking in circles does not play forever.

An SB3 zip trained behind ``VecNormalize`` needs its statistics, ``--vecnormalize vecnormalize.pkl`` (as for
scripts/convert_sb3.py). Without the option, a statistics file found with the zip (``vecnormalize.pkl`` or the
Hugging Face hub's ``vec_normalize.pkl`` next to it, the zoo's ``<folder>/<env>/vecnormalize.pkl``) is not
applied, and a warning names it.

A model plays on the env it trained on: ``train.py`` records in the run's ``eval.json`` the training envs' arguments
(``env_kwargs``: ``train.py --env-kwargs``) and a zoo entry's ``env_wrapper`` / ``frame_stack``, and enjoy makes its
env with those arguments and wraps it the same way. eval.json is read from the model's folder (or the folder above,
for ``checkpoints/`` and ``best/``); a model file outside a run folder plays on the env the command line gives.
``--env-kwargs`` on enjoy's command line overrides the run's arguments key by key (the evaluation envs' own,
eval.json's ``eval_env_kwargs``, are given this way); ``--no-run-env-kwargs`` leaves the run's arguments out (the env
gets ``--env-kwargs`` alone) and ``--no-env-wrappers`` its wrappers. The run's arguments are applied only when
``--env`` is the env the run trained on (eval.json's ``env``). What was applied is printed.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import envs  # noqa: F401 - registers the nngym/ env ids
from agents import ALGOS
from agents.common.evaluation import episode_step_cap, warn_cut
from agents.common.hyperparams import deterministic_by_default
from agents.common.spaces import channels_first
from agents.experiments.cli import (
    env_id,
    env_slug,
    non_negative_int,
    output_folder,
    parse_env_kwargs,
    positive_float,
    positive_int,
    reported_as_errors,
    writable_folder,
)
from agents.experiments.convert_sb3 import add_vecnormalize_option, vecnormalize_for, warn_unapplied_vecnormalize
from agents.experiments.models import load_model
from envs.wrappers import zoo_wrappers
from nngym.serialization import load_npz

#: Shown when a video is asked for without imageio.
VIDEO_MISSING = 'writing videos needs imageio (and imageio-ffmpeg for mp4): pip install -e ".[video]"'


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--algo", default=None, help="ppo, a2c, dqn, ...: checked against the model file (default: its own)")
    p.add_argument(
        "--env",
        required=True,
        type=env_id,
        help="env id, e.g. CartPole-v1 or nngym/DigitGlimpse-v0; module:EnvId imports module (from the current "
        "directory) to register EnvId",
    )
    p.add_argument("--model", required=True, help="model file: nngym .npz or SB3 .zip")
    p.add_argument(
        "--impl",
        default="nngym",
        choices=["nngym", "sb3"],
        help="sb3: play an SB3 zip with SB3 itself (needs torch and SB3; --algo required); the SB3 adapter's .npz "
        "(train.py --impl sb3) is built on --env; an nngym model file is refused",
    )
    add_vecnormalize_option(p)
    p.add_argument("--n-episodes", type=positive_int, default=5)
    actions = p.add_mutually_exclusive_group()
    actions.add_argument(
        "--deterministic",
        action="store_true",
        help="greedy / mean actions on any env (the default, but on Atari and MiniGrid envs, as the zoo's)",
    )
    actions.add_argument(
        "--stochastic",
        action="store_true",
        help="sample actions from the policy on any env (the default on Atari and MiniGrid envs, as the zoo's)",
    )
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed of the first reset, >= 0")
    p.add_argument(
        "--env-kwargs",
        nargs="*",
        action="extend",
        default=[],
        metavar="KEY=VALUE",
        help="gym.make arguments, YAML values; each overrides the run's own of that key (eval.json's env_kwargs)",
    )
    p.add_argument("--video-folder", type=output_folder, default=None, help="write a video of each episode here")
    p.add_argument("--video-format", default="mp4", choices=["mp4", "gif"])
    p.add_argument(
        "--fps", type=positive_float, default=None, help="video frames per second, > 0 (default: the env's render_fps)"
    )
    p.add_argument(
        "--no-env-wrappers",
        action="store_true",
        help="ignore the env_wrapper / frame_stack of the run's eval.json (its env_kwargs: --no-run-env-kwargs)",
    )
    p.add_argument(
        "--no-run-env-kwargs",
        action="store_true",
        help="ignore the env_kwargs of the run's eval.json: the env gets --env-kwargs alone (the wrappers: "
        "--no-env-wrappers)",
    )
    return p.parse_args(argv)


def deterministic_actions(args: argparse.Namespace) -> bool:
    """Whether enjoy plays with deterministic actions: rl-baselines3-zoo's enjoy.py rule, ``--stochastic`` or an Atari
    or MiniGrid env without ``--deterministic`` samples them (``deterministic_by_default``)."""
    return args.deterministic or (not args.stochastic and deterministic_by_default(args.env))


def _sb3_zip(path: str, algo: str | None) -> Any:
    """SB3's own model from its zip (``--impl sb3``), through the SB3 adapter's classes (needs torch)."""
    from agents.baselines.sb3 import SB3_ALGOS

    if algo not in SB3_ALGOS:
        raise SystemExit(f"error: --impl sb3 with a zip needs --algo, one of {sorted(SB3_ALGOS)}")
    return SB3_ALGOS[algo].sb3_class.load(path, device="cpu")


#: How to play without what eval.json records, for its error messages.
IGNORE_RUN = "use --no-env-wrappers and --no-run-env-kwargs to ignore it"


def refuse_nngym_model_with_impl_sb3(model: str | os.PathLike) -> None:
    """Refuses ``--impl sb3`` with an nngym model file: it plays an SB3 zip with SB3 itself, and nngym's files are
    played by nngym whatever ``--impl`` says (the SB3 adapter's ``.npz`` of ``train.py --impl sb3`` is taken).

    Raises:
        SystemExit: Naming the file and what to do instead.
        FileNotFoundError, ModelFileError: For a file that is missing or not a model file (``load_npz``'s).
    """
    _, meta = load_npz(model)
    if meta.get("format") == "nngym.agent":
        raise SystemExit(
            f"error: --impl sb3 plays an SB3 zip with SB3 itself; {model} is an nngym model file "
            f"({meta.get('algorithm')}), which nngym plays: drop --impl sb3"
        )


def video_algo_name(agent: Any, algo: str | None) -> str:
    """The ``<algo>`` of a video's name, ``<algo>-<env>-episode-<i>``: ``--algo`` if given, else the registry name
    of the agent's algorithm (``agents.ALGOS``: ``recurrent_ppo`` for RecurrentPPO), in lower case either way."""
    if algo is not None:
        return algo.lower()
    name = str(getattr(agent, "algo", "agent"))
    return next((key for key, cls in ALGOS.items() if cls.algo == name), name.lower())


def run_record(model: str | os.PathLike) -> tuple[Path | None, dict[str, Any]]:
    """The eval.json that ``train.py`` wrote for the model's run: in the model's folder, or the one above (for
    ``checkpoints/`` and ``best/``).

    Returns:
        (its path, its content); (None, {}) when there is none.

    Raises:
        SystemExit: For a file that is not a JSON object, naming it.
    """
    folder = Path(model).resolve().parent
    for candidate in (folder / "eval.json", folder.parent / "eval.json"):
        if candidate.is_file():
            try:
                recorded = json.loads(candidate.read_text())
            except json.JSONDecodeError as err:
                raise SystemExit(f"error: {candidate}: not valid JSON ({err}); {IGNORE_RUN}") from err
            if not isinstance(recorded, dict):
                kind = type(recorded).__name__
                raise SystemExit(f"error: {candidate}: expected a JSON object, got a {kind}; {IGNORE_RUN}")
            return candidate, recorded
    return None, {}


def run_env_wrappers(model: str | os.PathLike) -> dict[str, Any]:
    """The ``env_wrapper`` and ``frame_stack`` that ``train.py`` recorded in the eval.json of the model's run
    (``run_record``); empty if there is none or it recorded neither."""
    _, recorded = run_record(model)
    return {k: recorded[k] for k in ("env_wrapper", "frame_stack") if recorded.get(k) is not None}


def _registered(env: str) -> str:
    """An env id without gymnasium's ``module:`` prefix: the id the env is registered under."""
    return env.split(":", 1)[-1]


def run_env_kwargs(model: str | os.PathLike, env: str) -> dict[str, Any]:
    """The ``gym.make`` arguments of the training envs that ``train.py`` recorded in the eval.json of the model's run
    (``env_kwargs``: ``train.py --env-kwargs``), when the run trained on ``env``.

    Args:
        model: The model file.
        env: The env id enjoy plays on (``--env``).

    Returns:
        The arguments; empty if there is no eval.json, it recorded none, or it names another env (with a line
        saying so when it had arguments).

    Raises:
        SystemExit: For an ``env_kwargs`` that is not a mapping of arguments, naming the file and what it holds.
    """
    path, recorded = run_record(model)
    kwargs = recorded.get("env_kwargs") or {}
    if not isinstance(kwargs, dict):
        raise SystemExit(
            f"error: {path}: env_kwargs: expected a mapping of gym.make arguments, got {kwargs!r}; {IGNORE_RUN}"
        )
    trained_on = recorded.get("env")
    if kwargs and isinstance(trained_on, str) and _registered(trained_on) != _registered(env):
        print(f"the run trained on {trained_on} (its eval.json); its env_kwargs {kwargs} are not applied to {env}")
        return {}
    return kwargs


def write_video(frames: list[np.ndarray], path: Path, fps: float) -> Path:
    """Frames (each (H, W, 3) uint8) to an mp4 (H.264, sides padded to even) or a gif, by ``path``'s suffix.

    Raises:
        ImportError: Without imageio (or imageio-ffmpeg for mp4), naming the extra to install.
    """
    try:
        import imageio.v2 as imageio
    except ImportError as err:
        raise ImportError(VIDEO_MISSING) from err
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gif":
        imageio.mimsave(path, frames, duration=1000.0 / fps, loop=0)  # duration: ms per frame
        return path
    h, w = frames[0].shape[:2]
    pad = ((0, h % 2), (0, w % 2), (0, 0))  # yuv420p needs even sides
    try:
        writer = imageio.get_writer(path, fps=fps, codec="libx264", macro_block_size=1, quality=8)
    except (ImportError, ValueError) as err:
        raise ImportError(VIDEO_MISSING) from err
    with writer:
        for frame in frames:
            writer.append_data(np.pad(frame, pad, mode="edge"))
    return path


def play(
    agent: Any,
    env: gym.Env,
    n_episodes: int,
    deterministic: bool = True,
    seed: int = 0,
    record: bool = False,
    max_episode_steps: int | None = None,
) -> tuple[list[float], list[int], list[list[np.ndarray]]]:
    """Plays ``n_episodes`` (carrying a recurrent agent's state), optionally keeping every rendered frame.

    ``deterministic`` takes the policy's greedy / mean actions (the default), False samples them.

    An episode is cut after ``max_episode_steps`` steps (``agents.common.evaluation.episode_step_cap``: default the
    env's own time limit, or 10,000 steps for an env without one), with one warning if any was.

    Returns:
        (returns, lengths, frames per episode: the reset's frame then one per step; empty lists without
        ``record``).
    """
    cap = episode_step_cap(env, max_episode_steps)
    returns, lengths, videos, cut = [], [], [], 0
    obs, _ = env.reset(seed=seed)
    for _ in range(n_episodes):
        frames = [env.render()] if record else []
        total, steps, done, state, start = 0.0, 0, False, None, True
        while not done:
            start_flags = np.array([start])
            action, state = agent.predict(obs, state=state, episode_start=start_flags, deterministic=deterministic)
            obs, r, terminated, truncated, _ = env.step(action)
            total, steps, start, done = total + float(r), steps + 1, False, terminated or truncated
            if record:
                frames.append(env.render())
            if not done and steps >= cap:  # no time limit of its own: cut here
                cut, done = cut + 1, True
        returns.append(total)
        lengths.append(steps)
        videos.append(frames)
        obs, _ = env.reset()
    warn_cut(env, cut, n_episodes, cap)
    return returns, lengths, videos


def env_arguments(run: dict[str, Any], given: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The env's ``gym.make`` arguments: the run's (``run_env_kwargs``) with those given (``--env-kwargs``) over them,
    key by key.

    Returns:
        (the arguments, a line saying what came from the run and what was overridden; None without the run's).
    """
    if not run:
        return dict(given), None
    kwargs = {**run, **given}
    line = f"env made with the run's env_kwargs (its eval.json): {run}"
    overridden = {k: v for k, v in given.items() if k in run and run[k] != v}
    added = {k: v for k, v in given.items() if k not in run}
    changes = [f"overriding {overridden}"] * bool(overridden) + [f"adding {added}"] * bool(added)
    if changes:
        line += f"; --env-kwargs {' and '.join(changes)}: {kwargs}"
    return kwargs, line


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    record = args.video_folder is not None
    given_kwargs = parse_env_kwargs(args.env_kwargs, "--env-kwargs")
    if record and given_kwargs.get("render_mode", "rgb_array") != "rgb_array":
        raise SystemExit(
            f"error: --video-folder renders with render_mode='rgb_array'; --env-kwargs gives render_mode="
            f"{given_kwargs['render_mode']!r}"
        )
    run_kwargs = {} if args.no_run_env_kwargs else run_env_kwargs(args.model, args.env)
    env_kwargs, applied = env_arguments(run_kwargs, given_kwargs)
    vecnormalize = vecnormalize_for(args.model, args.vecnormalize)
    sb3_itself = args.impl == "sb3" and str(args.model).endswith(".zip")
    if sb3_itself and vecnormalize is not None:
        raise SystemExit(
            "error: --vecnormalize: with --impl sb3 the zip is played by SB3 itself, on raw observations; drop "
            "--impl sb3 to play it with the statistics applied"
        )
    with reported_as_errors():  # a missing or corrupt model file, an unknown env or bad env arguments
        if args.impl == "sb3" and not sb3_itself:
            refuse_nngym_model_with_impl_sb3(args.model)
        if sb3_itself:
            agent = _sb3_zip(args.model, args.algo)
        else:
            stats = {"vecnormalize": vecnormalize} if vecnormalize is not None else {}
            agent = load_model(args.model, args.algo, env=args.env if args.impl == "sb3" else None, **stats)
        render = {"render_mode": "rgb_array"} if record else {}  # envs need not take render_mode otherwise
        env = gym.make(args.env, **{**env_kwargs, **render})
        warn_unapplied_vecnormalize(args.model, vecnormalize)
        wrapping = {} if args.no_env_wrappers else run_env_wrappers(args.model)
        for wrap in zoo_wrappers(wrapping.get("env_wrapper"), wrapping.get("frame_stack")):
            env = wrap(env)
    if applied:
        print(applied)
    if wrapping:
        print(f"env wrapped as in training (the run's eval.json): {wrapping}")
    for what in ("observation_space", "action_space"):
        trained, given = getattr(agent, what, None), getattr(env, what)
        if what == "observation_space" and trained is not None and channels_first(given) == trained:
            continue  # channels-last frames of a model of channels-first images (SB3's VecTransposeImage): predict
            # takes them as SB3's does
        if trained is not None and trained != given:
            raise SystemExit(f"error: {args.model} was trained with {what} {trained}; {args.env} has {given}")
    if record:  # before playing: not a traceback when the first video is written
        writable_folder("--video-folder", args.video_folder)
    deterministic = deterministic_actions(args)
    returns, lengths, videos = play(agent, env, args.n_episodes, deterministic, args.seed, record)
    fps = args.fps if args.fps is not None else float(env.metadata.get("render_fps") or 30)
    env.close()
    name = f"{video_algo_name(agent, args.algo)}-{env_slug(args.env)}"
    paths = []
    for i, frames in enumerate(videos if record else []):
        paths.append(write_video(frames, Path(args.video_folder) / f"{name}-episode-{i}.{args.video_format}", fps))
    for i, (r, n) in enumerate(zip(returns, lengths, strict=True)):
        print(f"episode {i}: return {r:.2f}, {n} steps" + (f", video {paths[i]}" if paths else ""))
    mode = "deterministic" if deterministic else "stochastic"
    print(f"mean return {np.mean(returns):.2f} ± {np.std(returns):.2f} over {len(returns)} episodes ({mode} actions)")
    return {"returns": returns, "lengths": lengths, "videos": [os.fspath(p) for p in paths]}


if __name__ == "__main__":
    main()
