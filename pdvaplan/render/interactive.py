"""``pdvaplan view DIR``: the plan's 3D scene in a window, with keys.

Keys: ``n`` / ``p`` next / previous candidate site (the camera centres on it
and the status line describes it); ``a`` arteries, ``d`` veins, ``o`` bone,
``c`` calcium, ``l`` centrelines, ``k`` candidates, ``g`` stent-grafts,
``x`` needle (each toggles the layer); ``h`` anterior, ``m`` lateral,
``t`` crossing close-up, ``i`` down the needle; ``q`` closes the window.
"""

from __future__ import annotations

import os

import numpy as np

from pdvaplan.errors import PdvaplanInputError
from pdvaplan.render._pyvista import has_display, interactive_window, pv
from pdvaplan.render.planview import PlanView, load_plan_folder
from pdvaplan.render.scene import Scene, build_plotter, set_camera

#: Key -> the layers it toggles.
TOGGLES = {
    "a": ("artery",),
    "d": ("vein",),
    "o": ("bone", "metal"),
    "c": ("calcium",),
    "l": ("centerlines",),
    "k": ("candidates", "candidate_markers"),
    "g": ("stent_graft", "stent_boundaries"),
    "x": ("needle", "needle_label"),
}
#: Key -> camera preset.
CAMERA_KEYS = {"h": "anterior", "m": "lateral", "t": "crossing", "i": "needle"}
HELP = (
    "n/p: next/previous candidate   a d o c l k g x: arteries veins bone calcium centrelines "
    "candidates grafts needle   h m t i: front side close-up down-the-needle   q: quit"
)


class CandidateStepper:
    """Steps through the ranked candidates: a ring marks the current one, the camera
    centres on it and the status line describes it."""

    def __init__(self, scene: Scene):
        self.scene = scene
        self.candidates = scene.view.plan.get("candidates") or []
        self.index = -1
        self.marker = None

    def status(self) -> str:
        """One line about the current candidate."""
        if not self.candidates or self.index < 0:
            return "no candidate selected" if self.candidates else "no candidate sites"
        c = self.candidates[self.index]
        height = c.get("height_above_ankle_mm")
        where = "" if height is None else f", {height:.0f} mm above the ankle"
        return (
            f"candidate {c.get('rank', self.index + 1)} of {len(self.candidates)}: "
            f"{c['artery']} -> {c['vein']}, {c['distance_mm']:.2f} mm{where}"
        )

    def step(self, by: int) -> None:
        """Move `by` candidates (wrapping) and centre the camera on it."""
        if not self.candidates:
            return
        self.index = (self.index + by) % len(self.candidates)
        c = self.candidates[self.index]
        a = np.asarray(c["artery_point_mm"], dtype=np.float64)
        b = np.asarray(c["vein_point_mm"], dtype=np.float64)
        plotter = self.scene.plotter
        self.marker = plotter.add_mesh(
            pv.Sphere(radius=max(2.5, 0.6 * float(np.linalg.norm(b - a))), center=(a + b) / 2),
            color="yellow",
            opacity=0.35,
            name="current_candidate",
        )
        plotter.camera.focal_point = (a + b) / 2
        plotter.add_text(
            self.status(), position="lower_right", font_size=10, color="black", name="status"
        )
        plotter.render()


def _toggle(scene: Scene, names: tuple[str, ...]) -> None:
    for name in names:
        actor = scene.actors.get(name)
        if actor is not None:
            actor.SetVisibility(not actor.GetVisibility())
    scene.plotter.render()


def interactive_scene(view: PlanView, off_screen: bool = False) -> tuple[Scene, CandidateStepper]:
    """The plotter `view` shows, with its keys bound (`off_screen` for tests)."""
    scene = build_plotter(view, window_size=(1200, 1000), off_screen=off_screen)
    plotter = scene.plotter
    stepper = CandidateStepper(scene)
    plotter.add_key_event("n", lambda: stepper.step(+1))
    plotter.add_key_event("p", lambda: stepper.step(-1))
    for key, names in TOGGLES.items():
        plotter.add_key_event(key, lambda names=names: _toggle(scene, names))
    for key, preset in CAMERA_KEYS.items():
        plotter.add_key_event(
            key, lambda preset=preset: (set_camera(scene, preset), plotter.render())
        )
    plotter.add_text(HELP, position="upper_edge", font_size=8, color="black", name="help")
    set_camera(scene, "anterior")
    return scene, stepper


def view(folder: str | os.PathLike) -> None:
    """Show a plan folder's 3D scene in a window (``pdvaplan view DIR``).

    Turn the scene with the mouse; ``n`` / ``p`` step through the ranked
    candidates; letter keys toggle layers and pick camera presets (see `HELP`).

    Raises
    ------
    PdvaplanInputError
        ``"no display: ..."`` on a machine without one (on Linux: neither
        DISPLAY nor WAYLAND_DISPLAY is set), or if the folder holds no plan.
    """
    plan_view = load_plan_folder(folder)  # a missing or broken folder is the first problem
    if not has_display():
        raise PdvaplanInputError(
            "no display: DISPLAY and WAYLAND_DISPLAY are unset; use pdvaplan render "
            f"{folder} and open report.html instead"
        )
    with interactive_window():
        scene, _ = interactive_scene(plan_view)
        scene.plotter.show(title=f"pdvaplan: {folder}")
