"""Agents end to end: short learning tests with thresholds, reproducibility, save/load/resume,
refusal of bad files and unsupported spaces, and the SB3-format logs."""

from __future__ import annotations

import csv
import json

import gymnasium as gym
import numpy as np
import pytest

from agents import A2C, DQN, PPO, REINFORCE, CheckpointCallback, EvalCallback, evaluate
from agents.common.vec_env import SyncVectorEnv
from nngym.serialization import ModelFileError, load_npz, save_npz


class BanditEnv(gym.Env):
    """One-step episodes: action 1 pays 1, action 0 pays 0 (Discrete), or −(a − 0.5)² (Box)."""

    def __init__(self, box: bool = False) -> None:
        self.observation_space = gym.spaces.Box(0, 1, (1,), np.float32)
        self.action_space = gym.spaces.Box(-2, 2, (1,), np.float32) if box else gym.spaces.Discrete(2)
        self.box = box

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.ones(1, np.float32), {}

    def step(self, action):
        r = -float((np.asarray(action).reshape(-1)[0] - 0.5) ** 2) if self.box else float(action == 1)
        return np.ones(1, np.float32), r, True, False, {}


class ChainEnv(gym.Env):
    """A 5-state chain, one-hot observations: action 1 moves right, 0 left; reward 1 on reaching the right end."""

    def __init__(self, n: int = 5) -> None:
        self.n = n
        self.observation_space = gym.spaces.Box(0, 1, (n,), np.float32)
        self.action_space = gym.spaces.Discrete(2)

    def _obs(self):
        o = np.zeros(self.n, np.float32)
        o[self.s] = 1
        return o

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.s = 0
        return self._obs(), {}

    def step(self, action):
        self.s = max(self.s + (1 if action == 1 else -1), 0)
        done = self.s == self.n - 1
        return self._obs(), float(done), done, False, {}


def _vec(fn, n):
    return SyncVectorEnv([fn] * n)


def _params(agent):
    return np.concatenate([p.ravel() for net in agent._nets().values() for _, p, _ in net.named_params()])


# --- learning -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "make",
    [
        lambda: PPO(_vec(BanditEnv, 4), seed=0, n_steps=16, batch_size=32, n_epochs=4, learning_rate=3e-3),
        lambda: A2C(_vec(BanditEnv, 4), seed=0, learning_rate=7e-3),
        lambda: REINFORCE(_vec(BanditEnv, 4), seed=0, n_steps=4, learning_rate=1e-2),
        lambda: DQN(
            _vec(BanditEnv, 1),
            seed=0,
            learning_starts=100,
            learning_rate=1e-3,
            target_update_interval=50,
            exploration_fraction=0.5,
        ),
    ],
    ids=["ppo", "a2c", "reinforce", "dqn"],
)
@pytest.mark.slow
def test_two_armed_bandit_learns_the_better_arm(make):
    agent = make().learn(1500)
    assert agent.predict(np.ones(1, np.float32), deterministic=True)[0] == 1
    # it also acted well while learning: seeds 0-4 x 3 OpenBLAS kernels, each agent: min 0.96 (DQN, which explores
    # for half the run), median 1.0; a uniformly random policy gets 0.5
    assert np.mean([e["r"] for e in agent.ep_info_buffer]) > 0.8


@pytest.mark.slow
def test_gaussian_policy_learns_continuous_bandit():
    agent = PPO(_vec(lambda: BanditEnv(box=True), 4), seed=0, n_steps=32, batch_size=64, n_epochs=5, learning_rate=3e-3)
    agent.learn(4000)
    action = agent.predict(np.ones(1, np.float32), deterministic=True)[0]
    # |action - 0.5|, seeds 0-4 x 3 OpenBLAS kernels: max 0.036, median 0.024; the untrained mean action 0 is 0.5 away
    assert action.shape == (1,) and abs(float(action[0]) - 0.5) < 0.15


@pytest.mark.slow
def test_ppo_learns_chain_mdp():
    agent = PPO(_vec(ChainEnv, 4), seed=1, n_steps=32, batch_size=64, n_epochs=4, learning_rate=3e-3, gamma=0.9)
    agent.learn(6000)
    env = ChainEnv()
    mean, _ = evaluate(agent, gym.wrappers.TimeLimit(env, 20), n_episodes=3)
    # reaches the goal within the time limit every time: 1.0 on seeds 0-4 x 3 OpenBLAS kernels; a greedy policy
    # that picks "right" in a state with probability 1/2 gets there with probability 1/16
    assert mean == 1.0


@pytest.mark.slow
def test_ppo_cartpole_reaches_modest_return():
    agent = PPO(
        "CartPole-v1",
        seed=0,
        n_envs=8,
        n_steps=32,
        batch_size=256,
        gae_lambda=0.8,
        gamma=0.98,
        n_epochs=20,
        learning_rate="lin_0.001",
        clip_range="lin_0.2",
    )
    agent.learn(30_000)
    # seeds 0-4 x 3 OpenBLAS kernels: min 244, median 500 (after 20,000 steps: min 126, median 303); a uniformly
    # random policy averages about 22
    assert evaluate(agent, "CartPole-v1", n_episodes=5)[0] >= 150


# --- reproducibility, save/load, resume -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "cls,kw", [(PPO, {"n_envs": 2, "n_steps": 64}), (DQN, {"learning_starts": 50, "train_freq": 8})]
)
def test_same_seed_gives_identical_parameters(cls, kw):
    a = cls("CartPole-v1", seed=3, **kw).learn(600)
    b = cls("CartPole-v1", seed=3, **kw).learn(600)
    c = cls("CartPole-v1", seed=4, **kw).learn(600)
    np.testing.assert_array_equal(_params(a), _params(b))
    assert not np.array_equal(_params(a), _params(c))


@pytest.mark.parametrize(
    "cls,env",
    [
        (PPO, "CartPole-v1"),
        (PPO, "Pendulum-v1"),
        (A2C, "CartPole-v1"),
        (DQN, "CartPole-v1"),
        (REINFORCE, "Pendulum-v1"),
    ],
)
def test_save_load_gives_identical_actions(cls, env, tmp_path):
    kw = {"learning_starts": 50} if cls is DQN else {"n_steps": 64} if cls is not A2C else {}
    agent = cls(env, seed=0, **kw).learn(300)
    path = agent.save(tmp_path / "model")
    loaded = cls.load(path)
    obs = np.random.default_rng(0).standard_normal((50, *agent.observation_space.shape)).astype(np.float32)
    np.testing.assert_array_equal(agent.predict(obs, deterministic=True)[0], loaded.predict(obs, deterministic=True)[0])
    np.testing.assert_array_equal(_params(agent), _params(loaded))
    assert loaded.num_timesteps == agent.num_timesteps


def test_resume_from_checkpoint_continues_counters_schedules_and_optimizer(tmp_path):
    kw = {"n_envs": 4, "n_steps": 16, "batch_size": 32, "n_epochs": 2, "learning_rate": "lin_0.001"}
    full = PPO("CartPole-v1", seed=0, **kw).learn(1024)
    ckpt = CheckpointCallback(save_freq=128, save_path=tmp_path, name_prefix="ppo")
    PPO("CartPole-v1", seed=0, **kw).learn(1024, callback=ckpt)
    resumed = PPO.load(tmp_path / "ppo_512_steps.npz", env="CartPole-v1")
    # saved in on_step at 512 steps: the 8th rollout is collected but not yet learned from (as in SB3)
    assert resumed.num_timesteps == 512 and resumed.optimizer.t == 7 * 2 * 2  # 7 rollouts x 2 epochs x 2 minibatches
    assert resumed._n_updates == 7 * 2  # SB3's count: one per epoch
    assert all(np.abs(s["m"]).sum() > 0 for s in resumed.optimizer.state_dict()["slots"].values())  # Adam moments
    lrs = []

    class RecordLr(CheckpointCallback):
        def on_rollout_end(self) -> None:
            lrs.append(self.agent.optimizer.lr)

    resumed.learn(512, callback=RecordLr(10**9, tmp_path), reset_num_timesteps=False)
    assert resumed.num_timesteps == full.num_timesteps == 1024 and resumed._total_timesteps == 1024
    assert resumed.optimizer.t == 28 + 32
    # the linear schedule continued from 512 of 1024 steps (lr of the update after 576 steps), not restarted
    assert lrs[1] == pytest.approx((1 - 576 / 1024) * 1e-3)
    assert resumed.optimizer.lr == pytest.approx(full.optimizer.lr)


def test_a_run_resumed_from_a_checkpoint_logs_each_step_and_episode_once(tmp_path):
    kw = {"n_envs": 2, "n_steps": 32, "batch_size": 32, "n_epochs": 1}
    ckpt = CheckpointCallback(save_freq=256, save_path=tmp_path / "ckpt", name_prefix="ppo")
    killed = PPO("CartPole-v1", seed=0, log_dir=tmp_path / "run", verbose=0, **kw).learn(2048, callback=ckpt)
    monitor = (tmp_path / "run" / "monitor.csv").read_text().splitlines()
    assert len(monitor) == 2 + killed._episode_num  # JSON header, column names, one row per episode
    # the run goes on from its checkpoint at 512 steps (as if it had been killed after 2048): the rows written after
    # the checkpoint are dropped, as the resumed run plays those steps again
    resumed = PPO.load(tmp_path / "ckpt" / "ppo_512_steps.npz", env="CartPole-v1", log_dir=tmp_path / "run")
    kept = resumed._episode_num
    assert 0 < kept < killed._episode_num
    resumed.verbose = 0
    resumed.learn(1536, reset_num_timesteps=False)
    after = (tmp_path / "run" / "monitor.csv").read_text().splitlines()
    assert after[: 2 + kept] == monitor[: 2 + kept] and len(after) == 2 + resumed._episode_num
    with open(tmp_path / "run" / "progress.csv", newline="") as f:
        steps = [int(r["time/total_timesteps"]) for r in csv.DictReader(f)]
    assert steps == list(range(64, 2049, 64))  # one row per rollout of 2 x 32 steps, none twice


@pytest.mark.parametrize("cls", [PPO, DQN])
def test_the_same_checkpoint_resumes_the_same_way(cls, tmp_path):
    kw = {"n_steps": 16, "batch_size": 32} if cls is PPO else {"learning_starts": 50, "buffer_size": 1000}
    path = cls("CartPole-v1", seed=0, **kw).learn(256).save(tmp_path / "ckpt")
    a, b = cls.load(path, env="CartPole-v1"), cls.load(path, env="CartPole-v1")
    a.learn(256, reset_num_timesteps=False)
    b.learn(256, reset_num_timesteps=False)
    assert a.num_timesteps == b.num_timesteps == 512
    np.testing.assert_array_equal(_params(a), _params(b))
    assert not np.array_equal(_params(a), _params(cls.load(path)))  # it did learn after resuming


def test_dqn_checkpoint_can_carry_the_replay_buffer(tmp_path):
    agent = DQN("CartPole-v1", seed=0, learning_starts=50, buffer_size=1000).learn(300)
    loaded = DQN.load(agent.save(tmp_path / "with", include_replay_buffer=True))
    assert len(loaded.replay_buffer) == 300
    np.testing.assert_array_equal(loaded.replay_buffer.obs[:300], agent.replay_buffer.obs[:300])
    assert len(DQN.load(agent.save(tmp_path / "without")).replay_buffer) == 0


def test_corrupt_wrong_algorithm_and_wrong_spaces_files_are_refused(tmp_path):
    path = PPO("CartPole-v1", seed=0, n_steps=16).learn(16).save(tmp_path / "ppo")
    with pytest.raises(ModelFileError, match="holds a PPO model"):
        A2C.load(path)
    with pytest.raises(ModelFileError, match="do not match"):
        PPO.load(path, env="Acrobot-v1")
    arrays, meta = load_npz(path)
    arrays["net/pi/0.W"] = arrays["net/pi/0.W"] + 1.0
    save_npz(tmp_path / "edited", arrays, meta)
    with pytest.raises(ModelFileError, match="corrupt or was changed after it was saved"):
        PPO.load(tmp_path / "edited.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ModelFileError):
        PPO.load(tmp_path / "junk.npz")


def test_unsupported_spaces_and_options_raise_clear_errors():
    with pytest.raises(ValueError, match="DQN supports Discrete action spaces, got Box"):
        DQN("Pendulum-v1")
    PPO("FrozenLake-v1")  # Discrete observations are one-hot encoded (tests/test_spaces.py)
    with pytest.raises(ValueError, match="unknown hyperparameters"):
        PPO("CartPole-v1", n_step=5)
    with pytest.raises(ValueError, match="net must be one of"):
        PPO("CartPole-v1", net="transformer")


@pytest.mark.parametrize(
    "cls, bad, message",
    [
        (PPO, {"n_steps": -8}, r"PPO: n_steps must be >= 1, got -8"),
        (PPO, {"batch_size": 64.5}, r"PPO: batch_size must be an integer, got 64.5"),
        (PPO, {"gamma": 1.5}, r"PPO: gamma must be >= 0 and <= 1, got 1.5"),
        (PPO, {"learning_rate": "lin_-1e-3"}, r"PPO: learning_rate must be >= 0, got 'lin_-1e-3'"),
        (
            PPO,
            {"clip_range": "fast"},
            r"PPO: clip_range must be a number > 0, 'lin_<x>' or a callable of progress_remaining, got 'fast'",
        ),
        (A2C, {"max_grad_norm": 0.0}, r"A2C: max_grad_norm must be > 0, got 0.0"),
        (DQN, {"tau": 0.0}, r"DQN: tau must be > 0 and <= 1, got 0.0"),
        (DQN, {"exploration_final_eps": -0.1}, r"DQN: exploration_final_eps must be >= 0 and <= 1"),
        (DQN, {"train_freq": "4"}, r"DQN: train_freq must be an integer, got '4'"),
        (REINFORCE, {"ent_coef": -0.01}, r"REINFORCE: ent_coef must be >= 0, got -0.01"),
    ],
)
def test_out_of_range_hyperparameters_are_named_at_construction(cls, bad, message):
    with pytest.raises(ValueError, match=message):
        cls("CartPole-v1", **bad)


# --- logs and callbacks ----------------------------------------------------------------------------------------
def test_monitor_and_progress_csv_in_sb3_format(tmp_path):
    agent = A2C("CartPole-v1", seed=0, n_envs=4, log_dir=tmp_path, log_interval=10)
    ev = EvalCallback("CartPole-v1", eval_freq=100, n_eval_episodes=2, best_model_save_path=tmp_path)
    agent.learn(2000, callback=ev)
    lines = (tmp_path / "monitor.csv").read_text().splitlines()
    header = json.loads(lines[0][1:])
    assert "t_start" in header and header["env_id"] == "CartPole-v1" and lines[1] == "r,l,t"
    rows = np.array([[float(x) for x in ln.split(",")] for ln in lines[2:]])
    assert len(rows) == agent._episode_num > 10 and np.all(rows[:, 0] == rows[:, 1])  # CartPole: return = length
    with open(tmp_path / "progress.csv") as f:
        progress = list(csv.DictReader(f))
    assert {"rollout/ep_rew_mean", "time/fps", "train/value_loss", "time/total_timesteps"} <= set(progress[0])
    assert int(progress[-1]["time/total_timesteps"]) == 2000
    assert (tmp_path / "best_model.npz").exists() and ev.best_mean_reward > 0
    pd = pytest.importorskip("pandas")  # noqa: F841
    from stable_baselines3.common.results_plotter import load_results

    assert len(load_results(str(tmp_path))) == len(rows)


def test_predict_shapes():
    agent = PPO("CartPole-v1", seed=0, n_steps=8)
    a, state = agent.predict(np.zeros(4, np.float32))
    assert np.ndim(a) == 0 and state is None
    assert agent.predict(np.zeros((3, 4), np.float32))[0].shape == (3,)
    with pytest.raises(ValueError, match="expected obs of shape"):
        agent.predict(np.zeros(5))


def test_async_vector_env_gives_the_same_parameters_as_sync():
    kw = {"n_envs": 2, "n_steps": 32, "batch_size": 32, "n_epochs": 2}
    sync = PPO("CartPole-v1", seed=5, **kw).learn(128)
    agent = PPO("CartPole-v1", seed=5, vectorization="async", **kw)
    try:
        agent.learn(128)
    finally:
        agent.env.close()
    np.testing.assert_array_equal(_params(sync), _params(agent))
