"""Every setting of the segmentation stages, with its default and why it is what it is."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SegmentationSettings:
    """Settings of the labelling stages (`pdvaplan.segmentation.segment`).

    Parameters
    ----------
    calcium_hu : float
        Calcium density (HU) of the contract's calcium rule.
    calcium_partial_volume : float
        Share of `calcium_hu` a voxel must reach in both phases to seed
        calcium: thin arcs are imaged below their density.
    calcium_grow_fraction : float
        Share of `calcium_hu` down to which calcium grows from its seeds.
    smoothing_mm : float, optional
        Standard deviation (mm) of the Gaussian applied to both phases.
        Default: from the image noise measured in soft tissue
        (`pdvaplan.segmentation.phases.smoothing_for`), 0.4 mm up to 20 HU of
        noise rising to 0.55 mm at 35 HU.
    vein_smoothing_mm : float, optional
        Total smoothing (mm) of the unmixed venous image veins are found in.
        Default: 0.8 mm up to 25 HU of noise, rising to 1.0 mm at 35 HU.
    along_leg_smoothing_mm : float, optional
        Further smoothing (standard deviation, mm) of both phases along the
        axis nearest z, where the vessels run. Default: none up to 20 HU of
        noise, rising to 1 mm at 35 HU.
    detection_mm : float
        Lumen candidates (where levels are measured) are found in the phases
        smoothed to this (mm, standard deviation).
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
    vein_calcium_along_mm : float
        The veins' rim around calcium reaches this much further along the
        leg, the direction in which the registration is least sure: at the
        end of a calcified arc, phases a fraction of a mm apart disagree about
        its calcium, which unmixing would turn into a vein.
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
    metal_hu, metal_low_hu : float
        Both-phase value (HU) that seeds metal (denser than any bone), and
        down to which it grows from its seeds.
    metal_streak_mm : float
        Slices this close (mm along the leg) to metal may hold its streaks.
    metal_rim_mm : float
        No calcium is looked for this close to metal.

    Examples
    --------
    >>> from dataclasses import replace
    >>> replace(SegmentationSettings(), calcium_hu=600.0).calcium_hu
    600.0
    """

    calcium_hu: float = 700.0
    calcium_partial_volume: float = 0.55
    calcium_grow_fraction: float = 0.5
    smoothing_mm: float | None = None
    vein_smoothing_mm: float | None = None
    along_leg_smoothing_mm: float | None = None
    detection_mm: float = 1.0
    boundary_fraction: float = 0.5
    seed_fraction: float = 0.8
    vein_seed_fraction: float = 0.6
    min_contrast_hu: float = 60.0
    level_slab_mm: float = 30.0
    level_percentile: float = 95.0
    vein_level_percentile: float = 90.0
    min_artery_mm3: float = 15.0
    min_vein_mm3: float = 30.0
    min_bone_mm3: float = 2000.0
    bone_rim_mm: float = 1.5
    calcium_rim_mm: float = 1.5
    vein_calcium_rim_mm: float = 1.0
    vein_calcium_along_mm: float = 1.5
    venous_tolerance: float = 1.3
    bone_near_mm: float = 3.0
    halo_share: float = 0.8
    suspect_margin: float = 0.3
    body_floor_hu: float = -300.0
    artery_clearance_mm: float = 2.0
    metal_hu: float = 2500.0
    metal_low_hu: float = 2000.0
    metal_streak_mm: float = 10.0
    metal_rim_mm: float = 10.0

    @property
    def calcium_seed_hu(self) -> float:
        """Both-phase value (HU) that seeds calcium."""
        return self.calcium_partial_volume * self.calcium_hu

    @property
    def calcium_low_hu(self) -> float:
        """Both-phase value (HU) down to which calcium grows from its seeds."""
        return min(self.calcium_grow_fraction * self.calcium_hu, self.calcium_seed_hu)
