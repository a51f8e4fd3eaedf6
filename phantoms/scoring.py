"""Score what a pipeline found against a phantom's truth document.

Plain functions over arrays and the truth dict (as written to ``truth.json``):
how far extracted centreline points lie from the analytic axes, which true
vessel each lies on, radius errors, coverage, and how good a chosen crossing
site is ("regret": how much longer its true distance is than the best one).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree


class TruthCurves:
    """All true centrelines of a phantom, for nearest-point queries.

    Parameters
    ----------
    truth : dict
        A phantom truth document.
    kind : {"artery", "vein", None}
        Keep only vessels of this kind (None: all).
    """

    def __init__(self, truth: dict, kind: str | None = None) -> None:
        self.vessels = [v for v in truth["vessels"] if kind is None or v["kind"] == kind]
        self.names = [v["name"] for v in self.vessels]
        self._points = [np.asarray(v["points_mm"], dtype=np.float64) for v in self.vessels]
        self._radii = [np.asarray(v["radii_mm"], dtype=np.float64) for v in self.vessels]
        self._offsets = np.cumsum([0] + [len(p) for p in self._points])
        self._tree = cKDTree(np.concatenate(self._points))

    def project(self, points_mm: np.ndarray) -> dict[str, np.ndarray]:
        """The closest point of the true centrelines to each of `points_mm` (N, 3).

        Exact on the sampled polylines: the nearest sample's two adjacent
        segments are searched. Returns ``vessel`` (index into `names`),
        ``distance_mm``, ``point_mm``, ``radius_mm`` (true radius there) and
        ``sample`` (index of the nearest sample along that vessel).
        """
        points_mm = np.atleast_2d(np.asarray(points_mm, dtype=np.float64))
        _, nearest = self._tree.query(points_mm)
        vessel = np.searchsorted(self._offsets, nearest, side="right") - 1
        sample = nearest - self._offsets[vessel]
        best_distance = np.full(len(points_mm), np.inf)
        best_point = np.zeros_like(points_mm)
        best_radius = np.zeros(len(points_mm))
        for n, (v, s) in enumerate(zip(vessel, sample, strict=True)):
            line, radii = self._points[v], self._radii[v]
            for a in (s - 1, s):
                if a < 0 or a + 1 >= len(line):
                    continue
                segment = line[a + 1] - line[a]
                t = np.clip((points_mm[n] - line[a]) @ segment / (segment @ segment), 0.0, 1.0)
                foot = line[a] + t * segment
                d = np.linalg.norm(points_mm[n] - foot)
                if d < best_distance[n]:
                    best_distance[n], best_point[n] = d, foot
                    best_radius[n] = radii[a] + t * (radii[a + 1] - radii[a])
            if not np.isfinite(best_distance[n]):  # a one-sample vessel
                best_distance[n] = np.linalg.norm(points_mm[n] - line[s])
                best_point[n], best_radius[n] = line[s], radii[s]
        return {
            "vessel": vessel,
            "distance_mm": best_distance,
            "point_mm": best_point,
            "radius_mm": best_radius,
            "sample": sample,
        }

    def points(self, name: str) -> np.ndarray:
        """The true samples of one vessel, proximal to distal."""
        return self._points[self.names.index(name)]


def centerline_accuracy(
    centerlines: list[tuple[np.ndarray, np.ndarray]],
    truth: dict,
    kind: str | None = None,
    covered_within_mm: float = 1.0,
) -> dict:
    """How well extracted centrelines follow the phantom's true ones.

    Parameters
    ----------
    centerlines : list of (points_mm (n, 3), radii_mm (n,))
        What a method extracted, one entry per polyline.
    truth : dict
        The phantom's truth document.
    kind : {"artery", "vein", None}
        Compare against true vessels of this kind only.
    covered_within_mm : float
        A true sample counts as covered when an extracted point assigned to
        its vessel lies this close.

    Returns
    -------
    dict
        ``mean_mm``, ``p95_mm``, ``max_mm`` (point-to-true-axis distance),
        ``radius_median_error_mm`` (median absolute), ``radius_bias_mm``
        (median signed), ``coverage`` (worst per-vessel fraction of true
        samples covered), ``coverage_by_vessel``, and ``swaps``: polylines
        whose points lie on more than one true vessel (a stretch of at least
        2 mm on a second one).
    """
    curves = TruthCurves(truth, kind)
    all_distances, radius_errors, swaps = [], [], 0
    claimed = {name: [] for name in curves.names}
    for points, radii in centerlines:
        hit = curves.project(points)
        all_distances.append(hit["distance_mm"])
        radius_errors.append(np.asarray(radii) - hit["radius_mm"])
        vessels, counts = np.unique(hit["vessel"], return_counts=True)
        spacing = (
            np.median(np.linalg.norm(np.diff(points, axis=0), axis=1)) if len(points) > 1 else 0
        )
        if np.sum(counts * spacing >= 2.0) > 1:
            swaps += 1
        for v in vessels:
            claimed[curves.names[v]].append(points[hit["vessel"] == v])
    distances = np.concatenate(all_distances) if all_distances else np.array([np.inf])
    errors = np.concatenate(radius_errors) if radius_errors else np.array([np.inf])
    coverage = {}
    for vessel, name in zip(curves.vessels, curves.names, strict=True):
        # An artery is only visible (and only has to be covered) where it is patent.
        true_points = curves.points(name)[np.asarray(vessel.get("patent", True), dtype=bool)]
        if len(true_points) == 0:
            continue
        if not claimed[name]:
            coverage[name] = 0.0
            continue
        gap, _ = cKDTree(np.concatenate(claimed[name])).query(true_points)
        coverage[name] = float(np.mean(gap <= covered_within_mm))
    return {
        "mean_mm": float(np.mean(distances)),
        "p95_mm": float(np.percentile(distances, 95)),
        "max_mm": float(np.max(distances)),
        "radius_median_error_mm": float(np.median(np.abs(errors))),
        "radius_bias_mm": float(np.median(errors)),
        "coverage": min(coverage.values()) if coverage else 0.0,
        "coverage_by_vessel": coverage,
        "swaps": swaps,
    }


def score_crossing(truth: dict, artery_point_mm, vein_point_mm, distance_mm: float) -> dict:
    """Judge a chosen crossing site the way a clinician would, against the truth.

    Distances along paired vessels change slowly, so a site is judged by how
    much longer its true distance is than the best one ("regret"), not by how
    far it lies from the truth's site.

    Returns
    -------
    dict
        ``artery``, ``vein`` (true vessels the points lie nearest to),
        ``artery_offset_mm``, ``vein_offset_mm`` (distance to those axes),
        ``eligible`` (the artery point's true sample is eligible),
        ``true_distance_mm`` (from the artery point's projection on its true
        axis to that vein's true axis), ``regret_mm`` (``true_distance_mm``
        minus the truth's crossing distance), ``distance_error_mm`` (reported
        minus true distance) and ``right`` (same vessels as the truth's
        crossing or one of its ``ties``, offsets <= 1 and 1.25 mm, eligible,
        regret <= 0.3 mm).
    """
    arteries, veins = TruthCurves(truth, "artery"), TruthCurves(truth, "vein")
    on_artery = arteries.project(np.asarray([artery_point_mm], dtype=np.float64))
    on_vein = veins.project(np.asarray([vein_point_mm], dtype=np.float64))
    artery = arteries.vessels[on_artery["vessel"][0]]
    vein_index = on_vein["vessel"][0]
    foot = on_artery["point_mm"][0]
    the_vein = TruthCurves({"vessels": [veins.vessels[vein_index]]})
    true_distance = float(the_vein.project(foot[None])["distance_mm"][0])
    crossing = truth.get("crossing")
    regret = None if crossing is None else true_distance - crossing["distance_mm"]
    result = {
        "artery": artery["name"],
        "vein": veins.names[vein_index],
        "artery_offset_mm": float(on_artery["distance_mm"][0]),
        "vein_offset_mm": float(on_vein["distance_mm"][0]),
        "eligible": bool(artery["eligible"][on_artery["sample"][0]]),
        "true_distance_mm": true_distance,
        "regret_mm": regret,
        "distance_error_mm": float(distance_mm) - true_distance,
    }
    result["right"] = bool(
        crossing is not None
        and (result["artery"], result["vein"]) in _right_pairs(truth)
        and result["artery_offset_mm"] <= 1.0
        and result["vein_offset_mm"] <= 1.25
        and result["eligible"]
        and regret <= 0.3
    )
    return result


def _right_pairs(truth: dict) -> set[tuple[str, str]]:
    """The truth's crossing's artery-vein pair and the pairs tied with it (within
    ``phantoms.truth.TIE_MM``; truths written before ties were kept have none)."""
    pairs = {(truth["crossing"]["artery"], truth["crossing"]["vein"])}
    return pairs | {(t["artery"], t["vein"]) for t in truth.get("ties") or []}


def patent_end_errors_mm(truth: dict, distal_points_mm: np.ndarray) -> dict[str, float]:
    """How far, along z, each artery's found patent end lies from the true one.

    Parameters
    ----------
    truth : dict
        The phantom's truth document.
    distal_points_mm : numpy.ndarray, shape (n, 3)
        Distal end points of the extracted artery centrelines.

    Returns
    -------
    dict
        Per true artery whose contrast stops inside the volume (not at its
        border), the height difference (mm) to the nearest extracted distal end
        (infinite when none lies within 10 mm in the axial plane).
    """
    errors = {}
    distal_points_mm = np.asarray(distal_points_mm, dtype=np.float64).reshape(-1, 3)
    for vessel in truth["vessels"]:
        end = vessel.get("patent_end_mm")
        if end is None or end == vessel["points_mm"][-1]:
            continue  # occluded throughout, or patent to the volume's border
        axial = np.linalg.norm(distal_points_mm[:, :2] - np.asarray(end[:2]), axis=1)
        near = distal_points_mm[axial <= 10.0]
        errors[vessel["name"]] = float(np.min(np.abs(near[:, 2] - end[2]))) if len(near) else np.inf
    return errors


def true_path_length_mm(truth: dict, vein_point_mm) -> float:
    """Length along the true vein from (the projection of) `vein_point_mm` down to
    the vein's distal end in the volume: the stent path a site really needs."""
    veins = TruthCurves(truth, "vein")
    hit = veins.project(np.asarray([vein_point_mm], dtype=np.float64))
    vessel = veins.vessels[hit["vessel"][0]]
    points, arc = np.asarray(vessel["points_mm"]), np.asarray(vessel["arc_mm"])
    sample = hit["sample"][0]
    # The foot lies on the segment before or after the nearest sample.
    along = arc[sample] + (hit["point_mm"][0] - points[sample]) @ (
        (points[min(sample + 1, len(points) - 1)] - points[max(sample - 1, 0)])
        / max(arc[min(sample + 1, len(arc) - 1)] - arc[max(sample - 1, 0)], 1e-12)
    )
    return float(arc[-1] - along)
