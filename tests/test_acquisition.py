"""Two real acquisitions (issue 11): grey values that are not HU, the leg moved between the
phases, the phases handed over in the wrong order. Each against the phantom's known answer."""

from __future__ import annotations

import functools
import json
import re
import subprocess
import sys

import numpy as np
import pytest

from pdvaplan.cli import main
from pdvaplan.errors import PdvaplanInputError
from pdvaplan.io import read_volume
from pdvaplan.segmentation.calibrate import estimate_hu_scale, volume_in_hu
from pdvaplan.segmentation.grid import venous_on_grid
from pdvaplan.segmentation.pipeline import segment
from pdvaplan.segmentation.register import register_phases
from phantoms import Acquisition, make_phantom
from phantoms.scoring import score_crossing
from tests.conftest import COARSE_SPACING_MM, cached_phantom

#: Grey = a * HU + b mappings of cone-beam CT and rotational angiography.
HU_SCALES = [(0.65, 1100.0), (1.5, 3000.0), (0.4, 500.0)]
#: Leg motions between the phases (degrees, mm), within the 5 deg / 10 mm of the issue.
MOTIONS = [(4.0, 7.0), (2.0, 3.0)]


@functools.cache
def phantom(acquisition: Acquisition, spacing_mm=COARSE_SPACING_MM, seed: int = 0):
    """The basic leg acquired as `acquisition`, generated once per session."""
    return make_phantom("basic", seed, spacing_mm, acquisition=acquisition)


def true_transform(truth: dict) -> tuple[np.ndarray, np.ndarray]:
    """The phantom's venous-from-arterial transform: p_v = matrix @ p_a + offset."""
    motion = truth["acquisition"]["venous_from_arterial"]
    return np.asarray(motion["matrix"]), np.asarray(motion["offset_mm"])


def rotation_angle_deg(matrix: np.ndarray) -> float:
    cosine = np.clip((np.trace(matrix) - 1.0) / 2.0, -1.0, 1.0)
    return float(np.degrees(np.arccos(cosine)))


# ---------------------------------------------------------------------------------------------
# Calibration: grey values -> HU


@pytest.mark.parametrize(("slope", "offset"), HU_SCALES, ids=lambda v: f"{v:g}")
def test_grey_values_a_hu_plus_b_are_recovered_within_2_percent(slope, offset):
    leg = phantom(Acquisition(hu_scale=(slope, offset)))
    in_hu = cached_phantom("basic")  # the same leg and noise, written in HU
    for grey, hu in ((leg.arterial, in_hu.arterial), (leg.venous, in_hu.venous)):
        assert grey.array.dtype == np.uint16  # unsigned, as cone-beam CT is stored
        scale = estimate_hu_scale(grey)
        assert scale.estimated
        assert scale.slope == pytest.approx(slope, rel=0.02)
        assert scale.offset == pytest.approx(offset, rel=0.02)
        # Mapped back, air, fat, muscle, contrast and bone land where HU puts them (rounding
        # the grey values costs up to 0.5 / slope HU; measured: 99 % within 0.7-4.3 HU).
        error = np.abs(volume_in_hu(grey, scale).array - hu.array.astype(np.float32))
        assert np.percentile(error, 99) < 10.0


def test_phantom_in_hu_is_taken_as_calibrated():
    leg = cached_phantom("basic")
    for volume in (leg.arterial, leg.venous):
        scale = estimate_hu_scale(volume)
        assert (scale.slope, scale.offset) == (1.0, 0.0)
        assert scale.is_identity and scale.anchors["calibrated_input"]


def test_real_ct_dicom_series_is_taken_as_hu(real_data):
    ct = read_volume(real_data / "ct-dicom-series" / "example_ct_dicom")
    scale = estimate_hu_scale(ct)
    assert (scale.slope, scale.offset) == (1.0, 0.0)
    assert scale.anchors["air_grey"] == pytest.approx(-1000.0, abs=50.0)


def test_real_mr_angiogram_is_refused_as_not_ct(real_data):
    mr = read_volume(real_data / "vmtk-test-data" / "input" / "aorta.mha")
    with pytest.raises(PdvaplanInputError) as raised:
        estimate_hu_scale(mr)
    message = str(raised.value)
    assert "aorta.mha" in message
    assert "do not look like CT" in message
    assert "--hu-scale" in message  # says what to do
    assert "\n" not in message


# ---------------------------------------------------------------------------------------------
# Registration: the venous phase onto the arterial one


@pytest.mark.parametrize(("degrees", "mm"), MOTIONS, ids=lambda v: f"{v:g}")
def test_rigid_registration_recovers_the_known_motion(degrees, mm):
    leg = phantom(Acquisition(degrees, mm))
    matrix, offset = true_transform(leg.truth)
    assert rotation_angle_deg(matrix) == pytest.approx(degrees)
    assert leg.venous.shape != leg.arterial.shape  # the venous phase has a grid of its own

    found = register_phases(leg.arterial, leg.venous)

    corners = leg.arterial.corners_mm()
    expected = corners @ matrix.T + offset
    assert np.linalg.norm(found.transform.apply(corners) - expected, axis=1).max() < 0.3
    assert rotation_angle_deg(found.transform.matrix @ matrix.T) < 0.5
    assert found.residual.median_mm < 0.3
    assert found.residual_before.median_mm > 1.0
    assert found.metric_after < found.metric_before
    assert found.warnings() == []


def test_phases_without_motion_give_the_identity_and_no_resampling():
    # Not on the coarse grid: there the registration drifts 0.24-0.35 mm along the leg
    # (seeds 0 and 1), beyond the 0.2 mm it takes for no motion, and resamples.
    leg = phantom(Acquisition(), (1.0, 1.0, 1.2))
    found = register_phases(leg.arterial, leg.venous)
    assert found.transform.is_identity
    assert found.residual.median_mm < 0.3
    assert found.warnings() == []
    on_grid, covered = venous_on_grid(leg.venous, leg.arterial, found.transform)
    assert on_grid is leg.venous and covered is None


@pytest.mark.parametrize(("degrees", "mm"), MOTIONS, ids=lambda v: f"{v:g}")
def test_no_registration_of_moved_phases_warns_that_bone_disagrees(degrees, mm):
    leg = phantom(Acquisition(degrees, mm))
    found = register_phases(leg.arterial, leg.venous, method="none")
    assert found.transform.is_identity
    assert found.residual.median_mm > 1.0
    (warning,) = found.warnings()
    assert "bone" in warning and "disagrees" in warning and "--register rigid" in warning


def test_unknown_registration_method_is_refused():
    leg = cached_phantom("basic")
    with pytest.raises(PdvaplanInputError, match="--register affine"):
        register_phases(leg.arterial, leg.venous, method="affine")


# ---------------------------------------------------------------------------------------------
# Phase order


def test_swapped_phases_are_refused():
    leg = phantom(Acquisition(swap_phases=True))
    with pytest.raises(PdvaplanInputError, match="look swapped") as raised:
        segment(leg.arterial, leg.venous)
    assert "--arterial VEN --venous ART" in str(raised.value)


def test_swapped_moved_and_uncalibrated_phases_are_refused_as_swapped():
    # All three conditions at once. On the coarse grid (1.6 x 1.6 x 2 mm) bone edges
    # resampled between the two grids pass for one-phase vessels and push the verdict
    # towards "uncertain"; 1.2 x 1.2 x 1.5 mm leaves a clear margin.
    leg = phantom(Acquisition(3.0, 3.5, (0.65, 1100.0), swap_phases=True), (1.2, 1.2, 1.5))
    with pytest.raises(PdvaplanInputError, match="look swapped"):
        segment(leg.arterial, leg.venous)


def test_phases_in_the_right_order_are_confirmed():
    leg = cached_phantom("basic")
    order = segment(leg.arterial, leg.venous).phase_order
    assert order.verdict == "right"
    assert order.only_venous_ml > 5.0 and order.only_arterial_ml < 0.5


# ---------------------------------------------------------------------------------------------
# End to end through the command line


def run(*args: str) -> subprocess.CompletedProcess:
    """The ``pdvaplan`` command, in a fresh process."""
    return subprocess.run(
        [sys.executable, "-m", "pdvaplan.cli", *map(str, args)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=False,
    )


def assert_one_line_error(result, *words):
    """Exit 2 and, besides the progress lines (``pdvaplan: ...``), one line saying why."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [
        line for line in result.stderr.strip().splitlines() if not line.startswith("pdvaplan: ")
    ]
    assert len(lines) == 1, result.stderr
    assert re.match(r"pdvaplan \w+: error: ", lines[0])
    for word in words:
        assert word in lines[0]


def cli_phantom(folder, *acquisition: str):
    """``pdvaplan phantom`` of the basic leg on the coarse grid, with acquisition options."""
    spacing = [str(s) for s in COARSE_SPACING_MM]
    status = main(
        ["phantom", "--preset", "basic", "--out", str(folder), "--spacing", *spacing, *acquisition]
    )
    assert status == 0
    return folder


def plan_phantom(leg, out, *options: str):
    return run(
        "plan",
        "--arterial",
        leg / "arterial.nii.gz",
        "--venous",
        leg / "venous.nii.gz",
        "--out",
        out,
        "--no-render",
        *options,
    )


def read_json(path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def crossing_score(plan: dict, truth: dict) -> dict:
    crossing = plan["crossing"]
    return score_crossing(
        truth, crossing["artery_point_mm"], crossing["vein_point_mm"], crossing["distance_mm"]
    )


@pytest.fixture(scope="module")
def moved_uncalibrated(tmp_path_factory):
    """A basic leg moved 3 deg and 3.5 mm between the phases, grey = 0.65 HU + 1100."""
    leg = cli_phantom(
        tmp_path_factory.mktemp("moved") / "leg",
        "--motion",
        "3",
        "3.5",
        "--hu-scale",
        "0.65",
        "1100",
    )
    truth = read_json(leg / "truth.json")
    assert truth["acquisition"]["motion_deg"] == 3.0
    assert truth["acquisition"]["hu_scale"] == [0.65, 1100.0]
    return leg


def test_cli_plans_a_moved_uncalibrated_leg_right(moved_uncalibrated, tmp_path):
    result = plan_phantom(moved_uncalibrated, tmp_path)
    assert result.returncode == 0, result.stderr
    plan = read_json(tmp_path / "plan.json")
    truth = read_json(moved_uncalibrated / "truth.json")

    # The crossing, in the arterial phase's frame, is the truth's.
    assert plan["feasible"]
    score = crossing_score(plan, truth)
    assert score["right"], score
    # --no-render skips the pictures only: the label map a viewer opens is there, on the
    # arterial grid, its arteries where the true ones are.
    assert not list(tmp_path.glob("*.png")) and (tmp_path / "centerlines.vtp").exists()
    found = read_volume(tmp_path / "segmentation.nii.gz")
    true_labels = read_volume(moved_uncalibrated / "labels.nii.gz")
    assert found.shape == true_labels.shape
    assert np.allclose(found.direction, true_labels.direction)
    artery, true_artery = found.array == 1, true_labels.array == 1
    assert 2 * np.sum(artery & true_artery) / (artery.sum() + true_artery.sum()) > 0.6

    registration = plan["registration"]
    assert registration["method"] == "rigid"
    assert len(registration["rotation_deg"]) == 3 and len(registration["translation_mm"]) == 3
    assert registration["angle_deg"] == pytest.approx(3.0, abs=0.5)
    assert registration["bone_residual_mm"] < 0.3
    assert registration["bone_residual_before"]["median_mm"] > 1.0
    matrix, offset = true_transform(truth)
    corners = read_volume(moved_uncalibrated / "arterial.nii.gz").corners_mm()
    found = corners @ np.asarray(registration["matrix"]).T + registration["offset_mm"]
    assert np.linalg.norm(found - (corners @ matrix.T + offset), axis=1).max() < 0.3

    intensity = plan["intensity"]
    assert intensity["estimated"] is True
    assert intensity["hu_scale"] == pytest.approx([0.65, 1100.0], rel=0.02)
    assert intensity["venous"]["hu_scale"] == pytest.approx([0.65, 1100.0], rel=0.02)

    checks = plan["checks"]
    assert checks["phase_order"]["verdict"] == "right"
    assert checks["registration"]["bone_residual_mm"] < 0.3
    assert plan["warnings"] == []  # every check within its normal range: no false alarm


def test_cli_given_hu_scale_is_recorded_as_given(moved_uncalibrated, tmp_path):
    result = plan_phantom(moved_uncalibrated, tmp_path, "--hu-scale", "0.65", "1100")
    assert result.returncode == 0, result.stderr
    plan = read_json(tmp_path / "plan.json")
    intensity = plan["intensity"]
    assert intensity["hu_scale"] == [0.65, 1100.0]
    assert intensity["estimated"] is False
    for phase in ("arterial", "venous"):
        assert intensity[phase]["hu_scale"] == [0.65, 1100.0]
        assert intensity[phase]["estimated"] is False
    assert crossing_score(plan, read_json(moved_uncalibrated / "truth.json"))["right"]


def test_cli_without_registration_of_a_moved_leg_is_not_a_silent_plan(moved_uncalibrated, tmp_path):
    result = plan_phantom(moved_uncalibrated, tmp_path, "--register", "none")
    assert "Traceback" not in result.stderr
    if result.returncode == 2:
        assert_one_line_error(result, "bone")
        assert not (tmp_path / "plan.json").exists()
        return
    # What happens today: a plan, with the bone disagreement said in plan.json and on stderr
    # (measured: bone 2.4 mm apart; the crossing is not the truth's, 2.3 mm of regret).
    assert result.returncode == 0, result.stderr
    plan = read_json(tmp_path / "plan.json")
    assert plan["registration"]["method"] == "none"
    assert plan["checks"]["registration"]["bone_residual_mm"] > 1.0
    bone = [w for w in plan["warnings"] if "bone" in w and "disagrees" in w]
    assert len(bone) == 1 and "--register rigid" in bone[0]
    assert f"warning: {bone[0]}" in result.stderr


def test_cli_refuses_swapped_phases_in_one_line(tmp_path):
    leg = cli_phantom(tmp_path / "leg", "--swap-phases")
    result = plan_phantom(leg, tmp_path / "plan")
    assert_one_line_error(result, "swapped", "arterial.nii.gz")
    assert not (tmp_path / "plan" / "plan.json").exists()


def test_cli_refuses_a_given_hu_scale_the_image_contradicts(moved_uncalibrated, tmp_path):
    """Grey = 0.65 HU + 1100: a given offset of 1000 would put soft tissue at 200 HU."""
    result = plan_phantom(moved_uncalibrated, tmp_path, "--hu-scale", "0.65", "1000")
    assert_one_line_error(result, "--hu-scale 0.65 1000", "soft tissue", "suggests")
    assert not (tmp_path / "plan.json").exists()


def test_motion_beyond_what_registration_can_find_is_refused_in_one_line(tmp_path):
    leg = cli_phantom(tmp_path / "leg", "--motion", "45", "100")
    result = plan_phantom(leg, tmp_path / "plan")
    assert_one_line_error(result, "venous.nii.gz")
    assert not (tmp_path / "plan" / "plan.json").exists()


def test_a_blurrier_venous_phase_is_matched_before_unmixing():
    """A venous phase resampled from another grid is blurrier: measured at the bone surface
    (across the leg) and from the grids (along it), the arterial phase is smoothed to match;
    phases on one grid are left alone."""
    from pdvaplan.segmentation.phases import edge_sigma_mm, smooth_phases
    from pdvaplan.segmentation.settings import SegmentationSettings

    same = phantom(Acquisition())
    sharp, blurred = edge_sigma_mm(
        (same.arterial.array, same.venous.array), same.arterial.spacing_mm, 2
    )
    assert blurred == pytest.approx(sharp, abs=0.02)
    settings = SegmentationSettings()
    alike = smooth_phases(
        same.arterial.array, same.venous.array, None, same.arterial.spacing_mm, 2, settings
    )
    assert not np.any(alike.sharpness_match_mm[0]) and not np.any(alike.sharpness_match_mm[1])

    moved = phantom(Acquisition(2.0, 3.0), spacing_mm=(0.8, 0.8, 1.0))
    arterial = volume_in_hu(moved.arterial, estimate_hu_scale(moved.arterial))
    venous = volume_in_hu(moved.venous, estimate_hu_scale(moved.venous))
    on_grid, _ = venous_on_grid(venous, arterial, register_phases(arterial, venous).transform)
    sharp, blurred = edge_sigma_mm((arterial.array, on_grid.array), arterial.spacing_mm, 2)
    assert blurred > sharp + 0.03  # resampled from its own grid
    matched = smooth_phases(
        arterial.array,
        on_grid.array,
        None,
        arterial.spacing_mm,
        2,
        settings,
        float(venous.spacing_mm[2]),
    )
    extra_arterial, extra_venous = matched.sharpness_match_mm
    assert extra_arterial[2] > 0.2 and not np.any(extra_venous)
    assert matched.edge_sigma_mm == pytest.approx((sharp, blurred))


def test_a_refusal_after_an_unconfirmed_phase_order_asks_whether_they_are_swapped(monkeypatch):
    """Swapped phases the order check could not tell can fail later (e.g. "no
    contrast-filled vein found"): the message then asks whether they are swapped."""
    import pdvaplan.segmentation.pipeline as pipeline
    from pdvaplan.segmentation.phase_order import PhaseOrder

    def no_vein(*args, **kwargs):
        raise PdvaplanInputError("venous phase: no contrast-filled vein found")

    monkeypatch.setattr(pipeline, "find_veins", no_vein)
    leg = phantom(Acquisition())
    with pytest.raises(PdvaplanInputError, match=r"no contrast-filled vein found$"):
        segment(leg.arterial, leg.venous)  # order confirmed: the refusal as it is
    monkeypatch.setattr(
        pipeline, "check_phase_order", lambda *args: PhaseOrder.from_volumes(0.1, 0.1)
    )
    with pytest.raises(PdvaplanInputError, match=r"vein found \(.*are the phases swapped\?\)"):
        segment(leg.arterial, leg.venous)


def test_swapped_phases_the_order_check_missed_are_not_a_silent_plan(monkeypatch):
    """Were the order check to miss swapped phases, the plan's contrast checks still say
    so: veins bright in the phase given as arterial, arteries dark in the other."""
    import pdvaplan.segmentation.pipeline as pipeline
    from pdvaplan.planning import plan_from_phases
    from pdvaplan.segmentation.phase_order import PhaseOrder

    monkeypatch.setattr(
        pipeline, "check_phase_order", lambda *args: PhaseOrder.from_volumes(0.1, 0.1)
    )
    leg = phantom(Acquisition(swap_phases=True))
    warnings = " ".join(plan_from_phases(leg.arterial, leg.venous).warnings)
    assert "phase order could not be confirmed" in warnings
    assert "veins are already bright in the arterial phase" in warnings
    assert "arteries are dark in the venous phase" in warnings


def test_a_plan_folder_redraws_the_phases_as_the_plan_saw_them():
    """`pdvaplan render DIR` reads the inputs again: through plan.json's intensity and
    registration they are the phases in HU with the venous one registered, as planned."""
    from pdvaplan.planning import plan_from_phases
    from pdvaplan.render.planview import phases_in_plan_frame, plain_json

    leg = phantom(Acquisition(3.0, 3.5, (0.65, 1100.0)))
    plan = plan_from_phases(leg.arterial, leg.venous)
    arterial, venous = phases_in_plan_frame(leg.arterial, leg.venous, plain_json(plan.as_dict()))
    seen = plan.segmentation
    assert np.array_equal(arterial.array, seen.arterial_hu.array)
    assert venous.shape == arterial.shape
    assert np.allclose(venous.array, seen.venous_on_grid.array, atol=0.01)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (
            ["plan", "--arterial", "a.nii", "--venous", "v.nii", "--hu-scale", "0", "5"],
            ["--hu-scale 0.0 5.0"],
        ),
        (
            ["plan", "--arterial", "a.nii", "--venous", "v.nii", "--register", "elastic"],
            ["--register"],
        ),
        (["phantom", "--motion", "-1", "3"], ["--motion -1 deg"]),
        (["phantom", "--motion", "2", "500"], ["--motion 500 mm"]),
        (["phantom", "--hu-scale", "0", "100"], ["--hu-scale 0 100"]),
    ],
    ids=[
        "plan-slope-0",
        "plan-register",
        "phantom-motion-deg",
        "phantom-motion-mm",
        "phantom-slope",
    ],
)
def test_acquisition_options_out_of_range_exit_2_in_one_line(tmp_path, args, words):
    result = run(*args, "--out", str(tmp_path / "out"))
    assert_one_line_error(result, *words)
    assert not (tmp_path / "out" / "plan.json").exists()


def mean_offset_from_true_axes_mm(centerlines, truth: dict, kind: str) -> np.ndarray:
    """Mean vector (mm) from the nearest true axis point of `kind` to each centreline point."""
    axes = np.vstack([v["points_mm"] for v in truth["vessels"] if v["kind"] == kind])
    points = np.vstack([c.points_mm for c in centerlines])
    nearest = np.linalg.norm(points[:, None] - axes[None], axis=2).argmin(axis=1)
    return (points - axes[nearest]).mean(axis=0)


def test_arteries_are_centred_in_the_arterial_phase_alone():
    """What registration leaves (here 0.6 mm, with --register none) moves the veins, which
    the venous phase shows, and not the arteries: their lumen is read in the arterial phase
    (a phase difference would draw them 0.6 r / (1 - r) mm the other way)."""
    from dataclasses import replace

    from pdvaplan.planning import map_vessels
    from pdvaplan.planning.plan import lumen_fractions

    leg = phantom(Acquisition(), (0.8, 0.8, 1.0))
    shift_mm = np.array([0.6, 0.0, 0.0])
    moved = replace(leg.venous, origin_mm=leg.venous.origin_mm + shift_mm)
    offsets = {}
    for name, venous in (("same", leg.venous), ("moved", moved)):
        segmentation = segment(leg.arterial, venous, register="none")
        vessels = map_vessels(
            segmentation.labels, *lumen_fractions(segmentation, segmentation.arterial_hu)
        )
        offsets[name] = {
            kind: mean_offset_from_true_axes_mm(lines, leg.truth, kind)
            for kind, lines in (("artery", vessels.arteries), ("vein", vessels.veins))
        }
    artery_moved = offsets["moved"]["artery"] - offsets["same"]["artery"]
    vein_moved = offsets["moved"]["vein"] - offsets["same"]["vein"]
    assert np.abs(artery_moved).max() < 0.05
    assert vein_moved[0] > 0.4


def test_a_venous_phase_that_stops_short_is_said_to_and_measures_nothing_below():
    """A second acquisition that stops 25 mm short of the arterial one at both ends: the
    stent path stops where the venous phase ends and says so (not "where the vein's lumen
    ends"), and the arteries' venous-phase level is not read from the zeros beyond it (at
    the top, where the arteries are patent, it fell to -3 HU, below soft tissue)."""
    from pdvaplan.planning import plan_from_phases

    leg = phantom(Acquisition(), (0.8, 0.8, 1.0))
    cut = round(25.0 / leg.venous.spacing_mm[2])
    upper = np.array([*leg.venous.shape[:2], leg.venous.shape[2] - cut])
    short = leg.venous.crop(np.array([0, 0, cut]), upper)
    plan = plan_from_phases(leg.arterial, short)
    segmentation = plan.segmentation
    assert segmentation.artery_venous_level.hu.min() >= segmentation.background_hu
    assert score_crossing(leg.truth, *crossing_points(plan))["right"]
    stent = plan.stent_graft
    assert stent["ends_at"] == "venous-border"
    venous_bottom_mm = short.corners_mm()[:, 2].min()  # the phantom's axes are LPS
    assert abs(stent["end_mm"][2] - venous_bottom_mm) < 3.0
    assert any("where the venous phase ends" in w for w in plan.warnings)
    whole = plan_from_phases(leg.arterial, leg.venous).stent_graft
    assert whole["ends_at"] != "venous-border"
    assert whole["end_mm"][2] < venous_bottom_mm - 20.0


def crossing_points(plan) -> tuple[np.ndarray, np.ndarray, float]:
    crossing = plan.crossing
    return crossing.artery_point_mm, crossing.vein_point_mm, crossing.distance_mm
