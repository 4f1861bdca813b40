"""Export a saved policy as ONNX, to run it without Python's nngym (ONNX Runtime, a browser, a robot).

    python scripts/export.py runs/ppo_CartPole-v1_s0/model.npz --onnx ppo_cartpole.onnx
    python scripts/export.py sb3_model.zip --onnx policy.onnx      # an SB3 zip, read without torch

MODEL is an nngym model file (or an SB3 PPO/A2C/DQN zip, ``agents.experiments.models.load_model``). The
graph (``agents.common.onnx_export``) takes ``obs`` float32 (N, *observation shape) and gives ``action``
(deterministic, as ``predict``), ``value`` (actor-critics), ``logits`` / ``mean`` or ``q_values``. With
onnxruntime installed, the file is checked on ``--check`` random observations against ``predict``
(``pip install -e ".[onnx]"``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from agents.common.onnx_export import export_onnx
from agents.common.spaces import encode_observations
from agents.experiments.cli import non_negative_int, reported_as_errors, writing
from agents.experiments.models import load_model


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", metavar="MODEL", help="nngym model file (.npz) or SB3 model zip")
    p.add_argument("--onnx", required=True, metavar="OUT", help="the .onnx file to write")
    p.add_argument(
        "--check", type=non_negative_int, default=1000, help="observations to compare with predict (0: none)"
    )
    return p.parse_args(argv)


def sample_observations(space: gym.spaces.Box, n: int, seed: int = 0) -> np.ndarray:
    """n float32 observations (n, *shape): uniform in finite bounds, N(0, 1) where unbounded, pixel values 0..255."""
    rng = np.random.default_rng(seed)
    if space.dtype == np.uint8:
        return rng.integers(0, 256, (n, *space.shape)).astype(np.float32)
    low, high = np.broadcast_to(space.low, space.shape), np.broadcast_to(space.high, space.shape)
    finite = np.isfinite(low) & np.isfinite(high)
    uniform = rng.uniform(np.where(finite, low, 0.0), np.where(finite, high, 1.0), (n, *space.shape))
    return np.where(finite, uniform, rng.normal(size=(n, *space.shape))).astype(np.float32)


def check_onnx(agent: Any, path: Path, n: int = 1000) -> dict[str, float]:
    """Max |ONNX − nngym| over ``n`` observations for the action (and the value, also relative to max(|V|, 1)),
    run by onnxruntime.

    Raises:
        ImportError: Without onnxruntime.
    """
    import onnxruntime as ort

    obs = sample_observations(agent.observation_space, n)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    got = dict(zip(names, session.run(None, {"obs": obs}), strict=True))
    action, _ = agent.predict(obs, deterministic=True)
    out = {"action": float(np.max(np.abs(got["action"].astype(np.float64) - action)))}
    if "value" in got:
        encoded, _ = encode_observations(agent.observation_space, obs, "check_onnx")
        values = agent.policy.values(agent._normalize_obs(encoded))
        out["value"] = float(np.max(np.abs(got["value"] - values)))
        out["value (relative)"] = float(np.max(np.abs(got["value"] - values) / np.maximum(np.abs(values), 1.0)))
    return out


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(argv)
    with reported_as_errors():  # a missing or corrupt model file
        agent = load_model(args.model)
    try:
        with writing(args.onnx):
            out = export_onnx(agent, args.onnx)
    except (ValueError, ImportError) as err:  # raised before anything is written: a model it cannot export, no onnx
        raise SystemExit(f"error: {args.model}: {err}") from None
    print(f"{args.model}: {agent.algo} policy -> {out}")
    if args.check:
        try:
            diffs = check_onnx(agent, out, args.check)
        except ImportError:
            print('not checked: onnxruntime is missing (pip install -e ".[onnx]")')
        else:
            shown = ", ".join(f"{k} {v:.2g}" for k, v in diffs.items())
            print(f"checked on {args.check} observations with onnxruntime: max |ONNX - predict| {shown}")
    return out


if __name__ == "__main__":
    main()
