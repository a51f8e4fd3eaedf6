"""The arterial grid as the working frame: the venous phase on it, the axis along the leg.

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
