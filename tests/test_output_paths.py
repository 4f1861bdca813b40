"""The scripts' output folders, checked before any work (``agents.experiments.cli.writable_folder``): a folder that
cannot be made (a file in its place or above it, a read-only file system such as ``/proc``) ends the command in one
``error:`` line, not a traceback after the training."""

from __future__ import annotations

import os
import runpy
from pathlib import Path

import pytest

from agents import PPO
from agents.experiments import compare, convert_sb3, enjoy, plot, train
from agents.experiments.cli import writable_folder

ROOT = Path(__file__).resolve().parents[1]
#: A folder no one may make: /proc takes no new entries, whoever asks.
PROC = "/proc/nngym-output-test"


def _proc_refuses() -> bool:
    """Whether ``PROC`` cannot be made here (Linux's /proc); the /proc cases are skipped where it can."""
    try:
        os.mkdir(PROC)
    except OSError:
        return True
    os.rmdir(PROC)
    return False


needs_proc = pytest.mark.skipif(not _proc_refuses(), reason="/proc takes new folders here (not Linux's /proc)")
PROC_REASON = "No such file or directory"  # what Linux's /proc answers a mkdir


@pytest.fixture
def a_file(tmp_path: Path) -> Path:
    """A file where the tests name a folder."""
    path = tmp_path / "a_file"
    path.write_text("")
    return path


def test_writable_folder_creates_the_folder_or_names_the_file_in_its_way(tmp_path, a_file):
    assert writable_folder("--out", tmp_path / "a" / "b") == tmp_path / "a" / "b"
    assert (tmp_path / "a" / "b").is_dir()
    assert writable_folder("--out", tmp_path / "c" / "figure", of_file=True) == tmp_path / "c"
    assert (tmp_path / "c").is_dir() and not (tmp_path / "c" / "figure").exists()
    cases = [
        ({}, a_file, f"error: --out {a_file}: cannot create the folder (File exists: {a_file} is a file)"),
        (
            {},
            a_file / "x" / "y",
            f"error: --out {a_file}/x/y: cannot create the folder (Not a directory: {a_file} is a file)",
        ),
        (
            {"of_file": True},
            a_file / "fig",
            f"error: --out {a_file}/fig: cannot create its folder {a_file} (File exists: {a_file} is a file)",
        ),
    ]
    for kwargs, path, message in cases:
        with pytest.raises(SystemExit) as info:
            writable_folder("--out", path, **kwargs)
        assert str(info.value) == message


@needs_proc
def test_writable_folder_names_the_reason_of_a_read_only_file_system():
    with pytest.raises(SystemExit) as info:
        writable_folder("--log-dir", PROC)
    assert str(info.value) == f"error: --log-dir {PROC}: cannot create the folder ({PROC_REASON})"
    with pytest.raises(SystemExit) as info:
        writable_folder("--out", "/proc")
    assert str(info.value).startswith("error: --out /proc: cannot write into the folder (")


TRAIN = ["--algo", "ppo", "--env", "CartPole-v1", "--no-progress", "-n", "64", "-p", "n_steps=32", "batch_size=32"]


def test_train_refuses_a_run_folder_that_is_a_file_before_training(tmp_path):
    run_dir = tmp_path / "ppo_CartPole-v1_s0"
    run_dir.write_text("")
    with pytest.raises(SystemExit) as info:
        train.main([*TRAIN, "--log-dir", str(tmp_path)])
    assert str(info.value) == f"error: --log-dir {run_dir}: cannot create the folder (File exists: {run_dir} is a file)"


@needs_proc
@pytest.mark.parametrize(
    ("extra", "option"),
    [
        (["--log-dir", PROC], "--log-dir"),
        (["--log-dir", PROC, "--checkpoint-freq", "16"], "--log-dir"),
        (["--tensorboard-log", PROC], "--tensorboard-log"),
        (["--impl", "sb3", "--log-dir", PROC], "--log-dir"),
        (["-f", PROC], "-f"),  # the zoo's names, as typed
        (["--log-folder", PROC], "--log-folder"),
        (["-tb", PROC], "-tb"),
    ],
)
def test_train_refuses_an_output_folder_it_cannot_create_before_training(tmp_path, monkeypatch, extra, option):
    if "sb3" in extra:
        pytest.importorskip("stable_baselines3")
    monkeypatch.chdir(tmp_path)  # the default --log-dir, runs/, lands here
    with pytest.raises(SystemExit) as info:
        train.main([*TRAIN, *extra])
    assert str(info.value) == f"error: {option} {PROC}: cannot create the folder ({PROC_REASON})"
    assert not list(tmp_path.rglob("monitor.csv"))


@needs_proc
def test_enjoy_refuses_a_video_folder_it_cannot_create_before_playing(tmp_path):
    PPO("CartPole-v1", seed=0, n_steps=16, batch_size=16).save(tmp_path / "model.npz")
    argv = ["--env", "CartPole-v1", "--model", str(tmp_path / "model.npz"), "--video-folder", PROC]
    with pytest.raises(SystemExit) as info:
        enjoy.main(argv)
    assert str(info.value) == f"error: --video-folder {PROC}: cannot create the folder ({PROC_REASON})"


@pytest.mark.parametrize(
    ("option", "path", "reason"),
    [
        ("--out", "{file}", "File exists: {file} is a file"),
        ("--out", "{file}/figures", "Not a directory: {file} is a file"),
        ("--log-dir", "{file}", "File exists: {file} is a file"),
        ("--out", PROC, PROC_REASON),
        ("--log-dir", PROC, PROC_REASON),
    ],
)
def test_compare_refuses_an_output_folder_before_training_any_run(tmp_path, monkeypatch, a_file, option, path, reason):
    if path == PROC and not _proc_refuses():
        pytest.skip("/proc takes new folders here")

    def train_runs(*args, **kwargs):
        raise AssertionError("compare trained before checking its output folders")

    monkeypatch.setattr(compare, "train_runs", train_runs)
    path, reason = path.format(file=a_file), reason.format(file=a_file)
    others = {"--out": str(tmp_path / "out"), "--log-dir": str(tmp_path / "runs")}
    argv = ["--env", "CartPole-v1", "--seeds", "0", *(x for k, v in {**others, option: path}.items() for x in (k, v))]
    with pytest.raises(SystemExit) as info:
        compare.main(argv)
    assert str(info.value) == f"error: {option} {path}: cannot create the folder ({reason})"


def _run_folder(folder: Path) -> Path:
    """A run folder plot.py reads: a monitor.csv of three CartPole episodes."""
    folder.mkdir(parents=True)
    rows = "".join(f"{r},{r},{t}\n" for r, t in ((10.0, 0.1), (20.0, 0.2), (30.0, 0.3)))
    (folder / "monitor.csv").write_text('#{"t_start": 0, "env_id": "CartPole-v1"}\nr,l,t\n' + rows)
    return folder


def test_plot_refuses_an_out_whose_folder_it_cannot_create_before_drawing(tmp_path, a_file):
    run = _run_folder(tmp_path / "ppo_s0")
    cases = [(a_file / "curves", a_file, f"File exists: {a_file} is a file")]
    if _proc_refuses():
        cases.append((Path(PROC) / "curves", Path(PROC), PROC_REASON))
    for out, folder, reason in cases:
        with pytest.raises(SystemExit) as info:
            plot.main([str(run), "--out", str(out)])
        assert str(info.value) == f"error: --out {out}: cannot create its folder {folder} ({reason})"
    assert [p.name for p in plot.main([str(run), "--out", str(tmp_path / "new" / "curves")])] == [
        "curves.png",
        "curves.svg",
    ]


def test_sweep_refuses_a_log_dir_it_cannot_create_before_any_run(tmp_path, a_file):
    main = runpy.run_path(str(ROOT / "scripts" / "sweep.py"))["main"]
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text("name: t\nalgos: [ppo]\nenvs: [CartPole-v1]\nseeds: [0]\n")
    cases = [(str(a_file), f"File exists: {a_file} is a file")]
    if _proc_refuses():
        cases.append((PROC, PROC_REASON))
    for log_dir, reason in cases:
        with pytest.raises(SystemExit) as info:
            main([str(sweep), "--log-dir", log_dir])
        assert str(info.value) == f"error: --log-dir {log_dir}: cannot create the folder ({reason})"


def test_convert_refuses_an_out_that_is_a_folder_without_writing_beside_it(tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    with pytest.raises(SystemExit) as info:
        convert_sb3.main([str(tmp_path / "any.zip"), str(folder)])  # refused before the zip is read
    assert str(info.value) == f"error: cannot write {folder}: Is a directory"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["models"]
