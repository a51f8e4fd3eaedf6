"""The arterial grid as the working frame: the venous phase on it, the axis along the leg, a crop.

Frame conversions themselves live in `pdvaplan.io`; this module only decides
which of its tools to apply.
"""

from __future__ import annotations

import numpy as np

from pdvaplan.errors import PdvaplanInputError
from pdvaplan.io import RigidTransform, Volume, resample_to


def same_grid(a: Volume, b: Volume, tolerance_mm: float = 1e-3) -> bool:
    """Whether two volumes have the same voxel grid (shape, spacing, origin, direction)."""
    return (
        a.shape == b.shape
        and np.allclose(a.spacing_mm, b.spacing_mm, atol=tolerance_mm)
        and np.allclose(a.origin_mm, b.origin_mm, atol=tolerance_mm)
        and np.allclose(a.direction, b.direction, atol=1e-6)
    )


def venous_on_grid(
    venous: Volume, arterial: Volume, transform: RigidTransform | None = None
) -> tuple[Volume, np.ndarray | None]:
    """The venous phase on the arterial grid by physical position, and where it is defined.

    Parameters
    ----------
    venous, arterial : Volume
        The two phases.
    transform : RigidTransform, optional
        Where the venous phase images each position of the arterial frame
        (a registration's result). Default: the same position.

    Returns
    -------
    Volume
        The venous values on the arterial grid (linear interpolation, the
        venous dtype; 0 outside the venous volume).
    numpy.ndarray or None
        Boolean mask of the arterial voxels that lie inside the venous volume;
        None when the grids are the same (every voxel is covered).

    Raises
    ------
    PdvaplanInputError
        If no arterial voxel lies inside the venous volume.
    """
    moved = transform is not None and not transform.is_identity
    if same_grid(venous, arterial) and not moved:
        return venous, None
    covered = resample_to(
        venous.with_array(np.ones(venous.shape, np.uint8)), arterial, "nearest", 0, transform
    ).array.astype(bool)
    if not covered.any():
        raise PdvaplanInputError(
            f"{venous.source}: venous phase does not overlap the arterial phase "
            f"{arterial.source} in physical space"
        )
    return resample_to(venous, arterial, "linear", 0.0, transform), covered


def axis_nearest_z(volume: Volume) -> int:
    """The index axis (0, 1 or 2) whose physical direction is closest to +-z (along the leg)."""
    return int(np.argmax(np.abs(volume.direction[2, :])))


def slice_heights_mm(volume: Volume, axis: int, offset: int = 0, count: int | None = None):
    """Physical z (mm) of the centre of each slice across `axis`, from slice `offset` on."""
    count = volume.shape[axis] - offset if count is None else count
    index = np.zeros((count, 3))
    index[:, axis] = np.arange(offset, offset + count)
    others = [a for a in range(3) if a != axis]
    index[:, others] = (np.asarray(volume.shape, float)[others] - 1) / 2
    return volume.index_to_physical(index)[:, 2]


def bounding_box(
    mask: np.ndarray, margin: np.ndarray | int = 0
) -> tuple[slice, slice, slice] | None:
    """Slices of the smallest box holding `mask`, grown by `margin` voxels (per axis, or
    all alike) within the array; None if empty.

    Examples
    --------
    >>> mask = np.zeros((10, 10, 10), bool)
    >>> mask[4:6, 5, 2] = True
    >>> bounding_box(mask, np.array([1, 1, 3]))
    (slice(3, 7, None), slice(4, 7, None), slice(0, 6, None))
    >>> bounding_box(mask)
    (slice(4, 6, None), slice(5, 6, None), slice(2, 3, None))
    """
    margin = np.broadcast_to(margin, 3)
    box = []
    for axis in range(3):
        others = tuple(a for a in range(3) if a != axis)
        hit = np.flatnonzero(mask.any(axis=others))
        if hit.size == 0:
            return None
        low = max(int(hit[0]) - int(margin[axis]), 0)
        high = min(int(hit[-1]) + int(margin[axis]) + 1, mask.shape[axis])
        box.append(slice(low, high))
    return tuple(box)
