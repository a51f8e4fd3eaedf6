"""Pictures, meshes and report of a plan: they show the right thing, in the right place.

One coarse phantom is planned once (from its labels) and drawn twice: from the
label map with `render_plan`, and from its phases with `render_folder` reading
a plan folder back. Each test then checks one picture against geometry it
computes itself (kernels, io), not against what the drawing code recorded.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pdvaplan.centerlines import write_centerlines
from pdvaplan.errors import PdvaplanInputError
from pdvaplan.io import Volume, write_volume
from pdvaplan.kernels import distance_profile
from pdvaplan.planning import PlanParameters, plan_from_labels, plan_vessels, write_plan
from pdvaplan.planning.plan import SEGMENTATION_FILE
from pdvaplan.render import (
    PlanView,
    load_plan_folder,
    render_folder,
    render_plan,
    view,
    view_from_plan,
)
from pdvaplan.render.figures import (
    LABEL_COLORS,
    MINIMUM_COLOR,
    PROFILE_PANELS,
    axial_figure,
    clipped_texts,
    cpr_figure,
    data_to_pixel,
    panel_boxes,
    vessel_cpr,
)
from pdvaplan.render.interactive import interactive_scene
from pdvaplan.render.meshes import scene_meshes
from pdvaplan.render.scene import COLORS, build_plotter, screenshot, world_to_pixel
from tests.conftest import cached_phantom, real_vessel_labels

FEASIBLE_PICTURES = {
    "scene-anterior.png",
    "scene-lateral.png",
    "scene-crossing.png",
    "scene-needle.png",
    "cpr-vein.png",
    "cpr-artery.png",
    "distance-profile.png",
    "axial.png",
}


def _hex_rgb(color: str) -> np.ndarray:
    return np.array([int(color[i : i + 2], 16) for i in (1, 3, 5)], dtype=float)


def _png(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=float)


def _assert_not_blank(path: Path) -> None:
    image = _png(path)
    assert image.shape[0] > 100 and image.shape[1] > 100, path.name
    assert image.std() > 20, f"{path.name} is nearly uniform"
    colours = np.unique((image[::3, ::3] // 16).reshape(-1, 3), axis=0)
    assert len(colours) > 20, f"{path.name} holds only {len(colours)} colours"


@pytest.fixture(scope="module")
def phantom():
    return cached_phantom("basic")


@pytest.fixture(scope="module")
def plan(phantom):
    return plan_from_labels(phantom.labels)


@pytest.fixture(scope="module")
def from_labels(plan, tmp_path_factory):
    """`render_plan` of the plan without phases: the 2D views show the label map."""
    folder = tmp_path_factory.mktemp("render-labels")
    return folder, render_plan(plan, folder)


@pytest.fixture(scope="module")
def from_folder(phantom, plan, from_labels, tmp_path_factory):
    """A plan folder as the command line leaves it (phases as inputs), redrawn by
    `render_folder` from plan.json, centerlines.json and the files they name."""
    folder = tmp_path_factory.mktemp("render-folder")
    inputs = folder / "inputs"
    inputs.mkdir()
    write_volume(phantom.arterial, inputs / "arterial.nii.gz")
    write_volume(phantom.venous, inputs / "venous.nii.gz")
    plan.inputs = {
        "arterial": str(inputs / "arterial.nii.gz"),
        "venous": str(inputs / "venous.nii.gz"),
        "sha256": {"arterial": "a" * 64, "venous": "b" * 64},
    }
    try:
        write_plan(plan, folder)
    finally:
        plan.inputs = {}
    write_centerlines([*plan.vessels.arteries, *plan.vessels.veins], folder)
    shutil.copy(from_labels[0] / SEGMENTATION_FILE, folder / SEGMENTATION_FILE)
    return folder, render_folder(folder)


def test_render_plan_writes_every_picture_mesh_and_report(plan, from_labels):
    folder, files = from_labels
    names = {f.name for f in files}
    assert names >= FEASIBLE_PICTURES | {"report.html", SEGMENTATION_FILE}
    assert files[-1].name == "report.html"
    assert all(f.parent == folder and f.is_file() for f in files)
    for name in FEASIBLE_PICTURES:
        _assert_not_blank(folder / name)
    meshes = {n for n in names if n.endswith(".vtp")}
    assert {"scene-artery.vtp", "scene-vein.vtp", "scene-bone.vtp", "scene-needle.vtp"} <= meshes
    assert {"scene-centerlines.vtp", "scene-stent-graft.vtp", "scene-candidates.vtp"} <= meshes
    import pyvista as pv

    needle = pv.read(folder / "scene-needle.vtp")
    a, b = plan.crossing.artery_point_mm, plan.crossing.vein_point_mm
    # the cylinder's axis ends are the needle's ends: its extent covers both points
    low, high = np.array(needle.bounds).reshape(3, 2).T
    assert np.all(low <= np.minimum(a, b) + 1e-6) and np.all(high >= np.maximum(a, b) - 1e-6)
    assert list(needle.field_data["SPACE"]) == ["LPS"]  # as Slicer reads it
    lines = pv.read(folder / "scene-centerlines.vtp")
    assert lines.n_cells == len(plan.vessels.arteries) + len(plan.vessels.veins)
    assert "radius_mm" in lines.point_data


def test_needle_drawn_where_the_crossing_projects(plan):
    """The crossing point, projected to the screen, shows the needle's green; without the
    needle layer the same pixel is not green (the colour is the needle's, not a neighbour's)."""
    plan_view = view_from_plan(plan)
    meshes = scene_meshes(plan_view)
    a, b = plan.crossing.artery_point_mm, plan.crossing.vein_point_mm
    middle = (a + b) / 2
    green = np.array(COLORS["needle"], dtype=float)
    seen = {}
    for with_needle in (True, False):
        layers = ("bone", "artery", "vein", "stent_graft", "candidates")
        layers += ("needle",) if with_needle else ()
        scene = build_plotter(plan_view, meshes, (500, 500), layers=layers, annotations=False)
        try:
            image = screenshot(scene, "crossing").astype(float)
            column, row = world_to_pixel(scene, middle)
            ends = [world_to_pixel(scene, p) for p in (a, b)]
        finally:
            scene.plotter.close()
        assert 0 <= column < 500 and 0 <= row < 500
        patch = image[int(row) - 1 : int(row) + 2, int(column) - 1 : int(column) + 2]
        seen[with_needle] = patch.reshape(-1, 3).mean(axis=0)
    # side-on: the needle spans several pixels on screen, centred on its midpoint
    assert np.hypot(ends[0][0] - ends[1][0], ends[0][1] - ends[1][1]) > 20
    assert abs((ends[0][0] + ends[1][0]) / 2 - column) < 1.5
    r, g, bl = seen[True]
    assert g > r + 40 and g > bl + 40, f"needle pixel {seen[True]} is not green"
    assert np.linalg.norm(seen[True] - green) < np.linalg.norm(seen[False] - green) - 60
    r, g, bl = seen[False]
    assert not (g > r + 40 and g > bl + 40), "green there even without the needle"


def test_vein_cpr_runs_along_its_axis(plan, from_labels, tmp_path):
    """In the picture, the vein (label colour) is centred on the panel's offset-0 row,
    column by column."""
    path = cpr_figure(view_from_plan(plan), "vein", tmp_path / "cpr-vein.png")
    image = _png(path)
    panel = panel_boxes(path)["full"]
    left, top, right, bottom = (round(v) for v in panel["box_px"])
    _, centre_row = data_to_pixel(panel, 0.0, 0.0)
    mm_per_pixel = (panel["ylim"][1] - panel["ylim"][0]) / (bottom - top)
    blue = _hex_rgb(LABEL_COLORS[2])
    vein = np.linalg.norm(image[top + 2 : bottom - 2, left + 2 : right - 2] - blue, axis=2) < 40
    rows = np.arange(top + 2, bottom - 2)
    offsets = []
    for column in range(vein.shape[1]):
        # the band of vein pixels that holds (or is nearest to) the centre row
        hits = rows[vein[:, column]]
        if hits.size == 0:
            continue
        band = hits[np.abs(hits - centre_row) <= 4.0 / mm_per_pixel]
        if band.size:
            offsets.append(((band.min() + band.max()) / 2 - centre_row) * mm_per_pixel)
    offsets = np.array(offsets)
    assert offsets.size > 0.8 * vein.shape[1], "the vein is missing from most columns"
    assert abs(np.median(offsets)) < 0.5
    assert np.mean(np.abs(offsets) < 1.2) > 0.9


def test_vein_cpr_from_the_phases_has_the_bright_lumen_in_the_middle(phantom, plan):
    cpr, labels = vessel_cpr(view_from_plan(plan, phantom.arterial, phantom.venous), "vein")
    assert not labels
    near = np.abs(cpr.offset_mm) <= 3.0
    values = cpr.image[near] - np.median(cpr.image, axis=0)
    inside = cpr.points_mm[:, 2] > phantom.venous.index_to_physical([0, 0, 2])[2]
    weights = np.clip(values[:, inside], 0, None)
    centroid = (cpr.offset_mm[near] @ weights) / np.maximum(weights.sum(axis=0), 1e-9)
    assert abs(np.median(centroid)) < 0.4
    assert np.mean(np.abs(centroid) < 1.0) > 0.85


def _edge_text(actor) -> str:
    return "".join(t for t in (actor.GetText(i) for i in range(8)) if t)


def test_pictures_name_their_edges_and_carry_a_true_scale_bar(plan):
    """Every 3D picture says which anatomical direction each edge faces (the cube alone
    showed one face from the front) and has a scale bar whose drawn length in pixels is
    its labelled length in mm."""
    scene = build_plotter(view_from_plan(plan))
    try:
        # From the front the patient's right is on the left; from the right side, the back.
        expected = {"anterior": ("R", "L", "S", "I"), "lateral": ("P", "A", "S", "I")}
        for preset in ("anterior", "lateral", "crossing"):
            screenshot(scene, preset)
            edges = tuple(
                _edge_text(scene.actors[f"edge_{e}_edge"])
                for e in ("left", "right", "upper", "lower")
            )
            assert edges == expected.get(preset, edges) and all(edges), (preset, edges)
            bar = np.asarray(scene.actors["scale_bar"].mapper.dataset.points)
            length_mm = float(np.linalg.norm(bar[-1] - bar[0]))
            pixels = np.hypot(
                *np.subtract(world_to_pixel(scene, bar[-1]), world_to_pixel(scene, bar[0]))
            )
            mm_per_pixel = 2 * scene.plotter.camera.parallel_scale / scene.plotter.window_size[1]
            assert pixels * mm_per_pixel == pytest.approx(length_mm, rel=0.01)
            mantissa = length_mm / 10 ** np.floor(np.log10(length_mm))
            assert min(abs(mantissa - m) for m in (1.0, 2.0, 5.0)) < 1e-4
            assert 0.1 < pixels / scene.plotter.window_size[0] <= 0.2 + 1e-9
    finally:
        scene.plotter.close()


def test_distance_profile_marks_the_minimum(plan, from_labels):
    folder, _ = from_labels
    path = folder / "distance-profile.png"
    crossing = plan.crossing
    artery = next(a for a in plan.vessels.arteries if a.id == crossing.artery)
    nearest = np.min(
        [distance_profile(artery.points_mm, v.points_mm).distance_mm for v in plan.vessels.veins],
        axis=0,
    )
    lowest = int(np.argmin(nearest))
    panels = panel_boxes(path)
    # One panel per artery of the candidate sites, in rank order, the crossing's first.
    ranked = [c.artery for c in plan.candidates]
    assert list(panels) == list(dict.fromkeys(ranked))[:PROFILE_PANELS]
    panel = panels[artery.id]
    # Along the artery (the middle of its segment), never folding back.
    middle_arc = (artery.arc_mm[lowest] + artery.arc_mm[lowest + 1]) / 2
    column, row = data_to_pixel(panel, middle_arc, nearest[lowest])
    image = _png(path)
    left, top, right, bottom = (round(v) for v in panel["box_px"])
    ring = np.linalg.norm(image - _hex_rgb(MINIMUM_COLOR), axis=2) < 60
    ring[:top] = ring[bottom:] = False
    ring[:, :left] = ring[:, right:] = False
    rows, columns = np.nonzero(ring)
    assert rows.size > 15, "no closest-approach ring in the crossing artery's panel"
    assert abs(columns.mean() - column) < 3 and abs(rows.mean() - row) < 3
    # and the reach line sits at the reach
    reach_row = data_to_pixel(panel, 0.0, plan.parameters.reach_mm)[1]
    red = np.linalg.norm(image[top:bottom, left + 5 : right - 5] - [214, 39, 40], axis=2) < 60
    assert abs(np.median(np.nonzero(red.mean(axis=1) > 0.3)[0]) + top - reach_row) < 2


def _synthetic_labels() -> Volume:
    """A small label map on a flipped, permuted grid with a block of each label."""
    array = np.zeros((14, 18, 22), np.uint8)
    array[2:6, 3:9, 4:18] = 4
    array[8:11, 10:13, 2:20] = 1
    array[11:13, 12:16, 6:12] = 2
    array[9:10, 6:8, 15:17] = 3
    direction = np.array([[0.0, 0, -1], [-1, 0, 0], [0, 1, 0]])
    return Volume(array, np.array([0.7, 1.1, 1.6]), np.array([12.0, -30.0, 100.0]), direction)


def test_scene_bounds_are_the_label_maps_physical_extent_on_a_flipped_permuted_grid():
    labels = _synthetic_labels()
    m = labels.direction * labels.spacing_mm
    corners = np.array(
        [[i, j, k] for i in (-0.5, 13.5) for j in (-0.5, 17.5) for k in (-0.5, 21.5)]
    )
    physical = corners @ m.T + labels.origin_mm
    plan = {"schema": "pdvaplan.plan/1", "feasible": False, "candidates": []}
    plan_view = PlanView(plan, {}, labels)
    meshes = scene_meshes(plan_view)
    expected = np.column_stack([physical.min(axis=0), physical.max(axis=0)]).ravel()
    np.testing.assert_allclose(meshes["outline"].bounds, expected, atol=1e-9)
    for name, value in (("bone", 4), ("artery", 1), ("vein", 2), ("calcium", 3)):
        index = np.argwhere(labels.array == value)
        edges = np.concatenate([index - 0.5, index + 0.5]) @ m.T + labels.origin_mm
        box = np.column_stack([edges.min(axis=0), edges.max(axis=0)]).ravel()
        bounds = np.asarray(meshes[name].bounds)
        # within 0.7 voxel of the voxels' outer faces (smoothing rounds the corners)
        assert np.all(np.abs(bounds - box) <= 0.7 * labels.spacing_mm.max()), name
    scene = build_plotter(plan_view, meshes, (300, 300))
    try:
        np.testing.assert_allclose(scene.plotter.bounds, expected, atol=1e-6)
    finally:
        scene.plotter.close()


def test_render_folder_rereads_the_plan_and_draws_the_phases(phantom, plan, from_folder):
    folder, files = from_folder
    names = {f.name for f in files}
    assert names >= FEASIBLE_PICTURES | {"report.html"}
    loaded = load_plan_folder(folder)
    assert loaded.has_phases and loaded.crossing["artery"] == plan.crossing.artery
    assert set(loaded.centerlines) == {c.id for c in (*plan.vessels.arteries, *plan.vessels.veins)}
    np.testing.assert_array_equal(loaded.labels.array, plan.vessels.labels.array)
    np.testing.assert_allclose(loaded.labels.direction, plan.vessels.labels.direction)
    axial = _png(folder / "axial.png")
    boxes = panel_boxes(folder / "axial.png")
    assert {"arterial phase/full", "venous phase/zoom"} <= set(boxes)
    # grey CT, not the label colours
    left, top, right, bottom = (int(v) for v in boxes["venous phase/full"]["box_px"])
    region = axial[top + 5 : bottom - 5, left + 5 : right - 5]
    assert np.mean(np.ptp(region, axis=2) < 10) > 0.9
    text = (folder / "report.html").read_text(encoding="utf-8")
    assert "arterial.nii.gz" in text and "a" * 64 in text


def test_render_folder_reports_missing_inputs(from_folder, tmp_path):
    folder, _ = from_folder
    copy = tmp_path / "plan"
    copy.mkdir()
    document = json.loads((folder / "plan.json").read_text(encoding="utf-8"))
    document["inputs"]["arterial"] = str(tmp_path / "gone.nii.gz")
    (copy / "plan.json").write_text(json.dumps(document), encoding="utf-8")
    shutil.copy(folder / "centerlines.json", copy / "centerlines.json")
    with pytest.raises(PdvaplanInputError, match=r"arterial input .*gone\.nii\.gz"):
        render_folder(copy)
    with pytest.raises(PdvaplanInputError, match=r"plan\.json: no such file"):
        render_folder(tmp_path)


def test_report_reads_the_plan_in_words(plan, from_labels):
    text = (from_labels[0] / "report.html").read_text(encoding="utf-8")
    crossing = plan.crossing
    height = crossing.artery_point_mm[2] - plan.ankle_z_mm
    # The basic leg's crossing is posterior tibial: the report names the vessels.
    assert (
        f"Cross from posterior tibial artery ({crossing.artery}) at {height:.0f} mm above the "
        f"ankle into posterior tibial vein ({crossing.vein}): "
    ) in text
    assert f"{crossing.distance_mm:.1f} mm" in text
    assert "EXAMPLE SIZES ONLY" in text
    assert text.count('<tr class="chosen">') == 1
    assert text.count("data:image/png;base64,") == len(FEASIBLE_PICTURES)


def test_infeasible_plan_says_why_and_the_nearest_distance(plan, tmp_path):
    short = plan_vessels(plan.vessels, PlanParameters(reach_mm=2.0), {})
    assert not short.feasible
    files = render_plan(short, tmp_path)
    names = {f.name for f in files}
    assert not names & {"cpr-vein.png", "scene-crossing.png", "scene-needle.png"}
    assert {"scene-anterior.png", "distance-profile.png", "axial.png"} <= names
    text = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "No feasible crossing" in text and f"{short.nearest_mm:.1f} mm" in text


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


_CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

_PAGE_CHECK = """<script>
window.addEventListener("load", function () {
  var images = Array.from(document.images);
  var bad = images.filter(function (i) { return !i.complete || i.naturalWidth === 0; });
  var main = document.querySelector("main").getBoundingClientRect();
  // Nothing sticks out of the page's column; wide tables scroll inside their own box.
  var overflow = Array.from(document.querySelectorAll("main *")).filter(function (e) {
    var box = e.getBoundingClientRect();
    var scrolled = e.parentElement && e.parentElement.closest(".wide");
    return !scrolled && (box.right > main.right + 1 || box.left < main.left - 1);
  });
  var columns = Array.from(document.querySelectorAll(".grid")).map(function (g) {
    return new Set(Array.from(g.children).map(function (c) {
      return Math.round(c.getBoundingClientRect().left);
    })).size;
  });
  var out = document.createElement("pre");
  out.id = "page-check";
  out.textContent = "images=" + images.length + " broken=" + bad.length +
    " overflow=" + overflow.length + " columns=" + Math.max.apply(null, columns) +
    " scroll=" + (document.documentElement.scrollWidth > window.innerWidth);
  document.body.appendChild(out);
});
</script></body>"""


def _run_chromium(browser: str, profile, *arguments: str) -> subprocess.CompletedProcess:
    """Run headless chromium with a fresh profile folder; output decoded as UTF-8."""
    return subprocess.run(
        [browser, *_CHROMIUM_FLAGS, f"--user-data-dir={profile}", *arguments],
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        timeout=120,
    )


@pytest.fixture(scope="module")
def real_report(tmp_path_factory):
    """The report of a plan on a real label map (TotalSegmentator's aorta and veins on a
    real CT; a 50 mm reach makes it feasible): flat, wide and unlike any phantom."""
    folder = tmp_path_factory.mktemp("render-real")
    plan = plan_from_labels(real_vessel_labels(), PlanParameters(reach_mm=50.0))
    return folder, render_plan(plan, folder)


@pytest.mark.parametrize("source", ["from_labels", "real_report"])
def test_report_renders_in_headless_chromium(source, request, tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    folder, _ = request.getfixturevalue(source)
    report = folder / "report.html"
    # A copy with a check, after the page's own content, that every image decoded and that
    # the page fits its window: two columns of pictures on a wide screen, one on a narrow.
    checked = tmp_path / "report-checked.html"
    checked.write_text(
        report.read_text(encoding="utf-8").replace("</body>", _PAGE_CHECK), encoding="utf-8"
    )
    for width, columns in ((1400, 2), (800, 1)):
        run = _run_chromium(
            browser,
            tmp_path / f"profile-{width}",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=5000",
            f"--window-size={width},1000",
            "--dump-dom",
            checked.as_uri(),
        )
        assert run.returncode == 0, run.stderr[-2000:]
        expected = f"images={len(FEASIBLE_PICTURES)} broken=0 overflow=0 columns={columns} "
        assert expected + "scroll=false" in run.stdout, (width, run.stdout[-300:])
        console = [
            line for line in run.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line
        ]
        assert not console, console
    shot = tmp_path / "report.png"
    run = _run_chromium(
        browser,
        tmp_path / "profile2",
        f"--screenshot={shot}",
        "--window-size=1280,2000",
        report.as_uri(),
    )
    assert run.returncode == 0 and shot.is_file(), run.stderr[-2000:]
    _assert_not_blank(shot)
    # the verdict box (green for a feasible plan) is drawn near the top of the page
    top = _png(shot)[:600]
    assert np.any(np.all(np.abs(top - [232, 246, 236]) < 6, axis=2))


def test_view_needs_a_display(monkeypatch, from_folder):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr("sys.platform", "linux")
    with pytest.raises(PdvaplanInputError, match=r"^no display: ") as error:
        view(from_folder[0])
    assert "\n" not in str(error.value)
    # A folder that is not there is named first, display or not.
    with pytest.raises(PdvaplanInputError, match=r"nowhere: no such plan folder"):
        view(from_folder[0].parent / "nowhere")


def test_view_keys_step_candidates_and_toggle_layers(plan):
    scene, stepper = interactive_scene(view_from_plan(plan), off_screen=True)
    try:
        callbacks = scene.plotter.iren._key_press_event_callbacks
        callbacks["n"][0]()
        assert stepper.index == 0 and "candidate 1 of" in stepper.status()
        callbacks["n"][0]()
        callbacks["p"][0]()
        callbacks["p"][0]()
        assert stepper.index == len(plan.candidates) - 1
        focal = np.asarray(scene.plotter.camera.focal_point)
        c = plan.candidates[-1]
        np.testing.assert_allclose(focal, (c.artery_point_mm + c.vein_point_mm) / 2, atol=1e-6)
        bone = scene.actors["bone"]
        assert bone.GetVisibility()
        callbacks["o"][0]()
        assert not bone.GetVisibility()
    finally:
        scene.plotter.close()


def test_the_enlarged_cpr_is_filled_on_a_vein_that_ends_soon_below_the_crossing():
    """A vein that comes closest to its artery just above its own distal end: the CPR
    starts farther above the crossing, so the enlarged panel shows 65 mm of vein."""
    frame = Volume(np.zeros((40, 40, 160), np.uint8), np.ones(3), np.zeros(3), np.eye(3))
    x, y, z = np.moveaxis(frame.voxel_positions_mm(), -1, 0)
    labels = np.zeros(frame.shape, np.uint8)
    labels[np.hypot(x - 12.0, y - 20.0) <= 2.0] = 1
    vein_x = 20.0 + np.maximum(z - 45.0, 0.0) * 0.06  # nearest the artery below z = 45 mm
    labels[(np.hypot(x - vein_x, y - 20.0) <= 2.2) & (z >= 30.0)] = 2
    plan = plan_from_labels(frame.with_array(labels))
    view = view_from_plan(plan)
    below_mm = plan.stent_graft["length_mm"]
    assert below_mm < 30.0
    cpr, _ = vessel_cpr(view, "vein")
    assert cpr.arc_mm[0] == pytest.approx(-(65.0 - below_mm), abs=1.5)
    with tempfile.TemporaryDirectory() as folder:
        path = cpr_figure(view, "vein", Path(folder) / "cpr-vein.png")
        low, high = panel_boxes(path)["zoom"]["xlim"]
    assert high - low == pytest.approx(65.0, abs=1.5)


def test_a_plan_with_no_stent_path_below_the_crossing_draws(tmp_path):
    """The crossing at the vein's distal end (a path of one point, warned in plan.json):
    the report still draws, with every feasible plan's picture."""
    frame = Volume(np.zeros((40, 40, 160), np.uint8), np.ones(3), np.zeros(3), np.eye(3))
    x, y, z = np.moveaxis(frame.voxel_positions_mm(), -1, 0)
    labels = np.zeros(frame.shape, np.uint8)
    labels[np.hypot(x - 12.0, y - 20.0) <= 2.0] = 1
    labels[(np.hypot(x - 20.0 - (z - 30.0) * 0.06, y - 20.0) <= 2.2) & (z >= 30.0)] = 2
    plan = plan_from_labels(frame.with_array(labels))
    assert len(plan.stent_graft["path_mm"]) < 3
    files = render_plan(plan, tmp_path)
    assert {f.name for f in files} >= FEASIBLE_PICTURES


@pytest.mark.parametrize("reach_mm", [10.0, 50.0])
def test_the_axial_enlargement_holds_the_whole_needle(tmp_path, reach_mm):
    """A needle longer than the 30 mm panel (a 40 mm reach, --reach-mm 50) once ran off it,
    its artery outside the picture: the panel grows to hold it, 10 mm to spare each side."""
    frame = Volume(np.zeros((90, 40, 60), np.uint8), np.ones(3), np.zeros(3), np.eye(3))
    x, y, _ = np.moveaxis(frame.voxel_positions_mm(), -1, 0)
    labels = np.zeros(frame.shape, np.uint8)
    gap_mm = reach_mm - 5.0
    labels[np.hypot(x - 20.0, y - 20.0) <= 2.0] = 1
    labels[np.hypot(x - 20.0 - gap_mm, y - 20.0) <= 2.2] = 2
    plan = plan_from_labels(frame.with_array(labels), PlanParameters(reach_mm=reach_mm))
    path = axial_figure(view_from_plan(plan), tmp_path / "axial.png")
    low, high = panel_boxes(path)["label map/zoom"]["xlim"]
    ends = sorted((plan.crossing.artery_point_mm[0], plan.crossing.vein_point_mm[0]))
    assert low <= ends[0] - 9.0 and high >= ends[1] + 9.0
    assert high - low >= 30.0 - 1e-6


def test_the_overviews_frame_the_anatomy_not_the_whole_volume():
    """A wide, flat volume (an abdominal slab, 300 x 60 x 40 mm) with two vessels 10 mm apart
    near its middle: framed whole, they were a sliver; the overview frames what is drawn."""
    frame = Volume(np.zeros((300, 60, 40), np.uint8), np.ones(3), np.zeros(3), np.eye(3))
    x, y, _ = np.moveaxis(frame.voxel_positions_mm(), -1, 0)
    labels = np.zeros(frame.shape, np.uint8)
    labels[np.hypot(x - 140.0, y - 30.0) <= 3.0] = 1
    labels[np.hypot(x - 150.0, y - 30.0) <= 3.0] = 2
    scene = build_plotter(view_from_plan(plan_from_labels(frame.with_array(labels))))
    try:
        screenshot(scene, "anterior")
        left = world_to_pixel(scene, np.array([137.0, 30.0, 20.0]))[0]
        right = world_to_pixel(scene, np.array([153.0, 30.0, 20.0]))[0]
        assert right - left > 0.3 * scene.plotter.window_size[0]
    finally:
        scene.plotter.close()


@pytest.mark.parametrize("source", ["from_labels", "real_report"])
def test_no_picture_lets_text_run_off_its_edges(source, request):
    folder, _ = request.getfixturevalue(source)
    pictures = sorted(folder.glob("*.png"))
    assert pictures
    clipped = {p.name: clipped_texts(p) for p in pictures if not p.name.startswith("scene-")}
    assert not any(clipped.values()), clipped
