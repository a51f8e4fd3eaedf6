"""The ``pdvaplan`` command line: argument parsing, progress, exit codes.

Exit status: 0 on success, 2 for bad input (one line on stderr naming the file
or option and the problem, no traceback), 1 for anything else.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pdvaplan import __version__
from pdvaplan.errors import PdvaplanInputError
from pdvaplan.planning.parameters import EXAMPLE_CATALOG, PlanParameters
from pdvaplan.threads import available_cores, set_threads

if TYPE_CHECKING:
    from pdvaplan.planning import Plan
    from phantoms import Acquisition, Conditions

# Each command imports the stages it runs when it runs: ``pdvaplan --help`` and a bad
# option answer at once instead of loading the whole pipeline first.

DEMO_FOLDER = "pdvaplan-demo"


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line and exit status 2."""

    def error(self, message: str) -> None:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


#: Whether progress messages are silenced (``--quiet``).
_quiet = False


def _progress(message: str) -> None:
    if not _quiet:
        print(f"pdvaplan: {message}", file=sys.stderr, flush=True)


def _reporters(total_stages: int | None) -> list:
    """The progress reporters of a run: a bar on a terminal (unless ``--quiet``), a log line
    per stage with ``--verbose`` (logging at INFO)."""
    from pdvaplan.progress import LoggingProgress, TerminalProgress

    reporters: list = []
    if not _quiet and sys.stderr.isatty():
        reporters.append(TerminalProgress(total_stages))
    if logging.getLogger("pdvaplan").isEnabledFor(logging.INFO):
        reporters.append(LoggingProgress())
    return reporters


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = _Parser(
        prog="pdvaplan",
        description="Plan a pDVA artery-to-vein crossing in 3D, in millimetres.",
    )
    parser.add_argument("--version", action="version", version=f"pdvaplan {__version__}")
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )
    working = argparse.ArgumentParser(add_help=False)
    working.add_argument(
        "--quiet", action="store_true", help="no progress on stderr (warnings and errors only)"
    )
    working.add_argument(
        "--verbose",
        action="store_true",
        help="log each stage's seconds and figures (calibration, registration, levels, ...)",
    )
    working.add_argument(
        "--threads",
        type=_thread_count,
        default=None,
        metavar="N",
        help=f"threads to work on [every available core: {available_cores()}]",
    )

    demo = commands.add_parser(
        "demo",
        parents=[working],
        help="generate the built-in example leg, plan it, and check the plan "
        "against the known answer",
    )
    demo.add_argument(
        "--out", type=Path, default=Path(DEMO_FOLDER), help=f"folder to write into [{DEMO_FOLDER}]"
    )
    demo.set_defaults(run=_run_demo)

    plan = commands.add_parser(
        "plan",
        parents=[working],
        help="plan the crossing and stent-graft path (plan.json)",
        description="Plan a pDVA crossing from two contrast phases or from a label map.",
    )
    inputs = plan.add_argument_group("input (two phases, or a label map)")
    inputs.add_argument("--arterial", type=Path, help="arterial-phase volume or DICOM folder")
    inputs.add_argument("--venous", type=Path, help="venous-phase volume or DICOM folder")
    inputs.add_argument(
        "--labels", type=Path, help="label map: 1 artery, 2 vein, 3 calcium, 4 bone, 0 else"
    )
    plan.add_argument("--out", type=Path, required=True, help="folder to write into")
    rules = plan.add_argument_group("rules")
    defaults = PlanParameters.__dataclass_fields__
    for name, help_text in (
        ("reach_mm", "longest needle, centreline to centreline"),
        ("min_artery_mm", "smallest artery lumen diameter at the crossing (0: no limit)"),
        ("min_vein_mm", "smallest vein lumen diameter at the crossing (0: no limit)"),
        ("calcium_hu", "voxels this bright touching the artery lumen are calcified wall"),
        ("calcium_margin_mm", "keep the crossing this far (along the artery) from calcium"),
    ):
        default = defaults[name].default
        rules.add_argument(
            "--" + name.replace("_", "-"),
            type=float,
            default=default,
            help=f"{help_text} [{default:g}]",
        )
    rules.add_argument(
        "--ankle-z-mm",
        type=float,
        help="height (LPS z, mm) of the ankle: the stent-graft path runs down to it and heights "
        "are measured from it [the volume's lower border; the path then runs to the vein's end]",
    )
    rules.add_argument(
        "--catalog",
        type=Path,
        default=EXAMPLE_CATALOG,
        help="stent-graft sizes (JSON) [an example catalogue, not device data]",
    )
    images = plan.add_argument_group("two acquisitions")
    images.add_argument(
        "--register",
        choices=("rigid", "none"),
        default="rigid",
        help="register the venous phase rigidly onto the arterial one, or 'none' when they "
        "share a frame (bone of the two is then only checked) [rigid]",
    )
    images.add_argument(
        "--hu-scale",
        type=float,
        nargs=2,
        metavar=("A", "B"),
        help="both phases' grey values are A * HU + B [estimated from air and soft tissue]",
    )
    plan.add_argument(
        "--side",
        choices=("left", "right"),
        help="the patient's leg to plan on when both are in view (left is +x in LPS) "
        "[required then; else checked against the bones]",
    )
    plan.add_argument("--no-render", action="store_true", help="write no pictures")
    plan.set_defaults(run=_run_plan)

    render = commands.add_parser(
        "render", help="redraw the pictures and report.html of a plan folder", parents=[working]
    )
    render.add_argument("folder", type=Path, help="a folder written by 'pdvaplan plan'")
    render.set_defaults(run=_run_render)

    view_command = commands.add_parser(
        "view", help="turn a plan's 3D scene in a window (n/p: next/previous candidate)"
    )
    view_command.add_argument("folder", type=Path, help="a folder written by 'pdvaplan plan'")
    view_command.set_defaults(run=_run_view)

    phantom = commands.add_parser(
        "phantom",
        help="write a synthetic lower leg (two phases, labels, truth.json)",
        parents=[working],
    )
    phantom.add_argument(
        "--preset",
        default="basic",
        help="which leg [basic]: basic, two-arteries, calcified, infeasible, noisy-stenosis, "
        "oblique, or random (every parameter drawn from --seed)",
    )
    phantom.add_argument("--out", type=Path, required=True, help="folder to write into")
    phantom.add_argument("--seed", type=int, default=0, help="seed of the noise [0]")
    phantom.add_argument(
        "--spacing",
        type=float,
        nargs=3,
        metavar=("SI", "SJ", "SK"),
        help="voxel spacing in mm along the index axes [preset's]",
    )
    phantom.add_argument(
        "--direction",
        nargs="+",
        metavar="D",
        help="direction matrix: identity, ras, permuted, oblique, or 9 numbers row-major "
        "as SimpleITK's GetDirection [preset's]",
    )
    acquisition = phantom.add_argument_group(
        "acquisition (random draws these from --seed; given ones replace the draw)"
    )
    acquisition.add_argument(
        "--motion",
        type=float,
        nargs=2,
        metavar=("DEG", "MM"),
        help="venous phase on its own grid, the leg rotated by DEG degrees and shifted by MM mm "
        "(axis and direction from --seed) [none]",
    )
    acquisition.add_argument(
        "--hu-scale",
        type=float,
        nargs=2,
        metavar=("A", "B"),
        help="write grey values A * HU + B (uint16 where they fit) instead of HU [HU]",
    )
    acquisition.add_argument(
        "--swap-phases",
        action="store_true",
        help="write the venous phase as arterial.nii.gz and the arterial one as venous.nii.gz",
    )
    scanned = phantom.add_argument_group(
        "the leg as scanned (random draws these from --seed; given ones replace the draw)"
    )
    scanned.add_argument(
        "--pipestem",
        action="append",
        metavar="ARTERY",
        help="calcify ARTERY (e.g. posterior-tibial-artery) all round along its whole length; "
        "repeat for more [none]",
    )
    scanned.add_argument(
        "--late-fill",
        action="append",
        metavar="ARTERY",
        help="ARTERY's contrast fades to none over 80 mm down to its occlusion (a bolus the "
        "scan outran); repeat for more [none]",
    )
    scanned.add_argument(
        "--metal",
        action="store_true",
        help="a plate with screws on the tibia (3000 HU, with streaks)",
    )
    scanned.add_argument(
        "--bilateral",
        action="store_true",
        help="both legs in view: the patient's left leg (+x) beside the right one, with an "
        "anatomy drawn from --seed",
    )
    phantom.set_defaults(run=_run_phantom)

    centerlines = commands.add_parser(
        "centerlines",
        help="centrelines with radii of a binary vessel mask (json and vtp)",
        parents=[working],
    )
    centerlines.add_argument(
        "--mask", type=Path, required=True, help="image whose nonzero voxels are vessel lumen"
    )
    centerlines.add_argument("--out", type=Path, required=True, help="folder to write into")
    centerlines.add_argument(
        "--step-mm",
        type=float,
        default=None,
        help="spacing of the points along each line [0.5, the extractor's default]",
    )
    centerlines.set_defaults(run=_run_centerlines)

    info = commands.add_parser("info", help="show the grid and physical frame of volumes")
    info.add_argument("volumes", nargs="+", type=Path, help="image files or DICOM series folders")
    info.set_defaults(run=_run_info)

    bench = commands.add_parser(
        "bench",
        help="benchmarks: sweep (random phantoms through the stages, on Dask), kernels, "
        "pipeline (pdvaplan bench NAME --help)",
    )
    bench.add_argument("benchmark", choices=tuple(_BENCHMARKS), help="which benchmark")
    bench.add_argument("rest", nargs=argparse.REMAINDER, help="the benchmark's own options")
    bench.set_defaults(run=_run_bench)
    return parser


#: ``pdvaplan bench NAME``: the module whose ``main(argv)`` runs it.
_BENCHMARKS = {
    "sweep": "benchmarks.sweep",
    "kernels": "benchmarks.kernels",
    "pipeline": "benchmarks.plan",
}


def _run_bench(args: argparse.Namespace) -> None:
    import importlib

    try:
        module = importlib.import_module(_BENCHMARKS[args.benchmark])
    except ImportError as error:
        raise PdvaplanInputError(
            f"{args.benchmark} needs the benchmark extras (pip install 'pdvaplan[bench]'): {error}"
        ) from None
    module.main(args.rest)


def _thread_count(text: str) -> int:
    """``--threads``: a whole number of threads, 1 or more."""
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number, 1 or more")
    return count


def _parse_direction(values: Sequence[str] | None) -> tuple[float, ...] | None:
    from phantoms import DIRECTIONS

    if values is None:
        return None
    if len(values) == 1 and values[0] in DIRECTIONS:
        return tuple(DIRECTIONS[values[0]].ravel())
    try:
        numbers = tuple(float(v) for v in values)
    except ValueError:
        numbers = ()
    if len(numbers) != 9:
        raise PdvaplanInputError(
            f"--direction {' '.join(values)}: give one of {', '.join(DIRECTIONS)} or 9 numbers"
        )
    return numbers


def _acquisition(preset: str, seed: int, args: argparse.Namespace) -> Acquisition:
    """The preset's acquisition (drawn for random) with the options given replacing it."""
    from dataclasses import replace

    from phantoms import Acquisition
    from phantoms.presets import random_acquisition

    acquisition = random_acquisition(seed) if preset == "random" else Acquisition()
    changes = {}
    if args.motion is not None:
        changes["motion_deg"], changes["motion_mm"] = args.motion
    if args.hu_scale is not None:
        changes["hu_scale"] = tuple(args.hu_scale)
    if args.swap_phases:
        changes["swap_phases"] = True
    return replace(acquisition, **changes)


def _conditions(args: argparse.Namespace) -> Conditions | None:
    """The conditions given on the command line, or None to take the preset's."""
    from phantoms import Conditions

    if args.pipestem is None and args.late_fill is None and not (args.bilateral or args.metal):
        return None
    return Conditions(
        pipestem=tuple(args.pipestem or ()),
        bilateral=args.bilateral,
        metal=args.metal,
        late_fill=tuple(args.late_fill or ()),
    )


def _make_and_write_phantom(
    preset: str,
    out: Path,
    seed: int = 0,
    spacing_mm=None,
    direction=None,
    acquisition: Acquisition | None = None,
    conditions: Conditions | None = None,
    shown_as: Path | None = None,
) -> dict:
    """Make a phantom and write it into `out` (named `shown_as` in messages)."""
    from phantoms import PRESETS, make_phantom, write_phantom

    if preset not in PRESETS and preset != "random":
        raise PdvaplanInputError(
            f"--preset {preset}: unknown; choose one of {', '.join(PRESETS)} or random"
        )
    start = time.perf_counter()
    phantom = make_phantom(
        preset,
        seed,
        spacing_mm,
        direction,
        progress=lambda step: _progress(f"phantom '{preset}' (seed {seed}): {step}"),
        acquisition=acquisition,
        conditions=conditions,
    )
    generated = time.perf_counter()
    paths = write_phantom(phantom, out)
    _progress(
        f"generated {' x '.join(map(str, phantom.labels.shape))} voxels in "
        f"{generated - start:.1f} s, wrote {len(paths)} files to {shown_as or out}/ in "
        f"{time.perf_counter() - generated:.1f} s"
    )
    return phantom.truth


def summarise_truth(truth: dict) -> str:
    """A few lines a person can read: the grid, the vessels and the known answer."""
    grid = truth["grid"]
    lines = [
        f"phantom '{truth['preset']}' (seed {truth['seed']}): "
        f"{' x '.join(map(str, grid['shape']))} voxels of "
        f"{' x '.join(f'{s:.2f}' for s in grid['spacing_mm'])} mm",
    ]
    acquisition = truth.get("acquisition") or {}
    if acquisition.get("venous_from_arterial"):
        lines.append(
            f"  venous phase on its own grid, the leg moved {acquisition['motion_deg']:g} deg "
            f"and {acquisition['motion_mm']:g} mm between the phases"
        )
    if acquisition.get("hu_scale"):
        a, b = acquisition["hu_scale"]
        lines.append(f"  grey values {a:g} x HU + {b:g}, not HU")
    if acquisition.get("swap_phases"):
        lines.append("  phases swapped: arterial.nii.gz holds the venous phase and vice versa")
    for artery in (truth.get("conditions") or {}).get("pipestem", []):
        lines.append(f"  {artery}: pipe-stem, calcified all round along its whole length")
    for artery in (truth.get("conditions") or {}).get("late_fill", []):
        lines.append(f"  {artery}: fills late, its contrast fades to none towards its occlusion")
    if (truth.get("conditions") or {}).get("metal"):
        lines.append("  a plate and screws on the tibia (metal, with streaks)")
    lines += _leg_lines(truth, "right leg: " if truth.get("other_legs") else "")
    for side, other in (truth.get("other_legs") or {}).items():
        lines += _leg_lines(other, f"{side} leg: ")
    return "\n".join(lines)


def _leg_lines(truth: dict, prefix: str) -> list[str]:
    """A leg's arteries and its known answer, lines prefixed with `prefix`."""
    lines = []
    for vessel in truth["vessels"]:
        if vessel["kind"] != "artery":
            continue
        end = vessel["patent_end_mm"]
        state = f"patent down to z = {end[2]:.0f} mm" if end else "occluded throughout"
        calcified = sum(vessel["calcified"]) * truth["parameters"]["sample_step_mm"]
        lines.append(
            f"  {prefix}{vessel['name']}: {state}"
            + (f", {calcified:.0f} mm of calcified wall" if calcified else "")
        )
    crossing = truth["crossing"]
    if crossing is None:
        lines.append(f"{prefix}known answer: no feasible crossing ({truth['reason']})")
    else:
        point = ", ".join(f"{c:.1f}" for c in crossing["artery_point_mm"])
        lines.append(
            f"{prefix}known answer: cross from the {crossing['artery']} at ({point}) mm into the "
            f"{crossing['vein']}: {crossing['distance_mm']:.2f} mm centre to centre, "
            f"{crossing['gap_mm']:.2f} mm wall gap"
        )
        lines.append(
            f"  stent-graft path down the vein to the ankle: "
            f"{truth['stent_graft']['path_length_mm']:.0f} mm"
        )
    return lines


def _run_phantom(args: argparse.Namespace) -> None:
    from pdvaplan.outputs import run_folder

    with run_folder(args.out) as folder:
        truth = _make_and_write_phantom(
            args.preset,
            folder,
            args.seed,
            args.spacing,
            _parse_direction(args.direction),
            _acquisition(args.preset, args.seed, args),
            _conditions(args),
            shown_as=args.out,
        )
    print(summarise_truth(truth))


def _run_demo(args: argparse.Namespace) -> None:
    from pdvaplan.outputs import run_folder
    from phantoms.scoring import score_crossing

    with run_folder(args.out) as folder:
        truth = _make_and_write_phantom("basic", folder / "phantom", shown_as=args.out / "phantom")
        print(summarise_truth(truth))
        phases = ("arterial", "venous")
        plan = _plan_and_write(
            {phase: folder / "phantom" / f"{phase}.nii.gz" for phase in phases},
            folder,
            PlanParameters(),
            recorded_as={phase: args.out / "phantom" / f"{phase}.nii.gz" for phase in phases},
        )
    print(summarise_plan(plan))
    crossing = plan.crossing
    if crossing is not None and truth["crossing"] is not None:
        score = score_crossing(
            truth, crossing.artery_point_mm, crossing.vein_point_mm, crossing.distance_mm
        )
        print(
            f"against the known answer: {'right' if score['right'] else 'WRONG'} site "
            f"(true distance there {score['true_distance_mm']:.2f} mm, "
            f"{score['regret_mm']:+.2f} mm from the best; reported distance off by "
            f"{score['distance_error_mm']:+.2f} mm)"
        )
    _print_outputs(args.out, rendered=True)


def _run_plan(args: argparse.Namespace) -> None:
    phases = args.arterial is not None or args.venous is not None
    if phases == (args.labels is not None) or (phases and None in (args.arterial, args.venous)):
        raise PdvaplanInputError(
            "give --arterial and --venous, or --labels (not both, not neither)"
        )
    from pdvaplan.outputs import run_folder
    from pdvaplan.planning import load_catalog

    parameters = PlanParameters(
        reach_mm=args.reach_mm,
        min_artery_mm=args.min_artery_mm,
        min_vein_mm=args.min_vein_mm,
        calcium_hu=args.calcium_hu,
        calcium_margin_mm=args.calcium_margin_mm,
        ankle_z_mm=args.ankle_z_mm,
        register=args.register,
        hu_scale=None if args.hu_scale is None else tuple(args.hu_scale),
        side=args.side,
        catalog=load_catalog(args.catalog),
    )
    given = {"arterial": args.arterial, "venous": args.venous, "labels": args.labels}
    given = {name: path for name, path in given.items() if path is not None}
    with run_folder(args.out) as folder:
        plan = _plan_and_write(given, folder, parameters, render=not args.no_render)
    print(summarise_plan(plan))
    _print_outputs(args.out, rendered=not args.no_render)


def _print_outputs(folder: Path, rendered: bool) -> None:
    print(f"plan: {folder / 'plan.json'}")
    if rendered:
        print(
            f"report: {folder / 'report.html'} (open it in a browser; "
            f"'pdvaplan view {folder}' turns the scene on a workstation)"
        )


def _run_render(args: argparse.Namespace) -> None:
    from pdvaplan.render import render_folder

    start = time.perf_counter()
    paths = render_folder(args.folder)
    _progress(f"drew {len(paths)} files in {time.perf_counter() - start:.1f} s")
    print(f"report: {args.folder / 'report.html'}")


def _run_view(args: argparse.Namespace) -> None:
    from pdvaplan.render import view

    view(args.folder)


def _plan_and_write(
    given: dict[str, Path],
    folder: Path,
    parameters: PlanParameters,
    render: bool = True,
    recorded_as: dict[str, Path] | None = None,
) -> Plan:
    """Read the inputs (``arterial`` and ``venous``, or ``labels``), plan, and write
    plan.json, the centrelines, the segmentation, the Slicer markups and (unless not
    `render`) the pictures and report.html into `folder` (plan.json names the inputs as
    `recorded_as`, where they will be once the run is in place)."""
    from pdvaplan.planning import write_plan
    from pdvaplan.planning.plan import STAGES
    from pdvaplan.progress import reporting
    from pdvaplan.segmentation.pipeline import STAGES as SEGMENTATION_STAGES

    timings = dict.fromkeys(STAGES)
    # load, centerlines, search, plan (and render), or the segmentation's stages for "segment"
    stages = 4 + render + (0 if "labels" in given else len(SEGMENTATION_STAGES))
    with reporting(*_reporters(stages)):
        plan = _plan_and_draw(given, folder, parameters, render, recorded_as, timings)
    write_plan(plan, folder)
    _report_plan(plan)
    return plan


def _plan_and_draw(given, folder, parameters, render, recorded_as, timings) -> Plan:
    """`_plan_and_write`'s stages, reported: everything but plan.json."""
    from pdvaplan.centerlines import write_centerlines
    from pdvaplan.io import read_volume
    from pdvaplan.kernels._cache import plan_kernels_cached
    from pdvaplan.memory import check_plan_fits
    from pdvaplan.outputs import file_sha256
    from pdvaplan.planning import plan_from_labels, plan_from_phases, write_segmentation
    from pdvaplan.progress import stage
    from pdvaplan.slicer import write_plan_markups, write_slicer_segmentation

    check_plan_fits(given)
    if not plan_kernels_cached():
        _progress(
            "compiling the geometry kernels: once after installing or updating pdvaplan "
            "(about 8 s more than later runs on 2 cores)"
        )
    _progress(f"reading {', '.join(str(p) for p in (recorded_as or given).values())} ...")
    with stage("load", timings):
        volumes = {name: read_volume(path) for name, path in given.items()}
    if "labels" in given:
        _progress("finding centrelines and the crossing ...")
        plan = plan_from_labels(volumes["labels"], parameters, timings)
    else:
        _progress("segmenting, finding centrelines and the crossing ...")
        plan = plan_from_phases(volumes["arterial"], volumes["venous"], parameters, timings)
    plan.inputs = {name: str(path) for name, path in (recorded_as or given).items()} | {
        "sha256": {name: file_sha256(path) for name, path in given.items()}
    }
    write_centerlines([*plan.vessels.arteries, *plan.vessels.veins], folder, "plan vessels")
    write_plan_markups(plan.as_dict(), folder)
    write_slicer_segmentation(plan.vessels.labels, folder)
    if plan.segmentation is not None and not render:  # drawing writes it too
        write_segmentation(plan.segmentation.labels, folder)
    if render:
        from pdvaplan.render import render_plan  # pyvista and matplotlib load in seconds

        _progress("drawing the pictures and report.html ...")
        phases = (
            (plan.segmentation.arterial_hu, plan.segmentation.venous_on_grid)
            if plan.segmentation is not None
            else (None, None)
        )
        with stage("render", plan.timings_s):
            render_plan(plan, folder, *phases)
    return plan


def _report_plan(plan: Plan) -> None:
    """The plan's warnings and the time each stage took, on stderr."""
    for warning in plan.warnings:
        print(f"pdvaplan: warning: {warning}", file=sys.stderr, flush=True)
    spent = {stage: t for stage, t in plan.timings_s.items() if isinstance(t, float | int) and t}
    _progress(
        f"planned in {sum(spent.values()):.1f} s ("
        + ", ".join(f"{stage} {t:.1f} s" for stage, t in spent.items())
        + ")"
    )


def summarise_plan(plan: Plan) -> str:
    """The plan in a few sentences."""
    from pdvaplan.planning.vessels import vessel_title

    document = plan.as_dict()
    vessels = document["vessels"]
    calcified = _calcified_throughout(vessels)
    if not plan.feasible:
        nearest = "" if plan.nearest_mm is None else f" (nearest {plan.nearest_mm:.2f} mm)"
        return "\n".join([f"no feasible crossing: {plan.reason}{nearest}", *calcified])
    crossing = plan.crossing
    artery, vein = (
        vessel_title(v, plan.names.get(v), True) for v in (crossing.artery, crossing.vein)
    )
    stent = plan.stent_graft
    point = ", ".join(f"{c:.1f}" for c in crossing.artery_point_mm)
    chain = ", ".join(
        f"{s['kind']} {s['proximal_diameter_mm']:g}"
        + (
            f"-{s['distal_diameter_mm']:g}"
            if s["distal_diameter_mm"] != s["proximal_diameter_mm"]
            else ""
        )
        + f" x {s['length_mm']:g} mm"
        for s in stent["segments"]
    )
    lines = [
        f"crossing: from {artery} at ({point}) mm into {vein}, "
        f"{crossing.distance_mm:.2f} mm centre to centre, {crossing.gap_mm:.2f} mm wall gap, "
        f"needle at {crossing.needle_angle_deg:.0f} deg to the artery; "
        f"{document['crossing']['height_above_ankle_mm']:.0f} mm above the ankle",
        f"stent-graft path: {stent['length_mm']:.0f} mm down {vein}: {chain}",
        f"{len(plan.candidates) - 1} other candidate sites in plan.json, ranked by the smoothed "
        "distance profile (distance_mm raw, smoothed_distance_mm smoothed)",
        *calcified,
    ]
    return "\n".join(lines)


def _calcified_throughout(vessels: list[dict]) -> list[str]:
    """A line per artery (plan.json's ``vessels``) with no stretch beyond the calcium
    margin (pipe-stem)."""
    from pdvaplan.planning.vessels import vessel_title

    return [
        f"{vessel_title(vessel['id'], vessel['name'])}: calcified along "
        f"{vessel['calcified_mm']:.0f} of its {vessel['length_mm']:.0f} mm, no site on it"
        for vessel in vessels
        if vessel["kind"] == "artery"
        and vessel["calcified_mm"] > 0
        and vessel["clear_of_calcium_mm"] <= 0
    ]


def _run_centerlines(args: argparse.Namespace) -> None:
    import numpy as np

    from pdvaplan.centerlines import CenterlineSettings, extract_centerlines, write_centerlines
    from pdvaplan.io import read_volume
    from pdvaplan.outputs import run_folder

    settings = CenterlineSettings()
    if args.step_mm is not None:
        if not 0.05 <= args.step_mm <= 10.0:
            raise PdvaplanInputError(f"--step-mm {args.step_mm:g}: expected 0.05 to 10 mm")
        settings = CenterlineSettings(step_mm=args.step_mm)
    mask = read_volume(args.mask)
    start = time.perf_counter()
    lines = extract_centerlines(mask, settings=settings)
    if not lines:
        raise PdvaplanInputError(f"{args.mask}: no centreline: the mask is empty or only specks")
    with run_folder(args.out) as folder:
        paths = write_centerlines(lines, folder, str(args.mask))
    _progress(f"{len(lines)} centrelines in {time.perf_counter() - start:.1f} s")
    for line in lines:
        print(
            f"{line.id}: {line.length_mm:.1f} mm, radius {np.median(line.radii_mm):.2f} mm "
            f"(median), ends: {line.proximal_end} / {line.distal_end}"
        )
    print(f"files: {', '.join(p.name for p in paths)} in {args.out}/")


def _run_info(args: argparse.Namespace) -> None:
    import numpy as np

    from pdvaplan.io import read_volume

    for path in args.volumes:
        volume = read_volume(path)
        corners = volume.corners_mm()
        array = volume.array
        print(
            f"{path}: {' x '.join(map(str, volume.shape))} voxels ({array.dtype}), "
            f"spacing {' x '.join(f'{s:g}' for s in volume.spacing_mm)} mm, "
            f"orientation {volume.orientation}, values {array.min():g} to {array.max():g}\n"
            f"  origin {np.round(volume.origin_mm, 3).tolist()} mm, direction "
            f"{np.round(volume.direction, 4).tolist()}\n"
            f"  voxel centres span x {corners[:, 0].min():.1f}..{corners[:, 0].max():.1f}, "
            f"y {corners[:, 1].min():.1f}..{corners[:, 1].max():.1f}, "
            f"z {corners[:, 2].min():.1f}..{corners[:, 2].max():.1f} mm (LPS)"
        )


def _configure_logging(verbose: bool) -> None:
    """Log the package's figures (logger ``pdvaplan``) to stderr with ``--verbose``."""
    logger = logging.getLogger("pdvaplan")
    logger.setLevel(logging.INFO if verbose else logging.WARNING)
    if verbose and not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("pdvaplan: %(message)s"))
        logger.addHandler(handler)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    # The command line is a process of its own: threads wait passively between parallel
    # regions (see `pdvaplan.threads`) unless the environment says otherwise.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    set_threads(getattr(args, "threads", None))
    global _quiet
    _quiet = getattr(args, "quiet", False)
    _configure_logging(getattr(args, "verbose", False))
    try:
        args.run(args)
    except PdvaplanInputError as error:
        print(f"pdvaplan {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pdvaplan: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
