"""scripts/bench_ppo_step.py runs and reports every part of a PPO gradient step, and its floor."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_step_breakdown_reports_every_part_and_the_floor():
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_ppo_step.py"), "--rounds", "1"],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout
    values = {m[0]: float(m[1]) for m in re.findall(r"^(?:nngym )?([^:\n]+): (?:min )?([\d.]+) µs", out, re.M)}
    parts = ["minibatch", "forward", "log π, entropy", "advantage normalisation", "ppo_loss", "backward", "Adam"]
    assert all(values[p] > 0 for p in parts), out
    assert abs(values["gradient step, parts summed"] - sum(values[p] for p in parts)) < 0.5, out  # 0.1 µs each
    assert values["straight-through numpy step (the floor)"] > 0 and values["rollout"] > 0, out
