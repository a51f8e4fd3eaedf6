"""Brute-force oracles for the kernel tests, and tests of the oracles themselves.

The oracles share no code with `pdvaplan.kernels`:

* `exact_segment_d2` minimises the squared distance between two segments in
  exact rational arithmetic (`fractions.Fraction`), checking the interior
  critical point and all four edges of the parameter square;
* `brute_segment_d2` does the same over all segment pairs at once in NumPy
  floats, for inputs too large for exact arithmetic;
* `sampled_line_of_sight` samples a needle at many points and looks each up
  in the nearest voxel.
"""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import pytest


def _dot(u, v):
    return sum((x * y for x, y in zip(u, v, strict=True)), Fraction(0))


def _clamp(x):
    return min(max(x, Fraction(0)), Fraction(1))


def exact_segment_d2(p0, p1, q0, q1) -> Fraction:
    """Exact minimum of |p0 + s (p1 - p0) - q0 - t (q1 - q0)|^2 over s, t in [0, 1]."""
    p0, p1, q0, q1 = ([Fraction(float(x)) for x in point] for point in (p0, p1, q0, q1))
    u = [y - x for x, y in zip(p0, p1, strict=True)]
    v = [y - x for x, y in zip(q0, q1, strict=True)]
    w = [x - y for x, y in zip(p0, q0, strict=True)]

    def gap2(s, t):
        d = [wk + s * uk - t * vk for wk, uk, vk in zip(w, u, v, strict=True)]
        return _dot(d, d)

    uu, vv, uv, uw, vw = _dot(u, u), _dot(v, v), _dot(u, v), _dot(u, w), _dot(v, w)
    candidates = []
    determinant = uu * vv - uv * uv
    if determinant != 0:
        s = (uv * vw - vv * uw) / determinant
        t = (uu * vw - uv * uw) / determinant
        if 0 <= s <= 1 and 0 <= t <= 1:
            candidates.append(gap2(s, t))
    for s in (Fraction(0), Fraction(1)):
        t = _clamp((vw + s * uv) / vv) if vv else Fraction(0)
        candidates.append(gap2(s, t))
    for t in (Fraction(0), Fraction(1)):
        s = _clamp((t * uv - uw) / uu) if uu else Fraction(0)
        candidates.append(gap2(s, t))
    return min(candidates)


def exact_distance(d2: Fraction) -> float:
    """Square root of an exact squared distance, correctly rounded to about 1 ulp."""
    value = float(np.sqrt(float(d2)))
    # One Newton step in exact arithmetic removes the error of float(d2).
    if value > 0:
        value = float((Fraction(value) + d2 / Fraction(value)) / 2)
    return value


def exact_pair_distances(a, b) -> np.ndarray:
    """Exact distance between every segment of `a` and every segment of `b`, shape (N-1, M-1)."""
    out = np.empty((len(a) - 1, len(b) - 1))
    for i, j in itertools.product(range(len(a) - 1), range(len(b) - 1)):
        out[i, j] = exact_distance(exact_segment_d2(a[i], a[i + 1], b[j], b[j + 1]))
    return out


def exact_point_distances(points, b) -> np.ndarray:
    """Exact distance from each point to each segment of `b`, shape (N, M-1)."""
    out = np.empty((len(points), len(b) - 1))
    for i, j in itertools.product(range(len(points)), range(len(b) - 1)):
        out[i, j] = exact_distance(exact_segment_d2(points[i], points[i], b[j], b[j + 1]))
    return out


def _point_to_segments_d2(p, q0, d, dd):
    """Squared distance from points p (..., 3) to segments q0 + t d, t in [0, 1]."""
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(dd > 0, np.einsum("...k,...k->...", p - q0, d) / dd, 0.0)
    t = np.clip(t, 0.0, 1.0)
    gap = q0 + t[..., None] * d - p
    return np.einsum("...k,...k->...", gap, gap)


def brute_segment_d2(a, b) -> np.ndarray:
    """Squared distance between every segment of `a` and every segment of `b`, in floats."""
    p0 = a[:-1, None, :]
    u = np.diff(a, axis=0)[:, None, :]
    q0 = b[None, :-1, :]
    v = np.diff(b, axis=0)[None, :, :]
    uu = np.einsum("...k,...k->...", u, u)
    vv = np.einsum("...k,...k->...", v, v)
    p1, q1 = p0 + u, q0 + v
    best = np.minimum.reduce(
        [
            _point_to_segments_d2(p0, q0, v, vv),
            _point_to_segments_d2(p1, q0, v, vv),
            _point_to_segments_d2(q0, p0, u, uu),
            _point_to_segments_d2(q1, p0, u, uu),
        ]
    )
    w = p0 - q0
    uv = np.einsum("...k,...k->...", u, v)
    uw = np.einsum("...k,...k->...", u, w)
    vw = np.einsum("...k,...k->...", v, w)
    determinant = uu * vv - uv * uv
    with np.errstate(invalid="ignore", divide="ignore"):
        s = (uv * vw - vv * uw) / determinant
        t = (uu * vw - uv * uw) / determinant
    inside = (determinant > 0) & (s >= 0) & (s <= 1) & (t >= 0) & (t <= 1)
    gap = w + np.where(inside, s, 0)[..., None] * u - np.where(inside, t, 0)[..., None] * v
    interior = np.where(inside, np.einsum("...k,...k->...", gap, gap), np.inf)
    return np.minimum(best, interior)


def sampled_line_of_sight(start, end, labels, origin, spacing, direction, n_samples=100_000):
    """Length per label and outside, from the voxel nearest to each of many sample points.

    Returns ``(lengths, outside_mm, run_labels)``: a dict label -> mm, the
    length outside the volume, and the labels of consecutive runs of samples
    (-1 for outside).
    """
    length = float(np.linalg.norm(np.subtract(end, start)))
    fractions = (np.arange(n_samples) + 0.5) / n_samples
    points = np.asarray(start) + fractions[:, None] * (np.asarray(end) - np.asarray(start))
    index = ((points - origin) @ np.asarray(direction)) / spacing
    voxel = np.floor(index + 0.5).astype(np.int64)
    inside = np.all((voxel >= 0) & (voxel < np.array(labels.shape)), axis=1)
    sample_labels = np.full(n_samples, -1, dtype=np.int64)
    sample_labels[inside] = labels[tuple(voxel[inside].T)]
    step = length / n_samples
    values, counts = np.unique(sample_labels, return_counts=True)
    lengths = {int(v): c * step for v, c in zip(values, counts, strict=True) if v >= 0}
    changes = np.flatnonzero(np.diff(sample_labels)) + 1
    run_labels = sample_labels[np.concatenate([[0], changes])] if n_samples else sample_labels
    return lengths, float(np.sum(~inside) * step), run_labels


# Tests of the oracles.


def test_exact_segment_d2_known_cases():
    o = (0, 0, 0)
    assert exact_segment_d2(o, (2, 0, 0), (1, 1, -1), (1, 1, 1)) == 1  # skew, interior
    assert exact_segment_d2(o, (1, 0, 0), (3, 4, 0), (3, 8, 0)) == 20  # end to end
    assert exact_segment_d2(o, (4, 0, 0), (1, 2, 0), (3, 2, 0)) == 4  # parallel, overlapping
    assert exact_segment_d2(o, (1, 0, 0), (3, 0, 0), (5, 0, 0)) == 4  # collinear, apart
    assert exact_segment_d2(o, o, (0, 3, 4), (0, 3, 4)) == 25  # two points
    assert exact_segment_d2(o, (2, 2, 0), (0, 2, 0), (2, 0, 0)) == 0  # crossing


def test_exact_distance_is_correctly_rounded():
    assert exact_distance(Fraction(2)) == float(np.sqrt(2.0))
    assert exact_distance(Fraction(10**12 + 1)) == pytest.approx(10**6 + 5e-7, abs=1e-12)


def test_exact_segment_d2_not_above_dense_sampling():
    rng = np.random.default_rng(1)
    grid = np.linspace(0, 1, 201)
    for _ in range(20):
        p0, p1, q0, q1 = rng.normal(size=(4, 3))
        exact = float(exact_segment_d2(p0, p1, q0, q1))
        on_p = p0 + grid[:, None] * (p1 - p0)
        on_q = q0 + grid[:, None] * (q1 - q0)
        sampled = np.min(np.sum((on_p[:, None] - on_q[None]) ** 2, axis=-1))
        assert exact <= sampled + 1e-12
        # Sampling every 1/200 of both segments misses the minimum by little.
        step = (np.linalg.norm(p1 - p0) + np.linalg.norm(q1 - q0)) / 200
        assert np.sqrt(sampled) - np.sqrt(exact) <= step


def test_brute_segment_d2_matches_exact():
    rng = np.random.default_rng(2)
    a = np.round(rng.normal(size=(6, 3)), 1)
    b = np.round(rng.normal(size=(7, 3)), 1)
    b[3] = b[2]  # a zero-length segment
    b[5] = a[1]  # a coincident point
    exact = exact_pair_distances(a, b)
    np.testing.assert_allclose(np.sqrt(brute_segment_d2(a, b)), exact, rtol=0, atol=1e-12)


def test_sampled_line_of_sight_on_a_voxel_row():
    labels = np.array([0, 1, 1, 2]).reshape(4, 1, 1)
    lengths, outside, runs = sampled_line_of_sight(
        [-1.5, 0, 0], [3.5, 0, 0], labels, np.zeros(3), np.ones(3), np.eye(3), 1000
    )
    assert lengths == pytest.approx({0: 1.0, 1: 2.0, 2: 1.0})
    assert outside == pytest.approx(1.0)
    assert runs.tolist() == [-1, 0, 1, 2]
