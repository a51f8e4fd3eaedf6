"""The leg as scanned: what a runoff scan of a pDVA patient holds beyond one clean leg.

* ``pipestem``: diabetic critical limb ischaemia calcifies tibial arteries all
  round and along their whole length; such an artery is ineligible everywhere.
* ``metal``: a plate with four screws on the tibia's anteromedial face over
  the middle third of the leg (3000 HU, streaks in both phases): an obstacle to
  the needle like bone (bone in the contract's label map), never calcium.
* ``late_fill``: arteries whose contrast fades to none over `LATE_FILL_MM` down
  to their occlusion (a bolus the scan outran): patency there is uncertain,
  confirmed only where half the contrast is left.
* ``bilateral``: both legs in view. The phantom's leg is the patient's right
  one; the left leg beside it (+x in LPS) is the mirror image of a leg of its
  own, drawn from the seed, with its own answer.

Conditions change the anatomy only; the truth is computed on the changed
anatomy, so it is the answer the contract's rules give for the leg as scanned.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from pdvaplan.errors import PdvaplanInputError
from phantoms.leg_spec import (
    CalcifiedArc,
    Implant,
    LegSpec,
    centrelines,
    mirrored,
    plate_and_screws,
)
from phantoms.presets import draw_vessels, vessels_clear

#: Wall thickness (mm) of a pipe-stem calcification.
PIPESTEM_WALL_MM = 1.2
#: Length (mm) over which a late-filling artery's contrast fades to none.
LATE_FILL_MM = 80.0


@dataclass(frozen=True)
class Conditions:
    """What the scanned leg holds beyond one clean leg.

    Parameters
    ----------
    pipestem : tuple of str
        Arteries calcified all round along their whole length.
    bilateral : bool
        The patient's left leg in view beside the (right) leg.
    metal : bool
        A plate and screws on the tibia.
    late_fill : tuple of str
        Arteries whose contrast fades to none over `LATE_FILL_MM`.

    Examples
    --------
    >>> from phantoms.presets import basic_leg
    >>> leg = Conditions(pipestem=("posterior-tibial-artery",)).apply(basic_leg())
    >>> arc = leg.artery("posterior-tibial-artery").calcified_arcs[-1]
    >>> arc.angle_span_deg, arc.z_to_mm - arc.z_from_mm > leg.length_mm
    (360.0, True)
    """

    pipestem: tuple[str, ...] = ()
    bilateral: bool = False
    metal: bool = False
    late_fill: tuple[str, ...] = ()

    def apply(self, spec: LegSpec) -> LegSpec:
        """The leg `spec` with these conditions."""
        names = {artery.name for artery in spec.arteries}
        for option, given in (("--pipestem", self.pipestem), ("--late-fill", self.late_fill)):
            for name in given:
                if name not in names:
                    raise PdvaplanInputError(
                        f"{option} {name}: no such artery; choose one of {', '.join(sorted(names))}"
                    )
        arteries = tuple(
            replace(artery, calcified_arcs=(*artery.calcified_arcs, _pipestem(spec.length_mm)))
            if artery.name in self.pipestem
            else artery
            for artery in spec.arteries
        )
        arteries = tuple(
            replace(artery, fade_mm=LATE_FILL_MM) if artery.name in self.late_fill else artery
            for artery in arteries
        )
        implants = _tibial_plate(spec) if self.metal else ()
        return replace(spec, arteries=arteries, implants=spec.implants + implants)

    def other_leg(self, spec: LegSpec, seed: int) -> LegSpec | None:
        """The patient's left leg beside `spec` when `bilateral` (else None): vessels drawn
        from `seed` (generator ``(seed, 14)``) for a leg as long as `spec`, with its
        bones, outline and intensities, mirrored to lie 10-40 mm beside it (+x)."""
        if not self.bilateral:
            return None
        rng = np.random.default_rng([seed, 14])
        gap_mm = rng.uniform(10.0, 40.0)
        while True:
            arteries, veins = draw_vessels(rng, spec.length_mm)
            leg = replace(spec, arteries=arteries, veins=veins, centre_x_mm=0.0, implants=())
            if vessels_clear(leg):
                centre_mm = spec.centre_x_mm + 2.0 * spec.outer_half_width_mm + gap_mm
                return mirrored(leg, centre_mm)

    def as_dict(self) -> dict:
        """JSON-ready form (lists for tuples)."""
        return {
            key: list(value) if isinstance(value, tuple) else value
            for key, value in asdict(self).items()
        }


def _pipestem(length_mm: float) -> CalcifiedArc:
    """A calcified ring along the whole leg (beyond both ends, so the ends are not arc ends)."""
    return CalcifiedArc(-10.0, length_mm + 10.0, 0.0, 360.0, PIPESTEM_WALL_MM)


def random_conditions(seed: int, spec: LegSpec) -> Conditions:
    """The conditions of the random leg `spec`, drawn from `seed` with a generator of its
    own (``(seed, 13)``), so the leg and its acquisition are the same whatever they are:
    a quarter of the legs have one pipe-stem artery (one whose calcified wall clears
    every other vessel by 0.5 mm).

    Examples
    --------
    >>> from phantoms.presets import basic_leg
    >>> random_conditions(3, basic_leg()).pipestem
    ('peroneal-artery',)
    """
    rng = np.random.default_rng([seed, 13])
    pipestem = ()
    artery = spec.arteries[rng.integers(len(spec.arteries))].name
    if rng.random() < 0.25 and _wall_clearance_mm(spec, artery) >= PIPESTEM_WALL_MM + 0.5:
        pipestem = (artery,)
    bilateral = bool(rng.random() < 0.25)
    metal = bool(rng.random() < 0.2) and _metal_clearance_mm(spec) >= 2.0
    fading = spec.arteries[rng.integers(len(spec.arteries))]
    late_fill = ()
    if rng.random() < 0.2 and spec.length_mm - fading.occlusion_z_mm > LATE_FILL_MM + 40.0:
        late_fill = (fading.name,)
    return Conditions(pipestem=pipestem, bilateral=bilateral, metal=metal, late_fill=late_fill)


def _tibial_plate(spec: LegSpec) -> tuple[Implant, ...]:
    """A plate and four screws on the (right) tibia's anteromedial face (+x, -y), over the
    middle third of the leg."""
    tibia = spec.bones[0]
    return plate_and_screws(tibia, -50.0, spec.length_mm / 3, 2 * spec.length_mm / 3)


def _metal_clearance_mm(spec: LegSpec, step_mm: float = 1.0) -> float:
    """Smallest gap (mm) between any vessel's wall and the tibial plate or its screws."""
    z = np.arange(0.0, spec.length_mm, step_mm)
    implants = _tibial_plate(spec)
    return float(
        min(
            np.min(implant.signed_distance_mm(line.points_mm(z)) - line.radius_mm(z))
            for line in centrelines(spec).values()
            for implant in implants
        )
    )


def _wall_clearance_mm(spec: LegSpec, artery: str, step_mm: float = 1.0) -> float:
    """Smallest wall-to-wall gap (mm, level by level) between `artery` and any other vessel."""
    z = np.arange(0.0, spec.length_mm, step_mm)
    lines = centrelines(spec)
    points, radii = lines[artery].points_mm(z), lines[artery].radius_mm(z)
    gaps = [
        np.linalg.norm(points - line.points_mm(z), axis=1) - radii - line.radius_mm(z)
        for name, line in lines.items()
        if name != artery
    ]
    return float(np.min(gaps))
