"""Centrelines: vessel mask -> polylines in mm (LPS) with a radius per point.

`extract_centerlines` turns a binary mask `Volume` (and, optionally, a lumen
fraction) into `Centerline` objects; its docstring has a worked example.
"""

from pdvaplan.centerlines.extract import (
    END_BORDER,
    END_JUNCTION,
    END_LUMEN,
    Centerline,
    CenterlineSettings,
    extract_centerlines,
    lumen_fraction_from_mask,
)
from pdvaplan.centerlines.files import (
    CENTERLINES_SCHEMA,
    centerlines_document,
    centerlines_polydata,
    write_centerlines,
)

__all__ = [
    "CENTERLINES_SCHEMA",
    "END_BORDER",
    "END_JUNCTION",
    "END_LUMEN",
    "Centerline",
    "CenterlineSettings",
    "centerlines_document",
    "centerlines_polydata",
    "extract_centerlines",
    "lumen_fraction_from_mask",
    "write_centerlines",
]
