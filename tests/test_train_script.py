"""The train runner behind scripts/train.py: the kept best model is evaluated like the final one; env kwargs;
the BLAS thread count."""

from __future__ import annotations

import numpy as np
import pytest

from agents import PPO, evaluate_episodes
from agents.experiments import train


def test_eval_freq_keeps_and_evaluates_the_best_model(tmp_path):
    run_dir = tmp_path / "ppo_CartPole-v1_s3"
    run_dir.mkdir()
    (run_dir / "best_model.npz").write_bytes(b"stale")  # an earlier run's file must not be evaluated
    args = [
        "--algo",
        "ppo",
        "--env",
        "CartPole-v1",
        "--seed",
        "3",
        "--total-timesteps",
        "2048",
        "--no-progress",
        "--log-dir",
        str(tmp_path),
        "--eval-freq",
        "64",
        "--eval-episodes",
        "2",
        "--n-eval-episodes",
        "3",
        "-p",
        "n_envs=4",
        "n_steps=64",
        "batch_size=64",
        "n_epochs=2",
    ]
    result = train.main(args)
    evaluations = np.load(run_dir / "evaluations.npz")
    assert list(evaluations["timesteps"]) == [256 * k for k in range(1, 9)]  # every 64 vector steps of 4 envs
    best = PPO.load(run_dir / "best_model.npz")
    means = evaluations["results"].mean(axis=1)
    assert best.num_timesteps == evaluations["timesteps"][int(np.argmax(means))]  # the first best evaluation
    returns = evaluate_episodes(best, "CartPole-v1", 3, deterministic=True, seed=10_003)
    assert result["best_model"] == {
        "timesteps": best.num_timesteps,
        "eval_mean": float(np.mean(returns)),
        "eval_std": float(np.std(returns)),
    }


def test_env_kwargs_reach_training_and_evaluation_envs(tmp_path, monkeypatch):
    tmaze = ["--algo", "recurrent_ppo", "--env", "nngym/TMaze-v0", "--no-progress"]
    args = [
        *tmaze,
        "--env-kwargs",
        "corridor_length=2",
        "--total-timesteps",
        "128",
        "--log-dir",
        str(tmp_path),
        "--n-eval-episodes",
        "2",
        "-p",
        "n_envs=2",
        "n_steps=32",
        "batch_size=32",
        "n_epochs=1",
    ]
    result = train.main(args)
    assert result["env_kwargs"] == {"corridor_length": 2}
    assert result["total_timesteps"] == 128
    monitor = tmp_path / "recurrent_ppo_nngym-TMaze-v0_s0" / "monitor.csv"
    lengths = np.loadtxt(monitor, delimiter=",", skiprows=2, usecols=1)
    assert 3 <= lengths.min() < 11  # an arm's end is >= 3 steps away in a length-2 corridor, >= 11 in the default 10
    with pytest.raises(SystemExit, match="--env-kwargs: expected KEY=VALUE, got 'corridor_length'"):
        train.main([*tmaze, "--env-kwargs", "corridor_length"])
    with pytest.raises(SystemExit, match="error: corridor_length must be an integer >= 1, got 0"):
        train.main([*tmaze, "--env-kwargs", "corridor_length=0"])
    # --eval-env-kwargs builds the evaluation env alone (the training env keeps --env-kwargs)
    made = []
    real_make = train.gym.make
    monkeypatch.setattr(train.gym, "make", lambda env_id, **kw: made.append(kw) or real_make(env_id, **kw))
    result = train.main([*args, "--eval-env-kwargs", "corridor_length=4"])
    assert result["env_kwargs"] == {"corridor_length": 2} and result["eval_env_kwargs"] == {"corridor_length": 4}
    assert made[-1] == {"corridor_length": 4} and {"corridor_length": 2} in made
    with pytest.raises(SystemExit, match="error: corridor_length must be an integer >= 1, got 0"):
        train.main([*args, "--eval-env-kwargs", "corridor_length=0"])
    with pytest.raises(SystemExit, match="--eval-env-kwargs: expected KEY=VALUE, got 'corridor_length'"):
        train.main([*args, "--eval-env-kwargs", "corridor_length"])


def test_num_threads_sets_the_threads_while_learning(tmp_path, monkeypatch):
    from threadpoolctl import threadpool_info

    seen = []
    real_learn = PPO.learn

    def learn(self, *args, **kwargs):
        seen.append(self.num_threads)
        return real_learn(self, *args, **kwargs)

    monkeypatch.setattr(PPO, "learn", learn)
    monkeypatch.setattr(PPO, "_finish_learn", lambda self, cb: seen.append(_blas_threads(threadpool_info())))
    argv = ["--algo", "ppo", "--env", "CartPole-v1", "--total-timesteps", "64", "--no-progress"]
    argv += ["--log-dir", str(tmp_path), "--n-eval-episodes", "1", "-p", "n_envs=2", "n_steps=32", "batch_size=32"]
    result = train.main([*argv, "--num-threads", "2"])
    assert result["num_threads"] == 2 and seen == [2, 2]  # the agent's setting, and BLAS's count inside learn
    result = train.main(argv)  # the default, -1: an MLP agent learns on one thread (more do not pay)
    assert result["num_threads"] == 1 and seen[2:] == [-1, 1]
    for bad in ("0", "-2"):
        with pytest.raises(
            SystemExit, match=rf"--num-threads: expected a count >= 1 or -1 \(as many as pay\), got {bad}"
        ):
            train.main([*argv, "--num-threads", bad])


def _blas_threads(info: list[dict]) -> int:
    """The BLAS library's thread count in threadpoolctl's ``threadpool_info()``."""
    return next(i["num_threads"] for i in info if i["user_api"] == "blas")


def test_what_the_user_gives_is_refused_with_the_reason_not_a_traceback(tmp_path):
    """Bad hyperparameters, env arguments, env ids and model files end the script with one line naming what was
    expected and what came."""
    base = ["--algo", "ppo", "--env", "CartPole-v1", "--total-timesteps", "64", "--no-progress"]
    base += ["--log-dir", str(tmp_path)]
    with pytest.raises(SystemExit, match=r"error: PPO: unknown hyperparameters \['bogus'\]; expected some of"):
        train.main([*base, "--hyperparams", "bogus=1"])
    with pytest.raises(SystemExit, match="error: PPO: n_steps must be an integer, got 'abc'"):
        train.main([*base, "--hyperparams", "n_steps=abc"])
    with pytest.raises(SystemExit, match="error: .*unexpected keyword argument 'foo'"):
        train.main([*base, "--env-kwargs", "foo=1"])
    not_a_model = tmp_path / "model.npz"
    not_a_model.write_text("not a model")
    with pytest.raises(SystemExit, match="is not a valid nngym model file: expected an npz"):
        train.main([*base, "--resume", str(not_a_model)])
    entry = tmp_path / "mine.yml"
    entry.write_text("Nope-v9: {}\n")
    with pytest.raises(SystemExit, match="error: Environment `Nope` doesn't exist"):
        train.main([*base[:2], "--env", "Nope-v9", *base[4:], "--hyperparams-file", str(entry)])
    with pytest.raises(SystemExit, match=r"no ppo hyperparameters for 'Nope-v9'.*an empty one, 'Nope-v9: \{\}'"):
        train.main([*base[:2], "--env", "Nope-v9", *base[4:]])
