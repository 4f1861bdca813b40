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
Hyperparameters (the yml's and ``-p``'s) that differ from the checkpoint's are applied if the agent takes them after it
is made (learning rate, discount, clipping, DQN's exploration ...: ``load(path, **overrides)``'s, the agent's
``SETTABLE``); any that shape its networks, buffers or envs (``net_arch``, ``n_envs``, ``buffer_size`` ...) end the
command with an ``error:`` line naming them, the checkpoint's values and the ones given. eval.json records the values
the agent trained with. A DQN's checkpoints hold its replay buffer with ``--save-replay-buffer`` (the zoo's option);
resumed from one without it, the buffer starts empty, and a warning says so. The zoo's ``-i`` /
``--trained-agent <model.npz>`` trains a saved model further instead: this run's steps (``-n`` or the yml's
n_timesteps) as a new run on the loaded agent, its hyperparameters applied as ``--resume`` applies them.
``--total-timesteps 0`` trains nothing, as SB3's ``learn(0)``: the initial policy (or the checkpoint's) is saved,
evaluated and plotted. ``--n-eval-episodes 0`` skips the evaluation (eval.json's eval_mean and eval_std are null);
eval.json's n_eval_episodes says how many episodes were evaluated.
Evaluation episodes of an env without a time limit are cut after 10,000 steps, with a warning
(``agents.common.evaluation.run_episodes``).

rl-baselines3-zoo's option names work too: ``-n``/``--n-timesteps``, ``-f``/``--log-folder``, ``-tb``,
``--save-freq``, ``-conf``/``--conf-file`` and ``-params`` with its ``KEY:VALUE`` pairs
(``-params n_steps:64 learning_rate:lin_0.001``); the run directory is nngym's, ``<log-dir>/<algo>_<env>_s<seed>/``.
They keep the zoo's meanings: ``-n -1`` is the yml's n_timesteps, and ``--save-freq`` counts env steps, as the zoo's
does (a checkpoint every ``max(save_freq // n_envs, 1)`` vector steps; -1 or 0: none), where nngym's
``--checkpoint-freq`` counts vector steps (give one of the two). ``--eval-freq`` (the zoo's option) counts env steps
too: an evaluation of ``--eval-episodes`` episodes every ``max(eval_freq // n_envs, 1)`` vector steps, with the
zoo's deterministic actions (sampled on Atari and MiniGrid envs), keeping best_model.npz. ``-p``/``-params``,
``--env-kwargs`` and ``--eval-env-kwargs`` may be repeated: the pairs of all of them count.

``-p KEY=VALUE`` overrides are merged into the yml's entry and translated with it (``agents.common.hyperparams``),
so the zoo's keys work there too: ``-p "policy_kwargs=dict(net_arch=[32])" normalize=true``, and ``normalize``'s
VecNormalize settings (``"{'norm_obs': True, 'clip_obs': 5.0}"``) become the agent's ``normalize_kwargs``. An env id
without an entry of its own in the hyperparameters file gets the file's ``atari`` entry (an Atari env) or its
``default`` entry, as in the zoo (its files have both; nngym's have neither), with a line saying which. An env id of
gymnasium's ``module:EnvId`` form imports ``module`` from the current directory (or the installed packages).

    python scripts/train.py --algo ppo --env CartPole-v1 --tensorboard-log runs/tb && tensorboard --logdir runs/tb

``--tensorboard-log DIR`` also writes progress.csv's keys (SB3's names; not the counters SB3 keeps out of
TensorBoard) at the same steps as TensorBoard event files, one run directory ``DIR/<ALGO>_<n>`` per training, as
SB3 does (``pip install -e ".[tensorboard]"``).
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
from agents.common.config import canonical_config, check_config
from agents.common.evaluation import classification_accuracy
from agents.common.hyperparams import (
    ENV_KEYS,
    deterministic_by_default,
    load_hyperparams,
)
from agents.common.vec_env import make_vec_env
from agents.experiments.cli import (
    check_threads,
    env_id,
    env_slug,
    non_negative_int,
    option_as_typed,
    output_folder,
    parse_env_kwargs,
    parse_key_values,
    positive_int,
    reported_as_errors,
    writable_folder,
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
        action="extend",
        default=[],
        metavar="KEY=VALUE",
        help="gym.make arguments for training and evaluation envs, YAML values, e.g. length=50 (nngym agents only)",
    )
    p.add_argument(
        "--eval-env-kwargs",
        nargs="*",
        action="extend",
        default=None,
        metavar="KEY=VALUE",
        help="gym.make arguments for the evaluation envs instead of --env-kwargs, e.g. max_shift=0 (nngym agents only)",
    )
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument(
        "--total-timesteps",
        type=non_negative_int,
        default=None,
        help="env steps in all (with --resume: counting the checkpoint's); default: the yml's n_timesteps; 0 trains "
        "nothing, as SB3's learn(0): the initial policy is saved and evaluated",
    )
    p.add_argument("--log-dir", type=output_folder, default="runs/")
    p.add_argument(
        "--tensorboard-log",
        type=output_folder,
        default=None,
        metavar="DIR",
        help="also write the logged values as TensorBoard event files to DIR/<ALGO>_<n> (needs the tensorboard extra)",
    )
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="tqdm progress bar")
    p.add_argument(
        "--accuracy-freq",
        type=non_negative_int,
        default=0,
        help="nngym/DigitClassify only: test accuracy every this many env steps, into accuracy.csv (0: off)",
    )
    p.add_argument(
        "--stop-accuracy",
        type=accuracy_fraction,
        default=None,
        help="with --accuracy-freq: stop training once the test accuracy reaches this fraction, in (0, 1]",
    )
    p.add_argument(
        "--num-threads",
        type=int,
        default=-1,
        help="threads of nngym's agents (torch threads of SB3's) while learning; -1: nngym's CNN agents and DQN every "
        "core this process may run on, its other MLP agents one (SB3: every core, torch's default)",
    )
    p.add_argument(
        "--verbose",
        type=int,
        default=0,
        help="0 (or less): silent, as SB3; 1: the SB3-style table at each log interval (and each periodic "
        "evaluation); 2 (or more, as SB3 takes them): also each checkpoint saved",
    )
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
        help="evaluate every this many env steps, as the zoo's (every max(eval_freq // n_envs, 1) vector steps; 0: "
        "off); it keeps best_model.npz, which is evaluated like the final model at the end (eval.json's best_model)",
    )
    p.add_argument(
        "--eval-episodes",
        type=positive_int,
        default=5,
        help="episodes per periodic evaluation (--eval-freq), as the zoo's; the final one: --n-eval-episodes",
    )
    p.add_argument(
        "--checkpoint-freq",
        type=non_negative_int,
        default=0,
        help="checkpoint every this many vector steps (0: off)",
    )
    p.add_argument(
        "--save-replay-buffer",
        action="store_true",
        help="DQN: checkpoints hold the replay buffer too, so --resume continues with it (larger files)",
    )
    p.add_argument("--resume", default=None, help="checkpoint file to continue from, to the same total of steps")
    p.add_argument(
        "-i",
        "--trained-agent",
        default=None,
        help="rl-baselines3-zoo's: a model file (.npz) to train further, for this run's n_timesteps more steps "
        "counted as a new run (--resume instead continues a checkpoint to the same total)",
    )
    p.add_argument(
        "--hyperparams-file",
        default=None,
        help="zoo-style YAML to read instead of agents/hyperparams/<algo>.yml",
    )
    p.add_argument(
        "-p",
        "--hyperparams",
        nargs="*",
        action="extend",
        default=[],
        metavar="KEY=VALUE",
        help="overrides, YAML values, merged into the yml's entry and translated with it, e.g. gamma=0.98 "
        '"policy_kwargs=dict(net_arch=[32])" normalize=true',
    )
    # rl-baselines3-zoo's names of the same options (not in --help: errors name the option as typed)
    zoo_aliases(
        p,
        {
            ("-n", "--n-timesteps"): ("total_timesteps", {"type": zoo_count}),
            ("-f", "--log-folder"): ("log_dir", {"type": output_folder}),
            ("-tb",): ("tensorboard_log", {"type": output_folder}),
            ("--save-freq",): ("save_freq", {"type": zoo_count}),
            ("-conf", "--conf-file"): ("hyperparams_file", {}),
            ("-params",): ("hyperparams", {"nargs": "*", "action": "extend"}),
        },
    )
    return p.parse_args(argv)


def accuracy_fraction(text: str) -> float:
    """argparse ``type=`` of ``--stop-accuracy``: a fraction of the test images in (0, 1].

    Raises:
        argparse.ArgumentTypeError: Naming what came; argparse ends the script with ``error: argument ...``.
    """
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an accuracy in (0, 1], got {text!r}") from None
    if not 0.0 < value <= 1.0:  # nan fails both
        raise argparse.ArgumentTypeError(f"expected an accuracy in (0, 1], got {text}")
    return value


def is_digit_classify(env: str) -> bool:
    """Whether ``env`` is ``nngym/DigitClassify``, whose runs report the test accuracy (``--accuracy-freq``)."""
    return env.startswith("nngym/DigitClassify")


def check_accuracy_options(args: argparse.Namespace) -> None:
    """Refuses ``--accuracy-freq`` and ``--stop-accuracy`` where they would do nothing: on an env other than
    DigitClassify (there are no test images to classify), and ``--stop-accuracy`` without ``--accuracy-freq`` (the
    accuracy it stops at is never measured).

    Raises:
        SystemExit: Naming the option, and the env or the missing option.
    """
    for option, value in (("--accuracy-freq", args.accuracy_freq), ("--stop-accuracy", args.stop_accuracy)):
        if value and not is_digit_classify(args.env):
            raise SystemExit(
                f"error: {option} {value}: the test accuracy is nngym/DigitClassify's (its 10,000 test images); "
                f"--env {args.env} has none"
            )
    if args.stop_accuracy is not None and not args.accuracy_freq:
        raise SystemExit(
            f"error: --stop-accuracy {args.stop_accuracy} stops at a test accuracy measured every --accuracy-freq "
            "env steps; give --accuracy-freq N too"
        )


def zoo_count(text: str) -> int:
    """argparse ``type=`` of the zoo's ``-n`` and ``--save-freq``: a count >= 0, or -1, which means the zoo's default
    (the yml's n_timesteps; no checkpoints).

    Raises:
        argparse.ArgumentTypeError: Naming what came; argparse ends the script with ``error: argument ...``.
    """
    if text.strip() == "-1":
        return -1
    try:
        return non_negative_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, or -1 (the zoo's default), got {text!r}") from None


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
    if args.save_replay_buffer and args.impl == "sb3":
        raise SystemExit(
            "error: --save-replay-buffer keeps nngym's DQN replay buffer in its checkpoints; the SB3 "
            "adapter's model files hold none (drop --save-replay-buffer or use --impl nngym)"
        )
    if args.resume and args.trained_agent:
        raise SystemExit(
            "error: --resume continues a checkpoint to the same total of steps, --trained-agent (-i) trains a model "
            "further for a new run's steps; give one of them"
        )
    threads = check_threads(args.num_threads, "as many as pay")
    check_accuracy_options(args)
    verbose = max(args.verbose, 0)  # SB3 prints nothing for any verbose <= 0
    save_freq = getattr(args, "save_freq", None)  # the zoo's --save-freq, in env steps
    if save_freq is not None and args.checkpoint_freq:
        raise SystemExit(
            "error: --save-freq (env steps) and --checkpoint-freq (vector steps) name one interval; give one of them"
        )
    with reported_as_errors():  # the hyperparameters, the entry's env_wrapper and frame_stack
        config = run_hyperparameters(args.algo, args.env, args.hyperparams_file, args.hyperparams, args.impl)
        wrappers = zoo_wrappers(config.wrapping.get("env_wrapper"), config.wrapping.get("frame_stack"))
    hp, wrapping = config.agent, config.wrapping
    if config.dropped:
        print(f"--impl sb3: the yml's {config.dropped} dropped (no SB3 counterpart)", flush=True)
    asked = None if args.total_timesteps == -1 else args.total_timesteps  # the zoo's -n -1: the yml's n_timesteps
    total = config.n_timesteps if asked is None else asked
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
    env_kwargs = parse_env_kwargs(args.env_kwargs, "--env-kwargs")
    given_eval_kwargs = args.eval_env_kwargs is not None
    eval_env_kwargs = parse_env_kwargs(args.eval_env_kwargs, "--eval-env-kwargs") if given_eval_kwargs else env_kwargs
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
            check_eval_spaces(env, eval_env)
        else:
            env = eval_env = args.env
        output_folders(args, run_dir)
        # the run's own (None: off) also for a loaded model, which would otherwise write where it was trained
        tensorboard = {"tensorboard_log": args.tensorboard_log}
        if args.trained_agent:  # the zoo's -i: load, then a new run of the run's steps on the loaded agent
            agent = cls.load(args.trained_agent, env=env, log_dir=run_dir, verbose=verbose, **tensorboard)
            resume_hyperparameters(agent, hp, args.trained_agent, "--trained-agent")
            remaining, reset = total, True
        elif args.resume:
            agent = cls.load(args.resume, env=env, log_dir=run_dir, verbose=verbose, **tensorboard)
            resume_hyperparameters(agent, hp, args.resume)
            warn_empty_replay_buffer(agent, args.resume)
            remaining, reset = total - agent.num_timesteps, False
            if remaining < 0:
                what = "--total-timesteps" if asked is not None else "the hyperparameters' n_timesteps"
                raise SystemExit(
                    f"error: --resume {args.resume}: the checkpoint has trained {agent.num_timesteps} steps, more "
                    f"than {what} {total}; ask for a total of at least {agent.num_timesteps}"
                )
        else:
            agent = cls(env, seed=args.seed, log_dir=run_dir, verbose=verbose, **tensorboard, **hp)
            remaining, reset = total, True
        classify = is_digit_classify(args.env)
        scale = digit_scale(agent, env_kwargs) if classify else 1
    agent.env_id = args.env  # as given (monitor.csv's header, the model file), however the env was made
    if args.impl == "sb3":  # -1: every core, as torch's own default
        agent.torch_threads = available_cores() if threads == -1 else threads
    else:
        agent.num_threads = threads
    callbacks = []
    if args.eval_freq:
        best_path = run_dir / "best_model.npz"
        best_path.unlink(missing_ok=True)  # a stale best model of an earlier run must not be evaluated
        callbacks.append(
            EvalCallback(
                eval_env,
                n_eval_episodes=args.eval_episodes,
                eval_freq=max(args.eval_freq // agent.n_envs, 1),  # the zoo's env steps -> vector steps
                log_path=run_dir,
                best_model_save_path=run_dir,
                verbose=verbose,
                deterministic=deterministic_by_default(args.env),  # the zoo's: sampled on Atari and MiniGrid
            )
        )
    checkpoint_freq = args.checkpoint_freq
    if save_freq is not None and save_freq > 0:  # the zoo's env steps -> vector steps, as the zoo converts them
        checkpoint_freq = max(save_freq // agent.n_envs, 1)
    if checkpoint_freq:
        callbacks.append(
            CheckpointCallback(
                checkpoint_freq, run_dir / "checkpoints", args.algo, save_replay_buffer=args.save_replay_buffer
            )
        )
    if classify and args.accuracy_freq:
        callbacks.append(AccuracyCallback(args.accuracy_freq, run_dir, stop_at=args.stop_accuracy))
    before = 0 if reset else agent.num_timesteps
    t0, cpu0 = time.perf_counter(), time.process_time()
    agent.learn(remaining, callback=callbacks, progress_bar=args.progress, reset_num_timesteps=reset)
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - cpu0
    seconds = max(seconds, 1e-9)
    trained = agent.num_timesteps - before  # the steps taken: a stop or the last rollout may end off the budget
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
        "steps_per_second": round(trained / seconds),
        "train_cpu_seconds": round(cpu_seconds, 2),
        "steps_per_cpu_second": round(trained / max(cpu_seconds, 1e-9)),
        "hyperparams_file": args.hyperparams_file,
        **wrapping,  # env_wrapper / frame_stack: enjoy.py wraps its env the same way
        **mean_std(returns),
        "n_eval_episodes": args.n_eval_episodes,
        "hyperparams": config.recorded(),
    }
    if args.resume or args.trained_agent:  # the values the agent trained with, a checkpoint's where none was given
        result["hyperparams"] = agent_hyperparameters(agent, hp)
    if args.eval_freq and (run_dir / "best_model.npz").exists():  # the model the EvalCallback kept, same evaluation
        best = cls.load(run_dir / "best_model.npz")
        best_returns = evaluation(best, eval_env, args.n_eval_episodes, 10_000 + args.seed)
        result["best_model"] = {"timesteps": best.num_timesteps, **mean_std(best_returns)}
    if classify:  # deterministic policy, all 10,000 test images
        result["test_accuracy"] = classification_accuracy(agent, "test", scale=scale)
    (run_dir / "eval.json").write_text(json.dumps(result, indent=2))
    plot_rewards(run_dir, f"{args.impl} {args.algo.upper()} {args.env} seed {args.seed}")
    print(json.dumps({k: v for k, v in result.items() if k != "hyperparams"}))
    if classify:
        print(f"test accuracy: {100 * result['test_accuracy']:.2f}% (deterministic policy, all 10,000 test images)")
        print(f"reward curve: {run_dir / 'reward_curve.png'}")
    return result


def output_folders(args: argparse.Namespace, run_dir: Path) -> None:
    """Creates ``--log-dir`` and ``--tensorboard-log`` (``writable_folder``) once the rest of the command line is
    checked, before the agent writes its files: a folder that cannot be made or written ends the command in one
    ``error:`` line, not a traceback. The run folder is the agent's to make; a file in its place is refused here.

    Raises:
        SystemExit: Naming the option, the folder and the reason.
    """
    log_dir = option_as_typed(args, "log_dir", "--log-dir")
    writable_folder(log_dir, args.log_dir)
    if run_dir.exists():  # a file of the run folder's name (a folder of it is taken as it is)
        writable_folder(log_dir, run_dir)
    if args.tensorboard_log is not None:
        writable_folder(option_as_typed(args, "tensorboard_log", "--tensorboard-log"), args.tensorboard_log)


def check_eval_spaces(env: gym.vector.VectorEnv, eval_env: gym.Env) -> None:
    """Refuses an evaluation env (``--eval-env-kwargs``) whose observation or action space is not the training
    envs': the agent could not act on it, and the evaluation would fail after training.

    Raises:
        ValueError: Naming the space, the training envs' and the evaluation env's.
    """
    for what in ("observation_space", "action_space"):
        trained, evaluated = getattr(env, f"single_{what}"), getattr(eval_env, what)
        if trained != evaluated:
            raise ValueError(
                f"--eval-env-kwargs: the evaluation env's {what} {evaluated} is not the training envs' {trained}; "
                "evaluation env arguments may change the data, not the spaces"
            )


def _plain(value: Any) -> Any:
    """A hyperparameter's value in JSON's form (tuples as lists), to compare and record."""
    return json.loads(json.dumps(value, default=repr))


def resume_hyperparameters(agent: Any, hp: dict[str, Any], checkpoint: str, option: str = "--resume") -> dict[str, Any]:
    """Gives a resumed ``agent`` the hyperparameters of this run (the yml's entry and ``-p``) where they differ from
    its checkpoint's: those the agent takes after it is made (``SETTABLE``: learning rate, discount, clipping ...,
    as ``load(path, **overrides)`` takes them) are set; those that shape its networks, buffers or envs cannot be.

    Returns:
        The hyperparameters set: name -> the value given.

    Raises:
        SystemExit: For any that cannot be set, naming them with the checkpoint's values and the ones given.
    """
    fields = {f.name for f in dataclasses.fields(agent.config)} if dataclasses.is_dataclass(agent.config) else None
    saved = {k: getattr(agent.config, k) for k in fields} if fields is not None else dict(agent.config)
    given = {k: v for k, v in hp.items() if k != "net"}
    if fields is not None:  # in the Config's own form (8.0 -> 8, net_arch as tuples), as the agent would keep them
        candidate = dataclasses.replace(agent.config, **{k: v for k, v in given.items() if k in fields})
        check_config(agent.algo, candidate)
        canonical_config(candidate)
        given = {k: getattr(candidate, k) if k in fields else v for k, v in given.items()}
    differ = {k: (saved.get(k, "unset"), v) for k, v in given.items() if _plain(saved.get(k, "unset")) != _plain(v)}
    net = hp.get("net")
    if net not in (None, "multi_input") and net != getattr(agent, "net", net):
        differ["net"] = (agent.net, net)
    settable = getattr(agent, "SETTABLE", frozenset())
    fixed = {k: v for k, v in differ.items() if k not in settable}
    if fixed:
        keys = ", ".join(sorted(fixed))
        theirs = ", ".join(f"{k}={_plain(fixed[k][0])!r}" for k in sorted(fixed))
        ours = ", ".join(f"{k}={_plain(fixed[k][1])!r}" for k in sorted(fixed))
        raise SystemExit(
            f"error: {option} {checkpoint}: {keys} cannot change when a run is resumed (they shape the agent's "
            f"networks, buffers or envs): the checkpoint has {theirs}, the hyperparameters given {ours}"
        )
    for key, (_, value) in differ.items():
        setattr(agent, key, value)  # the agent's hyperparameter attribute: in effect from the next update
    return {k: v for k, (_, v) in differ.items()}


def agent_hyperparameters(agent: Any, hp: dict[str, Any]) -> dict[str, Any]:
    """The values the agent trains with of the hyperparameters ``hp`` names, as eval.json records them (a resumed
    agent keeps its checkpoint's where the run gave none)."""
    config = agent.config
    values = {k: getattr(config, k) if dataclasses.is_dataclass(config) else config.get(k) for k in hp if k != "net"}
    if "net" in hp:
        values["net"] = getattr(agent, "net", hp["net"])
    return _plain({k: values[k] for k in hp})


def warn_empty_replay_buffer(agent: Any, checkpoint: str) -> None:
    """One warning line when a DQN resumes from a checkpoint without its replay buffer (saved without
    ``--save-replay-buffer``): the buffer starts empty, and once ``learning_starts`` has passed DQN trains at once on
    the few transitions in it."""
    buffer = getattr(agent, "replay_buffer", None)
    if buffer is None or len(buffer) or not agent.num_timesteps:
        return
    starts = agent.config.learning_starts
    passed = (
        f"learning_starts ({starts}) has passed, so DQN trains at once on the few transitions in it"
        if agent.num_timesteps >= starts
        else f"DQN trains once learning_starts ({starts}) is reached"
    )
    print(
        f"warning: --resume {checkpoint} holds no replay buffer (train with --save-replay-buffer to keep it in the "
        f"checkpoints): the buffer starts empty and {passed}",
        flush=True,
    )


def digit_scale(agent: Any, env_kwargs: dict[str, Any]) -> int:
    """DigitClassify's ``scale`` the agent was made for, which ``classification_accuracy`` upsamples the test images
    by: the env's argument, checked against the agent's observation space before any training.

    Raises:
        ValueError: For an observation space other than the env's own images, (1, 28·scale, 28·scale).
    """
    scale = int(env_kwargs.get("scale", 1))
    shape = getattr(getattr(agent, "observation_space", None), "shape", None)
    expected = (1, 28 * scale, 28 * scale)
    if shape is not None and tuple(shape) != expected:
        raise ValueError(
            f"nngym/DigitClassify's test accuracy needs the env's own observations of shape {expected} (scale "
            f"{scale}); the agent has {tuple(shape)}"
        )
    return scale


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
