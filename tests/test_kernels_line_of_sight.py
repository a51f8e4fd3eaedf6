"""Needle line of sight through label volumes, against dense sampling and exact cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_kernels_oracles import sampled_line_of_sight

from pdvaplan.kernels import line_of_sight_lengths, trace_line_of_sight

N_SAMPLES = 100_000


def _rotation(axis, angle):
    axis = np.asarray(axis, dtype=np.float64) / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


DIRECTIONS = {
    "identity": np.eye(3),
    "flipped": np.diag([-1.0, -1.0, 1.0]),
    "permuted": np.array([[0.0, 0, 1], [1, 0, 0], [0, 1, 0]]),
    "oblique": _rotation([1, 2, 3], 0.7),
}


@st.composite
def volumes_and_needles(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    shape = tuple(draw(st.lists(st.integers(1, 7), min_size=3, max_size=3)))
    labels = rng.integers(0, 4, size=shape).astype(draw(st.sampled_from((np.uint8, np.int32))))
    spacing = np.array(
        draw(st.lists(st.sampled_from((0.3, 0.5, 1.0, 2.5)), min_size=3, max_size=3))
    )
    direction = DIRECTIONS[draw(st.sampled_from(sorted(DIRECTIONS)))]
    origin = rng.uniform(-50, 50, size=3)
    # Needle ends in index space, up to 1.5 voxels beyond the volume on each side.
    ends_index = rng.uniform(-2.0, np.array(shape) + 1.0, size=(2, 3))
    if draw(st.booleans()):  # ends on voxel faces, edges or centres
        ends_index = np.round(ends_index * 2) / 2
        # A needle lying in a face plane is on either side by rounding of the
        # frame; test_needle_on_a_voxel_face_belongs_to_the_upper_voxel covers it.
        in_face = (ends_index[0] == ends_index[1]) & (ends_index[0] % 1 == 0.5)
        ends_index[:, in_face] += 0.25
    start, end = origin + (direction @ (spacing * ends_index).T).T
    return labels, origin, spacing, direction, start, end


@settings(max_examples=40, deadline=None)
@given(volumes_and_needles())
def test_line_of_sight_matches_dense_sampling(case):
    labels, origin, spacing, direction, start, end = case
    sight = trace_line_of_sight(start, end, labels, origin, spacing, direction)
    expected, outside, runs = sampled_line_of_sight(
        start, end, labels, origin, spacing, direction, N_SAMPLES
    )
    length = np.linalg.norm(end - start)
    step = length / N_SAMPLES
    # Each change of voxel misplaces at most one sample's length.
    tolerance = (len(runs) + 1) * step + 1e-9
    assert set(sight.length_by_label_mm) >= {v for v, mm in expected.items() if mm > tolerance}
    for label, mm in sight.length_by_label_mm.items():
        assert mm == pytest.approx(expected.get(label, 0.0), abs=tolerance)
    assert sight.outside_mm == pytest.approx(outside, abs=tolerance)
    assert sight.length_mm.sum() + sight.outside_mm == pytest.approx(length, rel=1e-12, abs=1e-12)
    assert np.all(sight.length_mm > 0)
    assert np.all(sight.labels[1:] != sight.labels[:-1])  # runs are maximal
    # Runs are in order: the middle of each long run samples to its label (unless it lies
    # on a voxel face: a run through a voxel edge into a diagonal neighbour of the same
    # label has its middle on that edge, which rounds into a voxel the needle never enters).
    for label, start_mm, run_mm in zip(sight.labels, sight.start_mm, sight.length_mm, strict=True):
        middle = start + (start_mm + run_mm / 2) / length * (end - start)
        middle_index = ((middle - origin) @ direction) / spacing
        on_face = np.any(np.abs(middle_index - np.floor(middle_index) - 0.5) < 1e-9)
        if run_mm > 3 * step and not on_face:
            _, _, middle_run = sampled_line_of_sight(
                middle, middle, labels, origin, spacing, direction, 1
            )
            assert middle_run.tolist() == [label]
    batched = line_of_sight_lengths([start], [end], labels, origin, spacing, direction, n_labels=4)
    for label in range(4):
        assert batched.length_mm[0, label] == pytest.approx(
            sight.length_by_label_mm.get(label, 0.0), abs=1e-12
        )
    assert batched.outside_mm[0] == pytest.approx(sight.outside_mm, abs=1e-12)


@pytest.mark.parametrize("name", sorted(DIRECTIONS))
def test_needle_along_an_index_axis_gives_exact_lengths(name):
    direction = DIRECTIONS[name]
    spacing = np.array([0.5, 2.0, 3.0])
    origin = np.array([10.0, -20.0, 30.0])
    labels = np.zeros((6, 3, 3), dtype=np.int16)
    labels[:, 1, 1] = [1, 1, 2, 3, 3, 1]
    labels[:, 2, 1] = 4  # the neighbouring row, which the needle must not touch

    def physical(index):
        return origin + direction @ (spacing * np.asarray(index, dtype=np.float64))

    # Along i, from 0.7 voxels before the volume to 0.2 voxels into the last voxel.
    sight = trace_line_of_sight(
        physical([-1.2, 1, 1]), physical([5.2, 1, 1]), labels, origin, spacing, direction
    )
    assert sight.labels.tolist() == [1, 2, 3, 1]
    np.testing.assert_allclose(sight.length_mm, [1.0, 0.5, 1.0, 0.35], rtol=0, atol=1e-12)
    np.testing.assert_allclose(sight.start_mm, [0.35, 1.35, 1.85, 2.85], rtol=0, atol=1e-12)
    assert sight.outside_mm == pytest.approx(0.35, abs=1e-12)
    assert sight.length_by_label_mm == pytest.approx({1: 1.35, 2: 0.5, 3: 1.0}, abs=1e-12)

    # Backwards along j through voxels (3, 2..0, 1): 4, 3, 0 over 2 mm each.
    sight = trace_line_of_sight(
        physical([3, 2.5, 1]), physical([3, -0.5, 1]), labels, origin, spacing, direction
    )
    assert sight.labels.tolist() == [4, 3, 0]
    np.testing.assert_allclose(sight.length_mm, [2.0, 2.0, 2.0], rtol=0, atol=1e-12)
    assert sight.outside_mm == pytest.approx(0.0, abs=1e-12)


def test_needle_on_a_voxel_face_belongs_to_the_upper_voxel():
    labels = np.zeros((2, 2, 1), dtype=np.uint8)
    labels[:, 1, 0] = 7
    # Along i on the face j = 0.5 between rows j = 0 and j = 1: voxels cover [j - 0.5, j + 0.5).
    sight = trace_line_of_sight(
        [-0.5, 0.5, 0], [1.5, 0.5, 0], labels, np.zeros(3), np.ones(3), np.eye(3)
    )
    assert sight.labels.tolist() == [7]
    assert sight.length_mm.tolist() == [2.0]
    # On the far face j = 1.5 the needle is outside the volume.
    sight = trace_line_of_sight(
        [-0.5, 1.5, 0], [1.5, 1.5, 0], labels, np.zeros(3), np.ones(3), np.eye(3)
    )
    assert sight.labels.tolist() == [] and sight.outside_mm == 2.0


def test_degenerate_needles():
    labels = np.full((3, 3, 3), 2, dtype=np.uint8)
    frame = (np.zeros(3), np.ones(3), np.eye(3))
    point = trace_line_of_sight([1.0, 1, 1], [1.0, 1, 1], labels, *frame)
    assert point.labels.size == 0 and point.outside_mm == 0.0
    missing = trace_line_of_sight([5.0, 0, 0], [5.0, 0, 9], labels, *frame)
    assert missing.labels.size == 0 and missing.outside_mm == 9.0
    diagonal = trace_line_of_sight([-0.5, -0.5, -0.5], [2.5, 2.5, 2.5], labels, *frame)
    assert diagonal.labels.tolist() == [2]
    assert diagonal.length_mm[0] == pytest.approx(3 * np.sqrt(3), abs=1e-12)


def test_many_needles_in_parallel_match_one_by_one():
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 3, size=(8, 9, 10)).astype(np.uint8)
    origin, spacing, direction = (
        np.array([1.0, 2, 3]),
        np.array([0.4, 0.7, 1.1]),
        _rotation([0, 1, 1], 0.3),
    )
    starts = rng.uniform(-5, 12, size=(50, 3))
    ends = rng.uniform(-5, 12, size=(50, 3))
    result = line_of_sight_lengths(starts, ends, labels, origin, spacing, direction)
    assert result.length_mm.shape == (50, 3)
    for k in range(50):
        sight = trace_line_of_sight(starts[k], ends[k], labels, origin, spacing, direction)
        expected = [sight.length_by_label_mm.get(v, 0.0) for v in range(3)]
        np.testing.assert_allclose(result.length_mm[k], expected, rtol=0, atol=1e-12)
        assert result.outside_mm[k] == pytest.approx(sight.outside_mm, abs=1e-12)


def test_label_values_outside_the_columns_are_rejected():
    labels = np.array([0, 5]).reshape(2, 1, 1)
    frame = (np.zeros(3), np.ones(3), np.eye(3))
    with pytest.raises(ValueError, match=r"outside \[0, 3\)"):
        line_of_sight_lengths([[0.0, 0, 0]], [[1.0, 0, 0]], labels, *frame, n_labels=3)
    with pytest.raises(ValueError, match="negative"):
        line_of_sight_lengths([[0.0, 0, 0]], [[1.0, 0, 0]], -labels, *frame)
    # A label beyond the columns that no needle crosses is fine.
    result = line_of_sight_lengths([[0.0, 0, 0]], [[0.2, 0, 0]], labels, *frame, n_labels=1)
    assert result.length_mm.tolist() == [[pytest.approx(0.2)]]
