"""Voxel skeleton of a binary mask -> branches between junctions and ends.

The skeleton (scikit-image's 3D thinning) gives the topology only; positions
are refined later to sub-voxel accuracy. Skeleton voxels are linked to their
26 neighbours; voxels with three or more neighbours form junctions, and the
rest fall apart into branches, each ordered along its longest path (robust to
the small loops thinning leaves). Short branches with a free end (spurs) are
pruned and the graph rebuilt, so that the branches on either side of a
dissolved junction merge into one. Short loops (a branch that leaves a junction
and comes back to it, as thinning leaves in short wide vessels) are dropped
last, and branches are joined through the junctions only two of them then meet.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import edt
import numpy as np
from scipy import sparse
from scipy.sparse import csgraph
from skimage.morphology import skeletonize

from pdvaplan.segmentation.grid import bounding_box

#: The 26 neighbour offsets of a voxel.
_OFFSETS = np.array(
    [d for d in itertools.product((-1, 0, 1), repeat=3) if d != (0, 0, 0)], dtype=np.int64
)


@dataclass(frozen=True)
class Branch:
    """A skeleton branch: voxel indices (continuous at junction ends) in order.

    ``start_junction`` / ``end_junction`` are junction ids, or -1 for a free end.
    """

    index: np.ndarray  # (n, 3) float, voxel indices
    start_junction: int
    end_junction: int


def depth_mm(mask: np.ndarray, spacing_mm: np.ndarray) -> np.ndarray:
    """Distance (mm) from each mask voxel to the nearest background voxel (0 outside).

    Computed in the mask's bounding box (and a voxel of background), not the
    whole array; voxels outside the array do not count as background.
    """
    depth = np.zeros(mask.shape, np.float32)
    box = bounding_box(mask, 1)
    if box is None:
        return depth
    depth[box] = edt.edt(
        np.ascontiguousarray(mask[box], dtype=np.uint8),
        anisotropy=tuple(float(s) for s in spacing_mm),
    )
    return depth


def skeleton_branches(
    mask: np.ndarray,
    spacing_mm: np.ndarray,
    min_spur_mm: float = 3.0,
    spur_radii: float = 2.0,
    depth: np.ndarray | None = None,
) -> list[Branch]:
    """Branches of the skeleton of a binary mask.

    Parameters
    ----------
    mask : numpy.ndarray of bool, 3D
        The object (one connected component is typical, several are fine).
    spacing_mm : array_like, shape (3,)
        Voxel size along each array axis; lengths are measured in mm.
    min_spur_mm : float
        Branches with a free end shorter than this are pruned ...
    spur_radii : float
        ... and so are those shorter than this many lumen radii at their
        junction (a bulge of a wide vessel makes a short spur).
    depth : numpy.ndarray, optional
        `depth_mm` of the mask, if the caller has it already.

    Returns
    -------
    list of Branch
        In no particular order. A mask without junctions gives one branch per
        connected component.

    Examples
    --------
    >>> mask = np.zeros((5, 5, 30), bool)
    >>> mask[1:4, 1:4, 2:28] = True
    >>> [len(b.index) > 15 for b in skeleton_branches(mask, np.ones(3))]
    [True]
    """
    spacing_mm = np.asarray(spacing_mm, dtype=np.float64)
    voxels = _skeleton_voxels(mask, spacing_mm)
    if len(voxels) == 0:
        return []
    depth = depth_mm(mask, spacing_mm) if depth is None else depth
    while True:
        graph = _voxel_graph(voxels, spacing_mm)
        branches = _branches(voxels, graph)
        if not branches:  # e.g. a skeleton that closes on itself with no end or junction
            return []
        lengths = [_length_mm(b.index, spacing_mm) for b in branches]
        longest = int(np.argmax(lengths))
        spurs = [
            b
            for n, b in enumerate(branches)
            if n != longest  # a short wide vessel keeps its longest arm
            and (b.start_junction < 0) != (b.end_junction < 0)
            and lengths[n] < max(min_spur_mm, spur_radii * _junction_radius(b, depth))
        ]
        gone = _rows_in(voxels, np.concatenate([_own_voxels(b) for b in spurs])) if spurs else None
        if gone is None or not gone.any():
            loops = [
                n
                for n, b in enumerate(branches)
                if b.start_junction == b.end_junction >= 0
                and lengths[n] < max(min_spur_mm, spur_radii * _junction_radius(b, depth))
            ]
            return _joined([b for n, b in enumerate(branches) if n not in loops])
        voxels = voxels[~gone]


def _skeleton_voxels(mask: np.ndarray, spacing_mm: np.ndarray, pad_mm: float = 12.0) -> np.ndarray:
    """Indices of the skeleton voxels of `mask`.

    Thinning treats the array's edge as background, so a vessel that leaves
    the array would get a rounded end and a skeleton that stops short of the
    edge (by up to several radii). The mask is therefore extended beyond the
    array edges it touches by repeating the edge slices, thinned, and cut back.
    Thinning costs in proportion to the box it runs in, so it runs in the
    mask's bounding box (and a voxel of background), not in the whole array.
    """
    box = bounding_box(mask, 1)
    if box is None:
        return np.zeros((0, 3), dtype=np.int64)
    pad = np.ceil(pad_mm / spacing_mm).astype(int)
    widths = [
        (p if b.start == 0 else 0, p if b.stop == n else 0)
        for p, b, n in zip(pad, box, mask.shape, strict=True)
    ]
    padded = np.pad(mask[box], widths, mode="edge")
    inner = tuple(slice(w[0], w[0] + b.stop - b.start) for w, b in zip(widths, box, strict=True))
    return np.argwhere(skeletonize(padded)[inner]) + [b.start for b in box]


def _voxel_graph(voxels: np.ndarray, spacing_mm: np.ndarray) -> sparse.csr_matrix:
    """Symmetric adjacency of 26-neighbouring voxels, weighted by their distance in mm."""
    shape = voxels.max(axis=0) + 3
    keys = np.ravel_multi_index((voxels + 1).T, shape)
    order = np.argsort(keys)
    sorted_keys = keys[order]
    rows, cols, weights = [], [], []
    for offset in _OFFSETS:
        neighbour = np.ravel_multi_index((voxels + 1 + offset).T, shape)
        position = np.clip(np.searchsorted(sorted_keys, neighbour), 0, len(keys) - 1)
        found = sorted_keys[position] == neighbour
        rows.append(np.flatnonzero(found))
        cols.append(order[position[found]])
        weights.append(np.full(found.sum(), np.linalg.norm(offset * spacing_mm)))
    n = len(voxels)
    return sparse.csr_matrix(
        (np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
    )


def _branches(voxels: np.ndarray, graph: sparse.csr_matrix) -> list[Branch]:
    degree = np.diff(graph.indptr)
    junction = degree >= 3
    # Junction voxels that touch form one junction.
    junction_ids = np.full(len(voxels), -1)
    jj = np.flatnonzero(junction)
    if jj.size:
        _, cluster = csgraph.connected_components(graph[jj][:, jj], directed=False)
        junction_ids[jj] = cluster
    junction_centres = [
        voxels[junction_ids == c].mean(axis=0) for c in range(junction_ids.max() + 1)
    ]

    inner = np.flatnonzero(~junction)
    inner_graph = graph[inner][:, inner]
    count, component = csgraph.connected_components(inner_graph, directed=False)
    branches = []
    for c in range(count):
        members = np.flatnonzero(component == c)
        path = members[_longest_path(inner_graph[members][:, members])]
        ends = []
        for end in (path[0], path[-1]):
            touching = junction_ids[graph[inner[end]].indices]
            touching = touching[touching >= 0]
            ends.append(int(touching[0]) if touching.size else -1)
        index = voxels[inner[path]].astype(np.float64)
        if ends[0] >= 0:
            index = np.vstack([junction_centres[ends[0]], index])
        if ends[1] >= 0:
            index = np.vstack([index, junction_centres[ends[1]]])
        branches.append(Branch(index, ends[0], ends[1]))
    return branches


def _joined(branches: list[Branch]) -> list[Branch]:
    """Branches joined through every junction only two of them meet; a junction
    only one meets becomes a free end (what is left where short loops went)."""
    branches = list(branches)
    while True:
        ends: dict[int, list[tuple[int, bool]]] = {}
        for n, b in enumerate(branches):
            for junction, at_start in ((b.start_junction, True), (b.end_junction, False)):
                if junction >= 0:
                    ends.setdefault(junction, []).append((n, at_start))
        lone = [e[0] for e in ends.values() if len(e) == 1]
        for n, at_start in lone:
            b = branches[n]
            branches[n] = Branch(
                b.index, -1 if at_start else b.start_junction, b.end_junction if at_start else -1
            )
        pairs = [e for e in ends.values() if len(e) == 2 and e[0][0] != e[1][0]]
        if not pairs:
            if not lone:
                return branches
            continue
        (first, first_at_start), (second, second_at_start) = pairs[0]
        head = _reversed(branches[first]) if first_at_start else branches[first]
        tail = branches[second] if second_at_start else _reversed(branches[second])
        joined = Branch(
            np.vstack([head.index, tail.index[1:]]), head.start_junction, tail.end_junction
        )
        branches = [b for n, b in enumerate(branches) if n not in (first, second)] + [joined]


def _reversed(branch: Branch) -> Branch:
    return Branch(branch.index[::-1], branch.end_junction, branch.start_junction)


def _longest_path(graph: sparse.csr_matrix) -> np.ndarray:
    """Node order along the longest shortest path of a connected graph (two sweeps)."""
    if graph.shape[0] == 1:
        return np.array([0])
    distance = csgraph.dijkstra(graph, directed=False, indices=0)
    start = int(np.argmax(np.where(np.isfinite(distance), distance, -1)))
    distance, previous = csgraph.dijkstra(
        graph, directed=False, indices=start, return_predecessors=True
    )
    node = int(np.argmax(np.where(np.isfinite(distance), distance, -1)))
    path = [node]
    while previous[node] >= 0:
        node = int(previous[node])
        path.append(node)
    return np.array(path[::-1])


def _length_mm(index: np.ndarray, spacing_mm: np.ndarray) -> float:
    return float(np.linalg.norm(np.diff(index, axis=0) * spacing_mm, axis=1).sum())


def _junction_radius(branch: Branch, depth: np.ndarray) -> float:
    """Lumen radius (distance to the background) at a branch's junction end."""
    at = branch.index[0] if branch.start_junction >= 0 else branch.index[-1]
    return float(depth[tuple(np.rint(at).astype(int))])


def _own_voxels(branch: Branch) -> np.ndarray:
    """The branch's voxels, without the junction centres appended to it."""
    index = branch.index
    if branch.start_junction >= 0:
        index = index[1:]
    if branch.end_junction >= 0:
        index = index[:-1]
    return index.astype(np.int64)


def _rows_in(rows: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Whether each row of `rows` occurs among the rows of `candidates` (int, 3 columns)."""
    shape = np.maximum(rows.max(axis=0), candidates.max(axis=0)) + 1
    return np.isin(np.ravel_multi_index(rows.T, shape), np.ravel_multi_index(candidates.T, shape))
