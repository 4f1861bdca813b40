"""The adding problem (Hochreiter & Schmidhuber 1997, experiment 4): a memory task LSTM solves and an RNN does not.

Each sequence has T steps of two inputs: a value drawn from U(0, 1) and a marker that is 1 at
exactly two steps (one in the first half, one in the second) and 0 elsewhere. The target, read
from the last hidden state through a Dense layer, is the sum of the two marked values. Always
answering 1 gives a mean absolute error of 1/3; success is MAE < 0.04 on held-out sequences.
The marked values can be T steps back, so the gradient has to survive T steps of BPTT.

    python scripts/sequence_memory.py                         # RNN and LSTM at T = 50, 100, 200
    python scripts/sequence_memory.py --lengths 50 --models lstm --max-seconds 60
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from nngym.dense import Dense
from nngym.lstm import LSTM
from nngym.network import Sequential
from nngym.optim import Adam
from nngym.recurrent import Recurrent
from nngym.rnn import RNN

SUCCESS_MAE = 0.04


def adding_problem(T: int, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` sequences of the adding problem.

    Returns:
        ``(x, target)``: inputs (T, n, 2) as (value, marker) per step and sums (n, 1), float32.
    """
    x = np.zeros((T, n, 2), np.float32)
    x[:, :, 0] = rng.uniform(0.0, 1.0, (T, n))
    rows = np.arange(n)
    first = rng.integers(0, T // 2, n)
    second = rng.integers(T // 2, T, n)
    x[first, rows, 1] = 1.0
    x[second, rows, 1] = 1.0
    target = (x[first, rows, 0] + x[second, rows, 0])[:, None]
    return x, target


class Model:
    """A recurrent layer followed by a Dense readout of its last hidden state."""

    def __init__(self, kind: str, hidden: int, rng: np.random.Generator) -> None:
        self.rnn: Recurrent = LSTM(2, hidden, rng) if kind == "lstm" else RNN(2, hidden, rng)
        self.readout = Sequential([Dense(hidden, 1, rng, w_init="glorot_uniform")])

    def predict(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        y = self.rnn.forward(x, train)
        self._y_shape = y.shape
        return self.readout.forward(y[-1], train=train)

    def train_step(self, x: np.ndarray, target: np.ndarray) -> float:
        """Forward, quadratic cost C = mean ½(out − target)², backward; returns the batch MAE."""
        err = self.predict(x, train=True) - target
        dy = np.zeros(self._y_shape, np.float32)
        dy[-1] = self.readout.backward(err / len(err))  # ∂C/∂h_T; earlier steps get nothing from the cost
        self.rnn.backward(dy)
        return float(np.abs(err).mean())


def run(kind: str, T: int, args: argparse.Namespace) -> dict[str, float | int | str | bool]:
    """Trains one model on fresh batches until the test MAE is below 0.04 or the budget runs out."""
    rng = np.random.default_rng(args.seed)
    model = Model(kind, args.hidden, rng)
    opt = Adam([model.rnn, model.readout], lr=args.lr, max_grad_norm=args.clip)
    x_test, y_test = adding_problem(T, args.n_test, np.random.default_rng(args.seed + 10_000))
    mae, step, start = float("nan"), 0, time.perf_counter()
    while True:
        x, target = adding_problem(T, args.batch, rng)
        model.train_step(x, target)
        opt.step()
        step += 1
        elapsed = time.perf_counter() - start
        if step % args.eval_every == 0 or step >= args.max_steps or elapsed >= args.max_seconds:
            mae = float(np.abs(model.predict(x_test) - y_test).mean())
            print(f"  {kind} T={T} step {step:5d}  {elapsed:6.1f}s  test MAE {mae:.4f}", flush=True)
            if mae < SUCCESS_MAE or step >= args.max_steps or elapsed >= args.max_seconds:
                break
    return {
        "model": kind.upper(),
        "T": T,
        "mae": mae,
        "steps": step,
        "seconds": time.perf_counter() - start,
        "solved": mae < SUCCESS_MAE,
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lengths", type=int, nargs="+", default=[50, 100, 200], help="sequence lengths T")
    p.add_argument("--models", nargs="+", choices=["rnn", "lstm"], default=["rnn", "lstm"])
    p.add_argument("--hidden", type=int, default=32, help="hidden units H")
    p.add_argument("--batch", type=int, default=64, help="sequences per Adam step")
    p.add_argument("--lr", type=float, default=1e-2, help="Adam learning rate")
    p.add_argument("--clip", type=float, default=1.0, help="global gradient-norm clip")
    p.add_argument("--max-steps", type=int, default=5000, help="step budget per run")
    p.add_argument("--max-seconds", type=float, default=90.0, help="time budget per run")
    p.add_argument("--eval-every", type=int, default=50, help="steps between test evaluations")
    p.add_argument("--n-test", type=int, default=1000, help="held-out sequences")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    rows = [run(kind, T, args) for T in args.lengths for kind in args.models]
    print(
        f"\nadding problem, H={args.hidden}, batch {args.batch}, Adam lr {args.lr}, clip {args.clip}, seed {args.seed}"
    )
    print("| T | model | test MAE | solved (MAE < 0.04) | steps | training time (s) |")
    print("|---:|---|---:|---|---:|---:|")
    for r in rows:
        solved = "yes" if r["solved"] else "no"
        print(f"| {r['T']} | {r['model']} | {r['mae']:.4f} | {solved} | {r['steps']} | {r['seconds']:.1f} |")


if __name__ == "__main__":
    main()
