"""plot.py on a population's logs: the member directories ``<log_dir>/s<seed>`` are the seeds of one run, drawn as
one curve; the directory names of single runs keep their grouping."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agents import PPO
from agents.experiments import plot
from agents.experiments.plotting import load_run, run_label


def write_monitor(run_dir: Path, returns: list[float]) -> Path:
    """A monitor.csv of CartPole-v1 episodes of the given returns (lengths as returns, one second apart)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    rows = [f"{r},{int(r)},{i + 1.0}" for i, r in enumerate(returns)]
    header = "#" + json.dumps({"t_start": 0.0, "env_id": "CartPole-v1"})
    (run_dir / "monitor.csv").write_text("\n".join([header, "r,l,t", *rows]) + "\n")
    return run_dir


@pytest.mark.parametrize(
    ("folder", "label"),
    [
        ("logs/pop/s0", "pop"),  # a population member: the seed of the run its parent names
        ("logs/ppo_CartPole-v1/s12", "ppo_CartPole-v1"),
        ("logs/ppo_CartPole-v1_s3", "ppo_CartPole-v1"),  # single runs, as before
        ("logs/ppo-7", "ppo"),
        ("logs/pop/seed0", "seed0"),  # not a seed alone
        ("logs/pop/s0x", "s0x"),
    ],
)
def test_a_seed_directory_is_the_seed_of_its_parents_run(tmp_path, folder, label):
    run = load_run(write_monitor(tmp_path / folder, [10.0, 20.0]))
    assert run_label(run) == label
    assert run_label(run, "given") == "given"


def test_plot_draws_a_populations_members_as_one_curve_of_their_seeds(tmp_path, monkeypatch):
    PPO("CartPole-v1", seed=[0, 1], log_dir=tmp_path / "pop", n_envs=1, n_steps=64, batch_size=64).learn(128)
    write_monitor(tmp_path / "single" / "ppo_s4", [9.0, 11.0])
    write_monitor(tmp_path / "single" / "ppo_s5", [10.0, 12.0])
    groups = plot.load_groups([str(tmp_path / "pop" / "s0"), str(tmp_path / "pop" / "s1"), str(tmp_path / "single")])
    assert {label: [r.path.name for r in runs] for label, runs in groups["CartPole-v1"].items()} == {
        "pop": ["s0", "s1"],
        "ppo": ["ppo_s4", "ppo_s5"],
    }
    monkeypatch.chdir(tmp_path / "pop")  # relative paths: the folder above s<seed> is still the run's name
    assert list(plot.load_groups(["s0", "s1"])["CartPole-v1"]) == ["pop"]
    paths = plot.main([str(tmp_path / "pop"), "--out", str(tmp_path / "out" / "curves"), "--window", "2"])
    assert [p.name for p in paths] == ["curves.png", "curves.svg"]
