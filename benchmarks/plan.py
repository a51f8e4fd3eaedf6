"""The planner against the phantoms' known answers, and its speed end to end.

Run from the repository root: ``python -m benchmarks.plan [--tuning 1-50] [--held-out
2001-2100]`` (or ``--sizes``);
prints markdown tables and writes them to ``benchmarks/results/plan.md`` (``plan-sizes.md``).

A plan is judged the way a clinician judges a site (`phantoms.scoring.score_crossing`):
right vessels, artery point <= 1 mm and vein point <= 1.25 mm off the true axes, on an
eligible stretch, and a true distance at most 0.3 mm longer than the best ("regret");
the reported distance should be within 0.5 mm of the true distance there and the
stent-graft path length within 10 % of the true vein's length from the chosen vein point
down to its distal end. Feasibility must match the truth.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import numpy as np

from benchmarks.machine import machine_note
from benchmarks.phantoms import markdown_table
from pdvaplan.errors import PdvaplanInputError
from pdvaplan.planning import plan_from_labels, plan_from_phases
from phantoms import DIRECTIONS, PRESETS, Acquisition, make_phantom
from phantoms.scoring import (
    centerline_accuracy,
    patent_end_errors_mm,
    score_crossing,
    true_path_length_mm,
)

RESULTS = Path(__file__).parent / "results" / "plan.md"


def judge(plan, truth: dict) -> dict:
    """One row: what the plan said, what the truth says, and whether they agree."""
    row = {"feasible": f"{plan.feasible} / {truth['feasible']}"}
    if plan.feasible != truth["feasible"]:
        return row | {"right": False, "why": "feasibility differs"}
    if not plan.feasible:
        nearest = plan.nearest_mm
        error = (
            None
            if nearest is None or truth["nearest_mm"] is None
            else (nearest - truth["nearest_mm"])
        )
        return row | {
            "right": True,
            "why": "",
            "nearest error mm": "" if error is None else f"{error:+.2f}",
        }
    crossing = plan.crossing
    score = score_crossing(
        truth, crossing.artery_point_mm, crossing.vein_point_mm, crossing.distance_mm
    )
    # The path the chosen site needs: from its vein point down the true vein (minima are
    # shallow, so an equally good site a few cm away needs a different length).
    needed = true_path_length_mm(truth, crossing.vein_point_mm)
    stent_error = plan.stent_graft["length_mm"] / needed - 1
    right = score["right"] and abs(score["distance_error_mm"]) <= 0.5 and abs(stent_error) <= 0.1
    why = []
    if not score["right"]:
        why.append(
            f"site ({score['artery']}/{score['vein']}, offsets "
            f"{score['artery_offset_mm']:.2f}/{score['vein_offset_mm']:.2f} mm, "
            f"eligible {score['eligible']})"
        )
    if abs(score["distance_error_mm"]) > 0.5:
        why.append("distance")
    if abs(stent_error) > 0.1:
        why.append("stent length")
    return row | {
        "right": right,
        "regret mm": f"{score['regret_mm']:.3f}",
        "distance error mm": f"{score['distance_error_mm']:+.2f}",
        "stent error %": f"{100 * stent_error:+.1f}",
        "why": "; ".join(why),
    }


def run_case(
    name: str, seed: int, use_labels: bool = False, acquisition: Acquisition | None = None
) -> dict:
    """One phantom planned (from its phases, or its true labels) and judged against its truth.

    A refusal (exit 2 in the command line) is a row too: right when the truth says the
    input must be refused (swapped phases), a failure otherwise.
    """
    phantom = make_phantom(name, seed, acquisition=acquisition)
    label = name if name != "random" else f"random {seed}"
    row = {"phantom": label, "voxels": " x ".join(map(str, phantom.labels.shape))}
    row |= conditions(phantom.truth)
    swapped = bool(phantom.truth["acquisition"]["swap_phases"])
    start = time.perf_counter()
    try:
        if use_labels:
            plan = plan_from_labels(phantom.labels)
        else:
            plan = plan_from_phases(phantom.arterial, phantom.venous)
    except PdvaplanInputError as error:
        refused_right = swapped and "swapped" in str(error)
        return row | {
            "outcome": "refused",
            "right": refused_right,
            "why": "" if refused_right else f"refused: {error}",
            "plan s": f"{time.perf_counter() - start:.1f}",
        }
    seconds = time.perf_counter() - start
    if swapped:
        return row | {"outcome": "plan", "right": False, "why": "swapped phases planned"}
    judged = judge(plan, phantom.truth)
    row |= {"outcome": "plan"} | judged | {"warnings": len(plan.warnings)}
    if not use_labels:
        row |= registration_error(plan, phantom.truth)
    if plan.warnings and not judged["right"]:
        row["why"] += "; warned: " + " | ".join(plan.warnings)
    return row | vessel_accuracy(plan, phantom.truth) | {"plan s": f"{seconds:.1f}"}


def conditions(truth: dict) -> dict:
    """The acquisition of a phantom in a few words."""
    acquisition = truth["acquisition"]
    words = []
    if acquisition["venous_from_arterial"]:
        words.append(f"moved {acquisition['motion_deg']:.1f} deg {acquisition['motion_mm']:.1f} mm")
    if acquisition["hu_scale"]:
        a, b = acquisition["hu_scale"]
        words.append(f"grey {a:.2f} HU + {b:.0f}")
    if acquisition["swap_phases"]:
        words.append("swapped")
    return {"acquisition": ", ".join(words) or "one grid, HU"}


def registration_error(plan, truth: dict) -> dict:
    """How far the plan's registration maps the arterial volume's corners from the truth's."""
    true = truth["acquisition"]["venous_from_arterial"]
    segmentation = plan.segmentation
    corners = segmentation.arterial_hu.corners_mm()
    found = segmentation.registration.transform.apply(corners)
    expected = (
        corners
        if true is None
        else corners @ np.asarray(true["matrix"]).T + np.asarray(true["offset_mm"])
    )
    scale = segmentation.hu_scales[0]
    a = (truth["acquisition"]["hu_scale"] or (1.0, 0.0))[0]
    return {
        "registration error mm": f"{np.linalg.norm(found - expected, axis=1).max():.2f}",
        "slope error %": f"{100 * (scale.slope / a - 1):+.2f}",
    }


def summary(rows: list[dict], title: str) -> str:
    """Right, refused and wrong plans of a set of rows, in one sentence."""
    right = sum(r["right"] for r in rows)
    wrong = [r for r in rows if not r["right"] and r.get("outcome") == "plan"]
    silent = [r for r in wrong if not r.get("warnings")]
    refused = [r for r in rows if not r["right"] and r.get("outcome") == "refused"]
    return (
        f"**{title}: {right} of {len(rows)} right ({right / max(len(rows), 1):.0%}); "
        f"{len(refused)} refused wrongly (exit 2); {len(wrong)} wrong plans (exit 0), "
        f"{len(silent)} of them without a warning"
        + (f" ({', '.join(r['phantom'] for r in silent)})" if silent else "")
        + ".**\n"
    )


def seed_range(text: str) -> list[int]:
    """``"1-50"`` or ``"7"`` -> the seeds."""
    low, _, high = text.partition("-")
    return list(range(int(low), int(high or low) + 1))


#: Each preset under each acquisition condition (swapped phases must be refused).
CONDITIONS = {
    "moved 5 deg 10 mm": Acquisition(5.0, 10.0),
    "grey 0.65 HU + 1100": Acquisition(hu_scale=(0.65, 1100.0)),
    "moved 3 deg 3.5 mm, grey 0.65 HU + 1100": Acquisition(3.0, 3.5, (0.65, 1100.0)),
    "swapped": Acquisition(swap_phases=True),
}


def vessel_accuracy(plan, truth: dict) -> dict:
    """Centreline accuracy of the plan's vessels against the truth (issue 3's measures)."""
    row = {}
    for kind, lines in (("artery", plan.vessels.arteries), ("vein", plan.vessels.veins)):
        if not lines:
            continue
        found = centerline_accuracy([(c.points_mm, c.radii_mm) for c in lines], truth, kind)
        row[f"{kind} mean/p95 mm"] = f"{found['mean_mm']:.2f}/{found['p95_mm']:.2f}"
        row[f"{kind} radius err mm"] = f"{found['radius_median_error_mm']:.2f}"
        row[f"{kind} coverage"] = f"{found['coverage']:.2f}"
        row[f"{kind} swaps"] = found["swaps"]
    ends = patent_end_errors_mm(truth, np.array([c.points_mm[-1] for c in plan.vessels.arteries]))
    row["patent end err mm"] = f"{max(ends.values()):.1f}" if ends else ""
    return row


def grid_rows() -> list[dict]:
    """The basic leg written on three grids, planned from its phases: how far apart
    the crossings land in physical space, and how good each is."""
    grids = (
        ("identity", (0.8, 0.8, 1.0), "identity"),
        ("RAS flip", (0.7, 0.9, 1.2), "ras"),
        ("permuted, anisotropic", (0.6, 1.3, 0.75), "permuted"),
    )
    rows, reference = [], None
    for label, spacing, direction in grids:
        phantom = make_phantom("basic", 0, spacing, tuple(DIRECTIONS[direction].ravel()))
        crossing = plan_from_phases(phantom.arterial, phantom.venous).crossing
        score = score_crossing(
            phantom.truth, crossing.artery_point_mm, crossing.vein_point_mm, crossing.distance_mm
        )
        reference = crossing if reference is None else reference
        apart_mm = np.linalg.norm(crossing.artery_point_mm - reference.artery_point_mm)
        rows.append(
            {
                "grid": label,
                "spacing mm": " x ".join(f"{s:g}" for s in spacing),
                "artery point mm": ", ".join(f"{v:.1f}" for v in crossing.artery_point_mm),
                "from identity's site mm": f"{apart_mm:.1f}",
                "regret mm": f"{score['regret_mm']:.3f}",
                "distance error mm": f"{score['distance_error_mm']:+.2f}",
                "right": score["right"],
            }
        )
    return rows


#: Grids of the basic leg (330 mm long): 140 x 130 x 330, 322 x 299 x 759 and
#: 509 x 520 x 600 voxels.
SIZE_SPACINGS_MM = ((0.8, 0.8, 1.0), (0.8 / 2.3, 0.8 / 2.3, 1.0 / 2.3), (0.22, 0.2, 0.55))


def size_rows(spacings: tuple[tuple[float, float, float], ...]) -> list[dict]:
    """End-to-end plan time from the two phases at growing grid sizes."""
    rows = []
    for spacing in spacings:
        phantom = make_phantom("basic", 0, spacing, acquisition=Acquisition(3.0, 3.5))
        start = time.perf_counter()
        plan = plan_from_phases(phantom.arterial, phantom.venous)
        seconds = time.perf_counter() - start
        stages = ", ".join(
            f"{k} {v:.1f}" for k, v in plan.timings_s.items() if isinstance(v, float) and v
        )
        inside = plan.timings_s.get("segment_stages") or {}
        stages += " (" + ", ".join(f"{k} {v:.1f}" for k, v in inside.items()) + ")"
        rows.append(
            {
                "voxels": " x ".join(map(str, phantom.labels.shape)),
                "Mvoxels": f"{phantom.labels.array.size / 1e6:.0f}",
                "plan s": f"{seconds:.1f}",
                "stages s": stages,
                "peak RSS GiB": f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.1f}",
            }
        )
    return rows


def main(argv: list[str] | None = None) -> None:
    """Sweep the presets and random phantoms, or (``--sizes``) time growing sizes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tuning", default="1-50", help="seeds the code was tuned on [1-50] (random legs)"
    )
    parser.add_argument(
        "--held-out",
        default="2001-2100",
        help="seeds no change was ever fitted to; their figure is the result [2001-2100]",
    )
    parser.add_argument(
        "--sizes",
        action="store_true",
        help="instead, time 3 grid sizes up to about 512 x 512 x 600 (results/plan-sizes.md)",
    )
    args = parser.parse_args(argv)
    if args.sizes:
        report = [
            "# End-to-end plan time from the two phases by grid size\n",
            f"Machine: {machine_note()}.\n",
            "The basic leg with its venous phase on its own grid and the leg moved 3 deg and "
            "3.5 mm, one process, sizes in order; peak RSS is the process's so far (it includes "
            "generating each phantom). Targets: (issue 5) <= 90 s at 512 x 512 x 600; (issue 3) "
            "segmentation plus centrelines <= 60 s and <= 6 GiB; (issue 11) registration <= 3 s "
            "at 140 x 130 x 330 and <= 10 s at 512 x 512 x 600.\n",
            markdown_table(size_rows(SIZE_SPACINGS_MM)),
        ]
        _write(report, RESULTS.with_name("plan-sizes.md"))
        return
    label_rows = [run_case(name, 0, use_labels=True) for name in PRESETS]
    condition_rows = []
    for name in PRESETS:
        condition_rows.append(run_case(name, 0, acquisition=Acquisition()))
        condition_rows += [
            run_case(name, 0, acquisition=acquisition) for acquisition in CONDITIONS.values()
        ]
    tuning = [run_case("random", seed) for seed in seed_range(args.tuning)]
    held_out = [run_case("random", seed) for seed in seed_range(args.held_out)]
    report = [
        "# Planner against the phantoms' known answers\n",
        f"Machine: {machine_note()}.\n",
        "Default rules (reach 10 mm, calcium margin 5 mm). A case is right when feasibility "
        "matches and, if feasible, the site is right (vessels, offsets <= 1 / 1.25 mm, "
        "eligible, regret <= 0.3 mm), the distance is within 0.5 mm and the stent path within "
        "10 %; phases handed over swapped are right only when refused as swapped. Random legs "
        "draw their acquisition from the seed (`phantoms.presets.random_acquisition`: the leg "
        "moved 0-5 deg and 0-10 mm between the phases, the venous phase on its own grid; half "
        "of them in grey values a * HU + b). Target (issue 11): >= 95 % right on the held-out "
        "seeds, and no exit-0 plan that is wrong where a check could have told.\n",
        f"Seeds tuned on: random {args.tuning} (earlier sessions' sweeps and this code's "
        f"development); held out: random {args.held_out}, never looked at while changing the "
        "code.\n",
        "## Held-out random legs (the result)\n",
        summary(held_out, f"Held out (random {args.held_out})"),
        markdown_table([{k: r.get(k, "") for k in _columns(held_out)} for r in held_out]),
        "\n## Tuning random legs\n",
        summary(tuning, f"Tuning (random {args.tuning})"),
        markdown_table([{k: r.get(k, "") for k in _columns(tuning)} for r in tuning]),
        "\n## Presets under each acquisition condition\n",
        summary(condition_rows, "Presets x conditions"),
        markdown_table(
            [{k: r.get(k, "") for k in _columns(condition_rows)} for r in condition_rows]
        ),
        "\n## From the true label maps (`--labels`), target regret <= 0.1 mm\n",
        markdown_table([{k: r.get(k, "") for k in _columns(label_rows)} for r in label_rows]),
        "\n## One leg on three grids (from the phases)\n",
        "Target (issue 5): the same physical crossing within 0.5 mm. The distance minimum is "
        "shallow (about 0.1 mm deeper than 5 mm either side along the artery), so centrelines "
        "good to 0.05 mm place it within a few mm; what must agree is its quality (regret).\n",
        markdown_table(grid_rows()),
    ]
    _write(report, RESULTS)


def _write(report: list[str], path: Path) -> None:
    text = "\n".join(report) + "\n"
    print(text)
    path.parent.mkdir(exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _columns(rows: list[dict]) -> list[str]:
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    return columns


if __name__ == "__main__":
    main()
