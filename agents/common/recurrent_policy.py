"""The recurrent actor-critic of recurrent PPO: encoder → LSTM → head, once for the actor, once for the critic.

Each branch reads a sequence of observations x (T, B, ...) as::

    e_t = encoder(x_t)                       MLP on the flattened observation, or CNN on (C, H, W) (net="cnn")
    h_t, c_t = LSTM(e_t, (h_{t−1}, c_{t−1}) ⊙ (1 − start_t))
    z_t = head(h_t)                          logits / Gaussian mean (actor), V(s_t) (critic)

Everything but the LSTM's recursion runs on all T·B rows at once (one matrix product per layer).

Actor and critic have **separate LSTMs** (sb3-contrib's default, ``shared_lstm=False,
enable_critic_lstm=True``): the value loss, whose scale follows the returns (4 in the T-maze, 500
in CartPole), then cannot overwrite the memory the policy relies on, and each LSTM is free to
remember what its own loss needs. The price is a second LSTM in every step and update.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from agents.common.cnn import cnn_trunk, image_layout, is_cnn_space, is_image_space, n_features
from agents.common.config import net_arch_sizes
from agents.common.distributions import Distribution
from agents.common.policies import (
    CNN_SPEC_SMALL,
    NATURE_CNN_SPEC,
    action_distribution,
    n_action_params,
    nature_cnn_fits,
    with_input,
)
from agents.common.sb3_policy import SB3PolicyMethods
from agents.common.spaces import encoded_space
from nngym.builders import mlp
from nngym.flat_params import ParamSlot, layer_slots
from nngym.lstm import LSTM
from nngym.network import Sequential

#: (h, c) of the actor's LSTM followed by (h, c) of the critic's, each (N, H) (the agent's ``predict`` gives the
#: actor's in sb3-contrib's layout, (1, N, H))
PolicyState = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]

DEFAULT_CNN_SPEC = "conv:16x3,pool:2,conv:32x3,pool:2,dense:128"


def default_recurrent_cnn_spec(observation_space: Any) -> str:
    """The recurrent policy's CNN encoder for observations of the 3-D Box ``observation_space`` (an image or not,
    ``agents.common.cnn.is_cnn_space``): SB3's ``NatureCNN`` of 512 features for images of at least 36 pixels a side,
    as sb3-contrib's ``CnnLstmPolicy`` (``agents.common.policies.NATURE_CNN_SPEC``); ``DEFAULT_CNN_SPEC`` for smaller
    grids of at least 10 cells on each side (what its two 3x3 convolutions and 2x2 pools need), else the feedforward
    agents' padded ``CNN_SPEC_SMALL``; any spec for other observations (it is not used)."""
    if not is_cnn_space(observation_space):
        return DEFAULT_CNN_SPEC
    chw = image_layout(observation_space)[0]
    if nature_cnn_fits(chw):
        return NATURE_CNN_SPEC.format(features=512)
    return DEFAULT_CNN_SPEC if min(chw[1:]) >= 10 else CNN_SPEC_SMALL


class RecurrentBranch:
    """encoder → LSTM → head over sequences, with the backward pass through all three.

    Args:
        encoder: Maps (M, *obs_shape) to (M, E); ``Sequential([])`` is the identity on 1-D observations. An
            encoder of images (SB3's rule: 3-D Boxes of dtype uint8 with bounds 0 and 255) begins with the agents'
            ``ImageScale`` (uint8 pixels to [0, 1], (H, W, C) to (C, H, W)), then ``Flatten`` (MLP) or a
            convolution (CNN); a CNN encoder of another 3-D Box, whose observations arrive flattened, begins with
            ``Unflatten`` and ``ImageScale`` (scale 1).
        lstm: The LSTM(E, H).
        head: Maps (M, H) to (M, n_out).
    """

    def __init__(self, encoder: Sequential, lstm: LSTM, head: Sequential) -> None:
        self.encoder, self.lstm, self.head = encoder, lstm, head

    def _encode(self, x: np.ndarray, train: bool) -> np.ndarray:
        x = x.astype(self.lstm.dtype, copy=False)
        return self.encoder.forward(x, train) if self.encoder.layers else x

    def forward(
        self,
        obs: np.ndarray,
        state: tuple[np.ndarray, np.ndarray],
        episode_start: np.ndarray,
        train: bool = False,
    ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
        """Runs a batch of sequences.

        Args:
            obs: (T, B, *obs_shape).
            state: (h, c) before the first step, each (B, H).
            episode_start: (T, B); where true the state is zeroed before that step.
            train: Keep the caches for ``backward``.

        Returns:
            (head outputs (T·B, n_out), time-major rows; final (h, c)).
        """
        T, B = obs.shape[:2]
        e = self._encode(obs.reshape(T * B, *obs.shape[2:]), train)
        hs, final = self.lstm.forward(
            e.reshape(T, B, -1), train, state=state, episode_start=episode_start, return_state=True
        )
        return self.head.forward(hs.reshape(T * B, -1), train), final

    def backward(self, d_out: np.ndarray) -> None:
        """Backprops ∂L/∂(head output) (T·B, n_out) through head, LSTM (BPTT) and encoder, filling grads."""
        T, B = self.lstm._cache["x"].shape[:2]
        d_h = self.head.backward(d_out)
        d_e = self.lstm.backward(d_h.reshape(T, B, -1))  # the stored initial states are constants
        if self.encoder.layers:
            self.encoder.backward(d_e.reshape(T * B, -1))

    def named_params(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        out = [(f"enc.{n}", p, g) for n, p, g in self.encoder.named_params()]
        out += [(f"lstm.{k}", p, g) for k, p, g in self.lstm.named_params()]
        return out + [(f"head.{n}", p, g) for n, p, g in self.head.named_params()]

    def param_slots(self) -> list[ParamSlot] | None:
        """Where each parameter of ``named_params`` lives (``nngym.flat_params``), None if a layer shares its arrays."""
        parts = [self.encoder.param_slots(), layer_slots([self.lstm]), self.head.param_slots()]
        return None if any(p is None for p in parts) else [slot for p in parts for slot in p]

    def nets(self) -> dict[str, Sequential]:
        return {"enc": self.encoder, "lstm": Sequential([self.lstm]), "head": self.head}

    def astype(self, dtype: np.dtype | type) -> RecurrentBranch:
        """Casts encoder, LSTM and head in place (parameters, gradients and the inputs they are fed)."""
        for net in self.nets().values():
            net.astype(dtype)
        return self


class RecurrentActorCriticPolicy(SB3PolicyMethods):
    """π(a_t | o_1..o_t) and V(o_1..o_t) from two recurrent branches (see the module docstring).

    Args:
        observation_space: The agent's observation space (or its encoding, ``agents.common.spaces.encoded_space``,
            the same Box unless it is a 3-D Box that is no image): the encoders take the encoded observations, 1-D,
            or an image (SB3's rule: a 3-D Box (C, H, W) or (H, W, C) of dtype uint8 with bounds 0 and 255) as the
            other agents do, through ``agents.common.cnn.ImageScale`` (uint8 pixels scaled to [0, 1], channels last
            turned to (C, H, W), as SB3's ``VecTransposeImage``), then flattened (MLP) or convolved
            (``net="cnn"``). Any other 3-D Box arrives flattened, for the MLP as it is; ``net="cnn"`` takes it
            back in its shape (``agents.common.cnn.cnn_trunk``), which needs the agent's own space here, not
            its flat encoding.
        action_space: Discrete (categorical logits), MultiDiscrete (one categorical per entry, logits side by
            side), MultiBinary (Bernoulli logits) or 1-D Box (Gaussian mean, state-independent log σ), as
            ``agents.common.policies.action_distribution`` reads the actor's output.
        rng: Generator for the initial weights.
        lstm_hidden_size: H.
        encoder_arch: Hidden sizes of the MLP encoder before the LSTM; ``()`` feeds observations
            straight into the LSTM (sb3-contrib's ``MlpLstmPolicy``).
        net_arch: Hidden sizes of the MLP head after the LSTM: one list for actor and critic, or SB3's
            ``{"pi": [...], "vf": [...]}`` for different ones.
        activation: Hidden activation of encoder and head.
        ortho_init: SB3's orthogonal init of the Dense layers (gains √2 hidden, 0.01 policy, 1 value).
        lstm_forget_bias: Initial forget-gate bias (``nngym.LSTM``); large values keep memories longer.
        cnn_spec: ``nngym.builders.cnn`` spec of the encoder for image observations.
        log_std_init: Initial log σ for Box actions.
        net: ``"mlp"``: the MLP encoder of ``encoder_arch``; ``"cnn"``: the CNN encoder of ``cnn_spec`` (3-D Box
            observations only: images scaled to [0, 1], others unscaled), as the agents' ``net`` chooses between
            flattening and a CNN.

    Raises:
        ValueError: For ``net="cnn"`` without a 3-D Box observation space or a ``cnn_spec`` the observations are too
            small for.
    """

    def __init__(
        self,
        observation_space: gym.Space,
        action_space: gym.Space,
        rng: np.random.Generator,
        lstm_hidden_size: int = 256,
        encoder_arch: Sequence[int] = (),
        net_arch: Sequence[int] | Mapping[str, Sequence[int]] = (64, 64),
        activation: str = "tanh",
        ortho_init: bool = True,
        lstm_forget_bias: float = 1.0,
        cnn_spec: str = DEFAULT_CNN_SPEC,
        log_std_init: float = 0.0,
        net: str = "mlp",
    ) -> None:
        self.action_space = action_space
        self.discrete = not isinstance(action_space, gym.spaces.Box)  # no Gaussian, no log σ
        self.hidden_size = int(lstm_hidden_size)
        n_out = n_action_params(action_space)
        hidden_init, pi_init, vf_init = (
            ("orthogonal:1.4142135623730951", "orthogonal:0.01", "orthogonal:1") if ortho_init else ("nielsen",) * 3
        )
        encoded = encoded_space(observation_space)  # what the encoders take (agents.common.spaces)
        image = is_image_space(observation_space)  # SB3's rule: scaled, kept in shape; a CNN only if net asks
        if net == "cnn" and not is_cnn_space(observation_space):
            raise ValueError(
                f"net='cnn' needs an image Box observation space (C, H, W) or (H, W, C) (or any other 3-D Box, "
                f"convolved as it is), got {observation_space}"
                + (
                    "; if that is the flat encoding of a 3-D Box that is no image, build the policy from the agent's "
                    "own observation space, whose shape the CNN takes back"
                    if len(encoded.shape) == 1 and encoded is observation_space
                    else ""
                )
            )
        n_flat = int(np.prod(encoded.shape))
        pi_arch, vf_arch = net_arch_sizes(net_arch)

        def branch(arch: Sequence[int], n: int, out_init: str) -> RecurrentBranch:
            if net == "cnn":  # ImageScale (scaled, channels last turned to NCHW), then the CNN, as PPO's trunk
                try:
                    encoder = cnn_trunk(observation_space, cnn_spec, rng)
                    n_enc = n_features(encoder, encoded)
                except ValueError as err:
                    chw, channels_last, _ = image_layout(observation_space)
                    shape = tuple(observation_space.shape)
                    shown = f"{shape}, channels last, so (C, H, W) = {chw}" if channels_last else f"{shape}"
                    raise ValueError(f"cnn_spec {cnn_spec!r} does not fit images of shape {shown}: {err}") from None
            elif encoder_arch:
                encoder = mlp([n_flat, *encoder_arch], rng, activation, activation, hidden_init)
                n_enc = int(encoder_arch[-1])
            else:
                encoder, n_enc = Sequential([]), n_flat
            if net != "cnn" and image:  # the MLP (or the LSTM) takes the flattened (C, H, W) pixels, as PPO's "mlp"
                with_input(encoder, observation_space, flatten=True)  # (other 3-D Boxes arrive flat: nothing to add)
            lstm = LSTM(n_enc, self.hidden_size, rng, forget_bias=lstm_forget_bias)
            head = mlp([self.hidden_size, *arch, n], rng, activation, None, hidden_init, out_w_init=out_init)
            return RecurrentBranch(encoder, lstm, head)

        self.actor = branch(pi_arch, n_out, pi_init)
        self.critic = branch(vf_arch, 1, vf_init)
        self.log_std = np.full(0 if self.discrete else n_out, log_std_init, dtype=np.float32)
        self.log_std_grad = np.zeros_like(self.log_std)

    @property
    def dtype(self) -> np.dtype:
        """The dtype of the parameters (float32 unless cast, e.g. to float64 for a gradient check)."""
        return self.actor.lstm.dtype

    def astype(self, dtype: np.dtype | type) -> RecurrentActorCriticPolicy:
        """Casts both branches and log σ in place; returns self."""
        self.actor.astype(dtype)
        self.critic.astype(dtype)
        self.log_std = self.log_std.astype(dtype)
        self.log_std_grad = np.zeros_like(self.log_std)
        return self

    def initial_state(self, n: int) -> PolicyState:
        """Zero (h_π, c_π, h_V, c_V) for ``n`` sequences, each (n, H), in the parameters' dtype."""
        return tuple(np.zeros((n, self.hidden_size), self.dtype) for _ in range(4))  # type: ignore[return-value]

    def distribution(self, out: np.ndarray) -> Distribution:
        """The action distribution given the actor's output (M, ``n_action_params``)."""
        return action_distribution(self.action_space, out, self.log_std)

    def forward(
        self, obs: np.ndarray, state: PolicyState, episode_start: np.ndarray, train: bool = False
    ) -> tuple[Distribution, np.ndarray, PolicyState]:
        """π and V for sequences obs (T, B, *obs_shape) with episode_start (T, B), from ``state``.

        Returns:
            (π over the T·B time-major rows, V (T·B,), final state).
        """
        out, (h_pi, c_pi) = self.actor.forward(obs, state[:2], episode_start, train)
        v, (h_vf, c_vf) = self.critic.forward(obs, state[2:], episode_start, train)
        return self.distribution(out), v[:, 0], (h_pi, c_pi, h_vf, c_vf)

    def step(
        self, obs: np.ndarray, state: PolicyState, episode_start: np.ndarray
    ) -> tuple[Distribution, np.ndarray, PolicyState]:
        """One step of N envs: obs (N, *obs_shape), episode_start (N,). Returns (π, V (N,), new state)."""
        return self.forward(obs[None], state, episode_start[None], train=False)

    def act_step(
        self, obs: np.ndarray, state: tuple[np.ndarray, np.ndarray], episode_start: np.ndarray
    ) -> tuple[Distribution, tuple[np.ndarray, np.ndarray]]:
        """The actor alone for one step (what ``predict`` needs): (π, new (h_π, c_π))."""
        out, new = self.actor.forward(obs[None], state, episode_start[None], train=False)
        return self.distribution(out), new

    def values_step(
        self, obs: np.ndarray, state: tuple[np.ndarray, np.ndarray], episode_start: np.ndarray
    ) -> np.ndarray:
        """The critic alone for one step: V (N,) of obs (N, ...) from the critic state (h_V, c_V)."""
        v, _ = self.critic.forward(obs[None], state, episode_start[None], train=False)
        return v[:, 0]

    def backward(self, d_out: np.ndarray, d_values: np.ndarray, d_log_std: np.ndarray | None = None) -> None:
        """Backprops ∂L/∂(actor output) (T·B, K), ∂L/∂V (T·B,) (and ∂L/∂log σ (D,)) after ``forward(train=True)``."""
        self.actor.backward(d_out)
        self.critic.backward(d_values[:, None])
        if d_log_std is not None:
            self.log_std_grad[...] = d_log_std

    def named_params(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """Both branches (and log σ), so one optimiser and one clip_grad_norm cover everything."""
        out = [(f"pi.{n}", p, g) for n, p, g in self.actor.named_params()]
        out += [(f"vf.{n}", p, g) for n, p, g in self.critic.named_params()]
        if not self.discrete:
            out.append(("log_std", self.log_std, self.log_std_grad))
        return out

    def param_slots(self) -> list[ParamSlot] | None:
        """Where each parameter of ``named_params`` lives, for an optimiser's flat vector (``nngym.flat_params``)."""
        actor, critic = self.actor.param_slots(), self.critic.param_slots()
        if actor is None or critic is None:
            return None
        return actor + critic + ([] if self.discrete else [ParamSlot(self, "log_std", "log_std_grad")])

    def nets(self) -> dict[str, Sequential]:
        out = {f"pi_{k}": v for k, v in self.actor.nets().items()}
        return out | {f"vf_{k}": v for k, v in self.critic.nets().items()}
