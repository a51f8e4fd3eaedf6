"""The parallel entry points of the kernels give the serial answers, bit for bit.

Inputs this small normally take the serial path; the thresholds are lowered
here so that the parallel code runs on them (and on the brute-force checks).
"""

from __future__ import annotations

import numba
import numpy as np
import pytest
from test_kernels_oracles import brute_segment_d2

import pdvaplan.kernels._threads as threads
import pdvaplan.kernels.polyline_closest as polyline_closest
from pdvaplan.kernels import (
    closest_approach,
    distance_profile,
    line_of_sight_lengths,
    nearest_segments_within,
    segment_pairs_within,
)

pytestmark = pytest.mark.skipif(
    numba.config.NUMBA_NUM_THREADS < 2, reason="numba has a single thread here"
)


def _walks(n_a, n_b, seed):
    rng = np.random.default_rng(seed)
    a = np.cumsum(rng.normal(scale=0.7, size=(n_a, 3)), axis=0)
    b = np.cumsum(rng.normal(scale=0.7, size=(n_b, 3)), axis=0) + np.array([4.0, 0.0, 0.0])
    return a, b


def _both(function, monkeypatch):
    """`function()` on the serial path, then with every threshold at zero."""
    serial = function()
    previous = numba.get_num_threads()
    with monkeypatch.context() as patch:
        patch.setattr(threads, "PARALLEL_MIN_ITEMS", 0)
        patch.setattr(polyline_closest, "PARALLEL_BUILD_MIN_POINTS", 0)
        numba.set_num_threads(2)
        try:
            parallel = function()
        finally:
            numba.set_num_threads(previous)
    return serial, parallel


def _assert_same(serial, parallel):
    for x, y in zip(serial, parallel, strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(("n_a", "n_b"), [(2, 900), (700, 3), (1500, 1200)])
def test_parallel_paths_match_serial_and_brute_force(monkeypatch, seed, n_a, n_b):
    a, b = _walks(n_a, n_b, seed)
    brute = np.sqrt(brute_segment_d2(a, b))
    calls = {
        "closest": lambda: closest_approach(a, b),
        "pairs": lambda: segment_pairs_within(a, b, 3.0),
        "nearest": lambda: nearest_segments_within(a, b, 3.0),
        "profile": lambda: distance_profile(a, b),
    }
    answers = {name: _both(call, monkeypatch) for name, call in calls.items()}
    for serial, parallel in answers.values():
        _assert_same(serial, parallel)
    assert answers["closest"][1].distance_mm == pytest.approx(brute.min(), abs=1e-9)
    pairs = answers["pairs"][1]
    assert np.array_equal(
        np.column_stack([pairs.segment_a, pairs.segment_b]), np.argwhere(brute <= 3.0)
    )
    near = answers["nearest"][1]
    has = brute.min(axis=1) <= 3.0
    assert np.array_equal(near.segment_b >= 0, has)
    np.testing.assert_allclose(near.distance_mm[has], brute.min(axis=1)[has], rtol=0, atol=1e-9)


def test_parallel_line_of_sight_matches_serial(monkeypatch):
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 4, size=(30, 20, 25)).astype(np.uint8)
    starts = rng.uniform(-5, 35, size=(500, 3))
    ends = starts + rng.normal(scale=8, size=(500, 3))
    frame = (np.array([1.0, -2.0, 0.5]), np.array([0.8, 1.1, 1.3]), np.diag([-1.0, 1.0, -1.0]))
    serial, parallel = _both(
        lambda: line_of_sight_lengths(starts, ends, labels, *frame), monkeypatch
    )
    _assert_same(serial, parallel)
