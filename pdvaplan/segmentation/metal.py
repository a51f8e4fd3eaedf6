"""Stage "metal": orthopaedic implants and the slices their streaks cross.

Plates, screws and nails are far denser than any tissue (steel and titanium
image above about 2500 HU, cortical bone below 2000): metal is the both-phase
bright voxels connected to one at `SegmentationSettings.metal_hu`. It is a
class of its own (label `METAL` in the segmentation's label map), an obstacle
to the needle like bone, and never calcium.

Metal throws streaks across the axial slices it lies in, bright and dark,
equal in both phases. Within `SegmentationSettings.metal_streak_mm` of those
slices (along the leg) the streaks can pass for lumen in either phase alone,
so there lumen must show in the phase difference (in which the streaks
cancel), and no contrast level is measured; calcium is not looked for within
`SegmentationSettings.metal_rim_mm` of metal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pdvaplan.filters import components_touching, within_mm
from pdvaplan.segmentation.settings import SegmentationSettings


@dataclass
class Metal:
    """Metal in the volume, and where its streaks fall.

    Attributes
    ----------
    mask : numpy.ndarray
        Boolean mask of metal.
    streak_slices : numpy.ndarray
        Per slice along the axis nearest physical z: whether metal's streaks
        may reach it.
    rim : numpy.ndarray
        Voxels within `SegmentationSettings.metal_rim_mm` of metal.
    """

    mask: np.ndarray
    streak_slices: np.ndarray
    rim: np.ndarray

    @property
    def found(self) -> bool:
        """Whether there is any metal."""
        return bool(self.streak_slices.any())

    def streaks(self, axis: int) -> np.ndarray:
        """Voxels of the streak slices (slices across `axis`), full shape."""
        shape = [1, 1, 1]
        shape[axis] = self.streak_slices.size
        return np.broadcast_to(self.streak_slices.reshape(shape), self.mask.shape).copy()


def find_metal(
    both_phases_hu: np.ndarray, spacing_mm: np.ndarray, axis: int, settings: SegmentationSettings
) -> Metal:
    """Metal: both-phase voxels at `settings.metal_hu` and those connected to them down to
    `settings.metal_low_hu`; the slices within `settings.metal_streak_mm` of it.

    Parameters
    ----------
    both_phases_hu : numpy.ndarray
        The smaller of the two phases at each voxel (HU).
    spacing_mm : array_like, shape (3,)
        Voxel size along each axis.
    axis : int
        Axis nearest physical z (the slices streaks lie in).
    settings : SegmentationSettings

    Returns
    -------
    Metal

    Examples
    --------
    >>> both = np.full((20, 20, 40), 50.0, np.float32)
    >>> both[8:12, 8:12, 18:22] = 3000.0
    >>> both[2:4, 2:4, :] = 1200.0  # cortex: not metal
    >>> metal = find_metal(both, np.ones(3), 2, SegmentationSettings())
    >>> int(metal.mask.sum()), np.flatnonzero(metal.streak_slices)[[0, -1]].tolist()
    (64, [8, 31])
    """
    seeds = both_phases_hu >= settings.metal_hu
    if not seeds.any():
        empty = np.zeros(both_phases_hu.shape, bool)
        return Metal(empty, np.zeros(both_phases_hu.shape[axis], bool), empty)
    mask = components_touching(both_phases_hu >= settings.metal_low_hu, seeds)
    others = tuple(a for a in range(3) if a != axis)
    slices = np.flatnonzero(mask.any(axis=others))
    reach = int(np.ceil(settings.metal_streak_mm / spacing_mm[axis]))
    index = np.arange(both_phases_hu.shape[axis])
    streak_slices = (index >= slices[0] - reach) & (index <= slices[-1] + reach)
    return Metal(mask, streak_slices, within_mm(mask, spacing_mm, settings.metal_rim_mm))
