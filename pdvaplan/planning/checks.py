"""What the planner measured to trust its own answer: plan.json's ``checks`` and ``warnings``.

A planning tool must not hand over a confident wrong plan. Every stage that
can tell whether its input was within what it can judge reports a check; each
check outside its normal range becomes a warning (in plan.json, on stderr and
at the top of the report). Checks that must stop the plan (a failed
registration, swapped phases, an image that is not CT) raise in their stage
instead.

Normal ranges (parameters of `CheckLimits`):

* contrast-to-noise of a full artery lumen in the arterial phase and of a
  full vein lumen in the venous phase: at least 5 (noise: the spread of soft
  tissue; contrast: the segmentation's lumen levels over the background);
* veins in the arterial phase: at most 40 % of their venous-phase contrast
  (more means a late arterial phase, where veins and arteries look alike);
* arteries in the venous phase: at least 15 % of their arterial-phase
  contrast (contrast still fills them; less suggests swapped phases);
* fat after mapping grey values to HU: -190 to -40 HU (an estimated mapping
  that puts fat elsewhere rests on anchors that were not air and muscle);
* the side asked for (``--side``) and the side the bones suggest (the
  fibula lies lateral to the tibia) agree, and one leg holds one tibia (two
  tibia-sized bones in one body piece are two legs touching);
* the crossing does not lie where its artery's contrast fades towards its end,
  nor where it falls over a stretch too short to tell a fade from a narrowing
  before an occlusion (`pdvaplan.planning.contrast`: patency there is uncertain);
* the best site of any other artery-vein pair is more than 0.25 mm longer
  than the crossing's. Closer, the images cannot tell the two pairs apart: a
  distance from phases is good to about 0.2 mm (95th percentile of the plan
  benchmark's distance errors), so two measured
  distances differ by chance by up to about 0.27 mm;
* the crossing's artery and vein lumens do not overlap by more than 0.5 mm
  (wall gap at least -0.5 mm; vessels that touch measure about 0 +- 0.25 mm).
  Two lumens cannot overlap: more means one vessel taken for two (a calcified
  artery's wall seen as a vein beside it) or a vein wrapped round its artery,
  whose centre and equal-area radius
  do not give its distance;
* the calcium margin does not decide the plan by less than a voxel, the
  precision to which a calcified stretch's end is placed (calcium blooms, and a
  voxel holding any counts whole): the crossing keeps the margin by more than a
  voxel, and no site that misses it by less than a voxel is shorter than the
  crossing by more than a near tie.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from pdvaplan.filters import Components
from pdvaplan.io import Volume
from pdvaplan.labels import ARTERY, BONE, CALCIUM, METAL, VEIN
from pdvaplan.planning.candidates import REJOIN_MM, Candidate, Search, calcium_edge_mm
from pdvaplan.planning.contrast import SMOOTHING_MM as CONTRAST_SMOOTHING_MM
from pdvaplan.planning.contrast import contrast_along
from pdvaplan.planning.parameters import PlanParameters
from pdvaplan.planning.vessels import VesselMap, vessel_title
from pdvaplan.segmentation import Segmentation
from pdvaplan.segmentation.legs import Legs
from pdvaplan.segmentation.levels import noise_hu

#: The tibia is at least this many times the fibula's volume.
_TIBIA_OVER_FIBULA = 1.5
#: Bone pieces at least this share of the largest are tibias (a fibula is about a quarter).
_TIBIA_SHARE = 0.6
#: Tibia and fibula closer than this (mm) along x do not tell the side.
_SIDE_SEPARATION_MM = 10.0


@dataclass(frozen=True)
class CheckLimits:
    """Normal ranges of the checks (see the module docstring)."""

    min_contrast_to_noise: float = 5.0
    max_vein_arterial_share: float = 0.4
    min_artery_venous_share: float = 0.15
    fat_hu: tuple[float, float] = (-190.0, -40.0)
    near_tie_mm: float = 0.25
    min_gap_mm: float = -0.5


def plan_checks(
    segmentation: Segmentation | None,
    vessels: VesselMap,
    search: Search,
    parameters: PlanParameters,
    legs: Legs | None = None,
    names: dict[str, str | None] | None = None,
    limits: CheckLimits | None = None,
) -> tuple[dict, list[str]]:
    """The checks of a plan and the warnings for those outside their normal range.

    Parameters
    ----------
    segmentation : Segmentation or None
        The segmentation of the two phases (None for a plan from a label map).
    vessels : VesselMap
        The vessels planned on.
    search : Search
        The crossing search (`pdvaplan.planning.candidates.search_crossings`):
        its ranked sites, the crossing first (a warning if the crossing lies
        where its artery's contrast fades, `pdvaplan.planning.contrast`, or if
        another artery-vein pair's best site is as short as far as the images
        can tell), its best site that misses the calcium margin by less
        than a voxel (a warning when it is shorter than the crossing by more
        than a near tie), and its best site on an artery not reached from the
        top (the same warning).
    parameters : PlanParameters
        The rules: the side the user asked for (a warning if the bones say
        otherwise) and the calcium margin (a warning when the crossing keeps it
        by less than a voxel).
    legs : Legs, optional
        The legs found in view.
    names : dict, optional
        Anatomical names of the vessels by id, for the warnings.
    limits : CheckLimits, optional

    Returns
    -------
    checks : dict
        JSON-ready: vessels and calcium found, legs in view and the side the
        bones suggest, and with phases the intensity mapping, registration,
        phase order, contrast-to-noise and the contrast along each artery.
    warnings : list of str
        One sentence per check outside its normal range.
    """
    limits = limits or CheckLimits()
    labels = vessels.labels.array
    voxel_mm3 = float(np.prod(vessels.labels.spacing_mm))
    checks = {
        "vessels_found": {"arteries": len(vessels.arteries), "veins": len(vessels.veins)},
        "calcium_found": {
            "volume_mm3": float(np.count_nonzero(labels == CALCIUM)) * voxel_mm3,
            "arteries_with_calcified_wall": sum(
                1 for s in vessels.calcified_stretches_mm.values() if len(s)
            ),
        },
        "metal_found": _metal_found(vessels.labels, voxel_mm3),
    }
    warnings: list[str] = []
    candidates, side = search.candidates, parameters.side
    crossing = candidates[0] if candidates else None
    runner_up = next(
        (c for c in candidates if (c.artery, c.vein) != (crossing.artery, crossing.vein)), None
    )
    checks["runner_up"] = None
    if runner_up is not None:
        longer_mm = runner_up.smoothed_distance_mm - crossing.smoothed_distance_mm
        checks["runner_up"] = _site_record(runner_up, longer_by_mm=longer_mm)
        if longer_mm <= limits.near_tie_mm:
            warnings.append(
                f"a near tie: the best site of {_called(runner_up.artery, names)} into "
                f"{_called(runner_up.vein, names)} is only "
                f"{longer_mm:.2f} mm longer than the crossing's (ranked by smoothed distance), "
                f"within what the images can tell apart ({limits.near_tie_mm:g} mm); compare "
                "the two pairs before choosing"
            )
    if crossing is not None and crossing.gap_mm < limits.min_gap_mm:
        warnings.append(
            f"the lumens overlap at the crossing: the wall gap is {crossing.gap_mm:.1f} mm "
            f"(normal {limits.min_gap_mm:g} mm or more; touching vessels measure about 0), so "
            f"{_called(crossing.vein, names)} may be {_called(crossing.artery, names)} seen "
            "again (a calcified wall or what registration left, taken for a vein) or a vein "
            "wrapped round it; check the images at the crossing"
        )
    unreached = search.unreached
    checks["unreached_artery_site"] = None if unreached is None else _site_record(unreached)
    if (
        crossing is not None
        and unreached is not None
        and unreached.smoothed_distance_mm < crossing.smoothed_distance_mm - limits.near_tie_mm
    ):
        warnings.append(
            f"{_called(unreached.artery, names)} offers a site "
            f"{crossing.smoothed_distance_mm - unreached.smoothed_distance_mm:.2f} mm shorter "
            f"than the crossing (ranked by smoothed distance; {unreached.distance_mm:.1f} mm "
            f"into {_called(unreached.vein, names)}), but its lumen is not seen to join an "
            f"artery that runs down from the top (a break of more than {REJOIN_MM:g} mm), so "
            "it was left out: if the lumen between is patent (calcium blooming into it can "
            "hide it), that site may be the better one; check the images"
        )
    checks["calcium_edge"], edge_warnings = _calcium_edge(
        crossing, search.calcium_edge, parameters.calcium_margin_mm, vessels, names, limits
    )
    warnings += edge_warnings
    bones_say = side_from_bones(vessels.labels)
    sizes, _ = bone_pieces(vessels.labels)
    tibias = int(np.count_nonzero(sizes >= _TIBIA_SHARE * sizes.max())) if len(sizes) else 0
    checks["legs"] = (legs.as_dict() if legs else {}) | {
        "side": side,
        "side_from_bones": bones_say,
        "tibia_sized_bones": tibias,
    }
    if tibias >= 2 and (legs is None or legs.count < 2):
        warnings.append(
            f"{tibias} tibia-sized bones in what was taken for one leg: both legs may be in "
            "view, touching each other, and the plan may be on either; crop the volume to one "
            "leg"
        )
    if side is not None and bones_say is not None and bones_say != side:
        warnings.append(
            f"--side {side}, but the fibula lies on the tibia's {bones_say} (the patient's), "
            f"as in a {bones_say} leg: check the side"
        )
    if segmentation is None:
        return checks, warnings
    checks["intensity"] = {
        phase: {
            "hu_scale": [scale.slope, scale.offset],
            "estimated": scale.estimated,
            "fat_hu": scale.anchors.get("fat_hu"),
        }
        for phase, scale in zip(("arterial", "venous"), segmentation.hu_scales, strict=True)
    }
    for phase, scale in zip(("arterial", "venous"), segmentation.hu_scales, strict=True):
        fat = scale.anchors.get("fat_hu")
        low, high = limits.fat_hu
        if scale.estimated and not scale.is_identity and fat is not None and not low <= fat <= high:
            warnings.append(
                f"the {phase} phase's grey values were mapped to HU by an estimate that puts fat "
                f"at {fat:.0f} HU (normal {low:g} to {high:g}): the mapping may be off; give "
                "--hu-scale A B if it is known"
            )
    checks["registration"] = {
        "method": segmentation.registration.method,
        "bone_residual_mm": segmentation.registration.residual.median_mm,
    }
    warnings += segmentation.registration.warnings()
    edge = segmentation.edge_sigma_mm
    checks["sharpness"] = {
        "edge_sigma_mm": None if edge is None else {"arterial": edge[0], "venous": edge[1]},
        "matched_by_mm": {
            phase: np.round(extra, 3).tolist()
            for phase, extra in zip(
                ("arterial", "venous"),
                segmentation.sharpness_match_mm or (np.zeros(3), np.zeros(3)),
                strict=True,
            )
        },
    }
    along = {
        artery.id: contrast_along(artery, segmentation.arterial_hu, segmentation.background_hu)
        for artery in vessels.arteries
        if artery.kind == "trunk"
    }
    checks["contrast_along_arteries"] = along
    warnings += _declining_contrast(along, crossing, names)
    checks["phase_order"] = segmentation.phase_order.as_dict()
    warnings += segmentation.phase_order.warnings()
    contrast = phase_contrast(segmentation)
    checks["contrast_to_noise"] = contrast
    for vessel, phase in (("artery", "arterial"), ("vein", "venous")):
        value = contrast[f"{vessel}_{phase}"]
        if value < limits.min_contrast_to_noise:
            warnings.append(
                f"weak contrast: a full {vessel} lumen stands {value:.1f} noise sigmas above "
                f"soft tissue in the {phase} phase (normal {limits.min_contrast_to_noise:g} or "
                f"more); {vessel} boundaries and the distances between vessels are less sure"
            )
    artery_share = contrast["artery_venous"] / max(contrast["artery_arterial"], 1e-9)
    if artery_share < limits.min_artery_venous_share:
        warnings.append(
            f"arteries are dark in the venous phase ({100 * artery_share:.0f} % of their "
            f"arterial-phase contrast; normal {100 * limits.min_artery_venous_share:.0f} % or "
            "more, as contrast still fills them): are the phases swapped?"
        )
    share = contrast["vein_arterial"] / max(contrast["vein_venous"], 1e-9)
    if share > limits.max_vein_arterial_share:
        warnings.append(
            f"veins are already bright in the arterial phase ({100 * share:.0f} % of their "
            f"venous-phase contrast; normal {100 * limits.max_vein_arterial_share:.0f} % at "
            "most): a late arterial phase, where arteries and veins can be confused"
        )
    return checks, warnings


def _calcium_edge(
    crossing: Candidate | None,
    edge: Candidate | None,
    margin_mm: float | None,
    vessels: VesselMap,
    names: dict[str, str | None] | None,
    limits: CheckLimits,
) -> tuple[dict | None, list[str]]:
    """Where the calcium margin decides the plan by less than what the images can place
    (a voxel, `calcium_edge_mm`): a shorter site just inside it, or a crossing just
    outside it."""
    if crossing is None or margin_mm is None:
        return None, []
    voxel_mm = calcium_edge_mm(vessels)
    warnings = []
    found = {"voxel_mm": voxel_mm, "shorter_site": None}
    if edge is not None:
        shorter_mm = crossing.smoothed_distance_mm - edge.smoothed_distance_mm
        found["shorter_site"] = _site_record(
            edge,
            artery_point_mm=edge.artery_point_mm,
            calcium_distance_mm=edge.calcium_distance_mm,
            shorter_by_mm=shorter_mm,
        )
        if shorter_mm > limits.near_tie_mm:
            warnings.append(
                f"a site {shorter_mm:.2f} mm shorter (ranked by smoothed distance) lies just "
                f"inside the calcium margin: {_called(edge.artery, names)} into "
                f"{_called(edge.vein, names)}, {edge.calcium_distance_mm:.1f} mm from "
                f"calcified wall (margin {margin_mm:g} mm); where calcium ends is known to "
                f"about a voxel ({voxel_mm:.1f} mm): check the calcium there before choosing"
            )
    clearance = crossing.calcium_distance_mm
    if clearance is not None and clearance <= margin_mm + voxel_mm:
        warnings.append(
            f"the crossing keeps the calcium margin by less than a voxel: "
            f"{clearance:.1f} mm from calcified wall (margin {margin_mm:g} mm, voxel "
            f"{voxel_mm:.1f} mm); where calcium ends is known to about a voxel: check the "
            "calcium there"
        )
    return found, warnings


def _site_record(site: Candidate, **figures) -> dict:
    """A site other than the crossing as `checks` records it: its pair, its raw distance
    and the figures that make it worth recording."""
    return {"artery": site.artery, "vein": site.vein, "distance_mm": site.distance_mm} | figures


def _declining_contrast(
    along: dict[str, dict], crossing: Candidate | None, names: dict[str, str | None] | None
) -> list[str]:
    """A warning when the crossing lies where its artery's contrast falls towards its end,
    or above the fall's start by less than the length the contrast is averaged over
    (`contrast.SMOOTHING_MM`), within which the start cannot be placed."""
    found = along.get(crossing.artery) if crossing is not None else None
    start_mm = found["declining_from_arc_mm"] if found else None
    if start_mm is None or crossing.artery_arc_mm < start_mm - CONTRAST_SMOOTHING_MM:
        return []
    artery = _called(crossing.artery, names)
    share = f"{100 * found['end_share']:.0f} % of its upper half's"
    length_mm = found["declining_mm"]
    if found["fading"]:
        return [
            f"the crossing lies on {artery} where its contrast fades towards its end (to "
            f"{share} over the last {length_mm:.0f} mm): a bolus the scan outran? Patency "
            "there is uncertain"
        ]
    return [
        f"the crossing lies on {artery} where its contrast falls towards its end (to {share} "
        f"over the last {length_mm:.0f} mm), too short a fall to tell whether it fades (a "
        "bolus the scan outran) or the lumen narrows before an occlusion: patency and inflow "
        "there are uncertain"
    ]


def _called(vessel_id: str, names: dict[str, str | None] | None) -> str:
    """A vessel as a warning's sentence names it."""
    return vessel_title(vessel_id, (names or {}).get(vessel_id), article=True)


def _metal_found(labels: Volume, voxel_mm3: float) -> dict:
    """Metal's volume and the heights (mm, physical z) it spans."""
    voxels = np.argwhere(labels.array == METAL)
    if not len(voxels):
        return {"volume_mm3": 0.0, "z_range_mm": None}
    z_mm = labels.index_to_physical(voxels)[:, 2]
    return {
        "volume_mm3": float(len(voxels)) * voxel_mm3,
        "z_range_mm": [float(z_mm.min()), float(z_mm.max())],
    }


def side_from_bones(labels: Volume) -> str | None:
    """The patient's side of the leg in a label map, from where its fibula lies.

    The fibula lies lateral to the tibia: on the patient's right (-x in LPS)
    in a right leg. The two largest bone pieces are taken for tibia (the larger,
    by at least `_TIBIA_OVER_FIBULA`) and fibula; None when they are not found
    or lie within `_SIDE_SEPARATION_MM` of each other along x.

    Examples
    --------
    >>> array = np.zeros((120, 60, 40), np.uint8)
    >>> array[70:100, 15:45] = BONE  # tibia
    >>> array[20:32, 30:42] = BONE  # fibula, at smaller x: lateral in a right leg
    >>> side_from_bones(Volume(array, np.ones(3), np.zeros(3), np.eye(3)))
    'right'
    """
    sizes, centres_mm = bone_pieces(labels)
    if len(sizes) < 2 or sizes[0] < _TIBIA_OVER_FIBULA * sizes[1]:
        return None
    tibia_x, fibula_x = centres_mm[0, 0], centres_mm[1, 0]
    if abs(fibula_x - tibia_x) < _SIDE_SEPARATION_MM:
        return None
    return "right" if fibula_x < tibia_x else "left"


def bone_pieces(labels: Volume) -> tuple[np.ndarray, np.ndarray]:
    """The bone pieces of a label map (found on every other voxel), largest first: their
    sizes (voxels of the subsampled grid) and physical centres (mm)."""
    parts = Components(labels.array[::2, ::2, ::2] == BONE)
    pieces, count = parts.labels(), parts.count
    if count == 0:
        return np.zeros(0, int), np.zeros((0, 3))
    sizes = np.bincount(pieces.ravel(), minlength=count + 1)[1:]
    order = np.argsort(sizes)[::-1]
    centres = ndimage.center_of_mass(np.ones(pieces.shape), pieces, order + 1)
    return sizes[order], labels.index_to_physical(2.0 * np.asarray(centres))


def phase_contrast(segmentation: Segmentation) -> dict:
    """Contrast-to-noise of full artery and vein lumens in each phase.

    The contrast of a full lumen is its level over the soft-tissue background:
    the segmentation's artery levels (95th percentile per slab) in each phase
    and its vein level in the venous phase; the veins' in the arterial phase is
    the 90th percentile of the arterial phase over the vein mask (the vein
    level's percentile). The noise is each phase's soft-tissue spread.
    """
    labels = segmentation.labels.array
    arterial = segmentation.arterial_hu.array
    venous = segmentation.venous_on_grid.array
    background = segmentation.background_hu
    noise = {
        "arterial": noise_hu(arterial[::2, ::2, ::2]),
        "venous": noise_hu(venous[::2, ::2, ::2]),
    }
    veins = labels == VEIN
    vein_arterial = float(np.percentile(arterial[veins], 90.0)) if veins.any() else background
    contrast_hu = {
        "artery_arterial": float(np.median(segmentation.artery_level.hu)) - background,
        "artery_venous": float(np.median(segmentation.artery_venous_level.hu)) - background,
        "vein_venous": float(np.median(segmentation.vein_level.hu)) - background,
        "vein_arterial": max(vein_arterial - background, 0.0),
    }
    out = {name: value / max(noise[name.split("_")[1]], 1.0) for name, value in contrast_hu.items()}
    out["noise_hu"] = noise
    out["contrast_hu"] = contrast_hu
    out["artery_voxels"] = int(np.count_nonzero(labels == ARTERY))
    return out
