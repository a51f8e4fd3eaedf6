"""Array filters in millimetres: smoothing, distances, components, slice-wise hole filling.

Plain functions over NumPy arrays indexed ``[i, j, k]`` with a voxel spacing
per axis, so every size a caller gives is physical (mm, mm³) and the result
does not depend on the grid.
"""

from __future__ import annotations

import edt
import numpy as np
from scipy import ndimage

#: Threads the distance transform may use.
_THREADS = 2


def smooth_mm(array: np.ndarray, spacing_mm: np.ndarray, sigma_mm: float) -> np.ndarray:
    """Gaussian smoothing with a standard deviation given in mm, as float32.

    Parameters
    ----------
    array : numpy.ndarray
        3D image.
    spacing_mm : array_like, shape (3,)
        Voxel size along each axis.
    sigma_mm : float
        Standard deviation of the Gaussian in mm; 0 only converts to float32.

    Returns
    -------
    numpy.ndarray
        The smoothed image (float32, same shape).

    Examples
    --------
    >>> impulse = np.zeros((9, 9, 5), np.int16)
    >>> impulse[4, 4, 2] = 1000
    >>> out = smooth_mm(impulse, np.array([0.5, 0.5, 1.0]), 0.5)
    >>> out.dtype.name, bool(out[3, 4, 2] > out[4, 4, 1])
    ('float32', True)
    """
    if sigma_mm <= 0:
        return array.astype(np.float32)
    sigma_voxels = sigma_mm / np.asarray(spacing_mm, dtype=np.float64)
    return ndimage.gaussian_filter(array, sigma_voxels, output=np.float32, truncate=3.0)


def distance_mm(mask: np.ndarray, spacing_mm: np.ndarray) -> np.ndarray:
    """Distance (mm, float32) from every voxel outside `mask` to the nearest voxel in it.

    Voxels in `mask` get 0. An empty mask gives infinity everywhere.

    Examples
    --------
    >>> mask = np.zeros((5, 1, 1), bool)
    >>> mask[0] = True
    >>> distance_mm(mask, np.array([0.5, 1.0, 1.0])).ravel().tolist()
    [0.0, 0.5, 1.0, 1.5, 2.0]
    """
    if not mask.any():
        return np.full(mask.shape, np.inf, np.float32)
    outside = np.ascontiguousarray(~mask)
    spacing = tuple(float(s) for s in spacing_mm)
    return edt.edt(outside, anisotropy=spacing, black_border=False, parallel=_THREADS).astype(
        np.float32, copy=False
    )


def within_mm(mask: np.ndarray, spacing_mm: np.ndarray, radius_mm: float) -> np.ndarray:
    """Voxels within `radius_mm` of `mask` (a dilation by a ball in mm), as bool.

    Examples
    --------
    >>> mask = np.zeros((7, 1, 1), bool)
    >>> mask[3] = True
    >>> within_mm(mask, np.array([0.5, 1.0, 1.0]), 1.0).ravel().astype(int).tolist()
    [0, 1, 1, 1, 1, 1, 0]
    """
    return distance_mm(mask, spacing_mm) <= radius_mm


def component_labels(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """Face-connected components of `mask`: label array (int32) and their number."""
    labels, count = ndimage.label(mask)
    return labels, count


def remove_small(mask: np.ndarray, spacing_mm: np.ndarray, min_mm3: float) -> np.ndarray:
    """Drop face-connected components of `mask` smaller than `min_mm3`.

    Examples
    --------
    >>> mask = np.zeros((10, 3, 3), bool)
    >>> mask[0:2, 1, 1] = True
    >>> mask[4:10, 1, 1] = True
    >>> remove_small(mask, np.ones(3), 3.0)[:, 1, 1].astype(int).tolist()
    [0, 0, 0, 0, 1, 1, 1, 1, 1, 1]
    """
    labels, count = component_labels(mask)
    if count == 0:
        return mask.copy()
    voxel_mm3 = float(np.prod(spacing_mm))
    sizes = np.bincount(labels.ravel(), minlength=count + 1) * voxel_mm3
    keep = sizes >= min_mm3
    keep[0] = False
    return keep[labels]


def components_touching(mask: np.ndarray, other: np.ndarray) -> np.ndarray:
    """The face-connected components of `mask` that overlap `other`.

    Examples
    --------
    >>> mask = np.array([1, 1, 0, 1, 1], bool).reshape(5, 1, 1)
    >>> seed = np.array([0, 0, 0, 0, 1], bool).reshape(5, 1, 1)
    >>> components_touching(mask, seed).ravel().astype(int).tolist()
    [0, 0, 0, 1, 1]
    """
    labels, count = component_labels(mask)
    hit = np.zeros(count + 1, bool)
    hit[np.unique(labels[other & mask])] = True
    hit[0] = False
    return hit[labels]


def fill_holes_in_slices(mask: np.ndarray, axis: int) -> np.ndarray:
    """Fill the holes of `mask` in every 2D slice across `axis`.

    A hole is a region outside `mask`, connected within its slice, that does
    not reach the slice's border; all slices are filled in one labelling pass.

    Examples
    --------
    >>> ring = np.ones((5, 5, 2), bool)
    >>> ring[2, 2, :] = False
    >>> fill_holes_in_slices(ring, axis=2).all()
    np.True_
    """
    structure = np.zeros((3, 3, 3), bool)
    plane = [slice(None)] * 3
    plane[axis] = 1
    structure[tuple(plane)] = ndimage.generate_binary_structure(2, 1)
    labels, count = ndimage.label(~mask, structure)
    touches_border = np.zeros(count + 1, bool)
    for other in (a for a in range(3) if a != axis):
        for end in (0, -1):
            face = [slice(None)] * 3
            face[other] = end
            touches_border[np.unique(labels[tuple(face)])] = True
    touches_border[0] = True
    return mask | ~touches_border[labels]
