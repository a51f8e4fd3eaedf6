"""Segmentation accuracy on every preset and a random sweep, and its speed and memory by size.

Run from the repository root: ``python -m benchmarks.segmentation [--random N] [--sizes]``;
prints markdown tables and writes them to ``benchmarks/results/segmentation.md``.
Targets (issue 3): Dice >= 0.90 for artery and vein lumen on every phantom, every
true calcified arc found, no calcium on bone; segmentation of a 512 x 512 x 600
two-phase volume in <= 25-30 s with <= 5 GiB peak (segmentation + centrelines
<= 60 s and <= 6 GiB).
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import time
import tracemalloc
from pathlib import Path

import numpy as np
from scipy import ndimage

from benchmarks.machine import machine_note
from benchmarks.phantoms import markdown_table
from pdvaplan.segmentation import segment
from phantoms import PRESETS, make_phantom

RESULTS = Path(__file__).parent / "results" / "segmentation.md"
ARTERY, VEIN, CALCIUM, BONE = 1, 2, 3, 4


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice overlap of two boolean masks (1 when both are empty)."""
    total = np.count_nonzero(a) + np.count_nonzero(b)
    return 1.0 if total == 0 else 2.0 * np.count_nonzero(a & b) / total


def accuracy_row(name: str, seed: int) -> dict:
    """Dice per class, calcium recall and time for one phantom."""
    phantom = make_phantom(name, seed)
    start = time.perf_counter()
    labels = segment(phantom.arterial, phantom.venous).labels.array
    seconds = time.perf_counter() - start
    truth = phantom.labels.array
    arcs, count = ndimage.label(truth == CALCIUM, np.ones((3, 3, 3)))
    found = np.unique(arcs[(labels == CALCIUM) & (arcs > 0)]).size
    return {
        "phantom": name if name != "random" else f"random {seed}",
        "voxels": " x ".join(map(str, truth.shape)),
        "spacing mm": " x ".join(f"{s:.2f}" for s in phantom.arterial.spacing_mm),
        "artery Dice": f"{dice(labels == ARTERY, truth == ARTERY):.3f}",
        "vein Dice": f"{dice(labels == VEIN, truth == VEIN):.3f}",
        "calcium arcs found": f"{found}/{count}",
        "calcium Dice": f"{dice(labels == CALCIUM, truth == CALCIUM):.2f}",
        "calcium on bone": int(np.count_nonzero((labels == CALCIUM) & (truth == BONE))),
        "bone Dice": f"{dice(labels == BONE, truth == BONE):.3f}",
        "segment s": f"{seconds:.1f}",
    }


def _tiled(phantom, shape: tuple[int, int, int]):
    """Both phases tiled (whole legs side by side and stacked) and cut to `shape`."""
    volumes = []
    for volume in (phantom.arterial, phantom.venous):
        reps = [int(np.ceil(n / m)) for n, m in zip(shape, volume.shape, strict=True)]
        array = np.tile(volume.array, reps)[: shape[0], : shape[1], : shape[2]]
        volumes.append(
            type(volume)(array, volume.spacing_mm, volume.origin_mm, volume.direction, "tiled")
        )
    return volumes


def _size_child(spacing: tuple[float, float, float], tile: bool, queue) -> None:
    phantom = make_phantom("basic", 0, spacing)
    arterial, venous = (
        _tiled(phantom, (512, 512, 600)) if tile else (phantom.arterial, phantom.venous)
    )
    del phantom
    timings: dict[str, float] = {}
    start = time.perf_counter()
    segment(arterial, venous, timings_s=timings)
    total = time.perf_counter() - start
    # Memory in a second, traced run (tracing slows NumPy-heavy code down).
    tracemalloc.start()
    segment(arterial, venous)
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    queue.put((arterial.shape, total, timings, peak, traced))


def size_row(spacing: tuple[float, float, float], tile: bool = False) -> dict:
    """Time and peak memory of one segmentation, run in a fresh process."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_size_child, args=(spacing, tile, queue))
    process.start()
    shape, total, timings, peak, traced = queue.get()
    process.join()
    return {
        "input": ("basic tiled to " if tile else "basic at ")
        + " x ".join(f"{s:g}" for s in spacing)
        + " mm",
        "voxels": " x ".join(map(str, shape)),
        "Mvoxels": f"{np.prod(shape) / 1e6:.0f}",
        "total s": f"{total:.1f}",
        **{f"{stage} s": f"{seconds:.1f}" for stage, seconds in timings.items()},
        "segment peak GiB": f"{traced / 2**30:.2f}",
        "process peak RSS GiB": f"{peak / 2**20:.2f}",
    }


def summary(rows: list[dict]) -> str:
    """Min and median Dice per class over the rows."""
    lines = []
    for key in ("artery Dice", "vein Dice", "bone Dice"):
        values = np.array([float(row[key]) for row in rows])
        below = int(np.count_nonzero(values < 0.9))
        lines.append(
            f"* {key}: min {values.min():.3f}, median {np.median(values):.3f}, "
            f"below 0.90: {below} of {values.size}"
        )
    found = sum(int(row["calcium arcs found"].split("/")[0]) for row in rows)
    arcs = sum(int(row["calcium arcs found"].split("/")[1]) for row in rows)
    on_bone = sum(row["calcium on bone"] for row in rows)
    lines.append(f"* calcified arcs found: {found} of {arcs}; calcium voxels on bone: {on_bone}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Accuracy on presets and random legs, then speed by size; print and save."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--random", type=int, default=20, help="random legs [20]")
    parser.add_argument("--no-sizes", action="store_true", help="skip the speed table")
    args = parser.parse_args(argv)
    presets = [accuracy_row(name, 0) for name in PRESETS]
    randoms = [accuracy_row("random", seed) for seed in range(1, args.random + 1)]
    report = (
        "# Segmentation accuracy and speed\n\n"
        f"Machine: {machine_note()}.\n\n"
        "Dice against the phantoms' true label maps (full legs, default grids). Calcium arcs\n"
        "found = true calcium components (26-connected) overlapped by the calcium label.\n\n"
        "## Presets\n\n" + markdown_table(presets) + "\n\n" + summary(presets) + "\n\n"
        f"## Random legs (seeds 1-{args.random})\n\n"
        + markdown_table(randoms)
        + "\n\n"
        + summary(randoms)
        + "\n"
    )
    if not args.no_sizes:
        sizes = [
            size_row((0.8, 0.8, 1.0)),
            size_row((0.6, 0.6, 0.8)),
            size_row((0.45, 0.45, 0.6)),
            size_row((0.8, 0.8, 1.0), tile=True),
        ]
        report += (
            "\n## Speed and memory by size\n\n"
            "One fresh process per size: an untraced run for the times, then a\n"
            "second run under tracemalloc for the segment peak (largest NumPy memory\n"
            "allocated during `segment`, inputs excluded); process peak RSS includes\n"
            "generating the phantom and both runs. Target: <= 25-30 s and <= 5 GiB at\n"
            "512 x 512 x 600. The machine is shared (2 cores, other jobs running):\n"
            "times vary by about +-30 % between runs.\n\n" + markdown_table(sizes) + "\n"
        )
    print(report)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(report, encoding="utf-8")


if __name__ == "__main__":
    main()
