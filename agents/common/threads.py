"""Limiting OpenBLAS to one thread for the agents' small matrices.

The agents multiply matrices of a few hundred rows by 64 or 256 columns; on those,
OpenBLAS's threads cost more in synchronisation than they save (and on a shared
machine they make training several times slower), so ``learn`` runs with one BLAS
thread. Uses the library's own ``*_set_num_threads`` through ctypes (Linux), else nothing.
"""

from __future__ import annotations

import ctypes
import os

_SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads", "openblas_set_num_threads")
_GETTERS = ("scipy_openblas_get_num_threads64_", "scipy_openblas_get_num_threads", "openblas_get_num_threads")


def _openblas() -> ctypes.CDLL | None:
    import numpy  # noqa: F401 - loads the BLAS library numpy uses

    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "openblas" in line.lower() and line.split()[-1].startswith("/")}
    except OSError:
        return None
    for path in sorted(paths):
        if os.path.exists(path):
            return ctypes.CDLL(path)
    return None


def blas_threads() -> int | None:
    """Current OpenBLAS thread count, or None if it cannot be found."""
    lib = _openblas()
    for name in _GETTERS if lib is not None else ():
        if hasattr(lib, name):
            return int(getattr(lib, name)())
    return None


def set_blas_threads(n: int) -> bool:
    """Sets the OpenBLAS thread count; returns False if OpenBLAS was not found."""
    lib = _openblas()
    for name in _SETTERS if lib is not None else ():
        if hasattr(lib, name):
            getattr(lib, name)(ctypes.c_int(n))
            return True
    return False
