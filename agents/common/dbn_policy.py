"""``net="dbn"``: a deep belief network pretrained without labels or rewards becomes the policy's trunk.

Before any reinforcement learning, the agent's own env is stepped by a uniform random policy for
``n_obs`` env steps; the observations it sees (never its rewards) are the unlabelled data on which a
DBN (``nngym.dbn``) is pretrained greedily, one RBM at a time, by contrastive divergence — the seed's
"learns useful features from unlabelled data". ``DBN.to_network()`` turns the stack into Dense +
Sigmoid layers, the mean-field upward pass a_l = σ(W_l a_{l−1} + b_l); the agent adds its linear
heads (π and V, or Q) on those features and fine-tunes everything by RL.

Visible units follow the observations:

- images (SB3's rule, ``agents.common.cnn.is_image_space``: 3-D Boxes of dtype uint8 with bounds 0 and 255):
  Bernoulli visible units on grey levels scaled to [0, 1] (Hinton's convention for MNIST); the trunk is
  ``ImageScale`` → ``Flatten`` → the DBN's layers.
- everything else, as the agents encode it into one vector (``agents.common.spaces``: 1-D Boxes, and 3-D
  Boxes that are no images flattened, among others): a Gaussian-visible first RBM (unit variance) on observations
  standardised with the collected data's mean μ and standard deviation s. The standardisation is folded into the
  first Dense layer, W' = W / s, b' = b − W (μ / s), so the trunk is plain Dense + Sigmoid layers and still equals
  ``dbn.up((x − μ) / s)``.

The env steps spent collecting are the agent's ``pretrain_timesteps`` (saved with it, logged as
``pretrain/timesteps``); count them when comparing sample efficiency. A saved agent stores the converted
trunk as an ordinary network, so loading it never pretrains again.

Example:
    >>> agent = PPO("nngym/DigitClassify-v0", net="dbn", dbn_kwargs={"n_obs": 10_000, "sizes": [256]})
    >>> agent.pretrain_timesteps, agent.pretraining.history[0][-1]["recon_error"]
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import gymnasium as gym
import numpy as np
from threadpoolctl import threadpool_limits

from agents.common.cnn import image_input, is_image_space
from agents.common.config import canonical_config, check_config
from nngym.builders import mlp
from nngym.checks import check_rate, is_int, is_real, shown
from nngym.dbn import DBN
from nngym.init import get_initializer
from nngym.network import Sequential
from nngym.rbm import CDConfig
from nngym.reshape import Flatten

#: Learning rates of CD when ``lr`` is not given: Hinton's guide uses a smaller one for Gaussian visible units.
DEFAULT_LR = {"bernoulli": 0.05, "gaussian": 0.005}


@dataclass
class DBNPretrainConfig:
    """What ``dbn_kwargs`` may set (the agents' ``dbn_kwargs={...}``; every field has a default)."""

    n_obs: int = 10_000
    """Observations collected by the uniform random policy, i.e. env steps spent before RL (rounded up to whole
    vector steps). 0: no pretraining, the same-shape Sigmoid trunk from random init (the baseline)."""
    sizes: tuple[int, ...] = (256,)
    """Hidden units of each RBM, bottom first: the trunk's feature widths."""
    k: int = 1
    """Gibbs steps of CD-k."""
    persistent: bool = False
    """Persistent CD instead of CD."""
    epochs: int = 5
    """Epochs of CD per RBM over the collected observations."""
    lr: float | None = None
    """CD learning rate (``None``: 0.05 for Bernoulli, 0.005 for Gaussian visible units, ``DEFAULT_LR``); the
    RBMs above the first use 0.05 unless set."""
    batch_size: int = 100
    """CD mini-batch size."""
    weight_decay: float = 2e-4
    """L2 coefficient on the RBMs' weights."""
    init: str = "glorot_uniform"
    """Weight initialiser of the random-init trunk (``n_obs=0``)."""

    def __post_init__(self) -> None:
        """Checks every field as the agents' hyperparameters are checked, before any env step is spent.

        Raises:
            ValueError: Naming the field and what came: ``persistent`` not a bool (``"false"`` would be read as
                true), ``n_obs``, ``k``, ``epochs`` or ``batch_size`` not whole numbers (``n_obs`` >= 0, the others
                >= 1), ``sizes`` not positive ints, ``lr`` not None or a finite number > 0 (0 would silently become
                the default), ``weight_decay`` not a finite number >= 0, ``init`` not an initialiser's name.
        """
        check_config("dbn_kwargs", self)  # the agents' rules: bools, whole numbers for ints, batch_size >= 1
        canonical_config(self)  # 1e4 from a yml as 10000
        for name, minimum in (("n_obs", 0), ("k", 1), ("epochs", 1)):
            value = getattr(self, name)
            if value is None or value < minimum:
                raise ValueError(f"dbn_kwargs: {name} must be an integer >= {minimum}, got {value!r}")
        if not (isinstance(self.sizes, list | tuple) and self.sizes and all(is_int(s) and s >= 1 for s in self.sizes)):
            raise ValueError(f"dbn_kwargs: sizes must be a non-empty list of positive sizes, got {shown(self.sizes)}")
        self.sizes = tuple(int(s) for s in self.sizes)
        if self.lr is not None and not (is_real(self.lr) and 0.0 < self.lr < math.inf):
            raise ValueError(f"dbn_kwargs: lr must be None (the defaults) or a finite number > 0, got {shown(self.lr)}")
        check_rate(self.weight_decay, "dbn_kwargs: weight_decay")
        if not isinstance(self.init, str):
            raise ValueError(f"dbn_kwargs: init must be the name of an initialiser, got {shown(self.init)}")
        try:
            get_initializer(self.init)
        except ValueError as err:
            raise ValueError(f"dbn_kwargs: init must be the name of an initialiser: {err}") from None

    def cd_configs(self, visible: str) -> list[CDConfig]:
        """One ``CDConfig`` per RBM."""
        base = {"k": self.k, "persistent": self.persistent, "epochs": self.epochs, "batch_size": self.batch_size}
        lrs = [self.lr or DEFAULT_LR[visible]] + [self.lr or DEFAULT_LR["bernoulli"]] * (len(self.sizes) - 1)
        return [CDConfig(**base, lr=lr, weight_decay=self.weight_decay) for lr in lrs]


@dataclass
class DBNPretraining:
    """What pretraining produced, kept on the agent as ``agent.pretraining`` (not saved with it).

    Attributes:
        config: The ``dbn_kwargs`` used.
        dbn: The pretrained DBN (``None`` for ``n_obs=0``).
        mean: μ of the standardised observations (D,), ``None`` for images (Bernoulli visible units).
        std: s of the standardised observations (D,), ``None`` for images.
        steps: Env steps spent collecting observations.
        seconds: Wall time of collecting and pretraining.
        history: Per RBM, CD's history (one dict per epoch: ``recon_error``, ``free_energy``, ``lr``).
    """

    config: DBNPretrainConfig
    dbn: DBN | None = None
    mean: np.ndarray | None = None
    std: np.ndarray | None = None
    steps: int = 0
    seconds: float = 0.0
    history: list[list[dict]] = field(default_factory=list)

    def visible(self, obs: np.ndarray, observation_space: gym.Space) -> np.ndarray:
        """The DBN's visible data for observations (N, *obs_shape): (N, D) in [0, 1] or standardised."""
        if is_image_space(observation_space):
            return image_input(observation_space).forward(np.asarray(obs), train=False).reshape(len(obs), -1)
        x = np.asarray(obs, dtype=np.float32).reshape(len(obs), -1)
        return x if self.mean is None else ((x - self.mean) / self.std).astype(np.float32)


def collect_random_observations(
    env: gym.vector.VectorEnv, n_obs: int, rng: np.random.Generator
) -> tuple[np.ndarray, int]:
    """Steps ``env`` with uniform random actions; returns the observations seen after each step and the steps.

    Only observations are kept (no rewards, no labels). With SAME_STEP autoreset the observation after an
    episode's end is the next episode's first, so every collected observation cost exactly one env step.

    Args:
        env: The agent's vector env (N sub-envs); reset here with a seed drawn from ``rng``.
        n_obs: Observations wanted (rounded up to a multiple of N).
        rng: Generator for the reset seed and the actions.

    Returns:
        (observations (⌈n_obs/N⌉·N, *obs_shape) as the env's dtype, env steps ⌈n_obs/N⌉·N).
    """
    n_envs, space = env.num_envs, env.single_action_space
    n_vec_steps = -(-int(n_obs) // n_envs)
    env.reset(seed=int(rng.integers(2**31)))
    obs = np.empty((n_vec_steps, n_envs, *env.single_observation_space.shape), env.single_observation_space.dtype)
    for t in range(n_vec_steps):
        if isinstance(space, gym.spaces.Discrete):
            actions = space.start + rng.integers(0, space.n, n_envs)
        elif isinstance(space, gym.spaces.MultiDiscrete):
            actions = space.start + rng.integers(0, space.nvec, (n_envs, *space.nvec.shape))
        elif isinstance(space, gym.spaces.MultiBinary):
            actions = rng.integers(0, 2, (n_envs, *space.shape)).astype(space.dtype)
        else:
            actions = rng.uniform(space.low, space.high, (n_envs, *space.shape)).astype(space.dtype)
        obs[t] = env.step(actions)[0]
    return obs.reshape(-1, *env.single_observation_space.shape), n_vec_steps * n_envs


def dbn_trunk(pretraining: DBNPretraining, observation_space: gym.Space) -> Sequential:
    """The trunk (N, *obs_shape) → (N, sizes[-1]) whose output equals ``dbn.up(pretraining.visible(obs))``.

    Images (SB3's rule, ``is_image_space``): ``ImageScale``, ``Flatten``, then ``dbn.to_network()``. 1-D (encoded)
    observations: ``to_network()`` with the standardisation folded into the first Dense layer (W' = W / s,
    b' = b − W (μ / s)).
    """
    net = pretraining.dbn.to_network()
    if is_image_space(observation_space):
        net.layers[:0] = [image_input(observation_space), Flatten()]
    elif pretraining.mean is not None:
        first = net.layers[0]
        w = first.params["W"] / pretraining.std  # (H, D) / (D,)
        first.params["b"][...] = first.params["b"] - w @ pretraining.mean
        first.params["W"][...] = w
    return net


def random_trunk(observation_space: gym.Space, config: DBNPretrainConfig, rng: np.random.Generator) -> Sequential:
    """The DBN trunk's shape — [ImageScale, Flatten,] (images only) (Dense, Sigmoid) per size — from random init
    (the baseline)."""
    n_in = int(np.prod(observation_space.shape))
    net = mlp([n_in, *config.sizes], rng, activation="sigmoid", output_activation="sigmoid", w_init=config.init)
    if is_image_space(observation_space):
        net.layers[:0] = [image_input(observation_space), Flatten()]
    return net


def pretrain_dbn_trunk(
    env: gym.vector.VectorEnv | None,
    observation_space: gym.Space,
    rng: np.random.Generator,
    **dbn_kwargs: Any,
) -> tuple[Sequential, DBNPretraining]:
    """Collects random-policy observations from ``env``, pretrains a DBN on them and converts it to a trunk.

    Args:
        env: The agent's vector env.
        observation_space: Its single observation space as encoded (``agents.common.spaces``): an image or 1-D Box.
        rng: The agent's generator (collection, weights and CD all draw from it).
        **dbn_kwargs: Fields of ``DBNPretrainConfig``.

    Returns:
        (trunk (N, *obs_shape) → (N, sizes[-1]), the ``DBNPretraining`` record).

    Raises:
        ValueError: Without an env, or for unknown ``dbn_kwargs``.
    """
    names = {f.name for f in fields(DBNPretrainConfig)}
    if set(dbn_kwargs) - names:
        raise ValueError(f"unknown dbn_kwargs {sorted(set(dbn_kwargs) - names)}; expected some of {sorted(names)}")
    config = DBNPretrainConfig(**dbn_kwargs)
    if config.n_obs == 0:
        return random_trunk(observation_space, config, rng), DBNPretraining(config)
    if env is None:
        raise ValueError("net='dbn' pretrains on the agent's env before RL: pass an env (or load a saved agent)")
    t0 = time.perf_counter()
    obs, steps = collect_random_observations(env, config.n_obs, rng)
    image = is_image_space(observation_space)
    visible = "bernoulli" if image else "gaussian"
    pretraining = DBNPretraining(config, steps=steps)
    if not image:  # standardise each coordinate for the unit-variance Gaussian visible units
        x = obs.reshape(len(obs), -1).astype(np.float64)
        pretraining.mean = x.mean(axis=0).astype(np.float32)
        pretraining.std = np.maximum(x.std(axis=0), 1e-6).astype(np.float32)
    data = pretraining.visible(obs, observation_space)
    dbn = DBN([data.shape[1], *config.sizes], rng, visible=visible)
    with threadpool_limits(limits=1, user_api="blas"):  # 100-row batches, as in learn: one thread is faster
        pretraining.history = dbn.pretrain(data, config.cd_configs(visible), rng)
    pretraining.dbn, pretraining.seconds = dbn, time.perf_counter() - t0
    return dbn_trunk(pretraining, observation_space), pretraining


def describe(pretraining: DBNPretraining) -> dict[str, Any]:
    """A JSON-able summary: config, steps, seconds and each RBM's last reconstruction error."""
    return {
        "dbn_kwargs": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(pretraining.config).items()},
        "pretrain_timesteps": pretraining.steps,
        "pretrain_seconds": round(pretraining.seconds, 2),
        "recon_error": [h[-1]["recon_error"] for h in pretraining.history],
    }
