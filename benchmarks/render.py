"""How long drawing a plan takes: every picture, the meshes and report.html.

Run from the repository root: ``python -m benchmarks.render [--spacing SI SJ SK]``;
prints a markdown table and writes it to ``benchmarks/results/render.md``. The
target (issue 14) is at most 3 s for the whole report of the demo's leg, the 140 x 130 x
330 voxel ``basic`` phantom (0.8 x 0.8 x 1.0 mm): every picture, the meshes and
report.html. The 2D figures are drawn on a thread of their own while the 3D views
render, so the steps' seconds overlap and add up to more than the whole. The plan is
made once from the phantom's labels (planning is not timed here); the pictures are drawn
from its phases, twice: the first run in a fresh process pays for starting the offscreen
OpenGL context and compiling shaders, the second shows the steady cost.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from benchmarks.machine import machine_note
from benchmarks.phantoms import markdown_table
from pdvaplan.planning import plan_from_labels
from pdvaplan.render import render_plan
from phantoms import make_phantom

RESULTS = Path(__file__).parent / "results" / "render.md"
TARGET_S = 3.0


def time_render(plan, arterial, venous) -> tuple[dict, float]:
    """Seconds per drawing step and in all, for one `render_plan` into a fresh folder."""
    timings: dict = {}
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        render_plan(plan, folder, arterial, venous, timings=timings)
        total = time.perf_counter() - start
    return timings, total


def main(argv: list[str] | None = None) -> None:
    """Plan the phantom, draw it twice, print and save the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spacing", type=float, nargs=3, default=(0.8, 0.8, 1.0))
    args = parser.parse_args(argv)
    phantom = make_phantom("basic", spacing_mm=tuple(args.spacing))
    start = time.perf_counter()
    plan = plan_from_labels(phantom.labels)
    planned = time.perf_counter() - start
    runs = [time_render(plan, phantom.arterial, phantom.venous) for _ in range(2)]
    steps = list(runs[0][0])
    rows = [
        {
            "step": step,
            "first run s": f"{runs[0][0][step]:.2f}",
            "second run s": f"{runs[1][0][step]:.2f}",
        }
        for step in steps
    ]
    rows.append(
        {
            "step": "**render_plan in all** (wall clock: pictures, .vtp, segmentation, report)",
            "first run s": f"**{runs[0][1]:.2f}**",
            "second run s": f"**{runs[1][1]:.2f}**",
        }
    )
    first = runs[0][1]
    report = (
        "# Rendering a plan\n\n"
        f"`python -m benchmarks.render`: the `basic` phantom at "
        f"{' x '.join(f'{s:g}' for s in args.spacing)} mm "
        f"({' x '.join(map(str, phantom.labels.shape))} voxels), planned from its labels in "
        f"{planned:.1f} s (not part of the timings), drawn from its phases. "
        f"Target: the whole report in at most {TARGET_S:g} s; first run "
        f"{'meets' if first <= TARGET_S else 'MISSES'} it ({first:.1f} s).\n\n"
        "The first run in a process includes starting the offscreen OpenGL context (Mesa "
        "EGL, software rendering) and compiling its shaders, about 1.5-3 s, most of it in the "
        "first 3D picture. The 2D figures (CPRs, distance profile, axial) are drawn on a "
        "thread of their own while the 3D views render: the steps overlap, and only the "
        "last row is the wall clock.\n\n"
        + markdown_table(rows)
        + f"\n\nMachine: {machine_note(('numpy', 'scipy', 'pyvista', 'vtk', 'matplotlib'))}\n"
    )
    print(report)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(report, encoding="utf-8")


if __name__ == "__main__":
    main()
