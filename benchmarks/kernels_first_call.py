"""What a fresh process spends loading the kernels' compiled code from numba's cache.

Run from the repository root::

    python -m benchmarks.kernels_first_call [--plan-repeats 3]

Three measurements, each in fresh processes after one warm-up process has
filled the cache (so the cache is warm, as for any run after the first):

* per kernel: import `pdvaplan.kernels`, then the first and a second call;
  *first - second* is the cost of the first call beyond the work itself;
* the planner's kernels called one after the other in one process, at the
  sizes the planner gives them (a few hundred to a few thousand points);
* a real ``pdvaplan plan --labels`` run on the ``basic`` phantom, with every
  entry into numba's dispatcher timed (compiling or loading from the cache
  happens there and nowhere else).

`benchmarks.kernels` runs these and puts the tables in its report.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).parent.parent

#: Start of every child script: the clock, and seconds spent inside numba's dispatcher
#: (compiling or loading from the cache happens there) per function.
_TIMED_DISPATCHER = """
import collections, json, sys, time
start = time.perf_counter()
import numba.core.dispatcher as dispatcher
spent = collections.defaultdict(float)
original = dispatcher.Dispatcher._compile_for_args
def timed(self, *args, **kws):
    begin = time.perf_counter()
    try:
        return original(self, *args, **kws)
    finally:
        spent[self.py_func.__module__ + "." + self.py_func.__qualname__] += (
            time.perf_counter() - begin
        )
dispatcher.Dispatcher._compile_for_args = timed
"""

#: Fresh process: times importing the kernels and two calls of one kernel.
#: Also counts the seconds spent inside numba's dispatcher (cache loads).
ONE_KERNEL = (
    _TIMED_DISPATCHER
    + """
import numpy as np
import pdvaplan.kernels as kernels
from pdvaplan.kernels.plane_sampling import lumen_section_moments
imported = time.perf_counter()
names, n = sys.argv[1].split(","), int(sys.argv[2])
rng = np.random.default_rng(0)
walks = []
for origin in ([0.0, 0.0, 0.0], [6.0, 0.0, 0.0]):  # as benchmarks.kernels.random_walks
    heading = np.cumsum(rng.normal(size=(n + 20, 3)), axis=0)
    heading = heading[20:] - heading[:-20]
    heading /= np.linalg.norm(heading, axis=1, keepdims=True)
    walks.append(np.asarray(origin) + np.cumsum(0.33 * heading, axis=0))
a, b = walks
labels = np.zeros((64, 64, 64), dtype=np.uint8)
labels[20:40] = 1
frame = (np.zeros(3), np.ones(3), np.eye(3))
lumen = np.random.default_rng(0).random((64, 64, 64)).astype(np.float32)
centres = np.column_stack([np.full(n, 32.0), np.full(n, 32.0), np.linspace(5, 58, n)])
axis_u = np.tile([1.0, 0.0, 0.0], (n, 1))
axis_v = np.tile([0.0, 1.0, 0.0], (n, 1))
offsets = np.linspace(-8, 8, 33)
calls = {
    "startup": lambda: kernels._polyline.polyline_arc_lengths(np.zeros((2, 3))),
    "closest approach": lambda: kernels.closest_approach(a, b),
    "pairs within 10 mm": lambda: kernels.segment_pairs_within(a, b, 10.0),
    "nearest within 10 mm": lambda: kernels.nearest_segments_within(a, b, 10.0),
    "distance profile": lambda: kernels.distance_profile(a, b),
    "line of sight": lambda: kernels.line_of_sight_lengths(
        a[:-1] / 6, a[1:] / 6, labels, *frame
    ),
    "section moments": lambda: lumen_section_moments(lumen, centres, axis_u, axis_v, offsets, 1),
}
startup = 0.0
if names[0] == "startup":
    before = time.perf_counter()
    calls["startup"]()
    startup = time.perf_counter() - before
    names = names[1:]
first, second = 0.0, 0.0
for name in names:
    before = time.perf_counter()
    calls[name]()
    middle = time.perf_counter()
    calls[name]()
    first += middle - before
    second += time.perf_counter() - middle
print(json.dumps({"import": imported - start, "startup": startup, "first": first,
                  "second": second, "dispatch": sum(spent.values())}))
"""
)

#: The kernels a `pdvaplan plan` run calls (centrelines, then the crossing search).
PLANNER_KERNELS = ("section moments", "nearest within 10 mm", "line of sight")

#: Runs `pdvaplan plan` in this process with numba's dispatcher timed.
PLAN = (
    _TIMED_DISPATCHER
    + """
from pdvaplan.cli import main
try:
    main(sys.argv[1:])
except SystemExit as done:
    if done.code:
        raise
print(json.dumps({"process": time.perf_counter() - start, "dispatch": dict(spent)}))
"""
)


def _run(code: str, *arguments: str, env: dict | None = None) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", code, *arguments],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        cwd=ROOT,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1])
    return json.loads(done.stdout.strip().splitlines()[-1])


def kernel_first_call(names: tuple[str, ...], n: int, env: dict | None = None) -> dict:
    """Import, first and second call (s) of kernels `names` on N = `n`, in a fresh process."""
    return _run(ONE_KERNEL, ",".join(names), str(n), env=env)


def plan_first_call(labels_path: Path, out_dir: Path, repeats: int) -> list[dict]:
    """Dispatcher time per compiled function in `repeats` fresh ``pdvaplan plan`` runs."""
    arguments = ("plan", "--labels", str(labels_path), "--out", str(out_dir), "--no-render")
    _run(PLAN, *arguments)  # fills the cache if anything changed
    return [_run(PLAN, *arguments) for _ in range(repeats)]


def make_phantom_labels(directory: Path) -> Path:
    """The ``basic`` phantom's label map, written into `directory`."""
    subprocess.run(
        [sys.executable, "-m", "pdvaplan.cli", "phantom", "--preset", "basic", "--out", directory],
        capture_output=True,
        cwd=ROOT,
        check=True,
    )
    return directory / "labels.nii.gz"


def report(plan_repeats: int = 3, kernel_repeats: int = 3) -> tuple[list[str], str]:
    """Markdown lines (per-kernel first calls, the planner's kernels, a real plan run)
    and one line judging the 1 s target."""
    kernels = [
        "closest approach",
        "pairs within 10 mm",
        "nearest within 10 mm",
        "distance profile",
        "line of sight",
        "section moments",
    ]
    lines = [
        "| kernel | N | path | import (s) | numba start-up (s) | first call (s) "
        "| second call (s) | first - second (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in kernels:
        for n in (1_000,) if name == "section moments" else (1_000, 100_000):
            kernel_first_call(("startup", name), n)  # warm the cache for this path
            runs = [kernel_first_call(("startup", name), n) for _ in range(kernel_repeats)]
            run = _median_run(runs)
            path = "serial" if n < 10_000 else "parallel"
            if name == "section moments":
                path = "parallel only"
            lines.append(
                f"| {name} | {n:.0e} | {path} | {run['import']:.2f} | {run['startup']:.3f} | "
                f"{run['first']:.3f} | {run['second']:.3f} | "
                f"{run['first'] - run['second']:.3f} |"
            )
            print(lines[-1], flush=True)
    kernel_first_call(PLANNER_KERNELS, 2_000)
    runs = [kernel_first_call(PLANNER_KERNELS, 2_000) for _ in range(kernel_repeats)]
    planner = _median_run(runs)
    lines += [
        "",
        f"The planner's kernels ({', '.join(PLANNER_KERNELS)}) one after the other in one "
        f"fresh process, N = 2000 (median of {kernel_repeats} processes): import "
        f"{planner['import']:.2f} s, first calls {planner['first']:.3f} s, second calls "
        f"{planner['second']:.3f} s, so **{planner['first'] - planner['second']:.3f} s** "
        f"beyond the work; {planner['dispatch']:.3f} s of it inside numba's dispatcher.",
    ]
    with tempfile.TemporaryDirectory() as scratch:
        labels = make_phantom_labels(Path(scratch) / "phantom")
        plans = plan_first_call(labels, Path(scratch) / "plan", plan_repeats)
    totals = [sum(p["dispatch"].values()) for p in plans]
    middle = plans[totals.index(statistics.median_low(totals))]
    top = sorted(middle["dispatch"].items(), key=lambda item: -item[1])
    lines += [
        "",
        f"`pdvaplan plan --labels` on the `basic` phantom (no render), {plan_repeats} fresh "
        "processes with a warm cache: seconds inside numba's dispatcher "
        + ", ".join(f"{t:.3f}" for t in totals)
        + f" (process {statistics.median(p['process'] for p in plans):.1f} s). In the median "
        "run: "
        + ", ".join(f"`{name.removeprefix('pdvaplan.')}` {t:.3f} s" for name, t in top)
        + ". The first compiled function of a process pays numba's own start-up (typing "
        "and target registries), whichever it is.",
    ]
    print("\n".join(lines[-3:]), flush=True)
    worst = max(max(totals), planner["first"] - planner["second"])
    verdict = (
        f"* First call with a warm cache: a fresh `pdvaplan plan` spent {min(totals):.2f} to "
        f"{max(totals):.2f} s inside numba's dispatcher ({plan_repeats} runs), the planner's "
        f"kernels alone {planner['first'] - planner['second']:.2f} s beyond their work in a "
        "fresh process, numba's own start-up included. Target (under 1 s): "
        + ("**met**" if worst < 1.0 else "**not met**")
        + "."
    )
    return lines, verdict


def _median_run(runs: list[dict]) -> dict:
    extra = [r["first"] - r["second"] for r in runs]
    return runs[extra.index(statistics.median_low(extra))]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plan-repeats", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"load average {os.getloadavg()[0]:.1f}")
    lines, verdict = report(args.plan_repeats)
    print("\n".join([*lines, "", verdict]))


if __name__ == "__main__":
    main()
