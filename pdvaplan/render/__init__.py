"""Rendering and report: the plan made visible, as vascular planning workstations do.

`render_plan` (a `Plan` in memory) and `render_folder` (a plan folder on disk)
both build a `PlanView` (plan.json, centrelines, label map, phases) and draw
it: a 3D scene in four camera presets, straightened CPRs along the target
vein and the crossing artery, the artery-to-vein distance profile, axial
slices through the crossing, ``scene-*.vtp`` meshes for 3D Slicer / ParaView
and a self-contained ``report.html``. `view` shows the scene in a window.
`render_plan`'s docstring has a worked example.
"""

from pdvaplan.render.api import render_folder, render_plan, render_view
from pdvaplan.render.interactive import view
from pdvaplan.render.planview import PlanView, load_plan_folder, view_from_plan

__all__ = [
    "PlanView",
    "load_plan_folder",
    "render_folder",
    "render_plan",
    "render_view",
    "view",
    "view_from_plan",
]
