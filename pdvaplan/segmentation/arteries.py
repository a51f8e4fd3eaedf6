"""Stages "levels" and "arteries": the artery contrast level, the patent lumen, what the phase
difference says about it.

* **Levels measured in the image.** A lumen's contrast level is a
  percentile (95th for arteries) of candidate voxels in slabs along the leg,
  so contrast that differs between patients or fades distally moves the
  thresholds with it. Candidates are found on a 2 x 2 x 2 block-mean grid
  (cheap, and block means quiet the noise), away from calcium and bone,
  whose blur brightens both phases; a slab whose level has less than half the
  overall contrast holds no patent vessel and is interpolated over.
* **Lumen fraction and hysteresis.** The boundary sits where half a voxel is
  lumen (best for overlap with the true lumen); sure seeds at 0.8 keep noise
  out while a stenosis down to half the lumen stays connected. Occluded
  stretches carry no contrast, so they reach neither threshold.
* **The phase difference removes blur that is equal in both phases.**
  Calcium and bone blur brighten the arterial phase as much as the venous
  one. Near calcium and bone a lumen voxel must be brighter in the arterial
  than in the venous phase by half the lumen's difference between the phases
  (where the noise lets that be told); a voxel brighter in the venous phase
  than a lumen can be there must pass it too, and fails where it cannot be
  told. Artery pieces lying mostly in calcium's rim unconfirmed by the
  difference (an arc's blur on an occluded stretch) are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pdvaplan.errors import PdvaplanInputError
from pdvaplan.filters import Components, within_mm
from pdvaplan.segmentation.levels import along_axis
from pdvaplan.segmentation.lumen import at_fraction, lumen_candidates, lumen_mask
from pdvaplan.segmentation.phases import SmoothedPhases
from pdvaplan.segmentation.settings import SegmentationSettings


def artery_level(
    phases: SmoothedPhases,
    hidden: np.ndarray,
    hidden_coarse: np.ndarray,
    bone_near: np.ndarray,
    settings: SegmentationSettings,
    source: str,
) -> np.ndarray:
    """Contrast level (HU) of a full artery lumen in the arterial phase, per slice along the leg.

    Measured away from calcium's blur (`hidden`) and bone (`bone_near`).

    Raises
    ------
    PdvaplanInputError
        If no contrast-filled artery is found (naming `source`); saying so when
        contrast lies only within calcified walls' blur (a pipe-stem artery the
        only one patent: its lumen's level cannot be told from its calcium's).
    """
    background = phases.background_hu
    detected = lumen_candidates(
        phases,
        phases.arterial_sharp,
        phases.sigma_mm,
        ~(hidden | bone_near),
        hidden_coarse,
        settings,
    )
    level = phases.coarse.levels(
        phases.arterial_sharp,
        detected,
        settings.level_percentile,
        background + settings.min_contrast_hu,
        background,
    )
    if level is None:
        unhidden = np.zeros_like(hidden_coarse)
        if lumen_candidates(
            phases, phases.arterial_sharp, phases.sigma_mm, ~bone_near, unhidden, settings
        ).any():
            raise PdvaplanInputError(
                f"{source}: contrast found only within calcified walls' blur (an artery "
                "calcified all round, the only one patent?), where a lumen's level cannot be "
                "told from calcium's: no plan from these phases; plan a label map of the "
                "lumens instead (--labels)"
            )
        raise PdvaplanInputError(f"{source}: no contrast-filled artery found")
    return level


def artery_lumen(
    phases: SmoothedPhases,
    level_hu: np.ndarray,
    bone_rim: np.ndarray,
    settings: SegmentationSettings,
) -> np.ndarray:
    """Patent artery lumen: hysteresis on the arterial phase's lumen fraction, outside the
    bone's rim."""
    return lumen_mask(
        phases,
        phases.arterial_sharp,
        level_hu,
        settings.seed_fraction,
        ~bone_rim,
        settings.min_artery_mm3,
        settings,
    )


@dataclass
class PhaseDifference:
    """What the difference between the phases tells about the artery lumen.

    Attributes
    ----------
    ratio : numpy.ndarray
        Per slice: a full artery lumen's contrast in the venous phase over its
        contrast in the arterial phase (measured in the lumen's core).
    artery_venous_hu : numpy.ndarray
        Per slice: a full artery lumen's level in the venous phase.
    told : numpy.ndarray
        Per slice: whether a lumen's two phases differ enough (over four noise
        sigmas) for the test to tell.
    brighter : numpy.ndarray or None
        Voxels brighter in the arterial phase than in the venous one by half
        a full lumen's difference (where `told`); None once used.
    """

    ratio: np.ndarray
    artery_venous_hu: np.ndarray
    told: np.ndarray
    brighter: np.ndarray | None


def phase_difference(
    phases: SmoothedPhases,
    artery: np.ndarray,
    level_hu: np.ndarray,
    hidden: np.ndarray,
    settings: SegmentationSettings,
    source: str,
) -> PhaseDifference:
    """Measure the artery lumen's contrast in both phases and test every voxel's difference.

    The core of the lumen (seed-bright, away from calcium's blur) gives each
    slab's median in both phases. Calcium blur left in the core would pull a
    slab's venous level up towards its arterial one; the venous level of a
    lumen varies little along the leg, so it is capped at
    `settings.venous_tolerance` times the typical one (over the background).

    Raises
    ------
    PdvaplanInputError
        If the lumen has no core (naming `source`).
    """
    coarse, background = phases.coarse, phases.background_hu
    art, ven = phases.arterial, phases.venous
    # The core is where the sharp arterial phase shows a full lumen; the levels there
    # are read from the phases as compared (equally sharp).
    sharp = art if phases.arterial_sharp is None else phases.arterial_sharp
    core = coarse(sharp) >= coarse(at_fraction(phases, level_hu, settings.seed_fraction))
    core &= coarse(artery)
    core &= ~coarse(hidden)
    if phases.venous_sure is not None:
        # Where the venous volume ends (a second acquisition of the leg moved) its zeros
        # would pass for an artery darker than soft tissue in the venous phase.
        core &= coarse(phases.venous_sure)
    core_arterial = coarse.levels(art, core, 50.0)
    if core_arterial is None:
        raise PdvaplanInputError(f"{source}: no contrast-filled artery found")
    core_venous = coarse.levels(ven, core, 50.0)
    typical_venous = float(np.median(coarse(ven)[core]))
    core_venous = np.minimum(
        core_venous, background + settings.venous_tolerance * (typical_venous - background)
    )
    ratio = (core_venous - background) / np.maximum(core_arterial - background, 1.0)
    half_difference = _half_difference(ratio, level_hu, background, 4.0 * phases.noise_hu)
    told = np.isfinite(half_difference)
    brighter = _brighter_in_arterial(art, ven, np.where(told, half_difference, np.inf), phases.axis)
    return PhaseDifference(
        ratio=ratio,
        artery_venous_hu=background + ratio * (level_hu - background),
        told=told,
        brighter=brighter,
    )


def brighter_than_lumen_hu(
    phases: SmoothedPhases, difference: PhaseDifference, settings: SegmentationSettings
) -> np.ndarray:
    """Per slice, shaped to broadcast against the phases (float32): a venous-phase value
    (HU) no artery lumen reaches there (its measured venous-phase level, a share of its
    contrast more, and three noise sigmas)."""
    venous_level = difference.artery_venous_hu
    background = phases.background_hu
    level = (
        venous_level + settings.suspect_margin * (venous_level - background) + 3.0 * phases.noise_hu
    )
    return along_axis(level.astype(np.float32), phases.axis)


def clean_arteries(
    artery: np.ndarray,
    phases: SmoothedPhases,
    difference: PhaseDifference,
    calcium: np.ndarray,
    bone_near: np.ndarray,
    settings: SegmentationSettings,
    source: str,
) -> np.ndarray:
    """The artery lumen without what calcium's and bone's blur made look like lumen.

    Near calcium and bone, their blur (equal in both phases) brightens the
    arterial phase too: a voxel there stays lumen only if the phase
    difference says so (or cannot tell). Where the venous phase is brighter
    than a lumen can be, something bright in both phases adds to it: the
    voxel must pass the phase-difference test, and fails where the test
    cannot tell. Calcium is not lumen. An artery piece lying mostly in
    calcium's rim where the phase difference does not confirm it is the blur
    of an arc on an occluded (unenhanced) stretch: it is dropped. Uses up
    ``difference.brighter``.

    Raises
    ------
    PdvaplanInputError
        If no artery is left (naming `source`).
    """
    spacing, axis = phases.spacing_mm, phases.axis
    calcium_rim = within_mm(calcium, spacing, settings.calcium_rim_mm)
    too_bright = brighter_than_lumen_hu(phases, difference, settings)
    brighter = difference.brighter
    difference.brighter = None
    suspect = phases.venous > too_bright
    suspect &= ~brighter
    near = calcium_rim | bone_near
    near &= ~brighter
    # Where the test cannot tell, a voxel near calcium or bone is not held suspect.
    near &= along_axis(difference.told, axis)
    suspect |= near
    del near
    artery &= ~suspect
    artery &= ~calcium
    del suspect
    # A piece in calcium's rim is lumen where the phase difference confirms it (a
    # pipe-stem artery lies wholly in its calcium's rim), blur where it does not.
    unconfirmed = calcium_rim & ~brighter
    del brighter
    parts = Components(artery)
    in_rim = np.bincount(parts.ids[unconfirmed.ravel()[parts.flat]], minlength=parts.count)
    sizes = parts.sizes()
    artery = parts.mask(
        (sizes * float(np.prod(spacing)) >= settings.min_artery_mm3)
        & (in_rim <= settings.halo_share * sizes)
    )
    if not artery.any():
        raise PdvaplanInputError(f"{source}: no contrast-filled artery found")
    return artery


def _half_difference(ratio, level_hu, background_hu, least_hu):
    """Half a full lumen's arterial-minus-venous difference per slice; NaN where below `least_hu`.

    Calcium and bone blur add the same value to both phases, so the
    difference keeps only the lumen's share. Where a lumen's two phases
    differ by less than `least_hu` (the ratio near 1, or noise too high) the
    test cannot tell.
    """
    difference = (1.0 - ratio) * (level_hu - background_hu)
    return np.where(difference >= least_hu, 0.5 * difference, np.nan)


def _brighter_in_arterial(arterial, venous, half_difference, axis):
    """Voxels whose arterial-minus-venous difference reaches `half_difference` (per slice).

    Computed slab by slab (float32 difference, as a whole-image one would be),
    so no full-size float image is made.
    """
    out = np.empty(arterial.shape, bool)
    threshold = along_axis(half_difference.astype(np.float32), axis)
    step = max(1, 4_000_000 // max(arterial.shape[1] * arterial.shape[2], 1))
    for lo in range(0, arterial.shape[0], step):
        part = slice(lo, lo + step)
        difference = np.subtract(arterial[part], venous[part], dtype=np.float32)
        np.greater_equal(difference, threshold[part] if axis == 0 else threshold, out=out[part])
    return out
