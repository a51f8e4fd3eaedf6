"""The planner chooses the right crossing, by the contract's rules, on any grid."""

from __future__ import annotations

import json

import numpy as np
import pytest
import slicerio
from conftest import cached_phantom, real_vessel_labels
from scipy.spatial import cKDTree

from pdvaplan.cli import main
from pdvaplan.errors import PdvaplanInputError
from pdvaplan.io import Volume, write_volume
from pdvaplan.labels import METAL
from pdvaplan.outputs import json_default
from pdvaplan.planning import PlanParameters, plan_from_labels, plan_from_phases
from pdvaplan.threads import set_threads
from phantoms import DIRECTIONS, make_phantom
from phantoms.presets import random_grid
from phantoms.scoring import centerline_accuracy, score_crossing

PLAN_FIELDS = {
    "schema",
    "feasible",
    "reason",
    "nearest_mm",
    "crossing",
    "candidates",
    "stent_graft",
    "inputs",
    "parameters",
    "timings_s",
    "version",
}
SITE_FIELDS = {
    "artery",
    "vein",
    "artery_point_mm",
    "vein_point_mm",
    "distance_mm",
    "gap_mm",
    "artery_radius_mm",
    "vein_radius_mm",
    "needle_angle_deg",
}
FINE_MM = (0.8, 0.8, 1.0)


def assert_right_site(plan, truth, regret_mm=0.3, distance_mm=0.5):
    crossing = plan.crossing
    score = score_crossing(
        truth, crossing.artery_point_mm, crossing.vein_point_mm, crossing.distance_mm
    )
    assert score["right"], score
    assert score["regret_mm"] <= regret_mm
    assert abs(score["distance_error_mm"]) <= distance_mm
    return score


@pytest.mark.parametrize("name", ["basic", "two-arteries", "calcified"])
def test_true_label_map_gives_the_true_site(name):
    phantom = cached_phantom(name, spacing_mm=FINE_MM)
    plan = plan_from_labels(phantom.labels)
    assert plan.feasible
    assert_right_site(plan, phantom.truth, regret_mm=0.1, distance_mm=0.3)
    true_path = phantom.truth["stent_graft"]["path_length_mm"]
    assert plan.stent_graft["length_mm"] == pytest.approx(true_path, rel=0.1)
    # Radii from the lumen fractions: the veins' were 0.13 mm too large before the
    # fractions were calibrated to 1 deep inside the lumen.
    for kind, lines in (("artery", plan.vessels.arteries), ("vein", plan.vessels.veins)):
        found = centerline_accuracy([(c.points_mm, c.radii_mm) for c in lines], phantom.truth, kind)
        assert abs(found["radius_bias_mm"]) < 0.08, kind


def test_calcified_crossing_keeps_the_margin_from_calcium():
    phantom = cached_phantom("calcified", spacing_mm=FINE_MM)
    plan = plan_from_labels(phantom.labels)
    assert plan.crossing.calcium_distance_mm > 5.0
    closest_site = min(plan.candidates, key=lambda c: c.distance_mm)
    assert closest_site is plan.crossing  # rule 4: the smallest eligible distance wins


def test_infeasible_says_why_and_how_near():
    phantom = cached_phantom("infeasible", spacing_mm=FINE_MM)
    plan = plan_from_labels(phantom.labels)
    document = plan.as_dict()
    assert document["feasible"] is False
    assert document["crossing"] is None and document["stent_graft"] is None
    assert "reach" in document["reason"]
    assert document["nearest_mm"] == pytest.approx(phantom.truth["nearest_mm"], abs=0.5)


def test_two_phases_give_the_true_site():
    phantom = cached_phantom("basic", spacing_mm=FINE_MM)
    plan = plan_from_phases(phantom.arterial, phantom.venous)
    assert_right_site(plan, phantom.truth)
    true_path = phantom.truth["stent_graft"]["path_length_mm"]
    assert plan.stent_graft["length_mm"] == pytest.approx(true_path, rel=0.1)
    # Radii from the lumen fractions: the veins' were 0.13 mm too large before the
    # fractions were calibrated to 1 deep inside the lumen.
    for kind, lines in (("artery", plan.vessels.arteries), ("vein", plan.vessels.veins)):
        found = centerline_accuracy([(c.points_mm, c.radii_mm) for c in lines], phantom.truth, kind)
        assert abs(found["radius_bias_mm"]) < 0.08, kind


def test_the_plan_does_not_depend_on_the_thread_count():
    phantom = cached_phantom("basic", spacing_mm=FINE_MM)
    plans = []
    try:
        for count in (1, 2):
            set_threads(count)
            plans.append(plan_from_phases(phantom.arterial, phantom.venous))
    finally:
        set_threads(None)
    one, two = (plan.crossing for plan in plans)
    assert (one.artery, one.vein) == (two.artery, two.vein)
    assert np.array_equal(one.artery_point_mm, two.artery_point_mm)
    assert np.array_equal(plans[0].vessels.labels.array, plans[1].vessels.labels.array)
    # plan.json byte for byte, its timings aside.
    texts = [
        json.dumps(plan.as_dict() | {"timings_s": None}, default=json_default) for plan in plans
    ]
    assert texts[0] == texts[1]


#: Grids for the same leg: anisotropic spacings with flipped, permuted and oblique axes.
FRAMES = [
    ((0.7, 0.9, 1.2), "ras"),
    ((0.6, 1.3, 0.75), "permuted"),
    ((1.0, 0.8, 0.9), "oblique"),
    ((0.9, 0.7, 1.1), "identity"),
    ((0.75, 1.05, 0.85), "ras"),
    ((1.1, 0.65, 0.8), "permuted"),
]


def test_the_plan_is_the_same_in_physical_space_on_any_grid():
    """The same leg on six grids: the same vessels, a site as good as the truth's (regret)
    and the same reported distance. Where along a shallow minimum the site lies is not
    compared: equally good sites may lie millimetres apart."""
    distances = []
    for spacing_mm, direction in FRAMES:
        leg = cached_phantom(
            "basic", spacing_mm=spacing_mm, direction=tuple(DIRECTIONS[direction].ravel())
        )
        plan = plan_from_labels(leg.labels)
        assert_right_site(plan, leg.truth, regret_mm=0.1)
        crossing = plan.crossing
        score = score_crossing(
            leg.truth, crossing.artery_point_mm, crossing.vein_point_mm, crossing.distance_mm
        )
        assert (score["artery"], score["vein"]) == (
            leg.truth["crossing"]["artery"],
            leg.truth["crossing"]["vein"],
        )
        distances.append(crossing.distance_mm)
    # Label-map centrelines at 0.6-1.3 mm voxels read distances to about 0.1 mm each.
    assert np.ptp(distances) <= 0.3, distances


#: Oblique grids for the same leg: the first 3 of the frames benchmark's 20 (seed 1),
#: rotated, permuted, mirrored, anisotropic and shifted by a fraction of a voxel;
#: imaging the leg on all 20 takes minutes, so the benchmark holds the rest.
RANDOM_GRIDS = [random_grid(rng) for rng in [np.random.default_rng(1)] for _ in range(3)]


def test_the_plan_is_as_good_on_oblique_grids():
    """Issue 13's bar on random grids, from the label map: the same vessels and a site
    within 0.05 mm of the truth's distance (regret), reported distances within 0.2 mm of
    the truth (a label map's own voxels place the axes only that well; from the phases the
    frames benchmark holds the 0.1 mm bar)."""
    for grid in RANDOM_GRIDS:
        leg = make_phantom("basic", **grid)
        score = assert_right_site(plan_from_labels(leg.labels), leg.truth, 0.05, 0.2)
        assert (score["artery"], score["vein"]) == (
            leg.truth["crossing"]["artery"],
            leg.truth["crossing"]["vein"],
        )


def parallel_vessels(
    obstacle: str | None,
    vein_gap_z_mm: tuple[float, float] | None = None,
    vein_branch_z_mm: float | None = None,
):
    """An artery and a vein 6 mm apart along z; optionally an obstacle between them
    over the upper half and a little below (bone, or another artery), a gap in the vein,
    or a side branch leaving the vein at a height."""
    spacing = 0.5
    shape = (60, 40, 120)
    frame = Volume(np.zeros(shape, np.uint8), np.full(3, spacing), np.zeros(3), np.eye(3))
    x, y, z = np.moveaxis(frame.voxel_positions_mm(), -1, 0)
    labels = np.zeros(shape, np.uint8)
    labels[np.hypot(x - 12.0, y - 10.0) <= 1.6] = 1
    # The vein comes closest (5 mm) in the upper half, 7 mm in the lower half.
    vein_x = 12.0 + np.where(z > 30.0, 5.0, 7.0) + 0.0 * z
    labels[np.hypot(x - vein_x, y - 10.0) <= 1.8] = 2
    if vein_gap_z_mm is not None:  # the vein's lumen is not seen over a few mm
        labels[(labels == 2) & (z > vein_gap_z_mm[0]) & (z < vein_gap_z_mm[1])] = 0
    if vein_branch_z_mm is not None:  # 9 mm sideways, away from the artery
        branch = (np.hypot(y - 10.0, z - vein_branch_z_mm) <= 1.2) & (x > 19.0) & (x < 28.0)
        labels[branch & (labels == 0)] = 2
    if obstacle == "bone":
        labels[(np.abs(x - 14.5) <= 0.6) & (np.abs(y - 10.0) <= 4.0) & (z > 22.0)] = 4
    if obstacle == "artery":
        labels[(np.hypot(x - 15.0, y - 10.0) <= 0.7) & (z > 22.0)] = 1
    return frame.with_array(labels)


def test_needle_never_crosses_bone_or_another_artery():
    free = plan_from_labels(parallel_vessels(None)).crossing
    assert free.artery_point_mm[2] > 30.0 and free.distance_mm == pytest.approx(5.0, abs=0.1)
    # The small artery in the way is no crossing site itself (too narrow), but it blocks.
    rules = PlanParameters(min_artery_mm=2.0)
    for obstacle in ("bone", "artery"):
        plan = plan_from_labels(parallel_vessels(obstacle), rules)
        crossing = plan.crossing
        assert crossing.artery_point_mm[2] < 22.0, obstacle
        assert crossing.distance_mm == pytest.approx(7.0, abs=0.1)


def artery_between_two_veins(second_vein_mm: float):
    """A straight artery with a vein 5 mm away on one side and another `second_vein_mm`
    away on the other, all along z."""
    frame = Volume(np.zeros((70, 30, 100), np.uint8), np.full(3, 0.5), np.zeros(3), np.eye(3))
    x, y, _ = np.moveaxis(frame.voxel_positions_mm(), -1, 0)
    labels = np.zeros(frame.shape, np.uint8)
    labels[np.hypot(x - 17.0, y - 7.5) <= 1.6] = 1
    labels[np.hypot(x - 12.0, y - 7.5) <= 1.8] = 2
    labels[np.hypot(x - 17.0 - second_vein_mm, y - 7.5) <= 1.8] = 2
    return frame.with_array(labels)


@pytest.mark.parametrize("second_vein_mm, tied", [(5.1, True), (6.0, False)])
def test_a_pair_as_short_as_the_crossing_is_a_near_tie(second_vein_mm, tied):
    plan = plan_from_labels(artery_between_two_veins(second_vein_mm))
    runner_up = plan.checks["runner_up"]
    assert runner_up["vein"] != plan.crossing.vein
    assert runner_up["longer_by_mm"] == pytest.approx(second_vein_mm - 5.0, abs=0.1)
    said = [w for w in plan.warnings if w.startswith("a near tie")]
    assert bool(said) == tied
    if tied:
        assert runner_up["vein"] in said[0]


def converging_vessels(closest: str, artery_from_z_mm: float = 0.0):
    """A straight artery (lumen from `artery_from_z_mm` up to the top) and a vein that
    draws nearer to it towards the volume's top or bottom, 4 mm apart where closest."""
    spacing = 0.5
    shape = (60, 40, 120)
    frame = Volume(np.zeros(shape, np.uint8), np.full(3, spacing), np.zeros(3), np.eye(3))
    x, y, z = np.moveaxis(frame.voxel_positions_mm(), -1, 0)
    labels = np.zeros(shape, np.uint8)
    labels[(np.hypot(x - 12.0, y - 10.0) <= 1.6) & (z >= artery_from_z_mm)] = 1
    rise_mm = z.max() - z if closest == "top" else z - artery_from_z_mm
    labels[np.hypot(x - 16.0 - 0.1 * np.maximum(rise_mm, 0.0), y - 10.0) <= 1.8] = 2
    return frame.with_array(labels)


def test_no_site_at_the_stump_where_the_artery_contrast_stops():
    labels = converging_vessels("bottom", artery_from_z_mm=20.0)
    at_stump = plan_from_labels(labels, PlanParameters(patent_end_margin_mm=0.0)).crossing
    assert at_stump.artery_point_mm[2] < 21.0
    plan = plan_from_labels(labels, PlanParameters(patent_end_margin_mm=3.0))
    artery_end_z = plan.vessels.arteries[0].points_mm[-1, 2]
    assert plan.crossing.artery_point_mm[2] == pytest.approx(artery_end_z + 3.0, abs=0.5)


def test_calcium_on_the_occluded_stretch_below_the_stump_keeps_its_margin():
    """The artery's contrast stops at z = 20 mm; its wall 2 to 4 mm further down, on the
    occluded stretch, is calcified (not touching the lumen). The site nearest the stump
    (the vein draws nearer downwards) must still keep 5 mm from that calcium."""
    labels = converging_vessels("bottom", artery_from_z_mm=20.0)
    x, y, z = np.moveaxis(labels.voxel_positions_mm(), -1, 0)
    ring = np.hypot(x - 12.0, y - 10.0)
    array = labels.array.copy()
    array[(ring > 1.0) & (ring <= 2.4) & (z >= 16.0) & (z <= 18.0)] = 3
    plan = plan_from_labels(labels.with_array(array), PlanParameters(patent_end_margin_mm=0.0))
    assert plan.crossing.calcium_distance_mm > 5.0
    assert plan.crossing.artery_point_mm[2] > 18.0 + 5.0


def test_a_shorter_site_on_an_artery_piece_below_a_long_break_is_warned():
    """An artery runs in from the top and stops at z = 40 mm; 25 mm lower (beyond the
    20 mm a catheter is taken to cross) a piece of lumen lies 4.5 mm from the vein, where
    the upper piece lies 7 mm from it. The crossing stays on the reached artery, and the
    shorter site on the piece below is named, not dropped in silence."""
    frame = Volume(np.zeros((50, 30, 120), np.uint8), np.full(3, 0.5), np.zeros(3), np.eye(3))
    x, y, z = np.moveaxis(frame.voxel_positions_mm(), -1, 0)
    labels = np.zeros(frame.shape, np.uint8)
    axis = np.hypot(x - 8.0, y - 7.0) <= 1.5
    labels[axis & ((z >= 40.0) | (z <= 15.0))] = 1
    vein_x = np.where(z > 27.5, 15.0, 12.5)
    labels[np.hypot(x - vein_x, y - 7.0) <= 1.5] = 2
    plan = plan_from_labels(frame.with_array(labels))
    assert plan.crossing.artery_point_mm[2] >= 40.0
    assert plan.crossing.distance_mm == pytest.approx(7.0, abs=0.3)
    unreached = plan.checks["unreached_artery_site"]
    assert unreached["distance_mm"] == pytest.approx(4.5, abs=0.3)
    assert any("offers a site" in w and "not seen to join" in w for w in plan.warnings)


def calcified_at_the_bottom(slope: float):
    """An artery whose wall is calcified over its lowest 10 mm, and a vein that draws
    nearer to it towards the bottom by `slope` mm per mm of height,
    8 mm apart at z = 15 mm (where a 5 mm margin from the calcium ends), 3.5 to 20 mm."""
    frame = Volume(np.zeros((50, 20, 60), np.uint8), np.full(3, 1.0), np.zeros(3), np.eye(3))
    x, y, z = np.moveaxis(frame.voxel_positions_mm(), -1, 0)
    labels = np.zeros(frame.shape, np.uint8)
    radius_mm = np.hypot(x - 12.0, y - 10.0)
    labels[radius_mm <= 1.6] = 1
    labels[(radius_mm > 1.6) & (radius_mm <= 2.4) & (z <= 10.0)] = 3
    apart_mm = np.clip(8.0 + slope * (z - 15.0), 3.5, 20.0)
    labels[np.hypot(x - 12.0 - apart_mm, y - 10.0) <= 1.8] = 2
    return frame.with_array(labels)


@pytest.mark.parametrize("slope, shorter_warned", [(1.0, True), (0.1, False)])
def test_a_crossing_decided_by_the_calcium_margin_within_a_voxel_is_warned(slope, shorter_warned):
    """The best site keeps the margin; a site within a voxel (1 mm) nearer the calcium is
    about 0.6 mm shorter beside the steep vein (a warning names it) and 0.02 mm beside the
    gentle one (a near tie at most: nothing said of it). Either way the crossing keeps
    the margin by less than a voxel, which is said. Sites ranked by raw distance, so
    that the differences are the vein's slope's."""
    plan = plan_from_labels(calcified_at_the_bottom(slope), PlanParameters(profile_smoothing_mm=0))
    crossing = plan.crossing
    assert 5.0 < crossing.calcium_distance_mm <= 6.0
    shorter = plan.checks["calcium_edge"]["shorter_site"]
    assert 4.0 < shorter["calcium_distance_mm"] <= 5.0
    assert (shorter["shorter_by_mm"] > 0.25) == shorter_warned
    said = [w for w in plan.warnings if "lies just inside the calcium margin" in w]
    assert bool(said) == shorter_warned
    assert any("keeps the calcium margin by less than a voxel" in w for w in plan.warnings)


def test_nearest_distance_follows_the_site_rules():
    # Closest (4 mm) where both vessels leave the volume's top: that edge is not
    # eligible (5 mm margin), so the nearest eligible distance is 4.5 mm.
    plan = plan_from_labels(converging_vessels("top"), PlanParameters(reach_mm=3.0))
    assert not plan.feasible and "4.5 mm" in plan.reason
    assert plan.nearest_mm == pytest.approx(4.5, abs=0.1)


def test_stent_graft_path_bridges_a_gap_in_the_vein():
    whole = plan_from_labels(parallel_vessels(None)).stent_graft
    bridged = plan_from_labels(parallel_vessels(None, vein_gap_z_mm=(12.0, 16.0))).stent_graft
    assert bridged["end_mm"][2] == pytest.approx(whole["end_mm"][2], abs=0.5)
    assert bridged["length_mm"] == pytest.approx(whole["length_mm"], abs=6.0)


def test_stent_graft_path_passes_a_side_branch_of_the_vein():
    """A side branch splits the vein's centreline at a junction; the path goes on down
    the vein, not into the branch (random leg 10 of the tuning sweep ended at a spur)."""
    whole = plan_from_labels(parallel_vessels(None)).stent_graft
    plan = plan_from_labels(parallel_vessels(None, vein_branch_z_mm=15.0))
    assert len(plan.vessels.veins) > 1  # the junction split the vein
    branched = plan.stent_graft
    assert branched["end_mm"][2] == pytest.approx(whole["end_mm"][2], abs=0.5)
    assert branched["length_mm"] == pytest.approx(whole["length_mm"], abs=6.0)
    assert max(p[0] for p in branched["path_mm"]) < 20.0  # never out along the branch


def test_stent_graft_chain_covers_the_path_with_overlaps():
    plan = plan_from_labels(cached_phantom("basic", spacing_mm=FINE_MM).labels)
    stent = plan.stent_graft
    segments = stent["segments"]
    assert segments[0]["kind"] == "crossing"
    assert all(s["kind"] == "extension" for s in segments[1:])
    catalog = plan.parameters.catalog
    covered_to = segments[0]["length_mm"] - plan.crossing.distance_mm
    for segment in segments[1:]:
        assert segment["distal_diameter_mm"] >= 2 * plan.crossing.vein_radius_mm
        covered_to += segment["length_mm"] - catalog.overlap_mm
    assert covered_to >= stent["length_mm"] - 1e-6
    assert np.allclose(stent["path_mm"][0], plan.crossing.vein_point_mm, atol=1e-3)
    assert stent["end_mm"][2] == pytest.approx(min(p[2] for p in stent["path_mm"]), abs=1e-3)


def test_ankle_level_shortens_the_path():
    labels = cached_phantom("basic", spacing_mm=FINE_MM).labels
    full = plan_from_labels(labels).stent_graft
    short = plan_from_labels(labels, PlanParameters(ankle_z_mm=100.0)).stent_graft
    assert short["end_mm"][2] == pytest.approx(100.0, abs=1e-6)
    assert short["length_mm"] < full["length_mm"] - 90.0
    # An ankle level outside the volume would end the path at the vein's end while the
    # plan spoke of the ankle: refused.
    beyond = labels.corners_mm()[:, 2].min() - 50.0
    with pytest.raises(PdvaplanInputError, match=r"--ankle-z-mm .*outside the volume"):
        plan_from_labels(labels, PlanParameters(ankle_z_mm=beyond))


def test_plan_command_writes_the_contract(tmp_path, capsys):
    phantom = cached_phantom("basic", spacing_mm=(1.0, 1.0, 1.25))
    write_volume(phantom.labels, tmp_path / "labels.nii.gz")
    assert (
        main(
            [
                "plan",
                "--labels",
                str(tmp_path / "labels.nii.gz"),
                "--out",
                str(tmp_path / "out"),
                "--reach-mm",
                "9",
                "--no-render",
            ]
        )
        == 0
    )
    document = json.loads((tmp_path / "out" / "plan.json").read_text(encoding="utf-8"))
    assert set(document) >= PLAN_FIELDS
    assert document["schema"] == "pdvaplan.plan/1" and document["feasible"] is True
    assert set(document["crossing"]) >= SITE_FIELDS
    assert [c["rank"] for c in document["candidates"]] == list(
        range(1, len(document["candidates"]) + 1)
    )
    assert document["parameters"]["reach_mm"] == 9.0
    assert len(document["inputs"]["sha256"]["labels"]) == 64
    assert {"load", "centerlines", "search", "plan"} <= {
        k for k, v in document["timings_s"].items() if v is not None
    }
    # The summary names the vessels as the report does: anatomy where known, and the id.
    crossing = document["crossing"]
    names = {v["id"]: v["name"] for v in document["vessels"]}
    assert names[crossing["artery"]] == "posterior tibial artery"
    assert (
        f"crossing: from the posterior tibial artery ({crossing['artery']}) at"
        in capsys.readouterr().out
    )
    assert_markups_match(tmp_path / "out", document)
    assert_slicer_segmentation_matches(tmp_path / "out", phantom.labels)


def assert_markups_match(folder, document):
    """The Slicer markups, read back as JSON, hold plan.json's points in LPS mm."""

    def markup(name):
        (only,) = json.loads((folder / name).read_text(encoding="utf-8"))["markups"]
        assert (only["coordinateSystem"], only["coordinateUnits"]) == ("LPS", "mm")
        return only["type"], np.array([p["position"] for p in only["controlPoints"]])

    crossing = document["crossing"]
    ends = np.array([crossing["artery_point_mm"], crossing["vein_point_mm"]])
    for name, kind in (("crossing.mrk.json", "Fiducial"), ("needle.mrk.json", "Line")):
        assert markup(name)[0] == kind
        np.testing.assert_allclose(markup(name)[1], ends, atol=1e-9)
    kind, curve = markup("stent-graft.mrk.json")
    path = np.array(document["stent_graft"]["path_mm"])
    assert kind == "Curve" and len(curve) >= document["stent_graft"]["length_mm"] / 5.0
    np.testing.assert_allclose(curve[[0, -1]], path[[0, -1]], atol=1e-9)
    # Every control point lies on the path (sampled every 1/20 of its segments), 5 mm apart
    # (the last up to 7.5 mm: no stub at the end).
    steps = np.linspace(0, 1, 20, endpoint=False)[None, :, None]
    fine = (path[:-1, None] + steps * np.diff(path, axis=0)[:, None]).reshape(-1, 3)
    assert cKDTree(fine).query(curve)[0].max() < 0.05
    gaps = np.linalg.norm(np.diff(curve, axis=0), axis=1)
    assert gaps[:-1].max() <= 5.0 + 1e-6 and gaps[-1] <= 7.5 + 1e-6


def assert_slicer_segmentation_matches(folder, labels):
    """segmentation.seg.nrrd, read back with slicerio, is the label map on its own grid in
    LPS, with a named and coloured segment per value present; the colour table names them."""
    segmentation = slicerio.read_segmentation(str(folder / "segmentation.seg.nrrd"))
    # Each label's voxels land where the label map has them, in physical space.
    ijk_to_lps = np.asarray(segmentation["ijkToLPS"])
    for value in (1, 2, 4):
        index = np.argwhere(segmentation["voxels"] == value).astype(float)
        lps = index @ ijk_to_lps[:3, :3].T + ijk_to_lps[:3, 3]
        expected = labels.index_to_physical(np.argwhere(labels.array == value).astype(float))
        np.testing.assert_allclose(lps, expected, atol=1e-6)
    names = {s["labelValue"]: s["name"] for s in segmentation["segments"]}
    assert names == {1: "patent artery lumen", 2: "vein lumen", 4: "bone"} | (
        {3: "calcium"} if (labels.array == 3).any() else {}
    )
    assert all(len(s["color"]) == 3 for s in segmentation["segments"])
    table = (folder / "segmentation.ctbl").read_text(encoding="utf-8").splitlines()
    assert [row.split()[:2] for row in table[2:5]] == [
        ["1", "patent_artery_lumen"],
        ["2", "vein_lumen"],
        ["3", "calcium"],
    ]


def test_infeasible_plan_is_an_answer_with_exit_0(tmp_path):
    write_volume(cached_phantom("infeasible").labels, tmp_path / "labels.nrrd")
    assert (
        main(["plan", "--labels", str(tmp_path / "labels.nrrd"), "--out", str(tmp_path / "out")])
        == 0
    )
    document = json.loads((tmp_path / "out" / "plan.json").read_text(encoding="utf-8"))
    assert document["feasible"] is False and "reach" in document["reason"]
    assert not list((tmp_path / "out").glob("*.mrk.json"))


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ([], "--arterial and --venous, or --labels"),
        (["--arterial", "a.nii"], "--arterial and --venous, or --labels"),
        (["--labels", "missing.nii.gz"], "missing.nii.gz: no such file"),
        (["--labels", "LABELS", "--reach-mm", "-1"], "--reach-mm -1"),
        (["--labels", "LABELS", "--reach-mm", "500"], "--reach-mm 500.0: out of range"),
        (["--labels", "LABELS", "--min-artery-mm", "-2"], "--min-artery-mm -2.0: out of"),
        (["--labels", "LABELS", "--min-vein-mm", "80"], "--min-vein-mm 80.0: out of range"),
        (["--labels", "LABELS", "--calcium-hu", "50"], "--calcium-hu 50.0: out of range"),
        (["--labels", "LABELS", "--calcium-margin-mm", "-1"], "--calcium-margin-mm -1.0"),
        (["--labels", "LABELS", "--ankle-z-mm", "nan"], "--ankle-z-mm nan: out of range"),
        (["--labels", "LABELS", "--ankle-z-mm", "-900"], "--ankle-z-mm -900: outside"),
        (["--labels", "LABELS", "--hu-scale", "0", "5"], "--hu-scale 0.0 5.0: out of range"),
        (["--labels", "LABELS", "--threads", "0"], "--threads: '0': expected a whole"),
        (["--labels", "LABELS", "--catalog", "nope.json"], "nope.json"),
    ],
    ids=[
        "no-input",
        "one-phase",
        "missing",
        "bad-reach",
        "huge-reach",
        "negative-artery",
        "huge-vein",
        "low-calcium",
        "negative-margin",
        "nan-ankle",
        "ankle-outside",
        "zero-slope",
        "zero-threads",
        "missing-catalog",
    ],
)
def test_bad_plan_input_exits_2_and_writes_no_plan(tmp_path, capsys, args, words):
    write_volume(parallel_vessels(None), tmp_path / "labels.nii.gz")
    args = [str(tmp_path / "labels.nii.gz") if a == "LABELS" else a for a in args]
    try:
        status = main(["plan", "--out", str(tmp_path / "out"), *args])
    except SystemExit as parser_exit:  # argparse's own errors exit by themselves
        status = parser_exit.code
    assert status == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert words in error
    assert not (tmp_path / "out" / "plan.json").exists()


def test_a_crossing_at_the_end_of_the_vein_is_warned():
    """A vein nearest its artery at its own distal end inside the volume: the stent path
    has nowhere to go, and the plan says so instead of planning 0 mm of it silently."""
    frame = Volume(np.zeros((40, 40, 160), np.uint8), np.ones(3), np.zeros(3), np.eye(3))
    x, y, z = np.moveaxis(frame.voxel_positions_mm(), -1, 0)
    labels = np.zeros(frame.shape, np.uint8)
    labels[np.hypot(x - 12.0, y - 20.0) <= 2.0] = 1
    vein_x = 20.0 + (z - 30.0) * 0.06  # nearest the artery at its lower end, z = 30 mm
    labels[(np.hypot(x - vein_x, y - 20.0) <= 2.2) & (z >= 30.0)] = 2
    plan = plan_from_labels(frame.with_array(labels))
    assert plan.feasible and plan.stent_graft["length_mm"] < 5.0
    assert plan.stent_graft["ends_at"] == "lumen-end"
    assert any("no vein is seen below the crossing" in w for w in plan.warnings)
    # Heights are measured from the ankle level (the volume's lower border, z = 0), not from
    # where the path stops (the crossing's own height, 30 mm): it was said to be 0 mm above.
    crossing = plan.as_dict()["crossing"]
    assert plan.as_dict()["ankle_z_mm"] == 0.0
    assert crossing["height_above_ankle_mm"] == pytest.approx(crossing["artery_point_mm"][2])
    assert crossing["height_above_ankle_mm"] > 25.0
    # Where the vein runs on below the crossing (nearest at z = 100 mm), no such warning.
    labels[labels == 2] = 0
    labels[np.hypot(x - 20.0 - np.abs(z - 100.0) * 0.06, y - 20.0) <= 2.2] = 2
    plan = plan_from_labels(frame.with_array(labels))
    assert not any("no vein is seen below" in w for w in plan.warnings)


@pytest.mark.parametrize(("metal_z_mm", "warned"), [((20.0, 60.0), True), ((100.0, 140.0), False)])
def test_a_vein_lost_among_the_slices_that_hold_metal_is_warned(metal_z_mm, warned):
    """A vein whose lumen ends 40 mm above the ankle level, among the slices that hold a
    plate (whose streaks can hide a lumen): the path stops there, and the plan says the vein
    may run on. Metal higher up, away from where the path stops, says nothing."""
    frame = Volume(np.zeros((40, 40, 160), np.uint8), np.ones(3), np.zeros(3), np.eye(3))
    x, y, z = np.moveaxis(frame.voxel_positions_mm(), -1, 0)
    labels = np.zeros(frame.shape, np.uint8)
    labels[np.hypot(x - 12.0, y - 20.0) <= 2.0] = 1
    vein_x = 20.0 + np.abs(z - 100.0) * 0.06  # nearest the artery at z = 100 mm
    labels[(np.hypot(x - vein_x, y - 20.0) <= 2.2) & (z >= 40.0)] = 2
    labels[(x >= 32.0) & (y >= 30.0) & (z >= metal_z_mm[0]) & (z <= metal_z_mm[1])] = METAL
    plan = plan_from_labels(frame.with_array(labels))
    assert plan.stent_graft["ends_at"] == "lumen-end"
    assert plan.stent_graft["end_mm"][2] == pytest.approx(40.0, abs=1.5)
    said = [w for w in plan.warnings if "among the slices that hold metal" in w]
    assert len(said) == warned
    assert not said or "40 mm above the ankle level" in said[0]


def test_a_real_label_map_is_planned_from_the_top_with_heights_from_the_lower_border():
    """TotalSegmentator's aorta (artery) and inferior vena cava and portal vein (veins) on a
    real CT, with a 50 mm reach: the aorta runs in from the volume's top, heights count from
    the lower border, and the path that stops at the veins' junction near it is a warning."""
    labels = real_vessel_labels()
    plan = plan_from_labels(labels, PlanParameters(reach_mm=50.0))
    (aorta,) = plan.vessels.arteries
    assert (aorta.proximal_end, aorta.distal_end) == ("border", "border")
    assert plan.feasible
    document = plan.as_dict()
    lower_z = labels.corners_mm()[:, 2].min()
    assert document["ankle_z_mm"] == pytest.approx(lower_z)
    crossing = document["crossing"]
    assert crossing["height_above_ankle_mm"] == pytest.approx(
        crossing["artery_point_mm"][2] - lower_z
    )
    assert plan.stent_graft["ends_at"] == "junction"
    assert any("ends at a junction" in w for w in plan.warnings)


def test_lumens_that_overlap_at_the_crossing_are_a_warning():
    """A vein wrapped half-way round its artery (a half shell, 2 mm thick, against the
    artery's wall): its centre lies 1.8 mm from the artery's axis, so the needle's 'gap'
    is about -2 mm, a geometry the distance does not describe (as with a calcified wall
    taken for a vein). A vein 5 mm away (gap about 1.6 mm) raises no such warning."""
    frame = Volume(np.zeros((60, 60, 80), np.uint8), np.full(3, 0.5), np.zeros(3), np.eye(3))
    x, y, _ = np.moveaxis(frame.voxel_positions_mm(), -1, 0)
    labels = np.zeros(frame.shape, np.uint8)
    radius = np.hypot(x - 15.0, y - 15.0)
    labels[radius <= 1.5] = 1
    labels[(radius > 1.5) & (radius <= 3.5) & (x > 15.0)] = 2
    wrapped = plan_from_labels(frame.with_array(labels))
    assert wrapped.crossing.gap_mm < -1.0
    assert any("the lumens overlap at the crossing" in w for w in wrapped.warnings)
    labels[labels == 2] = 0
    labels[np.hypot(x - 20.0, y - 15.0) <= 1.9] = 2
    apart = plan_from_labels(frame.with_array(labels))
    assert apart.crossing.gap_mm > 1.0
    assert not any("overlap" in w for w in apart.warnings)
