"""Export a saved policy as ONNX, to run it without Python's nngym (ONNX Runtime, a browser, a robot).

    python scripts/export.py runs/ppo_CartPole-v1_s0/model.npz --onnx ppo_cartpole.onnx
    python scripts/export.py sb3_model.zip --onnx policy.onnx      # an SB3 zip, read without torch
    python scripts/export.py sb3_model.zip --onnx policy.onnx --vecnormalize vecnormalize.pkl

MODEL is an nngym model file (or an SB3 PPO/A2C/DQN zip, ``agents.experiments.models.load_model``). The
graph (``agents.common.onnx_export``) takes ``obs`` float32 (N, *observation shape) and gives ``action``
(deterministic, as ``predict(obs, deterministic=True)``), ``value`` (actor-critics), ``logits`` / ``mean`` or
``q_values``. With onnxruntime installed, the file is checked on ``--check`` random observations against
``predict`` (``pip install -e ".[onnx]"``): every output must be within ``TOLERANCE`` (1e-3) of nngym's, relative
to max(|nngym's|, 1), and every Discrete, MultiDiscrete or MultiBinary action equal to ``predict``'s, but at a
near-tie: where nngym's logits (or Q-values) of the two actions are no further apart than the two outputs' ONNX
rounding errors, which may break the tie either way. Each part of a MultiDiscrete action is compared so, and each
entry of a MultiBinary one as the choice between 0 (score 0) and 1 (score: its logit). Otherwise the command ends
with an ``error:`` line saying what disagrees; the file is written all the same, to inspect.

An SB3 zip trained behind ``VecNormalize`` needs its statistics, ``--vecnormalize vecnormalize.pkl`` (as for
scripts/convert_sb3.py): the graph then normalises raw observations itself. Without the option, a statistics file
found with the zip (``vecnormalize.pkl`` or the Hugging Face hub's ``vec_normalize.pkl`` next to it, the zoo's
``<folder>/<env>/vecnormalize.pkl``) is not applied: a warning names it.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from agents.common.onnx_export import export_onnx
from agents.common.policies import infer
from agents.common.spaces import encode_observations
from agents.experiments.cli import non_negative_int, reported_as_errors, writing
from agents.experiments.convert_sb3 import add_vecnormalize_option, vecnormalize_for, warn_unapplied_vecnormalize
from agents.experiments.models import load_model

#: Allowed |ONNX − nngym| of the check, relative to max(|nngym's|, 1): float32 arithmetic in another order (ONNX
#: Runtime's kernels) stays well within it, even for a CNN on unscaled pixel values 0..255 (below 1e-4 measured).
TOLERANCE = 1e-3


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", metavar="MODEL", help="nngym model file (.npz) or SB3 model zip")
    p.add_argument("--onnx", required=True, metavar="OUT", help="the .onnx file to write")
    p.add_argument(
        "--check", type=non_negative_int, default=1000, help="observations to compare with predict (0: none)"
    )
    add_vecnormalize_option(p)
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


@dataclasses.dataclass(frozen=True)
class OnnxCheck:
    """What ``check_onnx`` found on ``n`` observations.

    Attributes:
        n: Observations compared.
        errors: max |ONNX − nngym| / max(|nngym|, 1) per output compared: ``action`` (Box actions), ``logits``,
            ``mean`` or ``q_values``, and ``value`` (actor-critics).
        actions_differ: Discrete, MultiDiscrete and MultiBinary actions: observations whose ONNX action is not
            ``predict``'s, near-ties excepted.
        near_ties: Discrete, MultiDiscrete and MultiBinary actions: observations whose actions differ only where
            nngym's logits (or Q-values) of the two choices are no further apart than the ONNX errors of those two
            outputs (each counted up to the tolerance): rounding broke a tie.
        tolerance: The tolerance of ``errors``, relative to max(|nngym's|, 1).
    """

    n: int
    errors: dict[str, float]
    actions_differ: int = 0
    near_ties: int = 0
    tolerance: float = TOLERANCE

    def problems(self) -> list[str]:
        """What disagrees with ``predict``: actions that differ, outputs off by more than the tolerance (or NaN)."""
        out = [f"actions differ on {self.actions_differ} of {self.n} observations"] if self.actions_differ else []
        return out + [f"{k} off by {v:.2g}" for k, v in self.errors.items() if not v <= self.tolerance]

    def summary(self) -> str:
        """One line of what was compared and found."""
        shown = ", ".join(f"{k} {v:.2g}" for k, v in self.errors.items())
        errors = f"max |ONNX - nngym| / max(|nngym|, 1): {shown} (tolerance {self.tolerance:g})"
        if "action" in self.errors:  # Box actions: compared as numbers
            return errors
        equal = self.n - self.actions_differ - self.near_ties
        ties = f" ({self.near_ties} more differ at near-ties)" if self.near_ties else ""
        return f"actions equal predict's on {equal} of {self.n}{ties}; {errors}"


def _relative_error(got: np.ndarray, want: np.ndarray) -> float:
    """max |got − want| / max(|want|, 1) (NaN if ``got`` has a NaN)."""
    want = np.asarray(want, dtype=np.float64)
    err = np.abs(np.asarray(got, dtype=np.float64) - want) / np.maximum(np.abs(want), 1.0)
    return float(np.max(err)) if err.size else 0.0


def _choice_differences(
    mine: np.ndarray, theirs: np.ndarray, scores: np.ndarray, onnx_scores: np.ndarray, tolerance: float
) -> tuple[np.ndarray, np.ndarray]:
    """Where one categorical choice of ONNX differs from ``predict``'s, and where that is a near-tie.

    Args:
        mine: ``predict``'s indices (N,), the arg-max of ``scores``.
        theirs: ONNX's indices (N,) (any integers: one outside 0..K-1 differs, and is no tie).
        scores: nngym's scores of the K choices (N, K).
        onnx_scores: ONNX's scores (N, K).
        tolerance: The check's tolerance, relative to max(|nngym's|, 1): an ONNX error is counted up to it.

    Returns:
        (unequal (N,) bool, near-tie (N,) bool): a near-tie where nngym's scores of the two choices are no further
        apart than their ONNX errors (rounding may break the tie either way).
    """
    rows = np.arange(len(mine))
    valid = (theirs >= 0) & (theirs < scores.shape[1])  # an index of the choices at all
    other = np.where(valid, theirs, mine)
    # each output's ONNX error, up to the tolerance (wrong scores explain no tie), (N, K)
    rounding = np.minimum(np.abs(onnx_scores - scores), tolerance * np.maximum(np.abs(scores), 1.0))
    gap = scores[rows, mine] - scores[rows, other]  # >= 0: predict's choice has the top score
    eps = 4 * np.finfo(np.float32).eps * np.maximum(np.abs(scores[rows, mine]), 1.0)
    tie = valid & (gap <= rounding[rows, mine] + rounding[rows, other] + eps)
    return mine != theirs, tie


def _compare_choices(
    space: gym.Space,
    action: np.ndarray,
    onnx_action: np.ndarray,
    scores: np.ndarray,
    onnx_scores: np.ndarray,
    tolerance: float,
) -> tuple[int, int]:
    """(observations whose ONNX action differs from ``predict``'s, near-ties excepted; those that differ only at
    near-ties) for Discrete, MultiDiscrete and MultiBinary actions.

    Each categorical choice is compared as ``_choice_differences`` does: the Discrete action; each part of a
    MultiDiscrete one (its slice of the logits, without its ``start``); each entry of a MultiBinary one, a choice
    between 0 (score 0) and 1 (score: its logit), as ``logit > 0`` decides it. An observation differs if any of its
    choices differs beyond a near-tie. An ONNX action of another shape than ``predict``'s differs everywhere.

    Args:
        space: The action space.
        action: ``predict``'s deterministic actions, (N,) or (N, D).
        onnx_action: The ONNX file's ``action`` output.
        scores: nngym's logits (or Q-values), (N, K) or (N, Σ nvec) or (N, D).
        onnx_scores: The ONNX file's logits (or Q-values), of the same shape.
        tolerance: The check's tolerance, relative to max(|nngym's|, 1).
    """
    n = len(action)
    if onnx_action.shape != action.shape:
        return n, 0
    mine, theirs = action.astype(np.int64).reshape(n, -1), onnx_action.astype(np.int64).reshape(n, -1)
    n_parts = mine.shape[1]
    if isinstance(space, gym.spaces.MultiBinary):
        zero = np.zeros((n, 1), scores.dtype)  # entry d: the scores (0, logit_d) of its choices 0 and 1
        parts = [(np.hstack([zero, scores[:, [d]]]), np.hstack([zero, onnx_scores[:, [d]]])) for d in range(n_parts)]
        start = np.zeros(n_parts, dtype=np.int64)
    else:
        sizes = np.asarray([space.n] if isinstance(space, gym.spaces.Discrete) else space.nvec, np.int64).reshape(-1)
        bounds = np.cumsum(sizes)[:-1]
        parts = list(zip(np.split(scores, bounds, axis=1), np.split(onnx_scores, bounds, axis=1), strict=True))
        start = np.asarray(space.start, dtype=np.int64).reshape(-1)
    unequal, tie = np.zeros((n, len(parts)), bool), np.zeros((n, len(parts)), bool)
    for d, (part, onnx_part) in enumerate(parts):
        unequal[:, d], tie[:, d] = _choice_differences(
            mine[:, d] - start[d], theirs[:, d] - start[d], part, onnx_part, tolerance
        )
    differs = np.any(unequal & ~tie, axis=1)
    return int(np.sum(differs)), int(np.sum(np.any(unequal, axis=1) & ~differs))


def check_onnx(agent: Any, path: Path, n: int = 1000, tolerance: float = TOLERANCE) -> OnnxCheck:
    """Runs the ONNX file with onnxruntime on ``n`` observations (``sample_observations``) and compares its outputs
    with ``agent``'s: ``predict``'s deterministic actions, the actor's logits / means or the Q-values, V(s).

    Args:
        agent: The exported agent.
        path: The ``.onnx`` file ``export_onnx`` wrote for it.
        n: Observations to compare on, >= 1.
        tolerance: Allowed |ONNX − nngym| relative to max(|nngym's|, 1).

    Returns:
        What was found; ``problems()`` is empty when the file agrees.

    Raises:
        ImportError: Without onnxruntime.
    """
    import onnxruntime as ort

    obs = sample_observations(agent.observation_space, n)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    got = dict(zip(names, session.run(None, {"obs": obs}), strict=True))
    action, _ = agent.predict(obs, deterministic=True)
    encoded, _ = encode_observations(agent.observation_space, obs, "check_onnx")
    normed = agent._normalize_obs(encoded)
    errors: dict[str, float] = {}
    if "q_values" in got:
        scores_name, scores = "q_values", agent.q_net.forward(normed)
    else:
        scores_name, scores = ("logits" if "logits" in got else "mean"), infer(agent.policy.actor, normed)
    space = agent.action_space
    differ = ties = 0
    if isinstance(space, gym.spaces.Discrete | gym.spaces.MultiDiscrete | gym.spaces.MultiBinary):
        differ, ties = _compare_choices(space, action, got["action"], scores, got[scores_name], tolerance)
    else:
        errors["action"] = _relative_error(got["action"], action)
    errors[scores_name] = _relative_error(got[scores_name], scores)
    if "value" in got:
        errors["value"] = _relative_error(got["value"], agent.policy.values(normed))
    return OnnxCheck(len(obs), errors, differ, ties, tolerance)


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(argv)
    vecnormalize = vecnormalize_for(args.model, args.vecnormalize)
    with reported_as_errors():  # a missing or corrupt model file
        agent = load_model(args.model, **({"vecnormalize": vecnormalize} if vecnormalize is not None else {}))
    warn_unapplied_vecnormalize(args.model, vecnormalize)
    try:
        with writing(args.onnx):
            out = export_onnx(agent, args.onnx)
    except (ValueError, ImportError) as err:  # raised before anything is written: a model it cannot export, no onnx
        raise SystemExit(f"error: {args.model}: {err}") from None
    print(f"{args.model}: {agent.algo} policy -> {out}")
    if args.check:
        try:
            found = check_onnx(agent, out, args.check)
        except ImportError:
            print('not checked: onnxruntime is missing (pip install -e ".[onnx]")')
            return out
        if found.problems():
            raise SystemExit(
                f"error: {out} was written but disagrees with predict on the {found.n} checked observations: "
                f"{'; '.join(found.problems())} (tolerance {found.tolerance:g}, relative to max(|nngym's|, 1))"
            )
        print(f"checked on {found.n} observations with onnxruntime: {found.summary()}")
    return out


if __name__ == "__main__":
    main()
