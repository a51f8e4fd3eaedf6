"""Sub-voxel centreline points and radii from lumen cross-sections.

At each centreline point the lumen-fraction image (1 inside the lumen, 0
outside, partial values at the wall) is sampled by trilinear interpolation on
a fine grid in the plane normal to the vessel. The lumen's own region in that
plane (the connected part above one half that holds the centre, widened by the
blur skirt) gives the point's radius (the radius of a disk of equal area: the
integral of the lumen fraction is preserved by partial volume and blur, so it
is unbiased where voxel counts are not) and its new position: the centroid of
the lumen fraction above one half (each pixel weighted by its fraction minus
one half, where positive). For a lumen symmetric about its axis that centroid
is the axis whatever the blur, and the skirt below one half does not move it:
the skirt is where a section is cut short (by the reach around the vessel's
mask, which follows the grid's voxels) and where image noise and a neighbour's
partial volume lie, so a centroid that counted it would move with the grid
(``benchmarks/frames.py`` plans one leg on random grids, with and without noise).
A fraction made from a mask by a slight blur has no such skirt, and
`extract_centerlines` centres it on the whole fraction (``centring_floor`` 0).

Where the region reaches the edge of the sampling window (a junction, or
another structure merging in), the volume's border cuts it, or it vanishes
(the lumen ends), the point is left where it was and marked unreliable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pdvaplan.io import Volume
from pdvaplan.kernels.plane_sampling import lumen_section_moments


@dataclass(frozen=True)
class Sections:
    """What the cross-sections say at each point of a polyline."""

    points_mm: np.ndarray  # (n, 3) centroids (unreliable points unchanged)
    radii_mm: np.ndarray  # (n,) equal-area radii (nan where unreliable)
    reliable: np.ndarray  # (n,) bool


def tangents(points_mm: np.ndarray) -> np.ndarray:
    """Unit tangents of a polyline (central differences, one-sided at the ends)."""
    if len(points_mm) < 2:
        return np.tile([0.0, 0.0, 1.0], (len(points_mm), 1))
    derivative = np.gradient(points_mm, axis=0)
    return derivative / np.maximum(np.linalg.norm(derivative, axis=1, keepdims=True), 1e-12)


def normal_frames(tangent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors spanning the plane normal to each tangent."""
    helper = np.eye(3)[np.argmin(np.abs(tangent), axis=1)]
    u = np.cross(tangent, helper)
    u /= np.maximum(np.linalg.norm(u, axis=1, keepdims=True), 1e-12)
    return u, np.cross(tangent, u)


def measure_sections(
    lumen: Volume,
    points_mm: np.ndarray,
    half_width_mm: float,
    pixel_mm: float,
    skirt_mm: float,
    centring_floor: float = 0.5,
) -> Sections:
    """Centroid and equal-area radius of the lumen in the plane normal to each point.

    Parameters
    ----------
    lumen : Volume
        Lumen fraction in [0, 1] (float).
    points_mm : numpy.ndarray, shape (n, 3)
        Current centreline points, in order along the vessel.
    half_width_mm : float
        Half the side of the square sampling window; must exceed the lumen
        radius plus `skirt_mm`.
    pixel_mm : float
        Sampling step in the plane.
    skirt_mm : float
        How far the blur spreads the lumen fraction beyond the half level; the
        region is widened by this much.
    centring_floor : float
        The centroid weighs each pixel by its lumen fraction above this level
        (module notes).
    """
    u, v = normal_frames(tangents(points_mm))
    offsets = np.arange(-half_width_mm, half_width_mm + pixel_mm / 2, pixel_mm)
    # Work in index space: the plane grid maps linearly, so map its axes once.
    to_index = np.linalg.inv(lumen.index_to_physical_matrix)
    grow = int(np.ceil(skirt_mm / pixel_mm))
    centres = lumen.physical_to_index(points_mm)
    total, row, column, found, touches_edge, cut = lumen_section_moments(
        lumen.array, centres, u @ to_index.T, v @ to_index.T, offsets, grow, centring_floor
    )
    # A section the volume's border cuts through is lopsided: leave that point be.
    reliable = found & ~touches_edge & ~cut & (total > 0) & np.isfinite(row)
    a = offsets[0] + np.nan_to_num(row) * pixel_mm
    b = offsets[0] + np.nan_to_num(column) * pixel_mm
    shift = a[:, None] * u + b[:, None] * v
    points = np.where(reliable[:, None], points_mm + shift, points_mm)
    radii = np.where(reliable, np.sqrt(total * pixel_mm**2 / np.pi), np.nan)
    return Sections(points, radii, reliable)
