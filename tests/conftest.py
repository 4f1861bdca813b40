"""Suite-wide setup: BLAS on one thread.

The tests' matrices are small; with OpenBLAS's threads a loaded machine makes some tests tens of times
slower (each product waits for a second core), and one thread also gives the same arithmetic whatever the
machine's core count. threadpoolctl sets it for the whole session and restores it afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True, scope="session")
def one_blas_thread() -> Iterator[None]:
    with threadpool_limits(limits=1, user_api="blas"):
        yield
