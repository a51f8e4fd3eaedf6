"""When the kernels use more than one thread.

Every kernel with a parallel loop has two compiled entry points: a serial one
(plain ``numba.njit``) and a ``parallel=True`` one. Small inputs take the
serial one, so they never wake the thread pool (from 20 us on an idle machine
to several ms on a busy one, more than the whole job at these sizes) and a
process that only ever sees small inputs never loads the parallel code.

How many threads the pool has follows `pdvaplan.threads.set_threads` (every
available core by default); the command line asks the OpenMP runtime to wait
passively between parallel regions (see `pdvaplan.threads`).
"""

from __future__ import annotations

import numba

#: From this many segments, needles or queries (both polylines together) the
#: kernels run their parallel entry point, when numba may use more than one
#: thread (``numba.set_num_threads``).
PARALLEL_MIN_ITEMS = 20_000


#: Parallel loops hand their blocks of work out round-robin over this many
#: tasks (block ``b`` to task ``b % PARALLEL_TASKS``), so that each thread gets
#: blocks from the whole input: where the work is, along a polyline, varies a
#: lot (two vessels close over one stretch and apart elsewhere), and numba's
#: prange gives each thread one contiguous range of tasks.
PARALLEL_TASKS = 64


def use_threads(n_items: int) -> bool:
    """Whether a job of `n_items` should run on numba's thread pool."""
    return n_items >= PARALLEL_MIN_ITEMS and numba.get_num_threads() > 1
