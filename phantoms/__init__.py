"""Synthetic lower legs with a known answer.

A phantom is two co-registered CT-like volumes (arterial and venous phase, HU),
the true label map and the truth: analytic centrelines sampled densely with
their flags, and the crossing the contract's default rules choose, found by
brute force on the analytic curves.

Examples
--------
>>> from phantoms import make_phantom
>>> phantom = make_phantom("basic", spacing_mm=(1.5, 1.5, 2.0))
>>> phantom.truth["crossing"]["artery"]
'posterior-tibial-artery'
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pdvaplan.errors import PdvaplanInputError
from pdvaplan.io import Volume, output_folder, write_volume
from pdvaplan.outputs import write_text_atomically
from phantoms.acquisition import Acquisition
from phantoms.conditions import Conditions, random_conditions
from phantoms.imaging import GridSpec, image_leg
from phantoms.leg_spec import LegSpec
from phantoms.presets import DIRECTIONS, PRESETS, preset, random_acquisition, random_leg
from phantoms.truth import truth_document

__all__ = [
    "DIRECTIONS",
    "PRESETS",
    "Acquisition",
    "Conditions",
    "GridSpec",
    "LegSpec",
    "Phantom",
    "make_phantom",
    "random_leg",
    "write_phantom",
]

#: File names a written phantom consists of.
FILES = ("arterial.nii.gz", "venous.nii.gz", "labels.nii.gz", "truth.json")


@dataclass(frozen=True)
class Phantom:
    """A synthetic leg: both phases as handed over (``arterial`` is the venous phase when
    the acquisition swaps them), the true labels and the truth document (in the true
    arterial phase's frame). The leg is the patient's right one; with both legs in view
    the truth's ``other_legs["left"]`` is the left leg's own truth document."""

    arterial: Volume
    venous: Volume
    labels: Volume
    truth: dict


def make_phantom(
    name: str = "basic",
    seed: int = 0,
    spacing_mm: tuple[float, float, float] | None = None,
    direction: tuple[float, ...] | None = None,
    spec: LegSpec | None = None,
    progress: Callable[[str], None] | None = None,
    acquisition: Acquisition | None = None,
    conditions: Conditions | None = None,
    origin_shift_mm: tuple[float, float, float] | None = None,
) -> Phantom:
    """Generate a phantom from a preset name, or from `spec` if given.

    Parameters
    ----------
    name : str
        A preset (see `phantoms.presets`), or ``"random"`` for a leg and grid
        drawn from `seed`.
    seed : int
        Seed of the image noise (and, for ``"random"``, of every parameter).
    spacing_mm, direction, origin_shift_mm : optional
        Override the preset's grid: voxel spacing along i, j, k, a row-major
        orthonormal direction matrix (9 numbers) and a physical shift of the
        grid in mm (`GridSpec`).
    spec : LegSpec, optional
        An explicit anatomy; `name` then only labels the truth.
    progress : callable, optional
        Called with a line of text before each long step.
    acquisition : Acquisition, optional
        Leg motion between the phases, grey values other than HU, phases
        swapped. Default: none of these, except for ``"random"`` without
        `spec`, which draws them from `seed`
        (`phantoms.presets.random_acquisition`).
    conditions : Conditions, optional
        What the scanned leg holds beyond one clean leg (pipe-stem arteries,
        the other leg in view).
        Default: none, except for ``"random"`` without `spec`, which draws
        them from `seed` (`phantoms.conditions.random_conditions`).

    Returns
    -------
    Phantom
    """
    if name == "random":
        leg, grid = random_leg(seed)
    elif name in PRESETS:
        leg, grid = preset(name)
    elif spec is None:
        raise PdvaplanInputError(
            f"--preset {name}: unknown preset; choose one of {', '.join(PRESETS)} or random"
        )
    else:
        grid = GridSpec()
    leg = spec or leg
    grid = GridSpec(
        tuple(spacing_mm) if spacing_mm is not None else grid.spacing_mm,
        tuple(direction) if direction is not None else grid.direction,
        tuple(origin_shift_mm) if origin_shift_mm is not None else grid.origin_shift_mm,
    )
    drawn = name == "random" and spec is None
    if acquisition is None:
        acquisition = random_acquisition(seed) if drawn else Acquisition()
    if conditions is None:
        conditions = random_conditions(seed, leg) if drawn else Conditions()
    leg = conditions.apply(leg)
    other_leg = conditions.other_leg(leg, seed)
    images = image_leg(leg, grid, seed, progress, acquisition, other_leg)
    if progress is not None:
        progress("computing the known answer ...")
    truth = truth_document(leg, images.labels, name, seed)
    truth["side"] = "right"
    if other_leg is not None:
        truth["other_legs"] = {"left": truth_document(other_leg, images.labels, name, seed)}
    venous = images.venous
    truth["conditions"] = conditions.as_dict()
    truth["acquisition"] = acquisition.as_dict() | {
        "venous_from_arterial": None if images.motion is None else images.motion.as_dict(),
        "venous_grid": {
            "shape": list(venous.shape),
            "spacing_mm": venous.spacing_mm.tolist(),
            "origin_mm": venous.origin_mm.tolist(),
            "direction": venous.direction.ravel().tolist(),
        },
    }
    given = (images.arterial, venous)
    if acquisition.swap_phases:
        given = given[::-1]
    return Phantom(*given, images.labels, truth)


def write_phantom(phantom: Phantom, folder: str | os.PathLike) -> list[Path]:
    """Write a phantom's volumes (NIfTI) and ``truth.json`` into `folder`.

    The folder is created if needed; every file is written under a temporary
    name and renamed, so no partial file is left behind.

    Returns
    -------
    list of Path
        The files written, in the order of `FILES`.
    """
    folder = output_folder(folder)
    paths = [folder / name for name in FILES]
    volumes = (phantom.arterial, phantom.venous, phantom.labels)
    for volume, path in zip(volumes, paths[:3], strict=True):
        write_volume(volume, path)
    write_text_atomically(paths[-1], json.dumps(phantom.truth))
    return paths
