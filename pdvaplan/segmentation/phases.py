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
* **One sharpness.** Two acquisitions on two grids are not equally sharp:
  the venous phase resampled from another grid is blurrier (its own voxels,
  and the interpolation), and where the phases disagree about something
  bright in both, unmixing leaves a halo that joins veins to arteries (and
  crossings are planned into short spurs at the ends of calcified arcs).
  Across the leg the blur of each phase is measured where
  both show the same step, at the bone surface (`edge_sigma_mm`); along the
  leg, where a bone shaft shows no step, it is estimated from the grids (a
  voxel's box, s²/12, and for the resampled phase the linear
  interpolation's s²/6 on average). The sharper phase is smoothed to match
  for everything that compares the phases; the arteries are found in the
  arterial phase as sharp as it came (matched, random legs 14 and 15 lost
  their small arteries' centres by up to 0.9 mm).
* **One background.** The soft-tissue level (the mode of soft tissue) is the
  background both phases' lumen contrast is measured from; the venous
  phase's soft tissue (enhanced a little in a real venous phase, a few HU off
  after calibrating two acquisitions) is moved onto the arterial phase's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from pdvaplan.filters import inside_distance_mm, smooth_mm
from pdvaplan.segmentation.bone import bright_surface
from pdvaplan.segmentation.coarse import CoarseGrid
from pdvaplan.segmentation.levels import noise_hu, soft_tissue_hu
from pdvaplan.segmentation.settings import SegmentationSettings


@dataclass
class SmoothedPhases:
    """Both phases smoothed on the working crop, and what the later stages measure them by.

    Attributes
    ----------
    arterial, venous : numpy.ndarray
        The smoothed phases (float32, HU) on the crop, equally sharp (what
        compares or unmixes them uses these); the venous one on the arterial
        grid, its soft tissue moved onto the arterial one's. Later stages may
        consume them (set to None when done).
    arterial_sharp : numpy.ndarray or None
        The arterial phase with its own smoothing only (the arteries are found
        in it: smoothing it to a blurrier venous phase would cost small
        arteries); the same array as `arterial` when it needed no matching.
    both : numpy.ndarray or None
        The smaller of the two at each voxel: bright only where both are
        (bone, calcium).
    covered : numpy.ndarray or None
        Crop voxels the venous volume reaches (None: all).
    venous_sure : numpy.ndarray or None
        Covered voxels beyond the smoothing's reach of where the venous volume
        ends (its zeros outside pull the smoothed venous phase down nearer
        than that); None: all.
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
    edge_sigma_mm : tuple of two floats or None
        The blur (Gaussian sigma, mm, across the leg) of each phase at the bone
        surface, as given; None without bone.
    sharpness_match_mm : tuple of two numpy.ndarray
        Further smoothing (mm, per axis) given to the arterial and the venous
        phase to match the other's blur.
    """

    arterial: np.ndarray | None
    venous: np.ndarray | None
    arterial_sharp: np.ndarray | None
    both: np.ndarray | None
    covered: np.ndarray | None
    venous_sure: np.ndarray | None
    spacing_mm: np.ndarray
    axis: int
    coarse: CoarseGrid
    background_hu: float
    noise_hu: float
    sigma_mm: np.ndarray
    vein_sigma_mm: float
    venous_offset_hu: float
    edge_sigma_mm: tuple[float, float] | None = None
    sharpness_match_mm: tuple[np.ndarray, np.ndarray] = (np.zeros(3), np.zeros(3))


def smooth_phases(
    arterial_crop: np.ndarray,
    venous_crop: np.ndarray,
    covered: np.ndarray | None,
    spacing_mm: np.ndarray,
    axis: int,
    settings: SegmentationSettings,
    venous_step_along_mm: float | None = None,
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
    venous_step_along_mm : float, optional
        The venous acquisition's voxel size along the leg when the venous
        phase was resampled onto the arterial grid (None: it lies on it).

    Returns
    -------
    SmoothedPhases
    """
    edge_sigma = edge_sigma_mm((arterial_crop, venous_crop), spacing_mm, axis)
    match = _match_sharpness(edge_sigma, axis, spacing_mm[axis], venous_step_along_mm)
    auto_artery, auto_vein, auto_along = smoothing_for(noise_hu(arterial_crop[::2, ::2, ::2]))
    smoothing = auto_artery if settings.smoothing_mm is None else settings.smoothing_mm
    vein_smoothing = auto_vein if settings.vein_smoothing_mm is None else settings.vein_smoothing_mm
    along = settings.along_leg_smoothing_mm
    along = auto_along if along is None else along
    sigma_mm = np.full(3, smoothing)
    sigma_mm[axis] = np.hypot(smoothing, along)
    sharp = smooth_mm(arterial_crop, spacing_mm, sigma_mm)
    art = smooth_mm(sharp, spacing_mm, match[0]) if np.any(match[0]) else sharp
    venous_sigma_mm = np.hypot(sigma_mm, match[1])
    ven = smooth_mm(venous_crop, spacing_mm, venous_sigma_mm)
    coarse = CoarseGrid(art.shape, spacing_mm, axis, settings.level_slab_mm)
    background = soft_tissue_hu(coarse(art))
    # The venous soft tissue is read where the venous volume reaches: the zeros outside
    # it would pass for the tissue's mode when they are many.
    venous_sample = coarse(ven) if covered is None else coarse(ven)[coarse(covered)]
    venous_offset_hu = soft_tissue_hu(venous_sample) - background
    ven -= np.float32(venous_offset_hu)
    return SmoothedPhases(
        arterial=art,
        venous=ven,
        arterial_sharp=sharp,
        both=np.minimum(art, ven),
        covered=covered,
        venous_sure=None
        if covered is None
        else inside_distance_mm(covered, spacing_mm)
        > 3.0 * float(np.max(venous_sigma_mm)) + float(np.max(spacing_mm)),
        spacing_mm=np.asarray(spacing_mm, dtype=np.float64),
        axis=axis,
        coarse=coarse,
        background_hu=background,
        noise_hu=noise_hu(coarse(art), SMOOTHED_WINDOW_HU, background, above_only=False),
        sigma_mm=sigma_mm,
        vein_sigma_mm=float(np.sqrt(max(vein_smoothing**2 - smoothing**2, 0.0))),
        venous_offset_hu=float(venous_offset_hu),
        edge_sigma_mm=edge_sigma,
        sharpness_match_mm=match,
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


#: The smoothed arterial phase's noise is read within this far of soft tissue's level (HU).
SMOOTHED_WINDOW_HU = 50.0
#: The bone surface: where a (smoothed) phase crosses this level (HU).
EDGE_LEVEL_HU = 600.0
#: Smallest section (mm²) of a bright region taken for bone.
EDGE_MIN_AREA_MM2 = 50.0
#: Slices along the leg this far apart (mm) are measured.
EDGE_EVERY_MM = 8.0
#: A blur difference below this (mm, as further smoothing) is left alone: within what the
#: measurement tells apart (phases on one grid differ by 0.04 mm).
MATCH_AT_LEAST_MM = 0.2


def edge_sigma_mm(
    images: tuple[np.ndarray, ...], spacing_mm: np.ndarray, axis: int
) -> tuple[float, ...] | None:
    """The blur of each image at the bone surface of the first: a Gaussian's sigma (mm).

    In slices across the leg every `EDGE_EVERY_MM`, the first image (smoothed
    by 1 mm) gives the surface of its bone (sections of at least
    `EDGE_MIN_AREA_MM2` above `EDGE_LEVEL_HU`) and the normal there; each
    image is sampled along the normals (+-3 mm), and the distance over which
    it falls from 75 % to 25 % of the way from the cortex (its peak within
    1.5 mm inside) to soft tissue (2-3 mm outside) is 1.349 sigma of a
    Gaussian blur. The median over the surface is returned per image, None
    when there is no bone.

    Examples
    --------
    >>> from scipy import ndimage
    >>> yy, xx = np.mgrid[:90, :90]
    >>> ring = np.hypot(yy - 45, xx - 45)
    >>> bone = np.where((ring < 25) & (ring > 12), 1200.0, 50.0)
    >>> volume = np.repeat(bone[:, :, None], 10, axis=2).astype(np.float32)
    >>> sharp = ndimage.gaussian_filter(volume, (1.0, 1.0, 0))
    >>> blurred = ndimage.gaussian_filter(volume, (2.0, 2.0, 0))
    >>> [round(s, 1) for s in edge_sigma_mm((sharp, blurred), np.full(3, 0.5), 2)]
    [0.5, 1.0]
    """
    spacing_mm = np.asarray(spacing_mm, dtype=np.float64)
    across = [a for a in range(3) if a != axis]
    plane_spacing = spacing_mm[across]
    steps = np.arange(-3.0, 3.0 + 1e-9, 0.1)
    widths: list[list[np.ndarray]] = [[] for _ in images]
    every = max(1, round(EDGE_EVERY_MM / spacing_mm[axis]))
    for k in range(0, images[0].shape[axis], every):
        index = [slice(None)] * 3
        index[axis] = k
        planes = [np.asarray(image[tuple(index)], dtype=np.float32) for image in images]
        guide = ndimage.gaussian_filter(planes[0], 1.0 / plane_spacing)
        points = bright_surface(guide, EDGE_LEVEL_HU, plane_spacing, EDGE_MIN_AREA_MM2)
        if len(points) == 0:
            continue
        gradient = np.stack([g[tuple(points.T)] for g in np.gradient(guide, *plane_spacing)], 1)
        norm = np.linalg.norm(gradient, axis=1)
        keep = norm > 1e-3
        normal = -gradient[keep] / norm[keep, None]
        along = points[keep][:, None, :] + (normal / plane_spacing)[:, None, :] * steps[:, None]
        for store, plane in zip(widths, planes, strict=True):
            profile = ndimage.map_coordinates(
                plane, along.reshape(-1, 2).T, order=1, mode="nearest"
            ).reshape(len(normal), -1)
            store.append(_fall_width_mm(profile, steps))
    found = [np.concatenate(w) if w else np.zeros(0) for w in widths]
    if any(w.size < 50 for w in found):
        return None
    return tuple(float(np.median(w)) / 1.349 for w in found)


def _fall_width_mm(profiles: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Per profile (bright inside, dark outside): the distance from its 75 % to its 25 %
    crossing after its peak; profiles with less than 300 HU of step are left out."""
    inside = profiles[:, :15]
    peak = inside.argmax(axis=1)
    top = inside.max(axis=1)
    tissue = np.median(profiles[:, -10:], axis=1)
    step = top - tissue
    keep = step > 300.0
    positions = []
    after_peak = np.arange(profiles.shape[1] - 1)[None, :] >= peak[:, None]
    for share in (0.75, 0.25):
        level = (tissue + share * step)[:, None]
        falls = after_peak & (profiles[:, :-1] >= level) & (profiles[:, 1:] < level)
        first = falls.argmax(axis=1)
        found = falls[np.arange(len(falls)), first]
        rows = np.arange(len(falls))
        lo, hi = profiles[rows, first], profiles[rows, first + 1]
        t = (lo - level[:, 0]) / np.maximum(lo - hi, 1e-6)
        positions.append(np.where(found, steps[first] + t * (steps[1] - steps[0]), np.nan))
        keep &= found
    return (positions[1] - positions[0])[keep]


def _match_sharpness(
    edge_sigma: tuple[float, float] | None,
    axis: int,
    arterial_step_along_mm: float,
    venous_step_along_mm: float | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Further smoothing (mm, per axis) of the arterial and the venous phase that gives both
    the blur of the blurrier one: across the leg from the measured `edge_sigma`, along it
    from the grids (see the module docstring); none below `MATCH_AT_LEAST_MM`."""
    arterial, venous = np.zeros(3), np.zeros(3)
    across = [a for a in range(3) if a != axis]
    if edge_sigma is not None:
        variance = edge_sigma[1] ** 2 - edge_sigma[0] ** 2
        _add(arterial if variance > 0 else venous, across, variance)
    if venous_step_along_mm is not None:
        variance = venous_step_along_mm**2 / 4.0 - arterial_step_along_mm**2 / 12.0
        _add(arterial if variance > 0 else venous, [axis], variance)
    return arterial, venous


def _add(sigma_mm: np.ndarray, axes: list[int], variance_mm2: float) -> None:
    extra = float(np.sqrt(abs(variance_mm2)))
    if extra >= MATCH_AT_LEAST_MM:
        sigma_mm[axes] = extra
