"""What a straight needle passes through in a label volume, exactly, in mm.

The volume frame follows `pdvaplan.io`: voxel ``labels[i, j, k]`` has its
centre at ``origin_mm + direction @ (spacing_mm * (i, j, k))`` and covers the
index box ``[i - 0.5, i + 0.5) x [j - 0.5, j + 0.5) x [k - 0.5, k + 0.5)``.
The needle segment is mapped to index space (an affine map, so fractions of
the segment are fractions of its length in mm) and walked voxel by voxel
(Amanatides and Woo), crossing one voxel face at a time.

Parts of the needle outside the volume are not given a label: they are
reported separately as ``outside_mm``, so labelled lengths plus ``outside_mm``
add up to the needle length.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

from pdvaplan.kernels._polyline import as_point_mm, as_points_mm
from pdvaplan.kernels._threads import PARALLEL_TASKS, use_threads

#: Needles per block of parallel work.
_CHUNK = 256


class LineOfSight(NamedTuple):
    """The labels a needle segment crosses, in order from its start.

    Attributes
    ----------
    labels : numpy.ndarray of int64, shape (R,)
        Label of each run of consecutive voxels with the same label.
    start_mm : numpy.ndarray, shape (R,)
        Distance from the needle start to where each run begins.
    length_mm : numpy.ndarray, shape (R,)
        Length of the needle inside each run.
    outside_mm : float
        Length of the needle outside the volume.
    length_by_label_mm : dict of int to float
        Total length inside each label value crossed.
    """

    labels: np.ndarray
    start_mm: np.ndarray
    length_mm: np.ndarray
    outside_mm: float
    length_by_label_mm: dict[int, float]


class LabelLengths(NamedTuple):
    """Length of each of K needle segments inside each label value.

    Attributes
    ----------
    length_mm : numpy.ndarray, shape (K, n_labels)
        ``length_mm[k, v]``: length of needle ``k`` inside voxels labelled ``v``.
    outside_mm : numpy.ndarray, shape (K,)
        Length of each needle outside the volume.
    """

    length_mm: np.ndarray
    outside_mm: np.ndarray


def trace_line_of_sight(
    start_mm: np.ndarray,
    end_mm: np.ndarray,
    labels: np.ndarray,
    origin_mm: np.ndarray,
    spacing_mm: np.ndarray,
    direction: np.ndarray,
) -> LineOfSight:
    """Runs of labels along the straight segment from `start_mm` to `end_mm`.

    Parameters
    ----------
    start_mm, end_mm : array_like, shape (3,)
        Needle end points in the physical frame, in mm.
    labels : numpy.ndarray of int, shape (I, J, K)
        Label volume indexed ``[i, j, k]``.
    origin_mm : array_like, shape (3,)
        Physical position of the centre of voxel (0, 0, 0).
    spacing_mm : array_like, shape (3,)
        Voxel size along i, j, k in mm.
    direction : array_like, shape (3, 3)
        Orthonormal matrix whose columns are the physical directions of i, j, k.

    Returns
    -------
    LineOfSight
        Labels of the runs in order, where each run starts and its length (mm),
        the length outside the volume, and the total length per label.

    Raises
    ------
    ValueError
        If a point or frame array has the wrong shape or is not finite, the
        spacing is not positive, the direction is not orthonormal, or
        `labels` is not a 3D integer array.

    Examples
    --------
    >>> import numpy as np
    >>> labels = np.zeros((5, 1, 1), dtype=np.uint8)
    >>> labels[1:3] = 2  # vessel wall in voxels 1 and 2
    >>> sight = trace_line_of_sight([-1.0, 0, 0], [4.0, 0, 0], labels, np.zeros(3),
    ...                             np.ones(3), np.eye(3))
    >>> sight.labels.tolist(), sight.length_mm.round(9).tolist(), round(sight.outside_mm, 9)
    ([0, 2, 0], [1.0, 2.0, 1.5], 0.5)
    >>> {label: round(mm, 9) for label, mm in sight.length_by_label_mm.items()}
    {0: 2.5, 2: 2.0}
    """
    start_mm = as_point_mm(start_mm, "start_mm")
    end_mm = as_point_mm(end_mm, "end_mm")
    labels = _as_labels(labels)
    to_index, origin_mm = _index_map(origin_mm, spacing_mm, direction)
    run_labels, run_t0, run_t1, t_enter, t_exit = _trace(
        start_mm.reshape(1, 3), end_mm.reshape(1, 3), labels, to_index, origin_mm
    )
    length = float(np.linalg.norm(end_mm - start_mm))
    run_length = (run_t1 - run_t0) * length
    totals: dict[int, float] = {}
    for label, run in zip(run_labels.tolist(), run_length.tolist(), strict=True):
        totals[label] = totals.get(label, 0.0) + run
    return LineOfSight(
        labels=run_labels,
        start_mm=run_t0 * length,
        length_mm=run_length,
        outside_mm=(t_enter + 1.0 - t_exit) * length,
        length_by_label_mm=totals,
    )


def line_of_sight_lengths(
    starts_mm: np.ndarray,
    ends_mm: np.ndarray,
    labels: np.ndarray,
    origin_mm: np.ndarray,
    spacing_mm: np.ndarray,
    direction: np.ndarray,
    n_labels: int | None = None,
) -> LabelLengths:
    """Length of each of many needle segments inside each label value, in parallel.

    Parameters
    ----------
    starts_mm, ends_mm : array_like, shape (K, 3)
        Needle end points in the physical frame, in mm.
    labels : numpy.ndarray of int, shape (I, J, K)
        Label volume indexed ``[i, j, k]``, values >= 0.
    origin_mm, spacing_mm, direction : array_like
        Volume frame, as in `trace_line_of_sight`.
    n_labels : int, optional
        Number of label columns; default ``labels.max() + 1``.

    Returns
    -------
    LabelLengths
        ``length_mm`` of shape (K, n_labels) and ``outside_mm`` of shape (K,).

    Raises
    ------
    ValueError
        On malformed input as in `trace_line_of_sight`, if the start and end
        arrays differ in shape, or if a crossed voxel holds a label outside
        ``[0, n_labels)``.

    Examples
    --------
    >>> import numpy as np
    >>> labels = np.zeros((5, 1, 1), dtype=np.uint8)
    >>> labels[1:3] = 2
    >>> result = line_of_sight_lengths([[-1.0, 0, 0], [0, 0, 0]], [[4.0, 0, 0], [0, 0, 3]],
    ...                                labels, np.zeros(3), np.ones(3), np.eye(3))
    >>> result.length_mm.round(9).tolist(), result.outside_mm.round(9).tolist()
    ([[2.5, 0.0, 2.0], [0.5, 0.0, 0.0]], [0.5, 2.5])
    """
    starts_mm = as_points_mm(starts_mm, "starts_mm")
    ends_mm = as_points_mm(ends_mm, "ends_mm")
    if starts_mm.shape != ends_mm.shape:
        raise ValueError(
            f"starts_mm and ends_mm must have the same shape, got {starts_mm.shape} "
            f"and {ends_mm.shape}"
        )
    labels = _as_labels(labels)
    to_index, origin_mm = _index_map(origin_mm, spacing_mm, direction)
    if n_labels is None:
        if labels.size and labels.min() < 0:
            raise ValueError("labels holds negative values; label values must be >= 0")
        n_labels = int(labels.max()) + 1 if labels.size else 1
    if int(n_labels) < 1:
        raise ValueError(f"n_labels must be at least 1, got {n_labels}")
    lengths_many = _lengths_many_parallel if use_threads(starts_mm.shape[0]) else _lengths_many
    lengths, outside, bad = lengths_many(
        starts_mm, ends_mm, labels, to_index, origin_mm, int(n_labels)
    )
    n_bad = int(bad.sum())
    if n_bad:
        raise ValueError(
            f"labels: {n_bad} needles cross voxels whose label is outside [0, {int(n_labels)})"
        )
    return LabelLengths(lengths, outside)


def _as_labels(labels: np.ndarray) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 3:
        raise ValueError(f"labels must be a 3D array, got {labels.ndim}D")
    if labels.dtype.kind not in "iub":
        raise ValueError(f"labels must hold integers, got dtype {labels.dtype}")
    if labels.dtype.kind == "b":
        labels = labels.view(np.uint8)
    return labels


def _index_map(origin_mm, spacing_mm, direction) -> tuple[np.ndarray, np.ndarray]:
    """Matrix taking (physical - origin) to continuous index, and the origin, both checked."""
    origin_mm = as_point_mm(origin_mm, "origin_mm")
    spacing_mm = as_point_mm(spacing_mm, "spacing_mm")
    if np.any(spacing_mm <= 0):
        raise ValueError(f"spacing_mm must be positive, got {spacing_mm.tolist()}")
    direction = np.asarray(direction, dtype=np.float64)
    if direction.shape != (3, 3) or not np.all(np.isfinite(direction)):
        raise ValueError("direction must be a finite 3 x 3 matrix")
    if not np.allclose(direction.T @ direction, np.eye(3), atol=1e-6):
        raise ValueError("direction must be orthonormal (columns: physical axes of i, j, k)")
    return np.ascontiguousarray(np.linalg.inv(direction * spacing_mm)), origin_mm


@numba.njit(cache=True, inline="always")
def _walk(starts, ends, needle, labels, to_index, origin, pieces):
    """Walk the voxels that segment ``starts[needle] -> ends[needle]`` crosses.

    Fills the piece buffers (label, t0, t1 in segment fractions; see
    `_piece_buffers`) and returns the number of pieces and the fractions where
    the segment enters and leaves the volume (``t_enter >= t_exit`` if it
    misses the volume). Indexes rows instead of taking row views, and is
    inlined into its callers: arrays handed to a compiled call or sliced into
    views cost atomic reference-count updates, per needle.
    """
    piece_label, piece_t0, piece_t1, u0, du, voxel = pieces
    for k in range(3):
        u0[k] = 0.5
        du[k] = 0.0
        for m in range(3):
            u0[k] += to_index[k, m] * (starts[needle, m] - origin[m])
            du[k] += to_index[k, m] * (ends[needle, m] - starts[needle, m])
    if du[0] == 0.0 and du[1] == 0.0 and du[2] == 0.0:
        return 0, 1.0, 1.0  # a zero-length needle crosses nothing
    # In u = index + 0.5, voxel v covers [v, v + 1) and the volume [0, n).
    t_enter = 0.0
    t_exit = 1.0
    for k in range(3):
        n = labels.shape[k]
        if du[k] == 0.0:
            if u0[k] < 0.0 or u0[k] >= n:
                return 0, 1.0, 1.0
        else:
            t_low = (0.0 - u0[k]) / du[k]
            t_high = (n - u0[k]) / du[k]
            t_enter = max(t_enter, min(t_low, t_high))
            t_exit = min(t_exit, max(t_low, t_high))
    if t_enter >= t_exit:
        return 0, 1.0, 1.0
    for k in range(3):
        u = u0[k] + t_enter * du[k]
        v = np.floor(u) if du[k] >= 0.0 else np.ceil(u) - 1.0
        voxel[k] = min(max(int(v), 0), labels.shape[k] - 1)
    n_pieces = 0
    t = t_enter
    while True:
        t_next = t_exit
        axis = -1
        for k in range(3):
            if du[k] > 0.0:
                t_face = (voxel[k] + 1 - u0[k]) / du[k]
            elif du[k] < 0.0:
                t_face = (voxel[k] - u0[k]) / du[k]
            else:
                continue
            if t_face < t_next:
                t_next = t_face
                axis = k
        if t_next > t:
            piece_label[n_pieces] = labels[voxel[0], voxel[1], voxel[2]]
            piece_t0[n_pieces] = t
            piece_t1[n_pieces] = t_next
            n_pieces += 1
            t = t_next
        if axis < 0:
            break
        voxel[axis] += 1 if du[axis] > 0.0 else -1
        if voxel[axis] < 0 or voxel[axis] >= labels.shape[axis]:
            break
    return n_pieces, t_enter, t_exit


@numba.njit(cache=True)
def _trace(start, end, labels, to_index, origin):
    """Runs of equal labels along segment ``start[0] -> end[0]`` (arrays of shape (1, 3)),
    as (labels, t0, t1, t_enter, t_exit)."""
    pieces = _piece_buffers(labels)
    piece_label, piece_t0, piece_t1 = pieces[0], pieces[1], pieces[2]
    n_pieces, t_enter, t_exit = _walk(start, end, 0, labels, to_index, origin, pieces)
    n_runs = 0
    for p in range(n_pieces):
        if n_runs > 0 and piece_label[p] == piece_label[n_runs - 1]:
            piece_t1[n_runs - 1] = piece_t1[p]
        else:
            piece_label[n_runs] = piece_label[p]
            piece_t0[n_runs] = piece_t0[p]
            piece_t1[n_runs] = piece_t1[p]
            n_runs += 1
    if t_enter >= t_exit:
        t_enter, t_exit = 0.0, 0.0
    return (
        piece_label[:n_runs].copy(),
        piece_t0[:n_runs].copy(),
        piece_t1[:n_runs].copy(),
        t_enter,
        t_exit,
    )


@numba.njit(cache=True)
def _lengths_many(starts, ends, labels, to_index, origin, n_labels):
    """Length of each segment inside each label and outside the volume; bad-label flags."""
    lengths, outside, bad = _lengths_outputs(starts, n_labels)
    pieces = _piece_buffers(labels)
    for needle in range(starts.shape[0]):
        _needle_lengths(
            needle, starts, ends, labels, to_index, origin, pieces, lengths, outside, bad
        )
    return lengths, outside, bad


@numba.njit(cache=True, parallel=True)
def _lengths_many_parallel(starts, ends, labels, to_index, origin, n_labels):
    """`_lengths_many` with runs of `_CHUNK` needles dealt round-robin to numba's
    threads (see `PARALLEL_TASKS`)."""
    lengths, outside, bad = _lengths_outputs(starts, n_labels)
    n_needles = starts.shape[0]
    n_chunks = (n_needles + _CHUNK - 1) // _CHUNK
    n_tasks = min(PARALLEL_TASKS, n_chunks)
    for task in numba.prange(n_tasks):
        pieces = _piece_buffers(labels)
        for chunk in range(task, n_chunks, n_tasks):
            for needle in range(chunk * _CHUNK, min((chunk + 1) * _CHUNK, n_needles)):
                _needle_lengths(
                    needle, starts, ends, labels, to_index, origin, pieces, lengths, outside, bad
                )
    return lengths, outside, bad


@numba.njit(cache=True)
def _lengths_outputs(starts, n_labels):
    n_needles = starts.shape[0]
    return np.zeros((n_needles, n_labels)), np.empty(n_needles), np.zeros(n_needles, np.int64)


@numba.njit(cache=True)
def _piece_buffers(labels):
    """Room for the pieces of one needle (it crosses at most one voxel face per step),
    and for its start, step and voxel in index space."""
    capacity = labels.shape[0] + labels.shape[1] + labels.shape[2] + 1
    return (
        np.empty(capacity, dtype=np.int64),
        np.empty(capacity),
        np.empty(capacity),
        np.empty(3),
        np.empty(3),
        np.empty(3, dtype=np.int64),
    )


@numba.njit(cache=True, inline="always")
def _needle_lengths(needle, starts, ends, labels, to_index, origin, pieces, lengths, outside, bad):
    """Fill row `needle` of `lengths`, `outside` and `bad` (1 if a label is out of range)."""
    n_labels = lengths.shape[1]
    piece_label, piece_t0, piece_t1 = pieces[0], pieces[1], pieces[2]
    n_pieces, t_enter, t_exit = _walk(starts, ends, needle, labels, to_index, origin, pieces)
    length = 0.0
    for k in range(3):
        length += (ends[needle, k] - starts[needle, k]) ** 2
    length = np.sqrt(length)
    for p in range(n_pieces):
        label = piece_label[p]
        if 0 <= label < n_labels:
            lengths[needle, label] += (piece_t1[p] - piece_t0[p]) * length
        else:
            bad[needle] = 1
    inside = t_exit - t_enter if t_exit > t_enter else 0.0
    outside[needle] = (1.0 - inside) * length
