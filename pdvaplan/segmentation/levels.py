"""Intensity levels read from the image: the soft-tissue background and contrast levels along z.

Contrast differs between patients and fades distally, so no fixed HU
threshold separates lumen from tissue everywhere. Each level is measured in
the image instead: the background as the mode of soft tissue, a lumen's
contrast level as a robust high percentile of its candidate voxels in slabs
along the axis nearest physical z, interpolated between slabs that hold
enough voxels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LevelProfile:
    """A contrast level (HU) that varies with physical height z (mm).

    Parameters
    ----------
    z_mm : numpy.ndarray
        Heights (mm, LPS z) at which the level was measured, increasing.
    hu : numpy.ndarray
        Level at each height (HU).

    Examples
    --------
    >>> profile = LevelProfile(np.array([0.0, 100.0]), np.array([200.0, 300.0]))
    >>> profile.at([50.0, 500.0]).tolist()
    [250.0, 300.0]
    """

    z_mm: np.ndarray
    hu: np.ndarray

    def at(self, z_mm) -> np.ndarray:
        """The level (HU) at heights `z_mm`, held constant beyond the measured range."""
        return np.interp(np.asarray(z_mm, dtype=np.float64), self.z_mm, self.hu)


def background_hu(
    image: np.ndarray,
    low_hu: float = -20.0,
    high_hu: float = 140.0,
    bin_hu: float = 2.0,
    refine: bool = False,
) -> float:
    """Soft-tissue background level: the mode of `image` between `low_hu` and `high_hu`.

    Muscle and unenhanced blood (35-65 HU) fill most of a calf; fat lies below
    `low_hu`, contrast and bone above `high_hu`. The histogram (`bin_hu` bins)
    is smoothed over 5 bins before its peak is taken; with `refine`, the peak
    is refined by a parabola through it and its neighbours.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> tissue = np.concatenate([rng.normal(55, 10, 5000), rng.normal(-100, 10, 3000)])
    >>> abs(background_hu(tissue) - 55.0) < 5.0
    True
    """
    values = image[(image >= low_hu) & (image <= high_hu)]
    if values.size == 0:
        return float(np.clip(0.0, low_hu, high_hu))
    counts, edges = np.histogram(values, bins=np.arange(low_hu, high_hu + bin_hu, bin_hu))
    smooth = np.convolve(counts, np.ones(5) / 5.0, mode="same")
    peak = int(np.argmax(smooth))
    centres = (edges[:-1] + edges[1:]) / 2
    return parabola_peak(smooth, centres, peak) if refine else float(centres[peak])


def soft_tissue_hu(image: np.ndarray, low_hu: float = -20.0, high_hu: float = 140.0) -> float:
    """Soft-tissue level to a fraction of an HU: `background_hu` on 1-HU bins, refined.

    Finer than `background_hu`'s default, for the difference of two images' levels.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> tissue = np.concatenate([rng.normal(52.3, 10, 50000), rng.normal(-100, 10, 30000)])
    >>> abs(soft_tissue_hu(tissue) - 52.3) < 1.0
    True
    """
    return background_hu(image, low_hu, high_hu, bin_hu=1.0, refine=True)


def parabola_peak(counts: np.ndarray, centres: np.ndarray, peak: int) -> float:
    """Where the parabola through a histogram's peak bin and its two neighbours peaks
    (the bin's centre at an end, or where the three do not bend down).

    Examples
    --------
    >>> parabola_peak(np.array([1.0, 4.0, 3.0]), np.array([0.0, 1.0, 2.0]), 1)
    1.25
    """
    if 0 < peak < len(counts) - 1:
        left, mid, right = counts[peak - 1 : peak + 2]
        curvature = left - 2 * mid + right
        if curvature < 0:
            step = centres[1] - centres[0]
            return float(centres[peak] + 0.5 * (left - right) / curvature * step)
    return float(centres[peak])


def noise_hu(
    sample: np.ndarray,
    window_hu: float = 100.0,
    centre_hu: float | None = None,
    above_only: bool = True,
) -> float:
    """Noise (standard deviation, HU) of an image in soft tissue: the median distance of
    the values near soft tissue's level from it, which is 0.6745 standard deviations.

    Parameters
    ----------
    sample : numpy.ndarray
        Voxel values (any shape).
    window_hu : float
        Only values within this far of the level count.
    centre_hu : float, optional
        Soft tissue's level; None takes the sample's mode.
    above_only : bool
        Count only the values above the level. In an unsmoothed image the noisy tail of
        fat, which lies below soft tissue, reaches into the window; smoothed, it stays
        outside a narrower one and both sides can count.

    Returns
    -------
    float
        0 when fewer than 100 values count.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> tissue = np.concatenate([rng.normal(50, 20, 50000), rng.normal(-100, 20, 20000)])
    >>> abs(noise_hu(tissue) - 20.0) < 1.5
    True
    >>> abs(noise_hu(rng.normal(50, 5, 50000), 50.0, 50.0, above_only=False) - 5.0) < 0.2
    True
    """
    values = np.asarray(sample, np.float32)
    centre = np.float32(background_hu(values) if centre_hu is None else centre_hu)
    offset = values - centre
    near = (offset >= 0) & (offset <= window_hu) if above_only else np.abs(offset) <= window_hu
    if np.count_nonzero(near) < 100:
        return 0.0
    return float(np.median(np.abs(offset[near])) / 0.6745)


def slab_levels(
    image: np.ndarray,
    candidates: np.ndarray,
    axis: int,
    slab_slices: int,
    percentile: float,
    min_voxels: int,
    min_level: float = -np.inf,
) -> np.ndarray | None:
    """A level per slice along `axis`: a percentile of `image` over `candidates` per slab.

    Slabs of `slab_slices` slices with fewer than `min_voxels` candidates, or
    whose level is below `min_level`, take the level interpolated between
    their neighbours (held at the ends). When no slab has enough candidates
    but all of them together have (a thin lumen on a coarse grid), their
    level holds along the whole axis.

    Returns
    -------
    numpy.ndarray or None
        One level per slice along `axis` (float64), or None when even all
        candidates together are too few or below `min_level`.

    Examples
    --------
    >>> image = np.broadcast_to(np.arange(6.0), (4, 4, 6)).copy()
    >>> slab_levels(image, image >= 0, axis=2, slab_slices=3, percentile=50, min_voxels=1).tolist()
    [1.0, 1.0, 2.0, 3.0, 4.0, 4.0]

    A thin lumen, one candidate per slice: three per slab, six in all:

    >>> thin = np.zeros(image.shape, bool)
    >>> thin[0, 0] = True
    >>> slab_levels(image, thin, axis=2, slab_slices=3, percentile=50, min_voxels=4).tolist()
    [2.5, 2.5, 2.5, 2.5, 2.5, 2.5]
    >>> slab_levels(image, thin, axis=2, slab_slices=3, percentile=50, min_voxels=7) is None
    True
    """
    count = image.shape[axis]
    centres, levels = [], []
    for start in range(0, count, slab_slices):
        stop = min(start + slab_slices, count)
        window = [slice(None)] * 3
        window[axis] = slice(start, stop)
        values = image[tuple(window)][candidates[tuple(window)]]
        if values.size >= min_voxels and np.percentile(values, percentile) >= min_level:
            centres.append((start + stop - 1) / 2)
            levels.append(float(np.percentile(values, percentile)))
    if not levels:
        values = image[candidates]
        pooled = float(np.percentile(values, percentile)) if values.size >= min_voxels else None
        if pooled is None or pooled < min_level:
            return None
        centres, levels = [0.0], [pooled]
    return np.interp(np.arange(count, dtype=np.float64), centres, levels)


def along_axis(values: np.ndarray, axis: int) -> np.ndarray:
    """A per-slice 1D array shaped to broadcast against a 3D array along `axis`."""
    shape = [1, 1, 1]
    shape[axis] = values.size
    return values.reshape(shape)
