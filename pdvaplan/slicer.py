"""Files 3D Slicer opens as they are: a plan's crossing, needle and stent-graft path
as markups, its label map as a segmentation.

Slicer's markups files (``.mrk.json``, Slicer's published markups schema
v1.0.3) hold control points in a stated frame; every file here states LPS and
millimetres, the frame plan.json uses, so a user drags them onto the arterial
phase in Slicer and they land where plan.json says:

* ``crossing.mrk.json``: a point list, the needle's start on the artery
  centreline and its end on the vein centreline;
* ``needle.mrk.json``: a line between the same two points (Slicer shows its
  length, plan.json's ``distance_mm``);
* ``stent-graft.mrk.json``: a curve along the stent-graft path, from the
  crossing down to the ankle, with control points every `CURVE_STEP_MM` of
  plan.json's path (Slicer draws a spline through them).

The files are made from plan.json's dict alone, so a plan folder's files can
be remade from its plan.json. An infeasible plan has none.

The label map a plan was made with is written as a Slicer segmentation
(``segmentation.seg.nrrd``, through slicerio: one segment per label value
present, named and coloured as in the report (`pdvaplan.palette`), label values
kept), and ``segmentation.ctbl`` is a Slicer colour table for ``segmentation.nii.gz``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from pdvaplan.io import Volume
from pdvaplan.outputs import write_atomically, write_text_atomically
from pdvaplan.palette import LABELS, NEEDLE_COLOR, STENT_COLORS, rgb

#: The schema the files follow (Slicer's markups schema; its id as Slicer writes it).
MARKUPS_SCHEMA = (
    "https://raw.githubusercontent.com/slicer/slicer/master/Modules/Loadable/Markups/"
    "Resources/Schema/markups-schema-v1.0.3.json#"
)
#: Spacing of the stent-graft curve's control points along plan.json's path (mm).
CURVE_STEP_MM = 5.0
#: The files `write_slicer_segmentation` writes.
SEGMENTATION_SEG_NRRD = "segmentation.seg.nrrd"
COLOUR_TABLE = "segmentation.ctbl"


def plan_markups(plan: dict) -> dict[str, dict]:
    """A plan's markups, each as the JSON document of its ``.mrk.json`` file.

    Parameters
    ----------
    plan : dict
        plan.json's content (`pdvaplan.planning.Plan.as_dict`).

    Returns
    -------
    dict
        File name -> document; empty for an infeasible plan.

    Examples
    --------
    >>> plan = {
    ...     "crossing": {"artery": "artery-1", "vein": "vein-2", "distance_mm": 4.0,
    ...                  "artery_point_mm": [0, 0, 100], "vein_point_mm": [4, 0, 100]},
    ...     "stent_graft": {"path_mm": [[4, 0, 100 - z] for z in range(21)]},
    ... }
    >>> files = plan_markups(plan)
    >>> sorted(files)
    ['crossing.mrk.json', 'needle.mrk.json', 'stent-graft.mrk.json']
    >>> (needle,) = files["needle.mrk.json"]["markups"]
    >>> needle["type"], needle["coordinateSystem"], [p["position"] for p in needle["controlPoints"]]
    ('Line', 'LPS', [[0.0, 0.0, 100.0], [4.0, 0.0, 100.0]])
    >>> [p["position"][2] for p in files["stent-graft.mrk.json"]["markups"][0]["controlPoints"]]
    [100.0, 95.0, 90.0, 85.0, 80.0]
    """
    crossing, stent = plan.get("crossing"), plan.get("stent_graft")
    if crossing is None:
        return {}
    ends = [
        (f"{crossing['artery']} (needle start)", crossing["artery_point_mm"]),
        (f"{crossing['vein']} (needle end)", crossing["vein_point_mm"]),
    ]
    files = {
        "crossing.mrk.json": _document("Fiducial", "crossing", ends, NEEDLE_COLOR),
        "needle.mrk.json": _document(
            "Line", f"needle {crossing['distance_mm']:.2f} mm", ends, NEEDLE_COLOR
        ),
    }
    if stent is not None and len(stent["path_mm"]) >= 2:
        path = _every_mm(np.asarray(stent["path_mm"], dtype=np.float64), CURVE_STEP_MM)
        points = [(f"SG-{n}", point) for n, point in enumerate(path, start=1)]
        files["stent-graft.mrk.json"] = _document(
            "Curve", "stent-graft path", points, STENT_COLORS[0]
        )
    return files


def write_plan_markups(plan: dict, folder: str | os.PathLike) -> list[Path]:
    """Write `plan_markups` into `folder` (atomically, file by file); return the paths."""
    return [
        write_text_atomically(Path(folder) / name, json.dumps(document, indent=1))
        for name, document in plan_markups(plan).items()
    ]


def _document(kind: str, name: str, points, color: str) -> dict:
    """One markup of `kind` (Fiducial, Line, Curve) with labelled control points."""
    return {
        "@schema": MARKUPS_SCHEMA,
        "markups": [
            {
                "type": kind,
                "name": name,
                "coordinateSystem": "LPS",
                "coordinateUnits": "mm",
                "locked": True,
                "fixedNumberOfControlPoints": True,
                "controlPoints": [
                    {
                        "id": str(n),
                        "label": label,
                        "position": [float(c) for c in position],
                        "positionStatus": "defined",
                    }
                    for n, (label, position) in enumerate(points, start=1)
                ],
                "display": {
                    "color": list(rgb(color)),
                    "selectedColor": list(rgb(color)),
                    "pointLabelsVisibility": kind != "Curve",
                },
            }
        ],
    }


def _every_mm(path_mm: np.ndarray, step_mm: float) -> np.ndarray:
    """Points of a polyline every `step_mm` along it, its last point included."""
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(path_mm, axis=0), axis=1))])
    stations = np.append(np.arange(0.0, arc[-1], step_mm), arc[-1])
    if len(stations) > 2 and arc[-1] - stations[-2] < 0.5 * step_mm:
        stations = np.delete(stations, -2)  # no stub at the end
    return np.column_stack([np.interp(stations, arc, path_mm[:, d]) for d in range(3)])


def write_slicer_segmentation(labels: Volume, folder: str | os.PathLike) -> list[Path]:
    """Write a label map as a Slicer segmentation, and a colour table for it.

    Parameters
    ----------
    labels : Volume
        Contract values (1 artery, 2 vein, 3 calcium, 4 bone; 5 metal).
    folder : str or path-like

    Returns
    -------
    list of Path
        ``segmentation.seg.nrrd`` (a segment per value present, in LPS, the
        label map's own grid and values) and ``segmentation.ctbl``.
    """
    import slicerio  # loads pynrrd: only when a segmentation is written

    values = np.asarray(labels.array, dtype=np.uint8)
    counts = np.bincount(values.ravel(), minlength=256)  # linear, where np.unique sorts
    ijk_to_lps = np.eye(4)
    ijk_to_lps[:3, :3], ijk_to_lps[:3, 3] = labels.index_to_physical_matrix, labels.origin_mm
    segmentation = {
        "voxels": values,  # indexed [i, j, k] like pynrrd's default (Fortran) order
        "ijkToLPS": ijk_to_lps,
        "segments": [
            {
                "id": name.replace(" ", "_"),
                "name": name,
                "color": list(rgb(color)),
                "labelValue": value,
                "layer": 0,
            }
            for value, (name, color) in LABELS.items()
            if counts[value]
        ],
    }
    folder = Path(folder)
    seg_nrrd = write_atomically(
        folder / SEGMENTATION_SEG_NRRD,
        lambda path: slicerio.write_segmentation(path, segmentation, compression_level=1),
    )
    rows = ["0 background 0 0 0 0"] + [
        f"{value} {name.replace(' ', '_')} "
        + " ".join(str(round(255 * c)) for c in rgb(color))
        + " 255"
        for value, (name, color) in LABELS.items()
    ]
    table = write_text_atomically(
        folder / COLOUR_TABLE,
        "# Color table file for segmentation.nii.gz\n" + "\n".join(rows) + "\n",
    )
    return [seg_nrrd, table]
