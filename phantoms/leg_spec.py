"""The synthetic lower leg in physical space: what is where, analytically.

Everything here is in millimetres in the LPS frame (+x patient left, +y
posterior, +z superior) of a right leg: the ankle at ``z = 0``, the knee at
``z = length_mm``. Vessels run along z; each vessel's centreline is a curve
``z -> (x(z), y(z), z)`` with a lumen radius ``r(z)``. A vein is its paired
artery's curve plus an offset in the axial plane whose length (the centre
distance) dips to a minimum at a chosen level, so the best crossing of each
pair sits where the spec says.

The specs are plain frozen dataclasses so that a phantom is reproducible from
its JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

#: Step (mm) of the central differences that give curve derivatives.
_DERIVATIVE_STEP_MM = 0.01


@dataclass(frozen=True)
class Stenosis:
    """A smooth local narrowing of an artery lumen."""

    z_mm: float
    length_mm: float
    fraction: float  # 0.5 = lumen radius halved at the centre


@dataclass(frozen=True)
class CalcifiedArc:
    """A heavily calcified arc of an artery's wall, bright in both phases."""

    z_from_mm: float
    z_to_mm: float
    angle_from_deg: float  # in the axial plane, from +x towards +y
    angle_span_deg: float
    thickness_mm: float = 1.0


@dataclass(frozen=True)
class ArterySpec:
    """A tibial artery: course, calibre, patency, disease."""

    name: str
    base_xy_mm: tuple[float, float]
    radius_proximal_mm: float
    radius_distal_mm: float
    meander_amplitude_mm: tuple[float, float] = (2.5, 1.5)
    meander_wavelength_mm: tuple[float, float] = (110.0, 140.0)
    meander_phase_rad: tuple[float, float] = (0.0, 1.0)
    occlusion_z_mm: float = 100.0  # patent above, occluded below (down to the ankle)
    stenoses: tuple[Stenosis, ...] = ()
    calcified_arcs: tuple[CalcifiedArc, ...] = ()
    fade_mm: float = 0.0  # contrast fades to none over this length down to the occlusion

    @property
    def confirmed_z_mm(self) -> float:
        """Height down to which the image confirms the lumen patent: the occlusion, or,
        where contrast fades (a bolus the scan outran), where half of it is left."""
        return self.occlusion_z_mm + 0.5 * self.fade_mm


@dataclass(frozen=True)
class VeinSpec:
    """A tibial vein running beside its paired artery.

    The centre distance to the artery is ``offset_mm - dip_mm * g(z) +
    wobble_mm * sin(...)`` with ``g`` a Gaussian of width ``dip_width_mm``
    centred on ``dip_z_mm``; the offset points along ``angle_deg`` (axial plane,
    from +x towards +y), which swings slowly by ``angle_swing_deg``.
    """

    name: str
    artery: str
    offset_mm: float
    dip_mm: float
    dip_z_mm: float
    angle_deg: float
    radius_proximal_mm: float = 2.0
    radius_distal_mm: float = 1.8
    dip_width_mm: float = 30.0
    angle_swing_deg: float = 20.0
    angle_wavelength_mm: float = 170.0
    wobble_mm: float = 0.25
    wobble_wavelength_mm: float = 45.0
    phase_rad: float = 0.0


@dataclass(frozen=True)
class Bone:
    """A straight bone shaft along z: cortex ring around fatty marrow.

    The cortex is `cortex_mm` thick along the shaft and thins within a few
    centimetres of each end to `cortex_end_fraction` of that, as a tibia's
    does towards its metaphyses, where the marrow cavity widens. The outer
    surface is a cylinder.
    """

    name: str
    centre_xy_mm: tuple[float, float]
    radius_mm: float
    cortex_mm: float
    cortex_end_fraction: float = 0.5
    cortex_taper_mm: float = 25.0

    def cortex_at_mm(self, z_mm: np.ndarray, length_mm: float) -> np.ndarray:
        """Cortex thickness (mm) at heights `z_mm` of a leg `length_mm` long."""
        z = np.asarray(z_mm, dtype=np.float64)
        ends = np.exp(-((z / self.cortex_taper_mm) ** 2))
        ends += np.exp(-(((length_mm - z) / self.cortex_taper_mm) ** 2))
        return self.cortex_mm * (1.0 - (1.0 - self.cortex_end_fraction) * np.minimum(ends, 1.0))


@dataclass(frozen=True)
class Implant:
    """An orthopaedic implant: a box (a plate) or a cylinder (a screw), metal throughout.

    Both are given by a centre, a unit axis in the axial plane (``axis_xy``)
    and half extents: a plate's ``(thickness, width, length along z)`` across,
    along the axial plane perpendicular to `axis_xy`, and along z; a screw's
    ``(radius, half length along axis_xy)``.
    """

    kind: str  # "plate" or "screw"
    centre_mm: tuple[float, float, float]
    axis_xy: tuple[float, float]
    half_extents_mm: tuple[float, ...]

    def signed_distance_mm(self, points_mm: np.ndarray) -> np.ndarray:
        """Signed distance (mm, negative inside; exact inside, a lower bound outside
        corners) of points (N, 3) to the implant's surface."""
        offset = np.asarray(points_mm, dtype=np.float64) - np.asarray(self.centre_mm)
        u = np.array([self.axis_xy[0], self.axis_xy[1], 0.0])
        v = np.array([-self.axis_xy[1], self.axis_xy[0], 0.0])
        along_u, along_v, along_z = offset @ u, offset @ v, offset[:, 2]
        if self.kind == "plate":
            local = np.abs(np.stack([along_u, along_v, along_z], axis=1))
            return np.max(local - np.asarray(self.half_extents_mm), axis=1)
        radius, half_length = self.half_extents_mm
        return np.maximum(np.hypot(along_v, along_z) - radius, np.abs(along_u) - half_length)


def plate_and_screws(
    bone: Bone, angle_deg: float, z_from_mm: float, z_to_mm: float, screws: int = 4
) -> tuple[Implant, ...]:
    """A plate on the surface of `bone` facing `angle_deg` (axial plane, from +x towards
    +y) from `z_from_mm` to `z_to_mm`, 3 mm thick and 12 mm wide, with `screws` screws
    of 4 mm diameter through it and the bone, evenly along it."""
    u = np.array([np.cos(np.radians(angle_deg)), np.sin(np.radians(angle_deg))])
    centre_xy = np.asarray(bone.centre_xy_mm) + (bone.radius_mm + 1.5) * u
    middle_z = 0.5 * (z_from_mm + z_to_mm)
    plate = Implant(
        "plate",
        (float(centre_xy[0]), float(centre_xy[1]), middle_z),
        (float(u[0]), float(u[1])),
        (1.5, 6.0, 0.5 * (z_to_mm - z_from_mm)),
    )
    # Screws run from the plate's outer face through the bone to its far cortex.
    half_length = 0.5 * (3.0 + 2.0 * bone.radius_mm - 1.0)
    screw_xy = np.asarray(bone.centre_xy_mm) + (3.0 + bone.radius_mm - half_length) * u
    heights = np.linspace(z_from_mm, z_to_mm, screws + 2)[1:-1]
    screw_list = [
        Implant(
            "screw",
            (float(screw_xy[0]), float(screw_xy[1]), float(z)),
            (float(u[0]), float(u[1])),
            (2.0, half_length),
        )
        for z in heights
    ]
    return (plate, *screw_list)


@dataclass(frozen=True)
class Intensities:
    """CT numbers (HU) of each tissue in each phase."""

    air: float = -1000.0
    fat: float = -100.0
    muscle: float = 50.0
    cortex: float = 1200.0
    marrow: float = -20.0
    calcium: float = 1000.0
    metal: float = 3000.0
    unenhanced_blood: float = 50.0
    artery_arterial_proximal: float = 340.0
    artery_arterial_distal: float = 240.0
    artery_venous: float = 170.0
    vein_venous: float = 200.0


@dataclass(frozen=True)
class LegSpec:
    """A whole synthetic lower leg and how it is imaged."""

    arteries: tuple[ArterySpec, ...]
    veins: tuple[VeinSpec, ...]
    bones: tuple[Bone, ...] = (
        Bone("tibia", (12.0, -22.0), 12.5, 4.0),
        Bone("fibula", (-28.0, 0.0), 6.5, 3.0),
    )
    length_mm: float = 330.0
    box_half_width_mm: tuple[float, float] = (56.0, 52.0)
    leg_semi_axes_mm: tuple[float, float] = (50.0, 46.0)
    fat_thickness_mm: float = 7.0
    calf_bulge: float = 0.07  # the leg's outline is this much wider at the calf
    calf_z_fraction: float = 0.65  # height of the calf's widest point, share of the length
    calf_width_fraction: float = 0.25  # the bulge's Gaussian width, share of the length
    intensities: Intensities = field(default_factory=Intensities)
    noise_sigma_hu: float = 12.0
    psf_sigma_mm: float = 0.35
    contrast_edge_mm: float = 1.0  # length over which contrast stops at an occlusion
    centre_x_mm: float = 0.0  # x of the outline's centre (vessels and bones: as given)
    implants: tuple[Implant, ...] = ()
    metal_streak_hu: float = 400.0  # streaks' amplitude beside metal, in both phases

    def artery(self, name: str) -> ArterySpec:
        """The artery called `name`."""
        for artery in self.arteries:
            if artery.name == name:
                return artery
        raise KeyError(name)

    def outline_scale(self, z_mm: np.ndarray) -> np.ndarray:
        """How much wider than `leg_semi_axes_mm` the leg's outline is at heights `z_mm`
        (1 at the ankle and the knee, up to ``1 + calf_bulge`` at the calf). Vessels
        and bones keep their places; only skin, fat and muscle follow the calf."""
        z = np.asarray(z_mm, dtype=np.float64) / self.length_mm
        return 1.0 + self.calf_bulge * np.exp(
            -0.5 * ((z - self.calf_z_fraction) / self.calf_width_fraction) ** 2
        )

    @property
    def box_mm(self) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper physical corners of the box the leg is imaged in."""
        half_x, half_y = self.box_half_width_mm
        centre = self.centre_x_mm
        return (
            np.array([centre - half_x, -half_y, 0.0]),
            np.array([centre + half_x, half_y, self.length_mm]),
        )

    @property
    def outer_half_width_mm(self) -> float:
        """Half the leg's widest extent along x (at the calf)."""
        return self.leg_semi_axes_mm[0] * (1.0 + self.calf_bulge)


def mirrored(spec: LegSpec, centre_x_mm: float) -> LegSpec:
    """The mirror image of a leg (a right leg becomes a left one), its outline centred on
    ``x = centre_x_mm``: every x becomes ``centre_x_mm - x``.

    Examples
    --------
    >>> leg = LegSpec((ArterySpec("a", (10.0, 5.0), 1.5, 1.2),), ())
    >>> left = mirrored(leg, 120.0)
    >>> left.arteries[0].base_xy_mm, left.bones[0].centre_xy_mm, left.centre_x_mm
    ((110.0, 5.0), (108.0, -22.0), 120.0)
    """

    def x(value: float) -> float:
        return centre_x_mm - value

    def arc(a: CalcifiedArc) -> CalcifiedArc:
        return replace(a, angle_from_deg=(180.0 - a.angle_from_deg - a.angle_span_deg) % 360.0)

    arteries = tuple(
        replace(
            a,
            base_xy_mm=(x(a.base_xy_mm[0]), a.base_xy_mm[1]),
            meander_amplitude_mm=(-a.meander_amplitude_mm[0], a.meander_amplitude_mm[1]),
            calcified_arcs=tuple(arc(c) for c in a.calcified_arcs),
        )
        for a in spec.arteries
    )
    veins = tuple(
        replace(v, angle_deg=180.0 - v.angle_deg, angle_swing_deg=-v.angle_swing_deg)
        for v in spec.veins
    )
    bones = tuple(
        replace(b, centre_xy_mm=(x(b.centre_xy_mm[0]), b.centre_xy_mm[1])) for b in spec.bones
    )
    return replace(
        spec, arteries=arteries, veins=veins, bones=bones, centre_x_mm=x(spec.centre_x_mm)
    )


class AxisCurve:
    """A vessel axis ``z -> (x, y, z)`` with a lumen radius, evaluated analytically.

    Parameters
    ----------
    name : str
        The vessel's name.
    xy_mm : callable
        Maps heights z (mm, array) to axial positions, shape ``z.shape + (2,)``.
    radius_mm : callable
        Maps heights z (mm, array) to lumen radii (mm).
    """

    def __init__(self, name, xy_mm, radius_mm) -> None:
        self.name = name
        self.xy_mm = xy_mm
        self.radius_mm = radius_mm

    def points_mm(self, z_mm: np.ndarray) -> np.ndarray:
        """Axis points at heights `z_mm`, shape ``z.shape + (3,)``."""
        z_mm = np.asarray(z_mm, dtype=np.float64)
        return np.concatenate([self.xy_mm(z_mm), z_mm[..., np.newaxis]], axis=-1)

    def tangent(self, z_mm: np.ndarray) -> np.ndarray:
        """Unit tangents (pointing up, +z) at heights `z_mm`."""
        h = _DERIVATIVE_STEP_MM
        z_mm = np.asarray(z_mm, dtype=np.float64)
        derivative = (self.points_mm(z_mm + h) - self.points_mm(z_mm - h)) / (2 * h)
        return derivative / np.linalg.norm(derivative, axis=-1, keepdims=True)

    def closest_z(self, points_mm: np.ndarray, iterations: int = 5) -> np.ndarray:
        """Height of the closest centreline point to each of `points_mm` (N, 3).

        Newton's method on the squared distance, started at each point's own
        height; exact for points within a few mm of the slowly curving axis.
        """
        h = _DERIVATIVE_STEP_MM
        points_xy, z = points_mm[:, :2], points_mm[:, 2].copy()
        target_z = points_mm[:, 2]
        for _ in range(iterations):
            here, ahead, behind = self.xy_mm(z), self.xy_mm(z + h), self.xy_mm(z - h)
            first = (ahead - behind) / (2 * h)
            second = (ahead - 2 * here + behind) / (h * h)
            offset = here - points_xy
            slope = np.einsum("ij,ij->i", offset, first) + (z - target_z)
            curvature = (
                np.einsum("ij,ij->i", first, first) + np.einsum("ij,ij->i", offset, second) + 1.0
            )
            z -= slope / curvature
        return z


def artery_centreline(spec: ArterySpec, length_mm: float) -> AxisCurve:
    """The analytic centreline of an artery, radius including taper and stenoses."""
    base = np.asarray(spec.base_xy_mm)
    amplitude = np.asarray(spec.meander_amplitude_mm)
    wavenumber = 2 * np.pi / np.asarray(spec.meander_wavelength_mm)
    phase = np.asarray(spec.meander_phase_rad)

    def xy_mm(z):
        return base + amplitude * np.sin(z[..., np.newaxis] * wavenumber + phase)

    def radius_mm(z):
        radius = _taper(z, spec.radius_distal_mm, spec.radius_proximal_mm, length_mm)
        for stenosis in spec.stenoses:
            radius = radius * (
                1.0 - stenosis.fraction * _bump(z, stenosis.z_mm, stenosis.length_mm)
            )
        return radius

    return AxisCurve(spec.name, xy_mm, radius_mm)


def vein_centreline(spec: VeinSpec, artery: AxisCurve, length_mm: float) -> AxisCurve:
    """The analytic centreline of a vein: its artery plus an axial-plane offset."""

    def offset_mm(z):
        dip = spec.dip_mm * np.exp(-0.5 * ((z - spec.dip_z_mm) / spec.dip_width_mm) ** 2)
        wobble = spec.wobble_mm * np.sin(2 * np.pi * z / spec.wobble_wavelength_mm + spec.phase_rad)
        return spec.offset_mm - dip + wobble

    def xy_mm(z):
        angle = np.deg2rad(
            spec.angle_deg
            + spec.angle_swing_deg
            * np.sin(2 * np.pi * z / spec.angle_wavelength_mm + spec.phase_rad)
        )
        unit = np.stack([np.cos(angle), np.sin(angle)], axis=-1)
        return artery.xy_mm(z) + offset_mm(z)[..., np.newaxis] * unit

    def radius_mm(z):
        return _taper(z, spec.radius_distal_mm, spec.radius_proximal_mm, length_mm)

    return AxisCurve(spec.name, xy_mm, radius_mm)


def centrelines(spec: LegSpec) -> dict[str, AxisCurve]:
    """Every vessel's analytic centreline, arteries first, by name."""
    lines = {a.name: artery_centreline(a, spec.length_mm) for a in spec.arteries}
    for vein in spec.veins:
        lines[vein.name] = vein_centreline(vein, lines[vein.artery], spec.length_mm)
    return lines


def contrast_fraction(artery: ArterySpec, z_mm: np.ndarray, edge_mm: float) -> np.ndarray:
    """Share of full arterial contrast in the lumen at heights `z_mm`: 0 below the
    occlusion, stopping over `edge_mm` there, or fading over the artery's `fade_mm`."""
    above = np.asarray(z_mm) - artery.occlusion_z_mm
    if artery.fade_mm > 0:
        return np.clip(above / artery.fade_mm, 0.0, 1.0)
    return np.clip(0.5 + above / edge_mm, 0.0, 1.0)


def _taper(z, distal, proximal, length_mm):
    return distal + (proximal - distal) * np.clip(np.asarray(z) / length_mm, 0.0, 1.0)


def _bump(z, centre, length):
    """Raised cosine: 1 at `centre`, 0 beyond `length / 2` from it."""
    t = np.clip(np.abs(np.asarray(z) - centre) / (length / 2), 0.0, 1.0)
    return 0.5 * (1.0 + np.cos(np.pi * t))
