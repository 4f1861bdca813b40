"""scripts/train.py's periodic evaluation: the kept best model is evaluated like the final one."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from agents import PPO, evaluate_episodes

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def _train_script():
    spec = importlib.util.spec_from_file_location("script_train", SCRIPTS / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_eval_freq_keeps_and_evaluates_the_best_model(tmp_path):
    train = _train_script()
    run_dir = tmp_path / "ppo_CartPole-v1_s3"
    run_dir.mkdir()
    (run_dir / "best_model.npz").write_bytes(b"stale")  # an earlier run's file must not be evaluated
    args = ["--algo", "ppo", "--env", "CartPole-v1", "--seed", "3", "--total-timesteps", "2048", "--no-progress",
            "--log-dir", str(tmp_path), "--eval-freq", "64", "--eval-episodes", "2", "--n-eval-episodes", "3",
            "-p", "n_envs=4", "n_steps=64", "batch_size=64", "n_epochs=2"]  # fmt: skip
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
