"""Hyperparameter search with Ray Tune for any nngym agent, with ASHA early stopping.

The ``tune`` section of a sweep file::

    tune:
      algo: ppo
      env: CartPole-v1
      total_timesteps: 30000       # per trial, at most
      report_every: 5000           # env steps between evaluations reported to Tune
      n_eval_episodes: 5
      num_samples: 8               # trials
      seed: 0
      search_space:                # Tune distributions by name
        learning_rate: {loguniform: [0.0001, 0.003]}
        n_steps: {choice: [16, 32, 64]}
      asha: {grace_period: 2, reduction_factor: 2}   # in reports
      output: best.yml             # written under the log directory

Each trial trains the agent with the algorithm's YAML hyperparameters for the env, updated by
the trial's sample; a callback evaluates it every ``report_every`` env steps and reports
``eval_return`` to Tune, whose ASHA scheduler stops the weak trials early. The best
configuration is written as a hyperparameter YAML in rl-baselines3-zoo's layout
(``{env_id: {...}}``) that ``scripts/train.py --hyperparams-file`` accepts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import yaml

from agents import ALGOS, load_hyperparams
from agents.common.callbacks import BaseCallback
from agents.common.evaluation import evaluate_episodes
from agents.experiments.sweep_file import SweepError, check_envs, check_hyperparams

TUNE_KEYS = {
    "algo",
    "env",
    "total_timesteps",
    "report_every",
    "n_eval_episodes",
    "num_samples",
    "seed",
    "search_space",
    "asha",
    "output",
    "max_concurrent",
}
DISTRIBUTIONS = ("uniform", "loguniform", "choice", "randint", "grid")
#: What the ``asha`` mapping may set (arguments of Ray's ASHAScheduler; ``max_t`` comes from the budget).
ASHA_KEYS = {"grace_period", "reduction_factor", "brackets", "stop_last_trials"}


class TuneReportCallback(BaseCallback):
    """Evaluates the agent every ``report_every`` env steps and reports ``eval_return`` to Ray Tune.

    Args:
        eval_env: Env id for evaluation (a separate env).
        report_every: Env steps between reports.
        n_eval_episodes: Deterministic episodes per evaluation.
        seed: Seed of the evaluation episodes.
    """

    def __init__(self, eval_env: str, report_every: int, n_eval_episodes: int, seed: int = 12345) -> None:
        super().__init__()
        self.eval_env, self.report_every, self.n_eval_episodes, self.seed = (
            eval_env,
            report_every,
            n_eval_episodes,
            seed,
        )
        self._next = report_every

    def _on_step(self) -> bool:
        if self.agent.num_timesteps < self._next:
            return True
        self._next += self.report_every
        from ray import tune

        returns = evaluate_episodes(self.agent, self.eval_env, self.n_eval_episodes, True, self.seed)
        tune.report({"eval_return": float(np.mean(returns)), "timesteps": int(self.agent.num_timesteps)})
        return True


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value)


def check_distribution(key: str, dist: Any) -> None:
    """Checks one ``search_space`` entry before Ray sees it: ``{uniform: [low, high]}`` (low <= high),
    ``{loguniform: [low, high]}`` (0 < low < high), ``{randint: [low, high]}`` (integers, low < high; high
    excluded), ``{choice: [...]}`` or ``{grid: [...]}`` (a non-empty list).

    Raises:
        SweepError: Naming the hyperparameter, the distribution and what its arguments must be.
    """
    where = f"tune: search_space.{key}"
    if not (isinstance(dist, dict) and len(dist) == 1 and next(iter(dist)) in DISTRIBUTIONS):
        raise SweepError(f"{where} must be one of {list(DISTRIBUTIONS)} with its arguments, got {dist!r}")
    ((kind, args),) = dist.items()
    if kind in ("choice", "grid"):
        if not isinstance(args, list) or not args:
            raise SweepError(f"{where}: {kind} needs a non-empty list of values, got {args!r}")
        return
    is_bound = _is_int if kind == "randint" else _is_number
    if not (isinstance(args, list) and len(args) == 2 and all(is_bound(a) for a in args)):
        what = "integers" if kind == "randint" else "finite numbers"
        raise SweepError(f"{where}: {kind} needs [low, high], two {what}, got {args!r}")
    low, high = args
    if kind == "loguniform" and not 0 < low < high:
        raise SweepError(f"{where}: loguniform needs bounds 0 < low < high, got low {low} and high {high}")
    if kind == "randint" and not low < high:
        raise SweepError(f"{where}: randint needs low < high (high is excluded), got low {low} and high {high}")
    if kind == "uniform" and not low <= high:
        raise SweepError(f"{where}: uniform needs low <= high, got low {low} and high {high}")


def check_tune(cfg: dict[str, Any]) -> dict[str, Any]:
    """Validates a ``tune`` section; returns it with defaults filled in.

    Raises:
        SweepError: (a ValueError) For unknown keys, an unknown algorithm or env, a malformed search space or
            distribution, or counts that are not positive integers, naming the key and the value.
    """
    if not isinstance(cfg, dict):
        raise SweepError(f"tune: expected a mapping of {sorted(TUNE_KEYS)}, got {cfg!r}")
    unknown = sorted(set(cfg) - TUNE_KEYS)
    if unknown:
        raise SweepError(f"tune: unknown keys {unknown}; allowed: {sorted(TUNE_KEYS)}")
    if cfg.get("algo") not in ALGOS:
        raise SweepError(f"tune: algo must be one of {sorted(ALGOS)}, got {cfg.get('algo')!r}")
    if "env" not in cfg:
        raise SweepError("tune: missing 'env' (the env id to tune on, e.g. env: CartPole-v1)")
    check_envs([str(cfg["env"])], "tune")
    space = cfg.get("search_space")
    if not isinstance(space, dict) or not space:
        raise SweepError("tune: 'search_space' must map hyperparameters to distributions, e.g. {choice: [16, 32]}")
    check_hyperparams(space, [cfg["algo"]], "tune")
    for key, dist in space.items():
        check_distribution(key, dist)
    out = {
        "total_timesteps": 30_000,
        "report_every": 5_000,
        "n_eval_episodes": 5,
        "num_samples": 8,
        "seed": 0,
        "asha": {},
        "output": "best.yml",
        **cfg,
    }
    for key in ("total_timesteps", "report_every", "n_eval_episodes", "num_samples"):
        if not _is_int(out[key]) or out[key] < 1:
            raise SweepError(f"tune: {key} must be an integer >= 1, got {out[key]!r}")
    if not _is_int(out["seed"]) or out["seed"] < 0:
        raise SweepError(f"tune: seed must be an integer >= 0, got {out['seed']!r}")
    if out.get("max_concurrent") is not None and (not _is_int(out["max_concurrent"]) or out["max_concurrent"] < 1):
        raise SweepError(f"tune: max_concurrent must be an integer >= 1, got {out['max_concurrent']!r}")
    if not isinstance(out["asha"], dict) or set(out["asha"]) - ASHA_KEYS:
        raise SweepError(f"tune: asha must be a mapping of {sorted(ASHA_KEYS)}, got {out['asha']!r}")
    if not isinstance(out["output"], str) or not out["output"]:
        raise SweepError(f"tune: output must be a file name, got {out['output']!r}")
    if out["total_timesteps"] < out["report_every"]:
        default = " (the default)" if "report_every" not in cfg else ""
        raise SweepError(
            f"tune: need 0 < report_every <= total_timesteps, got report_every {out['report_every']}{default} and "
            f"total_timesteps {out['total_timesteps']}"
        )
    check_asha(out["asha"], out["total_timesteps"] // out["report_every"])
    return out


def check_asha(asha: dict[str, Any], reports: int) -> None:
    """Checks the ``asha`` mapping against a trial's ``reports`` (total_timesteps // report_every), as Ray's
    ASHAScheduler would assert.

    Raises:
        SweepError: Naming the key and its value.
    """
    grace = asha.get("grace_period", 1)
    if not _is_int(grace) or not 1 <= grace <= reports:
        raise SweepError(
            f"tune: asha.grace_period must be an integer from 1 to the reports per trial "
            f"(total_timesteps // report_every = {reports}), got {grace!r}"
        )
    factor = asha.get("reduction_factor", 2)
    if not _is_number(factor) or factor <= 1:
        raise SweepError(f"tune: asha.reduction_factor must be a number > 1, got {factor!r}")
    brackets = asha.get("brackets", 1)
    if not _is_int(brackets) or brackets < 1:
        raise SweepError(f"tune: asha.brackets must be an integer >= 1, got {brackets!r}")
    if not isinstance(asha.get("stop_last_trials", True), bool):
        raise SweepError(f"tune: asha.stop_last_trials must be true or false, got {asha['stop_last_trials']!r}")


def _param_space(space: dict[str, dict[str, Any]]) -> dict[str, Any]:
    from ray import tune

    out = {}
    for key, dist in space.items():
        ((kind, args),) = dist.items()
        if kind in ("choice", "grid"):
            out[key] = (tune.choice if kind == "choice" else tune.grid_search)(list(args))
        else:
            out[key] = getattr(tune, kind)(*args)
    return out


def _trainable(config: dict[str, Any], algo: str, env: str, base: dict[str, Any], cfg: dict[str, Any]) -> None:

    agent = ALGOS[algo](env, seed=cfg["seed"], **{**base, **config})
    callback = TuneReportCallback(env, cfg["report_every"], cfg["n_eval_episodes"], seed=10_000 + cfg["seed"])
    agent.learn(cfg["total_timesteps"], callback=callback)


def run_tune(tune_cfg: dict[str, Any], log_dir: str | Path, address: str | None = None) -> tuple[dict, Path]:
    """Runs the search; writes the best configuration as zoo-style YAML.

    Returns:
        ``(best hyperparameters, path of the YAML written)``.
    """
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    cfg = check_tune(tune_cfg)
    algo, env = cfg["algo"], cfg["env"]
    base = load_hyperparams(algo, env)
    base.pop("n_timesteps", None)
    log_dir = Path(log_dir).resolve()
    log_dir.mkdir(parents=True, exist_ok=True)
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    try:
        max_t = cfg["total_timesteps"] // cfg["report_every"]
        scheduler = ASHAScheduler(
            time_attr="training_iteration", max_t=max_t, **{"grace_period": 1, "reduction_factor": 2, **cfg["asha"]}
        )
        trainable = tune.with_parameters(_trainable, algo=algo, env=env, base=base, cfg=cfg)
        tuner = tune.Tuner(
            tune.with_resources(trainable, {"cpu": 1}),
            param_space=_param_space(cfg["search_space"]),
            tune_config=tune.TuneConfig(
                metric="eval_return",
                mode="max",
                scheduler=scheduler,
                num_samples=cfg["num_samples"],
                max_concurrent_trials=cfg.get("max_concurrent"),
            ),
            run_config=tune.RunConfig(name="tune", storage_path=str(log_dir), verbose=0),
        )
        results = tuner.fit()
        best = results.get_best_result(metric="eval_return", mode="max")
    finally:
        if started_here:
            ray.shutdown()
    best_hp = {k: (v.item() if hasattr(v, "item") else v) for k, v in best.config.items()}
    table = {env: {"n_timesteps": cfg["total_timesteps"], **_plain(base), **best_hp}}
    out = log_dir / cfg["output"]
    header = f"# Ray Tune best of {cfg['num_samples']} trials, eval_return {best.metrics['eval_return']:.1f}\n"
    out.write_text(header + yaml.safe_dump(table, sort_keys=False))
    return best_hp, out


def _plain(hp: dict[str, Any]) -> dict[str, Any]:
    """YAML-safe values in the zoo's layout (``net_arch`` under ``policy_kwargs``, tuples as lists)."""
    out = {k: list(v) if isinstance(v, tuple) else v for k, v in hp.items() if k != "net_arch"}
    if "net_arch" in hp:
        out["policy_kwargs"] = {"net_arch": list(hp["net_arch"])}
    return out
