"""The search kernels a plan compiles early, in a child process, are the ones it runs."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from pdvaplan.kernels._cache import SearchKernelsWarmUp


def test_a_plan_runs_the_variants_the_warm_up_compiled():
    """After `compile_search_kernels` a plan adds no compiled variant of the search's
    kernels: it loads what the warm-up's child wrote instead of compiling again. In a
    fresh interpreter, where only what is called gets loaded."""
    script = textwrap.dedent(
        """
        import numpy as np
        from pdvaplan.io import Volume
        from pdvaplan.kernels._cache import compile_search_kernels
        from pdvaplan.kernels.line_of_sight import _lengths_many
        from pdvaplan.kernels.polyline_nearest import _nearest_segments
        from pdvaplan.planning import plan_from_labels

        kernels = (_nearest_segments, _lengths_many)
        compile_search_kernels()
        warmed = [list(kernel.signatures) for kernel in kernels]
        frame = Volume(np.zeros((40, 30, 80), np.uint8), np.full(3, 0.5), np.zeros(3), np.eye(3))
        x, y, _ = np.moveaxis(frame.voxel_positions_mm(), -1, 0)
        labels = np.zeros(frame.shape, np.uint8)
        labels[np.hypot(x - 8.0, y - 7.5) <= 1.6] = 1
        labels[np.hypot(x - 13.0, y - 7.5) <= 1.8] = 2
        plan = plan_from_labels(frame.with_array(labels))
        print(round(plan.crossing.distance_mm, 1), len(warmed[0]), len(warmed[1]))
        print([list(kernel.signatures) for kernel in kernels] == warmed)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["5.0", "1", "1", "True"], done.stdout + done.stderr


def test_the_warm_up_child_is_stopped_when_a_plan_ends_early(monkeypatch):
    """A plan that fails before its search leaves no compiling child behind."""
    monkeypatch.setattr("pdvaplan.kernels._cache.plan_kernels_cached", lambda: False)
    monkeypatch.setattr("pdvaplan.kernels._cache.threads", lambda: 2)
    try:
        with SearchKernelsWarmUp() as warm_up:
            child = warm_up._child
            assert child is not None and child.poll() is None
            raise RuntimeError("the plan failed")
    except RuntimeError:
        pass
    assert child.poll() is not None
