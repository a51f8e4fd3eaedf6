"""The 3D scene's meshes, in mm (LPS), built in the label map's own physical frame.

Surfaces come from the label map by marching cubes in index space, mapped
through `Volume.index_to_physical`, so any origin, spacing and direction
(flipped, permuted, oblique) puts them where they are in the patient. The
scene's other pieces (centrelines, candidate sites, needle, stent-graft
chain) come straight from plan.json and the centrelines, already in mm.
"""

from __future__ import annotations

import numpy as np
from skimage.measure import marching_cubes

from pdvaplan.boxes import bounding_box
from pdvaplan.centerlines.files import centerlines_polydata
from pdvaplan.centerlines.polyline import arc_length_mm, point_at_arc
from pdvaplan.filters import smooth_mm
from pdvaplan.io import Volume
from pdvaplan.labels import ARTERY, BONE, CALCIUM, METAL, VEIN
from pdvaplan.render._pyvista import pv
from pdvaplan.render.planview import PlanView

#: Label values of the contract and the surface each one makes.
SURFACES = {"artery": ARTERY, "vein": VEIN, "calcium": CALCIUM, "bone": BONE, "metal": METAL}
#: Marching-cubes step (voxels) per surface: bone is large and needs no fine detail.
_STEP = {"artery": 1, "vein": 1, "calcium": 1, "bone": 2, "metal": 1}
#: Gaussian sigma (mm) that rounds the voxel staircase off before the surface is taken.
SMOOTHING_MM = 0.5
#: The Gaussian kernel reaches this many sigmas.
_KERNEL_SIGMAS = 4.0


def volume_corners_mm(volume: Volume) -> np.ndarray:
    """The 8 outer corners of a volume's voxels (index -0.5 and n - 0.5), in mm, (8, 3)."""
    low, high = -0.5, np.asarray(volume.shape, dtype=np.float64) - 0.5
    corners = np.array(
        [[i, j, k] for i in (low, high[0]) for j in (low, high[1]) for k in (low, high[2])]
    )
    return volume.index_to_physical(corners)


def volume_outline(volume: Volume) -> pv.PolyData:
    """The volume's box (its 12 edges) in mm: the physical extent of the label map."""
    corners = volume_corners_mm(volume)
    edges = [(0, 1), (2, 3), (4, 5), (6, 7), (0, 2), (1, 3), (4, 6), (5, 7)]
    edges += [(0, 4), (1, 5), (2, 6), (3, 7)]
    lines = np.array([[2, a, b] for a, b in edges]).ravel()
    return pv.PolyData(corners, lines=lines)


def label_surface(
    labels: Volume, value: int, smoothing_mm: float = SMOOTHING_MM, step: int = 1
) -> pv.PolyData:
    """The surface of one label's voxels, in mm (LPS), outward normals.

    The mask is blurred by `smoothing_mm` (which rounds the staircase off)
    and the 0.5 level taken by marching cubes, on the mask's bounding box
    padded by empty voxels so that the surface closes at the volume's faces.

    Parameters
    ----------
    labels : Volume
        Integer label map.
    value : int
        The label whose surface is wanted.
    smoothing_mm : float
        Gaussian sigma in mm (0: the raw voxel surface).
    step : int
        Marching-cubes step in voxels (2 for large, coarse surfaces).

    Returns
    -------
    pyvista.PolyData
        Empty when no voxel holds `value`.

    Examples
    --------
    >>> import numpy as np
    >>> from pdvaplan.io import Volume
    >>> array = np.zeros((10, 10, 10), np.uint8); array[3:7, 3:7, 3:7] = 4
    >>> flipped = Volume(array, np.ones(3), np.zeros(3), np.diag([-1.0, 1.0, -1.0]))
    >>> surface = label_surface(flipped, 4, smoothing_mm=0)
    >>> np.round(surface.bounds, 1).tolist()
    [-6.5, -2.5, 2.5, 6.5, -6.5, -2.5]
    """
    mask = labels.array == value
    box = bounding_box(mask)
    if box is None:
        return pv.PolyData()
    lower = np.array([s.start for s in box])
    # at least 0.6 voxel, so that thin vessels lose their voxel staircase
    sigma = np.maximum(smoothing_mm / labels.spacing_mm, 0.6) if smoothing_mm > 0 else np.zeros(3)
    # padded beyond the kernel's reach: the field is the blur of the mask alone
    pad = 1 + int(np.ceil(_KERNEL_SIGMAS * sigma.max())) + step
    field = np.pad(mask[box].astype(np.float32), pad)
    if smoothing_mm > 0:
        field = smooth_mm(field, labels.spacing_mm, sigma * labels.spacing_mm, _KERNEL_SIGMAS)
    # a speck thinner than the blur keeps a (smaller) surface rather than none
    level = min(0.5, 0.5 * float(field.max()))
    verts, faces, _, _ = marching_cubes(field, level=level, step_size=step)
    points = labels.index_to_physical(verts + (lower - pad))
    if np.linalg.det(labels.index_to_physical_matrix) < 0:
        faces = faces[:, ::-1]  # a mirrored frame turns the winding inside out
    cells = np.hstack([np.full((len(faces), 1), 3), faces]).ravel()
    surface = pv.PolyData(points, faces=cells)
    if smoothing_mm > 0 and surface.n_points > 3:
        surface = surface.smooth_taubin(n_iter=15, pass_band=0.1)
    return surface.compute_normals(
        cell_normals=False,
        split_vertices=False,
        consistent_normals=False,
        auto_orient_normals=False,
    )


def centerlines_mesh(view: PlanView) -> pv.PolyData:
    """Every centreline as a polyline: point arrays ``radius_mm``, cell arrays
    ``vessel`` (0 artery, 1 vein) and ``centerline_id`` (its order in the view)."""
    lines = list(view.centerlines.values())
    if not lines:
        return pv.PolyData()
    mesh = centerlines_polydata(lines)
    kinds = [0 if line in view.arteries else 1 for line in lines]
    mesh.cell_data["vessel"] = np.array(kinds, dtype=np.int32)
    return mesh


def candidates_mesh(view: PlanView) -> pv.PolyData:
    """Candidate sites: a line from each artery point to its vein point, with point
    arrays ``distance_mm`` and ``rank`` (1 = the chosen crossing)."""
    candidates = view.plan.get("candidates") or []
    if not candidates:
        return pv.PolyData()
    a = np.array([c["artery_point_mm"] for c in candidates], dtype=np.float64)
    b = np.array([c["vein_point_mm"] for c in candidates], dtype=np.float64)
    points = np.vstack([a, b])
    n = len(candidates)
    lines = np.array([[2, i, i + n] for i in range(n)]).ravel()
    mesh = pv.PolyData(points, lines=lines)
    distance = np.array([c["distance_mm"] for c in candidates], dtype=np.float64)
    rank = np.array([c.get("rank", i + 1) for i, c in enumerate(candidates)], dtype=np.int32)
    mesh.point_data["distance_mm"] = np.concatenate([distance, distance])
    mesh.point_data["rank"] = np.concatenate([rank, rank])
    return mesh


def needle_mesh(view: PlanView, radius_mm: float = 0.5) -> pv.PolyData:
    """The chosen needle: a cylinder from the artery point to the vein point."""
    crossing = view.crossing
    if crossing is None:
        return pv.PolyData()
    a = np.asarray(crossing["artery_point_mm"], dtype=np.float64)
    b = np.asarray(crossing["vein_point_mm"], dtype=np.float64)
    length = float(np.linalg.norm(b - a))
    return pv.Cylinder(
        center=(a + b) / 2, direction=b - a, radius=radius_mm, height=length, resolution=24
    )


def segment_polyline(view: PlanView, segment: dict, first: bool) -> tuple[np.ndarray, np.ndarray]:
    """The points (mm) a stent-graft segment covers and their arc length (mm) along it.

    A crossing segment starts at the artery point, runs along the needle to
    the vein point, then down the stent-graft path; extensions run along the
    path between their start and end points.
    """
    path = np.asarray(view.plan["stent_graft"]["path_mm"], dtype=np.float64)
    if len(path) < 2:  # the crossing at the vein's distal end: no path to cover
        return np.zeros((0, 3)), np.zeros(0)
    arc = arc_length_mm(path)
    start = _arc_on(path, arc, np.asarray(segment["start_mm"], dtype=np.float64))
    end = _arc_on(path, arc, np.asarray(segment["end_mm"], dtype=np.float64))
    if segment.get("kind") == "crossing" or first:
        start = 0.0
    inside = (arc > start) & (arc < end)
    points = [point_at_arc(path, arc, start), *path[inside], point_at_arc(path, arc, end)]
    if segment.get("kind") == "crossing" and view.crossing is not None:
        points.insert(0, np.asarray(view.crossing["artery_point_mm"], dtype=np.float64))
    points = np.array(points)
    keep = np.concatenate([[True], np.linalg.norm(np.diff(points, axis=0), axis=1) > 1e-6])
    points = points[keep]
    return points, arc_length_mm(points)


def _arc_on(path: np.ndarray, arc: np.ndarray, point: np.ndarray) -> float:
    """Arc length of the path point nearest `point` (projected onto the segments)."""
    a, b = path[:-1], path[1:]
    d = b - a
    t = np.clip(
        np.einsum("ij,ij->i", point - a, d) / np.maximum(np.einsum("ij,ij->i", d, d), 1e-12), 0, 1
    )
    closest = a + t[:, None] * d
    i = int(np.argmin(np.linalg.norm(closest - point, axis=1)))
    return float(arc[i] + t[i] * (arc[i + 1] - arc[i]))


def stent_graft_meshes(view: PlanView) -> tuple[pv.PolyData, pv.PolyData]:
    """The stent-graft chain as tubes of their planned diameters, and rings at each
    segment's ends (the boundaries between segments).

    Returns
    -------
    tubes : pyvista.PolyData
        Point arrays ``diameter_mm`` and ``segment`` (1-based order in the chain).
    rings : pyvista.PolyData
        A thin ring at both ends of every segment, cell array ``segment``.
    """
    stent = view.plan.get("stent_graft")
    if not stent or not stent.get("segments") or len(stent.get("path_mm") or []) < 2:
        return pv.PolyData(), pv.PolyData()
    tubes, rings = [], []
    for n, segment in enumerate(stent["segments"], start=1):
        points, arc = segment_polyline(view, segment, first=n == 1)
        if len(points) < 2:
            continue
        t = arc / max(arc[-1], 1e-9)
        diameter = (1 - t) * segment["proximal_diameter_mm"] + t * segment["distal_diameter_mm"]
        line = pv.lines_from_points(points)
        line.point_data["diameter_mm"] = diameter
        line.point_data["radius_mm"] = diameter / 2
        tube = line.tube(scalars="radius_mm", absolute=True, n_sides=24, capping=False)
        tube.point_data["segment"] = np.full(tube.n_points, n, dtype=np.int32)
        tubes.append(tube)
        for end, radius in ((0, diameter[0] / 2), (-1, diameter[-1] / 2)):
            direction = points[1] - points[0] if end == 0 else points[-1] - points[-2]
            ring = pv.Disc(
                center=points[end], inner=radius, outer=radius + 0.35, normal=direction, c_res=32
            )
            ring.cell_data["segment"] = np.full(ring.n_cells, n, dtype=np.int32)
            rings.append(ring)
    if not tubes:
        return pv.PolyData(), pv.PolyData()
    return pv.merge(tubes), pv.merge(rings)


def scene_meshes(view: PlanView) -> dict[str, pv.PolyData]:
    """Every mesh of the 3D scene by name (empty meshes for absent layers).

    Names: ``outline`` (the label map's box), ``artery``, ``vein``, ``calcium``,
    ``bone``, ``metal`` (surfaces), ``centerlines``, ``candidates``, ``needle``,
    ``stent_graft``, ``stent_boundaries``.
    """
    meshes = {"outline": volume_outline(view.labels)}
    for name, value in SURFACES.items():
        meshes[name] = label_surface(view.labels, value, step=_STEP[name])
    meshes["centerlines"] = centerlines_mesh(view)
    meshes["candidates"] = candidates_mesh(view)
    meshes["needle"] = needle_mesh(view)
    meshes["stent_graft"], meshes["stent_boundaries"] = stent_graft_meshes(view)
    return meshes
