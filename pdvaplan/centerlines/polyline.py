"""Polylines in mm: arc length, the point at an arc length, resampling at a fixed step,
smoothing along the arc, and how a polyline ends (its last direction, the positions
around its end)."""

from __future__ import annotations

import itertools

import numpy as np
from scipy import ndimage

from pdvaplan.kernels import arc_length_mm

__all__ = [
    "END_CHORD_MM",
    "arc_length_mm",
    "end_direction",
    "end_probes_mm",
    "point_at_arc",
    "resample",
    "smooth",
    "unit",
]

#: Chord (mm) over which a polyline's last direction is measured: a skeleton's last
#: voxels may hook sideways where a lumen ends in a blob.
END_CHORD_MM = 3.0


def point_at_arc(points_mm: np.ndarray, arc_mm: np.ndarray, at_mm: float) -> np.ndarray:
    """The point `at_mm` along a polyline whose points lie `arc_mm` along it (clamped to
    its ends).

    Examples
    --------
    >>> points = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 10.0], [0.0, 10.0, 10.0]])
    >>> point_at_arc(points, arc_length_mm(points), 15.0).tolist()
    [0.0, 5.0, 10.0]
    """
    return np.array([np.interp(at_mm, arc_mm, points_mm[:, d]) for d in range(3)])


def unit(vectors: np.ndarray) -> np.ndarray:
    """Vectors (along the last axis) scaled to length 1; a zero vector stays zero.

    Examples
    --------
    >>> unit(np.array([3.0, 0.0, 4.0])).tolist()
    [0.6, 0.0, 0.8]
    """
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)


def resample(points_mm: np.ndarray, step_mm: float, *values: np.ndarray):
    """Points every `step_mm` along a polyline (both ends kept), and values carried along.

    The step is shortened so that it divides the length evenly.

    Parameters
    ----------
    points_mm : numpy.ndarray, shape (n, 3)
    step_mm : float
    *values : numpy.ndarray, shape (n,)
        Per-point values (e.g. radii) to interpolate linearly at the new points.

    Returns
    -------
    numpy.ndarray or tuple
        The new points, followed by each resampled value array if any were given.

    Examples
    --------
    >>> resample(np.array([[0.0, 0, 0], [0, 0, 2]]), 0.5)[:, 2].tolist()
    [0.0, 0.5, 1.0, 1.5, 2.0]
    """
    arc = arc_length_mm(points_mm)
    count = max(2, int(np.ceil(arc[-1] / step_mm - 1e-9)) + 1)
    target = np.linspace(0.0, arc[-1], count)
    keep = np.concatenate([[True], np.diff(arc) > 0])  # np.interp needs increasing x
    new_points = np.stack([np.interp(target, arc[keep], points_mm[keep, d]) for d in range(3)], 1)
    if not values:
        return new_points
    return (new_points, *(np.interp(target, arc[keep], np.asarray(v)[keep]) for v in values))


def smooth(
    points_mm: np.ndarray,
    sigma_mm: float,
    step_mm: float,
    pin_start: bool = False,
    pin_end: bool = False,
) -> np.ndarray:
    """Gaussian smoothing along a polyline sampled every `step_mm`.

    The ends are extended by reflection through the end point (so a straight
    end stays straight); a pinned end keeps its position exactly.
    """
    if sigma_mm <= 0 or len(points_mm) < 3:
        return points_mm.copy()
    pad = min(len(points_mm) - 1, int(np.ceil(4 * sigma_mm / step_mm)))
    head = 2 * points_mm[0] - points_mm[pad:0:-1]
    tail = 2 * points_mm[-1] - points_mm[-2 : -pad - 2 : -1]
    padded = np.vstack([head, points_mm, tail])
    smoothed = ndimage.gaussian_filter1d(padded, sigma_mm / step_mm, axis=0, mode="nearest")
    smoothed = smoothed[pad : pad + len(points_mm)]
    if pin_start:
        smoothed[0] = points_mm[0]
    if pin_end:
        smoothed[-1] = points_mm[-1]
    return smoothed


def end_direction(points_mm: np.ndarray, chord_mm: float = END_CHORD_MM) -> np.ndarray:
    """Unit direction of a polyline at its last point, over its last `chord_mm` of arc.

    Examples
    --------
    >>> points = np.array([[0.0, 0.0, 9.0], [0.0, 0.0, 6.0], [0.0, 1.0, 3.0], [0.0, 1.0, 0.0]])
    >>> end_direction(points).tolist()
    [0.0, 0.0, -1.0]
    """
    arc = arc_length_mm(points_mm)
    back = min(int(np.searchsorted(arc, arc[-1] - chord_mm)), len(points_mm) - 2)
    chord = points_mm[-1] - points_mm[max(back, 0)]
    return chord / max(float(np.linalg.norm(chord)), 1e-12)


def end_probes_mm(end_mm: np.ndarray, direction: np.ndarray, reach_mm: float) -> np.ndarray:
    """Positions `reach_mm` from a polyline's end: ahead along `direction`, and towards
    each of the 26 neighbour directions around it (27, 3), to ask whether something
    (the volume, a phase) still holds the vessel beyond its end.

    Examples
    --------
    >>> probes = end_probes_mm(np.zeros(3), np.array([0.0, 0.0, -1.0]), 2.0)
    >>> probes.shape, probes[0].tolist()
    ((27, 3), [0.0, 0.0, -2.0])
    """
    around = np.array([d for d in itertools.product((-1.0, 0.0, 1.0), repeat=3) if any(d)])
    around /= np.linalg.norm(around, axis=1, keepdims=True)
    return end_mm + reach_mm * np.vstack([direction, around])
