"""Run small inputs on one thread, where waking the thread pool costs more than it saves."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numba

#: Below this many segments, needles or queries the kernels run on one thread.
#: Waking numba's pool costs from 20 us on an idle machine to several ms on a
#: busy one, more than the whole job at these sizes.
PARALLEL_MIN_ITEMS = 20_000


@contextmanager
def threads_for(n_items: int) -> Iterator[None]:
    """Limit numba to one thread inside the block when `n_items` is small.

    Never raises the thread count: a caller's ``numba.set_num_threads`` holds.
    """
    previous = numba.get_num_threads()
    if n_items < PARALLEL_MIN_ITEMS and previous > 1:
        numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(previous)
