"""Trilinear samples of a volume on square grids in planes (cross-sections of a vessel)."""

from __future__ import annotations

import numba
import numpy as np


def sample_planes(
    volume: np.ndarray,
    centres_index: np.ndarray,
    u_index: np.ndarray,
    v_index: np.ndarray,
    offsets: np.ndarray,
) -> np.ndarray:
    """Sample `volume` on an m x m grid in the plane through each centre.

    Everything is in index coordinates of `volume`: grid point (a, b) of
    plane p lies at ``centres_index[p] + offsets[a] * u_index[p] + offsets[b]
    * v_index[p]``. Values are trilinear interpolations; points outside the
    voxel centres' box ``[0, n - 1]`` along any axis are NaN (as
    ``scipy.ndimage.map_coordinates(order=1, mode="constant", cval=nan)``).

    Parameters
    ----------
    volume : numpy.ndarray, 3D
        Values indexed [i, j, k]; any real dtype (sampled as float32).
    centres_index : numpy.ndarray, shape (n, 3)
        Plane centres.
    u_index, v_index : numpy.ndarray, shape (n, 3)
        Index-space images of the planes' two in-plane unit steps (one unit
        of `offsets`).
    offsets : numpy.ndarray, shape (m,)
        Grid positions along u and along v.

    Returns
    -------
    numpy.ndarray of float32, shape (n, m, m)

    Examples
    --------
    >>> volume = np.arange(27, dtype=np.float32).reshape(3, 3, 3)
    >>> out = sample_planes(volume, np.array([[1.0, 1.0, 1.0]]), np.array([[1.0, 0, 0]]),
    ...                     np.array([[0.0, 1, 0]]), np.array([-0.5, 0.0, 0.5, 2.0]))
    >>> out[0, 1:3, 1].tolist(), bool(np.isnan(out[0, 3, 1]))
    ([13.0, 17.5], True)
    """
    volume = np.asarray(volume, dtype=np.float32)  # views of any layout are fine
    arrays = [
        np.ascontiguousarray(a, dtype=np.float64)
        for a in (centres_index, u_index, v_index, offsets)
    ]
    if volume.ndim != 3:
        raise ValueError(f"volume must be 3D, got {volume.ndim}D")
    n = arrays[0].shape[0]
    if any(a.shape != (n, 3) for a in arrays[:3]) or arrays[3].ndim != 1:
        raise ValueError("centres_index, u_index, v_index must be (n, 3) and offsets (m,)")
    out = np.empty((n, arrays[3].size, arrays[3].size), dtype=np.float32)
    _sample(volume, *arrays, out)
    return out


@numba.njit(parallel=True, cache=True)
def _sample(volume, centres, u, v, offsets, out):
    ni, nj, nk = volume.shape
    m = offsets.size
    for p in numba.prange(centres.shape[0]):
        for a in range(m):
            for b in range(m):
                x = centres[p, 0] + offsets[a] * u[p, 0] + offsets[b] * v[p, 0]
                y = centres[p, 1] + offsets[a] * u[p, 1] + offsets[b] * v[p, 1]
                z = centres[p, 2] + offsets[a] * u[p, 2] + offsets[b] * v[p, 2]
                if not (0.0 <= x <= ni - 1 and 0.0 <= y <= nj - 1 and 0.0 <= z <= nk - 1):
                    out[p, a, b] = np.nan
                    continue
                i0 = min(int(x), ni - 2) if ni > 1 else 0
                j0 = min(int(y), nj - 2) if nj > 1 else 0
                k0 = min(int(z), nk - 2) if nk > 1 else 0
                fx, fy, fz = x - i0, y - j0, z - k0
                i1, j1, k1 = min(i0 + 1, ni - 1), min(j0 + 1, nj - 1), min(k0 + 1, nk - 1)
                c00 = volume[i0, j0, k0] * (1 - fx) + volume[i1, j0, k0] * fx
                c10 = volume[i0, j1, k0] * (1 - fx) + volume[i1, j1, k0] * fx
                c01 = volume[i0, j0, k1] * (1 - fx) + volume[i1, j0, k1] * fx
                c11 = volume[i0, j1, k1] * (1 - fx) + volume[i1, j1, k1] * fx
                c0 = c00 * (1 - fy) + c10 * fy
                c1 = c01 * (1 - fy) + c11 * fy
                out[p, a, b] = c0 * (1 - fz) + c1 * fz
