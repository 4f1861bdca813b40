"""``Logger`` as SB3's: progress.csv holds every value at full precision (the stdout table alone shortens it), values
only TensorBoard shows (SB3's ``Figure``, ``Image``, ``HParam``, ``Video``) go to TensorBoard or warn, never to
progress.csv, and ``name_to_value`` and ``get_dir()`` are there."""

from __future__ import annotations

import csv
import io
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agents import PPO
from agents.common import logger as nngym_logger
from agents.common.callbacks import BaseCallback
from agents.common.logger import Logger

#: values whose 4-significant-digit form loses digits, and what progress.csv holds for each (SB3's ``str(value)``)
PRECISE: dict[str, tuple[Any, str]] = {
    "x/big": (123456.789, "123456.789"),
    "x/small": (1.2345678e-7, "1.2345678e-07"),
    "x/third": (1 / 3, "0.3333333333333333"),
    "x/float32": (np.float32(0.1), "0.1"),
    "x/float64": (np.float64(2.718281828459045), "2.718281828459045"),
    "x/int": (1234567, "1234567"),
}


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _events(run_dir: Path) -> Any:
    event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    acc = event_accumulator.EventAccumulator(
        str(run_dir), size_guidance={event_accumulator.SCALARS: 0, event_accumulator.IMAGES: 0}
    )
    acc.Reload()
    return acc


def _logger_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if str(w.message).startswith("Logger:")]


# --- 1. full precision in progress.csv and TensorBoard, the short form in the table only ------------------------------
def test_progress_csv_holds_each_value_in_full_and_only_the_table_shortens_it(tmp_path):
    logger = Logger(tmp_path, verbose=1)
    for key, (value, _) in PRECISE.items():
        logger.record(key, value)
    out = io.StringIO()
    logger.dump(100, out=out)
    row = _rows(tmp_path / "progress.csv")[0]
    assert row == {**{k: text for k, (_, text) in PRECISE.items()}, "time/total_timesteps": "100"}
    assert float(row["x/big"]) == 123456.789 and float(row["x/third"]) == 1 / 3  # read back exactly
    table = out.getvalue()
    assert "1.23e+05" in table and "0.333 " in table and "123456.789" not in table  # SB3's 3 significant digits


def test_progress_csv_cells_are_those_sb3s_csv_writer_writes(tmp_path):
    sb3_logger = pytest.importorskip("stable_baselines3.common.logger")
    values = {key: value for key, (value, _) in PRECISE.items()} | {"x/text": 'say "a,b"', "time/total_timesteps": 7}
    sb3 = sb3_logger.CSVOutputFormat(str(tmp_path / "sb3.csv"))
    sb3.write(values, dict.fromkeys(values), 7)
    sb3.close()
    logger = Logger(tmp_path / "nngym", verbose=0)
    for key, value in values.items():
        logger.record(key, value)
    logger.dump(7)
    assert _rows(tmp_path / "nngym" / "progress.csv") == _rows(tmp_path / "sb3.csv")


def test_tensorboard_holds_the_value_of_progress_csv_rounded_to_float32_only(tmp_path):
    pytest.importorskip("tensorboard")
    logger = Logger(tmp_path, verbose=0, tensorboard_dir=tmp_path / "tb")
    for key, (value, _) in PRECISE.items():
        logger.record(key, value)
    logger.dump(100)
    logger.close()
    row = _rows(tmp_path / "progress.csv")[0]
    acc = _events(tmp_path / "tb")
    got = {key: [(e.step, e.value) for e in acc.Scalars(key)] for key in PRECISE}
    # TensorBoard's scalars are float32 (simple_value, as torch writes them): the value rounded once, nothing shorter
    assert got == {key: [(100, float(np.float32(value)))] for key, (value, _) in PRECISE.items()}
    assert got == {key: [(100, float(np.float32(float(row[key]))))] for key in PRECISE}  # the same as progress.csv


# --- 2. Figure, Image, HParam to TensorBoard; Video (and any of them without TensorBoard) warns -----------------------
def _wrappers(source: str) -> Any:
    """The module whose Figure, Image, HParam and Video classes a test records: nngym's logger or SB3's."""
    return pytest.importorskip("stable_baselines3.common.logger") if source == "sb3" else nngym_logger


@pytest.mark.parametrize("source", ["nngym", "sb3"])
def test_figures_images_and_hparams_go_to_tensorboard_only(tmp_path, source):
    pytest.importorskip("tensorboard")
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    pyplot = pytest.importorskip("matplotlib.pyplot")
    pil = pytest.importorskip("PIL.Image")
    wrap = _wrappers(source)
    fig, ax = pyplot.subplots(figsize=(2, 1.5), dpi=50)
    ax.plot([0, 1, 0])
    pixels = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(3, 2, 4) * 10  # CHW: 3 channels, 2 rows, 4 columns
    hparams = {"learning_rate": 3e-4, "algorithm": "PPO", "normalize": True, "unset": None}
    logger = Logger(tmp_path, verbose=1, tensorboard_dir=tmp_path / "tb")
    logger.record("figures/curve", wrap.Figure(fig, close=True))
    logger.record("images/grid", wrap.Image(pixels, "CHW"))
    logger.record("images/grey", wrap.Image(np.array([[0.0, 0.5], [1.0, 2.0]]), "HW"))  # floats 0-1, clipped above
    logger.record("hparams", wrap.HParam(hparams, {"rollout/ep_rew_mean": 0}))
    logger.record("x/value", 1.5)
    out = io.StringIO()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        logger.dump(10, out=out)
    logger.close()
    assert _logger_warnings(caught) == []
    assert _rows(tmp_path / "progress.csv") == [{"x/value": "1.5", "time/total_timesteps": "10"}]
    assert "figures" not in out.getvalue() and "images" not in out.getvalue() and "hparams" not in out.getvalue()
    assert fig.number not in pyplot.get_fignums()  # close=True: closed once written

    acc = _events(tmp_path / "tb")
    assert sorted(acc.Tags()["images"]) == ["figures/curve", "images/grey", "images/grid"]
    curve = acc.Images("figures/curve")[0]
    assert (curve.step, curve.width, curve.height) == (10, 100, 75)  # 2 x 1.5 inches at 50 dpi
    grid = acc.Images("images/grid")[0]
    decoded = np.asarray(pil.open(io.BytesIO(grid.encoded_image_string)))
    assert (grid.width, grid.height) == (4, 2) and np.array_equal(decoded, pixels.transpose(1, 2, 0))
    grey = np.asarray(pil.open(io.BytesIO(acc.Images("images/grey")[0].encoded_image_string)))
    assert grey.tolist() == [[0, 127], [255, 255]]

    plugin_data = pytest.importorskip("tensorboard.plugins.hparams.plugin_data_pb2")
    content = acc.PluginTagToContent("hparams")
    start = plugin_data.HParamsPluginData.FromString(content["_hparams_/session_start_info"]).session_start_info
    assert {k: v.WhichOneof("kind") for k, v in start.hparams.items()} == {
        "learning_rate": "number_value",
        "algorithm": "string_value",
        "normalize": "bool_value",
    }
    assert (start.hparams["learning_rate"].number_value, start.hparams["algorithm"].string_value) == (3e-4, "PPO")
    assert start.hparams["normalize"].bool_value is True
    experiment = plugin_data.HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
    assert [m.name.tag for m in experiment.metric_infos] == ["rollout/ep_rew_mean"]
    assert sorted(h.name for h in experiment.hparam_infos) == ["algorithm", "learning_rate", "normalize"]


def test_n_images_are_shown_as_one_grid(tmp_path):
    pytest.importorskip("tensorboard")
    pil = pytest.importorskip("PIL.Image")
    frames = np.stack([np.full((2, 3, 3), 20 * i, np.uint8) for i in range(10)])  # NHWC: 10 frames of 2 x 3
    logger = Logger(None, verbose=0, tensorboard_dir=tmp_path / "tb")
    logger.record("frames", nngym_logger.Image(frames, "NHWC"))
    logger.dump(1)
    logger.close()
    image = _events(tmp_path / "tb").Images("frames")[0]
    grid = np.asarray(pil.open(io.BytesIO(image.encoded_image_string)))
    assert grid.shape == (4, 24, 3)  # 2 rows of up to 8 frames
    assert grid[0, ::3, 0].tolist() == [0, 20, 40, 60, 80, 100, 120, 140] and grid[2, ::3, 0].tolist()[:3] == [
        160,
        180,
        0,  # the rest of the last row is black
    ]


@pytest.mark.parametrize("source", ["nngym", "sb3"])
def test_a_video_warns_once_per_key_naming_its_type_and_is_written_nowhere(tmp_path, source):
    pytest.importorskip("tensorboard")
    wrap = _wrappers(source)
    frames = np.zeros((1, 2, 3, 4, 4), np.uint8)
    logger = Logger(tmp_path, verbose=1, tensorboard_dir=tmp_path / "tb")
    out = io.StringIO()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for step in (1, 2):
            logger.record("videos/episode", wrap.Video(frames, fps=30))
            logger.record("x/value", step)
            logger.dump(step, out=out)
    logger.close()
    messages = _logger_warnings(caught)
    assert len(messages) == 1
    assert messages[0].startswith(
        f"Logger: 'videos/episode' holds a value of type {wrap.Video.__module__}.Video, which goes to TensorBoard only "
        "(never to progress.csv or the stdout table), and is not written: nngym's TensorBoard output writes no videos"
    )
    assert [r["x/value"] for r in _rows(tmp_path / "progress.csv")] == ["1", "2"]
    assert "videos" not in _rows(tmp_path / "progress.csv")[0] and "episode" not in out.getvalue()
    assert _events(tmp_path / "tb").Tags()["images"] == []


def test_without_tensorboard_a_figure_warns_and_is_written_nowhere(tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    pyplot = pytest.importorskip("matplotlib.pyplot")
    fig = pyplot.figure()
    logger = Logger(tmp_path, verbose=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        logger.record("figures/curve", nngym_logger.Figure(fig, close=True))
        logger.record("images/excluded", nngym_logger.Image(np.zeros((2, 2)), "HW"), exclude="tensorboard")
        logger.dump(5)
    assert _logger_warnings(caught) == [
        "Logger: 'figures/curve' holds a value of type agents.common.tensorboard.Figure, which goes to TensorBoard "
        "only (never to progress.csv or the stdout table), and is not written: the logger has no TensorBoard output; "
        "give the agent tensorboard_log=DIR (--tensorboard-log) to write it"
    ]  # the image kept out of TensorBoard on purpose: no warning
    assert _rows(tmp_path / "progress.csv") == [{"time/total_timesteps": "5"}]
    assert fig.number not in pyplot.get_fignums()


@pytest.mark.parametrize(
    ("image", "dataformats", "why"),
    [
        (np.zeros((4, 4, 5)), "HWC", "an image has 1 (grey), 3 (RGB) or 4 (RGBA) channels, got 5"),
        (np.zeros((6, 4, 3)), "CHW", "an image has 1 (grey), 3 (RGB) or 4 (RGBA) channels, got 6"),
        (np.zeros((4, 4)), "HWC", "dataformats 'HWC' do not name the axes of an image of shape (4, 4)"),
        ("frame.png", "HWC", "the image is a str, not an array of pixels; record the array"),
    ],
    ids=["five_channels", "channels_last_read_as_first", "too_many_letters", "a_file_name"],
)
def test_an_image_that_is_none_warns_with_why_and_the_run_goes_on(tmp_path, image, dataformats, why):
    pytest.importorskip("tensorboard")
    logger = Logger(tmp_path, verbose=0, tensorboard_dir=tmp_path / "tb")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        logger.record("images/bad", nngym_logger.Image(image, dataformats))
        logger.record("x/value", 2.5)
        logger.dump(3)
    logger.close()
    messages = _logger_warnings(caught)
    assert len(messages) == 1 and f"and is not written: {why}" in messages[0]
    assert _rows(tmp_path / "progress.csv") == [{"x/value": "2.5", "time/total_timesteps": "3"}]
    acc = _events(tmp_path / "tb")
    assert acc.Tags()["images"] == [] and [e.value for e in acc.Scalars("x/value")] == [2.5]


def test_hparam_needs_a_metric():
    with pytest.raises(ValueError, match="HParam: metric_dict must name at least one metric"):
        nngym_logger.HParam({"learning_rate": 1e-3}, {})


def test_sb3s_hparam_callback_example_writes_the_hparams_of_a_ppo_run(tmp_path):
    """The HParamCallback of SB3's TensorBoard guide, unchanged but for its import, on nngym's PPO."""
    pytest.importorskip("tensorboard")
    sb3_logger = pytest.importorskip("stable_baselines3.common.logger")
    plugin_data = pytest.importorskip("tensorboard.plugins.hparams.plugin_data_pb2")

    class HParamCallback(BaseCallback):
        def _on_training_start(self) -> None:
            hparam_dict = {"algorithm": self.model.__class__.__name__, "gamma": self.model.gamma}
            metric_dict = {"rollout/ep_len_mean": 0, "train/value_loss": 0.0}
            self.logger.record(
                "hparams", sb3_logger.HParam(hparam_dict, metric_dict), exclude=("stdout", "log", "json", "csv")
            )

        def _on_step(self) -> bool:
            return True

    kw = {"n_envs": 2, "n_steps": 4, "batch_size": 8, "n_epochs": 1, "gamma": 0.95}
    agent = PPO("CartPole-v1", seed=0, log_dir=tmp_path / "run", tensorboard_log=tmp_path / "tb", **kw)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        agent.learn(16, callback=HParamCallback())
    assert _logger_warnings(caught) == []
    assert "hparams" not in _rows(tmp_path / "run" / "progress.csv")[0]
    content = _events(tmp_path / "tb" / "PPO_1").PluginTagToContent("hparams")
    start = plugin_data.HParamsPluginData.FromString(content["_hparams_/session_start_info"]).session_start_info
    assert (start.hparams["algorithm"].string_value, start.hparams["gamma"].number_value) == ("PPO", 0.95)


# --- 3. name_to_value, get_dir() -----------------------------------------------------------------------------
def test_name_to_value_holds_the_values_recorded_since_the_last_dump(tmp_path):
    logger = Logger(tmp_path, verbose=0)
    logger.record("train/loss", 0.25)
    logger.record_mean("rollout/mean", 1.0)
    logger.record_mean("rollout/mean", 2.0)
    assert logger.name_to_value == {"train/loss": 0.25, "rollout/mean": 1.5}
    logger.name_to_value["train/loss"] = 0.5  # the logger's own dict, as SB3's: what is set there is written
    logger.dump(8)
    assert logger.name_to_value == {}
    assert _rows(tmp_path / "progress.csv")[0] == {
        "train/loss": "0.5",
        "rollout/mean": "1.5",
        "time/total_timesteps": "8",
    }


def test_get_dir_is_the_folder_the_logger_writes_to(tmp_path):
    assert Logger(tmp_path / "run", verbose=0).get_dir() == str(tmp_path / "run")
    assert Logger(None, verbose=0).get_dir() is None
    pytest.importorskip("tensorboard")
    tb_only = Logger(None, verbose=0, tensorboard_dir=tmp_path / "tb")
    assert tb_only.get_dir() == str(tmp_path / "tb")
    tb_only.close()
    tb_only.close()  # SB3's close, a second time: nothing more to close


def test_a_callback_reads_the_agents_log_folder_and_values_as_in_sb3(tmp_path):
    seen: dict[str, Any] = {}

    class SB3Style(BaseCallback):
        def _on_rollout_end(self) -> None:
            self.logger.record("custom/x", 3.0)
            seen["values"] = dict(self.logger.name_to_value)
            seen["dir"] = self.logger.get_dir()

        def _on_step(self) -> bool:
            return True

    PPO("CartPole-v1", seed=0, log_dir=tmp_path, n_envs=2, n_steps=4, batch_size=8, n_epochs=1).learn(
        8, callback=SB3Style()
    )
    assert seen == {"values": {"custom/x": 3.0}, "dir": str(tmp_path)}


def test_sb3s_output_formats_are_named_with_how_to_get_them():
    from agents.common.logger import Logger

    with pytest.raises(AttributeError, match=r"Logger.output_formats: .*agent.set_logger\(stable_baselines3"):
        Logger().output_formats  # noqa: B018 - the attribute SB3's TensorBoard examples read
    with pytest.raises(AttributeError, match="'Logger' object has no attribute 'nope'"):
        Logger().nope  # noqa: B018
