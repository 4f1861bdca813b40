"""ONNX export of an agent's policy: the deterministic action (and V(s) for actor-critics) as an ONNX graph.

``export_onnx(agent, "policy.onnx")`` writes a graph built with the ``onnx`` package's helper API (no torch):

- input ``obs``: float32 (N, *observation shape), what ``agent.predict`` takes (uint8 pixels as their
  values 0..255: the graph scales them as the policy's first layer does);
- outputs, for PPO / A2C / REINFORCE: ``action`` as ``predict(obs, deterministic=True)`` gives it (see
  ``agents.common.spaces.to_env_actions``), the actor's raw output and ``value`` (N,):

  - Discrete(K): ``action`` (N,) int64, the arg-max of ``logits`` (N, K) plus the space's ``start`` (1, 2, 3 for
    ``Discrete(3, start=1)``);
  - MultiDiscrete(nvec): ``action`` (N, D) int64, ``logits`` (N, Σ nvec) split into the D parts' sizes, the arg-max
    of each part plus that part's ``start``;
  - MultiBinary(D): ``action`` (N, D) in the space's dtype (int8), 1 where the logit is > 0 (probability > ½) and 0
    elsewhere, ``logits`` (N, D);
  - 1-D Box(D): ``action`` (N, D) float32, the Gaussian's ``mean`` (N, D) clipped to the action space;

  for DQN: ``action`` (N,) int64 (arg-max of the Q-values plus ``start``) and ``q_values`` (N, K).

The networks map layer for layer (``agents.common.policies`` lays them out: separate actor and critic
``Sequential`` networks, or a shared trunk computed once with ``pi``/``vf`` heads; DQN's ``q``): ``ImageScale``
→ Transpose (channels-last images) + Mul, ``Unflatten`` → Reshape, ``Dense`` → Gemm, ``Conv2D`` → Conv,
``MaxPool2D`` → MaxPool, ``L2Pool2D`` → LpPool(p=2), ``Flatten`` → Flatten, Tanh / ReLU / Sigmoid / Softmax → their
operators, GELU → x · ½ (1 + Erf(x / √2)), ``Dropout`` → nothing (inference). Observation normalisation
(``normalize_obs``) becomes Sub, Div and Clip with the frozen statistics. A Box observation that is neither 1-D nor
an image (SB3's rule: a 3-D Box of dtype uint8 with bounds 0 and 255) is flattened first, as ``predict`` encodes it
(``agents.common.spaces.passes_through``); a CNN on such a 3-D Box takes it back in its shape (Reshape). Recurrent
policies (LSTM state) and Discrete / MultiDiscrete / MultiBinary / Dict / Tuple observations are not exported (a
ValueError says so before anything is written).

Needs ``pip install -e ".[onnx]"`` (onnx, and onnxruntime to run the file).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from agents.common.cnn import ImageScale, Unflatten
from agents.common.spaces import passes_through
from nngym.activations import GELU, ReLU, Sigmoid, Softmax, Tanh
from nngym.conv import Conv2D
from nngym.dense import Dense
from nngym.dropout import Dropout
from nngym.network import Sequential
from nngym.pooling import L2Pool2D, MaxPool2D
from nngym.reshape import Flatten

#: Shown when the onnx package is missing.
ONNX_MISSING = 'ONNX export needs the onnx package (and onnxruntime to run the file): pip install -e ".[onnx]"'
#: The operator set the graphs use (ONNX Runtime 1.14 and later run it).
OPSET = 17


def _onnx() -> Any:
    try:
        import onnx
    except ImportError as err:
        raise ImportError(ONNX_MISSING) from err
    return onnx


class _Graph:
    """Nodes and initializers under construction, with fresh tensor names."""

    def __init__(self, onnx: Any) -> None:
        self.onnx, self.helper = onnx, onnx.helper
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._n = 0

    def name(self, hint: str) -> str:
        self._n += 1
        return f"{hint}_{self._n}"

    def const(self, value: np.ndarray, hint: str) -> str:
        name = self.name(hint)
        self.initializers.append(self.onnx.numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], hint: str | None = None, output: str | None = None, **attrs: Any) -> str:
        out = output or self.name(hint or op.lower())
        self.nodes.append(self.helper.make_node(op, inputs, [out], name=self.name(op), **attrs))
        return out


def _layer(g: _Graph, layer: Any, x: str, prefix: str) -> str:
    """Adds one nngym layer's operators after tensor ``x``; returns the output tensor's name.

    Raises:
        ValueError: For a layer type without an ONNX counterpart here (naming it).
    """
    kind = type(layer)
    if kind is ImageScale:
        if layer.channels_last:
            x = g.node("Transpose", [x], "nchw", perm=[0, 3, 1, 2])
        return g.node("Mul", [x, g.const(np.float32(layer.scale), f"{prefix}scale")], "scaled")
    if kind is Unflatten:
        return g.node("Reshape", [x, g.const(np.array([-1, *layer.shape], dtype=np.int64), f"{prefix}shape")], "box")
    if kind is Dense:
        w, b = layer.params["W"].astype(np.float32), layer.params["b"].astype(np.float32)
        return g.node("Gemm", [x, g.const(w, f"{prefix}W"), g.const(b, f"{prefix}b")], "dense", transB=1)
    if kind is Conv2D:
        w, b = layer.params["W"].astype(np.float32), layer.params["b"].astype(np.float32)
        ph, pw = layer.padding
        return g.node(
            "Conv",
            [x, g.const(w, f"{prefix}W"), g.const(b, f"{prefix}b")],
            "conv",
            kernel_shape=list(layer.kernel),
            strides=list(layer.stride),
            pads=[ph, pw, ph, pw],
        )
    if kind in (MaxPool2D, L2Pool2D):
        attrs = {"kernel_shape": list(layer.size), "strides": list(layer.stride)}
        if kind is L2Pool2D:
            return g.node("LpPool", [x], "l2pool", p=2, **attrs)
        return g.node("MaxPool", [x], "maxpool", **attrs)
    if kind is Flatten:
        return g.node("Flatten", [x], "flat", axis=1)
    if kind is Tanh:
        return g.node("Tanh", [x])
    if kind is ReLU:
        return g.node("Relu", [x])
    if kind is Sigmoid:
        return g.node("Sigmoid", [x])
    if kind is Softmax:
        return g.node("Softmax", [x], axis=-1)
    if kind is GELU:  # x Φ(x) = x · ½ (1 + erf(x / √2)) (ONNX's own Gelu operator needs opset 20)
        dt = layer.dtype
        erf = g.node("Erf", [g.node("Mul", [x, g.const(np.array(np.sqrt(0.5), dt), "sqrt_half")])])
        cdf = g.node(
            "Mul", [g.node("Add", [erf, g.const(np.array(1.0, dt), "one")]), g.const(np.array(0.5, dt), "half")]
        )
        return g.node("Mul", [x, cdf])
    if kind is Dropout:
        return x
    raise ValueError(
        f"no ONNX export for layer {kind.__name__}; supported: ImageScale, Unflatten, Dense, Conv2D, MaxPool2D, "
        "L2Pool2D, Flatten, Tanh, ReLU, Sigmoid, Softmax, GELU, Dropout"
    )


def _network(g: _Graph, net: Sequential, x: str, prefix: str) -> str:
    for i, layer in enumerate(net.layers):
        x = _layer(g, layer, x, f"{prefix}{i}_")
    return x


def _normalized_input(g: _Graph, agent: Any, x: str) -> str:
    """The frozen observation normalisation of ``normalize_obs`` (clip((o − μ) / sqrt(σ² + ε), ±c)), if any."""
    rms = getattr(agent, "obs_rms", None)
    if rms is None:
        return x
    mean = np.asarray(rms.mean, dtype=np.float32)
    std = np.sqrt(np.asarray(rms.var, dtype=np.float64) + rms.epsilon).astype(np.float32)
    x = g.node("Sub", [x, g.const(mean, "obs_mean")], "centred")
    x = g.node("Div", [x, g.const(std, "obs_std")], "whitened")
    c = np.float32(rms.clip)
    return g.node("Clip", [x, g.const(-c, "clip_low"), g.const(c, "clip_high")], "normalized_obs")


def _discrete_action(g: _Graph, scores: str, space: gym.spaces.Discrete) -> None:
    """``action`` (N,) int64: the arg-max of ``scores`` (N, K) plus the space's ``start``, as ``predict`` gives it
    (``agents.common.spaces.to_env_actions``)."""
    start = int(space.start)
    if start == 0:
        g.node("ArgMax", [scores], output="action", axis=1, keepdims=0)
        return
    index = g.node("ArgMax", [scores], "index", axis=1, keepdims=0)
    g.node("Add", [index, g.const(np.array(start, dtype=np.int64), "action_start")], output="action")


def _multi_discrete_action(g: _Graph, logits: str, space: gym.spaces.MultiDiscrete) -> None:
    """``action`` (N, D) int64: ``logits`` (N, Σ nvec) split into the D parts' sizes, the arg-max of each part plus
    the part's ``start``, as ``predict`` gives it (``MultiCategorical.mode``, then ``to_env_actions``)."""
    nvec = np.asarray(space.nvec, dtype=np.int64).reshape(-1)
    start = np.asarray(space.start, dtype=np.int64).reshape(-1)
    parts = [logits]
    if len(nvec) > 1:
        names = [g.name("part") for _ in nvec]
        g.nodes.append(
            g.helper.make_node("Split", [logits, g.const(nvec, "part_sizes")], names, name=g.name("Split"), axis=1)
        )
        parts = names
    indices = [g.node("ArgMax", [part], "part_index", axis=1, keepdims=1) for part in parts]  # (N, 1) each
    if not np.any(start):
        g.node("Concat", indices, output="action", axis=1)
        return
    index = g.node("Concat", indices, "index", axis=1)
    g.node("Add", [index, g.const(start, "action_start")], output="action")


def _multi_binary_action(g: _Graph, logits: str, space: gym.spaces.MultiBinary) -> None:
    """``action`` (N, D) in the space's dtype: 1 where ``logits`` (N, D) > 0 (probability > ½), as ``predict`` gives
    it (``Bernoulli.mode``, then ``to_env_actions``)."""
    positive = g.node("Greater", [logits, g.const(np.array(0.0, dtype=np.float32), "zero")], "positive")
    g.node("Cast", [positive], output="action", to=g.helper.np_dtype_to_tensor_dtype(np.dtype(space.dtype)))


def check_exportable(agent: Any) -> None:
    """Raises a ValueError naming what ``agent`` is (or has) and what ONNX export supports, if it cannot be exported.

    Supported: nngym's PPO, A2C, REINFORCE and DQN (feed-forward policies) with Box observations and Discrete,
    1-D MultiDiscrete, 1-D MultiBinary or 1-D Box actions.
    """
    name = type(agent).__name__
    sb3_adapter = type(agent).__module__ == "agents.baselines.sb3"
    nngym_agent = (hasattr(agent, "policy") or hasattr(agent, "q_net")) and hasattr(agent, "observation_space")
    if getattr(agent, "algo", "") == "RecurrentPPO" or sb3_adapter or not nngym_agent:
        raise ValueError(
            "ONNX export covers nngym's PPO, A2C, REINFORCE and DQN (feed-forward policies); got "
            f"{name}{' (an SB3 adapter model, train.py --impl sb3)' if sb3_adapter else ''}"
        )
    obs_space, act_space = agent.observation_space, agent.action_space
    if not isinstance(obs_space, gym.spaces.Box):
        raise ValueError(
            f"ONNX export supports Box observations only; {name} has observation space {obs_space} "
            f"({type(obs_space).__name__})"
        )
    vector = (gym.spaces.Box, gym.spaces.MultiDiscrete, gym.spaces.MultiBinary)
    if not (
        isinstance(act_space, gym.spaces.Discrete) or (isinstance(act_space, vector) and len(act_space.shape) == 1)
    ):
        raise ValueError(
            "ONNX export supports Discrete, 1-D MultiDiscrete, 1-D MultiBinary or 1-D Box actions only; "
            f"{name} has action space {act_space} ({type(act_space).__name__} of shape {act_space.shape})"
        )


def export_onnx(agent: Any, path: str | os.PathLike, opset: int = OPSET) -> Path:
    """Writes ``agent``'s deterministic policy (and value) as an ONNX model; see the module docstring.

    Args:
        agent: An nngym PPO, A2C, REINFORCE (``agent.policy``, an ``ActorCriticPolicy``) or DQN (``agent.q_net``).
        path: The ``.onnx`` file to write.
        opset: ONNX operator set version.

    Returns:
        The path written.

    Raises:
        ImportError: Without the onnx package (naming the extra to install).
        ValueError: For a recurrent agent, another kind of model, observation or action space than supported
            (``check_exportable``), or a layer without an ONNX counterpart; nothing is written then.
    """
    onnx = _onnx()
    check_exportable(agent)
    g = _Graph(onnx)
    h = onnx.helper
    obs_shape = list(agent.observation_space.shape)
    obs = "obs"
    if not passes_through(agent.observation_space):  # encoded as predict does: flattened to (N, D)
        obs = g.node("Flatten", [obs], "flat_obs", axis=1)
    obs = _normalized_input(g, agent, obs)
    outputs = []
    space = agent.action_space
    if hasattr(agent, "q_net"):  # DQN
        q = g.node("Identity", [_network(g, agent.q_net.q, obs, "q")], output="q_values")
        _discrete_action(g, q, space)
        outputs += [
            ("action", onnx.TensorProto.INT64, ["N"]),
            ("q_values", onnx.TensorProto.FLOAT, ["N", int(space.n)]),
        ]
    else:
        policy = agent.policy
        if policy.trunk is not None:  # the shared features once, then both heads
            features = _network(g, policy.trunk, obs, "trunk")
            out = _network(g, policy.pi, features, "pi")
            value = _network(g, policy.vf, features, "vf")
        else:
            out, value = _network(g, policy.actor, obs, "pi"), _network(g, policy.critic, obs, "vf")
        if isinstance(space, gym.spaces.Discrete | gym.spaces.MultiDiscrete | gym.spaces.MultiBinary):
            g.node("Identity", [out], output="logits")
            if isinstance(space, gym.spaces.Discrete):
                _discrete_action(g, "logits", space)
                action_dtype, action_shape, k = onnx.TensorProto.INT64, ["N"], int(space.n)
            elif isinstance(space, gym.spaces.MultiDiscrete):
                _multi_discrete_action(g, "logits", space)
                action_dtype, action_shape = onnx.TensorProto.INT64, ["N", int(space.nvec.size)]
                k = int(space.nvec.sum())
            else:
                _multi_binary_action(g, "logits", space)
                action_dtype = h.np_dtype_to_tensor_dtype(np.dtype(space.dtype))
                action_shape, k = ["N", int(space.shape[0])], int(space.shape[0])
            outputs += [("action", action_dtype, action_shape), ("logits", onnx.TensorProto.FLOAT, ["N", k])]
        else:
            g.node("Identity", [out], output="mean")
            low, high = space.low.astype(np.float32), space.high.astype(np.float32)
            clipped = g.node("Min", ["mean", g.const(high, "action_high")], "below_high")
            g.node("Max", [clipped, g.const(low, "action_low")], output="action")
            d = int(space.shape[0])
            outputs += [("action", onnx.TensorProto.FLOAT, ["N", d]), ("mean", onnx.TensorProto.FLOAT, ["N", d])]
        g.node("Reshape", [value, g.const(np.array([-1], dtype=np.int64), "flat_shape")], output="value")
        outputs.append(("value", onnx.TensorProto.FLOAT, ["N"]))
    graph = h.make_graph(
        g.nodes,
        f"nngym_{getattr(agent, 'algo', 'agent').lower()}_policy",
        [h.make_tensor_value_info("obs", onnx.TensorProto.FLOAT, ["N", *obs_shape])],
        [h.make_tensor_value_info(name, dtype, shape) for name, dtype, shape in outputs],
        initializer=g.initializers,
    )
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", opset)], producer_name="nngym")
    model.ir_version = 8  # what ONNX Runtime 1.14 and later read
    model.doc_string = (
        f"{getattr(agent, 'algo', '')} policy on {getattr(agent, 'env_id', '') or 'its env'}: input obs float32 "
        f"(N, {', '.join(map(str, obs_shape))}); outputs {', '.join(name for name, _, _ in outputs)}"
    )
    onnx.checker.check_model(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path
