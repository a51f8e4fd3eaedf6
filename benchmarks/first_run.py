"""The first run after installing: what compiling the kernels adds to ``pdvaplan demo``.

Run from the repository root: ``python -m benchmarks.first_run [--repeats 2]``; prints a
markdown table and writes it to ``benchmarks/results/first-run.md``.

Each repeat runs ``pdvaplan demo`` twice in fresh processes on a fresh, empty numba
cache (``NUMBA_CACHE_DIR``): the first compiles the kernels (cold), the second loads
them (warm). It reports both wall times and the seconds numba spent compiling inside
the demo's own process (outermost compiles, from numba's compile events); with two
threads or more the search's kernels compile in a child process alongside
(`pdvaplan.kernels._cache.SearchKernelsWarmUp`), whose time shows only in the wall
time. Issue 13's target: at most 10 s of compiling on a fresh install.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.machine import machine_note
from benchmarks.phantoms import markdown_table

RESULTS = Path(__file__).parent / "results" / "first-run.md"

#: The demo in this process, with numba's outermost compiles timed; prints JSON.
_DEMO = """
import json, sys, time
from numba.core import event
compiling = [0.0]
depth = [0]
class Outermost(event.Listener):
    def on_start(self, ev):
        depth[0] += 1
        if depth[0] == 1:
            self.start = time.perf_counter()
    def on_end(self, ev):
        depth[0] -= 1
        if depth[0] == 0:
            compiling[0] += time.perf_counter() - self.start
event.register("numba:compile", Outermost())
start = time.perf_counter()
from pdvaplan.cli import main
code = main(["demo", "--quiet", "--out", sys.argv[1]])
print(json.dumps({"code": code, "wall_s": time.perf_counter() - start,
                  "compiling_s": compiling[0]}))
"""


def demo_run(folder: Path, cache: Path) -> dict:
    """One ``pdvaplan demo`` in a fresh process on numba cache `cache`."""
    done = subprocess.run(
        [sys.executable, "-c", _DEMO, str(folder)],
        env=os.environ | {"NUMBA_CACHE_DIR": str(cache)},
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["code"] != 0:
        raise RuntimeError(f"pdvaplan demo exited {result['code']}: {done.stderr[-500:]}")
    return result


def main(argv: list[str] | None = None) -> None:
    """Cold and warm demos on fresh caches; print and save the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2, help="cold/warm pairs [2]")
    args = parser.parse_args(argv)
    rows = []
    for repeat in range(args.repeats):
        with tempfile.TemporaryDirectory() as scratch:
            cold = demo_run(Path(scratch) / "cold", Path(scratch) / "cache")
            warm = demo_run(Path(scratch) / "warm", Path(scratch) / "cache")
        rows.append(
            {
                "repeat": repeat + 1,
                "cold wall (s)": f"{cold['wall_s']:.1f}",
                "warm wall (s)": f"{warm['wall_s']:.1f}",
                "first run adds (s)": f"{cold['wall_s'] - warm['wall_s']:.1f}",
                "compiling in the demo's process, cold (s)": f"{cold['compiling_s']:.1f}",
                "compiling, warm (s)": f"{warm['compiling_s']:.1f}",
            }
        )
        print(rows[-1], flush=True)
    text = "\n".join(
        [
            "# The first run after installing",
            "",
            "Written by `python -m benchmarks.first_run"
            f" --repeats {args.repeats}`; nothing below is edited by hand.",
            "",
            f"Machine: {machine_note()}; {os.cpu_count()} cores, load average "
            f"{os.getloadavg()[0]:.1f} at the end.",
            "",
            __doc__.split("\n\n", 2)[2].strip(),
            "",
            markdown_table(rows),
            "",
        ]
    )
    RESULTS.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
