"""Eligible artery-to-vein crossings under the contract's rules, ranked.

For every patent artery and every vein, the kernels give each artery segment
its nearest vein segment (exact segment-to-segment distance): a site. Sites
within reach are the candidates; the nearest eligible site at any distance is
`nearest_mm`, so both follow one set of rules. A site is eligible when its
artery point is farther than the calcium margin (along the artery) from
calcified wall and `patent_end_margin_mm` from where its contrast stops, both
lumens are wide enough, neither point sits within `edge_margin_mm` of where
its vessel leaves the volume, and the straight needle from the artery centreline
to the vein centreline crosses no bone and no other artery's lumen (voxel-exact
line of sight through the label map). The needle starts in an artery trunk
(`Centerline.kind`) the catheter reaches from above (`source_arteries`: from the
top of the volume, across gaps of at most `REJOIN_MM`); a side branch of an
artery (a muscular branch, or a spur of calcium's blur on its wall) or a lumen
isolated inside the volume is not where it runs. Veins are vein trunks. A side
branch is a target only when ``min_vein_mm`` is set (above 0), its lumen is at
least that wide at the site, and it drains on distally (into a vessel, or out of
the volume): the stent path must run from the crossing down to the ankle, and a
branch that ends in a dead end (a spur) leads nowhere. The crossing is the
eligible site with the smallest smoothed distance (below), and the others follow
in order of it, keeping one site per stretch of
`site_separation_mm` of each artery-vein pair.

Distances along paired vessels change slowly (a few mm along the vessel move
them by a tenth of a mm), so the minimum of raw centreline distances is
decided by sub-voxel wiggles of the centrelines, and biased low. Sites are
therefore ranked by the distance profile along the artery fitted, around each
point, by a quadratic over +-`profile_smoothing_mm` (Savitzky-Golay): the
wiggles average out, and a minimum keeps its depth, where a Gaussian would
raise sharp minima more than broad ones and so favour the wrong pair of
vessels. The distance reported is the centreline distance at the site (raw),
with the smoothed one beside it: a lower-ranked site can have the shorter raw
distance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal, spatial

from pdvaplan.centerlines import END_BORDER, END_JUNCTION, END_LUMEN, Centerline
from pdvaplan.kernels import NearestSegments, line_of_sight_lengths, nearest_segments_within
from pdvaplan.labels import BONE, METAL
from pdvaplan.planning.parameters import PlanParameters
from pdvaplan.planning.vessels import VesselMap

#: A reach beyond any distance in a leg (mm): every artery segment's nearest vein point.
_EVERYWHERE_MM = 1e6
#: Needles may graze bone or another artery by less than this (mm): rounding at voxel corners.
_GRAZE_MM = 1e-6
#: A trunk starting this close (mm) below a reached trunk's lower end is reached too: the
#: catheter crosses a focal stenosis or short occlusion whose lumen the image lost.
REJOIN_MM = 20.0


@dataclass(frozen=True)
class Candidate:
    """One crossing site: where the needle starts and ends, and what it meets."""

    artery: str
    vein: str
    artery_point_mm: np.ndarray
    vein_point_mm: np.ndarray
    artery_arc_mm: float
    vein_arc_mm: float
    distance_mm: float
    smoothed_distance_mm: float  # along the artery: what sites are ranked by
    artery_radius_mm: float
    vein_radius_mm: float
    needle_angle_deg: float
    calcium_distance_mm: float | None  # along the artery to the nearest calcified wall

    @property
    def gap_mm(self) -> float:
        """Lumen wall to lumen wall, along the needle."""
        return self.distance_mm - self.artery_radius_mm - self.vein_radius_mm


@dataclass(frozen=True)
class Search:
    """What the search found: ranked eligible sites, or why there are none."""

    candidates: tuple[Candidate, ...]  # best first; empty when infeasible
    nearest_mm: float | None  # smallest eligible centreline distance, within reach or not
    reason: str | None  # why nothing is feasible
    #: The best site within reach that keeps every rule but misses the calcium margin by
    #: less than `calcium_edge_mm` (where calcified wall ends is known to about that).
    calcium_edge: Candidate | None = None
    #: The best site, by every rule, on an artery trunk not reached from the top (its lumen
    #: starts more than `REJOIN_MM` from any reached trunk's end): a break in the lumen
    #: the image may have made (calcium blooming into it), which hides a better site.
    unreached: Candidate | None = None


def search_crossings(vessels: VesselMap, parameters: PlanParameters) -> Search:
    """All eligible crossings, best first, under `parameters`' rules.

    Parameters
    ----------
    vessels : VesselMap
        Arteries (patent lumen), veins, calcified wall, label map.
    parameters : PlanParameters
        Reach, calcium margin, minimum diameters, site separation.

    Returns
    -------
    Search
    """
    if not vessels.arteries:
        return Search((), None, "no patent (contrast-filled) artery was found")
    if not vessels.veins:
        return Search((), None, "no vein was found")
    nearest, any_within, sites = None, False, []
    veins = target_veins(vessels.veins, parameters)
    if not veins:
        return Search((), None, "no vein trunk was found (only side branches)")
    arteries = source_arteries(vessels.arteries)
    if not arteries:
        return Search(
            (),
            None,
            "no patent artery runs down from the top of the volume (the catheter's way in): "
            "the arteries found start inside it",
        )
    edge_margin_mm = parameters.calcium_margin_mm - calcium_edge_mm(vessels)
    edge_sites = []
    for artery in arteries:
        for vein in veins:
            # The same sites and rules give the candidates (within reach) and `nearest_mm`.
            found, eligible, edge, smoothed = _pair_sites(
                artery, vein, vessels, parameters, edge_margin_mm
            )
            if eligible.any():
                closest = float(found.distance_mm[eligible].min())
                nearest = closest if nearest is None else min(nearest, closest)
            within = found.distance_mm <= parameters.reach_mm
            any_within |= bool(within.any())
            sites += [
                _candidate(artery, vein, found, i, vessels, smoothed[i])
                for i in np.flatnonzero(within & eligible)
            ]
            edge_sites += [
                _candidate(artery, vein, found, i, vessels, smoothed[i])
                for i in np.flatnonzero(within & edge)
            ]
    if nearest is None and not any_within:
        return Search(
            (),
            None,
            "no patent artery point is eligible (calcium margin, minimum diameter, patent end "
            "or volume edge)",
        )
    if not any_within:
        return Search(
            (),
            nearest,
            f"no vein within reach: the nearest eligible vein is {nearest:.1f} mm from a patent "
            f"artery (reach {parameters.reach_mm:g} mm)",
        )
    if not sites:
        return Search(
            (),
            nearest,
            "every site within reach is too close to calcified wall "
            f"(margin {parameters.calcium_margin_mm:g} mm), too narrow, at the end of the patent "
            "lumen or at the edge of the volume",
        )
    clear = _needle_is_clear(sites, vessels)
    if not clear.any():
        return Search(
            (),
            nearest,
            "the needle path crosses bone or another artery at every eligible site within reach",
        )
    sites = [site for site, ok in zip(sites, clear, strict=True) if ok]
    ranked = _distinct_sites(sorted(sites, key=lambda s: s.smoothed_distance_mm), parameters)
    if edge_sites:
        clear_edge = _needle_is_clear(edge_sites, vessels)
        edge_sites = [s for s, ok in zip(edge_sites, clear_edge, strict=True) if ok]
    calcium_edge = min(edge_sites, key=lambda s: s.smoothed_distance_mm, default=None)
    unreached = _best_unreached_site(vessels, arteries, veins, parameters, edge_margin_mm)
    return Search(tuple(ranked), nearest, None, calcium_edge, unreached)


def _pair_sites(
    artery: Centerline,
    vein: Centerline,
    vessels: VesselMap,
    parameters: PlanParameters,
    edge_margin_mm: float,
):
    """An artery's nearest points on a vein, which keep every rule (``eligible``), which
    keep every rule but miss the calcium margin by less than its edge (``edge``), and the
    smoothed distance profile."""
    found = nearest_on_vein(artery, vein)
    other_rules = _keeps_other_rules(artery, vein, found, parameters)
    other_rules &= _off_the_junctions(vein, found.point_b_mm, vessels.veins)
    calcium = _calcium_distance_mm(vessels, artery.id, found.arc_a_mm)
    eligible = other_rules & (calcium > parameters.calcium_margin_mm)
    edge = other_rules & (calcium > edge_margin_mm) & ~eligible
    smoothed = _smoothed_profile(found.distance_mm, artery, parameters.profile_smoothing_mm)
    return found, eligible, edge, smoothed


def _best_unreached_site(
    vessels: VesselMap,
    reached: list[Centerline],
    veins: list[Centerline],
    parameters: PlanParameters,
    edge_margin_mm: float,
) -> Candidate | None:
    """The best site within reach, by every rule and a clear needle, on the artery trunks
    not in `reached` (None: none)."""
    reached_ids = {artery.id for artery in reached}
    sites = []
    for artery in vessels.arteries:
        if artery.kind != "trunk" or artery.id in reached_ids:
            continue
        for vein in veins:
            found, eligible, _, smoothed = _pair_sites(
                artery, vein, vessels, parameters, edge_margin_mm
            )
            within = eligible & (found.distance_mm <= parameters.reach_mm)
            sites += [
                _candidate(artery, vein, found, i, vessels, smoothed[i])
                for i in np.flatnonzero(within)
            ]
    if sites:
        sites = [s for s, ok in zip(sites, _needle_is_clear(sites, vessels), strict=True) if ok]
    return min(sites, key=lambda s: s.smoothed_distance_mm, default=None)


def calcium_edge_mm(vessels: VesselMap) -> float:
    """How well the end of a calcified stretch is known along an artery: one voxel (the
    label map's largest spacing). Calcium blooms, and a voxel holding any of it counts
    whole (`pdvaplan.planning.vessels`), so the stretch's ends may lie that much off."""
    return float(vessels.labels.spacing_mm.max())


def source_arteries(arteries: tuple[Centerline, ...]) -> list[Centerline]:
    """The arteries a crossing may start in: trunks the catheter reaches from above.

    The catheter comes down the artery's lumen from the top of the volume: a
    trunk whose upper end is the volume's border is reached, and so is one that
    starts within `REJOIN_MM` below the lower end of a reached trunk (a focal
    stenosis or a short occlusion whose lumen the image lost, which the catheter
    crosses). A lumen starting farther from any (a segment refilled by
    collaterals, or calcium's blur on an occluded artery that passed for lumen)
    is not.

    Examples
    --------
    >>> from pdvaplan.centerlines import Centerline
    >>> def line(top, bottom, proximal_end):
    ...     z = np.linspace(top, bottom, 5)
    ...     points = np.column_stack([np.zeros(5), np.zeros(5), z])
    ...     return Centerline(f"artery-{top:g}", points, np.ones(5), proximal_end, END_LUMEN)
    >>> reached = line(300.0, 200.0, END_BORDER)
    >>> after_a_stenosis = line(190.0, 100.0, END_LUMEN)
    >>> isolated = line(60.0, 20.0, END_LUMEN)
    >>> [a.id for a in source_arteries((reached, after_a_stenosis, isolated))]
    ['artery-300', 'artery-190']
    """
    trunks = [a for a in arteries if a.kind == "trunk"]
    reached = [a for a in trunks if a.proximal_end == END_BORDER]
    waiting = [a for a in trunks if a.proximal_end != END_BORDER]
    while waiting:
        ends = np.array([a.points_mm[-1] for a in reached]).reshape(-1, 3)
        joined = [
            a
            for a in waiting
            if len(ends)
            and np.min(np.linalg.norm(ends - a.points_mm[0], axis=1)) <= REJOIN_MM
            and a.points_mm[0][2] <= ends[:, 2].max()
        ]
        if not joined:
            break
        reached += joined
        waiting = [a for a in waiting if a not in joined]
    return [a for a in trunks if a in reached]


def target_veins(veins: tuple[Centerline, ...], parameters: PlanParameters) -> list[Centerline]:
    """The veins a crossing may target: the trunks, and side branches that drain
    on distally (their distal end a junction or the volume's border, not a dead
    end) when ``parameters.min_vein_mm`` is above 0 (its diameter rule then
    judges them).

    Parameters
    ----------
    veins : tuple of Centerline
    parameters : PlanParameters

    Returns
    -------
    list of Centerline
    """
    return [
        v
        for v in veins
        if v.kind == "trunk"
        or (parameters.min_vein_mm > 0 and v.distal_end in (END_JUNCTION, END_BORDER))
    ]


def _smoothed_profile(
    distance_mm: np.ndarray, artery: Centerline, half_width_mm: float
) -> np.ndarray:
    """The distance profile along the artery, each point replaced by a quadratic
    fitted over +-`half_width_mm` around it (Savitzky-Golay)."""
    n = len(distance_mm)
    step_mm = float(np.median(np.diff(artery.arc_mm)))
    if half_width_mm <= 0 or not step_mm > 0:
        return distance_mm
    window = min(2 * round(half_width_mm / step_mm) + 1, n - 1 + n % 2)  # odd, <= n
    if window < 3:
        return distance_mm
    return signal.savgol_filter(distance_mm, window, 2, mode="interp")


def _candidate(
    artery: Centerline, vein: Centerline, found, i: int, vessels, smoothed_distance_mm: float
) -> Candidate:
    arc_a, arc_v = float(found.arc_a_mm[i]), float(found.arc_b_mm[i])
    point_a, point_v = found.point_a_mm[i], found.point_b_mm[i]
    needle = point_v - point_a
    length = float(found.distance_mm[i])
    tangent = artery.points_mm[i + 1] - artery.points_mm[i]
    cosine = abs(needle @ tangent) / max(length * np.linalg.norm(tangent), 1e-12)
    calcium = float(_calcium_distance_mm(vessels, artery.id, np.array([arc_a]))[0])
    return Candidate(
        artery=artery.id,
        vein=vein.id,
        artery_point_mm=point_a,
        vein_point_mm=point_v,
        artery_arc_mm=arc_a,
        vein_arc_mm=arc_v,
        distance_mm=length,
        smoothed_distance_mm=float(smoothed_distance_mm),
        artery_radius_mm=float(np.interp(arc_a, artery.arc_mm, artery.radii_mm)),
        vein_radius_mm=float(np.interp(arc_v, vein.arc_mm, vein.radii_mm)),
        needle_angle_deg=float(np.degrees(np.arccos(min(1.0, cosine)))),
        calcium_distance_mm=calcium if np.isfinite(calcium) else None,
    )


def nearest_on_vein(artery: Centerline, vein: Centerline) -> NearestSegments:
    """Every artery segment's nearest vein point, at any distance: the sites of a pair."""
    return nearest_segments_within(artery.points_mm, vein.points_mm, _EVERYWHERE_MM)


def _keeps_other_rules(
    artery: Centerline, vein: Centerline, found: NearestSegments, parameters: PlanParameters
) -> np.ndarray:
    """Whether each site (an artery segment's nearest vein point) keeps the rules other
    than the calcium margin: away from where the artery's contrast stops, both lumens
    wide enough, both points away from where their vessels leave the volume. The needle
    is checked later."""
    artery_radius = np.interp(found.arc_a_mm, artery.arc_mm, artery.radii_mm)
    vein_radius = np.interp(found.arc_b_mm, vein.arc_mm, vein.radii_mm)
    return (
        (2 * artery_radius >= parameters.min_artery_mm)
        & (2 * vein_radius >= parameters.min_vein_mm)
        & _away_from_ends(artery, found.arc_a_mm, END_BORDER, parameters.edge_margin_mm)
        & _away_from_ends(vein, found.arc_b_mm, END_BORDER, parameters.edge_margin_mm)
        & _away_from_ends(artery, found.arc_a_mm, END_LUMEN, parameters.patent_end_margin_mm)
    )


def _off_the_junctions(
    vein: Centerline, points_mm: np.ndarray, veins: tuple[Centerline, ...]
) -> np.ndarray:
    """Whether each point of a side branch lies outside the lumen of a vein it joins.

    A branch's axis runs on through the other vein's lumen to the junction on
    that vein's axis; a site there is the other vein's own, not the branch's.
    Trunks keep every point.
    """
    keep = np.ones(len(points_mm), dtype=bool)
    others = [v for v in veins if v.id != vein.id]
    if vein.kind == "trunk" or not others:
        return keep
    for kind, end_point in (
        (vein.proximal_end, vein.points_mm[0]),
        (vein.distal_end, vein.points_mm[-1]),
    ):
        if kind != END_JUNCTION:
            continue
        joined = min(others, key=lambda v: np.linalg.norm(v.points_mm - end_point, axis=1).min())
        distance_mm, nearest = spatial.cKDTree(joined.points_mm).query(points_mm)
        keep &= distance_mm > joined.radii_mm[nearest]
    return keep


def _away_from_ends(
    line: Centerline, arc_mm: np.ndarray, kind: str, margin_mm: float
) -> np.ndarray:
    """Whether points lie farther than `margin_mm` (along the line) from its ends of
    one `kind`: where it leaves the volume (the border cuts the lumen, and the
    site beyond cannot be seen), or where its lumen stops (an artery's contrast)."""
    near_top = (line.proximal_end == kind) & (arc_mm < margin_mm)
    near_bottom = (line.distal_end == kind) & (arc_mm > line.length_mm - margin_mm)
    return ~(near_top | near_bottom)


def _calcium_distance_mm(vessels: VesselMap, artery_id: str, arc_mm: np.ndarray) -> np.ndarray:
    """Distance along the artery from each arc position to calcified wall (inf: none)."""
    stretches = vessels.calcified_stretches_mm.get(artery_id, np.zeros((0, 2)))
    if len(stretches) == 0:
        return np.full(len(arc_mm), np.inf)
    arc = np.asarray(arc_mm)[:, None]
    beyond = np.maximum(stretches[None, :, 0] - arc, arc - stretches[None, :, 1])
    return np.min(np.maximum(beyond, 0.0), axis=1)


def _needle_is_clear(sites: list[Candidate], vessels: VesselMap) -> np.ndarray:
    """Whether each needle avoids bone, metal and the lumens of arteries other than its
    own."""
    starts = np.array([s.artery_point_mm for s in sites])
    ends = np.array([s.vein_point_mm for s in sites])
    # Only the voxels the needles can cross: the box around them (plus a voxel).
    corners = vessels.labels.physical_to_index(np.vstack([starts, ends]))
    lower = np.floor(corners.min(axis=0)).astype(int) - 1
    upper = np.ceil(corners.max(axis=0)).astype(int) + 2
    labels = vessels.labels.crop(lower, upper)
    components = vessels.artery_components.crop(lower, upper).array
    offset = BONE + 1  # artery components get their own label values above the contract's
    obstacle = np.isin(labels.array, (BONE, METAL))
    needle_labels = np.where(components > 0, components + offset, np.where(obstacle, BONE, 0))
    needle_labels = needle_labels.astype(np.int32)
    lengths = line_of_sight_lengths(
        starts,
        ends,
        needle_labels,
        labels.origin_mm,
        labels.spacing_mm,
        labels.direction,
        n_labels=int(components.max()) + offset + 1,
    ).length_mm
    own = np.array([vessels.component_of[s.artery] + offset for s in sites])
    other_artery = lengths[:, offset + 1 :].sum(axis=1) - np.where(
        own > offset, lengths[np.arange(len(sites)), own], 0.0
    )
    return (lengths[:, BONE] <= _GRAZE_MM) & (other_artery <= _GRAZE_MM)


def _distinct_sites(sites: list[Candidate], parameters: PlanParameters) -> list[Candidate]:
    """The best site of each stretch of each artery-vein pair, best first, at most
    `max_candidates` of them."""
    kept: list[Candidate] = []
    for site in sites:
        if all(
            (other.artery, other.vein) != (site.artery, site.vein)
            or abs(other.artery_arc_mm - site.artery_arc_mm) >= parameters.site_separation_mm
            for other in kept
        ):
            kept.append(site)
            if len(kept) == parameters.max_candidates:
                break
    return kept
