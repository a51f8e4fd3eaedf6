"""A run's folder is one complete run, whatever happens to the run; files are readable."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import write_artery_and_vein

from pdvaplan.cli import main
from pdvaplan.errors import PdvaplanInputError
from pdvaplan.io import Volume, write_volume
from pdvaplan.outputs import RUN_MARKER, run_folder, write_text_atomically
from pdvaplan.slicer import COLOUR_TABLE, SEGMENTATION_SEG_NRRD

#: What `pdvaplan plan --labels ... --no-render` writes.
PLAN_FILES = (
    {RUN_MARKER, "plan.json", "centerlines.json", "centerlines.vtp"}
    | {f"{name}.mrk.json" for name in ("crossing", "needle", "stent-graft")}
    | {SEGMENTATION_SEG_NRRD, COLOUR_TABLE}
)


def plan_args(labels, out, reach_mm: str) -> list[str]:
    return [
        "plan",
        "--labels",
        str(labels),
        "--out",
        str(out),
        "--reach-mm",
        reach_mm,
        "--no-render",
    ]


def test_a_killed_plan_leaves_the_earlier_run_or_the_new_one(tmp_path):
    labels, out = write_artery_and_vein(tmp_path), tmp_path / "run"
    command = [sys.executable, "-m", "pdvaplan.cli", "plan", "--labels", str(labels)]
    command += ["--out", str(out), "--no-render"]
    start = time.perf_counter()
    subprocess.run([*command, "--reach-mm", "9"], check=True, capture_output=True)
    whole_run_s = time.perf_counter() - start
    rng = np.random.default_rng(0)
    for kill in range(20):
        reach = ("10", "11")[kill % 2]
        process = subprocess.Popen(
            [*command, "--reach-mm", reach], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(rng.uniform(0.3, 1.0) * whole_run_s)
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert {p.name for p in out.iterdir()} == PLAN_FILES, kill
        plan = json.loads((out / "plan.json").read_text(encoding="utf-8"))
        centerlines = json.loads((out / "centerlines.json").read_text(encoding="utf-8"))
        assert plan["crossing"]["distance_mm"] == pytest.approx(5.0, abs=0.1)
        assert len(centerlines["centerlines"]) == 2


def test_a_failed_plan_leaves_the_earlier_run_and_no_staging(tmp_path, capsys):
    labels, out = write_artery_and_vein(tmp_path), tmp_path / "run"
    assert main(plan_args(labels, out, "10")) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    empty = tmp_path / "empty.nii.gz"
    write_volume(
        Volume(np.zeros((20, 20, 20), np.uint8), np.ones(3), np.zeros(3), np.eye(3)), empty
    )
    assert main(plan_args(empty, out, "10")) == 2
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.nii.gz", "labels.nii.gz", "run"]
    # A failed first run leaves no folder at all.
    assert main(plan_args(empty, tmp_path / "new", "10")) == 2
    assert not (tmp_path / "new").exists()
    assert "traceback" not in capsys.readouterr().err.lower()


def test_a_run_never_replaces_a_folder_of_other_files(tmp_path, capsys):
    labels = write_artery_and_vein(tmp_path)
    assert main(plan_args(labels, tmp_path, "10")) == 2  # the inputs' own folder
    assert "not an earlier pdvaplan run" in capsys.readouterr().err
    assert labels.exists() and not (tmp_path / "plan.json").exists()


def test_outputs_are_written_with_the_users_umask(tmp_path):
    previous = os.umask(0o027)
    try:
        with run_folder(tmp_path / "run") as folder:
            write_text_atomically(folder / "plan.json", "{}")
    finally:
        os.umask(previous)
    assert (tmp_path / "run").stat().st_mode & 0o777 == 0o750
    assert (tmp_path / "run" / "plan.json").stat().st_mode & 0o777 == 0o640


def test_a_file_in_the_way_is_an_input_error(tmp_path):
    (tmp_path / "run").write_text("not a folder")
    with pytest.raises(PdvaplanInputError, match="not a folder"), run_folder(tmp_path / "run"):
        pass
