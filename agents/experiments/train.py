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
default, -1, gives nngym's CNN agents every core the process may run on (``taskset -c 0`` makes it one) and its
MLP agents one, where threads were measured not to pay; SB3's torch every core, as its default. A run is
reproducible for a given thread count; another count rounds differently, so ``--num-threads 1`` reproduces a
one-thread run on any machine.
Resume a killed run with ``--resume <checkpoint.npz>``: it continues to the same total number of steps.

    python scripts/train.py --algo ppo --env CartPole-v1 --tensorboard-log runs/tb && tensorboard --logdir runs/tb

``--tensorboard-log DIR`` also writes progress.csv's keys (SB3's names) at the same steps as TensorBoard event
files, one run directory ``DIR/<ALGO>_<n>`` per training, as SB3 does (``pip install -e ".[tensorboard]"``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import gymnasium as gym
import numpy as np

import envs  # noqa: F401 - registers the nngym/ env ids
from agents import ALGOS, CheckpointCallback, EvalCallback, evaluate_episodes, load_hyperparams
from agents.common.callbacks import AccuracyCallback
from agents.common.evaluation import classification_accuracy
from agents.common.vec_env import make_vec_env
from agents.experiments.cli import check_threads, parse_key_values, reported_as_errors
from agents.experiments.plotting import plot_training_curve
from envs.wrappers import zoo_wrappers
from nngym.parallel import available_cores


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--algo", default="ppo", choices=sorted(ALGOS))
    p.add_argument("--impl", default="nngym", choices=["nngym", "sb3"], help="nngym's agents or Stable-Baselines3's")
    p.add_argument("--env", default="nngym/DigitClassify-v0")
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
    p.add_argument("--total-timesteps", type=int, default=None, help="default: the yml's n_timesteps")
    p.add_argument("--log-dir", default="runs/")
    p.add_argument(
        "--tensorboard-log",
        default=None,
        metavar="DIR",
        help="also write the logged values as TensorBoard event files to DIR/<ALGO>_<n> (needs the tensorboard extra)",
    )
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="tqdm progress bar")
    p.add_argument(
        "--accuracy-freq", type=int, default=0, help="DigitClassify: test accuracy every this many env steps (0: off)"
    )
    p.add_argument("--stop-accuracy", type=float, default=None, help="with --accuracy-freq: stop once reached")
    p.add_argument(
        "--num-threads",
        type=int,
        default=-1,
        help="threads of nngym's agents (torch threads of SB3's) while learning; -1: nngym's CNN agents every core "
        "this process may run on, its MLP agents one (SB3: every core, torch's default)",
    )
    p.add_argument("--verbose", type=int, default=0)
    p.add_argument("--n-eval-episodes", type=int, default=20)
    p.add_argument(
        "--eval-freq",
        type=int,
        default=0,
        help="EvalCallback every this many vector steps (0: off); it keeps best_model.npz, which is evaluated "
        "like the final model at the end (eval.json's best_model)",
    )
    p.add_argument("--eval-episodes", type=int, default=5, help="episodes per periodic evaluation (--eval-freq)")
    p.add_argument("--checkpoint-freq", type=int, default=0, help="checkpoint every this many vector steps (0: off)")
    p.add_argument("--resume", default=None, help="checkpoint file to continue from")
    p.add_argument(
        "--hyperparams-file", default=None, help="zoo-style YAML to read instead of agents/hyperparams/<algo>.yml"
    )
    p.add_argument(
        "-p",
        "--hyperparams",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="overrides, YAML values, e.g. gamma=0.98",
    )
    return p.parse_args(argv)


def plot_rewards(run_dir: Path, title: str) -> Path:
    """The run's training curve, ``reward_curve.png`` (``agents.experiments.plotting.plot_training_curve``: for
    one-step episodes such as DigitClassify's the running accuracy and the test-accuracy points, else the
    episode returns, their moving mean, the reward threshold and the final evaluation)."""
    return plot_training_curve(run_dir, title)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    threads = check_threads(args.num_threads, "as many as pay")
    with reported_as_errors():
        hp = load_hyperparams(args.algo, args.env, args.hyperparams_file)
    n_timesteps = int(hp.pop("n_timesteps", 100_000))
    wrapping = {k: hp.pop(k) for k in ("env_wrapper", "frame_stack") if hp.get(k) is not None}
    wrappers = zoo_wrappers(wrapping.get("env_wrapper"), wrapping.get("frame_stack"))
    if args.impl == "sb3":  # the yml's nngym-only options (DQN's double_q); asked for with -p they still raise
        from agents.baselines.sb3 import sb3_hyperparams

        hp, dropped = sb3_hyperparams(args.algo, hp)
        if dropped:
            print(f"--impl sb3: the yml's {dropped} dropped (no SB3 counterpart)", flush=True)
    hp.update(parse_key_values(args.hyperparams, "--hyperparams"))
    if "net_arch" in hp:
        hp["net_arch"] = tuple(hp["net_arch"])
    total = args.total_timesteps or n_timesteps
    run_dir = Path(args.log_dir) / f"{args.algo}_{args.env.replace('/', '-')}_s{args.seed}"
    if args.impl == "sb3":
        from agents.baselines.sb3 import SB3_ALGOS

        if args.algo not in SB3_ALGOS:
            raise SystemExit(f"--impl sb3: no SB3 baseline for {args.algo!r}; expected one of {sorted(SB3_ALGOS)}")
        cls = SB3_ALGOS[args.algo]
    else:
        cls = ALGOS[args.algo]
    env_kwargs = parse_key_values(args.env_kwargs, "--env-kwargs")
    given_eval_kwargs = args.eval_env_kwargs is not None
    eval_env_kwargs = parse_key_values(args.eval_env_kwargs, "--eval-env-kwargs") if given_eval_kwargs else env_kwargs
    if (env_kwargs or given_eval_kwargs or wrappers) and args.impl == "sb3":
        raise SystemExit(
            "--env-kwargs, --eval-env-kwargs, env_wrapper and frame_stack: only for --impl nngym (the SB3 wrapper "
            "builds its envs from the id alone)"
        )
    with reported_as_errors():  # the env id and arguments, hyperparameters, a model file to resume
        if env_kwargs or given_eval_kwargs or wrappers:  # the agents take a ready vector env; evaluation one env
            n_envs = int(hp.get("n_envs", cls.Config.n_envs))
            env = make_vec_env(args.env, n_envs, hp.get("vectorization", "sync"), wrappers=wrappers, **env_kwargs)
            eval_env: str | gym.Env = gym.make(args.env, **eval_env_kwargs)
            for wrap in wrappers:
                eval_env = wrap(eval_env)
        else:
            env = eval_env = args.env
        tensorboard = {} if args.tensorboard_log is None else {"tensorboard_log": args.tensorboard_log}
        if args.resume:
            agent = cls.load(args.resume, env=env, log_dir=run_dir, verbose=args.verbose, **tensorboard)
            remaining, reset = total - agent.num_timesteps, False
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
    agent.save(run_dir / "model.npz")
    returns = evaluate_episodes(agent, eval_env, args.n_eval_episodes, deterministic=True, seed=10_000 + args.seed)
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
        "eval_mean": float(sum(returns) / len(returns)),
        "eval_std": float((sum((r - sum(returns) / len(returns)) ** 2 for r in returns) / len(returns)) ** 0.5),
        "hyperparams": {k: list(v) if isinstance(v, tuple) else v for k, v in hp.items()},
    }
    if args.eval_freq and (run_dir / "best_model.npz").exists():  # the model the EvalCallback kept, same evaluation
        best = cls.load(run_dir / "best_model.npz")
        best_returns = evaluate_episodes(best, eval_env, args.n_eval_episodes, True, seed=10_000 + args.seed)
        result["best_model"] = {
            "timesteps": best.num_timesteps,
            "eval_mean": float(np.mean(best_returns)),
            "eval_std": float(np.std(best_returns)),
        }
    if classify:  # deterministic policy, all 10,000 test images
        result["test_accuracy"] = classification_accuracy(agent, "test")
    (run_dir / "eval.json").write_text(json.dumps(result, indent=2))
    plot_rewards(run_dir, f"{args.impl} {args.algo.upper()} {args.env} seed {args.seed}")
    print(json.dumps({k: v for k, v in result.items() if k != "hyperparams"}))
    if classify:
        print(f"test accuracy: {100 * result['test_accuracy']:.2f}% (deterministic policy, all 10,000 test images)")
        print(f"reward curve: {run_dir / 'reward_curve.png'}")
    return result


if __name__ == "__main__":  # python -m agents.experiments.train (what sweeps run)
    main()
