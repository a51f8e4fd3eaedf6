"""Two contrast phases -> one label map on the arterial grid: the stages in order.

Each stage is a function of explicit inputs in its own module, timed
(``timings_s``) and, where it can tell whether its input is within what the
code can judge, checked:

==============  ==========================================  ==============================
stage           what it does                                module
==============  ==========================================  ==============================
calibrate       grey values -> HU (estimated or given)      `calibrate`
legs            the legs in view; all but one set to air    `legs`
register        venous phase rigidly onto the arterial one  `register`
resample        venous phase onto the arterial grid; crop   `grid`
phase order     refuse phases handed over swapped           `phase_order`
smooth          both phases smoothed, one background        `phases`
metal           implants and the slices of their streaks    `metal`
bone            bone and its rims; calcium and its blur     `bone`, `calcium`
levels          artery contrast level along the leg         `arteries`
arteries        patent artery lumen; the phase difference   `arteries`
calcium         calcium; the lumen cleared of its blur      `calcium`, `arteries`
veins           vein lumen from the unmixed venous phase    `veins`
labels          one label map                               here
==============  ==========================================  ==============================

Throughout: the arterial grid is the working frame (only physical position
relates the phases); sizes are in mm and mm³, so the result does not depend
on the grid; cost follows the masks, not the volume (components by
union-find over a mask's voxels, distances in each component's box,
separable threaded smoothing: `pdvaplan.filters`). Each stage's
module says which methods it uses and why they hold up where the images are
hard.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

import numpy as np

from pdvaplan.boxes import bounding_box
from pdvaplan.errors import PdvaplanInputError
from pdvaplan.io import Volume
from pdvaplan.labels import ARTERY, BONE, CALCIUM, METAL, VEIN
from pdvaplan.progress import stage as stage_timed
from pdvaplan.segmentation.arteries import (
    artery_level,
    artery_lumen,
    brighter_than_lumen_hu,
    clean_arteries,
    phase_difference,
)
from pdvaplan.segmentation.bone import find_bone
from pdvaplan.segmentation.calcium import calcium_blur, find_calcium
from pdvaplan.segmentation.calibrate import (
    AIR_HU,
    HuScale,
    estimate_hu_scale,
    given_hu_scale,
    volume_in_hu,
)
from pdvaplan.segmentation.grid import axis_nearest_z, slice_heights_mm, venous_on_grid
from pdvaplan.segmentation.legs import Legs, one_leg
from pdvaplan.segmentation.levels import LevelProfile
from pdvaplan.segmentation.metal import find_metal
from pdvaplan.segmentation.phase_order import PhaseOrder, check_phase_order
from pdvaplan.segmentation.phases import smooth_phases
from pdvaplan.segmentation.register import Registration, register_phases
from pdvaplan.segmentation.settings import SegmentationSettings
from pdvaplan.segmentation.veins import find_veins

logger = logging.getLogger(__name__)

#: The stages in the order they run (the module docstring's table).
STAGES = (
    "calibrate",
    "legs",
    "register",
    "resample",
    "phase order",
    "smooth",
    "metal",
    "bone",
    "levels",
    "arteries",
    "calcium",
    "veins",
    "labels",
)


@dataclass(frozen=True)
class Segmentation:
    """The label map of two contrast phases and the intensity levels it was made with.

    Attributes
    ----------
    labels : Volume
        uint8 on the arterial grid: 1 patent artery lumen, 2 vein lumen,
        3 calcification, 4 bone, 5 metal (`pdvaplan.segmentation.metal`;
        a plan treats it like bone), 0 anything else.
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
    edge_sigma_mm : tuple of two floats or None
        Each phase's blur across the leg at the bone surface (mm).
    legs : Legs or None
        The legs found in the arterial phase and the side kept.
    venous_frame : Volume or None
        The venous volume's frame (its voxel values are not kept): with the
        registration, which positions of the arterial frame the venous phase
        images (`venous_images`).
    sharpness_match_mm : tuple of two numpy.ndarray or None
        Further smoothing (mm, per axis) of the arterial and the venous phase
        that matched their blur before they were compared.
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
    edge_sigma_mm: tuple[float, float] | None = None
    sharpness_match_mm: tuple[np.ndarray, np.ndarray] | None = None
    legs: Legs | None = None
    venous_frame: Volume | None = None

    def venous_images(self, points_mm: np.ndarray) -> np.ndarray:
        """Whether the venous phase images each position (mm, arterial frame): a vein
        beyond its reach is not seen (a second acquisition may stop short of the
        arterial one's ends).

        Examples
        --------
        >>> flat = LevelProfile(np.array([0.0]), np.array([300.0]))
        >>> frame = Volume(np.broadcast_to(False, (10, 10, 10)), np.ones(3), np.zeros(3), np.eye(3))
        >>> seg = Segmentation(None, None, 50.0, flat, flat, flat, 490.0, venous_frame=frame)
        >>> seg.venous_images(np.array([[5.0, 5.0, 5.0], [5.0, 5.0, 12.0]])).tolist()
        [True, False]
        """
        points_mm = np.atleast_2d(np.asarray(points_mm, dtype=np.float64))
        if self.venous_frame is None:
            return np.ones(len(points_mm), bool)
        if self.registration is not None:
            points_mm = self.registration.transform.apply(points_mm)
        return self.venous_frame.contains(points_mm)

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
    settings: SegmentationSettings | None = None,
    *,
    calcium_hu: float | None = None,
    register: str = "rigid",
    hu_scale: tuple[float, float] | None = None,
    side: str | None = None,
    timings_s: dict[str, float] | None = None,
) -> Segmentation:
    """Label patent artery lumen, vein lumen, calcification and bone from two CT phases.

    Parameters
    ----------
    arterial, venous : Volume
        Arterial- and venous-phase CT of one leg, in HU or grey values
        ``a * HU + b`` (cone-beam CT); their grids may differ and the leg may
        have moved between them. The labels are made on the arterial grid.
    settings : SegmentationSettings, optional
        Settings of the labelling stages (defaults: `SegmentationSettings`).
    calcium_hu : float, optional
        Calcium density (HU) of the contract's calcium rule (replaces the
        settings' own).
    register : {"rigid", "none"}
        Register the venous phase rigidly onto the arterial one, or take them
        to share a frame (`pdvaplan.segmentation.register`).
    hu_scale : tuple of two floats, optional
        Both phases' grey values are ``a * HU + b`` with these (a, b).
        Default: estimated from each phase (`pdvaplan.segmentation.calibrate`).
    side : {"left", "right"}, optional
        The patient's leg to segment when both are in view
        (`pdvaplan.segmentation.legs`); the other is set to air.
    timings_s : dict, optional
        Filled with the seconds each stage took, by stage name (see the
        module docstring).

    Returns
    -------
    Segmentation

    Raises
    ------
    PdvaplanInputError
        If a phase does not look like CT, two legs are in view and no `side`
        is given, the registration fails, the phases look swapped or do not
        overlap, or no body, artery or vein is found.

    Examples
    --------
    >>> from phantoms import make_phantom
    >>> phantom = make_phantom("basic", spacing_mm=(1.5, 1.5, 2.0))
    >>> seg = segment(phantom.arterial, phantom.venous)
    >>> sorted(np.unique(seg.labels.array).tolist())  # no calcium in this leg
    [0, 1, 2, 4]
    """
    settings = settings or SegmentationSettings()
    if calcium_hu is not None:
        settings = replace(settings, calcium_hu=calcium_hu)
    stage = functools.partial(stage_timed, timings=timings_s)
    with stage("calibrate"):
        if hu_scale is None:
            scales = (estimate_hu_scale(arterial), estimate_hu_scale(venous))
        else:
            scales = (given_hu_scale(arterial, *hu_scale), given_hu_scale(venous, *hu_scale))
        arterial, venous = volume_in_hu(arterial, scales[0]), volume_in_hu(venous, scales[1])
        for phase, scale in zip(("arterial", "venous"), scales, strict=True):
            how = "estimated" if scale.estimated else "given"
            logger.info(
                "calibrate: %s grey = %.3f * HU + %.1f (%s)", phase, scale.slope, scale.offset, how
            )
    with stage("legs"):
        floor = settings.body_floor_hu
        arterial, legs = one_leg(arterial, arterial.array >= floor, side, AIR_HU)
        venous, _ = one_leg(venous, venous.array >= floor, side, AIR_HU)
    with stage("register"):
        registration = register_phases(arterial, venous, register)
        logger.info(
            "register: %s, bone residual %.2f mm",
            registration.method,
            registration.residual.median_mm,
        )
    with stage("resample"):
        venous_grid, covered = venous_on_grid(venous, arterial, registration.transform)
        spacing = arterial.spacing_mm
        box = bounding_box(arterial.array >= floor, np.ceil(3.0 / spacing).astype(int))
        if box is None:
            raise PdvaplanInputError(f"{arterial.source}: no voxel above {floor:g} HU (no body)")
        covered = None if covered is None else covered[box]
        axis = axis_nearest_z(arterial)
    with stage("phase order"):
        order = check_phase_order(arterial.array[box], venous_grid.array[box], spacing, covered)
        if order.verdict == "swapped":
            raise PdvaplanInputError(order.swapped_message(arterial.source, venous.source))
    with _order_in_doubt(order):
        with stage("smooth"):
            resampled = venous_grid is not venous
            phases = smooth_phases(
                arterial.array[box],
                venous_grid.array[box],
                covered,
                spacing,
                axis,
                settings,
                float(venous.spacing_mm[axis_nearest_z(venous)]) if resampled else None,
            )
        with stage("metal"):
            # Where the venous volume does not reach (and near there, where its smoothing
            # took in the zeros outside it), bone and metal are read from the arterial phase
            # alone (no lumen is as bright): unfound, a bone's cortex there would pass for
            # artery lumen and raise the arteries' level.
            dense_image = phases.both
            if phases.venous_sure is not None:
                dense_image = np.where(phases.venous_sure, phases.both, phases.arterial)
            metal = find_metal(dense_image, spacing, axis, settings)
        with stage("bone"):
            bone = find_bone(dense_image, spacing, phases.background_hu, axis, settings)
            del dense_image
            dense, hidden = calcium_blur(phases.both, spacing, settings)
            hidden_coarse = phases.coarse.any(hidden)
            # Lumen near bone, and in the slices metal's streaks cross, must show in the
            # phase difference.
            obstacles_near = bone.near | metal.streaks(axis) if metal.found else bone.near
        with stage("levels"):
            level = artery_level(
                phases, hidden, hidden_coarse, obstacles_near, settings, arterial.source
            )
            logger.info(
                "levels: soft tissue %.0f HU, noise %.1f HU, full artery lumen %.0f to %.0f HU "
                "along the leg",
                phases.background_hu,
                phases.noise_hu,
                level.min(),
                level.max(),
            )
        with stage("arteries"):
            artery = artery_lumen(phases, level, bone.rim, settings)
            # The lumen's levels in both phases are read away from calcium's blur and from
            # metal's streaks (equal in both phases, they would pass for a lumen the phases
            # cannot tell apart).
            unread = hidden | metal.streaks(axis) if metal.found else hidden
            difference = phase_difference(phases, artery, level, unread, settings, arterial.source)
            del unread
            phases.arterial_sharp = None
            del hidden
        with stage("calcium"):
            not_calcium = bone.rim | metal.rim
            no_lumen_hu = brighter_than_lumen_hu(phases, difference, settings)
            venous_brighter = phases.venous - phases.arterial > np.float32(4.0 * phases.noise_hu)
            calcium = find_calcium(
                phases.both,
                not_calcium,
                difference.brighter,
                settings,
                no_lumen_hu,
                venous_brighter,
                np.minimum(arterial.array[box], venous_grid.array[box], dtype=np.float32),
            )
            del venous_brighter
            dense |= calcium  # faint arcs hidden from the veins' image too
            del not_calcium
            phases.both = None
            artery = clean_arteries(
                artery, phases, difference, calcium, obstacles_near, settings, arterial.source
            )
            del obstacles_near
        with stage("veins"):
            # In the slices metal's streaks cross, the veins' image is the whole phase
            # difference (arteries unmixed as if as bright in both phases): the streaks,
            # equal in both, cancel, and veins (unenhanced in the arterial phase) stay.
            unmixing_ratio = np.where(metal.streak_slices, 1.0, difference.ratio)
            vein, vein_level = find_veins(
                phases,
                artery,
                calcium,
                dense,
                hidden_coarse,
                bone,
                unmixing_ratio,
                settings,
                venous.source,
            )
            del dense
            logger.info(
                "veins: full vein lumen %.0f to %.0f HU; lumen of arteries %.0f, veins %.0f mm3",
                vein_level.min(),
                vein_level.max(),
                np.count_nonzero(artery) * float(np.prod(spacing)),
                np.count_nonzero(vein) * float(np.prod(spacing)),
            )
        with stage("labels"):
            crop = np.zeros(artery.shape, np.uint8)
            crop[bone.bone] = BONE
            crop[vein] = VEIN
            crop[artery] = ARTERY
            crop[calcium] = CALCIUM
            crop[metal.mask] = METAL
            labels = np.zeros(arterial.shape, np.uint8)
            labels[box] = crop
            heights_mm = slice_heights_mm(
                arterial, axis, box[axis].start, box[axis].stop - box[axis].start
            )
            by_height = np.argsort(heights_mm)
            heights_mm = heights_mm[by_height]
    return Segmentation(
        labels=arterial.with_array(labels, f"segmentation of {arterial.source}"),
        venous_on_grid=venous_grid,
        background_hu=phases.background_hu,
        artery_level=LevelProfile(heights_mm, level[by_height]),
        artery_venous_level=LevelProfile(heights_mm, difference.artery_venous_hu[by_height]),
        vein_level=LevelProfile(heights_mm, vein_level[by_height]),
        calcium_threshold_hu=settings.calcium_low_hu,
        bone_rim_mm=bone.rim_mm,
        arterial_hu=arterial,
        hu_scales=scales,
        registration=registration,
        phase_order=order,
        edge_sigma_mm=phases.edge_sigma_mm,
        sharpness_match_mm=phases.sharpness_match_mm,
        legs=legs,
        venous_frame=venous.with_array(np.broadcast_to(np.False_, venous.shape)),
    )


@contextmanager
def _order_in_doubt(order: PhaseOrder) -> Iterator[None]:
    """When the phase order could not be confirmed, a later refusal says so: phases handed
    over swapped fail as "no contrast-filled vein found", which alone misleads."""
    try:
        yield
    except PdvaplanInputError as error:
        if order.verdict != "uncertain":
            raise
        raise PdvaplanInputError(
            f"{error} (the phase order could not be confirmed: are the phases swapped?)"
        ) from None
