"""Our lumen-section kernel beside the same job done with scipy, on real calls.

Run from the repository root: ``python -m benchmarks.section_kernel``; prints a
markdown table and writes it to ``benchmarks/results/section_kernel.md``.

The calls are the ones `extract_centerlines` makes on phantom masks (recorded
by wrapping the kernel), grouped by mask and section pixel. The library route
does what `pdvaplan.kernels.plane_sampling.lumen_section_moments` does, as fast
as scipy allows: `ndimage.map_coordinates` (trilinear, NaN outside) over every
pixel of every plane in one call, `ndimage.label` of the whole stack of planes
at once (4-connected within a plane, never across planes), the seed's region
widened by one `ndimage.binary_dilation` of the stack with a (1, 2g+1, 2g+1)
square, and weighted sums. Ours samples only the pixels the region and its rim
reach. Both give the same areas, centroids and flags (checked).

Thread for thread: each route runs on one thread and on two. The library route's
two threads each take half of a call's sections (`ndimage` releases the GIL), as a
user with a thread pool would; the kernel's two are numba's.
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numba
import numpy as np
from scipy import ndimage

import pdvaplan.centerlines.cross_section as cross_section
from benchmarks.machine import machine_note
from benchmarks.phantoms import markdown_table
from pdvaplan.centerlines import extract_centerlines
from pdvaplan.kernels.plane_sampling import lumen_section_moments
from phantoms import make_phantom

RESULTS = Path(__file__).parent / "results" / "section_kernel.md"
#: (phantom, seed, label value, what) of the masks whose calls are recorded.
MASKS = (("basic", 0, 2, "veins"), ("basic", 0, 1, "arteries"), ("random", 7, 2, "veins"))
_SEED_ORDER = ((0, 0), (0, -1), (0, 1), (-1, 0), (1, 0), (-1, -1), (-1, 1), (1, -1), (1, 1))


def recorded_calls(name: str, seed: int, value: int) -> list[tuple]:
    """The kernel's arguments in every call `extract_centerlines` makes on one mask."""
    calls = []

    def recording(*arguments):
        calls.append(arguments)
        return lumen_section_moments(*arguments)

    phantom = make_phantom(name, seed)
    mask = phantom.labels.with_array(phantom.labels.array == value)
    cross_section.lumen_section_moments = recording
    try:
        extract_centerlines(mask)
    finally:
        cross_section.lumen_section_moments = lumen_section_moments
    return calls


def scipy_moments(volume, centres, u, v, offsets, grow) -> tuple[np.ndarray, ...]:
    """`lumen_section_moments` by scipy over whole planes (see the module docstring)."""
    n, m = len(centres), offsets.size
    index = (
        centres[:, None, None, :]
        + offsets[None, :, None, None] * u[:, None, None, :]
        + offsets[None, None, :, None] * v[:, None, None, :]
    )
    samples = ndimage.map_coordinates(
        np.asarray(volume, np.float32), index.reshape(-1, 3).T, order=1, cval=np.nan
    ).reshape(n, m, m)
    inside = samples >= 0.5
    within_plane = np.zeros((3, 3, 3), bool)
    within_plane[1] = ndimage.generate_binary_structure(2, 1)
    labels, _ = ndimage.label(inside, within_plane)
    c = m // 2
    seed_label = np.zeros(n, np.int64)
    for di, dj in reversed(_SEED_ORDER):  # the first hit in the kernel's order wins
        here = labels[:, c + di, c + dj]
        seed_label = np.where(here > 0, here, seed_label)
    found = seed_label > 0
    region = (labels == seed_label[:, None, None]) & found[:, None, None]
    edge = region[:, 0].any(1) | region[:, -1].any(1) | region[:, :, 0].any(1)
    edge |= region[:, :, -1].any(1)
    widened = (
        ndimage.binary_dilation(region, np.ones((1, 2 * grow + 1, 2 * grow + 1), bool))
        if grow
        else region
    )
    missing = np.isnan(samples)
    cut = (widened & missing).any(axis=(1, 2))
    weights = np.where(widened & ~missing, np.clip(np.nan_to_num(samples), 0.0, 1.0), 0.0)
    total = weights.sum(axis=(1, 2))
    rows, columns = np.arange(m)[None, :, None], np.arange(m)[None, None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        row = np.where(total > 0, (weights * rows).sum(axis=(1, 2)) / total, np.nan)
        column = np.where(total > 0, (weights * columns).sum(axis=(1, 2)) / total, np.nan)
    return total, row, column, found, edge, cut


def scipy_moments_threaded(volume, centres, u, v, offsets, grow) -> tuple[np.ndarray, ...]:
    """`scipy_moments` with the sections split between two threads."""
    halves = np.array_split(np.arange(len(centres)), 2)
    with ThreadPoolExecutor(max_workers=2) as pool:
        parts = list(
            pool.map(lambda h: scipy_moments(volume, centres[h], u[h], v[h], offsets, grow), halves)
        )
    return tuple(np.concatenate(columns) for columns in zip(*parts, strict=True))


def best_seconds(function, calls: list[tuple], repeats: int = 3) -> float:
    """Best total wall time of `function` over all `calls`."""
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        for arguments in calls:
            function(*arguments)
        best = min(best, time.perf_counter() - start)
    return best


def mismatches(calls: list[tuple]) -> int:
    """Sections where ours and scipy's differ (areas, centroids or flags)."""
    count = 0
    for arguments in calls:
        ours, theirs = lumen_section_moments(*arguments), scipy_moments(*arguments)
        same = np.ones(len(arguments[1]), bool)
        for a, b in zip(ours[:3], theirs[:3], strict=True):
            same &= np.isclose(a, b, rtol=1e-5, atol=1e-4, equal_nan=True)
        for a, b in zip(ours[3:], theirs[3:], strict=True):
            same &= a == b
        count += int((~same).sum())
    return count


def rows() -> list[dict]:
    """One row per mask and section pixel."""
    table = []
    for name, seed, value, what in MASKS:
        groups: dict[float, list[tuple]] = {}
        for call in recorded_calls(name, seed, value):
            offsets = call[4]  # the section's pixel is the step between its offsets
            groups.setdefault(round(float(offsets[1] - offsets[0]), 3), []).append(call)
        for pixel, group in sorted(groups.items()):
            sections = sum(len(c[1]) for c in group)
            lumen_section_moments(*group[0])  # compiled (or loaded) before timing
            ours = best_seconds(lumen_section_moments, group)
            numba.set_num_threads(1)
            ours_one = best_seconds(lumen_section_moments, group)
            numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
            theirs_one = best_seconds(scipy_moments, group)
            theirs = best_seconds(scipy_moments_threaded, group)
            table.append(
                {
                    "mask": f"{name} {seed} {what}",
                    "pixel mm": f"{pixel:g}",
                    "window px": f"{group[0][4].size}",
                    "sections": sections,
                    "scipy us/section 1 thr": f"{theirs_one / sections * 1e6:.0f}",
                    "ours us/section 1 thr": f"{ours_one / sections * 1e6:.1f}",
                    "scipy / ours 1 thr": f"{theirs_one / ours_one:.0f}x",
                    "scipy / ours 2 thr": f"{theirs / ours:.0f}x",
                    "2 thr / 1: scipy, ours": f"{theirs_one / theirs:.2f}x, {ours_one / ours:.2f}x",
                    "mismatches": mismatches(group),
                }
            )
            print(table[-1], flush=True)
    return table


def main(argv: list[str] | None = None) -> None:
    """Time both routes on the recorded calls and write the table."""
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    load_before = os.getloadavg()
    table = rows()
    load_after = os.getloadavg()
    report = "\n".join(
        [
            "# Lumen sections: our kernel beside scipy\n",
            f"Machine: {machine_note()}; shared with other jobs, load {load_before[0]:.1f} "
            f"before, {load_after[0]:.1f} after (the thread ratios are the noisiest column).\n",
            "Produced by `python -m benchmarks.section_kernel` (see its docstring for the "
            "library route). Times are the best of 3 for both routes over every call "
            "`extract_centerlines` makes on the mask, grouped by section pixel (0.5 mm: the "
            "centring rounds, 0.25 mm: the final one). *mismatches*: sections whose area, "
            "centroid or flags differ. Each route is timed on one thread and on two (scipy: "
            "a call's sections split between two threads of a pool; ours: numba's threads), "
            "and compared thread for thread.\n",
            markdown_table(table),
        ]
    )
    RESULTS.write_text(report + "\n", encoding="utf-8")
    print(report)


if __name__ == "__main__":
    main()
