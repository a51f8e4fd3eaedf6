"""How long a phantom takes to generate, per preset and for random legs.

Run from the repository root: ``python -m benchmarks.phantoms [--random N]``; prints a
markdown table and writes it to ``benchmarks/results/phantoms.md``. The target
(issue 2) is at most 20 s for a phantom of about 140 x 130 x 330 voxels.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from benchmarks.machine import machine_note
from phantoms import PRESETS, Phantom, write_phantom
from phantoms.imaging import image_leg
from phantoms.presets import preset, random_leg
from phantoms.truth import truth_document

RESULTS = Path(__file__).parent / "results" / "phantoms.md"


def time_one(name: str, seed: int) -> dict:
    """Seconds to image, to compute the truth and to write one phantom."""
    leg, grid = random_leg(seed) if name == "random" else preset(name)
    start = time.perf_counter()
    images = image_leg(leg, grid, seed)
    imaged = time.perf_counter()
    truth = truth_document(leg, images.labels, name, seed)
    truthed = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        write_phantom(Phantom(images.arterial, images.venous, images.labels, truth), folder)
    written = time.perf_counter()
    return {
        "phantom": name if name != "random" else f"random (seed {seed})",
        "voxels": " x ".join(map(str, images.labels.shape)),
        "Mvoxels": f"{images.labels.array.size / 1e6:.1f}",
        "image s": f"{imaged - start:.1f}",
        "truth s": f"{truthed - imaged:.1f}",
        "write s": f"{written - truthed:.1f}",
        "total s": f"{written - start:.1f}",
    }


def markdown_table(rows: list[dict]) -> str:
    """Rows of equal keys as a markdown table."""
    header = list(rows[0])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(row[key]) for key in header) + " |" for row in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Time every preset and a few random legs; print and save the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--random", type=int, default=3, help="random legs to time [3]")
    args = parser.parse_args(argv)
    rows = [time_one(name, 0) for name in PRESETS]
    rows += [time_one("random", seed) for seed in range(1, args.random + 1)]
    report = (
        "# Phantom generation time\n\n"
        f"Machine: {machine_note()}.\n\n"
        "image = sampling the anatomy into both phases and the label map (partial volume,\n"
        "blur, noise); truth = dense centreline samples, flags and the brute-force crossing;\n"
        "write = three NIfTI volumes (gzip) and truth.json. Target: <= 20 s at about\n"
        "140 x 130 x 330 voxels.\n\n" + markdown_table(rows) + "\n"
    )
    print(report)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(report, encoding="utf-8")


if __name__ == "__main__":
    main()
