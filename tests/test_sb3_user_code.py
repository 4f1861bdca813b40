"""What code written for SB3 does with nngym's agents: the training env, episode statistics, hyperparameter
attributes, update counts, replay-buffer files, file objects and SB3's load/save/evaluate arguments."""

from __future__ import annotations

import io

import gymnasium as gym
import numpy as np
import pytest
from toy_envs import SpacesEnv

from agents import DQN, PPO, RecurrentPPO
from agents.common.evaluation import evaluate
from nngym.serialization import ModelFileError


def test_get_env_gives_the_envs_own_observations_which_predict_takes_as_they_come():
    agent = PPO("Pendulum-v1", n_steps=64, batch_size=64, normalize_obs=True).learn(256)
    raw_env = gym.make("Pendulum-v1")
    obs, _ = agent.get_env().reset(seed=3)
    raw, _ = raw_env.reset(seed=3)
    np.testing.assert_array_equal(obs[0], raw)  # not normalised, so predict's own normalisation is the only one
    np.testing.assert_array_equal(
        agent.predict(obs, deterministic=True)[0][0], agent.predict(raw, deterministic=True)[0]
    )
    discrete = PPO("FrozenLake-v1", n_steps=16, batch_size=16)  # one-hot encoded inside the agent
    obs, _ = discrete.get_env().reset(seed=0)
    assert obs.shape == (1,) and discrete.predict(obs)[0].shape == (1,)
    discrete.set_env(discrete.get_env())  # SB3's round trip: the agent's own spaces


def test_episode_statistics_are_sb3s_dicts_with_success_flags():
    class Successes(SpacesEnv):
        def step(self, action):
            obs, r, terminated, truncated, info = super().step(action)
            return obs, 1.0, terminated, truncated, {"is_success": self._t % 16 == 8} if truncated else {}

    env = Successes(gym.spaces.Box(-1, 1, (2,), np.float32), gym.spaces.Discrete(2))
    agent = PPO(env, n_steps=32, batch_size=32, stats_window_size=10, vectorization="gym-sync").learn(64)
    assert [(e["r"], e["l"]) for e in agent.ep_info_buffer] == [(8.0, 8)] * 8
    assert all(isinstance(e["t"], float) and e["t"] >= 0 for e in agent.ep_info_buffer)
    assert list(agent.ep_success_buffer) == [True] * 8


def test_ppo_counts_one_update_per_epoch_as_sb3():
    agent = PPO("CartPole-v1", n_steps=64, batch_size=16, n_epochs=3).learn(128)
    assert agent.optimizer.t == 2 * 3 * 4  # 2 rollouts x 3 epochs x 4 minibatches
    assert agent._n_updates == agent.train_stats["train/n_updates"] == 2 * 3


def test_hyperparameter_attributes_read_and_set_the_config_as_sb3s():
    agent = PPO("CartPole-v1", n_steps=32, batch_size=32, learning_rate=1e-3, clip_range=0.3)
    assert (agent.learning_rate, agent.clip_range, agent.gamma, agent.n_steps) == (1e-3, 0.3, 0.99, 32)
    agent.gamma, agent.ent_coef, agent.clip_range = 0.9, 0.01, "lin_0.1"
    assert (agent.config.gamma, agent.config.ent_coef) == (0.9, 0.01)
    assert agent.clip_schedule(0.5) == pytest.approx(0.05)  # the schedule is built again
    agent.learning_rate = 0.0  # SB3's way to freeze an agent
    before = {k: v.copy() for k, v in agent.policy.actor.state_dict().items()}
    agent.learn(64)
    assert all(np.array_equal(before[k], v) for k, v in agent.policy.actor.state_dict().items())
    agent.max_grad_norm = 2.0
    assert agent.optimizer.max_grad_norm == 2.0
    with pytest.raises(ValueError, match=r"PPO.n_steps is fixed when the agent is made .* n_steps=\.\.\.\)"):
        agent.n_steps = 64
    with pytest.raises(ValueError, match="PPO: gamma must be >= 0 and <= 1, got 2"):
        agent.gamma = 2
    assert agent.gamma == 0.9 and agent.n_envs == 1
    dqn = DQN("CartPole-v1")
    dqn.exploration_final_eps, dqn.learning_rate = 0.2, 1e-4
    assert dqn.exploration(0.0) == pytest.approx(0.2) and dqn.lr_schedule(1.0) == pytest.approx(1e-4)
    assert RecurrentPPO("CartPole-v1", n_steps=16).seq_len == 16  # the agent's own attribute, not the Config's


def test_dqn_replay_buffer_files_round_trip_and_refuse_what_does_not_fit(tmp_path):
    agent = DQN("CartPole-v1", learning_starts=50, buffer_size=500).learn(200)
    path = agent.save_replay_buffer(tmp_path / "buffer")
    assert path.name == "buffer.npz" and agent.replay_buffer.size() == 200
    other = DQN("CartPole-v1", buffer_size=500)
    other.load_replay_buffer(path)
    assert other.replay_buffer.size() == 200
    np.testing.assert_array_equal(other.replay_buffer.obs[:200], agent.replay_buffer.obs[:200])
    np.testing.assert_array_equal(other.replay_buffer.dones[:200], agent.replay_buffer.dones[:200])
    with pytest.raises(ModelFileError, match="a replay buffer of 200 transitions .* 100 at most"):
        DQN("CartPole-v1", buffer_size=100).load_replay_buffer(path)
    agent.save(tmp_path / "model")
    with pytest.raises(ModelFileError, match="format is 'nngym.agent', expected 'nngym.replay_buffer'"):
        other.load_replay_buffer(tmp_path / "model.npz")


def test_save_and_load_take_file_objects_and_sb3s_arguments(capsys):
    agent = PPO("CartPole-v1", n_steps=32, batch_size=32).learn(32)
    buffer = io.BytesIO()
    agent.save(buffer, exclude=None, include=[])
    buffer.seek(0)
    loaded = PPO.load(buffer, device="auto", force_reset=False, print_system_info=True)
    assert "nngym: saved with" in capsys.readouterr().out
    obs = np.zeros((3, 4), np.float32)
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0], agent.predict(obs, deterministic=True)[0])
    with pytest.raises(ValueError, match=r"exclude=\['env'\] is not supported"):
        agent.save(io.BytesIO(), exclude=["env"])
    with pytest.raises(TypeError, match="a model file is loaded from a path or a binary file object, got int"):
        PPO.load(3)


def test_evaluate_takes_sb3s_n_eval_episodes():
    agent = PPO("CartPole-v1", n_steps=32, batch_size=32)
    assert evaluate(agent, "CartPole-v1", n_eval_episodes=2) == evaluate(agent, "CartPole-v1", 2)
    with pytest.raises(ValueError, match="n_episodes=3 and n_eval_episodes=2: give one"):
        evaluate(agent, "CartPole-v1", 3, n_eval_episodes=2)


def test_sb3s_recurrent_policy_names_and_lstm_defaults():
    space = gym.spaces.Dict({"a": gym.spaces.Box(-1, 1, (3,), np.float32), "b": gym.spaces.Discrete(3)})
    env = SpacesEnv(space, gym.spaces.Discrete(2))
    kwargs = dict(n_lstm_layers=1, shared_lstm=False, enable_critic_lstm=True)
    agent = RecurrentPPO("MultiInputLstmPolicy", env, n_steps=16, policy_kwargs=kwargs)
    assert agent.net == "mlp"
    with pytest.raises(ValueError, match=r"n_lstm_layers=2 is not supported .* \(only n_lstm_layers=1, what it does\)"):
        RecurrentPPO("MlpLstmPolicy", env, policy_kwargs=dict(n_lstm_layers=2))


def test_set_logger_takes_sb3s_configured_logger_and_leaves_it_open(tmp_path):
    logger_module = pytest.importorskip("stable_baselines3.common.logger")
    import csv

    sb3_logger = logger_module.configure(str(tmp_path / "sb3log"), ["csv"])
    agent = PPO("CartPole-v1", n_steps=32, batch_size=32, log_dir=tmp_path / "run")
    agent.set_logger(sb3_logger)
    agent.learn(96)
    agent.learn(64, reset_num_timesteps=False)  # still open: SB3's learn does not close it either
    sb3_logger.close()
    with open(tmp_path / "sb3log" / "progress.csv") as f:
        steps = [int(r["time/total_timesteps"]) for r in csv.DictReader(f)]
    assert steps == [32, 64, 96, 128, 160]
    assert not (tmp_path / "run" / "progress.csv").exists() or (tmp_path / "run" / "progress.csv").stat().st_size == 0
    assert (tmp_path / "run" / "monitor.csv").exists()
    with pytest.raises(TypeError, match="set_logger needs a logger with record"):
        agent.set_logger(object())


def test_log_every_n_timesteps_writes_rows_between_the_log_intervals(tmp_path):
    import csv

    from agents import LogEveryNTimesteps

    agent = DQN("CartPole-v1", learning_starts=10, log_dir=tmp_path, log_interval=10_000)  # no row of its own
    agent.learn(100, callback=LogEveryNTimesteps(40))
    with open(tmp_path / "progress.csv") as f:
        assert [int(r["time/total_timesteps"]) for r in csv.DictReader(f)] == [40, 80]
    pop = PPO("CartPole-v1", seed=[0, 1], n_steps=16, batch_size=16, log_interval=10_000, log_dir=tmp_path / "s{seed}")
    pop.learn(64, callback=LogEveryNTimesteps(32))  # the population's steps: 2 members x 16 per call
    with open(tmp_path / "s1" / "progress.csv") as f:
        assert [int(r["time/total_timesteps"]) for r in csv.DictReader(f)] == [16, 32, 48, 64]


def test_load_and_set_parameters_take_sb3s_arguments(tmp_path):
    agent = PPO("CartPole-v1", n_steps=32, batch_size=32).learn(32)
    path = agent.save(tmp_path / "m")
    assert PPO.load(path, seed=7).seed == 7
    with pytest.raises(ModelFileError, match="the file's networks are net='mlp'"):
        PPO.load(path, net="cnn")
    other = PPO("CartPole-v1", n_steps=32, batch_size=32, seed=3)
    buffer = io.BytesIO(path.read_bytes())
    other.set_parameters(buffer, device="auto")
    np.testing.assert_array_equal(other.policy.actor.layers[0].params["W"], agent.policy.actor.layers[0].params["W"])
    with pytest.raises(ValueError, match="device='cuda' is not supported"):
        other.set_parameters(path, device="cuda")
    with pytest.warns(UserWarning, match=r"custom_objects keys \['lr_schedule', 'observation_space'\] .* ignored"):
        loaded = PPO.load(
            path, custom_objects={"learning_rate": 0.0, "lr_schedule": lambda _: 0.0, "observation_space": 1}
        )
    assert loaded.learning_rate == 0.0


def test_a_new_run_starts_from_other_episodes_and_its_own_statistics():
    agent = PPO("CartPole-v1", n_steps=32, batch_size=32, seed=0)
    agent.learn(64)
    first = agent._last_obs.copy()
    agent.learn(64)  # reset_num_timesteps=True: a new run, not the same episodes again (SB3 does not reseed)
    assert len(agent.ep_info_buffer) == agent._episode_num  # this run's episodes only
    assert not np.array_equal(first, agent._last_obs)
    runs = [PPO("CartPole-v1", n_steps=32, batch_size=32, seed=0).learn(64) for _ in range(2)]
    np.testing.assert_array_equal(runs[0]._last_obs, runs[1]._last_obs)  # the same seed: the same first run
    agent.stats_window_size = 2
    assert agent.ep_info_buffer.maxlen == 2 and len(agent.ep_info_buffer) <= 2


def test_save_takes_sb3s_positional_order_and_dqn_train_freq_tuples_as_attributes(tmp_path):
    agent = DQN("CartPole-v1", learning_starts=10, buffer_size=100).learn(20)
    with pytest.raises(ValueError, match=r"exclude=\['env'\] is not supported"):
        agent.save(tmp_path / "m", ["env"])  # SB3's save(path, exclude, include)
    agent.train_freq = (8, "step")
    assert agent.config.train_freq == 8


def test_callbacks_take_sb3s_argument_order_and_defaults(tmp_path):
    from agents import CheckpointCallback, EvalCallback, StopTrainingOnRewardThreshold

    stop = StopTrainingOnRewardThreshold(1e9)
    callback = EvalCallback("CartPole-v1", stop, None, 2, 16)  # SB3's positional order
    assert (callback.callback_on_new_best, callback.n_eval_episodes, callback.eval_freq) == (stop, 2, 16)
    assert callback.verbose == 1  # SB3's default: each evaluation is printed
    checkpoint = CheckpointCallback(16, tmp_path)
    PPO("CartPole-v1", n_steps=16, batch_size=16).learn(32, callback=checkpoint)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rl_model_16_steps.npz", "rl_model_32_steps.npz"]


def test_load_names_an_sb3_zip_and_the_npz_beside_a_zip_name(tmp_path):
    sb3 = pytest.importorskip("stable_baselines3")
    sb3.PPO("MlpPolicy", "CartPole-v1", n_steps=64).save(tmp_path / "theirs")
    with pytest.raises(ModelFileError, match=r"Stable-Baselines3 model zip; load it with agents\.baselines\.sb3_zip"):
        PPO.load(tmp_path / "theirs.zip")
    PPO("CartPole-v1").save(tmp_path / "mine")
    with pytest.raises(FileNotFoundError, match=r"mine\.zip \(nngym's model files are \.npz: .*mine\.npz exists\)"):
        PPO.load(tmp_path / "mine.zip")


def test_an_sb3_monitor_writing_into_log_dir_is_refused_before_anything_is_written(tmp_path):
    monitor = pytest.importorskip("stable_baselines3.common.monitor")
    env = monitor.Monitor(gym.make("CartPole-v1"), str(tmp_path))
    agent = PPO(env, n_steps=16, batch_size=16, log_dir=tmp_path)
    with pytest.raises(
        ValueError, match=r"the env's SB3 Monitor writes .*monitor\.csv, where the agent writes its own"
    ):
        agent.learn(16)
    assert agent.num_timesteps == 0
    (tmp_path / "m").mkdir()
    elsewhere = PPO(monitor.Monitor(gym.make("CartPole-v1"), str(tmp_path / "m")), n_steps=16, log_dir=tmp_path / "a")
    elsewhere.learn(16)  # another folder: both files are written
    assert (tmp_path / "m" / "monitor.csv").exists() and (tmp_path / "a" / "monitor.csv").exists()


def test_set_random_seed_and_sb3s_names():
    agent = PPO("CartPole-v1", n_steps=16, batch_size=16, seed=0)
    agent.set_random_seed(5)
    agent.learn(16)
    again = PPO("CartPole-v1", n_steps=16, batch_size=16, seed=0)
    again.set_random_seed(5)
    again.learn(16)
    np.testing.assert_array_equal(agent._last_obs, again._last_obs)  # the same seed: the same run
    assert agent.seed == 5  # the weights stay those made with seed 0, as SB3's set_random_seed leaves them
    dqn = DQN("CartPole-v1")
    assert dqn.q_net_target is dqn.q_target
    with pytest.raises(ValueError, match="give nngym's agent its trunk as net="):
        PPO("MlpPolicy", "CartPole-v1", policy_kwargs=dict(features_extractor_class=object))


def test_save_arguments_in_sb3s_order_everywhere(tmp_path):
    agent = PPO("CartPole-v1", n_steps=16, batch_size=16)
    with pytest.raises(TypeError, match="exclude is SB3's list of attributes, got True; for the replay buffer pass"):
        agent.save(tmp_path / "a", True)
    pop = PPO("CartPole-v1", seed=[0, 1], n_steps=16, batch_size=16)
    with pytest.raises(ValueError, match=r"PPO population.save: exclude=\['env'\] is not supported"):
        pop.save(tmp_path / "p", ["env"])
    assert (pop.save(tmp_path / "p", exclude=None) / "population.json").exists()
