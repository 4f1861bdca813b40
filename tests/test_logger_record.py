"""``Logger.record(key, value, exclude=None)`` and ``record_mean`` as SB3's: ``exclude`` keeps a value out of the
outputs SB3's format names name (the stdout table, progress.csv, TensorBoard), ``record_mean`` logs the mean of the
values given since the last dump, so callbacks written for SB3 run unchanged."""

from __future__ import annotations

import csv
import io
import re

import pytest

from agents import PPO
from agents.common.callbacks import BaseCallback
from agents.common.logger import Logger


def _rows(path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _scalars(run_dir) -> dict[str, list[tuple[int, float]]]:
    event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    acc = event_accumulator.EventAccumulator(str(run_dir), size_guidance={event_accumulator.SCALARS: 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_exclude_keeps_a_value_out_of_the_outputs_sb3s_format_names_name(tmp_path):
    pytest.importorskip("tensorboard")
    logger = Logger(tmp_path, verbose=1, tensorboard_dir=tmp_path / "tb")
    logger.record("a/everywhere", 1.0)
    logger.record("a/no_csv", 2.0, exclude="csv")
    logger.record("a/no_stdout", 3.0, exclude=("stdout",))
    logger.record("a/no_log", 4.0, exclude=("log",))  # SB3's "log" is the human-readable output too
    logger.record("a/no_tb", 5.0, exclude=("tensorboard", "json"))
    logger.record("a/no_json", 6.0, exclude="json")  # nngym writes no JSON log: shown everywhere
    out = io.StringIO()
    logger.dump(10, out=out)
    logger.record("a/no_csv", 7.0)  # the next row: nothing excluded any more
    logger.dump(20, out=io.StringIO())
    logger.close()
    table = out.getvalue()
    assert [name for name in ("everywhere", "no_csv", "no_stdout", "no_log", "no_tb", "no_json") if name in table] == [
        "everywhere",
        "no_csv",
        "no_tb",
        "no_json",
    ]
    rows = _rows(tmp_path / "progress.csv")
    assert [r["a/no_csv"] for r in rows] == ["", "7.0"] and rows[0]["a/no_stdout"] == "3.0"  # str(value), as SB3's
    assert {k: v for k, v in rows[0].items() if v} == {
        "a/everywhere": "1.0",
        "a/no_stdout": "3.0",
        "a/no_log": "4.0",
        "a/no_tb": "5.0",
        "a/no_json": "6.0",
        "time/total_timesteps": "10",
    }
    scalars = _scalars(tmp_path / "tb")
    assert "a/no_tb" not in scalars and scalars["a/no_csv"] == [(10, 2.0), (20, 7.0)]
    assert scalars["a/no_stdout"] == [(10, 3.0)]


def test_record_mean_is_the_mean_of_the_values_since_the_last_dump(tmp_path):
    logger = Logger(tmp_path, verbose=0)
    for value in (1.0, 2.0, None, 6.0):  # None is skipped, as SB3 skips it
        logger.record_mean("a/mean", value)
    logger.record("a/restart", 100.0)
    logger.record_mean("a/restart", 4.0)  # after a record of the key: the mean starts again
    logger.record_mean("a/restart", 8.0)
    logger.record_mean("a/no_csv", 1.0, exclude="csv")
    logger.dump(1)
    logger.record_mean("a/mean", 10.0)  # a new row: the earlier values are not in its mean
    logger.dump(2)
    rows = _rows(tmp_path / "progress.csv")
    assert [(r["a/mean"], r["a/restart"]) for r in rows] == [("3.0", "6.0"), ("10.0", "")]
    assert "a/no_csv" not in rows[0]


@pytest.mark.parametrize(
    ("exclude", "message"),
    [
        (
            "tb",
            "Logger.record: exclude takes SB3's format names ['csv', 'json', 'log', 'stdout', 'tensorboard'], "
            "got ['tb']",
        ),
        (("csv", 3), "Logger.record: exclude must be None, a format name or a tuple of them"),
    ],
    ids=["unknown_name", "not_a_name"],
)
def test_an_exclude_that_names_no_format_is_refused(exclude, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        Logger().record("a/x", 1.0, exclude=exclude)
    with pytest.raises(ValueError, match=re.escape(message.replace("Logger.record:", "Logger.record_mean:"))):
        Logger().record_mean("a/x", 1.0, exclude=exclude)


def test_a_callback_written_for_sb3_logs_through_the_agents_logger(tmp_path, capsys):
    class SB3Callback(BaseCallback):
        def _on_step(self) -> bool:
            self.logger.record_mean("train/step_reward", float(self.locals["rewards"].mean()))
            return True

        def _on_rollout_end(self) -> None:
            self.logger.record("train/x", 1.0, exclude=("stdout",))
            self.logger.record("train/shown", 2.0, exclude="csv")

    kw = {"n_envs": 2, "n_steps": 4, "batch_size": 8, "n_epochs": 1}
    PPO("CartPole-v1", seed=0, log_dir=tmp_path, verbose=1, **kw).learn(16, callback=SB3Callback())
    rows = _rows(tmp_path / "progress.csv")
    assert [r["train/x"] for r in rows] == ["1.0", "1.0"] and "train/shown" not in rows[0]
    assert [r["train/step_reward"] for r in rows] == ["1.0", "1.0"]  # CartPole: reward 1 at every step
    printed = capsys.readouterr().out
    assert printed.count("shown") == 2 and printed.count("step_reward") == 2
    assert not re.search(r"^\|\s+x\s+\|", printed, re.MULTILINE)  # excluded from the table only
