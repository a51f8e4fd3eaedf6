"""How a phantom's two phases were acquired and handed over: motion, grey scale, order.

Clinical two-phase data often breaks what a clean phantom assumes:

* the venous phase is a second acquisition, on its own grid, with the leg
  moved (rotated by a few degrees and shifted by a few millimetres);
* the grey values are not HU (cone-beam CT, 3D rotational angiography):
  ``grey = a * HU + b`` stored as unsigned integers;
* the two files are handed over in the wrong order.

The anatomy and the truth stay in the arterial phase's frame. The moved leg
is imaged by sampling the anatomy through the venous grid as the moved leg
sees it: a venous voxel at scanner position ``p`` shows the anatomy at
``q = R^T (p - c - t) + c`` (rotation ``R`` about the leg's centre ``c``,
shift ``t``), so ``p = R (q - c) + c + t`` maps arterial (anatomy)
positions to venous ones, the transform a registration recovers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pdvaplan.errors import PdvaplanInputError


@dataclass(frozen=True)
class Acquisition:
    """How the phases of a phantom were acquired and handed over.

    Parameters
    ----------
    motion_deg : float
        Rotation of the leg between the phases (degrees) about an axis drawn
        from the phantom's seed through the leg's centre.
    motion_mm : float
        Shift of the leg between the phases (mm) in a direction drawn from
        the seed. With any motion the venous phase gets a grid of its own
        (spacing within -10..+15 % of the arterial one, its own origin and size).
    hu_scale : tuple of two floats, optional
        Grey values ``a * HU + b`` instead of HU (both phases), stored as
        uint16 where they fit, else int16 or int32.
    swap_phases : bool
        Hand the venous phase over as the arterial one and vice versa.

    Examples
    --------
    >>> Acquisition(3.0, 3.5).moved
    True
    >>> Acquisition(hu_scale=(0.65, 1100.0)).grey([-1000.0, 0.0, 1200.0]).tolist()
    [450, 1100, 1880]
    """

    motion_deg: float = 0.0
    motion_mm: float = 0.0
    hu_scale: tuple[float, float] | None = None
    swap_phases: bool = False

    def __post_init__(self) -> None:
        if not (np.isfinite(self.motion_deg) and 0.0 <= self.motion_deg <= 45.0):
            raise PdvaplanInputError(f"--motion {self.motion_deg:g} deg: expected 0 to 45 degrees")
        if not (np.isfinite(self.motion_mm) and 0.0 <= self.motion_mm <= 100.0):
            raise PdvaplanInputError(f"--motion {self.motion_mm:g} mm: expected 0 to 100 mm")
        if self.hu_scale is not None:
            a, b = self.hu_scale
            if not (np.isfinite(a) and np.isfinite(b) and 0.01 <= a <= 100.0):
                raise PdvaplanInputError(
                    f"--hu-scale {a:g} {b:g}: expected a slope of 0.01 to 100 and a finite offset"
                )

    @property
    def moved(self) -> bool:
        """Whether the venous phase is a second acquisition with the leg moved."""
        return self.motion_deg > 0.0 or self.motion_mm > 0.0

    def grey(self, hu: np.ndarray) -> np.ndarray:
        """HU values as the stored grey values (rounded; uint16 where they fit)."""
        hu = np.asarray(hu, dtype=np.float64)
        if self.hu_scale is None:
            return np.clip(np.rint(hu), -32768, 32767).astype(np.int16)
        a, b = self.hu_scale
        grey = np.rint(a * hu + b)
        low, high = (float(grey.min()), float(grey.max())) if grey.size else (0.0, 0.0)
        for dtype in (np.uint16, np.int16, np.int32):
            info = np.iinfo(dtype)
            if info.min <= low and high <= info.max:
                return grey.astype(dtype)
        return np.clip(grey, np.iinfo(np.int32).min, np.iinfo(np.int32).max).astype(np.int32)

    def as_dict(self) -> dict:
        """JSON-ready record of the acquisition."""
        return {
            "motion_deg": self.motion_deg,
            "motion_mm": self.motion_mm,
            "hu_scale": None if self.hu_scale is None else list(self.hu_scale),
            "swap_phases": self.swap_phases,
        }


@dataclass(frozen=True)
class LegMotion:
    """The rigid motion of the leg between the phases: ``p = rotation @ (q - centre) + centre +
    shift`` takes an arterial (anatomy) position q to where the venous phase images it."""

    rotation: np.ndarray
    centre_mm: np.ndarray
    shift_mm: np.ndarray
    venous_spacing_scale: np.ndarray

    def venous_from_arterial(self, points_mm: np.ndarray) -> np.ndarray:
        """Where the venous phase images arterial-frame positions (N, 3)."""
        points_mm = np.asarray(points_mm, dtype=np.float64)
        return (points_mm - self.centre_mm) @ self.rotation.T + self.centre_mm + self.shift_mm

    def as_dict(self) -> dict:
        """JSON-ready: the matrix and offset of ``p = matrix @ q + offset_mm``."""
        offset = self.centre_mm + self.shift_mm - self.rotation @ self.centre_mm
        return {
            "matrix": self.rotation.tolist(),
            "offset_mm": offset.tolist(),
            "rotation_deg": rotation_angle_deg(self.rotation),
            "centre_mm": self.centre_mm.tolist(),
            "shift_mm": self.shift_mm.tolist(),
        }


def leg_motion(acquisition: Acquisition, seed: int, centre_mm: np.ndarray) -> LegMotion:
    """The motion `acquisition` asks for, its axis, direction and venous grid drawn from `seed`.

    Drawn from a generator of its own (seeded by ``(seed, 11)``), so a leg's
    anatomy and noise do not depend on its acquisition.

    Examples
    --------
    >>> motion = leg_motion(Acquisition(3.0, 3.5), 0, np.zeros(3))
    >>> round(rotation_angle_deg(motion.rotation), 6)
    3.0
    >>> round(float(np.linalg.norm(motion.shift_mm)), 6)
    3.5
    """
    rng = np.random.default_rng([seed, 11])
    axis = _unit(rng.normal(size=3))
    direction = _unit(rng.normal(size=3))
    scale = rng.uniform(0.9, 1.15, 3)
    return LegMotion(
        rotation=rotation_about(axis, acquisition.motion_deg),
        centre_mm=np.asarray(centre_mm, dtype=np.float64),
        shift_mm=acquisition.motion_mm * direction,
        venous_spacing_scale=scale,
    )


def rotation_about(axis: np.ndarray, degrees: float) -> np.ndarray:
    """Right-handed rotation matrix by `degrees` about a unit `axis` (Rodrigues)."""
    axis = _unit(np.asarray(axis, dtype=np.float64))
    angle = np.radians(degrees)
    cross = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * cross + (1 - np.cos(angle)) * cross @ cross


def rotation_angle_deg(rotation: np.ndarray) -> float:
    """Angle (degrees) of a rotation matrix."""
    cosine = np.clip((np.trace(np.asarray(rotation)) - 1.0) / 2.0, -1.0, 1.0)
    return float(np.degrees(np.arccos(cosine)))


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)
