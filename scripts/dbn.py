"""Deep belief network on MNIST: pretrain, fine-tune, generate digits, 1%-labels experiment.

Stages share one run directory, so the RBMs are pretrained once and reused:

    python scripts/dbn.py pretrain     # greedy RBMs + label-joined top RBM
    python scripts/dbn.py refine_top   # optional: PCD epochs on the top RBM (dbn_pcd.npz)
    python scripts/dbn.py finetune     # DBN -> Sequential + softmax head, backprop
    python scripts/dbn.py generate     # class-conditional digits + classifier share
    python scripts/dbn.py fewlabels    # 600 labels: DBN init vs random init, 3 seeds
    python scripts/dbn.py fields       # first-layer receptive fields PNG

Pretraining checkpoints every epoch (``<run>/rbm<l>.npz``, ``<run>/top.npz``); rerunning resumes.
Figures go to ``--out`` (default docs/figures/), numbers to ``<run>/results_<stage>.json`` and stdout.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
from PIL import Image

from agents.experiments.cli import (
    non_negative_float,
    non_negative_int,
    output_file,
    positive_float,
    positive_int,
    probability,
    reported_as_errors,
    writing,
)
from nngym.builders import mlp  # noqa: E402
from nngym.costs import SoftmaxCrossEntropy  # noqa: E402
from nngym.datasets.augment import random_shifts  # noqa: E402
from nngym.datasets.mnist import load_mnist_float  # noqa: E402
from nngym.dbn import DBN  # noqa: E402
from nngym.dense import Dense  # noqa: E402
from nngym.dropout import with_dropout  # noqa: E402
from nngym.network import Sequential  # noqa: E402
from nngym.optim import Adam, Momentum  # noqa: E402
from nngym.rbm import CDConfig, CDTrainer  # noqa: E402
from nngym.schedules import linear  # noqa: E402
from nngym.train import accuracy, fit  # noqa: E402

FIGURES = Path(__file__).resolve().parent.parent / "docs" / "figures"
#: ``pretrain``'s stack without ``--sizes``.
DEFAULT_SIZES = [784, 500, 500]


def tile(images: np.ndarray, rows: int, cols: int, size: int = 28, pad: int = 1, pad_value: float = 1.0) -> np.ndarray:
    """Tiles images (rows*cols, size*size) in [0, 1] into one (rows*(size+pad)+pad, cols*(size+pad)+pad) array."""
    cells = np.full((rows, cols, size + pad, size + pad), pad_value)
    cells[:, :, pad:, pad:] = images.reshape(rows, cols, size, size)
    grid = cells.transpose(0, 2, 1, 3).reshape(rows * (size + pad), cols * (size + pad))
    return np.pad(grid, ((0, pad), (0, pad)), constant_values=pad_value)


def save_png(path: Path, grid: np.ndarray, invert: bool = False) -> None:
    """Writes a [0, 1] array as an 8-bit greyscale PNG (small files; ``invert``: ink dark on white)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    grid = 1.0 - grid if invert else grid
    Image.fromarray(np.round(255 * np.clip(grid, 0, 1)).astype(np.uint8), mode="L").save(path, optimize=True)
    print(f"wrote {path} ({path.stat().st_size // 1024} KB)")


def save_json(run: Path, stage: str, results: dict) -> None:
    (run / f"results_{stage}.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


def figure_path(args: argparse.Namespace) -> Path:
    """The PNG ``generate`` (``dbn_generated<tag>.png``) or ``fields`` (``dbn_receptive_fields.png``) writes."""
    return args.out / (f"dbn_generated{args.tag}.png" if args.stage == "generate" else "dbn_receptive_fields.png")


def load_dbn(run: Path, name: str = "dbn.npz") -> DBN:
    return DBN.load(run / name)


def dbn_file(args: argparse.Namespace) -> Path:
    """The DBN file a stage after ``pretrain`` reads: ``--model`` for ``generate``, else the run's ``dbn.npz``."""
    return args.run / (args.model if args.stage == "generate" else "dbn.npz")


def check_sizes(args: argparse.Namespace) -> None:
    """Refuses ``--sizes`` on a stage after ``pretrain`` that names another stack than the run's DBN file holds:
    the stage would go on with the file's (``pretrain`` refuses a checkpoint of other sizes alike). Without
    ``--sizes`` the file's stack is taken.

    Raises:
        ValueError: Naming the file, its sizes and those given.
    """
    if args.stage == "pretrain" or args.sizes is None:
        return
    path = dbn_file(args)
    sizes = [int(n) for n in DBN.load(path).sizes]
    if sizes != args.sizes:
        raise ValueError(
            f"{path} holds a DBN of sizes {sizes}, expected --sizes {args.sizes} (without --sizes, {args.stage} "
            "takes the run's DBN; or pretrain another --run with these sizes)"
        )


# --- stages ---------------------------------------------------------------------------------
def pretrain_configs(args: argparse.Namespace) -> tuple[CDConfig, CDConfig]:
    """CD settings of the stack's RBMs and of the label-joined top RBM: ``--batch-size`` and ``--weight-decay``
    for both, ``--lr`` / ``--epochs`` for the stack, ``--top-*`` for the top (learning rates decay to a tenth)."""
    layer_cfg = CDConfig(
        lr=args.lr,
        lr_final=args.lr / 10,
        epochs=args.epochs,
        batch_size=args.batch_size,
        weight_decay=args.weight_decay,
    )
    top_cfg = CDConfig(
        k=args.top_k,
        persistent=args.top_pcd,
        lr=args.top_lr,
        lr_final=args.top_lr / 10,
        epochs=args.top_epochs,
        batch_size=args.batch_size,
        n_chains=100,
        weight_decay=args.weight_decay,
    )
    return layer_cfg, top_cfg


def pretrain(args: argparse.Namespace) -> None:
    x, labels = load_mnist_float("train")
    rng = np.random.default_rng(args.seed)
    dbn = DBN(args.sizes, rng, n_labels=10, n_top=args.top)
    layer_cfg, top_cfg = pretrain_configs(args)
    t0 = time.time()

    def log(layer: int, h: dict) -> None:
        print(
            f"[{time.time() - t0:6.0f}s] layer {layer} epoch {h['epoch']}: recon {h['recon_error']:.3f} "
            f"F {h['free_energy']:.1f} lr {h['lr']:.4f}",
            flush=True,
        )

    dbn.pretrain(x, layer_cfg, rng, checkpoint_dir=args.run, log=log)
    dbn.pretrain_top(x, labels, top_cfg, rng, checkpoint_dir=args.run, log=log)
    dbn.save(args.run / "dbn.npz")
    x_test, y_test = load_mnist_float("test")
    results = {
        "sizes": args.sizes,
        "top": args.top,
        "epochs": args.epochs,
        "top_epochs": args.top_epochs,
        "top_pcd": args.top_pcd,
        "top_k": args.top_k,
        "batch_size": args.batch_size,
        "weight_decay": args.weight_decay,
        "seconds": round(time.time() - t0, 1),
        "top_rbm_free_energy_test_accuracy": float((dbn.classify_top(x_test) == y_test).mean()),
    }
    save_json(args.run, "pretrain", results)


def refine_top(args: argparse.Namespace) -> None:
    """Continues the top RBM's training with PCD (low momentum) so its long Gibbs chains stay near the data."""
    x, labels = load_mnist_float("train")
    rng = np.random.default_rng(args.seed + 1)
    dbn = DBN.load(args.run / "dbn.npz")
    cfg = CDConfig(
        persistent=True,
        n_chains=100,
        lr=args.top_lr,
        lr_final=0.0,
        epochs=args.top_epochs,
        batch_size=args.batch_size,
        momentum=0.5,
        final_momentum=0.5,
        weight_decay=args.weight_decay,
    )
    t0 = time.time()
    (args.run / "top_pcd.npz").unlink(missing_ok=True)
    trainer = CDTrainer(dbn.top, cfg, rng)
    data = dbn.labelled_features(x, labels)
    for _ in range(cfg.epochs):
        h = trainer.train(data, epochs=1)[-1]
        print(f"[{time.time() - t0:6.0f}s] top PCD epoch {h['epoch']}: recon {h['recon_error']:.3f}", flush=True)
    trainer.save(args.run / "top_pcd.npz")
    dbn.save(args.run / "dbn_pcd.npz")
    x_test, y_test = load_mnist_float("test")
    results = {
        "top_epochs": cfg.epochs,
        "top_lr": cfg.lr,
        "seconds": round(time.time() - t0, 1),
        "top_rbm_free_energy_test_accuracy": float((dbn.classify_top(x_test) == y_test).mean()),
    }
    save_json(args.run, "refine_top", results)


def finetune_net(
    net: Sequential,
    x: np.ndarray,
    y: np.ndarray,
    epochs: int,
    batch_size: int,
    lr: float,
    rng: np.random.Generator,
    eval_data: tuple[np.ndarray, np.ndarray] | None,
    weight_decay: float,
    max_shift: int = 0,
    verbose: bool = True,
) -> list[float]:
    """Backprop fine-tuning: momentum 0.9, learning rate linear to 0, softmax cross-entropy; optional shifts."""
    cost = SoftmaxCrossEntropy()
    opt = Momentum(net, lr=lr, mu=0.9, weight_decay=weight_decay)
    accs = []
    if max_shift == 0:
        hist = fit(net, cost, opt, x, y, epochs, batch_size, rng, eval_data, lr_schedule=linear(lr, 0.0))
        return hist.eval_accuracy
    for e in range(epochs):  # a fresh shifted copy per epoch; the schedule spans the whole run
        sched = linear(lr * (1 - e / epochs), lr * (1 - (e + 1) / epochs))
        hist = fit(
            net, cost, opt, random_shifts(x, rng, max_shift), y, 1, batch_size, rng, eval_data, lr_schedule=sched
        )
        accs += hist.eval_accuracy
        if verbose and eval_data is not None:
            print(f"epoch {e + 1}: test acc {accs[-1]:.4f}", flush=True)
    return accs


def finetune(args: argparse.Namespace) -> None:
    x, y = load_mnist_float("train")
    x_test, y_test = load_mnist_float("test")
    rng = np.random.default_rng(args.seed)
    dbn = load_dbn(args.run)
    trunk = dbn.to_network()  # the head on first, so the trunk's top features get their dropout too
    head = Sequential([*trunk.layers, Dense(dbn.sizes[-1], 10, rng)], input_shape=trunk.input_shape)
    net = with_dropout(head, args.input_dropout, args.dropout, rng)
    t0 = time.time()
    accs = finetune_net(
        net, x, y, args.epochs, args.batch_size, args.lr, rng, (x_test, y_test), args.weight_decay, args.shift
    )
    net.save(args.run / f"finetuned{args.tag}.npz")
    results = {
        "sizes": [int(n) for n in dbn.sizes],
        "architecture": [*dbn.sizes, 10],
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "weight_decay": args.weight_decay,
        "max_shift": args.shift,
        "input_dropout": args.input_dropout,
        "hidden_dropout": args.dropout,
        "test_accuracy_final_epoch": accs[-1],
        "test_accuracy_per_epoch": [round(a, 4) for a in accs],
        "seconds": round(time.time() - t0, 1),
    }
    save_json(args.run, f"finetune{args.tag}", results)


def generate(args: argparse.Namespace) -> None:
    x, y = load_mnist_float("train")
    x_test, y_test = load_mnist_float("test")
    rng = np.random.default_rng(args.seed)
    clf_path = args.run / "classifier.npz"
    if clf_path.exists():
        clf = Sequential.load(clf_path)
    else:  # an independent judge: an MLP trained on real MNIST only
        clf = mlp([784, 300, 10], rng, activation="relu", w_init="he_normal")
        fit(clf, SoftmaxCrossEntropy(), Adam(clf, lr=1e-3), x, y, 8, 100, rng)
        clf.save(clf_path)
    clf_acc = accuracy(clf, x_test, y_test)
    dbn = load_dbn(args.run, args.model)
    labels = np.repeat(np.arange(10), args.per_label)
    t0 = time.time()
    start = None  # coin flips
    if args.start == "mean":  # the label-neutral average of the training features
        start = np.tile(dbn.up(x).mean(axis=0), (len(labels), 1))
    samples = dbn.generate(labels, rng, n_gibbs=args.gibbs, start=start)
    predicted = clf.predict(samples).argmax(axis=1)
    per_label = [float((predicted[labels == c] == c).mean()) for c in range(10)]
    cols = min(10, args.per_label)
    grid = samples.reshape(10, args.per_label, 784)[:, :cols].reshape(-1, 784)
    with writing(figure_path(args)):
        save_png(figure_path(args), tile(grid, 10, cols, pad_value=0.0), invert=True)
    results = {
        "model": args.model,
        "samples": len(labels),
        "gibbs_steps": args.gibbs,
        "chain_start": args.start,
        "classifier": "mlp 784-300-10 relu, Adam, 8 epochs on real MNIST",
        "classifier_test_accuracy": clf_acc,
        "share_classified_as_clamped_label": float((predicted == labels).mean()),
        "share_per_label": [round(s, 3) for s in per_label],
        "seconds": round(time.time() - t0, 1),
    }
    save_json(args.run, f"generate{args.tag}", results)


def fewlabels(args: argparse.Namespace) -> None:
    x, y = load_mnist_float("train")
    x_test, y_test = load_mnist_float("test")
    dbn = load_dbn(args.run)
    out: dict[str, list[float]] = {"dbn": [], "random": []}
    for seed in args.seeds:
        idx = np.random.default_rng(1000 + seed).choice(len(x), args.n_labelled, replace=False)
        for init in ("dbn", "random"):
            rng = np.random.default_rng(seed)
            if init == "dbn":
                net = dbn.to_network()
                net.layers.append(Dense(dbn.sizes[-1], 10, rng))
            else:
                net = mlp([*dbn.sizes, 10], rng, activation="sigmoid")
            finetune_net(net, x[idx], y[idx], args.epochs, args.batch_size, args.lr, rng, None, args.weight_decay)
            out[init].append(accuracy(net, x_test, y_test))
            print(f"seed {seed} {init}: test accuracy {out[init][-1]:.4f}", flush=True)
    results = {
        "n_labelled": args.n_labelled,
        "seeds": args.seeds,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "weight_decay": args.weight_decay,
        "dbn_init_test_accuracy": out["dbn"],
        "random_init_test_accuracy": out["random"],
        "dbn_init_mean": float(np.mean(out["dbn"])),
        "random_init_mean": float(np.mean(out["random"])),
    }
    save_json(args.run, "fewlabels", results)


def fields(args: argparse.Namespace) -> None:
    """The first hidden layer's weights as images: up to 100 units on the largest square grid there are units for
    (10 x 10 from 100 units on; a 64-unit layer gives 8 x 8)."""
    W = load_dbn(args.run).rbms[0].params["W"]
    side = math.isqrt(min(len(W), 100))
    W = W[: side * side]
    lo, hi = W.min(axis=1, keepdims=True), W.max(axis=1, keepdims=True)
    with writing(figure_path(args)):
        save_png(figure_path(args), tile((W - lo) / np.maximum(hi - lo, 1e-12), side, side))


STAGES = ["pretrain", "refine_top", "finetune", "generate", "fewlabels", "fields"]
#: A stage's defaults of the shared options: (epochs, lr, batch_size, weight_decay).
STAGE_DEFAULTS = {
    "pretrain": (20, 0.05, 100, 2e-4),
    "refine_top": (0, 0.0, 100, 2e-4),  # the top RBM's PCD: --top-epochs and --top-lr
    "finetune": (40, 0.1, 50, 1e-5),
    "fewlabels": (200, 0.1, 20, 1e-4),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, checked: counts >= 1, rates > 0, a stack from MNIST's 784 pixels, an existing DBN file in
    the run directory for the stages after ``pretrain``, a writable ``--out`` for the figures.

    Raises:
        SystemExit: argparse's ``error:`` line naming the option and the value.
    """
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("stage", choices=STAGES)
    p.add_argument("--model", default="dbn.npz", help="generate: DBN file in the run directory")
    p.add_argument("--run", type=Path, default=Path("runs/dbn"), help="run directory (checkpoints, results)")
    p.add_argument(
        "--out", type=Path, default=FIGURES, help="generate, fields: folder of the PNG (default: docs/figures/)"
    )
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument(
        "--sizes",
        type=positive_int,
        nargs="+",
        default=None,
        help="unsupervised stack, from 784 pixels (pretrain's default: 784 500 500); the later stages take the run's "
        "DBN and refuse other sizes",
    )
    p.add_argument("--top", type=positive_int, default=2000, help="hidden units of the label-joined top RBM")
    p.add_argument("--epochs", type=positive_int, default=None, help="pretraining epochs per RBM / fine-tuning epochs")
    p.add_argument("--top-epochs", type=positive_int, default=20)
    p.add_argument("--top-lr", type=positive_float, default=0.05)
    p.add_argument("--top-pcd", action=argparse.BooleanOptionalAction, default=False)
    p.add_argument("--top-k", type=positive_int, default=1, help="Gibbs steps of the top RBM's CD-k")
    p.add_argument("--lr", type=positive_float, default=None)
    p.add_argument("--batch-size", type=positive_int, default=None, help="pretrain, refine_top: CD mini-batch too")
    p.add_argument("--weight-decay", type=non_negative_float, default=None, help="pretrain, refine_top: CD's too")
    p.add_argument(
        "--shift", type=non_negative_int, default=0, help="fine-tuning: random translations up to this many pixels"
    )
    p.add_argument("--dropout", type=probability, default=0.0, help="fine-tuning: dropout after each hidden layer")
    p.add_argument("--input-dropout", type=probability, default=0.0, help="fine-tuning: dropout on the pixels")
    p.add_argument("--tag", default="", help="suffix of the results file")
    p.add_argument("--per-label", type=positive_int, default=100)
    p.add_argument("--gibbs", type=non_negative_int, default=1000)
    p.add_argument("--start", choices=["coin", "mean"], default="mean", help="generate: initial top features")
    p.add_argument("--seeds", type=non_negative_int, nargs="+", default=[0, 1, 2])
    p.add_argument("--n-labelled", type=positive_int, default=600)
    args = p.parse_args(argv)
    if args.sizes is not None and (len(args.sizes) < 2 or args.sizes[0] != 784):
        p.error(
            f"--sizes: expected the stack's layer sizes from MNIST's 784 pixels, e.g. 784 500 500, got {args.sizes}"
        )
    if args.n_labelled > 60_000:
        p.error(f"--n-labelled: expected at most the 60000 training images, got {args.n_labelled}")
    if args.stage == "pretrain" and args.sizes is None:
        args.sizes = list(DEFAULT_SIZES)
    if args.stage != "pretrain":
        needed = dbn_file(args)
        if not needed.is_file():
            writer = "refine_top" if needed.name == "dbn_pcd.npz" else "pretrain"
            p.error(f"{needed} not found: {args.stage} reads the DBN of a run directory (--run); {writer} writes it")
    if args.stage in ("generate", "fields"):
        try:
            output_file(str(figure_path(args)))
        except argparse.ArgumentTypeError as e:
            p.error(f"--out {args.out}: {e}")
    defaults = STAGE_DEFAULTS.get(args.stage, (0, 0.0, 0, 0.0))
    for name, value in zip(("epochs", "lr", "batch_size", "weight_decay"), defaults, strict=True):
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.stage == "pretrain":
        with writing(args.run):
            args.run.mkdir(parents=True, exist_ok=True)
    stage = {
        "pretrain": pretrain,
        "refine_top": refine_top,
        "finetune": finetune,
        "generate": generate,
        "fewlabels": fewlabels,
        "fields": fields,
    }[args.stage]
    with reported_as_errors():  # a checkpoint or DBN file of another size, a corrupt file, MNIST's files missing
        check_sizes(args)
        stage(args)


if __name__ == "__main__":
    main()
