"""The coarse grid (every other voxel along each axis) where lumen candidates are found
and contrast levels measured."""

from __future__ import annotations

import numpy as np

from pdvaplan.segmentation.levels import slab_levels


class CoarseGrid:
    """Every other voxel along each axis: where lumen candidates are found and levels measured.

    Levels are percentiles over thousands of voxels, so an eighth of them
    measures the same level, and finding candidates on the coarse grid saves
    two full-size smoothings and labellings.
    """

    def __init__(self, shape, spacing_mm, axis, slab_mm) -> None:
        self.step = 2
        self.shape = shape
        self.axis = axis
        self.spacing = np.asarray(spacing_mm, float) * self.step
        self.slab = max(1, round(slab_mm / self.spacing[axis]))
        self.min_voxels = min_voxels(self.spacing)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        s = self.step
        return image[::s, ::s, ::s]

    def any(self, mask: np.ndarray) -> np.ndarray:
        """Whether any voxel of each 2 x 2 x 2 block is in `mask` (coarse shape)."""
        return self._halve(mask, np.logical_or)

    def expand(self, small: np.ndarray) -> np.ndarray:
        """A coarse array back on the full grid: each voxel takes its block's value."""
        out = small
        for axis in range(3):
            out = np.repeat(out, self.step, axis=axis)
        return out[: self.shape[0], : self.shape[1], : self.shape[2]]

    def mean(self, image: np.ndarray) -> np.ndarray:
        """Mean of each 2 x 2 x 2 block (float32, coarse shape; edge blocks may be partial)."""
        out = self._halve(image.astype(np.float32, copy=False), np.add)
        for axis in range(3):
            weight = np.full(out.shape[axis], 0.5, np.float32)
            if image.shape[axis] % 2:
                weight[-1] = 1.0
            shape = [1, 1, 1]
            shape[axis] = -1
            out *= weight.reshape(shape)
        return out

    def _halve(self, array, combine):
        for axis in range(3):
            index = [slice(None)] * 3
            index[axis] = slice(0, None, 2)
            even = array[tuple(index)]
            index[axis] = slice(1, None, 2)
            odd = array[tuple(index)]
            out = even.copy()
            index[axis] = slice(0, odd.shape[axis])
            combine(out[tuple(index)], odd, out=out[tuple(index)])
            array = out
        return array

    def levels(self, image, candidates, percentile, min_level=-np.inf, background=None):
        """Per full-grid slice along the axis: `percentile` of `image` over coarse `candidates`.

        With `background` given, a slab whose level has less than
        `LEAST_SHARE` of the contrast of all candidates together is taken
        for noise or blur (a slab with no patent vessel) and interpolated over.
        """
        small = self(image)
        if background is not None and candidates.any():
            overall = float(np.percentile(small[candidates], percentile))
            min_level = max(min_level, background + LEAST_SHARE * (overall - background))
        found = slab_levels(
            small, candidates, self.axis, self.slab, percentile, self.min_voxels, min_level
        )
        if found is None:
            return None
        full = np.arange(self.shape[self.axis], dtype=np.float64)
        return np.interp(full, self.step * np.arange(found.size, dtype=np.float64), found)


#: Least share of the overall contrast level a slab's level must reach.
LEAST_SHARE = 0.5


def min_voxels(spacing_mm: np.ndarray, volume_mm3: float = 20.0) -> int:
    """Voxels needed to measure a level: about `volume_mm3` of lumen."""
    return max(8, round(volume_mm3 / float(np.prod(spacing_mm))))
