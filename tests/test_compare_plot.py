"""compare and plot (behind scripts/compare.py, scripts/plot.py) end to end on tiny budgets; plotting vs naive twins."""

from __future__ import annotations

import csv
import importlib
import json
import shutil
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from agents.experiments.plotting import MonitorFileError, Run, load_run, moving_mean, read_monitor, steps_to_threshold

WINDOW, THRESHOLD = 5, 20.0


def _script(name: str):
    """The experiment module behind ``scripts/<name>.py``."""
    return importlib.import_module(f"agents.experiments.{name}")


def _monitor_rows(path: Path) -> np.ndarray:
    """(E, 3) r, l, t read independently of agents.experiments.plotting."""
    return np.loadtxt(path, delimiter=",", skiprows=2, ndmin=2)


def _naive_steps_to_threshold(returns: np.ndarray, lengths: np.ndarray, threshold: float, window: int) -> int | None:
    steps = 0
    for i in range(len(returns)):
        steps += int(lengths[i])
        if i + 1 >= window and np.mean(returns[i + 1 - window : i + 1]) >= threshold:
            return steps
    return None


@pytest.fixture(scope="module")
def compared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    """compare.py: PPO on CartPole-v1, nngym and SB3, two seeds, 1024 steps, 2 epochs per update."""
    pytest.importorskip("torch")
    pytest.importorskip("stable_baselines3")
    root = tmp_path_factory.mktemp("compare")
    argv = ["--env", "CartPole-v1", "--algo", "ppo", "--seeds", "0", "1", "--total-timesteps", "1024"]
    argv += ["--log-dir", str(root / "runs"), "--out", str(root / "out"), "--n-eval-episodes", "2"]
    argv += ["--window", str(WINDOW), "--threshold", str(THRESHOLD), "-p", "n_epochs=2"]
    summary = _script("compare").main(argv)
    return root, summary


def test_compare_files_match_monitor(compared: tuple[Path, list[dict]]) -> None:
    root, summary = compared
    out = root / "out"
    base = out / "compare_ppo_CartPole-v1"
    for suffix in (".md", ".csv", ".png", ".svg"):
        assert base.with_suffix(suffix).stat().st_size > 100, suffix
    assert base.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in base.with_suffix(".svg").read_text()[:2000]
    with open(base.with_name(base.name + "_runs.csv")) as f:
        per_run = list(csv.DictReader(f))
    assert sorted((r["impl"], r["seed"]) for r in per_run) == [
        ("nngym", "0"),
        ("nngym", "1"),
        ("sb3", "0"),
        ("sb3", "1"),
    ]
    for r in per_run:
        run_dir = root / "runs" / r["impl"] / f"ppo_CartPole-v1_s{r['seed']}"
        rows = _monitor_rows(run_dir / "monitor.csv")
        assert int(r["episodes"]) == len(rows)
        assert float(r["final_return"]) == pytest.approx(rows[-WINDOW:, 0].mean())
        expected = _naive_steps_to_threshold(rows[:, 0], rows[:, 1], THRESHOLD, WINDOW)
        assert (int(r["steps_to_threshold"]) if r["steps_to_threshold"] else None) == expected
        meta = json.loads((run_dir / "eval.json").read_text())
        assert float(r["eval_mean"]) == pytest.approx(meta["eval_mean"])
        assert int(r["timesteps"]) == meta["total_timesteps"] >= 1024
        assert meta["num_threads"] == 1  # every implementation on one core
        assert (run_dir / "progress.csv").stat().st_size > 0
    with open(base.with_suffix(".csv")) as f:
        table = {r["impl"]: r for r in csv.DictReader(f)}
    for impl in ("nngym", "sb3"):
        mine = [r for r in per_run if r["impl"] == impl]
        assert float(table[impl]["final_return_mean"]) == pytest.approx(
            np.mean([float(r["final_return"]) for r in mine])
        )
        sps = np.mean([float(r["steps_per_second"]) for r in mine])
        assert float(table[impl]["steps_per_second_mean"]) == pytest.approx(sps)
    ratio = float(table["nngym"]["steps_per_second_mean"]) / float(table["sb3"]["steps_per_second_mean"])
    assert float(table["nngym"]["sps_ratio_to_sb3"]) == pytest.approx(ratio)
    for r in per_run:  # CPU seconds of learn, from eval.json, and steps per CPU-second
        meta = json.loads((root / "runs" / r["impl"] / f"ppo_CartPole-v1_s{r['seed']}" / "eval.json").read_text())
        assert float(r["cpu_seconds"]) == meta["train_cpu_seconds"] > 0
        assert int(r["steps_per_cpu_second"]) == meta["steps_per_cpu_second"]
        cpu_s, steps = meta["train_cpu_seconds"], meta["total_timesteps"]  # cpu_s rounded to 0.01 s
        assert steps / (cpu_s + 0.005) - 1 <= meta["steps_per_cpu_second"] <= steps / (cpu_s - 0.005) + 1
    cpu = {i: np.mean([float(r["steps_per_cpu_second"]) for r in per_run if r["impl"] == i]) for i in table}
    assert float(table["nngym"]["steps_per_cpu_second_mean"]) == pytest.approx(cpu["nngym"])
    assert float(table["nngym"]["cpu_sps_ratio_to_sb3"]) == pytest.approx(cpu["nngym"] / cpu["sb3"])
    assert f"{cpu['nngym'] / cpu['sb3']:.2f}" in base.with_suffix(".md").read_text()
    assert float(table["sb3"]["sps_ratio_to_sb3"]) == pytest.approx(1.0)
    md = base.with_suffix(".md").read_text()
    assert f"{float(table['nngym']['final_return_mean']):.1f}" in md
    assert f"{ratio:.2f}" in md


def test_compare_reuses_finished_runs(compared: tuple[Path, list[dict]]) -> None:
    root, summary = compared
    monitor = root / "runs" / "sb3" / "ppo_CartPole-v1_s0" / "monitor.csv"
    before = monitor.stat().st_mtime_ns
    argv = ["--env", "CartPole-v1", "--algo", "ppo", "--seeds", "0", "--impl", "sb3", "--total-timesteps", "1024"]
    argv += ["--log-dir", str(root / "runs"), "--out", str(root / "again"), "--window", str(WINDOW)]
    again = _script("compare").main([*argv, "-p", "n_epochs=2"])  # the fixture's hyperparameters
    assert monitor.stat().st_mtime_ns == before
    meta = json.loads((monitor.parent / "eval.json").read_text())
    assert again[0]["n_seeds"] == 1 and again[0]["eval_mean"] == pytest.approx(meta["eval_mean"])
    assert again[0]["final_return_mean"] == pytest.approx(_monitor_rows(monitor)[-WINDOW:, 0].mean())


def test_compare_says_every_file_it_wrote(
    compared: tuple[Path, list[dict]], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """The closing ``wrote`` line names every file in --out: the tables (.md, .csv, _runs.csv, _stats.csv) and the
    figures."""
    root, _ = compared
    argv = ["--env", "CartPole-v1", "--algo", "ppo", "--seeds", "0", "1", "--total-timesteps", "1024"]
    argv += ["--log-dir", str(root / "runs"), "--out", str(tmp_path / "out"), "--n-eval-episodes", "2"]
    _script("compare").main([*argv, "-p", "n_epochs=2", "--bootstrap-reps", "100"])  # the fixture's runs, reused
    wrote = [line for line in capsys.readouterr().err.splitlines() if line.startswith("wrote ")]
    assert len(wrote) == 1
    assert sorted(wrote[0].split()[1:]) == sorted(str(p) for p in (tmp_path / "out").iterdir())
    assert str(tmp_path / "out" / "compare_ppo_CartPole-v1_runs.csv") in wrote[0].split()


def test_compare_hyperparams_file_reaches_the_runs_and_keys_reuse(tmp_path: Path) -> None:
    """--hyperparams-file: its entry trains the run; a run from another file (or none) is not reused."""
    (tmp_path / "zoo.yml").write_text(
        "CartPole-v1:\n  n_envs: 2\n  n_timesteps: !!float 256\n  policy: 'MlpPolicy'\n  n_steps: 32\n"
        "  n_epochs: 1\n  policy_kwargs: 'dict(net_arch=[8])'\n"
    )
    argv = ["--env", "CartPole-v1", "--algo", "ppo", "--seeds", "0", "--impl", "nngym", "--n-eval-episodes", "1"]
    argv += ["--log-dir", str(tmp_path / "runs"), "--out", str(tmp_path / "out"), "--bootstrap-reps", "100"]
    zoo = argv + ["--hyperparams-file", str(tmp_path / "zoo.yml")]
    (row,) = _script("compare").main(zoo)
    eval_json = tmp_path / "runs" / "nngym" / "ppo_CartPole-v1_s0" / "eval.json"
    meta = json.loads(eval_json.read_text())
    assert meta["hyperparams_file"] == str(tmp_path / "zoo.yml")
    assert (meta["hyperparams"]["n_envs"], meta["hyperparams"]["n_steps"], meta["hyperparams"]["net_arch"]) == (
        2,
        32,
        [8],
    )
    assert row["timesteps"] == meta["total_timesteps"] == 256 and row["steps_per_cpu_second_mean"] > 0
    before = eval_json.stat().st_mtime_ns
    _script("compare").main(zoo)  # same file: reused
    assert eval_json.stat().st_mtime_ns == before
    _script("compare").main(argv + ["--total-timesteps", "64", "-p", "n_steps=32", "n_envs=2", "n_epochs=1"])
    meta = json.loads(eval_json.read_text())  # no file: trained again from agents/hyperparams/ppo.yml
    assert meta["hyperparams_file"] is None and meta["hyperparams"].get("net_arch") != [8]


def _plain_sb3_monitor_dir(folder: Path, n_envs: int = 2, steps: int = 400) -> None:
    """What SB3's make_vec_env(monitor_dir=folder) writes: <i>.monitor.csv per env (random actions here)."""
    from stable_baselines3.common.monitor import Monitor

    for i in range(n_envs):
        env = Monitor(gym.make("CartPole-v1"), str(folder / str(i)))
        env.reset(seed=i)
        env.action_space.seed(i)
        for _ in range(steps):
            _, _, terminated, truncated, _ = env.step(env.action_space.sample())
            if terminated or truncated:
                env.reset()
        env.close()


def test_plot_mixes_plain_sb3_and_nngym_and_skips_corrupt(
    compared: tuple[Path, list[dict]], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    root, _ = compared
    plain = tmp_path / "sb3_elsewhere" / "ppo_1"
    _plain_sb3_monitor_dir(plain)
    bad = tmp_path / "bad"
    shutil.copytree(root / "runs" / "nngym" / "ppo_CartPole-v1_s0", bad / "cut_s0")
    text = (bad / "cut_s0" / "monitor.csv").read_text()
    (bad / "cut_s0" / "monitor.csv").write_text(text[: text.rindex("\n", 0, len(text) - 1) + 4])  # cut mid-row
    (bad / "nohead_s1").mkdir()
    (bad / "nohead_s1" / "monitor.csv").write_text('{"t_start": 1}\nr,l,t\n1,1,1\n')
    out = tmp_path / "fig" / "mixed"
    paths = _script("plot").main(
        [str(plain.parent), str(root / "runs" / "nngym"), str(bad), "--x", "both", "--window", "3", "--out", str(out)]
    )
    err = capsys.readouterr()
    assert str(bad / "cut_s0" / "monitor.csv") in err.err and "line" in err.err
    assert str(bad / "nohead_s1" / "monitor.csv") in err.err and "header" in err.err
    assert "ppo: 1 run(s)" in err.out  # the plain SB3 dir, labelled by its directory name
    assert "nngym PPO: 2 run(s)" in err.out
    assert [p.suffix for p in paths] == [".png", ".svg"] and all(p.stat().st_size > 1000 for p in paths)
    merged = load_run(plain)
    files = [_monitor_rows(plain / f"{i}.monitor.csv") for i in range(2)]
    assert len(merged.returns) == sum(len(f) for f in files)
    assert sorted(merged.returns.tolist()) == sorted(np.concatenate([f[:, 0] for f in files]).tolist())
    assert merged.env_id == "CartPole-v1" and np.all(np.diff(merged.times) >= 0)


def test_read_monitor_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "monitor.csv"
    path.write_text('#{"t_start": 0, "env_id": "X"}\nr,l,t\n1.0,3,0.5\n2.0,4\n')
    with pytest.raises(MonitorFileError, match=r"monitor\.csv: line 4"):
        read_monitor(path)
    path.write_text('#{"t_start": 0, "env_id": "X"}\nr,l,t\n')
    with pytest.raises(MonitorFileError, match="no finished episode"):
        load_run(tmp_path)
    path.write_text('#{"t_start": 0\nr,l,t\n')
    with pytest.raises(MonitorFileError, match="not JSON"):
        read_monitor(path)
    with pytest.raises(MonitorFileError, match="no monitor.csv"):
        load_run(tmp_path / "missing")


def test_moving_mean_and_threshold_against_loops() -> None:
    rng = np.random.default_rng(0)
    returns, lengths = rng.integers(5, 60, 50).astype(float), rng.integers(5, 60, 50)
    naive = np.array([returns[max(0, i - 6) : i + 1].mean() for i in range(50)])
    np.testing.assert_allclose(moving_mean(returns, 7), naive)
    run = Run(Path("."), returns, lengths, np.arange(50.0))
    for thr in (20.0, 35.0, 45.0, 1e9):
        assert steps_to_threshold(run, thr, 7) == _naive_steps_to_threshold(returns, lengths, thr, 7)
    with pytest.raises(ValueError, match="window"):
        moving_mean(returns, 0)


def test_sb3_features_extractor_is_nngym_cnn_in_torch() -> None:
    """SpecCNN with the nngym network's weights computes the nngym network's features."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("stable_baselines3")

    from agents.baselines.sb3 import SpecCNN
    from nngym.builders import cnn

    spec = "conv:8x5,pool:2,conv:16x3p1,l2pool:2,dense:32"
    extractor = SpecCNN(gym.spaces.Box(0, 255, (1, 28, 28), np.uint8), spec)
    net = cnn(spec, (1, 28, 28), np.random.default_rng(0))
    torch_layers = [m for m in extractor.cnn if list(m.parameters())]
    nngym_layers = [layer for layer in net.layers if layer.params]
    assert len(torch_layers) == len(nngym_layers) == 3 and extractor.features_dim == 32
    for t, n in zip(torch_layers, nngym_layers, strict=True):
        t.weight.data, t.bias.data = torch.tensor(n.params["W"]), torch.tensor(n.params["b"])
    x = np.random.default_rng(1).random((3, 1, 28, 28)).astype(np.float32)
    np.testing.assert_allclose(extractor(torch.tensor(x)).detach().numpy(), net.forward(x, train=False), atol=1e-5)


def test_markdown_says_when_seeds_were_one_population() -> None:
    """A population's members carry 1/K of its time: the table says so under it, with the whole population's time."""
    from agents.experiments.compare import markdown, summarise

    returns, lengths = np.full(10, 500.0), np.full(10, 500)

    def run(seed: int, population: dict | None) -> Run:
        meta = {"algo": "ppo", "env": "CartPole-v1", "seed": seed, "total_timesteps": 5000, "eval_mean": 500.0}
        meta |= {"eval_std": 0.0, "train_seconds": 10.0, "steps_per_second": 500}
        meta |= {} if population is None else {"population": population}
        return Run(Path("."), returns, lengths, np.arange(10.0), "CartPole-v1", meta)

    pop = {"seeds": [0, 1, 2, 3], "train_seconds": 40.0, "train_cpu_seconds": 38.5}
    summary, _ = summarise({"nngym": [run(s, pop) for s in range(4)], "sb3": [run(0, None)]}, 475.0, 5)
    assert summary[0]["populations"] == [pop] and summary[1]["populations"] == []
    text = markdown(summary, 5)
    assert text.count("one population") == 1
    assert (
        "nngym: seeds 0, 1, 2, 3 trained as one population in one process (40.0 s wall-clock, 38.5 CPU s for all 4)"
        in text
    )
    assert "each seed's 1/4 share" in text


class _DictObsEnv(gym.Env):
    """Dict observations (a Discrete and a Box part), Discrete actions: reward 1 for naming the Discrete part."""

    observation_space = gym.spaces.Dict(
        {"pos": gym.spaces.Discrete(3), "vec": gym.spaces.Box(-1.0, 1.0, (2,), np.float32)}
    )
    action_space = gym.spaces.Discrete(3)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.pos, self.t = int(self.np_random.integers(3)), 0
        return {"pos": self.pos, "vec": np.zeros(2, np.float32)}, {}

    def step(self, action):
        reward, self.t = float(action == self.pos), self.t + 1
        self.pos = int(self.np_random.integers(3))
        return {"pos": self.pos, "vec": np.zeros(2, np.float32)}, reward, False, self.t >= 5, {}


def test_sb3_baseline_takes_multi_input_policy_for_dict_observations() -> None:
    """SB3 refuses MlpPolicy on Dict observations; the baseline picks its MultiInputPolicy, as a user of SB3 would."""
    pytest.importorskip("stable_baselines3")
    from agents.baselines.sb3 import SB3PPO

    agent = SB3PPO(_DictObsEnv(), seed=0, n_steps=16, batch_size=16, n_epochs=1)
    assert type(agent.model.policy).__name__ == "MultiInputActorCriticPolicy"  # SB3's class for "MultiInputPolicy"
    agent.learn(32)
    action, _ = agent.predict({"pos": 1, "vec": np.zeros(2, np.float32)}, deterministic=True)
    assert int(np.asarray(action).reshape(-1)[0]) in (0, 1, 2)


def test_sb3_baseline_refuses_tuple_observations_with_a_value_error() -> None:
    pytest.importorskip("stable_baselines3")
    from agents.baselines.sb3 import SB3PPO

    with pytest.raises(
        ValueError, match=r"SB3 PPO: Tuple\(Discrete\(32\), Discrete\(11\), Discrete\(2\)\) observation"
    ):
        SB3PPO("Blackjack-v1", seed=0)


def test_compare_reuses_a_run_only_if_it_trained_with_the_same_hyperparameters(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A finished run is reused when its eval.json shows what this command would train with (the yml's entry with
    the -p overrides, translated as train.py reads them); other -p values train it again, saying why."""
    argv = ["--env", "CartPole-v1", "--algo", "ppo", "--seeds", "0", "1", "--impl", "nngym", "--n-eval-episodes", "1"]
    argv += ["--total-timesteps", "64", "--log-dir", str(tmp_path / "runs"), "--out", str(tmp_path / "out")]
    argv += ["--window", "2", "--bootstrap-reps", "100", "-p", "n_envs=2", "n_steps=32", "n_epochs=1"]
    zoo_keys = ["policy_kwargs=dict(net_arch=[16])", "normalize=false"]
    runs = [tmp_path / "runs" / "nngym" / f"ppo_CartPole-v1_s{seed}" for seed in (0, 1)]
    _script("compare").main([*argv, *zoo_keys])
    first = [json.loads((d / "eval.json").read_text()) for d in runs]
    assert all(m["hyperparams"]["net_arch"] == [16] and m["hyperparams"]["gamma"] == 0.98 for m in first)
    stamps = [(d / "eval.json").stat().st_mtime_ns for d in runs]
    capsys.readouterr()
    _script("compare").main([*argv, *zoo_keys])  # the same hyperparameters: reused
    out = capsys.readouterr().out
    assert [(d / "eval.json").stat().st_mtime_ns for d in runs] == stamps
    assert all(f"reusing {d}" in out for d in runs)
    _script("compare").main([*argv, *zoo_keys, "gamma=0.5"])
    out = capsys.readouterr().out
    assert all(f"retraining {d}: trained with other hyperparameters (gamma 0.98 -> 0.5)" in out for d in runs)
    assert "reusing" not in out
    assert all(json.loads((d / "eval.json").read_text())["hyperparams"]["gamma"] == 0.5 for d in runs)
    _script("compare").main([*argv, "gamma=0.5"])  # the yml's net_arch again: retrained
    out = capsys.readouterr().out
    assert (
        f"retraining {runs[0]}: trained with other hyperparameters (net_arch [16] -> unset, normalize_obs False" in out
    )
    (row,) = _script("compare").main([*argv[:-4], "--total-timesteps", "128", *argv[-4:], "gamma=0.5"])
    out = capsys.readouterr().out
    assert f"retraining {runs[0]}: trained 64 steps, fewer than 128" in out and row["timesteps"] == 128


def test_sb3_adapter_continues_the_monitor_time_when_learning_again(tmp_path):
    """SB3's VecMonitor counts ``t`` from the header's ``t_start``, so a run continued later (an hour here, moved into
    the header) would jump by the time between; the adapter goes on from the last row, as nngym's MonitorWriter."""
    pytest.importorskip("stable_baselines3")
    from agents.baselines.sb3 import SB3PPO

    agent = SB3PPO("CartPole-v1", seed=0, n_steps=64, batch_size=64, n_epochs=1, log_dir=tmp_path)
    agent.learn(512)
    monitor = tmp_path / "monitor.csv"
    lines = monitor.read_text().splitlines()
    header = json.loads(lines[0][1:])
    header["t_start"] -= 3600.0
    monitor.write_text("\n".join(["#" + json.dumps(header), *lines[1:]]) + "\n")
    before = np.loadtxt(monitor, delimiter=",", skiprows=2, ndmin=2)
    agent.learn(512, reset_num_timesteps=False)
    after = np.loadtxt(monitor, delimiter=",", skiprows=2, ndmin=2)
    assert len(after) > len(before) > 0
    np.testing.assert_array_equal(after[: len(before)], before)
    assert np.all(np.diff(after[:, 2]) >= 0) and after[-1, 2] - before[-1, 2] < 600
    assert json.loads(monitor.read_text().splitlines()[0][1:]) == header  # the file keeps its header


def test_compare_evaluates_a_reused_run_again_over_another_number_of_episodes(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """eval.json records n_eval_episodes; a reused run evaluated over another number of episodes (or an unknown one:
    an eval.json from before the number was recorded) has its saved model evaluated again, as train.py evaluated it,
    one line saying so, and is not retrained."""
    from agents import PPO, evaluate_episodes

    argv = ["--env", "CartPole-v1", "--algo", "ppo", "--seeds", "0", "1", "--impl", "nngym", "--total-timesteps", "64"]
    argv += ["--log-dir", str(tmp_path / "runs"), "--out", str(tmp_path / "out"), "--window", "2"]
    argv += ["--bootstrap-reps", "100", "-p", "n_envs=2", "n_steps=32", "n_epochs=1"]
    runs = [tmp_path / "runs" / "nngym" / f"ppo_CartPole-v1_s{seed}" for seed in (0, 1)]
    _script("compare").main([*argv, "--n-eval-episodes", "1"])  # the two seeds as one population
    models = {seed: PPO.load(d / "model.npz") for seed, d in enumerate(runs)}

    def evaluated(seed: int, n: int) -> list[float]:  # train.py's final evaluation of the saved model
        return evaluate_episodes(models[seed], "CartPole-v1", n, deterministic=True, seed=10_000 + seed)

    for seed, d in enumerate(runs):
        meta = json.loads((d / "eval.json").read_text())
        assert meta["n_eval_episodes"] == 1 and meta["eval_mean"] == np.mean(evaluated(seed, 1))
        assert meta["population"]["seeds"] == [0, 1]  # train_population's eval.json records the number too
    trained = [((d / "monitor.csv").stat().st_mtime_ns, (d / "model.npz").stat().st_mtime_ns) for d in runs]
    capsys.readouterr()
    summary = _script("compare").main([*argv, "--n-eval-episodes", "3"])
    out = capsys.readouterr().out
    for d in runs:
        assert f"reusing {d}, its model evaluated again: evaluated over 1 episodes, --n-eval-episodes 3 wanted\n" in out
    assert "training" not in out
    assert [((d / "monitor.csv").stat().st_mtime_ns, (d / "model.npz").stat().st_mtime_ns) for d in runs] == trained
    for seed, d in enumerate(runs):
        meta, returns = json.loads((d / "eval.json").read_text()), evaluated(seed, 3)
        assert (meta["n_eval_episodes"], meta["eval_mean"], meta["eval_std"]) == (3, np.mean(returns), np.std(returns))
    means = [json.loads((d / "eval.json").read_text())["eval_mean"] for d in runs]
    assert summary[0]["eval_mean"] == pytest.approx(np.mean(means))  # the table reports the new evaluation

    stamps = [(d / "eval.json").stat().st_mtime_ns for d in runs]
    _script("compare").main([*argv, "--n-eval-episodes", "3"])  # the same number: reused as it is
    out = capsys.readouterr().out
    assert all(f"reusing {d}\n" in out for d in runs) and "evaluated again" not in out
    assert [(d / "eval.json").stat().st_mtime_ns for d in runs] == stamps

    old = json.loads((runs[0] / "eval.json").read_text())
    del old["n_eval_episodes"]  # as eval.json was written before the number was recorded
    (runs[0] / "eval.json").write_text(json.dumps(old))
    _script("compare").main([*argv, "--n-eval-episodes", "3"])
    out = capsys.readouterr().out
    unknown = "its eval.json does not say over how many episodes it was evaluated, --n-eval-episodes 3 wanted"
    assert f"reusing {runs[0]}, its model evaluated again: {unknown}\n" in out and f"reusing {runs[1]}\n" in out
    meta = json.loads((runs[0] / "eval.json").read_text())
    assert (meta["n_eval_episodes"], meta["eval_mean"]) == (3, np.mean(evaluated(0, 3)))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("nan", "expected a finite number, got nan"),  # was drawn as a "reward threshold nan" legend entry
        ("inf", "expected a finite number, got inf"),
        ("-inf", "expected a finite number, got -inf"),
        ("twenty", "expected a finite number, got 'twenty'"),
    ],
)
def test_plot_refuses_a_threshold_that_is_not_a_finite_number(
    value: str, expected: str, capsys: pytest.CaptureFixture
) -> None:
    with pytest.raises(SystemExit) as info:
        _script("plot").parse_args(["runs", f"--threshold={value}"])
    assert info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith(f"error: argument --threshold: {expected}")


def test_plot_keeps_a_finite_threshold_of_any_sign() -> None:
    plot = _script("plot")
    assert plot.parse_args(["runs", "--threshold", "-100.5"]).threshold == -100.5  # Acrobot's is negative
    assert plot.parse_args(["runs", "--threshold", "475"]).threshold == 475.0
    assert plot.parse_args(["runs"]).threshold is None  # each env's reward_threshold


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--threshold=nan"], "argument --threshold: expected a finite number, got nan"),
        (["--seeds", "0", "-1"], "argument --seeds: expected an integer >= 0, got -1"),
        (["--sb3-seeds", "-2"], "argument --sb3-seeds: expected an integer >= 0, got -2"),
    ],
)
def test_compare_refuses_a_nan_threshold_and_negative_seeds_before_training(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture
) -> None:
    with pytest.raises(SystemExit) as info:
        _script("compare").parse_args(argv)
    assert info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith(f"error: {expected}")
