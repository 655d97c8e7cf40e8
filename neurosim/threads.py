"""How many threads the numba kernels use: ``neurosim run --threads N``.

The parallel kernels split work into items that write disjoint outputs, so every count is
the same for any number of threads.  numba is imported only when a kernel runs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


def available_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def max_threads() -> int:
    """The most threads numba can use in this process (``NUMBA_NUM_THREADS``)."""
    import numba

    return int(numba.config.NUMBA_NUM_THREADS)


def in_use() -> int:
    """The threads the kernels called from this thread may use: above 1, their parallel
    variant."""
    import numba

    return int(numba.get_num_threads())


@contextmanager
def using(threads: int | None) -> Iterator[int]:
    """Run the kernels in this block on ``threads`` threads (None: all available cores,
    at most :func:`max_threads`); yields the number used."""
    import numba

    n = min(available_cores(), max_threads()) if threads is None else threads
    previous = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        yield n
    finally:
        numba.set_num_threads(previous)
