"""Contrast along each artery: an occlusion ends it abruptly, a bolus the scan outran fades it.

An occluded artery's contrast stops within a few millimetres (the blur of the
image). When the scan outran the contrast bolus, it instead fades gradually
towards the background down the leg: the lumen beyond may well be patent, but
the image cannot confirm it, nor where it ends. Along each artery trunk the
arterial phase is read at the centreline (its contrast over the soft-tissue
background, averaged over `SMOOTHING_MM`) and taken as a share of the trend of
the artery's own upper half (a straight line fitted to it: contrast tapers down
a healthy leg, as arteries narrow and enhance less).

Over the lower half, that share is fitted by a level that turns, at a hinge,
into a straight decline to the artery's end. An artery *fades* when, ending in
the volume, its fitted share falls by at least `MIN_DROP` from the hinge to its
end over at least `MIN_FADE_MM`; the stretch from the hinge on is its fading
stretch, where patency is uncertain. An occluded artery's share holds to its
end (its lumen, and so its centreline, stops where the contrast does). The end's
share alone does not tell: the segmentation follows a fade only down to its own
threshold, which may leave more than half of the contrast at the lumen's end.

A decline longer than an abrupt end's blur (`ABRUPT_MM`) but shorter than a fade
cannot be told: a lumen that narrows before an occlusion, or a fade the
segmentation followed only a little way (a fade of 80 mm can show only 20 mm
of decline before its lumen is lost). Such a stretch is reported too (`fade_or_narrowing`).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from pdvaplan.centerlines import END_LUMEN, Centerline
from pdvaplan.io import Volume

#: Contrast is averaged over this length (mm) along the artery.
SMOOTHING_MM = 5.0
#: A fade loses at least this share of the artery's reference between its hinge and its end.
MIN_DROP = 0.25
#: A decline to the end shorter than this (mm) is no fade: an occlusion's blur, or a stump
#: that narrows before it (on the phantoms, true fades declined over 35-57 mm, a narrowing
#: before an occlusion over 23 mm).
MIN_FADE_MM = 30.0
#: The end's share is read over this last length (mm) of the artery.
END_MM = 3.0
#: A decline to the end no longer than this (mm) is an abrupt end: the image's blur over the
#: averaging window (on the phantoms, most arteries that fall by `MIN_DROP` to a lumen end
#: without fading do so over 5 mm at most; a few fall over 12-24 mm, which the profile
#: cannot tell from a fade cut short).
ABRUPT_MM = 2.0 * SMOOTHING_MM


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
        (its end's contrast over its upper half's trend), ``drop_share`` (the
        fitted fall of that share from the hinge to the end), ``fading`` (bool),
        ``fading_from_arc_mm`` (arc length from the proximal end where the
        fading stretch starts; None when it does not fade) and
        ``fading_mm`` (its length, 0 when it does not fade); ``fade_or_narrowing``
        (bool: a fall of at least `MIN_DROP` to a lumen end over more than `ABRUPT_MM`
        but less than `MIN_FADE_MM`, which the profile cannot tell from a narrowing
        before an occlusion), ``declining_from_arc_mm`` and ``declining_mm`` (where the
        fall of a fade or of such a stretch starts, and its length; None and 0 otherwise).

    Examples
    --------
    An artery along z whose contrast (300 HU over the background) declines over
    its last 40 mm, where it keeps half of it (a lumen segmented down to half
    contrast):

    >>> from pdvaplan.centerlines import Centerline
    >>> z = np.arange(0.0, 200.0)
    >>> image = np.full((5, 5, 200), 50.0, np.float32)
    >>> image[2, 2] += 300.0 * np.clip(z / 80.0, 0.0, 1.0)
    >>> volume = Volume(image, np.ones(3), np.zeros(3), np.eye(3))
    >>> points = np.stack([np.full(160, 2.0), np.full(160, 2.0), z[199:39:-1]], axis=1)
    >>> line = Centerline("artery-1", points, np.ones(160), "border", "lumen-end")
    >>> found = contrast_along(line, volume, 50.0)
    >>> found["fading"], round(found["fading_mm"]), round(found["end_share"], 2)
    (True, 40, 0.52)
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
    # half (a straight line that does not rise distally: on a short trunk a rising one is
    # noise), never of less than half its median there.
    slope, intercept = np.polyfit(arc[upper], contrast[upper], 1) if upper.sum() > 2 else (0, 0)
    if slope > 0:
        slope, intercept = 0.0, float(np.mean(contrast[upper]))
    trend = np.maximum(intercept + slope * arc, 0.5 * reference)
    share = contrast / np.maximum(trend, 1.0)
    end_share = float(np.mean(share[arc >= artery.length_mm - END_MM]))
    lower = ~upper
    start, drop = hinge_fit(arc[lower], share[lower]) if lower.sum() > 2 else (arc[-1], 0.0)
    declining_mm = artery.length_mm - start
    falls = artery.distal_end == END_LUMEN and reference > 0 and drop >= MIN_DROP
    fading = falls and declining_mm >= MIN_FADE_MM
    fade_or_narrowing = falls and ABRUPT_MM < declining_mm < MIN_FADE_MM
    return {
        "reference_hu": reference,
        "end_share": end_share,
        "drop_share": drop,
        "fading": bool(fading),
        "fading_from_arc_mm": start if fading else None,
        "fading_mm": declining_mm if fading else 0.0,
        "fade_or_narrowing": bool(fade_or_narrowing),
        "declining_from_arc_mm": start if fading or fade_or_narrowing else None,
        "declining_mm": declining_mm if fading or fade_or_narrowing else 0.0,
    }


def hinge_fit(arc_mm: np.ndarray, values: np.ndarray) -> tuple[float, float]:
    """Where a level turns into a straight decline to the end, and how much it drops.

    Least squares over every sample as the hinge: ``values`` is a constant up to
    the hinge and a straight line from it on (continuous there).

    Parameters
    ----------
    arc_mm : numpy.ndarray
        Increasing positions along the vessel (mm).
    values : numpy.ndarray
        The values there.

    Returns
    -------
    hinge_mm : float
        The hinge's position (the last sample when no fit is possible).
    drop : float
        The fitted fall from the hinge to the last sample (0 when the line rises).

    Examples
    --------
    >>> arc = np.arange(0.0, 100.0)
    >>> hinge, drop = hinge_fit(arc, np.clip(1.0 - (arc - 60.0) / 80.0, None, 1.0))
    >>> round(hinge), round(drop, 2)
    (60, 0.49)
    """
    # Basis per hinge h: 1 and max(arc - h, 0); the normal equations for all h at once.
    ramp = np.maximum(arc_mm[None, :] - arc_mm[:-1, None], 0.0)
    n = arc_mm.size
    sum_ramp, sum_ramp2 = ramp.sum(axis=1), (ramp * ramp).sum(axis=1)
    sum_value, sum_ramp_value = values.sum(), ramp @ values
    determinant = n * sum_ramp2 - sum_ramp**2
    valid = determinant > 1e-9
    safe = np.where(valid, determinant, 1.0)
    level = (sum_ramp2 * sum_value - sum_ramp * sum_ramp_value) / safe
    slope = (n * sum_ramp_value - sum_ramp * sum_value) / safe
    residual = (values[None, :] - level[:, None] - slope[:, None] * ramp) ** 2
    cost = np.where(valid, residual.sum(axis=1), np.inf)
    best = int(np.argmin(cost))
    if not np.isfinite(cost[best]):
        return float(arc_mm[-1]), 0.0
    return float(arc_mm[best]), max(0.0, float(-slope[best] * ramp[best, -1]))
