"""Stage "smooth": both phases on the working crop, smoothed as the noise asks, on one background.

* **Gaussian smoothing in mm, as strong as the noise asks.** The noise is
  measured in soft tissue (spread above the histogram mode); 0.4 mm up to
  20 HU of noise, rising to 0.55 mm at 35 HU (veins, larger: 0.8 to 1.0 mm).
  More smoothing shrinks small lumens in clean images; with heavy noise the
  boundary's jitter costs more. Above 20 HU the phases are also smoothed
  along the leg (the axis nearest z), up to 1 mm more at 35 HU: the tibial
  vessels run along the leg, so this averages noise along them without
  blurring their cross-section (random leg 14, 35 HU on 1.0-1.5 mm arteries:
  artery Dice 0.877 -> 0.906); more would blur short stenoses. In mm, so the
  result does not depend on the voxel spacing.
* **One background.** The soft-tissue level (the mode of soft tissue) is the
  background both phases' lumen contrast is measured from; the venous
  phase's soft tissue (enhanced a little in a real venous phase, a few HU off
  after calibrating two acquisitions) is moved onto the arterial phase's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pdvaplan.segmentation.coarse import CoarseGrid
from pdvaplan.segmentation.filters import smooth_mm
from pdvaplan.segmentation.levels import noise_hu, soft_tissue_hu
from pdvaplan.segmentation.settings import SegmentationSettings


@dataclass
class SmoothedPhases:
    """Both phases smoothed on the working crop, and what the later stages measure them by.

    Attributes
    ----------
    arterial, venous : numpy.ndarray
        The smoothed phases (float32, HU) on the crop; the venous one on the
        arterial grid, its soft tissue moved onto the arterial one's. Later
        stages may consume them (set to None when done).
    both : numpy.ndarray or None
        The smaller of the two at each voxel: bright only where both are
        (bone, calcium).
    covered : numpy.ndarray or None
        Crop voxels the venous volume reaches (None: all).
    spacing_mm : numpy.ndarray
        Voxel size.
    axis : int
        Index axis nearest physical z (along the leg).
    coarse : CoarseGrid
        Where candidates are found and levels measured.
    background_hu : float
        Soft-tissue level of the arterial phase.
    noise_hu : float
        Noise left in the smoothed arterial phase (soft-tissue spread).
    sigma_mm : numpy.ndarray
        Smoothing applied to both phases, per axis (mm).
    vein_sigma_mm : float
        Further smoothing of the veins' image (mm).
    venous_offset_hu : float
        How far the venous phase's soft tissue lay above the arterial phase's.
    """

    arterial: np.ndarray | None
    venous: np.ndarray | None
    both: np.ndarray | None
    covered: np.ndarray | None
    spacing_mm: np.ndarray
    axis: int
    coarse: CoarseGrid
    background_hu: float
    noise_hu: float
    sigma_mm: np.ndarray
    vein_sigma_mm: float
    venous_offset_hu: float


def smooth_phases(
    arterial_crop: np.ndarray,
    venous_crop: np.ndarray,
    covered: np.ndarray | None,
    spacing_mm: np.ndarray,
    axis: int,
    settings: SegmentationSettings,
) -> SmoothedPhases:
    """Smooth both phases of the working crop as their noise asks, on one background.

    Parameters
    ----------
    arterial_crop, venous_crop : numpy.ndarray
        The phases in HU on the crop of the arterial grid (the venous one
        registered and resampled onto it).
    covered : numpy.ndarray or None
        Crop voxels the venous volume reaches.
    spacing_mm : numpy.ndarray
        Voxel size.
    axis : int
        Index axis nearest physical z.
    settings : SegmentationSettings

    Returns
    -------
    SmoothedPhases
    """
    auto_artery, auto_vein, auto_along = smoothing_for(noise_hu(arterial_crop[::2, ::2, ::2]))
    smoothing = auto_artery if settings.smoothing_mm is None else settings.smoothing_mm
    vein_smoothing = auto_vein if settings.vein_smoothing_mm is None else settings.vein_smoothing_mm
    along = settings.along_leg_smoothing_mm
    along = auto_along if along is None else along
    sigma_mm = np.full(3, smoothing)
    sigma_mm[axis] = np.hypot(smoothing, along)
    art = smooth_mm(arterial_crop, spacing_mm, sigma_mm)
    ven = smooth_mm(venous_crop, spacing_mm, sigma_mm)
    coarse = CoarseGrid(art.shape, spacing_mm, axis, settings.level_slab_mm)
    background = soft_tissue_hu(coarse(art))
    venous_offset_hu = soft_tissue_hu(coarse(ven)) - background
    ven -= np.float32(venous_offset_hu)
    return SmoothedPhases(
        arterial=art,
        venous=ven,
        both=np.minimum(art, ven),
        covered=covered,
        spacing_mm=np.asarray(spacing_mm, dtype=np.float64),
        axis=axis,
        coarse=coarse,
        background_hu=background,
        noise_hu=smoothed_noise_hu(coarse(art), background),
        sigma_mm=sigma_mm,
        vein_sigma_mm=float(np.sqrt(max(vein_smoothing**2 - smoothing**2, 0.0))),
        venous_offset_hu=float(venous_offset_hu),
    )


def smoothing_for(noise_hu: float) -> tuple[float, float, float]:
    """Artery-phase, vein and further along-the-leg smoothing (mm) for an image noise (HU).

    Measured on the phantom sweep: more smoothing than 0.4 mm shrinks small
    lumens in clean images, but with 30-35 HU of noise the boundary's jitter
    costs more than the blur (0.55 mm there; the veins, larger, take 1.0 mm).
    Along the leg (along the vessels) 1 mm more at 35 HU lifts the artery
    Dice of the noisy legs by 0.01-0.03; 1.5-2 mm lifts the long legs a little
    more but blurs 6 mm stenoses (more false lumen there) and starts to cost
    small arteries.

    Examples
    --------
    >>> smoothing_for(10.0), smoothing_for(35.0)
    ((0.4, 0.8, 0.0), (0.55, 1.0, 1.0))
    """
    artery = float(np.clip(0.4 + 0.01 * (noise_hu - 20.0), 0.4, 0.55))
    vein = float(np.clip(0.8 + 0.02 * (noise_hu - 25.0), 0.8, 1.0))
    along = float(np.clip((noise_hu - 20.0) / 15.0, 0.0, 1.0))
    return artery, vein, along


def smoothed_noise_hu(image: np.ndarray, background: float, window_hu: float = 50.0) -> float:
    """Noise (standard deviation, HU) of a smoothed `image` in soft tissue: the median
    absolute deviation about the background of the values within `window_hu` of it."""
    values = image[np.abs(image - np.float32(background)) <= window_hu]
    if values.size < 100:
        return 0.0
    return float(1.4826 * np.median(np.abs(values - np.float32(background))))
