"""report.html: the plan in words, numbers and pictures, for a clinician.

One self-contained page: the pictures are embedded (base64 PNG), so the file
can be mailed or archived on its own; the PNG files beside it are the same. The
page's layout and style are the jinja2 template ``templates/report.html``; this
module prepares what it shows, as text.
"""

from __future__ import annotations

import base64
import datetime
from pathlib import Path

import numpy as np

from pdvaplan.render.planview import PlanView, path_end_words, plan_vessel_title

#: Captions of the pictures, by file name.
CAPTIONS = {
    "scene-anterior.png": "3D, from the front (patient's right on the left). Red: patent artery "
    "lumen; blue: veins; ivory: bone; pale yellow: calcium; thin lines: centrelines coloured by "
    "lumen radius; short lines and balls: the other candidate sites coloured by distance; "
    "green: the needle, inside a translucent green halo in the views of the whole leg; grey "
    "tubes: stent-grafts at their planned diameters, black rings at their ends. The letters at "
    "the edges name the directions each edge faces (L/R, A/P, S/I), as does the cube; the "
    "bar at the lower right is to scale (the views are parallel projections).",
    "scene-lateral.png": "3D, from the patient's right side (anterior on the right).",
    "scene-crossing.png": "Close-up of the crossing, side-on to the needle: only a 40 mm slab "
    "around the crossing is drawn, so bone in front does not hide it.",
    "scene-needle.png": "Looking down the needle from the artery into the vein (40 mm slab).",
    "cpr-vein.png": "The target vein straightened (curved planar reformation) from 20 mm above "
    "the crossing (more where the vein ends within 45 mm below it) to the ankle, the stretch "
    "around the crossing enlarged below: the vein runs along the middle, the artery lies on "
    "top. Green: needle; orange and yellow: the walls of the stent-grafts, numbered as in the "
    "table.",
    "cpr-artery.png": "The crossing artery straightened through the crossing; the vein lies "
    "on top.",
    "distance-profile.png": "Distance from each artery with a candidate site (at most four) to "
    "the veins, along the artery from its upper end (knee on the left; the top axis gives "
    "heights above the ankle). Black: to the nearest vein; blue: to the crossing's vein; grey: "
    "to each other vein; red dashes: needle reach; green star: chosen site (rank 1: the lowest "
    "smoothed distance); ring: closest approach of the raw distance, which may lie elsewhere; "
    "purple: other candidate sites by rank; orange bands: calcified wall and its margin.",
    "axial.png": "Axial plane through the crossing (seen from the feet: patient's right on the "
    "left, anterior up), whole leg and enlarged, needle in green.",
}

_DIRECTIONS = (("left", "right"), ("posterior", "anterior"), ("superior", "inferior"))


def needle_direction_words(vector) -> str:
    """The main anatomical directions of a vector (LPS), e.g. ``"posterior and left"``.

    Examples
    --------
    >>> needle_direction_words([0.6, 0.78, 0.05])
    'posterior and left'
    >>> needle_direction_words([0.0, 0.0, -1.0])
    'inferior'
    """
    v = np.asarray(vector, dtype=np.float64)
    v = v / max(float(np.linalg.norm(v)), 1e-12)
    order = np.argsort(-np.abs(v))
    words = [_DIRECTIONS[a][0 if v[a] > 0 else 1] for a in order if abs(v[a]) >= 0.3]
    return " and ".join(words[:2])


def _mm(value, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _table(header: list[str], rows: list[list], left: int = 0, classes=None) -> dict:
    """A table for the template: its header, rows (cells as text), how many leading
    columns are left-aligned and a class per row (or None)."""
    return {
        "header": header,
        "rows": [[str(c) for c in row] for row in rows],
        "left": left,
        "classes": classes,
    }


def plan_in_words(view: PlanView) -> list[str]:
    """The plan as a few sentences (the first says what to do, or why nothing can be done)."""
    plan = view.plan
    parameters = plan.get("parameters") or {}
    reach = parameters.get("reach_mm", 10.0)
    crossing = view.crossing
    if crossing is None:
        nearest = plan.get("nearest_mm")
        sentences = [f"No feasible crossing: {plan.get('reason') or 'no reason given'}."]
        if nearest is not None:
            sentences.append(
                f"The nearest eligible vein lies {nearest:.1f} mm (centre to centre) from a "
                f"patent artery; the needle reaches {reach:g} mm."
            )
        else:
            sentences.append("No eligible artery point was found to measure a distance from.")
        return sentences
    height = crossing.get("height_above_ankle_mm")
    where = f" at {max(0.0, height):.0f} mm above the ankle" if height is not None else ""
    if (crossing.get("below_ankle_mm") or 0.0) >= 0.5:
        where = f" {crossing['below_ankle_mm']:.0f} mm below the ankle level"
    a = np.asarray(crossing["artery_point_mm"])
    b = np.asarray(crossing["vein_point_mm"])
    sentences = [
        f"Cross from {plan_vessel_title(plan, crossing['artery'])}{where} into "
        f"{plan_vessel_title(plan, crossing['vein'])}: a needle of "
        f"{crossing['distance_mm']:.1f} mm centre to centre ({crossing['gap_mm']:.1f} mm from "
        "lumen wall to lumen wall), pointing "
        f"{needle_direction_words(b - a)}, at {crossing['needle_angle_deg']:.0f}° to the artery.",
        f"Artery lumen {crossing['artery_diameter_mm']:.1f} mm, vein lumen "
        f"{crossing['vein_diameter_mm']:.1f} mm across at the crossing; "
        + (
            "no calcified wall was found on this artery."
            if crossing.get("calcium_distance_mm") is None
            else f"the nearest calcified wall is {crossing['calcium_distance_mm']:.0f} mm away "
            "along the artery."
        ),
    ]
    stent = plan.get("stent_graft")
    if stent:
        segments = stent.get("segments") or []
        sentences.append(
            f"Line {crossing['vein']} from the crossing down {path_end_words(stent)} "
            f"({stent['length_mm']:.0f} mm) with {len(segments)} "
            f"stent-graft{'s' if len(segments) != 1 else ''}: "
            + "; ".join(_segment_words(s) for s in segments)
            + "."
        )
    others = len(plan.get("candidates") or []) - 1
    if others > 0:
        sentences.append(f"{others} other candidate site{'s' if others != 1 else ''} below.")
    return sentences


def ranking_words(plan: dict) -> str:
    """How the candidate sites are ranked, in words that match the method, and which
    lower-ranked site has a shorter raw needle than rank 1, if one does."""
    smoothing = (plan.get("parameters") or {}).get("profile_smoothing_mm", 10.0)
    words = (
        "Sites are ranked by the smoothed distance profile: the artery-to-vein centreline "
        f"distance along the artery, fitted by a local quadratic over ±{smoothing:g} mm, "
        "which averages out the centrelines' sub-voxel wiggles (the minimum of raw "
        "distances is biased low). Each site is the best of its stretch of artery; rank 1 "
        "is the crossing. The needle column is the raw centreline distance at the site, "
        "so a lower-ranked site can be shorter. Other measures are shown to help choose, "
        "not to re-rank."
    )
    candidates = plan.get("candidates") or []
    if candidates:
        first = candidates[0]
        shorter = [c for c in candidates[1:] if c["distance_mm"] < first["distance_mm"] - 0.005]
        if shorter:
            best = min(shorter, key=lambda c: c["distance_mm"])
            words += (
                f" Here rank {best.get('rank', '?')} has a shorter raw needle "
                f"({best['distance_mm']:.2f} mm) than rank 1 ({first['distance_mm']:.2f} mm); "
                "its smoothed distance is "
                + (
                    f"{best['smoothed_distance_mm']:.2f} mm against "
                    f"{first['smoothed_distance_mm']:.2f} mm."
                    if best.get("smoothed_distance_mm") is not None
                    and first.get("smoothed_distance_mm") is not None
                    else "larger."
                )
            )
    return words


def _height(site: dict) -> str:
    """A site's height above the ankle in words: never negative; below the ankle level
    when its artery point lies there."""
    below = site.get("below_ankle_mm")
    if below is not None and below >= 0.5:
        return f"{below:.0f} below the ankle level"
    height = site.get("height_above_ankle_mm")
    return "-" if height is None else f"{max(0.0, height):.0f}"


def check_rows(plan: dict) -> list[list[str]]:
    """The plan's checks as rows of words and numbers (empty when plan.json has none).

    Examples
    --------
    >>> check_rows({"checks": {"vessels_found": {"arteries": 3, "veins": 6}}})
    [['vessels found', '3 arteries, 6 veins']]
    """
    checks = plan.get("checks") or {}
    rows = []
    registration = plan.get("registration")
    if registration:
        residual = registration.get("bone_residual_mm")
        shown = "not measured (no bone)" if residual is None else f"{residual:.2f} mm"
        if registration.get("method") == "rigid":
            rotation = ", ".join(f"{a:.1f}" for a in registration["rotation_deg"])
            shift = ", ".join(f"{t:.1f}" for t in registration["translation_mm"])
            rows.append(
                [
                    "registration (venous onto arterial phase)",
                    f"rigid: rotated ({rotation}) deg about x, y, z and shifted ({shift}) mm; "
                    f"bone residual {shown} (limit {registration['max_bone_residual_mm']:g} mm)",
                ]
            )
        else:
            rows.append(
                ["registration", f"none (phases taken to share a frame); bone residual {shown}"]
            )
    for phase, scale in (checks.get("intensity") or {}).items():
        a, b = scale["hu_scale"]
        how = "given" if not scale.get("estimated") else "estimated from air and soft tissue"
        words = (
            "in HU already" if a == 1.0 and b == 0.0 else f"grey = {a:.4g} x HU + {b:.5g} ({how})"
        )
        rows.append([f"{phase} phase grey values", words])
    order = checks.get("phase_order")
    if order:
        rows.append(
            [
                "phase order",
                f"{order['verdict']}: {order['only_venous_ml']:.1f} ml of vessels bright in the "
                f"venous phase only, {order['only_arterial_ml']:.1f} ml in the arterial phase only",
            ]
        )
    contrast = checks.get("contrast_to_noise")
    if contrast:
        rows.append(
            [
                "contrast-to-noise (full lumen over soft tissue)",
                f"arteries {contrast['artery_arterial']:.1f} (arterial phase) / "
                f"{contrast['artery_venous']:.1f} (venous); veins {contrast['vein_venous']:.1f} "
                f"(venous) / {contrast['vein_arterial']:.1f} (arterial)",
            ]
        )
    found = checks.get("vessels_found")
    if found:
        rows.append(["vessels found", f"{found['arteries']} arteries, {found['veins']} veins"])
    calcium = checks.get("calcium_found")
    if calcium:
        rows.append(
            [
                "calcium found",
                f"{calcium['volume_mm3']:.0f} mm\u00b3; calcified wall on "
                f"{calcium['arteries_with_calcified_wall']} arteries",
            ]
        )
    metal = checks.get("metal_found")
    if metal and metal["volume_mm3"] > 0:
        low, high = metal["z_range_mm"]
        rows.append(
            [
                "metal (implants)",
                f"{metal['volume_mm3']:.0f} mm³ at z {low:.0f} to {high:.0f} mm: an "
                "obstacle to the needle like bone; lumen in its streaks' slices must show in "
                "the phase difference",
            ]
        )
    legs = checks.get("legs")
    if legs and legs.get("count"):
        side = legs.get("side") or "not given"
        bones = legs.get("side_from_bones") or "cannot tell"
        rows.append(
            [
                "legs in view",
                f"{legs['count']}; side planned: {side}; the bones suggest: {bones}",
            ]
        )
    runner_up = checks.get("runner_up")
    if runner_up:
        pair = " into ".join(
            plan_vessel_title(plan, runner_up[kind]) for kind in ("artery", "vein")
        )
        rows.append(
            [
                "next-best pair",
                f"{pair}: its best site {runner_up['longer_by_mm']:.2f} mm longer (smoothed)",
            ]
        )
    return rows


def _segment_words(segment: dict) -> str:
    size = f"{segment['proximal_diameter_mm']:g}"
    if segment["distal_diameter_mm"] != segment["proximal_diameter_mm"]:
        size += f" to {segment['distal_diameter_mm']:g}"
    kind = "tapered crossing graft" if segment["kind"] == "crossing" else "extension"
    return f"{kind} {size} mm x {segment['length_mm']:g} mm"


def _figure(path: Path) -> dict:
    """A picture for the template: its name, stem, caption and PNG bytes (base64)."""
    return {
        "name": path.name,
        "stem": path.stem,
        "caption": CAPTIONS.get(path.name, ""),
        "data": base64.b64encode(path.read_bytes()).decode("ascii"),
    }


def report_html(view: PlanView, pictures: list[Path], files: list[Path], timings: dict) -> str:
    """The report page as a string.

    Parameters
    ----------
    view : PlanView
    pictures : list of Path
        PNGs to embed, in order.
    files : list of Path
        Other files written beside it (meshes), listed for 3D Slicer / ParaView.
    timings : dict
        Seconds per drawing step of this rendering.
    """
    import jinja2

    plan = view.plan
    ankle = view.ankle_z_mm
    crossing = view.crossing
    stent = plan.get("stent_graft")
    checks = check_rows(plan)
    page = {
        "feasible": bool(crossing),
        "version": plan.get("version", "?"),
        "drawn": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "words": plan_in_words(view),
        "catalog_note": (stent or {}).get("catalog_note"),
        "warnings": plan.get("warnings") or (stent or {}).get("warnings") or [],
        "pictures": {path.name: _figure(path) for path in pictures},
        "crossing_table": _crossing_table(plan, crossing) if crossing else None,
        "candidates_table": _candidates_table(plan, crossing),
        "ranking": ranking_words(plan) if plan.get("candidates") else "",
        "vessels_table": _vessels_table(plan),
        "checks_table": _table(["check", "measured"], checks, left=2) if checks else None,
        "files": [path.name for path in files],
        **_stent_page(plan, crossing, stent, ankle),
        **_inputs_page(plan, timings),
    }
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("pdvaplan.render", "templates"),
        autoescape=True,
        keep_trailing_newline=True,
    )
    return environment.get_template("report.html").render(page)


def _crossing_table(plan: dict, crossing: dict) -> dict:
    """The chosen crossing's numbers, one row each."""
    rows = [
        ["artery", plan_vessel_title(plan, crossing["artery"])],
        ["vein", plan_vessel_title(plan, crossing["vein"])],
        ["height above the ankle (mm)", _height(crossing)],
        ["needle, centre to centre (mm)", _mm(crossing["distance_mm"], 2)],
        [
            "smoothed distance profile at the site (mm)",
            _mm(crossing.get("smoothed_distance_mm"), 2),
        ],
        ["wall gap, lumen to lumen (mm)", _mm(crossing["gap_mm"], 2)],
        ["needle angle to the artery (°)", _mm(crossing["needle_angle_deg"], 0)],
        ["artery lumen diameter (mm)", _mm(crossing["artery_diameter_mm"], 2)],
        ["vein lumen diameter (mm)", _mm(crossing["vein_diameter_mm"], 2)],
        [
            "nearest calcified wall along the artery (mm)",
            _mm(crossing.get("calcium_distance_mm"), 1)
            if crossing.get("calcium_distance_mm") is not None
            else "none found",
        ],
        ["artery point (x, y, z mm)", ", ".join(f"{c:.1f}" for c in crossing["artery_point_mm"])],
        ["vein point (x, y, z mm)", ", ".join(f"{c:.1f}" for c in crossing["vein_point_mm"])],
    ]
    return _table(["", "value"], rows, left=1)


def _candidates_table(plan: dict, crossing: dict | None) -> dict | None:
    """The candidate sites, best first (the chosen one marked), or None without any."""
    candidates = plan.get("candidates") or []
    if not candidates:
        return None
    rows = [
        [
            c.get("rank", ""),
            plan_vessel_title(plan, c["artery"]),
            plan_vessel_title(plan, c["vein"]),
            _height(c),
            _mm(c.get("smoothed_distance_mm"), 2),
            _mm(c["distance_mm"], 2),
            _mm(c["gap_mm"], 2),
            _mm(c["artery_diameter_mm"], 2),
            _mm(c["vein_diameter_mm"], 2),
            _mm(c["needle_angle_deg"], 0),
            _mm(c.get("calcium_distance_mm"), 0)
            if c.get("calcium_distance_mm") is not None
            else "none",
        ]
        for c in candidates
    ]
    classes = ["chosen" if crossing and c.get("rank") == 1 else "" for c in candidates]
    header = [
        "rank",
        "artery",
        "vein",
        "above ankle (mm)",
        "smoothed distance (mm)",
        "needle, raw (mm)",
        "wall gap (mm)",
        "artery Ø (mm)",
        "vein Ø (mm)",
        "angle (°)",
        "calcium away (mm)",
    ]
    return _table(header, rows, left=3, classes=classes)


def _stent_page(plan: dict, crossing: dict | None, stent: dict | None, ankle) -> dict:
    """The stent-graft chain's sentence and table (None without a chain)."""
    if not stent:
        return {"stent_table": None}
    rows = []
    for n, s in enumerate(stent.get("segments") or [], start=1):
        size = f"{s['proximal_diameter_mm']:g}"
        if s["distal_diameter_mm"] != s["proximal_diameter_mm"]:
            size += f" → {s['distal_diameter_mm']:g}"
        rows.append(
            [
                n,
                s["kind"],
                s.get("name", ""),
                size,
                f"{s['length_mm']:g}",
                _mm(s["start_mm"][2] - ankle, 0) if ankle is not None else "",
                _mm(s["end_mm"][2] - ankle, 0) if ankle is not None else "",
                _mm(s.get("beyond_path_mm", 0.0), 0),
            ]
        )
    header = [
        "#",
        "kind",
        "name",
        "Ø (mm)",
        "length (mm)",
        "from (mm above ankle)",
        "to (mm above ankle)",
        "beyond the path's end (mm)",
    ]
    return {
        "stent_table": _table(header, rows, left=3),
        "stent_vein": crossing["vein"],
        "stent_path_end": path_end_words(stent),
        "stent_length": f"{stent['length_mm']:.0f}",
        "stent_catalog": stent.get("catalog", ""),
    }


def _vessels_table(plan: dict) -> dict | None:
    """Every vessel found, or None without any."""
    vessels = plan.get("vessels") or []
    if not vessels:
        return None
    header = [
        "id",
        "kind",
        "length (mm)",
        "median Ø (mm)",
        "top z (mm)",
        "bottom z (mm)",
        "ends (top / bottom)",
        "calcified wall voxels",
    ]
    rows = [
        [
            plan_vessel_title(plan, v["id"]),
            v["kind"],
            _mm(v["length_mm"], 0),
            _mm(v["median_diameter_mm"], 1),
            _mm(v["proximal_mm"][2], 0),
            _mm(v["distal_mm"][2], 0),
            f"{v['proximal_end']} / {v['distal_end']}",
            v.get("calcified_wall_voxels", ""),
        ]
        for v in vessels
    ]
    return _table(header, rows, left=2)


def _inputs_page(plan: dict, timings: dict) -> dict:
    """The inputs with their checksums (None if given in memory), the parameters and the
    timings of planning and of this drawing."""
    inputs = plan.get("inputs") or {}
    checksums = inputs.get("sha256") or {}
    rows = [
        [name, path, checksums.get(name, "")] for name, path in inputs.items() if name != "sha256"
    ]
    parameters = plan.get("parameters") or {}
    steps = []
    for step, seconds in (plan.get("timings_s") or {}).items():
        if isinstance(seconds, dict):
            steps += [[f"plan: {step}: {k}", f"{v:.2f}"] for k, v in seconds.items()]
        elif seconds is not None:
            steps.append([f"plan: {step}", f"{seconds:.2f}"])
    steps += [[f"drawing: {k}", f"{v:.2f}"] for k, v in timings.items()]
    return {
        "inputs_table": _table(["input", "file", "SHA-256"], rows, left=3) if rows else None,
        "parameters_table": _table(
            ["parameter", "value"],
            [[k, "default" if v is None else v] for k, v in parameters.items()],
            left=1,
        ),
        "timings_table": _table(["step", "seconds"], steps, left=1),
    }
