"""Bone: large, thick components bright in both phases, with their marrow filled.

Cortex (700-2000 HU) and calcified plaque are both bright in both contrast
phases. Bone is told apart by size and thickness: a tibia or fibula shaft is
thousands of mm³ with a cortex several mm thick, a calcified arc a few
hundred mm³ at most and about a millimetre thick. Fatty marrow is dark, so
it is filled in slice by slice across the axis nearest physical z, where
every shaft's cortex is a closed ring.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from pdvaplan.segmentation.filters import component_labels, distance_mm, fill_holes_in_slices


def bone_mask(
    both_phases_hu: np.ndarray,
    spacing_mm: np.ndarray,
    threshold_hu: float,
    slice_axis: int,
    min_volume_mm3: float = 2000.0,
    min_thickness_mm: float = 2.5,
) -> np.ndarray:
    """Bone (cortex and marrow) as a boolean mask.

    Parameters
    ----------
    both_phases_hu : numpy.ndarray
        The smaller of the two (smoothed) phases at each voxel: bright only
        where a voxel is bright in both.
    spacing_mm : array_like, shape (3,)
        Voxel size along each axis.
    threshold_hu : float
        Cortex boundary level (midway between soft tissue and cortex).
    slice_axis : int
        Axis nearest physical z; marrow is filled in slices across it.
    min_volume_mm3 : float
        Smallest bright component taken for bone.
    min_thickness_mm : float
        A bone component must be at least this thick somewhere (twice the
        largest distance from its voxels to its boundary).

    Returns
    -------
    numpy.ndarray
        Boolean mask of bone.

    Examples
    --------
    >>> image = np.zeros((40, 40, 10), np.float32)
    >>> ii, jj = np.mgrid[:40, :40]
    >>> ring = (np.hypot(ii - 20, jj - 20) < 15) & (np.hypot(ii - 20, jj - 20) > 9)
    >>> image[ring] = 1200.0
    >>> bone = bone_mask(image, np.ones(3), 600.0, slice_axis=2, min_volume_mm3=100.0)
    >>> bool(bone[20, 20, 5]), bool(bone[2, 2, 5])
    (True, False)
    """
    bright = both_phases_hu >= threshold_hu
    labels, count = component_labels(bright)
    if count == 0:
        return bright
    voxel_mm3 = float(np.prod(spacing_mm))
    volume_mm3 = np.bincount(labels.ravel(), minlength=count + 1) * voxel_mm3
    inside_mm = distance_mm(~bright, spacing_mm)
    thickest_mm = np.zeros(count + 1)
    thickest_mm[1:] = ndimage.maximum(inside_mm, labels, np.arange(1, count + 1))
    keep = (volume_mm3 >= min_volume_mm3) & (2 * thickest_mm >= min_thickness_mm)
    keep[0] = False
    return fill_holes_in_slices(keep[labels], slice_axis)
