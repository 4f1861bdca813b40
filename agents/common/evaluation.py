"""Evaluation: run an agent for whole episodes on an env and report the returns.

One loop serves every agent, nngym's and SB3's, memoryless or recurrent: it passes back the
``state`` that ``predict`` returned and ``episode_start`` (true on an episode's first step), so
an LSTM policy keeps its memory through an episode and starts each one afresh.

Every episode ends: an env without a time limit of its own (``spec.max_episode_steps`` None, as CliffWalking-v1's),
where a deterministic policy can walk in circles forever, has its episodes cut after
``DEFAULT_MAX_EPISODE_STEPS`` steps, with a warning. (SB3's ``evaluate_policy`` would wait forever there.)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from agents.common.vec_env import _sb3_vec_env_hint, sb3_monitor

#: Steps after which an evaluation episode of an env without a time limit (no ``max_episode_steps`` in its spec) is
#: cut, as if truncated.
DEFAULT_MAX_EPISODE_STEPS = 10_000


@dataclass
class EpisodeStats:
    """What ``run_episodes`` saw, one entry per episode."""

    returns: list[float] = field(default_factory=list)
    """Undiscounted returns."""
    lengths: list[int] = field(default_factory=list)
    """Steps."""
    last_rewards: list[float] = field(default_factory=list)
    """The reward of each episode's last step (success or failure in the T-maze, say)."""
    cut: int = 0
    """Episodes cut at the step cap (``max_episode_steps``) without the env ending them."""
    successes: list[bool] = field(default_factory=list)
    """``info["is_success"]`` of the last step of each episode whose last info has it (SB3's success rate)."""


def episode_step_cap(env: gym.Env, max_episode_steps: int | None = None) -> int:
    """The steps after which an evaluation episode on ``env`` is cut: ``max_episode_steps`` if given, else the env's
    own time limit (``env.spec.max_episode_steps``), else ``DEFAULT_MAX_EPISODE_STEPS``.

    Raises:
        ValueError: For a ``max_episode_steps`` that is not an int >= 1.
    """
    if max_episode_steps is None:
        spec = getattr(env, "spec", None)
        limit = getattr(spec, "max_episode_steps", None)
        return int(limit) if limit is not None else DEFAULT_MAX_EPISODE_STEPS
    if isinstance(max_episode_steps, bool) or not isinstance(max_episode_steps, int | np.integer):
        raise ValueError(f"max_episode_steps must be an int >= 1 or None, got {max_episode_steps!r}")
    if max_episode_steps < 1:
        raise ValueError(f"max_episode_steps must be an int >= 1 or None, got {max_episode_steps!r}")
    return int(max_episode_steps)


def warn_cut(env: gym.Env, cut: int, n_episodes: int, cap: int) -> None:
    """One warning that ``cut`` of ``n_episodes`` evaluation episodes on ``env`` were cut after ``cap`` steps."""
    if cut:
        name = getattr(getattr(env, "spec", None), "id", None) or type(env).__name__
        warnings.warn(
            f"{cut} of {n_episodes} evaluation episodes on {name} were cut after {cap:,} steps without the env "
            "ending them (it has no time limit of its own); their returns are those of the steps played. Pass "
            "max_episode_steps to change the cap",
            UserWarning,
            stacklevel=3,
        )


def run_episodes(
    agent: Any,
    env: str | gym.Env,
    n_episodes: int,
    deterministic: bool = True,
    seed: int | None = 0,
    max_episode_steps: int | None = None,
) -> EpisodeStats:
    """Runs ``n_episodes`` episodes one after another on a single env, carrying the agent's state.

    An episode's return and length are the sums of its rewards and steps, or, for an env with an SB3 ``Monitor``
    inside its wrappers, the Monitor's (as SB3's ``evaluate_policy`` counts them: the env's own returns when reward
    wrappers outside the Monitor clip or scale what the agent learns from).

    Args:
        agent: Anything with SB3's ``predict(obs, state=..., episode_start=..., deterministic=...) ->
            (action, state)``: nngym's agents, the SB3 adapter's, or SB3's own models.
        env: Env id or env (not a vector env).
        n_episodes: Number of episodes.
        deterministic: Greedy / mean actions.
        seed: Seed of the first reset (then the env's own sequence); None: unseeded.
        max_episode_steps: Cut an episode after this many steps, as if truncated (``episode_step_cap``: default the
            env's own time limit, or ``DEFAULT_MAX_EPISODE_STEPS`` for an env without one); the episodes cut are
            counted in ``EpisodeStats.cut`` and reported by one warning.

    Raises:
        ValueError: For ``n_episodes`` < 1, ``max_episode_steps`` < 1, a ``seed`` that is no int or None (a bool:
            SB3's ``evaluate_policy`` takes ``render`` in that place), a vector env (Gymnasium's, or SB3's
            ``VecEnv``, saying what to pass instead) or anything else without ``reset`` and ``step``.
    """
    if isinstance(n_episodes, bool) or not isinstance(n_episodes, int | np.integer) or n_episodes < 1:
        raise ValueError(f"n_episodes must be an int >= 1, got {n_episodes!r}")
    if isinstance(seed, bool) or not (seed is None or isinstance(seed, int | np.integer)):
        raise ValueError(
            f"seed must be an int or None, got {seed!r}"
            + (
                " (SB3's evaluate_policy takes render in that place; nngym's evaluate takes no render, and seed by "
                "keyword)"
                if isinstance(seed, bool)
                else ""
            )
        )
    seed = None if seed is None else int(seed)  # Gymnasium's reset takes Python ints only
    if isinstance(env, gym.vector.VectorEnv):
        raise ValueError(
            f"evaluation runs episodes on a single env, got a vector env of {env.num_envs} envs "
            f"({type(env).__name__}); pass an env id or a gymnasium.Env"
        )
    if not isinstance(env, str | gym.Env):
        hint = _sb3_vec_env_hint(env, single=True)
        if hint or isinstance(env, type) or not (hasattr(env, "reset") and hasattr(env, "step")):
            raise ValueError(
                f"evaluation runs episodes on a single env, an env id or a gymnasium.Env, got {type(env)}{hint}"
            )
    env = gym.make(env) if isinstance(env, str) else env
    cap = episode_step_cap(env, max_episode_steps)
    monitored = sb3_monitor(env) is not None  # SB3's evaluate_policy reads its Monitor's returns, so do we
    stats = EpisodeStats()
    obs, _ = env.reset(seed=seed)
    for _ in range(n_episodes):
        total, steps, r, done, state, start = 0.0, 0, 0.0, False, None, True
        while not done:
            action, state = agent.predict(
                obs, state=state, episode_start=np.array([start]), deterministic=deterministic
            )
            obs, r, terminated, truncated, info = env.step(action)
            total, steps, start = total + float(r), steps + 1, False
            done = terminated or truncated
            if done and info.get("is_success") is not None:
                stats.successes.append(bool(info["is_success"]))
            if done and monitored:  # the Monitor's episode: the env's own return under reward wrappers outside it
                if "episode" not in info:  # an end the Monitor did not see (a lost life outside it): play on
                    obs, _ = env.reset()
                    done, start = False, True
                    continue
                total, steps = float(info["episode"]["r"]), int(info["episode"]["l"])
            if not done and steps >= cap:  # no time limit of its own: cut here
                stats.cut, done = stats.cut + 1, True
        stats.returns.append(total)
        stats.lengths.append(steps)
        stats.last_rewards.append(float(r))
        obs, _ = env.reset()
    warn_cut(env, stats.cut, n_episodes, cap)
    return stats


def evaluate_episodes(
    agent: Any,
    env: str | gym.Env,
    n_episodes: int,
    deterministic: bool = True,
    seed: int | None = 0,
    max_episode_steps: int | None = None,
) -> list[float]:
    """The undiscounted returns of ``run_episodes`` (same arguments)."""
    return run_episodes(agent, env, n_episodes, deterministic, seed, max_episode_steps).returns


def evaluate(
    agent: Any,
    env: str | gym.Env,
    n_episodes: int | None = None,
    deterministic: bool = True,
    seed: int | None = 0,
    max_episode_steps: int | None = None,
    n_eval_episodes: int | None = None,
    warn: bool = True,
) -> tuple[float, float]:
    """(mean, std) of the returns of ``n_episodes`` evaluation episodes (``run_episodes``; 10 if not given, as SB3's
    ``evaluate_policy``); ``n_eval_episodes`` is SB3's ``evaluate_policy`` name for the same number, and ``warn``
    its flag, taken and unused (SB3 warns about an env without a ``Monitor``, which nngym's episodes do not need).

    The first four arguments are ``evaluate_policy``'s; SB3's fifth is ``render``, so a bool there
    (``evaluate(model, env, 5, True, False)``) is refused as a seed rather than run with ``seed=False``. Unlike
    SB3's, the first reset is seeded (``seed``), an episode without a time limit of its own is cut
    (``max_episode_steps``), the env is one env (an env id or a ``gymnasium.Env``; a vector env is refused) and
    the result is always (mean, std) as Python floats (no ``render``, ``callback``, ``reward_threshold``,
    ``return_episode_rewards``: ``run_episodes`` gives the returns and lengths of each episode).

    Raises:
        ValueError: If both ``n_episodes`` and ``n_eval_episodes`` are given, with different numbers; ``run_episodes``'
            errors.
    """
    if n_episodes is not None and n_eval_episodes is not None and n_episodes != n_eval_episodes:
        raise ValueError(f"evaluate got n_episodes={n_episodes} and n_eval_episodes={n_eval_episodes}: give one")
    if not isinstance(warn, bool | np.bool_):
        raise ValueError(f"evaluate: warn must be True or False, got {warn!r}")
    n_episodes = n_episodes if n_episodes is not None else n_eval_episodes if n_eval_episodes is not None else 10
    returns = evaluate_episodes(agent, env, n_episodes, deterministic, seed, max_episode_steps)
    return float(np.mean(returns)), float(np.std(returns))


def classification_accuracy(agent: Any, split: str = "test", batch_size: int = 1000, scale: int | None = None) -> float:
    """Fraction of the MNIST ``split`` (all 10,000 test images by default) the deterministic policy labels right.

    This is DigitClassify's mean reward per step with ``wrong_reward=0`` over one sweep of the split,
    computed in batches: the observations are the env's own, uint8 images of shape (1, 28·scale, 28·scale)
    (``scale``: the env's nearest-neighbour upsampling).

    Args:
        agent: Anything with ``predict(obs (N, 1, 28·scale, 28·scale), deterministic=True) -> (actions (N,), state)``.
        split: "train" or "test".
        batch_size: Images per ``predict`` call.
        scale: The env's ``scale`` the agent was trained with; None reads it from the agent's observation space
            (1 when it has none).

    Raises:
        ValueError: For a ``scale`` that is not a whole number from 1 to 8, or an agent whose observations are not
            such images, naming its shape.
    """
    from nngym.datasets import load_mnist

    shape = getattr(getattr(agent, "observation_space", None), "shape", None)
    if scale is None:
        scale = shape[-1] // 28 if shape is not None and len(shape) == 3 and shape[-1] % 28 == 0 else 1
    if isinstance(scale, bool) or not isinstance(scale, int | np.integer) or not 1 <= scale <= 8:
        raise ValueError(f"classification_accuracy: scale must be a whole number from 1 to 8, got {scale!r}")
    expected = (1, 28 * scale, 28 * scale)
    if shape is not None and tuple(shape) != expected:
        raise ValueError(
            f"classification_accuracy: the agent's observations have shape {tuple(shape)}; DigitClassify's images at "
            f"scale {scale} are {expected}"
        )
    images, labels = load_mnist(split)
    correct = 0
    for i in range(0, len(labels), batch_size):
        batch = images[i : i + batch_size, None]
        if scale > 1:
            batch = batch.repeat(scale, axis=2).repeat(scale, axis=3)
        actions, _ = agent.predict(batch, deterministic=True)
        correct += int(np.sum(np.asarray(actions) == labels[i : i + batch_size]))
    return correct / len(labels)
