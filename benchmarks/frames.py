"""The same leg on random grids: does the plan stay the same in physical space?

Run from the repository root: ``python -m benchmarks.frames [--frames 20] [--seed 1]
[--noise-hu N]``; prints a markdown table and writes it to
``benchmarks/results/frames.md`` (``frames-seed<S>[-noise<N>].md`` for other seeds or
noise).

The ``basic`` phantom's leg is imaged on `--frames` grids drawn from `--seed`: a
uniformly random rotation, its axes permuted and one flipped half the time,
anisotropic spacing of 0.6-1.1 mm per axis and the grid shifted by up to one voxel
along each axis (so the voxel centres fall elsewhere on the anatomy). Each grid is
planned twice, from the two contrast phases and from the true label map. Each grid's
images carry their own noise, so the phases' spread is that of the frame and of a
noise draw together; ``--noise-hu 0`` takes the noise away and leaves the frame's
share alone. Grid seed 1 is the one the centring was developed on; seed 2 is held out.
Issue 13's targets: the same vessels on every grid, regret (the chosen site's true distance
minus the best one's) within 0.05 mm, and reported distances within 0.1 mm of each
other.

A label map marks whole voxels, so it places a vessel's axis only to within a
fraction of a voxel, and on some grids that error runs the same way along many mm
of vessel. Each labels row gives the label map's own error (*input error*): the
distance between the centroids of the artery's and the vein's voxels, taken in
planes normal to their true axes at the truth's crossing and averaged along the
axes with the centrelines' smoothing (sigma 2 mm), minus the true distance: the
error a method inherits that centres on the label map's voxels and smooths that much.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from scipy import ndimage

from benchmarks.machine import machine_note
from benchmarks.phantoms import markdown_table
from pdvaplan.centerlines import CenterlineSettings
from pdvaplan.io import Volume
from pdvaplan.labels import ARTERY, VEIN
from pdvaplan.planning import plan_from_labels, plan_from_phases
from phantoms import make_phantom
from phantoms.presets import preset, random_grid
from phantoms.scoring import score_crossing

RESULTS = Path(__file__).parent / "results" / "frames.md"
#: Issue 13's targets.
REGRET_TARGET_MM = 0.05
SPREAD_TARGET_MM = 0.1
#: Pixel of the planes the label map's own centroids are taken in.
ORACLE_PIXEL_MM = 0.05


def label_map_error_mm(labels: Volume, truth: dict, sigma_mm: float) -> float:
    """The distance the label map's own voxels give at the truth's crossing, minus the
    true distance (the *input error* of the module notes).

    For the crossing's artery and vein, the label's region around the true axis is
    sampled (nearest voxel) in planes normal to the axis every truth sample within
    3 `sigma_mm` of the crossing; each plane's centroid offset from the axis is
    averaged with Gaussian weights of `sigma_mm` along the axis.
    """
    crossing = truth["crossing"]
    ends = {}
    for name, value, key in (
        (crossing["artery"], ARTERY, "artery_point_mm"),
        (crossing["vein"], VEIN, "vein_point_mm"),
    ):
        (vessel,) = [v for v in truth["vessels"] if v["name"] == name]
        points = np.asarray(vessel["points_mm"], dtype=np.float64)
        site = np.asarray(crossing[key], dtype=np.float64)
        arc = np.asarray(vessel["arc_mm"], dtype=np.float64)
        at = int(np.argmin(np.linalg.norm(points - site, axis=1)))
        near = np.flatnonzero(np.abs(arc - arc[at]) <= 3 * sigma_mm)
        tangent = np.gradient(points, axis=0)
        tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
        offsets = np.arange(-4.0, 4.0 + ORACLE_PIXEL_MM / 2, ORACLE_PIXEL_MM)
        a_grid, b_grid = np.meshgrid(offsets, offsets, indexing="ij")
        shifts = []
        for i in near:
            a = np.cross(tangent[i], [1.0, 0.0, 0.0])
            a /= np.linalg.norm(a)
            b = np.cross(tangent[i], a)
            plane = points[i] + a_grid[..., None] * a + b_grid[..., None] * b
            index = np.rint(labels.physical_to_index(plane.reshape(-1, 3))).astype(int)
            index = np.clip(index, 0, np.array(labels.shape) - 1)
            inside = labels.array[tuple(index.T)].reshape(a_grid.shape) == value
            regions, _ = ndimage.label(inside)
            own = regions == regions[len(offsets) // 2, len(offsets) // 2]
            shifts.append(a_grid[own].mean() * a + b_grid[own].mean() * b)
        weights = np.exp(-0.5 * ((arc[near] - arc[at]) / sigma_mm) ** 2)
        ends[key] = site + weights @ np.array(shifts) / weights.sum()
    distance = np.linalg.norm(ends["vein_point_mm"] - ends["artery_point_mm"])
    return float(distance - crossing["distance_mm"])


def plan_frame(frame: dict, noise_hu: float | None = None) -> list[dict]:
    """The leg on one grid, planned from its phases and from its label map; the images'
    noise is `noise_hu` (standard deviation, HU; None: the basic leg's)."""
    spec = preset("basic")[0]
    if noise_hu is not None:
        spec = replace(spec, noise_sigma_hu=noise_hu)
    leg = make_phantom("basic", spec=spec, **frame)
    truth = leg.truth["crossing"]
    rows = []
    for source, plan_leg in (
        ("phases", lambda: plan_from_phases(leg.arterial, leg.venous)),
        ("labels", lambda: plan_from_labels(leg.labels)),
    ):
        start = time.perf_counter()
        crossing = plan_leg().crossing
        seconds = time.perf_counter() - start
        score = score_crossing(
            leg.truth, crossing.artery_point_mm, crossing.vein_point_mm, crossing.distance_mm
        )
        rows.append(
            {
                "source": source,
                "same vessels": (score["artery"], score["vein"])
                == (truth["artery"], truth["vein"]),
                "regret_mm": score["regret_mm"],
                "distance_mm": crossing.distance_mm,
                "error_mm": score["distance_error_mm"],
                "input_error_mm": (
                    label_map_error_mm(leg.labels, leg.truth, CenterlineSettings().smoothing_mm)
                    if source == "labels"
                    else None
                ),
                "seconds": seconds,
            }
        )
    return rows


def summary(rows: list[dict], source: str) -> str:
    """One line per source: vessels, worst regret and the spread of distances."""
    mine = [r for r in rows if r["source"] == source]
    same = sum(r["same vessels"] for r in mine)
    worst = max(r["regret_mm"] for r in mine)
    distances = np.array([r["distance_mm"] for r in mine])
    spread = float(np.ptp(distances))
    met = same == len(mine) and worst <= REGRET_TARGET_MM and spread <= SPREAD_TARGET_MM
    inputs = [r["input_error_mm"] for r in mine if r["input_error_mm"] is not None]
    floor = (
        f" The label map itself gives errors {min(inputs):+.3f} to {max(inputs):+.3f} mm "
        f"(a spread of {np.ptp(inputs):.3f} mm)."
        if inputs
        else ""
    )
    return (
        f"* from the {source}: same vessels on {same} of {len(mine)} grids; regret at most "
        f"{worst:.3f} mm (target {REGRET_TARGET_MM} mm); distances {distances.min():.3f} to "
        f"{distances.max():.3f} mm, a spread of {spread:.3f} mm (target {SPREAD_TARGET_MM} mm; "
        f"standard deviation {distances.std():.3f} mm); errors against the true distance "
        f"{min(r['error_mm'] for r in mine):+.3f} to {max(r['error_mm'] for r in mine):+.3f} mm. "
        f"Targets {'**met**' if met else '**not met**'}.{floor}"
    )


def main(argv: list[str] | None = None) -> None:
    """Plan the leg on the random grids; print and save the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20, help="grids to draw [20]")
    parser.add_argument("--seed", type=int, default=1, help="seed of the grids [1]")
    parser.add_argument(
        "--noise-hu",
        type=float,
        default=None,
        help="image noise (standard deviation, HU) [the basic leg's, 12]",
    )
    args = parser.parse_args(argv)
    if args.noise_hu is not None and args.noise_hu < 0:
        parser.error(f"--noise-hu {args.noise_hu}: expected 0 or more")
    rng = np.random.default_rng(args.seed)
    rows = []
    for number in range(args.frames):
        frame = random_grid(rng)
        for row in plan_frame(frame, args.noise_hu):
            axes = np.asarray(frame["direction"]).reshape(3, 3)
            rows.append(
                {
                    "grid": number,
                    "spacing mm": " x ".join(f"{s:.2f}" for s in frame["spacing_mm"]),
                    "det": f"{np.linalg.det(axes):+.0f}",
                    "shift mm": " ".join(f"{s:+.2f}" for s in frame["origin_shift_mm"]),
                }
                | row
            )
        print(
            f"grid {number}: "
            + "; ".join(
                f"{r['source']} {r['regret_mm']:.3f} / {r['distance_mm']:.3f} mm" for r in rows[-2:]
            ),
            flush=True,
        )
    table = [
        {
            key: (
                f"{value:+.3f}"
                if key == "input_error_mm" and value is not None
                else f"{value:.3f}"
                if isinstance(value, float)
                else ""
                if value is None
                else value
            )
            for key, value in row.items()
            if key != "seconds"
        }
        | {"seconds": f"{row['seconds']:.1f}"}
        for row in rows
    ]
    text = "\n".join(
        [
            "# The same leg on random grids",
            "",
            "Written by `python -m benchmarks.frames"
            f" --frames {args.frames} --seed {args.seed}"
            + ("" if args.noise_hu is None else f" --noise-hu {args.noise_hu:g}")
            + "`; nothing below is edited by hand.",
            "",
            f"Machine: {machine_note()}.",
            "",
            __doc__.split("\n\n", 2)[2].strip(),
            "",
            "## Against the targets",
            "",
            summary(rows, "phases"),
            summary(rows, "labels"),
            "",
            "## Every grid",
            "",
            "*det* -1: the grid is mirrored; *shift*: the grid's offset from centred, in "
            "physical mm; *regret*: the chosen site's true distance minus the best; "
            "*error*: reported minus true distance there; *input error*: the label map's own "
            "(module notes).",
            "",
            markdown_table(table),
            "",
        ]
    )
    results = RESULTS
    if args.seed != 1 or args.noise_hu is not None:
        noise = "" if args.noise_hu is None else f"-noise{args.noise_hu:g}"
        results = RESULTS.with_name(f"frames-seed{args.seed}{noise}.md")
    results.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
