"""Collecting an on-policy rollout (PPO, A2C): T steps of N envs into a ``RolloutBuffer``, then GAE."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from agents.common.buffers import RolloutBuffer
from agents.common.callbacks import BaseCallback
from agents.common.spaces import to_env_actions
from agents.common.vec_env import final_observations


def bootstrap_truncated(
    rewards: np.ndarray,
    terminated: np.ndarray,
    truncated: np.ndarray,
    infos: dict[str, Any],
    gamma: float,
    values: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> None:
    """r_i ← r_i + γ V(final_obs_i), in place, for the envs whose episode was truncated (not terminated).

    A time limit is not the end of the task: the return beyond it is estimated by the critic on the
    true final observation (SAME_STEP autoreset keeps it in ``infos``), so nothing crosses the reset.

    Args:
        rewards: (N,), modified in place (a row of a buffer, for example).
        terminated, truncated: (N,) flags of the step.
        infos: The vector env's infos of the step.
        gamma: Discount γ.
        values: ``values(final_obs (M, ...), env indices (M,)) -> V (M,)``.
    """
    if "final_obs" not in infos:  # no episode ended at this step (the usual case: nothing to look at)
        return
    bootstrap = truncated & ~terminated
    if bootstrap.any():
        idx = np.flatnonzero(bootstrap)
        rewards[idx] += gamma * values(final_observations(infos, idx), idx)


def collect_rollout(
    agent: Any, buffer: RolloutBuffer, gamma: float, gae_lambda: float, callback: BaseCallback | None
) -> bool:
    """Fills ``buffer`` with ``buffer.n_steps`` vector steps from ``agent._last_obs`` and computes GAE.

    On a truncated step the reward becomes r + γ V(final_obs) and the step is a done, so the
    value bootstraps from the true final observation and nothing crosses the reset (SAME_STEP).

    Under gSDE (the config's ``use_sde``) new noise weights are drawn for every env at the start of the rollout
    and, with ``sde_sample_freq`` > 0, every ``sde_sample_freq`` steps of it.

    The caller calls ``callback.on_rollout_start()`` before and ``on_rollout_end()`` after (SB3's order); here
    ``update_locals`` (``agents.common.callbacks.STEP_LOCALS``) and ``on_step`` follow every vector step.

    Returns:
        False if a callback asked to stop.
    """
    policy, env = agent.policy, agent.env
    obs = agent._last_obs
    sde = getattr(policy, "use_sde", False)
    sample_freq = int(getattr(agent.config, "sde_sample_freq", -1))
    joint = policy.joint()  # actor and critic in one pass where they are MLPs alike (the numbers of forward)
    for t in range(buffer.n_steps):
        if sde and (t == 0 or (sample_freq > 0 and t % sample_freq == 0)):
            policy.reset_noise(agent.n_envs, agent.rng)
        if joint is not None:  # the parameters do not change during the rollout: refreshed once above
            out, values = joint(obs)
            dist = policy.distribution(out)
        else:
            dist, values = policy.forward(obs)
        actions = dist.sample(agent.rng)
        buffer.obs[t] = obs
        buffer.actions[t] = actions
        buffer.values[t] = values
        buffer.log_probs[t] = dist.log_prob(actions)
        env_actions = to_env_actions(agent.action_space, actions)
        obs, rewards, terminated, truncated, infos = env.step(env_actions)
        agent.num_timesteps += agent.n_envs
        dones = terminated | truncated
        agent._track_episodes(rewards, dones, infos)
        buffer.rewards[t] = rewards
        buffer.dones[t] = dones
        bootstrap_truncated(buffer.rewards[t], terminated, truncated, infos, gamma, lambda o, _: policy.values(o))
        if callback is not None:
            callback.update_locals(
                {"new_obs": obs, "actions": env_actions, "rewards": rewards, "dones": dones, "infos": infos}
            )
            if not callback.on_step():
                agent._last_obs = obs
                return False
    agent._last_obs = obs
    if buffer.dones[-1].all():  # every episode just ended: GAE multiplies V(s_T) by 1 − done = 0, so skip it
        last_values = np.zeros(agent.n_envs, np.float32)
    else:
        last_values = policy.values(obs)
    buffer.compute_returns_and_advantages(last_values, gamma, gae_lambda)
    return True


def normalized_advantages(advantages: np.ndarray) -> np.ndarray:
    """(A − mean A) / (std A + 1e-8) over a minibatch's advantages (n,): the numbers of ``advantages.mean()`` and
    ``advantages.std()`` bit for bit, through the ufuncs they call without their Python wrappers (a PPO update
    normalises every minibatch)."""
    n = advantages.shape[-1]
    deviation = advantages - np.add.reduce(advantages, axis=-1, keepdims=True) / n
    squared = deviation * deviation
    std = np.sqrt(np.add.reduce(squared, axis=-1) / n)
    return deviation / (std + 1e-8)


def explained_variance(y_pred: np.ndarray, y_true: np.ndarray) -> float:
    """1 − Var[y − ŷ] / Var[y] (SB3's diagnostic; nan if Var[y] = 0)."""
    var = np.var(y_true)
    return float("nan") if var == 0 else float(1.0 - np.var(y_true - y_pred) / var)
