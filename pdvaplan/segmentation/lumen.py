"""Lumen masks from lumen-fraction images by hysteresis, and the linear unmixing of the phases.

A lumen voxel's value is ``background + fraction * (level - background)``:
the share of the voxel the contrast-filled lumen covers (after the scanner's
blur), scaled by the contrast level. Dividing by the local level turns each
phase into a lumen-fraction image, so one pair of thresholds (0.5 for the
boundary, where half the voxel is lumen; a higher one for seeds) holds for
every patient, contrast level and distance along the leg. Hysteresis keeps
weak voxels only when connected to sure ones, so a stenosis stays connected
while isolated noise is dropped.
"""

from __future__ import annotations

import numpy as np

from pdvaplan.filters import Components, remove_small, smooth_mm
from pdvaplan.segmentation.levels import along_axis
from pdvaplan.segmentation.phases import SmoothedPhases
from pdvaplan.segmentation.settings import SegmentationSettings


def unmix_artery(
    venous_hu: np.ndarray,
    arterial_hu: np.ndarray,
    background_hu: float,
    ratio: np.ndarray,
    overwrite: bool = False,
) -> np.ndarray:
    """The venous phase with the arteries' share removed (float32).

    In the venous phase an artery is moderately bright, ``ratio`` times its
    arterial-phase contrast. Both phases see the same anatomy through the same
    blur, so subtracting ``ratio * (arterial - background)`` leaves each voxel
    with only its vein share: a vein one voxel from its artery no longer
    merges with it. `ratio` broadcasts against the images.

    With `overwrite` (both images float32), no new image is made: the
    arterial image is used as scratch and the result is written into (and
    returned as) the venous one.

    Examples
    --------
    >>> unmix_artery(np.array([170.0, 125.0]), np.array([300.0, 50.0]), 50.0, np.array(0.48))
    array([ 50., 125.], dtype=float32)
    >>> venous, arterial = np.float32([170.0, 125.0]), np.float32([300.0, 50.0])
    >>> unmix_artery(venous, arterial, 50.0, np.array(0.48), overwrite=True) is venous
    True
    """
    if overwrite:
        contrast = np.subtract(arterial_hu, np.float32(background_hu), out=arterial_hu)
    else:
        contrast = np.subtract(arterial_hu, np.float32(background_hu), dtype=np.float32)
    np.maximum(contrast, 0.0, out=contrast)
    contrast *= np.asarray(ratio, np.float32)
    if overwrite:
        return np.subtract(venous_hu, contrast, out=venous_hu)
    return np.subtract(venous_hu, contrast, dtype=np.float32)


def hysteresis(
    fraction: np.ndarray,
    seeds: np.ndarray,
    allowed: np.ndarray,
    spacing_mm: np.ndarray,
    low: float = 0.5,
    min_volume_mm3: float = 10.0,
) -> np.ndarray:
    """Voxels with ``fraction >= low`` connected to a voxel of `seeds`.

    Only voxels in `allowed` take part; face-connected components smaller than
    `min_volume_mm3` are dropped.

    Examples
    --------
    >>> fraction = np.array([0.9, 0.6, 0.2, 0.6, 0.6, 0.1, 0.95]).reshape(7, 1, 1)
    >>> allowed = np.ones_like(fraction, bool)
    >>> found = hysteresis(fraction, fraction >= 0.8, allowed, np.ones(3), min_volume_mm3=1.5)
    >>> found.ravel().astype(int).tolist()
    [1, 1, 0, 0, 0, 0, 0]
    """
    candidate = fraction >= low
    candidate &= allowed
    parts = Components(candidate)
    del candidate
    volume_mm3 = parts.sizes() * float(np.prod(spacing_mm))
    return parts.mask(parts.hit(seeds) & (volume_mm3 >= min_volume_mm3))


def lumen_candidates(
    phases: SmoothedPhases,
    image: np.ndarray,
    image_sigma_mm: np.ndarray,
    allowed: np.ndarray,
    hidden_coarse: np.ndarray,
    settings: SegmentationSettings,
) -> np.ndarray:
    """Lumen candidates on the coarse grid, where a lumen's contrast level is measured.

    The image is averaged over 2 x 2 x 2 blocks (which smooths about as much
    as a Gaussian of half a coarse voxel), its hidden parts (calcium and its
    blur, coarse) set to the background, and smoothed on to
    `settings.detection_mm`; candidates reach half of
    `settings.min_contrast_hu` over the background, lie in `allowed` and form
    pieces of `settings.min_artery_mm3` at least.

    Parameters
    ----------
    phases : SmoothedPhases
    image : numpy.ndarray
        A smoothed phase on the crop.
    image_sigma_mm : array_like
        The smoothing `image` has had (mm, per axis or one).
    allowed : numpy.ndarray
        Crop voxels candidates may lie in.
    hidden_coarse : numpy.ndarray
        Coarse voxels hidden from the levels.
    settings : SegmentationSettings
    """
    coarse = phases.coarse
    small = coarse.mean(image)
    small[hidden_coarse] = np.float32(phases.background_hu)
    block_sigma = 0.5 * coarse.spacing
    extra = np.sqrt(
        np.maximum(settings.detection_mm**2 - np.asarray(image_sigma_mm) ** 2 - block_sigma**2, 0.0)
    )
    small = smooth_mm(small, coarse.spacing, extra)
    found = small >= phases.background_hu + 0.5 * settings.min_contrast_hu
    found &= coarse(allowed)
    return remove_small(found, coarse.spacing, settings.min_artery_mm3)


def at_fraction(phases: SmoothedPhases, level_hu: np.ndarray, fraction: float) -> np.ndarray:
    """The HU (per slice, broadcasting along the leg) at which a lumen of `level_hu` covers
    `fraction` of a voxel."""
    background = phases.background_hu
    contrast = np.maximum(level_hu - background, 1.0)
    return along_axis((background + fraction * contrast).astype(np.float32), phases.axis)


def lumen_mask(
    phases: SmoothedPhases,
    image: np.ndarray,
    level_hu: np.ndarray,
    seed_fraction: float,
    allowed: np.ndarray,
    min_volume_mm3: float,
    settings: SegmentationSettings,
) -> np.ndarray:
    """Hysteresis on the lumen fraction of `image` (a lumen of `level_hu` per slice), compared
    in HU (no fraction image is made): seeds at `seed_fraction`, boundary at
    `settings.boundary_fraction`."""
    seeds = image >= at_fraction(phases, level_hu, seed_fraction)
    low = at_fraction(phases, level_hu, settings.boundary_fraction)
    return hysteresis(image, seeds, allowed, phases.spacing_mm, low, min_volume_mm3)
