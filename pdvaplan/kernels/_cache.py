"""The kernels a plan runs: whether they are compiled already, and compiling them early.

The first plan after installing or updating pdvaplan compiles them (numba writes
them to its on-disk cache; later runs load them in a fraction of a second). The
command line says so before that first plan instead of sitting silent, and a plan
compiles the crossing search's kernels in a child process while it segments and
finds the centrelines (`SearchKernelsWarmUp`), so that on two cores or more most
of the compiling happens alongside other work.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from pdvaplan.threads import threads


def plan_kernels_cached() -> bool:
    """Whether numba's cache holds the current compiled code of the kernels a plan runs.

    Reads numba's cache index through its (internal) cache objects; where
    they are not what this expects, answers True (nothing is said).
    """
    from pdvaplan.kernels.line_of_sight import _lengths_many
    from pdvaplan.kernels.plane_sampling import _moments
    from pdvaplan.kernels.polyline_nearest import _nearest_segments

    try:
        return all(
            bool(kernel._cache._cache_file._load_index())
            for kernel in (_nearest_segments, _moments, _lengths_many)
        )
    except (AttributeError, OSError):
        return True


def compile_search_kernels() -> None:
    """Compile (or load) the crossing search's kernels for the argument types a plan
    passes them: polylines of float64 and a needle label volume of int32 (see
    `pdvaplan.planning.candidates`)."""
    from pdvaplan.kernels import line_of_sight_lengths, nearest_segments_within

    line = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    nearest_segments_within(line, line + np.array([1.0, 0.0, 0.0]), 10.0)
    labels = np.zeros((2, 2, 2), dtype=np.int32)
    line_of_sight_lengths(line, line + 0.5, labels, np.zeros(3), np.ones(3), np.eye(3))


class SearchKernelsWarmUp:
    """The crossing search's kernels compiling in a child process, started when they are
    not cached yet and pdvaplan works on two threads or more (the child takes one).

    Use as a context manager around a plan and call `wait` before the search: the
    search then loads what the child wrote to numba's cache instead of compiling it a
    second time. A child that fails costs nothing but its time: the search compiles
    what it needs itself.
    """

    def __init__(self) -> None:
        self._child: subprocess.Popen | None = None

    def __enter__(self) -> SearchKernelsWarmUp:
        if threads() >= 2 and not plan_kernels_cached():
            try:
                self._child = subprocess.Popen(
                    [sys.executable, "-c", f"import {__name__} as m; m.compile_search_kernels()"],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            except OSError:  # no interpreter to start: the search compiles for itself
                self._child = None
        return self

    def wait(self) -> None:
        """Until the child (if any) has finished."""
        if self._child is not None:
            self._child.wait()
            self._child = None

    def __exit__(self, *exc_info) -> None:
        if self._child is not None:  # the plan ended before its search: stop compiling
            self._child.kill()
            self._child.wait()
            self._child = None
