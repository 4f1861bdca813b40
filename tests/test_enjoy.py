"""enjoy (scripts/enjoy.py): a saved agent plays, prints its returns and records one video per episode."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from agents import PPO, RecurrentPPO
from agents.experiments import enjoy


def _frames(path: Path) -> np.ndarray:
    """The video's frames (F, H, W, 3), read back with imageio."""
    iio = pytest.importorskip("imageio.v3")
    return np.stack(list(iio.imiter(path)))


def test_mp4_of_cartpole_has_a_frame_per_step_and_the_reset(tmp_path, capsys):
    pytest.importorskip("imageio_ffmpeg")
    PPO("CartPole-v1", seed=0, n_steps=32).save(tmp_path / "model.npz")
    out = enjoy.main(
        [
            "--algo",
            "ppo",
            "--env",
            "CartPole-v1",
            "--model",
            str(tmp_path / "model.npz"),
            "--n-episodes",
            "2",
            "--deterministic",
            "--video-folder",
            str(tmp_path / "videos"),
        ]
    )
    assert [Path(p).name for p in out["videos"]] == ["ppo-CartPole-v1-episode-0.mp4", "ppo-CartPole-v1-episode-1.mp4"]
    for path, n in zip(out["videos"], out["lengths"], strict=True):
        frames = _frames(Path(path))
        assert frames.shape == (n + 1, 400, 600, 3)
    text = capsys.readouterr().out
    assert f"episode 1: return {out['returns'][1]:.2f}, {out['lengths'][1]} steps" in text
    assert "over 2 episodes (deterministic actions)" in text


def test_gif_lasts_a_frame_per_step_and_the_reset(tmp_path):
    pytest.importorskip("imageio")
    PPO("CartPole-v1", seed=1, n_steps=32).save(tmp_path / "model.npz")
    out = enjoy.main(
        [
            "--env",
            "CartPole-v1",
            "--model",
            str(tmp_path / "model.npz"),
            "--n-episodes",
            "1",
            "--video-folder",
            str(tmp_path),
            "--video-format",
            "gif",
        ]
    )
    from PIL import Image

    frames = _frames(Path(out["videos"][0]))
    durations = []
    with Image.open(out["videos"][0]) as gif:  # a GIF stores a repeated frame once, for longer: count the time
        for i in range(gif.n_frames):
            gif.seek(i)
            durations.append(gif.info["duration"])
    assert len(durations) == len(frames) <= out["lengths"][0] + 1
    assert sum(durations) == 20 * (out["lengths"][0] + 1)  # 20 ms per frame at CartPole's 50 fps


def test_digit_glimpse_video_shows_where_the_agent_looks(tmp_path):
    pytest.importorskip("imageio_ffmpeg")
    agent = RecurrentPPO("nngym/DigitGlimpse-v0", seed=0, n_steps=8, lstm_hidden_size=8)  # recurrent: state carried
    agent.save(tmp_path / "glimpse.npz")
    out = enjoy.main(
        [
            "--env",
            "nngym/DigitGlimpse-v0",
            "--model",
            str(tmp_path / "glimpse.npz"),
            "--n-episodes",
            "3",
            "--seed",
            "1",
            "--stochastic",  # an untrained policy's sampled glimpses move; its greedy ones may not
            "--video-folder",
            str(tmp_path),
        ]
    )
    assert len(out["videos"]) == 3
    boxes = []
    for path, n in zip(out["videos"], out["lengths"], strict=True):
        frames = _frames(Path(path))[..., :3]
        assert frames.shape == (n + 1, 224, 224, 3)
        red = (frames[..., 0] > 180) & (frames[..., 1] < 80) & (frames[..., 2] < 80)  # the glimpse's red box
        assert red.reshape(len(frames), -1).any(axis=1).all()
        rows = [np.flatnonzero(r.any(axis=1)) for r in red]
        boxes += [(int(r[0]), int(np.flatnonzero(f.any(axis=0))[0])) for r, f in zip(rows, red, strict=True)]
    assert len(set(boxes)) > 1  # the box moves with the agent's glimpse


def test_zip_model_and_missing_imageio(tmp_path, monkeypatch):
    import sys

    pytest.importorskip("pygame")  # CartPole's rgb_array render

    PPO("CartPole-v1", seed=0, n_steps=32).save(tmp_path / "m.npz")
    monkeypatch.setitem(sys.modules, "imageio", None)
    monkeypatch.setitem(sys.modules, "imageio.v2", None)
    with pytest.raises(ImportError, match=r'pip install -e "\.\[video\]"'):
        enjoy.main(
            [
                "--env",
                "CartPole-v1",
                "--model",
                str(tmp_path / "m.npz"),
                "--n-episodes",
                "1",
                "--video-folder",
                str(tmp_path / "v"),
            ]
        )
    with pytest.raises(SystemExit, match="error: .*holds a PPO model, not dqn"):
        enjoy.main(["--algo", "dqn", "--env", "CartPole-v1", "--model", str(tmp_path / "m.npz")])


def test_a_model_trained_with_frame_stack_plays_on_the_same_wrapped_env(tmp_path, capsys):
    from agents.experiments import train

    yml = tmp_path / "ppo.yml"
    yml.write_text(
        "CartPole-v1:\n  n_timesteps: 64\n  policy: 'MlpPolicy'\n  n_envs: 1\n  n_steps: 32\n"
        "  batch_size: 32\n  frame_stack: 2\n"
    )
    train.main(
        ["--algo", "ppo", "--env", "CartPole-v1", "--hyperparams-file", str(yml), "--log-dir", str(tmp_path / "runs")]
        + ["--no-progress", "--n-eval-episodes", "1"]
    )
    model = tmp_path / "runs" / "ppo_CartPole-v1_s0" / "model.npz"
    out = enjoy.main(["--env", "CartPole-v1", "--model", str(model), "--n-episodes", "1"])
    assert len(out["returns"]) == 1 and out["lengths"][0] >= 1
    assert "env wrapped as in training (the run's eval.json): {'frame_stack': 2}" in capsys.readouterr().out
    stacked_vs_plain = r"(?s)trained with observation_space Box\(.*\(8,\), float32\); CartPole-v1 has Box\(.*\(4,\)"
    with pytest.raises(SystemExit, match=stacked_vs_plain):
        enjoy.main(["--env", "CartPole-v1", "--model", str(model), "--n-episodes", "1", "--no-env-wrappers"])


class _NoRenderModeEnv(gym.Env):
    """A user's env whose constructor takes no render_mode (gymnasium's make only passes one when asked)."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self) -> None:
        self.t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(2, np.float32), {}

    def step(self, action):
        self.t += 1
        return np.zeros(2, np.float32), float(action), False, self.t >= 3, {}


def test_an_env_without_render_mode_plays_when_no_video_is_asked_for(tmp_path):
    gym.register("TestNoRenderMode-v0", entry_point=_NoRenderModeEnv)
    try:
        PPO("TestNoRenderMode-v0", seed=0, n_steps=32).save(tmp_path / "model.npz")
        out = enjoy.main(["--env", "TestNoRenderMode-v0", "--model", str(tmp_path / "model.npz"), "--n-episodes", "2"])
        assert out["lengths"] == [3, 3] and all(0.0 <= r <= 3.0 for r in out["returns"])
    finally:
        del gym.registry["TestNoRenderMode-v0"]


class _Up:
    """Always action 0: on CliffWalking-v1 (no time limit) it never reaches the goal."""

    def predict(self, obs, state=None, episode_start=None, deterministic=True):
        return 0, state


def test_play_cuts_episodes_of_an_env_without_a_time_limit(capsys):
    env = gym.make("CliffWalking-v1")
    with pytest.warns(UserWarning, match="2 of 2 evaluation episodes on CliffWalking-v1 were cut after 25 steps"):
        returns, lengths, _ = enjoy.play(_Up(), env, 2, deterministic=True, max_episode_steps=25)
    assert lengths == [25, 25] and returns == [-25.0, -25.0]
    with pytest.warns(UserWarning, match="cut after 10,000 steps"):  # the default cap
        _, lengths, _ = enjoy.play(_Up(), env, 1)
    assert lengths == [10_000]
    with pytest.raises(SystemExit) as info:
        enjoy.main(["--env", "CliffWalking-v1", "--model", "any.npz", "--n-episodes", "0"])
    assert info.value.code == 2
    assert capsys.readouterr().err.strip().endswith("error: argument --n-episodes: expected an integer >= 1, got 0")


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--fps", "-1", "expected a number > 0, got -1"),  # was PIL's OverflowError / an ffmpeg failure
        ("--fps", "nan", "expected a number > 0, got nan"),  # was a ValueError from the video writer
        ("--fps", "0", "expected a number > 0, got 0"),  # was the env's frame rate, silently
        ("--fps", "inf", "expected a number > 0, got inf"),
        ("--fps", "fast", "expected a number > 0, got 'fast'"),
        ("--seed", "-1", "expected an integer >= 0, got -1"),  # was gymnasium's traceback at the first reset
    ],
)
def test_bad_fps_and_seed_are_refused_when_parsing(option, value, expected, capsys):
    with pytest.raises(SystemExit) as info:
        enjoy.parse_args(["--env", "CartPole-v1", "--model", "m.npz", option, value])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].endswith(f"error: argument {option}: {expected}")


def test_fps_and_seed_in_range_are_kept():
    args = enjoy.parse_args(["--env", "CartPole-v1", "--model", "m.npz", "--fps", "12.5", "--seed", "0"])
    assert (args.fps, args.seed) == (12.5, 0)
    assert enjoy.parse_args(["--env", "CartPole-v1", "--model", "m.npz"]).fps is None  # the env's render_fps


def _trained_with_env_kwargs(tmp_path: Path, *env_kwargs: str) -> Path:
    """A tiny PPO run on CartPole-v1 trained by train.py with ``--env-kwargs``; its model file."""
    from agents.experiments import train

    train.main(
        ["--algo", "ppo", "--env", "CartPole-v1", "--total-timesteps", "64", "--log-dir", str(tmp_path / "runs")]
        + ["--no-progress", "--n-eval-episodes", "1", "--env-kwargs", *env_kwargs]
        + ["-p", "n_envs=1", "n_steps=32", "batch_size=32", "n_epochs=1"]
    )
    return tmp_path / "runs" / "ppo_CartPole-v1_s0" / "model.npz"


def test_a_model_plays_with_its_runs_env_kwargs_and_the_command_line_overrides_them(tmp_path, capsys):
    # Sutton and Barto's reward: 0 a step, -1 at a fall; episodes cut after 5 steps, before any fall
    model = _trained_with_env_kwargs(tmp_path, "sutton_barto_reward=true", "max_episode_steps=5")
    capsys.readouterr()
    out = enjoy.main(["--env", "CartPole-v1", "--model", str(model), "--n-episodes", "2"])
    assert out["lengths"] == [5, 5] and out["returns"] == [0.0, 0.0]
    run = "{'sutton_barto_reward': True, 'max_episode_steps': 5}"
    assert f"env made with the run's env_kwargs (its eval.json): {run}\n" in capsys.readouterr().out

    out = enjoy.main(
        ["--env", "CartPole-v1", "--model", str(model), "--n-episodes", "2", "--env-kwargs", "max_episode_steps=3"]
    )
    assert out["lengths"] == [3, 3] and out["returns"] == [0.0, 0.0]  # the run's reward, the command line's cut
    assert (
        f"env made with the run's env_kwargs (its eval.json): {run}; --env-kwargs overriding "
        "{'max_episode_steps': 3}: {'sutton_barto_reward': True, 'max_episode_steps': 3}" in capsys.readouterr().out
    )

    out = enjoy.main(
        [
            "--env",
            "CartPole-v1",
            "--model",
            str(model),
            "--n-episodes",
            "2",
            "--env-kwargs",
            "sutton_barto_reward=false",
        ]
    )
    assert out["lengths"] == [5, 5] and out["returns"] == [5.0, 5.0]  # 1 a step
    capsys.readouterr()

    out = enjoy.main(["--env", "CartPole-v1", "--model", str(model), "--n-episodes", "2", "--no-run-env-kwargs"])
    assert all(n > 5 for n in out["lengths"]) and out["returns"] == [float(n) for n in out["lengths"]]
    assert "env_kwargs" not in capsys.readouterr().out


def test_the_runs_env_kwargs_are_not_applied_to_another_env_or_without_a_run(tmp_path, capsys):
    model = _trained_with_env_kwargs(tmp_path, "max_episode_steps=5")
    meta = json.loads((model.parent / "eval.json").read_text())
    assert meta["env_kwargs"] == {"max_episode_steps": 5}
    gym.register("TestCartPoleCopy-v0", entry_point="gymnasium.envs.classic_control.cartpole:CartPoleEnv")
    try:
        out = enjoy.main(["--env", "TestCartPoleCopy-v0", "--model", str(model), "--n-episodes", "1"])
    finally:
        del gym.registry["TestCartPoleCopy-v0"]
    assert out["lengths"][0] > 5
    text = capsys.readouterr().out
    assert "the run trained on CartPole-v1 (its eval.json); its env_kwargs {'max_episode_steps': 5} are not " in text
    alone = tmp_path / "alone" / "model.npz"  # a model file outside a run folder: the env as the command line gives
    alone.parent.mkdir()
    alone.write_bytes(model.read_bytes())
    out = enjoy.main(
        ["--env", "CartPole-v1", "--model", str(alone), "--n-episodes", "1", "--env-kwargs", "max_episode_steps=4"]
    )
    assert out["lengths"] == [4] and "env_kwargs" not in capsys.readouterr().out
    (model.parent / "eval.json").write_text(json.dumps({**meta, "env_kwargs": [5]}))
    with pytest.raises(SystemExit, match=r"env_kwargs: expected a mapping of gym.make arguments, got \[5\]"):
        enjoy.main(["--env", "CartPole-v1", "--model", str(model), "--n-episodes", "1"])


def test_videos_are_named_by_the_algorithms_algo_name(tmp_path):
    """``<algo>-<env>-episode-<i>``: --algo as the commands take it, recurrent_ppo for a RecurrentPPO model."""
    pytest.importorskip("imageio")
    RecurrentPPO("CartPole-v1", seed=0, n_steps=8, lstm_hidden_size=8).save(tmp_path / "model.npz")
    argv = ["--env", "CartPole-v1", "--model", str(tmp_path / "model.npz"), "--n-episodes", "1"]
    argv += ["--video-folder", str(tmp_path / "videos"), "--video-format", "gif"]
    for algo in ([], ["--algo", "recurrent_ppo"], ["--algo", "RECURRENT_PPO"]):
        out = enjoy.main([*argv, *algo])
        assert [Path(p).name for p in out["videos"]] == ["recurrent_ppo-CartPole-v1-episode-0.gif"]


def test_impl_sb3_refuses_an_nngym_model_file(tmp_path):
    """--impl sb3 plays an SB3 zip with SB3 itself: an nngym model file, which nngym plays, is refused, not played
    as if --impl were not given."""
    PPO("CartPole-v1", seed=0, n_steps=16, batch_size=16).save(tmp_path / "model.npz")
    with pytest.raises(SystemExit) as info:
        enjoy.main(["--env", "CartPole-v1", "--model", str(tmp_path / "model.npz"), "--impl", "sb3"])
    assert str(info.value) == (
        f"error: --impl sb3 plays an SB3 zip with SB3 itself; {tmp_path / 'model.npz'} is an nngym model file (PPO), "
        "which nngym plays: drop --impl sb3"
    )
