"""The Plan: crossing, ranked candidates, stent-graft chain, and its plan.json.

`plan_from_labels` and `plan_from_phases` run the pipeline (vessels ->
crossing search -> stent-graft plan) and time each stage; `write_plan`
writes ``plan.json`` through a temporary file and a rename, so a reader never
sees a partial plan.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pdvaplan import __version__
from pdvaplan.errors import PdvaplanInputError
from pdvaplan.io import Volume, write_volume
from pdvaplan.kernels._cache import SearchKernelsWarmUp
from pdvaplan.outputs import json_default, write_text_atomically
from pdvaplan.planning.candidates import Candidate, search_crossings
from pdvaplan.planning.checks import plan_checks
from pdvaplan.planning.naming import name_vessels
from pdvaplan.planning.parameters import PlanParameters
from pdvaplan.planning.stent_graft import (
    height_above_ankle_mm,
    mark_metal_streaks,
    mark_venous_border,
    plan_stent_grafts,
)
from pdvaplan.planning.vessels import VesselMap, map_vessels
from pdvaplan.progress import stage
from pdvaplan.segmentation import Segmentation, segment
from pdvaplan.segmentation.fractions import lumen_fractions
from pdvaplan.segmentation.legs import LABEL_JOIN_MM, Legs, one_leg

PLAN_SCHEMA = "pdvaplan.plan/1"
#: How the candidate sites are ordered (plan.json's ``ranked_by``).
RANKED_BY = (
    "smoothed distance: the artery-to-vein centreline distance profile along the artery, "
    "fitted by a local quadratic over +-profile_smoothing_mm (Savitzky-Golay); "
    "smoothed_distance_mm is its value at the site, distance_mm the raw centreline distance "
    "there, so a lower-ranked site can have a shorter raw distance"
)
logger = logging.getLogger(__name__)

#: Stages timed in ``timings_s``, in pipeline order.
STAGES = ("load", "segment", "centerlines", "search", "plan", "render")


@dataclass
class Plan:
    """A plan for one leg; `as_dict` is the plan contract's plan.json."""

    feasible: bool
    reason: str | None
    nearest_mm: float | None
    candidates: tuple[Candidate, ...]
    stent_graft: dict | None
    vessels: VesselMap
    parameters: PlanParameters
    inputs: dict = field(default_factory=dict)
    names: dict[str, str | None] = field(default_factory=dict)  # anatomical, per vessel id
    timings_s: dict = field(default_factory=lambda: dict.fromkeys(STAGES))
    checks: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    #: The level heights are measured from: ``--ankle-z-mm``, else the volume's lower border.
    ankle_z_mm: float | None = None
    segmentation: Segmentation | None = None  # from the phases; None from a label map

    @property
    def crossing(self) -> Candidate | None:
        """The chosen crossing: the best candidate (None when infeasible)."""
        return self.candidates[0] if self.feasible else None

    def as_dict(self) -> dict:
        """plan.json as a dict (schema `PLAN_SCHEMA`)."""
        ankle_z = self.ankle_z_mm
        crossing = self.crossing
        return {
            "schema": PLAN_SCHEMA,
            "feasible": self.feasible,
            "reason": self.reason,
            "nearest_mm": self.nearest_mm,
            "crossing": _site(crossing, self.names, ankle_z) if crossing else None,
            "candidates": [
                _site(c, self.names, ankle_z) | {"rank": n}
                for n, c in enumerate(self.candidates, start=1)
            ],
            "ranked_by": RANKED_BY,
            "ankle_z_mm": ankle_z,
            "stent_graft": self.stent_graft,
            "vessels": _vessel_summaries(
                self.vessels, self.names, self.parameters.calcium_margin_mm
            ),
            "side": self.parameters.side,
            "registration": (
                self.segmentation.registration.as_dict() if self.segmentation else None
            ),
            "intensity": _intensity(self.segmentation),
            "checks": self.checks,
            "warnings": self.warnings,
            "inputs": self.inputs,
            "parameters": self.parameters.as_dict(),
            "timings_s": self.timings_s,
            "version": __version__,
        }


def _intensity(segmentation: Segmentation | None) -> dict | None:
    """plan.json's ``intensity``: the arterial phase's grey-to-HU mapping, and each phase's."""
    if segmentation is None:
        return None
    arterial, venous = segmentation.hu_scales
    return {
        "hu_scale": [arterial.slope, arterial.offset],
        "estimated": arterial.estimated,
        "maps": "grey = a * HU + b, [a, b]",
        "arterial": arterial.as_dict(),
        "venous": venous.as_dict(),
    }


def _site(site: Candidate, names: dict, ankle_z_mm: float | None) -> dict:
    """A site as plan.json has it: ``distance_mm`` is the raw centreline distance,
    ``smoothed_distance_mm`` the smoothed profile's value the sites are ranked by;
    ``below_ankle_mm`` is how far the artery point lies below the ankle level (only
    when it does: its height reads 0)."""
    below = None if ankle_z_mm is None else float(ankle_z_mm - site.artery_point_mm[2])
    return {
        "artery": site.artery,
        "vein": site.vein,
        "artery_name": names.get(site.artery),
        "vein_name": names.get(site.vein),
        "artery_point_mm": site.artery_point_mm.tolist(),
        "vein_point_mm": site.vein_point_mm.tolist(),
        "distance_mm": site.distance_mm,
        "smoothed_distance_mm": site.smoothed_distance_mm,
        "gap_mm": site.gap_mm,
        "artery_radius_mm": site.artery_radius_mm,
        "vein_radius_mm": site.vein_radius_mm,
        "artery_diameter_mm": 2 * site.artery_radius_mm,
        "vein_diameter_mm": 2 * site.vein_radius_mm,
        "needle_angle_deg": site.needle_angle_deg,
        "artery_arc_mm": site.artery_arc_mm,
        "calcium_distance_mm": site.calcium_distance_mm,
        "height_above_ankle_mm": height_above_ankle_mm(site.artery_point_mm, ankle_z_mm),
    } | ({"below_ankle_mm": below} if below is not None and below > 0 else {})


def _vessel_summaries(vessels: VesselMap, names: dict, calcium_margin_mm: float) -> list[dict]:
    """Per vessel: id, name, length, calibre, ends; per artery also how much of it is
    calcified and how much lies beyond the calcium margin (where a site may be)."""
    summaries = []
    for kind, lines in (("artery", vessels.arteries), ("vein", vessels.veins)):
        for line in lines:
            summary = {
                "id": line.id,
                "kind": kind,
                "name": names.get(line.id),
                "length_mm": line.length_mm,
                "median_diameter_mm": float(2 * np.median(line.radii_mm)),
                "proximal_mm": line.points_mm[0].tolist(),
                "distal_mm": line.points_mm[-1].tolist(),
                "proximal_end": line.proximal_end,
                "distal_end": line.distal_end,
            }
            if kind == "artery":
                calcium = vessels.calcified_stretches_mm.get(line.id, np.zeros((0, 2)))
                margin = np.array([-calcium_margin_mm, calcium_margin_mm])
                summary |= {
                    "calcified_wall_voxels": len(calcium),
                    "calcified_mm": union_length_mm(calcium, line.length_mm),
                    "clear_of_calcium_mm": line.length_mm
                    - union_length_mm(calcium + margin, line.length_mm),
                }
            summaries.append(summary)
    return summaries


def union_length_mm(stretches_mm: np.ndarray, length_mm: float) -> float:
    """Length (mm) of the union of stretches ``(from, to)`` within ``[0, length_mm]``.

    Examples
    --------
    >>> union_length_mm(np.array([[-2.0, 3.0], [1.0, 4.0], [8.0, 12.0]]), 10.0)
    6.0
    """
    if len(stretches_mm) == 0:
        return 0.0
    clipped = np.clip(stretches_mm, 0.0, length_mm)
    clipped = clipped[np.argsort(clipped[:, 0])]
    reach = np.maximum.accumulate(clipped[:, 1])
    starts = np.maximum(clipped[:, 0], np.concatenate([[0.0], reach[:-1]]))
    return float(np.sum(np.maximum(clipped[:, 1] - starts, 0.0)))


def plan_vessels(
    vessels: VesselMap,
    parameters: PlanParameters,
    timings: dict,
    segmentation: Segmentation | None = None,
    legs: Legs | None = None,
) -> Plan:
    """Search the crossing and plan the stent-grafts for mapped vessels (of `segmentation`,
    when they come from two phases; of the leg kept of `legs`), with the checks that tell
    how far to trust it."""
    _check_ankle_in_volume(parameters.ankle_z_mm, vessels.labels)
    with stage("search", timings):
        search = search_crossings(vessels, parameters)
        logger.info(
            "search: %d arteries, %d veins; %d candidate sites within reach%s",
            len(vessels.arteries),
            len(vessels.veins),
            len(search.candidates),
            "" if search.nearest_mm is None else f"; nearest {search.nearest_mm:.2f} mm",
        )
    with stage("plan", timings):
        stent = None
        best = search.candidates[0] if search.candidates else None
        if best is not None:
            vein = next(v for v in vessels.veins if v.id == best.vein)
            stent = plan_stent_grafts(
                vein, best, parameters.catalog, parameters.ankle_z_mm, vessels.veins
            )
        names = name_vessels(vessels)
        checks, warnings = plan_checks(segmentation, vessels, search, parameters, legs, names)
    ankle_z_mm = (
        parameters.ankle_z_mm
        if parameters.ankle_z_mm is not None
        else float(vessels.labels.corners_mm()[:, 2].min())
    )
    if stent is not None and segmentation is not None:
        reach_mm = 2.0 * float(vessels.labels.spacing_mm.max())
        mark_venous_border(stent, segmentation.venous_images, ankle_z_mm, reach_mm)
    if stent is not None:
        mark_metal_streaks(stent, checks["metal_found"]["z_range_mm"], ankle_z_mm)
    warnings += (stent or {}).get("warnings", [])
    return Plan(
        feasible=bool(search.candidates),
        reason=search.reason,
        nearest_mm=search.nearest_mm,
        candidates=search.candidates,
        stent_graft=stent,
        vessels=vessels,
        parameters=parameters,
        names=names,
        timings_s=timings,
        checks=checks,
        warnings=warnings,
        ankle_z_mm=ankle_z_mm,
        segmentation=segmentation,
    )


def _check_ankle_in_volume(ankle_z_mm: float | None, labels: Volume) -> None:
    """Refuse an ankle level outside the volume's heights: the stent path would end at the
    vein's end, not at the ankle, while the plan spoke of heights above it."""
    if ankle_z_mm is None:
        return
    z_mm = labels.corners_mm()[:, 2]
    if not z_mm.min() <= ankle_z_mm <= z_mm.max():
        raise PdvaplanInputError(
            f"--ankle-z-mm {ankle_z_mm:g}: outside the volume {labels.source}, whose heights "
            f"(LPS z) run from {z_mm.min():.1f} to {z_mm.max():.1f} mm"
        )


def plan_from_labels(
    labels: Volume, parameters: PlanParameters | None = None, timings: dict | None = None
) -> Plan:
    """Plan a crossing from a pre-segmented label map (contract values).

    Parameters
    ----------
    labels : Volume
        1 patent artery lumen, 2 vein lumen, 3 calcification, 4 bone, 0 else.
    parameters : PlanParameters, optional
        Rules (contract defaults when not given).
    timings : dict, optional
        Stage timings gathered so far (e.g. ``load``); completed here.

    Examples
    --------
    >>> from phantoms import make_phantom
    >>> phantom = make_phantom("basic", spacing_mm=(1.5, 1.5, 2.0))
    >>> plan = plan_from_labels(phantom.labels)
    >>> error_mm = plan.crossing.distance_mm - phantom.truth["crossing"]["distance_mm"]
    >>> plan.names[plan.crossing.artery], abs(error_mm) < 0.1
    ('posterior tibial artery', True)
    """
    parameters = parameters or PlanParameters()
    timings = dict.fromkeys(STAGES) | (timings or {})
    with SearchKernelsWarmUp() as warm_up:
        with stage("centerlines", timings):
            labels, legs = one_leg(
                labels, labels.array > 0, parameters.side, 0, join_mm=LABEL_JOIN_MM
            )
            vessels = map_vessels(labels)
        warm_up.wait()
        return plan_vessels(vessels, parameters, timings, legs=legs)


def plan_from_phases(
    arterial: Volume,
    venous: Volume,
    parameters: PlanParameters | None = None,
    timings: dict | None = None,
) -> Plan:
    """Plan a crossing from arterial- and venous-phase CT of one leg (HU).

    The phases are segmented (`pdvaplan.segmentation.segment`); centrelines
    are centred on lumen fractions made from the intensities, which carry the
    partial volume a mask has lost: the arteries' from the arterial minus the
    venous phase (calcium, bone and tissue cancel, veins fall below zero), the
    veins' from the venous phase with the artery lumen and calcium cut out.

    Parameters
    ----------
    arterial, venous : Volume
        The two phases; their grids may differ (the plan uses the arterial grid).
    parameters : PlanParameters, optional
    timings : dict, optional
        Stage timings so far (e.g. ``load``); completed here.
    """
    parameters = parameters or PlanParameters()
    timings = dict.fromkeys(STAGES) | (timings or {})
    stages: dict[str, float] = {}
    with SearchKernelsWarmUp() as warm_up:
        with stage("segment", timings, report=False):
            segmentation = segment(
                arterial,
                venous,
                calcium_hu=parameters.calcium_hu,
                register=parameters.register,
                hu_scale=parameters.hu_scale,
                side=parameters.side,
                timings_s=stages,
            )
        timings["segment_stages"] = {k: round(v, 3) for k, v in stages.items()}
        with stage("centerlines", timings):
            artery_lumen, vein_lumen = lumen_fractions(segmentation, segmentation.arterial_hu)
            vessels = map_vessels(segmentation.labels, artery_lumen, vein_lumen)
        warm_up.wait()
        return plan_vessels(vessels, parameters, timings, segmentation, segmentation.legs)


def write_plan(plan: Plan, folder: str | Path) -> Path:
    """Write ``plan.json`` into `folder` atomically and return its path."""
    path = Path(folder) / "plan.json"
    write_text_atomically(path, json.dumps(plan.as_dict(), indent=1, default=json_default))
    return path


#: The label map a plan from two phases was made with, beside its plan.json.
SEGMENTATION_FILE = "segmentation.nii.gz"


def write_segmentation(labels: Volume, folder: str | Path) -> Path:
    """Write the label map a plan from two phases was made with (`SEGMENTATION_FILE`,
    uint8, labels 0-5) into `folder`: what a user opens in a viewer to check the plan, and
    what `pdvaplan render` redraws from."""
    path = Path(folder) / SEGMENTATION_FILE
    write_volume(labels.with_array(labels.array.astype(np.uint8)), path)
    return path
