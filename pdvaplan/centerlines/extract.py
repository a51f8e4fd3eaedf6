"""Binary vessel mask -> one polyline in mm with radii per vessel segment.

1. Connected components of the mask (26-connectivity); each is cropped with a
   margin so that everything after works on small arrays.
2. Topology from the voxel skeleton (`skeleton_branches`): one branch per
   segment between junctions and ends, spurs pruned; the branches are joined
   into vessels (`vessel_paths`): a trunk runs from its highest free end to
   its distal end through junctions, valves (short narrowings) and contacts
   with a neighbouring vessel, and side branches are lines of their own.
3. Each vessel, in mm, is resampled every `step_mm`, smoothed, and moved to
   the centroid of the lumen in the plane normal to it, a few times over
   (`measure_sections`); radii are equal-area radii of those sections.
4. Free ends are followed along their tangent, from the last points whose
   sections could be measured, to where the lumen ends (the lumen fraction
   and the mask both fall below one half: where a given fraction fades before
   the segmented lumen ends, as in an artery that fills late, the mask decides)
   or the volume does, so a vessel is covered up to the volume border, and an
   artery's distal end marks where its contrast (patency) stops.

The lumen fraction (1 inside, 0 outside) is either given (e.g. intensities
normalised by the segmentation's contrast levels, which carry partial volume)
or made from the mask by a slight blur. A given fraction counts only within
`lumen_reach_mm` (or a voxel) of the vessel's mask: farther out it belongs
to what lies next to the vessel (bone, its paired vessel), and centroids
pulled towards that moved centrelines by up to 0.8 mm.

Points are smoothed along the vessel with a Gaussian of `smoothing_mm` (2 mm)
between rounds. Each section's centroid carries the grid's sampling of the
lumen wall, which differs from one grid to the next; the smoothing averages it
over several mm of vessel (what is left, one leg on random grids:
`benchmarks/frames.py`). Wider smoothing costs accuracy on bends: a bend of
radius R is drawn inward by about sigma^2 / (2 R), 0.1 mm for R = 20 mm.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from pdvaplan.boxes import bounding_box
from pdvaplan.centerlines.cross_section import measure_sections
from pdvaplan.centerlines.polyline import (
    END_CHORD_MM,
    arc_length_mm,
    end_probes_mm,
    point_at_arc,
    resample,
    smooth,
)
from pdvaplan.centerlines.skeleton import skeleton_branches, vessel_paths
from pdvaplan.errors import PdvaplanInputError
from pdvaplan.filters import Components, inside_distance_mm, smooth_mm
from pdvaplan.io import Volume

#: How far (mm) a free end is followed beyond the last points whose sections were
#: measured, besides the stretch of unmeasured points dropped there (up to a section's
#: half width: 19 mm for a 26 mm aorta, which a fixed 15 mm left short of the border).
_FOLLOW_MM = 15.0
#: How a centreline ends.
END_BORDER, END_LUMEN, END_JUNCTION = "border", "lumen-end", "junction"


@dataclass(frozen=True)
class Centerline:
    """A vessel segment's axis in mm (LPS) with a lumen radius per point.

    Points run from proximal (the end with the higher z) to distal.
    ``proximal_end`` and ``distal_end`` say how each end came about:
    ``"border"`` (the vessel leaves the volume), ``"lumen-end"`` (its lumen
    stops inside the volume: for an artery in the arterial phase, where its
    contrast stops) or ``"junction"``. ``kind`` is ``"trunk"`` (a vessel from
    its highest end to its distal end, through junctions and narrowings) or
    ``"branch"`` (a side branch that leaves a trunk, see `vessel_paths`).
    """

    id: str
    points_mm: np.ndarray
    radii_mm: np.ndarray
    proximal_end: str
    distal_end: str
    kind: str = "trunk"
    arc_mm: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "arc_mm", arc_length_mm(self.points_mm))

    @property
    def length_mm(self) -> float:
        """Length along the polyline."""
        return float(self.arc_mm[-1])


@dataclass(frozen=True)
class CenterlineSettings:
    """Parameters of `extract_centerlines` (all lengths in mm)."""

    step_mm: float = 0.5  # spacing of the output points
    smoothing_mm: float = 2.0  # Gaussian sigma along the vessel (module notes)
    iterations: int = 2  # rounds of cross-section centring on the skeleton
    final_iterations: int = 1  # rounds once the ends have been followed
    pixel_mm: float = 0.25  # sampling step in the cross-section planes ...
    centring_pixel_mm: float = 0.5  # ... and in the first rounds, on the skeleton
    centring_floor: float = 0.5  # centroids weigh a given lumen fraction above this
    pixels_per_radius: float = 16.0  # wider vessels get coarser pixels, this many per radius
    mask_blur_mm: float = 0.3  # blur that turns a mask into a lumen fraction
    skirt_mm: float | None = None  # lumen fraction spread beyond the half level
    lumen_reach_mm: float = 1.0  # lumen fraction farther from the mask (and a voxel) is ignored
    min_length_mm: float = 5.0  # shorter isolated pieces are dropped
    min_spur_mm: float = 3.0
    radius_window_mm: float = 2.0  # running median of the radii


def lumen_fraction_from_mask(mask: Volume, blur_mm: float) -> Volume:
    """A mask as a lumen fraction: 1 inside, 0 outside, blurred by `blur_mm` (sigma).

    The blur is computed in the mask's bounding box widened by the filter's
    reach (4 sigma); beyond it the fraction is 0.
    """
    fraction = mask.array.astype(np.float32)
    sigma = blur_mm / mask.spacing_mm
    box = bounding_box(mask.array, np.ceil(4.0 * sigma).astype(int) + 1)
    if blur_mm <= 0 or box is None:
        return mask.with_array(fraction)
    fraction[box] = smooth_mm(fraction[box], mask.spacing_mm, blur_mm, truncate=4.0)
    return mask.with_array(fraction)


def extract_centerlines(
    mask: Volume,
    lumen: Volume | None = None,
    settings: CenterlineSettings | None = None,
    prefix: str = "vessel",
) -> list[Centerline]:
    """Centrelines with radii of every vessel segment of a binary mask.

    Parameters
    ----------
    mask : Volume
        Nonzero voxels are vessel lumen.
    lumen : Volume, optional
        Lumen fraction in [0, 1] on the mask's grid or a crop of it (covering
        the vessels), e.g. normalised contrast; made from the mask when not
        given.
    settings : CenterlineSettings, optional
        Step, smoothing and the like.
    prefix : str
        Ids are ``f"{prefix}-{n}"``, numbered from 1 by the position of the
        proximal end (highest first, then by x and y), so they do not depend
        on the grid the vessels were imaged on.

    Returns
    -------
    list of Centerline

    Raises
    ------
    PdvaplanInputError
        If the mask is empty.

    Examples
    --------
    >>> import numpy as np
    >>> from pdvaplan.io import Volume
    >>> z, y, x = np.meshgrid(*(np.arange(n) for n in (40, 21, 21)), indexing="ij")
    >>> tube = ((x - 10) ** 2 + (y - 10) ** 2 <= 16).transpose(2, 1, 0)  # radius 4 voxels
    >>> mask = Volume(tube, np.array([0.5, 0.5, 0.5]), np.zeros(3), np.eye(3))
    >>> (line,) = extract_centerlines(mask)
    >>> round(line.length_mm, 1), round(float(np.median(line.radii_mm)), 1)
    (19.9, 2.0)
    """
    settings = settings or CenterlineSettings()
    binary = mask.array != 0
    if not binary.any():
        raise PdvaplanInputError(f"{mask.source}: mask is empty")
    if binary.mean() > 0.5:
        raise PdvaplanInputError(
            f"{mask.source}: {binary.mean():.0%} of the voxels are nonzero; expected a vessel "
            "mask (nonzero = lumen), not an image or level set"
        )
    spacing = mask.spacing_mm
    skirt_mm = settings.skirt_mm
    if skirt_mm is None:
        skirt_mm = 2.5 * settings.mask_blur_mm + spacing.max()
    # A measured lumen fraction carries noise, a neighbour's partial volume and a skirt cut
    # short by the reach around the mask below one half, which centroids ignore. One made
    # from the mask has only its own symmetric blur there, and near free ends the whole
    # fraction holds the line on the axis better.
    floor = settings.centring_floor if lumen is not None else 0.0
    # Components are labelled in the mask's bounding box: labelling costs in
    # proportion to the array, and vessels fill a small part of a leg's volume.
    whole_box = bounding_box(binary)
    parts = Components(binary[whole_box], connectivity=3)
    corner = np.array([s.start for s in whole_box])
    found = []
    for voxels, box_low, box_high in zip(parts.members(), *parts.boxes(), strict=True):
        start, stop = corner + box_low, corner + box_high
        extent_mm = (stop - start).max() * spacing.max()
        margin = np.ceil(min(extent_mm, 12.0) / spacing).astype(int) + 2
        lower, upper = np.maximum(start - margin, 0), np.minimum(stop + margin, mask.shape)
        own_array = parts.in_box(voxels, lower - corner, upper - corner)
        own = mask.crop(lower, upper).with_array(own_array)
        own_lumen = (
            lumen_fraction_from_mask(own, settings.mask_blur_mm)
            if lumen is None
            else _lumen_near(lumen.crop_to(own), own, max(settings.lumen_reach_mm, spacing.max()))
        )
        depth = inside_distance_mm(own.array, spacing)
        branches = skeleton_branches(own.array, spacing, settings.min_spur_mm, depth=depth)
        for branch, kind in vessel_paths(branches, spacing, depth, mask.direction[2]):
            line = _fit_branch(branch, own, own_lumen, depth, mask, settings, skirt_mm, floor)
            if line is None:
                continue
            line = (*line, kind)
            free = branch.start_junction < 0 and branch.end_junction < 0
            # Isolated specks go, and so do branches that shrink to nothing between
            # two junctions of one tangle (they would be zero-length vessels).
            shortest_mm = settings.min_length_mm if free else settings.step_mm
            if arc_length_mm(line[0])[-1] >= shortest_mm:
                found.append(line)
    if not found:
        return []
    # Each line's point 5 mm from its proximal end: steadier than the end itself.
    order = stable_order(np.array([point_at_arc(f[0], arc_length_mm(f[0]), 5.0) for f in found]))
    return [Centerline(f"{prefix}-{n}", *found[i]) for n, i in enumerate(order, start=1)]


def _lumen_near(lumen: Volume, own: Volume, reach_mm: float) -> Volume:
    """`lumen` within `reach_mm` of the vessel's mask `own`, 0 farther out.

    The fraction just outside the mask is the partial volume of the vessel's
    own edge; farther out it belongs to whatever lies next to the vessel
    (bone, a paired vessel), and would pull the sections' centroids towards it.
    """
    near = own.with_array(inside_distance_mm(~own.array, own.spacing_mm) <= reach_mm).crop_to(lumen)
    return lumen.with_array(np.where(near.array, lumen.array, 0.0).astype(np.float32))


def stable_order(reference_mm: np.ndarray, tie_mm: tuple[float, float] = (2.0, 1.0)) -> np.ndarray:
    """Order of polylines by a reference point each: highest first, then by x, then by y.

    Coordinates that differ by less than a tie (`tie_mm`: height, then x),
    chained, count as equal, so the order does not depend on sub-millimetre
    differences between grids (vessels that all leave the volume at its top
    border do so at heights that depend on the grid).

    Examples
    --------
    >>> stable_order(np.array([[5.0, 0, 99.6], [-3.0, 0, 100.0], [0.0, 0, 50.0]])).tolist()
    [1, 0, 2]
    >>> stable_order(np.array([[-21.2, 10.8, 90.0], [-20.9, -12.4, 90.0]])).tolist()
    [1, 0]
    """
    height = _tie_groups(-reference_mm[:, 2], tie_mm[0])
    across = _tie_groups(reference_mm[:, 0], tie_mm[1])
    return np.lexsort((reference_mm[:, 1], across, height))


def _tie_groups(values: np.ndarray, tie: float) -> np.ndarray:
    """Rank of each value's group, where sorted neighbours closer than `tie` share a group."""
    order = np.argsort(values, kind="stable")
    group = np.concatenate([[0], np.cumsum(np.diff(values[order]) > tie)])
    ranks = np.empty(len(values), dtype=np.int64)
    ranks[order] = group
    return ranks


def _fit_branch(
    branch,
    own: Volume,
    lumen: Volume,
    depth_mm,
    whole: Volume,
    settings: CenterlineSettings,
    skirt_mm: float,
    centring_floor: float,
):
    """Sub-voxel points, radii and end kinds of one skeleton branch, proximal first."""
    step = settings.step_mm
    index = branch.index
    if len(index) < 2:
        return None
    start_pinned, end_pinned = branch.start_junction >= 0, branch.end_junction >= 0
    depth = depth_mm[tuple(np.rint(index).astype(int).T)]
    points, depth = resample(own.index_to_physical(index), step, depth)
    widest_mm = float(depth.max())
    half_width = widest_mm * 1.3 + skirt_mm + 1.0
    # Sections of wide vessels (an aorta) need no finer pixels than narrow ones do.
    coarser = max(1.0, widest_mm / (settings.pixels_per_radius * settings.pixel_mm))
    pixel_mm, centring_pixel_mm = settings.pixel_mm * coarser, settings.centring_pixel_mm * coarser
    points = smooth(points, settings.smoothing_mm, step, start_pinned, end_pinned)
    radii = np.full(len(points), np.nan)
    for _ in range(settings.iterations):
        sections = measure_sections(
            lumen, points, half_width, centring_pixel_mm, skirt_mm, centring_floor
        )
        points, radii = resample(sections.points_mm, step, sections.radii_mm)
        points = smooth(points, settings.smoothing_mm, step, start_pinned, end_pinned)
    # Free ends are followed from the last measured points: where the volume's
    # border cuts the sections, the skeleton's points bend towards the border.
    points = points[_measured_span(radii, start_pinned, end_pinned, round(half_width / step))]
    ends = [END_JUNCTION if start_pinned else None, END_JUNCTION if end_pinned else None]
    # The shortest chord that gives a free end's direction; a wider vessel's chord is its
    # lumen radius (its skeleton wanders more near its end).
    chord_mm = max(END_CHORD_MM, widest_mm)
    reach_mm = _FOLLOW_MM + half_width
    if not start_pinned:
        points, ends[0] = _follow_end(points[::-1], lumen, own, whole, step, chord_mm, reach_mm)
        points = points[::-1]
    if not end_pinned:
        points, ends[1] = _follow_end(points, lumen, own, whole, step, chord_mm, reach_mm)
    if len(points) < 2:
        return None
    points = resample(points, step)
    for _ in range(settings.final_iterations):  # centre the stretches the ends were followed along
        final = measure_sections(lumen, points, half_width, pixel_mm, skirt_mm, centring_floor)
        points = smooth(final.points_mm, settings.smoothing_mm, step, start_pinned, end_pinned)
    radii = _fill_and_filter(final.radii_mm, points, own, depth_mm, settings, step)
    points, radii = resample(points, step, radii)
    if points[0, 2] < points[-1, 2]:
        return points[::-1], radii[::-1], ends[1], ends[0]
    return points, radii, ends[0], ends[1]


def _measured_span(radii: np.ndarray, start_pinned: bool, end_pinned: bool, most: int) -> slice:
    """The points without the unmeasured ones (NaN radius) at each free end, at most
    `most` of them there; all points if fewer than two were measured."""
    measured = np.flatnonzero(np.isfinite(radii))
    if measured.size < 2:
        return slice(None)
    first = 0 if start_pinned else min(measured[0], most)
    last = len(radii) - 1 if end_pinned else max(measured[-1], len(radii) - 1 - most)
    return slice(first, last + 1)


def _follow_end(
    points: np.ndarray,
    lumen: Volume,
    own: Volume,
    whole: Volume,
    step: float,
    chord_mm: float,
    reach_mm: float,
):
    """Move the last point of `points` along the vessel to where the lumen or volume ends.

    Samples the lumen fraction and the vessel's mask `own` on the axis line
    through the last point, from a little before it to `reach_mm` beyond, and stops
    where both first fall below one half. Returns the polyline (cut or
    extended) and how the end came about.
    """
    # The chord over the last few mm: a skeleton's last voxels may hook sideways
    # where the lumen ends in a blob, and the last segment would follow the hook.
    back = min(len(points) - 1, max(1, round(chord_mm / step)))
    chord = points[-1] - points[-1 - back]
    direction = chord / max(float(np.linalg.norm(chord)), 1e-12)
    s = np.arange(-min(5.0, arc_length_mm(points)[-1]), reach_mm, 0.1)
    line = points[-1] + s[:, None] * direction
    inside = whole.contains(line)
    value, in_mask = (
        ndimage.map_coordinates(
            v.array.astype(np.float32, copy=False),
            v.physical_to_index(line).T,
            order=1,
            mode="nearest",
        )
        for v in (lumen, own)
    )
    outside = ((value < 0.5) & (in_mask < 0.5)) | ~inside
    at_end = int(np.argmin(np.abs(s)))
    if not outside[at_end]:
        ahead = np.flatnonzero(outside[at_end:])
        stop = s[at_end + ahead[0] - 1] if ahead.size else s[-1]
    else:  # the end point already lies beyond the lumen: step back to its edge
        behind = np.flatnonzero(~outside[:at_end])
        stop = s[behind[-1]] if behind.size else 0.0
    end_point = points[-1] + stop * direction
    end_kind = END_BORDER if _at_border(end_point, direction, whole) else END_LUMEN
    # Cut only the tail that lies beyond the new end, never an earlier stretch.
    beyond = (points - points[-1]) @ direction > stop
    kept = points[: len(points) - _trailing_count(beyond)]
    extension = points[-1] + np.arange(step, stop + 1e-9, step)[:, None] * direction
    new_points = np.vstack([kept, extension, end_point[None]])
    return new_points, end_kind


def _trailing_count(flags: np.ndarray) -> int:
    """How many of the last entries of a boolean array are all True."""
    false = np.flatnonzero(~flags)
    return len(flags) - 1 - int(false[-1]) if false.size else len(flags)


def _at_border(end_mm: np.ndarray, direction: np.ndarray, whole: Volume) -> bool:
    """Whether a vessel end touches the volume's border: some point just ahead of
    it, or around it within two voxels, lies outside the volume."""
    probes = end_probes_mm(end_mm, direction, 2.0 * whole.spacing_mm.max())
    return not bool(np.all(whole.contains(probes)))


def _fill_and_filter(radii, points, own: Volume, depth_mm, settings, step) -> np.ndarray:
    """Radii where sections failed from their reliable neighbours (or the distance
    map), then a running median along the vessel."""
    reliable = np.isfinite(radii)
    if reliable.any():
        arc = arc_length_mm(points)
        radii = np.interp(arc, arc[reliable], radii[reliable])
    else:
        index = np.clip(
            np.rint(own.physical_to_index(points)).astype(int), 0, np.array(own.shape) - 1
        )
        radii = depth_mm[tuple(index.T)].astype(np.float64)
    window = max(1, round(settings.radius_window_mm / step) | 1)
    return ndimage.median_filter(radii, size=window, mode="nearest")
