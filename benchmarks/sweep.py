"""Sweeps of random phantom legs through the pipeline's stages, scored against the truth, on Dask.

Run ``pdvaplan bench sweep --n 200 --seed 1001 --out DIR [--stages plan,centerlines,kernels]``
(or ``python -m benchmarks.sweep ...``). Each seed is one row (`sweep_row`): the random leg of
that seed (`phantoms.make_phantom("random", seed)`: leg, grid, acquisition and, by default,
what the scan holds, all drawn from the seed; or, with ``--phantom NAME``, a preset's leg
with the seed's image noise; ``--grid FILE`` sweeps every combination of a parameter grid,
`read_grid`) is generated where the row runs, every
requested stage runs on it and is scored against the phantom's truth, and the row (a flat
dict of the drawn parameters, the errors, each stage's seconds and the row's peak memory)
travels back. Nothing else travels: a row is reproducible from its seed and options alone.

Rows run on a `dask.distributed.LocalCluster` of processes (one per core, one thread each)
by default, on an existing cluster with ``--scheduler ADDRESS``, or in this process with
``--serial``. Each finished row is appended to ``DIR/rows.jsonl`` as it arrives; a rerun
reads it and computes only the seeds not in it (resumable). At the end the rows of the
requested seeds are written as ``DIR/sweep.parquet`` and ``DIR/sweep.csv`` (one row per
seed), ``DIR/summary.md`` (failure rate, medians and 5th/95th percentiles, the worst rows
with the command that reruns each) and plots (``errors.png``: each error against noise,
spacing and contrast; ``times.png``: each stage's time against the volume's size).

Stages:

``plan``
    `pdvaplan.planning.plan_from_phases` on the two phases, judged as `benchmarks.plan`
    judges it (`benchmarks.plan.plan_case`: right or not, regret, distance, stent-path and
    registration errors, warnings, refusal); with both legs in view each leg is planned
    and the row keeps the worse of the two.
``centerlines``
    Our centrelines (`benchmarks.centerline_peers.ours`) of the true label map's arteries
    and veins, scored against the true centrelines (`phantoms.scoring.centerline_accuracy`).
``kernels``
    The planner's own kernel call (`pdvaplan.planning.candidates.nearest_on_vein`: each
    artery segment's nearest vein segment at any distance) on the true centrelines (each
    vein of the right leg with its paired artery, every 5th true sample: 1 mm apart),
    timed, and checked against brute-force NumPy over all segment pairs
    (`benchmarks.kernels.nearest_brute`, exact segment distances).
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import math
import os
import resource
import sys
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pdvaplan.errors import PdvaplanInputError

#: The stages a row can run, in the order they run.
STAGES = ("plan", "centerlines", "kernels")

#: The errors the summary gives the worst rows of, and the plots show (larger is worse;
#: signed errors are ranked by their size).
ERRORS = (
    "plan_regret_mm",
    "plan_distance_error_mm",
    "plan_stent_error_pct",
    "plan_registration_error_mm",
    "centerlines_artery_mean_mm",
    "centerlines_artery_max_mm",
    "centerlines_artery_radius_error_mm",
    "centerlines_vein_mean_mm",
    "centerlines_vein_max_mm",
    "centerlines_vein_radius_error_mm",
    "kernels_max_difference_mm",
)

#: Columns that say how and where a row ran, not what it found (with every column
#: ending in ``_s`` or ``_mib``, they differ from run to run; see `is_measurement`).
RUN_COLUMNS = ("threads", "worker_pid")

#: Every 5th true centreline sample (0.2 mm apart) for the kernels stage: 1 mm apart.
KERNEL_SAMPLE_STEP = 5

#: Rows in the summary's worst-rows table of each error.
WORST = 5

ROWS_FILE = "rows.jsonl"


def is_measurement(column: str) -> bool:
    """Whether `column` holds a time, a memory figure or where the row ran: what may differ
    between two runs of the same rows (everything else must not).

    Examples
    --------
    >>> [is_measurement(c) for c in ("plan_s", "peak_mib", "plan_regret_mm", "seed")]
    [True, True, False, False]
    """
    return column.endswith(("_s", "_mib")) or column in RUN_COLUMNS


# ----------------------------------------------------------------------------------------------
# Options


def parse_stages(text: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """``"plan,kernels"`` -> the stages, in `STAGES` order.

    Raises
    ------
    PdvaplanInputError
        For an unknown or no stage.

    Examples
    --------
    >>> parse_stages("kernels, plan")
    ('plan', 'kernels')
    """
    given = text.split(",") if isinstance(text, str) else list(text)
    names = {name.strip() for name in given if name.strip()}
    unknown = sorted(names - set(STAGES))
    if unknown or not names:
        raise PdvaplanInputError(
            f"--stages {','.join(given) if given else ''}: "
            + (f"unknown stage {', '.join(unknown)}" if unknown else "no stage")
            + f"; choose from {','.join(STAGES)}"
        )
    return tuple(stage for stage in STAGES if stage in names)


def check_phantom(name: str) -> None:
    """Refuse a ``--phantom`` that is neither ``random`` nor a preset.

    Examples
    --------
    >>> check_phantom("calcified")
    >>> check_phantom("leg")
    Traceback (most recent call last):
    ...
    pdvaplan.errors.PdvaplanInputError: --phantom leg: expected random or a preset (basic, ...)
    """
    from phantoms.presets import PRESETS

    if name != "random" and name not in PRESETS:
        raise PdvaplanInputError(
            f"--phantom {name}: expected random or a preset ({', '.join(PRESETS)})"
        )


def parse_conditions(text: str):
    """What the scanned legs hold (`phantoms.Conditions`), from ``--conditions``.

    ``random`` (the default): drawn from each seed (`phantoms.conditions.random_conditions`:
    a pipe-stem artery in a quarter of the legs, both legs in view in a quarter, a tibial
    plate, a late-filling artery); ``none``: one clean leg; or a comma list of
    ``bilateral``, ``metal``, ``pipestem=ARTERY`` and ``late-fill=ARTERY`` (``anterior-tibial``,
    ``posterior-tibial`` or ``peroneal``, with or without ``-artery``), the same for every seed.

    Returns
    -------
    phantoms.Conditions or None
        None for ``random``.

    Raises
    ------
    PdvaplanInputError
        For a word or artery it does not know.

    Examples
    --------
    >>> parse_conditions("metal,pipestem=peroneal").pipestem
    ('peroneal-artery',)
    >>> parse_conditions("random") is None
    True
    """
    from phantoms import Conditions
    from phantoms.presets import basic_leg

    words = [word.strip() for word in text.split(",") if word.strip()]
    if words == ["random"]:
        return None
    if words == ["none"]:
        return Conditions()
    arteries = [artery.name for artery in basic_leg().arteries]
    chosen: dict = {"pipestem": (), "late_fill": (), "bilateral": False, "metal": False}
    for word in words:
        key, _, artery = word.partition("=")
        key = key.replace("-", "_")
        if key in ("bilateral", "metal") and not artery:
            chosen[key] = True
            continue
        name = artery if artery.endswith("-artery") else f"{artery}-artery"
        if key not in ("pipestem", "late_fill") or name not in arteries:
            raise PdvaplanInputError(
                f"--conditions {text}: cannot read {word!r}; expected random, none, or a comma "
                "list of bilateral, metal, pipestem=ARTERY, late-fill=ARTERY with ARTERY one of "
                + ", ".join(a.removesuffix("-artery") for a in arteries)
            )
        chosen[key] = (*chosen[key], name)
    return Conditions(**chosen)


# ----------------------------------------------------------------------------------------------
# One row


def sweep_row(
    seed: int,
    stages: tuple[str, ...] | str = ("plan",),
    conditions: str = "random",
    spacing_mm: tuple[float, ...] | None = None,
    threads: int | None = None,
    phantom: str = "random",
) -> dict:
    """Generate the leg of `seed` here, run `stages` on it and score them.

    Pure in its arguments: the same arguments give the same row, wherever it runs, except
    for the columns `is_measurement` names (times, memory, threads, process id).

    Parameters
    ----------
    seed : int
        The leg's seed (`phantoms.make_phantom(phantom, seed)`).
    stages : tuple of str or str
        Any of `STAGES` (or a comma list).
    conditions : str
        What the scan holds (`parse_conditions`): ``random`` draws it from the seed.
    spacing_mm : tuple of 1 or 3 floats, optional
        Image the leg on this voxel spacing instead of the drawn one (the anatomy, the
        truth and the grid's direction stay the seed's; a coarse grid images fast).
    threads : int, optional
        Threads the stages work on (`pdvaplan.threads.set_threads`; None: as the process
        is set, every core by default).
    phantom : str
        ``random`` (every parameter drawn from the seed) or a preset of
        `phantoms.presets.PRESETS` (its leg and grid; the seed draws the image noise).

    Returns
    -------
    dict
        Flat and JSON-ready: ``seed`` and the options; the drawn parameters (grid shape,
        ``mvoxels``, spacing, ``noise_hu``, ``contrast_hu`` = arterial-phase artery minus
        muscle, ``cnr``, blur, motion, grey scale, conditions); per stage its errors (columns
        named ``<stage>_...``) and seconds (``<stage>_s``; ``phantom_s`` for generating the
        leg); ``peak_mib``, the row's Python/NumPy peak (`tracemalloc` around the row: the
        arrays NumPy allocates are counted, memory that numba's kernels, SimpleITK or other
        C libraries allocate themselves is not, so it is a lower bound of what the row
        needs); ``process_peak_rss_mib``, the peak resident memory of the process that ran
        it so far (the worker's, with every row it ran before); ``failed`` and ``error``.
        A stage that raises leaves its text in ``<stage>_error`` and the row goes on.
    """
    from pdvaplan.threads import set_threads

    stages = parse_stages(stages)
    spacing = _spacing(spacing_mm)
    if threads is not None:
        set_threads(threads)
    row: dict = {
        "seed": int(seed),
        "phantom": phantom,
        "stages": ",".join(stages),
        "conditions": conditions,
        "spacing_override_mm": None if spacing is None else " ".join(f"{s:g}" for s in spacing),
        "threads": threads,
        "worker_pid": os.getpid(),
    }
    tracing = tracemalloc.is_tracing()
    if tracing:
        tracemalloc.reset_peak()
    else:
        tracemalloc.start()
    try:
        errors = _run_row(row, seed, stages, conditions, spacing, phantom)
        row["peak_mib"] = round(tracemalloc.get_traced_memory()[1] / 2**20, 1)
    finally:
        if not tracing:
            tracemalloc.stop()
    row["process_peak_rss_mib"] = round(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
    )
    row["failed"] = bool(errors)
    row["error"] = "; ".join(errors)
    return row


def _run_row(row: dict, seed: int, stages, conditions: str, spacing, phantom: str) -> list[str]:
    """Fill `row` with the phantom's parameters and each stage's columns; return the errors."""
    from phantoms import make_phantom

    start = time.perf_counter()
    try:
        leg = make_phantom(
            phantom, seed, spacing_mm=spacing, conditions=parse_conditions(conditions)
        )
    except Exception as error:  # a row that fails is a row, never the end of the sweep
        row["phantom_s"] = round(time.perf_counter() - start, 3)
        row["phantom_error"] = _error_text(error)
        return [f"phantom: {row['phantom_error']}"]
    row["phantom_s"] = round(time.perf_counter() - start, 3)
    row |= drawn_parameters(leg.truth)
    errors = []
    for stage in stages:
        start = time.perf_counter()
        try:
            row |= STAGE_FUNCTIONS[stage](leg)
        except Exception as error:  # report any crash of a stage under test
            row[f"{stage}_error"] = _error_text(error)
            errors.append(f"{stage}: {row[f'{stage}_error']}")
        row[f"{stage}_s"] = round(time.perf_counter() - start, 3)
    return errors


def _error_text(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}".splitlines()[0]
    return text[:300]


def _spacing(spacing_mm) -> tuple[float, float, float] | None:
    if spacing_mm is None:
        return None
    values = [float(s) for s in np.atleast_1d(spacing_mm)]
    if len(values) not in (1, 3) or not all(0.1 <= s <= 10.0 for s in values):
        raise PdvaplanInputError(
            f"--spacing-mm {' '.join(f'{s:g}' for s in values)}: expected 1 or 3 values of "
            "0.1 to 10 mm"
        )
    return tuple(values * 3 if len(values) == 1 else values)


def drawn_parameters(truth: dict) -> dict:
    """What the seed drew for a phantom (its truth document), as flat columns."""
    spec, grid = truth["spec"], truth["grid"]
    intensities = spec["intensities"]
    acquisition = truth["acquisition"]
    scanned = truth.get("conditions") or {}
    spacing = np.asarray(grid["spacing_mm"], dtype=float)
    contrast = intensities["artery_arterial_proximal"] - intensities["muscle"]
    return {
        "shape": " x ".join(map(str, grid["shape"])),
        "mvoxels": round(math.prod(grid["shape"]) / 1e6, 3),
        "spacing_i_mm": float(spacing[0]),
        "spacing_j_mm": float(spacing[1]),
        "spacing_k_mm": float(spacing[2]),
        "spacing_mm": round(float(np.prod(spacing) ** (1 / 3)), 4),
        "leg_length_mm": round(float(spec["length_mm"]), 2),
        "noise_hu": round(float(spec["noise_sigma_hu"]), 3),
        "contrast_hu": round(float(contrast), 2),
        "vein_contrast_hu": round(float(intensities["vein_venous"] - intensities["muscle"]), 2),
        "cnr": round(float(contrast / spec["noise_sigma_hu"]), 3),
        "blur_mm": round(float(spec["psf_sigma_mm"]), 3),
        "motion_deg": round(float(acquisition["motion_deg"]), 3),
        "motion_mm": round(float(acquisition["motion_mm"]), 3),
        "grey_scaled": acquisition["hu_scale"] is not None,
        "bilateral": bool(scanned.get("bilateral")),
        "metal": bool(scanned.get("metal")),
        "pipestem": ",".join(scanned.get("pipestem", [])),
        "late_fill": ",".join(scanned.get("late_fill", [])),
        "feasible": bool(truth["feasible"]),
    }


# ----------------------------------------------------------------------------------------------
# Stages


def plan_stage(phantom) -> dict:
    """Plan each leg in view from the phases and judge it (`benchmarks.plan.plan_case`); keep
    the worse leg's errors."""
    from benchmarks.plan import plan_case

    sides = {"right": phantom.truth} | (phantom.truth.get("other_legs") or {})
    legs = {side: plan_case(phantom, side, side, truth, False) for side, truth in sides.items()}
    values = legs.values()
    return {
        "plan_legs": len(legs),
        "plan_right": all(leg["right"] for leg in values),
        "plan_refused": any(leg.get("outcome") == "refused" for leg in values),
        "plan_regret_mm": _worst([leg.get("regret mm") for leg in values]),
        "plan_distance_error_mm": _worst([leg.get("distance error mm") for leg in values]),
        "plan_stent_error_pct": _worst([leg.get("stent error %") for leg in values]),
        "plan_registration_error_mm": _worst([leg.get("registration error mm") for leg in values]),
        "plan_warnings": sum(int(leg.get("warnings") or 0) for leg in values),
        "plan_why": "; ".join(f"{side}: {leg['why']}" for side, leg in legs.items() if leg["why"]),
    }


def _worst(texts: list) -> float | None:
    """The value of largest size among `benchmarks.plan`'s formatted numbers (None if none)."""
    numbers = [float(text) for text in texts if text not in (None, "")]
    return max(numbers, key=abs) if numbers else None


def centerlines_stage(phantom) -> dict:
    """Our centrelines of the true artery and vein masks against the true centrelines (both
    legs' when both are in view)."""
    from benchmarks.centerline_peers import ours
    from benchmarks.centerlines import LABELS
    from phantoms.scoring import centerline_accuracy

    truth = phantom.truth
    vessels = list(truth["vessels"])
    for side, other in (truth.get("other_legs") or {}).items():  # same names: tell them apart
        vessels += [vessel | {"name": f"{side} {vessel['name']}"} for vessel in other["vessels"]]
    row: dict = {}
    for kind, value in LABELS.items():
        mask = phantom.labels.with_array((phantom.labels.array == value).astype(np.uint8))
        start = time.perf_counter()
        lines = ours(mask)
        row[f"centerlines_{kind}_extract_s"] = round(time.perf_counter() - start, 3)
        score = centerline_accuracy(lines, {"vessels": vessels}, kind)
        row |= {
            f"centerlines_{kind}_lines": len(lines),
            f"centerlines_{kind}_mean_mm": round(score["mean_mm"], 6),
            f"centerlines_{kind}_p95_mm": round(score["p95_mm"], 6),
            f"centerlines_{kind}_max_mm": round(score["max_mm"], 6),
            f"centerlines_{kind}_radius_error_mm": round(score["radius_median_error_mm"], 6),
            f"centerlines_{kind}_coverage": round(score["coverage"], 6),
            f"centerlines_{kind}_swaps": int(score["swaps"]),
        }
    return row


def kernels_stage(phantom) -> dict:
    """The planner's kernel call (`nearest_on_vein`) on each vein and its paired artery's
    true centrelines, against brute-force NumPy asked the same (every segment's nearest at
    any distance): largest distance difference and segments that disagree about having a
    nearest one. The kernel is loaded by a small call first, outside the timing."""
    from benchmarks.kernels import nearest_brute
    from pdvaplan.centerlines import END_BORDER, Centerline
    from pdvaplan.planning.candidates import nearest_on_vein

    def line(name: str, points_mm: np.ndarray) -> Centerline:
        return Centerline(name, points_mm, np.ones(len(points_mm)), END_BORDER, END_BORDER)

    vessels = {v["name"]: v for v in phantom.truth["vessels"]}
    pairs = [(v["paired_artery"], name) for name, v in vessels.items() if v["kind"] == "vein"]
    short = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    nearest_on_vein(line("a", short), line("b", short + 1.0))
    call_s = brute_s = 0.0
    difference = 0.0
    disagreements = segments = 0
    for artery, vein in pairs:
        a = np.asarray(vessels[artery]["points_mm"])[::KERNEL_SAMPLE_STEP]
        b = np.asarray(vessels[vein]["points_mm"])[::KERNEL_SAMPLE_STEP]
        start = time.perf_counter()
        found = nearest_on_vein(line(artery, a), line(vein, b))
        call_s += time.perf_counter() - start
        start = time.perf_counter()
        brute_segment, brute_distance = nearest_brute(a, b, reach_mm=np.inf)
        brute_s += time.perf_counter() - start
        has = found.segment_b >= 0
        disagreements += int(np.count_nonzero(has != (brute_segment >= 0)))
        both = has & (brute_segment >= 0)
        if both.any():
            gap = np.abs(found.distance_mm[both] - brute_distance[both])
            difference = max(difference, float(gap.max()))
        segments += len(a) - 1
    return {
        "kernels_pairs": len(pairs),
        "kernels_segments": segments,
        "kernels_max_difference_mm": difference,
        "kernels_reach_disagreements": disagreements,
        "kernels_call_s": round(call_s, 4),
        "kernels_brute_s": round(brute_s, 4),
    }


STAGE_FUNCTIONS = {"plan": plan_stage, "centerlines": centerlines_stage, "kernels": kernels_stage}


# ----------------------------------------------------------------------------------------------
# The sweep


@dataclass
class SweepResult:
    """What `run_sweep` did.

    Attributes
    ----------
    rows : list of dict
        One row per requested seed, by seed (the table written).
    computed : list of int
        Seeds computed by this run (the others were in ``rows.jsonl`` already).
    seconds : float
        Wall time of computing them.
    workers : dict
        Per worker process (address): ``rss_mib`` now and ``peak_rss_mib`` at the end
        of the run (empty for a serial run).
    paths : list of Path
        Files written.
    """

    rows: list[dict]
    computed: list[int]
    seconds: float
    workers: dict = field(default_factory=dict)
    paths: list[Path] = field(default_factory=list)


def run_sweep(
    seeds: list[int],
    stages: tuple[str, ...] | str,
    conditions: str,
    out_dir: str | os.PathLike,
    scheduler: str | None = None,
    workers: int | None = None,
    spacing_mm: tuple[float, ...] | None = None,
    threads: int | None = None,
    quiet: bool = False,
    phantom: str = "random",
) -> SweepResult:
    """Run `sweep_row` for every seed not yet in ``out_dir/rows.jsonl``, then write the table,
    the summary and the plots of all of `seeds`.

    Parameters
    ----------
    seeds : list of int
        The rows.
    stages, conditions, spacing_mm, phantom
        Passed to `sweep_row`.
    out_dir : path
        Folder to write into (created); its ``rows.jsonl`` holds the rows done so far.
    scheduler : str, optional
        None: a `dask.distributed.LocalCluster` of `workers` processes with one thread each;
        ``"serial"``: every row in this process, one after the other; else the address of a
        running ``dask.distributed`` scheduler (``tcp://host:8786``).
    workers : int, optional
        Worker processes of the local cluster [every available core].
    threads : int, optional
        Threads each row works on [serial: every core; local cluster: the cores shared
        among the workers; a scheduler's cluster: 1, for workers started with one thread
        each and as many per node as it has cores].
    quiet : bool
        No progress on stderr.

    Returns
    -------
    SweepResult

    Raises
    ------
    PdvaplanInputError
        If an option is bad, `out_dir` cannot be written, its rows are another sweep's, or
        the scheduler cannot be reached.
    """
    from pdvaplan.io import output_folder
    from pdvaplan.threads import available_cores

    stages = parse_stages(stages)
    parse_conditions(conditions)
    spacing = _spacing(spacing_mm)
    check_phantom(phantom)
    if not seeds:
        raise PdvaplanInputError("--n 0: expected 1 or more seeds")
    if workers is not None and workers < 1:
        raise PdvaplanInputError(f"--workers {workers}: expected 1 or more")
    folder = output_folder(out_dir)
    options = {"phantom": phantom, "stages": ",".join(stages), "conditions": conditions}
    options["spacing_override_mm"] = (
        None if spacing is None else " ".join(f"{s:g}" for s in spacing)
    )
    done = {row["seed"]: row for row in load_rows(folder) if row["seed"] in set(seeds)}
    for row in done.values():
        if any(row.get(key) != value for key, value in options.items()):
            raise PdvaplanInputError(
                f"{folder}: holds rows of another sweep (seed {row['seed']}: phantom "
                f"{row.get('phantom')}, stages "
                f"{row.get('stages')}, conditions {row.get('conditions')}, spacing "
                f"{row.get('spacing_override_mm')}); choose another --out"
            )
    todo = [seed for seed in dict.fromkeys(seeds) if seed not in done]
    arguments = (stages, conditions, spacing)
    start = time.perf_counter()
    worker_memory: dict = {}
    with (
        open(folder / ROWS_FILE, "a", encoding="utf-8") as stream,
        _Progress(len(todo), quiet) as progress,
    ):

        def keep(row: dict, persist: bool = True) -> None:
            done[row["seed"]] = row
            if persist:
                stream.write(json.dumps(row) + "\n")
                stream.flush()
            progress.row(row)

        if scheduler == "serial":
            for seed in todo:
                keep(sweep_row(seed, *arguments, threads=threads, phantom=phantom))
        elif todo:
            if scheduler is None:
                workers = workers or available_cores()
                threads = threads or max(1, available_cores() // workers)
            worker_memory = _on_dask(
                todo, arguments, phantom, scheduler, workers, threads or 1, keep
            )
    seconds = time.perf_counter() - start
    rows = [done[seed] for seed in sorted(dict.fromkeys(seeds))]
    paths = write_outputs(rows, folder, worker_memory)
    if not quiet:
        failed = sum(bool(row.get("failed")) for row in rows)
        print(
            f"pdvaplan: sweep: {len(rows)} rows ({len(todo)} computed in {seconds:.1f} s), "
            f"{failed} failed: {folder / 'summary.md'}",
            file=sys.stderr,
            flush=True,
        )
    return SweepResult(rows, todo, seconds, worker_memory, paths)


def _on_dask(todo, arguments, phantom, scheduler, workers, threads, keep) -> dict:
    """Run the rows of `todo` on a local cluster (`scheduler` None) or the scheduler's; hand
    each row to `keep` as it arrives. Returns the worker processes' memory at the end."""
    from dask.distributed import Client, LocalCluster, as_completed

    cluster = None
    try:
        if scheduler is None:
            cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.ERROR,
            )
            client = Client(cluster)
        else:
            try:
                client = Client(scheduler, timeout="20s")
            except (OSError, TimeoutError, ValueError) as error:
                raise PdvaplanInputError(
                    f"--scheduler {scheduler}: cannot connect ({error})"
                ) from None
        with client:
            futures = {
                client.submit(
                    sweep_row, seed, *arguments, threads=threads, phantom=phantom, pure=False
                ): seed
                for seed in todo
            }
            for future in as_completed(futures):
                try:
                    keep(future.result())
                except Exception as error:  # a worker lost: a row, not persisted, retried next run
                    keep(
                        {"seed": futures[future], "failed": True, "error": _error_text(error)},
                        persist=False,
                    )
            return client.run(_process_memory)
    finally:
        if cluster is not None:
            cluster.close()


def _process_memory() -> dict:
    """This process's resident memory now and its peak (MiB), for `client.run`."""
    import psutil

    return {
        "rss_mib": round(psutil.Process().memory_info().rss / 2**20, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


class _Progress:
    """The project's terminal bar (`pdvaplan.progress.TerminalProgress`), counting rows."""

    def __init__(self, total: int, quiet: bool) -> None:
        self.failed = 0
        self._bar = None
        if not quiet and total and sys.stderr.isatty():
            from pdvaplan.progress import TerminalProgress

            self._bar = TerminalProgress(total)

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.close()

    def row(self, row: dict) -> None:
        self.failed += bool(row.get("failed"))
        if self._bar is not None:
            self._bar.started(f"rows (last seed {row['seed']}, {self.failed} failed)")
            self._bar.finished(str(row["seed"]), 0.0)


def load_rows(folder: str | os.PathLike) -> list[dict]:
    """The rows in ``folder/rows.jsonl`` (a line cut short by a killed run is skipped; the
    last row of a seed wins)."""
    path = Path(folder) / ROWS_FILE
    if not path.exists():
        return []
    rows = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        rows[row["seed"]] = row
    return list(rows.values())


#: The options a row records, which a rerun of it repeats (a grid varies some of them).
ROW_OPTIONS = ("phantom", "stages", "conditions", "spacing_override_mm")


def rerun_command(folder: Path, rows: list[dict]) -> str:
    """The command line that reruns one row into ``folder/rerun-{seed}``: ``{seed}`` to fill
    in, and ``{phantom}`` and the like for options the rows do not share (a grid's).

    Examples
    --------
    >>> rows = [{"seed": s, "phantom": p, "stages": "plan", "conditions": "none",
    ...          "spacing_override_mm": None} for s, p in ((1, "basic"), (2, "calcified"))]
    >>> rerun_command(Path("out"), rows).split(" --out ")[1]
    'out/rerun-{seed} --phantom {phantom} --stages plan --conditions none'
    """
    shared = {}
    for key in ROW_OPTIONS:
        values = {str(row.get(key)) for row in rows}
        shared[key] = values.pop() if len(values) == 1 else f"{{{key}}}"
    spacing = shared.pop("spacing_override_mm")
    return (
        f"pdvaplan bench sweep --serial --n 1 --seed {{seed}} --out {folder}/rerun-{{seed}} "
        + " ".join(f"--{key} {value}" for key, value in shared.items())
        + ("" if spacing == "None" else f" --spacing-mm {spacing}")
    )


# ----------------------------------------------------------------------------------------------
# Outputs


def table_columns(rows: list[dict]) -> list[str]:
    """Every column any row has, in first-seen order."""
    return list(dict.fromkeys(key for row in rows for key in row))


def write_outputs(rows: list[dict], folder: Path, workers: dict | None = None) -> list[Path]:
    """``sweep.parquet``, ``sweep.csv``, ``summary.md``, ``errors.png`` and ``times.png``."""
    import pyarrow as pa
    import pyarrow.csv
    import pyarrow.parquet

    from pdvaplan.outputs import write_atomically, write_text_atomically

    columns = table_columns(rows)
    table = pa.Table.from_pylist([{c: row.get(c) for c in columns} for row in rows])
    paths = [
        write_atomically(folder / "sweep.parquet", lambda t: pyarrow.parquet.write_table(table, t)),
        write_atomically(folder / "sweep.csv", lambda t: pyarrow.csv.write_csv(table, t)),
        write_text_atomically(folder / "summary.md", summary(rows, folder, workers)),
    ]
    ok = [row for row in rows if not row.get("failed")]
    paths += plot_errors(ok, folder / "errors.png") + plot_times(ok, folder / "times.png")
    return paths


def _values(rows: list[dict], column: str) -> np.ndarray:
    return np.array(
        [float(row[column]) for row in rows if isinstance(row.get(column), int | float)], float
    )


def summary(rows: list[dict], folder: Path, workers: dict | None = None) -> str:
    """The markdown summary: failures, medians and percentiles, the worst rows."""
    from benchmarks.machine import machine_note
    from benchmarks.phantoms import markdown_table

    failed = [row for row in rows if row.get("failed")]
    columns = table_columns(rows)

    def varied(key: str) -> str:
        """A sweep option's value, or the values a grid gave it."""
        values = list(dict.fromkeys(str(row.get(key)) for row in rows))
        return values[0] if len(values) == 1 else "{" + ", ".join(values) + "}"

    seeds = sorted({row["seed"] for row in rows})
    lines = [
        f"# Sweep of {varied('phantom')} phantom legs\n",
        f"Machine: {machine_note()}.\n",
        f"{len(rows)} rows (seeds {seeds[0]}-{seeds[-1]}), stages {varied('stages')}, "
        f"conditions {varied('conditions')}"
        + (
            f", spacing {varied('spacing_override_mm')} mm"
            if any(row.get("spacing_override_mm") for row in rows)
            else ""
        )
        + f". Failed (a stage raised, or the worker was lost): {len(failed)} "
        f"({len(failed) / len(rows):.1%}).\n",
    ]
    if failed:
        shown = [{"seed": row["seed"], "error": row.get("error", "")} for row in failed[:20]]
        lines += [markdown_table(shown), ""]
    plans = [row for row in rows if "plan_right" in row]
    if plans:
        wrong = [row["seed"] for row in plans if not row["plan_right"]]
        lines.append(
            f"Plans right: {len(plans) - len(wrong)} of {len(plans)}"
            + (f"; wrong: seeds {', '.join(map(str, wrong))}" if wrong else "")
            + ".\n"
        )
    stats = []
    for column in [c for c in columns if c in ERRORS] + [c for c in columns if is_measurement(c)]:
        values = _values(rows, column)
        if column in RUN_COLUMNS or not values.size:
            continue
        p5, median, p95 = np.percentile(values, (5, 50, 95))
        stats.append(
            {
                "column": column,
                "rows": values.size,
                "median": f"{median:.4g}",
                "5th pct": f"{p5:.4g}",
                "95th pct": f"{p95:.4g}",
                "max": f"{values.max():.4g}",
            }
        )
    if stats:
        lines += ["## Errors, times (s) and memory (MiB)\n", markdown_table(stats), ""]
    if workers:
        shown = [{"worker": name} | memory for name, memory in workers.items()]
        lines += ["## Worker processes at the end\n", markdown_table(shown), ""]
    lines.append(f"## The {WORST} worst rows of each error\n")
    lines.append(f"Rerun one: `{rerun_command(folder, rows)}`.\n")
    grid_columns = [key for key in ROW_OPTIONS if len({str(row.get(key)) for row in rows}) > 1]
    for column in [c for c in columns if c in ERRORS]:
        ranked = sorted(
            (row for row in rows if isinstance(row.get(column), int | float)),
            key=lambda row, c=column: -abs(row[c]),
        )[:WORST]
        if ranked:
            shown = [
                {"seed": row["seed"]}
                | {key: row.get(key) for key in grid_columns}
                | {
                    column: f"{row[column]:.4g}",
                    "noise HU": row.get("noise_hu"),
                    "spacing mm": row.get("spacing_mm"),
                    "contrast HU": row.get("contrast_hu"),
                    "Mvoxels": row.get("mvoxels"),
                }
                for row in ranked
            ]
            lines += [f"### {column}\n", markdown_table(shown), ""]
    return "\n".join(lines)


#: The drawn parameters the errors are plotted against.
AGAINST = (("noise_hu", "noise (HU)"), ("spacing_mm", "voxel size (mm, geometric mean)"),
           ("contrast_hu", "artery contrast (HU above muscle)"))  # fmt: skip


def plot_errors(rows: list[dict], path: Path) -> list[Path]:
    """Each error against noise, spacing and contrast, one panel each (nothing if no error)."""
    from matplotlib.figure import Figure

    from pdvaplan.outputs import write_atomically

    errors = [c for c in ERRORS if _values(rows, c).size]
    if not errors:
        return []
    figure = Figure(figsize=(4 * len(AGAINST), 2.6 * len(errors)), layout="constrained")
    axes = figure.subplots(len(errors), len(AGAINST), squeeze=False)
    for i, error in enumerate(errors):
        have = [row for row in rows if isinstance(row.get(error), int | float)]
        for j, (parameter, label) in enumerate(AGAINST):
            ax = axes[i, j]
            ax.scatter(_values(have, parameter), _values(have, error), s=12)
            ax.set_xlabel(label)
            ax.set_ylabel(error)
            ax.grid(alpha=0.3)
    figure.suptitle("Errors against the drawn parameters (one dot per phantom)")
    return [write_atomically(path, lambda t: figure.savefig(t, format="png", dpi=80))]


def plot_times(rows: list[dict], path: Path) -> list[Path]:
    """Each stage's seconds against the volume's size (millions of voxels)."""
    from matplotlib.figure import Figure

    from pdvaplan.outputs import write_atomically

    stages = [f"{s}_s" for s in ("phantom", *STAGES) if _values(rows, f"{s}_s").size]
    if not stages:
        return []
    figure = Figure(figsize=(6, 4), layout="constrained")
    ax = figure.subplots()
    for column, marker in zip(stages, "os^v", strict=False):
        have = [row for row in rows if isinstance(row.get(column), int | float)]
        label = column.removesuffix("_s")
        ax.scatter(
            _values(have, "mvoxels"), _values(have, column), s=14, marker=marker, label=label
        )
    ax.legend(title="stage")
    ax.set_xlabel("volume size (million voxels)")
    ax.set_ylabel("time (s)")
    ax.grid(alpha=0.3)
    return [write_atomically(path, lambda t: figure.savefig(t, format="png", dpi=80))]


# ----------------------------------------------------------------------------------------------
# Command line


class _Parser(argparse.ArgumentParser):
    """Bad options are `PdvaplanInputError` (one line, exit 2 from ``pdvaplan``)."""

    def error(self, message: str) -> None:
        raise PdvaplanInputError(message)


def build_parser() -> argparse.ArgumentParser:
    """The options of ``pdvaplan bench sweep``."""
    parser = _Parser(
        prog="pdvaplan bench sweep",
        description="Random phantom legs through the stages, scored against the truth, on Dask.",
    )
    parser.add_argument("--n", type=int, default=20, help="phantoms (seeds) [20]")
    parser.add_argument("--seed", type=int, default=1001, help="first seed [1001]")
    parser.add_argument("--out", type=Path, required=True, help="folder to write into")
    parser.add_argument(
        "--phantom",
        default="random",
        help="random (every parameter drawn from the seed) or a preset: basic, "
        "two-arteries, calcified, infeasible, noisy-stenosis, oblique [random]",
    )
    parser.add_argument(
        "--grid",
        type=Path,
        metavar="FILE",
        help="a JSON parameter grid: lists of phantom, conditions and spacing_mm values; one "
        "sweep of the seeds per combination, in sub-folders of --out, and a table of all",
    )
    parser.add_argument("--stages", default="plan", help=f"comma list of {','.join(STAGES)} [plan]")
    parser.add_argument(
        "--conditions",
        default="random",
        help="what each scan holds: random (drawn from the seed), none (a clean leg), or a "
        "comma list of bilateral, metal, pipestem=ARTERY, late-fill=ARTERY [random]",
    )
    parser.add_argument(
        "--spacing-mm",
        type=float,
        nargs="+",
        metavar="S",
        help="image every leg on this voxel spacing (1 or 3 values) [each seed's own]",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--scheduler", metavar="ADDRESS", help="a running dask.distributed scheduler [a local one]"
    )
    where.add_argument("--serial", action="store_true", help="run every row in this process")
    parser.add_argument(
        "--workers", type=int, help="worker processes of the local cluster [every core]"
    )
    parser.add_argument("--threads", type=int, help="threads each row works on [see README]")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    return parser


#: What a parameter-grid file may vary, and how each value reads on the command line.
GRID_KEYS = ("phantom", "conditions", "spacing_mm")


def read_grid(path: str | os.PathLike) -> list[dict]:
    """The sweeps a parameter-grid file asks for: every combination of its values.

    The file is JSON: an object whose keys are among `GRID_KEYS`, each a list of values
    (``phantom``: ``random`` or a preset; ``conditions``: as ``--conditions``;
    ``spacing_mm``: null, a number or three). A key left out takes the command line's value.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "grid.json"
    >>> _ = path.write_text('{"phantom": ["basic", "calcified"], "spacing_mm": [1.5, null]}')
    >>> [sorted(c.items()) for c in read_grid(path)][:2]
    [[('phantom', 'basic'), ('spacing_mm', 1.5)], [('phantom', 'basic'), ('spacing_mm', None)]]
    """
    try:
        grid = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise PdvaplanInputError(f"{path}: cannot read the parameter grid ({error})") from None
    if not isinstance(grid, dict) or not grid or set(grid) - set(GRID_KEYS):
        raise PdvaplanInputError(
            f"{path}: expected a JSON object with lists under any of {', '.join(GRID_KEYS)}"
        )
    if not all(isinstance(values, list) and values for values in grid.values()):
        raise PdvaplanInputError(f"{path}: every key of the grid needs a list of values")
    keys = list(grid)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*grid.values())]


def _grid_folder(combination: dict) -> str:
    """A sub-folder name that says which combination of the grid a sweep is."""
    words = []
    for key, value in combination.items():
        if isinstance(value, list):
            value = "x".join(f"{v:g}" for v in value)
        elif isinstance(value, float):
            value = f"{value:g}"
        words.append(f"{key}-{value}".replace(",", "+").replace("=", "_").replace(" ", ""))
    return "_".join(words)


def run_grid(grid: list[dict], seeds: list[int], defaults: dict, out_dir, **options) -> list[dict]:
    """One sweep of `seeds` per combination of `grid` (`read_grid`), each in a sub-folder
    of `out_dir` (resumable on its own), then the table, summary and plots of all their
    rows together in `out_dir`. `defaults` gives ``phantom``, ``conditions`` and
    ``spacing_mm`` where a combination does not; `options` go to `run_sweep`."""
    from pdvaplan.io import output_folder

    folder = output_folder(out_dir)
    rows = []
    for combination in grid:
        chosen = defaults | {k: combination[k] for k in combination}
        rows += run_sweep(
            seeds,
            options["stages"],
            chosen["conditions"],
            folder / _grid_folder(combination),
            spacing_mm=chosen["spacing_mm"],
            phantom=chosen["phantom"],
            **{k: v for k, v in options.items() if k != "stages"},
        ).rows
    write_outputs(rows, folder)
    return rows


def main(argv: list[str] | None = None) -> None:
    """Run ``pdvaplan bench sweep`` with the arguments `argv`."""
    args = build_parser().parse_args(argv)
    if args.n < 1:
        raise PdvaplanInputError(f"--n {args.n}: expected 1 or more phantoms")
    if args.seed < 0:
        raise PdvaplanInputError(f"--seed {args.seed}: expected 0 or more")
    if args.threads is not None and args.threads < 1:
        raise PdvaplanInputError(f"--threads {args.threads}: expected 1 or more")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    seeds = list(range(args.seed, args.seed + args.n))
    if args.grid is not None:
        run_grid(
            read_grid(args.grid),
            seeds,
            {"phantom": args.phantom, "conditions": args.conditions, "spacing_mm": args.spacing_mm},
            args.out,
            stages=args.stages,
            scheduler="serial" if args.serial else args.scheduler,
            workers=args.workers,
            threads=args.threads,
            quiet=args.quiet,
        )
        return
    run_sweep(
        seeds,
        args.stages,
        args.conditions,
        args.out,
        scheduler="serial" if args.serial else args.scheduler,
        workers=args.workers,
        spacing_mm=args.spacing_mm,
        threads=args.threads,
        quiet=args.quiet,
        phantom=args.phantom,
    )


if __name__ == "__main__":
    try:
        main()
    except PdvaplanInputError as error:
        print(f"benchmarks.sweep: error: {error}", file=sys.stderr)
        sys.exit(2)
