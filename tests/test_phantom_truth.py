"""The phantom's truth agrees with an independent brute force, and presets show their names."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import cached_phantom
from scipy import ndimage

from phantoms.presets import preset

REACH_MM = 10.0
MARGIN_MM = 5.0


def vessels(truth: dict, kind: str) -> list[dict]:
    return [v for v in truth["vessels"] if v["kind"] == kind]


def brute_force_pairs(truth: dict, use_eligible: bool = True):
    """The closest vein sample of every (eligible) artery sample, by plain numpy.

    Returns a list of (distance, artery, artery point, vein, vein point) sorted by distance.
    """
    veins = vessels(truth, "vein")
    v_points = np.concatenate([v["points_mm"] for v in veins])
    v_names = np.repeat([v["name"] for v in veins], [len(v["points_mm"]) for v in veins])
    found = []
    for artery in vessels(truth, "artery"):
        flags = np.array(artery["eligible" if use_eligible else "patent"])
        a_points = np.array(artery["points_mm"])[flags]
        for chunk in np.array_split(a_points, max(1, len(a_points) // 128)):
            if len(chunk) == 0:
                continue
            d = np.sqrt(((chunk[:, None, :] - v_points[None, :, :]) ** 2).sum(axis=-1))
            j = np.argmin(d, axis=1)
            found.extend(
                (d[i, j[i]], artery["name"], chunk[i], v_names[j[i]], v_points[j[i]])
                for i in range(len(chunk))
            )
    return sorted(found, key=lambda item: item[0])


def labels_along(phantom, start_mm, end_mm, step_mm=0.05) -> np.ndarray:
    """Label values at points every `step_mm` along a segment (nearest voxel)."""
    n = int(np.ceil(np.linalg.norm(np.subtract(end_mm, start_mm)) / step_mm)) + 1
    points = np.linspace(start_mm, end_mm, n)
    index = np.rint(phantom.labels.physical_to_index(points)).astype(int)
    return phantom.labels.array[tuple(index.T)]


@pytest.mark.parametrize("name", ["basic", "two-arteries", "calcified", "noisy-stenosis"])
def test_truth_crossing_matches_brute_force(name):
    phantom = cached_phantom(name)
    truth = phantom.truth
    best = brute_force_pairs(truth)[0]
    crossing = truth["crossing"]
    assert truth["feasible"] and best[0] <= REACH_MM
    assert (crossing["artery"], crossing["vein"]) == (best[1], best[3])
    # The truth is refined on the continuous curves: never longer than the
    # sampled optimum, and no shorter than sampling at 0.2 mm can explain.
    assert best[0] - 0.01 <= crossing["distance_mm"] <= best[0] + 1e-9
    # Minima are shallow along paired vessels; the site is still the same one.
    assert np.linalg.norm(np.subtract(crossing["artery_point_mm"], best[2])) < 2.0
    assert crossing["gap_mm"] == pytest.approx(
        crossing["distance_mm"] - crossing["artery_radius_mm"] - crossing["vein_radius_mm"]
    )
    assert not np.isin(labels_along(phantom, best[2], best[4]), [4]).any()


def test_truth_stent_path_is_the_vein_arc_length_to_its_distal_end():
    truth = cached_phantom("basic").truth
    vein = next(v for v in vessels(truth, "vein") if v["name"] == truth["crossing"]["vein"])
    points = np.array(vein["points_mm"])
    below = points[points[:, 2] <= truth["crossing"]["vein_point_mm"][2]]
    path = np.concatenate([[truth["crossing"]["vein_point_mm"]], below])
    length = np.linalg.norm(np.diff(path, axis=0), axis=1).sum()
    assert truth["stent_graft"]["path_length_mm"] == pytest.approx(length, abs=0.3)
    assert np.allclose(truth["stent_graft"]["distal_end_mm"], points[-1])


def test_basic_crosses_posterior_tibial():
    crossing = cached_phantom("basic").truth["crossing"]
    assert crossing["artery"] == "posterior-tibial-artery"
    assert crossing["vein"].startswith("posterior-tibial-vein")


def test_two_arteries_best_pair_is_not_posterior_tibial():
    truth = cached_phantom("two-arteries").truth
    patent = [a["name"] for a in vessels(truth, "artery") if any(a["patent"])]
    assert len(patent) == 2
    assert truth["crossing"]["artery"] not in ("posterior-tibial-artery", "anterior-tibial-artery")
    posterior = [p for p in brute_force_pairs(truth) if p[1] == "posterior-tibial-artery"]
    assert posterior[0][0] > truth["crossing"]["distance_mm"] + 1.0


def test_calcified_geometric_minimum_sits_in_calcium():
    phantom = cached_phantom("calcified")
    truth = phantom.truth
    closest = brute_force_pairs(truth, use_eligible=False)[0]
    artery = next(a for a in vessels(truth, "artery") if a["name"] == closest[1])
    points, arc = np.array(artery["points_mm"]), np.array(artery["arc_mm"])
    calcified_arc = arc[np.array(artery["calcified"])]
    at_min = arc[np.argmin(np.linalg.norm(points - closest[2], axis=1))]
    assert np.min(np.abs(calcified_arc - at_min)) <= MARGIN_MM
    # The label map has calcium right at the geometric minimum ...
    calcium = np.argwhere(phantom.labels.array == 3)
    calcium_mm = phantom.labels.index_to_physical(calcium)
    assert np.min(np.linalg.norm(calcium_mm - closest[2], axis=1)) < 3.0
    # ... and the answer lies beyond the margin, and is longer.
    at_answer = arc[
        np.argmin(np.linalg.norm(points - truth["crossing"]["artery_point_mm"], axis=1))
    ]
    assert np.min(np.abs(calcified_arc - at_answer)) > MARGIN_MM - 0.2
    assert truth["crossing"]["distance_mm"] > closest[0] + 0.1
    assert truth["geometric_minimum"]["eligible"] is False


def test_infeasible_has_no_vein_within_reach():
    truth = cached_phantom("infeasible").truth
    nearest = brute_force_pairs(truth)[0][0]
    assert truth["feasible"] is False and truth["crossing"] is None
    assert nearest > REACH_MM
    assert truth["nearest_mm"] == pytest.approx(nearest, abs=0.01)
    assert "reach" in truth["reason"] and f"{truth['nearest_mm']:.2f}" in truth["reason"]


def test_noisy_stenosis_is_noisy_and_narrowed():
    phantom = cached_phantom("noisy-stenosis", spacing_mm=(1.0, 1.0, 2.0))
    # Noise: the spread of plain muscle, at least 4 mm from any labelled structure.
    labels = phantom.labels
    far = ndimage.distance_transform_edt(labels.array == 0, sampling=labels.spacing_mm) > 4.0
    xy = labels.voxel_positions_mm()[..., :2]
    inside_muscle = np.hypot(xy[..., 0] / 40.0, xy[..., 1] / 36.0) < 0.9
    muscle = phantom.arterial.array[far & inside_muscle]
    assert muscle.size > 10_000
    assert muscle.std() == pytest.approx(35.0, rel=0.1)
    assert np.median(muscle) == pytest.approx(50.0, abs=3.0)
    for artery in vessels(phantom.truth, "artery"):
        radii = np.array(artery["radii_mm"])
        assert radii.min() < 0.62 * np.median(radii)


def test_oblique_is_the_basic_leg_on_an_oblique_anisotropic_grid():
    spec, grid = preset("oblique")
    direction = np.reshape(grid.direction, (3, 3))
    assert not np.allclose(np.abs(direction), np.round(np.abs(direction)))  # not axis-aligned
    assert len(set(grid.spacing_mm)) == 3
    assert spec == preset("basic")[0]
    oblique = cached_phantom("oblique", spacing_mm=(1.2, 1.5, 2.8))
    assert np.allclose(oblique.labels.direction, direction)
    basic = cached_phantom("basic").truth["crossing"]
    assert np.allclose(
        oblique.truth["crossing"]["artery_point_mm"], basic["artery_point_mm"], atol=0.05
    )
    assert oblique.truth["crossing"]["distance_mm"] == pytest.approx(basic["distance_mm"], abs=1e-3)


def test_random_legs_vary_and_have_a_consistent_truth():
    seen = set()
    for seed in (1, 2):
        truth = cached_phantom("random", seed=seed, spacing_mm=(2.0, 2.0, 2.5)).truth
        seen.add(round(vessels(truth, "artery")[0]["radii_mm"][0], 3))
        if truth["feasible"]:
            assert truth["crossing"]["distance_mm"] <= REACH_MM
            assert truth["crossing"]["distance_mm"] == pytest.approx(
                brute_force_pairs(truth)[0][0], abs=0.01
            )
    assert len(seen) == 2


def test_mirror_image_veins_are_a_tie_and_either_is_right():
    """Two veins mirrored about their artery are equally near it everywhere: the truth
    names the other as a tie, and a site on either scores right."""
    from dataclasses import replace

    from phantoms import Acquisition, make_phantom
    from phantoms.presets import POSTERIOR_TIBIAL, basic_leg
    from phantoms.scoring import score_crossing

    leg = basic_leg()
    veins = tuple(
        replace(v, dip_mm=1.6, dip_z_mm=200.0, wobble_mm=0.0, angle_swing_deg=0.0, phase_rad=0.0)
        if v.artery == POSTERIOR_TIBIAL
        else v
        for v in leg.veins
    )
    phantom = make_phantom(
        "basic", 0, (2.0, 2.0, 2.5), spec=replace(leg, veins=veins), acquisition=Acquisition()
    )
    truth = phantom.truth
    crossing = truth["crossing"]
    assert crossing["artery"] == POSTERIOR_TIBIAL
    ties = [t for t in truth["ties"] if t["artery"] == POSTERIOR_TIBIAL]
    assert len(ties) == 1 and ties[0]["vein"] != crossing["vein"]
    assert ties[0]["more_than_crossing_mm"] < 0.1
    # A site on the tied vein at the same height, mirrored through the artery point.
    artery = np.asarray(crossing["artery_point_mm"])
    mirrored = 2 * artery - np.asarray(crossing["vein_point_mm"])
    mirrored[2] = crossing["vein_point_mm"][2]
    score = score_crossing(truth, artery, mirrored, crossing["distance_mm"])
    assert score["vein"] == ties[0]["vein"] and score["right"]
