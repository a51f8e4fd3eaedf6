"""Centrelines: vessel mask -> polylines in mm (LPS) with a radius per point.

Examples
--------
>>> from pdvaplan.centerlines import extract_centerlines  # doctest: +SKIP
>>> lines = extract_centerlines(mask_volume, prefix="artery")  # doctest: +SKIP
>>> lines[0].id, lines[0].points_mm.shape  # doctest: +SKIP
('artery-1', (661, 3))
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
