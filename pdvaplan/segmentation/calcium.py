"""Stage "calcium": calcified plaque, bright in both phases, not bone.

Contrast makes the lumen bright in one phase only (the arterial phase for an
artery, mostly), while calcium is equally bright in both; the smaller of the
two phases at a voxel is therefore high only for calcium and bone. Bone is
removed first (`pdvaplan.segmentation.bone`). Calcium is grown by hysteresis
from dense seeds over its blurred edges, but not into voxels the phase
difference shows to be lumen. It is not required to touch the patent lumen:
arcs on occluded stretches (no contrast) are calcium too. Nothing caps its size
or shape: diabetic arteries calcify all round along their whole length.

A thin arc images below its density, the more so in a venous phase resampled
from a coarser grid of its own: the smaller of the two phases can stay under
the growth level along much of it, cutting the arc short and leaving its faint
stretch "clear". Calcium therefore also grows down to the level no artery
lumen reaches in the venous phase (`pdvaplan.segmentation.arteries.
brighter_than_lumen_hu`), never into confirmed lumen nor into voxels clearly
brighter in the venous phase (vein).

The smoothing that quiets noise lowers a thin arc further (an arc of 1000 HU can
peak near 340 HU in the smoothed phases and 450 HU as imaged, and be lost).
Seeds are therefore also read in the phases
as they came, where they lie inside what the smoothed phases show bright in
both (so that noise alone cannot seed). Such a seed may lie in what the phase
difference calls lumen when both smoothed phases there are brighter than any
lumen: an arc the two acquisitions show about a voxel apart (registration
leaves that much) is bright in the arterial phase a voxel further than in the
venous one, and the difference takes it for lumen; a thin arc's only seed can
lie there.
"""

from __future__ import annotations

import numpy as np

from pdvaplan.filters import components_touching, within_mm
from pdvaplan.segmentation.settings import SegmentationSettings


def calcium_blur(
    both_phases_hu: np.ndarray, spacing_mm: np.ndarray, settings: SegmentationSettings
) -> tuple[np.ndarray, np.ndarray]:
    """Calcium with its blur, and the zone that hides it from the lumen images.

    Calcium and its blur (both-phase bright down to the growth level, grown
    from seeds) would spread into their surroundings when smoothed further
    and would raise the measured lumen levels: they are hidden (set to the
    background) within `settings.calcium_rim_mm` of it.

    Returns
    -------
    dense, hidden : numpy.ndarray
        The both-phase bright components that hold a calcium seed, and the
        voxels within the calcium rim of them.
    """
    dense = components_touching(
        both_phases_hu >= settings.calcium_low_hu, both_phases_hu >= settings.calcium_seed_hu
    )
    return dense, within_mm(dense, spacing_mm, settings.calcium_rim_mm)


def find_calcium(
    both_phases_hu: np.ndarray,
    bone_rim: np.ndarray,
    confirmed_lumen: np.ndarray,
    settings: SegmentationSettings,
    no_lumen_hu: np.ndarray | None = None,
    venous_brighter: np.ndarray | None = None,
    unsmoothed_both_hu: np.ndarray | None = None,
) -> np.ndarray:
    """Calcium: both-phase bright components away from bone, grown from dense seeds over
    their blur, however large (a pipe-stem artery is calcified all round along its whole
    length).

    Seeds reach `settings.calcium_seed_hu` in both phases and calcium grows down
    to `settings.calcium_low_hu`, but not into bone's rim nor into voxels the
    phase difference shows to be lumen (`confirmed_lumen`: at least half a
    lumen). No size or shape caps it.

    Parameters
    ----------
    both_phases_hu : numpy.ndarray
        The smaller of the two phases at each voxel (HU).
    bone_rim : numpy.ndarray
        Voxels that cannot be calcium (bone and its blurred rim).
    confirmed_lumen : numpy.ndarray
        Voxels the phase difference shows to be lumen.
    settings : SegmentationSettings
        Calcium density and the shares of it that seed and grow calcium.
    no_lumen_hu : numpy.ndarray, optional
        Broadcasting against the image: a both-phase value no artery lumen
        reaches. Where it lies below the growth level, calcium grows from its
        seeds down to it (never into confirmed lumen): the thin part of an arc,
        on a coarse or resampled grid, images below its density and would
        otherwise be cut off from the arc's dense part.
    venous_brighter : numpy.ndarray, optional
        Voxels clearly brighter in the venous phase than in the arterial one:
        vein lumen (calcium is as bright in both), which that lower growth
        never takes.
    unsmoothed_both_hu : numpy.ndarray, optional
        The smaller of the two phases before smoothing: a voxel reaching the
        seed level here seeds calcium too, where calcium may grow, and in
        confirmed lumen where both smoothed phases reach `no_lumen_hu` (the
        phase difference of a calcified wall beside lumen, or of an arc the
        two acquisitions show a voxel apart, says "lumen").

    Returns
    -------
    numpy.ndarray
        Boolean mask of calcium.

    Examples
    --------
    A calcified wall (900 HU) with its blur on both sides, beside a lumen the
    phase difference confirms, and a bright speck that never reaches a seed:

    >>> both = np.full((10, 1, 1), 50.0, np.float32)
    >>> both[1:4, 0, 0] = [360.0, 900.0, 360.0]
    >>> both[7, 0, 0] = 380.0
    >>> lumen, none = np.zeros(both.shape, bool), np.zeros(both.shape, bool)
    >>> lumen[3:6] = True
    >>> find_calcium(both, none, lumen, SegmentationSettings()).ravel().astype(int).tolist()
    [0, 1, 1, 0, 0, 0, 0, 0, 0, 0]
    """
    seeds = both_phases_hu >= settings.calcium_seed_hu
    seeds &= ~bone_rim
    grown = both_phases_hu >= settings.calcium_low_hu
    if no_lumen_hu is not None:
        faint = both_phases_hu >= np.minimum(no_lumen_hu, settings.calcium_low_hu).astype(
            np.float32
        )
        if venous_brighter is not None:
            faint &= ~venous_brighter
        grown |= faint
        del faint
    grown &= ~bone_rim
    if unsmoothed_both_hu is not None:
        may_seed = ~confirmed_lumen
        if no_lumen_hu is not None:
            # Lumen is bright in one phase only: where both phases are brighter than
            # any lumen, what the phase difference calls lumen holds calcium too.
            may_seed |= both_phases_hu >= no_lumen_hu
        may_seed &= grown
        seeds |= may_seed & (unsmoothed_both_hu >= settings.calcium_seed_hu)
        del may_seed
    grown &= ~confirmed_lumen
    return components_touching(grown | seeds, seeds)
