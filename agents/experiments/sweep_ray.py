"""The Ray backend of ``agents.experiments.sweep``: each run is a Ray task; files come back through Ray.

A task runs the training command (the train runner) in a temporary directory on whatever node Ray picks. While
the run trains, the task uploads each new checkpoint to a ``CheckpointStore`` actor that lives
beside the driver; when the run ends it returns every file of its directory as bytes, and the
driver writes them under its own log directory. Nothing assumes a shared filesystem.

If the worker dies (node lost, process killed), Ray retries the task (``max_retries``); the retry
downloads the latest checkpoint from the store and resumes from it, so no completed work is lost.
A run that fails is not retried: its reason (the tail of its log) comes back and is saved to ``error.txt``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import ray

from agents.experiments.sweep_file import (
    Run,
    RunResult,
    Sweep,
    checkpoint_steps,
    is_finished,
    latest_checkpoint,
    run_command,
    save_error,
)


class WorkerDiedError(RuntimeError):
    """The run's process was killed: a failure of the worker, not of the run; Ray retries it."""


@ray.remote(num_cpus=0)
class CheckpointStore:
    """Latest checkpoint bytes per run, plus the fault drill's one-shot flag."""

    def __init__(self) -> None:
        self.latest: dict[str, tuple[int, str, bytes]] = {}
        self.drilled = False

    def put(self, run: str, steps: int, filename: str, data: bytes) -> None:
        if run not in self.latest or steps > self.latest[run][0]:
            self.latest[run] = (steps, filename, data)

    def get(self, run: str) -> tuple[int, str, bytes] | None:
        return self.latest.get(run)

    def claim_drill(self) -> bool:
        first, self.drilled = not self.drilled, True
        return first


def execute(train_cmd: list[str], run: Run, sweep: Sweep, store: Any, drill: bool) -> dict[str, Any]:
    """Body of the Ray task: train one run in a temp dir, streaming checkpoints to ``store``.

    Returns:
        ``{"status": "finished" | "failed", "files": {relative path: bytes}, "code": exit code,
        "resumed_from": checkpoint steps, "seconds": wall time, "error": last line of the traceback}``.

    Raises:
        WorkerDiedError: If the training process was killed (so that Ray retries the task).
    """
    t0 = time.perf_counter()
    # on a cluster the command's paths are relative to the job's working_dir (Ray's runtime_env), and the
    # interpreter is this worker's own
    train_cmd = [sys.executable, *(str(Path(a).resolve()) if a.endswith(".py") else a for a in train_cmd[1:])]
    tmp = Path(tempfile.mkdtemp(prefix="nngym-sweep-"))
    run_dir = tmp / run.name
    resume = None
    try:
        saved = ray.get(store.get.remote(run.name))
        if saved is not None:
            steps, filename, data = saved
            resume = run_dir / "resume" / "checkpoints" / filename
            resume.parent.mkdir(parents=True)
            resume.write_bytes(data)
        run_dir.mkdir(parents=True, exist_ok=True)
        uploaded: set[Path] = set() if resume is None else {resume}
        with open(run_dir / "train.log", "ab") as log:
            # the job's working_dir (a shipped project on a cluster) is importable by the training process
            env = {
                **os.environ,
                "PYTHONPATH": os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")])),
            }
            cmd = run_command(train_cmd, run, sweep, run_dir, resume)
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=tmp, env=env)
            while proc.poll() is None:
                time.sleep(0.2)
                ckpt = latest_checkpoint(run_dir)
                if ckpt is not None and ckpt not in uploaded:
                    time.sleep(0.1)  # the file is written to a temp name and renamed: complete once visible
                    store.put.remote(run.name, checkpoint_steps(ckpt), ckpt.name, ckpt.read_bytes())
                    uploaded.add(ckpt)
                    if drill and ray.get(store.claim_drill.remote()):
                        proc.send_signal(signal.SIGKILL)
                        proc.wait()
                        os.kill(os.getpid(), signal.SIGKILL)  # the fault drill: this Ray worker dies
        code = proc.returncode
        if code < 0:
            raise WorkerDiedError(f"{run.name}: training process killed by signal {-code}")
        status = "finished" if code == 0 and is_finished(run_dir) else "failed"
        error = save_error(run_dir, code) if status == "failed" else ""
        files = {str(p.relative_to(run_dir)): p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
        resumed_from = 0 if resume is None else checkpoint_steps(resume)
        seconds = time.perf_counter() - t0
        return {
            "status": status,
            "files": files,
            "code": code,
            "resumed_from": resumed_from,
            "seconds": seconds,
            "error": error,
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_ray(
    train_cmd: list[str],
    sweep: Sweep,
    todo: list[Run],
    root: Path,
    workers: int,
    address: str | None,
    cpus_per_run: float,
    drill_kill: str | None,
    working_dir: Path | None = None,
) -> list[RunResult]:
    """Submits every run as a Ray task and writes the files each returns under ``root/<run name>/``.

    With a cluster ``address`` and a ``working_dir`` (the project's root), Ray ships that directory to
    the workers, so they run the same ``scripts/train.py`` without a shared filesystem.
    """
    started_here = not ray.is_initialized()
    if started_here:
        kwargs: dict[str, Any] = {"address": address} if address else {"num_cpus": workers}
        if address and working_dir is not None:
            # ship the project to the cluster's workers; train_cmd's script path is then relative to it
            excludes = ["runs/", ".git/", "docs/", "*.npz"]
            kwargs["runtime_env"] = {"working_dir": str(working_dir), "excludes": excludes}
            train_cmd = [
                a if not a.endswith(".py") else str(Path(a).resolve().relative_to(working_dir)) for a in train_cmd
            ]
        ray.init(include_dashboard=False, log_to_driver=False, **kwargs)
    try:
        store = CheckpointStore.remote()
        task = ray.remote(execute).options(
            num_cpus=cpus_per_run, max_retries=sweep.max_retries, retry_exceptions=[WorkerDiedError]
        )
        start = time.perf_counter()
        refs = {task.remote(train_cmd, run, sweep, store, run.name == drill_kill): run for run in todo}
        results = []
        pending = list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            run = refs[ready[0]]
            run_dir = root / run.name
            try:
                out = ray.get(ready[0])
            except (ray.exceptions.RayError, WorkerDiedError) as e:
                run_dir.mkdir(parents=True, exist_ok=True)
                (run_dir / "error.txt").write_text(f"worker failed after retries: {e}\n")
                results.append(RunResult(run, "failed", sweep.max_retries + 1, time.perf_counter() - start, str(e)))
                continue
            for rel, data in out["files"].items():
                path = run_dir / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
            attempts = 2 if out["resumed_from"] else 1
            results.append(RunResult(run, out["status"], attempts, out["seconds"], out["error"], out["resumed_from"]))
        return results
    finally:
        if started_here:
            ray.shutdown()
