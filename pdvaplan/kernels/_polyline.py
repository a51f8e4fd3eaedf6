"""Checks and conversions shared by the public kernel wrappers.

Every public kernel takes plain arrays from the caller; these helpers turn
them into C-contiguous float64 arrays or raise `ValueError` with a one-line
message that names the offending argument.
"""

from __future__ import annotations

import numba
import numpy as np


def as_polyline_mm(points_mm: np.ndarray, name: str) -> np.ndarray:
    """Return `points_mm` as a C-contiguous float64 (N, 3) array with N >= 2.

    Raises
    ------
    ValueError
        If the shape is not (N, 3), there are fewer than 2 points, or a
        coordinate is NaN or infinite.
    """
    points_mm = as_points_mm(points_mm, name)
    if points_mm.shape[0] < 2:
        raise ValueError(f"{name} needs at least 2 points, got {points_mm.shape[0]}")
    return points_mm


def as_points_mm(points_mm: np.ndarray, name: str) -> np.ndarray:
    """Return `points_mm` as a C-contiguous float64 (N, 3) array of finite values."""
    points_mm = _as_finite(points_mm, name, "(N, 3)")
    if points_mm.ndim != 2 or points_mm.shape[1] != 3:
        raise ValueError(f"{name} must have shape (N, 3), got {points_mm.shape}")
    return points_mm


def as_point_mm(point_mm: np.ndarray, name: str) -> np.ndarray:
    """Return `point_mm` as a finite float64 array of shape (3,)."""
    point_mm = _as_finite(point_mm, name, "(3,)")
    if point_mm.shape != (3,):
        raise ValueError(f"{name} must have shape (3,), got {point_mm.shape}")
    return point_mm


def _as_finite(values, name: str, shape_text: str) -> np.ndarray:
    """`values` as a C-contiguous float64 array; ValueError unless numeric and finite."""
    try:
        values = np.ascontiguousarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an array of numbers with shape {shape_text}") from None
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{name} holds NaN or infinite values")
    return values


def as_reach_mm(reach_mm: float) -> float:
    """Return `reach_mm` as a float, checking that it is finite and not negative."""
    reach_mm = float(reach_mm)
    if not np.isfinite(reach_mm) or reach_mm < 0:
        raise ValueError(f"reach_mm must be a finite distance >= 0 mm, got {reach_mm}")
    return reach_mm


def arc_length_mm(points_mm: np.ndarray) -> np.ndarray:
    """Distance along the polyline from its first point to each vertex, shape (N,).

    Examples
    --------
    >>> arc_length_mm(np.array([[0.0, 0, 0], [3, 4, 0], [3, 4, 2]])).tolist()
    [0.0, 5.0, 7.0]
    """
    arc = np.empty(points_mm.shape[0])
    arc[0] = 0.0
    np.cumsum(np.linalg.norm(np.diff(points_mm, axis=0), axis=1), out=arc[1:])
    return arc


@numba.njit(cache=True)
def polyline_arc_lengths(points):
    """`arc_length_mm` inside compiled code: the same sums in the same order.

    Examples
    --------
    >>> polyline_arc_lengths(np.array([[0.0, 0, 0], [3, 4, 0], [3, 4, 2]])).tolist()
    [0.0, 5.0, 7.0]
    """
    arc = np.empty(points.shape[0])
    arc[0] = 0.0
    total = 0.0
    for v in range(points.shape[0] - 1):
        dx = points[v + 1, 0] - points[v, 0]
        dy = points[v + 1, 1] - points[v, 1]
        dz = points[v + 1, 2] - points[v, 2]
        total += np.sqrt(dx * dx + dy * dy + dz * dz)
        arc[v + 1] = total
    return arc


@numba.njit(cache=True)
def locate_on_polyline(points, arc, segment, fraction):
    """Positions and arc lengths of points given as (segment index, fraction along it).

    A segment index of -1 (no segment) gives NaN.

    Parameters
    ----------
    points : numpy.ndarray, shape (N, 3)
        Polyline vertices in mm.
    arc : numpy.ndarray, shape (N,)
        Arc length of each vertex in mm (see `arc_length_mm`).
    segment : numpy.ndarray of int, shape (P,)
        Segment index of each point (segment ``i`` joins vertices ``i`` and ``i + 1``).
    fraction : numpy.ndarray, shape (P,)
        Position along that segment, 0 at its start and 1 at its end.

    Returns
    -------
    positions_mm : numpy.ndarray, shape (P, 3)
    arcs_mm : numpy.ndarray, shape (P,)

    Examples
    --------
    >>> import numpy as np
    >>> line = np.array([[0.0, 0, 0], [0, 0, 2], [0, 3, 2]])
    >>> at, arcs = locate_on_polyline(line, arc_length_mm(line), np.array([1]), np.array([0.5]))
    >>> at.tolist(), arcs.tolist()
    ([[0.0, 1.5, 2.0]], [3.5])
    """
    n = segment.shape[0]
    positions = np.empty((n, 3))
    arcs = np.empty(n)
    for p in range(n):
        i = segment[p]
        f = fraction[p]
        if i < 0:
            positions[p, :] = np.nan
            arcs[p] = np.nan
            continue
        for k in range(3):
            positions[p, k] = points[i, k] + f * (points[i + 1, k] - points[i, k])
        arcs[p] = arc[i] + f * (arc[i + 1] - arc[i])
    return positions, arcs
