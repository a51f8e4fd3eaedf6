"""render_plan, render_folder: every picture, mesh and the report of a plan."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pdvaplan.io import Volume, output_folder
from pdvaplan.outputs import write_atomically, write_mesh, write_text_atomically
from pdvaplan.planning.plan import SEGMENTATION_FILE, write_segmentation
from pdvaplan.render import figures
from pdvaplan.render._pyvista import offscreen
from pdvaplan.render.meshes import scene_meshes
from pdvaplan.render.planview import (
    PlanView,
    load_plan_folder,
    view_from_plan,
)
from pdvaplan.render.report import report_html
from pdvaplan.render.scene import CAMERAS, build_plotter, screenshot

#: Meshes exported as ``scene-<name>.vtp`` (the names of `scene_meshes`).
EXPORTED = (
    "artery",
    "vein",
    "calcium",
    "bone",
    "metal",
    "centerlines",
    "candidates",
    "needle",
    "stent_graft",
    "stent_boundaries",
)


def render_view(
    view: PlanView, folder: str | os.PathLike, timings: dict | None = None
) -> list[Path]:
    """Draw a `PlanView` into `folder`: PNGs, ``scene-*.vtp`` meshes and report.html.

    The shared path of `render_plan` and `render_folder`.

    Parameters
    ----------
    view : PlanView
    folder : str or path-like
    timings : dict, optional
        Filled with the seconds each step took (surfaces, each picture, ...).

    Returns
    -------
    list of Path
        The files written, report.html last.
    """
    folder = output_folder(folder)
    offscreen()
    timings = {} if timings is None else timings
    pictures: list[Path] = []
    feasible = view.crossing is not None

    # The 2D figures (matplotlib) are drawn on a thread of their own while the surfaces
    # are made and the 3D views render (VTK); benchmarks/render.py times the whole. Only
    # the figures' thread calls numba's kernels (nearest_on_vein): with numba's workqueue
    # threading layer, parallel kernels must not run from two threads at once.
    with ThreadPoolExecutor(max_workers=1) as pool:
        flat = pool.submit(_draw_figures, view, folder, feasible)
        start = time.perf_counter()
        meshes = scene_meshes(view)
        timings["surfaces"] = time.perf_counter() - start
        meshes_written = []
        for name in EXPORTED:
            mesh = meshes.get(name)
            if mesh is not None and mesh.n_points:
                path = folder / f"scene-{name.replace('_', '-')}.vtp"
                meshes_written.append(write_mesh(mesh, path))
        timings["meshes (.vtp)"] = time.perf_counter() - start - timings["surfaces"]
        pictures += _draw_scene(view, meshes, folder, feasible, timings)
        drawn, flat_timings = flat.result()
    pictures += drawn
    timings.update(flat_timings)

    extra = []
    inputs = view.plan.get("inputs") or {}
    if not inputs.get("labels"):
        # the label map the plan was made from, so that `render_folder` can redraw it
        start = time.perf_counter()
        extra.append(write_segmentation(view.labels, folder))
        timings[SEGMENTATION_FILE] = time.perf_counter() - start
    report = folder / "report.html"
    start = time.perf_counter()
    text = report_html(view, pictures, meshes_written, timings)
    write_text_atomically(report, text)
    timings["report.html"] = time.perf_counter() - start
    return [*pictures, *meshes_written, *extra, report]


def render_plan(
    plan,
    folder: str | os.PathLike,
    arterial: Volume | None = None,
    venous: Volume | None = None,
    timings: dict | None = None,
) -> list[Path]:
    """Draw a plan: 3D views, CPRs, distance profile, axial slices, meshes and report.html.

    Parameters
    ----------
    plan : pdvaplan.planning.Plan
        A plan made by `plan_from_labels` or `plan_from_phases`.
    folder : str or path-like
        Where to write (created if needed).
    arterial, venous : Volume, optional
        The phases (HU). Without them (a plan made from a label map) the 2D
        views show the label map.
    timings : dict, optional
        Filled with the seconds each drawing step took.

    Returns
    -------
    list of Path
        The files written: ``scene-anterior.png``, ``scene-lateral.png``,
        ``scene-crossing.png``, ``scene-needle.png``, ``cpr-vein.png``,
        ``cpr-artery.png`` (the last four only for a feasible plan),
        ``distance-profile.png``, ``axial.png``, ``scene-*.vtp``,
        ``segmentation.nii.gz`` (unless the plan's input was a label map file)
        and ``report.html``.

    Examples
    --------
    >>> import tempfile
    >>> from phantoms import make_phantom
    >>> from pdvaplan.planning import plan_from_labels
    >>> phantom = make_phantom("basic", spacing_mm=(1.5, 1.5, 2.0))
    >>> plan = plan_from_labels(phantom.labels)
    >>> files = render_plan(plan, tempfile.mkdtemp(), phantom.arterial, phantom.venous)
    >>> files[-1].name, sum(f.suffix == ".png" for f in files)
    ('report.html', 8)
    """
    return render_view(view_from_plan(plan, arterial, venous), folder, timings)


def render_folder(folder: str | os.PathLike, timings: dict | None = None) -> list[Path]:
    """Redraw a plan folder (``pdvaplan render DIR``) from plan.json, centerlines.json
    and the inputs plan.json names; nothing is planned again.

    Raises
    ------
    PdvaplanInputError
        If plan.json, centerlines.json or an input it names is missing or unreadable.
    """
    return render_view(load_plan_folder(folder), folder, timings)


def _draw_scene(view: PlanView, meshes: dict, folder: Path, feasible: bool, timings: dict):
    """The 3D views as PNGs; fills `timings` with the set-up's and each view's seconds."""
    pictures = []
    start = time.perf_counter()
    scene = build_plotter(view, meshes)
    try:
        timings["3D scene set-up"] = time.perf_counter() - start
        for preset in CAMERAS if feasible else ("anterior", "lateral"):
            start = time.perf_counter()
            path = folder / f"scene-{preset}.png"
            pictures.append(write_atomically(path, lambda t, p=preset: screenshot(scene, p, t)))
            timings[path.name] = time.perf_counter() - start
    finally:
        scene.plotter.close()
    return pictures


def _draw_figures(view: PlanView, folder: Path, feasible: bool) -> tuple[list[Path], dict]:
    """The CPRs, the distance profile and the axial slices as PNGs, and their seconds."""
    drawings = []
    if feasible:
        drawings += [
            ("cpr-vein.png", lambda t: figures.cpr_figure(view, "vein", Path(t))),
            ("cpr-artery.png", lambda t: figures.cpr_figure(view, "artery", Path(t))),
        ]
    drawings.append(("distance-profile.png", lambda t: figures.profile_figure(view, Path(t))))
    drawings.append(("axial.png", lambda t: figures.axial_figure(view, Path(t))))
    pictures, timings = [], {}
    for name, draw in drawings:
        start = time.perf_counter()
        path = folder / name
        written = []

        def keep(temporary, draw=draw, written=written):
            written.append(draw(temporary))

        write_atomically(path, keep)
        if written[0] is None:
            path.unlink(missing_ok=True)
        else:
            pictures.append(path)
        timings[name] = time.perf_counter() - start
    return pictures, timings
