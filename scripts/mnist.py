"""Train a network on the bundled MNIST and print test accuracy after every epoch.

The defaults are the seed's first network (network.py): [784, 30, 10] sigmoid neurons,
quadratic cost, mini-batch SGD with η = 3.0, m = 10, 30 epochs, trained on the first
50,000 training images (Nielsen's training split), N(0, 1) initialisation.

Examples:
    python scripts/mnist.py                                   # the seed's network (Nielsen: 95.42%)
    python scripts/mnist.py --sizes 784,100,10                # Nielsen: 96.59%
    python scripts/mnist.py --sizes 784,100,10 --cost cross-entropy --eta 0.5 --lmbda 5.0 \\
        --init nielsen --epochs 60                            # network2 with L2 (Nielsen: 98.04%)
    python scripts/mnist.py --net cnn --spec conv:32x5,pool:2,conv:64x5,pool:2,dense:256 --dropout 0.5 \\
        --activation relu --cost softmax-cross-entropy --optimizer adam --eta 0.001 --lr-schedule linear \\
        --batch 64 --epochs 12 --train-size 60000            # the CNN of RESULTS.md (add --pool l2 for L2 pooling)
"""

from __future__ import annotations

import argparse
import time

import numpy as np

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
from nngym.activations import ACTIVATIONS
from nngym.builders import CNN_SPEC_HELP, POOLS, cnn, mlp
from nngym.costs import COSTS
from nngym.datasets.mnist import load_mnist_float
from nngym.init import get_initializer
from nngym.network import Sequential
from nngym.optim import OPTIMIZERS
from nngym.schedules import constant, linear
from nngym.train import History, fit

#: ``--sizes`` without the option (the seed's network), ``--spec`` and ``--pool`` without theirs.
DEFAULT_SIZES, DEFAULT_SPEC, DEFAULT_POOL = "784,30,10", "conv:20x5,pool:2,conv:40x5,pool:2,dense:100", "max"

#: Hidden activations offered: nngym's, but softmax (an output non-linearity; the costs fuse their own).
HIDDEN_ACTIVATIONS = sorted(name for name in ACTIVATIONS if name != "softmax")


def mnist_sizes(text: str) -> list[int]:
    """argparse ``type=`` of ``--sizes``: comma-separated layer sizes >= 1, from 784 inputs to 10 outputs.

    Raises:
        argparse.ArgumentTypeError: Naming what came.
    """
    try:
        sizes = [int(s) for s in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, e.g. 784,30,10, got {text!r}") from None
    if len(sizes) < 2 or min(sizes) < 1 or sizes[0] != 784 or sizes[-1] != 10:
        raise argparse.ArgumentTypeError(
            f"expected layer sizes >= 1 that start with 784 (the pixels) and end with 10 (the digits), got {text!r}"
        )
    return sizes


def initializer(text: str) -> str:
    """argparse ``type=`` of ``--init``: a name ``nngym.init.get_initializer`` knows.

    Raises:
        argparse.ArgumentTypeError: Listing the known names.
    """
    try:
        get_initializer(text)
    except ValueError as e:  # an unknown name, or an orthogonal gain that is not a number
        raise argparse.ArgumentTypeError(str(e) if repr(text) in str(e) else f"{text!r}: {e}") from None
    return text


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--net", choices=["mlp", "cnn"], default="mlp", help="network kind")
    p.add_argument(
        "--sizes", type=mnist_sizes, default=None, help=f"MLP only: layer sizes, comma-separated ({DEFAULT_SIZES})"
    )
    p.add_argument("--spec", default=None, help=f"CNN only (default {DEFAULT_SPEC}): {CNN_SPEC_HELP}")
    p.add_argument(
        "--pool", default=None, choices=sorted(POOLS), help=f"CNN only: kind of the spec's pool: items ({DEFAULT_POOL})"
    )
    p.add_argument(
        "--dropout", type=probability, default=0.0, help="CNN only: dropout probability after each hidden dense"
    )
    p.add_argument("--activation", default="sigmoid", choices=HIDDEN_ACTIVATIONS, help="hidden activation")
    p.add_argument("--cost", default="quadratic", choices=sorted(COSTS), help="cost function")
    p.add_argument("--optimizer", default="sgd", choices=sorted(OPTIMIZERS), help="update rule")
    p.add_argument("--eta", type=positive_float, default=3.0, help="learning rate η")
    p.add_argument("--lr-schedule", choices=["constant", "linear"], default="constant", help="η over training")
    p.add_argument("--lmbda", type=non_negative_float, default=0.0, help="L2 regularisation λ (weight decay λ/n)")
    p.add_argument("--batch", type=positive_int, default=10, help="mini-batch size m")
    p.add_argument("--epochs", type=positive_int, default=30)
    p.add_argument(
        "--init", type=initializer, default="standard_normal", help="weight initialiser (standard_normal, nielsen, ...)"
    )
    p.add_argument("--train-size", type=int, default=50_000, help="first N training images (Nielsen: 50,000)")
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument("--save", type=output_file, default=None, help="save the trained network to this .npz file")
    p.add_argument("--no-progress", action="store_true", help="hide the per-epoch progress bar")
    args = p.parse_args(argv)
    if not 1 <= args.train_size <= 60_000:
        p.error(f"--train-size must be in [1, 60000], got {args.train_size}")
    if args.dropout and args.net != "cnn":
        p.error(f"--dropout {args.dropout} applies to --net cnn (after the spec's dense items); the MLP has no dropout")
    if args.net == "mlp":  # options of the other kind of network would be ignored
        for name in ("spec", "pool"):
            if getattr(args, name) is not None:
                p.error(f"--{name} {getattr(args, name)} applies to --net cnn; the MLP's layers are --sizes")
    elif args.sizes is not None:
        p.error(f"--sizes {','.join(map(str, args.sizes))} applies to --net mlp; the CNN's layers are --spec")
    args.sizes = mnist_sizes(DEFAULT_SIZES) if args.sizes is None else args.sizes
    args.spec = DEFAULT_SPEC if args.spec is None else args.spec
    args.pool = DEFAULT_POOL if args.pool is None else args.pool
    return args


def build_net(args: argparse.Namespace, rng: np.random.Generator) -> Sequential:
    """The network the arguments describe. Its output is an activation for the quadratic cost, logits otherwise.

    Raises:
        ValueError: For a CNN spec ``nngym.builders.cnn`` cannot build, naming the item.
    """
    out_act = "sigmoid" if args.cost == "quadratic" else None  # the other costs fuse their output non-linearity
    if args.net == "cnn":
        spec = args.spec
        if args.dropout:
            spec = ",".join(f"{s},dropout:{args.dropout}" if s.startswith("dense:") else s for s in spec.split(","))
        init = "he_normal" if args.init == "standard_normal" else args.init  # N(0, 1) weights stall a deep CNN
        return cnn(
            spec,
            (1, 28, 28),
            rng,
            n_out=10,
            activation=args.activation,
            pool=args.pool,
            output_activation=out_act,
            w_init=init,
        )
    b_init = "standard_normal" if args.init == "standard_normal" else "zeros"
    return mlp(args.sizes, rng, activation=args.activation, output_activation=out_act, w_init=args.init, b_init=b_init)


def prepare_inputs(args: argparse.Namespace, x: np.ndarray) -> np.ndarray:
    """Shapes flat (N, 784) images for the chosen network: (N, 1, 28, 28) for a CNN."""
    return x.reshape(-1, 1, 28, 28) if args.net == "cnn" else x


def main(argv: list[str] | None = None) -> History:
    args = parse_args(argv)
    rng = np.random.default_rng(args.seed)
    with reported_as_errors():  # a CNN spec that does not build, MNIST's files missing or corrupt
        net = build_net(args, rng)
        x_train, y_train = load_mnist_float("train")
        x_test, y_test = load_mnist_float("test")
    x_train, y_train = prepare_inputs(args, x_train[: args.train_size]), y_train[: args.train_size]
    x_test = prepare_inputs(args, x_test)
    targets = np.eye(10, dtype=np.float32)[y_train]  # one-hot y(x)

    optimizer = OPTIMIZERS[args.optimizer](net, lr=args.eta, weight_decay=args.lmbda / len(x_train))
    schedule = linear(args.eta) if args.lr_schedule == "linear" else constant(args.eta)
    print(f"{net}\n{net.n_params:,} parameters; {len(x_train):,} training images, {len(x_test):,} test images")

    start = time.perf_counter()

    def report(epoch: int, history: History) -> None:
        correct = round(history.eval_accuracy[-1] * len(x_test))
        print(
            f"Epoch {epoch}: {correct} / {len(x_test)}  (test accuracy {history.eval_accuracy[-1]:.2%}, "
            f"train cost {history.train_cost[-1]:.4f}, {time.perf_counter() - start:.0f} s)",
            flush=True,
        )

    history = fit(
        net,
        COSTS[args.cost](),
        optimizer,
        x_train,
        targets,
        epochs=args.epochs,
        batch_size=args.batch,
        rng=rng,
        eval_data=(x_test, y_test),
        lr_schedule=schedule,
        progress=not args.no_progress,
        on_epoch=report,
    )
    best = int(np.argmax(history.eval_accuracy))
    final, top = history.eval_accuracy[-1], history.eval_accuracy[best]
    print(f"final test accuracy {final:.2%} (best {top:.2%} at epoch {best}); {time.perf_counter() - start:.0f} s")
    if args.save:
        with writing(args.save):
            print(f"saved to {net.save(args.save)}")
    return history


if __name__ == "__main__":
    main()
