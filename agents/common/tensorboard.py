"""TensorBoard output of the training logs: event files holding progress.csv's scalars at the same steps, and the
values only TensorBoard shows.

- ``TensorBoardOutputFormat``: scalars, figures, images and hyperparameters of one run directory (the
  ``tensorboard`` package's writer; no torch or TensorFlow needed).
- ``Figure``, ``Image``, ``HParam``, ``Video``: SB3's wrappers of values that only TensorBoard shows (SB3's own classes
  from ``stable_baselines3.common.logger`` are taken too). Figures, images and hyperparameters go to TensorBoard;
  videos, and any of them when the logger has no TensorBoard output, are not written (``Logger`` warns once per key).
- ``tensorboard_run_dir``: SB3's run directory naming, ``<root>/<name>_<n>`` with n one more than the
  latest run of that name (the latest itself when continuing a run).
"""

from __future__ import annotations

import io
import numbers
import os
import re
import struct
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

#: Shown when TensorBoard logging is asked for without the ``tensorboard`` package.
TENSORBOARD_MISSING = (
    "TensorBoard logging (tensorboard_log=..., --tensorboard-log) needs the tensorboard package: "
    'pip install -e ".[tensorboard]"'
)


# --- values only TensorBoard shows (SB3's Figure, Image, HParam, Video) --------------------------------------------
class Figure:
    """A matplotlib figure to show in TensorBoard as an image (SB3's ``Figure``).

    Args:
        figure: A ``matplotlib.figure.Figure``.
        close: Close it (``matplotlib.pyplot.close``) once the row it was recorded in is written.
    """

    def __init__(self, figure: Any, close: bool) -> None:
        self.figure = figure
        self.close = close


class Image:
    """An image to show in TensorBoard (SB3's ``Image``).

    Args:
        image: An array of pixels (a numpy array, or a torch tensor): uint8 (or other integers) 0-255 as they are,
            floats 0-1 scaled by 255 (as torch's ``add_image`` scales them), bools black and white.
        dataformats: One letter per axis: ``"HW"`` / ``"WH"`` (grey), ``"HWC"``, ``"CHW"`` (C: 1 grey, 3 RGB, 4 RGBA;
            gymnasium envs render ``"HWC"``), or with N first (``"NHWC"``, ``"NCHW"``): N images shown as a grid of
            up to 8 a row.
    """

    def __init__(self, image: Any, dataformats: str) -> None:
        self.image = image
        self.dataformats = dataformats


class HParam:
    """Hyperparameters and the metrics to show them against, for TensorBoard's HPARAMS tab (SB3's ``HParam``).

    Only the metrics' names are written; their values are the scalars recorded under those keys.

    Args:
        hparam_dict: Name -> bool, number, str or None (None is left out).
        metric_dict: Name -> value of the metrics, e.g. ``{"rollout/ep_rew_mean": 0}``: not empty.

    Raises:
        ValueError: For an empty ``metric_dict`` (TensorBoard shows no hyperparameters without a metric).
    """

    def __init__(self, hparam_dict: Mapping[str, bool | str | float | None], metric_dict: Mapping[str, float]) -> None:
        if not metric_dict:
            raise ValueError(
                "HParam: metric_dict must name at least one metric (TensorBoard's HPARAMS tab shows the "
                f"hyperparameters against them), got {metric_dict!r}"
            )
        self.hparam_dict = hparam_dict
        self.metric_dict = metric_dict


class Video:
    """Video frames (SB3's ``Video``). nngym's logger does not write videos: recording one warns once per key.

    Args:
        frames: The frames (SB3: a torch tensor (N, T, C, H, W)).
        fps: Frames per second.
    """

    def __init__(self, frames: Any, fps: float) -> None:
        self.frames = frames
        self.fps = fps


#: The classes of values only TensorBoard shows, by class name, and what each holds; taken from this module and from
#: ``stable_baselines3.common.logger`` (without importing it), subclasses too.
TENSORBOARD_ONLY: dict[str, str] = {"Figure": "figure", "Image": "image", "HParam": "hparam", "Video": "video"}
_TENSORBOARD_ONLY_MODULES = (__name__, "stable_baselines3.common.logger")


def tensorboard_only(value: Any) -> str | None:
    """What ``value`` holds if it is one of the values only TensorBoard shows (``"figure"``, ``"image"``,
    ``"hparam"``, ``"video"``: this module's ``Figure``, ``Image``, ``HParam``, ``Video`` or SB3's), else None."""
    for cls in type(value).__mro__:
        kind = TENSORBOARD_ONLY.get(cls.__name__)
        if kind is not None and cls.__module__ in _TENSORBOARD_ONLY_MODULES:
            return kind
    return None


def image_pixels(image: Any, dataformats: str) -> np.ndarray:
    """The pixels of an ``Image`` as a uint8 array (H, W, C), C 1, 3 or 4; N images (``"N..."``) side by side in a
    grid of up to 8 a row.

    Raises:
        ValueError: For something that is not an array of pixels, ``dataformats`` that do not name its axes, a channel
            count other than 1, 3 or 4, or a dtype that is not a number.
    """
    if isinstance(image, str | bytes):
        raise ValueError(f"the image is a {type(image).__name__}, not an array of pixels; record the array")
    if hasattr(image, "detach"):  # a torch tensor, converted without importing torch
        image = image.detach().cpu().numpy()
    pixels = np.asarray(image)
    fmt = dataformats.upper() if isinstance(dataformats, str) else ""
    axes = "".join(sorted(fmt))
    if len(fmt) != pixels.ndim or axes not in ("HW", "CHW", "HNW", "CHNW"):
        raise ValueError(
            f"dataformats {dataformats!r} do not name the axes of an image of shape {pixels.shape}: one letter per "
            "axis, H and W, and C and N if it has them (HW, HWC, CHW, NHWC, NCHW...)"
        )
    pixels = pixels.transpose([fmt.index(a) for a in "NHWC" if a in fmt])
    if "C" not in fmt:
        pixels = pixels[..., None]
    if "N" in fmt:
        n, h, w, c = pixels.shape
        cols = max(min(n, 8), 1)
        rows = -(-n // cols)
        padded = np.zeros((rows * cols, h, w, c), pixels.dtype)
        padded[:n] = pixels
        pixels = padded.reshape(rows, cols, h, w, c).transpose(0, 2, 1, 3, 4).reshape(rows * h, cols * w, c)
    if pixels.shape[-1] not in (1, 3, 4):
        raise ValueError(
            f"an image has 1 (grey), 3 (RGB) or 4 (RGBA) channels, got {pixels.shape[-1]} (axis C of dataformats "
            f"{dataformats!r}, shape {np.shape(image)})"
        )
    if pixels.dtype == np.uint8:
        return pixels
    if pixels.dtype.kind == "b":
        return pixels.astype(np.uint8) * 255
    if pixels.dtype.kind == "f":
        return np.clip(np.nan_to_num(pixels.astype(np.float64)) * 255.0, 0, 255).astype(np.uint8)
    if pixels.dtype.kind in "iu":
        return np.clip(pixels, 0, 255).astype(np.uint8)
    raise ValueError(f"an image's pixels are numbers, got dtype {pixels.dtype}")


#: PNG's colour type and TensorBoard's colorspace for 1, 2, 3 and 4 channels (grey, grey + alpha, RGB, RGBA).
_PNG_COLOR_TYPE = {1: 0, 2: 4, 3: 2, 4: 6}
_COLORSPACE = {0: 1, 4: 2, 2: 3, 6: 4}


def encode_png(pixels: np.ndarray) -> bytes:
    """A PNG file of uint8 pixels (H, W, C), C 1 to 4: what TensorBoard's image summaries hold (written by Pillow,
    which comes with matplotlib)."""
    from PIL import Image as PILImage

    data = np.ascontiguousarray(pixels[..., 0] if pixels.shape[2] == 1 else pixels)  # L, LA, RGB or RGBA
    buffer = io.BytesIO()
    PILImage.fromarray(data).save(buffer, format="PNG")
    return buffer.getvalue()


def figure_png(figure: Any) -> bytes:
    """A matplotlib figure as a PNG file, at its own size and dpi (``savefig``, which leaves the figure as it was)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def close_figure(figure: Any) -> None:
    """``matplotlib.pyplot.close(figure)``, if pyplot is in use (a figure made without it has nothing to close)."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close(figure)


def tensorboard_run_dir(root: str | os.PathLike, name: str, reset_num_timesteps: bool = True) -> Path:
    """The TensorBoard directory of one ``learn`` call, named as SB3 names it: ``<root>/<name>_<n>``.

    n is one more than the largest n of the existing ``<name>_<n>`` directories under ``root`` (1 for the
    first run); continuing a run (``reset_num_timesteps=False``) writes into the latest one again.

    Args:
        root: The ``tensorboard_log`` directory.
        name: The run name, by default the algorithm (``"PPO"``, ``"DQN"``, ...).
        reset_num_timesteps: False: the latest run's directory (continued), True: a new one.
    """
    root = Path(root)
    pattern = re.compile(rf"^{re.escape(name)}_(\d+)$")
    ids = [int(m.group(1)) for p in (root.iterdir() if root.is_dir() else []) if (m := pattern.match(p.name))]
    latest = max(ids, default=0)
    return root / f"{name}_{latest if not reset_num_timesteps else latest + 1}"


class TensorBoardOutputFormat:
    """Writes each ``dump``'s values to TensorBoard (tag = SB3's key name, step = env steps): numbers as scalars,
    ``Figure`` and ``Image`` as images, ``HParam`` to the HPARAMS tab.

    Written with the ``tensorboard`` package's own event-file writer
    (``tensorboard.summary.writer.event_file_writer.EventFileWriter``, the one torch's ``SummaryWriter`` and
    so SB3 use underneath) and its ``Summary``/``Event`` protos: no torch, and the one package that writes
    the files is also the one that shows them (``tensorboard --logdir DIR``), where tensorboardX would be a
    second package next to it. Unlike SB3, which keeps ``time/total_timesteps``, ``time/iterations`` and
    ``time/time_elapsed`` out of TensorBoard, every key of ``progress.csv`` is written, so the two hold the
    same numbers. A scalar is TensorBoard's float32 (``simple_value``, as torch's ``add_scalar`` writes it): the
    recorded value rounded to float32, nothing shorter. Bools, strings and arrays are not written; a ``Video``, or an
    ``Image`` that is no image, is not written and ``write`` says why.

    Args:
        folder: The run's event-file directory (created if missing).

    Raises:
        ImportError: Without the tensorboard package, naming ``pip install -e ".[tensorboard]"``.
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        try:
            from tensorboard.compat.proto.event_pb2 import Event
            from tensorboard.compat.proto.summary_pb2 import Summary
            from tensorboard.summary.writer.event_file_writer import EventFileWriter
        except ImportError as err:
            raise ImportError(TENSORBOARD_MISSING) from err
        self.dir = Path(folder)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._event, self._summary = Event, Summary
        self._writer = EventFileWriter(str(self.dir))

    def write(self, values: dict[str, Any], step: int) -> dict[str, str]:
        """One event at ``step`` holding the scalars and images of ``values`` (and one per ``HParam`` summary);
        flushed.

        Returns:
            The keys of the values only TensorBoard shows that were not written, each with why (a ``Video``; an
            ``Image`` that is no image, a ``Figure`` that cannot be drawn, an ``HParam`` of another kind of value).
        """
        summaries, extra, not_written = [], [], {}
        for key, v in values.items():
            kind = tensorboard_only(v)
            if kind is None:
                if isinstance(v, numbers.Real) and not isinstance(v, bool):
                    summaries.append(self._summary.Value(tag=key, simple_value=float(v)))
                continue
            try:
                if kind == "figure":
                    summaries.append(self._image(key, figure_png(v.figure)))
                elif kind == "image":
                    summaries.append(self._image(key, encode_png(image_pixels(v.image, v.dataformats))))
                elif kind == "hparam":
                    extra.extend(hparam_summaries(v.hparam_dict, v.metric_dict))
                else:
                    not_written[key] = (
                        "nngym's TensorBoard output writes no videos (SB3 encodes them with moviepy through torch); "
                        'record the frames as an Image with dataformats "NHWC" to see them side by side'
                    )
            except (ValueError, TypeError, AttributeError, RuntimeError) as err:
                not_written[key] = str(err)
        events = [self._summary(value=summaries)] if summaries else []
        for summary in events + extra:
            self._writer.add_event(self._event(wall_time=time.time(), step=int(step), summary=summary))
        if events or extra:
            self._writer.flush()
        return not_written

    def _image(self, key: str, png: bytes) -> Any:
        """A summary value holding the PNG file ``png`` (its size and colours read from its header)."""
        width, height, _, color_type = struct.unpack(">IIBB", png[16:26])
        image = self._summary.Image(
            height=height, width=width, colorspace=_COLORSPACE[color_type], encoded_image_string=png
        )
        return self._summary.Value(tag=key, image=image)

    def close(self) -> None:
        self._writer.close()


def hparam_summaries(hparam_dict: Mapping[str, Any], metric_dict: Mapping[str, Any]) -> list[Any]:
    """The three summaries of TensorBoard's HPARAMS tab (experiment, session start, session end), as torch's
    ``hparams`` makes them for SB3: the hyperparameters' values and the metrics' names.

    Raises:
        TypeError: For a hyperparameter that is not a bool, a number, a str or None, naming it.
    """
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2

    infos, start = [], plugin_data_pb2.SessionStartInfo()
    for name, value in hparam_dict.items():
        if value is None:
            continue
        if isinstance(value, bool | np.bool_):
            start.hparams[name].bool_value, kind = bool(value), "DATA_TYPE_BOOL"
        elif isinstance(value, numbers.Real):
            start.hparams[name].number_value, kind = float(value), "DATA_TYPE_FLOAT64"
        elif isinstance(value, str):
            start.hparams[name].string_value, kind = value, "DATA_TYPE_STRING"
        else:
            raise TypeError(f"HParam: hyperparameter {name!r} must be a bool, a number, a str or None, got {value!r}")
        infos.append(api_pb2.HParamInfo(name=name, type=api_pb2.DataType.Value(kind)))
    experiment = api_pb2.Experiment(
        hparam_infos=infos, metric_infos=[api_pb2.MetricInfo(name=api_pb2.MetricName(tag=k)) for k in metric_dict]
    )
    end = plugin_data_pb2.SessionEndInfo(status=api_pb2.Status.Value("STATUS_SUCCESS"))
    parts = (
        (metadata.EXPERIMENT_TAG, plugin_data_pb2.HParamsPluginData(experiment=experiment)),
        (metadata.SESSION_START_INFO_TAG, plugin_data_pb2.HParamsPluginData(session_start_info=start)),
        (metadata.SESSION_END_INFO_TAG, plugin_data_pb2.HParamsPluginData(session_end_info=end)),
    )
    return [
        Summary(value=[Summary.Value(tag=tag, metadata=metadata.create_summary_metadata(data))]) for tag, data in parts
    ]
