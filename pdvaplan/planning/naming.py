"""Anatomical names of the crural vessels, where the geometry tells them.

Below the knee the tibia (large, anterior-medial) and the fibula (small,
lateral) give each level a frame of its own: the line joining their centres
is where the interosseous membrane runs. The anterior tibial artery runs in
front of it; behind it, the posterior tibial artery lies nearer the tibia and
the peroneal (fibular) artery nearer the fibula. Each artery has two paired
veins (venae comitantes) beside it, which take its name.

The bones are found slab by slab along the leg's long axis (the principal
axis of the bone voxels, so an oblique or tilted leg is fine): in each slab,
the connected components of the bone label projected onto the plane normal to
the axis; the tibia is a component at least `AnatomySettings.tibia_to_fibula_area`
times the area of a fibula beside it. Every artery point is compared with the
tibia and fibula of its own level and votes for a name; an artery takes the
name most of its points vote for. Medial and lateral come from where the
tibia and the fibula are, never from the sign of x, so a left leg is named
like a right one; anterior is the patient's anterior (-y in LPS), projected
onto the axial plane.

Names are given only below the knee: the tibia and fibula must run side by
side over a stretch of at least `AnatomySettings.min_crural_mm` of slabs (a
femur and patella, or a tibial plateau and the fibula's head seen in a knee
scan, do not make a lower leg); and when the top of that stretch lies inside
the volume (the knee is in view, bone goes on above it), its top
`AnatomySettings.knee_margin_mm` are left out, where the popliteal vessels
have not yet divided into the crural ones.

A vessel gets no name (None) where the geometry does not tell: no bone label,
only one bone at its levels, no lower leg at its levels, a course that fits
none of the names, a vote without a clear majority, or two arteries claiming
one name at the same levels with no clear winner.

Examples
--------
>>> from phantoms import make_phantom
>>> from pdvaplan.planning import map_vessels
>>> vessels = map_vessels(make_phantom("basic", spacing_mm=(1.5, 1.5, 2.0)).labels)
>>> name_vessels(vessels)["artery-3"]
'posterior tibial artery'
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from pdvaplan.centerlines import Centerline
from pdvaplan.filters import Components
from pdvaplan.io import Volume
from pdvaplan.labels import BONE
from pdvaplan.planning.vessels import VesselMap

ANTERIOR_TIBIAL = "anterior tibial"
POSTERIOR_TIBIAL = "posterior tibial"
PERONEAL = "peroneal"
#: The three crural arteries, in the order the names are tried.
ARTERY_STEMS = (ANTERIOR_TIBIAL, POSTERIOR_TIBIAL, PERONEAL)

#: At most this many bone voxels are used to find the leg's axis.
_AXIS_SAMPLE = 200_000
#: The leg's axis is taken to be within this angle (degrees) of the patient's
#: superior-inferior axis (physical z); beyond it, z is used.
_MAX_TILT_DEG = 45.0
#: Rounds of refining the axis along the tibia's centres.
_REFINEMENTS = 4


@dataclass(frozen=True)
class AnatomySettings:
    """Parameters of `name_vessels` (lengths in mm, areas in mm^2).

    Attributes
    ----------
    slab_mm : float
        Thickness of the slabs along the leg in which the bones are found.
    min_bone_area_mm2 : float
        Smaller bone components in a slab's cross-section are ignored.
    tibia_to_fibula_area : float
        The tibia's cross-section is at least this many times the fibula's.
    bone_distance_mm : tuple of float
        Range of the distance between tibia and fibula centres of one leg.
    anterior_max_mm : float
        A point less than this behind the tibia-fibula line (or in front of
        it) is anterior: the anterior tibial artery lies on the membrane.
    posterior_min_mm : float
        A point more than this behind the line is posterior (posterior
        tibial or peroneal); in between it votes for no name.
    side_margin_mm : float
        A posterior point is nearer the tibia (posterior tibial) or the
        fibula (peroneal) when its distance to one bone's surface is this
        much smaller than to the other's; in between it votes for no name.
    max_from_bone_mm : float
        Points farther than this from both bones' surfaces vote for no name.
    membrane_range : tuple of float
        Range of a point's position along the tibia-to-fibula line (0 at the
        tibia's centre, 1 at the fibula's) within which it can be named.
    min_vote_share : float
        Share of a vessel's judged points that must vote for its name.
    min_judged_mm : float
        A vessel needs at least this length of points with bones at their
        level to be named.
    conflict_overlap_mm : float
        Two arteries claiming one name conflict when their courses overlap by
        more than this along the leg.
    clear_winner_ratio : float
        In a conflict, the artery with the most votes keeps the name if it has
        at least this many times the votes of every other claimant.
    pairing_mm : float
        A vein runs alongside an artery when the median distance from its
        points to the artery (at the artery's levels) is at most this.
    min_pairing_overlap_mm : float
        ... and they share at least this length along the leg.
    min_crural_mm : float
        The tibia and fibula are taken to be found (a lower leg) only in runs of
        slabs holding a pair that are at least this long along the leg (a gap of
        one slab does not break a run); the knee's bones (femur and patella,
        tibial plateau and fibular head) span less.
    knee_margin_mm : float
        Where a run's top lies inside the volume (bone goes on above it: the
        knee is in view), its top this many mm are left out: the popliteal
        artery divides some 30-50 mm below the knee joint, so vessels there are
        popliteal, not crural.
    """

    slab_mm: float = 5.0
    min_bone_area_mm2: float = 20.0
    tibia_to_fibula_area: float = 1.5
    bone_distance_mm: tuple[float, float] = (15.0, 90.0)
    anterior_max_mm: float = 4.0
    posterior_min_mm: float = 6.0
    side_margin_mm: float = 2.0
    max_from_bone_mm: float = 40.0
    membrane_range: tuple[float, float] = (-0.5, 1.5)
    min_vote_share: float = 0.6
    min_judged_mm: float = 5.0
    conflict_overlap_mm: float = 10.0
    clear_winner_ratio: float = 2.0
    pairing_mm: float = 12.0
    min_pairing_overlap_mm: float = 10.0
    min_crural_mm: float = 60.0
    knee_margin_mm: float = 30.0


@dataclass(frozen=True)
class LegFrame:
    """The tibia and fibula of each slab along the leg.

    Attributes
    ----------
    axis : numpy.ndarray
        Unit vector along the leg (pointing superior), shape (3,).
    basis : numpy.ndarray
        Two unit vectors spanning the axial plane, shape (2, 3).
    slab_mm : float
        Slab thickness along `axis`.
    start_mm : float
        Height along `axis` where slab 0 begins.
    pairs : dict
        Per slab index, a list of tibia-fibula pairs ``(tibia_xy, fibula_xy,
        tibia_radius_mm, fibula_radius_mm)``, centres in `basis` coordinates.
    """

    axis: np.ndarray
    basis: np.ndarray
    slab_mm: float
    start_mm: float
    pairs: dict[int, list[tuple[np.ndarray, np.ndarray, float, float]]]


def name_vessels(
    vessels: VesselMap, settings: AnatomySettings | None = None
) -> dict[str, str | None]:
    """Anatomical names of a leg's arteries and veins, where the geometry tells.

    Parameters
    ----------
    vessels : VesselMap
        The mapped vessels; its label map must hold bone (label 4).
    settings : AnatomySettings, optional

    Returns
    -------
    dict
        Per centreline id, ``"anterior tibial artery"``, ``"posterior tibial
        artery"``, ``"peroneal artery"``, ``"anterior tibial vein"``,
        ``"posterior tibial vein"``, ``"peroneal vein"``, or None.
    """
    return name_centerlines(vessels.labels, vessels.arteries, vessels.veins, settings)


def name_centerlines(
    labels: Volume,
    arteries: tuple[Centerline, ...] | list[Centerline],
    veins: tuple[Centerline, ...] | list[Centerline],
    settings: AnatomySettings | None = None,
) -> dict[str, str | None]:
    """`name_vessels` for centrelines and a label map given separately.

    Parameters
    ----------
    labels : Volume
        Label map with bone as 4 (other labels are ignored).
    arteries, veins : sequence of Centerline
        Centrelines in the label map's physical frame (mm, LPS).
    settings : AnatomySettings, optional

    Returns
    -------
    dict
        Per centreline id, its name or None (see `name_vessels`).
    """
    settings = settings or AnatomySettings()
    names: dict[str, str | None] = {line.id: None for line in (*arteries, *veins)}
    frame = leg_frame(labels, settings)
    if frame is None:
        return names
    stems = _artery_stems(frame, list(arteries), settings)
    for line in arteries:
        names[line.id] = None if stems[line.id] is None else f"{stems[line.id]} artery"
    for line in veins:
        stem = _vein_stem(frame, line, list(arteries), stems, settings)
        names[line.id] = None if stem is None else f"{stem} vein"
    return names


def leg_frame(labels: Volume, settings: AnatomySettings | None = None) -> LegFrame | None:
    """The leg's axis and the tibia and fibula of each slab along it.

    Parameters
    ----------
    labels : Volume
        Label map with bone as 4.
    settings : AnatomySettings, optional

    Returns
    -------
    LegFrame or None
        None when the label map holds no bone, or no slab holds a tibia and
        a fibula.
    """
    settings = settings or AnatomySettings()
    bone_mm = labels.index_to_physical(np.argwhere(labels.array == BONE))
    if len(bone_mm) < 2:
        return None
    axis = _principal_axis(bone_mm)
    if axis is None:
        axis = np.array([0.0, 0.0, 1.0])
    frame = _slab_pairs(bone_mm, axis, labels.spacing_mm, settings)
    # Refine the axis along the tibia centres of a single leg (one pair per slab):
    # slabs across a tilted leg cut its bones obliquely, so repeat a few times.
    for _ in range(_REFINEMENTS):
        pairs = list(frame.pairs.items())
        if len(pairs) < 3 or any(len(found) != 1 for _, found in pairs):
            break
        tibias = np.array([_centre_3d(frame, n, found[0][0]) for n, found in pairs])
        refined = _principal_axis(tibias, min_ratio=25.0)
        if refined is None or abs(refined @ frame.axis) > np.cos(np.radians(0.5)):
            break
        frame = _slab_pairs(bone_mm, refined, labels.spacing_mm, settings)
    frame = _below_the_knee(frame, bone_mm, settings)
    return frame if frame.pairs else None


def _below_the_knee(frame: LegFrame, bone_mm: np.ndarray, settings: AnatomySettings) -> LegFrame:
    """The frame's slabs that lie in a lower leg (see `AnatomySettings.min_crural_mm`
    and `AnatomySettings.knee_margin_mm`); the others lose their pairs."""
    slabs = sorted(frame.pairs)
    runs: list[list[int]] = []
    for n in slabs:
        if runs and n - runs[-1][-1] <= 2:
            runs[-1].append(n)
        else:
            runs.append([n])
    top_bone_slab = int(
        np.floor((float((bone_mm @ frame.axis).max()) - frame.start_mm) / frame.slab_mm)
    )
    keep: dict[int, list] = {}
    for run in runs:
        if (run[-1] - run[0] + 1) * frame.slab_mm < settings.min_crural_mm:
            continue
        top = run[-1]
        if top_bone_slab > top + 1:  # bone goes on above the lower leg: the knee is in view
            top -= int(np.ceil(settings.knee_margin_mm / frame.slab_mm))
        keep.update({n: frame.pairs[n] for n in run if n <= top})
    return LegFrame(frame.axis, frame.basis, frame.slab_mm, frame.start_mm, keep)


def _principal_axis(points_mm: np.ndarray, min_ratio: float = 4.0) -> np.ndarray | None:
    """The long axis of a point cloud, pointing superior.

    None when the cloud is not clearly elongated (its largest variance less
    than `min_ratio` times the next) or its long axis is more than
    `_MAX_TILT_DEG` from the patient's superior-inferior axis (then it is not
    the leg: a short stack of bone slices is widest across, tibia to fibula).
    """
    step = max(1, len(points_mm) // _AXIS_SAMPLE)
    sample = points_mm[::step]
    centred = sample - sample.mean(axis=0)
    values, vectors = np.linalg.eigh(centred.T @ centred / len(sample))
    axis = vectors[:, -1]
    if values[-1] < min_ratio * max(values[-2], 1e-9):
        return None
    if abs(axis[2]) < np.cos(np.radians(_MAX_TILT_DEG)):
        return None
    return axis if axis[2] >= 0 else -axis


def _plane_basis(axis: np.ndarray) -> np.ndarray:
    """Two unit vectors normal to `axis` and to each other."""
    helper = np.eye(3)[np.argmin(np.abs(axis))]
    first = np.cross(axis, helper)
    first /= np.linalg.norm(first)
    return np.stack([first, np.cross(axis, first)])


def _slab_pairs(
    bone_mm: np.ndarray, axis: np.ndarray, spacing_mm: np.ndarray, settings: AnatomySettings
) -> LegFrame:
    """Tibia-fibula pairs of each slab along `axis`."""
    basis = _plane_basis(axis)
    height = bone_mm @ axis
    start = float(height.min())
    slab = max(settings.slab_mm, 2.0 * float(spacing_mm.max()))
    pixel = float(spacing_mm.max())
    index = np.floor((height - start) / slab).astype(int)
    order = np.argsort(index, kind="stable")
    bounds = np.searchsorted(index[order], np.arange(index.max() + 2))
    pairs = {}
    for n in range(index.max() + 1):
        chosen = order[bounds[n] : bounds[n + 1]]
        if len(chosen) == 0:
            continue
        found = _slab_bones(bone_mm[chosen] @ basis.T, pixel, settings)
        if found:
            pairs[n] = found
    return LegFrame(axis, basis, slab, start, pairs)


def _slab_bones(
    xy_mm: np.ndarray, pixel_mm: float, settings: AnatomySettings
) -> list[tuple[np.ndarray, np.ndarray, float, float]]:
    """Tibia-fibula pairs among the bone components of one slab's cross-section."""
    lower = xy_mm.min(axis=0) - 2 * pixel_mm
    cell = np.floor((xy_mm - lower) / pixel_mm).astype(int)
    raster = np.zeros(cell.max(axis=0) + 3, bool)
    raster[cell[:, 0], cell[:, 1]] = True
    raster = ndimage.binary_closing(raster, np.ones((3, 3)))
    raster = ndimage.binary_fill_holes(raster)  # marrow labelled as something else
    parts = Components(raster, connectivity=2)
    components, count = parts.labels(), parts.count
    if count < 2:
        return []
    area = np.bincount(components.ravel(), minlength=count + 1)[1:] * pixel_mm**2
    centres = np.asarray(ndimage.center_of_mass(raster, components, np.arange(1, count + 1)))
    centres = lower + (centres + 0.5) * pixel_mm
    bones = [n for n in np.argsort(-area) if area[n] >= settings.min_bone_area_mm2]
    used, pairs = set(), []
    near, far = settings.bone_distance_mm
    for tibia in bones:
        if tibia in used:
            continue
        fibulas = [
            f
            for f in bones
            if f not in used
            and f != tibia
            and area[tibia] >= settings.tibia_to_fibula_area * area[f]
            and near <= np.linalg.norm(centres[f] - centres[tibia]) <= far
        ]
        if not fibulas:
            continue
        fibula = fibulas[0]  # the largest
        used.update((tibia, fibula))
        pairs.append(
            (
                centres[tibia],
                centres[fibula],
                float(np.sqrt(area[tibia] / np.pi)),
                float(np.sqrt(area[fibula] / np.pi)),
            )
        )
    return pairs


def _centre_3d(frame: LegFrame, slab: int, xy_mm: np.ndarray) -> np.ndarray:
    """A slab's cross-section point (basis coordinates) in 3D, at the slab's middle."""
    height = frame.start_mm + (slab + 0.5) * frame.slab_mm
    return xy_mm @ frame.basis + height * frame.axis


def point_votes(
    frame: LegFrame, points_mm: np.ndarray, settings: AnatomySettings
) -> list[str | None]:
    """What each point's position tells, relative to the bones at its own level.

    Returns, per point, an artery stem (`ARTERY_STEMS`), ``""`` where the bones
    are there but the position fits no name, or None where there are no bones
    at that level (the point is not judged).
    """
    heights = points_mm @ frame.axis
    slabs = np.floor((heights - frame.start_mm) / frame.slab_mm).astype(int)
    xys = points_mm @ frame.basis.T
    posterior = frame.basis @ np.array([0.0, 1.0, 0.0])  # +y (LPS) in the axial plane
    low, high = settings.membrane_range
    votes: list[str | None] = []
    for slab, xy in zip(slabs, xys, strict=True):
        pairs = frame.pairs.get(slab) or frame.pairs.get(slab - 1) or frame.pairs.get(slab + 1)
        if not pairs:
            votes.append(None)
            continue
        tibia, fibula, tibia_r, fibula_r = min(
            pairs, key=lambda p: np.linalg.norm(xy - 0.5 * (p[0] + p[1]))
        )
        across = fibula - tibia
        separation = np.linalg.norm(across)
        lateral = across / separation
        back = posterior - (posterior @ lateral) * lateral
        if np.linalg.norm(back) < 0.3:  # bones lined up front to back: no frame
            votes.append("")
            continue
        back /= np.linalg.norm(back)
        offset = xy - tibia
        along = offset @ lateral / separation
        behind = offset @ back
        to_tibia = np.linalg.norm(offset) - tibia_r
        to_fibula = np.linalg.norm(xy - fibula) - fibula_r
        if not low <= along <= high or min(to_tibia, to_fibula) > settings.max_from_bone_mm:
            votes.append("")
        elif behind < settings.anterior_max_mm:
            votes.append(ANTERIOR_TIBIAL)
        elif behind <= settings.posterior_min_mm:
            votes.append("")
        elif to_tibia < to_fibula - settings.side_margin_mm:
            votes.append(POSTERIOR_TIBIAL)
        elif to_fibula < to_tibia - settings.side_margin_mm:
            votes.append(PERONEAL)
        else:
            votes.append("")
    return votes


def _vote(frame: LegFrame, line: Centerline, settings: AnatomySettings) -> tuple[str | None, float]:
    """The stem most of a centreline's judged points vote for, and its votes (mm)."""
    votes = point_votes(frame, line.points_mm, settings)
    weights = _point_lengths_mm(line)
    tally: Counter[str] = Counter()
    for vote, weight in zip(votes, weights, strict=True):
        if vote is not None:
            tally[vote] += weight
    judged = sum(tally.values())
    if judged < settings.min_judged_mm or judged <= 0:
        return None, 0.0
    stem, count = tally.most_common(1)[0]
    if stem == "" or count < settings.min_vote_share * judged:
        return None, 0.0
    return stem, count


def _point_lengths_mm(line: Centerline) -> np.ndarray:
    """The length of centreline each point stands for (half its two segments)."""
    if len(line.points_mm) < 2:
        return np.ones(len(line.points_mm))
    segments = np.diff(line.arc_mm)
    return 0.5 * (np.concatenate([[0.0], segments]) + np.concatenate([segments, [0.0]]))


def _span_mm(frame: LegFrame, line: Centerline) -> tuple[float, float]:
    heights = line.points_mm @ frame.axis
    return float(heights.min()), float(heights.max())


def _artery_stems(
    frame: LegFrame, arteries: list[Centerline], settings: AnatomySettings
) -> dict[str, str | None]:
    """Each artery's stem; claimants of one stem at the same levels need a clear winner."""
    voted = {line.id: _vote(frame, line, settings) for line in arteries}
    spans = {line.id: _span_mm(frame, line) for line in arteries}
    stems = {line_id: stem for line_id, (stem, _) in voted.items()}
    for stem in ARTERY_STEMS:
        claimants = [i for i, (s, _) in voted.items() if s == stem]
        for line_id in claimants:
            rivals = [
                other
                for other in claimants
                if other != line_id
                and min(spans[line_id][1], spans[other][1])
                - max(spans[line_id][0], spans[other][0])
                > settings.conflict_overlap_mm
            ]
            strength = voted[line_id][1]
            if any(strength < settings.clear_winner_ratio * voted[r][1] for r in rivals):
                stems[line_id] = None
    return stems


def _vein_stem(
    frame: LegFrame,
    vein: Centerline,
    arteries: list[Centerline],
    stems: dict[str, str | None],
    settings: AnatomySettings,
) -> str | None:
    """The stem of the artery a vein runs alongside; its own position's when none does."""
    heights = vein.points_mm @ frame.axis
    lengths = _point_lengths_mm(vein)
    best, best_distance = None, np.inf
    for artery in arteries:
        low, high = _span_mm(frame, artery)
        beside = (heights >= low) & (heights <= high)
        if lengths[beside].sum() < settings.min_pairing_overlap_mm:
            continue
        distance, _ = cKDTree(artery.points_mm).query(vein.points_mm[beside])
        median = float(np.median(distance))
        if median < best_distance:
            best, best_distance = artery, median
    if best is not None and best_distance <= settings.pairing_mm:
        return stems[best.id]
    stem, _ = _vote(frame, vein, settings)
    return stem
