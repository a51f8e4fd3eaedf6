"""Anatomical names of the vessels: every centreline is named as the true vessel it lies on.

The phantoms know each vessel's name ("posterior-tibial-vein-2"); the
centrelines of the true label map are matched to the true vessel most of
their points lie on (`TruthCurves.project`), and `name_vessels` must give that
vessel's name, or None where the geometry cannot tell (no bone, one bone,
two arteries claiming one name).
"""

from __future__ import annotations

import copy
import dataclasses
import functools

import numpy as np
import pytest

from pdvaplan.io import Volume
from pdvaplan.labels import BONE
from pdvaplan.planning import PlanParameters, VesselMap, map_vessels, plan_vessels
from pdvaplan.planning.naming import AnatomySettings, leg_frame, name_centerlines, name_vessels
from phantoms import Phantom
from phantoms.presets import DIRECTIONS, rotation
from phantoms.scoring import TruthCurves
from tests.conftest import cached_phantom

MIRROR_X = np.diag([-1.0, 1.0, 1.0])
TILT = rotation("x", 20.0) @ rotation("y", -15.0)


def truth_name(name: str) -> str:
    """A phantom vessel's name as `name_vessels` spells it: "peroneal-vein-1" -> "peroneal vein"."""
    stem, _, number = name.rpartition("-")
    return (stem if number.isdigit() else name).replace("-", " ")


def moved(phantom: Phantom, matrix: np.ndarray) -> Phantom:
    """The phantom's labels and truth with the physical frame moved by `matrix` (about 0).

    The voxels stay as they are; what moves is where they sit in physical
    space: ``physical' = matrix @ physical``. A mirror (det -1) turns the right
    leg into a left one, a rotation tilts the leg away from the z axis.
    """
    labels = phantom.labels
    frame = Volume(
        labels.array, labels.spacing_mm, matrix @ labels.origin_mm, matrix @ labels.direction
    )
    truth = copy.deepcopy(phantom.truth)
    for vessel in truth["vessels"]:
        vessel["points_mm"] = (np.asarray(vessel["points_mm"]) @ matrix.T).tolist()
    return dataclasses.replace(phantom, labels=frame, truth=truth)


@functools.cache
def phantom_and_vessels(
    name: str, direction: str | None = None, frame: str | None = None
) -> tuple[Phantom, VesselMap]:
    """A coarse phantom (on a named grid direction, its frame optionally mirrored
    or tilted) and the vessels of its true label map, made once per session."""
    grid = None if direction is None else tuple(DIRECTIONS[direction].ravel())
    phantom = cached_phantom(name, direction=grid)
    if frame is not None:
        phantom = moved(phantom, {"mirror": MIRROR_X, "tilt": TILT, "both": TILT @ MIRROR_X}[frame])
    return phantom, map_vessels(phantom.labels)


def true_names(phantom: Phantom, vessels: VesselMap) -> dict[str, str]:
    """Per centreline id, the name of the true vessel most of its points lie on."""
    names = {}
    for kind, lines in (("artery", vessels.arteries), ("vein", vessels.veins)):
        curves = TruthCurves(phantom.truth, kind)
        for line in lines:
            hit = curves.project(line.points_mm)
            # The truth lies where the centrelines are (a mirrored or tilted
            # truth that did not move with the labels would be far off).
            assert np.median(hit["distance_mm"]) < 1.0, line.id
            names[line.id] = truth_name(curves.names[np.bincount(hit["vessel"]).argmax()])
    return names


@pytest.mark.parametrize(
    ("name", "direction", "frame"),
    [
        ("basic", None, None),
        ("calcified", None, None),
        ("basic", None, "mirror"),  # a left leg
        ("basic", "permuted", None),  # index axes permuted
        ("basic", "oblique", None),  # a rotated grid with flipped axes
        ("basic", None, "tilt"),  # the leg tilted 25 degrees off the z axis
        ("basic", "permuted", "both"),  # a tilted left leg on a permuted grid
    ],
)
def test_every_vessel_of_the_true_labels_gets_its_true_name(name, direction, frame):
    phantom, vessels = phantom_and_vessels(name, direction, frame)
    names = name_vessels(vessels)
    expected = true_names(phantom, vessels)
    assert names == expected
    # All three arteries and all six veins are there and named.
    assert {n for n in names.values()} == {
        f"{stem} {kind}"
        for stem in ("anterior tibial", "posterior tibial", "peroneal")
        for kind in ("artery", "vein")
    }


def test_mirrored_leg_has_its_tibia_on_the_other_side():
    """The mirror really makes a left leg: the tibia (medial) moves from +x to -x."""
    right = leg_frame(phantom_and_vessels("basic")[0].labels)
    left = leg_frame(phantom_and_vessels("basic", None, "mirror")[0].labels)
    for frame, sign in ((right, 1.0), (left, -1.0)):
        tibia, fibula, *_ = next(iter(frame.pairs.values()))[0]
        assert sign * ((tibia - fibula) @ frame.basis @ [1.0, 0.0, 0.0]) > 20.0


def test_tilted_leg_axis_follows_the_bones():
    frame = leg_frame(phantom_and_vessels("basic", None, "tilt")[0].labels)
    assert frame.axis @ TILT[:, 2] > np.cos(np.radians(0.5))


def test_veins_of_an_occluded_artery_are_named_by_where_they_run():
    """two-arteries: the anterior tibial artery is occluded throughout, so it has
    no centreline; its veins run in front of the membrane and are named so."""
    phantom, vessels = phantom_and_vessels("two-arteries")
    names = name_vessels(vessels)
    assert names == true_names(phantom, vessels)
    assert "anterior tibial artery" not in names.values()
    assert list(names.values()).count("anterior tibial vein") == 2


def test_without_bone_nothing_is_named():
    _, vessels = phantom_and_vessels("basic")
    labels = vessels.labels
    no_bone = labels.with_array(np.where(labels.array == BONE, 0, labels.array))
    names = name_vessels(dataclasses.replace(vessels, labels=no_bone))
    assert set(names) == {line.id for line in (*vessels.arteries, *vessels.veins)}
    assert all(name is None for name in names.values())


def test_with_one_bone_only_nothing_is_named():
    """Without the fibula there is no membrane line, nor medial and lateral."""
    _, vessels = phantom_and_vessels("basic")
    labels = vessels.labels
    x_mm = labels.voxel_coordinate_mm(0)
    tibia_only = np.where((labels.array == BONE) & (x_mm < -10.0), 0, labels.array)
    assert (tibia_only == BONE).sum() > 0.6 * (labels.array == BONE).sum()
    names = name_vessels(dataclasses.replace(vessels, labels=labels.with_array(tibia_only)))
    assert all(name is None for name in names.values())


def test_two_arteries_claiming_one_name_at_the_same_levels():
    _, vessels = phantom_and_vessels("basic")
    names = name_vessels(vessels)
    anterior = next(a for a in vessels.arteries if names[a.id] == "anterior tibial artery")
    shifted = dataclasses.replace(anterior, id="artery-99", points_mm=anterior.points_mm + 2.0)
    # As long as the other: no clear winner, neither is named; their veins neither.
    clash = name_centerlines(vessels.labels, (*vessels.arteries, shifted), vessels.veins)
    assert clash[anterior.id] is None and clash["artery-99"] is None
    anterior_veins = [v for v, n in names.items() if n == "anterior tibial vein"]
    assert all(clash[v] is None for v in anterior_veins)
    others = [i for i, n in names.items() if n and "anterior" not in n]
    assert all(clash[i] == names[i] for i in others)
    # A short stretch beside a long artery: the long one keeps its name.
    short = dataclasses.replace(
        shifted, points_mm=shifted.points_mm[:60], radii_mm=shifted.radii_mm[:60]
    )
    winner = name_centerlines(vessels.labels, (*vessels.arteries, short), vessels.veins)
    assert winner[anterior.id] == "anterior tibial artery" and winner["artery-99"] is None
    # Pieces of one artery at different levels (e.g. split at a stenosis) share its name.
    upper, lower = (
        dataclasses.replace(anterior, id=f"artery-{n}", points_mm=p, radii_mm=r)
        for n, p, r in (
            (97, anterior.points_mm[:150], anterior.radii_mm[:150]),
            (98, anterior.points_mm[170:], anterior.radii_mm[170:]),
        )
    )
    rest = tuple(a for a in vessels.arteries if a.id != anterior.id)
    pieces = name_centerlines(vessels.labels, (*rest, upper, lower), vessels.veins)
    assert pieces["artery-97"] == pieces["artery-98"] == "anterior tibial artery"


def test_plan_json_names_the_crossing_candidates_and_vessels():
    phantom, vessels = phantom_and_vessels("basic")
    document = plan_vessels(vessels, PlanParameters(), {}).as_dict()
    names = name_vessels(vessels)
    crossing = document["crossing"]
    assert crossing["artery_name"] == truth_name(phantom.truth["crossing"]["artery"])
    assert crossing["vein_name"] == truth_name(phantom.truth["crossing"]["vein"])
    assert crossing["artery_name"] == "posterior tibial artery"
    for site in [crossing, *document["candidates"]]:
        # The ids stay; the names are added beside them.
        assert site["artery"].startswith("artery-") and site["vein"].startswith("vein-")
        assert site["artery_name"] == names[site["artery"]]
        assert site["vein_name"] == names[site["vein"]]
    assert {v["id"]: v["name"] for v in document["vessels"]} == names
    assert all({"id", "kind", "length_mm"} <= set(v) for v in document["vessels"])


def _bone_cut(labels: Volume, keep) -> Volume:
    """The label map with bone voxels only where `keep(x_mm, z_mm)` holds."""
    x_mm, z_mm = labels.voxel_coordinate_mm(0), labels.voxel_coordinate_mm(2)
    return labels.with_array(np.where((labels.array == BONE) & ~keep(x_mm, z_mm), 0, labels.array))


def _piece(line, low_mm: float, high_mm: float):
    """The part of a centreline between two heights."""
    inside = (line.points_mm[:, 2] >= low_mm) & (line.points_mm[:, 2] <= high_mm)
    return dataclasses.replace(
        line, points_mm=line.points_mm[inside], radii_mm=line.radii_mm[inside]
    )


def test_names_only_below_the_knee():
    """Tibia and fibula side by side over a short stretch (as the knee's bones are) name
    nothing; with the knee in view (bone goes on above the lower leg), the lower leg's
    top `knee_margin_mm` (popliteal territory) names nothing either."""
    _, vessels = phantom_and_vessels("basic")
    labels = vessels.labels
    settings = AnatomySettings()
    top = float(labels.corners_mm()[:, 2].max())
    named = name_vessels(vessels)
    artery = next(a for a in vessels.arteries if named[a.id] == "posterior tibial artery")
    # Bones over 45 mm only: not a lower leg. Over 90 mm: a lower leg.
    for span_mm, expected in ((45.0, None), (90.0, "posterior tibial artery")):
        short = _bone_cut(labels, lambda x, z, s=span_mm: z > top - s)
        piece = _piece(artery, top - span_mm + 5.0, top - 5.0)
        assert name_centerlines(short, [piece], [])[piece.id] == expected, span_mm
    # The fibula stops 100 mm below the top; the tibia goes on (one bone: the knee).
    knee = _bone_cut(labels, lambda x, z: (z < top - 100.0) | (x > -10.0))
    below_knee = top - 100.0 - settings.knee_margin_mm
    upper = _piece(artery, below_knee + 5.0, top - 105.0)
    lower = _piece(artery, below_knee - 60.0, below_knee - 5.0)
    assert name_centerlines(knee, [upper], [])[upper.id] is None
    assert name_centerlines(knee, [lower], [])[lower.id] == "posterior tibial artery"
    no_margin = dataclasses.replace(settings, knee_margin_mm=0.0)
    assert name_centerlines(knee, [upper], [], no_margin)[upper.id] == "posterior tibial artery"
