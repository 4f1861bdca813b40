"""The plots people look at: one-step episodes drawn as running accuracy, legends, units, seed counts, IQM bands."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from agents.experiments import plot, plotting, stats
from agents.experiments.plotting import Run, group_band, moving_mean, plot_training_curve, training_curve_figure


def _monitor(run_dir: Path, returns: np.ndarray, lengths: np.ndarray, env_id: str) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    rows = "".join(f"{r},{n},{0.01 * i}\n" for i, (r, n) in enumerate(zip(returns, lengths, strict=True)))
    (run_dir / "monitor.csv").write_text("#" + json.dumps({"t_start": 0, "env_id": env_id}) + "\nr,l,t\n" + rows)


def _lines(fig) -> dict[str, object]:
    (ax,) = fig.axes
    return {line.get_label(): line for line in ax.get_lines()}


def test_one_step_episodes_are_drawn_as_running_accuracy_with_test_points(tmp_path):
    rng = np.random.default_rng(0)
    n = 20_000
    returns = (rng.random(n) < np.linspace(0.1, 0.95, n)).astype(float)  # DigitClassify's 0/1 rewards
    _monitor(tmp_path, returns, np.ones(n, dtype=int), "nngym/DigitClassify-v0")
    (tmp_path / "accuracy.csv").write_text("steps,seconds,accuracy\n5000,1.0,0.4\n10000,2.0,0.7\n20000,4.0,0.9\n")
    (tmp_path / "eval.json").write_text(json.dumps({"eval_mean": 0.9, "test_accuracy": 0.912}))
    fig = training_curve_figure(tmp_path, "PPO DigitClassify seed 0")
    lines = _lines(fig)
    assert "episode return" not in lines  # the raw 0/1 returns would be a solid block
    acc = lines["training accuracy, last 200 episodes"]
    np.testing.assert_allclose(acc.get_ydata(), 100 * moving_mean(returns, 200)[199:])
    np.testing.assert_array_equal(lines["test accuracy (10,000 images)"].get_ydata(), [40.0, 70.0, 90.0])
    assert lines["final test accuracy 91.20%"].get_xdata()[0] == n
    (ax,) = fig.axes
    assert ax.get_xlabel() == "env steps" and ax.get_ylabel() == "accuracy (% of images right)"
    assert ax.get_legend() is not None and ax.get_title().endswith("(1 seed)")
    path = plot_training_curve(tmp_path, "PPO DigitClassify seed 0")
    assert path.name == "reward_curve.png" and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_longer_episodes_show_returns_mean_threshold_and_final_evaluation(tmp_path):
    rng = np.random.default_rng(1)
    returns = np.clip(np.linspace(20, 480, 300) + rng.normal(0, 40, 300), 8, 500).round()
    _monitor(tmp_path, returns, returns.astype(int), "CartPole-v1")
    (tmp_path / "eval.json").write_text(json.dumps({"eval_mean": 500.0, "eval_std": 0.0}))
    fig = training_curve_figure(tmp_path, "PPO CartPole-v1 seed 0")
    lines = _lines(fig)
    np.testing.assert_array_equal(lines["episode return"].get_ydata(), returns)
    np.testing.assert_allclose(lines["mean of last 100 episodes"].get_ydata(), moving_mean(returns, 100)[99:])
    assert lines["reward threshold 475"].get_ydata()[0] == 475.0
    (ax,) = fig.axes
    assert ax.get_ylabel() == "episode return (sum of rewards)" and ax.get_xlabel() == "env steps"
    assert any("final evaluation 500.0" in t.get_text() for t in ax.get_legend().get_texts())


def test_iqm_band_across_seeds():
    rng = np.random.default_rng(2)
    runs = [Run(Path(f"s{i}"), rng.normal(i, 1.0, 50), np.full(50, 10), np.arange(50.0)) for i in range(5)]
    grid, centre, low, high = group_band(runs, "steps", window=5, stat="iqm")
    curves = np.stack([np.interp(grid, r.steps, moving_mean(r.returns, 5)) for r in runs])
    np.testing.assert_allclose(centre, stats.trim_mean(curves, 0.25, axis=0))  # 5 runs: the middle 3's mean
    assert np.all(low <= centre) and np.all(centre <= high) and np.all(high - low > 0)
    _, mean, low_m, high_m = group_band(runs, "steps", window=5)
    np.testing.assert_allclose(mean, curves.mean(0))
    np.testing.assert_allclose(high_m - mean, curves.std(0))
    with pytest.raises(ValueError, match="stat must be"):
        group_band(runs, stat="median")


def test_plot_command_draws_iqm(tmp_path, capsys):
    rng = np.random.default_rng(3)
    for seed in range(3):
        returns = np.linspace(10, 200, 120) + rng.normal(0, 10, 120)
        _monitor(tmp_path / "runs" / f"ppo_CartPole-v1_s{seed}", returns, np.full(120, 50), "CartPole-v1")
    paths = plot.main([str(tmp_path / "runs"), "--stat", "iqm", "--window", "10", "--out", str(tmp_path / "fig")])
    assert [p.suffix for p in paths] == [".png", ".svg"]
    svg = paths[1].read_text()
    assert "IQM, 3 seeds" in svg and "95% bootstrap CI" in svg and "IQM and 95% CI across runs" in svg
    assert "ppo_CartPole-v1: 3 run(s)" in capsys.readouterr().out


def test_plot_command_keeps_envs_apart(tmp_path, capsys, monkeypatch):
    """Runs of two envs are never averaged into one curve: a row of panels per env, each with its own threshold."""
    rng = np.random.default_rng(4)
    for env, base in (("CartPole-v1", 100.0), ("Acrobot-v1", -300.0)):
        for seed in range(2):
            run_dir = tmp_path / "runs" / f"ppo_{env}_s{seed}"
            _monitor(run_dir, base + rng.normal(0, 5, 60), np.full(60, 50), env)
            (run_dir / "eval.json").write_text(json.dumps({"impl": "nngym", "algo": "ppo", "env": env, "seed": seed}))
    bands = []
    real_band = plotting.group_band

    def group_band(runs, *args, **kwargs):
        bands.append(sorted({r.env_id for r in runs}))
        return real_band(runs, *args, **kwargs)

    monkeypatch.setattr(plotting, "group_band", group_band)
    paths = plot.main([str(tmp_path / "runs"), "--window", "5", "--out", str(tmp_path / "fig")])
    assert bands == [["Acrobot-v1"], ["CartPole-v1"]]  # one band per env, never a mix
    out = capsys.readouterr().out
    assert "Acrobot-v1, nngym PPO: 2 run(s)" in out and "CartPole-v1, nngym PPO: 2 run(s)" in out
    svg = paths[1].read_text()
    assert "reward threshold 475" in svg and "reward threshold -100" in svg  # each env's own
    assert "2 envs: mean ± std across runs" in svg
    with pytest.raises(SystemExit) as info:
        plot.main([str(tmp_path / "runs"), "--window", "0"])
    assert info.value.code == 2
    assert capsys.readouterr().err.strip().endswith("error: argument --window: expected an integer >= 1, got 0")
