"""How many threads pdvaplan works on: every core the process may use, unless told.

The kernels run on numba's thread pool; the smoothing and distance
transforms of the segmentation split their work over a pool of Python
threads (SciPy and ``edt`` release the GIL). Both follow `set_threads`;
the default is the number of cores the process may run on (its CPU affinity,
which container and batch-system limits set).

Importing pdvaplan changes nothing in the process's environment. The command
line (a process of its own) asks the OpenMP runtime behind numba to wait
passively between parallel regions (``OMP_WAIT_POLICY=PASSIVE``, unless the
environment says otherwise): on a shared machine, threads that spin after a
parallel region take CPU time from the process. A script may set it itself
before its first parallel kernel call.
"""

from __future__ import annotations

import os

_chosen: int | None = None


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system tells it).

    Examples
    --------
    >>> available_cores() >= 1
    True
    """
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def threads() -> int:
    """The number of threads pdvaplan works on (`set_threads`, else every available core)."""
    return _chosen or available_cores()


def set_threads(count: int | None) -> None:
    """Work on `count` threads from now on (None: every available core).

    Raises
    ------
    ValueError
        If `count` is below 1.

    Examples
    --------
    >>> set_threads(1); threads()
    1
    >>> set_threads(None); threads() == available_cores()
    True
    """
    global _chosen
    if count is not None and count < 1:
        raise ValueError(f"threads: {count}; expected 1 or more")
    _chosen = count
    import numba

    numba.set_num_threads(min(threads(), numba.config.NUMBA_NUM_THREADS))
