"""Array filters in mm against SciPy's: labelling, distances, smoothing."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage

from pdvaplan import filters

masks = st.integers(2, 3).flatmap(lambda ndim: arrays(bool, st.tuples(*[st.integers(1, 9)] * ndim)))


@settings(max_examples=200, deadline=None)
@given(mask=masks, data=st.data())
def test_components_are_scipys_labelling(mask, data):
    connectivity = data.draw(st.integers(1, mask.ndim))
    structure = ndimage.generate_binary_structure(mask.ndim, connectivity)
    expected, count = ndimage.label(mask, structure)
    parts = filters.Components(mask, connectivity)
    assert parts.count == count
    assert np.array_equal(parts.labels(), expected)  # same components, same order
    assert parts.sizes().tolist() == np.bincount(expected.ravel())[1:].tolist()
    low, high = parts.boxes()
    boxes = [[(b.start, b.stop) for b in box] for box in ndimage.find_objects(expected)]
    assert boxes == [list(zip(lo, hi, strict=True)) for lo, hi in zip(low, high, strict=True)]
    members = parts.members()
    for c in range(count):
        assert np.array_equal(np.sort(members[c]), np.flatnonzero(expected == c + 1))


def test_components_on_a_smooth_volume():
    rng = np.random.default_rng(3)
    mask = ndimage.gaussian_filter(rng.normal(size=(40, 50, 30)), 1.0) > 0.1
    for connectivity in (1, 3):
        structure = ndimage.generate_binary_structure(3, connectivity)
        expected, count = ndimage.label(mask, structure)
        parts = filters.Components(mask, connectivity)
        assert parts.count == count > 1
        assert np.array_equal(parts.labels(), expected)


@settings(max_examples=100, deadline=None)
@given(
    mask=arrays(bool, st.tuples(*[st.integers(1, 12)] * 3)),
    spacing=st.tuples(*[st.floats(0.3, 2.0)] * 3),
)
def test_inside_distance_in_the_box_equals_the_full_transform(mask, spacing):
    got = filters.inside_distance_mm(mask, np.array(spacing))
    if mask.all():  # no voxel outside: scipy measures to the array's edge, ours never ends
        return
    expected = ndimage.distance_transform_edt(mask, sampling=spacing)
    assert got.dtype == np.float32
    assert np.allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_within_mm_in_boxes_equals_full_transform():
    rng = np.random.default_rng(4)
    mask = ndimage.gaussian_filter(rng.normal(size=(60, 40, 50)), 1.5) > 0.25
    spacing = np.array([0.7, 1.3, 0.9])
    expected = ndimage.distance_transform_edt(~mask, sampling=spacing) <= 2.0
    assert np.array_equal(filters.within_mm(mask, spacing, 2.0), expected)


def test_threaded_smoothing_equals_scipy():
    rng = np.random.default_rng(5)
    image = rng.normal(50, 30, (160, 130, 110)).astype(np.int16)  # above the serial limit
    spacing = np.array([0.8, 0.6, 1.2])
    got = filters.smooth_mm(image, spacing, 0.5)
    expected = ndimage.gaussian_filter(image, 0.5 / spacing, output=np.float32, truncate=3.0)
    assert np.allclose(got, expected, atol=1e-3)
