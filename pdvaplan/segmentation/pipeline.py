"""Two contrast phases -> one label map on the arterial grid.

Methods, and why they hold up where the images are hard:

* **Arterial grid, venous phase resampled by physical position.** The phases
  may have different sizes, spacings, origins and directions; only physical
  position relates them (`pdvaplan.io.resample_to`). All work happens on a
  crop of the arterial grid around the body.
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
* **Levels measured in the image.** The soft-tissue background is the mode of
  the soft-tissue histogram; artery and vein contrast levels are percentiles
  (95th for arteries, 90th for veins) of candidate voxels in slabs along the
  leg, so contrast that differs between patients or fades distally moves the
  thresholds with it. Candidates are found on a 2 x 2 x 2 block-mean grid
  (cheap, and block means quiet the noise), away from calcium and bone,
  whose blur brightens both phases; a slab whose level has less than half the
  overall contrast holds no patent vessel and is interpolated over.
* **Lumen fraction and hysteresis.** The boundary sits where half a voxel is
  lumen (best for overlap with the true lumen); sure seeds at 0.8 keep
  noise out while a stenosis down to half the lumen stays connected. Veins
  are seeded at 0.6: their image is smoothed more, and a small vein's centre
  then never reaches 0.8 of a full lumen (whole veins went missing).
  Occluded stretches carry no contrast, so they reach neither threshold.
  Both are compared in HU per slice; no fraction image is made.
* **Arteries from the arterial phase, veins from the unmixed venous phase.**
  Veins are unenhanced in the arterial phase, so it separates arteries from
  veins. In the venous phase arteries are moderately bright too; both phases
  see the same anatomy through the same blur, so subtracting the arteries'
  share (their arterial contrast times the measured venous/arterial ratio)
  leaves only the veins. A vein one voxel away from its artery then does not
  merge with it, without any shape prior.
* **Calcium and bone are bright in both phases**, lumen in one: the smaller of
  the two phases picks them out. Bone is a large and thick component whose
  fatty marrow is filled slice by slice across the axis nearest physical z.
  Calcium is seeded from `calcium_partial_volume * calcium_hu` (thin arcs are
  partial-volumed) and grown down to `calcium_grow_fraction * calcium_hu`,
  but not into voxels the phase difference shows to be lumen; it need not
  touch the patent lumen (arcs on occluded stretches count).
* **The phase difference removes blur that is equal in both phases.** Calcium
  and bone blur brighten the arterial phase as much as the venous one. Near
  calcium and bone a lumen voxel must be brighter in the arterial than in
  the venous phase by half the lumen's difference between the phases (where
  the noise lets that be told); a voxel brighter in the venous phase than a
  lumen can be there must pass it too, and fails where it cannot be told.
  Artery pieces lying mostly in calcium's rim (an arc's blur on an occluded
  stretch) are dropped.
* **A vein against bone keeps its bone side.** Veins are found outside a rim
  around the bone (the bone's blur brightens the unmixed venous image there),
  then grown into the rim next to them where the phase difference itself
  (venous minus the whole arterial contrast, in which bone cancels) shows
  lumen. Where the phases disagree at bone edges (misregistration leaves
  bands of both signs there), the rim's own negative tail raises that
  threshold, so bone edges do not become veins.
* **Sizes in mm³** drop noise specks whatever the grid.
* **Cost follows the masks, not the volume.** Components come from union-find
  over the mask's voxels, distances from each component's box, smoothing is
  separable and threaded (`pdvaplan.segmentation.filters`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from pdvaplan.errors import PdvaplanInputError
from pdvaplan.io import Volume
from pdvaplan.segmentation.bone import bone_mask
from pdvaplan.segmentation.calcium import calcium_mask
from pdvaplan.segmentation.calibrate import HuScale, estimate_hu_scale, volume_in_hu
from pdvaplan.segmentation.filters import (
    Components,
    components_touching,
    remove_small,
    smooth_mm,
    within_mm,
)
from pdvaplan.segmentation.grid import (
    axis_nearest_z,
    bounding_box,
    slice_heights_mm,
    venous_on_grid,
)
from pdvaplan.segmentation.levels import (
    LevelProfile,
    along_axis,
    noise_hu,
    slab_levels,
    soft_tissue_hu,
)
from pdvaplan.segmentation.lumen import hysteresis, unmix_artery
from pdvaplan.segmentation.phase_order import PhaseOrder, check_phase_order
from pdvaplan.segmentation.register import Registration, register_phases

#: Label values of the contract's label map.
ARTERY, VEIN, CALCIUM, BONE = 1, 2, 3, 4


@dataclass(frozen=True)
class Segmentation:
    """The label map of two contrast phases and the intensity levels it was made with.

    Attributes
    ----------
    labels : Volume
        uint8 on the arterial grid: 1 patent artery lumen, 2 vein lumen,
        3 calcification, 4 bone, 0 anything else.
    venous_on_grid : Volume
        The venous phase resampled onto the arterial grid by physical position
        (0 where the venous volume does not reach).
    background_hu : float
        Soft-tissue level around the vessels (HU).
    artery_level : LevelProfile
        Contrast level of a full artery lumen in the arterial phase, along z.
    artery_venous_level : LevelProfile
        Level of a full artery lumen in the venous phase, along z.
    vein_level : LevelProfile
        Level of a full vein lumen in the venous phase (arteries unmixed), along z.
    calcium_threshold_hu : float
        Both-phase value down to which calcium was grown from its seeds.
    bone_rim_mm : float
        Width (mm) of the rim around the bone mask where a vein's share of the
        venous phase is the phase difference (the bone's blur cancels).
    arterial_hu : Volume
        The arterial phase in HU (the input itself when it was in HU).
    hu_scales : tuple of HuScale
        How each phase's grey values map to HU (arterial, venous).
    registration : Registration
        Where the venous phase images each position of the arterial frame, and
        its check on bone.
    phase_order : PhaseOrder
        What the one-phase vessels say about the order of the phases.
    """

    labels: Volume
    venous_on_grid: Volume
    background_hu: float
    artery_level: LevelProfile
    artery_venous_level: LevelProfile
    vein_level: LevelProfile
    calcium_threshold_hu: float
    bone_rim_mm: float = 0.0
    arterial_hu: Volume | None = None
    hu_scales: tuple[HuScale, HuScale] | None = None
    registration: Registration | None = None
    phase_order: PhaseOrder | None = None

    def artery_fraction(self, arterial_hu, z_mm) -> np.ndarray:
        """Artery lumen fraction (0 tissue, 1 full lumen) of arterial-phase values at heights z.

        Examples
        --------
        >>> flat = LevelProfile(np.array([0.0]), np.array([300.0]))
        >>> seg = Segmentation(None, None, 50.0, flat, flat, flat, 490.0)
        >>> seg.artery_fraction([50.0, 175.0, 300.0], [0.0, 0.0, 0.0]).tolist()
        [0.0, 0.5, 1.0]
        """
        return _fraction(arterial_hu, self.background_hu, self.artery_level.at(z_mm))

    def vein_fraction(self, venous_hu, z_mm, clip: bool = True) -> np.ndarray:
        """Vein lumen fraction of venous-phase values at heights z (away from arteries);
        with ``clip=False``, values beyond [0, 1] are kept (to calibrate the level)."""
        return _fraction(venous_hu, self.background_hu, self.vein_level.at(z_mm), clip)


def _fraction(values_hu, background_hu: float, level_hu: np.ndarray, clip: bool = True):
    values = np.asarray(values_hu, dtype=np.float64)
    share = (values - background_hu) / np.maximum(level_hu - background_hu, 1.0)
    return np.clip(share, 0.0, 1.0) if clip else share


def segment(
    arterial: Volume,
    venous: Volume,
    *,
    calcium_hu: float = 700.0,
    calcium_partial_volume: float = 0.55,
    smoothing_mm: float | None = None,
    vein_smoothing_mm: float | None = None,
    along_leg_smoothing_mm: float | None = None,
    detection_mm: float = 1.0,
    boundary_fraction: float = 0.5,
    seed_fraction: float = 0.8,
    vein_seed_fraction: float = 0.6,
    min_contrast_hu: float = 60.0,
    level_slab_mm: float = 30.0,
    level_percentile: float = 95.0,
    vein_level_percentile: float = 90.0,
    min_artery_mm3: float = 15.0,
    min_vein_mm3: float = 30.0,
    min_bone_mm3: float = 2000.0,
    bone_rim_mm: float = 1.5,
    calcium_rim_mm: float = 1.5,
    vein_calcium_rim_mm: float = 1.0,
    calcium_grow_fraction: float = 0.5,
    venous_tolerance: float = 1.3,
    bone_near_mm: float = 3.0,
    halo_share: float = 0.8,
    suspect_margin: float = 0.3,
    body_floor_hu: float = -300.0,
    artery_clearance_mm: float = 2.0,
    register: str = "rigid",
    hu_scale: tuple[float, float] | None = None,
    timings_s: dict[str, float] | None = None,
) -> Segmentation:
    """Label patent artery lumen, vein lumen, calcification and bone from two CT phases.

    Parameters
    ----------
    arterial, venous : Volume
        Arterial- and venous-phase CT of one leg, in HU or grey values
        ``a * HU + b`` (cone-beam CT); their grids may differ and the leg may
        have moved between them. The labels are made on the arterial grid.
    calcium_hu : float
        Calcium density (HU) of the contract's calcium rule.
    calcium_partial_volume : float
        Share of `calcium_hu` a voxel must reach in both phases to seed
        calcium: thin arcs are imaged below their density.
    calcium_grow_fraction : float
        Share of `calcium_hu` down to which calcium grows from its seeds.
    smoothing_mm : float, optional
        Standard deviation (mm) of the Gaussian applied to both phases.
        Default: from the image noise measured in soft tissue (`_smoothing_for`),
        0.4 mm up to 20 HU of noise rising to 0.55 mm at 35 HU.
    vein_smoothing_mm : float, optional
        Total smoothing (mm) of the unmixed venous image veins are found in.
        Default: 0.8 mm up to 25 HU of noise, rising to 1.0 mm at 35 HU.
    along_leg_smoothing_mm : float, optional
        Further smoothing (standard deviation, mm) of both phases along the
        axis nearest z, where the vessels run. Default: none up to 20 HU of
        noise, rising to 1 mm at 35 HU.
    boundary_fraction, seed_fraction : float
        Hysteresis thresholds on the lumen fraction: lumen boundary and seeds.
    vein_seed_fraction : float
        Seeds of the veins. Lower than the arteries': the veins' image is
        smoothed more, which leaves a small vein (radius 1.3 mm under 1 mm of
        blur) short of 0.8 of a full lumen at its centre, and so without seeds.
    min_contrast_hu : float
        Smallest lumen contrast over the background a level is measured from.
    level_slab_mm : float
        Thickness (mm along the leg) of the slabs in which levels are measured.
    level_percentile, vein_level_percentile : float
        Percentile of candidate voxels taken as a slab's artery and vein
        contrast level.
    min_artery_mm3, min_vein_mm3, min_bone_mm3 : float
        Smallest connected artery, vein and bone pieces kept (mm³).
    bone_rim_mm : float
        Width of the blurred rim around bone kept free of artery lumen and
        calcium, and where veins only grow from outside it on the phase
        difference (half the largest voxel size is added: partial volume at
        the edge).
    calcium_rim_mm : float
        Width of the rim around calcium where artery lumen needs the
        phase-difference check.
    vein_calcium_rim_mm : float
        Width of the rim around calcium hidden from the veins' image, where
        veins are not labelled. Narrower than the arteries': a vein running
        1.5 mm from a calcified (occluded) artery's wall lost 30 mm of its
        lumen to the wider rim.
    venous_tolerance : float
        A slab's venous artery level may exceed the typical one (over the
        background) by this factor at most; calcium blur pulls it up.
    bone_near_mm : float
        Width of the zone around bone where lumen needs the phase-difference
        check and no levels are measured.
    suspect_margin : float
        A voxel brighter in the venous phase than the artery's venous level
        plus this share of its contrast (plus three noise sigmas) must pass
        the phase-difference test to be artery.
    halo_share : float
        Artery pieces with more than this share of their voxels in calcium's
        rim are dropped (an arc's blur on an occluded stretch).
    body_floor_hu : float
        Voxels below this (air) bound the crop that is worked on.
    artery_clearance_mm : float
        Voxels this close to an artery are left out when the bone's shell is
        checked for disagreement between the phases (an artery is darker in
        the phase difference).
    register : {"rigid", "none"}
        Register the venous phase rigidly onto the arterial one, or take them
        to share a frame (`pdvaplan.segmentation.register`).
    hu_scale : tuple of two floats, optional
        Both phases' grey values are ``a * HU + b`` with these (a, b).
        Default: estimated from each phase (`pdvaplan.segmentation.calibrate`).
    timings_s : dict, optional
        Filled with the seconds each stage took (calibrate, register, phase
        order, resample, smooth, bone, artery, calcium, vein, labels).

    Returns
    -------
    Segmentation

    Raises
    ------
    PdvaplanInputError
        If a phase does not look like CT, the registration fails, the phases
        look swapped or do not overlap, or no body, artery or vein is found.

    Examples
    --------
    >>> from phantoms import make_phantom  # doctest: +SKIP
    >>> phantom = make_phantom("basic", seed=0)  # doctest: +SKIP
    >>> seg = segment(phantom.arterial, phantom.venous)  # doctest: +SKIP
    >>> sorted(np.unique(seg.labels.array).tolist())  # doctest: +SKIP
    [0, 1, 2, 3, 4]
    """
    clock = _Clock(timings_s)
    if hu_scale is None:
        scales = (estimate_hu_scale(arterial), estimate_hu_scale(venous))
    else:
        scales = (HuScale(*hu_scale), HuScale(*hu_scale))
    arterial, venous = volume_in_hu(arterial, scales[0]), volume_in_hu(venous, scales[1])
    clock.lap("calibrate")
    registration = register_phases(arterial, venous, register)
    clock.lap("register")
    venous_grid, covered = venous_on_grid(venous, arterial, registration.transform)
    spacing = arterial.spacing_mm
    box = bounding_box(arterial.array >= body_floor_hu, np.ceil(3.0 / spacing).astype(int))
    if box is None:
        raise PdvaplanInputError(
            f"{arterial.source}: no voxel above {body_floor_hu:g} HU (no body)"
        )
    clock.lap("resample")
    phases_order = check_phase_order(
        arterial.array[box],
        venous_grid.array[box],
        spacing,
        None if covered is None else covered[box],
    )
    if phases_order.verdict == "swapped":
        raise PdvaplanInputError(phases_order.swapped_message(arterial.source, venous.source))
    clock.lap("phase order")
    axis = axis_nearest_z(arterial)
    heights_mm = slice_heights_mm(arterial, axis, box[axis].start, box[axis].stop - box[axis].start)

    raw_noise = noise_hu(arterial.array[box][::2, ::2, ::2])
    auto_artery, auto_vein, auto_along = _smoothing_for(raw_noise)
    smoothing_mm = auto_artery if smoothing_mm is None else smoothing_mm
    vein_smoothing_mm = auto_vein if vein_smoothing_mm is None else vein_smoothing_mm
    along = auto_along if along_leg_smoothing_mm is None else along_leg_smoothing_mm
    phase_sigma_mm = np.full(3, smoothing_mm)
    phase_sigma_mm[axis] = np.hypot(smoothing_mm, along)
    art = smooth_mm(arterial.array[box], spacing, phase_sigma_mm)
    ven = smooth_mm(venous_grid.array[box], spacing, phase_sigma_mm)
    covered = None if covered is None else covered[box]
    coarse = _Coarse(art.shape, spacing, axis, level_slab_mm)
    background = soft_tissue_hu(coarse(art))
    # One background serves both phases: the venous phase's soft tissue (enhanced a
    # little in a real venous phase, a few HU off after calibrating two acquisitions)
    # is moved to the arterial phase's.
    venous_offset_hu = soft_tissue_hu(coarse(ven)) - soft_tissue_hu(coarse(art))
    ven -= np.float32(venous_offset_hu)
    both = np.minimum(art, ven)

    clock.lap("smooth")
    # The bone mask's edge sits up to a voxel inside the true edge (partial volume).
    rim_mm = bone_rim_mm + 0.5 * float(np.max(spacing))
    bone, bone_rim, bone_near = _bone(
        both, spacing, background, calcium_hu, axis, (rim_mm, bone_near_mm)
    )
    calcium_seed_hu = calcium_partial_volume * calcium_hu
    calcium_low_hu = min(calcium_grow_fraction * calcium_hu, calcium_seed_hu)
    # Calcium and its blur (both-phase bright down to the growth level, grown from
    # seeds) would spread into their surroundings when smoothed further and would
    # raise the measured lumen levels: they are hidden (set to background) there.
    dense = components_touching(both >= calcium_low_hu, both >= calcium_seed_hu)
    hidden = within_mm(dense, spacing, calcium_rim_mm)

    hidden_coarse = coarse.any(hidden)

    def detect(image_sigma_mm, image, allowed):
        """Lumen candidates on the coarse grid: smoothed to `detection_mm`, hidden parts removed.

        The image is averaged over 2 x 2 x 2 blocks (which smooths about as
        much as a Gaussian of half a coarse voxel) and smoothed on to
        `detection_mm` on the coarse grid.
        """
        small = coarse.mean(image)
        small[hidden_coarse] = np.float32(background)
        block_sigma = 0.5 * coarse.spacing
        extra = np.sqrt(np.maximum(detection_mm**2 - image_sigma_mm**2 - block_sigma**2, 0.0))
        small = _smooth_voxels(small, extra / coarse.spacing)
        found = small >= background + 0.5 * min_contrast_hu
        found &= coarse(allowed)
        return remove_small(found, coarse.spacing, min_artery_mm3)

    def at_fraction(level, fraction):
        """The HU (per slice, broadcasting) at which a lumen of `level` covers `fraction`."""
        contrast = np.maximum(level - background, 1.0)
        return along_axis((background + fraction * contrast).astype(np.float32), axis)

    def _lumen(image, level, seed, allowed, min_volume_mm3):
        """Hysteresis on the lumen fraction, compared in HU (no fraction image is made)."""
        seeds = image >= at_fraction(level, seed)
        low = at_fraction(level, boundary_fraction)
        return hysteresis(image, seeds, allowed, spacing, low, min_volume_mm3)

    clock.lap("bone")
    # Levels are read away from calcium and bone, whose blur brightens both phases.
    detected = detect(phase_sigma_mm, art, ~(hidden | bone_near))
    artery_level = coarse.levels(
        art, detected, level_percentile, background + min_contrast_hu, background
    )
    if artery_level is None:
        raise PdvaplanInputError(f"{arterial.source}: no contrast-filled artery found")
    artery = _lumen(art, artery_level, seed_fraction, ~bone_rim, min_artery_mm3)
    clock.lap("artery")

    core = coarse(art) >= coarse(at_fraction(artery_level, seed_fraction))
    core &= coarse(artery)
    core &= ~coarse(hidden)
    core_arterial = coarse.levels(art, core, 50.0)
    if core_arterial is None:
        raise PdvaplanInputError(f"{arterial.source}: no contrast-filled artery found")
    core_venous = coarse.levels(ven, core, 50.0)
    # Calcium blur left in the core would pull a slab's venous level up towards its
    # arterial one; the venous level of a lumen varies little along the leg.
    typical_venous = float(np.median(coarse(ven)[core]))
    core_venous = np.minimum(
        core_venous, background + venous_tolerance * (typical_venous - background)
    )
    ratio = (core_venous - background) / np.maximum(core_arterial - background, 1.0)
    noise = _noise_hu(coarse(art), background)
    half_difference = _half_difference(ratio, artery_level, background, 4.0 * noise)
    # Where the test can tell (`told`, per slice): voxels brighter in the arterial phase.
    told = np.isfinite(half_difference)
    brighter = _brighter_in_arterial(art, ven, np.where(told, half_difference, np.inf), axis)
    calcium = calcium_mask(
        both,
        bone_rim,
        spacing,
        calcium_seed_hu,
        calcium_low_hu,
        not_grown=brighter,
        max_volume_mm3=min_bone_mm3,
    )
    del both
    calcium_rim = within_mm(calcium, spacing, calcium_rim_mm)
    # Near calcium and bone, their blur (equal in both phases) brightens the
    # arterial phase too: a voxel there stays lumen only if the phase difference
    # says so (or cannot tell). Where the venous phase is brighter than a lumen
    # can be, something bright in both phases adds to it: the voxel must pass
    # the phase-difference test, and fails where the test cannot tell.
    artery_venous = background + ratio * (artery_level - background)
    too_bright = artery_venous + suspect_margin * (artery_venous - background) + 3.0 * noise
    suspect = ven > along_axis(too_bright.astype(np.float32), axis)
    suspect &= ~brighter
    near = calcium_rim | bone_near
    near &= ~brighter
    # Where the test cannot tell, a voxel near calcium or bone is not held suspect.
    near &= along_axis(told, axis)
    del brighter
    suspect |= near
    del near
    artery &= ~suspect
    artery &= ~calcium
    del suspect
    # An artery piece lying mostly in calcium's rim is the blur of an arc on an
    # occluded (unenhanced) stretch, where the phases could not tell it apart.
    parts = Components(artery)
    in_rim = np.bincount(parts.ids[calcium_rim.ravel()[parts.flat]], minlength=parts.count)
    sizes = parts.sizes()
    artery = parts.mask(
        (sizes * float(np.prod(spacing)) >= min_artery_mm3) & (in_rim <= halo_share * sizes)
    )
    del parts
    if not artery.any():
        raise PdvaplanInputError(f"{arterial.source}: no contrast-filled artery found")

    clock.lap("calcium")
    vein_sigma = np.sqrt(max(vein_smoothing_mm**2 - smoothing_mm**2, 0.0))
    # Near bone, whose blur brightens both phases alike, a vein's share is the phase
    # difference itself (ratio 1): the bone cancels there. Kept for the bone's shell
    # (its rim outside the bone) only, to give veins found outside the rim back the
    # lumen they have inside it (`_grow_into_rim`).
    shell = Shell(bone_rim & ~bone, art, ven, background)
    # Unmixed in place (art is scratch, ven takes the result): no full-size temporaries.
    unmixed = unmix_artery(ven, art, background, along_axis(ratio, axis), overwrite=True)
    del art, ven
    # Veins are hidden from a narrower rim: one may run a voxel from calcified wall.
    unmixed[within_mm(dense, spacing, vein_calcium_rim_mm)] = np.float32(background)
    del dense
    residual = smooth_mm(unmixed, spacing, vein_sigma)
    free = ~artery
    if covered is not None:
        free &= covered
    del calcium_rim
    free &= ~within_mm(calcium, spacing, vein_calcium_rim_mm)
    # Near bone: the rim, and the zone the rim's hidden blur (bone is dense, so
    # hidden) reaches when smoothed.
    near_bone = bone_rim | bone_near
    near_bone &= free
    near_bone &= ~bone
    free &= ~bone_rim
    del bone_rim
    vein_level = coarse.levels(
        residual,
        detect(np.hypot(phase_sigma_mm, vein_sigma), residual, free & ~bone_near),
        vein_level_percentile,
        background + min_contrast_hu,
        background,
    )
    if vein_level is None:
        raise PdvaplanInputError(f"{venous.source}: no contrast-filled vein found")
    del bone_near
    vein = _lumen(residual, vein_level, vein_seed_fraction, free, min_vein_mm3)
    del residual, free
    if not vein.any():
        raise PdvaplanInputError(f"{venous.source}: no contrast-filled vein found")
    # Only the voxels near bone next to a vein found outside the rim (within the
    # rim's width) may be that vein's lumen; bone edges elsewhere stay out
    # whatever the phases do there. Measured on the coarse grid, a coarse voxel
    # further (a guard, not a boundary).
    reach_mm = rim_mm + 2.0 * float(np.max(spacing)) + float(np.max(coarse.spacing))
    near_bone &= coarse.expand(within_mm(coarse.any(vein), coarse.spacing, reach_mm))
    # Where the phases disagree at bone edges (misregistration), the shell's own
    # values set a higher threshold there; arteries (darker) are left out of it.
    near_artery = within_mm(artery, spacing, artery_clearance_mm)
    floor = shell.floor_hu(
        axis, max(1, round(level_slab_mm / spacing[axis])), ~near_artery.ravel()[shell.flat]
    )
    del near_artery
    vein = _grow_into_rim(
        vein,
        near_bone,
        unmixed,
        shell,
        bone,
        background,
        spacing,
        vein_sigma,
        along_axis(np.fmax(at_fraction(vein_level, boundary_fraction).ravel(), floor), axis),
        axis,
    )
    del unmixed, near_bone, shell

    clock.lap("vein")
    crop = np.zeros(artery.shape, np.uint8)
    crop[bone] = BONE
    crop[vein] = VEIN
    crop[artery] = ARTERY
    crop[calcium] = CALCIUM
    labels = np.zeros(arterial.shape, np.uint8)
    labels[box] = crop
    order = np.argsort(heights_mm)
    clock.lap("labels")
    return Segmentation(
        labels=arterial.with_array(labels, f"segmentation of {arterial.source}"),
        venous_on_grid=venous_grid,
        background_hu=background,
        artery_level=LevelProfile(heights_mm[order], artery_level[order]),
        artery_venous_level=LevelProfile(heights_mm[order], artery_venous[order]),
        vein_level=LevelProfile(heights_mm[order], vein_level[order]),
        calcium_threshold_hu=calcium_low_hu,
        bone_rim_mm=rim_mm,
        arterial_hu=arterial,
        hu_scales=scales,
        registration=registration,
        phase_order=phases_order,
    )


class _Coarse:
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
        self.min_voxels = _min_voxels(self.spacing)

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
        `_LEAST_SHARE` of the contrast of all candidates together is taken
        for noise or blur (a slab with no patent vessel) and interpolated over.
        """
        small = self(image)
        if background is not None and candidates.any():
            overall = float(np.percentile(small[candidates], percentile))
            min_level = max(min_level, background + _LEAST_SHARE * (overall - background))
        found = slab_levels(
            small, candidates, self.axis, self.slab, percentile, self.min_voxels, min_level
        )
        if found is None:
            return None
        full = np.arange(self.shape[self.axis], dtype=np.float64)
        return np.interp(full, self.step * np.arange(found.size, dtype=np.float64), found)


#: Least share of the overall contrast level a slab's level must reach.
_LEAST_SHARE = 0.5


def _smooth_voxels(image: np.ndarray, sigma_voxels: np.ndarray) -> np.ndarray:
    """Gaussian smoothing with a per-axis sigma in voxels (float32); 0 leaves an axis alone."""
    from scipy import ndimage

    out = image
    for axis, sigma in enumerate(sigma_voxels):
        if sigma > 0.05:
            out = ndimage.gaussian_filter1d(out, float(sigma), axis, truncate=3.0)
    return out


def _smoothing_for(noise_hu: float) -> tuple[float, float, float]:
    """Artery-phase, vein and further along-the-leg smoothing (mm) for an image noise (HU).

    Measured on the phantom sweep: more smoothing than 0.4 mm shrinks small
    lumens in clean images, but with 30-35 HU of noise the boundary's jitter
    costs more than the blur (0.55 mm there; the veins, larger, take 1.0 mm).
    Along the leg (along the vessels) 1 mm more at 35 HU lifts the artery
    Dice of the noisy legs by 0.01-0.03; 1.5-2 mm lifts the long legs a little
    more but blurs 6 mm stenoses (more false lumen there) and starts to cost
    small arteries.
    """
    artery = float(np.clip(0.4 + 0.01 * (noise_hu - 20.0), 0.4, 0.55))
    vein = float(np.clip(0.8 + 0.02 * (noise_hu - 25.0), 0.8, 1.0))
    along = float(np.clip((noise_hu - 20.0) / 15.0, 0.0, 1.0))
    return artery, vein, along


def _noise_hu(image: np.ndarray, background: float, window_hu: float = 50.0) -> float:
    """Noise (standard deviation, HU) of `image` in soft tissue, from the spread about its mode."""
    values = image[np.abs(image - np.float32(background)) <= window_hu]
    if values.size < 100:
        return 0.0
    return float(1.4826 * np.median(np.abs(values - np.float32(background))))


class _Clock:
    """Seconds per stage into a caller's dict (or nowhere)."""

    def __init__(self, timings_s: dict[str, float] | None) -> None:
        self.timings_s = timings_s
        self.start = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        if self.timings_s is not None:
            self.timings_s[stage] = now - self.start
        self.start = now


def _min_voxels(spacing_mm: np.ndarray, volume_mm3: float = 20.0) -> int:
    """Voxels needed to measure a level: about `volume_mm3` of lumen."""
    return max(8, round(volume_mm3 / float(np.prod(spacing_mm))))


def _bone(both, spacing, background, calcium_hu, axis, rim_mm):
    """Bone and its rims (one per width in `rim_mm`) from the both-phase image.

    The bone boundary is midway between tissue and cortex.

    The cortex level is read from every other voxel along each axis (an
    eighth of the volume is plenty for a percentile of thousands of voxels).
    """
    sample = both[::2, ::2, ::2]
    dense = sample[sample >= calcium_hu]
    if dense.size < 100:
        dense = both[both >= calcium_hu]
    if dense.size == 0:
        return tuple(np.zeros(both.shape, bool) for _ in range(1 + len(rim_mm)))
    cortex = float(np.percentile(dense, 90.0))
    return bone_mask(both, spacing, background + 0.5 * (cortex - background), axis, rim_mm=rim_mm)


def _half_difference(ratio, artery_level, background, least_hu):
    """Half a full lumen's arterial-minus-venous difference per slice; NaN where below `least_hu`.

    Calcium and bone blur add the same value to both phases, so the
    difference keeps only the lumen's share. Where a lumen's two phases
    differ by less than `least_hu` (the ratio near 1, or noise too high) the
    test cannot tell.
    """
    difference = (1.0 - ratio) * (artery_level - background)
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
