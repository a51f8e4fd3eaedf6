"""Distance from each vertex of one polyline to another polyline."""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

from pdvaplan.kernels._polyline import as_polyline_mm, locate_on_polyline, polyline_arc_lengths
from pdvaplan.kernels._threads import use_threads
from pdvaplan.kernels.polyline_nearest import nearest_in_tree, nearest_in_tree_parallel
from pdvaplan.kernels.segment_tree import build_segment_tree


class DistanceProfile(NamedTuple):
    """Distance from each vertex of polyline A to polyline B.

    Attributes
    ----------
    arc_a_mm : numpy.ndarray, shape (N,)
        Arc length of each A vertex from A's first point.
    distance_mm : numpy.ndarray, shape (N,)
        Exact distance from the A vertex to the B polyline.
    point_b_mm : numpy.ndarray, shape (N, 3)
        Closest point on B.
    segment_b : numpy.ndarray of int64, shape (N,)
        B segment holding that point (segment ``j`` joins vertices ``j`` and ``j + 1``).
    arc_b_mm : numpy.ndarray, shape (N,)
        Arc length of the closest point along B.
    """

    arc_a_mm: np.ndarray
    distance_mm: np.ndarray
    point_b_mm: np.ndarray
    segment_b: np.ndarray
    arc_b_mm: np.ndarray


def distance_profile(a_mm: np.ndarray, b_mm: np.ndarray) -> DistanceProfile:
    """Exact distance from every vertex of polyline A to polyline B.

    For plots of the artery-to-vein gap along the artery and for "parallel and
    close" measures. Where several points of B tie, the one on the lowest B
    segment is reported.

    Parameters
    ----------
    a_mm : array_like, shape (N, 3)
        Vertices of A in mm, at least 2.
    b_mm : array_like, shape (M, 3)
        Vertices of B in mm, at least 2.

    Returns
    -------
    DistanceProfile
        Per A vertex: its arc length, the distance to B, the closest point of
        B with its segment and arc length.

    Raises
    ------
    ValueError
        If a polyline is not (N, 3) with N >= 2 or holds NaN or infinite values.

    Examples
    --------
    >>> import numpy as np
    >>> artery = np.array([[0.0, 0, 0], [0, 0, 10], [0, 0, 20]])
    >>> vein = np.array([[4.0, 0, -5], [4, 0, 12], [10, 0, 20]])
    >>> profile = distance_profile(artery, vein)
    >>> profile.distance_mm.tolist(), profile.arc_b_mm.tolist()
    ([4.0, 4.0, 8.0], [5.0, 15.0, 21.0])
    """
    a_mm = as_polyline_mm(a_mm, "a_mm")
    b_mm = as_polyline_mm(b_mm, "b_mm")
    if use_threads(a_mm.shape[0] + b_mm.shape[0]):
        found = _distance_profile_parallel(a_mm, b_mm)
    else:
        found = _distance_profile(a_mm, b_mm)
    arc_a, distance2, point_b, segment_b, arc_b = found
    return DistanceProfile(arc_a, np.sqrt(distance2), point_b, segment_b, arc_b)


@numba.njit(cache=True)
def _distance_profile(a, b):
    """`distance_profile` on one thread, from the checked arrays."""
    tree_b = build_segment_tree(b)
    segment_b, distance2, _, t = nearest_in_tree(a, 0, b, tree_b, np.inf)
    point_b, arc_b = locate_on_polyline(b, polyline_arc_lengths(b), segment_b, t)
    return polyline_arc_lengths(a), distance2, point_b, segment_b, arc_b


@numba.njit(cache=True)
def _distance_profile_parallel(a, b):
    """`distance_profile` with the vertices of A split over numba's threads."""
    tree_b = build_segment_tree(b)
    segment_b, distance2, _, t = nearest_in_tree_parallel(a, 0, b, tree_b, np.inf)
    point_b, arc_b = locate_on_polyline(b, polyline_arc_lengths(b), segment_b, t)
    return polyline_arc_lengths(a), distance2, point_b, segment_b, arc_b
