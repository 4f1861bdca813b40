"""The train runner behind scripts/train.py: the kept best model is evaluated like the final one; env kwargs;
the BLAS thread count; numbers checked when the command line is parsed; -p overrides translated as yml keys;
resuming (the steps asked for, monitor.csv's time axis); module:EnvId env ids."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from agents import PPO, evaluate_episodes
from agents.experiments import train

#: a tiny PPO for CartPole-v1: 64 env steps a rollout
TINY = ["n_envs=2", "n_steps=32", "batch_size=64", "n_epochs=1"]


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
        "256",  # env steps, as the zoo's: every 64 vector steps of 4 envs
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
    no_pair = r"expected KEY=VALUE \(or the zoo's KEY:VALUE\), got 'corridor_length'"
    with pytest.raises(SystemExit, match="--env-kwargs: " + no_pair):
        train.main([*tmaze, "--env-kwargs", "corridor_length"])
    with pytest.raises(SystemExit, match="error: corridor_length must be an integer >= 1, got 0"):
        train.main([*tmaze, "--env-kwargs", "corridor_length=0"])
    # --eval-env-kwargs builds the evaluation env alone (the training env keeps --env-kwargs)
    made = []
    real_make = train.gym.make
    monkeypatch.setattr(train.gym, "make", lambda env_id, **kw: made.append(kw) or real_make(env_id, **kw))
    result = train.main([*args, "--eval-env-kwargs", "corridor_length=4"])
    assert result["env_kwargs"] == {"corridor_length": 2} and result["eval_env_kwargs"] == {"corridor_length": 4}
    given = [{k: v for k, v in kw.items() if k != "render_mode"} for kw in made]  # training envs draw rgb_array
    assert made[-1] == {"corridor_length": 4} and {"corridor_length": 2} in given
    with pytest.raises(SystemExit, match="error: corridor_length must be an integer >= 1, got 0"):
        train.main([*args, "--eval-env-kwargs", "corridor_length=0"])
    no_pair = r"expected KEY=VALUE \(or the zoo's KEY:VALUE\), got 'corridor_length'"
    with pytest.raises(SystemExit, match="--eval-env-kwargs: " + no_pair):
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
    with pytest.raises(
        SystemExit, match=r"error: .*overrides \{'bogus': 1\}: \['bogus'\] not hyperparameters of nngym's"
    ):
        train.main([*base, "--hyperparams", "bogus=1"])
    with pytest.raises(SystemExit, match=r"error: --hyperparams: the value of 'net_arch=\[1,' is not a YAML value"):
        train.main([*base, "--hyperparams", "net_arch=[1,"])
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


def _rows(monitor: Path) -> np.ndarray:
    """(E, 3) r, l, t of a monitor.csv."""
    return np.loadtxt(monitor, delimiter=",", skiprows=2, ndmin=2)


def test_total_timesteps_zero_trains_nothing_and_negative_counts_are_refused_when_parsed(tmp_path, capsys):
    """0 is SB3's learn(0): nothing trained, the initial policy saved and evaluated; bad counts end in an error: line
    before anything trains."""
    base = ["--algo", "ppo", "--env", "CartPole-v1", "--no-progress", "--log-dir", str(tmp_path)]
    base += ["--n-eval-episodes", "3", "-p", *TINY, "n_timesteps=256"]
    result = train.main([*base, "--total-timesteps", "0"])
    assert result["total_timesteps"] == 0 and result["steps_per_second"] == 0
    untrained = PPO("CartPole-v1", seed=0, **train.run_hyperparameters("ppo", "CartPole-v1", None, TINY).agent)
    returns = evaluate_episodes(untrained, "CartPole-v1", 3, deterministic=True, seed=10_000)
    assert result["eval_mean"] == pytest.approx(np.mean(returns)) and result["eval_std"] == pytest.approx(
        np.std(returns)
    )
    saved = PPO.load(tmp_path / "ppo_CartPole-v1_s0" / "model.npz")
    assert saved.num_timesteps == 0
    np.testing.assert_array_equal(
        saved.predict(np.ones(4), deterministic=True)[0], untrained.predict(np.ones(4), deterministic=True)[0]
    )
    capsys.readouterr()
    for option, value, low in [
        ("--total-timesteps", "-5", 0),
        ("--n-eval-episodes", "-1", 0),
        ("--eval-freq", "-5", 0),
        ("--checkpoint-freq", "-5", 0),
        ("--accuracy-freq", "-1", 0),
        ("--eval-episodes", "0", 1),
    ]:
        with pytest.raises(SystemExit) as info:
            train.main([*base, option, value])
        assert info.value.code == 2  # argparse's exit, nothing trained
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-1].endswith(f": error: argument {option}: expected an integer >= {low}, got {value}")
        assert "Traceback" not in "\n".join(err)


def test_n_eval_episodes_zero_skips_the_evaluation(tmp_path):
    argv = ["--algo", "ppo", "--env", "CartPole-v1", "--no-progress", "--log-dir", str(tmp_path)]
    result = train.main([*argv, "--total-timesteps", "64", "--n-eval-episodes", "0", "-p", *TINY])
    saved = json.loads((tmp_path / "ppo_CartPole-v1_s0" / "eval.json").read_text())
    assert result["total_timesteps"] == saved["total_timesteps"] == 64
    assert saved["eval_mean"] is None and saved["eval_std"] is None
    assert (tmp_path / "ppo_CartPole-v1_s0" / "reward_curve.png").stat().st_size > 1000


def test_zoo_keys_in_overrides_translate_as_in_a_yml_entry(tmp_path):
    """-p goes through the yml translation, merged with the entry: policy_kwargs strings, normalize, net_arch dicts."""
    argv = ["--algo", "ppo", "--env", "CartPole-v1", "--total-timesteps", "64", "--no-progress"]
    argv += ["--log-dir", str(tmp_path), "--n-eval-episodes", "1", "-p", *TINY]
    result = train.main([*argv, "policy_kwargs=dict(net_arch=[32], activation_fn=nn.ReLU)", "normalize=true"])
    hp = result["hyperparams"]
    assert (hp["net_arch"], hp["activation"], hp["normalize_obs"], hp["normalize_reward"]) == ([32], "relu", True, True)
    assert "policy_kwargs" not in hp and "normalize" not in hp
    agent = PPO.load(tmp_path / "ppo_CartPole-v1_s0" / "model.npz")
    assert agent.config.net_arch == (32,) and agent.config.activation == "relu" and agent.normalizer is not None
    result = train.main([*argv, "net_arch={pi: [16], vf: [16]}"])
    assert result["hyperparams"]["net_arch"] == [16]
    result = train.main([*argv, "net_arch={pi: [16], vf: [8]}"])  # SB3's form for different sizes
    assert result["hyperparams"]["net_arch"] == {"pi": [16], "vf": [8]}
    dqn = ["--algo", "dqn", *argv[2 : -len(TINY)], "learning_starts=0", "net_arch={pi: [16], vf: [8]}"]
    with pytest.raises(SystemExit, match=r"^error: DQN: net_arch must be a list of positive layer sizes"):
        train.main(dqn)  # one list for a Q-network: refused in one line
    zoo = tmp_path / "zoo.yml"  # an override wins over what the entry's own keys translate to
    zoo.write_text("CartPole-v1:\n  policy_kwargs: 'dict(net_arch=[64, 64], activation_fn=nn.ReLU)'\n  gamma: 0.9\n")
    result = train.main([*argv, "net_arch=[8]", "--hyperparams-file", str(zoo)])
    assert (result["hyperparams"]["net_arch"], result["hyperparams"]["activation"]) == ([8], "relu")


def test_resume_refuses_a_checkpoint_past_the_total_and_continues_the_monitor_time(tmp_path):
    """A checkpoint with more steps than asked for: one error: line naming both. Resumed, monitor.csv's t goes on
    from the checkpoint's last episode, not from when the first run started (an hour earlier here)."""
    argv = ["--algo", "ppo", "--env", "CartPole-v1", "--no-progress", "--log-dir", str(tmp_path)]
    argv += ["--n-eval-episodes", "1", "-p", *TINY]
    train.main([*argv, "--total-timesteps", "256", "--checkpoint-freq", "64"])
    run = tmp_path / "ppo_CartPole-v1_s0"
    checkpoints = run / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == [f"ppo_{n}_steps.npz" for n in (128, 256)]
    with pytest.raises(SystemExit) as info:
        train.main([*argv, "--total-timesteps", "128", "--resume", str(checkpoints / "ppo_256_steps.npz")])
    assert str(info.value) == (
        f"error: --resume {checkpoints / 'ppo_256_steps.npz'}: the checkpoint has trained 256 steps, more than "
        "--total-timesteps 128; ask for a total of at least 256"
    )
    monitor = run / "monitor.csv"
    lines = monitor.read_text().splitlines()
    header = json.loads(lines[0][1:])
    header["t_start"] -= 3600.0  # the run was killed an hour before it is resumed
    monitor.write_text("\n".join(["#" + json.dumps(header), *lines[1:]]) + "\n")
    kept = PPO.load(checkpoints / "ppo_128_steps.npz")._episode_num
    before = _rows(monitor)[:kept]
    result = train.main([*argv, "--total-timesteps", "256", "--resume", str(checkpoints / "ppo_128_steps.npz")])
    after = _rows(monitor)
    assert result["total_timesteps"] == 256 and len(after) > kept
    np.testing.assert_array_equal(after[:kept], before)
    new_t = after[kept:, 2]
    assert np.all(np.diff(after[:, 2]) >= 0)  # one time axis, no jump back
    assert before[-1, 2] <= new_t[0] and new_t[-1] - before[-1, 2] < 600  # not the hour between the runs


def test_a_module_env_id_is_imported_from_the_current_directory(tmp_path, monkeypatch, capsys):
    """README's ``--env my_envs:MyEnv-v0`` with my_envs.py where the command runs (a script's sys.path[0] is its own
    folder); a module that cannot be imported, also an env's entry point, ends in one error: line."""
    scripts = str(Path(train.__file__).resolve().parents[2] / "scripts")
    cwd_free = [p for p in sys.path if p not in ("", ".", str(tmp_path))]
    monkeypatch.setattr(sys, "path", [scripts, *cwd_free])  # what python scripts/train.py sees
    monkeypatch.chdir(tmp_path)
    (tmp_path / "nngym_tmp_envs.py").write_text(
        "import gymnasium as gym\n"
        "gym.register(id='TmpPole-v0', entry_point='gymnasium.envs.classic_control.cartpole:CartPoleEnv', "
        "max_episode_steps=20)\n"
        "gym.register(id='TmpBroken-v0', entry_point='nngym_no_such_module:Env')\n"
    )
    (tmp_path / "mine.yml").write_text("TmpPole-v0: {}\nTmpBroken-v0: {}\n")
    argv = ["--algo", "ppo", "--total-timesteps", "64", "--no-progress", "--log-dir", "runs"]
    argv += ["--n-eval-episodes", "2", "--hyperparams-file", "mine.yml", "-p", *TINY]
    result = train.main([*argv, "--env", "nngym_tmp_envs:TmpPole-v0"])
    assert result["env"] == "nngym_tmp_envs:TmpPole-v0" and result["total_timesteps"] == 64
    assert tmp_path in [Path(p) for p in sys.path] and "nngym_tmp_envs" in sys.modules
    lengths = _rows(tmp_path / "runs" / "ppo_nngym_tmp_envs-TmpPole-v0_s0" / "monitor.csv")[:, 1]
    assert lengths.max() <= 20  # the module's registration, with its time limit
    with pytest.raises(SystemExit, match="error: No module named 'nngym_no_such_module'"):
        train.main([*argv, "--env", "nngym_tmp_envs:TmpBroken-v0"])
    with pytest.raises(SystemExit):
        train.main([*argv, "--env", "nngym_not_here:TmpPole-v0"])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert ": error: argument --env: env id 'nngym_not_here:TmpPole-v0': cannot import its module" in err
    assert "No module named 'nngym_not_here'" in err and str(tmp_path) in err


@pytest.mark.parametrize("verbose", ["-1", "0"])
def test_a_verbose_of_zero_or_less_prints_no_table(tmp_path, capsys, verbose):
    """SB3 prints nothing for any verbose <= 0; the table is printed from 1 on (9 counts as SB3's 2)."""
    argv = ["--algo", "ppo", "--env", "CartPole-v1", "--no-progress", "--log-dir", str(tmp_path), "-n", "64"]
    argv += ["--n-eval-episodes", "1", "-p", *TINY]
    train.main([*argv, "--verbose", verbose])
    assert "| time/" not in capsys.readouterr().out
    train.main([*argv, "--verbose", "9"])
    assert re.search(r"\|    total_timesteps +\| 64 ", capsys.readouterr().out)


def test_accuracy_options_are_refused_where_they_would_do_nothing(tmp_path, capsys):
    """--accuracy-freq and --stop-accuracy measure DigitClassify's test images: refused on other envs, and
    --stop-accuracy without --accuracy-freq (never measured) or outside (0, 1]."""
    base = ["--algo", "ppo", "--no-progress", "--log-dir", str(tmp_path)]
    for argv, message in (
        (
            ["--env", "CartPole-v1", "--accuracy-freq", "100"],
            "error: --accuracy-freq 100: the test accuracy is nngym/DigitClassify's (its 10,000 test images); "
            "--env CartPole-v1 has none",
        ),
        (
            ["--env", "CartPole-v1", "--stop-accuracy", "0.9"],
            "error: --stop-accuracy 0.9: the test accuracy is nngym/DigitClassify's (its 10,000 test images); "
            "--env CartPole-v1 has none",
        ),
        (
            ["--stop-accuracy", "0.9"],
            "error: --stop-accuracy 0.9 stops at a test accuracy measured every --accuracy-freq env steps; give "
            "--accuracy-freq N too",
        ),
    ):
        with pytest.raises(SystemExit) as info:
            train.main([*base, *argv])
        assert str(info.value) == message
    assert not list(tmp_path.iterdir())  # refused before any run folder
    for value in ("0", "1.5", "-0.1", "nan"):
        with pytest.raises(SystemExit) as info:
            train.parse_args(["--stop-accuracy", value])
        assert info.value.code == 2
        last = capsys.readouterr().err.strip().splitlines()[-1]
        assert last.endswith(f": error: argument --stop-accuracy: expected an accuracy in (0, 1], got {value}")
    assert train.parse_args(["--stop-accuracy", "1", "--accuracy-freq", "500"]).stop_accuracy == 1.0


def test_the_speed_counts_the_steps_taken_not_the_budget(tmp_path):
    """A rollout of 2 x 512 steps overshoots a budget of 520: eval.json's speed divides the 1,024 steps taken."""
    result = train.main(
        ["--algo", "ppo", "--env", "CartPole-v1", "--no-progress", "--log-dir", str(tmp_path), "--n-eval-episodes", "1"]
        + ["--total-timesteps", "520", "-p", "n_envs=2", "n_steps=512", "batch_size=256", "n_epochs=1"]
    )
    assert result["total_timesteps"] == 1024
    seconds = json.loads((tmp_path / "ppo_CartPole-v1_s0" / "eval.json").read_text())["train_seconds"]
    assert result["steps_per_second"] == pytest.approx(1024 / seconds, rel=0.25)  # train_seconds is rounded; 520
    # steps would give half of it
