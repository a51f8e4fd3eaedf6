"""Volumes keep their physical frame through reading, writing, conversion and resampling."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from pdvaplan.errors import PdvaplanInputError
from pdvaplan.io import Volume, from_sitk, read_volume, resample_to, write_volume

PERMUTED = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def make_volume(shape=(6, 5, 4), spacing=(0.8, 0.7, 1.5), direction=PERMUTED, dtype=np.int16):
    values = np.arange(np.prod(shape)).reshape(shape).astype(dtype)
    return Volume(values, np.array(spacing), np.array([10.0, -20.0, 30.0]), direction, "test")


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".nrrd", ".mha"])
def test_write_then_read_keeps_values_and_frame(tmp_path, suffix):
    volume = make_volume()
    path = tmp_path / f"volume{suffix}"
    write_volume(volume, path)
    back = read_volume(path)
    assert np.array_equal(back.array, volume.array)
    assert np.allclose(back.spacing_mm, volume.spacing_mm, atol=1e-6)
    assert np.allclose(back.origin_mm, volume.origin_mm, atol=1e-5)
    assert np.allclose(back.direction, volume.direction, atol=1e-6)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary left


def test_array_index_matches_simpleitk_index():
    volume = make_volume()
    image = volume.to_sitk()
    assert image.GetSize() == volume.shape
    assert image.GetPixel(4, 3, 2) == volume.array[4, 3, 2]
    assert np.allclose(
        image.TransformIndexToPhysicalPoint((4, 3, 2)), volume.index_to_physical([4, 3, 2])
    )


@settings(max_examples=40, deadline=None)
@given(
    rotation=st.lists(st.floats(-np.pi, np.pi), min_size=3, max_size=3),
    flip=st.sampled_from([1.0, -1.0]),
    spacing=st.lists(st.floats(0.1, 5.0), min_size=3, max_size=3),
    index=st.lists(st.floats(-50, 500), min_size=3, max_size=3),
)
def test_index_physical_conversion_agrees_with_simpleitk(rotation, flip, spacing, index):
    direction = Rotation.from_euler("xyz", rotation).as_matrix() @ np.diag([1.0, 1.0, flip])
    volume = Volume(np.zeros((2, 2, 2)), np.array(spacing), np.array([3.0, -7.0, 11.0]), direction)
    expected = volume.to_sitk().TransformContinuousIndexToPhysicalPoint(index)
    assert np.allclose(volume.index_to_physical(index), expected, atol=1e-9)
    assert np.allclose(volume.physical_to_index(expected), index, atol=1e-8)


def test_resampling_onto_a_flipped_permuted_grid_keeps_physical_values():
    rng = np.random.default_rng(0)
    moving = Volume(
        rng.normal(size=(8, 9, 10)).astype(np.float32),
        np.array([1.0, 2.0, 3.0]),
        np.zeros(3),
        np.eye(3),
    )
    # The same voxel centres, enumerated along other axes in other directions.
    direction = PERMUTED
    spacing = np.abs(direction.T) @ moving.spacing_mm
    shape = tuple(int(n) for n in np.abs(direction.T) @ np.array(moving.shape))
    corners = moving.index_to_physical(np.array([[0, 0, 0], np.array(moving.shape) - 1]))
    origin = np.where(direction.sum(axis=1) < 0, corners.max(axis=0), corners.min(axis=0))
    reference = Volume(np.zeros(shape, np.uint8), spacing, origin, direction)
    resampled = resample_to(moving, reference)
    index = np.argwhere(np.ones(shape, bool))
    back = np.rint(moving.physical_to_index(reference.index_to_physical(index))).astype(int)
    assert np.allclose(resampled.array[tuple(index.T)], moving.array[tuple(back.T)], atol=1e-5)


def test_nii_gz_is_read_even_beside_a_nii_of_the_same_name(tmp_path):
    write_volume(make_volume(), tmp_path / "x.nii.gz")
    write_volume(
        make_volume(dtype=np.int16).with_array(np.zeros((6, 5, 4), np.int16)), tmp_path / "x.nii"
    )
    assert read_volume(tmp_path / "x.nii.gz").array.any()
    assert not read_volume(tmp_path / "x.nii").array.any()


def test_real_dicom_series_aligns_with_its_label_map_by_physical_position(real_data):
    folder = real_data / "ct-dicom-series"
    ct = read_volume(folder / "example_ct_dicom")
    assert ct.shape == (512, 512, 20)
    assert np.allclose(ct.spacing_mm, [0.9765625, 0.9765625, 2.0])
    labels = read_volume(folder / "example_seg_dicom.nii.gz")
    assert np.allclose(labels.direction, np.diag([1.0, -1.0, 1.0]))  # y-flipped grid
    aorta = resample_to(labels, ct, "nearest").array == 52
    assert aorta.sum() > 5000
    # Contrast-filled aorta is bright once matched by physical position; matched
    # by index (ignoring the flip) the same voxels fall mostly outside it.
    physical = np.median(ct.array[aorta])
    assert physical > 120
    assert np.median(ct.array[labels.array == 52]) < physical - 100


def test_vmtk_reference_centreline_lies_in_the_vmtk_lumen(real_data):
    pv = pytest.importorskip("pyvista")
    folder = real_data / "vmtk-test-data" / "input"
    level_set = read_volume(folder / "aorta-final-levelset.mha")
    ras = np.asarray(pv.read(folder / "aorta-centerline.vtp").points, dtype=np.float64)
    lps = ras * [-1.0, -1.0, 1.0]
    index = np.rint(level_set.physical_to_index(lps)).astype(int)
    assert np.all(level_set.contains(lps))
    assert np.mean(level_set.array[tuple(index.T)] < 0) > 0.98


def write_dicom_series(folder, series_uid: str, z0: float, slices: int = 3) -> None:
    for k in range(slices):
        image = sitk.GetImageFromArray(np.full((1, 4, 4), k, np.int16))
        image.SetSpacing((1.0, 1.0, 1.0))
        image.SetOrigin((0.0, 0.0, z0 + k))
        for tag, value in {
            "0008|0060": "CT",
            "0020|000e": series_uid,
            "0020|0013": str(k + 1),
            "0020|0032": f"0\\0\\{z0 + k}",
            "0020|0037": "1\\0\\0\\0\\1\\0",
        }.items():
            image.SetMetaData(tag, value)
        writer = sitk.ImageFileWriter()
        writer.KeepOriginalImageUIDOn()
        writer.SetFileName(str(folder / f"{series_uid}-{k}.dcm"))
        writer.Execute(image)


def test_dicom_folder_with_one_series_reads(tmp_path):
    write_dicom_series(tmp_path, "1.2.3.4", 0.0)
    volume = read_volume(tmp_path)
    assert volume.shape == (4, 4, 3)
    assert volume.array[0, 0].tolist() == [0, 1, 2]


def bad_input(folder, kind):
    """A path to something that is not a readable volume."""
    if kind == "missing":
        return folder / "missing.nii.gz"
    if kind == "empty":
        (folder / "empty.nii.gz").write_bytes(b"")
        return folder / "empty.nii.gz"
    if kind == "not-an-image":
        (folder / "text.mha").write_text("hello", encoding="utf-8")
        return folder / "text.mha"
    return folder  # a folder without DICOM files


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("missing", "no such file"),
        ("empty", "empty"),
        ("not-an-image", "cannot be read"),
        ("empty-folder", "no DICOM series"),
    ],
)
def test_unreadable_input_names_the_file(tmp_path, kind, message):
    path = bad_input(tmp_path, kind)
    with pytest.raises(PdvaplanInputError, match=message) as error:
        read_volume(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_two_dicom_series_in_one_folder_are_refused(tmp_path):
    write_dicom_series(tmp_path, "1.2.3.4", 0.0)
    write_dicom_series(tmp_path, "1.2.3.5", 10.0)
    with pytest.raises(PdvaplanInputError, match="2 DICOM series"):
        read_volume(tmp_path)


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (sitk.Image(8, 8, sitk.sitkInt16), "3D"),
        (sitk.Image([4, 4, 4], sitk.sitkVectorFloat32, 3), "one value per voxel"),
        (sitk.Image(8, 8, 1, sitk.sitkInt16), "too thin"),
    ],
    ids=["2d", "vector", "single-slice"],
)
def test_images_that_are_not_scalar_volumes_are_refused(tmp_path, image, message):
    path = tmp_path / "bad.mha"
    sitk.WriteImage(image, str(path))
    with pytest.raises(PdvaplanInputError, match=message):
        read_volume(path)


def test_nan_absurd_spacing_and_skewed_direction_are_refused():
    image = sitk.GetImageFromArray(np.full((3, 3, 3), np.nan, np.float32))
    with pytest.raises(PdvaplanInputError, match="NaN"):
        from_sitk(image, "nan.mha")
    image = sitk.Image(3, 3, 3, sitk.sitkInt16)
    image.SetSpacing((0.5, 0.5, 1000.0))
    with pytest.raises(PdvaplanInputError, match="absurd voxel spacing"):
        from_sitk(image, "far.mha")
    image.SetSpacing((0.0008, 0.0008, 0.001))
    with pytest.raises(PdvaplanInputError, match=r"metres\?"):
        from_sitk(image, "metres.mha")
    image.SetSpacing((1.0, 1.0, 1.0))
    image.SetDirection((1.0, 0.5, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))
    with pytest.raises(PdvaplanInputError, match="not orthonormal"):
        from_sitk(image, "skew.mha")


def test_a_dicom_series_with_a_missing_slice_is_refused(tmp_path, real_data):
    series = tmp_path / "series"
    shutil.copytree(real_data / "ct-dicom-series" / "example_ct_dicom", series)
    assert read_volume(series).shape == (512, 512, 20)
    by_position = sorted(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(series)))
    Path(by_position[9]).unlink()
    with pytest.raises(PdvaplanInputError, match=r"series: slices are not evenly spaced: 4\.00"):
        read_volume(series)
