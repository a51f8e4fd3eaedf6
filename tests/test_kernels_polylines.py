"""Polyline distance kernels against brute-force oracles (see test_kernels_oracles)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_kernels_oracles import (
    brute_segment_d2,
    exact_pair_distances,
    exact_point_distances,
)

from pdvaplan.kernels import (
    closest_approach,
    distance_profile,
    nearest_segments_within,
    segment_pairs_within,
)

TOLERANCE_MM = 1e-9
SCALES = (1e-6, 1e-3, 1.0, 1e3, 1e6)

settings.register_profile(
    "kernels", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("kernels")


@st.composite
def polyline_pairs(draw, max_points=6):
    """Two short polylines on a coarse grid (so parallel, collinear, zero-length
    segments and coincident points are common), optionally jittered, scaled
    from 1e-6 to 1e6 mm and shifted."""
    scale = draw(st.sampled_from(SCALES))
    shift = draw(st.sampled_from((0.0, 1e6)))
    jitter = draw(st.booleans())
    polylines = []
    for _ in range(2):
        n = draw(st.integers(2, max_points))
        grid = np.array(draw(st.lists(st.integers(-3, 3), min_size=3 * n, max_size=3 * n)))
        points = grid.reshape(n, 3).astype(np.float64)
        if jitter:
            noise = draw(st.lists(st.floats(-0.5, 0.5), min_size=3 * n, max_size=3 * n))
            points += np.array(noise).reshape(n, 3)
        polylines.append(points * scale + shift)
    return polylines[0], polylines[1], scale


def _check_on_segment(point, polyline, segment, scale):
    """`point` lies on the segment (within rounding of the coordinates)."""
    p0, p1 = polyline[segment], polyline[segment + 1]
    d = p1 - p0
    t = np.clip(np.dot(point - p0, d) / np.dot(d, d), 0, 1) if np.dot(d, d) > 0 else 0.0
    off = np.linalg.norm(p0 + t * d - point)
    assert off <= 1e-12 * max(scale, np.abs(polyline).max())
    return t


def _arc_at(polyline, segment, point):
    arc = np.concatenate([[0], np.cumsum(np.linalg.norm(np.diff(polyline, axis=0), axis=1))])
    return arc[segment] + np.linalg.norm(point - polyline[segment])


def _tol(a, b):
    """1e-9 mm, or 4 float64 ulps of the largest coordinate where that is more.

    Rounding the input coordinates alone moves a distance by about an ulp, so
    beyond about 2e6 mm (ulp 4.7e-10 mm) no float64 kernel holds 1e-9 mm.
    """
    return max(TOLERANCE_MM, 4 * np.spacing(max(np.abs(a).max(), np.abs(b).max())))


def _arc_tol(polyline):
    """1e-9 mm, widened by rounding of arc lengths: a polyline 1e7 mm long has ulps of 2e-9 mm."""
    return TOLERANCE_MM + 1e-15 * np.linalg.norm(np.diff(polyline, axis=0), axis=1).sum()


@given(polyline_pairs())
def test_closest_approach_matches_exact_brute_force(case):
    a, b, scale = case
    exact = exact_pair_distances(a, b)
    hit = closest_approach(a, b)
    tol = _tol(a, b)
    assert hit.distance_mm == pytest.approx(exact.min(), abs=tol)
    assert exact[hit.segment_a, hit.segment_b] == pytest.approx(exact.min(), abs=tol)
    _check_on_segment(hit.point_a_mm, a, hit.segment_a, scale)
    _check_on_segment(hit.point_b_mm, b, hit.segment_b, scale)
    assert np.linalg.norm(hit.point_a_mm - hit.point_b_mm) == pytest.approx(
        hit.distance_mm, abs=tol
    )
    assert hit.arc_a_mm == pytest.approx(_arc_at(a, hit.segment_a, hit.point_a_mm), abs=_arc_tol(a))
    assert hit.arc_b_mm == pytest.approx(_arc_at(b, hit.segment_b, hit.point_b_mm), abs=_arc_tol(b))


@given(polyline_pairs(), st.floats(0.0, 4.0))
def test_segment_pairs_match_exact_brute_force(case, reach_fraction):
    a, b, scale = case
    reach = reach_fraction * scale
    exact = exact_pair_distances(a, b)
    tol = _tol(a, b)
    pairs = segment_pairs_within(a, b, reach_mm=reach)
    found = set(zip(pairs.segment_a.tolist(), pairs.segment_b.tolist(), strict=True))
    expected = set(zip(*np.nonzero(exact <= reach), strict=True))
    # Only pairs within rounding of the reach may fall on either side of it.
    borderline = set(zip(*np.nonzero(np.abs(exact - reach) <= tol), strict=True))
    assert found - borderline == expected - borderline
    assert len(found) == len(pairs.segment_a)  # no duplicates
    order = np.lexsort((pairs.segment_b, pairs.segment_a))
    assert np.array_equal(order, np.arange(len(order)))
    np.testing.assert_allclose(
        pairs.distance_mm, exact[pairs.segment_a, pairs.segment_b], rtol=0, atol=tol
    )
    assert np.all(pairs.distance_mm <= reach)
    for p in range(len(pairs.segment_a)):
        _check_on_segment(pairs.point_a_mm[p], a, pairs.segment_a[p], scale)
        _check_on_segment(pairs.point_b_mm[p], b, pairs.segment_b[p], scale)
        gap = np.linalg.norm(pairs.point_a_mm[p] - pairs.point_b_mm[p])
        assert gap == pytest.approx(pairs.distance_mm[p], abs=tol)
        assert pairs.arc_b_mm[p] == pytest.approx(
            _arc_at(b, pairs.segment_b[p], pairs.point_b_mm[p]), abs=_arc_tol(b)
        )


@given(polyline_pairs(), st.floats(0.0, 4.0))
def test_nearest_segments_match_exact_brute_force(case, reach_fraction):
    a, b, scale = case
    reach = reach_fraction * scale
    exact = exact_pair_distances(a, b)
    tol = _tol(a, b)
    near = nearest_segments_within(a, b, reach_mm=reach)
    for i in range(len(a) - 1):
        best = exact[i].min()
        j = near.segment_b[i]
        if j < 0:
            assert best > reach - tol
            assert np.isnan(near.distance_mm[i]) and np.all(np.isnan(near.point_a_mm[i]))
            continue
        assert best <= reach + tol
        assert near.distance_mm[i] == pytest.approx(best, abs=tol)
        assert exact[i, j] == pytest.approx(best, abs=tol)
        _check_on_segment(near.point_a_mm[i], a, i, scale)
        _check_on_segment(near.point_b_mm[i], b, j, scale)
        assert near.arc_a_mm[i] == pytest.approx(_arc_at(a, i, near.point_a_mm[i]), abs=_arc_tol(a))


@given(polyline_pairs())
def test_distance_profile_matches_exact_brute_force(case):
    a, b, scale = case
    exact = exact_point_distances(a, b)
    tol = _tol(a, b)
    profile = distance_profile(a, b)
    np.testing.assert_allclose(profile.distance_mm, exact.min(axis=1), rtol=0, atol=tol)
    np.testing.assert_allclose(
        exact[np.arange(len(a)), profile.segment_b], exact.min(axis=1), rtol=0, atol=tol
    )
    for v in range(len(a)):
        _check_on_segment(profile.point_b_mm[v], b, profile.segment_b[v], scale)
        assert np.linalg.norm(profile.point_b_mm[v] - a[v]) == pytest.approx(
            profile.distance_mm[v], abs=tol
        )


@st.composite
def long_polylines(draw):
    """Random walks long enough to fill many tree leaves, from a drawn seed."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n_a, n_b = draw(st.integers(2, 120)), draw(st.integers(2, 120))
    step = draw(st.sampled_from((0.2, 1.0, 3.0)))
    a = np.cumsum(rng.normal(scale=step, size=(n_a, 3)), axis=0)
    b = np.cumsum(rng.normal(scale=step, size=(n_b, 3)), axis=0) + rng.normal(scale=3, size=3)
    if draw(st.booleans()):  # some exactly repeated points
        a[rng.integers(0, n_a, size=n_a // 4)] = a[0]
    return a, b


@given(long_polylines(), st.floats(0.0, 12.0))
def test_tree_search_matches_numpy_brute_force(case, reach):
    a, b = case
    brute = np.sqrt(brute_segment_d2(a, b))
    hit = closest_approach(a, b)
    assert hit.distance_mm == pytest.approx(brute.min(), abs=TOLERANCE_MM)
    pairs = segment_pairs_within(a, b, reach_mm=reach)
    expected = np.argwhere(brute <= reach)
    borderline = np.abs(brute - reach) <= TOLERANCE_MM
    if not borderline.any():
        assert np.array_equal(np.column_stack([pairs.segment_a, pairs.segment_b]), expected)
        np.testing.assert_allclose(
            pairs.distance_mm, brute[tuple(expected.T)], rtol=0, atol=TOLERANCE_MM
        )
    near = nearest_segments_within(a, b, reach_mm=reach)
    row_min = brute.min(axis=1)
    has = near.segment_b >= 0
    assert np.all(row_min[~has] > reach - TOLERANCE_MM)
    assert np.all(row_min[has] <= reach + TOLERANCE_MM)
    np.testing.assert_allclose(near.distance_mm[has], row_min[has], rtol=0, atol=TOLERANCE_MM)
    profile = distance_profile(a, b)
    # Each vertex as a zero-length segment: rows 0, 2, 4... of the doubled polyline.
    vertex = np.sqrt(brute_segment_d2(np.repeat(a, 2, axis=0), b))[::2]
    np.testing.assert_allclose(profile.distance_mm, vertex.min(axis=1), rtol=0, atol=TOLERANCE_MM)


def test_ties_go_to_the_lowest_segment_indices():
    # B is A shifted by 1 mm: every segment of A is 1 mm from one or two of B's.
    a = np.array([[0.0, 0, 0], [1, 0, 0], [1, 0, 10], [0, 0, 10]])
    b = a + np.array([0.0, 1.0, 0.0])
    hit = closest_approach(a, b)
    assert (hit.segment_a, hit.segment_b, hit.distance_mm) == (0, 0, 1.0)
    assert nearest_segments_within(a, b, 2.0).segment_b.tolist() == [0, 0, 1]
    assert distance_profile(a, b).segment_b.tolist() == [0, 0, 1, 2]


def test_parallel_vessels_give_a_constant_profile():
    z = np.linspace(0, 100, 201)
    artery = np.column_stack([np.zeros_like(z), np.zeros_like(z), z])
    vein = np.column_stack([np.full_like(z, 3.0), np.full_like(z, 4.0), z + 0.25])
    profile = distance_profile(artery, vein)
    np.testing.assert_allclose(profile.distance_mm[1:], 5.0, atol=1e-12)
    assert profile.distance_mm[0] == pytest.approx(np.hypot(5.0, 0.25))
    np.testing.assert_allclose(profile.arc_b_mm[1:], z[1:] - 0.25, atol=1e-12)
    near = nearest_segments_within(artery, vein, reach_mm=4.9)
    assert np.all(near.segment_b == -1)
