"""The phantom's known answer, by brute force on the analytic curves.

Every vessel is sampled densely (default every 0.2 mm of height) inside the
imaged volume, ordered proximal to distal, with radius, arc length and, for
arteries, the patent / calcified / eligible flags of the contract's default
rules. The crossing is the eligible artery point and vein point with the
smallest centreline distance within reach whose straight needle is clear of
bone and of other arteries' patent lumens: found over the samples, then
refined on the continuous curves. Nothing here calls the planner.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
from scipy import optimize
from scipy.spatial import cKDTree

from pdvaplan.io import Volume
from phantoms.leg_spec import AxisCurve, LegSpec, centrelines

TRUTH_SCHEMA = "pdvaplan.phantom-truth/1"
#: The contract's default rule parameters.
DEFAULT_RULES = {"reach_mm": 10.0, "calcium_margin_mm": 5.0}
#: Artery-vein pairs whose best sites are this close (mm) are one answer (`_ties`).
TIE_MM = 0.1
#: Needle points are checked against obstacles every this many mm.
_NEEDLE_STEP_MM = 0.05


def vessel_samples(
    spec: LegSpec, frame: Volume, step_mm: float = 0.2, calcium_margin_mm: float = 5.0
) -> dict[str, dict[str, np.ndarray]]:
    """Dense samples of every vessel inside the imaged volume, proximal to distal.

    Returns
    -------
    dict
        Per vessel name: ``z_mm``, ``points_mm`` (n, 3), ``radii_mm``,
        ``arc_mm`` (from the proximal end); arteries also ``patent`` (the
        image confirms it: contrast down to the occlusion, or, where it fades,
        at least half of it), ``fading`` (patent where contrast fades),
        ``calcified`` and ``eligible`` (patent and more than
        `calcium_margin_mm` along the vessel from any calcified point).
    """
    corners = frame.corners_mm()
    z_all = np.arange(corners[:, 2].max(), corners[:, 2].min(), -step_mm)
    lines = centrelines(spec)
    samples = {}
    for name, line in lines.items():
        z = _longest_run_inside(frame, line, z_all)
        points = line.points_mm(z)
        arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])
        sample = {"z_mm": z, "points_mm": points, "radii_mm": line.radius_mm(z), "arc_mm": arc}
        if any(a.name == name for a in spec.arteries):
            artery = spec.artery(name)
            patent = z >= artery.confirmed_z_mm
            fading = patent & (z < artery.occlusion_z_mm + artery.fade_mm)
            calcified = np.zeros(z.size, bool)
            for arc_spec in artery.calcified_arcs:
                calcified |= (z >= arc_spec.z_from_mm) & (z <= arc_spec.z_to_mm)
            sample |= {
                "patent": patent,
                "fading": fading,
                "calcified": calcified,
                "eligible": patent & (_distance_to_flagged(arc, calcified) > calcium_margin_mm),
            }
        samples[name] = sample
    return samples


def _longest_run_inside(frame: Volume, line: AxisCurve, z: np.ndarray) -> np.ndarray:
    inside = frame.contains(line.points_mm(z))
    edges = np.diff(np.concatenate([[0], inside.astype(int), [0]]))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    longest = np.argmax(stops - starts)
    return z[starts[longest] : stops[longest]]


def _distance_to_flagged(arc_mm: np.ndarray, flagged: np.ndarray) -> np.ndarray:
    """Arc-length distance from each sample to the nearest flagged sample (inf if none)."""
    flagged_arc = arc_mm[flagged]
    if flagged_arc.size == 0:
        return np.full(arc_mm.shape, np.inf)
    right = np.clip(np.searchsorted(flagged_arc, arc_mm), 0, flagged_arc.size - 1)
    left = np.clip(right - 1, 0, flagged_arc.size - 1)
    return np.minimum(np.abs(arc_mm - flagged_arc[left]), np.abs(arc_mm - flagged_arc[right]))


def needle_is_clear(spec: LegSpec, artery: str, start_mm: np.ndarray, end_mm: np.ndarray) -> bool:
    """Whether the straight needle avoids every bone, implant and other arteries' patent
    lumens."""
    length = np.linalg.norm(end_mm - start_mm)
    t = np.linspace(0.0, 1.0, max(2, int(np.ceil(length / _NEEDLE_STEP_MM)) + 1))
    points = start_mm + t[:, None] * (end_mm - start_mm)
    for bone in spec.bones:
        if np.any(np.hypot(*(points[:, :2] - bone.centre_xy_mm).T) < bone.radius_mm):
            return False
    for implant in spec.implants:
        if np.any(implant.signed_distance_mm(points) < 0):
            return False
    lines = centrelines(spec)
    for other in spec.arteries:
        if other.name == artery:
            continue
        line = lines[other.name]
        z = line.closest_z(points)
        inside = np.linalg.norm(points - line.points_mm(z), axis=1) < line.radius_mm(z)
        if np.any(inside & (z >= other.confirmed_z_mm)):
            return False
    return True


def find_crossing(
    spec: LegSpec,
    samples: dict[str, dict[str, np.ndarray]],
    reach_mm: float = 10.0,
) -> dict:
    """The contract's default-rule crossing, by brute force over the samples.

    Returns
    -------
    dict
        ``feasible``, ``reason``, ``nearest_mm``, ``crossing`` (or None),
        ``geometric_minimum`` (closest patent pair ignoring calcium) and
        ``stent_graft`` (path length from the vein crossing point to the
        vein's distal end in the volume).
    """
    veins = [v.name for v in spec.veins]
    tree, vein_of_point = _vein_tree(samples, veins)

    vein_trees = [cKDTree(samples[v]["points_mm"]) for v in veins]
    candidates, geometric = [], None
    for artery in spec.arteries:
        sample = samples[artery.name]
        patent = np.flatnonzero(sample["patent"])
        if patent.size == 0:
            continue
        distance, nearest = tree.query(sample["points_mm"][patent])
        best = np.argmin(distance)
        if geometric is None or distance[best] < geometric["distance_mm"]:
            geometric = {
                "artery": artery.name,
                "vein": veins[vein_of_point[nearest[best]]],
                "artery_point_mm": sample["points_mm"][patent[best]].tolist(),
                "distance_mm": float(distance[best]),
                "eligible": bool(sample["eligible"][patent[best]]),
            }
        eligible = np.flatnonzero(sample["eligible"])
        for vein, vein_tree in zip(veins, vein_trees, strict=True):
            if eligible.size == 0:
                break
            d, j = vein_tree.query(sample["points_mm"][eligible])
            candidates.extend(
                (float(dd), artery.name, int(i), vein, int(jj))
                for dd, i, jj in zip(d, eligible, j, strict=True)
            )

    candidates.sort()
    nearest_mm = candidates[0][0] if candidates else None
    result = {
        "feasible": False,
        "nearest_mm": nearest_mm,
        "crossing": None,
        "stent_graft": None,
        "geometric_minimum": geometric,
    }
    if not any(s.get("patent", np.zeros(0)).any() for s in samples.values()):
        return result | {"reason": "no patent artery in the volume"}
    if not candidates:
        return result | {"reason": "every patent artery site is within the calcium margin"}
    if nearest_mm > reach_mm:
        return result | {"reason": f"no vein within reach: nearest is {nearest_mm:.2f} mm"}
    for distance, artery, i, vein, j in candidates:
        if distance > reach_mm:
            return result | {"reason": "every site within reach has its needle blocked"}
        a_point, v_point = samples[artery]["points_mm"][i], samples[vein]["points_mm"][j]
        if needle_is_clear(spec, artery, a_point, v_point):
            break
    else:
        return result | {"reason": "every site within reach has its needle blocked"}
    ties = _ties(spec, samples, candidates, (artery, vein), distance, reach_mm)
    crossing = _refine(spec, samples, artery, i, vein, j)
    arc_v = samples[vein]["arc_mm"]
    z_v = samples[vein]["z_mm"]
    vein_arc_at_crossing = np.interp(-crossing["vein_point_mm"][2], -z_v, arc_v)
    stent = {
        "path_length_mm": float(arc_v[-1] - vein_arc_at_crossing),
        "distal_end_mm": samples[vein]["points_mm"][-1].tolist(),
    }
    return result | {
        "feasible": True,
        "reason": None,
        "crossing": crossing,
        "ties": ties,
        "stent_graft": stent,
        "nearest_mm": crossing["distance_mm"],
    }


def _ties(spec, samples, candidates, winner, distance_mm, reach_mm) -> list[dict]:
    """Other artery-vein pairs whose best clear site is within `TIE_MM` of the winner's.

    Two such pairs are one answer within what any image can tell apart (a vein 0.01 mm
    farther is not a worse target), so either counts as the right pair.
    """
    found: dict[tuple[str, str], float] = {}
    for d, artery, i, vein, j in candidates:
        if d > min(distance_mm + TIE_MM, reach_mm):
            break
        pair = (artery, vein)
        if pair == winner or pair in found:
            continue
        a_point, v_point = samples[artery]["points_mm"][i], samples[vein]["points_mm"][j]
        if needle_is_clear(spec, artery, a_point, v_point):
            found[pair] = d
    return [
        {"artery": a, "vein": v, "distance_mm": d, "more_than_crossing_mm": d - distance_mm}
        for (a, v), d in found.items()
    ]


def _vein_tree(samples: dict, veins: list[str]) -> tuple[cKDTree, np.ndarray]:
    """A KD-tree over every vein sample, and which vein each sample belongs to."""
    tree = cKDTree(np.concatenate([samples[v]["points_mm"] for v in veins]))
    owner = np.repeat(np.arange(len(veins)), [len(samples[v]["z_mm"]) for v in veins])
    return tree, owner


def _refine(spec, samples, artery, i, vein, j) -> dict:
    """Minimise the centreline distance on the continuous curves near a sample pair.

    The artery height stays within the eligible run holding sample `i`.
    """
    lines = centrelines(spec)
    a_line, v_line = lines[artery], lines[vein]
    a_z, eligible = samples[artery]["z_mm"], samples[artery]["eligible"]
    run_top, run_bottom = i, i
    while run_top > 0 and eligible[run_top - 1]:
        run_top -= 1
    while run_bottom < eligible.size - 1 and eligible[run_bottom + 1]:
        run_bottom += 1
    v_z = samples[vein]["z_mm"]

    def distance(z):
        return np.linalg.norm(a_line.points_mm(z[0]) - v_line.points_mm(z[1]))

    start = np.array([a_z[i], v_z[j]])
    solution = optimize.minimize(
        distance,
        start,
        method="L-BFGS-B",
        bounds=[(a_z[run_bottom], a_z[run_top]), (v_z[-1], v_z[0])],
        options={"ftol": 1e-14, "gtol": 1e-10},
    )
    z_a, z_v = solution.x if solution.fun <= distance(start) else start
    a_point, v_point = a_line.points_mm(z_a), v_line.points_mm(z_v)
    needle = v_point - a_point
    d = float(np.linalg.norm(needle))
    tangent = a_line.tangent(z_a)
    angle = np.degrees(np.arccos(min(1.0, abs(float(needle @ tangent)) / d)))
    r_a, r_v = float(a_line.radius_mm(z_a)), float(v_line.radius_mm(z_v))
    return {
        "artery": artery,
        "vein": vein,
        "artery_point_mm": a_point.tolist(),
        "vein_point_mm": v_point.tolist(),
        "distance_mm": d,
        "gap_mm": d - r_a - r_v,
        "artery_radius_mm": r_a,
        "vein_radius_mm": r_v,
        "needle_angle_deg": float(angle),
    }


def truth_document(
    spec: LegSpec, frame: Volume, preset: str, seed: int, step_mm: float = 0.2
) -> dict:
    """The whole truth of a phantom as a JSON-ready dict (schema `TRUTH_SCHEMA`)."""
    rules = DEFAULT_RULES
    samples = vessel_samples(spec, frame, step_mm, rules["calcium_margin_mm"])
    answer = find_crossing(spec, samples, rules["reach_mm"])
    veins = [v.name for v in spec.veins]
    vein_tree, vein_of_point = _vein_tree(samples, veins)
    vessels = []
    for name, sample in samples.items():
        is_artery = "patent" in sample
        entry = {
            "name": name,
            "kind": "artery" if is_artery else "vein",
            "points_mm": np.round(sample["points_mm"], 4).tolist(),
            "radii_mm": np.round(sample["radii_mm"], 4).tolist(),
            "arc_mm": np.round(sample["arc_mm"], 4).tolist(),
        }
        if is_artery:
            distance, nearest = vein_tree.query(sample["points_mm"])
            patent_points = sample["points_mm"][sample["patent"]]
            entry |= {
                "patent": sample["patent"].tolist(),
                "fading": sample["fading"].tolist(),
                "calcified": sample["calcified"].tolist(),
                "eligible": sample["eligible"].tolist(),
                "patent_end_mm": patent_points[-1].tolist() if len(patent_points) else None,
                "nearest_vein_mm": np.round(distance, 4).tolist(),
                "nearest_vein_index": vein_of_point[nearest].tolist(),
            }
        else:
            entry["paired_artery"] = next(v.artery for v in spec.veins if v.name == name)
        vessels.append(entry)
    return {
        "schema": TRUTH_SCHEMA,
        "preset": preset,
        "seed": seed,
        "parameters": rules | {"sample_step_mm": step_mm},
        "grid": {
            "shape": list(frame.shape),
            "spacing_mm": frame.spacing_mm.tolist(),
            "origin_mm": frame.origin_mm.tolist(),
            "direction": frame.direction.ravel().tolist(),
        },
        "veins": veins,
        "vessels": vessels,
        **answer,
        "spec": asdict(spec),
    }
