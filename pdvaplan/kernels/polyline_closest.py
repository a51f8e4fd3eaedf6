"""Closest approach between two polylines, with exact segment-to-segment distances."""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

from pdvaplan.kernels._polyline import as_polyline_mm
from pdvaplan.kernels.segment_distance import closest_on_segments
from pdvaplan.kernels.segment_tree import (
    STACK_DEPTH,
    allocate_segment_tree,
    build_segment_tree,
    fill_segment_tree,
    leaf_segments,
    node_pair_gap2,
    node_size2,
    worth_visiting,
)

#: From this many points on the two polylines together the two trees are
#: built on two threads at once (when numba may use two); below it waking a
#: second thread costs more than it saves on a busy machine.
PARALLEL_BUILD_MIN_POINTS = 400_000


class ClosestApproach(NamedTuple):
    """Where two polylines come closest.

    Attributes
    ----------
    distance_mm : float
        Smallest distance between the polylines.
    point_a_mm, point_b_mm : numpy.ndarray, shape (3,)
        The closest point on each polyline.
    segment_a, segment_b : int
        Index of the segment holding each closest point (segment ``i`` joins
        vertices ``i`` and ``i + 1``).
    arc_a_mm, arc_b_mm : float
        Distance along each polyline from its first point to its closest point.
    """

    distance_mm: float
    point_a_mm: np.ndarray
    point_b_mm: np.ndarray
    segment_a: int
    segment_b: int
    arc_a_mm: float
    arc_b_mm: float


def closest_approach(a_mm: np.ndarray, b_mm: np.ndarray) -> ClosestApproach:
    """Closest approach between two polylines, measured segment to segment.

    The distance is exact between the continuous polylines (not their
    vertices). When several places tie, the one with the smallest segment
    index on A, then on B, is reported.

    Parameters
    ----------
    a_mm, b_mm : array_like, shape (N, 3) and (M, 3)
        Polyline vertices in mm, at least 2 each.

    Returns
    -------
    ClosestApproach
        Distance, closest points, segment indices and arc-length positions.

    Raises
    ------
    ValueError
        If an input is not (N, 3) with N >= 2, or holds NaN or infinite values.

    Examples
    --------
    >>> import numpy as np
    >>> artery = np.array([[0.0, 0, 0], [0, 0, 10], [0, 0, 20]])
    >>> vein = np.array([[-5.0, 4, 12], [5, 4, 12]])
    >>> hit = closest_approach(artery, vein)
    >>> float(hit.distance_mm), hit.segment_a, float(hit.arc_a_mm), float(hit.arc_b_mm)
    (4.0, 1, 12.0, 5.0)
    """
    a_mm = as_polyline_mm(a_mm, "a_mm")
    b_mm = as_polyline_mm(b_mm, "b_mm")
    if a_mm.shape[0] + b_mm.shape[0] >= PARALLEL_BUILD_MIN_POINTS and numba.get_num_threads() > 1:
        found = _closest_approach_parallel(a_mm, b_mm)
    else:
        found = _closest_approach(a_mm, b_mm)
    distance2, i, j, point_a, point_b, arc_a, arc_b = found
    return ClosestApproach(
        distance_mm=float(np.sqrt(distance2)),
        point_a_mm=point_a,
        point_b_mm=point_b,
        segment_a=int(i),
        segment_b=int(j),
        arc_a_mm=float(arc_a),
        arc_b_mm=float(arc_b),
    )


@numba.njit(cache=True)
def _closest_approach(a, b):
    """The whole search on one thread: both trees, then one branch-and-bound."""
    tree_a = build_segment_tree(a)
    tree_b = build_segment_tree(b)
    return _answer(a, tree_a, b, tree_b)


@numba.njit(cache=True, parallel=True)
def _closest_approach_parallel(a, b):
    """As `_closest_approach`, with the two trees built side by side on two threads.

    The search itself stays on one thread: with a single bound that every
    branch shares it takes about 0.2 ms at 1e6 points a side (random walks or
    parallel vessels), less than splitting it would cost.
    """
    tree_a = allocate_segment_tree(a.shape[0])
    tree_b = allocate_segment_tree(b.shape[0])
    for side in numba.prange(2):
        if side == 0:
            fill_segment_tree(a, *tree_a)
        else:
            fill_segment_tree(b, *tree_b)
    return _answer(a, tree_a, b, tree_b)


@numba.njit(cache=True)
def _answer(a, tree_a, b, tree_b):
    """Closest pair: squared distance, segments, points and arc lengths on A and B."""
    distance2, i, j, s, t = _search(
        a, tree_a, b, tree_b, 1, 1, np.inf, a.shape[0] - 1, b.shape[0] - 1, 0.0, 0.0
    )
    point_a, arc_a = _locate(a, i, s)
    point_b, arc_b = _locate(b, j, t)
    return distance2, i, j, point_a, point_b, arc_a, arc_b


@numba.njit(cache=True)
def _locate(points, segment, fraction):
    """Position and arc length of the point `fraction` along `segment` of a polyline.

    The arc length adds segment lengths in order, as `arc_length_mm` does.
    """
    arc = 0.0
    for v in range(segment):
        arc += _length(points, v)
    position = np.empty(3)
    for k in range(3):
        position[k] = points[segment, k] + fraction * (points[segment + 1, k] - points[segment, k])
    return position, arc + fraction * _length(points, segment)


@numba.njit(cache=True, inline="always")
def _length(points, v):
    dx = points[v + 1, 0] - points[v, 0]
    dy = points[v + 1, 1] - points[v, 1]
    dz = points[v + 1, 2] - points[v, 2]
    return np.sqrt(dx * dx + dy * dy + dz * dz)


@numba.njit(cache=True, inline="always")
def _better(d2, i, j, best_d2, best_i, best_j):
    """Whether pair (i, j) at squared distance d2 beats the best so far (ties: lower i, j)."""
    if d2 != best_d2:
        return d2 < best_d2
    return i < best_i or (i == best_i and j < best_j)


@numba.njit(cache=True)
def _search(a, tree_a, b, tree_b, root_a, root_b, best_d2, best_i, best_j, best_s, best_t):
    """Depth-first search below node pair (root_a, root_b), starting from a best pair.

    Returns the best pair found (or the one given): squared distance, segment
    indices and fractions along them.
    """
    n_seg_a = a.shape[0] - 1
    n_seg_b = b.shape[0] - 1
    n_leaves_a = tree_a[4]
    n_leaves_b = tree_b[4]
    stack_a = np.empty(2 * STACK_DEPTH, dtype=np.int64)
    stack_b = np.empty(2 * STACK_DEPTH, dtype=np.int64)
    stack_gap2 = np.empty(2 * STACK_DEPTH)
    stack_a[0] = root_a
    stack_b[0] = root_b
    stack_gap2[0] = 0.0
    top = 1
    while top > 0:
        top -= 1
        node_a = stack_a[top]
        node_b = stack_b[top]
        if stack_gap2[top] > best_d2:
            continue
        leaf_a = node_a >= n_leaves_a
        leaf_b = node_b >= n_leaves_b
        if leaf_a and leaf_b:
            first_i, end_i = leaf_segments(node_a, n_leaves_a, n_seg_a)
            first_j, end_j = leaf_segments(node_b, n_leaves_b, n_seg_b)
            for i in range(first_i, end_i):
                for j in range(first_j, end_j):
                    d2, s, t = closest_on_segments(a, i, i + 1, b, j, j + 1)
                    if _better(d2, i, j, best_d2, best_i, best_j):
                        best_d2, best_i, best_j, best_s, best_t = d2, i, j, s, t
            continue
        split_a = leaf_b or (
            not leaf_a and node_size2(tree_a, node_a) >= node_size2(tree_b, node_b)
        )
        if split_a:
            near_a, far_a, near_b, far_b = 2 * node_a, 2 * node_a + 1, node_b, node_b
        else:
            near_a, far_a, near_b, far_b = node_a, node_a, 2 * node_b, 2 * node_b + 1
        near_gap2 = node_pair_gap2(a, tree_a, near_a, b, tree_b, near_b, best_d2)
        far_gap2 = node_pair_gap2(a, tree_a, far_a, b, tree_b, far_b, best_d2)
        if far_gap2 < near_gap2:
            near_a, far_a, near_b, far_b = far_a, near_a, far_b, near_b
            near_gap2, far_gap2 = far_gap2, near_gap2
        # Push the farther child first so the nearer one is searched first.
        if worth_visiting(far_gap2, best_d2):
            stack_a[top], stack_b[top], stack_gap2[top] = far_a, far_b, far_gap2
            top += 1
        if worth_visiting(near_gap2, best_d2):
            stack_a[top], stack_b[top], stack_gap2[top] = near_a, near_b, near_gap2
            top += 1
    return best_d2, best_i, best_j, best_s, best_t
