"""Phantom voxels sit where the analytic truth says, in physical space, on any grid."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import numpy as np
import pytest
from scipy.spatial import cKDTree

from phantoms import DIRECTIONS, make_phantom, write_phantom
from phantoms.presets import basic_leg, rotation

#: A short stretch of the basic leg keeps these tests fast; the anatomy is the same.
SHORT_LEG = replace(basic_leg(), length_mm=70.0)
# Put the occlusions below the stretch so every artery is patent and labelled.
SHORT_LEG = replace(
    SHORT_LEG, arteries=tuple(replace(a, occlusion_z_mm=-10.0) for a in SHORT_LEG.arteries)
)
ARTERY, VEIN = 1, 2


def short_phantom(spacing_mm, direction, seed=0):
    return make_phantom("short-basic", seed, spacing_mm, tuple(np.ravel(direction)), SHORT_LEG)


def curve_at(vessel: dict, z_mm: float) -> np.ndarray:
    """The truth centreline's (x, y) at height z, interpolated between samples."""
    points = np.array(vessel["points_mm"])[::-1]  # ascending z
    return np.array([np.interp(z_mm, points[:, 2], points[:, axis]) for axis in (0, 1)])


@pytest.mark.parametrize(
    ("spacing_mm", "direction"),
    [
        ((0.8, 0.8, 1.0), DIRECTIONS["identity"]),
        ((0.7, 0.6, 1.5), DIRECTIONS["ras"]),
        ((0.6, 1.4, 0.7), DIRECTIONS["permuted"]),  # i -> y, j -> z, k -> x
    ],
    ids=["identity", "ras-anisotropic", "permuted-anisotropic"],
)
def test_vessel_centroid_per_axial_slice_is_on_the_curve(spacing_mm, direction):
    phantom = short_phantom(spacing_mm, direction)
    labels = phantom.labels
    axis_z = int(np.argmax(np.abs(labels.direction[2])))
    in_plane_mm = max(np.delete(labels.spacing_mm, axis_z))
    positions = labels.voxel_positions_mm()
    checked = 0
    for s in range(2, labels.shape[axis_z] - 2):
        slab = [slice(None)] * 3
        slab[axis_z] = s
        slice_labels = labels.array[tuple(slab)]
        slice_points = positions[tuple(slab)]
        z = slice_points[0, 0, 2]
        for vessel in phantom.truth["vessels"]:
            label = ARTERY if vessel["kind"] == "artery" else VEIN
            centre = curve_at(vessel, z)
            radius = np.max(vessel["radii_mm"])
            near = np.linalg.norm(slice_points[..., :2] - centre, axis=-1) < radius + 1.5
            mine = near & (slice_labels == label)
            assert mine.sum() >= 3, (vessel["name"], z)
            centroid = slice_points[mine][:, :2].mean(axis=0)
            assert np.linalg.norm(centroid - centre) < 0.5 * in_plane_mm, (vessel["name"], z)
            checked += 1
    assert checked > 9 * 40


def test_labels_on_an_oblique_grid_match_the_analytic_tubes():
    direction = rotation("z", 33.0) @ rotation("y", 9.0) @ rotation("x", -12.0)
    phantom = short_phantom((0.9, 1.1, 1.3), direction)
    labels = phantom.labels
    positions = labels.voxel_positions_mm().reshape(-1, 3)
    flat = labels.array.reshape(-1)
    inside_leg = (positions[:, 2] > 5.0) & (positions[:, 2] < SHORT_LEG.length_mm - 5.0)
    for vessel in phantom.truth["vessels"]:
        label = ARTERY if vessel["kind"] == "artery" else VEIN
        samples = np.array(vessel["points_mm"])
        radii = np.array(vessel["radii_mm"])
        distance, nearest = cKDTree(samples).query(positions, distance_upper_bound=5.0)
        found = np.isfinite(distance) & inside_leg
        radius = radii[np.minimum(nearest, len(radii) - 1)]
        labelled = flat == label
        # Every labelled voxel centre lies inside the tube, and every centre
        # clearly inside the tube is labelled (dense samples: error < 0.01 mm).
        assert np.all(distance[found & labelled] <= radius[found & labelled] + 0.01)
        assert np.all(labelled[found & (distance < radius - 0.05)])


def test_phases_show_arteries_bright_early_and_veins_bright_late():
    phantom = short_phantom((0.8, 0.8, 1.0), DIRECTIONS["identity"])
    arterial, venous, labels = (v.array for v in (phantom.arterial, phantom.venous, phantom.labels))
    artery, vein = labels == ARTERY, labels == VEIN
    assert np.median(arterial[artery]) > 200 and np.median(arterial[vein]) < 120
    assert np.median(venous[vein]) > 150
    # Bone: a bright cortex (thinner towards the leg's ends) around dark marrow.
    low, high = np.percentile(arterial[labels == 4], [25, 80])
    assert high > 1000 and low < 100
    assert np.median(arterial[labels == 0]) < 100


def digest(folder) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_same_seed_same_bytes_other_seed_other_noise(tmp_path):
    first = short_phantom((1.5, 1.5, 2.0), DIRECTIONS["identity"], seed=5)
    again = short_phantom((1.5, 1.5, 2.0), DIRECTIONS["identity"], seed=5)
    other = short_phantom((1.5, 1.5, 2.0), DIRECTIONS["identity"], seed=6)
    write_phantom(first, tmp_path / "a")
    write_phantom(again, tmp_path / "b")
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    assert np.array_equal(first.labels.array, other.labels.array)
    assert not np.array_equal(first.arterial.array, other.arterial.array)
    assert other.truth["crossing"] == first.truth["crossing"]
