"""Volumes with their physical frame: read, write, convert, resample.

Every position pdvaplan reports is in millimetres in the physical frame that
SimpleITK reports (LPS: +x patient left, +y posterior, +z superior). This
module is the only place that converts between voxel indices and that frame.

Arrays are indexed like SimpleITK's image index: ``array[i, j, k]`` is the
voxel at index ``(i, j, k)`` whose physical position is

    origin_mm + direction @ (spacing_mm * (i, j, k))

(the transpose of ``sitk.GetArrayFromImage``, which is ``[k, j, i]``).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from pdvaplan.errors import PdvaplanInputError
from pdvaplan.outputs import atomic_path

# ITK's warnings go to stderr as lines of C++ context; pdvaplan turns the problems they
# report into its own one-line messages.
sitk.ProcessObject.SetGlobalWarningDisplay(False)

#: Voxel spacings outside this range (mm) are rejected as absurd: a CT of a leg has voxels of
#: 0.1-5 mm; below 0.01 mm the header is most likely in metres.
SPACING_RANGE_MM = (0.01, 20.0)


@dataclass(frozen=True)
class Volume:
    """A 3D image and its physical frame.

    Parameters
    ----------
    array : numpy.ndarray
        Voxel values indexed ``[i, j, k]`` (SimpleITK index order).
    spacing_mm : numpy.ndarray
        Voxel size along the index axes i, j, k, in mm, shape (3,).
    origin_mm : numpy.ndarray
        Physical position of voxel (0, 0, 0), in mm (LPS), shape (3,).
    direction : numpy.ndarray
        3 x 3 orthonormal matrix whose columns are the physical directions of
        the index axes i, j, k.
    source : str
        Where the volume came from (a path, or a description); used in messages.

    Examples
    --------
    >>> import numpy as np
    >>> vol = Volume(np.zeros((4, 5, 6), np.int16), np.array([0.5, 0.5, 2.0]),
    ...              np.zeros(3), np.diag([-1.0, -1.0, 1.0]))
    >>> vol.index_to_physical([1, 2, 3]).tolist()
    [-0.5, -1.0, 6.0]
    >>> vol.physical_to_index([-0.5, -1.0, 6.0]).tolist()
    [1.0, 2.0, 3.0]
    """

    array: np.ndarray
    spacing_mm: np.ndarray
    origin_mm: np.ndarray
    direction: np.ndarray
    source: str = "<memory>"

    def __post_init__(self) -> None:
        for name, shape in (("spacing_mm", (3,)), ("origin_mm", (3,)), ("direction", (3, 3))):
            value = np.asarray(getattr(self, name), dtype=np.float64)
            if value.shape != shape:
                raise PdvaplanInputError(f"{self.source}: {name} must have shape {shape}")
            object.__setattr__(self, name, value)
        if self.array.ndim != 3:
            raise PdvaplanInputError(f"{self.source}: expected a 3D volume, got {self.array.ndim}D")
        check_frame(self.spacing_mm, self.direction, self.source)

    @property
    def shape(self) -> tuple[int, int, int]:
        """Number of voxels along i, j, k."""
        return self.array.shape

    @property
    def orientation(self) -> str:
        """Three-letter orientation code of the index axes, e.g. ``"LPS"`` or ``"RAI"``.

        Each letter names the patient direction towards which index i, j, k
        increases (DICOM convention, as SimpleITK reports it).
        """
        return sitk.DICOMOrientImageFilter.GetOrientationFromDirectionCosines(
            self.direction.ravel().tolist()
        )

    @property
    def index_to_physical_matrix(self) -> np.ndarray:
        """3 x 3 matrix M with ``physical = origin_mm + M @ index``."""
        return self.direction * self.spacing_mm[np.newaxis, :]

    def index_to_physical(self, index: np.ndarray) -> np.ndarray:
        """Physical positions (mm) of continuous indices.

        Parameters
        ----------
        index : array_like, shape (..., 3)
            Continuous indices (i, j, k).

        Returns
        -------
        numpy.ndarray, shape (..., 3)
            Positions in mm (LPS).
        """
        index = np.asarray(index, dtype=np.float64)
        return index @ self.index_to_physical_matrix.T + self.origin_mm

    def physical_to_index(self, points_mm: np.ndarray) -> np.ndarray:
        """Continuous indices of physical positions (mm); inverse of `index_to_physical`.

        Parameters
        ----------
        points_mm : array_like, shape (..., 3)
            Positions in mm (LPS).

        Returns
        -------
        numpy.ndarray, shape (..., 3)
            Continuous indices (i, j, k); voxel centres are whole numbers.
        """
        points_mm = np.asarray(points_mm, dtype=np.float64)
        # direction is orthonormal, so its inverse is its transpose.
        return ((points_mm - self.origin_mm) @ self.direction) / self.spacing_mm

    def voxel_positions_mm(self) -> np.ndarray:
        """Physical positions of every voxel centre, shape ``array.shape + (3,)``."""
        grids = np.meshgrid(*(np.arange(n, dtype=np.float64) for n in self.shape), indexing="ij")
        return self.index_to_physical(np.stack(grids, axis=-1))

    def voxel_coordinate_mm(self, axis: int, dtype=np.float32) -> np.ndarray:
        """One physical coordinate (0 x, 1 y, 2 z; mm) of every voxel centre.

        Cheaper than `voxel_positions_mm` when only one coordinate is needed,
        e.g. the height z of every voxel.
        """
        row = self.index_to_physical_matrix[axis]
        ogrid = np.ogrid[tuple(slice(0, n) for n in self.shape)]
        total = np.full(self.shape, self.origin_mm[axis], dtype=dtype)
        for weight, index in zip(row, ogrid, strict=True):
            total += (weight * index).astype(dtype)
        return total

    def corners_mm(self) -> np.ndarray:
        """Physical positions (mm) of the 8 corner voxel centres, shape (8, 3)."""
        last = np.asarray(self.shape) - 1
        index = np.array(
            [[i, j, k] for i in (0, last[0]) for j in (0, last[1]) for k in (0, last[2])]
        )
        return self.index_to_physical(index)

    def contains(self, points_mm: np.ndarray) -> np.ndarray:
        """Whether physical positions lie inside the volume (within half a voxel of a centre)."""
        index = self.physical_to_index(points_mm)
        upper = np.asarray(self.shape, dtype=np.float64) - 0.5
        return np.all((index >= -0.5) & (index <= upper), axis=-1)

    def crop(self, lower: np.ndarray, upper: np.ndarray) -> Volume:
        """The sub-volume of voxels ``lower <= index < upper`` (clipped to the volume).

        The crop keeps its place in physical space: its origin is the physical
        position of voxel `lower`. The array is a view, not a copy.
        """
        lower = np.clip(np.asarray(lower, dtype=int), 0, self.shape)
        upper = np.clip(np.asarray(upper, dtype=int), lower, self.shape)
        array = self.array[lower[0] : upper[0], lower[1] : upper[1], lower[2] : upper[2]]
        return Volume(
            array, self.spacing_mm, self.index_to_physical(lower), self.direction, self.source
        )

    def crop_to(self, frame: Volume) -> Volume:
        """The part of this volume that covers `frame`'s voxels (a view).

        Both must share spacing and direction and have voxel centres on one
        lattice (e.g. two crops of one volume); the result may be smaller
        than `frame` where this volume ends.
        """
        if not (
            np.allclose(self.spacing_mm, frame.spacing_mm)
            and np.allclose(self.direction, frame.direction)
        ):
            raise ValueError("crop_to needs volumes of one spacing and direction")
        lower = np.rint(self.physical_to_index(frame.origin_mm)).astype(int)
        return self.crop(lower, lower + np.asarray(frame.shape))

    def with_array(self, array: np.ndarray, source: str | None = None) -> Volume:
        """The same frame holding other voxel values (same shape)."""
        if array.shape != self.shape:
            raise ValueError(f"shape {array.shape} differs from the volume's {self.shape}")
        return Volume(
            array,
            self.spacing_mm,
            self.origin_mm,
            self.direction,
            self.source if source is None else source,
        )

    def to_sitk(self) -> sitk.Image:
        """The volume as a SimpleITK image (values copied)."""
        image = sitk.GetImageFromArray(np.ascontiguousarray(self.array.transpose(2, 1, 0)))
        image.SetSpacing(self.spacing_mm.tolist())
        image.SetOrigin(self.origin_mm.tolist())
        image.SetDirection(self.direction.ravel().tolist())
        return image


def check_frame(spacing_mm: np.ndarray, direction: np.ndarray, source: str) -> None:
    """Reject absurd spacings and non-orthonormal direction matrices.

    Raises
    ------
    PdvaplanInputError
        If a spacing is not finite or outside `SPACING_RANGE_MM`, or the
        direction matrix is not orthonormal.
    """
    low, high = SPACING_RANGE_MM
    if not np.all(np.isfinite(spacing_mm)) or np.any(spacing_mm < low) or np.any(spacing_mm > high):
        shown = ", ".join(f"{s:g}" for s in spacing_mm)
        metres = np.all(np.isfinite(spacing_mm)) and np.all(spacing_mm < low)
        raise PdvaplanInputError(
            f"{source}: absurd voxel spacing ({shown}) mm; expected {low:g} to {high:g} mm"
            + (" (is the header in metres?)" if metres else "")
        )
    if not np.all(np.isfinite(direction)) or not np.allclose(
        direction.T @ direction, np.eye(3), atol=1e-4
    ):
        raise PdvaplanInputError(f"{source}: direction matrix is not orthonormal")


def from_sitk(image: sitk.Image, source: str = "<memory>") -> Volume:
    """Wrap a SimpleITK image as a `Volume` (values copied).

    Parameters
    ----------
    image : SimpleITK.Image
        A scalar 3D image.
    source : str
        Name used in error messages.

    Raises
    ------
    PdvaplanInputError
        If the image is not a scalar 3D image, is empty, or holds NaN or
        infinite values.
    """
    if image.GetDimension() != 3:
        raise PdvaplanInputError(f"{source}: expected a 3D volume, got {image.GetDimension()}D")
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise PdvaplanInputError(
            f"{source}: expected one value per voxel, got "
            f"{image.GetNumberOfComponentsPerPixel()} (a colour or vector image)"
        )
    size = image.GetSize()
    if min(size) < 2:
        raise PdvaplanInputError(
            f"{source}: volume of {size[0]} x {size[1]} x {size[2]} voxels is too thin to be 3D"
        )
    # GetArrayFromImage copies, so the array outlives the image.
    array = sitk.GetArrayFromImage(image).transpose(2, 1, 0)
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        raise PdvaplanInputError(f"{source}: holds NaN or infinite voxel values")
    return Volume(
        array,
        np.array(image.GetSpacing()),
        np.array(image.GetOrigin()),
        np.array(image.GetDirection()).reshape(3, 3),
        source,
    )


def read_volume(path: str | os.PathLike) -> Volume:
    """Read a 3D volume from any file SimpleITK reads or a DICOM series folder.

    Parameters
    ----------
    path : str or path-like
        A NIfTI (``.nii``, ``.nii.gz``), NRRD, MetaImage (``.mha``/``.mhd``)
        file, or a folder holding exactly one DICOM series.

    Returns
    -------
    Volume
        The voxel values with spacing, origin and direction.

    Raises
    ------
    PdvaplanInputError
        With a one-line message naming the file and the problem: missing,
        unreadable, not 3D, empty, several DICOM series in one folder,
        NaN values, absurd spacing or a non-orthonormal direction.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "leg.nii.gz"
    >>> spacing_mm = np.array([0.8, 0.8, 1.5])
    >>> image = Volume(np.zeros((4, 5, 6), np.int16), spacing_mm, np.zeros(3), np.eye(3))
    >>> write_volume(image, path)
    >>> vol = read_volume(path)
    >>> vol.shape, vol.spacing_mm.round(3).tolist()
    ((4, 5, 6), [0.8, 0.8, 1.5])
    """
    path = Path(path)
    source = str(path)
    if not path.exists():
        raise PdvaplanInputError(f"{source}: no such file or folder")
    try:
        image = _read_dicom_series(path) if path.is_dir() else _read_file(path)
    except RuntimeError as error:
        first_line = str(error).strip().splitlines()[-1] if str(error).strip() else "unknown error"
        raise PdvaplanInputError(f"{source}: cannot be read as an image ({first_line})") from None
    return from_sitk(image, source)


def header_voxels(path: str | os.PathLike) -> int | None:
    """The number of voxels an image holds, read from its header alone (a DICOM folder:
    its slices' count times the first slice's size); None when the header cannot be read
    (`read_volume` then says why).

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "leg.nrrd"
    >>> image = Volume(np.zeros((4, 5, 6), np.uint8), np.ones(3), np.zeros(3), np.eye(3))
    >>> write_volume(image, path)
    >>> header_voxels(path)
    120
    >>> header_voxels(path.with_name("missing.nrrd")) is None
    True
    """
    path = Path(path)
    try:
        if path.is_dir():
            files = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(path))
            if not files:
                return None
            first, count = files[0], len(files)
        elif path.is_file() and path.stat().st_size > 0:
            first, count = str(path), 1
        else:
            return None
        reader = sitk.ImageFileReader()
        reader.SetFileName(first)
        reader.ReadImageInformation()
    except RuntimeError:
        return None
    return int(np.prod(reader.GetSize())) * count


def _read_file(path: Path) -> sitk.Image:
    if path.stat().st_size == 0:
        raise PdvaplanInputError(f"{path}: file is empty")
    name = path.name
    if name.endswith(".nii.gz") and path.with_name(name[: -len(".gz")]).exists():
        # ITK's NIfTI reader strips ".gz" and would silently read the sibling
        # ".nii" file; a link in a folder of its own reads the right one.
        with tempfile.TemporaryDirectory() as folder:
            link = Path(folder) / name
            link.symlink_to(path.resolve())
            return sitk.ReadImage(str(link))
    return sitk.ReadImage(str(path))


def _read_dicom_series(folder: Path) -> sitk.Image:
    series_ids = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder))
    if len(series_ids) > 1:
        raise PdvaplanInputError(
            f"{folder}: holds {len(series_ids)} DICOM series; give a folder with one series"
        )
    file_names = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder))
    if not file_names:
        raise PdvaplanInputError(f"{folder}: folder holds no DICOM series")
    _check_slices_evenly_spaced(folder, file_names)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(file_names)
    return reader.Execute()


def _check_slices_evenly_spaced(folder: Path, file_names: Sequence[str]) -> None:
    """Refuse a series with missing slices: positions along the slices' normal (from each
    file's header) must step evenly, or the volume read would misplace everything beyond
    the gap (ITK reads it with the first step)."""
    if len(file_names) < 3:
        return
    positions = []
    reader = sitk.ImageFileReader()
    for name in file_names:
        reader.SetFileName(name)
        reader.ReadImageInformation()
        positions.append(reader.GetOrigin())
    direction = np.array(reader.GetDirection()).reshape(3, 3)
    along = np.sort(np.asarray(positions) @ direction[:, 2])
    steps = np.diff(along)
    typical = float(np.median(steps))
    if typical <= 0:
        return
    worst = int(np.argmax(np.abs(steps - typical)))
    if abs(steps[worst] - typical) > 0.25 * typical:
        raise PdvaplanInputError(
            f"{folder}: slices are not evenly spaced: {steps[worst]:.2f} mm between slices "
            f"{worst + 1} and {worst + 2} of {len(file_names)}, {typical:.2f} mm elsewhere "
            "(missing slices?)"
        )


def output_folder(path: str | os.PathLike) -> Path:
    """Create the folder results go into (with its parents) and return it.

    Raises
    ------
    PdvaplanInputError
        If the folder cannot be created or is not writable.
    """
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise PdvaplanInputError(f"{path}: cannot create folder ({error.strerror})") from None
    if not os.access(path, os.W_OK):
        raise PdvaplanInputError(f"{path}: folder is not writable")
    return path


def write_volume(volume: Volume, path: str | os.PathLike, compress: bool = True) -> None:
    """Write a volume to any format SimpleITK writes, chosen by the file extension.

    The file is written under a temporary name in the same folder and renamed,
    so a reader never sees a partial file.

    Parameters
    ----------
    volume : Volume
        The volume to write.
    path : str or path-like
        Destination, e.g. ``labels.nii.gz``, ``arterial.nrrd`` or ``venous.mha``.
    compress : bool
        Compress the voxel data where the format allows.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise PdvaplanInputError(f"{path}: folder {path.parent} does not exist")
    try:
        with atomic_path(path) as temporary:
            sitk.WriteImage(volume.to_sitk(), temporary, useCompression=compress)
    except (RuntimeError, OSError) as error:
        raise PdvaplanInputError(f"{path}: cannot be written ({error})") from None


@dataclass(frozen=True)
class RigidTransform:
    """A rigid map between two physical frames: ``moving = matrix @ reference + offset_mm``.

    It takes positions in the reference frame (the arterial phase's) to where
    the moving acquisition (the venous phase's) images them, as SimpleITK's
    registration reports its transforms.

    Examples
    --------
    >>> turn = RigidTransform(np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]),
    ...                       np.array([0.0, 0.0, 5.0]))
    >>> turn.apply([[1.0, 0.0, 0.0]]).tolist()
    [[0.0, 1.0, 5.0]]
    >>> RigidTransform.identity().is_identity
    True
    """

    matrix: np.ndarray
    offset_mm: np.ndarray

    def __post_init__(self) -> None:
        matrix = np.asarray(self.matrix, dtype=np.float64).reshape(3, 3)
        if not np.allclose(matrix.T @ matrix, np.eye(3), atol=1e-6):
            raise ValueError("a rigid transform's matrix must be a rotation")
        object.__setattr__(self, "matrix", matrix)
        object.__setattr__(self, "offset_mm", np.asarray(self.offset_mm, dtype=np.float64))

    @classmethod
    def identity(cls) -> RigidTransform:
        """The transform that leaves every position where it is."""
        return cls(np.eye(3), np.zeros(3))

    @property
    def is_identity(self) -> bool:
        """Whether every position stays where it is."""
        return bool(np.array_equal(self.matrix, np.eye(3)) and not np.any(self.offset_mm))

    def apply(self, points_mm) -> np.ndarray:
        """Positions (..., 3) in the moving frame."""
        return np.asarray(points_mm, dtype=np.float64) @ self.matrix.T + self.offset_mm

    def to_sitk(self) -> sitk.Transform:
        """The same map as a SimpleITK transform (for resampling the moving image)."""
        transform = sitk.AffineTransform(3)
        transform.SetMatrix(self.matrix.ravel().tolist())
        transform.SetTranslation(self.offset_mm.tolist())
        return transform


def resample_to(
    moving: Volume,
    reference: Volume,
    interpolation: str = "linear",
    fill_value: float = 0.0,
    transform: RigidTransform | None = None,
) -> Volume:
    """Resample a volume onto another volume's grid by physical position.

    Sizes, spacings, origins and directions may all differ. Without a
    `transform` both volumes must lie in one physical frame (co-registered).

    Parameters
    ----------
    moving : Volume
        The volume whose values are sampled.
    reference : Volume
        The grid to sample onto.
    interpolation : {"linear", "nearest"}
        ``"nearest"`` for label maps.
    fill_value : float
        Value for reference voxels that fall outside `moving`.
    transform : RigidTransform, optional
        Where `moving` images each position of `reference`'s frame (e.g. a
        registration's result). Default: the same position.

    Returns
    -------
    Volume
        Values of `moving` on the grid of `reference`, in `moving`'s dtype.
    """
    interpolators = {"linear": sitk.sitkLinear, "nearest": sitk.sitkNearestNeighbor}
    if interpolation not in interpolators:
        raise ValueError(f"interpolation must be one of {sorted(interpolators)}")
    resampler = sitk.ResampleImageFilter()
    resampler.SetSize([int(n) for n in reference.shape])
    resampler.SetOutputSpacing(reference.spacing_mm.tolist())
    resampler.SetOutputOrigin(reference.origin_mm.tolist())
    resampler.SetOutputDirection(reference.direction.ravel().tolist())
    resampler.SetInterpolator(interpolators[interpolation])
    resampler.SetDefaultPixelValue(fill_value)
    if transform is not None and not transform.is_identity:
        resampler.SetTransform(transform.to_sitk())
    return from_sitk(resampler.Execute(moving.to_sitk()), moving.source)
