"""Progress on stderr: a bar of stages on a terminal, a log line per stage with --verbose."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

from conftest import write_artery_and_vein

from pdvaplan.cli import main
from pdvaplan.progress import LoggingProgress, TerminalProgress, reporting, stage


def test_terminal_bar_names_the_running_stage_and_counts_the_done(capsys):
    timings = {}
    with reporting(TerminalProgress(3)):
        for name in ("calibrate", "register", "veins"):
            with stage(name, timings):
                pass
    err = capsys.readouterr().err
    assert "pdvaplan: register: 1/3 stages" in err and "pdvaplan: veins: 2/3 stages" in err
    assert list(timings) == ["calibrate", "register", "veins"]


def test_a_stage_made_of_stages_is_timed_but_not_counted(caplog):
    timings = {}
    with (
        caplog.at_level(logging.INFO, logger="pdvaplan"),
        reporting(LoggingProgress()),
        stage("segment", timings, report=False),
        stage("smooth", timings),
    ):
        pass
    assert set(timings) == {"segment", "smooth"} and timings["segment"] >= timings["smooth"]
    assert [r.getMessage().split(":")[0] for r in caplog.records] == ["stage smooth"]


def test_verbose_logs_every_stage_and_quiet_says_nothing(tmp_path, capsys):
    labels = write_artery_and_vein(tmp_path)
    plan = ["plan", "--labels", str(labels), "--no-render"]
    assert main([*plan, "--out", str(tmp_path / "a"), "--verbose"]) == 0
    err = capsys.readouterr().err
    for name in ("load", "centerlines", "search", "plan"):
        assert f"pdvaplan: stage {name}: " in err
    assert main([*plan, "--out", str(tmp_path / "b"), "--quiet"]) == 0
    assert capsys.readouterr().err == ""  # a clean plan: no warning, no progress
    logging.getLogger("pdvaplan").setLevel(logging.WARNING)


def test_the_first_plan_after_installing_says_it_compiles(tmp_path, capsys, monkeypatch):
    script = "from pdvaplan.kernels._cache import plan_kernels_cached as c; print(c())"
    empty_cache = os.environ | {"NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    cold = subprocess.run(
        [sys.executable, "-c", script], env=empty_cache, capture_output=True, text=True
    )
    assert cold.returncode == 0, cold.stderr
    assert cold.stdout.strip() == "False"
    labels = write_artery_and_vein(tmp_path)
    plan = ["plan", "--labels", str(labels), "--no-render"]
    assert main([*plan, "--out", str(tmp_path / "first")]) == 0  # compiled and cached now
    capsys.readouterr()
    assert main([*plan, "--out", str(tmp_path / "warm")]) == 0
    assert "compiling" not in capsys.readouterr().err
    monkeypatch.setattr("pdvaplan.kernels._cache.plan_kernels_cached", lambda: False)
    assert main([*plan, "--out", str(tmp_path / "cold")]) == 0
    assert "pdvaplan: compiling the geometry kernels" in capsys.readouterr().err
