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


def lumen_section_moments(samples: np.ndarray, grow: int) -> tuple[np.ndarray, ...]:
    """Area and centroid of the lumen region through the centre of each section.

    In each m x m section of lumen fraction (NaN outside the volume), the
    region is the 4-connected set of pixels at or above one half that holds
    the centre pixel (or, failing that, the first such pixel of the 3 x 3
    block around it), widened by `grow` pixels (a square) to take in the
    partial-volume skirt. Its pixels weigh their lumen fraction, clipped to
    [0, 1].

    Parameters
    ----------
    samples : numpy.ndarray, shape (n, m, m)
        Lumen fractions, e.g. from `sample_planes`.
    grow : int
        Pixels the region is widened by.

    Returns
    -------
    total : numpy.ndarray, shape (n,)
        Sum of the weights (the area in pixels).
    row, column : numpy.ndarray, shape (n,)
        Weighted mean pixel position (NaN where `total` is 0).
    found, touches_edge, cut : numpy.ndarray of bool, shape (n,)
        A region was found; it reaches the section's edge; its widened form
        reaches pixels outside the volume.

    Examples
    --------
    >>> section = np.zeros((1, 7, 7), np.float32)
    >>> section[0, 2:5, 3:6] = 1.0
    >>> total, row, column, found, edge, cut = lumen_section_moments(section, 1)
    >>> total.tolist(), row.tolist(), column.tolist(), found.tolist(), edge.tolist()
    ([9.0], [3.0], [4.0], [True], [False])
    """
    samples = np.ascontiguousarray(samples, dtype=np.float32)
    if samples.ndim != 3 or samples.shape[1] != samples.shape[2] or samples.shape[1] < 3:
        raise ValueError(f"samples must be (n, m, m) with m >= 3, got {samples.shape}")
    n = samples.shape[0]
    total, row, column = np.zeros(n), np.full(n, np.nan), np.full(n, np.nan)
    flags = np.zeros((n, 3), dtype=np.bool_)
    _moments(samples, int(grow), total, row, column, flags)
    return total, row, column, flags[:, 0], flags[:, 1], flags[:, 2]


@numba.njit(parallel=True, cache=True)
def _moments(samples, grow, total, row, column, flags):
    n, m, _ = samples.shape
    c = m // 2
    for p in numba.prange(n):
        s = samples[p]
        region = np.zeros((m, m), dtype=np.uint8)
        seed_i, seed_j = -1, -1
        for di, dj in (
            (0, 0),
            (0, -1),
            (0, 1),
            (-1, 0),
            (1, 0),
            (-1, -1),
            (-1, 1),
            (1, -1),
            (1, 1),
        ):
            if s[c + di, c + dj] >= 0.5:
                seed_i, seed_j = c + di, c + dj
                break
        if seed_i < 0:
            continue
        flags[p, 0] = True
        stack = np.empty((m * m, 2), dtype=np.int64)
        stack[0, 0], stack[0, 1] = seed_i, seed_j
        region[seed_i, seed_j] = 1
        top = 1
        while top > 0:
            top -= 1
            i, j = stack[top, 0], stack[top, 1]
            if i == 0 or j == 0 or i == m - 1 or j == m - 1:
                flags[p, 1] = True
            for ni, nj in ((i - 1, j), (i + 1, j), (i, j - 1), (i, j + 1)):
                if 0 <= ni < m and 0 <= nj < m and region[ni, nj] == 0 and s[ni, nj] >= 0.5:
                    region[ni, nj] = 1
                    stack[top, 0], stack[top, 1] = ni, nj
                    top += 1
        # Widen by a square of side 2 * grow + 1: a row pass, then a column pass,
        # each two linear sweeps for the distance to the nearest marked pixel.
        rows = _widen_rows(region, grow)
        widened = _widen_rows(rows.T.copy(), grow).T
        weight_sum, i_sum, j_sum = 0.0, 0.0, 0.0
        for i in range(m):
            for j in range(m):
                if not widened[i, j]:
                    continue
                value = s[i, j]
                if np.isnan(value):
                    flags[p, 2] = True
                    continue
                weight = min(max(value, 0.0), 1.0)
                weight_sum += weight
                i_sum += weight * i
                j_sum += weight * j
        total[p] = weight_sum
        if weight_sum > 0:
            row[p] = i_sum / weight_sum
            column[p] = j_sum / weight_sum


@numba.njit(cache=True)
def _widen_rows(marked, grow):
    """Pixels within `grow` pixels, along their row, of a marked pixel."""
    m, n = marked.shape
    out = np.zeros((m, n), dtype=np.uint8)
    for i in range(m):
        last = -(grow + 1)
        for j in range(n):
            if marked[i, j]:
                last = j
            if j - last <= grow:
                out[i, j] = 1
        last = n + grow + 1
        for j in range(n - 1, -1, -1):
            if marked[i, j]:
                last = j
            if last - j <= grow:
                out[i, j] = 1
    return out
