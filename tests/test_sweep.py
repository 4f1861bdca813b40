"""Sweeps: validation before anything runs, local and Ray backends, resume, failures, retry from checkpoint."""

import json
import re
import runpy
from pathlib import Path

import pytest

from agents.experiments.sweep import run_sweep, write_report
from agents.experiments.sweep_file import TRAIN_COMMAND as TRAIN
from agents.experiments.sweep_file import SweepError, load_sweep
from agents.experiments.tune import check_tune

ROOT = Path(__file__).resolve().parents[1]

BASE = {
    "name": "t",
    "impls": ["nngym"],
    "algos": ["ppo"],
    "envs": ["CartPole-v1"],
    "seeds": [0, 1],
    "total_timesteps": 512,
    "n_eval_episodes": 1,
    "checkpoint_freq": 16,  # vector steps: a checkpoint every 128 env steps
    "hyperparams": {"n_epochs": 2},
}


@pytest.mark.parametrize(
    "change,message",
    [
        ({"algos": ["ppo", "sac"]}, r"nngym has no algorithm \['sac'\]"),
        ({"envs": ["NoSuchEnv-v0"]}, "unknown env id 'NoSuchEnv-v0'"),
        ({"impls": ["jax"]}, "unknown implementation 'jax'"),
        ({"colour": "red"}, r"unknown keys \['colour'\]"),
        ({"hyperparams": {"learning_rat": [1e-3]}}, r"ppo has no hyperparameter \['learning_rat'\]"),
        ({"seeds": [0, "one"]}, "seeds must be integers"),
        ({"seeds": []}, "'seeds' is an empty list"),
        ({"seeds": [0, 0]}, r"seeds must be distinct .*got \[0, 0\]: 0 repeated"),
        ({"seeds": [3, 1, 3, 1, 2]}, r"seeds must be distinct .*: 1, 3 repeated"),
        ({"total_timesteps": -5}, "total_timesteps must be a positive number"),
        ({"n_eval_episodes": 0}, r"n_eval_episodes must be >= 1 \(the sweep's table compares the final evaluations\)"),
        ({"envs": ["nngym_no_such_module:Env-v0"]}, "cannot import its module 'nngym_no_such_module'"),
    ],
)
def test_invalid_sweeps_fail_before_running(change, message):
    with pytest.raises(SweepError, match=message):
        load_sweep({**BASE, **change})


TUNE = {"algo": "ppo", "env": "CartPole-v1", "search_space": {"learning_rate": {"loguniform": [1e-4, 3e-3]}}}


@pytest.mark.parametrize(
    "change,message",
    [
        ({"env": None}, "tune: missing 'env'"),
        ({"search_space": {"learning_rat": {"choice": [1]}}}, r"tune: ppo has no hyperparameter \['learning_rat'\]"),
        (
            {"search_space": {"learning_rate": {"loguniform": [0, 1]}}},
            r"search_space.learning_rate: loguniform needs bounds 0 < low < high, got low 0 and high 1",
        ),
        (
            {"search_space": {"learning_rate": {"loguniform": [0.01, 0.001]}}},
            "loguniform needs bounds 0 < low < high, got low 0.01 and high 0.001",
        ),
        ({"search_space": {"n_steps": {"randint": [32, 16]}}}, "randint needs low < high .*got low 32 and high 16"),
        ({"search_space": {"n_steps": {"choice": []}}}, "choice needs a non-empty list of values, got \\[\\]"),
        ({"search_space": {"n_steps": [16, 32]}}, "search_space.n_steps must be one of"),
        (
            {"total_timesteps": 1000},
            r"need 0 < report_every <= total_timesteps, got report_every 5000 \(the default\) and total_timesteps 1000",
        ),
        ({"report_every": 0}, "report_every must be an integer >= 1, got 0"),
        ({"num_samples": "8"}, "num_samples must be an integer >= 1, got '8'"),
        ({"asha": {"grace_period": 9}}, r"asha.grace_period must be an integer from 1 to .* = 6\), got 9"),
        ({"asha": {"reduction_factor": 1}}, "asha.reduction_factor must be a number > 1, got 1"),
    ],
)
def test_invalid_tune_sections_fail_before_ray(change, message):
    cfg = {k: v for k, v in {**TUNE, **change}.items() if v is not None}
    with pytest.raises(SweepError, match=message):
        check_tune(cfg)


def test_sweep_script_ends_a_bad_file_in_one_error_line(tmp_path, capsys):
    main = runpy.run_path(str(ROOT / "scripts" / "sweep.py"))["main"]
    cases = {
        "tune: {algo: ppo}": "error: {file}: tune: missing 'env'",
        "tune: {algo: ppo, env: CartPole-v1, search_space: {learning_rate: {loguniform: [0, 1]}}}": (
            "error: {file}: tune: search_space.learning_rate: loguniform needs bounds 0 < low < high"
        ),
        "algos: [ppo]\nenvs: [CartPole-v1]\nseeds: [0, 0]": "error: {file}: seeds must be distinct",
    }
    for text, expected in cases.items():
        path = tmp_path / "bad.yaml"
        path.write_text(text)
        assert main([str(path), "--log-dir", str(tmp_path / "runs")]) == 2
        err = capsys.readouterr().err
        assert err.startswith(expected.format(file=path)) and err.count("\n") == 1, err
    assert not (tmp_path / "runs").exists()  # nothing ran


def test_sweep_script_refuses_a_drill_that_would_do_nothing_and_no_cpus(tmp_path, capsys):
    """--drill-kill names a run of the sweep on a sweep with checkpoints (the worker dies after the first one);
    --cpus-per-run is > 0. Refused in one error line before anything runs."""
    main = runpy.run_path(str(ROOT / "scripts" / "sweep.py"))["main"]
    path = tmp_path / "sweep.yaml"
    names = "nngym_ppo_CartPole-v1_s0_n_epochs=2, nngym_ppo_CartPole-v1_s1_n_epochs=2"
    cases = [
        (BASE, ["--drill-kill", "nope"], f"--drill-kill nope: no run of that name in the sweep; its runs: {names}"),
        (
            {k: v for k, v in BASE.items() if k != "checkpoint_freq"},
            ["--drill-kill", "nngym_ppo_CartPole-v1_s0_n_epochs=2"],
            "--drill-kill nngym_ppo_CartPole-v1_s0_n_epochs=2: the drill kills the run's worker after its first "
            "checkpoint, and the sweep has no checkpoint_freq; set checkpoint_freq in the sweep file",
        ),
        (
            {"tune": {"algo": "ppo", "env": "CartPole-v1", "search_space": {"n_steps": {"choice": [16, 32]}}}},
            ["--drill-kill", "x"],
            "--drill-kill x: a Ray Tune sweep has no named runs to kill",
        ),
        (BASE, ["--cpus-per-run", "0"], "argument --cpus-per-run: expected a number > 0, got 0"),
    ]
    for spec, argv, message in cases:
        path.write_text(json.dumps(spec))  # JSON is YAML
        with pytest.raises(SystemExit) as info:
            main([str(path), "--log-dir", str(tmp_path / "runs"), *argv])
        assert info.value.code == 2
        assert capsys.readouterr().err.strip().splitlines()[-1].endswith(f": error: {message}")
    assert not (tmp_path / "runs").exists()  # nothing ran
    with pytest.raises(ValueError, match="--drill-kill nope: no run of that name"):
        run_sweep(load_sweep(BASE), tmp_path / "runs", TRAIN, drill_kill="nope")


def test_the_grid_takes_the_yml_keys_the_train_runner_translates():
    sweep = load_sweep({**BASE, "hyperparams": {"normalize": [True, False], "policy_kwargs": "dict(net_arch=[8])"}})
    argv = sweep.runs[0].argv(Path("runs"), 1, 0, None)
    assert argv[argv.index("-p") + 1 :] == ["normalize=true", 'policy_kwargs="dict(net_arch=[8])"']


def test_every_sweep_file_named_in_help_and_docs_exists():
    """The examples in scripts/sweep.py --help, the README, RESULTS.md and docstrings name files that are there."""
    root = Path(__file__).resolve().parents[1]
    texts = [root / "README.md", root / "RESULTS.md", *sorted((root / "scripts").glob("*.py"))]
    texts += sorted((root / "agents" / "experiments").glob("*.py")) + sorted((root / "scripts" / "sweeps").iterdir())
    named = {
        (text.name, m.group(1))
        for text in texts
        for m in re.finditer(r"(?<![\w/.-])((?:scripts/)?sweeps/[\w.-]+\.ya?ml)", text.read_text())
    }
    assert ("sweep.py", "scripts/sweeps/tune_ppo_cartpole.yaml") in named
    missing = sorted((name, path) for name, path in named if not (root / path).is_file())
    assert missing == []


def test_grid_expansion_and_names():
    sweep = load_sweep({**BASE, "impls": ["nngym", "sb3"], "hyperparams": {"gamma": [0.9, 0.99], "n_epochs": 2}})
    assert len(sweep.runs) == 2 * 2 * 2
    names = {r.name for r in sweep.runs}
    assert "sb3_ppo_CartPole-v1_s1_gamma=0.99_n_epochs=2" in names
    assert len(names) == 8
    for run in sweep.runs:  # runs side by side: a core each
        argv = run.argv(Path("runs"), 1, 0, None)
        assert argv[argv.index("--num-threads") + 1] == "1"


def _results(log_dir: Path) -> dict[str, float]:
    return {p.parent.parent.name: json.loads(p.read_text())["eval_mean"] for p in log_dir.glob("*/*/eval.json")}


@pytest.mark.slow
def test_local_backend_resume_failure_and_retry(tmp_path):
    bad = {**BASE, "seeds": [0, 1, 2], "hyperparams": {"n_epochs": 2, "n_steps": [16]}}
    first = run_sweep(
        load_sweep(bad), tmp_path, TRAIN, workers=2, drill_kill="nngym_ppo_CartPole-v1_s1_n_epochs=2_n_steps=16"
    )
    assert [r.status for r in first] == ["finished"] * 3
    killed = first[1]
    assert killed.attempts == 2 and killed.resumed_from >= 128  # retried, resumed from a checkpoint
    assert len(_results(tmp_path)) == 3

    # a rerun skips finished runs; a run that raises is reported with its traceback while others finish
    failing = {**bad, "seeds": [0, 3], "hyperparams": {"n_epochs": 2, "n_steps": [16, -1]}}
    second = run_sweep(load_sweep(failing), tmp_path, TRAIN, workers=2)
    by_name = {r.run.name: r for r in second}
    assert by_name["nngym_ppo_CartPole-v1_s0_n_epochs=2_n_steps=16"].status == "skipped"
    assert by_name["nngym_ppo_CartPole-v1_s3_n_epochs=2_n_steps=16"].status == "finished"
    for seed in (0, 3):
        r = by_name[f"nngym_ppo_CartPole-v1_s{seed}_n_epochs=2_n_steps=-1"]
        assert r.status == "failed" and r.attempts == 1 and "error: PPO: n_steps must be >= 1, got -1" in r.error
        assert "n_steps must be >= 1, got -1" in (tmp_path / r.run.name / "error.txt").read_text()
    status = json.loads((tmp_path / "sweep_status.json").read_text())
    assert [s["status"] for s in status].count("failed") == 2

    # the driver's table (compare.py's code): one row for the finished group, over its 2 finished seeds
    table = write_report(second, tmp_path).read_text()
    rows = [line for line in table.splitlines() if line.startswith("| nngym | ppo")]
    assert len(rows) == 1 and "| nngym | ppo | CartPole-v1 | 2 | 512 |" in rows[0]
    assert "| nngym | 2 (1 env) |" in table  # the aggregate statistics over the 2 seeds (IQM, mean, CIs)
    assert (tmp_path / "plots" / "ppo_CartPole-v1_n_epochs=2_n_steps=16_profile.png").stat().st_size > 0
    assert (tmp_path / "plots" / "ppo_CartPole-v1_n_epochs=2_n_steps=16.png").stat().st_size > 0


@pytest.mark.slow
def test_ray_backend_matches_local_and_retries_killed_task(tmp_path):
    pytest.importorskip("ray")
    sweep = load_sweep({**BASE, "hyperparams": {"n_epochs": 2, "n_steps": [16, -1]}})
    good = "nngym_ppo_CartPole-v1_s{}_n_epochs=2_n_steps=16"
    local = run_sweep(sweep, tmp_path / "local", TRAIN, workers=2)
    ray_results = run_sweep(sweep, tmp_path / "ray", TRAIN, backend="ray", workers=2, drill_kill=good.format(0))
    statuses = ["finished", "finished", "failed", "failed"]
    assert [r.status for r in local] == [r.status for r in ray_results] == statuses
    assert ray_results[0].resumed_from >= 128  # the killed task was retried from its checkpoint
    failed = ray_results[2]  # the run that failed came back with its reason; the others finished
    reason = "error: PPO: n_steps must be >= 1, got -1"
    assert reason in failed.error and reason in (tmp_path / "ray" / failed.run.name / "error.txt").read_text()
    # files came back through Ray into the driver's directory; seed 1 (not killed) equals the local run exactly
    local_vals, ray_vals = _results(tmp_path / "local"), _results(tmp_path / "ray")
    assert set(local_vals) == set(ray_vals) == {good.format(0), good.format(1)}
    assert ray_vals[good.format(1)] == local_vals[good.format(1)]
    model = Path(good.format(1)) / "ppo_CartPole-v1_s1" / "model.npz"
    assert (tmp_path / "ray" / model).read_bytes() == (tmp_path / "local" / model).read_bytes()
    # a rerun skips the finished runs (and tries the failed ones again)
    rerun = run_sweep(sweep, tmp_path / "ray", TRAIN, backend="ray", workers=2)
    assert [r.status for r in rerun] == ["skipped", "skipped", "failed", "failed"]


@pytest.mark.slow
def test_ray_tune_search_writes_a_yaml_train_accepts(tmp_path):
    pytest.importorskip("ray.tune")
    from agents import load_hyperparams
    from agents.experiments.tune import run_tune

    cfg = {
        "algo": "ppo",
        "env": "CartPole-v1",
        "total_timesteps": 1024,
        "report_every": 512,
        "n_eval_episodes": 1,
        "num_samples": 2,
        "search_space": {"learning_rate": {"loguniform": [1e-4, 3e-3]}, "n_steps": {"choice": [16, 32]}},
    }
    best, path = run_tune(cfg, tmp_path)
    assert 1e-4 <= best["learning_rate"] <= 3e-3 and best["n_steps"] in (16, 32)
    hp = load_hyperparams("ppo", "CartPole-v1", path)
    assert hp["learning_rate"] == best["learning_rate"] and hp["n_steps"] == best["n_steps"]
    assert hp["n_timesteps"] == 1024 and hp["gae_lambda"] == 0.8  # the rest comes from the zoo entry
    with pytest.raises(ValueError, match="search_space.n_steps must be one of"):
        run_tune({**cfg, "search_space": {"n_steps": [16, 32]}}, tmp_path)


def test_a_drill_on_a_finished_run_is_refused_before_anything_runs(tmp_path, capsys):
    """A finished run (its eval.json written) is skipped, so a drill on it would do nothing: refused."""
    name = "nngym_ppo_CartPole-v1_s0_n_epochs=2"
    finished = tmp_path / "runs" / name
    finished.mkdir(parents=True)
    (finished / "eval.json").write_text("{}")
    with pytest.raises(
        ValueError, match=rf"--drill-kill {re.escape(name)}: that run has finished in .* the sweep skips it"
    ):
        run_sweep(load_sweep(BASE), tmp_path / "runs", TRAIN, drill_kill=name)
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == [name]  # nothing ran, no status written
    main = runpy.run_path(str(ROOT / "scripts" / "sweep.py"))["main"]
    path = tmp_path / "sweep.yaml"
    path.write_text(json.dumps(BASE))
    with pytest.raises(SystemExit) as info:
        main([str(path), "--log-dir", str(tmp_path / "runs"), "--drill-kill", name])
    assert info.value.code == 2
    expected = (
        f"error: --drill-kill {name}: that run has finished in {finished} and the sweep skips it, so the drill "
        "would do nothing; choose a run that has not finished, or remove its folder to run it again"
    )
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith(expected)
