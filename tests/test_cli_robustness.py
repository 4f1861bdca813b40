"""train.py, enjoy.py and zoo_table.py on input users give: resuming (the replay buffer, other hyperparameters), the
env id recorded, and one ``error:`` line for wrappers, counts, env arguments and paths that cannot work."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401 - registers the nngym/ env ids
from agents import DQN, PPO
from agents.common.evaluation import classification_accuracy
from agents.common.hyperparams import HyperparamsError, load_hyperparams
from agents.experiments import enjoy, train, zoo_table
from envs.wrappers import zoo_wrappers

#: a tiny DQN for CartPole-v1 that trains from step 50
DQN_ARGS = ["--algo", "dqn", "--env", "CartPole-v1", "--no-progress", "--n-eval-episodes", "1"]
DQN_HP = ["-p", "learning_starts=50", "buffer_size=1000", "net_arch=[16]"]
PPO_ARGS = ["--algo", "ppo", "--env", "CartPole-v1", "--no-progress", "--n-eval-episodes", "1"]
PPO_HP = ["-p", "n_envs=2", "n_steps=16", "batch_size=32", "n_epochs=1"]


def test_dqn_checkpoints_keep_the_replay_buffer_only_with_save_replay_buffer(tmp_path, capsys):
    for seed, keep in ((0, []), (1, ["--save-replay-buffer"])):
        argv = [*DQN_ARGS, *DQN_HP, "--seed", str(seed), "--log-dir", str(tmp_path), "-n", "100"]
        train.main([*argv, "--checkpoint-freq", "100", *keep])
    without = tmp_path / "dqn_CartPole-v1_s0" / "checkpoints" / "dqn_100_steps.npz"
    with_buffer = tmp_path / "dqn_CartPole-v1_s1" / "checkpoints" / "dqn_100_steps.npz"
    assert len(DQN.load(without).replay_buffer) == 0
    assert len(DQN.load(with_buffer).replay_buffer) == 100
    capsys.readouterr()
    resume = [*DQN_ARGS, *DQN_HP, "--log-dir", str(tmp_path), "-n", "150", "--resume"]
    train.main([*resume, str(with_buffer), "--seed", "1"])
    assert "warning" not in capsys.readouterr().out
    train.main([*resume, str(without)])
    warnings = [line for line in capsys.readouterr().out.splitlines() if line.startswith("warning:")]
    assert warnings == [
        f"warning: --resume {without} holds no replay buffer (train with --save-replay-buffer to keep it in the "
        "checkpoints): the buffer starts empty and learning_starts (50) has passed, so DQN trains at once on the "
        "few transitions in it"
    ]


def test_resume_applies_hyperparameters_it_can_and_refuses_those_that_shape_the_agent(tmp_path):
    argv = [*PPO_ARGS, "--log-dir", str(tmp_path)]
    train.main([*argv, *PPO_HP, "-n", "64", "--checkpoint-freq", "16"])
    run = tmp_path / "ppo_CartPole-v1_s0"
    checkpoint = run / "checkpoints" / "ppo_32_steps.npz"
    result = train.main([*argv, *PPO_HP, "gamma=0.9", "ent_coef=0.01", "-n", "64", "--resume", str(checkpoint)])
    model = PPO.load(run / "model.npz")
    assert (model.config.gamma, model.config.ent_coef) == (0.9, 0.01)
    recorded = json.loads((run / "eval.json").read_text())["hyperparams"]
    assert (recorded["gamma"], recorded["ent_coef"], recorded["n_steps"]) == (0.9, 0.01, 16)
    assert result["hyperparams"] == recorded
    with pytest.raises(SystemExit) as e:
        train.main([*argv, *PPO_HP, "n_steps=8", "net_arch=[32]", "-n", "64", "--resume", str(checkpoint)])
    assert str(e.value) == (
        f"error: --resume {checkpoint}: n_steps, net_arch cannot change when a run is resumed (they shape the "
        "agent's networks, buffers or envs): the checkpoint has n_steps=16, net_arch=[64, 64], the hyperparameters "
        "given n_steps=8, net_arch=[32]"
    )


def test_the_run_records_the_env_id_as_given(tmp_path, monkeypatch):
    """gym.make("module:Id") gives the env the spec id "Id": monitor.csv and the model file keep the id the user gave,
    whether the envs were made from the id or (with --env-kwargs) by train.py."""
    (tmp_path / "id_envs.py").write_text(
        "import gymnasium as gym\n"
        "gym.register('IdCartPole-v0', entry_point='gymnasium.envs.classic_control:CartPoleEnv', "
        "max_episode_steps=50)\n"
    )
    monkeypatch.chdir(tmp_path)
    for log, extra in (("a", []), ("b", ["--env-kwargs", "sutton_barto_reward=false"])):
        argv = ["--algo", "ppo", "--env", "id_envs:IdCartPole-v0", "--no-progress", "--n-eval-episodes", "1"]
        yml = tmp_path / "ppo.yml"
        yml.write_text("IdCartPole-v0: {}\n")
        train.main([*argv, *PPO_HP, "-n", "32", "--log-dir", log, "--hyperparams-file", str(yml), *extra])
        run = tmp_path / log / "ppo_id_envs-IdCartPole-v0_s0"
        header = json.loads((run / "monitor.csv").read_text().splitlines()[0][1:])
        assert header["env_id"] == "id_envs:IdCartPole-v0"
        assert PPO.load(run / "model.npz").env_id == "id_envs:IdCartPole-v0"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            ["env_wrapper:gymnasium.wrappers.Nope"],
            "error: env_wrapper 'gymnasium.wrappers.Nope' is not supported",
        ),
        (["env_wrapper:5"], "error: env_wrapper items are dotted names or {name: kwargs}, got 5"),
        (
            ["env_wrapper:{gymnasium.wrappers.TimeLimit: {steps: 5}}"],
            "error: env_wrapper 'gymnasium.wrappers.TimeLimit' does not take the arguments {'steps': 5}",
        ),
        (
            ["env_wrapper:{gymnasium.wrappers.TimeLimit: {max_episode_steps: abc}}"],
            "error: env_wrapper 'gymnasium.wrappers.TimeLimit' with the arguments {'max_episode_steps': 'abc'}",
        ),
        (["frame_stack:1.5"], "error: frame_stack must be a whole number >= 1 (observations stacked), got 1.5"),
        (["frame_stack:true"], "error: frame_stack must be a whole number >= 1 (observations stacked), got True"),
        (["frame_stack:abc"], "error: frame_stack must be a whole number >= 1 (observations stacked), got 'abc'"),
    ],
)
def test_wrappers_that_cannot_be_built_end_in_one_error_line(tmp_path, params, message):
    with pytest.raises(SystemExit) as e:
        train.main([*PPO_ARGS, *PPO_HP, "-n", "32", "--log-dir", str(tmp_path), "-params", *params])
    assert str(e.value).startswith(message)
    assert not (tmp_path / "ppo_CartPole-v1_s0" / "model.npz").exists()


def test_frame_stack_is_a_whole_number_of_at_least_one():
    assert len(zoo_wrappers(None, 2.0)) == 1
    assert zoo_wrappers(None, None) == []
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match=r"frame_stack must be a whole number >= 1"):
            zoo_wrappers(None, bad)


@pytest.mark.parametrize("value", ["-5", ".inf", "abc", "true", "300.7"])
def test_n_timesteps_must_be_a_whole_number_of_steps(tmp_path, value):
    yml = tmp_path / "ppo.yml"
    yml.write_text(f"CartPole-v1:\n  n_timesteps: {value}\n")
    with pytest.raises(HyperparamsError, match=rf"{yml}: CartPole-v1: n_timesteps must be a whole number of env steps"):
        load_hyperparams("ppo", "CartPole-v1", yml)
    with pytest.raises(SystemExit, match="n_timesteps must be a whole number of env steps >= 0"):
        train.main([*PPO_ARGS, "--log-dir", str(tmp_path), "-p", f"n_timesteps={value}"])
    yml.write_text("CartPole-v1:\n  n_timesteps: !!float 1e3\n")
    assert load_hyperparams("ppo", "CartPole-v1", yml)["n_timesteps"] == 1000


def test_evaluation_env_arguments_that_change_the_spaces_are_refused_before_training(tmp_path):
    with pytest.raises(SystemExit) as e:
        train.main(
            ["--algo", "ppo", "--env", "nngym/Catch-v0", "--no-progress", "--log-dir", str(tmp_path), "-n", "32"]
            + [*PPO_HP, "--eval-env-kwargs", "rows=5"]
        )
    assert str(e.value) == (
        "error: --eval-env-kwargs: the evaluation env's observation_space Box(0, 255, (1, 5, 5), uint8) is not the "
        "training envs' Box(0, 255, (1, 10, 5), uint8); evaluation env arguments may change the data, not the spaces"
    )
    assert not (tmp_path / "ppo_nngym-Catch-v0_s0").exists()


@pytest.mark.parametrize("value", ["2.5", "abc", "0", "true"])
def test_max_episode_steps_must_be_a_count(tmp_path, value):
    with pytest.raises(SystemExit) as e:
        train.main([*PPO_ARGS, *PPO_HP, "--log-dir", str(tmp_path), "--env-kwargs", f"max_episode_steps={value}"])
    shown = {"2.5": "2.5", "abc": "'abc'", "0": "0", "true": "True"}[value]
    assert str(e.value) == f"error: --env-kwargs: max_episode_steps must be a whole number >= 1, got {shown}"


def test_env_ids_with_two_colons_and_files_for_folders_are_refused_when_parsed(tmp_path, capsys):
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    for argv, message in (
        (["--env", "envs:a:b"], "argument --env: expected an env id or module:EnvId (one ':'), got 'envs:a:b'"),
        (["-f", str(a_file)], f"argument -f/--log-folder: expected a folder, got '{a_file}': a file"),
        (["-tb", str(a_file / "tb")], f"argument -tb: expected a folder, got '{a_file / 'tb'}': inside the file"),
    ):
        with pytest.raises(SystemExit):
            train.parse_args(argv)
        assert message in capsys.readouterr().err
    with pytest.raises(SystemExit):
        enjoy.parse_args(["--env", "CartPole-v1", "--model", "m.npz", "--video-folder", str(a_file)])
    assert f"argument --video-folder: expected a folder, got '{a_file}': a file" in capsys.readouterr().err


def test_enjoy_takes_render_mode_rgb_array_with_a_video_folder(tmp_path):
    agent = PPO("CartPole-v1", seed=0, n_steps=16, batch_size=16)
    agent.save(tmp_path / "model.npz")
    argv = ["--env", "CartPole-v1", "--model", str(tmp_path / "model.npz"), "--n-episodes", "1"]
    argv += ["--video-folder", str(tmp_path / "videos"), "--video-format", "gif"]
    pytest.importorskip("imageio")
    out = enjoy.main([*argv, "--env-kwargs", "render_mode=rgb_array"])
    assert [Path(p).name for p in out["videos"]] == ["ppo-CartPole-v1-episode-0.gif"]
    with pytest.raises(SystemExit) as e:
        enjoy.main([*argv, "--env-kwargs", "render_mode=human"])
    assert str(e.value) == (
        "error: --video-folder renders with render_mode='rgb_array'; --env-kwargs gives render_mode='human'"
    )


class _Labeller:
    """Labels a digit image by its brightest column's eighth: a fixed function of the (upsampled) pixels."""

    def __init__(self, scale: int) -> None:
        self.observation_space = gym.spaces.Box(0, 255, (1, 28 * scale, 28 * scale), np.uint8)
        self.scale = scale

    def predict(self, obs: np.ndarray, deterministic: bool = True) -> tuple[np.ndarray, None]:
        assert obs.shape[1:] == self.observation_space.shape
        columns = obs[:, 0, :: self.scale, :: self.scale].sum(axis=1)
        return columns.argmax(axis=1) % 10, None


def test_classification_accuracy_upsamples_the_images_as_the_env_scales_them():
    one = classification_accuracy(_Labeller(1), "test", batch_size=5000)
    assert classification_accuracy(_Labeller(2), "test", batch_size=5000) == one
    with pytest.raises(ValueError, match=r"the agent's observations have shape \(1, 56, 56\); .* are \(1, 28, 28\)"):
        classification_accuracy(_Labeller(2), "test", scale=1)


def test_catch_builds_its_space_from_whole_floats():
    env = gym.make("nngym/Catch-v0", rows=3.0, columns=3.0, scale=2.0)
    assert env.observation_space.shape == (1, 6, 6)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (1, 6, 6)


def test_zoo_table_reads_the_compare_files_of_env_ids_with_dots(tmp_path):
    base = "compare_ppo_pkg.myenvs-Foo-v0"
    summary = "impl,n_seeds,timesteps,eval_mean,eval_std,steps_per_cpu_second_mean,steps_per_second_mean\n"
    summary += "nngym,3,1000,90.0,5.0,400.0,380.0\nsb3,3,1000,80.0,4.0,100.0,95.0\n"
    (tmp_path / f"{base}.csv").write_text(summary)
    (tmp_path / f"{base}_runs.csv").write_text("impl,seconds,cpu_seconds\nnngym,2.5,2.4\nsb3,10.0,9.5\n")
    bench = {"algo": "ppo", "env": "pkg.myenvs:Foo-v0", "zoo_env": "Foo-v0", "n_timesteps": 1000}
    row = zoo_table.table_row({**bench, "mean_reward": 85.0, "std_reward": 10.0}, tmp_path)
    assert (row["status"], row["nngym_eval_mean"], row["sb3_eval_mean"], row["cpu_ratio"]) == ("done", 90.0, 80.0, 4.0)


def test_more_threads_than_cores_are_kept_with_a_warning(tmp_path, monkeypatch, capsys):
    from agents.experiments import cli

    monkeypatch.setattr(cli, "available_cores", lambda: 2)
    assert [cli.check_threads(n, "as many as pay") for n in (-1, 1, 2)] == [-1, 1, 2]
    assert capsys.readouterr().out == ""
    assert cli.check_threads(3, "as many as pay") == 3  # kept: a 3-thread run's numbers, as SB3 and torch keep it
    assert capsys.readouterr().out == (
        "warning: --num-threads 3 is more than the 2 cores this process may run on: the threads share them, which "
        "makes the run slower, not faster (its numbers are still those of a 3-thread run)\n"
    )
    monkeypatch.setattr(cli, "available_cores", lambda: 1)
    result = train.main([*PPO_ARGS, "--log-dir", str(tmp_path), "-n", "0", "--num-threads", "2"])
    assert result["num_threads"] == 2
    assert "warning: --num-threads 2 is more than the 1 core this process may run on" in capsys.readouterr().out


def test_a_negative_seed_is_refused_when_parsed(capsys):
    with pytest.raises(SystemExit) as info:
        train.parse_args(["--seed", "-3"])  # was refused by the agent after the env was made
    assert info.value.code == 2
    last_line = capsys.readouterr().err.strip().splitlines()[-1]
    assert last_line.endswith("argument --seed: expected an integer >= 0, got -3")


def test_the_zoos_trained_agent_option_trains_a_model_further_as_a_new_run(tmp_path):
    first = tmp_path / "first"
    train.main([*PPO_ARGS, "--log-dir", str(first), *PPO_HP, "-n", "64"])
    model = first / "ppo_CartPole-v1_s0" / "model.npz"
    trained = PPO.load(model)
    again = tmp_path / "again"
    result = train.main([*PPO_ARGS, "--log-dir", str(again), *PPO_HP, "gamma=0.9", "-n", "32", "-i", str(model)])
    further = PPO.load(again / "ppo_CartPole-v1_s0" / "model.npz")
    assert result["total_timesteps"] == further.num_timesteps == 32  # the run's steps, counted as a new run
    assert further.config.gamma == 0.9  # the run's hyperparameters, applied as --resume applies them
    frozen = tmp_path / "frozen"  # a step size of 0: the run ends with the parameters it started from
    train.main([*PPO_ARGS, "--log-dir", str(frozen), *PPO_HP, "learning_rate=0.0", "-n", "32", "-i", str(model)])
    ended = PPO.load(frozen / "ppo_CartPole-v1_s0" / "model.npz").policy.state_dict()
    assert all(np.array_equal(ended[k], v) for k, v in trained.policy.state_dict().items())  # the trained model's
    with pytest.raises(SystemExit) as e:
        train.main([*PPO_ARGS, "--log-dir", str(again), *PPO_HP, "n_steps=8", "-n", "32", "-i", str(model)])
    assert str(e.value).startswith(f"error: --trained-agent {model}: n_steps cannot change when a run is resumed")
    with pytest.raises(SystemExit) as e:
        train.main([*PPO_ARGS, "--log-dir", str(again), "-n", "32", "-i", str(model), "--resume", str(model)])
    assert "give one of them" in str(e.value)


def test_compare_ends_in_one_error_line_for_a_run_without_a_finished_episode(tmp_path):
    from agents.experiments import compare

    argv = ["--env", "Acrobot-v1", "--algo", "ppo", "--seeds", "0", "--impl", "nngym", "--no-population"]
    argv += [
        "--hyperparams-file",
        str(Path(__file__).resolve().parents[1] / "agents" / "hyperparams" / "zoo" / "ppo.yml"),
    ]
    argv += ["--total-timesteps", "256", "-p", "n_envs=1", "n_steps=256", "batch_size=64", "n_epochs=1"]
    argv += ["--log-dir", str(tmp_path / "runs"), "--out", str(tmp_path / "figs")]
    with pytest.raises(SystemExit, match=r"^error: Acrobot-v1: .*monitor.csv: no finished episode .*--total-timesteps"):
        compare.main(argv)  # Acrobot's episodes last up to 500 steps
