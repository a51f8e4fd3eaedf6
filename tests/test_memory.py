"""A plan that will not fit in memory stops before reading its inputs, saying so."""

from __future__ import annotations

import numpy as np
import pytest

from pdvaplan.errors import PdvaplanInputError
from pdvaplan.io import Volume, header_voxels, write_volume
from pdvaplan.memory import PLAN_BYTES_PER_VOXEL, check_plan_fits


def test_header_voxels_reads_files_and_dicom_folders_without_their_voxels(tmp_path, real_data):
    write_volume(
        Volume(np.zeros((7, 8, 9), np.int16), np.ones(3), np.zeros(3), np.eye(3)),
        tmp_path / "a.nrrd",
    )
    assert header_voxels(tmp_path / "a.nrrd") == 7 * 8 * 9
    assert header_voxels(real_data / "ct-dicom-series" / "example_ct_dicom") == 512 * 512 * 20
    assert header_voxels(tmp_path / "missing.nrrd") is None


def test_a_plan_that_will_not_fit_is_refused_with_what_it_needs(tmp_path):
    path = tmp_path / "arterial.nrrd"
    write_volume(
        Volume(np.zeros((100, 100, 100), np.int16), np.ones(3), np.zeros(3), np.eye(3)), path
    )
    given = {"arterial": path, "venous": path}
    needed = 1e6 * PLAN_BYTES_PER_VOXEL + 4e6
    check_plan_fits(given, available=int(needed) + 1)  # fits
    with pytest.raises(PdvaplanInputError, match=r"arterial\.nrrd: .* needs about 0\.0 GiB"):
        check_plan_fits(given, available=int(needed) - 1)


def test_the_command_line_stops_before_reading(tmp_path, capsys, monkeypatch):
    path = tmp_path / "labels.nrrd"
    write_volume(Volume(np.ones((20, 20, 20), np.uint8), np.ones(3), np.zeros(3), np.eye(3)), path)
    monkeypatch.setattr("pdvaplan.memory.available_bytes", lambda: 1000)
    monkeypatch.setattr("pdvaplan.io.read_volume", None)  # reading would fail loudly
    from pdvaplan.cli import main

    assert main(["plan", "--labels", str(path), "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "labels.nrrd" in error and "GiB of memory" in error
    assert not (tmp_path / "out").exists()
