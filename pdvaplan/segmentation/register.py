"""Stage 2, register: the venous phase onto the arterial one, rigidly, checked on bone.

The venous phase is often a second acquisition (a second cone-beam spin, a
later CT pass): its own grid, the leg moved by a few degrees and millimetres.
It is registered onto the arterial phase before anything is segmented, and
every position stays in the arterial phase's frame.

Method (SimpleITK's registration framework):

* **What is compared.** Both phases in HU, block-averaged to about 2 mm
  (`REGISTRATION_SPACING_MM`) and clamped to [-1000, 1000] HU: the leg's
  outline, fat, muscle and bone. Contrast differs between the phases only in
  the vessels, a few per cent of the leg, which mean squares weighs no more
  than their share; calcium is bright in both phases and helps.
* **How.** Mean squares over a regular 10 % sample of the arterial grid,
  three resolutions (8, 4 and 2 mm, smoothed by 2, 1 and half a voxel:
  without the last, noise cost up to 0.5 mm along the leg), Powell's method
  over the six parameters of a rigid (Euler) transform about the centre of
  the arterial volume, started from no motion. A leg is nearly a cylinder
  along its length, so the metric is shallow along the leg and steep across
  it; gradient descent stopped millimetres short along the leg on phantoms
  (its steps follow the steep directions), Powell's line searches along each
  parameter do not.
* **The check.** The residual misalignment is measured on bone, whose edges
  are sharp in both phases and do not change with contrast: at points of the
  arterial bone surface (on a 1 mm grid), the venous phase is searched along
  the surface normal for the same level crossing (`BoneSurface`). Its
  median distance is the residual in mm; more than `MAX_BONE_RESIDUAL_MM`
  means the registration failed (a rigid registration), or that the phases do
  not share a frame (``--register none``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from pdvaplan.errors import PdvaplanInputError
from pdvaplan.filters import smooth_mm
from pdvaplan.io import RigidTransform, Volume, from_sitk
from pdvaplan.segmentation.bone import bright_surface

#: Registration methods: a rigid registration, or none (the phases share a frame).
METHODS = ("rigid", "none")
#: Grid (mm) the phases are compared on while registering.
REGISTRATION_SPACING_MM = 2.0
#: Grid (mm) the residual is measured on.
CHECK_SPACING_MM = 1.0
#: A registration that moves no corner of the arterial volume farther than this (mm) is
#: taken for no motion (the phases' own precision; interpolating would only blur).
NO_MOTION_MM = 0.2
#: Largest bone residual (mm) of an acceptable registration.
MAX_BONE_RESIDUAL_MM = 1.0
#: Bone surface: where the (smoothed) arterial phase crosses this level (HU).
BONE_LEVEL_HU = 500.0
#: Smallest bright component taken for bone when measuring the residual (mm³).
BONE_MIN_MM3 = 1000.0
#: The venous phase is searched this far (mm) along the normal; farther counts as this.
SEARCH_MM = 5.0
#: Bone surface points the residual is measured at (at most).
MAX_POINTS = 4000


@dataclass(frozen=True)
class BoneResidual:
    """How far apart the phases' bone surfaces are, along the arterial surface's normals.

    Attributes
    ----------
    median_mm, p90_mm : float or None
        Median and 90th percentile of the distances (None without bone).
    points : int
        Surface points measured.
    """

    median_mm: float | None
    p90_mm: float | None
    points: int


@dataclass(frozen=True)
class Registration:
    """Where the venous phase images each position of the arterial phase's frame.

    Attributes
    ----------
    method : str
        ``"rigid"`` or ``"none"``.
    transform : RigidTransform
        Arterial frame -> venous frame (mm, LPS); the identity for ``"none"``.
    centre_mm : numpy.ndarray
        Centre of rotation of the Euler parameters.
    rotation_deg : numpy.ndarray
        Euler angles about x, y and z (SimpleITK's Euler3DTransform, degrees).
    translation_mm : numpy.ndarray
        Translation of the Euler transform (mm).
    metric_before, metric_after : float or None
        Mean squares (HU²) on the registration grid with no motion and after.
    residual_before, residual : BoneResidual
        Bone residual with no motion and after registering.
    """

    method: str
    transform: RigidTransform
    centre_mm: np.ndarray = field(default_factory=lambda: np.zeros(3))
    rotation_deg: np.ndarray = field(default_factory=lambda: np.zeros(3))
    translation_mm: np.ndarray = field(default_factory=lambda: np.zeros(3))
    metric_before: float | None = None
    metric_after: float | None = None
    residual_before: BoneResidual | None = None
    residual: BoneResidual | None = None

    @property
    def angle_deg(self) -> float:
        """Total rotation angle (degrees)."""
        cosine = (np.trace(self.transform.matrix) - 1.0) / 2.0
        return float(np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0))))

    def warnings(self) -> list[str]:
        """What a user must be told about the registration."""
        if self.residual is None or self.residual.median_mm is None:
            return [
                "the phases' alignment could not be checked: no bone found in the arterial phase"
            ]
        if self.method == "none" and self.residual.median_mm > MAX_BONE_RESIDUAL_MM:
            return [
                f"bone of the two phases disagrees by {self.residual.median_mm:.1f} mm "
                f"(--register none; limit {MAX_BONE_RESIDUAL_MM:g} mm): the phases do not share "
                "a frame, so the veins may lie that far from where the plan puts them; rerun "
                "with --register rigid"
            ]
        return []

    def as_dict(self) -> dict:
        """JSON-ready record for plan.json."""

        def residual(value: BoneResidual | None) -> dict | None:
            return None if value is None else vars(value).copy()

        return {
            "method": self.method,
            "rotation_deg": self.rotation_deg.tolist(),
            "translation_mm": self.translation_mm.tolist(),
            "centre_mm": self.centre_mm.tolist(),
            "angle_deg": self.angle_deg,
            "matrix": self.transform.matrix.tolist(),
            "offset_mm": self.transform.offset_mm.tolist(),
            "maps": "arterial-phase position -> venous-phase position: matrix @ p + offset_mm",
            "metric": "mean squares (HU^2) of both phases on a 2 mm grid, clamped to +-1000 HU",
            "metric_before": self.metric_before,
            "metric_after": self.metric_after,
            "bone_residual_mm": None if self.residual is None else self.residual.median_mm,
            "bone_residual": residual(self.residual),
            "bone_residual_before": residual(self.residual_before),
            "max_bone_residual_mm": MAX_BONE_RESIDUAL_MM,
        }


def register_phases(arterial_hu: Volume, venous_hu: Volume, method: str = "rigid") -> Registration:
    """Register the venous phase rigidly onto the arterial phase and check it on bone.

    Parameters
    ----------
    arterial_hu, venous_hu : Volume
        The two phases in HU, each on its own grid.
    method : {"rigid", "none"}
        ``"none"``: the phases are known to share a frame; only the check runs.

    Returns
    -------
    Registration

    Raises
    ------
    PdvaplanInputError
        If the phases do not overlap, the registration fails, or a rigid
        registration leaves more than `MAX_BONE_RESIDUAL_MM` of bone residual.

    Examples
    --------
    >>> from phantoms import Acquisition, make_phantom
    >>> leg = make_phantom("basic", spacing_mm=(1.5, 1.5, 2.0), acquisition=Acquisition(3.0, 3.5))
    >>> found = register_phases(leg.arterial, leg.venous)
    >>> round(found.angle_deg, 1), found.residual.median_mm < 0.3
    (3.0, True)
    """
    if method not in METHODS:
        raise PdvaplanInputError(f"--register {method}: choose one of {', '.join(METHODS)}")
    _check_overlap(arterial_hu, venous_hu)
    identity = RigidTransform.identity()
    surface = BoneSurface(arterial_hu)
    checked = BoneSurface.prepare(venous_hu)
    before = surface.residual(checked, identity)
    if method == "none":
        return Registration(
            "none",
            identity,
            residual_before=before,
            residual=before,
        )
    fixed = _registration_image(arterial_hu)
    moving = _registration_image(venous_hu)
    centre = np.asarray(
        fixed.TransformContinuousIndexToPhysicalPoint([(n - 1) / 2 for n in fixed.GetSize()])
    )
    euler = sitk.Euler3DTransform()
    euler.SetCenter(centre.tolist())
    method_ = _registration_method(euler)
    try:
        metric_before = method_.MetricEvaluate(fixed, moving)
        method_.Execute(fixed, moving)
        metric_after = method_.MetricEvaluate(fixed, moving)
    except RuntimeError as error:
        reason = str(error).strip().splitlines()[-1] if str(error).strip() else "unknown error"
        raise PdvaplanInputError(
            f"{venous_hu.source}: rigid registration onto {arterial_hu.source} failed ({reason})"
        ) from None
    transform = RigidTransform(
        np.asarray(euler.GetMatrix()).reshape(3, 3),
        np.asarray(euler.TransformPoint((0.0, 0.0, 0.0))),
    )
    corners = arterial_hu.corners_mm()
    if np.linalg.norm(transform.apply(corners) - corners, axis=1).max() < NO_MOTION_MM:
        # Below the registration's precision: resampling would only blur the venous phase.
        return Registration(
            "rigid",
            identity,
            centre_mm=centre,
            metric_before=float(metric_before),
            metric_after=float(metric_before),
            residual_before=before,
            residual=before,
        )
    after = surface.residual(checked, transform)
    registration = Registration(
        method="rigid",
        transform=transform,
        centre_mm=centre,
        rotation_deg=np.degrees(np.asarray(euler.GetParameters()[:3])),
        translation_mm=np.asarray(euler.GetTranslation()),
        metric_before=float(metric_before),
        metric_after=float(metric_after),
        residual_before=before,
        residual=after,
    )
    if after.median_mm is None and len(surface.fixed_at_mm) >= 50:
        raise PdvaplanInputError(
            f"{venous_hu.source}: rigid registration onto {arterial_hu.source} failed: too "
            "little of the arterial phase's bone lies inside the venous phase after it"
        )
    if after.median_mm is not None and after.median_mm > MAX_BONE_RESIDUAL_MM:
        raise PdvaplanInputError(
            f"{venous_hu.source}: rigid registration onto {arterial_hu.source} left "
            f"{after.median_mm:.1f} mm of bone residual (limit {MAX_BONE_RESIDUAL_MM:g} mm); "
            "the phases may not show the same leg"
        )
    return registration


def _check_overlap(arterial: Volume, venous: Volume) -> None:
    """Refuse phases whose volumes share no physical space (before registering them)."""
    a, v = arterial.corners_mm(), venous.corners_mm()
    low = np.maximum(a.min(axis=0), v.min(axis=0))
    high = np.minimum(a.max(axis=0), v.max(axis=0))
    if np.any(low >= high):
        raise PdvaplanInputError(
            f"{venous.source}: venous phase does not overlap the arterial phase "
            f"{arterial.source} in physical space"
        )


def _registration_method(transform: sitk.Transform) -> sitk.ImageRegistrationMethod:
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMeanSquares()
    method.SetMetricSamplingStrategy(method.REGULAR)
    method.SetMetricSamplingPercentage(0.1, 1)
    method.SetInterpolator(sitk.sitkLinear)
    # Line searches of 6 steps to 0.05 (scaled units) find the same transform on the
    # tuning legs as 10 steps to 0.01 (corners within 0.02 mm) in 70 % of the time.
    method.SetOptimizerAsPowell(
        numberOfIterations=20,
        maximumLineIterations=6,
        stepLength=1.0,
        stepTolerance=0.05,
        valueTolerance=1e-6,
    )
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel([4, 2, 1])
    method.SetSmoothingSigmasPerLevel([2.0, 1.0, 0.5])
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOff()
    method.SetInitialTransform(transform, inPlace=True)
    return method


def _registration_image(volume_hu: Volume) -> sitk.Image:
    """The phase block-averaged to about `REGISTRATION_SPACING_MM`, clamped to +-1000 HU."""
    return sitk.Clamp(
        _block_mean(volume_hu, REGISTRATION_SPACING_MM), sitk.sitkFloat32, -1000, 1000
    )


def _block_mean(volume: Volume, spacing_mm: float) -> sitk.Image:
    """The volume averaged over blocks of whole voxels about `spacing_mm` wide (float32)."""
    factors = [max(1, round(spacing_mm / s)) for s in volume.spacing_mm]
    image = sitk.Cast(volume.to_sitk(), sitk.sitkFloat32)
    return sitk.BinShrink(image, factors) if max(factors) > 1 else image


class BoneSurface:
    """Points on the arterial phase's bone surface, where the phases' alignment is measured.

    The arterial phase is block-averaged to about `CHECK_SPACING_MM` and
    smoothed (0.7 mm); up to `MAX_POINTS` voxels on the surface of its bone
    (components of at least `BONE_MIN_MM3` above `BONE_LEVEL_HU`) are kept
    with the normal there (bright to dark) and where, along it, the arterial
    phase crosses the level (sub-voxel).

    Parameters
    ----------
    arterial_hu : Volume
        The arterial phase in HU.
    """

    def __init__(self, arterial_hu: Volume) -> None:
        fixed = _smoothed(_block_mean(arterial_hu, CHECK_SPACING_MM))
        a = fixed.array
        spacing = fixed.spacing_mm
        self.steps_mm = np.arange(-SEARCH_MM, SEARCH_MM + 1e-9, 0.1)
        self.positions_mm = np.zeros((0, len(self.steps_mm), 3))
        self.fixed_at_mm = np.zeros(0)
        points = bright_surface(a, BONE_LEVEL_HU, spacing, BONE_MIN_MM3)
        if len(points) == 0:
            return
        points = points[:: max(1, len(points) // MAX_POINTS)]
        # Central differences at the points only (in mm along each index axis).
        gradient = np.empty((len(points), 3))
        for axis in range(3):
            step = np.zeros(3, int)
            step[axis] = 1
            ahead = np.minimum(points + step, np.asarray(a.shape) - 1)
            behind = np.maximum(points - step, 0)
            gradient[:, axis] = (a[tuple(ahead.T)] - a[tuple(behind.T)]) / (
                (ahead[:, axis] - behind[:, axis]).clip(1) * spacing[axis]
            )
        norm = np.linalg.norm(gradient, axis=1)
        keep = norm > 1e-3
        points, normal = points[keep], -gradient[keep] / norm[keep, None]
        # Index positions along each normal, then physical ones: (points, steps, 3).
        along = points[:, None, :] + (normal / spacing)[:, None, :] * self.steps_mm[:, None]
        profile = ndimage.map_coordinates(a, along.reshape(-1, 3).T, order=1, mode="nearest")
        fixed_at = _nearest_fall(
            profile.reshape(len(points), -1), self.steps_mm, BONE_LEVEL_HU, np.zeros(len(points))
        )
        found = np.isfinite(fixed_at)
        self.positions_mm = fixed.index_to_physical(along[found])
        self.fixed_at_mm = fixed_at[found]

    def residual(self, venous: Volume, transform: RigidTransform) -> BoneResidual:
        """How far the venous phase's bone surface lies from these points, after `transform`.

        The venous phase, block-averaged and smoothed alike
        (`BoneSurface.prepare`), is sampled along each normal where
        `transform` puts it; the distance is that from the
        arterial crossing of the level to the nearest venous crossing of the
        same sense (`SEARCH_MM` where there is none); normals that leave the
        venous volume are not counted. A translation u shows as ``|u . n|``:
        on a bone shaft, about 0.7 |u| across the leg, nothing along it.

        Returns
        -------
        BoneResidual
            Median and 90th percentile (mm), None with fewer than 50 points.
        """
        if len(self.fixed_at_mm) < 50:
            return BoneResidual(None, None, len(self.fixed_at_mm))
        moving = venous
        index = moving.physical_to_index(transform.apply(self.positions_mm))
        inside = np.all((index >= 0) & (index <= np.asarray(moving.shape) - 1), axis=(1, 2))
        if inside.sum() < 50:
            return BoneResidual(None, None, int(inside.sum()))
        profile = ndimage.map_coordinates(
            moving.array, index[inside].reshape(-1, 3).T, order=1, mode="nearest"
        ).reshape(int(inside.sum()), -1)
        fixed_at = self.fixed_at_mm[inside]
        moving_at = _nearest_fall(profile, self.steps_mm, BONE_LEVEL_HU, fixed_at)
        distance = np.where(np.isfinite(moving_at), np.abs(moving_at - fixed_at), SEARCH_MM)
        if distance.size < 50:
            return BoneResidual(None, None, int(distance.size))
        median, p90 = np.percentile(distance, [50.0, 90.0])
        return BoneResidual(float(median), float(p90), int(distance.size))

    @staticmethod
    def prepare(venous_hu: Volume) -> Volume:
        """The venous phase as `residual` samples it: block-averaged and smoothed like the
        arterial phase the surface was found in."""
        return _smoothed(_block_mean(venous_hu, CHECK_SPACING_MM))


def _smoothed(image: sitk.Image) -> Volume:
    """A block-averaged phase smoothed by 0.7 mm, as a Volume."""
    blocks = from_sitk(image, "block means")
    return blocks.with_array(smooth_mm(blocks.array, blocks.spacing_mm, 0.7))


def _nearest_fall(
    profiles: np.ndarray, steps: np.ndarray, level: float, reference_mm: np.ndarray
) -> np.ndarray:
    """Per profile, the position (mm) nearest its `reference_mm` where it falls through
    `level`; NaN if none."""
    above = profiles >= level
    falls = above[:, :-1] & ~above[:, 1:]
    lo, hi = profiles[:, :-1], profiles[:, 1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (lo - level) / (lo - hi)
    position = steps[:-1] + t * (steps[1] - steps[0])
    position = np.where(falls, position, np.inf)
    nearest = np.argmin(np.abs(position - reference_mm[:, None]), axis=1)
    found = position[np.arange(len(position)), nearest]
    return np.where(np.isfinite(found), found, np.nan)
