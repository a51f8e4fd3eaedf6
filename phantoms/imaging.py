"""Image the synthetic leg: sample the analytic anatomy through a voxel grid.

The anatomy lives in physical space (`phantoms.leg_spec`); a `GridSpec` (any
spacing, any orthonormal direction) decides how it is sampled, so the same
patient can be written on different grids. Each tissue's share of a voxel
(partial volume) comes from its signed distance to the voxel centre, divided by
the width of the voxel projected onto the surface normal; the images are then
blurred by a Gaussian point-spread function and get Gaussian noise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from pdvaplan.errors import PdvaplanInputError
from pdvaplan.io import Volume, check_frame
from pdvaplan.labels import ARTERY, BONE, CALCIUM, VEIN
from phantoms.acquisition import Acquisition, LegMotion, leg_motion
from phantoms.leg_spec import AxisCurve, LegSpec, centrelines, contrast_fraction

#: Voxels processed at once; bounds memory on large grids.
_VOXELS_PER_SLAB = 1_500_000
#: How the grid is named in messages.
GRID_SOURCE = "phantom grid (--spacing, --direction)"
#: Largest grid a phantom may have (voxels).
MAX_VOXELS = 4e8


@dataclass(frozen=True)
class GridSpec:
    """How the leg is sampled: voxel spacing and direction matrix.

    Parameters
    ----------
    spacing_mm : tuple of 3 floats
        Voxel size along the index axes i, j, k.
    direction : tuple of 9 floats
        Orthonormal direction matrix, row-major as SimpleITK's
        ``GetDirection`` (columns are the physical directions of i, j, k).
    origin_shift_mm : tuple of 3 floats
        Physical shift of the whole grid from centred on the leg's box (where
        the voxel centres fall on the anatomy); the leg stays where it is.
    """

    spacing_mm: tuple[float, float, float] = (0.8, 0.8, 1.0)
    direction: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    origin_shift_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)


@dataclass(frozen=True)
class LegImages:
    """The two contrast phases (HU as int16, or grey values), the true label map (uint8)
    and the leg's motion between the phases (None when the phases share one grid)."""

    arterial: Volume
    venous: Volume
    labels: Volume
    motion: LegMotion | None = None


def body_box_mm(legs: tuple[LegSpec, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper physical corners of the box every leg is imaged in."""
    boxes = np.array([leg.box_mm for leg in legs])
    return boxes[:, 0].min(axis=0), boxes[:, 1].max(axis=0)


def grid_volume(spec: LegSpec | tuple[LegSpec, ...], grid: GridSpec) -> Volume:
    """An empty (all-zero) volume whose grid covers the imaging box of the leg (or legs).

    The grid is centred on the box and large enough that every corner of the
    box lies inside it, whatever the direction matrix.
    """
    spacing = np.asarray(grid.spacing_mm, dtype=np.float64)
    direction = np.asarray(grid.direction, dtype=np.float64).reshape(3, 3)
    check_frame(spacing, direction, GRID_SOURCE)
    lower, upper = body_box_mm(spec if isinstance(spec, tuple) else (spec,))
    centre = (lower + upper) / 2
    corners = np.array(
        [
            [x, y, z]
            for x in (lower[0], upper[0])
            for y in (lower[1], upper[1])
            for z in (lower[2], upper[2])
        ]
    )
    extent_mm = np.ptp((corners - centre) @ direction, axis=0)  # along i, j, k
    shape = np.maximum(np.round(extent_mm / spacing - 1e-6).astype(int), 2)
    if np.prod(shape.astype(float)) > MAX_VOXELS:
        raise PdvaplanInputError(
            f"{GRID_SOURCE}: {' x '.join(map(str, shape))} voxels exceeds the limit of "
            f"{MAX_VOXELS:.0e}; use a coarser spacing"
        )
    shift = np.asarray(grid.origin_shift_mm, dtype=np.float64)
    origin = centre + shift - direction @ (spacing * (shape - 1) / 2)
    return Volume(np.zeros(tuple(shape), np.uint8), spacing, origin, direction, GRID_SOURCE)


def image_leg(
    spec: LegSpec,
    grid: GridSpec,
    seed: int,
    progress: Callable[[str], None] | None = None,
    acquisition: Acquisition | None = None,
    other_leg: LegSpec | None = None,
) -> LegImages:
    """Sample the leg into arterial and venous CT volumes and a label map.

    Parameters
    ----------
    spec : LegSpec
        The anatomy and imaging parameters.
    grid : GridSpec
        Spacing and direction of the voxel grid.
    seed : int
        Seed of the image noise; equal seeds give identical images.
    progress : callable, optional
        Called with a line of text once the grid is known.
    acquisition : Acquisition, optional
        Leg motion between the phases (the venous phase then has a grid of
        its own) and grey values other than HU. Default: one grid, HU.
    other_leg : LegSpec, optional
        The patient's other leg, imaged beside `spec` (its own anatomy and
        place, `spec`'s intensities, noise and blur).

    Returns
    -------
    LegImages
        ``arterial`` and ``venous`` (HU as int16, or the acquisition's grey
        values), ``labels`` on the arterial grid with the contract's values
        (1 patent artery lumen, 2 vein lumen, 3 calcium, 4 bone, 0 anything
        else).
    """
    acquisition = acquisition or Acquisition()
    legs = (spec,) if other_leg is None else (spec, other_leg)
    frame = grid_volume(legs, grid)
    if progress is not None:
        progress(f"imaging {' x '.join(map(str, frame.shape))} voxels ...")
    arterial, venous, labels = _image_frame(legs, frame)
    venous_frame, motion = frame, None
    if acquisition.moved:
        lower, upper = body_box_mm(legs)
        motion = leg_motion(acquisition, seed, (lower + upper) / 2)
        direction = np.asarray(grid.direction, dtype=np.float64).reshape(3, 3)
        # The venous grid as the moved leg sees it (anatomy coordinates): it covers the
        # leg's box whatever the rotation; in the scanner it has the arterial direction.
        seen = grid_volume(
            legs,
            GridSpec(
                tuple(frame.spacing_mm * motion.venous_spacing_scale),
                tuple((motion.rotation.T @ direction).ravel()),
            ),
        )
        _, venous, _ = _image_frame(legs, seen)
        venous_frame = Volume(
            np.zeros((2, 2, 2), np.uint8),
            seen.spacing_mm,
            motion.venous_from_arterial(seen.origin_mm),
            direction,
            GRID_SOURCE,
        )

    rng = np.random.default_rng(seed)
    phases = []
    for clean, spacing in ((arterial, frame.spacing_mm), (venous, venous_frame.spacing_mm)):
        image = ndimage.gaussian_filter(clean, spec.psf_sigma_mm / spacing, output=np.float32)
        image += rng.normal(0.0, spec.noise_sigma_hu, image.shape).astype(np.float32)
        phases.append(acquisition.grey(image))
    return LegImages(
        frame.with_array(phases[0], "arterial phase"),
        Volume(
            phases[1],
            venous_frame.spacing_mm,
            venous_frame.origin_mm,
            venous_frame.direction,
            "venous phase",
        ),
        frame.with_array(labels, "labels"),
        motion,
    )


def _image_frame(legs: tuple[LegSpec, ...], frame: Volume):
    """Clean HU images of both phases (float32) and the labels (uint8) on `frame`'s grid."""
    lines = tuple(centrelines(leg) for leg in legs)
    arterial = np.empty(frame.shape, np.float32)
    venous = np.empty(frame.shape, np.float32)
    labels = np.zeros(frame.shape, np.uint8)
    slab = max(1, _VOXELS_PER_SLAB // (frame.shape[0] * frame.shape[1]))
    index_ij = np.stack(
        np.meshgrid(np.arange(frame.shape[0]), np.arange(frame.shape[1]), indexing="ij"), -1
    ).reshape(-1, 1, 2)
    for k0 in range(0, frame.shape[2], slab):
        ks = np.arange(k0, min(k0 + slab, frame.shape[2]))
        index = np.concatenate(
            [
                np.broadcast_to(index_ij, (index_ij.shape[0], ks.size, 2)),
                np.broadcast_to(ks[None, :, None], (index_ij.shape[0], ks.size, 1)),
            ],
            axis=-1,
        )
        points = frame.index_to_physical(index.reshape(-1, 3))
        a, v, lab = _image_points(legs, lines, frame, points)
        shape = (frame.shape[0], frame.shape[1], ks.size)
        arterial[:, :, ks] = a.reshape(shape)
        venous[:, :, ks] = v.reshape(shape)
        labels[:, :, ks] = lab.reshape(shape)
    return arterial, venous, labels


def _image_points(
    legs: tuple[LegSpec, ...],
    lines: tuple[dict[str, AxisCurve], ...],
    frame: Volume,
    points: np.ndarray,
):
    """Clean HU values of both phases and labels at physical `points` (N, 3); the first
    leg's intensities hold for all."""
    hu = legs[0].intensities
    axes = frame.index_to_physical_matrix  # columns: voxel edge vectors (mm)
    arterial = np.full(len(points), hu.air, np.float32)

    def coverage(signed_mm, normal):
        width = np.maximum(np.abs(normal @ axes).sum(axis=-1), 1e-6)
        return np.clip(0.5 - signed_mm / width, 0.0, 1.0)

    def paint(image, share, value, where=slice(None)):
        image[where] += share * (value - image[where])

    # No voxel is wider than the sum of its edges: beyond half that from a
    # surface a voxel is wholly in or out, and needs no normal.
    half_width_mm = 0.5 * frame.spacing_mm.sum()

    def paint_shape(image, signed_mm, normal_of, value):
        """Paint a shape given its signed distance and `normal_of(indices)` (unit normals)."""
        share = (signed_mm < 0).astype(np.float32)
        band = np.flatnonzero(np.abs(signed_mm) < half_width_mm)
        share[band] = coverage(signed_mm[band], normal_of(band))
        paint(image, share, value)

    # Leg outlines and the muscle inside their fat rings (elliptic sections, wider at the calf).
    for spec in legs:
        centred = points - np.array([spec.centre_x_mm, 0.0, 0.0])
        outline = np.asarray(spec.leg_semi_axes_mm) * spec.outline_scale(points[:, 2])[:, None]
        for semi_axes, tissue in (
            (outline, hu.fat),
            (outline - spec.fat_thickness_mm, hu.muscle),
        ):
            signed = _ellipse_distance(centred, semi_axes)
            normal_of = lambda band, a=semi_axes, p=centred: _ellipse_normal(p[band], a[band])  # noqa: E731
            paint_shape(arterial, signed, normal_of, tissue)

    labels = np.zeros(len(points), np.uint8)
    bones = [(bone, spec.length_mm) for spec in legs for bone in spec.bones]
    for bone, length_mm in bones:
        centre = np.asarray(bone.centre_xy_mm)
        rho = np.hypot(points[:, 0] - centre[0], points[:, 1] - centre[1])
        normal_of = lambda band, c=centre: _radial_normal(points[band], c)  # noqa: E731
        cortex_mm = bone.cortex_at_mm(points[:, 2], length_mm)
        paint_shape(arterial, rho - bone.radius_mm, normal_of, hu.cortex)
        paint_shape(arterial, rho - bone.radius_mm + cortex_mm, normal_of, hu.marrow)
        labels[rho < bone.radius_mm] = BONE
    implants = [implant for spec in legs for implant in spec.implants]
    for implant in implants:
        signed = implant.signed_distance_mm(points)
        paint_shape(
            arterial, signed, lambda band, i=implant: _implant_normal(i, points[band]), hu.metal
        )
        labels[signed < 0] = BONE  # the contract's labels have no value for metal
    for spec in legs:
        arterial += _metal_streaks(spec, points)
    venous = arterial.copy()

    veins = [own[v.name] for spec, own in zip(legs, lines, strict=True) for v in spec.veins]
    for line in veins:
        near, signed, normal, _, _ = _tube_distance(points, line, 0.0)
        share = coverage(signed, normal)
        paint(arterial, share, hu.unenhanced_blood, near)
        paint(venous, share, hu.vein_venous, near)
        labels[near[signed < 0]] = VEIN

    arteries = [
        (spec, artery, own[artery.name])
        for spec, own in zip(legs, lines, strict=True)
        for artery in spec.arteries
    ]
    for spec, artery, line in arteries:
        wall_mm = max((arc.thickness_mm for arc in artery.calcified_arcs), default=0.0)
        near, signed, normal, z, angle = _tube_distance(points, line, wall_mm)
        share = coverage(signed, normal)
        contrast = contrast_fraction(artery, z, spec.contrast_edge_mm)
        peak = hu.artery_arterial_distal + (
            hu.artery_arterial_proximal - hu.artery_arterial_distal
        ) * np.clip(z / spec.length_mm, 0.0, 1.0)
        blood = hu.unenhanced_blood
        paint(arterial, share, blood + contrast * (peak - blood), near)
        paint(venous, share, blood + contrast * (hu.artery_venous - blood), near)
        labels[near[(signed < 0) & (z >= artery.confirmed_z_mm)]] = ARTERY
        axis_mm = signed + line.radius_mm(z)  # distance from the axis
        for arc in artery.calcified_arcs:
            in_arc = (
                (z >= arc.z_from_mm)
                & (z <= arc.z_to_mm)
                & ((angle - arc.angle_from_deg) % 360.0 <= arc.angle_span_deg)
            )
            shell = np.clip(coverage(signed - arc.thickness_mm, normal) - share, 0.0, 1.0)
            shell *= _arc_coverage(arc, z, angle, axis_mm, normal, axes)
            paint(arterial, shell, hu.calcium, near)
            paint(venous, shell, hu.calcium, near)
            labels[near[in_arc & (signed >= 0) & (signed < arc.thickness_mm)]] = CALCIUM
    return arterial, venous, labels


def _implant_normal(implant, points: np.ndarray, step_mm: float = 0.05) -> np.ndarray:
    """Outward unit normals of an implant's surface near `points` (numerical gradient)."""
    gradient = np.stack(
        [
            implant.signed_distance_mm(points + step_mm * e)
            - implant.signed_distance_mm(points - step_mm * e)
            for e in np.eye(3)
        ],
        axis=1,
    )
    return gradient / np.maximum(np.linalg.norm(gradient, axis=1, keepdims=True), 1e-9)


def _metal_streaks(spec: LegSpec, points: np.ndarray) -> np.ndarray:
    """Streak artefacts of a leg's plates (HU, added to both phases): in each axial slice
    through a plate, a bright streak along the plate's width and a dark one across it,
    1.5 mm wide, fading over 40 mm from the plate's centre line, inside the leg."""
    streaks = np.zeros(len(points), np.float32)
    for plate in (i for i in spec.implants if i.kind == "plate"):
        centre = np.asarray(plate.centre_mm)
        reach_z = plate.half_extents_mm[2] + 2.0
        near = np.flatnonzero(np.abs(points[:, 2] - centre[2]) <= reach_z)
        offset = points[near, :2] - centre[:2]
        u = np.asarray(plate.axis_xy)
        along_u, along_v = offset @ u, offset @ np.array([-u[1], u[0]])
        fade = np.exp(-np.hypot(along_u, along_v) / 40.0)
        shape = np.exp(-((along_u / 1.5) ** 2)) - np.exp(-((along_v / 1.5) ** 2))
        inside = (
            _ellipse_distance(
                points[near] - np.array([spec.centre_x_mm, 0.0, 0.0]),
                np.asarray(spec.leg_semi_axes_mm) * spec.outline_scale(points[near, 2])[:, None],
            )
            < 0
        )
        streaks[near] += (spec.metal_streak_hu * fade * shape * inside).astype(np.float32)
    return streaks


def _arc_coverage(arc, z_mm, angle_deg, axis_mm, normal, axes) -> np.ndarray:
    """Share of each voxel (of points near an artery) inside a calcified arc's extent along
    the artery and around it: its ends are partial-volumed like any other surface, so that
    two grids image them alike (a cut at the voxel centre moved the end by up to half a
    voxel between the phases of a moved leg, which then disagreed about calcium there)."""
    along_width = np.maximum(np.abs(axes[2]).sum(), 1e-6)  # a voxel's extent along z
    along = np.clip(0.5 + (z_mm - arc.z_from_mm) / along_width, 0.0, 1.0)
    along *= np.clip(0.5 + (arc.z_to_mm - z_mm) / along_width, 0.0, 1.0)
    if arc.angle_span_deg >= 360.0:
        return along
    inside = (angle_deg - arc.angle_from_deg) % 360.0
    beyond = np.where(inside <= arc.angle_span_deg, 0.0, inside - arc.angle_span_deg)
    edge_deg = np.where(
        inside <= arc.angle_span_deg,
        np.minimum(inside, arc.angle_span_deg - inside),
        -np.minimum(beyond, 360.0 - inside),
    )
    # Around the artery, at the point's distance from its axis: degrees to mm, over a
    # voxel's extent along the tangent.
    tangent = np.stack([-normal[:, 1], normal[:, 0], np.zeros(len(normal))], axis=1)
    tangent_width = np.maximum(np.abs(tangent @ axes).sum(axis=1), 1e-6)
    return along * np.clip(0.5 + np.radians(edge_deg) * axis_mm / tangent_width, 0.0, 1.0)


def _ellipse_distance(points: np.ndarray, semi_axes: np.ndarray) -> np.ndarray:
    """First-order signed distance (mm) in the axial plane to ellipses of `semi_axes`
    (shape (2,), or (N, 2): one per point)."""
    semi_axes = np.broadcast_to(semi_axes, (len(points), 2))
    q = np.hypot(points[:, 0] / semi_axes[:, 0], points[:, 1] / semi_axes[:, 1])
    gradient = np.hypot(points[:, 0] / semi_axes[:, 0] ** 2, points[:, 1] / semi_axes[:, 1] ** 2)
    return (q - 1.0) * np.maximum(q, 1e-9) / np.maximum(gradient, 1e-9)


def _ellipse_normal(points: np.ndarray, semi_axes: np.ndarray) -> np.ndarray:
    """Outward unit normal (axial plane) of the ellipses' level sets at `points`."""
    return _radial_normal(points[:, :2] / semi_axes**2, np.zeros(2))


def _radial_normal(points: np.ndarray, centre_xy: np.ndarray) -> np.ndarray:
    """Unit vectors in the axial plane pointing away from an axis along z."""
    radial = points[:, :2] - centre_xy
    length = np.maximum(np.hypot(radial[:, 0], radial[:, 1]), 1e-9)
    return np.concatenate([radial / length[:, None], np.zeros((len(points), 1))], axis=1)


def _tube_distance(points: np.ndarray, line: AxisCurve, wall_mm: float):
    """Signed distance (mm) of points to a vessel's lumen surface, for points near it.

    Returns the indices of the points within reach of the tube (lumen radius
    plus `wall_mm` plus a voxel margin), and for those: signed distance to the
    lumen surface, outward unit normal, height of the closest centreline
    point, and the angle (deg, axial plane, from +x towards +y) around the axis.
    """
    margin_mm = 3.0 + wall_mm
    # Cheap first cut: the axial bounding box of the tube over the points' heights.
    z_course = np.arange(points[:, 2].min() - 1.0, points[:, 2].max() + 1.0, 0.5)
    course = line.xy_mm(z_course)
    pad = line.radius_mm(z_course).max() + margin_mm
    in_box = np.flatnonzero(
        np.all(
            (points[:, :2] > course.min(axis=0) - pad) & (points[:, :2] < course.max(axis=0) + pad),
            axis=1,
        )
    )
    z = points[in_box, 2]
    reach = line.radius_mm(z) + margin_mm
    offset_xy = points[in_box, :2] - line.xy_mm(z)
    near = in_box[np.einsum("ij,ij->i", offset_xy, offset_xy) < reach**2]
    near_points = points[near]
    closest = line.closest_z(near_points)
    offset = near_points - line.points_mm(closest)
    distance = np.linalg.norm(offset, axis=1)
    normal = offset / np.maximum(distance, 1e-9)[:, None]
    angle = np.degrees(np.arctan2(offset[:, 1], offset[:, 0])) % 360.0
    return near, distance - line.radius_mm(closest), normal, closest, angle
