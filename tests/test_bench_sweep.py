"""``pdvaplan bench sweep``: rows made from their seeds alone, the same on a Dask cluster as in
one process, resumable, scored for real, and written as Parquet, CSV, summary and plots.

Random legs imaged on a coarse 2 mm grid (about a second each) through the cheapest stages.
Measured on seeds 1001-1003 at 2 mm (2026-12-07): the kernel agrees with brute force to
4e-15 mm; our centrelines of the true masks lie 0.24-0.44 mm (mean) from the true axes, at
most 1.6 mm, with a median radius error of 0.10-0.18 mm. The bounds below leave room for
changes to the extractor (a frame error of half a voxel alone would give a mean of 1 mm).
"""

from __future__ import annotations

import json
import os

import pyarrow.csv
import pyarrow.parquet
import pytest
from dask.distributed import LocalCluster

from benchmarks.sweep import is_measurement, run_sweep
from pdvaplan.cli import main
from pdvaplan.errors import PdvaplanInputError

SEEDS = [1001, 1002]
STAGES = "kernels,centerlines"
COARSE_MM = (2.0,)


def _sweep(folder, seeds=SEEDS, **options):
    return run_sweep(seeds, STAGES, "random", folder, spacing_mm=COARSE_MM, quiet=True, **options)


def _table(folder) -> list[dict]:
    return pyarrow.parquet.read_table(folder / "sweep.parquet").to_pylist()


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    folder = tmp_path_factory.mktemp("serial")
    return folder, _sweep(folder, scheduler="serial")


def test_rows_are_scored_for_real(serial):
    _, result = serial
    assert [row["seed"] for row in result.rows] == SEEDS
    for row in result.rows:
        assert not row["failed"], row["error"]
        assert row["kernels_pairs"] == 6 and row["kernels_reach_disagreements"] == 0
        assert row["kernels_max_difference_mm"] < 1e-9
        for kind in ("artery", "vein"):
            assert row[f"centerlines_{kind}_mean_mm"] < 0.6
            assert row[f"centerlines_{kind}_max_mm"] < 2.5
            assert row[f"centerlines_{kind}_radius_error_mm"] < 0.3
        assert row["spacing_mm"] == 2.0 and row["noise_hu"] > 0 and row["mvoxels"] > 0
        assert row["peak_mib"] > 1 and row["kernels_s"] > 0


def test_cluster_table_equals_serial_table_and_a_rerun_computes_only_new_seeds(serial, tmp_path):
    serial_folder, _ = serial
    with LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
    ) as cluster:
        on_cluster = _sweep(tmp_path, scheduler=cluster.scheduler_address)
    assert sorted(on_cluster.computed) == SEEDS and len(on_cluster.workers) == 2
    expected, found = _table(serial_folder), _table(tmp_path)
    columns = [c for c in expected[0] if not is_measurement(c)]
    assert set(columns) == {c for c in found[0] if not is_measurement(c)}
    assert os.getpid() not in {row["worker_pid"] for row in found}  # made on the workers
    for a, b in zip(expected, found, strict=True):
        assert {c: a[c] for c in columns} == {c: b[c] for c in columns}

    # One more seed, on a local cluster of its own (the default): only that row is computed.
    again = _sweep(tmp_path, seeds=[*SEEDS, 1003], workers=2)
    assert again.computed == [1003]
    lines = (tmp_path / "rows.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["seed"] for line in lines[:2]) == SEEDS
    assert len(lines) == 3 and json.loads(lines[2])["seed"] == 1003
    assert [row["seed"] for row in _table(tmp_path)] == [*SEEDS, 1003]
    csv = pyarrow.csv.read_csv(tmp_path / "sweep.csv").to_pylist()
    assert [row["seed"] for row in csv] == [*SEEDS, 1003]
    assert csv[0]["kernels_pairs"] == 6
    summary = (tmp_path / "summary.md").read_text()
    assert "3 rows (seeds 1001-1003)" in summary and "Failed" in summary
    assert "pdvaplan bench sweep --serial --n 1 --seed {seed}" in summary
    assert (tmp_path / "errors.png").stat().st_size > 0
    assert (tmp_path / "times.png").stat().st_size > 0


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (["--n", "0"], "--n 0"),
        (["--n", "1", "--stages", "plan,segment"], "unknown stage segment"),
        (["--n", "1", "--conditions", "pipestem=aorta"], "cannot read 'pipestem=aorta'"),
        (["--n", "x"], "invalid int value"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(options, says, tmp_path, capsys):
    assert main(["bench", "sweep", *options, "--out", str(tmp_path / "X")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("pdvaplan bench: error:") and says in err


def test_an_unwritable_out_folder_is_one_line_and_exit_2(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    assert main(["bench", "sweep", "--n", "1", "--out", str(tmp_path / "file" / "X")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot create folder" in err


def test_a_preset_is_swept_from_its_own_leg(tmp_path):
    from phantoms import make_phantom

    (row,) = run_sweep(
        [3],
        "kernels",
        "random",
        tmp_path,
        spacing_mm=COARSE_MM,
        quiet=True,
        scheduler="serial",
        phantom="two-arteries",
    ).rows
    leg = make_phantom("two-arteries", 3, spacing_mm=COARSE_MM * 3)
    assert row["phantom"] == "two-arteries" and not row["failed"], row["error"]
    assert row["mvoxels"] == pytest.approx(leg.labels.array.size / 1e6, rel=1e-3)
    assert row["kernels_max_difference_mm"] < 1e-9
    # the folder holds this preset's rows: a random sweep into it is refused
    with pytest.raises(PdvaplanInputError, match="another sweep"):
        run_sweep(
            [3], "kernels", "random", tmp_path, spacing_mm=COARSE_MM, quiet=True, scheduler="serial"
        )


def test_a_parameter_grid_is_one_sweep_per_combination_and_one_table(tmp_path):
    from benchmarks.sweep import read_grid, run_grid

    grid_file = tmp_path / "grid.json"
    grid_file.write_text(json.dumps({"phantom": ["basic", "two-arteries"], "spacing_mm": [2.0]}))
    grid = read_grid(grid_file)
    assert grid == [
        {"phantom": "basic", "spacing_mm": 2.0},
        {"phantom": "two-arteries", "spacing_mm": 2.0},
    ]
    defaults = {"phantom": "random", "conditions": "none", "spacing_mm": None}
    out = tmp_path / "out"
    rows = run_grid(grid, [5], defaults, out, stages="kernels", scheduler="serial", quiet=True)
    assert [(row["phantom"], row["seed"]) for row in rows] == [("basic", 5), ("two-arteries", 5)]
    assert all(not row["failed"] and row["kernels_max_difference_mm"] < 1e-9 for row in rows)
    assert {p.name for p in out.iterdir() if p.is_dir()} == {
        "phantom-basic_spacing_mm-2",
        "phantom-two-arteries_spacing_mm-2",
    }
    assert len(pyarrow.parquet.read_table(out / "sweep.parquet")) == 2
