"""Whether the kernels a plan runs are compiled already (numba's on-disk cache).

The first plan after installing or updating pdvaplan compiles them (tens of
seconds); later runs load them in a fraction of a second. The command line
says so before that first plan instead of sitting silent.
"""

from __future__ import annotations


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
