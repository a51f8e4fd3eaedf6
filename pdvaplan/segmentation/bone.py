"""Stage "bone": large, thick components bright in both phases, with their marrow filled.

Cortex (700-2000 HU) and calcified plaque are both bright in both contrast
phases. Bone is told apart by size and thickness: a tibia or fibula shaft is
thousands of mm³ with a cortex several mm thick, a calcified arc a few
hundred mm³ at most and about a millimetre thick. Fatty marrow is dark, so
it is filled in slice by slice across the axis nearest physical z, where
every shaft's cortex is a closed ring.

All of the work after finding the bright components happens in the bounding
box of each large one, so its cost follows the bone, not the volume.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from pdvaplan.filters import Components, fill_holes_in_slices, inside_distance_mm
from pdvaplan.segmentation.settings import SegmentationSettings

#: Components this many times the smallest bone volume are bone whatever their thickness.
_THICKNESS_CHECK_BELOW = 10.0


def bone_mask(
    both_phases_hu: np.ndarray,
    spacing_mm: np.ndarray,
    threshold_hu: float,
    slice_axis: int,
    min_volume_mm3: float = 2000.0,
    min_thickness_mm: float = 2.5,
    rim_mm: float | tuple[float, ...] = 0.0,
) -> tuple[np.ndarray, ...]:
    """Bone (cortex and marrow) as a boolean mask, and the voxels within `rim_mm` of it.

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
    rim_mm : float or tuple of float
        Width of the rim returned with the bone (bone included); one rim per
        width when a tuple is given.

    Returns
    -------
    bone, rim... : numpy.ndarray
        Boolean masks of bone and of the voxels within each `rim_mm` of bone.

    Examples
    --------
    >>> image = np.zeros((40, 40, 10), np.float32)
    >>> ii, jj = np.mgrid[:40, :40]
    >>> ring = (np.hypot(ii - 20, jj - 20) < 15) & (np.hypot(ii - 20, jj - 20) > 9)
    >>> image[ring] = 1200.0
    >>> bone, rim = bone_mask(image, np.ones(3), 600.0, 2, min_volume_mm3=100.0, rim_mm=1.5)
    >>> bool(bone[20, 20, 5]), bool(bone[2, 2, 5]), bool(rim[20, 5, 5]), bool(bone[20, 5, 5])
    (True, False, True, False)
    """
    widths = tuple(np.atleast_1d(rim_mm).astype(float))
    bone = np.zeros(both_phases_hu.shape, bool)
    rims = [np.zeros(both_phases_hu.shape, bool) for _ in widths]
    parts = Components(both_phases_hu >= threshold_hu)
    sizes_mm3 = parts.sizes() * float(np.prod(spacing_mm))
    large = np.flatnonzero(sizes_mm3 >= min_volume_mm3)
    if large.size == 0:
        return (bone, *rims)
    shape = np.asarray(bone.shape)
    pad = np.ceil(max(widths) / np.asarray(spacing_mm, float)).astype(int) + 1
    low, high = parts.boxes()
    members = parts.members()
    for c in large:
        lo, hi = np.maximum(low[c] - pad, 0), np.minimum(high[c] + pad, shape)
        box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
        own = parts.in_box(members[c], lo, hi)
        # A shaft is far larger than any thin bright sheet: only pieces near the
        # size limit need the (costly) thickness check.
        check = sizes_mm3[c] < _THICKNESS_CHECK_BELOW * min_volume_mm3
        if check and 2 * float(inside_distance_mm(own, spacing_mm).max()) < min_thickness_mm:
            continue
        own = fill_holes_in_slices(own, slice_axis)
        bone[box] |= own
        if max(widths) > 0:
            distance = inside_distance_mm(~own, spacing_mm)
            for rim, width in zip(rims, widths, strict=True):
                rim[box] |= distance <= width
    for rim in rims:
        rim |= bone
    return (bone, *rims)


@dataclass
class BoneMasks:
    """Bone, and the zones around it where its blur brightens both phases.

    Attributes
    ----------
    bone : numpy.ndarray
        Cortex and marrow.
    rim : numpy.ndarray
        Within `rim_mm` of bone (bone included): no artery lumen or calcium
        there, and veins only grow into it on the phase difference.
    near : numpy.ndarray
        Within `SegmentationSettings.bone_near_mm` of bone: lumen needs the
        phase-difference test there, and no levels are measured.
    rim_mm : float
        The rim's width: the setting plus half the largest voxel size (the
        mask's edge sits up to a voxel inside the true edge).
    """

    bone: np.ndarray | None
    rim: np.ndarray | None
    near: np.ndarray | None
    rim_mm: float


def find_bone(
    both_phases_hu: np.ndarray,
    spacing_mm: np.ndarray,
    background_hu: float,
    slice_axis: int,
    settings: SegmentationSettings,
) -> BoneMasks:
    """Bone and its rims from the both-phase image, its boundary midway between tissue and
    cortex.

    The cortex level is the 90th percentile of the voxels at least
    `settings.calcium_hu` bright, read from every other voxel along each axis
    (an eighth of the volume is plenty for a percentile of thousands of voxels).

    Parameters
    ----------
    both_phases_hu : numpy.ndarray
        The smaller of the two smoothed phases at each voxel.
    spacing_mm : numpy.ndarray
        Voxel size.
    background_hu : float
        Soft-tissue level.
    slice_axis : int
        Axis nearest physical z.
    settings : SegmentationSettings

    Returns
    -------
    BoneMasks
    """
    rim_mm = settings.bone_rim_mm + 0.5 * float(np.max(spacing_mm))
    widths = (rim_mm, settings.bone_near_mm)
    sample = both_phases_hu[::2, ::2, ::2]
    dense = sample[sample >= settings.calcium_hu]
    if dense.size < 100:
        dense = both_phases_hu[both_phases_hu >= settings.calcium_hu]
    if dense.size == 0:
        masks = tuple(np.zeros(both_phases_hu.shape, bool) for _ in range(3))
    else:
        cortex = float(np.percentile(dense, 90.0))
        threshold = background_hu + 0.5 * (cortex - background_hu)
        masks = bone_mask(both_phases_hu, spacing_mm, threshold, slice_axis, rim_mm=widths)
    return BoneMasks(*masks, rim_mm=rim_mm)


def bright_surface(
    image: np.ndarray, level_hu: float, spacing_mm: np.ndarray, min_size: float
) -> np.ndarray:
    """Indices (n, ndim) of the surface voxels of the bright components of an image (2D or
    3D): at or above `level_hu`, at least `min_size` large (mm³, or mm² in 2D). Where two
    phases are compared on bone, these are the points.

    Examples
    --------
    >>> image = np.zeros((9, 9))
    >>> image[2:7, 2:7] = 1000.0
    >>> image[0, 8] = 1000.0  # a speck
    >>> len(bright_surface(image, 500.0, np.ones(2), 4.0))
    16
    """
    parts = Components(image >= level_hu)
    if parts.count == 0:
        return np.zeros((0, image.ndim), int)
    large = parts.mask(parts.sizes() * float(np.prod(spacing_mm)) >= min_size)
    return np.argwhere(large & ~ndimage.binary_erosion(large))
