"""The command line: what it writes, what it says, and its exit codes."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest
import SimpleITK as sitk
from conftest import printed_by

from pdvaplan.cli import main
from pdvaplan.io import Volume, read_volume, write_volume


def run(*args: str) -> subprocess.CompletedProcess:
    """The installed ``pdvaplan`` command, in a fresh process."""
    return subprocess.run(
        [sys.executable, "-m", "pdvaplan.cli", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=False,
    )


def assert_one_line_error(result, *words):
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0]


def test_help_lists_only_commands_that_exist():
    result = run("--help")
    assert result.returncode == 0
    listed = result.stdout.split("positional arguments:")[1].split("options:")[0]
    commands = set(re.findall(r"^    (\w+)", listed, flags=re.MULTILINE))
    assert commands == {"demo", "plan", "render", "view", "phantom", "centerlines", "info", "bench"}


def test_phantom_writes_volumes_and_truth_on_the_requested_grid(tmp_path, capsys):
    out = tmp_path / "leg"
    status = main(
        [
            "phantom",
            "--preset",
            "calcified",
            "--out",
            str(out),
            "--seed",
            "3",
            "--spacing",
            "2",
            "2.2",
            "2.5",
            "--direction",
            "ras",
        ]
    )
    assert status == 0
    assert sorted(p.name for p in out.iterdir()) == [
        ".pdvaplan-run",
        "arterial.nii.gz",
        "labels.nii.gz",
        "truth.json",
        "venous.nii.gz",
    ]
    truth = json.loads((out / "truth.json").read_text(encoding="utf-8"))
    assert truth["preset"] == "calcified" and truth["seed"] == 3
    labels = read_volume(out / "labels.nii.gz")
    assert np.allclose(labels.direction, np.diag([-1.0, -1.0, 1.0]))
    assert np.allclose(labels.spacing_mm, [2.0, 2.2, 2.5])
    assert labels.shape == tuple(truth["grid"]["shape"])
    assert set(np.unique(labels.array)) == {0, 1, 2, 3, 4}
    printed = capsys.readouterr().out
    assert truth["crossing"]["artery"] in printed
    assert f"{truth['crossing']['distance_mm']:.2f} mm" in printed


def test_direction_given_as_nine_numbers(tmp_path):
    status = main(
        [
            "phantom",
            "--out",
            str(tmp_path),
            "--spacing",
            "2",
            "2",
            "3",
            "--direction",
            "0",
            "0",
            "1",
            "1",
            "0",
            "0",
            "0",
            "1",
            "0",
        ]
    )
    assert status == 0
    labels = read_volume(tmp_path / "labels.nii.gz")
    assert np.allclose(labels.direction, [[0, 0, 1], [1, 0, 0], [0, 1, 0]])


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--spacing", "0", "1", "1"], ["spacing"]),
        (["--spacing", "0.01", "0.01", "0.01"], ["voxels", "coarser"]),
        (["--direction", "1", "2", "3"], ["--direction", "9 numbers"]),
        (["--direction", "1", "1", "0", "0", "1", "0", "0", "0", "1"], ["not orthonormal"]),
        (["--preset", "nonsense"], ["--preset", "nonsense"]),
    ],
    ids=["zero-spacing", "huge-grid", "short-direction", "skew-direction", "unknown-preset"],
)
def test_bad_phantom_options_exit_2_with_one_line(tmp_path, args, words):
    result = run("phantom", "--out", str(tmp_path / "out"), *args)
    assert_one_line_error(result, *words)
    assert not (tmp_path / "out" / "truth.json").exists()


def test_output_folder_that_is_a_file_exits_2(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder", encoding="utf-8")
    result = run("phantom", "--out", str(blocker), "--spacing", "3", "3", "4")
    assert_one_line_error(result, str(blocker))


def test_info_reports_the_physical_frame(tmp_path):
    image = sitk.Image(4, 5, 6, sitk.sitkInt16)
    image.SetSpacing((0.5, 0.6, 2.0))
    image.SetDirection((-1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0))
    sitk.WriteImage(image, str(tmp_path / "v.nrrd"))
    result = run("info", str(tmp_path / "v.nrrd"))
    assert result.returncode == 0
    assert "4 x 5 x 6 voxels" in result.stdout and "RAS" in result.stdout
    assert "x -1.5..0.0" in result.stdout  # i runs towards patient right (-x)


@pytest.mark.parametrize("kind", ["missing", "2d", "nan"])
def test_info_on_bad_input_exits_2_naming_the_file(tmp_path, kind):
    path = tmp_path / f"{kind}.mha"
    if kind == "2d":
        sitk.WriteImage(sitk.Image(8, 8, sitk.sitkInt16), str(path))
    elif kind == "nan":
        sitk.WriteImage(sitk.GetImageFromArray(np.full((3, 3, 3), np.nan, np.float32)), str(path))
    result = run("info", str(path))
    assert_one_line_error(result, str(path))


def test_unknown_command_exits_2():
    assert_one_line_error(run("plan-it"), "invalid choice")


def test_importing_pdvaplan_leaves_the_environment_alone():
    script = (
        "import os; before = dict(os.environ); "
        "import pdvaplan.planning, pdvaplan.kernels, pdvaplan.segmentation, pdvaplan.render; "
        "print(sorted(set(os.environ.items()) ^ set(before.items())))"
    )
    assert printed_by(script) == "[]"


def test_threads_option_sets_the_kernels_and_filters_threads(tmp_path):
    import numba

    from pdvaplan.threads import available_cores, set_threads, threads

    mask = np.zeros((20, 20, 30), np.uint8)
    mask[8:12, 8:12, :] = 1
    write_volume(Volume(mask, np.ones(3), np.zeros(3), np.eye(3)), tmp_path / "mask.nrrd")
    try:
        args = ["centerlines", "--mask", str(tmp_path / "mask.nrrd"), "--out", str(tmp_path / "o")]
        assert main([*args, "--threads", "1"]) == 0
        assert threads() == 1 and numba.get_num_threads() == 1
    finally:
        set_threads(None)
    assert threads() == available_cores()
    assert numba.get_num_threads() == min(available_cores(), numba.config.NUMBA_NUM_THREADS)


def test_help_and_version_load_no_pipeline():
    script = (
        "import sys; from pdvaplan.cli import build_parser; build_parser(); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'scipy', 'numba', 'SimpleITK', 'pyvista', 'skimage', 'matplotlib', 'phantoms'}))"
    )
    assert printed_by(script) == "[]"


def test_unknown_preset_is_one_line_and_writes_nothing(tmp_path):
    result = run("phantom", "--preset", "bogus", "--out", str(tmp_path / "leg"))
    assert_one_line_error(result, "--preset bogus: unknown; choose one of basic")
    assert not (tmp_path / "leg").exists()
