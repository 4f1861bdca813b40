"""Train an nngym agent with the zoo-style hyperparameters, evaluate it, save it and plot its reward curve.

    python scripts/train.py     # the project's main job: PPO + nngym CNN on DigitClassify, about a minute

With no arguments: PPO with the nngym CNN (``net: cnn`` in agents/hyperparams/ppo.yml) learns to label
MNIST digits from rewards alone (``nngym/DigitClassify-v0``), with a progress bar, and ends with the
deterministic policy's accuracy on all 10,000 test images and runs/ppo_nngym-DigitClassify-v0_s0/reward_curve.png.
On DigitClassify every run reports ``test_accuracy``; ``--accuracy-freq`` also logs it during training
(accuracy.csv: steps, training seconds, accuracy).

    python scripts/train.py --algo ppo --env CartPole-v1 --seed 0 --total-timesteps 100000 --log-dir runs/ --progress
    python scripts/train.py --impl sb3 --algo ppo --env CartPole-v1 --seed 0   # Stable-Baselines3, same yml

``--impl sb3`` trains Stable-Baselines3's algorithm (``agents.baselines.sb3``) with the same hyperparameters
and writes the same files (model.npz holds the torch policy's tensors).

Writes to ``<log-dir>/<algo>_<env>_s<seed>/`` (a "/" in the env id becomes "-"): monitor.csv, progress.csv, model.npz,
eval.json, reward_curve.png (and checkpoints/ with --checkpoint-freq). eval.json has the wall-clock seconds of
``learn`` (train_seconds, steps_per_second) and its CPU seconds (train_cpu_seconds, steps_per_cpu_second: the
process's CPU time, which pre-emption by other processes does not inflate, summed over threads).
``--num-threads`` (the zoo's option) sets the threads of nngym's agents (``BaseAgent.num_threads``: a CNN's
batches are split across them, other networks get as many BLAS threads), the torch threads of SB3's. The
default, -1, gives nngym's CNN agents and DQN every core the process may run on (``taskset -c 0`` makes it one;
DQN runs its target network's passes on a second thread) and its other MLP agents one, where threads were
measured not to pay; SB3's torch every core, as its default. A run is
reproducible for a given thread count; another count rounds differently, so ``--num-threads 1`` reproduces a
one-thread run on any machine.
Resume a killed run with ``--resume <checkpoint.npz>``: it continues to the same total number of steps, and
monitor.csv's ``t`` goes on from the checkpoint's last episode (the time between the two runs is not counted).
``--total-timesteps 0`` trains nothing, as SB3's ``learn(0)``: the initial policy (or the checkpoint's) is saved,
evaluated and plotted. ``--n-eval-episodes 0`` skips the evaluation (eval.json's eval_mean and eval_std are null);
eval.json's n_eval_episodes says how many episodes were evaluated.
Evaluation episodes of an env without a time limit are cut after 10,000 steps, with a warning
(``agents.common.evaluation.run_episodes``).

rl-baselines3-zoo's option names work too: ``-n``/``--n-timesteps``, ``-f``/``--log-folder``, ``-tb``,
``--save-freq``, ``-conf``/``--conf-file`` and ``-params`` with its ``KEY:VALUE`` pairs
(``-params n_steps:64 learning_rate:lin_0.001``); the run directory is nngym's, ``<log-dir>/<algo>_<env>_s<seed>/``.

``-p KEY=VALUE`` overrides are merged into the yml's entry and translated with it (``agents.common.hyperparams``),
so the zoo's keys work there too: ``-p "policy_kwargs=dict(net_arch=[32])" normalize=true``. An env id of
gymnasium's ``module:EnvId`` form imports ``module`` from the current directory (or the installed packages).

    python scripts/train.py --algo ppo --env CartPole-v1 --tensorboard-log runs/tb && tensorboard --logdir runs/tb

``--tensorboard-log DIR`` also writes progress.csv's keys (SB3's names) at the same steps as TensorBoard event
files, one run directory ``DIR/<ALGO>_<n>`` per training, as SB3 does (``pip install -e ".[tensorboard]"``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import envs  # noqa: F401 - registers the nngym/ env ids
from agents import ALGOS, CheckpointCallback, EvalCallback, evaluate_episodes
from agents.common.callbacks import AccuracyCallback
from agents.common.evaluation import classification_accuracy
from agents.common.hyperparams import ENV_KEYS, load_hyperparams
from agents.common.vec_env import make_vec_env
from agents.experiments.cli import (
    check_threads,
    env_id,
    env_slug,
    non_negative_int,
    parse_key_values,
    positive_int,
    reported_as_errors,
    zoo_aliases,
)
from agents.experiments.models import load_model
from agents.experiments.plotting import plot_training_curve
from envs.wrappers import zoo_wrappers
from nngym.parallel import available_cores


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--algo", default="ppo", choices=sorted(ALGOS))
    p.add_argument("--impl", default="nngym", choices=["nngym", "sb3"], help="nngym's agents or Stable-Baselines3's")
    p.add_argument(
        "--env",
        type=env_id,
        default="nngym/DigitClassify-v0",
        help="env id; module:EnvId imports module (from the current directory) to register EnvId",
    )
    p.add_argument(
        "--env-kwargs",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="gym.make arguments for training and evaluation envs, YAML values, e.g. length=50 (nngym agents only)",
    )
    p.add_argument(
        "--eval-env-kwargs",
        nargs="*",
        default=None,
        metavar="KEY=VALUE",
        help="gym.make arguments for the evaluation envs instead of --env-kwargs, e.g. max_shift=0 (nngym agents only)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--total-timesteps",
        type=non_negative_int,
        default=None,
        help="env steps in all (with --resume: counting the checkpoint's); default: the yml's n_timesteps; 0 trains "
        "nothing, as SB3's learn(0): the initial policy is saved and evaluated",
    )
    p.add_argument("--log-dir", default="runs/")
    p.add_argument(
        "--tensorboard-log",
        default=None,
        metavar="DIR",
        help="also write the logged values as TensorBoard event files to DIR/<ALGO>_<n> (needs the tensorboard extra)",
    )
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="tqdm progress bar")
    p.add_argument(
        "--accuracy-freq",
        type=non_negative_int,
        default=0,
        help="DigitClassify: test accuracy every this many env steps (0: off)",
    )
    p.add_argument("--stop-accuracy", type=float, default=None, help="with --accuracy-freq: stop once reached")
    p.add_argument(
        "--num-threads",
        type=int,
        default=-1,
        help="threads of nngym's agents (torch threads of SB3's) while learning; -1: nngym's CNN agents and DQN every "
        "core this process may run on, its other MLP agents one (SB3: every core, torch's default)",
    )
    p.add_argument("--verbose", type=int, default=0)
    p.add_argument(
        "--n-eval-episodes",
        type=non_negative_int,
        default=20,
        help="deterministic evaluation episodes of the final (and best) model; 0 skips the evaluation",
    )
    p.add_argument(
        "--eval-freq",
        type=non_negative_int,
        default=0,
        help="EvalCallback every this many vector steps (0: off); it keeps best_model.npz, which is evaluated "
        "like the final model at the end (eval.json's best_model)",
    )
    p.add_argument(
        "--eval-episodes", type=positive_int, default=5, help="episodes per periodic evaluation (--eval-freq)"
    )
    p.add_argument(
        "--checkpoint-freq",
        type=non_negative_int,
        default=0,
        help="checkpoint every this many vector steps (0: off)",
    )
    p.add_argument("--resume", default=None, help="checkpoint file to continue from")
    p.add_argument(
        "--hyperparams-file",
        default=None,
        help="zoo-style YAML to read instead of agents/hyperparams/<algo>.yml",
    )
    p.add_argument(
        "-p",
        "--hyperparams",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="overrides, YAML values, merged into the yml's entry and translated with it, e.g. gamma=0.98 "
        '"policy_kwargs=dict(net_arch=[32])" normalize=true',
    )
    # rl-baselines3-zoo's names of the same options (not in --help: errors name the option as typed)
    zoo_aliases(
        p,
        {
            ("-n", "--n-timesteps"): ("total_timesteps", {"type": non_negative_int}),
            ("-f", "--log-folder"): ("log_dir", {}),
            ("-tb",): ("tensorboard_log", {}),
            ("--save-freq",): ("checkpoint_freq", {"type": non_negative_int}),
            ("-conf", "--conf-file"): ("hyperparams_file", {}),
            ("-params",): ("hyperparams", {"nargs": "*"}),
        },
    )
    return p.parse_args(argv)


@dataclasses.dataclass
class RunHyperparameters:
    """What a run of the train runner trains with (``run_hyperparameters``)."""

    agent: dict[str, Any]
    """The agent's keyword arguments."""
    n_timesteps: int
    """The entry's n_timesteps (100,000 without one): the env steps unless --total-timesteps says otherwise."""
    wrapping: dict[str, Any]
    """The entry's ``env_wrapper`` / ``frame_stack`` (those that are set), for whoever builds the env."""
    dropped: list[str]
    """With ``impl="sb3"``: the entry's nngym-only keys left out (no SB3 counterpart)."""

    def recorded(self) -> dict[str, Any]:
        """The agent's arguments as eval.json records them (``"hyperparams"``: JSON, tuples as lists)."""
        return json.loads(json.dumps({k: list(v) if isinstance(v, tuple) else v for k, v in self.agent.items()}))


def run_hyperparameters(
    algo: str,
    env: str,
    hyperparams_file: str | None = None,
    overrides: Sequence[str] = (),
    impl: str = "nngym",
) -> RunHyperparameters:
    """The hyperparameters a run trains with: the yml's entry for ``env`` with the ``-p`` overrides merged in,
    translated together (``agents.common.hyperparams.load_hyperparams``); what ``train.py``, the population trainer
    and ``compare.py`` (to decide whether a finished run can be reused) all read.

    Args:
        algo: Algorithm name.
        env: Env id.
        hyperparams_file: A zoo-style YAML instead of ``agents/hyperparams/<algo>.yml``.
        overrides: ``KEY=VALUE`` pairs (YAML values), as ``-p`` takes them.
        impl: ``"sb3"`` leaves out the entry's nngym-only keys (``agents.baselines.sb3.sb3_hyperparams``);
            asked for with ``-p`` they stay, and SB3 refuses them.

    Raises:
        HyperparamsError: A key that cannot be honoured, or an env id without an entry (a ValueError).
        SystemExit: A pair that is not ``KEY=VALUE``.
    """
    given = parse_key_values(list(overrides), "--hyperparams")
    fields = [f.name for f in dataclasses.fields(ALGOS[algo].Config)] if algo in ALGOS else None
    hp = load_hyperparams(algo, env, hyperparams_file, fields, given)
    n_timesteps = int(hp.pop("n_timesteps", 100_000))
    wrapping = {k: v for k in ENV_KEYS if (v := hp.pop(k, None)) is not None}
    dropped: list[str] = []
    if impl == "sb3" and hp:  # the yml's nngym-only options (DQN's double_q); asked for with -p they still raise
        from agents.baselines.sb3 import sb3_hyperparams

        _, dropped = sb3_hyperparams(algo, {k: v for k, v in hp.items() if k not in given})
        hp = {k: v for k, v in hp.items() if k not in dropped}
    return RunHyperparameters(hp, n_timesteps, wrapping, dropped)


def plot_rewards(run_dir: Path, title: str) -> Path:
    """The run's training curve, ``reward_curve.png`` (``agents.experiments.plotting.plot_training_curve``: for
    one-step episodes such as DigitClassify's the running accuracy and the test-accuracy points, else the
    episode returns, their moving mean, the reward threshold and the final evaluation)."""
    return plot_training_curve(run_dir, title)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    threads = check_threads(args.num_threads, "as many as pay")
    with reported_as_errors():
        config = run_hyperparameters(args.algo, args.env, args.hyperparams_file, args.hyperparams, args.impl)
    hp, wrapping = config.agent, config.wrapping
    wrappers = zoo_wrappers(wrapping.get("env_wrapper"), wrapping.get("frame_stack"))
    if config.dropped:
        print(f"--impl sb3: the yml's {config.dropped} dropped (no SB3 counterpart)", flush=True)
    total = config.n_timesteps if args.total_timesteps is None else args.total_timesteps
    run_dir = Path(args.log_dir) / f"{args.algo}_{env_slug(args.env)}_s{args.seed}"
    if args.impl == "sb3":
        from agents.baselines.sb3 import SB3_ALGOS

        if args.algo not in SB3_ALGOS:
            raise SystemExit(
                f"error: --impl sb3: no SB3 baseline for {args.algo!r}; expected one of {sorted(SB3_ALGOS)}"
            )
        cls = SB3_ALGOS[args.algo]
    else:
        cls = ALGOS[args.algo]
    env_kwargs = parse_key_values(args.env_kwargs, "--env-kwargs")
    given_eval_kwargs = args.eval_env_kwargs is not None
    eval_env_kwargs = parse_key_values(args.eval_env_kwargs, "--eval-env-kwargs") if given_eval_kwargs else env_kwargs
    if (env_kwargs or given_eval_kwargs or wrappers) and args.impl == "sb3":
        raise SystemExit(
            "error: --env-kwargs, --eval-env-kwargs, env_wrapper and frame_stack: only for --impl nngym (the SB3 "
            "wrapper builds its envs from the id alone)"
        )
    with reported_as_errors():  # the env id and arguments, hyperparameters, a model file to resume
        if env_kwargs or given_eval_kwargs or wrappers:  # the agents take a ready vector env; evaluation one env
            n_envs = int(hp.get("n_envs", cls.Config.n_envs))
            env = make_vec_env(args.env, n_envs, hp.get("vectorization", "sync"), wrappers=wrappers, **env_kwargs)
            eval_env: str | gym.Env = evaluation_env(args.env, eval_env_kwargs, wrapping)
        else:
            env = eval_env = args.env
        tensorboard = {} if args.tensorboard_log is None else {"tensorboard_log": args.tensorboard_log}
        if args.resume:
            agent = cls.load(args.resume, env=env, log_dir=run_dir, verbose=args.verbose, **tensorboard)
            remaining, reset = total - agent.num_timesteps, False
            if remaining < 0:
                asked = "--total-timesteps" if args.total_timesteps is not None else "the hyperparameters' n_timesteps"
                raise SystemExit(
                    f"error: --resume {args.resume}: the checkpoint has trained {agent.num_timesteps} steps, more "
                    f"than {asked} {total}; ask for a total of at least {agent.num_timesteps}"
                )
        else:
            agent = cls(env, seed=args.seed, log_dir=run_dir, verbose=args.verbose, **tensorboard, **hp)
            remaining, reset = total, True
    if args.impl == "sb3":  # -1: every core, as torch's own default
        agent.torch_threads = available_cores() if threads == -1 else threads
    else:
        agent.num_threads = threads
    callbacks = []
    if args.eval_freq:
        best_path = run_dir / "best_model.npz"
        best_path.unlink(missing_ok=True)  # a stale best model of an earlier run must not be evaluated
        callbacks.append(EvalCallback(eval_env, args.eval_freq, args.eval_episodes, run_dir, log_path=run_dir))
    if args.checkpoint_freq:
        callbacks.append(CheckpointCallback(args.checkpoint_freq, run_dir / "checkpoints", args.algo))
    classify = args.env.startswith("nngym/DigitClassify")
    if classify and args.accuracy_freq:
        callbacks.append(AccuracyCallback(args.accuracy_freq, run_dir, stop_at=args.stop_accuracy))
    t0, cpu0 = time.perf_counter(), time.process_time()
    agent.learn(remaining, callback=callbacks, progress_bar=args.progress, reset_num_timesteps=reset)
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - cpu0
    seconds = max(seconds, 1e-9)
    agent.save(run_dir / "model.npz")
    returns = evaluation(agent, eval_env, args.n_eval_episodes, 10_000 + args.seed)
    result = {
        "impl": args.impl,
        "algo": args.algo,
        "env": args.env,
        "env_kwargs": env_kwargs,
        "eval_env_kwargs": eval_env_kwargs,
        "seed": args.seed,
        "num_threads": agent.learning_threads(),
        "total_timesteps": agent.num_timesteps,
        "train_seconds": round(seconds, 2),
        "steps_per_second": round(remaining / seconds),
        "train_cpu_seconds": round(cpu_seconds, 2),
        "steps_per_cpu_second": round(remaining / max(cpu_seconds, 1e-9)),
        "hyperparams_file": args.hyperparams_file,
        **wrapping,  # env_wrapper / frame_stack: enjoy.py wraps its env the same way
        **mean_std(returns),
        "n_eval_episodes": args.n_eval_episodes,
        "hyperparams": config.recorded(),
    }
    if args.eval_freq and (run_dir / "best_model.npz").exists():  # the model the EvalCallback kept, same evaluation
        best = cls.load(run_dir / "best_model.npz")
        best_returns = evaluation(best, eval_env, args.n_eval_episodes, 10_000 + args.seed)
        result["best_model"] = {"timesteps": best.num_timesteps, **mean_std(best_returns)}
    if classify:  # deterministic policy, all 10,000 test images
        result["test_accuracy"] = classification_accuracy(agent, "test")
    (run_dir / "eval.json").write_text(json.dumps(result, indent=2))
    plot_rewards(run_dir, f"{args.impl} {args.algo.upper()} {args.env} seed {args.seed}")
    print(json.dumps({k: v for k, v in result.items() if k != "hyperparams"}))
    if classify:
        print(f"test accuracy: {100 * result['test_accuracy']:.2f}% (deterministic policy, all 10,000 test images)")
        print(f"reward curve: {run_dir / 'reward_curve.png'}")
    return result


def evaluation_env(env: str, eval_env_kwargs: dict[str, Any], wrapping: dict[str, Any]) -> gym.Env:
    """The env of the final evaluation when the id alone will not do: ``gym.make(env, **eval_env_kwargs)`` wrapped as
    the training envs (``wrapping``: the entry's ``env_wrapper`` / ``frame_stack``, ``envs.wrappers.zoo_wrappers``)."""
    eval_env = gym.make(env, **eval_env_kwargs)
    for wrap in zoo_wrappers(wrapping.get("env_wrapper"), wrapping.get("frame_stack")):
        eval_env = wrap(eval_env)
    return eval_env


def evaluate_again(run_dir: Path, n_eval_episodes: int) -> dict[str, Any]:
    """Evaluates a finished run's saved model again over ``n_eval_episodes`` episodes, as ``main`` evaluated it (the
    same env, arguments and wrappers, deterministic, seed 10,000 + the run's seed; its best model too, if kept), and
    rewrites eval.json's ``eval_mean``, ``eval_std`` and ``n_eval_episodes``.

    Args:
        run_dir: The run directory (eval.json and model.npz of nngym's agents or of the SB3 adapter).
        n_eval_episodes: Deterministic evaluation episodes, >= 1.

    Returns:
        The new eval.json content.
    """
    meta = json.loads((run_dir / "eval.json").read_text())
    wrapping = {k: meta[k] for k in ENV_KEYS if meta.get(k) is not None}
    eval_env_kwargs = meta.get("eval_env_kwargs", meta.get("env_kwargs")) or {}
    env = evaluation_env(meta["env"], eval_env_kwargs, wrapping) if eval_env_kwargs or wrapping else meta["env"]
    seed = 10_000 + int(meta["seed"])
    agent = load_model(run_dir / "model.npz", meta["algo"])
    meta |= {**mean_std(evaluation(agent, env, n_eval_episodes, seed)), "n_eval_episodes": n_eval_episodes}
    if isinstance(meta.get("best_model"), dict) and (run_dir / "best_model.npz").exists():
        best = load_model(run_dir / "best_model.npz", meta["algo"])
        meta["best_model"] |= mean_std(evaluation(best, env, n_eval_episodes, seed))
    (run_dir / "eval.json").write_text(json.dumps(meta, indent=2))
    return meta


def evaluation(agent: Any, env: str | gym.Env, n_episodes: int, seed: int) -> list[float] | None:
    """The returns of ``n_episodes`` deterministic episodes (``evaluate_episodes``); None for 0 (skipped)."""
    return evaluate_episodes(agent, env, n_episodes, deterministic=True, seed=seed) if n_episodes else None


def mean_std(returns: list[float] | None) -> dict[str, float | None]:
    """eval.json's ``eval_mean`` and ``eval_std`` of the returns (both None when the evaluation was skipped)."""
    if returns is None:
        return {"eval_mean": None, "eval_std": None}
    return {"eval_mean": float(np.mean(returns)), "eval_std": float(np.std(returns))}


if __name__ == "__main__":  # python -m agents.experiments.train (what sweeps run)
    main()
