"""For each segment of one polyline, the nearest segment of another within a reach."""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

from pdvaplan.kernels._polyline import (
    as_polyline_mm,
    as_reach_mm,
    locate_on_polyline,
    polyline_arc_lengths,
)
from pdvaplan.kernels._threads import PARALLEL_TASKS, use_threads
from pdvaplan.kernels.segment_distance import closest_on_segments
from pdvaplan.kernels.segment_tree import (
    STACK_DEPTH,
    build_segment_tree,
    leaf_segments,
    query_node_gap2,
    worth_visiting,
)

#: Consecutive queries handled by one parallel task; each query starts its
#: search from the previous query's answer, which is usually the answer.
_CHUNK = 256


class NearestSegments(NamedTuple):
    """For each segment of polyline A, its nearest segment of polyline B within reach.

    Arrays have one entry per A segment (segment ``i`` joins vertices ``i`` and
    ``i + 1``). Where no B segment lies within reach, the segment index is -1
    and the other fields are NaN.

    Attributes
    ----------
    segment_b : numpy.ndarray of int64, shape (N - 1,)
        Index of the nearest B segment, or -1.
    distance_mm : numpy.ndarray, shape (N - 1,)
        Exact segment-to-segment distance.
    point_a_mm, point_b_mm : numpy.ndarray, shape (N - 1, 3)
        Closest points on the A segment and on the B segment.
    arc_a_mm, arc_b_mm : numpy.ndarray, shape (N - 1,)
        Arc-length positions of those points along A and along B.
    """

    segment_b: np.ndarray
    distance_mm: np.ndarray
    point_a_mm: np.ndarray
    point_b_mm: np.ndarray
    arc_a_mm: np.ndarray
    arc_b_mm: np.ndarray


def nearest_segments_within(
    a_mm: np.ndarray, b_mm: np.ndarray, reach_mm: float = 10.0
) -> NearestSegments:
    """For each segment of polyline A, the nearest segment of polyline B within reach.

    Distances are exact segment-to-segment distances. Ties go to the lower B
    segment index. This is the reduced form of `segment_pairs_within`: one
    candidate per A segment instead of all of them.

    Parameters
    ----------
    a_mm, b_mm : array_like, shape (N, 3) and (M, 3)
        Polyline vertices in mm, at least 2 each.
    reach_mm : float
        Largest distance (inclusive) at which a B segment counts.

    Returns
    -------
    NearestSegments
        Per A segment: nearest B segment (or -1), distance, closest points and
        arc-length positions.

    Raises
    ------
    ValueError
        If a polyline is not (N, 3) with N >= 2 or holds NaN or infinite
        values, or `reach_mm` is negative or not finite.

    Examples
    --------
    >>> import numpy as np
    >>> artery = np.array([[0.0, 0, 0], [0, 0, 10], [0, 0, 40]])
    >>> vein = np.array([[6.0, 0, 0], [6, 0, 20], [20, 0, 40]])
    >>> near = nearest_segments_within(artery, vein, reach_mm=10.0)
    >>> near.segment_b.tolist(), near.distance_mm.tolist()
    ([0, 0], [6.0, 6.0])
    >>> nearest_segments_within(artery, vein, reach_mm=5.0).segment_b.tolist()
    [-1, -1]
    """
    a_mm = as_polyline_mm(a_mm, "a_mm")
    b_mm = as_polyline_mm(b_mm, "b_mm")
    reach_mm = as_reach_mm(reach_mm)
    if use_threads(a_mm.shape[0] + b_mm.shape[0]):
        found = _nearest_segments_parallel(a_mm, b_mm, reach_mm)
    else:
        found = _nearest_segments(a_mm, b_mm, reach_mm)
    segment_b, distance2, point_a, point_b, arc_a, arc_b = found
    distance = np.where(segment_b >= 0, np.sqrt(distance2), np.nan)
    return NearestSegments(segment_b, distance, point_a, point_b, arc_a, arc_b)


@numba.njit(cache=True)
def _nearest_segments(a, b, reach_mm):
    """`nearest_segments_within` on one thread, from the checked arrays."""
    tree_b = build_segment_tree(b)
    segment_b, distance2, s, t = nearest_in_tree(a, 1, b, tree_b, reach_mm)
    return _located(a, b, segment_b, distance2, s, t)


@numba.njit(cache=True)
def _nearest_segments_parallel(a, b, reach_mm):
    """`nearest_segments_within` with the queries split over numba's threads."""
    tree_b = build_segment_tree(b)
    segment_b, distance2, s, t = nearest_in_tree_parallel(a, 1, b, tree_b, reach_mm)
    return _located(a, b, segment_b, distance2, s, t)


@numba.njit(cache=True)
def _located(a, b, segment_b, distance2, s, t):
    """Closest points and arc lengths on both sides (NaN where no B segment is in reach)."""
    segment_a = np.arange(segment_b.shape[0])
    for i in range(segment_b.shape[0]):
        if segment_b[i] < 0:
            segment_a[i] = -1
    point_a, arc_a = locate_on_polyline(a, polyline_arc_lengths(a), segment_a, s)
    point_b, arc_b = locate_on_polyline(b, polyline_arc_lengths(b), segment_b, t)
    return segment_b, distance2, point_a, point_b, arc_a, arc_b


@numba.njit(cache=True)
def nearest_in_tree(queries, step, b, tree_b, reach_mm):
    """Nearest B segment within reach of each query segment ``queries[q] -> queries[q + step]``.

    With ``step = 1`` the queries are the segments of a polyline; with
    ``step = 0`` they are its vertices (zero-length segments). One thread;
    `nearest_in_tree_parallel` splits the same work over numba's threads.

    Returns
    -------
    segment_b : numpy.ndarray of int64
        Nearest B segment per query, -1 if none lies within `reach_mm`.
    distance2 : numpy.ndarray
        Squared distance in mm^2 (inf if none).
    s, t : numpy.ndarray
        Fractions along the query segment and along the B segment.

    Examples
    --------
    >>> import numpy as np
    >>> from pdvaplan.kernels.segment_tree import build_segment_tree
    >>> b = np.array([[0.0, 0, 0], [10, 0, 0]])
    >>> points = np.array([[2.0, 3, 0], [20, 0, 0]])
    >>> j, d2, s, t = nearest_in_tree(points, 0, b, build_segment_tree(b), 5.0)
    >>> j.tolist(), d2.tolist(), t.tolist()
    ([0, -1], [9.0, inf], [0.2, 0.0])
    """
    n_queries = queries.shape[0] - step
    segment_b, distance2, frac_q, frac_b = _nearest_outputs(n_queries)
    _nearest_run(
        queries, step, b, tree_b, reach_mm, 0, n_queries, segment_b, distance2, frac_q, frac_b
    )
    return segment_b, distance2, frac_q, frac_b


@numba.njit(cache=True, parallel=True)
def nearest_in_tree_parallel(queries, step, b, tree_b, reach_mm):
    """`nearest_in_tree` over numba's threads: runs of `_CHUNK` consecutive queries
    dealt round-robin to the threads (see `PARALLEL_TASKS`)."""
    n_queries = queries.shape[0] - step
    segment_b, distance2, frac_q, frac_b = _nearest_outputs(n_queries)
    n_chunks = (n_queries + _CHUNK - 1) // _CHUNK
    n_tasks = min(PARALLEL_TASKS, n_chunks)
    for task in numba.prange(n_tasks):
        for chunk in range(task, n_chunks, n_tasks):
            _nearest_run(
                queries,
                step,
                b,
                tree_b,
                reach_mm,
                chunk * _CHUNK,
                min((chunk + 1) * _CHUNK, n_queries),
                segment_b,
                distance2,
                frac_q,
                frac_b,
            )
    return segment_b, distance2, frac_q, frac_b


@numba.njit(cache=True)
def _nearest_outputs(n_queries):
    return (
        np.empty(n_queries, dtype=np.int64),
        np.empty(n_queries),
        np.empty(n_queries),
        np.empty(n_queries),
    )


@numba.njit(cache=True)
def _nearest_run(
    queries, step, b, tree_b, reach_mm, first, end, segment_b, distance2, frac_q, frac_b
):
    """Answer queries ``first .. end - 1`` in order, each starting from the previous answer."""
    n_seg_b = b.shape[0] - 1
    n_leaves_b = tree_b[4]
    # Prune boxes a hair beyond reach so that rounding never drops a pair
    # whose exact distance is within reach; the exact test decides.
    reach_prune2 = (reach_mm * (1.0 + 1e-12)) ** 2
    stack = np.empty(STACK_DEPTH, dtype=np.int64)
    stack_gap2 = np.empty(STACK_DEPTH)
    query_low = np.empty((1, 3))
    query_high = np.empty((1, 3))
    previous = -1
    for q in range(first, end):
        for k in range(3):
            query_low[0, k] = min(queries[q, k], queries[q + step, k])
            query_high[0, k] = max(queries[q, k], queries[q + step, k])
        best_j = -1
        best_d2 = np.inf
        best_s = 0.0
        best_t = 0.0
        bound2 = reach_prune2
        if previous >= 0:
            d2, s, t = closest_on_segments(queries, q, q + step, b, previous, previous + 1)
            if np.sqrt(d2) <= reach_mm:
                best_j, best_d2, best_s, best_t = previous, d2, s, t
                bound2 = min(bound2, d2)
        stack[0] = 1
        stack_gap2[0] = 0.0
        top = 1
        while top > 0:
            top -= 1
            node = stack[top]
            if stack_gap2[top] > bound2:
                continue
            if node >= n_leaves_b:
                first_j, end_j = leaf_segments(node, n_leaves_b, n_seg_b)
                for j in range(first_j, end_j):
                    d2, s, t = closest_on_segments(queries, q, q + step, b, j, j + 1)
                    if d2 > best_d2 or (d2 == best_d2 and j >= best_j):
                        continue
                    if np.sqrt(d2) <= reach_mm:
                        best_j, best_d2, best_s, best_t = j, d2, s, t
                        bound2 = min(bound2, d2)
                continue
            near = 2 * node
            far = near + 1
            near_gap2 = query_node_gap2(
                queries, q, q + step, query_low, query_high, b, tree_b, near, bound2
            )
            far_gap2 = query_node_gap2(
                queries, q, q + step, query_low, query_high, b, tree_b, far, bound2
            )
            if far_gap2 < near_gap2:
                near, far = far, near
                near_gap2, far_gap2 = far_gap2, near_gap2
            if worth_visiting(far_gap2, bound2):
                stack[top], stack_gap2[top] = far, far_gap2
                top += 1
            if worth_visiting(near_gap2, bound2):
                stack[top], stack_gap2[top] = near, near_gap2
                top += 1
        segment_b[q] = best_j
        distance2[q] = best_d2
        frac_q[q] = best_s
        frac_b[q] = best_t
        previous = best_j
