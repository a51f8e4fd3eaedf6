"""The lumen's region in planes through a volume: area and centroid per plane.

Each plane is a square grid of trilinear samples of a lumen-fraction volume.
Only the pixels the region and its widened rim reach are sampled (a flood fill
that samples as it goes), not the whole window around them; against scipy
doing the same over whole planes, see ``benchmarks/section_kernel.py``.
"""

from __future__ import annotations

import numba
import numpy as np


def lumen_section_moments(
    volume: np.ndarray,
    centres_index: np.ndarray,
    u_index: np.ndarray,
    v_index: np.ndarray,
    offsets: np.ndarray,
    grow: int,
    floor: float = 0.0,
) -> tuple[np.ndarray, ...]:
    """Area and centroid of the lumen region through the centre of each plane.

    Everything is in index coordinates of `volume`: pixel (a, b) of plane p
    lies at ``centres_index[p] + offsets[a] * u_index[p] + offsets[b] *
    v_index[p]`` and holds the trilinear interpolation of `volume` there
    (undefined, like NaN, outside the voxel centres' box ``[0, n - 1]`` along
    any axis). With m = ``offsets.size`` and the centre pixel at (m // 2,
    m // 2), the region is the 4-connected set of pixels at or above one half
    that holds the centre pixel (or, failing that, the first such pixel of the
    3 x 3 block around it), widened by `grow` pixels (a square) to take in the
    partial-volume skirt. Its pixels' values clipped to [0, 1] sum to the area;
    the centroid weighs each pixel by how far that value exceeds `floor`.

    Parameters
    ----------
    volume : numpy.ndarray, 3D
        Lumen fraction indexed [i, j, k]; any real dtype (sampled as float32).
    centres_index : numpy.ndarray, shape (n, 3)
        Plane centres.
    u_index, v_index : numpy.ndarray, shape (n, 3)
        Index-space images of the planes' two in-plane unit steps (one unit
        of `offsets`).
    offsets : numpy.ndarray, shape (m,)
        Grid positions along u and along v, m >= 3.
    grow : int
        Pixels the region is widened by.
    floor : float
        Values at or below it do not pull the centroid (0: the centroid of the
        area's weights), in [0, 1).

    Returns
    -------
    total : numpy.ndarray, shape (n,)
        Sum of the clipped values (the area in pixels).
    row, column : numpy.ndarray, shape (n,)
        Mean pixel position weighted by the clipped values above `floor` (NaN where
        none is above it).
    found, touches_edge, cut : numpy.ndarray of bool, shape (n,)
        A region was found; it reaches the grid's edge; its widened form
        reaches pixels outside the volume.

    Examples
    --------
    A lumen of value 1 at i in [2, 4], j in [3, 5], sampled in the plane k = 2 on the
    volume's own pixels (pixel (a, b) is voxel (a, b, 2)):

    >>> volume = np.zeros((7, 7, 5), np.float32)
    >>> volume[2:5, 3:6] = 1.0
    >>> total, row, column, found, edge, cut = lumen_section_moments(
    ...     volume, np.array([[3.0, 3.0, 2.0]]), np.array([[1.0, 0, 0]]),
    ...     np.array([[0.0, 1, 0]]), np.arange(-3.0, 4.0), 1)
    >>> total.tolist(), row.tolist(), column.tolist(), found.tolist(), edge.tolist()
    ([9.0], [3.0], [4.0], [True], [False])
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
    if arrays[3].size < 3:
        raise ValueError(f"offsets must have at least 3 values, got {arrays[3].size}")
    if not 0.0 <= floor < 1.0:
        raise ValueError(f"floor must lie in [0, 1), got {floor}")
    total, row, column = np.zeros(n), np.full(n, np.nan), np.full(n, np.nan)
    flags = np.zeros((n, 3), dtype=np.bool_)
    _moments(volume, *arrays, int(grow), float(floor), total, row, column, flags)
    return total, row, column, flags[:, 0], flags[:, 1], flags[:, 2]


@numba.njit(cache=True, inline="always")
def _sample(volume, centre, u, v, a, b):
    """Trilinear value at offsets (a, b) of a plane; NaN outside the voxel centres' box."""
    ni, nj, nk = volume.shape
    x = centre[0] + a * u[0] + b * v[0]
    y = centre[1] + a * u[1] + b * v[1]
    z = centre[2] + a * u[2] + b * v[2]
    if not (0.0 <= x <= ni - 1 and 0.0 <= y <= nj - 1 and 0.0 <= z <= nk - 1):
        return np.float32(np.nan)
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
    return np.float32(c0 * (1 - fz) + c1 * fz)


@numba.njit(cache=True, inline="always")
def _value(volume, centre, u, v, offsets, values, sampled, i, j):
    """Pixel (i, j) of one plane, sampled on first use."""
    if not sampled[i, j]:
        values[i, j] = _sample(volume, centre, u, v, offsets[i], offsets[j])
        sampled[i, j] = 1
    return values[i, j]


@numba.njit(parallel=True, cache=True)
def _moments(volume, centres, u, v, offsets, grow, floor, total, row, column, flags):
    n = centres.shape[0]
    m = offsets.size
    c = m // 2
    for p in numba.prange(n):
        centre, up, vp = centres[p], u[p], v[p]
        values = np.empty((m, m), dtype=np.float32)
        sampled = np.zeros((m, m), dtype=np.uint8)
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
            if _value(volume, centre, up, vp, offsets, values, sampled, c + di, c + dj) >= 0.5:
                seed_i, seed_j = c + di, c + dj
                break
        if seed_i < 0:
            continue
        flags[p, 0] = True
        stack = np.empty((m * m, 2), dtype=np.int64)
        stack[0, 0], stack[0, 1] = seed_i, seed_j
        region[seed_i, seed_j] = 1
        top = 1
        low_i, high_i, low_j, high_j = seed_i, seed_i, seed_j, seed_j
        while top > 0:
            top -= 1
            i, j = stack[top, 0], stack[top, 1]
            low_i, high_i = min(low_i, i), max(high_i, i)
            low_j, high_j = min(low_j, j), max(high_j, j)
            if i == 0 or j == 0 or i == m - 1 or j == m - 1:
                flags[p, 1] = True
            for ni, nj in ((i - 1, j), (i + 1, j), (i, j - 1), (i, j + 1)):
                if (
                    0 <= ni < m
                    and 0 <= nj < m
                    and region[ni, nj] == 0
                    and _value(volume, centre, up, vp, offsets, values, sampled, ni, nj) >= 0.5
                ):
                    region[ni, nj] = 1
                    stack[top, 0], stack[top, 1] = ni, nj
                    top += 1
        # Widen by a square of side 2 * grow + 1, only within the region's box
        # widened by `grow`: along rows, then along columns.
        i0, i1 = max(low_i - grow, 0), min(high_i + grow, m - 1)
        j0, j1 = max(low_j - grow, 0), min(high_j + grow, m - 1)
        rows = np.zeros((m, m), dtype=np.uint8)
        for i in range(low_i, high_i + 1):
            _widen_line(region[i], rows[i], j0, j1, grow)
        widened = np.zeros((m, m), dtype=np.uint8)
        for j in range(j0, j1 + 1):
            _widen_line(rows[:, j], widened[:, j], i0, i1, grow)
        weight_sum, i_sum, j_sum, centring_sum = 0.0, 0.0, 0.0, 0.0
        for i in range(i0, i1 + 1):
            for j in range(j0, j1 + 1):
                if not widened[i, j]:
                    continue
                value = _value(volume, centre, up, vp, offsets, values, sampled, i, j)
                if np.isnan(value):
                    flags[p, 2] = True
                    continue
                weight = min(max(value, 0.0), 1.0)
                weight_sum += weight
                centring = weight - floor
                if centring > 0:
                    centring_sum += centring
                    i_sum += centring * i
                    j_sum += centring * j
        total[p] = weight_sum
        if centring_sum > 0:
            row[p] = i_sum / centring_sum
            column[p] = j_sum / centring_sum


@numba.njit(cache=True, inline="always")
def _widen_line(marked, out, start, stop, grow):
    """Mark `out` within `grow` of a marked entry, over entries `start` to `stop` inclusive."""
    last = start - grow - 1
    for k in range(start, stop + 1):
        if marked[k]:
            last = k
        if k - last <= grow:
            out[k] = 1
    last = stop + grow + 1
    for k in range(stop, start - 1, -1):
        if marked[k]:
            last = k
        if last - k <= grow:
            out[k] = 1
