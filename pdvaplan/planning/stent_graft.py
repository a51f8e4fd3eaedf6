"""The stent-graft plan: the path down the vein to the ankle, and the chain of grafts.

The path follows the vein centreline from the vein crossing point distally
(towards the vein's distal end) to the ankle level: by default the distal end
of that vein in the volume, or the first point at or below ``ankle_z_mm``. A
vein trunk runs through its junctions, valves and contacts with its artery to
its distal end (`pdvaplan.centerlines.vessel_paths`), so the path follows it
to the end; a gap in the vein's lumen is bridged, and the junction at the end
of a side branch passed, to the vein (a trunk, if one is there) that carries
on. A
tapered crossing graft bridges artery to vein (sized to the artery at one end
and the vein at the other) and runs down the vein for the rest of its length;
straight extension grafts then line the vein to the ankle, each overlapping
the one before by the catalogue's overlap. Diameters are the lumen diameter
plus the catalogue's oversizing, rounded up to the next size in stock. A path
that stops where the venous phase ends, not the vein, says so
(`mark_venous_border`), and so does one that stops where the vein's lumen is
lost in the slices that hold metal, whose streaks can hide it
(`mark_metal_streaks`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from pdvaplan.centerlines import END_JUNCTION, END_LUMEN, Centerline
from pdvaplan.centerlines.polyline import (
    arc_length_mm,
    end_direction,
    end_probes_mm,
    point_at_arc,
)
from pdvaplan.planning.candidates import Candidate
from pdvaplan.planning.parameters import Catalog, CrossingGraft, ExtensionGraft

#: Vein pieces this close (mm) to where the path stops touch it (a junction's branches).
_TOUCH_MM = 2.0
#: How a path ends that the ankle level cut (else: its last vein's distal end kind).
ANKLE = "ankle"
#: A path that stops where the venous phase ends (its acquisition stops short).
VENOUS_BORDER = "venous-border"


def stent_graft_path(
    vein: Centerline,
    crossing: Candidate,
    ankle_z_mm: float | None,
    other_veins: tuple[Centerline, ...] = (),
    bridge_mm: float = 10.0,
) -> tuple[np.ndarray, np.ndarray, str]:
    """Points (mm) along the vein from the crossing point down to the ankle level,
    the lumen radius (mm) at each, and how the path ends: `ANKLE`, or the distal
    end kind of the last vein it follows (``END_LUMEN``: its lumen stops inside
    the volume).

    Where the vein's centreline stops inside the volume (a gap in its lumen,
    or a junction where a side branch leaves it, not its end in the
    anatomy), the path carries on along another vein that passes within
    `bridge_mm` of the stop, from its nearest point distally: of the pieces
    that touch the stop (within `_TOUCH_MM`, as the branches of a junction
    do) a trunk before a side branch, and the one that runs on longest, so a
    spur does not end the path; else the nearest.
    """
    below = vein.arc_mm > crossing.vein_arc_mm
    points = [crossing.vein_point_mm[None], vein.points_mm[below]]
    radii = [[crossing.vein_radius_mm], vein.radii_mm[below]]
    used, current = {vein.id}, vein
    while current.distal_end in (END_LUMEN, END_JUNCTION):
        end = points[-1][-1] if len(points[-1]) else points[0][0]
        nearest = []
        for other in other_veins:
            if other.id in used:
                continue
            gap = np.linalg.norm(other.points_mm - end, axis=1)
            j = int(np.argmin(gap))
            if gap[j] <= bridge_mm and j < len(other.points_mm) - 1:
                runs_on_mm = float(other.arc_mm[-1] - other.arc_mm[j])
                touching = gap[j] <= _TOUCH_MM
                key = (
                    not touching,
                    0.0 if touching else gap[j],
                    other.kind != "trunk",
                    -runs_on_mm,
                )
                nearest.append((key, j, other))
        if not nearest:
            break
        _, j, current = min(nearest, key=lambda found: found[0])
        used.add(current.id)
        points.append(current.points_mm[j + 1 :])
        radii.append(current.radii_mm[j + 1 :])
    path, radius, end = np.vstack(points), np.concatenate(radii), current.distal_end
    if ankle_z_mm is not None:
        under = np.flatnonzero(path[:, 2] <= ankle_z_mm)
        if under.size and under[0] > 0:
            a, b = path[under[0] - 1], path[under[0]]
            t = (a[2] - ankle_z_mm) / (a[2] - b[2])
            path = np.vstack([path[: under[0]], a + t * (b - a)])
            radius = np.append(radius[: under[0]], radius[under[0] - 1])
            end = ANKLE
    return path, radius, end


def plan_stent_grafts(
    vein: Centerline,
    crossing: Candidate,
    catalog: Catalog,
    ankle_z_mm: float | None = None,
    other_veins: tuple[Centerline, ...] = (),
) -> dict:
    """The stent-graft plan of a crossing, as the plan contract's ``stent_graft`` dict.

    Returns
    -------
    dict
        ``path_mm``, ``length_mm``, ``end_mm`` (the path's distal end),
        ``ends_at`` (how it ends: ``"ankle"`` where the ankle level cut it, else
        the last vein's distal end kind: ``"border"``, ``"lumen-end"`` or
        ``"junction"``; `mark_venous_border` may make it ``"venous-border"``),
        ``segments`` (kind, diameters, length, start and end
        points, catalogue name, how far beyond the path's end it runs) and
        ``warnings`` (sizes the catalogue cannot cover; a path that stops
        inside the volume, where the vein's lumen ends or at a junction no vein
        carries on from, short of the crossing graft's length inside the vein).
    """
    path, radii, path_end = stent_graft_path(vein, crossing, ankle_z_mm, other_veins)
    arc = arc_length_mm(path)
    grow = 1.0 + catalog.oversize_fraction
    warnings = []

    artery_size = 2 * crossing.artery_radius_mm * grow
    vein_size = 2 * crossing.vein_radius_mm * grow
    fits = [
        g
        for g in catalog.crossing
        if g.proximal_diameter_mm >= artery_size and g.distal_diameter_mm >= vein_size
    ]
    if not fits:
        warnings.append(
            f"no crossing graft of at least {artery_size:.1f} -> {vein_size:.1f} mm in the "
            "catalogue; the largest is shown"
        )
    graft = min(fits, key=_crossing_key) if fits else max(catalog.crossing, key=_crossing_key)
    in_vein = max(0.0, graft.length_mm - crossing.distance_mm)
    if path_end in (END_LUMEN, END_JUNCTION) and arc[-1] < in_vein:
        where = "lumen ends" if path_end == END_LUMEN else "centreline ends at a junction"
        warnings.append(
            f"the vein's {where} inside the volume {arc[-1]:.0f} mm below the crossing, "
            f"short of the crossing graft's {in_vein:.0f} mm inside the vein: no vein is seen "
            "below the crossing to carry the flow on to the foot; check the vein's run-off"
        )
    segments = [_segment("crossing", graft, crossing.artery_point_mm, path, arc, 0.0, in_vein)]
    covered = min(in_vein, arc[-1])
    while covered < arc[-1] - 1e-6:
        start = max(0.0, covered - catalog.overlap_mm)
        remaining = arc[-1] - start
        needed = float(np.max(radii[arc >= start])) * 2 * grow
        sized = [g for g in catalog.extension if g.diameter_mm >= needed]
        if not sized:
            warnings.append(
                f"no extension graft of at least {needed:.1f} mm in the catalogue; "
                "the widest is shown"
            )
            widest = max(g.diameter_mm for g in catalog.extension)
            sized = [g for g in catalog.extension if g.diameter_mm == widest]
        diameter = min(g.diameter_mm for g in sized)
        lengths = sorted((g for g in sized if g.diameter_mm == diameter), key=_length)
        covering = [g for g in lengths if g.length_mm >= remaining]
        graft = covering[0] if covering else lengths[-1]
        end = start + graft.length_mm
        segments.append(_segment("extension", graft, None, path, arc, start, end))
        covered = end
    return {
        "path_mm": np.round(path, 3).tolist(),
        "length_mm": float(arc[-1]),
        "end_mm": path[-1].tolist(),
        "ends_at": path_end,
        "segments": segments,
        "catalog": catalog.source,
        "catalog_note": catalog.note,
        "warnings": warnings,
    }


def height_above_ankle_mm(point_mm: np.ndarray, ankle_z_mm: float | None) -> float | None:
    """Height of a point above the ankle level (mm): never negative; a point at or
    below the level reads 0 (a site's ``below_ankle_mm`` says how far below it lies).
    None without a level.

    Examples
    --------
    >>> height_above_ankle_mm(np.array([0.0, 0.0, 52.5]), 10.0)
    42.5
    >>> height_above_ankle_mm(np.array([0.0, 0.0, 9.7]), 10.0)
    0.0
    """
    if ankle_z_mm is None:
        return None
    return max(0.0, float(point_mm[2] - ankle_z_mm))


def _crossing_key(graft: CrossingGraft) -> tuple[float, float, float]:
    return (graft.proximal_diameter_mm, graft.distal_diameter_mm, graft.length_mm)


def _segment(
    kind: str, graft: CrossingGraft | ExtensionGraft, start_mm, path, arc, start: float, end: float
) -> dict:
    if isinstance(graft, CrossingGraft):
        proximal, distal = graft.proximal_diameter_mm, graft.distal_diameter_mm
    else:
        proximal = distal = graft.diameter_mm
    begin = point_at_arc(path, arc, start) if start_mm is None else np.asarray(start_mm)
    return {
        "kind": kind,
        "name": graft.name,
        "proximal_diameter_mm": proximal,
        "distal_diameter_mm": distal,
        "length_mm": graft.length_mm,
        "start_mm": begin.tolist(),
        "end_mm": point_at_arc(path, arc, end).tolist(),
        "beyond_path_mm": max(0.0, end - arc[-1]),
    }


def _length(graft: ExtensionGraft) -> float:
    return graft.length_mm


def mark_venous_border(
    stent: dict,
    venous_images: Callable[[np.ndarray], np.ndarray],
    ankle_z_mm: float,
    reach_mm: float,
) -> None:
    """Say so when a stent-graft path stops where the venous phase ends, not the vein.

    A second acquisition may stop short of the arterial one: the vein's lumen
    then seems to end at the venous volume's edge, and the path is only as long
    as the vein imaged. When some position within `reach_mm` of the path's
    distal end (ahead of it, or around it) is not imaged by the venous phase,
    ``ends_at`` becomes `VENOUS_BORDER` and a warning gives the height above
    the ankle level (`ankle_z_mm`) where the path stops.

    Parameters
    ----------
    stent : dict
        A plan's ``stent_graft`` (`plan_stent_grafts`), updated in place.
    venous_images : callable
        Positions (n, 3) in mm -> whether the venous phase images each.
    ankle_z_mm : float
    reach_mm : float

    Examples
    --------
    >>> stent = {"path_mm": [[0, 0, 30.0], [0, 0, 20.0]], "length_mm": 10.0,
    ...          "ends_at": "lumen-end", "warnings": []}
    >>> mark_venous_border(stent, lambda p: p[:, 2] > 19.0, 0.0, 2.0)
    >>> stent["ends_at"], stent["warnings"][0][:52]
    ('venous-border', 'the stent-graft path stops 20 mm above the ankle lev')
    """
    if stent["ends_at"] != END_LUMEN:
        return
    path = np.asarray(stent["path_mm"], dtype=np.float64)
    if np.all(venous_images(end_probes_mm(path[-1], end_direction(path), reach_mm))):
        return
    stent["ends_at"] = VENOUS_BORDER
    stent["warnings"].append(
        f"{_stops_above_ankle(path[-1], ankle_z_mm)}, where the venous phase ends: that "
        "acquisition does not reach further down, so the vein below is not imaged and the "
        f"path is at least {stent['length_mm']:.0f} mm long; check the vein's run-off on "
        "images that reach the ankle"
    )


def mark_metal_streaks(
    stent: dict, metal_z_range_mm: list[float] | None, ankle_z_mm: float
) -> None:
    """Say so when a stent-graft path stops where the vein's lumen ends among the slices
    that hold metal.

    Metal's streaks run across the slices it lies in and can hide a lumen
    there (a vein lost among a tibial plate's slices, far above the ankle):
    where the vein's lumen seems to end within metal's heights, the vein may
    run on.

    Parameters
    ----------
    stent : dict
        A plan's ``stent_graft`` (`plan_stent_grafts`); a warning is added in place.
    metal_z_range_mm : list of float or None
        The lowest and highest physical z (mm) of metal found; None without metal.
    ankle_z_mm : float

    Examples
    --------
    >>> stent = {"path_mm": [[0, 0, 200.0], [0, 0, 118.0]], "ends_at": "lumen-end",
    ...          "warnings": []}
    >>> mark_metal_streaks(stent, [94.0, 186.0], 0.0)
    >>> stent["warnings"][0][:64]
    'the stent-graft path stops 118 mm above the ankle level, where t'
    >>> mark_metal_streaks(stent, [150.0, 186.0], 0.0)
    >>> len(stent["warnings"])
    1
    """
    if stent["ends_at"] != END_LUMEN or metal_z_range_mm is None:
        return
    low_mm, high_mm = metal_z_range_mm
    end_mm = np.asarray(stent["path_mm"][-1], dtype=np.float64)
    if not low_mm <= end_mm[2] <= high_mm:
        return
    stent["warnings"].append(
        f"{_stops_above_ankle(end_mm, ankle_z_mm)}, where the vein's lumen ends among the "
        f"slices that hold metal ({low_mm:.0f} to {high_mm:.0f} mm): its streaks can hide a "
        "lumen, so the vein may run on below; check the vein's run-off"
    )


def _stops_above_ankle(end_mm: np.ndarray, ankle_z_mm: float) -> str:
    """The start of a warning about where a stent-graft path stops."""
    height_mm = height_above_ankle_mm(end_mm, ankle_z_mm)
    return f"the stent-graft path stops {height_mm:.0f} mm above the ankle level"
