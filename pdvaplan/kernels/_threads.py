"""When the kernels use more than one thread.

Every kernel with a parallel loop has two compiled entry points: a serial one
(plain ``numba.njit``) and a ``parallel=True`` one. Small inputs take the
serial one, so they never wake the thread pool (from 20 us on an idle machine
to several ms on a busy one, more than the whole job at these sizes) and a
process that only ever sees small inputs never loads the parallel code.

On Linux with autogroup scheduling (the default), processes started from
different sessions share the CPUs by session: under load from other sessions
a process gets the same CPU time whether it runs one thread or two, so a
second thread cannot make it faster, only slower if it wastes that time. The
GNU OpenMP runtime behind numba's ``omp`` threading layer spins for a while
after each parallel region by default, which burns exactly that time; the
package therefore asks for passive waiting (``OMP_WAIT_POLICY=PASSIVE``)
unless the environment already says otherwise. The runtime reads it when
numba first starts its pool, so importing any kernel module in time is enough.
"""

from __future__ import annotations

import os

import numba

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

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
