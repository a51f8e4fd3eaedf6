"""Centrelines on disk: ``centerlines.json`` and ``centerlines.vtp`` (plan contract)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from pdvaplan.centerlines.extract import Centerline
from pdvaplan.outputs import write_mesh, write_text_atomically

CENTERLINES_SCHEMA = "pdvaplan.centerlines/1"


def centerlines_document(centerlines: list[Centerline], source: str | None = None) -> dict:
    """The JSON-ready form of centrelines (schema `CENTERLINES_SCHEMA`)."""
    return {
        "schema": CENTERLINES_SCHEMA,
        "source": source,
        "centerlines": [
            {
                "id": line.id,
                "points_mm": np.round(line.points_mm, 4).tolist(),
                "radii_mm": np.round(line.radii_mm, 4).tolist(),
                "length_mm": round(line.length_mm, 3),
                "proximal_end": line.proximal_end,
                "distal_end": line.distal_end,
                "kind": line.kind,
            }
            for line in centerlines
        ],
    }


def centerlines_polydata(centerlines: list[Centerline]):
    """Centrelines as a pyvista PolyData: one polyline each, point array ``radius_mm``,
    cell array ``centerline_id`` (the position in `centerlines`)."""
    import pyvista as pv

    points = np.concatenate([line.points_mm for line in centerlines])
    starts = np.cumsum([0] + [len(line.points_mm) for line in centerlines[:-1]])
    cells = np.concatenate(
        [
            [len(line.points_mm), *range(start, start + len(line.points_mm))]
            for start, line in zip(starts, centerlines, strict=True)
        ]
    )
    polydata = pv.PolyData(points, lines=cells)
    polydata.point_data["radius_mm"] = np.concatenate([line.radii_mm for line in centerlines])
    polydata.cell_data["centerline_id"] = np.arange(len(centerlines))
    return polydata


def write_centerlines(
    centerlines: list[Centerline], folder: str | os.PathLike, source: str | None = None
) -> list[Path]:
    """Write ``centerlines.json`` and ``centerlines.vtp`` into `folder`.

    Returns
    -------
    list of Path
        The two files written.
    """
    folder = Path(folder)
    json_path, vtp_path = folder / "centerlines.json", folder / "centerlines.vtp"
    write_text_atomically(json_path, json.dumps(centerlines_document(centerlines, source)))
    write_mesh(centerlines_polydata(centerlines), vtp_path)
    return [json_path, vtp_path]
