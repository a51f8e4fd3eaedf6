"""Array filters in millimetres: smoothing, distances, components, slice-wise hole filling.

Plain functions over NumPy arrays indexed ``[i, j, k]`` with a voxel spacing
per axis, so every size a caller gives is physical (mm, mm³) and the result
does not depend on the grid. Segmentation, centrelines, planning and the
meshes all smooth, measure distances and label components through this one
module.

Volumes run to 512 x 512 x 1500 voxels while the masks worked on (lumen,
calcium, bone) cover a few per cent of them, so the costly steps work on the
mask's voxels only: components are found by union-find over the sorted flat
indices of the mask (`Components`, never a full-volume label array unless
asked for), and distances inside a mask are computed in its bounding box,
distances to it in the padded box of each of its components. Smoothing is
separable and split across threads (SciPy releases the GIL).
"""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise

import edt
import numba
import numpy as np
from scipy import ndimage

from pdvaplan.boxes import bounding_box
from pdvaplan.threads import threads

#: Below this many voxels an array is smoothed in one thread.
_SERIAL_VOXELS = 2_000_000


def _chunks(length: int, parts: int) -> list[tuple[int, int]]:
    bounds = np.linspace(0, length, parts + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in pairwise(bounds) if b > a]


def smooth_mm(
    array: np.ndarray, spacing_mm: np.ndarray, sigma_mm, truncate: float = 3.0
) -> np.ndarray:
    """Gaussian smoothing with a standard deviation given in mm, as float32.

    Separable: the passes along axes 2 and 1 run on slabs across axis 0, the
    pass along axis 0 on slabs across axis 1, each slab in its own thread and
    written in place, so no temporary larger than the output is made.

    Parameters
    ----------
    array : numpy.ndarray
        3D image.
    spacing_mm : array_like, shape (3,)
        Voxel size along each axis.
    sigma_mm : float or array_like, shape (3,)
        Standard deviation of the Gaussian in mm, one for every axis or one
        per axis; 0 leaves an axis alone (0 for every axis only converts to
        float32).
    truncate : float
        The kernel reaches this many standard deviations.

    Returns
    -------
    numpy.ndarray
        The smoothed image (float32, same shape).

    Examples
    --------
    >>> impulse = np.zeros((9, 9, 5), np.int16)
    >>> impulse[4, 4, 2] = 1000
    >>> out = smooth_mm(impulse, np.array([0.5, 0.5, 1.0]), 0.5)
    >>> out.dtype.name, bool(out[3, 4, 2] > out[4, 4, 1])
    ('float32', True)
    >>> ref = ndimage.gaussian_filter(impulse, (1.0, 1.0, 0.5), output=np.float32, truncate=3.0)
    >>> bool(np.allclose(out, ref, atol=1e-3))
    True
    >>> across = smooth_mm(impulse, np.array([0.5, 0.5, 1.0]), [0.5, 0.5, 0.0])
    >>> bool(np.isfinite(across).all()), bool(across[4, 4, 1] == 0)
    (True, True)
    """
    sigma_mm = np.broadcast_to(np.asarray(sigma_mm, dtype=np.float64), (3,))
    if np.all(sigma_mm <= 0):
        return array.astype(np.float32)
    sigma = sigma_mm / np.asarray(spacing_mm, dtype=np.float64)
    out = np.empty(array.shape, np.float32)
    workers = threads()
    parts = 1 if array.size < _SERIAL_VOXELS or workers == 1 else 4 * workers

    def along(source, axis, output):
        if sigma[axis] > 0:
            ndimage.gaussian_filter1d(source, sigma[axis], axis, output=output, truncate=truncate)
        elif source is not output:
            output[...] = source

    def inner(bounds):
        lo, hi = bounds
        along(array[lo:hi], 2, out[lo:hi])
        along(out[lo:hi], 1, out[lo:hi])

    def outer(bounds):
        lo, hi = bounds
        view = out[:, lo:hi]
        along(view, 0, view)

    if parts == 1:
        inner((0, array.shape[0]))
        outer((0, array.shape[1]))
        return out
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(inner, _chunks(array.shape[0], parts)))
        list(pool.map(outer, _chunks(array.shape[1], parts)))
    return out


def distance_mm(mask: np.ndarray, spacing_mm: np.ndarray) -> np.ndarray:
    """Distance (mm, float32) from every voxel outside `mask` to the nearest voxel in it.

    Voxels in `mask` get 0. An empty mask gives infinity everywhere.

    Examples
    --------
    >>> mask = np.zeros((5, 1, 1), bool)
    >>> mask[0] = True
    >>> distance_mm(mask, np.array([0.5, 1.0, 1.0])).ravel().tolist()
    [0.0, 0.5, 1.0, 1.5, 2.0]
    """
    if not mask.any():
        return np.full(mask.shape, np.inf, np.float32)
    return inside_distance_mm(~mask, spacing_mm)


def inside_distance_mm(mask: np.ndarray, spacing_mm: np.ndarray) -> np.ndarray:
    """Distance (mm, float32) from every voxel of `mask` to the nearest voxel outside it
    (0 outside the mask).

    The array's border is not a boundary (a mask reaching it continues). The
    transform runs in the mask's bounding box and a voxel around it, which holds
    every mask voxel's nearest outside voxel, so a small mask in a large volume
    costs what its box costs.

    Examples
    --------
    >>> mask = np.ones((5, 1, 1), bool)
    >>> mask[0] = False
    >>> inside_distance_mm(mask, np.array([0.5, 1.0, 1.0])).ravel().tolist()
    [0.0, 0.5, 1.0, 1.5, 2.0]
    """
    distance = np.zeros(mask.shape, np.float32)
    box = bounding_box(mask, 1)
    if box is None:
        return distance
    inside = np.ascontiguousarray(mask[box])
    workers = threads() if inside.size >= _SERIAL_VOXELS else 1
    distance[box] = edt.edt(
        inside,
        anisotropy=tuple(float(s) for s in spacing_mm),
        black_border=False,
        parallel=workers,
    )
    return distance


# --- Components of sparse masks -------------------------------------------------------


@numba.njit(cache=True, nogil=True)
def _root(parent, i):
    root = i
    while parent[root] != root:
        root = parent[root]
    while parent[i] != root:
        following = parent[i]
        parent[i] = root
        i = following
    return root


@numba.njit(cache=True, nogil=True)
def _union(parent, a, b):
    ra = _root(parent, a)
    rb = _root(parent, b)
    if ra < rb:
        parent[rb] = ra
    elif rb < ra:
        parent[ra] = rb


def _backward_steps(connectivity: int) -> np.ndarray:
    """The neighbour steps (di, dj, dk) that come earlier in C order, for a connectivity
    as scikit-image counts it (1: faces; 2: and edges; 3: and corners)."""
    steps = [
        step
        for step in itertools.product((-1, 0, 1), repeat=3)
        if step < (0, 0, 0) and sum(map(abs, step)) <= connectivity
    ]
    return np.array(steps, np.int64)


@numba.njit(cache=True, nogil=True)
def _label_sorted(flat, nj, nk, steps):
    """Component id (0..count-1, in order of each component's first voxel) of each voxel
    of sorted flat indices, joining each voxel to its neighbours one of `steps` back.

    The flat index of a step's neighbour grows with the voxel's, so one pointer per step
    walks forward through `flat` and finds it (or finds it absent) in amortised O(1).
    """
    m = flat.size
    parent = np.arange(m).astype(np.int64)
    plane = nj * nk
    pointer = np.zeros(steps.shape[0], np.int64)
    for n in range(m):
        p = flat[n]
        i, j, k = p // plane, (p // nk) % nj, p % nk
        for t in range(steps.shape[0]):
            di, dj, dk = steps[t, 0], steps[t, 1], steps[t, 2]
            if i + di < 0 or j + dj < 0 or j + dj >= nj or k + dk < 0 or k + dk >= nk:
                continue
            q = p + di * plane + dj * nk + dk
            at = pointer[t]
            while flat[at] < q:
                at += 1
            pointer[t] = at
            if flat[at] == q:
                _union(parent, n, at)
    ids = np.empty(m, np.int32)
    count = 0
    for n in range(m):
        r = _root(parent, n)
        if r == n:
            ids[n] = count
            count += 1
        else:
            ids[n] = ids[r]
    return ids, count


@numba.njit(cache=True, nogil=True)
def _boxes(flat, ids, count, nj, nk):
    low = np.full((count, 3), np.iinfo(np.int64).max, np.int64)
    high = np.full((count, 3), -1, np.int64)
    for n in range(flat.size):
        p = flat[n]
        c = ids[n]
        index = (p // (nj * nk), (p // nk) % nj, p % nk)
        for a in range(3):
            if index[a] < low[c, a]:
                low[c, a] = index[a]
            if index[a] > high[c, a]:
                high[c, a] = index[a]
    return low, high + 1


@numba.njit(cache=True, nogil=True)
def _group(ids, count):
    starts = np.zeros(count + 1, np.int64)
    for n in range(ids.size):
        starts[ids[n] + 1] += 1
    for c in range(count):
        starts[c + 1] += starts[c]
    fill = starts[:-1].copy()
    order = np.empty(ids.size, np.int64)
    for n in range(ids.size):
        order[fill[ids[n]]] = n
        fill[ids[n]] += 1
    return order, starts


class Components:
    """The connected components of a 2D or 3D boolean mask, held on the mask's voxels only.

    The components, and their order (that of each one's first voxel in C order), are
    those of `scipy.ndimage.label` with the same connectivity, but a sparse mask is
    labelled several times faster and no label array the size of the volume is made
    unless `labels` asks for one (``benchmarks/filters.py``).

    Parameters
    ----------
    mask : numpy.ndarray
        2D or 3D; nonzero voxels are the mask.
    connectivity : int
        Neighbours joined as scikit-image counts them: 1, voxels sharing a face; 2, also
        an edge; 3 (3D), also a corner.

    Attributes
    ----------
    shape : tuple of int
        Shape of the mask.
    flat : numpy.ndarray
        Sorted flat (C-order) indices of the mask's voxels (int64).
    ids : numpy.ndarray
        Component (0 .. count-1) of each of those voxels (int32).
    count : int
        Number of components.

    Examples
    --------
    >>> mask = np.array([1, 1, 0, 1, 0, 1], bool).reshape(6, 1, 1)
    >>> parts = Components(mask)
    >>> parts.count, parts.sizes().tolist()
    (3, [2, 1, 1])
    >>> parts.mask(np.array([True, False, True])).ravel().astype(int).tolist()
    [1, 1, 0, 0, 0, 1]
    >>> diagonal = np.eye(3, dtype=bool)
    >>> Components(diagonal).count, Components(diagonal, connectivity=2).count
    (3, 1)
    """

    def __init__(self, mask: np.ndarray, connectivity: int = 1) -> None:
        if mask.ndim not in (2, 3) or not 1 <= connectivity <= mask.ndim:
            raise ValueError(
                f"Components: a 2D or 3D mask and a connectivity of 1 to its dimension, not "
                f"{mask.ndim}D and {connectivity}"
            )
        self.shape = mask.shape
        self.flat = np.flatnonzero(mask)
        self._grid = (1,) * (3 - mask.ndim) + mask.shape
        if self.flat.size:
            self.ids, self.count = _label_sorted(
                self.flat, self._grid[1], self._grid[2], _backward_steps(connectivity)
            )
        else:
            self.ids, self.count = np.zeros(0, np.int32), 0

    def sizes(self) -> np.ndarray:
        """Voxels per component."""
        return np.bincount(self.ids, minlength=self.count)

    def hit(self, other: np.ndarray) -> np.ndarray:
        """Per component: whether any of its voxels is in `other` (bool array or mask)."""
        inside = other.ravel()[self.flat]
        found = np.zeros(self.count, bool)
        found[self.ids[inside]] = True
        return found

    def boxes(self) -> tuple[np.ndarray, np.ndarray]:
        """Lower (inclusive) and upper (exclusive) index corners per component, (count, ndim)."""
        low, high = _boxes(self.flat, self.ids, self.count, self._grid[1], self._grid[2])
        return low[:, 3 - len(self.shape) :], high[:, 3 - len(self.shape) :]

    def members(self) -> list[np.ndarray]:
        """Flat indices of the voxels of each component."""
        order, starts = _group(self.ids, self.count)
        grouped = self.flat[order]
        return [grouped[a:b] for a, b in pairwise(starts)]

    def in_box(self, flat: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
        """Boolean array over the box ``[low, high)`` that is True at the given flat indices."""
        out = np.zeros(tuple(high - low), bool)
        index = np.unravel_index(flat, self.shape)
        out[tuple(i - a for i, a in zip(index, low, strict=True))] = True
        return out

    def mask(self, keep: np.ndarray) -> np.ndarray:
        """Boolean mask of the components where `keep` is True."""
        out = np.zeros(self.shape, bool)
        out.ravel()[self.flat[keep[self.ids]]] = True
        return out

    def labels(self) -> np.ndarray:
        """The label array `scipy.ndimage.label` gives: 0 outside, 1 .. count (int32)."""
        out = np.zeros(self.shape, np.int32)
        out.ravel()[self.flat] = self.ids + 1
        return out


def within_mm(mask: np.ndarray, spacing_mm: np.ndarray, radius_mm: float) -> np.ndarray:
    """Voxels within `radius_mm` of `mask` (a dilation by a ball in mm), as bool.

    Distances are computed in the bounding box of each component of `mask`
    grown by the radius, which is exact (every voxel near the mask is near one
    of its components and lies in that component's box) and touches only the
    neighbourhood of a sparse mask; a dense one takes one full transform.

    Examples
    --------
    >>> mask = np.zeros((7, 1, 1), bool)
    >>> mask[3] = True
    >>> within_mm(mask, np.array([0.5, 1.0, 1.0]), 1.0).ravel().astype(int).tolist()
    [0, 1, 1, 1, 1, 1, 0]
    >>> many = np.zeros((20, 20, 20), bool)
    >>> many[2, 2, 2] = many[10, 12, 3] = many[18, 5, 17] = True
    >>> bool(np.array_equal(within_mm(many, np.ones(3), 2.5), distance_mm(many, np.ones(3)) <= 2.5))
    True
    """
    if not mask.any():
        return np.zeros(mask.shape, bool)
    parts = Components(mask)
    return _within_boxes(mask, parts, np.ones(parts.count, bool), spacing_mm, radius_mm)


def _within_boxes(mask, parts, selected, spacing_mm, radius_mm):
    shape = np.asarray(mask.shape)
    pad = np.ceil(radius_mm / np.asarray(spacing_mm, float)).astype(int) + 1
    low, high = parts.boxes()
    low = np.maximum(low[selected] - pad, 0)
    high = np.minimum(high[selected] + pad, shape)
    if np.prod(high - low, axis=1).sum() > 0.5 * mask.size or len(low) > 5000:
        return distance_mm(mask, spacing_mm) <= radius_mm
    out = np.zeros(mask.shape, bool)
    for lo, hi in zip(low, high, strict=True):
        box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
        out[box] |= inside_distance_mm(~mask[box], spacing_mm) <= radius_mm
    return out


def remove_small(mask: np.ndarray, spacing_mm: np.ndarray, min_mm3: float) -> np.ndarray:
    """Drop face-connected components of `mask` smaller than `min_mm3`.

    Examples
    --------
    >>> mask = np.zeros((10, 3, 3), bool)
    >>> mask[0:2, 1, 1] = True
    >>> mask[4:10, 1, 1] = True
    >>> remove_small(mask, np.ones(3), 3.0)[:, 1, 1].astype(int).tolist()
    [0, 0, 0, 0, 1, 1, 1, 1, 1, 1]
    """
    parts = Components(mask)
    return parts.mask(parts.sizes() * float(np.prod(spacing_mm)) >= min_mm3)


def components_touching(mask: np.ndarray, other: np.ndarray) -> np.ndarray:
    """The face-connected components of `mask` that overlap `other`.

    Examples
    --------
    >>> mask = np.array([1, 1, 0, 1, 1], bool).reshape(5, 1, 1)
    >>> seed = np.array([0, 0, 0, 0, 1], bool).reshape(5, 1, 1)
    >>> components_touching(mask, seed).ravel().astype(int).tolist()
    [0, 0, 0, 1, 1]
    """
    parts = Components(mask)
    return parts.mask(parts.hit(other))


def fill_holes_in_slices(mask: np.ndarray, axis: int) -> np.ndarray:
    """Fill the holes of `mask` in every 2D slice across `axis`.

    A hole is a region outside `mask`, connected within its slice, that does
    not reach the slice's border; all slices are filled in one labelling pass.
    What is labelled is the dense outside of the mask, with a structure that joins
    voxels within slices only: SciPy's `ndimage.label` does that, where
    `Components` (for sparse masks, joining across slices) would not help.

    Examples
    --------
    >>> ring = np.ones((5, 5, 2), bool)
    >>> ring[2, 2, :] = False
    >>> fill_holes_in_slices(ring, axis=2).all()
    np.True_
    """
    structure = np.zeros((3, 3, 3), bool)
    plane = [slice(None)] * 3
    plane[axis] = 1
    structure[tuple(plane)] = ndimage.generate_binary_structure(2, 1)
    labels, count = ndimage.label(~mask, structure)
    touches_border = np.zeros(count + 1, bool)
    for other in (a for a in range(3) if a != axis):
        for end in (0, -1):
            face = [slice(None)] * 3
            face[other] = end
            touches_border[np.unique(labels[tuple(face)])] = True
    touches_border[0] = True
    return mask | ~touches_border[labels]
