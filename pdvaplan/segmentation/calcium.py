"""Calcified plaque: bright in both phases, touching the artery lumen, not bone.

Contrast makes the lumen bright in one phase only (the arterial phase for an
artery, mostly), while calcium is equally bright in both; the smaller of the
two phases at a voxel is therefore high only for calcium and bone. Bone is
removed first (`pdvaplan.segmentation.bone`); the remaining bright components
that touch the artery lumen are calcium, each taken whole.
"""

from __future__ import annotations

import numpy as np

from pdvaplan.segmentation.filters import components_near


def calcium_mask(
    both_phases_hu: np.ndarray,
    artery: np.ndarray,
    not_calcium: np.ndarray,
    spacing_mm: np.ndarray,
    threshold_hu: float,
) -> np.ndarray:
    """Calcium touching the artery lumen, as a boolean mask.

    Parameters
    ----------
    both_phases_hu : numpy.ndarray
        The smaller of the two phases at each voxel (HU).
    artery : numpy.ndarray
        Boolean artery-lumen mask.
    not_calcium : numpy.ndarray
        Voxels that cannot be calcium (bone and its blurred rim).
    spacing_mm : array_like, shape (3,)
        Voxel size along each axis.
    threshold_hu : float
        Voxels at or above this value in both phases are calcium candidates.

    Returns
    -------
    numpy.ndarray
        Boolean mask: candidate components (face-connected) that touch a
        voxel of `artery` or lie within one voxel diagonal of it.

    Examples
    --------
    >>> both = np.zeros((8, 3, 3), np.float32)
    >>> both[2, 1, 1] = both[6, 1, 1] = 900.0
    >>> artery = np.zeros(both.shape, bool)
    >>> artery[3:5, 1, 1] = True
    >>> found = calcium_mask(both, artery, np.zeros_like(artery), np.ones(3), 700.0)
    >>> found[:, 1, 1].astype(int).tolist()
    [0, 0, 1, 0, 0, 0, 0, 0]
    """
    bright = both_phases_hu >= threshold_hu
    bright &= ~not_calcium
    if not bright.any() or not artery.any():
        return np.zeros_like(bright)
    contact_mm = float(np.linalg.norm(spacing_mm)) * 1.01
    return components_near(bright, artery, spacing_mm, contact_mm)
