"""Stable-Baselines3 model files (``.zip``) read without torch or SB3, into nngym agents.

``load_sb3(path)`` reads what ``model.save("model.zip")`` wrote for PPO, A2C or DQN and returns nngym's
``PPO``/``A2C``/``DQN`` with the same networks and weights, whose ``predict`` gives SB3's actions::

    from agents.baselines.sb3_zip import load_sb3
    agent = load_sb3("ppo_cartpole.zip")          # an nngym PPO; numpy only
    action, _ = agent.predict(obs, deterministic=True)  # SB3's deterministic action
    agent.save("ppo_cartpole.npz")                # nngym's format: PPO.load reads it

What is supported: ``MlpPolicy`` with any ``net_arch`` (a list, or different ``pi``/``vf`` sizes) and a
Tanh, ReLU, Sigmoid or GELU activation (the ones nngym has), ``CnnPolicy`` with SB3's ``NatureCNN`` (shared or
separate features extractors); Discrete, MultiDiscrete, MultiBinary and 1-D Box actions (DQN: Discrete); Box
(1-D, images, other shapes flattened), Discrete, MultiDiscrete and MultiBinary observations (one-hot or 0/1
encoded as SB3 does). Dict and Tuple spaces (``MultiInputPolicy``) are refused, and so are Discrete and
MultiDiscrete spaces with a non-zero ``start``, which SB3 ignores (its actions are indices from 0) while nngym
adds it: an ``SB3ZipError`` names the space. Observation and
reward normalisation are saved by SB3 outside the zip, in ``VecNormalize.save``'s pickle (the zoo's
``vecnormalize.pkl``): ``load_sb3(path, vecnormalize="vecnormalize.pkl")`` reads its statistics into the agent's
own normaliser (``agents.common.normalize``), so ``predict`` takes raw observations as SB3's model behind its
``VecNormalize`` does. Frame stacking is a wrapper: apply it yourself.
The optimiser state is not copied (an nngym optimiser starts afresh if training goes on); the numeric
hyperparameters the zip records (gamma, n_steps, batch_size, ...) become the agent's ``config``.

The format (``stable_baselines3/common/save_util.py``): the zip holds ``data``, a JSON of the algorithm's
attributes (objects that JSON cannot hold are cloudpickled, next to a readable description that this
module reads), and ``policy.pth``, the policy's ``state_dict`` saved by ``torch.save``: itself a zip with
``<name>/data.pkl``, a pickle that rebuilds the tensors, and one ``<name>/data/<key>`` record of raw bytes
per storage.

Unpickling runs code named by the file, so the pickles here are read by ``RestrictedUnpickler``: a
``pickle.Unpickler`` whose ``find_class`` maps the few globals a state dict needs
(``torch._utils._rebuild_tensor_v2``, ``collections.OrderedDict``, ``torch.FloatStorage`` and the other
storage types) to this module's numpy functions and refuses every other global with ``UnsafePickleError``
naming it; ``persistent_load`` returns a storage's bytes as a numpy array. Nothing from torch is
imported or called. The cloudpickled parts of ``data`` are never unpickled, except the observation and
action spaces' (for their exact bounds), under the same rule with gymnasium's ``Box``, numpy arrays and
(ignored) random-generator state as the only globals.
"""

from __future__ import annotations

import base64
import collections
import dataclasses
import io
import json
import os
import pickle
import re
import zipfile
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from agents.a2c import A2C
from agents.common.cnn import ImageScale, Unflatten, is_image_space
from agents.dqn import DQN
from agents.ppo import PPO
from nngym.activations import GELU, ReLU, Sigmoid, Tanh
from nngym.conv import Conv2D
from nngym.dense import Dense
from nngym.layer import Layer
from nngym.network import Sequential
from nngym.reshape import Flatten
from nngym.serialization import ModelFileError

#: What ``load_sb3`` can return, by SB3's class name.
AGENTS: dict[str, type[PPO] | type[A2C] | type[DQN]] = {"PPO": PPO, "A2C": A2C, "DQN": DQN}
#: SB3 activation classes (the last part of ``policy_kwargs["activation_fn"]``) -> nngym layers and names.
ACTIVATIONS: dict[str, tuple[type[Layer], str]] = {
    "Tanh": (Tanh, "tanh"),
    "ReLU": (ReLU, "relu"),
    "GELU": (GELU, "gelu"),
    "Sigmoid": (Sigmoid, "sigmoid"),
}
#: The SB3 space types ``load_sb3`` reads (the last part of a space's ``:type:``).
SPACES = ("Box", "Discrete", "MultiDiscrete", "MultiBinary")
#: torch storage classes (``torch.FloatStorage``...) -> numpy dtypes of their elements.
STORAGE_DTYPES: dict[str, np.dtype] = {
    "DoubleStorage": np.dtype("float64"),
    "FloatStorage": np.dtype("float32"),
    "HalfStorage": np.dtype("float16"),
    "LongStorage": np.dtype("int64"),
    "IntStorage": np.dtype("int32"),
    "ShortStorage": np.dtype("int16"),
    "CharStorage": np.dtype("int8"),
    "ByteStorage": np.dtype("uint8"),
    "BoolStorage": np.dtype("bool"),
}


class SB3ZipError(ModelFileError):
    """An SB3 zip that cannot be read or turned into an nngym agent; the message says why."""


class UnsafePickleError(SB3ZipError):
    """A pickle in the file names a global that reading weights never needs (it is not loaded)."""


@dataclasses.dataclass(frozen=True)
class _StorageType:
    """Stands for ``torch.<X>Storage`` in a pickle: the numpy dtype of the storage's elements."""

    name: str
    dtype: np.dtype


def _rebuild_tensor(
    storage: np.ndarray,
    storage_offset: int,
    size: tuple[int, ...],
    stride: tuple[int, ...],
    requires_grad: bool = False,
    backward_hooks: Any = None,
    metadata: Any = None,
) -> np.ndarray:
    """numpy's ``torch._utils._rebuild_tensor_v2``: the (size) view at ``storage_offset`` with ``stride``, copied.

    Raises:
        UnsafePickleError: If the view would reach outside the storage (a crafted file).
    """
    if not isinstance(storage, np.ndarray) or storage.ndim != 1:
        raise UnsafePickleError("a tensor is rebuilt from something that is not a storage record")
    size, stride, offset = tuple(int(s) for s in size), tuple(int(s) for s in stride), int(storage_offset)
    if len(size) != len(stride) or offset < 0 or any(s < 0 for s in size) or any(s < 0 for s in stride):
        raise UnsafePickleError(f"a tensor has an invalid layout: size {size}, stride {stride}, offset {offset}")
    if 0 in size:
        return np.zeros(size, dtype=storage.dtype)
    last = offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True))
    if last >= len(storage):
        raise UnsafePickleError(f"a tensor of size {size} reaches element {last} of a storage of {len(storage)}")
    view = np.lib.stride_tricks.as_strided(
        storage[offset:], shape=size, strides=[s * storage.itemsize for s in stride], writeable=False
    )
    return np.array(view)


def _rebuild_parameter(data: np.ndarray, requires_grad: bool = False, backward_hooks: Any = None) -> np.ndarray:
    """numpy's ``torch._utils._rebuild_parameter``: an ``nn.Parameter`` is its data."""
    return data


class _Inert:
    """Stands for a global that is allowed but not needed (a space's random generator): takes any
    arguments and state and does nothing."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        return None

    def __setstate__(self, state: Any) -> None:
        return None


class _SpaceState:
    """Stands for ``gymnasium.spaces.Box`` in a pickle: keeps the attributes it is given (``BUILD``)."""

    def __setstate__(self, state: Any) -> None:
        self.state = state[0] if isinstance(state, tuple) else state  # (dict, slots) or dict


def _frombuffer(buffer: bytes, dtype: np.dtype, shape: tuple[int, ...], order: str) -> np.ndarray:
    """numpy's own pickled-array rebuild (``numpy._core.numeric._frombuffer``), for bytes only."""
    if not isinstance(buffer, bytes | bytearray) or not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise UnsafePickleError("a pickled array is not plain bytes of a numeric dtype")
    return np.frombuffer(buffer, dtype=dtype).reshape(shape, order="F" if order == "F" else "C").copy()


#: (module, name) -> what the state-dict unpickler gives for it (``torch.<X>Storage`` are added below).
STATE_DICT_GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    **{("torch", name): _StorageType(name, dtype) for name, dtype in STORAGE_DTYPES.items()},
}
#: The same for a pickled gymnasium ``Box`` (its bounds are numpy arrays; its random generator is ignored).
SPACE_GLOBALS: dict[tuple[str, str], Any] = {
    ("gymnasium.spaces.box", "Box"): _SpaceState,
    ("numpy", "dtype"): np.dtype,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy.random._pickle", "__generator_ctor"): _Inert,
    ("numpy.random._pickle", "__bit_generator_ctor"): _Inert,
    ("numpy.random._pcg64", "PCG64"): _Inert,
    ("numpy.random.bit_generator", "__pyx_unpickle_SeedSequence"): _Inert,
    ("numpy.random.bit_generator", "SeedSequence"): _Inert,
}


class _Attributes:
    """Stands for SB3's ``VecNormalize`` and ``RunningMeanStd`` in a pickle: keeps the attributes ``BUILD`` gives."""

    def __setstate__(self, state: Any) -> None:
        self.attrs = state[0] if isinstance(state, tuple) else state


def _reconstruct(subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
    """numpy's ``_reconstruct`` for plain arrays only (a pickled ndarray's empty start, filled by ``__setstate__``)."""
    if subtype is not np.ndarray:
        raise UnsafePickleError(f"a pickled array of type {subtype!r:.60} (only numpy.ndarray is read)")
    return np.ndarray.__new__(np.ndarray, shape, dtype)


def _scalar(dtype: Any, data: bytes = b"") -> Any:
    """numpy's pickled scalar (``numpy._core.multiarray.scalar``), for numeric dtypes only."""
    if not isinstance(dtype, np.dtype) or dtype.hasobject or not isinstance(data, bytes):
        raise UnsafePickleError("a pickled numpy scalar is not plain bytes of a numeric dtype")
    return np.frombuffer(data, dtype=dtype)[0]


#: The globals of ``VecNormalize.save``'s pickle: the wrapper and its statistics as attribute holders, numpy
#: arrays and scalars, and the spaces (inert: their bounds are not needed here).
VECNORMALIZE_GLOBALS: dict[tuple[str, str], Any] = {
    **SPACE_GLOBALS,
    ("stable_baselines3.common.vec_env.vec_normalize", "VecNormalize"): _Attributes,
    ("stable_baselines3.common.running_mean_std", "RunningMeanStd"): _Attributes,
    **{(f"numpy.{core}.multiarray", "_reconstruct"): _reconstruct for core in ("_core", "core")},
    **{(f"numpy.{core}.multiarray", "scalar"): _scalar for core in ("_core", "core")},
    ("numpy", "ndarray"): np.ndarray,
    ("collections", "OrderedDict"): collections.OrderedDict,
    **{
        (f"gymnasium.spaces.{mod}", name): _SpaceState
        for mod, name in (
            ("discrete", "Discrete"),
            ("multi_discrete", "MultiDiscrete"),
            ("multi_binary", "MultiBinary"),
            ("dict", "Dict"),
            ("tuple", "Tuple"),
        )
    },
}


@dataclasses.dataclass(frozen=True)
class VecNormalizeStats:
    """What SB3's ``VecNormalize`` keeps: running statistics (mean, var, count) and its settings.

    ``obs`` is ``(mean, var, count)`` with mean and var of one observation's shape; ``ret`` the same for the
    discounted return (scalars).
    """

    obs: tuple[np.ndarray, np.ndarray, float]
    ret: tuple[np.ndarray, np.ndarray, float]
    norm_obs: bool
    norm_reward: bool
    clip_obs: float
    clip_reward: float
    gamma: float
    epsilon: float


def read_vecnormalize(path: str | os.PathLike) -> VecNormalizeStats:
    """The statistics and settings in a file ``VecNormalize.save`` wrote, without SB3 (``RestrictedUnpickler``).

    Raises:
        UnsafePickleError: The pickle names a global other than VecNormalize's, its statistics', numpy's and
            gymnasium's spaces' (it is not loaded).
        SB3ZipError: Not a VecNormalize pickle, or a dict-observation one (``norm_obs_keys``: not supported).
    """
    try:
        with open(path, "rb") as f:
            obj = RestrictedUnpickler(f, VECNORMALIZE_GLOBALS, what=str(path)).load()
    except SB3ZipError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as e:
        raise SB3ZipError(f"{path}: not a readable VecNormalize pickle ({type(e).__name__}: {e})") from None
    attrs = getattr(obj, "attrs", None)
    if not isinstance(attrs, dict) or not {"obs_rms", "ret_rms", "clip_obs", "norm_obs"} <= set(attrs):
        raise SB3ZipError(f"{path}: not a VecNormalize pickle (VecNormalize.save's file)")
    if not isinstance(getattr(attrs["obs_rms"], "attrs", None), dict):
        raise SB3ZipError(f"{path}: observations normalised per Dict key (norm_obs_keys) are not supported")

    def rms(name: str) -> tuple[np.ndarray, np.ndarray, float]:
        a = attrs[name].attrs
        mean, var = np.asarray(a["mean"], np.float64), np.asarray(a["var"], np.float64)
        if mean.shape != var.shape:
            raise SB3ZipError(f"{path}: {name} has mean of shape {mean.shape} but var of shape {var.shape}")
        return mean, var, float(a["count"])

    return VecNormalizeStats(
        obs=rms("obs_rms"),
        ret=rms("ret_rms"),
        norm_obs=bool(attrs["norm_obs"]),
        norm_reward=bool(attrs.get("norm_reward", False)),
        clip_obs=float(attrs["clip_obs"]),
        clip_reward=float(attrs.get("clip_reward", 10.0)),
        gamma=float(attrs.get("gamma", 0.99)),
        epsilon=float(attrs.get("epsilon", 1e-8)),
    )


def _apply_vecnormalize(agent: PPO | A2C | DQN, stats: VecNormalizeStats, path: Any) -> None:
    """Puts ``stats`` into the agent's normaliser (which ``normalize_obs``/``normalize_reward`` created), in the
    form its model file keeps them (``Normalizer.load_arrays``)."""
    norm = agent.normalizer
    if norm is None:
        return
    if norm.obs_rms is not None and stats.obs[0].shape != norm.obs_rms.mean.shape:
        raise SB3ZipError(
            f"{path}: observation statistics of shape {stats.obs[0].shape}, the model's observations "
            f"{norm.obs_rms.mean.shape}"
        )

    def state(mean: np.ndarray, var: np.ndarray, count: float) -> np.ndarray:  # RunningNormalizer.state's layout
        shape = mean.shape if mean.ndim == 0 else norm.obs_shape  # a Box the agent flattens: its encoded shape
        mean, var = np.reshape(mean, shape), np.reshape(var, shape)
        return np.stack([mean, var, np.full_like(mean, count)])

    norm.load_arrays(
        {
            "norm_settings": np.array([stats.clip_obs, stats.clip_reward, stats.epsilon, stats.gamma]),
            "obs_rms": state(*stats.obs),
            "ret_rms": state(*stats.ret),
        }
    )


class RestrictedUnpickler(pickle.Unpickler):
    """A ``pickle.Unpickler`` that resolves only the globals in ``allowed`` (to the objects given there).

    Args:
        file: The pickle's bytes, as a binary file.
        allowed: (module, name) -> the object to use for that global.
        storages: For ``persistent_load``: storage key -> the storage's bytes (torch's zip records); ``None``
            refuses persistent ids.
        what: Named in error messages (e.g. ``"model.zip: policy.pth"``).

    Raises:
        UnsafePickleError: From ``load``, for any other global (naming it) or a malformed persistent id.
    """

    def __init__(
        self,
        file: io.BufferedIOBase,
        allowed: dict[tuple[str, str], Any],
        storages: Callable[[str], bytes] | None = None,
        what: str = "pickle",
    ) -> None:
        super().__init__(file)
        self.allowed, self.storages, self.what = allowed, storages, what

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self.allowed:
            return self.allowed[(module, name)]
        raise UnsafePickleError(
            f"{self.what} refers to the global {module}.{name}, which reading weights never needs; refusing to "
            f"load it (allowed: {', '.join(sorted(f'{m}.{n}' for m, n in self.allowed))})"
        )

    def persistent_load(self, pid: Any) -> Any:
        if self.storages is None or not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise UnsafePickleError(f"{self.what} holds an unexpected persistent id {pid!r:.80}")
        _, storage_type, key, _location, numel = pid
        if not isinstance(storage_type, _StorageType):
            raise UnsafePickleError(f"{self.what}: storage {key!r} has no torch storage type")
        data = self.storages(str(key))
        if len(data) != int(numel) * storage_type.dtype.itemsize:
            raise SB3ZipError(
                f"{self.what}: storage {key!r} holds {len(data)} bytes, expected {numel} {storage_type.name} elements"
            )
        return np.frombuffer(data, dtype=storage_type.dtype)


def read_state_dict(pth: bytes, what: str = "policy.pth") -> dict[str, np.ndarray]:
    """The tensors of a ``torch.save``'d state dict (zip format), as numpy arrays, without torch.

    Args:
        pth: The file's bytes.
        what: Named in error messages.

    Raises:
        UnsafePickleError: The pickle names a global other than the tensor-rebuild ones.
        SB3ZipError: Not a torch zip archive, or a storage record is missing or short.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(pth))
    except zipfile.BadZipFile:
        raise SB3ZipError(f"{what} is not a torch zip archive (saved with torch < 1.6?)") from None
    names = archive.namelist()
    pkl = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
    if len(pkl) != 1:
        raise SB3ZipError(f"{what}: expected one data.pkl in the archive, found {len(pkl)}")
    prefix = pkl[0][: -len("data.pkl")]
    big_endian = archive.read(prefix + "byteorder").strip() == b"big" if prefix + "byteorder" in names else False

    def storage(key: str) -> bytes:
        record = f"{prefix}data/{key}"
        if record not in names:
            raise SB3ZipError(f"{what}: storage record {record} is missing")
        return archive.read(record)

    state = RestrictedUnpickler(io.BytesIO(archive.read(pkl[0])), STATE_DICT_GLOBALS, storage, what).load()
    if not isinstance(state, dict) or not all(isinstance(v, np.ndarray) for v in state.values()):
        raise SB3ZipError(f"{what} does not hold a state dict of tensors")
    return {str(k): v.byteswap() if big_endian else v for k, v in state.items()}  # stored big-endian: swap


def read_sb3_zip(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(the ``data`` JSON, the policy's tensors by state-dict key) of an SB3 model zip.

    Raises:
        SB3ZipError: Not an SB3 zip (no ``data`` or ``policy.pth``), or a part that cannot be read.
    """
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            if "data" not in names or "policy.pth" not in names:
                raise SB3ZipError(f"{path}: not a Stable-Baselines3 model zip (needs data and policy.pth)")
            data = json.loads(z.read("data"))
            pth = z.read("policy.pth")
    except zipfile.BadZipFile:
        raise SB3ZipError(f"{path}: not a zip file") from None
    return data, read_state_dict(pth, f"{path}: policy.pth")


def _space(d: Any, what: str) -> gym.Space:
    """A Box, Discrete, MultiDiscrete or MultiBinary space from its entry in SB3's ``data`` JSON.

    Raises:
        SB3ZipError: Another type of space (Dict, Tuple, ...: naming it and the supported ones), a description
            without the fields its type needs, or a Discrete / MultiDiscrete space with a non-zero ``start``: SB3
            ignores the start (its policy's actions are indices from 0, its one-hot observations assume values
            from 0), while nngym adds it to actions and subtracts it from observations, so the agent would act
            otherwise.
    """
    if not isinstance(d, dict):
        raise SB3ZipError(f"{what}: no space description")
    kind = _class_name(d.get(":type:"))
    if kind not in SPACES:
        raise SB3ZipError(
            f"{what}: a {kind or str(d.get(':type:'))} space is not supported (supported: Box, Discrete, "
            "MultiDiscrete and MultiBinary)"
        )

    def field(name: str) -> Any:
        if name not in d:
            raise SB3ZipError(f"{what}: the {kind} space's description has no {name!r}")
        return d[name]

    try:
        if kind == "Box":
            return _box(d, field("dtype"), field("_shape"), what)
        if kind == "MultiBinary":
            n = field("n")
            return gym.spaces.MultiBinary([int(k) for k in n] if isinstance(n, list) else int(n))
        if kind == "Discrete":
            space = gym.spaces.Discrete(int(field("n")), start=int(d.get("start", 0)))
        else:  # MultiDiscrete: nvec and start printed by numpy ("[3 4]")
            shape = tuple(int(k) for k in field("_shape"))
            nvec = _readable_array(field("nvec"), shape, np.dtype(np.int64), what, "nvec")
            start = _readable_array(d.get("start", "0"), shape, np.dtype(np.int64), what, "start")
            space = gym.spaces.MultiDiscrete(nvec, dtype=np.dtype(field("dtype")), start=start)
    except SB3ZipError:
        raise
    except (TypeError, ValueError) as e:  # a field of another form than SB3 writes
        raise SB3ZipError(f"{what}: the {kind} space's description cannot be read ({e})") from None
    if np.any(space.start != 0):
        raise SB3ZipError(
            f"{what}: {space} has a non-zero start, which SB3 ignores (its actions are indices from 0, its one-hot "
            "observations assume values from 0) and nngym does not; not supported"
        )
    return space


def _box(d: dict[str, Any], dtype: Any, shape: Any, what: str) -> gym.spaces.Box:
    """A Box from its description: the exact bounds of its cloudpickled form, else the readable ones."""
    dtype, shape = np.dtype(dtype), tuple(int(s) for s in shape)
    try:
        raw = base64.b64decode(d[":serialized:"].encode())
        state = RestrictedUnpickler(io.BytesIO(raw), SPACE_GLOBALS, what=what).load().state
        low, high = np.asarray(state["low"], dtype=dtype), np.asarray(state["high"], dtype=dtype)
    except UnsafePickleError:
        raise
    except Exception:  # noqa: BLE001 - another pickle layout: the readable bounds, when complete
        low, high = (
            _readable_array(d.get("low"), shape, dtype, what),
            _readable_array(d.get("high"), shape, dtype, what),
        )
    return gym.spaces.Box(low.reshape(shape), high.reshape(shape), dtype=dtype)


def _readable_array(text: Any, shape: tuple[int, ...], dtype: np.dtype, what: str, name: str = "bounds") -> np.ndarray:
    """An array from numpy's printed form (``"[-4.8 -inf 0.41887903 -inf]"``), if nothing was elided."""
    if not isinstance(text, str) or "..." in text:
        raise SB3ZipError(f"{what}: the space's {name} cannot be read")
    values = np.array([float(v) for v in text.replace("[", " ").replace("]", " ").split()], dtype=dtype)
    if values.size == 1:
        return np.full(shape, values[0], dtype=dtype)
    return values.reshape(shape)


def _class_name(text: Any) -> str:
    """``"<class 'torch.nn.modules.activation.ReLU'>"`` -> ``"ReLU"`` ("" for anything else)."""
    m = re.fullmatch(r"<class '([\w.]+)'>", str(text)) if text is not None else None
    return m.group(1).rsplit(".", 1)[-1] if m else ""


def _linear_layers(state: dict[str, np.ndarray], prefix: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """[(weight (out, in), bias (out,))] of the ``nn.Linear`` layers ``<prefix><i>.weight`` in index order."""
    idx = sorted({int(m.group(1)) for k in state if (m := re.fullmatch(rf"{re.escape(prefix)}(\d+)\.weight", k))})
    return [(state[f"{prefix}{i}.weight"], state[f"{prefix}{i}.bias"]) for i in idx]


def _dense(weight: np.ndarray, bias: np.ndarray) -> Dense:
    layer = Dense(weight.shape[1], weight.shape[0], np.random.default_rng(0))
    layer.params["W"][...] = weight
    layer.params["b"][...] = bias
    return layer


def _mlp_layers(linears: list[tuple[np.ndarray, np.ndarray]], activation: type[Layer]) -> list[Layer]:
    """Dense + activation per hidden layer (SB3's ``MlpExtractor`` / ``create_mlp``)."""
    layers: list[Layer] = []
    for w, b in linears:
        layers += [_dense(w, b), activation()]
    return layers


def _nature_cnn(state: dict[str, np.ndarray], prefix: str) -> list[Layer]:
    """SB3's ``NatureCNN`` (convolutions 8x8 stride 4, 4x4 stride 2, 3x3 stride 1, each + ReLU, flatten,
    a Linear + ReLU) as nngym layers with the weights under ``prefix`` (e.g. ``features_extractor.``)."""
    layers: list[Layer] = []
    convs = [(state[f"{prefix}cnn.{i}.weight"], state[f"{prefix}cnn.{i}.bias"]) for i in (0, 2, 4)]
    for (w, b), stride in zip(convs, (4, 2, 1), strict=True):
        conv = Conv2D(w.shape[1], w.shape[0], tuple(w.shape[2:]), np.random.default_rng(0), stride=stride)
        conv.params["W"][...] = w
        conv.params["b"][...] = b
        layers += [conv, ReLU()]
    return [*layers, Flatten(), *_mlp_layers(_linear_layers(state, f"{prefix}linear."), ReLU)]


def _image_input(observation_space: gym.Space, normalize_images: bool, cnn: bool) -> list[Layer]:
    """SB3's observation preprocessing: images (uint8 0..255, ``is_image_space``) divided by 255 if
    ``normalize_images``. Any other 3-D Box reaches nngym's networks flattened (``agents.common.spaces``): nothing
    for SB3's FlattenExtractor, and for its NatureCNN (which SB3 runs on such observations with
    ``normalize_images=False``) back in their shape, unscaled."""
    if not (isinstance(observation_space, gym.spaces.Box) and len(observation_space.shape) == 3):
        return []
    if not is_image_space(observation_space):
        return [Unflatten(observation_space.shape), ImageScale(1.0)] if cnn else []
    return [ImageScale(1.0 / 255.0 if normalize_images else 1.0)]


def _features(
    state: dict[str, np.ndarray], prefix: str, extractor: str, observation_space: gym.Space, normalize_images: bool
) -> list[Layer]:
    """The features extractor's layers (with the input scaling): ``[ImageScale], Flatten`` or NatureCNN."""
    head = _image_input(observation_space, normalize_images, cnn=extractor == "NatureCNN")
    if extractor in ("", "FlattenExtractor"):
        if any(k.startswith(prefix) for k in state):
            raise SB3ZipError(f"the features extractor {prefix!r} has weights; expected none for FlattenExtractor")
        return [*head, Flatten()] if head else []
    if extractor == "NatureCNN":
        return [*head, *_nature_cnn(state, prefix)]
    raise SB3ZipError(
        f"features extractor {extractor} is not supported; expected FlattenExtractor (MlpPolicy) or NatureCNN "
        "(CnnPolicy)"
    )


def _hyperparams(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """The zip's plain numbers and booleans that are fields of ``cls.Config`` (and constant schedules)."""
    out: dict[str, Any] = {}
    for field in dataclasses.fields(cls.Config):
        value = data.get(field.name)
        if isinstance(value, dict):  # a schedule: keep a constant one (SB3's readable "ConstantSchedule(val=x)")
            m = re.search(r"ConstantSchedule\(val=([-+0-9.eE]+)\)", str(value.get("value_schedule", "")))
            value = float(m.group(1)) if m else None
        if value is None and field.name == "learning_rate":
            continue
        if isinstance(value, bool | int | float) or (value is None and field.name in ("target_kl", "clip_range_vf")):
            out[field.name] = value
    if cls is A2C:  # SB3's A2C keeps its optimiser choice in policy_kwargs
        pk = data.get("policy_kwargs") or {}
        out["use_rms_prop"] = _class_name(pk.get("optimizer_class")) in ("", "RMSprop")
        eps = (pk.get("optimizer_kwargs") or {}).get("eps") if isinstance(pk.get("optimizer_kwargs"), dict) else None
        if out["use_rms_prop"] and isinstance(eps, float):
            out["rms_prop_eps"] = eps
    return out


def _algorithm(data: dict[str, Any], state: dict[str, np.ndarray], algo: str | None, path: Any) -> str:
    if algo is not None:
        if algo.upper() not in AGENTS:
            raise SB3ZipError(f"algo must be one of {sorted(AGENTS)}, got {algo!r}")
        return algo.upper()
    if any(k.startswith("lstm_") or ".lstm" in k for k in state):
        raise SB3ZipError(f"{path}: a recurrent policy (sb3-contrib's RecurrentPPO) is not supported")
    if any(k.startswith("q_net.") for k in state):
        return "DQN"
    if "action_net.weight" not in state:
        raise SB3ZipError(f"{path}: neither an actor-critic (action_net) nor a Q-network (q_net) policy")
    return "PPO" if "clip_range" in data or "n_epochs" in data else "A2C"


def load_sb3(
    path: str | os.PathLike,
    env: str | gym.Env | gym.vector.VectorEnv | None = None,
    algo: str | None = None,
    vecnormalize: str | os.PathLike | None = None,
    **kwargs: Any,
) -> PPO | A2C | DQN:
    """An nngym agent with the networks and weights of an SB3 PPO, A2C or DQN model zip; no torch or SB3 needed.

    Args:
        path: The ``.zip`` SB3's ``model.save`` wrote.
        env: Env to train on from here (its spaces must match the zip's); ``None`` gives an agent that predicts.
        algo: ``"PPO"``, ``"A2C"`` or ``"DQN"``; default: told by the zip (a Q-network is DQN, an actor-critic
            with ``clip_range`` is PPO, else A2C).
        vecnormalize: The file ``VecNormalize.save`` wrote for this model (the zoo's ``vecnormalize.pkl``): the
            agent then normalises observations (and scales rewards, if SB3 did) with those statistics
            (``normalize_obs``/``normalize_reward``, saved in nngym's model file, frozen at ``predict``).
        **kwargs: Passed to the agent (``seed``, ``log_dir``, ``verbose``, ``tensorboard_log``) and
            hyperparameter overrides.

    Returns:
        The agent; ``predict(obs, deterministic=True)`` gives SB3's deterministic actions (Box actions
        clipped to the action space, as SB3's ``predict`` does).

    Raises:
        UnsafePickleError: A pickle in the file names a global that reading weights never needs.
        SB3ZipError: Not an SB3 zip, or a policy this loader does not support (the message says what).
    """
    data, state = read_sb3_zip(path)
    name = _algorithm(data, state, algo, path)
    cls = AGENTS[name]
    obs_space = _space(data.get("observation_space"), f"{path}: observation_space")
    act_space = _space(data.get("action_space"), f"{path}: action_space")
    if data.get("use_sde"):
        raise SB3ZipError(f"{path}: gSDE policies (use_sde=True) are not supported")
    pk = data.get("policy_kwargs") or {}
    default_act = "ReLU" if name == "DQN" else "Tanh"
    act_name = _class_name(pk.get("activation_fn")) or default_act
    if act_name not in ACTIVATIONS:
        raise SB3ZipError(
            f"{path}: activation {act_name} has no nngym layer; supported: {', '.join(sorted(ACTIVATIONS))}"
        )
    activation, act_key = ACTIVATIONS[act_name]
    cnn = any(".cnn." in k or k.startswith("features_extractor.cnn") for k in state)
    extractor = _class_name(pk.get("features_extractor_class")) or ("NatureCNN" if cnn else "")
    normalize_images = bool(pk.get("normalize_images", True))
    fields = {f.name for f in dataclasses.fields(cls.Config)}
    config = {**_hyperparams(cls, data), **{k: v for k, v in kwargs.items() if k in fields}}
    stats = read_vecnormalize(vecnormalize) if vecnormalize is not None else None
    if stats is not None:
        config.update(normalize_obs=stats.norm_obs, normalize_reward=stats.norm_reward)
    agent_kwargs = {k: v for k, v in kwargs.items() if k not in fields}
    agent_kwargs.setdefault("seed", int(data.get("seed") or 0))
    if name == "DQN":
        features = {
            key: _features(state, f"{prefix}.features_extractor.", extractor, obs_space, normalize_images)
            for key, prefix in (("q", "q_net"), ("q_target", "q_net_target"))
        }
        nets = {
            key: Sequential(features[key] + _head(state, f"{prefix}.q_net.", activation))
            for key, prefix in (("q", "q_net"), ("q_target", "q_net_target"))
        }
        hidden = [w.shape[0] for w, _ in _linear_layers(state, "q_net.q_net.")[:-1]]
        given = {"q": nets["q"]}
    else:
        pi_arch = [w.shape[0] for w, _ in _linear_layers(state, "mlp_extractor.policy_net.")]
        pi_head = [
            *_mlp_layers(_linear_layers(state, "mlp_extractor.policy_net."), activation),
            _dense(state["action_net.weight"], state["action_net.bias"]),
        ]
        vf_head = [
            *_mlp_layers(_linear_layers(state, "mlp_extractor.value_net."), activation),
            _dense(state["value_net.weight"], state["value_net.bias"]),
        ]
        vf_keys = [k for k in state if k.startswith("vf_features_extractor.")]
        shared = all(np.array_equal(state[k], state.get("pi" + k[2:], np.empty(0))) for k in vf_keys)
        if extractor == "NatureCNN" and shared:  # nngym's shared trunk with linear (or MLP) heads
            trunk = Sequential(_features(state, "features_extractor.", extractor, obs_space, normalize_images))
            nets = {"trunk": trunk, "pi": Sequential(pi_head), "vf": Sequential(vf_head)}
        else:
            pi_in = _features(
                state,
                "pi_features_extractor." if not shared else "features_extractor.",
                extractor,
                obs_space,
                normalize_images,
            )
            vf_in = _features(
                state,
                "vf_features_extractor." if not shared else "features_extractor.",
                extractor,
                obs_space,
                normalize_images,
            )
            nets = {"pi": Sequential(pi_in + pi_head), "vf": Sequential(vf_in + vf_head)}
        hidden, given = pi_arch, nets
    config.update(net_arch=tuple(hidden), activation=act_key)
    # nngym's own "mlp" networks when they have the same layers (a plain nngym agent), else the networks as given
    agent = cls(env, net="mlp", _spaces=(obs_space, act_space), **agent_kwargs, **config) if not cnn else None
    if agent is None or any(_layout(agent._nets()[k]) != _layout(nets[k]) for k in nets):
        agent = cls(env, net=given, _spaces=(obs_space, act_space), **agent_kwargs, **config)
    if (agent.observation_space, agent.action_space) != (obs_space, act_space):
        raise SB3ZipError(
            f"{path}: the model's spaces {obs_space}, {act_space} differ from the env's "
            f"{agent.observation_space}, {agent.action_space}"
        )
    for key, net in nets.items():
        agent._nets()[key].load_state_dict(net.state_dict())
    if "log_std" in state:
        agent.policy.log_std[...] = state["log_std"]
    if stats is not None:
        _apply_vecnormalize(agent, stats, vecnormalize)
    agent.num_timesteps = int(data.get("num_timesteps") or 0)
    return agent


def _head(state: dict[str, np.ndarray], prefix: str, activation: type[Layer]) -> list[Layer]:
    """SB3's ``create_mlp`` (Linear + activation per hidden layer, then a linear output) under ``prefix``."""
    linears = _linear_layers(state, prefix)
    if not linears:
        raise SB3ZipError(f"no Linear layers under {prefix!r}")
    return [*_mlp_layers(linears[:-1], activation), _dense(*linears[-1])]


def _layout(net: Sequential) -> list[tuple[Any, ...]]:
    """What makes two networks compute the same function from the same parameters: layer types, parameter
    shapes and (for the input scaling, convolutions and pools) their configuration."""
    out = []
    for layer in net.layers:
        shapes = tuple((k, p.shape) for k, p in layer.params.items())
        config = layer.config() if not isinstance(layer, Dense) else None
        out.append((type(layer).__name__, shapes, json.dumps(config, sort_keys=True, default=str)))
    return out
