"""scripts/dbn.py: its options reach the CD settings, the receptive-field figure of a small first layer, --out, and
bad input ended in one ``error:`` line."""

from __future__ import annotations

import json
import re
import runpy
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nngym.dbn import DBN
from nngym.rbm import RBM, CDConfig, CDTrainer

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def script() -> dict:
    """The script's functions (a script, not a module of the packages)."""
    return runpy.run_path(str(ROOT / "scripts" / "dbn.py"))


def test_pretrain_takes_batch_size_and_weight_decay_and_keeps_its_defaults(script):
    layer, top = script["pretrain_configs"](script["parse_args"](["pretrain"]))
    for cfg in (layer, top):  # the committed run's settings (RESULTS.md: `python scripts/dbn.py pretrain`)
        assert (cfg.batch_size, cfg.weight_decay) == (100, 2e-4)
    assert (layer.lr, layer.epochs, top.lr, top.epochs) == (0.05, 20, 0.05, 20)
    args = script["parse_args"](["pretrain", "--batch-size", "32", "--weight-decay", "0.001", "--lr", "0.1"])
    layer, top = script["pretrain_configs"](args)
    for cfg in (layer, top):
        assert (cfg.batch_size, cfg.weight_decay) == (32, 0.001)
    assert (layer.lr, layer.lr_final) == (0.1, 0.01)


def test_fields_of_a_small_first_layer_tile_a_square_grid_into_out(script, tmp_path):
    run = tmp_path / "run"
    DBN([784, 20], np.random.default_rng(0), n_labels=10, n_top=8).save(run / "dbn.npz")
    script["main"](["fields", "--run", str(run), "--out", str(tmp_path / "figs")])
    image = Image.open(tmp_path / "figs" / "dbn_receptive_fields.png")
    assert image.size == (4 * 29 + 1, 4 * 29 + 1)  # 16 of the 20 units, 4 x 4 cells of 28 pixels and a 1-pixel rim
    assert script["parse_args"](["fields", "--run", str(run)]).out == ROOT / "docs" / "figures"  # the default


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["pretrain", "--sizes", "700", "64"], r"--sizes: expected .* from MNIST's 784 pixels.*got \[700, 64\]"),
        (["pretrain", "--top", "0"], "argument --top: expected an integer >= 1, got 0"),
        (["pretrain", "--epochs", "0"], "argument --epochs: expected an integer >= 1, got 0"),
        (["pretrain", "--lr", "-1"], "argument --lr: expected a number > 0, got -1"),
        (["pretrain", "--weight-decay", "-1"], "argument --weight-decay: expected a number >= 0, got -1"),
        (["fields", "--run", "{tmp}/nowhere"], "{tmp}/nowhere/dbn.npz not found: fields reads the DBN of a run"),
        (["generate", "--run", "{tmp}", "--model", "x.npz"], "{tmp}/x.npz not found: generate reads the DBN"),
        (["fields", "--run", "{tmp}", "--out", "/proc/figs"], "--out /proc/figs: cannot write /proc/figs/dbn_rec"),
    ],
)
def test_bad_input_is_one_error_line(script, tmp_path, capsys, argv, message):
    DBN([784, 8], np.random.default_rng(0), n_labels=10, n_top=8).save(tmp_path / "dbn.npz")
    with pytest.raises(SystemExit) as info:
        script["parse_args"]([a.format(tmp=tmp_path) for a in argv])
    assert info.value.code == 2
    text = capsys.readouterr().err
    assert "Traceback" not in text
    last = text.strip().splitlines()[-1]
    assert ": error: " in last and re.search(message.format(tmp=tmp_path), last), last


def test_a_checkpoint_of_another_size_is_one_error_line(script, tmp_path):
    rng = np.random.default_rng(0)
    CDTrainer(RBM(784, 8, rng), CDConfig(), rng).save(tmp_path / "rbm0.npz")
    argv = ["pretrain", "--run", str(tmp_path), "--sizes", "784", "16", "--top", "8", "--epochs", "1"]
    with pytest.raises(SystemExit) as info:
        script["main"]([*argv, "--top-epochs", "1"])
    assert (
        str(info.value)
        == f"error: {tmp_path / 'rbm0.npz'} holds RBM(784->8, bernoulli), expected RBM(784->16, bernoulli)"
    )


def test_later_stages_refuse_sizes_other_than_the_runs_dbn_and_finetune_records_them(script, tmp_path):
    """``--sizes`` after ``pretrain`` must be the run's DBN's (else the stage would go on with the file's stack);
    without it the file's stack is taken, and results_finetune.json records it."""
    DBN([784, 16], np.random.default_rng(0), n_labels=10, n_top=8).save(tmp_path / "dbn.npz")
    for stage in ("finetune", "fields"):
        with pytest.raises(SystemExit) as info:
            script["main"]([stage, "--run", str(tmp_path), "--sizes", "784", "32", "--out", str(tmp_path / "figs")])
        assert str(info.value) == (
            f"error: {tmp_path / 'dbn.npz'} holds a DBN of sizes [784, 16], expected --sizes [784, 32] (without "
            f"--sizes, {stage} takes the run's DBN; or pretrain another --run with these sizes)"
        )
    assert not (tmp_path / "figs").exists()
    assert script["parse_args"](["finetune", "--run", str(tmp_path)]).sizes is None  # the file's stack
    assert script["parse_args"](["pretrain"]).sizes == [784, 500, 500]
    script["main"](["finetune", "--run", str(tmp_path), "--sizes", "784", "16", "--epochs", "1", "--batch-size", "500"])
    results = json.loads((tmp_path / "results_finetune.json").read_text())
    assert results["sizes"] == [784, 16] and results["architecture"] == [784, 16, 10]
