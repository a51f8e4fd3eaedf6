"""Named phantom legs, each showing what its name says, and random legs for sweeps.

Presets (all a right leg, 330 mm from ankle to knee, three tibial arteries each
with two paired veins):

``basic``
    The best crossing is the posterior tibial artery into one of its veins.
``two-arteries``
    The anterior tibial artery is occluded throughout and the posterior tibial
    one is patent only high up, far from its veins: the best crossing is on
    the peroneal artery.
``calcified``
    The geometrically closest artery-vein pair sits in a heavily calcified
    segment of the posterior tibial artery; the answer lies beyond the margin.
``infeasible``
    Every vein runs more than the 10 mm needle reach from its artery.
``noisy-stenosis``
    Noise of 35 HU, weak and fading contrast, stenoses down to half the lumen.
``oblique``
    The ``basic`` leg on an oblique, flipped grid with anisotropic voxels.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy.spatial.transform import Rotation

from phantoms.acquisition import Acquisition
from phantoms.imaging import GridSpec
from phantoms.leg_spec import (
    ArterySpec,
    CalcifiedArc,
    Intensities,
    LegSpec,
    Stenosis,
    VeinSpec,
    centrelines,
)

ANTERIOR_TIBIAL = "anterior-tibial-artery"
POSTERIOR_TIBIAL = "posterior-tibial-artery"
PERONEAL = "peroneal-artery"


def _vein_pair(
    artery: str,
    stem: str,
    offset_mm: float,
    angle_deg: float,
    dips: tuple[tuple[float, float], tuple[float, float]],
) -> tuple[VeinSpec, VeinSpec]:
    """Two veins on opposite sides of `artery`; `dips` = ((dip_mm, dip_z_mm), ...)."""
    return tuple(
        VeinSpec(
            f"{stem}-{n + 1}",
            artery,
            offset_mm,
            dip,
            dip_z,
            angle_deg + 180.0 * n,
            phase_rad=1.3 * n,
        )
        for n, (dip, dip_z) in enumerate(dips)
    )


def basic_leg() -> LegSpec:
    """The ``basic`` preset's leg: the best crossing is posterior tibial."""
    arteries = (
        ArterySpec(
            ANTERIOR_TIBIAL,
            (-12.0, -14.0),
            1.5,
            1.25,
            (2.5, 1.5),
            (110.0, 140.0),
            (0.0, 1.0),
            occlusion_z_mm=130.0,
        ),
        ArterySpec(
            POSTERIOR_TIBIAL,
            (10.0, 8.0),
            1.7,
            1.35,
            (2.0, 2.5),
            (130.0, 95.0),
            (1.5, 0.3),
            occlusion_z_mm=90.0,
        ),
        ArterySpec(
            PERONEAL,
            (-16.0, 14.0),
            1.6,
            1.3,
            (1.8, 2.0),
            (150.0, 120.0),
            (2.5, 4.0),
            occlusion_z_mm=150.0,
        ),
    )
    veins = (
        *_vein_pair(
            ANTERIOR_TIBIAL, "anterior-tibial-vein", 6.8, 0.0, ((1.2, 250.0), (0.6, 180.0))
        ),
        *_vein_pair(
            POSTERIOR_TIBIAL, "posterior-tibial-vein", 6.2, 20.0, ((1.6, 200.0), (0.6, 150.0))
        ),
        *_vein_pair(PERONEAL, "peroneal-vein", 7.0, 60.0, ((1.0, 230.0), (0.5, 260.0))),
    )
    return LegSpec(arteries, veins)


def _with_artery(spec: LegSpec, name: str, **changes) -> LegSpec:
    arteries = tuple(replace(a, **changes) if a.name == name else a for a in spec.arteries)
    return replace(spec, arteries=arteries)


def _with_veins(spec: LegSpec, artery: str, **changes) -> LegSpec:
    veins = tuple(replace(v, **changes) if v.artery == artery else v for v in spec.veins)
    return replace(spec, veins=veins)


def two_arteries_leg() -> LegSpec:
    """Anterior tibial occluded, posterior tibial patent only far from its veins."""
    spec = basic_leg()
    spec = _with_artery(spec, ANTERIOR_TIBIAL, occlusion_z_mm=spec.length_mm + 50.0)
    spec = _with_artery(spec, POSTERIOR_TIBIAL, occlusion_z_mm=240.0)
    spec = _with_veins(spec, POSTERIOR_TIBIAL, offset_mm=7.6, dip_mm=0.5)
    spec = _with_artery(spec, PERONEAL, occlusion_z_mm=110.0)
    veins = tuple(
        replace(v, dip_mm=2.2, dip_z_mm=170.0) if v.name == "peroneal-vein-1" else v
        for v in spec.veins
    )
    return replace(spec, veins=veins)


def calcified_leg() -> LegSpec:
    """The closest pair's artery segment is calcified on the side facing its vein."""
    arc = CalcifiedArc(z_from_mm=180.0, z_to_mm=222.0, angle_from_deg=-40.0, angle_span_deg=120.0)
    return _with_artery(basic_leg(), POSTERIOR_TIBIAL, calcified_arcs=(arc,))


def infeasible_leg() -> LegSpec:
    """Every vein runs beyond needle reach (11-12 mm from its artery)."""
    spec = basic_leg()
    veins = tuple(replace(v, offset_mm=12.0, dip_mm=0.6, wobble_mm=0.2) for v in spec.veins)
    return replace(spec, veins=veins)


def noisy_stenosis_leg() -> LegSpec:
    """Heavy noise, weak fading contrast and stenoses down to half the lumen."""
    spec = basic_leg()
    spec = _with_artery(spec, POSTERIOR_TIBIAL, stenoses=(Stenosis(240.0, 16.0, 0.5),))
    spec = _with_artery(spec, ANTERIOR_TIBIAL, stenoses=(Stenosis(200.0, 12.0, 0.4),))
    spec = _with_artery(spec, PERONEAL, stenoses=(Stenosis(260.0, 20.0, 0.45),))
    weak = replace(
        spec.intensities,
        artery_arterial_proximal=260.0,
        artery_arterial_distal=170.0,
        vein_venous=150.0,
        artery_venous=140.0,
    )
    return replace(spec, intensities=weak, noise_sigma_hu=35.0, psf_sigma_mm=0.5)


def rotation(axis: str, degrees: float) -> np.ndarray:
    """Right-handed rotation matrix about a physical axis ``"x"``, ``"y"`` or ``"z"``."""
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    i, j = {"x": (1, 2), "y": (2, 0), "z": (0, 1)}[axis]
    matrix = np.eye(3)
    matrix[i, i] = matrix[j, j] = c
    matrix[i, j], matrix[j, i] = -s, s
    return matrix


#: Named direction matrices for ``--direction``.
DIRECTIONS = {
    "identity": np.eye(3),
    "ras": np.diag([-1.0, -1.0, 1.0]),
    "permuted": np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]),
    "oblique": rotation("z", 20.0) @ rotation("x", 8.0) @ np.diag([-1.0, -1.0, 1.0]),
}


def random_grid(rng: np.random.Generator) -> dict:
    """A random grid for a phantom, as `make_phantom`'s keyword arguments.

    A uniformly random rotation, its axes permuted and one flipped half the
    time each, anisotropic spacing of 0.6-1.1 mm per axis and the grid shifted
    by up to half a voxel along each axis (so the voxel centres fall elsewhere
    on the anatomy).

    Examples
    --------
    >>> grid = random_grid(np.random.default_rng(1))
    >>> sorted(grid), all(0.6 <= s <= 1.1 for s in grid["spacing_mm"])
    (['direction', 'origin_shift_mm', 'spacing_mm'], True)
    """
    spacing = rng.uniform(0.6, 1.1, 3)
    direction = Rotation.random(random_state=rng).as_matrix()
    if rng.random() < 0.5:
        direction = direction[:, rng.permutation(3)]
    if rng.random() < 0.5:
        direction[:, 0] = -direction[:, 0]
    shift = direction @ (rng.uniform(-0.5, 0.5, 3) * spacing)
    return {
        "spacing_mm": tuple(spacing.round(3)),
        "direction": tuple(direction.ravel()),
        "origin_shift_mm": tuple(shift),
    }


PRESETS = {
    "basic": (basic_leg, GridSpec()),
    "two-arteries": (two_arteries_leg, GridSpec()),
    "calcified": (calcified_leg, GridSpec()),
    "infeasible": (infeasible_leg, GridSpec()),
    "noisy-stenosis": (noisy_stenosis_leg, GridSpec()),
    "oblique": (basic_leg, GridSpec((0.6, 0.75, 1.4), tuple(DIRECTIONS["oblique"].ravel()))),
}


def preset(name: str) -> tuple[LegSpec, GridSpec]:
    """The leg and default grid of a named preset (see the module docstring)."""
    if name not in PRESETS:
        raise KeyError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    make_leg, grid = PRESETS[name]
    return make_leg(), grid


def random_leg(seed: int, max_voxels: float = 8e6) -> tuple[LegSpec, GridSpec]:
    """A random leg and grid, every parameter drawn from the domain's ranges.

    Anatomies whose vessels would collide with each other or with bone are
    redrawn. The leg is shortened where needed so that the grid holds at most
    about `max_voxels` voxels.

    Examples
    --------
    >>> spec, grid = random_leg(7)
    >>> len(spec.arteries), len(spec.veins)
    (3, 6)
    """
    rng = np.random.default_rng(seed)
    while True:
        spec, grid = _draw_leg(rng, max_voxels)
        if vessels_clear(spec):
            return spec, grid


def random_acquisition(seed: int) -> Acquisition:
    """How a random leg's phases were acquired, drawn from `seed`: the leg moved by 0-5
    degrees and 0-10 mm between them, and half the legs in grey values ``a * HU + b``
    (a 0.4-1.6, air 0-1000 above zero, uint16). Never swapped.

    Drawn from a generator of its own (``(seed, 12)``): the leg itself is the same
    whatever its acquisition.

    Examples
    --------
    >>> acquisition = random_acquisition(7)
    >>> 0 <= acquisition.motion_deg <= 5 and 0 <= acquisition.motion_mm <= 10
    True
    """
    rng = np.random.default_rng([seed, 12])
    motion_deg, motion_mm = rng.uniform(0.0, 5.0), rng.uniform(0.0, 10.0)
    slope = rng.uniform(0.4, 1.6)
    offset = 1024.0 * slope + rng.uniform(0.0, 1000.0)
    uncalibrated = rng.random() < 0.5
    return Acquisition(
        float(motion_deg),
        float(motion_mm),
        (float(slope), float(offset)) if uncalibrated else None,
    )


def _draw_leg(rng: np.random.Generator, max_voxels: float) -> tuple[LegSpec, GridSpec]:
    in_plane = rng.uniform(0.5, 0.8)
    spacing_xyz = np.array([in_plane, in_plane * rng.uniform(0.9, 1.1), rng.uniform(0.6, 1.5)])
    direction_name = rng.choice(["identity", "ras", "permuted", "random"])
    if direction_name == "random":
        direction = (
            rotation("z", rng.uniform(-30, 30))
            @ rotation("x", rng.uniform(-10, 10))
            @ rotation("y", rng.uniform(-10, 10))
        )
    else:
        direction = DIRECTIONS[direction_name]
    # Index axis i runs along physical direction[:, i]: give it that axis's spacing.
    spacing = np.abs(direction.T) @ spacing_xyz
    in_plane_voxels = 112.0 * 104.0 / (spacing_xyz[0] * spacing_xyz[1])
    length = float(min(rng.uniform(200.0, 380.0), max_voxels / in_plane_voxels * spacing_xyz[2]))
    arteries, veins = draw_vessels(rng, length)
    artery_hu = rng.uniform(250, 450)
    intensities = Intensities(
        artery_arterial_proximal=artery_hu,
        artery_arterial_distal=max(150.0, artery_hu * rng.uniform(0.6, 0.9)),
        artery_venous=rng.uniform(140, 220),
        vein_venous=rng.uniform(130, 280),
    )
    spec = LegSpec(
        tuple(arteries),
        tuple(veins),
        length_mm=length,
        intensities=intensities,
        noise_sigma_hu=rng.uniform(5, 35),
        psf_sigma_mm=rng.uniform(0.3, 0.6),
    )
    return spec, GridSpec(tuple(spacing), tuple(direction.ravel()))


def draw_vessels(rng: np.random.Generator, length_mm: float) -> tuple[tuple, tuple]:
    """Three tibial arteries and their paired veins of a leg `length_mm` long, every
    parameter drawn from `rng` (the domain's ranges; collisions are not checked)."""
    arteries, veins = [], []
    for artery in basic_leg().arteries:
        proximal = rng.uniform(1.2, 2.0)
        occlusion = rng.uniform(0.1, 0.75) * length_mm if rng.random() > 0.1 else length_mm + 50.0
        stenoses = tuple(
            Stenosis(rng.uniform(occlusion, length_mm), rng.uniform(8, 20), rng.uniform(0.2, 0.5))
            for _ in range(rng.integers(0, 3))
            if occlusion < length_mm
        )
        arcs = []
        for _ in range(rng.integers(0, 3)):
            z_from = rng.uniform(0.0, length_mm - 10.0)
            arcs.append(
                CalcifiedArc(
                    z_from,
                    z_from + rng.uniform(8, 50),
                    rng.uniform(0, 360),
                    rng.uniform(60, 200),
                    rng.uniform(0.8, 1.5),
                )
            )
        arteries.append(
            replace(
                artery,
                base_xy_mm=tuple(np.asarray(artery.base_xy_mm) + rng.uniform(-2, 2, 2)),
                radius_proximal_mm=proximal,
                radius_distal_mm=proximal * rng.uniform(0.75, 0.95),
                meander_amplitude_mm=tuple(rng.uniform(0.5, 3.5, 2)),
                meander_wavelength_mm=tuple(rng.uniform(70, 180, 2)),
                meander_phase_rad=tuple(rng.uniform(0, 2 * np.pi, 2)),
                occlusion_z_mm=occlusion,
                stenoses=stenoses,
                calcified_arcs=tuple(arcs),
            )
        )
        first_angle = rng.uniform(0, 360)
        for n, stem in enumerate((1, 2)):
            radius = rng.uniform(1.4, 3.0)
            dip, wobble = rng.uniform(0.0, 2.0), rng.uniform(0.0, 0.4)
            gap = rng.uniform(0.6, 3.0)
            veins.append(
                VeinSpec(
                    f"{artery.name.replace('artery', 'vein')}-{stem}",
                    artery.name,
                    offset_mm=proximal + radius + gap + dip + wobble,
                    dip_mm=dip,
                    dip_z_mm=rng.uniform(0.1, 0.9) * length_mm,
                    angle_deg=first_angle + 180.0 * n + rng.uniform(-25, 25),
                    radius_proximal_mm=radius,
                    radius_distal_mm=radius * rng.uniform(0.8, 1.0),
                    dip_width_mm=rng.uniform(15, 45),
                    angle_swing_deg=rng.uniform(0, 30),
                    angle_wavelength_mm=rng.uniform(100, 250),
                    wobble_mm=wobble,
                    wobble_wavelength_mm=rng.uniform(30, 80),
                    phase_rad=rng.uniform(0, 2 * np.pi),
                )
            )
    return tuple(arteries), tuple(veins)


def vessels_clear(spec: LegSpec, step_mm: float = 1.0, clearance_mm: float = 0.5) -> bool:
    """Whether no two vessels come closer than `clearance_mm` wall to wall
    (compared level by level), no vessel touches a bone, and every vessel
    stays inside the muscle."""
    z = np.arange(0.0, spec.length_mm, step_mm)
    lines = centrelines(spec)
    tubes = {name: (line.points_mm(z), line.radius_mm(z)) for name, line in lines.items()}
    muscle = np.asarray(spec.leg_semi_axes_mm) - spec.fat_thickness_mm
    centre_xy = np.array([spec.centre_x_mm, 0.0])
    names = list(tubes)
    for n, name in enumerate(names):
        points, radii = tubes[name]
        if np.any(np.hypot(*((points[:, :2] - centre_xy) / muscle).T) > 1 - 4.0 / muscle.min()):
            return False
        for bone in spec.bones:
            centre = np.hypot(*(points[:, :2] - bone.centre_xy_mm).T)
            if np.any(centre - radii < bone.radius_mm + clearance_mm):
                return False
        for other in names[n + 1 :]:
            other_points, other_radii = tubes[other]
            gap = np.linalg.norm(points - other_points, axis=1) - radii - other_radii
            if np.any(gap < clearance_mm):
                return False
    return True
