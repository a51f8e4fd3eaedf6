"""The 3D scene: layers, colours, legend, orientation cube, camera presets, screenshots.

Everything is in mm (LPS: +x patient left, +y posterior, +z superior).
Cameras use parallel projection, as planning workstations do, so that sizes
on screen do not depend on depth.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from vtkmodules.vtkRenderingAnnotation import vtkAnnotatedCubeActor
from vtkmodules.vtkRenderingCore import vtkCoordinate

from pdvaplan.centerlines.polyline import unit
from pdvaplan.render._pyvista import pv
from pdvaplan.render.meshes import SURFACES, scene_meshes
from pdvaplan.render.planview import PlanView

#: Layer colours (RGB 0-255) and opacities; the needle's green is used by no other layer.
COLORS = {
    "artery": (215, 40, 40),
    "vein": (50, 90, 220),
    "calcium": (255, 245, 170),
    "bone": (235, 225, 200),
    "metal": (90, 100, 120),
    "needle": (0, 230, 60),
    "stent_graft": (190, 190, 200),
    "stent_boundaries": (20, 20, 20),
    "outline": (120, 120, 120),
}
OPACITY = {
    "artery": 0.55,
    "vein": 0.45,
    "calcium": 1.0,
    "bone": 0.18,
    "metal": 0.9,
    "stent_graft": 0.35,
}
#: Colour maps of the scalar layers.
RADIUS_CMAP, DISTANCE_CMAP = "inferno", "cool"
#: Radius (mm) of the translucent halo that marks the crossing in the views of the whole leg.
HALO_MM = 7.0
BACKGROUND = (255, 255, 255)
#: Camera presets, in the order the pictures are made.
CAMERAS = ("anterior", "lateral", "crossing", "needle")
CAMERA_TITLES = {
    "anterior": "Anterior view (patient's right on the left)",
    "lateral": "Lateral view, from the patient's right",
    "crossing": "Crossing close-up, side-on to the needle (40 mm slab)",
    "needle": "Looking down the needle, from the artery into the vein (40 mm slab)",
}
#: Anatomy to spare (mm) around the labelled surfaces in the overviews.
OVERVIEW_MARGIN_MM = 10.0
#: Half the field of view (mm) and half the slab depth (mm) of the close-up cameras.
CLOSE_UP_MM, SLAB_MM = 20.0, 20.0
#: Layers a plotter can show; `build_plotter` takes a subset.
LAYERS = (
    "outline",
    "bone",
    "metal",
    "calcium",
    "artery",
    "vein",
    "centerlines",
    "candidates",
    "stent_graft",
    "stent_boundaries",
    "needle",
)


@dataclass
class Scene:
    """A plotter with the plan's layers; `actors` by layer name (absent layers missing)."""

    plotter: pv.Plotter
    actors: dict
    view: PlanView
    meshes: dict
    annotations: bool = True


def orientation_cube() -> vtkAnnotatedCubeActor:
    """A cube whose faces name the anatomical directions (LPS): L/R, P/A, S/I."""
    cube = vtkAnnotatedCubeActor()
    for face, text in (
        ("XPlus", "L"),
        ("XMinus", "R"),
        ("YPlus", "P"),
        ("YMinus", "A"),
        ("ZPlus", "S"),
        ("ZMinus", "I"),
    ):
        getattr(cube, f"Set{face}FaceText")(text)
    cube.SetFaceTextScale(0.55)
    prop = cube.GetCubeProperty()
    prop.SetColor(0.85, 0.85, 0.9)
    for getter in ("GetXPlusFaceProperty", "GetXMinusFaceProperty"):
        getattr(cube, getter)().SetColor(0.8, 0.1, 0.1)
    for getter in ("GetYPlusFaceProperty", "GetYMinusFaceProperty"):
        getattr(cube, getter)().SetColor(0.1, 0.5, 0.1)
    for getter in ("GetZPlusFaceProperty", "GetZMinusFaceProperty"):
        getattr(cube, getter)().SetColor(0.1, 0.1, 0.8)
    return cube


def _rgb(name: str) -> tuple[float, float, float]:
    return tuple(c / 255 for c in COLORS[name])


def _legend_rgb(name: str) -> tuple[float, float, float]:
    """A layer's colour, darkened when too pale to read as legend text on white."""
    rgb = np.array(_rgb(name))
    brightness = float(rgb @ [0.3, 0.59, 0.11])
    return tuple(rgb * min(1.0, 0.6 / brightness)) if brightness > 0.6 else tuple(rgb)


def build_plotter(
    view: PlanView,
    meshes: dict | None = None,
    window_size: tuple[int, int] = (900, 1100),
    layers: tuple[str, ...] = LAYERS,
    off_screen: bool = True,
    annotations: bool = True,
) -> Scene:
    """A pyvista plotter showing the plan's layers.

    Parameters
    ----------
    view : PlanView
    meshes : dict, optional
        `scene_meshes(view)`, when already built.
    window_size : (int, int)
        Width and height in pixels.
    layers : tuple of str
        Which of `LAYERS` to show.
    off_screen : bool
        Render offscreen (pictures) or for a window (`view`).
    annotations : bool
        Legend, scalar bars, needle label, orientation cube.

    Returns
    -------
    Scene
    """
    meshes = scene_meshes(view) if meshes is None else meshes
    plotter = pv.Plotter(off_screen=off_screen, window_size=list(window_size))
    plotter.set_background(tuple(c / 255 for c in BACKGROUND))
    drawing = _Drawing(plotter, meshes, layers)
    drawing.add("outline", color=_rgb("outline"), line_width=1)
    _draw_surfaces(drawing)
    radius_bar = _draw_centerlines(drawing, annotations)
    _draw_candidates(drawing, view, radius_bar, annotations)
    _draw_stent_graft(drawing)
    _draw_needle(drawing, view, annotations)
    if annotations:
        if drawing.legend:
            drawing.actors["legend"] = plotter.add_legend(
                drawing.legend,
                bcolor="white",
                border=True,
                size=(0.28, 0.2),
                loc="upper left",
                face="rectangle",
            )
        plotter.add_orientation_widget(orientation_cube(), viewport=(0.0, 0.0, 0.18, 0.18))
    return Scene(plotter, drawing.actors, view, meshes, annotations)


#: Legend entries of the surfaces.
_SURFACE_NAMES = {
    "bone": "bone",
    "metal": "metal (implant)",
    "calcium": "calcium",
    "artery": "artery lumen (patent)",
    "vein": "vein lumen",
}


@dataclass
class _Drawing:
    """What `build_plotter` draws into: the plotter, the meshes, the layers asked for,
    and the actors and legend entries drawn so far."""

    plotter: pv.Plotter
    meshes: dict
    layers: tuple[str, ...]
    actors: dict = field(default_factory=dict)
    legend: list = field(default_factory=list)

    def add(self, name: str, mesh=None, **kwargs) -> bool:
        """Draw layer `name` (its mesh from `meshes` unless given) if asked for and not
        empty; whether it was drawn."""
        mesh = self.meshes.get(name) if mesh is None else mesh
        if name in self.layers and mesh is not None and mesh.n_points:
            self.actors[name] = self.plotter.add_mesh(mesh, name=name, **kwargs)
            return True
        return False


def _draw_surfaces(drawing: _Drawing) -> None:
    """Bone, metal, calcium and the lumens, each in the legend when drawn."""
    for name, label in _SURFACE_NAMES.items():
        shown = drawing.add(
            name,
            color=_rgb(name),
            opacity=OPACITY.get(name, 1.0),
            smooth_shading=True,
            specular=0.2,
        )
        if shown:
            drawing.legend.append((label, _legend_rgb(name)))


def _draw_centerlines(drawing: _Drawing, annotations: bool) -> dict:
    """The centrelines coloured by lumen radius, with its colour bar; returns the bar's
    settings (the candidates' bar sits below it)."""
    radius_bar = {
        "title": "lumen radius (mm)\n",  # the line break keeps the title off the top label
        "vertical": True,
        "position_x": 0.86,
        "position_y": 0.55,
        "height": 0.3,
        "width": 0.05,
        "n_labels": 4,
        "fmt": "%.1f",
        "color": "black",
        "title_font_size": 14,
        "label_font_size": 12,
    }
    _draw_coloured_lines(
        drawing, "centerlines", "radius_mm", RADIUS_CMAP, 3, radius_bar, annotations
    )
    return radius_bar


def _draw_coloured_lines(
    drawing: _Drawing, name: str, scalars: str, cmap, width: int, bar: dict, annotations: bool
) -> bool:
    """Layer `name` as tubes coloured by its point array `scalars`, with a colour bar when
    annotated; whether it was drawn."""
    return drawing.add(
        name,
        scalars=scalars,
        cmap=cmap,
        line_width=width,
        render_lines_as_tubes=True,
        scalar_bar_args=bar if annotations else None,
        show_scalar_bar=annotations,
    )


def _draw_candidates(drawing: _Drawing, view: PlanView, radius_bar: dict, annotations: bool):
    """The candidate needles coloured by distance, with a ball at each other site's artery
    end (the needle marks the chosen one)."""
    distance_bar = radius_bar | {"title": "candidate distance (mm)\n", "position_y": 0.15}
    if not _draw_coloured_lines(
        drawing, "candidates", "distance_mm", DISTANCE_CMAP, 4, distance_bar, annotations
    ):
        return
    candidates = drawing.meshes["candidates"]
    n = candidates.n_points // 2
    others = np.asarray(candidates.point_data["rank"][:n]) > (1 if view.crossing else 0)
    sites = pv.PolyData(np.asarray(candidates.points[:n])[others])
    sites.point_data["distance_mm"] = np.asarray(candidates.point_data["distance_mm"][:n])[others]
    if sites.n_points:
        markers = sites.glyph(
            orient=False,
            # wider than the artery lumen around it, so its colour shows through no wall
            geom=pv.Sphere(radius=2.0, theta_resolution=16, phi_resolution=16),
            scale=False,
        )
        drawing.actors["candidate_markers"] = drawing.plotter.add_mesh(
            markers,
            name="candidate_markers",
            scalars="distance_mm",
            cmap=DISTANCE_CMAP,
            clim=drawing.actors["candidates"].mapper.scalar_range,
            show_scalar_bar=False,
            opacity=0.85,
            ambient=0.4,
        )
    drawing.legend.append(("candidate sites (by distance)", (0.6, 0.3, 0.9)))


def _draw_stent_graft(drawing: _Drawing) -> None:
    """The stent-graft chain at its planned diameters and the rings between segments."""
    if drawing.add(
        "stent_graft",
        color=_rgb("stent_graft"),
        opacity=OPACITY["stent_graft"],
        smooth_shading=True,
    ):
        drawing.legend.append(("stent-grafts (planned diameters)", _legend_rgb("stent_graft")))
    drawing.add("stent_boundaries", color=_rgb("stent_boundaries"))


def _draw_needle(drawing: _Drawing, view: PlanView, annotations: bool) -> None:
    """The chosen needle and, with annotations, a halo round it (a needle of a few mm is
    a speck in a view of the whole leg) and its length."""
    if not drawing.add(
        "needle",
        color=_rgb("needle"),
        smooth_shading=True,
        ambient=0.5,
        diffuse=0.6,
        specular=0.0,
    ):
        return
    drawing.legend.append(("needle, halo: chosen crossing", _rgb("needle")))
    crossing = view.crossing
    if not annotations or crossing is None:
        return
    middle = (np.asarray(crossing["artery_point_mm"]) + np.asarray(crossing["vein_point_mm"])) / 2
    drawing.actors["crossing_halo"] = drawing.plotter.add_mesh(
        pv.Sphere(radius=HALO_MM, center=middle),
        color=_rgb("needle"),
        opacity=0.3,
        name="crossing_halo",
    )
    drawing.actors["needle_label"] = drawing.plotter.add_point_labels(
        [middle + np.array([0.0, 0.0, 3.0])],
        [f"needle {crossing['distance_mm']:.1f} mm"],
        font_size=16,
        point_size=1,
        shape_opacity=0.7,
        text_color="black",
        shape_color="white",
        always_visible=True,
        name="needle_label",
    )


#: The anatomical direction (LPS) each signed axis points to.
_AXIS_LETTERS = (("R", "L"), ("A", "P"), ("I", "S"))


def direction_letters(vector) -> str:
    """The anatomical directions a vector points to (LPS), strongest first: one letter,
    or two where the second component is at least 0.38 of its length (over 22 deg).

    Examples
    --------
    >>> direction_letters([1.0, 0.0, 0.0]), direction_letters([0.0, -0.9, 0.45])
    ('L', 'AS')
    """
    v = unit(np.asarray(vector, dtype=np.float64))
    order = np.argsort(-np.abs(v))
    return "".join(
        _AXIS_LETTERS[axis][int(v[axis] > 0)]
        for n, axis in enumerate(order[:2])
        if n == 0 or abs(v[axis]) >= 0.38
    )


def _screen_axes(camera) -> tuple[np.ndarray, np.ndarray]:
    """The world directions (unit) of the screen's right and up for a camera."""
    toward = unit(np.asarray(camera.focal_point) - np.asarray(camera.position))
    up = unit(np.asarray(camera.up))
    return unit(np.cross(toward, up)), unit(np.cross(np.cross(toward, up), toward))


def _label_edges(scene: Scene) -> None:
    """Name the anatomical direction at each edge of the picture (as radiology viewers
    do), from the camera: unambiguous whatever face the orientation cube shows."""
    right, up = _screen_axes(scene.plotter.camera)
    for edge, vector in (
        ("left_edge", -right),
        ("right_edge", right),
        ("upper_edge", up),
        ("lower_edge", -up),
    ):
        scene.actors[f"edge_{edge}"] = scene.plotter.add_text(
            direction_letters(vector),
            position=edge,
            font_size=14,
            color="#b05000",
            name=f"edge_{edge}",
            render=False,
        )


def _artery_tangent(view: PlanView) -> np.ndarray:
    crossing = view.crossing
    line = view.centerlines.get(crossing["artery"])
    if line is None:
        return np.array([0.0, 0.0, 1.0])
    a = np.asarray(crossing["artery_point_mm"])
    i = int(np.argmin(np.linalg.norm(line.points_mm - a, axis=1)))
    lo, hi = max(i - 4, 0), min(i + 4, len(line.points_mm) - 1)
    tangent = unit(line.points_mm[lo] - line.points_mm[hi])
    return tangent if tangent[2] >= 0 else -tangent


def _anatomy_box_mm(meshes: dict) -> np.ndarray:
    """Two corners (mm) of the box the overviews frame: the labelled anatomy with
    `OVERVIEW_MARGIN_MM` to spare, within the volume's outline (a wide, flat volume
    framed whole left its vessels a sliver across the picture)."""
    outline = np.asarray(meshes["outline"].points)
    low, high = outline.min(axis=0), outline.max(axis=0)
    drawn = [
        np.asarray(meshes[name].points)
        for name in SURFACES
        if meshes.get(name) is not None and meshes[name].n_points
    ]
    if not drawn:
        return np.array([low, high])
    points = np.vstack(drawn)
    return np.array(
        [
            np.maximum(points.min(axis=0) - OVERVIEW_MARGIN_MM, low),
            np.minimum(points.max(axis=0) + OVERVIEW_MARGIN_MM, high),
        ]
    )


def set_camera(scene: Scene, preset: str) -> None:
    """Point the camera: ``anterior``, ``lateral``, ``crossing`` or ``needle``.

    ``anterior`` looks from the front (-y) with superior up; ``lateral`` from
    the patient's right (-x). ``crossing`` looks side-on at the needle (normal
    to both the needle and the artery, from the anterior side) and ``needle``
    down the needle from the artery into the vein; both are close-ups of
    ``2 * CLOSE_UP_MM`` with only a slab of ``2 * SLAB_MM`` around the crossing
    drawn, so bone in front does not hide it. Without a crossing the close-ups
    fall back to the anterior view.
    """
    plotter = scene.plotter
    camera = plotter.camera
    camera.parallel_projection = True
    crossing = scene.view.crossing
    if preset in ("crossing", "needle") and crossing is None:
        preset = "anterior"
    if preset in ("anterior", "lateral"):
        corners = _anatomy_box_mm(scene.meshes)
        centre = (corners.min(axis=0) + corners.max(axis=0)) / 2
        size = corners.max(axis=0) - corners.min(axis=0)
        direction = np.array([0.0, 1.0, 0.0]) if preset == "anterior" else np.array([1.0, 0, 0])
        distance = float(np.linalg.norm(size)) * 2
        camera.focal_point = centre
        camera.position = centre - distance * direction
        camera.up = (0.0, 0.0, 1.0)
        width, height = plotter.window_size
        across = size[0] if preset == "anterior" else size[1]
        camera.parallel_scale = 0.53 * max(size[2], across * height / width)
        plotter.renderer.ResetCameraClippingRange()
        return
    a = np.asarray(crossing["artery_point_mm"], dtype=np.float64)
    b = np.asarray(crossing["vein_point_mm"], dtype=np.float64)
    centre = (a + b) / 2
    needle = unit(b - a)
    tangent = _artery_tangent(scene.view)
    if preset == "needle":
        direction = needle
        up = tangent - (tangent @ needle) * needle
        if np.linalg.norm(up) < 1e-6:
            up = np.array([0.0, 0.0, 1.0])
    else:
        direction = np.cross(needle, tangent)
        if np.linalg.norm(direction) < 1e-6:
            direction = np.cross(needle, [0.0, 0.0, 1.0])
        direction = unit(direction)
        if direction[1] < 0:  # look from the anterior side (-y) towards posterior
            direction = -direction
        up = tangent - (tangent @ direction) * direction
    distance = 150.0
    camera.focal_point = centre
    camera.position = centre - distance * unit(direction)
    camera.up = unit(up)
    camera.parallel_scale = CLOSE_UP_MM
    camera.clipping_range = (distance - SLAB_MM, distance + SLAB_MM)


def world_to_pixel(scene: Scene, point_mm) -> tuple[float, float]:
    """Where a point (mm) lands in a screenshot: (column, row) in pixels, row 0 at the top."""
    coordinate = vtkCoordinate()
    coordinate.SetCoordinateSystemToWorld()
    coordinate.SetValue(*np.asarray(point_mm, dtype=np.float64))
    x, y = coordinate.GetComputedDoubleDisplayValue(scene.plotter.renderer)
    height = scene.plotter.window_size[1]
    return float(x), float(height - y)


def screenshot(scene: Scene, preset: str, path=None) -> np.ndarray:
    """Set the camera preset and render; write a PNG to `path` when given.

    Returns
    -------
    numpy.ndarray
        The image, (height, width, 3) uint8.
    """
    set_camera(scene, preset)
    if "crossing_halo" in scene.actors:
        scene.actors["crossing_halo"].SetVisibility(preset in ("anterior", "lateral"))
    if scene.annotations:
        _label_edges(scene)
        _draw_scale_bar(scene)
    plotter = scene.plotter
    clipping = plotter.camera.clipping_range
    plotter.render()
    if preset in ("crossing", "needle") and scene.view.crossing is not None:
        plotter.camera.clipping_range = clipping  # keep the slab: render() resets it
        plotter.render()
    image = plotter.screenshot(str(path) if path is not None else None, return_img=True)
    return np.asarray(image)


def _draw_scale_bar(scene: Scene) -> None:
    """A bar of a round length (1, 2 or 5 x 10^n mm, about a fifth of the picture's
    width) in the lower right corner, in the focal plane: the pictures are parallel
    projections, so its length holds anywhere in them."""
    plotter, camera = scene.plotter, scene.plotter.camera
    width_px, height_px = plotter.window_size
    mm_per_px = 2.0 * camera.parallel_scale / height_px
    wanted = 0.2 * width_px * mm_per_px
    power = 10.0 ** np.floor(np.log10(wanted))
    length = power * max(f for f in (1.0, 2.0, 5.0) if f * power <= wanted)
    right, up = _screen_axes(camera)
    corner = (
        np.asarray(camera.focal_point)
        + right * (0.5 * width_px - 40) * mm_per_px
        - up * (0.5 * height_px - 45) * mm_per_px
    )
    scene.actors["scale_bar"] = plotter.add_mesh(
        pv.Line(corner - right * length, corner),
        color="black",
        line_width=6,
        name="scale_bar",
        render=False,
    )
    scene.actors["scale_label"] = plotter.add_point_labels(
        [corner - right * length / 2 + up * 16 * mm_per_px],
        [f"{length:g} mm"],
        font_size=14,
        point_size=1,
        shape_opacity=0.0,
        text_color="black",
        show_points=False,
        always_visible=True,
        name="scale_label",
        render=False,
    )
