"""Exact closest points between two 3D line segments, robust to degenerate input.

The squared distance ``|a0 + s (a1 - a0) - b0 - t (b1 - b0)|^2`` is a convex
quadratic in ``(s, t)`` over the unit square. Its minimum is either the
interior critical point (when the segments are not parallel and that point
lies in the square) or lies on one of the four edges ``s = 0``, ``s = 1``,
``t = 0``, ``t = 1``, each of which is a point-to-segment projection, or at a
corner. Parallel, collinear and zero-length segments and coincident points
all fall through to the edge and corner cases, which never divide by a
vanishing quantity. Every candidate is an achieved distance, so rounding can
only make the result slightly too large, never too small.
"""

from __future__ import annotations

import numba
import numpy as np

#: Below this value of ``denominator / (|d_a|^2 |d_b|^2)`` (the squared sine of
#: the angle between the segments) the interior solution is ill-conditioned, so
#: it only competes with the edge solutions instead of being trusted alone.
_WELL_CONDITIONED_SIN2 = 1e-6
#: An interior solution closer than this (as a fraction of the segment) to an
#: edge of the parameter square also competes with the edges and corners,
#: whose rounding is smaller where segments touch end to end.
_NEAR_EDGE = 1e-9


@numba.njit(cache=True, inline="always")
def _clamp01(x: float) -> float:
    return min(max(x, 0.0), 1.0)


@numba.njit(cache=True, inline="always")
def _squared_gap(rx, ry, rz, dax, day, daz, dbx, dby, dbz, s, t):
    x = rx + s * dax - t * dbx
    y = ry + s * day - t * dby
    z = rz + s * daz - t * dbz
    return x * x + y * y + z * z


@numba.njit(cache=True, inline="always")
def closest_on_segments(a, ia0, ia1, b, ib0, ib1):
    """Closest points between segments ``a[ia0] -> a[ia1]`` and ``b[ib0] -> b[ib1]``.

    Parameters
    ----------
    a, b : numpy.ndarray, shape (N, 3) and (M, 3)
        Point arrays in mm. Passing ``ia0 == ia1`` (or ``ib0 == ib1``) makes
        that side a single point.
    ia0, ia1, ib0, ib1 : int
        Row indices of the segment end points.

    Returns
    -------
    squared_distance_mm2 : float
        Squared distance between the closest points.
    s, t : float
        Positions of the closest points as fractions of each segment, in [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> a = np.array([[0.0, 0, 0], [2, 0, 0]])
    >>> b = np.array([[1.0, 1, -1], [1, 1, 1]])
    >>> closest_on_segments(a, 0, 1, b, 0, 1)
    (1.0, 0.5, 0.5)
    """
    # Inlined into every caller, so that only numbers cross into the compiled
    # function below: passing arrays to a compiled call costs two atomic
    # reference-count updates per array, which dominated the tree searches.
    return _closest_on_segments(
        a[ia1, 0] - a[ia0, 0],
        a[ia1, 1] - a[ia0, 1],
        a[ia1, 2] - a[ia0, 2],
        b[ib1, 0] - b[ib0, 0],
        b[ib1, 1] - b[ib0, 1],
        b[ib1, 2] - b[ib0, 2],
        a[ia0, 0] - b[ib0, 0],
        a[ia0, 1] - b[ib0, 1],
        a[ia0, 2] - b[ib0, 2],
    )


@numba.njit(cache=True)
def _closest_on_segments(dax, day, daz, dbx, dby, dbz, rx, ry, rz):
    """`closest_on_segments` from the segment directions and the start-to-start offset."""
    aa = dax * dax + day * day + daz * daz
    bb = dbx * dbx + dby * dby + dbz * dbz
    ab = dax * dbx + day * dby + daz * dbz
    ar = dax * rx + day * ry + daz * rz
    br = dbx * rx + dby * ry + dbz * rz

    best = np.inf
    best_s = 0.0
    best_t = 0.0
    denominator = aa * bb - ab * ab
    if denominator > 0.0:
        s = (ab * br - ar * bb) / denominator
        t = (aa * br - ab * ar) / denominator
        # One Newton step from the residual (exact for a quadratic) removes
        # most of the rounding of the closed form, which grows with |a|, |b|.
        gx = rx + s * dax - t * dbx
        gy = ry + s * day - t * dby
        gz = rz + s * daz - t * dbz
        ag = dax * gx + day * gy + daz * gz
        bg = dbx * gx + dby * gy + dbz * gz
        s += (ab * bg - bb * ag) / denominator
        t += (aa * bg - ab * ag) / denominator
        if 0.0 <= s <= 1.0 and 0.0 <= t <= 1.0:
            best = _squared_gap(rx, ry, rz, dax, day, daz, dbx, dby, dbz, s, t)
            best_s = s
            best_t = t
            well_inside = min(s, 1.0 - s, t, 1.0 - t) > _NEAR_EDGE
            if well_inside and denominator > _WELL_CONDITIONED_SIN2 * aa * bb:
                return best, best_s, best_t

    # Edges s = 0 and s = 1: project a's end points onto segment b.
    for s in (0.0, 1.0):
        t = _clamp01((br + s * ab) / bb) if bb > 0.0 else 0.0
        gap = _squared_gap(rx, ry, rz, dax, day, daz, dbx, dby, dbz, s, t)
        if gap < best:
            best, best_s, best_t = gap, s, t
    # Edges t = 0 and t = 1: project b's end points onto segment a.
    for t in (0.0, 1.0):
        s = _clamp01((t * ab - ar) / aa) if aa > 0.0 else 0.0
        gap = _squared_gap(rx, ry, rz, dax, day, daz, dbx, dby, dbz, s, t)
        if gap < best:
            best, best_s, best_t = gap, s, t
    # Corners: exact when the segments share an end point, where the
    # projections above may land a rounding error away from it.
    for s in (0.0, 1.0):
        for t in (0.0, 1.0):
            gap = _squared_gap(rx, ry, rz, dax, day, daz, dbx, dby, dbz, s, t)
            if gap < best:
                best, best_s, best_t = gap, s, t
    return best, best_s, best_t
