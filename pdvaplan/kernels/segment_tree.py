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


@numba.njit(cache=True)
def build_segment_tree(points):
    """Bounding boxes and capsules of every tree node over the segments of a polyline.

    One pass over the vertices for the leaves, then one over the internal
    nodes; single-threaded (it costs about as much as reading the points, less
    than waking a thread pool on a busy machine).

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
    low, high, chord, radius, n_leaves = allocate_segment_tree(points.shape[0])
    fill_segment_tree(points, low, high, chord, radius, n_leaves)
    return low, high, chord, radius, n_leaves


@numba.njit(cache=True)
def allocate_segment_tree(n_points):
    """Uninitialised arrays ``(low, high, chord, radius, n_leaves)`` of a tree over
    ``n_points`` vertices, for `fill_segment_tree`."""
    n_segments = n_points - 1
    n_used = (n_segments + LEAF_SIZE - 1) // LEAF_SIZE
    n_leaves = 1
    while n_leaves < n_used:
        n_leaves *= 2
    n_nodes = 2 * n_leaves
    low = np.empty((n_nodes, 3))
    high = np.empty((n_nodes, 3))
    chord = np.empty((n_nodes, 2), dtype=np.int64)
    radius = np.empty(n_nodes)
    return low, high, chord, radius, n_leaves


@numba.njit(cache=True)
def fill_segment_tree(points, low, high, chord, radius, n_leaves):
    """Fill the arrays from `allocate_segment_tree` for the polyline `points`."""
    n_segments = points.shape[0] - 1
    largest = 0.0
    for leaf in range(n_leaves):
        node = n_leaves + leaf
        first = leaf * LEAF_SIZE
        if first >= n_segments:  # empty padding
            for k in range(3):
                low[node, k] = np.inf
                high[node, k] = -np.inf
            chord[node, 0] = n_segments
            chord[node, 1] = n_segments
            radius[node] = 0.0
            continue
        last = min(first + LEAF_SIZE, n_segments)
        chord[node, 0] = first
        chord[node, 1] = last
        x0, y0, z0 = points[first, 0], points[first, 1], points[first, 2]
        dx, dy, dz = points[last, 0] - x0, points[last, 1] - y0, points[last, 2] - z0
        dd = dx * dx + dy * dy + dz * dz
        # Any fraction in [0, 1] gives a point of the chord, so rounding in
        # the projection only loosens the radius, never tightens it.
        inverse_dd = 1.0 / dd if dd > 0.0 else 0.0
        low_x, low_y, low_z = x0, y0, z0
        high_x, high_y, high_z = x0, y0, z0
        farthest2 = 0.0
        for v in range(first + 1, last + 1):
            x, y, z = points[v, 0], points[v, 1], points[v, 2]
            low_x, low_y, low_z = min(low_x, x), min(low_y, y), min(low_z, z)
            high_x, high_y, high_z = max(high_x, x), max(high_y, y), max(high_z, z)
            rx, ry, rz = x - x0, y - y0, z - z0
            t = min(max((rx * dx + ry * dy + rz * dz) * inverse_dd, 0.0), 1.0)
            gx, gy, gz = rx - t * dx, ry - t * dy, rz - t * dz
            farthest2 = max(farthest2, gx * gx + gy * gy + gz * gz)
        low[node, 0], low[node, 1], low[node, 2] = low_x, low_y, low_z
        high[node, 0], high[node, 1], high[node, 2] = high_x, high_y, high_z
        radius[node] = np.sqrt(farthest2)
        largest = max(largest, -low_x, -low_y, -low_z, high_x, high_y, high_z)
    slack = _RADIUS_SLACK * largest
    for node in range(n_leaves, 2 * n_leaves):
        radius[node] += slack
    for node in range(n_leaves - 1, 0, -1):
        left = 2 * node
        right = left + 1
        for k in range(3):
            low[node, k] = min(low[left, k], low[right, k])
            high[node, k] = max(high[left, k], high[right, k])
        if low[right, 0] == np.inf:  # right child empty: same run as the left one
            chord[node, 0], chord[node, 1] = chord[left, 0], chord[left, 1]
            radius[node] = radius[left]
            continue
        first = chord[left, 0]
        last = chord[right, 1]
        chord[node, 0] = first
        chord[node, 1] = last
        # Each child's chord runs from an end of this chord (distance 0) to the
        # vertex where the children meet, so each child's capsule lies within
        # its radius plus that vertex's distance of this chord (distance to a
        # segment is convex).
        x0, y0, z0 = points[first, 0], points[first, 1], points[first, 2]
        dx, dy, dz = points[last, 0] - x0, points[last, 1] - y0, points[last, 2] - z0
        meet = chord[left, 1]  # == chord[right, 0]
        mid2 = _point_line_d2(
            points[meet, 0] - x0,
            points[meet, 1] - y0,
            points[meet, 2] - z0,
            dx,
            dy,
            dz,
            dx * dx + dy * dy + dz * dz,
        )
        radius[node] = max(radius[left], radius[right]) + np.sqrt(mid2) + slack


@numba.njit(cache=True, inline="always")
def _point_line_d2(rx, ry, rz, dx, dy, dz, dd):
    """Squared distance from point ``r`` to the segment from 0 to ``d`` (``dd = |d|^2``).

    The distance to a point of the segment (up to rounding), so never below
    the true distance by more than rounding.
    """
    t = 0.0
    if dd > 0.0:
        t = min(max((rx * dx + ry * dy + rz * dz) / dd, 0.0), 1.0)
    gx = rx - t * dx
    gy = ry - t * dy
    gz = rz - t * dz
    return gx * gx + gy * gy + gz * gz


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
