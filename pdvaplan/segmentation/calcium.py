"""Stage "calcium": calcified plaque, bright in both phases, not bone.

Contrast makes the lumen bright in one phase only (the arterial phase for an
artery, mostly), while calcium is equally bright in both; the smaller of the
two phases at a voxel is therefore high only for calcium and bone. Bone is
removed first (`pdvaplan.segmentation.bone`). Calcium is grown by hysteresis
from dense seeds over its blurred edges, but not into voxels the phase
difference shows to be lumen. It is not required to touch the patent lumen:
arcs on occluded stretches (no contrast) are calcium too.
"""

from __future__ import annotations

import numpy as np

from pdvaplan.segmentation.filters import Components, components_touching, within_mm
from pdvaplan.segmentation.settings import SegmentationSettings


def calcium_mask(
    both_phases_hu: np.ndarray,
    not_calcium: np.ndarray,
    spacing_mm: np.ndarray,
    seed_hu: float,
    grow_hu: float | None = None,
    not_grown: np.ndarray | None = None,
    max_volume_mm3: float = np.inf,
) -> np.ndarray:
    """Calcium: both-phase bright components away from bone, grown from dense seeds.

    Parameters
    ----------
    both_phases_hu : numpy.ndarray
        The smaller of the two phases at each voxel (HU).
    not_calcium : numpy.ndarray
        Voxels that cannot be calcium (bone and its blurred rim).
    spacing_mm : array_like, shape (3,)
        Voxel size along each axis.
    seed_hu : float
        Voxels at or above this value in both phases seed calcium.
    grow_hu : float, optional
        Calcium grows from its seeds over voxels down to this value: the
        edges of thin arcs are imaged well below their density. Default: no
        growth.
    not_grown : numpy.ndarray, optional
        Voxels calcium does not grow into (lumen told by the phase difference).
    max_volume_mm3 : float
        Larger both-phase bright components are not calcium.

    Returns
    -------
    numpy.ndarray
        Boolean mask of calcium.

    Examples
    --------
    >>> both = np.full((9, 3, 3), 50.0, np.float32)
    >>> both[2, 1, 1], both[3, 1, 1], both[6, 1, 1] = 900.0, 400.0, 400.0
    >>> nothing = np.zeros(both.shape, bool)
    >>> found = calcium_mask(both, nothing, np.ones(3), 700.0, 350.0)
    >>> found[:, 1, 1].astype(int).tolist()
    [0, 0, 1, 1, 0, 0, 0, 0, 0]
    """
    seeds = both_phases_hu >= seed_hu
    seeds &= ~not_calcium
    if not seeds.any():
        return seeds
    if grow_hu is None:
        grown = seeds
    else:
        grown = both_phases_hu >= grow_hu
        grown &= ~not_calcium
        if not_grown is not None:
            grown &= ~not_grown
        grown |= seeds
    parts = Components(grown)
    keep = parts.hit(seeds) & (parts.sizes() * float(np.prod(spacing_mm)) <= max_volume_mm3)
    return parts.mask(keep)


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
    lumen: np.ndarray,
    spacing_mm: np.ndarray,
    settings: SegmentationSettings,
) -> np.ndarray:
    """Calcium: seeded at `settings.calcium_seed_hu` in both phases, grown down to
    `settings.calcium_low_hu`, not into bone's rim nor into `lumen` (voxels the phase
    difference shows to be lumen), no component larger than the smallest bone."""
    return calcium_mask(
        both_phases_hu,
        bone_rim,
        spacing_mm,
        settings.calcium_seed_hu,
        settings.calcium_low_hu,
        not_grown=lumen,
        max_volume_mm3=settings.min_bone_mm3,
    )
