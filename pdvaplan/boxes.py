"""The index box around a mask's voxels: how every stage crops a leg's volume to the
part that holds what it works on."""

from __future__ import annotations

import numpy as np


def bounding_box(
    mask: np.ndarray, margin: np.ndarray | int = 0, values: tuple[int, ...] | None = None
) -> tuple[slice, slice, slice] | None:
    """Slices of the smallest box holding `mask`'s nonzero voxels, grown by `margin`
    voxels (per axis, or all alike) within the array; None if there are none.

    With `values`, the voxels holding one of them count instead of the nonzero ones.
    The mask is read one slice across axis 0 at a time, so no temporary larger than a
    slice is made (label maps of a whole leg are large).

    Examples
    --------
    >>> mask = np.zeros((10, 10, 10), np.uint8)
    >>> mask[4:6, 5, 2] = 1
    >>> mask[8, 8, 8] = 2
    >>> bounding_box(mask, np.array([1, 1, 3]), values=(1,))
    (slice(3, 7, None), slice(4, 7, None), slice(0, 6, None))
    >>> bounding_box(mask)
    (slice(4, 9, None), slice(5, 9, None), slice(2, 9, None))
    >>> bounding_box(mask, values=(3,)) is None
    True
    """
    margin = np.broadcast_to(np.asarray(margin, dtype=int), 3)
    rows = np.zeros(mask.shape[0], bool)
    projection = np.zeros(mask.shape[1:], bool)
    for n in range(mask.shape[0]):
        plane = mask[n] != 0 if values is None else np.isin(mask[n], values)
        if plane.any():
            rows[n] = True
            projection |= plane
    hits = [np.flatnonzero(rows), *(np.flatnonzero(projection.any(axis=a)) for a in (1, 0))]
    if any(hit.size == 0 for hit in hits):
        return None
    return tuple(
        slice(max(int(hit[0]) - int(pad), 0), min(int(hit[-1]) + int(pad) + 1, size))
        for hit, pad, size in zip(hits, margin, mask.shape, strict=True)
    )
