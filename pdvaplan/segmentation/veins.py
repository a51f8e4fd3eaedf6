"""Stage "veins": vein lumen from the venous phase with the arteries unmixed.

* **Veins from the unmixed venous phase.** Veins are unenhanced in the
  arterial phase, so it separates arteries from veins. In the venous phase
  arteries are moderately bright too; both phases see the same anatomy
  through the same blur, so subtracting the arteries' share (their arterial
  contrast times the measured venous/arterial ratio) leaves only the veins.
  A vein one voxel away from its artery then does not merge with it, without
  any shape prior. The image is smoothed more than the arteries' (veins are
  larger), so veins are seeded at 0.6 of a full lumen: a small vein's centre
  never reaches 0.8 there (whole veins went missing).
* **A vein against bone keeps its bone side.** Veins are found outside a rim
  around the bone (the bone's blur brightens the unmixed venous image there),
  then grown into the rim next to them where the phase difference itself
  (venous minus the whole arterial contrast, in which bone cancels) shows
  lumen. Where the phases disagree at bone edges (misregistration leaves
  bands of both signs there), the rim's own negative tail raises that
  threshold, so bone edges do not become veins.
"""

from __future__ import annotations

import numpy as np

from pdvaplan.boxes import bounding_box
from pdvaplan.errors import PdvaplanInputError
from pdvaplan.filters import Components, components_touching, smooth_mm, within_mm
from pdvaplan.segmentation.bone import BoneMasks
from pdvaplan.segmentation.levels import along_axis
from pdvaplan.segmentation.lumen import at_fraction, lumen_candidates, lumen_mask, unmix_artery
from pdvaplan.segmentation.phases import SmoothedPhases
from pdvaplan.segmentation.settings import SegmentationSettings


def find_veins(
    phases: SmoothedPhases,
    artery: np.ndarray,
    calcium: np.ndarray,
    dense: np.ndarray,
    hidden_coarse: np.ndarray,
    bone: BoneMasks,
    ratio: np.ndarray,
    settings: SegmentationSettings,
    source: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Vein lumen, and a full vein lumen's level (HU, per slice) in the unmixed venous phase.

    Uses up the smoothed phases (the unmixing overwrites them) and the bone's
    rim and zone (``bone.rim``, ``bone.near`` set to None).

    Parameters
    ----------
    phases : SmoothedPhases
    artery, calcium : numpy.ndarray
        The artery lumen and calcium found.
    dense : numpy.ndarray
        Calcium with its blur (`pdvaplan.segmentation.calcium.calcium_blur`).
    hidden_coarse : numpy.ndarray
        Coarse voxels hidden from the levels.
    bone : BoneMasks
    ratio : numpy.ndarray
        Per slice: an artery's venous over arterial contrast.
    settings : SegmentationSettings
    source : str
        The venous phase's name, for messages.

    Raises
    ------
    PdvaplanInputError
        If no contrast-filled vein is found.
    """
    spacing, axis, coarse = phases.spacing_mm, phases.axis, phases.coarse
    background = phases.background_hu
    vein_sigma = phases.vein_sigma_mm
    art, ven = phases.arterial, phases.venous
    phases.arterial = phases.venous = None
    # Near bone, whose blur brightens both phases alike, a vein's share is the phase
    # difference itself (ratio 1): the bone cancels there. Kept for the bone's shell
    # (its rim outside the bone) only, to give veins found outside the rim back the
    # lumen they have inside it (`_grow_into_rim`).
    shell = Shell(bone.rim & ~bone.bone, art, ven, background)
    # Unmixed in place (art is scratch, ven takes the result): no full-size temporaries.
    unmixed = unmix_artery(ven, art, background, along_axis(ratio, axis), overwrite=True)
    del art, ven
    # Veins are hidden from a narrower rim: one may run a voxel from calcified wall. Along
    # the leg the rim is longer by the registration's uncertainty there (a leg is nearly a
    # cylinder): where an arc ends, phases a fraction of a mm apart disagree about its
    # calcium by hundreds of HU, which unmixing turns into a bridge from vein to artery.
    rim_mm, along_mm = settings.vein_calcium_rim_mm, settings.vein_calcium_along_mm
    stretched = spacing.copy()
    stretched[axis] *= rim_mm / (rim_mm + along_mm)  # an ellipsoid as a ball
    unmixed[within_mm(dense, stretched, rim_mm)] = np.float32(background)
    residual = smooth_mm(unmixed, spacing, vein_sigma)
    free = ~artery
    if phases.covered is not None:
        free &= phases.covered
    free &= ~within_mm(calcium, spacing, settings.vein_calcium_rim_mm)
    # Near bone: the rim, and the zone the rim's hidden blur (bone is dense, so
    # hidden) reaches when smoothed.
    near_bone = bone.rim | bone.near
    near_bone &= free
    near_bone &= ~bone.bone
    free &= ~bone.rim
    bone.rim = None
    vein_level = coarse.levels(
        residual,
        lumen_candidates(
            phases,
            residual,
            np.hypot(phases.sigma_mm, vein_sigma),
            free & ~bone.near,
            hidden_coarse,
            settings,
        ),
        settings.vein_level_percentile,
        background + settings.min_contrast_hu,
        background,
    )
    if vein_level is None:
        raise PdvaplanInputError(f"{source}: no contrast-filled vein found")
    bone.near = None
    vein = lumen_mask(
        phases,
        residual,
        vein_level,
        settings.vein_seed_fraction,
        free,
        settings.min_vein_mm3,
        settings,
    )
    del residual, free
    if not vein.any():
        raise PdvaplanInputError(f"{source}: no contrast-filled vein found")
    # Only the voxels near bone next to a vein found outside the rim (within the
    # rim's width) may be that vein's lumen; bone edges elsewhere stay out
    # whatever the phases do there. Measured on the coarse grid, a coarse voxel
    # further (a guard, not a boundary).
    reach_mm = bone.rim_mm + 2.0 * float(np.max(spacing)) + float(np.max(coarse.spacing))
    near_bone &= coarse.expand(within_mm(coarse.any(vein), coarse.spacing, reach_mm))
    # Where the phases disagree at bone edges (misregistration), the shell's own
    # values set a higher threshold there; arteries (darker) are left out of it.
    near_artery = within_mm(artery, spacing, settings.artery_clearance_mm)
    floor = shell.floor_hu(
        axis,
        max(1, round(settings.level_slab_mm / spacing[axis])),
        ~near_artery.ravel()[shell.flat],
    )
    del near_artery
    low = np.fmax(at_fraction(phases, vein_level, settings.boundary_fraction).ravel(), floor)
    vein = _grow_into_rim(
        vein,
        near_bone,
        unmixed,
        shell,
        bone.bone,
        background,
        spacing,
        vein_sigma,
        along_axis(low, axis),
        axis,
    )
    return vein, vein_level


class Shell:
    """The phase difference (venous minus arterial contrast) on the voxels of a mask.

    Held as flat indices and values, so a thin shell around the bone costs
    little, and read back into any box (`into`).
    """

    def __init__(self, mask, arterial, venous, background) -> None:
        self.shape = mask.shape
        self.flat = np.flatnonzero(mask)
        contrast = arterial.ravel()[self.flat] - np.float32(background)
        self.values = venous.ravel()[self.flat] - np.maximum(contrast, np.float32(0.0))

    def floor_hu(self, axis: int, slab: int, keep: np.ndarray, tail: float = 2.0) -> np.ndarray:
        """Per slice along `axis`: the level the shell's values reach without a vessel.

        Where the phases are registered, bone and its blur cancel and the shell
        holds background and noise, plus veins (brighter) and arteries (darker,
        left out by the caller). Where they are not, each bone edge leaves a
        band of both signs. A vein adds only positive values, so the negative
        tail measures the rest: the median plus its distance to the `tail`
        percentile, per slab of `slab` slices (all slices where a slab holds
        too few values), over the shell's voxels where `keep` (bool, one per
        voxel of the shell) is True.
        """
        count = self.shape[axis]
        where = np.unravel_index(self.flat[keep], self.shape)[axis] // slab
        kept = self.values[keep]
        out = np.full(count, np.nan)
        if kept.size == 0:
            return out
        overall = _median_and_tail(kept, tail)
        for n in range(-(-count // slab)):
            values = kept[where == n]
            level = _median_and_tail(values, tail) if values.size >= 100 else overall
            out[n * slab : (n + 1) * slab] = level
        return out

    def into(self, image: np.ndarray, low: np.ndarray, high: np.ndarray) -> None:
        """Write the shell's values into `image`, the box ``[low, high)`` of the full array."""
        # Flat indices are sorted: the box's slab across axis 0 is one run of them.
        plane = self.shape[1] * self.shape[2]
        first, last = np.searchsorted(self.flat, [low[0] * plane, high[0] * plane])
        index = np.unravel_index(self.flat[first:last], self.shape)
        inside = np.ones(last - first, bool)
        for i, a, b in zip(index, low, high, strict=True):
            inside &= (i >= a) & (i < b)
        local = tuple(i[inside] - a for i, a in zip(index, low, strict=True))
        image[local] = self.values[first:last][inside]


def _median_and_tail(values: np.ndarray, tail: float) -> float:
    median, low = np.percentile(values, [50.0, tail])
    return float(2.0 * median - low)


def _grow_into_rim(
    vein, candidates, unmixed, shell, bone, background, spacing, sigma_mm, low, axis
):
    """`vein` grown over the `candidates` (rim voxels) where the phase difference shows lumen.

    The image is the unmixed venous phase with the bone's shell replaced by
    the phase difference (the bone's blur cancels there) and the bone itself
    by the background, smoothed by `sigma_mm` in boxes around the candidates
    only; a candidate counts at or above `low` (HU per slice, broadcasting
    along `axis`) and when connected to `vein`.
    """
    if not candidates.any():
        return vein
    # Smoothing reaches int(3 sigma + 0.5) voxels: a box that much wider smooths
    # the candidates as the whole image would. One box per piece of candidates
    # (they lie where veins touch bone), or one around all when that is smaller.
    pad = np.floor(3.0 * sigma_mm / np.asarray(spacing, float) + 0.5).astype(int) + 1
    shape = np.asarray(candidates.shape)
    parts = Components(candidates)
    low_corners, high_corners = parts.boxes()
    low_corners = np.maximum(low_corners - pad, 0)
    high_corners = np.minimum(high_corners + pad, shape)
    whole = bounding_box(candidates, pad)
    whole_low = np.array([b.start for b in whole])
    whole_high = np.array([b.stop for b in whole])
    if parts.count > 200 or np.prod(high_corners - low_corners, axis=1).sum() > np.prod(
        whole_high - whole_low
    ):
        low_corners, high_corners = whole_low[None], whole_high[None]
    del parts
    grown = vein.copy()
    for low_corner, high_corner in zip(low_corners, high_corners, strict=True):
        box = tuple(slice(a, b) for a, b in zip(low_corner, high_corner, strict=True))
        image = unmixed[box].copy()
        image[bone[box]] = np.float32(background)
        shell.into(image, low_corner, high_corner)
        image = smooth_mm(image, spacing, sigma_mm)
        threshold = low[tuple(box[a] if a == axis else slice(None) for a in range(3))]
        grown[box] |= candidates[box] & (image >= threshold)
    return components_touching(grown, vein)
