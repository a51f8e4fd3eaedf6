"""Contrast along each artery: an occlusion ends it abruptly, a bolus the scan outran fades it.

An occluded artery's contrast stops within a few millimetres (the blur of the
image). When the scan outran the contrast bolus, it instead fades gradually
towards the background down the leg: the lumen beyond may well be patent, but
the image cannot confirm it, nor where it ends. Along each artery trunk the
arterial phase is read at the centreline (its contrast over the soft-tissue
background, averaged over `SMOOTHING_MM`) and compared with the trend of the
artery's own upper half (a straight line fitted to it: contrast tapers down a
healthy leg, as arteries narrow and enhance less). An artery *fades* when,
ending in the volume, its contrast falls from `FULL_SHARE` of that trend to
under `END_SHARE` over at least `MIN_FADE_MM` at its end; the stretch below
`FULL_SHARE` is its fading stretch, where patency is uncertain. An occluded
artery falls within a few millimetres.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from pdvaplan.centerlines import END_LUMEN, Centerline
from pdvaplan.io import Volume

#: Contrast is averaged over this length (mm) along the artery.
SMOOTHING_MM = 5.0
#: Below this share of the artery's own reference, its contrast is fading.
FULL_SHARE = 0.8
#: An artery whose end keeps less than this share of its reference has lost its contrast.
END_SHARE = 0.6
#: A fall from `FULL_SHARE` to the end shorter than this (mm) is an occlusion, not a fade.
MIN_FADE_MM = 15.0
#: The end's share is read over this last length (mm) of the artery.
END_MM = 3.0


def contrast_along(
    artery: Centerline, arterial_hu: Volume, background_hu: float
) -> dict[str, float | bool | None]:
    """How an artery's contrast runs down to its end, and whether it fades.

    Parameters
    ----------
    artery : Centerline
        An artery trunk (points from proximal to distal, mm).
    arterial_hu : Volume
        The arterial phase in HU.
    background_hu : float
        The soft-tissue background (HU).

    Returns
    -------
    dict
        ``reference_hu`` (median contrast over its upper half), ``end_share``
        (its end's contrast over its upper half's trend), ``fading`` (bool),
        ``fading_from_arc_mm`` (arc length from the proximal end where the
        fading stretch starts; None when it does not fade) and
        ``fading_mm`` (its length, 0 when it does not fade).

    Examples
    --------
    An artery along z whose contrast (300 HU over the background) fades to none
    over its last 60 mm:

    >>> from pdvaplan.centerlines import Centerline
    >>> z = np.arange(0.0, 200.0)
    >>> image = np.full((5, 5, 200), 50.0, np.float32)
    >>> image[2, 2] += 300.0 * np.clip(z / 60.0, 0.0, 1.0)
    >>> volume = Volume(image, np.ones(3), np.zeros(3), np.eye(3))
    >>> points = np.stack([np.full(170, 2.0), np.full(170, 2.0), z[199:29:-1]], axis=1)
    >>> line = Centerline("artery-1", points, np.ones(170), "border", "lumen-end")
    >>> found = contrast_along(line, volume, 50.0)
    >>> found["fading"], round(found["fading_mm"]), round(found["end_share"], 2)
    (True, 18, 0.53)
    """
    index = arterial_hu.physical_to_index(artery.points_mm)
    values = ndimage.map_coordinates(arterial_hu.array, index.T, order=1, mode="nearest")
    step_mm = float(np.median(np.diff(artery.arc_mm))) if len(artery.arc_mm) > 1 else 1.0
    window = max(1, round(SMOOTHING_MM / max(step_mm, 1e-6)))
    contrast = ndimage.uniform_filter1d(values - background_hu, window, mode="nearest")
    arc = artery.arc_mm
    upper = arc <= 0.5 * artery.length_mm
    reference = float(np.median(contrast[upper]))
    # Contrast tapers along a healthy artery: its share is taken of the trend of its upper
    # half (a straight line), never of less than half its median there.
    slope, intercept = np.polyfit(arc[upper], contrast[upper], 1) if upper.sum() > 2 else (0, 0)
    trend = np.maximum(intercept + slope * arc, 0.5 * reference)
    share = contrast / np.maximum(trend, 1.0)
    end_share = float(np.mean(share[arc >= artery.length_mm - END_MM]))
    full = np.flatnonzero(share >= FULL_SHARE)
    start = float(arc[full[-1]]) if len(full) else 0.0
    fading_mm = artery.length_mm - start
    fading = (
        artery.distal_end == END_LUMEN
        and reference > 0
        and end_share < END_SHARE
        and fading_mm >= MIN_FADE_MM
    )
    return {
        "reference_hu": reference,
        "end_share": end_share,
        "fading": bool(fading),
        "fading_from_arc_mm": start if fading else None,
        "fading_mm": fading_mm if fading else 0.0,
    }
