"""The 2D pictures (matplotlib, PNG): CPRs along the vein and the artery, the distance
profile along the artery, and axial slices through the crossing.

Each PNG carries a text chunk ``pdvaplan-axes``: per panel its name, its pixel
box in the image (left, top, right, bottom; row 0 at the top) and its data
limits, so that tests and other tools can map millimetres to pixels.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from scipy.spatial import cKDTree

from pdvaplan.centerlines import Centerline
from pdvaplan.centerlines.polyline import arc_length_mm
from pdvaplan.labels import ARTERY, BONE, CALCIUM, VEIN
from pdvaplan.palette import BACKGROUND_COLOR, LABELS, NEEDLE_COLOR, STENT_COLORS
from pdvaplan.planning.candidates import nearest_on_vein
from pdvaplan.render.meshes import _arc_on, segment_polyline
from pdvaplan.render.planview import PlanView, path_end_words, plan_vessel_title
from pdvaplan.render.reformat import StraightCPR, axial_plane, straightened_cpr

DPI = 100
#: CT display window (HU): contrast-filled lumen bright, soft tissue grey.
WINDOW_HU = (-150.0, 450.0)
#: Label map colours: 0 background, 1 artery, 2 vein, 3 calcium, 4 bone.
LABEL_COLORS = [BACKGROUND_COLOR] + [LABELS[value][1] for value in (ARTERY, VEIN, CALCIUM, BONE)]
LABEL_CMAP = ListedColormap(LABEL_COLORS)
REACH_COLOR = "#d62728"
SITE_COLOR = "#00b030"
#: The ring that marks the closest approach of each artery to a vein.
MINIMUM_COLOR = "#ff00c8"
#: How far the vein CPR starts above the crossing (mm), and the CPR half width (mm).
ABOVE_CROSSING_MM, HALF_WIDTH_MM = 20.0, 12.0
#: Length (mm) of vessel the CPR's enlarged panel shows: on a vein that ends sooner below
#: the crossing, the CPR starts farther above it, so the panel is filled, not blank.
ENLARGED_MM = 65.0
#: Half the side (mm) of the axial picture's enlarged panel, at least.
ZOOM_HALF_MM = 15.0
#: PNG text key holding the panels' pixel boxes and data limits.
AXES_KEY = "pdvaplan-axes"
#: PNG text key holding the texts that run off the picture.
CLIPPED_KEY = "pdvaplan-clipped-texts"


def _figure(width_px: int, height_px: int) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    figure = Figure(figsize=(width_px / DPI, height_px / DPI), dpi=DPI)
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, path: Path, panels: dict) -> Path:
    """Write the PNG with each named panel's pixel box and data limits in its metadata,
    and the texts that run off the picture (`CLIPPED_KEY`; none, or a picture is wrong)."""
    figure.canvas.draw()
    height = figure.bbox.height
    boxes = {}
    for name, ax in panels.items():
        box = ax.get_window_extent()
        boxes[name] = {
            "box_px": [box.x0, height - box.y1, box.x1, height - box.y0],
            "xlim": list(ax.get_xlim()),
            "ylim": list(ax.get_ylim()),
        }
    metadata = {AXES_KEY: json.dumps(boxes), CLIPPED_KEY: json.dumps(_clipped_texts(figure))}
    # The canvas is drawn already: write its pixels (savefig would draw it all again).
    from PIL import Image, PngImagePlugin

    text = PngImagePlugin.PngInfo()
    for key, value in metadata.items():
        text.add_text(key, value)
    size = figure.canvas.get_width_height()
    pixels = Image.frombuffer("RGBA", size, figure.canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    pixels.save(path, format="png", pnginfo=text)
    return path


def _clipped_texts(figure: Figure) -> list[str]:
    """Texts of a drawn figure that reach beyond its edges (by more than a pixel): each
    visible text by its words, and each axis whose drawn tick labels do by its label."""
    from matplotlib.text import Text

    renderer = figure.canvas.get_renderer()
    width, height = figure.bbox.width, figure.bbox.height

    def beyond(box) -> bool:
        return box.x0 < -1 or box.y0 < -1 or box.x1 > width + 1 or box.y1 > height + 1

    # Tick labels exist for ticks outside the view too, undrawn: each axis's drawn extent
    # stands for its own.
    ticks, clipped = set(), []
    for axis in (a for ax in figure.axes for a in (ax.xaxis, ax.yaxis)):
        for tick in axis.get_major_ticks() + axis.get_minor_ticks():
            ticks |= {id(tick.label1), id(tick.label2)}
        box = axis.get_tightbbox(renderer)
        if box is not None and beyond(box):
            clipped.append(f"tick labels of {axis.get_label_text() or axis.axis_name + ' axis'}")
    for text in figure.findobj(Text):
        if id(text) in ticks or not text.get_visible() or not text.get_text().strip():
            continue
        if beyond(text.get_window_extent(renderer)):
            clipped.append(text.get_text())
    return clipped


def clipped_texts(path: str | Path) -> list[str]:
    """The texts a PNG written here lets run off its edges (empty for a good picture)."""
    from PIL import Image

    with Image.open(path) as image:
        return json.loads(image.text[CLIPPED_KEY])


def panel_boxes(path: str | Path) -> dict:
    """The ``pdvaplan-axes`` metadata of a PNG written here (panel name -> box and limits)."""
    from PIL import Image

    with Image.open(path) as image:
        return json.loads(image.text[AXES_KEY])


def data_to_pixel(panel: dict, x: float, y: float) -> tuple[float, float]:
    """Pixel (column, row) of a data point in a panel from `panel_boxes`."""
    left, top, right, bottom = panel["box_px"]
    (x0, x1), (y0, y1) = panel["xlim"], panel["ylim"]
    column = left + (x - x0) / (x1 - x0) * (right - left)
    row = bottom - (y - y0) / (y1 - y0) * (bottom - top)
    return column, row


def _show(ax, image: np.ndarray, extent, labels: bool) -> None:
    if labels:
        ax.imshow(
            image,
            extent=extent,
            origin="lower",
            cmap=LABEL_CMAP,
            vmin=-0.5,
            vmax=4.5,
            interpolation="nearest",
        )
    else:
        ax.imshow(
            image,
            extent=extent,
            origin="lower",
            cmap="gray",
            vmin=WINDOW_HU[0],
            vmax=WINDOW_HU[1],
            interpolation="bilinear",
        )


def _cpr_volume(view: PlanView, phase: str):
    """The volume a 2D view samples: the phase if given, else the label map."""
    volume = view.arterial if phase == "arterial" else view.venous
    return (view.labels, True) if volume is None else (volume, False)


def _draw_stents(
    ax, view: PlanView, cpr: StraightCPR, depth_mm: float, shown_mm: tuple[float, float]
) -> None:
    """Each stent-graft segment as its two walls, projected into a CPR (within `depth_mm`),
    numbered in the middle of its part within the panel's `shown_mm` (arc, mm)."""
    stent = view.plan.get("stent_graft") or {}
    for n, segment in enumerate(stent.get("segments") or [], start=1):
        points, arc = segment_polyline(view, segment, first=n == 1)
        if len(points) < 2:
            continue
        t = arc / max(arc[-1], 1e-9)
        radius = ((1 - t) * segment["proximal_diameter_mm"] + t * segment["distal_diameter_mm"]) / 2
        pieces = [slice(0, len(points))]
        if segment.get("kind") == "crossing" and len(points) > 2:
            pieces = [slice(0, 2), slice(1, len(points))]  # along the needle, then the vein
        color = STENT_COLORS[(n - 1) % 2]
        for piece in pieces:
            _draw_walls(ax, cpr, points[piece], radius[piece], depth_mm, color)
        projected = cpr.project(points)
        keep = (np.abs(projected[:, 2]) <= depth_mm) & (
            (projected[:, 0] >= shown_mm[0]) & (projected[:, 0] <= shown_mm[1])
        )
        if keep.any():
            middle = projected[keep][keep.sum() // 2]
            ax.text(
                middle[0],
                middle[1] - radius.max() - 1.0,
                str(n),
                color=color,
                ha="center",
                va="top",
                fontsize=9,
                fontweight="bold",
            )


def _draw_walls(ax, cpr, points, radius, depth_mm, color) -> None:
    """The two walls of a tube along `points` (mm) and its end lines, projected into a CPR."""
    projected = cpr.project(points)
    keep = (
        (np.abs(projected[:, 2]) <= depth_mm)
        & (projected[:, 0] >= cpr.arc_mm[0])
        & (projected[:, 0] <= cpr.arc_mm[-1])
    )
    if keep.sum() < 2:
        return
    s, u, r = projected[keep, 0], projected[keep, 1], radius[keep]
    d = np.gradient(np.stack([s, u], axis=1), axis=0)
    normal = np.stack([-d[:, 1], d[:, 0]], axis=1)
    normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-9)
    centre = np.stack([s, u], axis=1)
    for side in (1, -1):
        edge = centre + side * r[:, None] * normal
        ax.plot(edge[:, 0], edge[:, 1], color=color, lw=1.3, alpha=0.95)
    for end in (0, -1):
        a, b = centre[end] + r[end] * normal[end], centre[end] - r[end] * normal[end]
        ax.plot([a[0], b[0]], [a[1], b[1]], color=color, lw=2.2)


def _draw_needle(ax, cpr: StraightCPR, crossing: dict) -> None:
    ends = cpr.project(np.array([crossing["artery_point_mm"], crossing["vein_point_mm"]]))
    ax.plot(ends[:, 0], ends[:, 1], color=NEEDLE_COLOR, lw=3, solid_capstyle="round")
    ax.plot(ends[:, 0], ends[:, 1], "o", color=NEEDLE_COLOR, ms=4)


def vessel_cpr(view: PlanView, vessel: str) -> tuple[StraightCPR, bool]:
    """The straightened CPR along the target vein (crossing to ankle) or the crossing artery.

    The image's normal at the crossing points along the needle, so the needle
    lies in the image plane. Returns the CPR and whether it shows labels.
    """
    crossing = view.crossing
    artery_point = np.asarray(crossing["artery_point_mm"], dtype=np.float64)
    vein_point = np.asarray(crossing["vein_point_mm"], dtype=np.float64)
    if vessel == "vein":
        line = view.centerlines[crossing["vein"]]
        at = _arc_on(line.points_mm, line.arc_mm, vein_point)
        stent = view.plan.get("stent_graft") or {}
        below = np.asarray(stent.get("path_mm") or line.points_mm[line.arc_mm >= at])
        below_mm = float(arc_length_mm(below)[-1])
        above_mm = max(ABOVE_CROSSING_MM, ENLARGED_MM - below_mm)
        above = line.points_mm[(line.arc_mm < at) & (line.arc_mm >= at - above_mm)]
        path = np.vstack([above, vein_point, below])
        volume, labels = _cpr_volume(view, "venous")
        origin, normal = vein_point, artery_point - vein_point
    else:
        path = view.centerlines[crossing["artery"]].points_mm
        volume, labels = _cpr_volume(view, "arterial")
        origin, normal = artery_point, vein_point - artery_point
    keep = np.concatenate([[True], np.linalg.norm(np.diff(path, axis=0), axis=1) > 1e-6])
    cpr = straightened_cpr(
        volume, path[keep], origin, normal, HALF_WIDTH_MM, order=0 if labels else 1
    )
    return cpr, labels


def cpr_figure(view: PlanView, vessel: str, path: Path) -> Path:
    """PNG of the straightened CPR along the target ``"vein"`` or the crossing ``"artery"``:
    the whole stretch on top, the crossing enlarged below, needle and stent-grafts drawn."""
    crossing = view.crossing
    cpr, labels = vessel_cpr(view, vessel)
    span = cpr.arc_mm[-1] - cpr.arc_mm[0]
    figure = _figure(1500, 700)
    top = figure.add_axes((0.05, 0.59, 0.93, 0.31))
    bottom = figure.add_axes((0.05, 0.08, 0.93, 0.37))
    extent = (
        cpr.arc_mm[0] - 0.2,
        cpr.arc_mm[-1] + 0.2,
        cpr.offset_mm[0] - 0.2,
        cpr.offset_mm[-1] + 0.2,
    )
    other = "artery" if vessel == "vein" else "vein"
    # ENLARGED_MM of vessel from ABOVE_CROSSING_MM above the crossing, or as much as the
    # CPR holds, shifted up where the vessel ends sooner below the crossing.
    start = max(cpr.arc_mm[0], min(-ABOVE_CROSSING_MM, cpr.arc_mm[-1] - ENLARGED_MM))
    zoom = (start, min(cpr.arc_mm[-1], start + ENLARGED_MM))
    for ax, shown in ((top, (extent[0], extent[1])), (bottom, zoom)):
        _show(ax, cpr.image, extent, labels)
        _draw_stents(ax, view, cpr, 4.0, shown)
        _draw_needle(ax, cpr, crossing)
        ax.set_ylabel(f"towards the {other} (mm)", fontsize=8)
        ax.tick_params(labelsize=8)
    top.set_aspect("auto")
    top.set_xlim(extent[0], extent[1])
    top.set_ylim(extent[2], extent[3])
    bottom.set_xlim(*zoom)
    bottom.set_ylim(extent[2], extent[3])
    bottom.set_aspect("equal")
    for ax in (top, bottom):
        ax.set_xlabel(f"mm along the {vessel} from the crossing (distal to the right)", fontsize=8)
    top.axvspan(zoom[0], zoom[1], ymin=0.0, ymax=1.0, fill=False, ec="#cccccc", ls=":", lw=1)
    vessel_id = crossing[vessel]
    source = "label map" if labels else ("venous phase" if vessel == "vein" else "arterial phase")
    if vessel == "vein":
        title = (
            f"Straightened CPR along {plan_vessel_title(view.plan, vessel_id)} from "
            f"{-cpr.arc_mm[0]:.0f} mm above the crossing "
            f"{path_end_words(view.plan.get('stent_graft') or {})} ({span:.0f} mm; {source}); "
            "stretched vertically"
        )
    else:
        line = view.centerlines[vessel_id]
        title = (
            f"Straightened CPR along {plan_vessel_title(view.plan, vessel_id)} through the "
            f"crossing ({span:.0f} mm of patent lumen; {source}); stretched vertically"
        )
        if line.distal_end == "lumen-end":
            top.annotate(
                "contrast ends",
                (cpr.arc_mm[-1], 0),
                (cpr.arc_mm[-1] - 25, 8),
                color="white",
                fontsize=8,
                arrowprops={"color": "white", "lw": 0.8},
            )
    top.set_title(
        textwrap.fill(title + "; dotted box: the stretch enlarged below", 190),
        fontsize=10,
        loc="left",
    )
    bottom.set_title(
        f"Crossing enlarged (true proportions): needle {crossing['distance_mm']:.1f} mm in green, "
        "stent-graft walls numbered in orange/yellow",
        fontsize=9,
        loc="left",
    )
    return _save(figure, path, {"full": top, "zoom": bottom})


def _calcified_heights(view: PlanView, artery: Centerline) -> np.ndarray:
    """Arc positions (mm) along the artery of calcium voxels that hug its wall."""
    calcium = np.argwhere(view.labels.array == 3)
    if calcium.size == 0:
        return np.zeros(0)
    points = view.labels.index_to_physical(calcium)
    reach = float(artery.radii_mm.max()) + 2.0 + float(view.labels.spacing_mm.max())
    distance, nearest = cKDTree(artery.points_mm).query(points, distance_upper_bound=reach)
    close = np.isfinite(distance)
    close[close] &= distance[close] <= artery.radii_mm[nearest[close]] + 2.0 + float(
        view.labels.spacing_mm.max()
    )
    return np.sort(artery.arc_mm[nearest[close]])


#: The distance profile draws at most this many arteries (those with candidate sites, or
#: without any, those that come closest to a vein): one panel each.
PROFILE_PANELS = 4


def artery_profiles(view: PlanView, arteries: list[Centerline] | None = None) -> list[dict]:
    """Per artery segment: its arc position (mm from the artery's upper end, at the
    segment's middle), distance to the nearest vein and to each vein; per artery,
    its calcified arcs. All patent arteries by default."""
    rows = []
    for artery in view.arteries if arteries is None else arteries:
        per_vein = {vein.id: nearest_on_vein(artery, vein).distance_mm for vein in view.veins}
        nearest = np.min(np.stack(list(per_vein.values())), axis=0) if per_vein else None
        rows.append(
            {
                "artery": artery,
                "arc_mm": (artery.arc_mm[1:] + artery.arc_mm[:-1]) / 2,
                "per_vein": per_vein,
                "nearest_mm": nearest,
                "calcium_arc_mm": _calcified_heights(view, artery),
            }
        )
    return rows


def profile_arteries(view: PlanView) -> list[Centerline]:
    """The arteries the distance profile draws, in order: those of the candidate sites
    by rank (the crossing's first), or, in a plan without any, those that come closest
    to a vein; at most `PROFILE_PANELS`."""
    by_id = {artery.id: artery for artery in view.arteries}
    ranked = [c["artery"] for c in view.plan.get("candidates") or [] if c["artery"] in by_id]
    if ranked:
        return [by_id[i] for i in dict.fromkeys(ranked)][:PROFILE_PANELS]

    def closest_mm(artery: Centerline) -> float:
        return min(
            (nearest_on_vein(artery, v).distance_mm.min() for v in view.veins), default=np.inf
        )

    return sorted(view.arteries, key=closest_mm)[:PROFILE_PANELS]


def profile_figure(view: PlanView, path: Path) -> Path:
    """PNG of the artery-to-vein distances along the arteries of the candidate sites
    (`profile_arteries`), with the reach line, calcified stretches, the candidate
    sites, the chosen site and the closest approach marked, the crossing artery's
    panel first. The x axis runs along the artery from its upper end (it never folds
    back, however tortuous the artery); the top axis gives heights above the ankle."""
    plan = view.plan
    reach = float((plan.get("parameters") or {}).get("reach_mm", 10.0))
    margin = float((plan.get("parameters") or {}).get("calcium_margin_mm", 5.0))
    crossing = view.crossing
    rows = [r for r in artery_profiles(view, profile_arteries(view)) if r["nearest_mm"] is not None]
    left_out = len(view.arteries) - len(rows)
    figure = _figure(1300, 230 + 280 * max(len(rows), 1))
    panels = {}
    if not rows:
        figure.text(0.5, 0.5, "no patent artery or no vein: no distance profile", ha="center")
        return _save(figure, path, panels)
    if left_out > 0:
        figure.text(
            0.07,
            1 - 24 / figure.bbox.height,
            f"{left_out} more patent "
            + (
                "artery has no candidate site and is"
                if left_out == 1
                else "arteries have no candidate site and are"
            )
            + " not drawn",
            fontsize=9,
            color="#444444",
        )
    axes = figure.subplots(len(rows), 1, squeeze=False)[:, 0]
    figure.subplots_adjust(
        left=0.07,
        right=0.8,
        top=1 - 125 / figure.bbox.height,
        bottom=70 / figure.bbox.height,
        hspace=0.62,
    )
    for ax, row in zip(axes, rows, strict=True):
        artery = row["artery"]
        arc, nearest = row["arc_mm"], row["nearest_mm"]
        top = max(2.2 * reach, float(np.nanmin(nearest)) + reach)
        others_labelled = False
        for vein_id, distance in row["per_vein"].items():
            target = (
                crossing is not None
                and vein_id == crossing["vein"]
                and (artery.id == crossing["artery"])
            )
            label = f"to {vein_id}" if target else None
            if not target and not others_labelled:
                label, others_labelled = "to each other vein", True
            ax.plot(
                arc,
                distance,
                color="#325adc" if target else "#bbbbbb",
                lw=1.6 if target else 0.8,
                label=label,
                zorder=2,
            )
        ax.plot(arc, nearest, color="black", lw=1.4, label="to the nearest vein", zorder=3)
        ax.axhline(reach, color=REACH_COLOR, ls="--", lw=1.2, label=f"reach {reach:g} mm")
        for calcified_arc in row["calcium_arc_mm"]:
            ax.axvspan(
                calcified_arc - margin,
                calcified_arc + margin,
                color="#ffbf80",
                alpha=0.08,
                lw=0,
                zorder=0,
            )
        if row["calcium_arc_mm"].size:
            ax.plot([], [], color="#ffbf80", lw=6, label=f"calcified wall ± {margin:g} mm")
        lowest = int(np.nanargmin(nearest))
        ax.plot(
            arc[lowest],
            nearest[lowest],
            "o",
            mfc="none",
            mec=MINIMUM_COLOR,
            ms=13,
            mew=2.0,
            label=f"closest approach (raw) {nearest[lowest]:.1f} mm",
            zorder=7,
        )
        others = [
            c
            for c in plan.get("candidates") or []
            if c["artery"] == artery.id and not (crossing and c.get("rank") == 1)
        ]
        for candidate in others:
            site = (candidate["artery_arc_mm"], candidate["distance_mm"])
            ax.plot(*site, "v", color="#8a2be2", ms=6, zorder=4)
            ax.annotate(
                str(candidate.get("rank", "")),
                site,
                (0, -12),
                textcoords="offset points",
                ha="center",
                fontsize=7,
                color="#8a2be2",
            )
        if others:
            ax.plot([], [], "v", color="#8a2be2", label="other candidates (rank)")
        if crossing is not None and crossing["artery"] == artery.id:
            ax.axvline(crossing["artery_arc_mm"], color=SITE_COLOR, lw=1, ls=":", zorder=1)
            ax.plot(
                crossing["artery_arc_mm"],
                crossing["distance_mm"],
                "*",
                color=SITE_COLOR,
                ms=16,
                mec="black",
                mew=0.6,
                label=(
                    f"chosen site, {crossing['distance_mm']:.1f} mm\n(rank 1 by smoothed distance)"
                ),
                zorder=6,
            )
        ax.set_xlim(-2.0, artery.length_mm + 2.0)
        ax.set_ylim(0, top)
        ax.set_ylabel("distance (mm)\ncentre to centre", fontsize=8)
        ax.set_xlabel("mm along the artery from its upper end", fontsize=8)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8)
        heights = ax.twiny()
        heights.set_xlim(ax.get_xlim())
        ticks = [t for t in ax.get_xticks() if 0.0 <= t <= artery.length_mm]
        heights.set_xticks(ticks)
        height_at = np.interp(ticks, artery.arc_mm, artery.points_mm[:, 2] - (view.ankle_z_mm or 0))
        heights.set_xticklabels([f"{h:.0f}" for h in height_at], fontsize=7, color="#555555")
        heights.set_xlabel("height above the ankle (mm)", fontsize=7, color="#555555")
        ax.set_title(
            f"{plan_vessel_title(plan, artery.id)}: distance to the veins along its patent lumen",
            fontsize=10,
            loc="left",
            pad=26,
        )
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
        panels[artery.id] = ax
    return _save(figure, path, panels)


def _closest_approach(view: PlanView) -> tuple[np.ndarray, np.ndarray] | None:
    """The artery and vein points of the closest approach of any patent artery to a vein."""
    best = None
    for artery in view.arteries:
        for vein in view.veins:
            found = nearest_on_vein(artery, vein)
            i = int(np.argmin(found.distance_mm))
            if best is None or found.distance_mm[i] < best[0]:
                best = (found.distance_mm[i], found.point_a_mm[i], found.point_b_mm[i])
    return None if best is None else (best[1], best[2])


def axial_figure(view: PlanView, path: Path) -> Path | None:
    """PNG of the physical axial plane through the crossing (or, without one, through
    the closest approach), from both phases or the label map: the whole leg and
    the crossing enlarged, needle overlaid. None when there is nothing to centre on."""
    crossing = view.crossing
    if crossing is not None:
        a = np.asarray(crossing["artery_point_mm"], dtype=np.float64)
        b = np.asarray(crossing["vein_point_mm"], dtype=np.float64)
    else:
        found = _closest_approach(view)
        if found is None:
            return None
        a, b = found
    centre = (a + b) / 2
    from pdvaplan.render.meshes import volume_corners_mm

    corners = volume_corners_mm(view.labels)
    low, high = corners.min(axis=0), corners.max(axis=0)
    pixel = max(0.4, float(min(view.labels.spacing_mm)) / 2)
    sources = (
        [("arterial phase", view.arterial, False), ("venous phase", view.venous, False)]
        if view.has_phases
        else [("label map", view.labels, True)]
    )
    columns = len(sources)
    figure = _figure(max(560 * columns + 40, 820), 1120)
    panels = {}
    # The enlarged panel holds the needle with 10 mm to spare (a vessel's radius and more)
    # at each end, and at least 30 mm: a long reach (--reach-mm) must not cut a vessel off.
    zoom = max(ZOOM_HALF_MM, 5.0 * np.ceil((np.linalg.norm(b - a) / 2 + 10.0) / 5.0))
    for c, (name, volume, labels) in enumerate(sources):
        full = axial_plane(
            volume, centre[2], (low[0], high[0]), (low[1], high[1]), pixel, order=0 if labels else 1
        )
        near = axial_plane(
            volume,
            centre[2],
            (centre[0] - zoom, centre[0] + zoom),
            (centre[1] - zoom, centre[1] + zoom),
            pixel / 2.5,
            order=0 if labels else 1,
        )
        for r, plane in enumerate((full, near)):
            ax = figure.add_axes((0.04 + c / columns, 0.525 - 0.455 * r, 0.92 / columns, 0.38))
            extent = (plane.x_mm[0], plane.x_mm[-1], plane.y_mm[-1], plane.y_mm[0])
            if labels:
                ax.imshow(
                    plane.image,
                    extent=extent,
                    cmap=LABEL_CMAP,
                    vmin=-0.5,
                    vmax=4.5,
                    interpolation="nearest",
                )
            else:
                ax.imshow(
                    plane.image,
                    extent=extent,
                    cmap="gray",
                    vmin=WINDOW_HU[0],
                    vmax=WINDOW_HU[1],
                    interpolation="bilinear",
                )
            ax.plot([a[0], b[0]], [a[1], b[1]], color=NEEDLE_COLOR, lw=3 if r else 2)
            ax.plot([a[0]], [a[1]], "o", color=NEEDLE_COLOR, ms=5 if r else 3)
            if r == 0:
                ax.add_patch(_square(centre, zoom))
            else:
                ax.text(a[0], a[1] - 1.5, "artery", color="#ff8080", fontsize=9, ha="center")
                ax.text(b[0], b[1] + 2.5, "vein", color="#8fb0ff", fontsize=9, ha="center")
            ax.set_xlabel("x (mm): patient's right  <-  ->  left", fontsize=8)
            ax.set_ylabel("y (mm): anterior up", fontsize=8)
            ax.tick_params(labelsize=7)
            for text, xy, align in (
                ("R", (0.01, 0.5), "left"),
                ("L", (0.99, 0.5), "right"),
                ("A", (0.5, 0.98), "center"),
                ("P", (0.5, 0.02), "center"),
            ):
                ax.text(
                    *xy,
                    text,
                    transform=ax.transAxes,
                    color="yellow",
                    fontsize=11,
                    ha=align,
                    va="center",
                    fontweight="bold",
                )
            label = "whole slice" if r == 0 else f"{2 * zoom:.0f} mm around the crossing"
            ax.set_title(f"{name}: {label}", fontsize=10)
            panels[f"{name}/{'full' if r == 0 else 'zoom'}"] = ax
    what = "crossing" if crossing is not None else "closest approach of an artery to a vein"
    if view.has_phases:
        shown = (
            f"grey window {WINDOW_HU[0]:g} to {WINDOW_HU[1]:g} HU (level "
            f"{sum(WINDOW_HU) / 2:g}, width {WINDOW_HU[1] - WINDOW_HU[0]:g})"
        )
    else:
        shown = "label map colours in the legend"
        figure.legend(
            handles=[
                Patch(facecolor=LABEL_COLORS[value], edgecolor="#666666", label=LABELS[value][0])
                for value in (ARTERY, VEIN, CALCIUM, BONE)
            ],
            loc="lower center",
            bbox_to_anchor=(0.5, 0.0),
            ncol=4,
            fontsize=8,
            frameon=False,
        )
    title = (
        f"Axial plane z = {centre[2]:.1f} mm through the {what} (resampled in the physical "
        f"frame; seen from the feet, radiological convention); needle in green; {shown}"
    )
    # Wrapped to the figure's width (about 7 px a character at this size): never clipped.
    figure.suptitle(textwrap.fill(title, int(figure.bbox.width / 7.2)), fontsize=10)
    return _save(figure, path, panels)


def _square(centre: np.ndarray, half: float):
    from matplotlib.patches import Rectangle

    return Rectangle(
        (centre[0] - half, centre[1] - half),
        2 * half,
        2 * half,
        fill=False,
        ec="yellow",
        lw=1,
        ls="--",
    )
