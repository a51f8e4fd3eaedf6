"""Bounding-box tree over the segments of a polyline, for pruning distance searches.

Consecutive segments of a centreline are close in space, so the tree needs no
sorting: leaf ``l`` holds segments ``[l * LEAF_SIZE, (l + 1) * LEAF_SIZE)`` and
the internal nodes form a complete binary tree stored in arrays, node ``n``
having children ``2 n`` and ``2 n + 1`` (node 0 unused, root 1, leaves from
``n_leaves`` on, padded to a power of two with empty boxes that prune
themselves). Building is one pass over the points.
"""

from __future__ import annotations

import numba
import numpy as np

#: Segments per leaf box.
LEAF_SIZE = 8
#: Depth of the explicit traversal stacks; enough for 2**62 leaves.
STACK_DEPTH = 64


@numba.njit(cache=True, parallel=True)
def build_segment_tree(points):
    """Axis-aligned boxes of every tree node over the segments of a polyline.

    Parameters
    ----------
    points : numpy.ndarray, shape (N, 3)
        Polyline vertices in mm, N >= 2.

    Returns
    -------
    low, high : numpy.ndarray, shape (2 * n_leaves, 3)
        Box corners of each node, in mm; empty padding leaves have
        ``low = inf`` and ``high = -inf``.
    n_leaves : int
        First leaf node index (a power of two).

    Examples
    --------
    >>> import numpy as np
    >>> low, high, n_leaves = build_segment_tree(np.array([[0.0, 0, 0], [1, 2, 3]]))
    >>> n_leaves, low[1].tolist(), high[1].tolist()
    (1, [0.0, 0.0, 0.0], [1.0, 2.0, 3.0])
    """
    n_segments = points.shape[0] - 1
    n_used = (n_segments + LEAF_SIZE - 1) // LEAF_SIZE
    n_leaves = 1
    while n_leaves < n_used:
        n_leaves *= 2
    low = np.full((2 * n_leaves, 3), np.inf)
    high = np.full((2 * n_leaves, 3), -np.inf)
    for leaf in numba.prange(n_used):
        node = n_leaves + leaf
        last = min((leaf + 1) * LEAF_SIZE, n_segments)
        for v in range(leaf * LEAF_SIZE, last + 1):
            for k in range(3):
                low[node, k] = min(low[node, k], points[v, k])
                high[node, k] = max(high[node, k], points[v, k])
    for node in range(n_leaves - 1, 0, -1):
        for k in range(3):
            low[node, k] = min(low[2 * node, k], low[2 * node + 1, k])
            high[node, k] = max(high[2 * node, k], high[2 * node + 1, k])
    return low, high, n_leaves


@numba.njit(cache=True, inline="always")
def box_gap2(low_a, high_a, node_a, low_b, high_b, node_b):
    """Squared distance in mm^2 between two node boxes (0 if they overlap)."""
    gap2 = 0.0
    for k in range(3):
        gap = max(low_a[node_a, k] - high_b[node_b, k], low_b[node_b, k] - high_a[node_a, k], 0.0)
        gap2 += gap * gap
    return gap2


@numba.njit(cache=True, inline="always")
def worth_visiting(gap2, bound2):
    """Whether a node at squared gap `gap2` may hold something within `bound2`.

    Empty padding nodes have an infinite gap and are never worth visiting,
    even while the bound is still infinite.
    """
    return gap2 <= bound2 and gap2 < np.inf


@numba.njit(cache=True, inline="always")
def box_size2(low, high, node):
    """Squared diagonal of a node box in mm^2."""
    size2 = 0.0
    for k in range(3):
        size2 += (high[node, k] - low[node, k]) ** 2
    return size2


@numba.njit(cache=True, inline="always")
def leaf_segments(node, n_leaves, n_segments):
    """First and one-past-last segment index held by leaf node `node`."""
    first = (node - n_leaves) * LEAF_SIZE
    return first, min(first + LEAF_SIZE, n_segments)
