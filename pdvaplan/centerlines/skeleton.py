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

`vessel_paths` then reads the branches as vessels: a trunk runs from its
highest free end down through every junction (the branch that carries on
straightest, of those at least half as wide), valve and contact with a
neighbour to its distal end; what leaves it is a side branch, a line of its
own (or another trunk, when it is about as wide and runs on distally to an
end of its own, as paired veins below their confluence do).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph
from skimage.morphology import skeletonize

from pdvaplan.boxes import bounding_box
from pdvaplan.filters import inside_distance_mm

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
        `pdvaplan.filters.inside_distance_mm` of the mask, if the caller has it already.

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
    depth = inside_distance_mm(mask, spacing_mm) if depth is None else depth
    if len(voxels) == 0 and mask.any():
        voxels = _deepest_path(mask, spacing_mm, depth)
    if len(voxels) == 0:
        return []
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


def _deepest_path(mask: np.ndarray, spacing_mm: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """A skeleton for a mask that thinning erased: the path between its two farthest
    voxels that keeps deepest inside it.

    scikit-image's 3D thinning (0.26) deletes every voxel of some tubes whose
    cross-section is mirror-symmetric with an even width (a straight tube of 2 x 2
    or 4 x 4 voxels across, as a label map made on a grid centred on the vessel
    has). The path runs through the core (voxels at least half the deepest depth
    inside), so that its ends lie near the axis, not at the rim of an end face;
    steps are weighted by the inverse square of the depth, so it keeps to the
    middle of the lumen; the sections centre it later.
    """
    box = bounding_box(mask, 0)
    core = mask[box] & (depth[box] >= 0.5 * float(depth[box].max()))
    voxels = np.argwhere(core)
    if len(voxels) < 2:
        return voxels + [b.start for b in box]
    graph = _voxel_graph(voxels, spacing_mm)
    deep = np.maximum(depth[box][tuple(voxels.T)].astype(np.float64), 1e-3)
    graph = graph.tocoo()
    weights = graph.data / (deep[graph.row] * deep[graph.col])
    graph = sparse.csr_matrix((weights, (graph.row, graph.col)), shape=graph.shape)
    _, component = csgraph.connected_components(graph, directed=False)
    largest = np.flatnonzero(component == np.bincount(component).argmax())
    path = largest[_longest_path(graph[largest][:, largest])]
    return voxels[path] + [b.start for b in box]


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


def vessel_paths(
    branches: list[Branch],
    spacing_mm: np.ndarray,
    depth: np.ndarray,
    up: np.ndarray,
    min_width_ratio: float = 0.5,
    max_turn_deg: float = 90.0,
) -> list[tuple[Branch, str]]:
    """Skeleton branches joined into vessels: trunks through junctions, side branches.

    A trunk starts at the highest free end not yet used and is followed down:
    at each junction it carries on into the unused branch whose heading (over
    the last and first few mm, at least two lumen radii) turns least from its
    own, among those at least `min_width_ratio` as wide as it is there (any,
    when none is); it stops at a free end, or where every way on turns by more
    than `max_turn_deg` or is used. What is left is followed the same way from
    its highest free end (then from junctions): a line that leaves a trunk is a
    side branch, unless it is at least `min_width_ratio` as wide as the trunk
    where it leaves it and its distal end is free (its own end, not another
    vessel), as the second of two paired veins below their confluence is: then
    it is a trunk too. The first line of each connected skeleton is a trunk.

    Parameters
    ----------
    branches : list of Branch
        From `skeleton_branches` (one connected mask or several).
    spacing_mm : numpy.ndarray
        Voxel size along each array axis (mm).
    depth : numpy.ndarray
        `pdvaplan.filters.inside_distance_mm` of the mask: the lumen radius at skeleton voxels.
    up : numpy.ndarray
        The physical height gained per mm along each array axis (the third row
        of the volume's direction matrix), so that "highest" and "distal" mean
        the patient's superior and inferior on any grid.
    min_width_ratio : float
        See above.
    max_turn_deg : float
        See above.

    Returns
    -------
    list of (Branch, str)
        Each vessel's voxel path (through the junction centres it passes; its
        ends keep their junction ids, -1 where free) and its kind,
        ``"trunk"`` or ``"branch"``.

    Examples
    --------
    >>> mask = np.zeros((30, 9, 60), bool)
    >>> mask[13:18, 2:7, 2:58] = True  # a vein along axis 2, 5 voxels wide ...
    >>> mask[13:28, 4:5, 20:21] = True  # ... and a thin side branch leaving it
    >>> spacing = np.ones(3)
    >>> branches = skeleton_branches(mask, spacing)
    >>> depth = inside_distance_mm(mask, spacing)
    >>> paths = vessel_paths(branches, spacing, depth, np.array([0, 0, 1.0]))
    >>> sorted((kind, len(b.index) > 40) for b, kind in paths)
    [('branch', False), ('trunk', True)]
    """
    spacing_mm = np.asarray(spacing_mm, dtype=np.float64)
    up = np.asarray(up, dtype=np.float64)
    at_junction: dict[int, list[int]] = {}
    for n, b in enumerate(branches):
        for junction in {b.start_junction, b.end_junction} - {-1}:
            at_junction.setdefault(junction, []).append(n)
    radius = [_median_radius(b, depth) for b in branches]
    used: set[int] = set()
    paths: list[tuple[Branch, str]] = []
    members: list[list[int]] = []  # the branches each path is made of
    owner: dict[int, int] = {}  # junction id -> the first path that passed or ended at it

    def height(point: np.ndarray) -> float:
        return float((point * spacing_mm) @ up)

    while len(used) < len(branches):
        n, from_start = _next_start(branches, used, height)
        path = branches[n] if from_start else _reversed(branches[n])
        used.add(n)
        mine = [n]
        while path.end_junction >= 0:
            # Headings over a few mm, at least two lumen diameters: the skeleton
            # wanders at a junction over about a lumen's width.
            reach_mm = max(3.0, 4.0 * radius[mine[-1]])
            heading = -_heading(path.index[::-1], spacing_mm, reach_mm)
            ways = []
            for m in at_junction.get(path.end_junction, []):
                if m in used:
                    continue
                b = branches[m]
                way = b if b.start_junction == path.end_junction else _reversed(b)
                cosine = float(heading @ _heading(way.index, spacing_mm, reach_mm))
                turn = float(np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0))))
                narrow = radius[m] < min_width_ratio * radius[mine[-1]]
                ways.append((narrow, turn, m, way))
            if not ways:
                break
            _, turn, m, way = min(ways, key=lambda w: (w[0], w[1]))
            if turn > max_turn_deg:
                break
            used.add(m)
            mine.append(m)
            path = Branch(
                np.vstack([path.index, way.index[1:]]), path.start_junction, way.end_junction
            )
        kind = _kind(path, mine, branches, members, owner, radius, height, min_width_ratio)
        for m in mine:
            for junction in {branches[m].start_junction, branches[m].end_junction} - {-1}:
                owner.setdefault(junction, len(paths))
        paths.append((path, kind))
        members.append(mine)
    return paths


def _kind(path, mine, branches, members, owner, radius, height, min_width_ratio) -> str:
    """Trunk or side branch (see `vessel_paths`): a path that touches no earlier
    path is a trunk; one that does is a branch unless its distal end is free and
    it is about as wide as the path it leaves."""
    ends = [j for j in (path.start_junction, path.end_junction) if j in owner]
    if not ends:
        return "trunk"
    lower = path.end_junction if height(path.index[-1]) <= height(path.index[0]) else None
    lower = path.start_junction if lower is None else lower
    if lower >= 0:  # it runs into another vessel, not on to an end of its own
        return "branch"
    leaves = ends[0]
    parent = members[owner[leaves]]
    meeting = [
        m for m in parent if leaves in (branches[m].start_junction, branches[m].end_junction)
    ]
    parent_width = max(radius[m] for m in meeting or parent)
    width = float(np.median([radius[m] for m in mine]))
    return "trunk" if width >= min_width_ratio * parent_width else "branch"


def _next_start(branches: list[Branch], used: set[int], height) -> tuple[int, bool]:
    """Where the next vessel starts: the highest free end of an unused branch, else the
    highest end of one (a branch between two junctions); (branch, from its start)."""
    free, any_end = [], []
    for n, b in enumerate(branches):
        if n in used:
            continue
        for from_start, junction, point in (
            (True, b.start_junction, b.index[0]),
            (False, b.end_junction, b.index[-1]),
        ):
            (free if junction < 0 else any_end).append((height(point), n, from_start))
    _, n, from_start = max(free or any_end)
    return n, from_start


def _heading(index: np.ndarray, spacing_mm: np.ndarray, reach_mm: float) -> np.ndarray:
    """Unit direction (mm frame) from a path's first point to its point `reach_mm` on."""
    points = index * spacing_mm
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])
    far = min(int(np.searchsorted(arc, reach_mm)), len(points) - 1)
    chord = points[far] - points[0]
    return chord / max(float(np.linalg.norm(chord)), 1e-12)


def _median_radius(branch: Branch, depth: np.ndarray) -> float:
    own = _own_voxels(branch)
    if len(own) == 0:
        own = np.rint(branch.index).astype(np.int64)
    return float(np.median(depth[tuple(own.T)]))


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
