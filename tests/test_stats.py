"""Aggregate statistics (agents.experiments.stats) on hand-computed cases, against scipy and rliable, and in compare."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from agents.experiments import compare, stats


def test_trim_mean_and_iqm_by_hand():
    assert stats.trim_mean(np.array([1, 2, 3, 4, 100.0])) == 3.0  # ⌊5/4⌋ = 1 cut at each end: mean(2, 3, 4)
    assert stats.trim_mean(np.arange(1.0, 9.0)) == 4.5  # 2 cut at each end: mean(3, 4, 5, 6)
    assert stats.trim_mean(np.array([1.0, 2.0, 9.0])) == 4.0  # n = 3: nothing cut, the mean
    # runs x tasks pooled: 1 2 3 4 10 20 30 40 -> mean(3, 4, 10, 20)
    assert stats.iqm(np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0], [4.0, 40.0]])) == 9.25
    assert stats.iqm([np.array([4.0, 1.0, 3.0, 2.0])]) == 2.5
    with pytest.raises(ValueError, match="at least one run"):
        stats.iqm([np.array([1.0]), np.array([])])


def test_mean_is_the_mean_of_task_means():
    assert stats.mean([np.array([1.0, 2.0, 3.0]), np.array([10.0, 20.0])]) == 8.5  # (2 + 15) / 2, ragged tasks
    assert stats.mean(np.array([[1.0, 3.0], [3.0, 5.0]])) == 3.0


def test_probability_of_improvement_by_hand():
    # pairs (x, y): 1<2 twice (0), 2=2 twice (1/2 each), 3>2 twice (1): (0 + 0 + .5 + .5 + 1 + 1) / 6
    assert stats.probability_of_improvement([np.array([1.0, 2.0, 3.0])], [np.array([2.0, 2.0])]) == 0.5
    assert stats.probability_of_improvement([np.array([3.0, 4.0])], [np.array([1.0, 2.0])]) == 1.0
    # two tasks: the mean of 1 and 0.25 (x = 1 beats y = 0 only: 1 of 4 pairs)
    x, y = [np.array([3.0, 4.0]), np.array([0.0, 1.0])], [np.array([1.0, 2.0]), np.array([1.5, 2.0])]
    assert stats.probability_of_improvement(x, y) == pytest.approx((1.0 + 0.0) / 2)
    x2 = [np.array([3.0, 4.0]), np.array([1.0, 5.0])]
    assert stats.probability_of_improvement(x2, y) == pytest.approx((1.0 + 0.5) / 2)
    with pytest.raises(ValueError, match="same tasks"):
        stats.probability_of_improvement(x, y[:1])


def test_stratified_bootstrap_resamples_within_tasks():
    # runs of one task never stand in for another's: the mean of task means is 5 in every resample
    ci = stats.bootstrap_ci([np.zeros(3), np.full(3, 10.0)], "mean", reps=2000)
    assert ci == (5.0, 5.0, 5.0)
    # one task, runs 0 and 1: resampled means are 0, 0.5, 1 with probabilities 1/4, 1/2, 1/4
    ci = stats.bootstrap_ci([np.array([0.0, 1.0])], "mean", reps=20_000, seed=1)
    assert ci == (0.5, 0.0, 1.0)
    one = stats.bootstrap_ci([np.array([7.0])], "iqm", reps=100)
    assert one == (7.0, 7.0, 7.0)
    rng = np.random.default_rng(0)
    scores = [rng.normal(0, 1, 10), rng.normal(5, 1, 10)]
    q = stats.bootstrap_ci(scores, "iqm", reps=5000)
    assert q.low < q.value < q.high and q.value == stats.iqm(scores)
    poi = stats.probability_of_improvement_ci([np.array([3.0, 4.0])], [np.array([1.0, 2.0])], reps=500)
    assert poi == (1.0, 1.0, 1.0)


def test_performance_profile_and_normalize():
    frac, low, high = stats.performance_profile([np.array([1.0, 2.0, 3.0, 4.0])], np.array([0.0, 2.5, 4.0]), 500)
    np.testing.assert_array_equal(frac, [1.0, 0.5, 0.0])
    assert np.all(low <= frac) and np.all(frac <= high)
    frac2, _, _ = stats.performance_profile([np.array([1.0, 3.0]), np.array([0.0, 0.0, 0.0, 5.0])], np.array([2.0]))
    assert frac2[0] == pytest.approx((0.5 + 0.25) / 2)  # the mean over tasks of each task's fraction
    np.testing.assert_allclose(stats.normalize(np.array([20.0, 475.0, 247.5]), 20.0, 475.0), [0.0, 1.0, 0.5])
    with pytest.raises(ValueError, match="high > low"):
        stats.normalize(np.zeros(2), 1.0, 1.0)


def test_against_scipy():
    scipy_stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    for n in (1, 3, 4, 7, 10, 21):
        x = rng.normal(size=n)
        assert stats.trim_mean(x) == pytest.approx(scipy_stats.trim_mean(x, 0.25))
    x, y = rng.integers(0, 5, 9).astype(float), rng.integers(0, 5, 7).astype(float)  # with ties
    u = scipy_stats.mannwhitneyu(x, y, alternative="greater").statistic
    assert stats.probability_of_improvement([x], [y]) == pytest.approx(u / (len(x) * len(y)))


def test_against_rliable_metrics():
    metrics = pytest.importorskip("rliable.metrics")
    rng = np.random.default_rng(1)
    for runs, tasks in ((8, 3), (5, 1), (10, 4)):
        x, y = rng.normal(1.0, 1.0, (runs, tasks)), rng.normal(0.5, 1.0, (runs, tasks))  # (runs, tasks)
        y[0] = x[0]  # some ties
        assert stats.iqm(x) == pytest.approx(metrics.aggregate_iqm(x))
        assert stats.mean(x) == pytest.approx(metrics.aggregate_mean(x))
        assert stats.probability_of_improvement(x, y) == pytest.approx(metrics.probability_of_improvement(x, y))


def _rliable_library():
    """rliable's bootstrap module, or a skip: it imports arch, whose releases rliable accepts (< 8) fail to import
    with pandas >= 3."""
    pytest.importorskip("rliable")
    try:
        from rliable import library
    except Exception as e:  # noqa: BLE001 - arch's import error under pandas 3 is a TypeError
        pytest.skip(f"rliable.library does not import here ({type(e).__name__}: {e})")
    return library


def test_against_rliable_bootstrap():
    rly = _rliable_library()
    from rliable import metrics

    rng = np.random.default_rng(1)
    x = rng.normal(1.0, 1.0, (8, 3))
    np.random.seed(0)  # noqa: NPY002 - rliable's bootstrap draws from numpy's global generator
    funcs = lambda s: np.array([metrics.aggregate_iqm(s), metrics.aggregate_mean(s)])  # noqa: E731
    points, cis = rly.get_interval_estimates({"x": x}, funcs, reps=5000)
    mine = [stats.bootstrap_ci(x, name, reps=20_000) for name in ("iqm", "mean")]
    np.testing.assert_allclose([m.value for m in mine], points["x"])
    width = cis["x"][1] - cis["x"][0]  # two bootstraps agree to a few percent of the interval's width
    np.testing.assert_allclose([m.low for m in mine], cis["x"][0], atol=0.1 * width.max())
    np.testing.assert_allclose([m.high for m in mine], cis["x"][1], atol=0.1 * width.max())
    taus = np.linspace(-1, 3, 9)
    profiles, _ = rly.create_performance_profile({"x": x}, taus, reps=200)
    np.testing.assert_allclose(stats.performance_profile(x, taus, reps=200)[0], profiles["x"])


def _fake_run(root: Path, impl: str, env: str, seed: int, eval_mean: float, hyperparams_file: Path) -> None:
    """A finished run directory as the train runner leaves it (monitor.csv, eval.json), no training: trained with
    ``hyperparams_file``'s entry (60 steps, the agent's defaults), so compare reuses it."""
    run = root / impl / f"ppo_{env.replace('/', '-')}_s{seed}"
    run.mkdir(parents=True)
    rows = "".join(f"{eval_mean + k},{10 + k},{0.1 * k}\n" for k in range(5))
    header = json.dumps({"t_start": 0, "env_id": env})
    (run / "monitor.csv").write_text(f"#{header}\nr,l,t\n{rows}")
    meta = {
        "impl": impl,
        "algo": "ppo",
        "env": env,
        "seed": seed,
        "total_timesteps": 60,
        "eval_mean": eval_mean,
        "eval_std": 0.0,
        "n_eval_episodes": 20,
        "train_seconds": 1.0,
        "steps_per_second": 60,
        "hyperparams_file": str(hyperparams_file),
        "hyperparams": {},
    }
    (run / "eval.json").write_text(json.dumps(meta))


def test_compare_retrains_a_run_it_cannot_evaluate_again(tmp_path, capsys):
    """A reusable run whose eval.json does not say how many episodes it was evaluated over, and whose model file is
    gone, is trained again (it cannot be evaluated again)."""
    hyperparams = tmp_path / "ppo.yml"
    hyperparams.write_text("CartPole-v1: {n_timesteps: 60}\n")
    _fake_run(tmp_path / "runs", "nngym", "CartPole-v1", 0, 123.0, hyperparams)
    run = tmp_path / "runs" / "nngym" / "ppo_CartPole-v1_s0"
    meta = json.loads((run / "eval.json").read_text())
    del meta["n_eval_episodes"]
    (run / "eval.json").write_text(json.dumps(meta))
    argv = ["--env", "CartPole-v1", "--algo", "ppo", "--log-dir", str(tmp_path / "runs"), "--seeds", "0"]
    argv += ["--hyperparams-file", str(hyperparams), "--impl", "nngym", "--n-eval-episodes", "2"]
    compare.main([*argv, "--out", str(tmp_path / "out")])
    assert "it has no model.npz to evaluate again" in capsys.readouterr().out
    meta = json.loads((run / "eval.json").read_text())
    assert meta["n_eval_episodes"] == 2 and meta["eval_mean"] != 123.0 and (run / "model.npz").exists()


def test_compare_reports_statistics_per_env_and_over_envs(tmp_path):
    scores = {
        ("CartPole-v1", "nngym"): [500.0, 480.0, 300.0],
        ("CartPole-v1", "sb3"): [450.0, 200.0, 480.0],
        ("Acrobot-v1", "nngym"): [-80.0, -90.0, -500.0],
        ("Acrobot-v1", "sb3"): [-100.0, -95.0, -85.0],
    }
    hyperparams = tmp_path / "ppo.yml"
    hyperparams.write_text("CartPole-v1: {n_timesteps: 60}\nAcrobot-v1: {n_timesteps: 60}\n")
    for (env, impl), values in scores.items():
        for seed, v in enumerate(values):
            _fake_run(tmp_path / "runs", impl, env, seed, v, hyperparams)
    out = tmp_path / "out"
    argv = ["--env", "CartPole-v1", "Acrobot-v1", "--algo", "ppo", "--log-dir", str(tmp_path / "runs")]
    argv += ["--hyperparams-file", str(hyperparams)]
    compare.main([*argv, "--out", str(out), "--window", "2", "--bootstrap-reps", "2000"])
    with open(out / "compare_ppo_CartPole-v1_stats.csv") as f:
        rows = {r["impl"]: r for r in csv.DictReader(f)}
    assert float(rows["nngym"]["iqm"]) == pytest.approx(stats.iqm([np.array([500.0, 480.0, 300.0])]))
    assert float(rows["sb3"]["mean"]) == pytest.approx(np.mean([450.0, 200.0, 480.0]))
    poi = stats.probability_of_improvement([np.array(scores["CartPole-v1", "nngym"])], [np.array([450, 200, 480.0])])
    # 500 beats all three, 480 beats two and ties one, 300 beats one: 6.5 of 9 pairs
    assert float(rows["nngym"]["p_improvement_over_sb3"]) == pytest.approx(poi) == pytest.approx(6.5 / 9)
    assert rows["sb3"]["p_improvement_over_sb3"] == ""
    md = (out / "compare_ppo_CartPole-v1.md").read_text()
    assert "IQM eval return [95% CI]" in md and f"{poi:.2f} [" in md
    for name in ("compare_ppo_CartPole-v1_profile.png", "compare_ppo_aggregate_profile.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    aggregate = (out / "compare_ppo_aggregate.md").read_text()
    assert "CartPole-v1: 0 = random policy's" in aggregate and "1 = 475 (reward threshold)" in aggregate
    assert "1 = -100 (reward threshold)" in aggregate
    with open(out / "compare_ppo_aggregate_stats.csv") as f:
        agg = {r["impl"]: r for r in csv.DictReader(f)}
    assert agg["nngym"]["tasks"] == "2" and agg["nngym"]["runs"] == "6"
    lo_c, lo_a = compare.random_score("CartPole-v1"), compare.random_score("Acrobot-v1")
    normed = [
        stats.normalize(np.array(scores["CartPole-v1", "nngym"]), lo_c, 475.0),
        stats.normalize(np.array(scores["Acrobot-v1", "nngym"]), lo_a, -100.0),
    ]
    assert float(agg["nngym"]["iqm"]) == pytest.approx(stats.iqm(normed))
    assert float(agg["nngym"]["mean"]) == pytest.approx(stats.mean(normed))
