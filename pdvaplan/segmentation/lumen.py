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

from pdvaplan.segmentation.filters import Components


def lumen_fraction(image_hu: np.ndarray, background_hu: float, level_hu: np.ndarray) -> np.ndarray:
    """``(image - background) / (level - background)`` as float32; `level_hu` broadcasts.

    Examples
    --------
    >>> lumen_fraction(np.array([50.0, 175.0, 300.0]), 50.0, np.array(300.0)).tolist()
    [0.0, 0.5, 1.0]
    """
    contrast = np.maximum(np.asarray(level_hu, np.float32) - np.float32(background_hu), 1.0)
    out = np.subtract(image_hu, np.float32(background_hu), dtype=np.float32)
    out /= contrast
    return out


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
