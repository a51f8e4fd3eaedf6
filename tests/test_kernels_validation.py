"""Public kernels reject malformed input with a one-line ValueError naming the argument."""

from __future__ import annotations

import numpy as np
import pytest

import pdvaplan.kernels
from pdvaplan.kernels import (
    closest_approach,
    distance_profile,
    line_of_sight_lengths,
    nearest_segments_within,
    segment_pairs_within,
    trace_line_of_sight,
)

LINE = np.array([[0.0, 0, 0], [1, 0, 0], [2, 1, 0]])
POLYLINE_FUNCTIONS = [
    closest_approach,
    distance_profile,
    nearest_segments_within,
    segment_pairs_within,
]
FRAME = {"origin_mm": np.zeros(3), "spacing_mm": np.ones(3), "direction": np.eye(3)}
LABELS = np.zeros((2, 2, 2), dtype=np.uint8)


def _with(value, index):
    bad = LINE.copy()
    bad[index] = value
    return bad


BAD_POLYLINES = [
    (_with(np.nan, (1, 2)), "NaN or infinite"),
    (_with(np.inf, (0, 0)), "NaN or infinite"),
    (_with(-np.inf, (2, 1)), "NaN or infinite"),
    (LINE[:1], "at least 2 points"),
    (LINE[:, :2], r"shape \(N, 3\)"),
    (LINE.ravel(), r"shape \(N, 3\)"),
    ([["a", "b", "c"], ["d", "e", "f"]], "numbers"),
]


@pytest.mark.parametrize("function", POLYLINE_FUNCTIONS)
@pytest.mark.parametrize(("bad", "message"), BAD_POLYLINES)
def test_bad_polylines_are_rejected_by_name(function, bad, message):
    with pytest.raises(ValueError, match=f"^a_mm .*{message}"):
        function(bad, LINE)
    with pytest.raises(ValueError, match=f"^b_mm .*{message}"):
        function(LINE, bad)


@pytest.mark.parametrize("function", [nearest_segments_within, segment_pairs_within])
@pytest.mark.parametrize("reach", [-1.0, np.nan, np.inf])
def test_bad_reach_is_rejected(function, reach):
    with pytest.raises(ValueError, match=r"^reach_mm"):
        function(LINE, LINE, reach_mm=reach)


def test_integer_and_list_input_is_accepted():
    as_list = [[0, 0, 0], [0, 0, 10]]
    assert closest_approach(as_list, [[3, 4, 5], [3, 4, 6]]).distance_mm == 5.0


@pytest.mark.parametrize(
    ("argument", "value", "message"),
    [
        ("start_mm", [0.0, np.nan, 0], "^start_mm holds NaN"),
        ("end_mm", [np.inf, 0, 0], "^end_mm holds NaN"),
        ("end_mm", [0.0, 0], r"^end_mm must have shape \(3,\)"),
        ("origin_mm", [0.0, 0, np.nan], "^origin_mm holds NaN"),
        ("spacing_mm", [1.0, 0.0, 1.0], "^spacing_mm must be positive"),
        ("spacing_mm", [1.0, np.inf, 1.0], "^spacing_mm holds NaN"),
        ("direction", np.diag([1.0, 2.0, 1.0]), "^direction must be orthonormal"),
        ("direction", np.full((3, 3), np.nan), "^direction must be a finite 3 x 3"),
        ("labels", np.zeros((2, 2)), "^labels must be a 3D array"),
        ("labels", np.zeros((2, 2, 2)), "^labels must hold integers"),
    ],
)
def test_bad_line_of_sight_input_is_rejected_by_name(argument, value, message):
    arguments = {"start_mm": np.zeros(3), "end_mm": np.ones(3), "labels": LABELS, **FRAME}
    arguments[argument] = value
    with pytest.raises(ValueError, match=message):
        trace_line_of_sight(**arguments)
    many = {k: v for k, v in arguments.items() if k not in ("start_mm", "end_mm")}
    starts = np.atleast_2d(arguments["start_mm"])
    ends = np.atleast_2d(arguments["end_mm"])
    with pytest.raises(
        ValueError,
        match=message.replace("start_mm", "starts_mm")
        .replace("end_mm", "ends_mm")
        .replace(r"\(3,\)", r"\(N, 3\)"),
    ):
        line_of_sight_lengths(starts, ends, **many)


def test_mismatched_needle_arrays_are_rejected():
    with pytest.raises(ValueError, match=r"^starts_mm and ends_mm must have the same shape"):
        line_of_sight_lengths(np.zeros((2, 3)), np.zeros((3, 3)), LABELS, **FRAME)


def test_every_public_function_has_examples():
    for name in pdvaplan.kernels.__all__:
        item = getattr(pdvaplan.kernels, name)
        if callable(item) and not isinstance(item, type):
            assert "Examples\n    --------" in item.__doc__, name
