"""Stage "calcium": calcified plaque, bright in both phases, not bone.

Contrast makes the lumen bright in one phase only (the arterial phase for an
artery, mostly), while calcium is equally bright in both; the smaller of the
two phases at a voxel is therefore high only for calcium and bone. Bone is
removed first (`pdvaplan.segmentation.bone`). Calcium is grown by hysteresis
from dense seeds over its blurred edges, but not into voxels the phase
difference shows to be lumen, and inside the lumen only where calcium outweighs
the lumen's own brightness (its blur blooms into the lumen). It is not required
to touch the patent lumen: arcs on occluded stretches (no contrast) are calcium
too. Nothing caps its size or shape: diabetic arteries calcify all round along
their whole length.
"""

from __future__ import annotations

import numpy as np

from pdvaplan.segmentation.filters import components_touching, within_mm
from pdvaplan.segmentation.levels import along_axis
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
    artery: np.ndarray,
    artery_both_hu: np.ndarray,
    axis: int,
    settings: SegmentationSettings,
) -> np.ndarray:
    """Calcium: both-phase bright components away from bone, grown from dense seeds over
    their blur, however large (a pipe-stem artery is calcified all round along its whole
    length), never into lumen.

    Seeds reach `settings.calcium_seed_hu` in both phases and calcium grows down
    to `settings.calcium_low_hu`: shares of the calcium density against soft
    tissue. Calcium's blur blooms into the lumen beside it, which is bright
    in both phases itself: inside the artery lumen found in the arterial phase
    (`artery`) the same shares are taken between the lumen's own both-phase
    value (`artery_both_hu`, per slice along `axis`) and the calcium density,
    where the phase difference can tell lumen from blur: elsewhere an arc's blur
    on an occluded stretch would pass for lumen. Voxels the phase difference
    shows to be lumen (`confirmed_lumen`) are never calcium.

    Parameters
    ----------
    both_phases_hu : numpy.ndarray
        The smaller of the two phases at each voxel (HU).
    bone_rim : numpy.ndarray
        Voxels that cannot be calcium (bone and its blurred rim).
    confirmed_lumen, artery : numpy.ndarray
        Boolean masks of lumen the phase difference confirms, and of the
        artery lumen found in the arterial phase.
    artery_both_hu : numpy.ndarray
        Per slice along `axis`: a full artery lumen's value in the darker phase;
        NaN where the phase difference cannot tell lumen from blur.
    axis : int
        Axis of the slices.
    settings : SegmentationSettings
        Calcium density and shares.

    Returns
    -------
    numpy.ndarray
        Boolean mask of calcium.

    Examples
    --------
    A calcified wall (900 HU) beside a lumen of 300 HU in both phases: the
    lumen voxel brightened to 450 by the calcium's blur is not calcium, the
    same value in soft tissue is.

    >>> both = np.full((9, 1, 1), 50.0, np.float32)
    >>> both[2:5, 0, 0] = [450.0, 900.0, 450.0]
    >>> both[5:7, 0, 0] = 300.0
    >>> artery = np.zeros(both.shape, bool)
    >>> artery[5:7] = True
    >>> none, lumen_hu = np.zeros(both.shape, bool), np.array([300.0])
    >>> calcium = find_calcium(both, none, none, artery, lumen_hu, 1, SegmentationSettings())
    >>> calcium.ravel().astype(int).tolist()
    [0, 0, 1, 1, 1, 0, 0, 0, 0]
    >>> artery[4] = True
    >>> both[4, 0, 0] = 450.0
    >>> calcium = find_calcium(both, none, none, artery, lumen_hu, 1, SegmentationSettings())
    >>> calcium.ravel().astype(int).tolist()
    [0, 0, 1, 1, 0, 0, 0, 0, 0]
    """
    calcium_hu = settings.calcium_hu

    def reaches(share: float, least_hu: float) -> np.ndarray:
        """Voxels at `share` of the calcium density over their surroundings (lumen or not)."""
        in_lumen = along_axis(
            (artery_both_hu + share * (calcium_hu - artery_both_hu)).astype(np.float32), axis
        )
        bright = both_phases_hu >= least_hu
        bright &= ~(artery & (both_phases_hu < in_lumen))  # False where NaN: cannot tell
        bright &= ~bone_rim
        bright &= ~confirmed_lumen
        return bright

    seeds = reaches(settings.calcium_partial_volume, settings.calcium_seed_hu)
    return components_touching(
        reaches(settings.calcium_grow_fraction, settings.calcium_low_hu) | seeds, seeds
    )
