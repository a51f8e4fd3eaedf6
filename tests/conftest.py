"""Shared fixtures: phantoms generated once per test session, and the real data."""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pdvaplan.io import Volume, write_volume
from phantoms import Conditions, make_phantom

#: Real images nobody on the team made, kept with the tests (see tests/data/README.md).
REAL_DATA = Path(__file__).resolve().parent / "data"

#: A coarse grid: the anatomy and truth do not depend on it, and it images fast.
COARSE_SPACING_MM = (1.6, 1.6, 2.0)


def real_vessel_labels() -> Volume:
    """A real label map in the plan contract's values: TotalSegmentator's aorta (1, artery),
    inferior vena cava and portal vein (2, veins) on the real CT of tests/data."""
    from pdvaplan.io import read_volume

    segments = read_volume(REAL_DATA / "ct-dicom-series" / "example_seg_dicom.nii.gz")
    labels = np.zeros(segments.shape, np.uint8)
    labels[segments.array == 52] = 1  # aorta
    labels[np.isin(segments.array, (63, 64))] = 2  # inferior vena cava, portal vein
    return segments.with_array(labels)


@functools.cache
def cached_phantom(name: str, seed: int = 0, spacing_mm=COARSE_SPACING_MM, direction=None):
    """A phantom, generated once per session for each set of arguments. A random leg keeps
    its drawn acquisition but holds one clean leg (what a scan can hold beyond that is
    tested in test_conditions.py)."""
    return make_phantom(name, seed, spacing_mm, direction, conditions=Conditions())


@pytest.fixture
def real_data() -> Path:
    """The real images kept with the tests (tests/data: provenance and licences there)."""
    return REAL_DATA


def write_artery_and_vein(folder: Path) -> Path:
    """A small label map on disk (``labels.nii.gz`` in `folder`): an artery with a vein
    5 mm beside it along z, 0.5 mm voxels. Returns its path."""
    frame = Volume(np.zeros((50, 30, 80), np.uint8), np.full(3, 0.5), np.zeros(3), np.eye(3))
    x, y, _ = np.moveaxis(frame.voxel_positions_mm(), -1, 0)
    labels = np.zeros(frame.shape, np.uint8)
    labels[np.hypot(x - 10.0, y - 7.5) <= 1.6] = 1
    labels[np.hypot(x - 15.0, y - 7.5) <= 1.8] = 2
    path = folder / "labels.nii.gz"
    write_volume(frame.with_array(labels), path)
    return path


def printed_by(script: str) -> str:
    """What a Python script prints in a fresh interpreter (it must succeed)."""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()
