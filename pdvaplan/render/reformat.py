"""Reformations by physical position: straightened CPR along a centreline, axial planes.

Every sample is taken at a physical position (mm) and looked up in each
volume's own frame (`Volume.physical_to_index`), so the phases may sit on
different grids and any direction matrix gives a true axial plane.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from pdvaplan.centerlines.polyline import arc_length_mm, resample, unit
from pdvaplan.io import Volume


def sample_mm(volume: Volume, points_mm: np.ndarray, order: int = 1, fill=None) -> np.ndarray:
    """Values of a volume at physical positions (mm), shape ``points_mm.shape[:-1]``.

    `order` 1 interpolates linearly (intensities), 0 takes the nearest voxel
    (labels). Positions outside the volume get `fill` (default: the volume's
    minimum for intensities, 0 for labels).

    Examples
    --------
    >>> import numpy as np
    >>> from pdvaplan.io import Volume
    >>> volume = Volume(np.arange(8.0).reshape(2, 2, 2), np.ones(3), np.zeros(3),
    ...                 np.diag([-1.0, 1.0, 1.0]))
    >>> sample_mm(volume, np.array([[-1.0, 0, 0], [-0.5, 0, 0]])).tolist()
    [4.0, 2.0]
    """
    points_mm = np.asarray(points_mm, dtype=np.float64)
    index = volume.physical_to_index(points_mm.reshape(-1, 3))
    if fill is None:
        fill = 0 if order == 0 else float(volume.array.min())
    array = volume.array
    if order > 0 and array.dtype.kind not in "f":
        array = array.astype(np.float32)
    values = ndimage.map_coordinates(array, index.T, order=order, mode="constant", cval=fill)
    return values.reshape(points_mm.shape[:-1])


def rotation_minimizing_frames(points_mm: np.ndarray, normal_at: int, normal) -> tuple:
    """Tangents, normals and binormals along a polyline that twist as little as possible.

    Frames are propagated by double reflection (Wang et al. 2008) and turned
    about the tangents so that the normal at point `normal_at` is `normal`
    made perpendicular to the tangent there.

    Returns
    -------
    tangents, normals, binormals : numpy.ndarray, each (n, 3)
    """
    points = np.asarray(points_mm, dtype=np.float64)
    tangents = unit(np.gradient(points, axis=0))
    n = len(points)
    normals = np.zeros_like(points)
    seed = np.array([1.0, 0, 0]) if abs(tangents[0, 0]) < 0.9 else np.array([0, 1.0, 0])
    normals[0] = unit(seed - (seed @ tangents[0]) * tangents[0])
    for i in range(n - 1):
        v1 = points[i + 1] - points[i]
        c1 = v1 @ v1
        if c1 < 1e-18:
            normals[i + 1] = normals[i]
            continue
        r_l = normals[i] - (2 / c1) * (v1 @ normals[i]) * v1
        t_l = tangents[i] - (2 / c1) * (v1 @ tangents[i]) * v1
        v2 = tangents[i + 1] - t_l
        c2 = v2 @ v2
        normals[i + 1] = r_l if c2 < 1e-18 else r_l - (2 / c2) * (v2 @ r_l) * v2
        normals[i + 1] = unit(normals[i + 1] - (normals[i + 1] @ tangents[i + 1]) * tangents[i + 1])
    binormals = np.cross(tangents, normals)
    want = np.asarray(normal, dtype=np.float64)
    t = tangents[normal_at]
    want = want - (want @ t) * t
    if np.linalg.norm(want) > 1e-9:
        angle = np.arctan2(want @ binormals[normal_at], want @ normals[normal_at])
        c, s = np.cos(angle), np.sin(angle)
        normals, binormals = c * normals + s * binormals, c * binormals - s * normals
    return tangents, normals, binormals


@dataclass(frozen=True)
class StraightCPR:
    """A straightened curved planar reformation.

    ``image[row, column]``: columns run along the centreline (``arc_mm``),
    rows across it along the normals (``offset_mm``, increasing with the row;
    the centreline is the middle row, offset 0).
    """

    image: np.ndarray  # (len(offset_mm), len(arc_mm))
    arc_mm: np.ndarray  # along the centreline, 0 at `origin_index`
    offset_mm: np.ndarray  # across, along the normals
    points_mm: np.ndarray  # the centreline samples (n, 3)
    tangents: np.ndarray
    normals: np.ndarray
    binormals: np.ndarray

    def project(self, points_mm: np.ndarray) -> np.ndarray:
        """(arc, offset, depth) in mm of 3D points: nearest centreline sample, then
        the step along its tangent, normal and binormal; shape (n, 3)."""
        points_mm = np.atleast_2d(np.asarray(points_mm, dtype=np.float64))
        _, nearest = cKDTree(self.points_mm).query(points_mm)
        d = points_mm - self.points_mm[nearest]
        return np.stack(
            [
                self.arc_mm[nearest] + np.einsum("ij,ij->i", d, self.tangents[nearest]),
                np.einsum("ij,ij->i", d, self.normals[nearest]),
                np.einsum("ij,ij->i", d, self.binormals[nearest]),
            ],
            axis=1,
        )


def straightened_cpr(
    volume: Volume,
    centerline_mm: np.ndarray,
    origin_mm,
    normal,
    half_width_mm: float = 15.0,
    step_mm: float = 0.4,
    order: int = 1,
) -> StraightCPR:
    """Straighten a volume along a centreline.

    Parameters
    ----------
    volume : Volume
        Intensities (``order=1``) or labels (``order=0``).
    centerline_mm : numpy.ndarray, (n, 3)
        The path, in mm; resampled every `step_mm`.
    origin_mm : array_like, (3,)
        The point of the path that gets arc 0 (e.g. the crossing).
    normal : array_like, (3,)
        The direction across the image at the origin (e.g. along the needle);
        elsewhere the normals follow rotation-minimizing frames.
    half_width_mm, step_mm : float
        Half the image height and the pixel size, in mm.

    Returns
    -------
    StraightCPR
        The vessel runs along the centre row: row ``offset_mm == 0``.
    """
    points = resample(np.asarray(centerline_mm, dtype=np.float64), step_mm)
    arc = arc_length_mm(points)
    origin = int(np.argmin(np.linalg.norm(points - np.asarray(origin_mm), axis=1)))
    tangents, normals, binormals = rotation_minimizing_frames(points, origin, normal)
    count = round(half_width_mm / step_mm)
    offsets = np.arange(-count, count + 1) * step_mm
    grid = points[None, :, :] + offsets[:, None, None] * normals[None, :, :]
    image = sample_mm(volume, grid, order=order)
    return StraightCPR(image, arc - arc[origin], offsets, points, tangents, normals, binormals)


@dataclass(frozen=True)
class AxialPlane:
    """Values on the physical axial plane z = `z_mm`: ``image[row, col]`` at
    x = ``x_mm[col]`` (patient left increasing), y = ``y_mm[row]`` (posterior increasing)."""

    image: np.ndarray
    x_mm: np.ndarray
    y_mm: np.ndarray
    z_mm: float


def axial_plane(
    volume: Volume, z_mm: float, x_range_mm, y_range_mm, pixel_mm: float, order: int = 1
) -> AxialPlane:
    """Resample a volume on the physical axial plane ``z = z_mm`` (whatever its grid).

    Examples
    --------
    >>> import numpy as np
    >>> from pdvaplan.io import Volume
    >>> array = np.zeros((5, 5, 5)); array[1, 3, 2] = 7.0
    >>> permuted = Volume(array, np.ones(3), np.zeros(3),
    ...                   np.array([[0.0, 0, 1], [1, 0, 0], [0, 1, 0]]))
    >>> plane = axial_plane(permuted, 3.0, (0, 4), (0, 4), 1.0, order=0)
    >>> float(plane.image[1, 2])   # x = 2 (index k), y = 1 (i), z = 3 (j)
    7.0
    """
    x = np.arange(x_range_mm[0], x_range_mm[1] + pixel_mm / 2, pixel_mm)
    y = np.arange(y_range_mm[0], y_range_mm[1] + pixel_mm / 2, pixel_mm)
    yy, xx = np.meshgrid(y, x, indexing="ij")
    points = np.stack([xx, yy, np.full_like(xx, z_mm)], axis=-1)
    return AxialPlane(sample_mm(volume, points, order=order), x, y, float(z_mm))
