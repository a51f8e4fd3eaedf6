"""A label map -> the arteries and veins a plan works on, with their calcified wall.

Arteries are the centrelines of the patent artery lumen (label 1), so every
point on them is patent and each one's distal ``lumen-end`` is where its
contrast, and so its patency, stops. Veins are the centrelines of label 2.
Calcified wall is label 3 where it touches the artery lumen; each such voxel
is projected onto the nearest artery centreline to give the stretch (mm along
the artery) where its wall is calcified, so that the calcium margin can be
measured along the vessel. A voxel's stretch is its projection's arc position
widened by half the voxel's extent along the vessel: calcium fills the voxel,
not just its centre, and slices of 1.5 mm would otherwise shorten a calcified
stretch by up to 0.75 mm at each end. Where an artery's contrast stops (its
distal ``lumen-end``), its wall runs on along the occluded stretch: calcium
on that line just beyond the end (within `BEYOND_END_MM`) is its calcified
wall too, at its arc position past the end, so that a site just above an
occlusion whose stump is calcified keeps the margin from it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from pdvaplan.centerlines import END_LUMEN, Centerline, CenterlineSettings, extract_centerlines
from pdvaplan.centerlines.cross_section import tangents
from pdvaplan.centerlines.polyline import end_direction
from pdvaplan.errors import PdvaplanInputError
from pdvaplan.filters import Components
from pdvaplan.io import Volume
from pdvaplan.labels import ARTERY, CALCIUM, METAL, VEIN

#: Calcium farther than this beyond an artery's lumen radius belongs to no artery.
_CALCIUM_REACH_MM = 2.0
#: How far (mm) past an artery's lumen-end its occluded stretch is taken to run on
#: along the lumen's last direction (twice the contract's calcium margin).
BEYOND_END_MM = 10.0


def vessel_title(vessel_id: str, name: str | None, article: bool = False) -> str:
    """How every text (warnings, summary, report) names a vessel.

    Its anatomical name with its id, or the id alone where the anatomy gave no
    name; `article` puts "the" before a name, for use inside a sentence.

    Examples
    --------
    >>> vessel_title("artery-3", "posterior tibial artery")
    'posterior tibial artery (artery-3)'
    >>> vessel_title("artery-3", "posterior tibial artery", article=True)
    'the posterior tibial artery (artery-3)'
    >>> vessel_title("vein-6", None, article=True)
    'vein-6'
    """
    if not name:
        return vessel_id
    return f"{'the ' if article else ''}{name} ({vessel_id})"


@dataclass(frozen=True)
class VesselMap:
    """The vessels of one leg, ready for the crossing search.

    Attributes
    ----------
    labels : Volume
        The label map (contract values).
    arteries, veins : tuple of Centerline
        Ids ``artery-n`` and ``vein-n``.
    calcified_stretches_mm : dict
        Per artery id, (n, 2) arc stretches (mm from its proximal end, from and
        to) of calcified wall, one per calcium voxel touching its lumen or
        lying on its occluded course just beyond its lumen-end.
    artery_components : Volume
        Connected components of the artery lumen (0 outside), so a needle can
        tell its own artery from another one.
    component_of : dict
        Per artery id, its component number in `artery_components`.
    """

    labels: Volume
    arteries: tuple[Centerline, ...]
    veins: tuple[Centerline, ...]
    calcified_stretches_mm: dict[str, np.ndarray]
    artery_components: Volume
    component_of: dict[str, int]


def map_vessels(
    labels: Volume,
    artery_lumen: Volume | None = None,
    vein_lumen: Volume | None = None,
    settings: CenterlineSettings | None = None,
) -> VesselMap:
    """Centrelines of arteries and veins and the calcified stretches of each artery.

    Parameters
    ----------
    labels : Volume
        Integer label map: 1 patent artery lumen, 2 vein lumen, 3 calcium, 4 bone
        (and 5 metal, as the segmentation writes it: an obstacle like bone).
    artery_lumen, vein_lumen : Volume, optional
        Lumen fractions in [0, 1] on the label grid (from the intensities);
        when not given, the masks are used.
    settings : CenterlineSettings, optional

    Raises
    ------
    PdvaplanInputError
        If the label map holds values outside 0-5, or no artery lumen large
        enough for a centreline.
    """
    values = np.unique(labels.array)
    if values.min() < 0 or values.max() > METAL or not np.all(values == np.round(values)):
        shown = ", ".join(f"{v:g}" for v in values[:8])
        raise PdvaplanInputError(
            f"{labels.source}: label map holds values {shown}; expected 0-4 "
            "(1 artery, 2 vein, 3 calcium, 4 bone; 5 metal, an obstacle like bone)"
        )
    label_array = labels.array.astype(np.uint8)
    if not np.any(label_array == ARTERY):
        raise PdvaplanInputError(f"{labels.source}: no artery lumen (label 1) in the label map")
    arteries = _centerlines(labels, label_array == ARTERY, artery_lumen, settings, "artery")
    if not arteries:
        raise PdvaplanInputError(
            f"{labels.source}: the artery lumen (label 1) is only specks, too small for a "
            "centreline"
        )
    veins = _centerlines(labels, label_array == VEIN, vein_lumen, settings, "vein")
    components = Components(label_array == ARTERY, connectivity=3).labels()
    component_of = {line.id: _component_at(components, labels, line) for line in arteries}
    calcium = _calcified_stretches(labels, label_array, arteries)
    return VesselMap(labels, arteries, veins, calcium, labels.with_array(components), component_of)


def _centerlines(labels, mask, lumen, settings, prefix) -> tuple[Centerline, ...]:
    if not mask.any():
        return ()
    return tuple(extract_centerlines(labels.with_array(mask), lumen, settings, prefix))


def _component_at(components: np.ndarray, labels: Volume, line: Centerline) -> int:
    """The artery-lumen component most of a centreline's points lie in."""
    index = np.rint(labels.physical_to_index(line.points_mm)).astype(int)
    index = np.clip(index, 0, np.array(labels.shape) - 1)
    found = components[tuple(index.T)]
    found = found[found > 0]
    return int(np.bincount(found).argmax()) if found.size else 0


def _calcified_stretches(
    labels: Volume, label_array: np.ndarray, arteries
) -> dict[str, np.ndarray]:
    """Arc stretches along each artery of calcium voxels that touch its lumen."""
    stretches = {line.id: np.zeros((0, 2)) for line in arteries}
    if not arteries:
        return stretches
    calcium = np.argwhere(label_array == CALCIUM)
    touching = np.zeros(len(calcium), bool)
    for offset in itertools.product((-1, 0, 1), repeat=3):  # any of the 26 neighbours
        neighbour = np.clip(calcium + offset, 0, np.array(label_array.shape) - 1)
        touching |= label_array[tuple(neighbour.T)] == ARTERY
    loose_mm = labels.index_to_physical(calcium[~touching])
    reach_mm = _CALCIUM_REACH_MM + labels.spacing_mm.max()
    half_voxel_mm = 0.5 * labels.spacing_mm.max()
    for line in arteries:
        beyond = _beyond_lumen_end(line, loose_mm, reach_mm)
        stretches[line.id] = np.column_stack([beyond - half_voxel_mm, beyond + half_voxel_mm])
    if not touching.any():
        return stretches
    calcium_mm = labels.index_to_physical(calcium[touching])
    points = np.concatenate([line.points_mm for line in arteries])
    radii = np.concatenate([line.radii_mm for line in arteries])
    arc = np.concatenate([line.arc_mm for line in arteries])
    tangent = np.concatenate([tangents(line.points_mm) for line in arteries])
    owner = np.repeat(np.arange(len(arteries)), [len(line.points_mm) for line in arteries])
    distance, nearest = cKDTree(points).query(calcium_mm)
    close = distance <= radii[nearest] + reach_mm
    # Half a voxel's extent along the vessel: its edges along each index axis.
    half_mm = 0.5 * (np.abs(tangent[nearest] @ labels.direction) * labels.spacing_mm).sum(axis=1)
    for n, line in enumerate(arteries):
        mine = close & (owner[nearest] == n)
        centre, half = arc[nearest[mine]], half_mm[mine]
        found = np.vstack([np.column_stack([centre - half, centre + half]), stretches[line.id]])
        stretches[line.id] = found[np.argsort(found[:, 0])]
    return stretches


def _beyond_lumen_end(line: Centerline, calcium_mm: np.ndarray, reach_mm: float) -> np.ndarray:
    """Arc positions (mm, past the line's length) of the calcium on an artery's occluded
    course: along its last direction beyond its distal lumen-end, up to `BEYOND_END_MM`,
    within its end radius plus `reach_mm` of that line.

    Examples
    --------
    >>> z = np.linspace(40.0, 20.0, 41)
    >>> points = np.column_stack([np.zeros_like(z), np.zeros_like(z), z])
    >>> line = Centerline("artery-1", points, np.ones(41), "border", "lumen-end")
    >>> calcium = np.array([[1.5, 0.0, 17.0], [0.0, 6.0, 17.0], [0.0, 0.0, 5.0]])
    >>> _beyond_lumen_end(line, calcium, 2.0).tolist()  # on its course, beside it, too far
    [23.0]
    """
    if line.distal_end != END_LUMEN or len(calcium_mm) == 0 or len(line.points_mm) < 2:
        return np.zeros(0)
    ahead = end_direction(line.points_mm)
    offset = calcium_mm - line.points_mm[-1]
    along = offset @ ahead
    across = np.linalg.norm(offset - along[:, None] * ahead, axis=1)
    on_course = (along > 0.0) & (along <= BEYOND_END_MM) & (across <= line.radii_mm[-1] + reach_mm)
    return line.length_mm + along[on_course]
