"""Networks the agents learn with: an actor-critic for PPO/A2C/REINFORCE and a Q-network for DQN,
all nngym ``Sequential`` networks.

What the ``net`` argument of every agent may be:

- ``"mlp"`` (a family in ``NET_BUILDERS``): separate actor and critic MLPs of ``net_arch`` (SB3's
  default for PPO/A2C; ``dict(pi=[...], vf=[...])`` gives them different sizes); image observations are
  scaled to [0, 1] and flattened first.
- ``"cnn"``: a CNN trunk for image observations (SB3's ``NatureCNN`` for images of at least 36 pixels a side, as
  SB3's ``CnnPolicy``; ``CNN_SPEC`` for digit-sized images, ``CNN_SPEC_SMALL`` for small grids such as Catch,
  chosen by ``default_cnn_spec``) *shared* by the actor and critic
  heads. Why shared: the convolutions are nearly all of the cost on a CPU, and a shared trunk computes
  them once per observation instead of twice; what tells digits or ball positions apart serves both
  π and V (on DigitClassify V(s) is just the chance of answering correctly), and SB3's CnnPolicy also
  shares its features extractor for on-policy agents by default.
- ``"dbn"``: a DBN pretrained without labels or rewards on observations of a random policy, converted into a
  Dense + Sigmoid trunk with linear heads and fine-tuned by RL (``agents.common.dbn_policy``). The agent pretrains it on
  its env before building its networks (``dbn_kwargs`` sets sizes, CD-k, epochs, the number of observations) and
  passes the trunk on as ``{"trunk": Sequential}``; it saves as a custom network, so loading never pretrains.
- A custom trunk: a spec string or list of spec items for ``nngym.builders.cnn`` (e.g.
  ``"conv:8x3p1,dense:64"`` or ``["conv:8x3p1", "dense:64"]``; ``dense``-only specs also work on 1-D
  observations), or a ready ``Sequential`` (e.g. ``net=nngym.builders.cnn(spec, (1, 28, 28), rng)``)
  mapping observations (N, *obs_shape) to features (N, F); the agent adds the heads (linear by default, MLPs of
  ``net_arch`` when given).
- A dict of ready networks: ``{"pi": Sequential, "vf": Sequential}`` (complete actor with n_actions
  outputs and critic with 1 output), ``{"trunk": Sequential}`` (optionally with ``"pi"``/``"vf"`` heads
  taking the features), or ``{"q": Sequential}`` for DQN.

Given networks are copied (architecture and weights), never trained in place; an ``ImageScale``
layer (``agents.common.cnn``) is put in front of them for image observations when they lack one (and
``Unflatten`` + ``ImageScale`` in front of a given CNN on a 3-D Box that is no image). Agents with custom networks
save them as ``net="custom"`` plus their architectures, and load them back.

Images are SB3's (``agents.common.cnn.is_image_space``): 3-D Boxes, (C, H, W) or (H, W, C), of dtype uint8 with
bounds 0 and 255. Networks take observations as ``agents.common.spaces`` encodes them: 1-D Boxes and images as they
are, everything else (Discrete, MultiDiscrete, MultiBinary, Box of other shapes, 3-D Boxes that are no images, Dict,
Tuple) as one float vector. A 3-D Box that is no image is feature data, flattened for the MLPs as SB3's
``MlpPolicy`` does; ``"cnn"`` or a spec with conv items still convolves it (``agents.common.cnn.is_cnn_space``), its
values unscaled, as SB3's ``CnnPolicy`` with ``normalize_images=False``.
With image parts inside a Dict or Tuple, the first layer is a ``CombinedInput``: under ``"cnn"`` (or a spec
with conv items) it runs a CNN trunk on each image part and concatenates the features with the other parts'
encodings, and the heads are MLPs of ``net_arch`` on top, as SB3's ``MultiInputPolicy`` with its
``CombinedExtractor``; otherwise it only scales the image parts' pixels to [0, 1]. 3-D parts that are no images
are flattened with the other parts, under ``"cnn"`` too (as the ``CombinedExtractor`` does); a Dict / Tuple without
image parts refuses ``"cnn"`` (``check_spaces``).
"""

from __future__ import annotations

import contextlib
import contextvars
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from agents.common.cnn import (
    CombinedInput,
    ImageScale,
    Unflatten,
    cnn_input,
    cnn_trunk,
    copy_net,
    image_input,
    image_input_mismatch,
    image_layout,
    is_cnn_space,
    is_image_space,
    n_features,
)
from agents.common.config import net_arch_sizes
from agents.common.distributions import (
    Bernoulli,
    Categorical,
    DiagGaussian,
    Distribution,
    MultiCategorical,
    StateDependentNoise,
)
from agents.common.joint_mlp import JointMLP
from agents.common.sb3_policy import SB3PolicyMethods
from agents.common.spaces import ACTION_SPACES, check_observation_space, encoded_space, image_parts, space_names
from nngym.activations import ReLU, Tanh
from nngym.builders import cnn, mlp
from nngym.conv import Conv2D
from nngym.dense import Dense
from nngym.flat_params import ParamSlot
from nngym.network import Sequential
from nngym.pooling import L2Pool2D, MaxPool2D
from nngym.reshape import Flatten

#: The default CNN trunk for digit-sized images (DigitClassify's (1, 28, 28)): a small LeNet-style
#: network, 28x28 -> 16 maps of 24x24 -> pool 12x12 -> 32 maps of 8x8 -> pool 4x4 -> 128 features.
#: ``nngym.builders.cnn`` spec; the SB3 comparison builds its features extractor from this same string.
CNN_SPEC = "conv:16x5,pool:2,conv:32x5,pool:2,dense:128"

#: The default CNN trunk for small grids (side < 20, e.g. Catch's (1, 10, 5)): 3x3 kernels padded to keep
#: the grid's size and no pooling, so the exact cells of ball and paddle survive.
CNN_SPEC_SMALL = "conv:16x3p1,conv:16x3p1,dense:128"


#: SB3's ``NatureCNN`` (Mnih et al. 2015; SB3's ``CnnPolicy``): 32 maps 8x8 stride 4, 64 maps 4x4 stride 2, 64 maps
#: 3x3, then ``features`` units, all ReLU; it needs images of at least ``NATURE_CNN_MIN_SIDE`` pixels on each side.
NATURE_CNN_SPEC = "conv:32x8s4,conv:64x4s2,conv:64x3,dense:{features}"
NATURE_CNN_MIN_SIDE = 36

#: Whether ``net="cnn"`` takes NatureCNN for images it fits (``default_cnn_spec``); False while a model file written
#: before that rule is rebuilt (``cnn_defaults_of_older_files``).
_NATURE_CNN_DEFAULT: contextvars.ContextVar[bool] = contextvars.ContextVar("nature_cnn_default", default=True)


@contextlib.contextmanager
def cnn_defaults_of_older_files() -> Iterator[None]:
    """Within it, ``net="cnn"`` builds the CNNs of model files written before it took NatureCNN for images of at least
    36 pixels a side (``CNN_SPEC`` from 20 pixels a side, the recurrent policy's ``DEFAULT_CNN_SPEC`` from 10), so
    ``load`` rebuilds such a file's networks as they were saved."""
    token = _NATURE_CNN_DEFAULT.set(False)
    try:
        yield
    finally:
        _NATURE_CNN_DEFAULT.reset(token)


def nature_cnn_fits(input_shape: tuple[int, int, int]) -> bool:
    """Whether ``net="cnn"`` takes NatureCNN for images (C, H, W): at least 36 pixels a side, outside
    ``cnn_defaults_of_older_files``."""
    _, h, w = input_shape
    return min(h, w) >= NATURE_CNN_MIN_SIDE and _NATURE_CNN_DEFAULT.get()


def default_cnn_spec(input_shape: tuple[int, int, int], features: int = 512) -> str:
    """The CNN of ``net="cnn"`` (and SB3's ``CnnPolicy``) for images (C, H, W): SB3's ``NatureCNN`` of ``features``
    units (``NATURE_CNN_SPEC``: 512 as SB3's ``CnnPolicy``, 256 for the image parts of a Dict as its
    ``CombinedExtractor``) for images it can take, at least 36 pixels on each side; smaller ones, which it cannot
    take, get ``CNN_SPEC`` (digit-sized images, at least 20 pixels on each side) or ``CNN_SPEC_SMALL`` (small grids)."""
    if nature_cnn_fits(input_shape):
        return NATURE_CNN_SPEC.format(features=features)
    _, h, w = input_shape
    return CNN_SPEC if min(h, w) >= 20 else CNN_SPEC_SMALL


#: What an agent's ``net`` argument may be (see the module docstring).
NetSpec = str | list[str] | Sequential | dict[str, Sequential]

#: A builder maps (n_in, hidden sizes, n_out, activation, hidden init, output init, rng) to a network.
NetBuilder = Callable[[int, Sequence[int], int, str, str, str, np.random.Generator], Sequential]


def _mlp(
    n_in: int,
    hidden: Sequence[int],
    n_out: int,
    activation: str,
    w_init: str,
    out_w_init: str,
    rng: np.random.Generator,
) -> Sequential:
    return mlp([n_in, *hidden, n_out], rng, activation=activation, w_init=w_init, out_w_init=out_w_init)


NET_BUILDERS: dict[str, NetBuilder] = {"mlp": _mlp}


def build_net(
    net: str,
    n_in: int,
    hidden: Sequence[int],
    n_out: int,
    activation: str,
    w_init: str,
    out_w_init: str,
    rng: np.random.Generator,
) -> Sequential:
    """Builds one network of family ``net``.

    Raises:
        ValueError: For a family that is not (yet) supported.
    """
    if not isinstance(net, str) or net not in NET_BUILDERS:
        raise ValueError(f"net must be one of {sorted(NET_BUILDERS)}, got {net!r}")
    return NET_BUILDERS[net](n_in, hidden, n_out, activation, w_init, out_w_init, rng)


def _has_conv_items(spec: str) -> bool:
    """Whether the ``nngym.builders.cnn`` spec has conv or pool items (it needs images or another 3-D Box)."""
    return any(item.split(":")[0].strip() in ("conv", "pool", "maxpool", "l2pool") for item in spec.split(","))


def has_own_trunk(net: Any, observation_space: gym.Space) -> bool:
    """Whether ``net`` gives a shared trunk whose heads come after it (``"cnn"`` or a spec on images or a 3-D Box,
    ``"dbn"``, a given trunk or networks), rather than MLPs from the observations (``"mlp"``, ``NET_BUILDERS``) or
    the CNNs of a Dict's or Tuple's image parts with the other parts beside them (SB3's ``MultiInputPolicy``:
    ``"cnn"`` or a spec with conv items on such a space, ``combined_input``), whose heads are MLPs as an MLP's."""
    if isinstance(net, str) and net in NET_BUILDERS:
        return False
    spec = ",".join(str(item) for item in net) if isinstance(net, list) else net
    if isinstance(observation_space, gym.spaces.Dict | gym.spaces.Tuple) and image_parts(observation_space):
        if spec == "cnn" or (isinstance(spec, str) and _has_conv_items(spec)):
            return False
    return True


def build_trunk(net: NetSpec, observation_space: gym.Space, rng: np.random.Generator) -> Sequential | None:
    """The shared feature trunk (N, *encoded obs shape) -> (N, F) that ``net`` asks for, or ``None`` for a family
    of separate networks (``NET_BUILDERS``, e.g. "mlp").

    ``"cnn"`` or a spec with conv items on a 3-D Box gives ``agents.common.cnn.cnn_trunk``: an image (SB3's rule,
    ``is_image_space``) scaled to [0, 1], any other 3-D Box taken back in its shape from its flattened encoding and
    convolved unscaled. A spec without conv items is a CNN trunk on an image and an MLP trunk on the encoding of
    anything else (a 3-D Box that is no image included). With image parts in a Dict or Tuple observation space,
    ``"cnn"`` or a spec with conv items gives the ``CombinedInput`` of ``combined_input``: the spec's CNN on every
    image part (``"cnn"``: ``default_cnn_spec`` of each part's size), the features followed by the other parts'
    encodings (3-D parts that are no images among them, flattened).

    Raises:
        ValueError: For a spec item that does not fit the observations, conv items without a 3-D Box or image
            parts, or a given network that cannot take the observations (``with_input``).
    """
    if isinstance(net, Sequential):
        return with_input(copy_net(net), observation_space)
    parts = image_parts(observation_space)
    if isinstance(net, list):
        spec = ",".join(str(item) for item in net)
    elif isinstance(net, str) and net == "cnn":
        if parts:
            return Sequential([combined_input(observation_space, rng, cnn_spec="cnn")])
        spec = default_cnn_spec(image_layout(observation_space)[0])
    elif isinstance(net, str) and ":" in net:
        spec = net
    elif isinstance(net, str) and net == "dbn":
        raise ValueError(
            "net='dbn' is pretrained by an agent on its env (agents.common.dbn_policy): create the agent with it"
        )
    else:
        return None
    conv = _has_conv_items(spec)
    if is_image_space(observation_space) or (conv and is_cnn_space(observation_space)):
        return cnn_trunk(observation_space, spec, rng)
    if conv:
        if parts:
            return Sequential([combined_input(observation_space, rng, cnn_spec=spec)])
        raise ValueError(
            "conv and pool items need image observations or another 3-D Box, (C, H, W) or (H, W, C), or a Dict / "
            "Tuple observation space with image parts (3-D Boxes of dtype uint8 with bounds 0 and 255, SB3's image "
            f"rule), got {observation_space}{_no_image_parts(observation_space)}: {spec!r}"
        )
    n_in = int(np.prod(encoded_space(observation_space).shape))
    trunk = cnn(spec, (n_in, 1, 1), rng)  # dense/dropout items on the encoding, which arrives as (N, n_in)
    trunk.input_shape = (n_in,)
    return with_input(trunk, observation_space)


def joined(trunk: Sequential, head: Sequential, input_shape: tuple[int, ...] | None) -> Sequential:
    """A view of ``trunk`` then ``head`` as one network (their own layer objects), for inference and the losses.

    Sequential's warning about layers of different dtypes is not given here: a network given in float64 (``net=``) sits
    next to the agent's float32 input scaling and heads by design, and the user could not cast this view.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Sequential: layers of mixed dtypes", category=UserWarning)
        return Sequential([*trunk.layers, *head.layers], input_shape=input_shape)


def combined_input(
    observation_space: gym.Space, rng: np.random.Generator | None = None, cnn_spec: str | None = None
) -> CombinedInput:
    """The first layer for a Dict or Tuple observation space with image parts (``agents.common.spaces.image_parts``).

    Args:
        observation_space: The agent's observation space.
        rng: Generator for the CNNs' weights (not needed without ``cnn_spec``).
        cnn_spec: A ``nngym.builders.cnn`` spec run on every image part, ``"cnn"`` for ``default_cnn_spec`` of
            each part's size, or None: each part only scaled to [0, 1] and flattened (``ImageScale``, ``Flatten``).
    """
    nets, images = [], []
    for offset, box in image_parts(observation_space):
        if cnn_spec is None:
            nets.append(Sequential([image_input(box), Flatten()]))
        else:
            spec = default_cnn_spec(image_layout(box)[0], features=256) if cnn_spec == "cnn" else cnn_spec
            nets.append(cnn_trunk(box, spec, rng))
        images.append({"offset": offset, "shape": list(box.shape)})
    return CombinedInput(int(encoded_space(observation_space).shape[0]), images, nets)


def with_input(net: Sequential, observation_space: gym.Space, flatten: bool = False) -> Sequential:
    """``net`` (in place) with its input layer in front, unless it has one: ``ImageScale`` (and ``Flatten`` if
    ``flatten``) for image observations (SB3's rule, ``agents.common.cnn.is_image_space``), ``combined_input``
    (scaling only) for image parts of a Dict or Tuple. A 3-D Box that is no image arrives flattened: a network that
    starts with a convolution or a pool gets ``Unflatten`` and ``ImageScale`` (scale 1) in front
    (``agents.common.cnn.cnn_input``), any other takes the flat observations as they are.

    Raises:
        ValueError: For a network that starts with ``ImageScale`` on a 3-D Box that is no image
            (``agents.common.cnn.image_input_mismatch``: one built for every 3-D Box as an image).
    """
    first = net.layers[0] if net.layers else None
    mismatch = image_input_mismatch(observation_space, first)
    if mismatch is not None:
        raise ValueError(f"a network cannot take the observations of {observation_space}: {mismatch}")
    if isinstance(first, ImageScale | Unflatten | CombinedInput):
        return net
    if is_image_space(observation_space):
        net.layers[:0] = [image_input(observation_space), *([Flatten()] if flatten else [])]
        net.input_shape = tuple(int(d) for d in observation_space.shape)  # what errors name as its input
    elif is_cnn_space(observation_space) and isinstance(first, Conv2D | MaxPool2D | L2Pool2D):
        layers, net.input_shape = cnn_input(observation_space)
        net.layers[:0] = layers
    elif image_parts(observation_space):
        net.layers.insert(0, combined_input(observation_space))
    return net


def _given(net: NetSpec, allowed: set[str]) -> dict[str, Sequential]:
    """The dict form of ``net`` (empty for other forms), its keys and values checked."""
    if not isinstance(net, dict):
        return {}
    if not net or set(net) - allowed or not all(isinstance(v, Sequential) for v in net.values()):
        raise ValueError(f"a dict net maps some of {sorted(allowed)} to nngym Sequential networks, got {net!r}")
    return net


def infer(net: Sequential, x: np.ndarray) -> np.ndarray:
    """Inference-mode forward for the rollout's hot loop: the same arithmetic as ``net.forward(x, train=False)``
    for Dense / Tanh / ReLU layers, without shape checks or caches, activations applied in place; any other
    layer type runs its own ``forward``.

    As in ``forward``, a Dense layer casts its input to its own dtype first (observations of float64 or integers
    give the float32 numbers of float32 ones; no copy when the input already has that dtype)."""
    owned = False  # whether x is an intermediate this function allocated (safe to overwrite)
    for layer in net.layers:
        kind = type(layer)
        if kind is Dense:
            if not owned:  # the network's input or another layer's output: of any dtype
                x = np.asarray(x, dtype=layer.dtype)
            x = x @ layer.params["W"].T
            x += layer.params["b"]
            owned = True
        elif kind is Tanh and owned:
            np.tanh(x, out=x)
        elif kind is ReLU and owned:
            layer.apply(x, out=x)
        else:
            x = layer.forward(x, train=False)
            owned = False
    return x


def check_spaces(
    algo: str,
    observation_space: gym.Space,
    action_space: gym.Space,
    action_spaces: tuple[type[gym.Space], ...] = ACTION_SPACES,
    net: object = "mlp",
    combined_images: bool = True,
) -> None:
    """Raises a ValueError saying what ``algo`` supports if the spaces are not handled.

    Observations: Box of any shape (an image, SB3's rule: a 3-D Box (C, H, W) / (H, W, C) of dtype uint8 with bounds
    0 and 255, keeps its shape and has its pixels scaled to [0, 1], for "cnn", a custom network, or "mlp" which
    flattens it; other shapes, 3-D Boxes that are no images included, are flattened), Discrete, MultiDiscrete,
    MultiBinary, Dict and Tuple (``agents.common.spaces``). ``net="cnn"`` needs a 3-D Box (an image, or another one
    it convolves unscaled) or a Dict / Tuple with image parts (unless ``combined_images`` is False); the 3-D parts
    of a Dict / Tuple that are no images are flattened, so they alone do not take ``"cnn"``.

    Actions: the types in ``action_spaces``; Box, MultiDiscrete and MultiBinary ones 1-D; Box ones of a
    floating-point dtype (the Gaussian's actions are real numbers: an integer Box would get actions its
    ``contains`` refuses; MultiDiscrete is the space of integer vectors).

    Args:
        algo: The algorithm's name, for the messages.
        observation_space: The env's observation space.
        action_space: The env's action space.
        action_spaces: The action space types ``algo`` supports.
        net: The agent's ``net`` argument.
        combined_images: Whether ``algo`` takes image parts inside Dict / Tuple observations.
    """
    check_observation_space(algo, observation_space)
    convolvable, parts = is_cnn_space(observation_space), image_parts(observation_space)
    if parts and not combined_images:
        raise ValueError(
            f"{algo} does not support image parts inside Dict or Tuple observation spaces, got {observation_space}; "
            "it takes image Box observations, and Dict / Tuple ones without images (image: a 3-D Box of dtype "
            "uint8 with bounds 0 and 255, SB3's rule; other 3-D parts are flattened)"
        )
    if isinstance(net, str) and net == "dbn" and parts:
        raise ValueError(
            f"{algo} with net='dbn' needs observations without image parts inside a Dict or Tuple, got "
            f"{observation_space}; use net='cnn' or 'mlp'"
        )
    if isinstance(net, str) and net == "cnn" and not (convolvable or parts):
        raise ValueError(
            f"{algo} with net='cnn' needs an image Box observation space, (C, H, W) or (H, W, C) (or any other "
            "3-D Box, convolved as it is), or a Dict / Tuple one with image parts (3-D Boxes of dtype uint8 with "
            f"bounds 0 and 255, SB3's image rule), got {observation_space}{_no_image_parts(observation_space)}"
        )
    if not isinstance(action_space, action_spaces):
        raise ValueError(f"{algo} supports {space_names(action_spaces)} action spaces, got {action_space}")
    if (
        isinstance(action_space, spaces.Box | spaces.MultiDiscrete | spaces.MultiBinary)
        and len(action_space.shape) != 1
    ):
        raise ValueError(
            f"{algo} supports 1-D {type(action_space).__name__} action spaces, got {action_space} "
            f"of shape {action_space.shape}"
        )
    if isinstance(action_space, spaces.Box) and action_space.dtype.kind != "f":
        raise ValueError(
            f"{algo} supports Box action spaces of a floating-point dtype (real-valued actions), got {action_space} "
            f"of dtype {action_space.dtype}; for integer actions use {_integer_action_space(action_space)}"
        )


def _no_image_parts(space: gym.Space) -> str:
    """For messages: the 3-D parts of a Dict / Tuple ``space`` that are no images by SB3's rule (flattened like the
    other parts, so no CNN takes them), as ``"; its 3-D parts ['a'] are no images ..."``, or ``""``."""
    found: list[str] = []

    def walk(s: gym.Space, path: str) -> None:
        if isinstance(s, spaces.Dict | spaces.Tuple):
            items = s.spaces.items() if isinstance(s, spaces.Dict) else enumerate(s.spaces)
            for key, part in items:
                walk(part, f"{path}[{key!r}]")
        elif is_cnn_space(s) and not is_image_space(s):
            found.append(f"{path} {s}")

    if isinstance(space, spaces.Dict | spaces.Tuple):
        walk(space, "obs")
    if not found:
        return ""
    return (
        f"; its 3-D parts {', '.join(found)} are no images by that rule (SB3's CombinedExtractor flattens them, and "
        "so does nngym): use net='mlp' (what MultiInputPolicy picks here), or give them as uint8 pixels 0..255"
    )


def _integer_action_space(box: spaces.Box) -> str:
    """The MultiDiscrete space of an integer Box's actions, for messages: ``MultiDiscrete([6, 6])`` for
    ``Box(0, 5, (2,), int64)``, with a ``start`` for other lower bounds; a general hint for unbounded ones."""
    if not box.is_bounded("both"):
        return "a bounded MultiDiscrete action space (one entry per action dimension)"
    low, high = box.low.astype(np.int64), box.high.astype(np.int64)
    nvec, start = (high - low + 1).tolist(), low.tolist()
    return f"MultiDiscrete({nvec}{f', start={start}' if any(start) else ''}), whose actions are the same integers"


def n_action_params(action_space: gym.Space) -> int:
    """Outputs of an actor for ``action_space``: K logits (Discrete), Σ_d K_d (MultiDiscrete), D logits
    (MultiBinary) or D means (1-D Box)."""
    if isinstance(action_space, spaces.Discrete):
        return int(action_space.n)
    if isinstance(action_space, spaces.MultiDiscrete):
        return int(action_space.nvec.sum())
    return int(action_space.shape[0])


def action_distribution(action_space: gym.Space, out: np.ndarray, log_std: np.ndarray) -> Distribution:
    """π(·|s) for ``action_space`` from an actor's output (N, ``n_action_params``) (and log σ (D,) for Box)."""
    if isinstance(action_space, spaces.Discrete):
        return Categorical(out)
    if isinstance(action_space, spaces.MultiDiscrete):
        return MultiCategorical(out, action_space.nvec)
    if isinstance(action_space, spaces.MultiBinary):
        return Bernoulli(out)
    return DiagGaussian(out, log_std)


def is_combined_trunk(trunk: Sequential | None) -> bool:
    """Whether ``trunk`` is ``build_trunk``'s CNN trunk of a Dict / Tuple with image parts: one ``CombinedInput``."""
    return trunk is not None and len(trunk.layers) == 1 and isinstance(trunk.layers[0], CombinedInput)


class ActorCriticPolicy(SB3PolicyMethods):
    """π(a|s) from an actor network and V(s) from a critic network, with SB3's orthogonal init.

    ``agent.policy`` of PPO, A2C and REINFORCE, with the methods SB3's users call on their ``model.policy``
    (``BasePolicy``'s): ``predict`` (the agent's), ``set_training_mode``, ``state_dict``, ``load_state_dict``,
    ``parameters``, ``observation_space``, ``action_space``. Those but ``set_training_mode`` need the agent, which
    tells the policy it is its own (``BaseAgent._attach_policy``).

    Args:
        observation_space: Any space ``check_spaces`` accepts; the networks take its encoding
            (``agents.common.spaces``), (N, *encoded shape).
        action_space: Discrete (categorical logits), MultiDiscrete (one categorical per entry, logits side by
            side), MultiBinary (Bernoulli logits) or 1-D Box (Gaussian mean, state-independent log σ).
        rng: Generator for the initial weights.
        net: "mlp", "cnn" or a custom network (see the module docstring). With a trunk (``"cnn"``, a spec,
            a ``Sequential``) actor and critic are heads on the shared features (linear, or MLPs of ``net_arch``):
            ``self.trunk``, ``self.pi``, ``self.vf``; ``self.actor`` / ``self.critic`` are then trunk + head views
            sharing those layers, for inference. The CNN trunk of a Dict / Tuple with image parts (a
            ``CombinedInput``) gets MLP heads of ``net_arch`` by default, as SB3's ``MultiInputPolicy``.
        net_arch: Hidden sizes of the actor and critic MLPs, or of the heads after a trunk: one list for both, or
            SB3's ``{"pi": [...], "vf": [...]}`` for different ones (``agents.common.config.check_net_arch``); None:
            SB3's default, (64, 64), and none after a trunk (``has_own_trunk``: linear heads).
        activation: Hidden activation of the MLPs (CNN trunks use ReLU).
        ortho_init: Orthogonal init with gains √2 (hidden), 0.01 (policy head), 1 (value head).
        log_std_init: Initial log σ for Box actions (every entry of the (J, K) matrix under ``use_sde``).
        use_sde: Box actions only: explore with state-dependent noise (gSDE, ``StateDependentNoise``) instead of a
            state-independent σ: log σ is a (J, K) matrix, J the size of the actor's last latent features z(s)
            (the input of its final Dense layer), and ``reset_noise`` draws the noise weights θ_ε ~ N(0, σ²)
            (one (J, K) matrix per env) that ``sample`` uses until the next draw. SB3's ``use_sde`` with its
            defaults ``full_std=True``, ``use_expln=False``, ``learn_features=False``.

    Raises:
        ValueError: ``use_sde`` with an action space other than Box, or an actor that does not end in Dense.
    """

    def __init__(
        self,
        observation_space: gym.Space,
        action_space: gym.Space,
        rng: np.random.Generator,
        net: NetSpec = "mlp",
        net_arch: Sequence[int] | Mapping[str, Sequence[int]] | None = None,
        activation: str = "tanh",
        ortho_init: bool = True,
        log_std_init: float = 0.0,
        use_sde: bool = False,
    ) -> None:
        self.observation_space = observation_space  # what predict takes (SB3's policy.observation_space)
        self.action_space = action_space
        self.discrete = not isinstance(action_space, gym.spaces.Box)  # no Gaussian, no log σ
        if use_sde and self.discrete:
            raise ValueError(f"use_sde (gSDE) needs a Box action space, got {action_space}")
        self.use_sde = bool(use_sde)
        encoded = encoded_space(observation_space)
        n_in = int(np.prod(encoded.shape))
        n_out = n_action_params(action_space)
        if net_arch is None:  # SB3's default: MLPs of (64, 64), linear heads after a trunk
            net_arch = () if has_own_trunk(net, observation_space) else (64, 64)
        pi_arch, vf_arch = net_arch_sizes(net_arch)
        hidden_init, pi_init, vf_init = (
            ("orthogonal:1.4142135623730951", "orthogonal:0.01", "orthogonal:1") if ortho_init else ("nielsen",) * 3
        )
        given = _given(net, {"trunk", "pi", "vf"})
        self.trunk = (
            None if given and "trunk" not in given else build_trunk(given.get("trunk", net), observation_space, rng)
        )
        if given and self.trunk is None:  # complete actor and critic networks
            if set(given) != {"pi", "vf"}:
                raise ValueError(f"a dict net without 'trunk' needs both 'pi' and 'vf', got {sorted(given)}")
            self.actor = with_input(copy_net(given["pi"]), observation_space)
            self.critic = with_input(copy_net(given["vf"]), observation_space)
        elif self.trunk is None:
            self.actor = build_net(net, n_in, pi_arch, n_out, activation, hidden_init, pi_init, rng)
            self.critic = build_net(net, n_in, vf_arch, 1, activation, hidden_init, vf_init, rng)
            with_input(self.actor, observation_space, flatten=True)
            with_input(self.critic, observation_space, flatten=True)
        elif is_combined_trunk(self.trunk):  # features of images and other parts: MLP heads (MultiInputPolicy)
            f = n_features(self.trunk, encoded)
            head = lambda arch, n, init: mlp([f, *arch, n], rng, activation, w_init=hidden_init, out_w_init=init)  # noqa: E731
            self.pi = copy_net(given["pi"]) if "pi" in given else head(pi_arch, n_out, pi_init)
            self.vf = copy_net(given["vf"]) if "vf" in given else head(vf_arch, 1, vf_init)
            self.actor = joined(self.trunk, self.pi, self.trunk.input_shape)
            self.critic = joined(self.trunk, self.vf, self.trunk.input_shape)
        else:  # heads on the trunk's features: linear (SB3's CnnPolicy default), or MLPs of net_arch
            f = n_features(self.trunk, encoded)

            def head(arch: Sequence[int], n: int, init: str) -> Sequential:
                if not arch:
                    return Sequential([Dense(f, n, rng, w_init=init)])
                return mlp([f, *arch, n], rng, activation, w_init=hidden_init, out_w_init=init)

            self.pi = copy_net(given["pi"]) if "pi" in given else head(pi_arch, n_out, pi_init)
            self.vf = copy_net(given["vf"]) if "vf" in given else head(vf_arch, 1, vf_init)
            shape = self.trunk.input_shape  # views for inference (infer, _act)
            self.actor = joined(self.trunk, self.pi, shape)
            self.critic = joined(self.trunk, self.vf, shape)
        if self.use_sde:  # the actor's layers before its final Dense give z(s); that Dense gives μ(s)
            head_net = self.actor if self.trunk is None else self.pi
            if not isinstance(head_net.layers[-1], Dense):
                raise ValueError(f"use_sde needs an actor ending in a Dense layer, got {type(head_net.layers[-1])}")
            self._latent_layers, self._mean_layer = head_net.layers[:-1], head_net.layers[-1]
            shape: tuple[int, ...] = (self._mean_layer.params["W"].shape[1], n_out)
        else:
            shape = (0,) if self.discrete else (n_out,)
        self.log_std = np.full(shape, log_std_init, dtype=np.float32)
        self.log_std_grad = np.zeros_like(self.log_std)
        self.noise_weights: np.ndarray | None = None
        self._joint: JointMLP | None = None  # actor and critic evaluated together in rollouts (``joint``)
        if self.use_sde:
            self.reset_noise(1, rng)

    def reset_noise(self, n: int, rng: np.random.Generator) -> None:
        """gSDE: draws n noise matrices θ_ε ~ N(0, σ²), (n, J, K), one per env (``use_sde`` only)."""
        std = np.exp(self.log_std)
        self.noise_weights = (std * rng.standard_normal((n, *std.shape))).astype(self.log_std.dtype)

    def distribution(self, out: np.ndarray, latent: np.ndarray | None = None) -> Distribution:
        """The action distribution given the actor's output (N, ``n_action_params(action_space)``) (and under
        ``use_sde`` its latent features z (N, J))."""
        if self.use_sde:
            return StateDependentNoise(out, self.log_std, latent, self.noise_weights)
        return action_distribution(self.action_space, out, self.log_std)

    def actor_distribution(self, obs: np.ndarray) -> Distribution:
        """π(·|s) for encoded observations (N, *encoded shape), inference only (no critic, no caches)."""
        if self.use_sde:
            return self._sde_forward(obs, False)[0]
        return self.distribution(infer(self.actor, obs))

    def _sde_forward(self, obs: np.ndarray, train: bool) -> tuple[StateDependentNoise, np.ndarray | None]:
        """gSDE: (π(·|s) with z(s) from the actor's layers before its final Dense and μ(s) from that Dense,
        the shared trunk's features or None)."""
        h = None if self.trunk is None else self.trunk.forward(obs, train)
        z = obs if h is None else h
        for layer in self._latent_layers:
            z = layer.forward(z, train)
        return self.distribution(self._mean_layer.forward(z, train), z), h

    def forward(self, obs: np.ndarray, train: bool = False) -> tuple[Distribution, np.ndarray]:
        """(π(·|s), V(s) (N,)) for encoded observations (N, *encoded shape); ``train=True`` keeps caches for
        ``backward``."""
        if self.use_sde:
            dist, h = self._sde_forward(obs, train)
            if h is not None:
                return dist, self.vf.forward(h, train)[:, 0]
            return dist, (self.critic.forward(obs, True) if train else infer(self.critic, obs))[:, 0]
        if self.trunk is not None:  # the features once, then both heads
            h = self.trunk.forward(obs, train)
            return self.distribution(self.pi.forward(h, train)), self.vf.forward(h, train)[:, 0]
        if train:
            return self.distribution(self.actor.forward(obs, True)), self.critic.forward(obs, True)[:, 0]
        return self.distribution(infer(self.actor, obs)), infer(self.critic, obs)[:, 0]

    def joint(self) -> JointMLP | None:
        """The actor and critic MLPs as one ``JointMLP``, refreshed with the current parameters, for a rollout's
        inference (``forward``'s numbers in fewer numpy calls; stale once the parameters change); None where it
        does not apply (a shared trunk, gSDE, other layers, MLPs of different hidden sizes)."""
        if self.trunk is not None or self.use_sde:
            return None
        joint = self._joint
        if joint is None or not joint.matches(self.actor, self.critic):
            if not JointMLP.supports(self.actor, self.critic):
                return None
            joint = self._joint = JointMLP(self.actor, self.critic)
        return joint.refresh()

    def values(self, obs: np.ndarray) -> np.ndarray:
        """V(s), shape (N,)."""
        return infer(self.critic, obs)[:, 0]

    def backward(self, d_out: np.ndarray, d_values: np.ndarray, d_log_std: np.ndarray | None = None) -> None:
        """Backprops ∂L/∂(actor output) (N, K) and ∂L/∂V (N,) (and ∂L/∂log σ (D,)) after ``forward(train=True)``."""
        if self.trunk is not None:  # both heads' gradients meet in the shared features
            d_h = self.pi.backward(d_out)
            d_h += self.vf.backward(d_values[:, None])
            self.trunk.backward(d_h, input_grad=False)
        else:
            self.actor.backward(d_out, input_grad=False)
            self.critic.backward(d_values[:, None], input_grad=False)
        if d_log_std is not None:
            self.log_std_grad[...] = d_log_std

    def named_params(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """Actor, critic (and log σ) parameters together, so one optimiser and one clip_grad_norm cover both."""
        nets = self.nets()
        out = [(f"{k}.{n}", p, g) for k, net in nets.items() for n, p, g in net.named_params()]
        if not self.discrete:
            out.append(("log_std", self.log_std, self.log_std_grad))
        return out

    def param_slots(self) -> list[ParamSlot] | None:
        """Where each parameter of ``named_params`` lives, for an optimiser's flat vector (``nngym.flat_params``);
        None if a network's layers share their arrays."""
        slots = [net.param_slots() for net in self.nets().values()]
        if any(s is None for s in slots):
            return None
        extra = [] if self.discrete else [ParamSlot(self, "log_std", "log_std_grad")]
        return [slot for s in slots for slot in s] + extra

    def nets(self) -> dict[str, Sequential]:
        if self.trunk is not None:
            return {"trunk": self.trunk, "pi": self.pi, "vf": self.vf}
        return {"pi": self.actor, "vf": self.critic}

    @property
    def dtype(self) -> np.dtype:
        """The dtype of the parameters (float32 unless cast, e.g. to float64 for a gradient check)."""
        net = self.trunk if self.trunk is not None else self.actor
        return next(p for layer in net.layers for p in layer.params.values()).dtype

    def astype(self, dtype: np.dtype | type) -> ActorCriticPolicy:
        """Casts every parameter and gradient (the networks' and log σ) in place; returns self."""
        for net in self.nets().values():
            net.astype(dtype)
        for net in (self.actor, self.critic):  # trunk + head views share those layers; input layers are their own
            net.astype(dtype)
        self.log_std = self.log_std.astype(dtype)
        self.log_std_grad = np.zeros_like(self.log_std)
        if self.noise_weights is not None:
            self.noise_weights = self.noise_weights.astype(dtype)
        return self


class QNetwork:
    """Q(s, ·) for Discrete actions: one network from observations to one value per action.

    Args:
        observation_space: Any space ``check_spaces`` accepts; the network takes its encoding
            (``agents.common.spaces``), (N, *encoded shape).
        action_space: Discrete.
        rng: Generator for the initial weights.
        net: "mlp", "cnn" or a custom network (module docstring): a trunk gets a head of ``net_arch`` (linear by
            default; the CNN trunk of a Dict / Tuple with image parts an MLP head of (64, 64) by default),
            ``{"q": Sequential}`` is the whole Q-network.
        net_arch: Hidden sizes of the MLP, or of the head after a trunk; None: SB3's default, (64, 64), and none
            after a trunk (``has_own_trunk``: a linear head).
        activation: Hidden activation (SB3's DQN: ReLU).
    """

    def __init__(
        self,
        observation_space: gym.Space,
        action_space: gym.spaces.Discrete,
        rng: np.random.Generator,
        net: NetSpec = "mlp",
        net_arch: Sequence[int] | None = None,
        activation: str = "relu",
    ) -> None:
        if net_arch is None:  # SB3's default: an MLP of (64, 64), a linear head after a trunk
            net_arch = () if has_own_trunk(net, observation_space) else (64, 64)
        encoded = encoded_space(observation_space)
        n_in, n_actions = int(np.prod(encoded.shape)), int(action_space.n)
        given = _given(net, {"q", "q_target", "trunk"})
        trunk = None if "q" in given else build_trunk(given.get("trunk", net), observation_space, rng)
        if "q" in given:
            self.q = with_input(copy_net(given["q"]), observation_space)
        elif is_combined_trunk(trunk):
            f = n_features(trunk, encoded)
            head = mlp([f, *net_arch, n_actions], rng, activation, w_init="he_normal", out_w_init="nielsen")
            self.q = joined(trunk, head, trunk.input_shape)
        elif trunk is not None and net_arch:  # an MLP head of net_arch on the trunk's features
            f = n_features(trunk, encoded)
            head = mlp([f, *net_arch, n_actions], rng, activation, w_init="he_normal", out_w_init="nielsen")
            self.q = joined(trunk, head, trunk.input_shape)
        elif trunk is not None:
            f = n_features(trunk, encoded)
            self.q = joined(trunk, Sequential([Dense(f, n_actions, rng, w_init="nielsen")]), trunk.input_shape)
        else:
            self.q = build_net(net, n_in, net_arch, n_actions, activation, "he_normal", "nielsen", rng)
            with_input(self.q, observation_space, flatten=True)

    def forward(self, obs: np.ndarray, train: bool = False) -> np.ndarray:
        """Q(s, ·), shape (N, n_actions); ``train=True`` keeps caches for backward."""
        return self.q.forward(obs, True) if train else infer(self.q, obs)

    def named_params(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        return self.q.named_params()

    def param_slots(self) -> list[ParamSlot] | None:
        return self.q.param_slots()

    def nets(self) -> dict[str, Sequential]:
        return {"q": self.q}


def backward_policy_loss(
    policy: ActorCriticPolicy,
    dist: Distribution,
    actions: np.ndarray,
    d_log_prob: np.ndarray,
    d_entropy: float,
    d_values: np.ndarray,
) -> None:
    """Backprops a loss L(log π(a_i|s_i), H_i, V_i) given its partial derivatives, after ``forward(train=True)``.

    Chain rule through the distribution: ∂L/∂z_i = ∂L/∂log π_i · ∂log π_i/∂z_i + ∂L/∂H_i · ∂H_i/∂z_i.
    Under gSDE (``StateDependentNoise``) the variances v_i reach log σ only (the latent features are constants
    there): ∂L/∂v_i = ∂L/∂log π_i · ∂log π_i/∂v_i + ∂L/∂H_i · ∂H_i/∂v_i, then ``dist.log_std_grad``.

    Args:
        policy: The actor-critic that produced ``dist``.
        dist: Distribution of the minibatch.
        actions: a_i, (N,) or (N, D).
        d_log_prob: ∂L/∂log π(a_i|s_i), (N,).
        d_entropy: ∂L/∂H_i, the same for every i (−ent_coef / N for the mean entropy bonus).
        d_values: ∂L/∂V(s_i), (N,).
    """
    if isinstance(dist, StateDependentNoise):
        g_mean, g_var = dist.grad_log_prob(actions)
        d_var = d_log_prob[:, None] * g_var
        if d_entropy:
            d_var += d_entropy * dist.grad_entropy()[1]
        dtype = policy.dtype
        d_out, d_log_std = d_log_prob[:, None] * g_mean, dist.log_std_grad(d_var)
        policy.backward(d_out.astype(dtype), d_values.astype(dtype), d_log_std.astype(dtype))
    elif not isinstance(dist, DiagGaussian):  # Categorical, MultiCategorical, Bernoulli: gradients w.r.t. logits
        d_out = logits_grad(dist, actions, d_log_prob, d_entropy)
        policy.backward(d_out.astype(policy.dtype), d_values.astype(policy.dtype))
    else:
        d_out, d_log_std = gaussian_grads(dist, actions, d_log_prob, d_entropy)
        dtype = policy.dtype
        policy.backward(d_out.astype(dtype), d_values.astype(dtype), d_log_std.astype(dtype))


def logits_grad(dist: Distribution, actions: np.ndarray, d_log_prob: np.ndarray, d_entropy: float) -> np.ndarray:
    """∂L/∂z_i = ∂L/∂log π_i · ∂log π_i/∂z_i + ∂L/∂H_i · ∂H_i/∂z_i for a distribution of logits z, (N, n)."""
    d_out = d_log_prob[:, None] * dist.grad_log_prob(actions)
    if d_entropy:
        d_out += d_entropy * dist.grad_entropy()
    return d_out


def gaussian_grads(
    dist: DiagGaussian, actions: np.ndarray, d_log_prob: np.ndarray, d_entropy: float, groups: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(∂L/∂μ (N, D), ∂L/∂log σ) for a state-independent log σ; with ``groups`` = K the N rows are K blocks, each with
    its own log σ (a population's members), and ∂L/∂log σ is (K, D), else (D,). ∂H_i/∂log σ = 1."""
    g_mean, g_log_std = dist.grad_log_prob(actions)
    per_row = d_log_prob[:, None] * g_log_std
    if groups is None:
        return d_log_prob[:, None] * g_mean, per_row.sum(axis=0) + d_entropy * len(actions)
    n = len(actions) // groups
    return d_log_prob[:, None] * g_mean, per_row.reshape(groups, n, -1).sum(axis=1) + d_entropy * n
