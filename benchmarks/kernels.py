"""Distance kernels against the KD-tree libraries, with exact segment distances on both sides.

Run from the repository root::

    python -m benchmarks.kernels [--sizes 1000 10000 100000 1000000] [--quick]
                                 [--no-first-call]

Prints markdown tables and writes them to ``benchmarks/results/kernels.md``
(about 30 min on 2 cores), with the targets judged from the measured ratios.

Every library route returns the same answer as the kernel (checked): a KD-tree
over the vertices finds candidate vertex pairs within a radius that provably
holds every segment pair that matters (reach or current best plus half the
longest segment on each side), then NumPy computes exact segment-to-segment
distances on the candidates. Brute-force NumPy evaluates all segment pairs and
runs only where that fits. Times include building the trees, best of several
repeats after a warm-up; a library route is dropped at the next size once one
call takes over `LIBRARY_BUDGET_S`. Peak memory is the high-water mark of resident memory
above the level before the call, in a fresh process per measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import numba
import numpy as np
from pykdtree.kdtree import KDTree
from scipy.spatial import cKDTree

from benchmarks import kernels_first_call
from benchmarks.machine import machine_note
from pdvaplan.kernels import (
    closest_approach,
    distance_profile,
    line_of_sight_lengths,
    nearest_segments_within,
    segment_pairs_within,
)
from pdvaplan.kernels._threads import PARALLEL_MIN_ITEMS
from pdvaplan.kernels.polyline_closest import PARALLEL_BUILD_MIN_POINTS

RESULTS = Path(__file__).parent / "results" / "kernels.md"
REACH_MM = 10.0
SAME_MM = 1e-9
#: Largest number of segment pairs brute-force NumPy is asked to evaluate.
BRUTE_MAX_PAIRS = 2_000_000
#: Largest expected number of vertex pairs within reach for the all-pairs runs.
PAIRS_MAX = 30_000_000
CHUNK = 1_000_000


# Inputs.


def parallel_vessels(n: int) -> tuple[np.ndarray, np.ndarray]:
    """An artery meandering along 330 mm and a vein 4 to 8 mm from it, N points each."""
    u = np.linspace(0.0, 330.0, n)
    artery = np.column_stack(
        [
            3 * np.sin(2 * np.pi * u / 80) + 2 * np.sin(2 * np.pi * u / 23 + 1),
            2 * np.cos(2 * np.pi * u / 57),
            u,
        ]
    )
    tangent = np.gradient(artery, axis=0)
    normal = np.cross(tangent, [1.0, 0.3, 0.0])
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    binormal = np.cross(tangent / np.linalg.norm(tangent, axis=1, keepdims=True), normal)
    separation = 6 + 2 * np.sin(2 * np.pi * u / 110)
    turn = u / 60
    offset = np.cos(turn)[:, None] * normal + np.sin(turn)[:, None] * binormal
    vein = artery + separation[:, None] * offset
    return artery, vein


def random_walks(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two persistent random walks of N steps of 0.33 mm starting 6 mm apart."""
    rng = np.random.default_rng(seed)
    walks = []
    for start in ([0.0, 0.0, 0.0], [6.0, 0.0, 0.0]):
        heading = np.cumsum(rng.normal(size=(n + 20, 3)), axis=0)
        heading = heading[20:] - heading[:-20]  # smooth: a 20-step moving sum
        heading /= np.linalg.norm(heading, axis=1, keepdims=True)
        walks.append(np.asarray(start) + np.cumsum(0.33 * heading, axis=0))
    return walks[0], walks[1]


CASES = {"parallel": parallel_vessels, "walk": random_walks}


# NumPy exact distances (the refinement step of every library route).


def _dot(u, v):
    return np.einsum("ij,ij->i", u, v)


def _point_segment_d2(p, q0, d, dd):
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.clip(np.where(dd > 0, _dot(p - q0, d) / dd, 0.0), 0.0, 1.0)
    gap = q0 + t[:, None] * d - p
    return _dot(gap, gap)


def exact_distances(a0, a1, b0, b1) -> np.ndarray:
    """Exact distances between segments a0->a1 and b0->b1 (arrays (P, 3)), in chunks."""
    out = np.empty(len(a0))
    for start in range(0, len(a0), CHUNK):
        part = slice(start, start + CHUNK)
        p0, p1, q0, q1 = a0[part], a1[part], b0[part], b1[part]
        u, v, w = p1 - p0, q1 - q0, p0 - q0
        uu, vv, uv, uw, vw = _dot(u, u), _dot(v, v), _dot(u, v), _dot(u, w), _dot(v, w)
        best = np.minimum.reduce(
            [
                _point_segment_d2(p0, q0, v, vv),
                _point_segment_d2(p1, q0, v, vv),
                _point_segment_d2(q0, p0, u, uu),
                _point_segment_d2(q1, p0, u, uu),
            ]
        )
        det = uu * vv - uv * uv
        with np.errstate(invalid="ignore", divide="ignore"):
            s = (uv * vw - vv * uw) / det
            t = (uu * vw - uv * uw) / det
        inside = (det > 0) & (s > 0) & (s < 1) & (t > 0) & (t < 1)
        if inside.any():
            g = w[inside] + s[inside, None] * u[inside] - t[inside, None] * v[inside]
            best[inside] = np.minimum(best[inside], _dot(g, g))
        out[part] = np.sqrt(best)
    return out


def segment_candidates(u, v, n_a_segments, n_b_segments):
    """Segment pairs touching vertex pairs (u, v): segments u-1, u of A times v-1, v of B."""
    i = np.concatenate([u - 1, u - 1, u, u])
    j = np.concatenate([v - 1, v, v - 1, v])
    keep = (i >= 0) & (i < n_a_segments) & (j >= 0) & (j < n_b_segments)
    key = np.unique(i[keep] * n_b_segments + j[keep])
    return key // n_b_segments, key % n_b_segments


def max_segment_mm(points):
    return float(np.linalg.norm(np.diff(points, axis=0), axis=1).max())


# KD-tree ball searches returning vertex pairs (query index, tree index).


def ckdtree_ball(tree: cKDTree, queries, radius):
    lists = tree.query_ball_point(queries, radius, workers=-1, return_sorted=False)
    counts = np.fromiter((len(x) for x in lists), dtype=np.int64, count=len(lists))
    u = np.repeat(np.arange(len(queries)), counts)
    v = np.concatenate(lists).astype(np.int64) if counts.sum() else np.zeros(0, np.int64)
    return u, v


def pykdtree_ball(tree: KDTree, queries, radius):
    """Ball search with pykdtree, which only answers k-nearest: double k until all fit."""
    radius = np.broadcast_to(np.asarray(radius, dtype=np.float64), (len(queries),))
    todo = np.arange(len(queries))
    found_u, found_v = [], []
    k = 16
    while len(todo):
        k = min(k, tree.n)
        d, idx = tree.query(queries[todo], k=k, distance_upper_bound=float(radius[todo].max()))
        d = d.reshape(len(todo), k)
        idx = idx.reshape(len(todo), k).astype(np.int64)
        inside = d <= radius[todo, None]
        full = inside[:, -1] & (k < tree.n)
        done = ~full
        rows, cols = np.nonzero(inside[done])
        found_u.append(todo[done][rows])
        found_v.append(idx[done][rows, cols])
        todo = todo[full]
        k *= 4
    return np.concatenate(found_u), np.concatenate(found_v)


BALLS = {
    "cKDTree": (lambda points: cKDTree(points), ckdtree_ball),
    "pykdtree": (lambda points: KDTree(points), pykdtree_ball),
}


def nearest_vertex_mm(tree, route, queries):
    if route == "cKDTree":
        return tree.query(queries, k=1, workers=-1)[0]
    return tree.query(queries, k=1)[0]  # pykdtree: OpenMP, every core


# Library routes, one per kernel; each returns the kernel's answer.


def closest_library(route, a, b):
    build, ball = BALLS[route]
    tree = build(b)
    slack = (max_segment_mm(a) + max_segment_mm(b)) / 2
    radius = nearest_vertex_mm(tree, route, a).min() + slack
    u, v = ball(tree, a, radius * (1 + 1e-12))
    i, j = segment_candidates(u, v, len(a) - 1, len(b) - 1)
    d = exact_distances(a[i], a[i + 1], b[j], b[j + 1])
    best = np.argmin(d)
    return float(d[best])


def pairs_library(route, a, b):
    build, ball = BALLS[route]
    tree = build(b)
    radius = REACH_MM + (max_segment_mm(a) + max_segment_mm(b)) / 2
    u, v = ball(tree, a, radius * (1 + 1e-12))
    i, j = segment_candidates(u, v, len(a) - 1, len(b) - 1)
    d = exact_distances(a[i], a[i + 1], b[j], b[j + 1])
    keep = d <= REACH_MM
    return i[keep], j[keep], d[keep]


def nearest_library(route, a, b, reach_mm=REACH_MM):
    build, ball = BALLS[route]
    tree = build(b)
    middle = (a[:-1] + a[1:]) / 2
    half_a = np.linalg.norm(np.diff(a, axis=0), axis=1) / 2
    reach_vertex = np.minimum(nearest_vertex_mm(tree, route, middle), reach_mm)
    u, v = ball(tree, middle, (reach_vertex + half_a + max_segment_mm(b) / 2) * (1 + 1e-12))
    i = np.concatenate([u, u])
    j = np.concatenate([v - 1, v])
    keep = (j >= 0) & (j < len(b) - 1)
    key = np.unique(i[keep] * (len(b) - 1) + j[keep])
    i, j = key // (len(b) - 1), key % (len(b) - 1)
    d = exact_distances(a[i], a[i + 1], b[j], b[j + 1])
    within = d <= reach_mm
    i, j, d = i[within], j[within], d[within]
    order = np.lexsort((j, d, i))
    first = order[np.r_[True, i[order][1:] != i[order][:-1]]] if len(order) else order
    segment_b = np.full(len(a) - 1, -1)
    distance = np.full(len(a) - 1, np.nan)
    segment_b[i[first]] = j[first]
    distance[i[first]] = d[first]
    return segment_b, distance


def profile_library(route, a, b):
    build, ball = BALLS[route]
    tree = build(b)
    radius = nearest_vertex_mm(tree, route, a) + max_segment_mm(b) / 2
    u, v = ball(tree, a, radius * (1 + 1e-12))
    j = np.concatenate([v - 1, v])
    i = np.concatenate([u, u])
    keep = (j >= 0) & (j < len(b) - 1)
    i, j = i[keep], j[keep]
    d = exact_distances(a[i], a[i], b[j], b[j + 1])
    distance = np.full(len(a), np.inf)
    np.minimum.at(distance, i, d)
    return distance


def brute_all(a, b):
    i, j = np.divmod(np.arange((len(a) - 1) * (len(b) - 1)), len(b) - 1)
    return i, j, exact_distances(a[i], a[i + 1], b[j], b[j + 1])


def closest_brute(a, b):
    return float(brute_all(a, b)[2].min())


def pairs_brute(a, b):
    i, j, d = brute_all(a, b)
    keep = d <= REACH_MM
    return i[keep], j[keep], d[keep]


def nearest_brute(a, b, reach_mm=REACH_MM):
    d = brute_all(a, b)[2]
    d = np.where(d <= reach_mm, d, np.inf).reshape(len(a) - 1, len(b) - 1)
    segment_b = np.argmin(d, axis=1)
    distance = d[np.arange(len(a) - 1), segment_b]
    return np.where(np.isfinite(distance), segment_b, -1), np.where(
        np.isfinite(distance), distance, np.nan
    )


def profile_brute(a, b):
    i, j = np.divmod(np.arange(len(a) * (len(b) - 1)), len(b) - 1)
    return exact_distances(a[i], a[i], b[j], b[j + 1]).reshape(len(a), -1).min(axis=1)


# The kernels, in the same shape of answer.


def closest_ours(a, b):
    return closest_approach(a, b).distance_mm


def pairs_ours(a, b):
    pairs = segment_pairs_within(a, b, REACH_MM)
    return pairs.segment_a, pairs.segment_b, pairs.distance_mm


def nearest_ours(a, b, reach_mm=REACH_MM):
    near = nearest_segments_within(a, b, reach_mm)
    return near.segment_b, near.distance_mm


def profile_ours(a, b):
    return distance_profile(a, b).distance_mm


def same_closest(x, y):
    return abs(x - y) <= SAME_MM


def same_pairs(x, y):
    key_x = x[0] * (1 << 32) + x[1]
    key_y = y[0] * (1 << 32) + y[1]
    order_x, order_y = np.argsort(key_x), np.argsort(key_y)
    if not np.array_equal(key_x[order_x], key_y[order_y]):
        return False
    return bool(np.all(np.abs(x[2][order_x] - y[2][order_y]) <= SAME_MM))


def same_nearest(x, y):
    has = x[0] >= 0
    if not np.array_equal(has, y[0] >= 0):
        return False
    return bool(np.all(np.abs(x[1][has] - y[1][has]) <= SAME_MM))


def same_profile(x, y):
    return bool(np.all(np.abs(x - y) <= SAME_MM))


KERNELS = {
    "closest approach": (closest_ours, closest_library, closest_brute, same_closest),
    "pairs within 10 mm": (pairs_ours, pairs_library, pairs_brute, same_pairs),
    "nearest within 10 mm": (nearest_ours, nearest_library, nearest_brute, same_nearest),
    "distance profile": (profile_ours, profile_library, profile_brute, same_profile),
}


def route_function(kernel: str, route: str):
    ours, library, brute, _ = KERNELS[kernel]
    if route == "ours":
        return ours
    if route == "brute":
        return brute
    return lambda a, b: library(route, a, b)


#: A library route whose run at the previous size took longer than this (s) is
#: not run at the next size (10x the points: its time grows at least as fast).
LIBRARY_BUDGET_S = 1.5
#: A route's timed calls stop short of its repeats where they would take longer than this.
LONG_CALLS_S = 10.0


def skip_reason(kernel: str, route: str, case: str, n: int, previous: dict) -> str | None:
    """Why a route is not run for this case and size, or None.

    `previous` holds each route's time (s) at the previous size of the same
    kernel and case.
    """
    n_pairs_brute = (n - 1) ** 2
    if route == "brute" and n_pairs_brute > BRUTE_MAX_PAIRS:
        return "too big"
    if kernel == "pairs within 10 mm" and case == "parallel" and 0.045 * n * n > PAIRS_MAX:
        return f"~{0.045 * n * n:.0e} pairs"
    if route != "ours" and n > 10_000 and kernel in ("nearest within 10 mm", "distance profile"):
        # Exact refinement must search a shell of candidates around every query
        # point: 0.7-1 s per call at 1e4, and no run at 1e5 finished in 15 min
        # on a loaded machine.
        return "slow"
    if route in ("cKDTree", "pykdtree") and previous.get(route, 0.0) > LIBRARY_BUDGET_S:
        return f"slow: {previous[route]:.1f} s at N/10"
    return None


def best_time(function, a, b, repeats):
    """Best of `repeats` timed calls after a warm-up; fewer (at least 2) where they
    would take over `LONG_CALLS_S` in all."""
    start = time.perf_counter()
    answer = function(a, b)  # warm-up (and compilation)
    warm_up = time.perf_counter() - start
    times = []
    for _ in range(max(2, min(repeats, int(LONG_CALLS_S / max(warm_up, 1e-9))))):
        start = time.perf_counter()
        answer = function(a, b)
        times.append(time.perf_counter() - start)
    return min(times), answer


def best_time_threads(function, a, b, repeats):
    """Best times on 2 and on 1 thread, the two interleaved so that both see the same load.

    Returns ``(two_threads_s, one_thread_s, answer)``.
    """
    answer = function(a, b)  # warm-up (and compilation)
    numba.set_num_threads(1)
    function(a, b)
    times = {1: [], 2: []}
    for _ in range(repeats):
        for threads in (2, 1):
            numba.set_num_threads(threads)
            start = time.perf_counter()
            function(a, b)
            times[threads].append(time.perf_counter() - start)
    numba.set_num_threads(2)
    return min(times[2]), min(times[1]), answer


# What `pdvaplan plan` runs: every artery's nearest vein segment at any distance.


def planner_call_rows(repeats: int) -> list[str]:
    """The planner's own kernel call (`candidates.nearest_on_vein`: `nearest_segments_within`
    at any distance) on a leg's centrelines, for every artery-vein pair, against the
    library routes and brute force asked the same question.

    The leg is the ``basic`` phantom's, as `plan_from_labels` extracts it (a point every
    0.5 mm). Times are for all pairs together, best of `repeats` after a warm-up.
    """
    from pdvaplan.planning import plan_from_labels
    from pdvaplan.planning.candidates import nearest_on_vein
    from phantoms import make_phantom

    vessels = plan_from_labels(make_phantom("basic").labels).vessels
    pairs = [(a, v) for a in vessels.arteries for v in vessels.veins]
    everywhere_mm = float("inf")

    def ours(_a, _b):
        return [(n.segment_b, n.distance_mm) for n in (nearest_on_vein(a, v) for a, v in pairs)]

    def peer(route):
        nearest = nearest_brute if route == "brute" else partial(nearest_library, route)

        def call(_a, _b):
            return [nearest(a.points_mm, v.points_mm, reach_mm=everywhere_mm) for a, v in pairs]

        return call

    two, one, answer = best_time_threads(ours, None, None, repeats)
    cells, best = [], None
    for route in ("cKDTree", "pykdtree", "brute"):
        seconds, theirs = best_time(peer(route), None, None, repeats)
        agree = all(same_nearest(x, y) for x, y in zip(answer, theirs, strict=True))
        cells.append(_ms(seconds) + ("" if agree else " (differs)"))
        if agree and (best is None or seconds < best[1]):
            best = (route, seconds)
    points = [len(line.points_mm) for line in (*vessels.arteries, *vessels.veins)]
    return [
        "| artery-vein pairs | points per centreline | ours 2 thr (ms) | ours 1 thr (ms) "
        "| cKDTree route (ms) | pykdtree route (ms) | brute NumPy (ms) | best peer / ours "
        "(2 thr, 1 thr) |",
        "|---|---|---|---|---|---|---|---|",
        f"| {len(pairs)} | {min(points)}-{max(points)} | {_ms(two)} | {_ms(one)} | "
        + " | ".join(cells)
        + (
            " | —"
            if best is None
            else f" | {best[1] / two:.1f}x, {best[1] / one:.1f}x ({best[0]}) |"
        ),
    ]


# Line of sight: many needles through a label volume (no library peer).


def needle_volume():
    shape = (256, 256, 200)
    index = np.indices(shape, dtype=np.float32)
    labels = np.zeros(shape, dtype=np.uint8)
    for label, centre in ((1, (100, 128)), (2, (140, 128))):
        inside = (index[0] - centre[0]) ** 2 + (index[1] - centre[1]) ** 2 < 12**2
        labels[inside] = label
    frame = (np.array([-50.0, -40.0, 10.0]), np.array([0.4, 0.4, 1.5]), np.diag([-1.0, -1.0, 1.0]))
    return labels, frame


def needles(k: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    starts = rng.uniform([-140, -130, 20], [-50, -40, 300], size=(k, 3))
    heading = rng.normal(size=(k, 3))
    heading /= np.linalg.norm(heading, axis=1, keepdims=True)
    return starts, starts + 10.0 * heading


def run_line_of_sight(k: int):
    labels, frame = needle_volume()
    starts, ends = needles(k)
    return lambda: line_of_sight_lengths(starts, ends, labels, *frame, n_labels=3)


# Fresh-process measurements: peak memory.


def worker(kind: str, kernel: str, route: str, case: str, n: int) -> dict:
    """Run in a fresh process; report the peak extra memory of one call."""
    if kernel == "line of sight":
        function = run_line_of_sight(n)
        function()  # load the compiled code (serial or parallel path) outside the measurement
        call = lambda: function()  # noqa: E731
    else:
        a, b = CASES[case](n)
        function = route_function(kernel, route)
        if route == "ours":
            function(a, b)  # load the compiled code of this size's path
        else:
            function(a[:50], b[:50])
        call = lambda: function(a, b)  # noqa: E731
    rss_before = _status_kb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5", encoding="utf-8")  # reset the high-water mark
    call()
    return {"peak_mb": (_status_kb("VmHWM") - rss_before) / 1024}


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def in_fresh_process(kind, kernel, route, case, n) -> dict:
    arguments = [
        sys.executable,
        "-m",
        "benchmarks.kernels",
        "--worker",
        kind,
        kernel,
        route,
        case,
        str(n),
    ]
    done = subprocess.run(
        arguments,
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=False,
        cwd=Path(__file__).parent.parent,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1])
    return json.loads(done.stdout.strip().splitlines()[-1])


# The report.


def _ms(seconds):
    return "—" if seconds is None else f"{seconds * 1e3:.3g}"


#: The kernels with a speed target: at least 3x the best library route at 1e5
#: and never slower at any size.
TARGET_KERNELS = ("closest approach", "pairs within 10 mm")


#: Timed calls per route and size, the same for the kernels and their peers (best of them,
#: after one warm-up call).
REPEATS = {1_000: 15, 10_000: 9, 100_000: 7, 1_000_000: 3}


def benchmark(sizes, quick, first_call) -> str:
    load_start = os.getloadavg()
    rows = [
        "| kernel | case | N per polyline | load | ours 2 thr (ms) | ours 1 thr (ms) "
        "| 1 -> 2 thr | cKDTree route (ms) | pykdtree route (ms) | brute NumPy (ms) "
        "| best peer / ours (2 thr, 1 thr) | same answer | peak MB ours / best peer |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    ratios = {}
    scaling = []
    for kernel, (_, _, _, same) in KERNELS.items():
        for case in ("parallel", "walk") if kernel != "distance profile" else ("parallel",):
            previous = {}
            for n in sizes:
                a, b = CASES[case](n)
                r = REPEATS.get(n, 3)
                load = os.getloadavg()[0]
                times, answers, notes = {}, {}, {}
                for route in ("ours", "cKDTree", "pykdtree", "brute"):
                    reason = skip_reason(kernel, route, case, n, previous)
                    if reason:
                        notes[route] = f"skipped ({reason})"
                        continue
                    if route == "ours":
                        two, one, answers[route] = best_time_threads(
                            route_function(kernel, route), a, b, r
                        )
                        times[route] = two
                    else:
                        times[route], answers[route] = best_time(
                            route_function(kernel, route), a, b, r
                        )
                previous = times
                if "ours" not in times:
                    rows.append(
                        f"| {kernel} | {case} | {n:.0e} | {load:.1f} | skipped: {notes['ours']} "
                        "| | | | | | | | |"
                    )
                    continue
                agree = {p: same(answers["ours"], answers[p]) for p in times if p != "ours"}
                peers = [p for p in times if p != "ours" and agree[p]]
                best = min(peers, key=times.get) if peers else None
                ratio = times[best] / two if best else None
                ratio_one = times[best] / one if best else None
                memory = "—"
                if not quick or n <= 10_000:
                    ours_mb = in_fresh_process("memory", kernel, "ours", case, n)["peak_mb"]
                    peer_mb = (
                        in_fresh_process("memory", kernel, best, case, n)["peak_mb"]
                        if best
                        else None
                    )
                    memory = f"{ours_mb:.0f} / " + ("—" if peer_mb is None else f"{peer_mb:.0f}")
                cells = [
                    notes.get(p) or _ms(times.get(p)) for p in ("cKDTree", "pykdtree", "brute")
                ]
                disagree = [p for p, ok in agree.items() if not ok]
                rows.append(
                    f"| {kernel} | {case} | {n:.0e} | {load:.1f} | {_ms(two)} | {_ms(one)} | "
                    f"{one / two:.2f}x | "
                    + " | ".join(cells)
                    + (" | —" if ratio is None else f" | {ratio:.1f}x, {ratio_one:.1f}x ({best})")
                    + " | "
                    + (
                        "no peer ran"
                        if not agree
                        else "yes"
                        if not disagree
                        else "NO: " + ", ".join(disagree)
                    )
                    + f" | {memory} |"
                )
                ratios[(kernel, case, n)] = (ratio, ratio_one, best)
                closest = kernel == "closest approach"
                if 2 * n >= (PARALLEL_BUILD_MIN_POINTS if closest else PARALLEL_MIN_ITEMS):
                    scaling.append((kernel, case, n, one / two))
                print(rows[-1], flush=True)
    line_rows = [
        "| needles (10 mm) | load | ours 2 thr (ms) | ours 1 thr (ms) | 1 -> 2 threads | peak MB |",
        "|---|---|---|---|---|---|",
    ]
    for k in sizes:
        function = run_line_of_sight(k)
        call = lambda a, b, function=function: function()  # noqa: E731
        load = os.getloadavg()[0]
        two, one, _ = best_time_threads(call, None, None, REPEATS.get(k, 3))
        mb = in_fresh_process("memory", "line of sight", "ours", "parallel", k)["peak_mb"]
        line_rows.append(
            f"| {k:.0e} | {load:.1f} | {_ms(two)} | {_ms(one)} | {one / two:.2f}x | {mb:.0f} |"
        )
        if k >= PARALLEL_MIN_ITEMS:
            scaling.append(("line of sight", "needles", k, one / two))
        print(line_rows[-1], flush=True)
    planner_rows = planner_call_rows(REPEATS[1_000])
    print("\n".join(planner_rows), flush=True)
    if first_call:
        first_rows, first_verdict = kernels_first_call.report()
    else:
        first_rows, first_verdict = ["(not measured: --no-first-call)"], ""
    load_end = os.getloadavg()
    return "\n".join(
        [
            "# Distance kernels against KD-tree libraries",
            "",
            "Written by `python -m benchmarks.kernels`; nothing below is edited by hand.",
            "",
            f"Machine: {machine_note(('numpy', 'scipy', 'numba', 'pykdtree'))}.",
            f"numba threading layer: {numba.threading_layer()}, "
            f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}. Load average "
            f"(1, 5, 15 min) {_loads(load_start)} at the start and {_loads(load_end)} at the "
            f"end, on {os.cpu_count()} cores; the *load* columns give the 1-minute load when "
            "each row started. " + LOAD_NOTE,
            "",
            *_targets(ratios, scaling, sizes),
            *([first_verdict] if first_verdict else []),
            "",
            "## Polyline kernels",
            "",
            "Times in ms, best of the same number of timed calls for every route after one "
            f"warm-up call ({', '.join(f'{r} at {n:.0e}' for n, r in REPEATS.items())}; a "
            f"library route whose calls would take over {LONG_CALLS_S:g} s in all makes at "
            "least 2), trees built inside the timing. Each library runs on every core: "
            "cKDTree's queries with `workers=-1`, pykdtree through OpenMP, the kernels on "
            "numba's threads (2 here). 2- and 1-thread runs of the "
            "kernels alternate, so both see the same load; *1 -> 2 thr* is the speed-up from "
            "the second thread. *best peer / ours* > 1 means the kernel is faster, against the "
            "fastest library route whose answer matched the kernel's (same pairs and distances "
            f"within {SAME_MM:g} mm). Below {PARALLEL_MIN_ITEMS} segments (both polylines "
            "together; closest approach: below "
            f"{PARALLEL_BUILD_MIN_POINTS} points) the kernels take their serial path on "
            "purpose, so 1 and 2 threads match there. A library route is not run at a size "
            f"when it took over {LIBRARY_BUDGET_S} s at the size before.",
            "",
            *rows,
            "",
            "## What `pdvaplan plan` runs",
            "",
            "The targets above are judged on closest approach and pairs within 10 mm, which "
            "`pdvaplan plan` does not call. The planner calls `nearest_segments_within` at any "
            "distance (each artery segment's nearest vein segment, `nearest_on_vein`) for every "
            "artery-vein pair of a leg, and the needle line of sight below. Here that call on "
            "the `basic` phantom's centrelines (from its label map), every pair together, "
            "against the library routes and brute force asked the same question (same "
            "nearest segments and distances): these polylines are below the kernels' parallel "
            "threshold, so the kernel runs serially.",
            "",
            *planner_rows,
            "",
            "## Needle line of sight (batched)",
            "",
            "Needles of 10 mm at random in a 256 x 256 x 200 label volume (0.4 x 0.4 x 1.5 mm, "
            "flipped axes), lengths per label for each needle. No library does exact voxel "
            "traversal with lengths, so there is no peer column.",
            "",
            *line_rows,
            "",
            "## First-call cost (warm cache)",
            "",
            "From `benchmarks/kernels_first_call.py`. Per kernel, in a fresh process: import "
            "`pdvaplan.kernels`, numba's own start-up (the first call of any cached function: "
            "typing and target registries, including numba's import of `scipy.linalg`), then "
            "the kernel's first and second call; *first - second* is what loading its compiled "
            "code costs. The target (under 1 s in a fresh `pdvaplan plan`) is judged on the "
            "last two measurements, which include numba's start-up.",
            "",
            *first_rows,
            "",
        ]
    )


#: Why the load matters, for the report.
LOAD_NOTE = (
    "Linux's autogroup scheduling (on here) shares the CPUs between sessions, not threads: "
    "while other sessions keep the cores busy, this process gets about the same CPU time "
    "with one thread or two, so the 2-thread columns can only show a speed-up when some "
    "core is idle."
)


def _loads(loads) -> str:
    return ", ".join(f"{x:.1f}" for x in loads)


def _targets(ratios, scaling, sizes) -> list[str]:
    """The 'against the targets' section, from the measured ratios."""
    lines = ["## Against the targets", ""]
    for kernel in TARGET_KERNELS:
        for case in ("parallel", "walk"):
            measured = {n: ratios.get((kernel, case, n)) for n in sizes}
            ran = {n: r for n, r in measured.items() if r and r[0] is not None}
            if not ran:
                lines.append(f"* {kernel}, {case}: no library route ran.")
                continue
            text = "; ".join(
                f"{n:.0e}: {r[0]:.1f}x / {r[1]:.1f}x ({r[2]})" for n, r in sorted(ran.items())
            )
            at_1e5 = ran.get(100_000)
            worst = min(min(r[0], r[1]) for r in ran.values())
            if at_1e5 is None:
                verdict = "not judged (no run at 1e5)"
            elif min(at_1e5[0], at_1e5[1]) >= 3.0 and worst >= 1.0:
                verdict = "**met**"
            else:
                verdict = "**not met**"
            missing = [f"{n:.0e}" for n in sizes if n not in ran]
            lines.append(
                f"* {kernel}, {case}: best library route / ours (2 threads / 1 thread) "
                f"{text}. Target (>= 3x at 1e5, >= 1x at every size measured): {verdict}"
                + (f"; no library route at {', '.join(missing)}" if missing else "")
                + "."
            )
    if scaling:
        slowest = min(scaling, key=lambda s: s[3])
        fastest = max(scaling, key=lambda s: s[3])
        lines.append(
            "* Two threads against one, in the rows that take the parallel path: "
            f"{slowest[3]:.2f}x ({slowest[0]}, {slowest[1]}, {slowest[2]:.0e}) to "
            f"{fastest[3]:.2f}x ({fastest[0]}, {fastest[1]}, {fastest[2]:.0e}), median "
            f"{statistics.median(s[3] for s in scaling):.2f}x; "
            f"{sum(s[3] >= 0.95 for s in scaling)} of {len(scaling)} rows at 0.95x or better. "
            "Target (2 threads no slower than 1): "
            + ("**met**" if slowest[3] >= 0.95 else "**not met** in the rows below 0.95x")
            + "."
        )
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000, 1_000_000])
    parser.add_argument("--quick", action="store_true", help="no memory measurement above 1e4")
    parser.add_argument("--no-first-call", action="store_true", help="skip the first-call runs")
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        kind, kernel, route, case, n = args.worker
        print(json.dumps(worker(kind, kernel, route, case, int(n))))
        return
    numba.set_num_threads(2)
    report = benchmark(args.sizes, args.quick, not args.no_first_call)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(report, encoding="utf-8")
    print(report)


if __name__ == "__main__":
    main()
