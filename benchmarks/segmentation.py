"""Segmentation accuracy on every preset and a random sweep, and its speed and memory by size.

Run from the repository root: ``python -m benchmarks.segmentation [--random N] [--no-sizes]
[--pipeline]``; prints markdown tables and writes them to ``benchmarks/results/segmentation.md``.
``--pipeline`` adds segmentation + lumen fractions + centrelines of the basic leg on three
grids up to 509 x 520 x 600, with the peak memory of every stage (slow: the largest phantom
takes about 4 minutes to make).
Targets (issue 3): Dice >= 0.90 for artery and vein lumen on every phantom, every
true calcified arc found, no calcium on bone; segmentation of a 512 x 512 x 600
two-phase volume in <= 25-30 s with <= 5 GiB peak (segmentation + centrelines
<= 60 s and <= 6 GiB).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import threading
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


#: Grids of the basic leg (330 mm long) for the pipeline table: 140 x 130 x 330,
#: 322 x 299 x 759 and 509 x 520 x 600 voxels.
PIPELINE_SPACINGS_MM = ((0.8, 0.8, 1.0), (0.8 / 2.3, 0.8 / 2.3, 1.0 / 2.3), (0.22, 0.2, 0.55))
SEGMENT_STAGES = ("resample", "smooth", "bone", "artery", "calcium", "vein", "labels")


def _rss_bytes() -> int:
    with open("/proc/self/statm", encoding="utf-8") as stream:
        return int(stream.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class _StagePeaks(threading.Thread):
    """Peak resident memory per stage, sampled every few ms in a thread.

    The stage is what `stage` says, or, while ``stage == "segment"``, the
    segmentation stage under way (the one after the last stage `timings`
    holds: `segment` fills it as each stage ends).
    """

    def __init__(self, timings: dict) -> None:
        super().__init__(daemon=True)
        self.timings = timings
        self.stage = "start"
        self.peaks: dict[str, int] = {}
        self.running = True

    def current(self) -> str:
        if self.stage != "segment":
            return self.stage
        return "segment: " + SEGMENT_STAGES[min(len(self.timings), len(SEGMENT_STAGES) - 1)]

    def run(self) -> None:
        while self.running:
            stage = self.current()
            self.peaks[stage] = max(self.peaks.get(stage, 0), _rss_bytes())
            time.sleep(0.005)


def _pipeline_child(spacing: tuple[float, float, float], queue) -> None:
    from pdvaplan.planning.plan import lumen_fractions
    from pdvaplan.planning.vessels import map_vessels

    phantom = make_phantom("basic", 0, spacing)
    arterial, venous = phantom.arterial, phantom.venous
    del phantom
    timings: dict[str, float] = {}
    sampler = _StagePeaks(timings)
    inputs = _rss_bytes()
    sampler.start()
    seconds = {}
    start = time.perf_counter()
    sampler.stage = "segment"
    segmentation = segment(arterial, venous, timings_s=timings)
    seconds["segment"] = time.perf_counter() - start
    sampler.stage = "lumen fractions"
    start = time.perf_counter()
    fractions = lumen_fractions(segmentation, arterial)
    seconds["lumen fractions"] = time.perf_counter() - start
    sampler.stage = "centrelines"
    start = time.perf_counter()
    map_vessels(segmentation.labels, *fractions)
    seconds["centrelines"] = time.perf_counter() - start
    sampler.running = False
    sampler.join()
    queue.put((arterial.shape, inputs, seconds, timings, sampler.peaks, os.getloadavg()))


def pipeline_row(spacing: tuple[float, float, float]) -> dict:
    """Stage times and peak memory of segmentation, lumen fractions and centrelines."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_pipeline_child, args=(spacing, queue))
    process.start()
    shape, inputs, seconds, timings, peaks, load = queue.get()
    process.join()
    gib = 2.0**30
    in_segment = {
        k.removeprefix("segment: "): v for k, v in peaks.items() if k.startswith("segment: ")
    }
    worst_stage = max(in_segment, key=in_segment.get)
    worst = max(peaks, key=peaks.get)
    return {
        "voxels": " x ".join(map(str, shape)),
        "Mvoxels": f"{np.prod(shape) / 1e6:.0f}",
        "segment s": f"{seconds['segment']:.1f}",
        "segment stages s": ", ".join(f"{k} {v:.1f}" for k, v in timings.items()),
        "lumen fractions s": f"{seconds['lumen fractions']:.1f}",
        "centrelines s": f"{seconds['centrelines']:.1f}",
        "total s": f"{sum(seconds.values()):.1f}",
        "inputs GiB": f"{inputs / gib:.2f}",
        "segment peak GiB": f"{in_segment[worst_stage] / gib:.2f} ({worst_stage})",
        "lumen fractions peak GiB": f"{peaks.get('lumen fractions', 0) / gib:.2f}",
        "centrelines peak GiB": f"{peaks.get('centrelines', 0) / gib:.2f}",
        "process peak GiB": f"{peaks[worst] / gib:.2f} ({worst})",
        "load": " / ".join(f"{x:.1f}" for x in load),
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
    parser.add_argument(
        "--pipeline",
        action="store_true",
        help="also segmentation + lumen fractions + centrelines on 3 grids, memory per stage",
    )
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
    if args.pipeline:
        report += (
            "\n## Segmentation, lumen fractions and centrelines by size\n\n"
            "The basic leg generated on each grid, one fresh process per size (the first\n"
            "size's centrelines include loading the compiled kernels from the cache).\n"
            "Memory is the process's resident set sampled\n"
            "every 5 ms in a thread, as the peak during each stage; `inputs` is the process\n"
            "holding the two int16 phases before the pipeline starts. Target (issue 3):\n"
            "segmentation + centrelines <= 60 s and <= 6 GiB at about 512 x 512 x 600. `load`\n"
            "is the 1/5/15-minute load average at the end (2 cores, shared).\n\n"
            + markdown_table([pipeline_row(s) for s in PIPELINE_SPACINGS_MM])
            + "\n"
        )
    print(report)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(report, encoding="utf-8")


if __name__ == "__main__":
    main()
