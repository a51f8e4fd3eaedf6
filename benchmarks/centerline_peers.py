"""Centreline methods compared in ``benchmarks.centerlines``: ours and two peers.

Every method takes a binary mask `Volume` and returns polylines as
``(points_mm (n, 3), radii_mm (n,))`` in the physical (LPS) frame, the form
`phantoms.scoring.centerline_accuracy` scores. The peers work in voxel
indices; their points are voxel centres, converted to mm through the mask's
frame with `Volume.index_to_physical` (so flipped, permuted and oblique
direction matrices come out right).

* ``ours``: `pdvaplan.centerlines.extract_centerlines` with its defaults.
* ``skan``: scikit-image ``skeletonize`` (3D thinning), split into
  junction-to-junction paths by ``skan.Skeleton``; the radius at a skeleton
  voxel is the Euclidean distance transform of the mask (in mm, with the
  voxel spacing) there, i.e. the distance to the nearest background voxel
  centre.
* ``kimimaro``: ``kimimaro.skeletonize`` (TEASAR) with ``anisotropy`` = the
  voxel spacing and `KIMIMARO_TEASAR`, split into inter-joint paths; radii
  from its ``radius`` vertex attribute (its distance-to-boundary field).
* ``skan, smoothed`` and ``kimimaro, cleaned and smoothed``: each peer at its best
  settings. kimimaro's skeletons go through its own ``kimimaro.postprocess``
  (dust and ticks shorter than `KIMIMARO_TICK_MM` removed, loops broken, close
  pieces joined), as its documentation recommends before use; then every path
  of both peers is resampled every 0.5 mm and smoothed as ours is (a Gaussian of
  `SMOOTHING_MM` along the path, points and radii), which takes the voxel
  staircase out of a skeleton. The raw rows show what each library gives as it
  comes.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from pdvaplan.centerlines import CenterlineSettings, extract_centerlines
from pdvaplan.centerlines.polyline import resample, smooth
from pdvaplan.io import Volume

#: A polyline in mm (LPS) and its radius per point.
Polyline = tuple[np.ndarray, np.ndarray]

#: TEASAR parameters for kimimaro in mm (its defaults are in nm for neurons):
#: invalidation ball radius = scale * distance-to-boundary + const; no soma
#: detection (thresholds far above any vessel radius).
KIMIMARO_TEASAR = {
    "scale": 1.5,
    "const": 5.0,
    "pdrf_scale": 100000,
    "pdrf_exponent": 4,
    "soma_acceptance_threshold": 1e6,
    "soma_detection_threshold": 1e6,
    "soma_invalidation_const": 0.0,
    "soma_invalidation_scale": 1.0,
}

#: Connected pieces smaller than this (voxels) are dropped by kimimaro.
KIMIMARO_DUST_VOXELS = 100
#: Branches shorter than this (mm) are removed by kimimaro's post-processing: our
#: extractor's shortest spur.
KIMIMARO_TICK_MM = CenterlineSettings().min_spur_mm
#: Smoothing of the peers' paths (mm, Gaussian sigma along the path) and their new
#: point spacing: our extractor's.
SMOOTHING_MM = CenterlineSettings().smoothing_mm
STEP_MM = CenterlineSettings().step_mm


def ours(mask: Volume) -> list[Polyline]:
    """Our centrelines (`extract_centerlines` with default settings)."""
    return [(line.points_mm, line.radii_mm) for line in extract_centerlines(mask)]


def skan_skeleton(mask: Volume) -> list[Polyline]:
    """scikit-image skeleton split into paths by skan; radii from the distance transform.

    Parameters
    ----------
    mask : Volume
        Nonzero voxels are lumen.

    Returns
    -------
    list of (points_mm, radii_mm)
        One entry per skeleton path (junction to junction or end).
    """
    from skan import Skeleton
    from skimage.morphology import skeletonize

    binary = mask.array != 0
    skeleton_image = skeletonize(binary)
    if not skeleton_image.any():
        return []
    depth_mm = ndimage.distance_transform_edt(binary, sampling=mask.spacing_mm)
    skeleton = Skeleton(skeleton_image, spacing=mask.spacing_mm)
    lines = []
    for path in range(skeleton.n_paths):
        index = skeleton.path_coordinates(path)  # voxel indices (i, j, k), not scaled
        voxel = tuple(np.rint(index).astype(int).T)
        lines.append((mask.index_to_physical(index), depth_mm[voxel].astype(np.float64)))
    return lines


def kimimaro_skeleton(mask: Volume, cleaned: bool = False) -> list[Polyline]:
    """kimimaro (TEASAR) skeleton split into inter-joint paths, with its radii.

    kimimaro's vertices are voxel indices times `anisotropy` (the spacing
    along i, j, k); dividing by the spacing gives the index back, which the
    mask's frame turns into mm.

    Parameters
    ----------
    mask : Volume
        Nonzero voxels are lumen.

    Parameters
    ----------
    mask : Volume
        Nonzero voxels are lumen.
    cleaned : bool
        Run each skeleton through ``kimimaro.postprocess`` first.

    Returns
    -------
    list of (points_mm, radii_mm)
        One entry per path between adjacent ends and branch points.
    """
    import kimimaro

    labels = np.asfortranarray((mask.array != 0).astype(np.uint8))
    skeletons = kimimaro.skeletonize(
        labels,
        teasar_params=KIMIMARO_TEASAR,
        anisotropy=tuple(mask.spacing_mm),
        dust_threshold=KIMIMARO_DUST_VOXELS,
        progress=False,
        fix_branching=True,
        fix_borders=True,
        parallel=1,
    )
    lines = []
    for skeleton in skeletons.values():
        if cleaned:
            dust_mm = KIMIMARO_DUST_VOXELS * float(np.prod(mask.spacing_mm)) ** (1 / 3)
            skeleton = kimimaro.postprocess(skeleton, dust_mm, KIMIMARO_TICK_MM)
        if len(skeleton.edges) == 0:
            continue
        lookup = cKDTree(skeleton.vertices)
        for vertices in skeleton.interjoint_paths():
            _, at = lookup.query(vertices)
            index = np.asarray(vertices, dtype=np.float64) / mask.spacing_mm
            lines.append((mask.index_to_physical(index), skeleton.radius[at].astype(np.float64)))
    return lines


def smoothed(lines: list[Polyline]) -> list[Polyline]:
    """Paths resampled every `STEP_MM` and smoothed along their length by a Gaussian of
    `SMOOTHING_MM` (points and radii), as our extractor smooths its own."""
    result = []
    for points_mm, radii_mm in lines:
        if len(points_mm) < 2:
            result.append((points_mm, radii_mm))
            continue
        points, radii = resample(points_mm, STEP_MM, radii_mm)
        radii = ndimage.gaussian_filter1d(radii, SMOOTHING_MM / STEP_MM, mode="nearest")
        result.append((smooth(points, SMOOTHING_MM, STEP_MM), radii))
    return result


#: Method name -> (function, module that must import for it to run).
METHODS: dict[str, tuple[Callable[[Volume], list[Polyline]], str | None]] = {
    "ours": (ours, None),
    "skan": (skan_skeleton, "skan"),
    "skan, smoothed": (lambda mask: smoothed(skan_skeleton(mask)), "skan"),
    "kimimaro": (kimimaro_skeleton, "kimimaro"),
    "kimimaro, cleaned and smoothed": (
        lambda mask: smoothed(kimimaro_skeleton(mask, cleaned=True)),
        "kimimaro",
    ),
}


def available_methods() -> tuple[dict[str, Callable[[Volume], list[Polyline]]], dict[str, str]]:
    """The methods whose packages import, and why the others are skipped.

    Returns
    -------
    methods : dict
        Name -> function, in the order of `METHODS`.
    skipped : dict
        Name -> reason (the import error).
    """
    methods, skipped = {}, {}
    for name, (function, module) in METHODS.items():
        try:
            if module is not None:
                importlib.import_module(module)
        except ImportError as error:
            skipped[name] = f"{module} does not import ({error})"
            continue
        methods[name] = function
    return methods, skipped
