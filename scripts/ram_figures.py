"""The recurrent attention model (RAM) on DigitGlimpse: train, then the curve and where it looks.

    python scripts/ram_figures.py train --seed 0                    # 28x28 MNIST, 6 glimpses of 8x8, one scale
    python scripts/ram_figures.py train --seed 0 --max-shift 0      # without shifting the training digits
    python scripts/ram_figures.py train --seed 0 --translated       # 60x60 translated MNIST, 8 glimpses, 3 scales
    python scripts/ram_figures.py train --seed 0 --resume           # 45 more epochs from runs/ram/mnist/ram_s0 (98.5%)
    python scripts/ram_figures.py plot --seed 0                     # curve, trajectories PNG and GIF

``train`` writes ``<out>/mnist/ram_s<seed>/`` (``<out>/translated/...`` with ``--translated``; curve.csv: test
accuracy on all 10,000 test images after every ``--eval-epochs`` epochs of 60,000 episodes, model.npz,
progress.csv, monitor.csv) and ``<out>/mnist/ram_s<seed>.json``;
By default each training digit is shifted by up to 2 pixels (``--max-shift``, the env's ``max_shift``); the test
digits never are. ``plot`` writes ``docs/figures/ram_curve.png`` with its data (``ram_curve_s<seed>.csv``, each
seed's curve.csv), ``ram_glimpses.png`` and ``ram_glimpses.gif``.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import envs  # noqa: F401 - registers the nngym/ env ids
from agents.experiments import glimpse
from agents.ram import RAM

FIGURES = Path(__file__).resolve().parent.parent / "docs" / "figures"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=["train", "plot"])
    p.add_argument("--seed", type=int, nargs="+", default=[0])
    p.add_argument("--epochs", type=float, default=45.0, help="passes of 60,000 training episodes")
    p.add_argument("--eval-epochs", type=float, default=5.0, help="epochs between test evaluations")
    p.add_argument("--translated", action="store_true", help="60x60 translated MNIST instead of 28x28")
    p.add_argument("--lr", default="lin_1e-3", help="Adam step size, a number or lin_<x> (linear decay to 0)")
    p.add_argument("--n-envs", type=int, default=64, help="episodes per update")
    p.add_argument("--location-std", type=float, default=0.15, help="σ of the location policy")
    p.add_argument("--max-shift", type=int, default=2, help="shift training digits by up to this many pixels")
    p.add_argument("--weight-decay", type=float, default=0.0, help="L2 coefficient on the weights")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue <out>/mnist/ram_s<seed>/model.npz (translated/ with --translated) for --epochs more (its "
        "schedule runs on over the whole count)",
    )
    p.add_argument("--out", type=Path, default=Path("runs/ram"))
    p.add_argument("--figures", type=Path, default=FIGURES)
    args = p.parse_args()
    env_kwargs = glimpse.TRANSLATED if args.translated else glimpse.MNIST
    out = args.out / ("translated" if args.translated else "mnist")
    if args.command == "train":
        lr = float(args.lr) if args.lr.replace(".", "").replace("e-", "").isdigit() else args.lr
        for seed in args.seed:
            s = glimpse.train(
                seed,
                args.epochs,
                out,
                env_kwargs,
                args.eval_epochs,
                learning_rate=lr,
                n_envs=args.n_envs,
                max_shift=args.max_shift,
                location_std=args.location_std,
                weight_decay=args.weight_decay,
                resume=args.resume,
            )
            print(json.dumps({k: s[k] for k in ("seed", "epochs", "train_seconds", "test_accuracy")}))
        return
    tag = "_translated" if args.translated else ""
    curves = {seed: glimpse.read_curve(out / f"ram_s{seed}" / "curve.csv") for seed in args.seed}
    glimpse.plot_curves(curves, args.figures / f"ram_curve{tag}.png")
    for seed in args.seed:  # the figure's data beside it
        shutil.copyfile(out / f"ram_s{seed}" / "curve.csv", args.figures / f"ram_curve{tag}_s{seed}.csv")
    agent = RAM.load(out / f"ram_s{args.seed[0]}" / "model.npz")
    accuracy, results = glimpse.accuracy_and_trajectories(agent, env_kwargs)
    print(f"seed {args.seed[0]}: deterministic test accuracy {accuracy:.4f} on 10,000 test images")
    glimpse.plot_trajectories(results[:8], env_kwargs, args.figures / f"ram_glimpses{tag}.png")
    import imageio.v2 as imageio

    frames = glimpse.glimpse_frames(agent, env_kwargs, list(range(8)))
    imageio.mimsave(args.figures / f"ram_glimpses{tag}.gif", frames, duration=0.5, loop=0)


if __name__ == "__main__":
    main()
