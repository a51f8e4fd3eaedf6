"""All pairs of segments of two polylines that lie within a reach of each other."""

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
    node_pair_gap2,
    worth_visiting,
)

#: Leaves of A's tree (LEAF_SIZE segments each) per block of parallel work.
_LEAVES_PER_BLOCK = 8


class SegmentPairs(NamedTuple):
    """Pairs (A segment, B segment) within reach, sorted by A segment then B segment.

    Segment ``i`` joins vertices ``i`` and ``i + 1``. All arrays have one entry
    per pair.

    Attributes
    ----------
    segment_a, segment_b : numpy.ndarray of int64, shape (P,)
        The two segment indices.
    distance_mm : numpy.ndarray, shape (P,)
        Exact segment-to-segment distance.
    point_a_mm, point_b_mm : numpy.ndarray, shape (P, 3)
        Closest points on each segment.
    arc_a_mm, arc_b_mm : numpy.ndarray, shape (P,)
        Arc-length positions of those points along A and along B.
    """

    segment_a: np.ndarray
    segment_b: np.ndarray
    distance_mm: np.ndarray
    point_a_mm: np.ndarray
    point_b_mm: np.ndarray
    arc_a_mm: np.ndarray
    arc_b_mm: np.ndarray


def segment_pairs_within(
    a_mm: np.ndarray, b_mm: np.ndarray, reach_mm: float = 10.0
) -> SegmentPairs:
    """All pairs of segments of polylines A and B at most `reach_mm` apart.

    Distances are exact segment-to-segment distances; boxes over runs of
    consecutive segments prune the search, so the cost grows with the number
    of pairs found, not with N x M. Two roughly parallel vessels a few mm
    apart give many pairs per segment; `nearest_segments_within` keeps only
    the nearest one.

    Parameters
    ----------
    a_mm, b_mm : array_like, shape (N, 3) and (M, 3)
        Polyline vertices in mm, at least 2 each.
    reach_mm : float
        Largest distance (inclusive) between the segments of a pair.

    Returns
    -------
    SegmentPairs
        Segment indices, distances, closest points and arc-length positions,
        sorted by A segment then B segment.

    Raises
    ------
    ValueError
        If a polyline is not (N, 3) with N >= 2 or holds NaN or infinite
        values, or `reach_mm` is negative or not finite.

    Examples
    --------
    >>> import numpy as np
    >>> artery = np.array([[0.0, 0, 0], [0, 0, 10], [0, 0, 20]])
    >>> vein = np.array([[6.0, 0, 5], [6, 0, 15], [30, 0, 15]])
    >>> pairs = segment_pairs_within(artery, vein, reach_mm=8.0)
    >>> pairs.segment_a.tolist(), pairs.segment_b.tolist(), pairs.distance_mm.tolist()
    ([0, 0, 1, 1], [0, 1, 0, 1], [6.0, 7.810249675906654, 6.0, 6.0])
    >>> pairs.arc_a_mm.tolist(), pairs.arc_b_mm.tolist()
    ([10.0, 10.0, 10.0, 15.0], [5.0, 10.0, 5.0, 10.0])
    """
    a_mm = as_polyline_mm(a_mm, "a_mm")
    b_mm = as_polyline_mm(b_mm, "b_mm")
    reach_mm = as_reach_mm(reach_mm)
    if use_threads(a_mm.shape[0] + b_mm.shape[0]):
        found = _segment_pairs_parallel(a_mm, b_mm, reach_mm)
    else:
        found = _segment_pairs(a_mm, b_mm, reach_mm)
    return SegmentPairs(*found)


@numba.njit(cache=True)
def _segment_pairs(a, b, reach_mm):
    """`segment_pairs_within` on one thread, from the checked arrays."""
    tree_a = build_segment_tree(a)
    tree_b = build_segment_tree(b)
    counts = np.zeros(a.shape[0] - 1, dtype=np.int64)
    offsets = np.zeros(a.shape[0], dtype=np.int64)
    for leaf in range(tree_a[4]):
        _pairs_of_leaf(leaf, a, tree_a, b, tree_b, reach_mm, counts, offsets, None)
    out = _pair_outputs(counts, offsets)
    for leaf in range(tree_a[4]):
        _pairs_of_leaf(leaf, a, tree_a, b, tree_b, reach_mm, counts, offsets, out)
    return _pairs_located(a, b, counts, out)


@numba.njit(cache=True, parallel=True)
def _segment_pairs_parallel(a, b, reach_mm):
    """`segment_pairs_within` with blocks of leaves of A's tree dealt round-robin to
    numba's threads (see `PARALLEL_TASKS`)."""
    tree_a = build_segment_tree(a)
    tree_b = build_segment_tree(b)
    counts = np.zeros(a.shape[0] - 1, dtype=np.int64)
    offsets = np.zeros(a.shape[0], dtype=np.int64)
    n_blocks = (tree_a[4] + _LEAVES_PER_BLOCK - 1) // _LEAVES_PER_BLOCK
    n_tasks = min(PARALLEL_TASKS, n_blocks)
    for task in numba.prange(n_tasks):
        for block in range(task, n_blocks, n_tasks):
            for leaf in range(block * _LEAVES_PER_BLOCK, (block + 1) * _LEAVES_PER_BLOCK):
                if leaf < tree_a[4]:
                    _pairs_of_leaf(leaf, a, tree_a, b, tree_b, reach_mm, counts, offsets, None)
    out = _pair_outputs(counts, offsets)
    for task in numba.prange(n_tasks):
        for block in range(task, n_blocks, n_tasks):
            for leaf in range(block * _LEAVES_PER_BLOCK, (block + 1) * _LEAVES_PER_BLOCK):
                if leaf < tree_a[4]:
                    _pairs_of_leaf(leaf, a, tree_a, b, tree_b, reach_mm, counts, offsets, out)
    return _pairs_located(a, b, counts, out)


@numba.njit(cache=True)
def _pair_outputs(counts, offsets):
    """Write offsets from the counts of the first pass; empty outputs; counts reset."""
    n_pairs = 0
    for i in range(counts.shape[0]):
        offsets[i] = n_pairs
        n_pairs += counts[i]
        counts[i] = 0
    offsets[counts.shape[0]] = n_pairs
    return (
        np.empty(n_pairs, dtype=np.int64),
        np.empty(n_pairs),
        np.empty(n_pairs),
        np.empty(n_pairs),
    )


@numba.njit(cache=True)
def _pairs_located(a, b, counts, out):
    """The pairs with their A segments, closest points and arc lengths."""
    segment_b, distance, s, t = out
    segment_a = np.empty(segment_b.shape[0], dtype=np.int64)
    slot = 0
    for i in range(counts.shape[0]):
        for _ in range(counts[i]):
            segment_a[slot] = i
            slot += 1
    point_a, arc_a = locate_on_polyline(a, polyline_arc_lengths(a), segment_a, s)
    point_b, arc_b = locate_on_polyline(b, polyline_arc_lengths(b), segment_b, t)
    return segment_a, segment_b, distance, point_a, point_b, arc_a, arc_b


@numba.njit(cache=True)
def _pairs_of_leaf(leaf, a, tree_a, b, tree_b, reach_mm, counts, offsets, out):
    """Count (``out`` None) or write the pairs of the A segments of one leaf of A's tree.

    Walks B's tree left to right, so the B segments of each A segment come out
    in increasing order. Writing starts at ``offsets[i]`` for A segment ``i``;
    `counts` must be zero for those segments.
    """
    n_seg_a = a.shape[0] - 1
    n_seg_b = b.shape[0] - 1
    n_leaves_a = tree_a[4]
    n_leaves_b = tree_b[4]
    reach_prune2 = (reach_mm * (1.0 + 1e-12)) ** 2
    node_a = n_leaves_a + leaf
    first_i, end_i = leaf_segments(node_a, n_leaves_a, n_seg_a)
    if first_i >= end_i:
        return
    stack = np.empty(STACK_DEPTH, dtype=np.int64)
    stack[0] = 1
    top = 1
    while top > 0:
        top -= 1
        node_b = stack[top]
        if not worth_visiting(
            node_pair_gap2(a, tree_a, node_a, b, tree_b, node_b, reach_prune2), reach_prune2
        ):
            continue
        if node_b < n_leaves_b:
            stack[top] = 2 * node_b + 1
            stack[top + 1] = 2 * node_b
            top += 2
            continue
        first_j, end_j = leaf_segments(node_b, n_leaves_b, n_seg_b)
        for i in range(first_i, end_i):
            for j in range(first_j, end_j):
                d2, s, t = closest_on_segments(a, i, i + 1, b, j, j + 1)
                distance = np.sqrt(d2)
                if distance > reach_mm:
                    continue
                if out is not None:
                    slot = offsets[i] + counts[i]
                    out[0][slot] = j
                    out[1][slot] = distance
                    out[2][slot] = s
                    out[3][slot] = t
                counts[i] += 1
