"""The recurrent attention model (Mnih, Heess, Graves & Kavukcuoglu 2014, "Recurrent Models of Visual Attention").

An agent for glimpse tasks whose episodes have a fixed number of glimpses and end with an answer, such as
``nngym/DigitGlimpse-v0`` with ``action_mode="location"``: each action is a Dict of the next glimpse's
location (a Gaussian around the location head's mean, fixed σ) and the answer (the class head's argmax, read
by the env after the last glimpse). The classifier learns from the label the env reveals in the info of the
episode's last step (cross-entropy on the last answer), the location policy from the reward by REINFORCE with
a learned baseline (``agents.common.attention_model``). One update per batch of ``n_envs`` episodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from agents.common.attention_model import RecurrentAttentionModel
from agents.common.base import BaseAgent
from agents.common.callbacks import BaseCallback
from agents.common.spaces import encode_observations
from agents.common.vec_env import SyncVectorEnv
from nngym.network import Sequential
from nngym.optim import Adam
from nngym.schedules import Schedule

#: The most steps an episode may take before the agent gives up waiting for it to end.
MAX_EPISODE_STEPS = 1_000


@dataclass
class RAMConfig:
    """Recurrent attention model hyperparameters (sizes as Mnih et al.'s MNIST model)."""

    n_envs: int = 64
    """Parallel environments N: the episodes of one update."""
    vectorization: str = "gym-sync"
    """How the N envs are stepped; the agent reads the label from the last step's info, which gymnasium's vector
    envs ("gym-sync", "async") pass on (the project's "sync" one drops infos)."""
    learning_rate: float | str | Schedule = 1e-3
    """Adam step size: a number, "lin_<x>" (linear decay to 0) or a callable of the progress remaining (SB3's)."""
    glimpse_hidden: int = 128
    """Units of the retina features h_ρ and of the location features h_l."""
    glimpse_features: int = 256
    """Units of the glimpse network's output g_t."""
    lstm_hidden_size: int = 256
    """H, units of the LSTM core."""
    location_std: float = 0.1
    """σ of the Gaussian location policy, in the env's [-1, 1] location units."""
    reinforce_coef: float = 1.0
    """λ_R, weight of the REINFORCE term."""
    baseline_coef: float = 1.0
    """λ_b, weight of the baseline's squared error."""
    detach_heads: bool = True
    """The location and baseline losses train only their heads (the core learns from the classification loss)."""
    weight_decay: float = 0.0
    """L2 coefficient added as λ' w to the gradient of every weight matrix (not biases), as in ``nngym.optim``."""
    max_grad_norm: float | None = None
    """If set, clip the global gradient norm to this."""
    log_interval: int = 100
    """Dump logs every this many updates."""


class RAM(BaseAgent):
    """The recurrent attention model behind ``learn`` / ``predict`` / ``save`` / ``load``.

    Observations must be a 1-D Box whose last L entries are the glimpse location and the rest the retina; the
    action space a Dict of ``"location"`` (a 1-D Box of those L coordinates) and ``"label"`` (Discrete).
    ``predict`` carries the core's LSTM state like recurrent PPO's; the answer is always the classifier's
    argmax, ``deterministic`` decides whether the location is the policy's mean or a sample.

    Example:
        >>> from agents.common.vec_env import make_vec_env
        >>> env = make_vec_env("nngym/DigitGlimpse-v0", 64, "gym-sync", action_mode="location", reveal_label="end")
        >>> agent = RAM(env, seed=0).learn(60_000 * 6)  # one pass over the training digits
        >>> action, state = agent.predict(obs, state, episode_start=start, deterministic=True)  # label, location
    """

    algo = "RAM"
    Config = RAMConfig
    #: ``check_spaces`` lets every action space through; ``_build`` checks for the Dict this agent needs and
    #: says how to get it.
    action_spaces = (gym.spaces.Space,)
    combined_images = False
    normalize_in_env = False

    def __init__(
        self, env: str | gym.Env | gym.vector.VectorEnv | None, net: str = "mlp", *args: Any, **kwargs: Any
    ) -> None:
        """See ``BaseAgent``; the networks are set by the Config's sizes, so ``net`` must be ``"mlp"``.

        Raises:
            ValueError: For another ``net``, or spaces the agent cannot use (naming what it needs).
        """
        if not (isinstance(net, str) and net == "mlp"):
            raise ValueError(
                f"RAM: net must be 'mlp' (the glimpse network, core and heads are set by glimpse_hidden, "
                f"glimpse_features and lstm_hidden_size), got {net!r}"
            )
        super().__init__(env, net, *args, **kwargs)

    def _build(self) -> None:
        c = self.config
        obs_space, act_space = self.observation_space, self.action_space
        hint = (
            "e.g. nngym/DigitGlimpse-v0 with action_mode='location': make_vec_env('nngym/DigitGlimpse-v0', n_envs, "
            "'gym-sync', action_mode='location', reveal_label='end')"
        )
        if not (
            isinstance(act_space, gym.spaces.Dict)
            and set(act_space.spaces) == {"label", "location"}
            and isinstance(act_space["label"], gym.spaces.Discrete)
            and isinstance(act_space["location"], gym.spaces.Box)
            and len(act_space["location"].shape) == 1
        ):
            raise ValueError(
                f"RAM needs a Dict action space of 'label' (Discrete) and 'location' (1-D Box), got {act_space}; {hint}"
            )
        n_loc = int(act_space["location"].shape[0])
        if not (isinstance(obs_space, gym.spaces.Box) and len(obs_space.shape) == 1 and obs_space.shape[0] > n_loc):
            raise ValueError(
                f"RAM needs a 1-D Box observation space of retina values followed by the {n_loc} location "
                f"coordinates, got {obs_space}; {hint}"
            )
        if c.vectorization == "sync" or isinstance(self.env, SyncVectorEnv):
            raise ValueError(
                "RAM reads the label from the info of an episode's last step and acts with Dict actions, which the "
                "project's 'sync' vector env (agents.common.vec_env.SyncVectorEnv) does not pass on; use "
                "vectorization='gym-sync' or 'async' (make_vec_env(..., 'gym-sync', ...))"
            )
        if not (np.isfinite(c.location_std) and c.location_std > 0):
            raise ValueError(f"RAM: location_std must be a positive number, got {c.location_std!r}")
        if c.reinforce_coef < 0 or c.baseline_coef < 0 or c.weight_decay < 0:
            raise ValueError(
                "RAM: reinforce_coef, baseline_coef and weight_decay must be >= 0, got "
                f"{c.reinforce_coef}, {c.baseline_coef}, {c.weight_decay}"
            )
        self.n_location = n_loc
        self._loc_low = act_space["location"].low.astype(np.float32)
        self._loc_high = act_space["location"].high.astype(np.float32)
        self.model = RecurrentAttentionModel(
            int(obs_space.shape[0]) - n_loc,
            n_loc,
            int(act_space["label"].n),
            self.rng,
            glimpse_hidden=c.glimpse_hidden,
            glimpse_features=c.glimpse_features,
            hidden_size=c.lstm_hidden_size,
            location_std=c.location_std,
            detach_heads=c.detach_heads,
        )
        self.lr_schedule = self._schedule("learning_rate")
        self.optimizer = Adam(
            self.model, lr=self.lr_schedule(1.0), weight_decay=c.weight_decay, max_grad_norm=c.max_grad_norm
        )

    # --- files ----------------------------------------------------------------------------------
    def _nets(self) -> dict[str, Sequential]:
        return self.model.nets()

    def _extra_arrays(self) -> dict[str, np.ndarray]:
        return {}

    def _load_extra_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        return None

    # --- acting ---------------------------------------------------------------------------------
    def _actions(
        self, mu: np.ndarray, logits: np.ndarray, deterministic: bool
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """(sampled locations a (N, L) before clipping, env actions {"label": (N,), "location": (N, L) clipped})."""
        a = mu if deterministic else mu + self.config.location_std * self.rng.standard_normal(mu.shape)
        a = a.astype(np.float32)
        env_actions = {
            "label": np.argmax(logits, axis=1).astype(np.int64) + int(self.action_space["label"].start),
            "location": np.clip(a, self._loc_low, self._loc_high),
        }
        return a, env_actions

    def predict(
        self,
        observation: np.ndarray,
        state: tuple[np.ndarray, np.ndarray] | None = None,
        episode_start: np.ndarray | bool | None = None,
        deterministic: bool = False,
    ) -> tuple[dict[str, Any], tuple[np.ndarray, np.ndarray]]:
        """The action for one observation or a batch of N, and the core's next LSTM state (SB3's convention).

        As SB3's ``predict``, the location is sampled unless ``deterministic=True`` (what the evaluators pass).

        Args:
            observation: One observation (D,) or a batch (N, D).
            state: The core's (h, c), each (N, H), returned by the previous call; None for zeros.
            episode_start: (N,) (or a bool for one observation); true resets the state first.
            deterministic: The location policy's mean instead of a sample (the answer is always the argmax).

        Returns:
            ({"label": int or (N,), "location": (L,) or (N, L)}, new (h, c)).

        Raises:
            ValueError: If ``observation`` has the wrong shape, naming the expected and actual shapes.
        """
        batch, single = encode_observations(self.observation_space, observation, f"{self.algo}.predict")
        n = len(batch)
        state = self.model.initial_state(n) if state is None else tuple(np.asarray(s, self.model.dtype) for s in state)
        if episode_start is not None:
            keep = 1.0 - np.asarray(episode_start, self.model.dtype).reshape(n, 1)
            state = (state[0] * keep, state[1] * keep)
        mu, logits, _, new_state = self.model.step(batch, state)
        _, actions = self._actions(mu, logits, deterministic)
        if single:
            return {"label": int(actions["label"][0]), "location": actions["location"][0]}, new_state
        return actions, new_state

    def _act(self, obs: np.ndarray, deterministic: bool) -> dict[str, np.ndarray]:
        return self._actions(*self.model.step(obs, self.model.initial_state(len(obs)))[:2], deterministic)[1]

    # --- learning ---------------------------------------------------------------------------------
    def _collect_episodes(
        self, callback: BaseCallback | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        """Runs the N envs through one episode each (they start and end together).

        Returns:
            (observations (T, N, D), sampled locations (T, N, L), rewards (N,), labels (N,)), or None if a
            callback stopped training.

        Raises:
            RuntimeError: If the episodes do not all end at the same step, or the last step's info has no label.
        """
        obs = self._last_obs
        state = self.model.initial_state(self.n_envs)
        observations, locations = [], []
        for _ in range(MAX_EPISODE_STEPS):
            observations.append(obs)
            mu, logits, _, state = self.model.step(obs, state)
            a, env_actions = self._actions(mu, logits, deterministic=False)
            locations.append(a)
            obs, rewards, terminated, truncated, infos = self.env.step(env_actions)
            self.num_timesteps += self.n_envs
            dones = terminated | truncated
            self._track_episodes(rewards, dones, infos)
            self._last_obs = obs
            if callback is not None:
                callback.update_locals(
                    {"new_obs": obs, "actions": env_actions, "rewards": rewards, "dones": dones, "infos": infos}
                )
                if not callback.on_step():
                    return None
            if dones.any():
                if not dones.all():
                    raise RuntimeError(
                        f"RAM needs episodes of a fixed number of steps that end together; after {len(locations)} "
                        f"steps {int(dones.sum())} of {self.n_envs} ended"
                    )
                final = infos.get("final_info", {})
                if "label" not in final:
                    raise RuntimeError(
                        "RAM reads the label from the info of an episode's last step (info['label']), and the env's "
                        "last step gave none; use a vector env that passes infos on (vectorization='gym-sync')"
                    )
                labels = np.asarray(final["label"], dtype=np.int64) - int(self.action_space["label"].start)
                return np.stack(observations), np.stack(locations), np.asarray(rewards, np.float64), labels
        raise RuntimeError(f"RAM: the episodes did not end within {MAX_EPISODE_STEPS} steps")

    def _learn(self, callback: BaseCallback, reset_num_timesteps: bool) -> None:
        c = self.config
        if reset_num_timesteps:  # the envs were reset by _setup_learn: every episode starts now
            self._n_updates = 0
        iteration = 0
        while self.num_timesteps < self._total_timesteps:
            callback.on_rollout_start()
            batch = self._collect_episodes(callback)
            if batch is None:
                break  # a callback stopped training: no rollout end, no update (SB3's order)
            callback.on_rollout_end()  # after the N episodes, before the update (SB3's order)
            obs, actions, rewards, labels = batch
            self.optimizer.lr = self.lr_schedule(self.progress_remaining)
            terms, _ = self.model.loss_and_grads(obs, actions, rewards, labels, c.reinforce_coef, c.baseline_coef)
            self.optimizer.step()
            self._n_updates += 1
            iteration += 1
            self._train_stats = {
                "train/cross_entropy": terms.cross_entropy,
                "train/reinforce_loss": terms.reinforce,
                "train/baseline_loss": terms.baseline,
                "train/loss": terms.total,
                "train/accuracy": terms.accuracy,
                "train/learning_rate": self.optimizer.lr,
                "train/n_updates": self._n_updates,
            }
            if c.log_interval and iteration % c.log_interval == 0:
                self._dump_logs(iteration)
