"""Centrelines from masks follow the true axes to sub-voxel accuracy, on any grid."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from scipy.spatial import cKDTree

from pdvaplan.centerlines import (
    END_BORDER,
    END_JUNCTION,
    END_LUMEN,
    extract_centerlines,
    write_centerlines,
)
from pdvaplan.cli import main
from pdvaplan.errors import PdvaplanInputError
from pdvaplan.io import Volume, read_volume, resample_to, write_volume
from pdvaplan.kernels import distance_profile
from phantoms import DIRECTIONS, make_phantom
from phantoms.presets import POSTERIOR_TIBIAL, basic_leg
from phantoms.scoring import TruthCurves, centerline_accuracy

#: 90 mm of the basic leg; the posterior tibial artery's contrast stops at z = 40 mm.
LEG = replace(basic_leg(), length_mm=90.0)
LEG = replace(
    LEG,
    arteries=tuple(
        replace(a, occlusion_z_mm=40.0 if a.name == POSTERIOR_TIBIAL else -10.0)
        for a in LEG.arteries
    ),
)
ARTERY, VEIN = 1, 2


def leg_centerlines(spacing_mm, direction, label):
    phantom = make_phantom("short-basic", 0, spacing_mm, tuple(np.ravel(direction)), LEG)
    mask = phantom.labels.with_array(phantom.labels.array == label)
    kind = "artery" if label == ARTERY else "vein"
    return phantom, extract_centerlines(mask, prefix=kind)


@pytest.mark.parametrize(
    ("spacing_mm", "direction"),
    [((0.8, 0.8, 1.0), DIRECTIONS["identity"]), ((0.6, 1.4, 0.7), DIRECTIONS["permuted"])],
    ids=["identity", "permuted-anisotropic"],
)
@pytest.mark.parametrize("label", [ARTERY, VEIN], ids=["artery", "vein"])
def test_centerlines_of_true_masks_are_sub_voxel_accurate(spacing_mm, direction, label):
    phantom, lines = leg_centerlines(spacing_mm, direction, label)
    kind = "artery" if label == ARTERY else "vein"
    accuracy = centerline_accuracy([(c.points_mm, c.radii_mm) for c in lines], phantom.truth, kind)
    assert len(lines) == (3 if kind == "artery" else 6)
    assert accuracy["mean_mm"] <= 0.15
    assert accuracy["p95_mm"] <= 0.35
    assert accuracy["radius_median_error_mm"] <= 0.15
    assert accuracy["coverage"] >= 0.98
    assert accuracy["swaps"] == 0
    for line in lines:
        assert line.points_mm[0, 2] > line.points_mm[-1, 2]  # proximal first
        assert line.proximal_end == END_BORDER
        step = np.linalg.norm(np.diff(line.points_mm, axis=0), axis=1)
        assert np.all(step <= 0.5 + 1e-6)


def test_artery_centerline_ends_where_its_contrast_stops():
    phantom, lines = leg_centerlines((0.8, 0.8, 1.0), DIRECTIONS["identity"], ARTERY)
    curves = TruthCurves(phantom.truth, "artery")
    for line in lines:
        vessel = curves.vessels[np.bincount(curves.project(line.points_mm)["vessel"]).argmax()]
        if vessel["name"] == POSTERIOR_TIBIAL:
            assert line.distal_end == END_LUMEN
            assert abs(line.points_mm[-1, 2] - vessel["patent_end_mm"][2]) <= 1.0
        else:
            assert line.distal_end == END_BORDER


def test_ids_and_points_do_not_depend_on_the_grid():
    _, on_identity = leg_centerlines((0.8, 0.8, 1.0), DIRECTIONS["identity"], VEIN)
    _, on_ras = leg_centerlines((0.7, 0.9, 1.2), DIRECTIONS["ras"], VEIN)
    assert [c.id for c in on_identity] == [c.id for c in on_ras]
    for a, b in zip(on_identity, on_ras, strict=True):
        distance = distance_profile(a.points_mm, b.points_mm).distance_mm
        assert np.median(distance) < 0.15


def y_shaped_mask(spacing_mm=0.5):
    """A trunk along z that splits into two branches; returns the mask and the axes."""
    shape = (60, 40, 80)
    volume = Volume(np.zeros(shape, bool), np.full(3, spacing_mm), np.zeros(3), np.eye(3))
    positions = volume.voxel_positions_mm()
    fork = np.array([15.0, 10.0, 20.0])  # mm
    axes = [np.array([0.0, 0.0, 1.0]), np.array([0.6, 0.0, -0.8]), np.array([-0.6, 0.0, -0.8])]
    radii = [2.5, 1.8, 1.8]
    mask = np.zeros(shape, bool)
    for axis, radius in zip(axes, radii, strict=True):
        offset = positions - fork
        along = offset @ axis
        across = np.linalg.norm(offset - along[..., None] * axis, axis=-1)
        mask |= (along >= -radius) & (across <= radius)
    return volume.with_array(mask), fork, axes, radii


def test_a_bifurcation_gives_a_trunk_through_it_and_a_line_from_the_junction():
    """The trunk runs from the top through the fork into one daughter; the other
    daughter (as wide, running on to an end of its own) is a trunk of its own that
    starts at the junction."""
    mask, fork, axes, radii = y_shaped_mask()
    lines = extract_centerlines(mask)
    assert len(lines) == 2
    through, daughter = sorted(lines, key=lambda line: line.proximal_end == END_JUNCTION)
    assert (through.proximal_end, through.distal_end) == (END_BORDER, END_BORDER)
    assert (daughter.proximal_end, daughter.distal_end) == (END_JUNCTION, END_BORDER)
    assert np.linalg.norm(daughter.points_mm[0] - fork) < 2.0
    covered = set()
    for line in lines:
        # Away from the fork (beyond 2 radii), each point lies on an analytic axis.
        offset = line.points_mm - fork
        distances = np.array(
            [np.linalg.norm(offset - (offset @ a)[:, None] * a, axis=1) for a in axes]
        )
        # On the half-line of each axis (each points away from the fork).
        for n, a in enumerate(axes):
            distances[n, offset @ a < 0] = np.inf
        far = np.linalg.norm(offset, axis=1) > 6.0
        best = np.argmin(distances[:, far], axis=0)
        assert np.mean(distances[best, np.flatnonzero(far)]) < 0.15
        assert np.median(np.abs(line.radii_mm[far] - np.array(radii)[best])) < 0.15
        covered |= set(best.tolist())
    assert covered == {0, 1, 2}


def test_an_end_hooking_into_a_blob_keeps_the_whole_vessel():
    # A tube (radius 1.3 mm) down from the top border that ends in a lump off to its
    # side: the skeleton's last voxels hook into the lump. Following that end must
    # not cut the vessel behind it (a whole artery was once lost this way).
    volume = Volume(np.zeros((48, 48, 110), bool), np.full(3, 0.5), np.zeros(3), np.eye(3))
    x, y, z = np.moveaxis(volume.voxel_positions_mm(), -1, 0)
    tube = ((x - 12.0) ** 2 + (y - 12.0) ** 2 <= 1.3**2) & (z >= 8.0)
    lump = (x - 15.5) ** 2 + (y - 12.0) ** 2 + (z - 11.0) ** 2 <= 2.0**2
    (line,) = extract_centerlines(volume.with_array(tube | lump))
    assert line.proximal_end == END_BORDER and line.points_mm[0, 2] > 54.0
    assert line.points_mm[-1, 2] < 12.0
    assert line.length_mm > 0.95 * (line.points_mm[0, 2] - line.points_mm[-1, 2])


def test_a_lumen_end_follows_the_mask_where_the_lumen_fraction_fades():
    # An artery whose contrast difference between the phases fades before its
    # lumen ends (late filling): the given fraction drops 6 mm early, the mask
    # (the segmentation's decision) does not. Its end is where the mask ends.
    volume = Volume(np.zeros((40, 40, 120), bool), np.full(3, 0.5), np.zeros(3), np.eye(3))
    x, y, z = np.moveaxis(volume.voxel_positions_mm(), -1, 0)
    tube = ((x - 10.0) ** 2 + (y - 10.0) ** 2 <= 1.5**2) & (z >= 20.0)
    fraction = np.where(z >= 26.0, tube, 0.0).astype(np.float32)
    (line,) = extract_centerlines(volume.with_array(tube), volume.with_array(fraction))
    assert line.distal_end == END_LUMEN
    assert abs(line.points_mm[-1, 2] - 20.0) < 1.0


def test_real_vmtk_lumen_gives_centerlines_near_the_vmtk_reference(real_data):
    pv = pytest.importorskip("pyvista")
    folder = real_data / "vmtk-test-data" / "input"
    level_set = read_volume(folder / "aorta-final-levelset.mha")
    lines = extract_centerlines(level_set.with_array(level_set.array < 0))
    # One iliac artery on into the aorta, and the other iliac from the bifurcation.
    assert len(lines) == 2
    assert sum(END_JUNCTION in (line.proximal_end, line.distal_end) for line in lines) == 1
    reference = np.asarray(pv.read(folder / "aorta-centerline.vtp").points) * [-1.0, -1.0, 1.0]
    distance, _ = cKDTree(np.concatenate([c.points_mm for c in lines])).query(reference)
    assert np.mean(distance) < 0.6
    assert np.percentile(distance, 95) < 1.5


@pytest.mark.parametrize("grid", ["ct", "labels"])
def test_real_ct_aorta_gives_one_line_through_the_volume(real_data, grid):
    # A short, wide vessel (28 mm across, 20 slices of 2 mm): its skeleton has small
    # loops at junctions and at both ends, which once split it into pieces. On the label
    # map's own (y-flipped) grid its top sections are cut by the border over 19 mm, and
    # following the end a fixed 15 mm from there stopped 4 mm short ("lumen-end").
    folder = real_data / "ct-dicom-series"
    labels = read_volume(folder / "example_seg_dicom.nii.gz")
    if grid == "ct":
        labels = resample_to(labels, read_volume(folder / "example_ct_dicom"), "nearest")
    aorta = labels.with_array(labels.array == 52)  # TotalSegmentator's aorta
    (line,) = extract_centerlines(aorta)
    assert (line.proximal_end, line.distal_end) == (END_BORDER, END_BORDER)
    z_mm = aorta.index_to_physical(np.argwhere(aorta.array))[:, 2]
    assert np.ptp(line.points_mm[:, 2]) >= np.ptp(z_mm)  # reaches both end slices
    index = np.rint(aorta.physical_to_index(line.points_mm)).astype(int)
    index = np.clip(index, 0, np.array(aorta.shape) - 1)
    assert aorta.array[tuple(index.T)].all()


def test_a_piece_whose_skeleton_is_all_junction_is_no_crash():
    """A thin tangle (three rows of voxels, as a moved leg's vein segmentation left beside
    random leg 45's calcium) thins to voxels that all have three or more neighbours: no
    branch, so no line; it crashed the extraction (argmax of an empty list)."""
    volume = Volume(np.zeros((40, 24, 40), bool), np.full(3, 0.5), np.zeros(3), np.eye(3))
    tangle = volume.array.copy()
    for i, rows in ((18, [(20, 3, 7), (21, 6, 11)]), (20, [(20, 3, 7), (21, 6, 11)])):
        for k, low, high in rows:
            tangle[i, low:high, k] = True
    for j, k in [(2, 20), (3, 19), (3, 21), (4, 19), (4, 21), (5, 19), (5, 21), (6, 19)]:
        tangle[19, j, k] = True
    for j, k in [(6, 22), (7, 20), (7, 22), (8, 20), (8, 22), (9, 20), (9, 22), (10, 20)]:
        tangle[19, j, k] = True
    tangle[19, 10, 22] = tangle[19, 11, 21] = True
    x, y, _ = np.moveaxis(volume.voxel_positions_mm(), -1, 0)
    tube = np.hypot(x - 5.0, y - 8.0) <= 1.3
    lines = extract_centerlines(volume.with_array(tangle | tube))
    assert len(lines) == 1
    assert np.allclose(lines[0].points_mm[:, :2].mean(axis=0), (5.0, 8.0), atol=0.2)


def test_empty_mask_is_refused():
    empty = Volume(np.zeros((5, 5, 5), bool), np.ones(3), np.zeros(3), np.eye(3), "empty.nii")
    with pytest.raises(PdvaplanInputError, match=r"empty\.nii: mask is empty"):
        extract_centerlines(empty)


def test_a_mask_of_specks_is_refused_by_the_command_line(tmp_path, capsys):
    specks = np.zeros((30, 30, 30), np.uint8)
    specks[5, 5, 5] = specks[20, 10, 15] = specks[25, 25, 25] = 1
    write_volume(Volume(specks, np.ones(3), np.zeros(3), np.eye(3)), tmp_path / "specks.nrrd")
    out = tmp_path / "out"
    assert main(["centerlines", "--mask", str(tmp_path / "specks.nrrd"), "--out", str(out)]) == 2
    error = capsys.readouterr().err.strip()
    assert "specks.nrrd" in error and len(error.splitlines()) == 1
    assert not out.exists()


def test_files_and_command_line(tmp_path, capsys):
    mask, _, _, _ = y_shaped_mask(spacing_mm=0.6)
    write_volume(mask.with_array(mask.array.astype(np.uint8)), tmp_path / "mask.nrrd")
    assert (
        main(["centerlines", "--mask", str(tmp_path / "mask.nrrd"), "--out", str(tmp_path / "out")])
        == 0
    )
    document = json.loads((tmp_path / "out" / "centerlines.json").read_text(encoding="utf-8"))
    assert document["schema"] == "pdvaplan.centerlines/1"
    # The trunk through the fork, and the other daughter from the junction.
    assert [c["id"] for c in document["centerlines"]] == ["vessel-1", "vessel-2"]
    for entry in document["centerlines"]:
        assert len(entry["points_mm"]) == len(entry["radii_mm"])
        assert entry["kind"] == "trunk"
    pv = pytest.importorskip("pyvista")
    polydata = pv.read(tmp_path / "out" / "centerlines.vtp")
    assert polydata.n_cells == 2
    assert np.allclose(
        polydata.points,
        np.concatenate([c["points_mm"] for c in document["centerlines"]]),
        atol=1e-3,
    )
    assert "radius_mm" in polydata.point_data
    assert list(polydata.field_data["SPACE"]) == ["LPS"]  # as Slicer reads it
    assert "vessel-1" in capsys.readouterr().out


def test_write_centerlines_round_trips(tmp_path):
    mask, _, _, _ = y_shaped_mask(spacing_mm=0.6)
    lines = extract_centerlines(mask)
    write_centerlines(lines, tmp_path)
    document = json.loads((tmp_path / "centerlines.json").read_text(encoding="utf-8"))
    for line, entry in zip(lines, document["centerlines"], strict=True):
        assert np.allclose(entry["points_mm"], line.points_mm, atol=1e-4)
        assert entry["proximal_end"] == line.proximal_end


@pytest.mark.parametrize("radius_mm", [0.75, 1.5])
def test_an_even_width_tube_that_thinning_erases_still_gives_its_line(radius_mm):
    """scikit-image's thinning deletes every voxel of a straight tube whose cross-section
    is mirror-symmetric with an even width (centred between voxel centres); the line
    then comes from the deepest path through the mask."""
    volume = Volume(np.zeros((20, 20, 60), bool), np.full(3, 0.5), np.zeros(3), np.eye(3))
    x, y, z = np.moveaxis(volume.voxel_positions_mm(), -1, 0)
    tube = (np.hypot(x - 4.75, y - 4.75) <= radius_mm) & (z > 3.0) & (z < 26.0)
    (line,) = extract_centerlines(volume.with_array(tube))
    off_mm = np.hypot(*(line.points_mm[:, :2] - 4.75).T)
    inner = (line.arc_mm > 2.0) & (line.arc_mm < line.length_mm - 2.0)
    # As a tube off the symmetric position does: on the axis, ends rounded off.
    assert off_mm[inner].max() < 0.1 and off_mm.max() < 1.0
    assert line.length_mm == pytest.approx(23.0, abs=1.0)
