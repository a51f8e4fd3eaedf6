"""Numba geometry kernels over plain arrays, all lengths in millimetres.

Plain functions over NumPy arrays; they import only NumPy and numba. Public
functions check their input and raise `ValueError` with a one-line message
naming the argument; the compiled kernels behind them are cached on disk.

Polylines are (N, 3) arrays of vertices in mm; segment ``i`` joins vertices
``i`` and ``i + 1``, and arc lengths are measured from the first vertex. All
polyline distances are exact segment-to-segment distances.

They run on numba's thread pool, as many threads as
`pdvaplan.threads.set_threads` says (every available core by default).
"""

from pdvaplan.kernels._polyline import arc_length_mm
from pdvaplan.kernels.line_of_sight import (
    LabelLengths,
    LineOfSight,
    line_of_sight_lengths,
    trace_line_of_sight,
)
from pdvaplan.kernels.polyline_closest import ClosestApproach, closest_approach
from pdvaplan.kernels.polyline_nearest import NearestSegments, nearest_segments_within
from pdvaplan.kernels.polyline_pairs import SegmentPairs, segment_pairs_within
from pdvaplan.kernels.polyline_profile import DistanceProfile, distance_profile

__all__ = [
    "ClosestApproach",
    "DistanceProfile",
    "LabelLengths",
    "LineOfSight",
    "NearestSegments",
    "SegmentPairs",
    "arc_length_mm",
    "closest_approach",
    "distance_profile",
    "line_of_sight_lengths",
    "nearest_segments_within",
    "segment_pairs_within",
    "trace_line_of_sight",
]
