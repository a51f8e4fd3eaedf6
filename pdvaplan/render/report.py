"""report.html: the plan in words, numbers and pictures, for a clinician.

One self-contained page: the pictures are embedded (base64 PNG), so the file
can be mailed or archived on its own; the PNG files beside it are the same.
"""

from __future__ import annotations

import base64
import datetime
import html
from pathlib import Path

import numpy as np

from pdvaplan.render.planview import PlanView, path_end_words, plan_vessel_title

_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 0;
       color: #1d1d1f; background: #f4f5f7; line-height: 1.45; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 60px; background: white; }
h1 { font-size: 1.6em; margin: 0 0 4px; } h2 { font-size: 1.25em; margin-top: 2em;
     border-bottom: 2px solid #e3e5e8; padding-bottom: 4px; }
.sub { color: #666; font-size: 0.9em; }
.verdict { border-radius: 8px; padding: 14px 18px; margin: 18px 0; font-size: 1.08em; }
.ok { background: #e8f6ec; border-left: 6px solid #1a9a4a; }
.no { background: #fdecea; border-left: 6px solid #c62828; }
.note { background: #fff8e1; border-left: 6px solid #f0a000; padding: 10px 14px;
        border-radius: 6px; margin: 10px 0; }
.note.warn { background: #fdecea; border-left-color: #c62828; }
table { border-collapse: collapse; margin: 8px 0 4px; font-size: 0.92em; }
th, td { border: 1px solid #d9dce0; padding: 4px 9px; text-align: right; }
th { background: #f0f2f5; } td.l, th.l { text-align: left; }
tr.chosen td { background: #e8f6ec; font-weight: 600; }
figure { margin: 16px 0 26px; } figure img { max-width: 100%; border: 1px solid #d9dce0; }
figcaption { color: #444; font-size: 0.9em; margin-top: 4px; }
.grid { display: grid; grid-template-columns: 1fr 1fr; gap: 14px; }
.grid > * { min-width: 0; }
@media (max-width: 1000px) { .grid { grid-template-columns: 1fr; } }
.wide { overflow-x: auto; }
code { font-size: 0.88em; background: #f0f2f5; padding: 1px 4px; border-radius: 3px; }
"""

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


def _e(value) -> str:
    return html.escape(str(value))


def _mm(value, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _table(header: list[str], rows: list[list], left: int = 0, classes=None) -> str:
    head = "".join(
        f'<th class="l">{_e(h)}</th>' if i < left else f"<th>{_e(h)}</th>"
        for i, h in enumerate(header)
    )
    body = []
    for n, row in enumerate(rows):
        cls = f' class="{classes[n]}"' if classes and classes[n] else ""
        cells = "".join(
            f'<td class="l">{_e(c)}</td>' if i < left else f"<td>{_e(c)}</td>"
            for i, c in enumerate(row)
        )
        body.append(f"<tr{cls}>{cells}</tr>")
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    return f"<div class='wide'>{table}</div>"


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


def _figure_html(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    caption = CAPTIONS.get(path.name, "")
    return (
        f'<figure><a href="{_e(path.name)}" title="open full size">'
        f'<img src="data:image/png;base64,{data}" alt="{_e(path.stem)}"></a>'
        f"<figcaption><b>{_e(path.name)}</b> (click to open full size). {_e(caption)}"
        "</figcaption></figure>"
    )


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
    plan = view.plan
    ankle = view.ankle_z_mm
    crossing = view.crossing
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>pDVA plan: {'crossing found' if crossing else 'no feasible crossing'}</title>",
        f"<style>{_CSS}</style></head><body><main>",
        "<h1>pDVA plan</h1>",
        f"<div class='sub'>pdvaplan {_e(plan.get('version', '?'))}, report drawn "
        f"{datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}. Every position is in millimetres "
        "in the scanner's patient frame (LPS: x to the patient's left, y posterior, z "
        "superior). This is a planning aid: check it against the images.</div>",
    ]
    words = plan_in_words(view)
    parts.append(
        f"<div class='verdict {'ok' if crossing else 'no'}'><b>{_e(words[0])}</b>"
        + "".join(f"<br>{_e(s)}" for s in words[1:])
        + "</div>"
    )
    stent = plan.get("stent_graft")
    note = (stent or {}).get("catalog_note")
    if note:
        parts.append(f"<div class='note'><b>Stent-graft catalogue:</b> {_e(note)}</div>")
    for warning in plan.get("warnings") or (stent or {}).get("warnings") or []:
        parts.append(f"<div class='note warn'><b>Warning:</b> {_e(warning)}</div>")

    by_name = {p.name: p for p in pictures}
    parts.append("<h2>The crossing in 3D</h2>" if crossing else "<h2>The leg in 3D</h2>")
    parts.append("<div class='grid'>")
    parts += [
        _figure_html(by_name[n])
        for n in ("scene-anterior.png", "scene-lateral.png")
        if n in by_name
    ]
    parts.append("</div><div class='grid'>")
    parts += [
        _figure_html(by_name[n]) for n in ("scene-crossing.png", "scene-needle.png") if n in by_name
    ]
    parts.append("</div>")
    if "cpr-vein.png" in by_name or "cpr-artery.png" in by_name:
        parts.append("<h2>Along the vessels</h2>")
        parts += [
            _figure_html(by_name[n]) for n in ("cpr-vein.png", "cpr-artery.png") if n in by_name
        ]
    parts.append("<h2>Distance between artery and vein</h2>")
    parts += [_figure_html(by_name[n]) for n in ("distance-profile.png",) if n in by_name]
    if "axial.png" in by_name:
        parts.append("<h2>Axial slices</h2>")
        parts.append(_figure_html(by_name["axial.png"]))

    if crossing:
        parts.append("<h2>The crossing in numbers</h2>")
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
            [
                "artery point (x, y, z mm)",
                ", ".join(f"{c:.1f}" for c in crossing["artery_point_mm"]),
            ],
            ["vein point (x, y, z mm)", ", ".join(f"{c:.1f}" for c in crossing["vein_point_mm"])],
        ]
        parts.append(_table(["", "value"], rows, left=1))
    candidates = plan.get("candidates") or []
    if candidates:
        parts.append("<h2>Candidate sites, best first</h2>")
        parts.append(f"<p>{_e(ranking_words(plan))}</p>")
        rows, classes = [], []
        for c in candidates:
            rows.append(
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
            )
            classes.append("chosen" if crossing and c.get("rank") == 1 else "")
        parts.append(
            _table(
                [
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
                ],
                rows,
                left=3,
                classes=classes,
            )
        )
    if stent:
        parts.append("<h2>Stent-graft chain</h2>")
        parts.append(
            f"<p>From the artery through the crossing and down {_e(crossing['vein'])} "
            f"{path_end_words(stent)}: {stent['length_mm']:.0f} mm of vein. Catalogue: <code>"
            f"{_e(stent.get('catalog', ''))}</code>.</p>"
        )
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
        parts.append(
            _table(
                [
                    "#",
                    "kind",
                    "name",
                    "Ø (mm)",
                    "length (mm)",
                    "from (mm above ankle)",
                    "to (mm above ankle)",
                    "beyond the path's end (mm)",
                ],
                rows,
                left=3,
            )
        )
        if note:
            parts.append(f"<div class='note'>{_e(note)}</div>")
    vessels = plan.get("vessels") or []
    if vessels:
        parts.append("<h2>Vessels found</h2>")
        parts.append(
            _table(
                [
                    "id",
                    "kind",
                    "length (mm)",
                    "median Ø (mm)",
                    "top z (mm)",
                    "bottom z (mm)",
                    "ends (top / bottom)",
                    "calcified wall voxels",
                ],
                [
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
                ],
                left=2,
            )
        )

    checks = check_rows(plan)
    if checks:
        parts.append("<h2>Checks: how far to trust this plan</h2>")
        parts.append(_table(["check", "measured"], checks, left=2))
    parts.append("<h2>Inputs, parameters, timings</h2>")
    inputs = plan.get("inputs") or {}
    checksums = inputs.get("sha256") or {}
    rows = [
        [name, path, checksums.get(name, "")] for name, path in inputs.items() if name != "sha256"
    ]
    parts.append(
        _table(["input", "file", "SHA-256"], rows, left=3)
        if rows
        else "<p>The inputs were given in memory (no files).</p>"
    )
    parameters = plan.get("parameters") or {}
    parts.append(
        _table(
            ["parameter", "value"],
            [[k, "default" if v is None else v] for k, v in parameters.items()],
            left=1,
        )
    )
    rows = []
    for step, seconds in (plan.get("timings_s") or {}).items():
        if isinstance(seconds, dict):
            rows += [[f"plan: {step}: {k}", f"{v:.2f}"] for k, v in seconds.items()]
        elif seconds is not None:
            rows.append([f"plan: {step}", f"{seconds:.2f}"])
    rows += [[f"drawing: {k}", f"{v:.2f}"] for k, v in timings.items()]
    parts.append(_table(["step", "seconds"], rows, left=1))
    if files:
        parts.append(
            "<h2>Files for 3D Slicer and ParaView</h2><p>Meshes and centrelines in mm (LPS), "
            "beside this page: "
            + ", ".join(f"<code>{_e(p.name)}</code>" for p in files)
            + ". Slicer loads LPS models as they are; in ParaView the axes are x = left, "
            "y = posterior, z = superior.</p>"
        )
    parts.append("</main></body></html>")
    return "\n".join(parts)
