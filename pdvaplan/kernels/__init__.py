"""Numba geometry kernels over plain arrays, all lengths in millimetres.

Plain functions over NumPy arrays; they import only NumPy and numba. Public
functions check their input and raise `ValueError` with a one-line message
naming the argument; the compiled kernels behind them are cached on disk.
"""

from pdvaplan.kernels.closest_approach import ClosestApproach, closest_approach

__all__ = [
    "ClosestApproach",
    "closest_approach",
]
