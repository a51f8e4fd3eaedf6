"""Bounding-volume tree over the segments of a polyline, for pruning distance searches.

Consecutive segments of a centreline are close in space, so the tree needs no
sorting: leaf ``l`` holds segments ``[l * LEAF_SIZE, (l + 1) * LEAF_SIZE)`` and
the internal nodes form a complete binary tree stored in arrays, node ``n``
having children ``2 n`` and ``2 n + 1`` (node 0 unused, root 1, leaves from
``n_leaves`` on, padded to a power of two with empty nodes).

Each node holds two bounding volumes of its run of segments:

* an axis-aligned box, cheap to test;
* a capsule: the chord from the run's first to its last vertex, thickened
  by a radius. A densely sampled smooth curve is nearly straight over a short
  run, so the capsule is thin and its distance bound nearly exact; boxes
  alone would leave every leaf within ``sqrt(2 d size)`` of the nearest one.

A tree is the tuple ``(low, high, chord, radius, n_leaves)`` returned by
`build_segment_tree`; the kernels take it whole.
"""

from __future__ import annotations

import numba
import numpy as np

from pdvaplan.kernels.segment_distance import closest_on_segments

#: Segments per leaf.
LEAF_SIZE = 8
#: Depth of the explicit traversal stacks; enough for 2**62 leaves.
STACK_DEPTH = 64
#: Capsule radii are widened by this fraction of the largest coordinate, far
#: above rounding, so that a bound never excludes what it holds.
_RADIUS_SLACK = 1e-12


@numba.njit(cache=True, parallel=True)
def build_segment_tree(points):
    """Bounding boxes and capsules of every tree node over the segments of a polyline.

    Parameters
    ----------
    points : numpy.ndarray, shape (N, 3)
        Polyline vertices in mm, N >= 2.

    Returns
    -------
    low, high : numpy.ndarray, shape (2 * n_leaves, 3)
        Box corners of each node in mm; empty padding nodes have
        ``low = inf`` and ``high = -inf``.
    chord : numpy.ndarray of int64, shape (2 * n_leaves, 2)
        First and last vertex of each node's run of segments.
    radius : numpy.ndarray, shape (2 * n_leaves,)
        Every segment of the node lies within this distance (mm) of its chord.
    n_leaves : int
        Index of the first leaf node (a power of two).

    Examples
    --------
    >>> import numpy as np
    >>> low, high, chord, radius, n_leaves = build_segment_tree(
    ...     np.array([[0.0, 0, 0], [1, 1, 0], [2, 0, 0]]))
    >>> n_leaves, low[1].tolist(), high[1].tolist(), chord[1].tolist(), round(float(radius[1]), 9)
    (1, [0.0, 0.0, 0.0], [2.0, 1.0, 0.0], [0, 2], 1.0)
    """
    n_segments = points.shape[0] - 1
    n_used = (n_segments + LEAF_SIZE - 1) // LEAF_SIZE
    n_leaves = 1
    while n_leaves < n_used:
        n_leaves *= 2
    low = np.full((2 * n_leaves, 3), np.inf)
    high = np.full((2 * n_leaves, 3), -np.inf)
    chord = np.zeros((2 * n_leaves, 2), dtype=np.int64)
    radius = np.zeros(2 * n_leaves)
    slack = _RADIUS_SLACK * np.max(np.abs(points))
    for leaf in numba.prange(n_used):
        node = n_leaves + leaf
        first = leaf * LEAF_SIZE
        last = min(first + LEAF_SIZE, n_segments)
        chord[node, 0] = first
        chord[node, 1] = last
        farthest2 = 0.0
        for v in range(first, last + 1):
            for k in range(3):
                low[node, k] = min(low[node, k], points[v, k])
                high[node, k] = max(high[node, k], points[v, k])
            d2, _, _ = closest_on_segments(points, v, v, points, first, last)
            farthest2 = max(farthest2, d2)
        radius[node] = np.sqrt(farthest2) + slack
    for node in range(n_leaves - 1, 0, -1):
        left = 2 * node
        right = left + 1
        for k in range(3):
            low[node, k] = min(low[left, k], low[right, k])
            high[node, k] = max(high[left, k], high[right, k])
        if low[right, 0] == np.inf:  # right child empty: same run as the left one
            chord[node, :] = chord[left, :]
            radius[node] = radius[left]
            continue
        chord[node, 0] = chord[left, 0]
        chord[node, 1] = chord[right, 1]
        # A child's capsule lies within its radius plus its chord's farther
        # end point's distance of this chord (distance to a segment is convex).
        for child in (left, right):
            far2 = 0.0
            for end in range(2):
                d2, _, _ = closest_on_segments(
                    points,
                    chord[child, end],
                    chord[child, end],
                    points,
                    chord[node, 0],
                    chord[node, 1],
                )
                far2 = max(far2, d2)
            radius[node] = max(radius[node], radius[child] + np.sqrt(far2) + slack)
    return low, high, chord, radius, n_leaves


@numba.njit(cache=True, inline="always")
def _box_gap2(low_a, high_a, node_a, low_b, high_b, node_b):
    gap2 = 0.0
    for k in range(3):
        gap = max(low_a[node_a, k] - high_b[node_b, k], low_b[node_b, k] - high_a[node_a, k], 0.0)
        gap2 += gap * gap
    return gap2


@numba.njit(cache=True, inline="always")
def _capsule_gap2(box_gap2, bound2, a, a0, a1, radius_a, b, b0, b1, radius_b):
    """The larger of a box bound and a capsule bound, squared.

    The capsule is only tried when the box bound alone does not exceed `bound2`.
    """
    if box_gap2 > bound2 or box_gap2 == np.inf:
        return box_gap2
    d2, _, _ = closest_on_segments(a, a0, a1, b, b0, b1)
    gap = np.sqrt(d2) - radius_a - radius_b
    if gap > 0.0:
        return max(box_gap2, gap * gap)
    return box_gap2


@numba.njit(cache=True, inline="always")
def node_pair_gap2(a, tree_a, node_a, b, tree_b, node_b, bound2):
    """Squared lower bound (mm^2) on the distance between two nodes' segments.

    Infinite if either node is empty padding; a bound above `bound2` may be
    loose (it only serves to prune).
    """
    low_a, high_a, chord_a, radius_a, _ = tree_a
    low_b, high_b, chord_b, radius_b, _ = tree_b
    box_gap2 = _box_gap2(low_a, high_a, node_a, low_b, high_b, node_b)
    return _capsule_gap2(
        box_gap2,
        bound2,
        a,
        chord_a[node_a, 0],
        chord_a[node_a, 1],
        radius_a[node_a],
        b,
        chord_b[node_b, 0],
        chord_b[node_b, 1],
        radius_b[node_b],
    )


@numba.njit(cache=True, inline="always")
def query_node_gap2(queries, q0, q1, query_low, query_high, b, tree_b, node_b, bound2):
    """Squared lower bound (mm^2) on the distance from segment ``queries[q0] -> queries[q1]``
    to a node's segments; loose above `bound2`.

    ``query_low`` and ``query_high`` (shape (1, 3)) hold the query segment's box.
    """
    low_b, high_b, chord_b, radius_b, _ = tree_b
    box_gap2 = _box_gap2(query_low, query_high, 0, low_b, high_b, node_b)
    return _capsule_gap2(
        box_gap2,
        bound2,
        queries,
        q0,
        q1,
        0.0,
        b,
        chord_b[node_b, 0],
        chord_b[node_b, 1],
        radius_b[node_b],
    )


@numba.njit(cache=True, inline="always")
def worth_visiting(gap2, bound2):
    """Whether a node at squared gap `gap2` may hold something within `bound2`.

    Empty padding nodes have an infinite gap and are never worth visiting,
    even while the bound is still infinite.
    """
    return gap2 <= bound2 and gap2 < np.inf


@numba.njit(cache=True, inline="always")
def node_size2(tree, node):
    """Squared diagonal of a node's box in mm^2."""
    low, high, _, _, _ = tree
    size2 = 0.0
    for k in range(3):
        size2 += (high[node, k] - low[node, k]) ** 2
    return size2


@numba.njit(cache=True, inline="always")
def leaf_segments(node, n_leaves, n_segments):
    """First and one-past-last segment index held by leaf node `node`."""
    first = (node - n_leaves) * LEAF_SIZE
    return first, min(first + LEAF_SIZE, n_segments)
