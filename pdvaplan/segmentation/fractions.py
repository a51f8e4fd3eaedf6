"""Lumen fractions of the arteries and veins (0 tissue, 1 full lumen, partial volume at
their walls) from the two phases and the segmentation: what the centrelines are centred
in and measured on."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy import ndimage

from pdvaplan.boxes import bounding_box
from pdvaplan.filters import inside_distance_mm, smooth_mm, within_mm
from pdvaplan.io import Volume
from pdvaplan.labels import ARTERY, BONE, CALCIUM, VEIN
from pdvaplan.segmentation.lumen import unmix_artery

if TYPE_CHECKING:
    from pdvaplan.segmentation.pipeline import Segmentation

#: Lumen fractions are made this far (mm) around the vessels.
LUMEN_MARGIN_MM = 15.0


def lumen_fractions(
    segmentation: Segmentation, arterial: Volume, smoothing_mm: float = 0.5
) -> tuple[Volume, Volume]:
    """Artery and vein lumen fractions (0 tissue, 1 full lumen) around the vessels.

    Both are made on the crop of the label grid that holds every artery and
    vein voxel with a margin (a small part of a whole-leg volume).

    The arteries' is the arterial phase's contrast over the artery's level,
    except within the bone rim of calcium, bone or metal: there it is the
    arterial minus the venous phase over the artery's contrast difference
    between the phases, in which those bright neighbours cancel. Only there: the
    difference amplifies what registration leaves (an artery shifted by d
    between the phases weighs its far side 1 / (1 - r) times more, r being the
    venous over the arterial contrast), and moved a centreline 0.6 mm towards
    its vein in a leg registered to 0.46 mm, and the difference is
    about three times noisier. The veins' is the venous phase with the arteries'
    share unmixed (`unmix_artery`), which keeps the partial volume of a vein's
    wall next to its artery; within the segmentation's bone rim the whole
    arterial contrast is taken out (the phase difference, in which the bone's
    blur cancels), so a vein lying against bone keeps its bone side; only
    around calcium, which unmixing cannot cancel, is it cut out. Both are then
    calibrated to 1 deep inside their lumens (`_calibrate`).

    Memory: the two smoothed phases (float32) are the only full-crop arrays
    besides one distance map at a time while calibrating; the fractions are
    computed slab by slab and written over them, so the levels, which vary with
    height, are never evaluated for the whole crop at once.
    """
    vessels = segmentation.labels.array
    margin = np.ceil(LUMEN_MARGIN_MM / segmentation.labels.spacing_mm).astype(int)
    box = bounding_box(vessels, margin, (ARTERY, VEIN)) or tuple(slice(0, n) for n in vessels.shape)
    labels = segmentation.labels.crop(  # the vessels and their surroundings
        [s.start for s in box], [s.stop for s in box]
    )
    spacing = labels.spacing_mm
    # Truncated at 4 sigma, as scipy's gaussian_filter does by default; each phase also
    # by what matched its blur to the other's (the segmentation's), as they are compared.
    match = segmentation.sharpness_match_mm or (np.zeros(3), np.zeros(3))
    artery = smooth_mm(
        arterial.crop_to(labels).array, spacing, np.hypot(smoothing_mm, match[0]), truncate=4.0
    )
    vein = smooth_mm(
        segmentation.venous_on_grid.crop_to(labels).array,
        spacing,
        np.hypot(smoothing_mm, match[1]),
        truncate=4.0,
    )
    background = segmentation.background_hu
    bone = labels.array == BONE
    near_bone = (
        within_mm(bone, spacing, segmentation.bone_rim_mm)
        if segmentation.bone_rim_mm > 0 and bone.any()
        else None
    )
    # Calcium, bone and metal: where the arterial phase alone would count their blur (the
    # bone's rim is the one just found, not measured again).
    calcium_or_metal = (labels.array >= CALCIUM) & ~bone
    near_bright = within_mm(calcium_or_metal, spacing, segmentation.bone_rim_mm)
    near_bright |= bone if near_bone is None else near_bone
    del bone, calcium_or_metal
    row = labels.index_to_physical_matrix[2]
    # Height z of a voxel (float32, as `Volume.voxel_coordinate_mm` makes it): when it
    # follows one index axis only, the levels are one profile broadcast over the others.
    along_one_axis = np.count_nonzero(row) == 1
    step = max(1, int(2_000_000 // max(labels.shape[1] * labels.shape[2], 1)))
    for lo in range(0, labels.shape[0], step):
        hi = min(lo + step, labels.shape[0])
        index = np.ogrid[lo:hi, 0 : labels.shape[1], 0 : labels.shape[2]]
        if along_one_axis:
            axis = int(np.flatnonzero(row)[0])
            z = np.float32(labels.origin_mm[2]) + (row[axis] * index[axis]).astype(np.float32)
        else:
            z = np.full((hi - lo, *labels.shape[1:]), labels.origin_mm[2], np.float32)
            for weight, offsets in zip(row, index, strict=True):
                z += (weight * offsets).astype(np.float32)
        early, late = artery[lo:hi], vein[lo:hi]
        artery_level = segmentation.artery_level.at(z)
        artery_late = segmentation.artery_venous_level.at(z)
        ratio = (artery_late - background) / np.maximum(artery_level - background, 1.0)
        if near_bone is not None:
            ratio = np.where(near_bone[lo:hi], 1.0, ratio)
        early_share = np.where(
            near_bright[lo:hi],
            (early - late) / np.maximum(artery_level - artery_late, 1.0),
            (early - background) / np.maximum(artery_level - background, 1.0),
        )
        vein[lo:hi] = segmentation.vein_fraction(
            unmix_artery(late, early, background, ratio), z, clip=False
        )
        artery[lo:hi] = early_share
    # Around calcium (voxels touching it), which unmixing cannot cancel, no vein.
    calcium = labels.array == CALCIUM
    if calcium.any():
        box = bounding_box(calcium, 1)
        vein[box][ndimage.binary_dilation(calcium[box], structure=np.ones((3, 3, 3)))] = 0.0
    for share, value in ((artery, ARTERY), (vein, VEIN)):
        _calibrate(share, labels.array == value, spacing)
    return labels.with_array(artery), labels.with_array(vein)


def _calibrate(share: np.ndarray, lumen: np.ndarray, spacing_mm: np.ndarray) -> None:
    """Lumen shares (in place) divided by their median deep inside the lumen (1 mm or
    more from its wall) where that exceeds 1, and clipped to [0, 1].

    The levels come from the segmentation's more strongly smoothed images, in which
    small vessels peak lower: veins' shares came out above 1 deep inside, and the
    partial volume at their walls as much too high, which made the sections' areas
    too large (vein radii up to 0.29 mm too large in the plan benchmark). Below 1,
    the median is the blur of a narrow lumen, not a wrong level, and is left.
    """
    deep = inside_distance_mm(lumen, spacing_mm) >= 1.0
    if deep.any():
        share /= max(float(np.median(share[deep])), 1.0)
    np.clip(share, 0.0, 1.0, out=share)
