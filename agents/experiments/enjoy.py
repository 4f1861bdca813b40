"""Watch a saved agent play: its episode returns, and with ``--video-folder`` a video of each episode.

    python scripts/enjoy.py --algo ppo --env CartPole-v1 --model runs/ppo_CartPole-v1_s0/model.npz
    python scripts/enjoy.py --algo ppo --env nngym/DigitGlimpse-v0 --model runs/.../model.npz \\
        --n-episodes 3 --video-folder runs/videos --deterministic
    python scripts/enjoy.py --algo ppo --env CartPole-v1 --model sb3_model.zip     # an SB3 zip, without torch
    python scripts/enjoy.py --env Acrobot-v1 --model sb3_model.zip --vecnormalize vecnormalize.pkl

``--model`` is an nngym model file, the SB3 adapter's (``train.py --impl sb3``), or an SB3 ``.zip``
(``agents.experiments.models.load_model``; with ``--impl sb3`` a zip is loaded by SB3 itself). Recurrent
agents keep their state through each episode. With ``--video-folder`` every episode is rendered
(``render_mode="rgb_array"``: the nngym envs draw with numpy, classic control with pygame) and written
as ``<folder>/<algo>-<env>-episode-<i>.mp4`` (or ``.gif`` with ``--video-format gif``): one frame after
the reset and one after every step, at ``--fps`` (default the env's ``render_fps``; a GIF stores a repeated frame
once, shown for longer). Videos are written with imageio
(``pip install -e ".[video]"``: imageio, and imageio-ffmpeg's bundled ffmpeg for mp4), not Gymnasium's
``RecordVideo``, whose moviepy dependency is heavier and brings nothing here.

An episode of an env without a time limit of its own (CliffWalking-v1's, say) is cut after 10,000 steps, with a
warning (``agents.common.evaluation.episode_step_cap``), so a policy walking in circles does not play forever.

An SB3 zip trained behind ``VecNormalize`` needs its statistics, ``--vecnormalize vecnormalize.pkl`` (as for
scripts/convert_sb3.py). Without the option, a statistics file found with the zip (``vecnormalize.pkl`` or the
Hugging Face hub's ``vec_normalize.pkl`` next to it, the zoo's ``<folder>/<env>/vecnormalize.pkl``) is not
applied, and a warning names it.

A model trained with a zoo entry's ``env_wrapper`` / ``frame_stack`` plays on an env wrapped the same way:
``train.py`` records them in the run's ``eval.json``, which is read from the model's folder (or the folder
above, for ``checkpoints/`` and ``best/``); ``--no-env-wrappers`` plays on the bare env.
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
from agents.common.evaluation import episode_step_cap, warn_cut
from agents.experiments.cli import (
    env_id,
    env_slug,
    non_negative_int,
    output_folder,
    parse_env_kwargs,
    positive_float,
    positive_int,
    reported_as_errors,
)
from agents.experiments.convert_sb3 import add_vecnormalize_option, vecnormalize_for, warn_unapplied_vecnormalize
from agents.experiments.models import load_model
from envs.wrappers import zoo_wrappers

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
    p.add_argument("--impl", default="nngym", choices=["nngym", "sb3"], help="sb3: load a zip with SB3 itself")
    add_vecnormalize_option(p)
    p.add_argument("--n-episodes", type=positive_int, default=5)
    p.add_argument("--deterministic", action="store_true", help="greedy / mean actions (default: sample)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed of the first reset, >= 0")
    p.add_argument(
        "--env-kwargs", nargs="*", action="extend", default=[], metavar="KEY=VALUE", help="gym.make arguments"
    )
    p.add_argument("--video-folder", type=output_folder, default=None, help="write a video of each episode here")
    p.add_argument("--video-format", default="mp4", choices=["mp4", "gif"])
    p.add_argument(
        "--fps", type=positive_float, default=None, help="video frames per second, > 0 (default: the env's render_fps)"
    )
    p.add_argument(
        "--no-env-wrappers", action="store_true", help="ignore the env_wrapper / frame_stack of the run's eval.json"
    )
    return p.parse_args(argv)


def _sb3_zip(path: str, algo: str | None) -> Any:
    """SB3's own model from its zip (``--impl sb3``), through the SB3 adapter's classes (needs torch)."""
    from agents.baselines.sb3 import SB3_ALGOS

    if algo not in SB3_ALGOS:
        raise SystemExit(f"error: --impl sb3 with a zip needs --algo, one of {sorted(SB3_ALGOS)}")
    return SB3_ALGOS[algo].sb3_class.load(path, device="cpu")


def run_env_wrappers(model: str | os.PathLike) -> dict[str, Any]:
    """The ``env_wrapper`` and ``frame_stack`` that ``train.py`` recorded in the eval.json of the model's run
    (in the model's folder or the one above); empty if there is none or it recorded neither."""
    folder = Path(model).resolve().parent
    for candidate in (folder / "eval.json", folder.parent / "eval.json"):
        if candidate.is_file():
            try:
                recorded = json.loads(candidate.read_text())
            except json.JSONDecodeError as err:
                why = f"error: {candidate}: not valid JSON ({err}); use --no-env-wrappers to ignore it"
                raise SystemExit(why) from err
            return {k: recorded[k] for k in ("env_wrapper", "frame_stack") if recorded.get(k) is not None}
    return {}


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
    deterministic: bool = False,
    seed: int = 0,
    record: bool = False,
    max_episode_steps: int | None = None,
) -> tuple[list[float], list[int], list[list[np.ndarray]]]:
    """Plays ``n_episodes`` (carrying a recurrent agent's state), optionally keeping every rendered frame.

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


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    record = args.video_folder is not None
    env_kwargs = parse_env_kwargs(args.env_kwargs, "--env-kwargs")
    if record and env_kwargs.get("render_mode", "rgb_array") != "rgb_array":
        raise SystemExit(
            f"error: --video-folder renders with render_mode='rgb_array'; --env-kwargs gives render_mode="
            f"{env_kwargs['render_mode']!r}"
        )
    vecnormalize = vecnormalize_for(args.model, args.vecnormalize)
    sb3_itself = args.impl == "sb3" and str(args.model).endswith(".zip")
    if sb3_itself and vecnormalize is not None:
        raise SystemExit(
            "error: --vecnormalize: with --impl sb3 the zip is played by SB3 itself, on raw observations; drop "
            "--impl sb3 to play it with the statistics applied"
        )
    with reported_as_errors():  # a missing or corrupt model file, an unknown env or bad env arguments
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
    if wrapping:
        print(f"env wrapped as in training (the run's eval.json): {wrapping}")
    for what in ("observation_space", "action_space"):
        trained, given = getattr(agent, what, None), getattr(env, what)
        if trained is not None and trained != given:
            raise SystemExit(f"error: {args.model} was trained with {what} {trained}; {args.env} has {given}")
    returns, lengths, videos = play(agent, env, args.n_episodes, args.deterministic, args.seed, record)
    fps = args.fps if args.fps is not None else float(env.metadata.get("render_fps") or 30)
    env.close()
    name = f"{args.algo or getattr(agent, 'algo', 'agent').lower()}-{env_slug(args.env)}"
    paths = []
    for i, frames in enumerate(videos if record else []):
        paths.append(write_video(frames, Path(args.video_folder) / f"{name}-episode-{i}.{args.video_format}", fps))
    for i, (r, n) in enumerate(zip(returns, lengths, strict=True)):
        print(f"episode {i}: return {r:.2f}, {n} steps" + (f", video {paths[i]}" if paths else ""))
    mode = "deterministic" if args.deterministic else "stochastic"
    print(f"mean return {np.mean(returns):.2f} ± {np.std(returns):.2f} over {len(returns)} episodes ({mode} actions)")
    return {"returns": returns, "lengths": lengths, "videos": [os.fspath(p) for p in paths]}


if __name__ == "__main__":
    main()
