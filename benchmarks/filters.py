"""Our sparse-mask filters beside the library calls that do the same job.

Run from the repository root: ``python -m benchmarks.filters``; prints a markdown
table and writes it to ``benchmarks/results/filters.md``.

The masks are the basic leg's label map at plan size: its voxels repeated to about
420 x 390 x 660 (`benchmarks.plan --sizes` goes up to 512 x 512 x 600), so vessels fill a
per cent or less of the volume and bone about a twentieth, as in a scanned leg.

* Components: `pdvaplan.filters.Components` (union-find over the mask's sorted
  voxels) and its sizes and boxes, against `scipy.ndimage.label` with
  `numpy.bincount` and `ndimage.find_objects`, at connectivity 1 and 3. Both give
  the same labels (checked).
* Distance inside a mask: `pdvaplan.filters.inside_distance_mm` (the `edt`
  package, in the mask's bounding box) against `edt` over the whole array and
  `scipy.ndimage.distance_transform_edt`. All three agree to 1e-4 mm (checked).

Every route runs on one thread, timed best of 3 after one warm-up call.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import edt
import numpy as np
from scipy import ndimage

from benchmarks.machine import machine_note
from benchmarks.phantoms import markdown_table
from pdvaplan.filters import Components, inside_distance_mm
from pdvaplan.labels import ARTERY, BONE, VEIN
from pdvaplan.threads import set_threads
from phantoms import make_phantom

RESULTS = Path(__file__).parent / "results" / "filters.md"
#: Voxel repeats per axis that take the basic leg to plan size.
REPEATS = (3, 3, 2)


def best_seconds(call, repeats: int = 3) -> float:
    """Best wall time of `repeats` calls after one warm-up."""
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times)


def plan_size_masks() -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Artery, vein, vessel and bone masks of the basic leg at plan size, and the spacing."""
    labels = make_phantom("basic").labels
    array = labels.array
    for axis, repeat in enumerate(REPEATS):
        array = np.repeat(array, repeat, axis=axis)
    spacing_mm = labels.spacing_mm / np.array(REPEATS)
    masks = {
        "artery": array == ARTERY,
        "vein": array == VEIN,
        "artery and vein": (array == ARTERY) | (array == VEIN),
        "bone": array == BONE,
    }
    return masks, spacing_mm


def components_row(name: str, mask: np.ndarray, connectivity: int) -> dict:
    """Components with sizes and boxes, ours against SciPy's."""
    structure = ndimage.generate_binary_structure(3, connectivity)

    def ours():
        parts = Components(mask, connectivity)
        return parts, parts.sizes(), parts.boxes()

    def scipy_route():
        labels, _ = ndimage.label(mask, structure)
        return labels, np.bincount(labels.ravel()), ndimage.find_objects(labels)

    parts = ours()[0]
    if not np.array_equal(parts.labels(), scipy_route()[0]):
        raise AssertionError(f"{name}: Components and ndimage.label disagree")
    seconds_ours, seconds_scipy = best_seconds(ours), best_seconds(scipy_route)
    return {
        "job": f"components, connectivity {connectivity}",
        "mask": name,
        "mask share %": f"{100 * mask.mean():.2f}",
        "ours s": f"{seconds_ours:.3f}",
        "peer": "ndimage.label + bincount + find_objects",
        "peer s": f"{seconds_scipy:.3f}",
        "peer / ours": f"{seconds_scipy / seconds_ours:.1f}x",
    }


def distance_rows(name: str, mask: np.ndarray, spacing_mm: np.ndarray) -> list[dict]:
    """The distance inside the mask, ours against edt over the whole array and SciPy."""
    anisotropy = tuple(float(s) for s in spacing_mm)
    peers = {
        "edt, whole array": lambda: edt.edt(mask, anisotropy=anisotropy, black_border=False),
        "ndimage.distance_transform_edt": lambda: ndimage.distance_transform_edt(
            mask, sampling=spacing_mm
        ),
    }
    ours = inside_distance_mm(mask, spacing_mm)
    for peer, call in peers.items():
        if not np.allclose(ours, call(), atol=1e-4):
            raise AssertionError(f"{name}: inside_distance_mm and {peer} disagree")
    seconds_ours = best_seconds(lambda: inside_distance_mm(mask, spacing_mm))
    rows = []
    for peer, call in peers.items():
        seconds_peer = best_seconds(call, 1 if "ndimage" in peer else 3)
        rows.append(
            {
                "job": "distance inside the mask",
                "mask": name,
                "mask share %": f"{100 * mask.mean():.2f}",
                "ours s": f"{seconds_ours:.3f}",
                "peer": peer,
                "peer s": f"{seconds_peer:.3f}",
                "peer / ours": f"{seconds_peer / seconds_ours:.1f}x",
            }
        )
    return rows


def main(argv: list[str] | None = None) -> None:
    """Time every route on the plan-size masks; print and save the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    masks, spacing_mm = plan_size_masks()
    shape = next(iter(masks.values())).shape
    set_threads(1)
    rows = [
        components_row(name, mask, connectivity)
        for name, mask in masks.items()
        for connectivity in (1, 3)
    ]
    for name in ("artery", "bone"):
        rows += distance_rows(name, masks[name], spacing_mm)
    report = "\n".join(
        [
            "# Sparse-mask filters beside the library routes\n",
            f"Machine: {machine_note(('numpy', 'scipy', 'edt', 'numba'))}.\n",
            f"Produced by `python -m benchmarks.filters`: the basic leg's label map at "
            f"{' x '.join(map(str, shape))} voxels, one thread, best of 3 after a warm-up "
            "(SciPy's distance transform: one timed call). Each route's result was checked "
            "against the peer's.\n",
            markdown_table(rows),
            "",
        ]
    )
    print(report)
    RESULTS.write_text(report)


if __name__ == "__main__":
    main()
