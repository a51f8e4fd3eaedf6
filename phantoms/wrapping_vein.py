"""A label map of a vein as veins are: it wraps round its artery, touches it, narrows
at valves and has side branches.

A straight artery runs along the leg (z) through the whole volume. Its vein
comes in at the top on one side of it, wraps half-way round it lower down
(its angle round the artery turns by 180 degrees), touches it (wall gap 0)
over a stretch within the wrap, narrows at valves (short narrowings of the
lumen to a fraction of its diameter) and leaves the volume at the bottom.
Side branches leave the vein: short spurs (a few mm, thin, dead ends; one of
them points at the artery and ends closer to it than the vein itself ever
comes) and one longer tributary that drains into the vein from above and
begins inside the volume.

Every shape is an analytic curve (a centre line and a radius along it) in mm,
sampled densely; a voxel is lumen where its centre lies within the radius of
the nearest sample. Labels follow the plan contract (1 artery, 2 vein); the
artery wins where the two would overlap. The frame is the physical (LPS)
frame of `pdvaplan.io.Volume`.

Examples
--------
>>> phantom = make_wrapping_vein(spacing_mm=1.0)
>>> round(phantom.trunk_length_mm)
124
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.spatial import cKDTree

from pdvaplan.io import Volume
from pdvaplan.labels import ARTERY, VEIN

#: Samples of every analytic curve, per mm of height or length.
_SAMPLES_PER_MM = 20


@dataclass(frozen=True)
class Tube:
    """An analytic vessel: dense centre points (mm, proximal first) and a radius each."""

    name: str
    points_mm: np.ndarray
    radii_mm: np.ndarray

    @property
    def arc_mm(self) -> np.ndarray:
        """Arc length from the first point (mm)."""
        steps = np.linalg.norm(np.diff(self.points_mm, axis=0), axis=1)
        return np.concatenate([[0.0], np.cumsum(steps)])

    @property
    def length_mm(self) -> float:
        """Length of the curve (mm)."""
        return float(self.arc_mm[-1])


@dataclass(frozen=True)
class WrappingVeinSpec:
    """The shape of the phantom (lengths in mm, angles in degrees).

    Attributes
    ----------
    size_mm : tuple of float
        Extent of the volume along x, y and z; x and y are centred on the
        artery, z runs from 0 (distal) up.
    artery_radius_mm, vein_radius_mm : float
        Lumen radii away from valves.
    vein_offset_mm : float
        Artery axis to vein axis away from the touching stretch.
    wrap_z_mm : tuple of float
        Heights (from, to: distal, proximal) over which the vein's angle round
        the artery turns by `wrap_deg` (a cosine ramp).
    touch_z_mm : tuple of float
        Heights over which the vein touches the artery (axis distance = sum of
        the radii, wall gap 0), reached by cosine ramps of `ramp_mm`.
    valve_z_mm : tuple of float
        Heights of the valves.
    valve_fraction : float
        Lumen diameter at a valve, as a fraction of the vein's.
    valve_mm : float
        Gaussian width (sigma) of a valve's narrowing along the vein.
    spurs : tuple
        Per spur ``(z_mm, length_mm, radius_mm, towards_artery)``: a straight
        thin tube from the vein's axis at height z; towards the artery it
        aims past the artery's side, 1 mm lower, its tip `spur_tip_gap_mm`
        (plus both radii) from the artery's axis, and `length_mm` is not used;
        else it runs `length_mm` straight away from the artery, tilted down
        by 30 degrees.
    spur_tip_gap_mm : float
        Wall gap between the tip of a spur that points at the artery and the
        artery's lumen.
    branch : tuple
        ``(z_mm, length_mm, radius_mm)`` of the longer side branch, a
        tributary: it joins the vein's axis at height z, coming from above at
        20 degrees to the leg's axis, away from the artery, and ends inside
        the volume at its upper end.
    """

    size_mm: tuple[float, float, float] = (36.0, 36.0, 120.0)
    artery_radius_mm: float = 1.5
    vein_radius_mm: float = 2.0
    vein_offset_mm: float = 7.0
    wrap_z_mm: tuple[float, float] = (40.0, 85.0)
    wrap_deg: float = 180.0
    touch_z_mm: tuple[float, float] = (55.0, 72.0)
    ramp_mm: float = 6.0
    valve_z_mm: tuple[float, ...] = (48.0, 63.0, 102.0)
    valve_fraction: float = 0.4
    valve_mm: float = 0.8
    spurs: tuple[tuple[float, float, float, bool], ...] = (
        (92.0, 0.0, 0.55, True),  # towards the artery: its length follows from its tip
        (35.0, 6.0, 0.6, False),
        (8.0, 4.5, 0.55, False),
    )
    spur_tip_gap_mm: float = 0.4
    branch: tuple[float, float, float] = (20.0, 30.0, 0.8)


@dataclass(frozen=True)
class WrappingVein:
    """The label map and what is known about it.

    Attributes
    ----------
    labels : Volume
        1 artery lumen, 2 vein lumen, 0 else.
    artery, trunk : Tube
        The analytic artery and vein trunk, clipped to the volume's height.
    spurs, branches : tuple of Tube
        The short spurs and the longer side branch.
    spec : WrappingVeinSpec
    """

    labels: Volume
    artery: Tube
    trunk: Tube
    spurs: tuple[Tube, ...]
    branches: tuple[Tube, ...]
    spec: WrappingVeinSpec = field(repr=False)

    @property
    def trunk_length_mm(self) -> float:
        """Length of the vein trunk's axis within the volume."""
        return self.trunk.length_mm

    def trunk_length_below_mm(self, z_mm: float) -> float:
        """Length of the trunk's axis from height `z_mm` down to its distal end."""
        arc = self.trunk.arc_mm
        z = self.trunk.points_mm[:, 2]  # descending
        return float(arc[-1] - np.interp(-z_mm, -z, arc))


def _ramp(z: np.ndarray, low: float, high: float, width: float) -> np.ndarray:
    """0 outside [low, high], 1 inside, joined by cosine ramps `width` long outside it."""
    below = np.clip((z - (low - width)) / width, 0.0, 1.0)
    above = np.clip(((high + width) - z) / width, 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * np.minimum(below, above))


def trunk_curve(spec: WrappingVeinSpec, z_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The vein trunk's centre points and radii at heights `z_mm`.

    Parameters
    ----------
    spec : WrappingVeinSpec
    z_mm : numpy.ndarray
        Heights (mm).

    Returns
    -------
    points_mm : numpy.ndarray, shape (n, 3)
    radii_mm : numpy.ndarray, shape (n,)
    """
    low, high = spec.wrap_z_mm
    turned = np.clip((high - z_mm) / (high - low), 0.0, 1.0)
    angle = np.radians(spec.wrap_deg) * (0.5 - 0.5 * np.cos(np.pi * turned))
    touching = spec.artery_radius_mm + spec.vein_radius_mm
    offset = spec.vein_offset_mm + (touching - spec.vein_offset_mm) * _ramp(
        z_mm, *spec.touch_z_mm, spec.ramp_mm
    )
    points = np.column_stack([offset * np.cos(angle), offset * np.sin(angle), z_mm])
    narrowing = np.zeros_like(z_mm)
    for valve in spec.valve_z_mm:
        narrowing = np.maximum(narrowing, np.exp(-0.5 * ((z_mm - valve) / spec.valve_mm) ** 2))
    radii = spec.vein_radius_mm * (1.0 - (1.0 - spec.valve_fraction) * narrowing)
    return points, radii


def _straight(name: str, start: np.ndarray, end: np.ndarray, radius_mm: float) -> Tube:
    n = max(2, int(np.ceil(np.linalg.norm(end - start) * _SAMPLES_PER_MM)) + 1)
    t = np.linspace(0.0, 1.0, n)[:, None]
    return Tube(name, start + t * (end - start), np.full(n, radius_mm))


def _spur(spec: WrappingVeinSpec, n: int, z: float, length: float, radius: float, towards: bool):
    (origin,), _ = trunk_curve(spec, np.array([z]))
    outward = np.array([origin[0], origin[1], 0.0]) / np.hypot(origin[0], origin[1])
    if towards:
        # Past the artery's side: the tip lies `spur_tip_gap_mm` off the artery's lumen.
        side = np.array([-outward[1], outward[0], 0.0])
        tip_distance = spec.artery_radius_mm + radius + spec.spur_tip_gap_mm
        end = np.array([0.0, 0.0, z - 1.0]) + tip_distance * side
    else:
        tilt = np.radians(30.0)
        end = origin + length * (np.cos(tilt) * outward - np.sin(tilt) * np.array([0, 0, 1.0]))
    return _straight(f"spur-{n}", origin, end, radius)


def _branch(spec: WrappingVeinSpec) -> Tube:
    z, length, radius = spec.branch
    (origin,), _ = trunk_curve(spec, np.array([z]))
    outward = np.array([origin[0], origin[1], 0.0]) / np.hypot(origin[0], origin[1])
    side = np.array([-outward[1], outward[0], 0.0])
    tilt = np.radians(20.0)
    heading = np.cos(tilt) * np.array([0.0, 0.0, 1.0]) + np.sin(tilt) * (outward + side) / np.sqrt(
        2.0
    )
    return _straight("branch-1", origin + length * heading, origin, radius)


def _lumen(tubes: list[Tube], centres_mm: np.ndarray) -> np.ndarray:
    """Whether each voxel centre lies within the radius of its nearest tube sample."""
    points = np.concatenate([t.points_mm for t in tubes])
    radii = np.concatenate([t.radii_mm for t in tubes])
    reach = float(radii.max()) + 1.0
    distance, nearest = cKDTree(points).query(centres_mm, distance_upper_bound=reach)
    found = np.isfinite(distance)
    inside = np.zeros(len(centres_mm), bool)
    inside[found] = distance[found] <= radii[nearest[found]]
    return inside


def make_wrapping_vein(
    spacing_mm: float | tuple[float, float, float] = 0.5,
    spec: WrappingVeinSpec | None = None,
) -> WrappingVein:
    """The label map of an artery and a vein that wraps round it, with the known shapes.

    Parameters
    ----------
    spacing_mm : float or tuple of float
        Voxel size (mm) along x, y and z.
    spec : WrappingVeinSpec, optional
        The shape; the defaults when not given.

    Returns
    -------
    WrappingVein
    """
    spec = spec or WrappingVeinSpec()
    spacing = np.broadcast_to(np.asarray(spacing_mm, dtype=np.float64), (3,)).copy()
    size = np.asarray(spec.size_mm, dtype=np.float64)
    shape = np.floor(size / spacing).astype(int)
    origin = np.array([-size[0] / 2, -size[1] / 2, 0.0]) + spacing / 2
    top = origin[2] + (shape[2] - 1) * spacing[2]
    # The analytic curves run a little beyond the volume, so its border cuts them.
    z = np.linspace(top + 2.0, origin[2] - 2.0, int((top - origin[2] + 4.0) * _SAMPLES_PER_MM))
    trunk_points, trunk_radii = trunk_curve(spec, z)
    artery_points = np.column_stack([np.zeros_like(z), np.zeros_like(z), z])
    artery = Tube("artery", artery_points, np.full(len(z), spec.artery_radius_mm))
    trunk = Tube("trunk", trunk_points, trunk_radii)
    spurs = tuple(_spur(spec, n, *s) for n, s in enumerate(spec.spurs, start=1))
    branches = (_branch(spec),)

    grid = np.stack(np.meshgrid(*(np.arange(n) for n in shape), indexing="ij"), axis=-1)
    centres = origin + grid.reshape(-1, 3) * spacing
    labels = np.zeros(len(centres), np.uint8)
    labels[_lumen([trunk, *spurs, *branches], centres)] = VEIN
    labels[_lumen([artery], centres)] = ARTERY
    volume = Volume(
        labels.reshape(shape), spacing, origin, np.eye(3), source="wrapping-vein phantom"
    )
    inside = (z <= top) & (z >= origin[2])
    clipped = [Tube(t.name, t.points_mm[inside], t.radii_mm[inside]) for t in (artery, trunk)]
    return WrappingVein(volume, clipped[0], clipped[1], spurs, branches, spec)
