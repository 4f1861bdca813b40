"""glibc's malloc kept from giving freed memory back (``nngym.memory``): measured in page faults, in fresh processes."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# 100 steps of 16 arrays of 256 KiB each made, written and freed: 6,400 pages touched a step
CHURN = """
import json, resource, sys
import numpy as np
from nngym.memory import keep_freed_memory
kept = keep_freed_memory() if sys.argv[1] == "call" else None
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(3):  # the first steps may grow the heap
    arrays = [np.ones((256, 256), np.float32) for _ in range(16)]
    del arrays
before = faults()
for _ in range(100):
    arrays = [np.ones((256, 256), np.float32) for _ in range(16)]
    del arrays
print(json.dumps({"kept": kept, "faults": faults() - before}))
"""

glibc = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's"
)


def _churn(mode: str, **env: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHURN, mode],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


@glibc
def test_freed_arrays_come_back_without_page_faults():
    kept = _churn("call")
    assert kept["kept"] is True
    assert kept["faults"] < 640  # under 1 % of the 64,000 pages the loop writes (measured: 0)
    default = _churn("no call")
    assert default["kept"] is None
    assert default["faults"] > 10 * max(kept["faults"], 100)  # glibc's defaults give them back (measured: 99,200)


@glibc
def test_the_environment_variable_turns_it_off():
    off = _churn("call", NNGYM_KEEP_FREED_MEMORY="0")
    assert off["kept"] is False and off["faults"] > 6400  # nothing was changed: the faults of the defaults
