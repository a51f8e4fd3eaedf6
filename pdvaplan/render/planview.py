"""What a picture is drawn from: plan.json, the centrelines, the label map and the phases.

Both entry points share this one view: `render_plan` builds it from a `Plan`
in memory, `render_folder` and `view` from the files a plan folder holds
(``plan.json``, ``centerlines.json`` and the inputs ``plan["inputs"]`` names).
Nothing is planned again.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pdvaplan.centerlines import Centerline
from pdvaplan.errors import PdvaplanInputError
from pdvaplan.io import RigidTransform, Volume, read_volume
from pdvaplan.outputs import json_default
from pdvaplan.planning.plan import SEGMENTATION_FILE
from pdvaplan.planning.vessels import vessel_title
from pdvaplan.segmentation.calibrate import HuScale, volume_in_hu
from pdvaplan.segmentation.grid import venous_on_grid

#: The label map a plan was made from, written beside plan.json when no input file holds it.


@dataclass(frozen=True)
class PlanView:
    """A plan as the pictures see it.

    Attributes
    ----------
    plan : dict
        plan.json (schema ``pdvaplan.plan/1``), plain JSON types.
    centerlines : dict of str to Centerline
        Every vessel's centreline by id (``artery-n``, ``vein-n``), in mm (LPS).
    labels : Volume
        The label map (1 artery, 2 vein, 3 calcium, 4 bone) in its physical frame.
    arterial, venous : Volume or None
        The two phases (HU); None for a plan made from a label map.
    """

    plan: dict
    centerlines: dict[str, Centerline]
    labels: Volume
    arterial: Volume | None = None
    venous: Volume | None = None

    @property
    def crossing(self) -> dict | None:
        """plan.json's crossing (None when infeasible)."""
        return self.plan.get("crossing") if self.plan.get("feasible") else None

    @property
    def arteries(self) -> list[Centerline]:
        """Artery centrelines (patent lumen), in id order."""
        return [c for i, c in self.centerlines.items() if vessel_kind(self.plan, i) == "artery"]

    @property
    def veins(self) -> list[Centerline]:
        """Vein centrelines, in id order."""
        return [c for i, c in self.centerlines.items() if vessel_kind(self.plan, i) == "vein"]

    @property
    def has_phases(self) -> bool:
        """Whether the intensities of both phases are at hand."""
        return self.arterial is not None and self.venous is not None

    @property
    def ankle_z_mm(self) -> float | None:
        """Height of the ankle level the plan measures heights from (plan.json's
        ``ankle_z_mm``; for a plan.json without it, the veins' lowest end)."""
        if self.plan.get("ankle_z_mm") is not None:
            return float(self.plan["ankle_z_mm"])
        veins = self.veins
        return float(min(v.points_mm[-1, 2] for v in veins)) if veins else None


def vessel_kind(plan: dict, vessel_id: str) -> str:
    """``"artery"`` or ``"vein"``: from plan.json's vessel list, else from the id."""
    for vessel in plan.get("vessels") or []:
        if vessel.get("id") == vessel_id and vessel.get("kind"):
            return vessel["kind"]
    return "artery" if vessel_id.startswith("artery") else "vein"


def plan_vessel_title(plan: dict, vessel_id: str) -> str:
    """`pdvaplan.planning.vessels.vessel_title` of a vessel of plan.json.

    Examples
    --------
    >>> plan_vessel_title({"vessels": [{"id": "artery-3", "name": "posterior tibial artery"}]},
    ...                   "artery-3")
    'posterior tibial artery (artery-3)'
    >>> plan_vessel_title({"vessels": [{"id": "vein-6", "name": None}]}, "vein-6")
    'vein-6'
    """
    vessel = next((v for v in plan.get("vessels") or [] if v.get("id") == vessel_id), {})
    return vessel_title(vessel_id, vessel.get("name") or vessel.get("anatomy"))


def plain_json(value):
    """A structure of dicts, lists and NumPy values as plain JSON types."""
    return json.loads(json.dumps(value, default=json_default))


def view_from_plan(plan, arterial: Volume | None = None, venous: Volume | None = None) -> PlanView:
    """The `PlanView` of a `pdvaplan.planning.Plan` in memory.

    Parameters
    ----------
    plan : pdvaplan.planning.Plan
        A plan (its vessels carry the label map and the centrelines).
    arterial, venous : Volume, optional
        The phases; without them the 2D views show the label map.
    """
    lines = [*plan.vessels.arteries, *plan.vessels.veins]
    return PlanView(
        plan=plain_json(plan.as_dict()),
        centerlines={line.id: line for line in lines},
        labels=plan.vessels.labels,
        arterial=arterial,
        venous=venous,
    )


def load_centerlines(path: Path) -> dict[str, Centerline]:
    """Centrelines by id from a ``centerlines.json`` (schema ``pdvaplan.centerlines/1``).

    Raises
    ------
    PdvaplanInputError
        If the file is missing or not a centreline document.
    """
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        lines = {}
        for entry in document["centerlines"]:
            points = np.asarray(entry["points_mm"], dtype=np.float64).reshape(-1, 3)
            radii = np.asarray(entry["radii_mm"], dtype=np.float64)
            if len(points) < 2 or radii.shape != (len(points),):
                raise ValueError(f"centreline {entry.get('id')} has too few points or radii")
            lines[entry["id"]] = Centerline(
                entry["id"],
                points,
                radii,
                entry.get("proximal_end", "border"),
                entry.get("distal_end", "border"),
            )
    except FileNotFoundError:
        raise PdvaplanInputError(f"{path}: no such file (the plan's centrelines)") from None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise PdvaplanInputError(f"{path}: not a centreline file ({error})") from None
    return lines


def _input_path(folder: Path, plan_path: Path, name: str, given: str) -> Path:
    """An input named in plan.json: as written, else relative to the plan folder."""
    for candidate in (Path(given), folder / given, folder / Path(given).name):
        if candidate.exists():
            return candidate
    raise PdvaplanInputError(f"{plan_path}: its {name} input {given} no longer exists")


def load_plan_folder(folder: str | os.PathLike) -> PlanView:
    """The `PlanView` of a plan folder: plan.json, centerlines.json and the inputs it names.

    The label map is the ``labels`` input, else ``segmentation.nii.gz`` beside
    plan.json (written by `render_plan`), else the phases are segmented again
    (the same deterministic segmentation the plan used; nothing is re-planned).

    Raises
    ------
    PdvaplanInputError
        If plan.json or centerlines.json is missing or unreadable, or an input
        it names no longer exists.
    """
    folder = Path(folder)
    plan_path = folder / "plan.json"
    if not folder.is_dir():
        raise PdvaplanInputError(f"{folder}: no such plan folder")
    try:
        plan = json.loads(plan_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PdvaplanInputError(f"{plan_path}: no such file; run pdvaplan plan first") from None
    except (OSError, ValueError) as error:
        raise PdvaplanInputError(f"{plan_path}: not a plan ({error})") from None
    if not isinstance(plan, dict) or not str(plan.get("schema", "")).startswith("pdvaplan.plan/"):
        raise PdvaplanInputError(f"{plan_path}: not a plan (schema pdvaplan.plan/1 expected)")
    centerlines = load_centerlines(folder / "centerlines.json")
    inputs = plan.get("inputs") or {}
    volumes = {
        name: read_volume(_input_path(folder, plan_path, name, inputs[name]))
        for name in ("arterial", "venous", "labels")
        if inputs.get(name)
    }
    if "labels" in volumes:
        labels = volumes["labels"]
    elif (folder / SEGMENTATION_FILE).exists():
        labels = read_volume(folder / SEGMENTATION_FILE)
    elif "arterial" in volumes and "venous" in volumes:
        from pdvaplan.segmentation import segment

        used = plan.get("parameters") or {}
        hu_scale = used.get("hu_scale")
        labels = segment(
            volumes["arterial"],
            volumes["venous"],
            calcium_hu=used.get("calcium_hu", 700.0),
            register=used.get("register", "rigid"),
            hu_scale=None if hu_scale is None else tuple(hu_scale),
            side=used.get("side"),
        ).labels
    else:
        raise PdvaplanInputError(
            f"{plan_path}: names no label map or phases to draw from, and {folder} holds no "
            f"{SEGMENTATION_FILE}"
        )
    arterial, venous = volumes.get("arterial"), volumes.get("venous")
    if arterial is not None and venous is not None:
        arterial, venous = phases_in_plan_frame(arterial, venous, plan)
    return PlanView(plan, centerlines, labels, arterial, venous)


def phases_in_plan_frame(arterial: Volume, venous: Volume, plan: dict) -> tuple[Volume, Volume]:
    """The phases as the plan saw them: in HU (its ``intensity``), the venous one on the
    arterial grid through its ``registration``.

    Parameters
    ----------
    arterial, venous : Volume
        The inputs as read.
    plan : dict
        plan.json.
    """
    intensity = plan.get("intensity") or {}
    scales = [
        HuScale(*intensity[phase]["hu_scale"]) if phase in intensity else HuScale(1.0, 0.0)
        for phase in ("arterial", "venous")
    ]
    arterial, venous = volume_in_hu(arterial, scales[0]), volume_in_hu(venous, scales[1])
    registration = plan.get("registration") or {}
    transform = (
        RigidTransform(np.asarray(registration["matrix"]), np.asarray(registration["offset_mm"]))
        if "matrix" in registration
        else None
    )
    return arterial, venous_on_grid(venous, arterial, transform)[0]


def path_end_words(stent: dict) -> str:
    """Where the stent-graft path ends, in words (plan.json's ``ends_at``).

    Examples
    --------
    >>> path_end_words({"ends_at": "lumen-end"})
    'to where its lumen ends, above the ankle'
    """
    return {
        "lumen-end": "to where its lumen ends, above the ankle",
        "junction": "to a junction where no vein is seen to carry on, above the ankle",
        "venous-border": "to where the venous phase ends, above the ankle",
    }.get(stent.get("ends_at"), "to the ankle")
