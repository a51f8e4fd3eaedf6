"""Veins as they are: a vein that wraps round its artery, touches it, narrows at
valves and has side branches is one trunk centreline; the crossing and the stent
path use the trunk, never a spur; heights are never negative; no names without
the bones that tell them; the ranking is described as what it is.

The known answers come from `phantoms.wrapping_vein`'s analytic curves.
"""

from __future__ import annotations

import functools
import re

import numpy as np
import pytest
from scipy.spatial import cKDTree

from pdvaplan.centerlines import END_BORDER, END_JUNCTION, END_LUMEN
from pdvaplan.planning import PlanParameters, map_vessels, plan_vessels
from pdvaplan.planning.candidates import target_veins
from pdvaplan.planning.plan import height_above_ankle_mm
from pdvaplan.render.report import plan_in_words, ranking_words
from phantoms.wrapping_vein import make_wrapping_vein


@functools.cache
def phantom_and_vessels():
    phantom = make_wrapping_vein(spacing_mm=0.5)
    return phantom, map_vessels(phantom.labels)


def distances_to(tube, points_mm: np.ndarray) -> np.ndarray:
    """Distance (mm) from each point to the nearest dense sample of an analytic curve."""
    return cKDTree(tube.points_mm).query(points_mm)[0]


def trunks(vessels):
    return [v for v in vessels.veins if v.kind == "trunk"]


def test_the_phantom_is_what_it_says():
    """The wrap, the contact, the valves and the spur are in the label map."""
    phantom, _ = phantom_and_vessels()
    spec, trunk = phantom.spec, phantom.trunk
    angle = np.degrees(np.arctan2(trunk.points_mm[:, 1], trunk.points_mm[:, 0]))
    assert abs(angle[0]) < 1.0 and abs(abs(angle[-1]) - 180.0) < 1.0  # half-way round
    offset = np.hypot(trunk.points_mm[:, 0], trunk.points_mm[:, 1])
    touching = offset - trunk.radii_mm - spec.artery_radius_mm < 1e-6
    assert np.ptp(trunk.points_mm[touching, 2]) > 15.0  # touches over a stretch
    assert trunk.radii_mm.min() == pytest.approx(spec.valve_fraction * spec.vein_radius_mm, 0.01)
    # Vein voxels share faces with artery voxels in the label map, over a stretch.
    labels = phantom.labels.array
    artery = labels == 1
    grown = np.zeros_like(artery)
    for axis in range(3):
        for shift in (-1, 1):
            grown |= np.roll(artery, shift, axis=axis)
    contact = phantom.labels.index_to_physical(np.argwhere((labels == 2) & grown))
    assert np.ptp(contact[:, 2]) > 10.0
    # The spur that points at the artery comes closer to it than the trunk ever does.
    spur = phantom.spurs[0]
    assert distances_to(phantom.artery, spur.points_mm).min() < offset.min() - 0.8


def test_the_vein_is_one_trunk_from_the_top_of_the_volume_to_its_distal_end():
    phantom, vessels = phantom_and_vessels()
    (trunk,) = trunks(vessels)
    assert trunk.proximal_end == END_BORDER and trunk.distal_end == END_BORDER
    z_low, z_high = phantom.trunk.points_mm[-1, 2], phantom.trunk.points_mm[0, 2]
    assert trunk.points_mm[0, 2] > z_high - 1.0 and trunk.points_mm[-1, 2] < z_low + 1.0
    assert trunk.length_mm == pytest.approx(phantom.trunk_length_mm, rel=0.03)
    # On the true axis all the way: through the wrap, the contact and the valves.
    off = distances_to(phantom.trunk, trunk.points_mm)
    inner = (trunk.arc_mm > 2.0) & (trunk.arc_mm < trunk.length_mm - 2.0)
    assert np.median(off) < 0.1 and off[inner].max() < 0.5 and off.max() < 0.8
    for valve in phantom.spec.valve_z_mm:
        at = np.abs(trunk.points_mm[:, 2] - valve) < 0.5
        assert at.any() and off[at].max() < 0.4


def test_side_branches_are_lines_of_their_own():
    phantom, vessels = phantom_and_vessels()
    assert len(trunks(vessels)) == 1
    branches = [v for v in vessels.veins if v.kind == "branch"]
    assert branches
    side = [*phantom.spurs, *phantom.branches]
    for line in branches:
        # Each lies on a true side branch (away from the trunk: within its lumen a
        # branch's axis ends at the junction), not on the trunk.
        outside = distances_to(phantom.trunk, line.points_mm) > phantom.spec.vein_radius_mm
        nearest = min(side, key=lambda t: np.median(distances_to(t, line.points_mm[outside])))
        assert np.median(distances_to(nearest, line.points_mm[outside])) < 0.5, line.id
    # The spur that points at the artery is there, as a dead-end branch.
    spur = phantom.spurs[0]
    on_spur = [b for b in branches if np.median(distances_to(spur, b.points_mm)) < 0.5]
    assert len(on_spur) == 1 and END_LUMEN in (on_spur[0].proximal_end, on_spur[0].distal_end)
    # The tributary: from its tip inside the volume down into the trunk.
    tributary = phantom.branches[0]
    line = max(
        (b for b in branches if np.median(distances_to(tributary, b.points_mm)) < 0.5),
        key=lambda b: b.length_mm,
    )
    assert line.proximal_end == END_LUMEN and line.distal_end == END_JUNCTION
    assert np.linalg.norm(line.points_mm[0] - tributary.points_mm[0]) < 1.5
    assert distances_to(phantom.trunk, line.points_mm[-1:])[0] < phantom.spec.vein_radius_mm
    assert line.length_mm < tributary.length_mm + 1.0


def test_the_crossing_targets_the_trunk_never_a_spur():
    phantom, vessels = phantom_and_vessels()
    (trunk,) = trunks(vessels)
    spec = phantom.spec
    for min_vein_mm in (0.0, 1.0, 1.5):
        plan = plan_vessels(vessels, PlanParameters(min_vein_mm=min_vein_mm), {})
        assert plan.feasible
        # Candidates target the trunk, or a branch that the rule admits on its own
        # stretch (outside the trunk's lumen, where a site would be the trunk's).
        admitted = {
            v.id for v in target_veins(vessels.veins, PlanParameters(min_vein_mm=min_vein_mm))
        }
        on_branches = [c for c in plan.candidates if c.vein != trunk.id]
        assert {c.vein for c in on_branches} <= admitted - {trunk.id}
        for site in on_branches:
            outside = distances_to(phantom.trunk, site.vein_point_mm[None])[0]
            assert outside > spec.vein_radius_mm and 2 * site.vein_radius_mm >= min_vein_mm
        assert plan.crossing.vein == trunk.id
        crossing = plan.crossing
        # On the stretch where the vein touches its artery: the closest trunk point.
        low, high = spec.touch_z_mm
        assert low - 1.0 <= crossing.vein_point_mm[2] <= high + 1.0
        touching = spec.artery_radius_mm + spec.vein_radius_mm
        assert crossing.distance_mm == pytest.approx(touching, abs=0.15)
        assert abs(crossing.gap_mm) < 0.25
    # min_vein_mm admits side branches that drain on (the tributary), never dead ends.
    admitted = target_veins(vessels.veins, PlanParameters(min_vein_mm=1.0))
    assert {v.kind for v in admitted} == {"trunk", "branch"}
    assert all(v.distal_end != END_LUMEN for v in admitted)
    assert [v.id for v in target_veins(vessels.veins, PlanParameters())] == [trunk.id]


def test_the_stent_path_follows_the_trunk_to_the_ankle():
    phantom, vessels = phantom_and_vessels()
    plan = plan_vessels(vessels, PlanParameters(), {})
    stent = plan.stent_graft
    path = np.asarray(stent["path_mm"])
    expected = phantom.trunk_length_below_mm(plan.crossing.vein_point_mm[2])
    assert expected > 40.0
    assert stent["length_mm"] == pytest.approx(expected, rel=0.10)
    assert stent["length_mm"] == pytest.approx(expected, rel=0.03)  # in fact closer
    assert path[-1, 2] < phantom.trunk.points_mm[-1, 2] + 1.0  # down to the volume's bottom
    off = distances_to(phantom.trunk, path)
    assert off[:-4].max() < 0.5 and off.max() < 0.8  # the last 2 mm: where the border cuts


def test_heights_are_never_negative_and_no_names_without_tibia_and_fibula():
    _, vessels = phantom_and_vessels()
    document = plan_vessels(vessels, PlanParameters(), {}).as_dict()
    sites = [document["crossing"], *document["candidates"]]
    assert all(s["height_above_ankle_mm"] >= 0.0 for s in sites)
    # No bone in this label map: ids only.
    assert all(s["artery_name"] is None and s["vein_name"] is None for s in sites)
    assert all(v["name"] is None for v in document["vessels"])
    words = " ".join(plan_in_words(_View(document)))
    (height,) = re.findall(r"at (\S+) mm above the ankle", words)
    assert float(height) >= 0 and not height.startswith("-")
    assert "peroneal" not in words and "tibial" not in words
    # A site below the ankle level reads 0 mm above it, and says how far below it lies.
    assert height_above_ankle_mm(np.array([0.0, 0.0, 4.6]), 5.0) == 0.0
    assert height_above_ankle_mm(np.array([0.0, 0.0, 15.0]), 5.0) == pytest.approx(10.0)
    below = dict(document["crossing"], height_above_ankle_mm=0.0, below_ankle_mm=3.2)
    text = " ".join(plan_in_words(_View(dict(document, crossing=below), below)))
    assert "3 mm below the ankle level" in text and "-3" not in text


def test_the_ranking_is_described_as_what_it_is():
    _, vessels = phantom_and_vessels()
    plan = plan_vessels(vessels, PlanParameters(), {})
    document = plan.as_dict()
    assert "smoothed" in document["ranked_by"]
    smoothed = [c["smoothed_distance_mm"] for c in document["candidates"]]
    assert smoothed == sorted(smoothed)  # ranked by what plan.json says
    raw = [c["distance_mm"] for c in document["candidates"]]
    assert all(r == c.distance_mm for r, c in zip(raw, plan.candidates, strict=True))
    words = ranking_words(document)
    assert "smoothed distance profile" in words and "shortest" not in words
    # When a lower-ranked site has the shorter raw needle, the words say so.
    first, second = (dict(c) for c in document["candidates"][:2])
    first.update(rank=1, distance_mm=3.6, smoothed_distance_mm=3.5)
    second.update(rank=2, distance_mm=3.3, smoothed_distance_mm=3.7)
    words = ranking_words(dict(document, candidates=[first, second]))
    assert "rank 2 has a shorter raw needle (3.30 mm) than rank 1 (3.60 mm)" in words
    first.update(distance_mm=3.2)
    assert "shorter raw needle" not in ranking_words(dict(document, candidates=[first, second]))


class _View:
    """The part of a `PlanView` that `plan_in_words` reads."""

    def __init__(self, plan: dict, crossing: dict | None = None):
        self.plan = plan
        self.crossing = crossing or plan["crossing"]
