"""Names and colours of the label map's values and of the planned devices, shared by
the report's 2D pictures and the files 3D Slicer opens, so the two always agree.

Colours are hex strings (``#rrggbb``); `rgb` turns one into floats in [0, 1].
"""

from __future__ import annotations

from pdvaplan.labels import ARTERY, BONE, CALCIUM, METAL, VEIN

#: Each label value's name and colour (0, background, is unnamed).
LABELS = {
    ARTERY: ("patent artery lumen", "#d72828"),
    VEIN: ("vein lumen", "#325adc"),
    CALCIUM: ("calcium", "#ffffff"),
    BONE: ("bone", "#8c8c82"),
    METAL: ("metal", "#99d9d9"),
}
BACKGROUND_COLOR = "#141414"
NEEDLE_COLOR = "#00e63c"
#: Stent-graft segments alternate between these.
STENT_COLORS = ("#ff8c00", "#ffe14d")


def rgb(color: str) -> tuple[float, float, float]:
    """A ``#rrggbb`` colour as RGB floats in [0, 1].

    Examples
    --------
    >>> rgb("#ff8000")
    (1.0, 0.502, 0.0)
    """
    return tuple(round(int(color[i : i + 2], 16) / 255, 3) for i in (1, 3, 5))
