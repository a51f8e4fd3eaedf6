"""The search kernels a plan compiles early, in a child process, are the ones it runs."""

from __future__ import annotations

from conftest import printed_by, write_artery_and_vein

from pdvaplan.kernels._cache import SearchKernelsWarmUp


def test_a_plan_runs_the_variants_the_warm_up_compiled(tmp_path):
    """After `compile_search_kernels` a plan adds no compiled variant of the search's
    kernels: it loads what the warm-up's child wrote instead of compiling again. In a
    fresh interpreter, where only what is called gets loaded."""
    labels = write_artery_and_vein(tmp_path)
    script = (
        "from pdvaplan.io import read_volume\n"
        "from pdvaplan.kernels._cache import compile_search_kernels\n"
        "from pdvaplan.kernels.line_of_sight import _lengths_many\n"
        "from pdvaplan.kernels.polyline_nearest import _nearest_segments\n"
        "from pdvaplan.planning import plan_from_labels\n"
        "kernels = (_nearest_segments, _lengths_many)\n"
        "compile_search_kernels()\n"
        "warmed = [list(kernel.signatures) for kernel in kernels]\n"
        f"plan = plan_from_labels(read_volume({str(labels)!r}))\n"
        "print(round(plan.crossing.distance_mm, 1), len(warmed[0]), len(warmed[1]),\n"
        "      [list(kernel.signatures) for kernel in kernels] == warmed)\n"
    )
    assert printed_by(script).split() == ["5.0", "1", "1", "True"]


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
