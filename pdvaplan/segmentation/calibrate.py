"""Stage 1, calibrate: grey values -> HU, estimated from the image itself.

Cone-beam CT and 3D rotational angiography are often not calibrated in HU:
``grey = a * HU + b``, in any integer type, unsigned included. Every threshold
of the pipeline is in HU, so each phase is mapped to HU first.

Method. Air outside the leg and soft tissue are the anchors: in any CT they
are the two largest populations, far apart (about 1050 HU), with only
partial-volume voxels between them. The air/body split is Otsu's threshold;
air is the mode below it, soft tissue the mode above it where muscle and fat
are told apart by their spacing (fat lies about 150 HU below muscle). Then
``a = (tissue - air) / (50 - (-1000))`` and ``b = air + 1000 a``. Fat and bone
check the result: fat must show as a population 50-220 HU below soft tissue
(in MR, fat is brighter than muscle) and something must be as dense as bone.
A padding value far below air (outside the reconstruction circle) and the
saturated maximum are left out.

A signed image whose air and soft tissue already sit where HU puts them is
taken as calibrated (slope 1, offset 0): scanners that write HU are right, and
an estimate resting on soft tissue (muscle 35-65 HU, enhanced organs up to
about 120) would only shift every threshold a little for nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from pdvaplan.errors import PdvaplanInputError
from pdvaplan.io import Volume
from pdvaplan.segmentation.levels import parabola_peak

#: CT numbers of the anchors and checks (HU).
AIR_HU, SOFT_TISSUE_HU, FAT_HU = -1000.0, 50.0, -100.0
#: Fat is looked for this far below soft tissue (HU).
FAT_BELOW_TISSUE_HU = (50.0, 220.0)
#: Voxels at least this dense (HU) are bone (or calcium, or contrast at its densest).
DENSE_HU = 600.0
#: A signed image whose air lies this close to -1000 and whose soft tissue lies in this
#: range is in HU already (a contrast-enhanced abdomen's organs peak near 100 HU).
CALIBRATED_AIR_HU, CALIBRATED_TISSUE_HU = 100.0, (-20.0, 150.0)
#: A given mapping must put the image's air within this (HU) of -1000, and its soft tissue
#: in this range (HU).
GIVEN_AIR_HU, GIVEN_TISSUE_HU = 150.0, (-50.0, 150.0)
#: Voxels sampled for the histograms (about; every n-th voxel along each axis).
_SAMPLE_VOXELS = 500_000


@dataclass(frozen=True)
class HuScale:
    """A phase's grey values as ``grey = slope * HU + offset``.

    Attributes
    ----------
    slope, offset : float
        The mapping; (1, 0) for an image already in HU.
    estimated : bool
        Whether the mapping was estimated from the image (False: given).
    anchors : dict
        What the estimate rests on, in grey values and HU: the air and soft
        tissue levels, the fat level found (None if none), the share of body
        voxels dense as bone; plus ``calibrated_input`` (the image looked like HU).

    Examples
    --------
    >>> scale = HuScale(0.65, 1100.0)
    >>> np.round(scale.to_hu(np.array([450.0, 1132.5])), 3).tolist()
    [-1000.0, 50.0]
    >>> HuScale(1.0, 0.0).is_identity
    True
    """

    slope: float
    offset: float
    estimated: bool = False
    anchors: dict = field(default_factory=dict)

    @property
    def is_identity(self) -> bool:
        """Whether the grey values are HU already."""
        return self.slope == 1.0 and self.offset == 0.0

    def to_hu(self, grey: np.ndarray) -> np.ndarray:
        """Grey values in HU (float32)."""
        out = np.subtract(grey, np.float32(self.offset), dtype=np.float32)
        out /= np.float32(self.slope)
        return out

    def as_dict(self) -> dict:
        """JSON-ready record: ``hu_scale`` [slope, offset], ``estimated`` and the anchors."""
        return {"hu_scale": [self.slope, self.offset], "estimated": self.estimated} | self.anchors


def volume_in_hu(volume: Volume, scale: HuScale) -> Volume:
    """The volume in HU: itself when `scale` is the identity, else a float32 copy.

    Examples
    --------
    >>> vol = Volume(np.full((2, 2, 2), 1132.5, np.float32), np.ones(3), np.zeros(3), np.eye(3))
    >>> float(volume_in_hu(vol, HuScale(0.65, 1100.0)).array[0, 0, 0])
    50.0
    """
    if scale.is_identity:
        return volume
    return volume.with_array(scale.to_hu(volume.array), volume.source)


def estimate_hu_scale(volume: Volume) -> HuScale:
    """Estimate how a CT-like volume's grey values map to HU, from air and soft tissue.

    Parameters
    ----------
    volume : Volume
        A CT, cone-beam CT or rotational angiography volume of a leg, with air
        around it.

    Returns
    -------
    HuScale
        The mapping (``estimated`` True); slope 1 and offset 0 when the image
        is in HU already (`CALIBRATED_AIR_HU`, `CALIBRATED_TISSUE_HU`).

    Raises
    ------
    PdvaplanInputError
        If the image is constant, or does not look like CT: no air and
        soft-tissue populations well apart, no fat darker than soft tissue,
        nothing as dense as bone.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> shares = [0.4, 0.1, 0.45, 0.05]
    >>> hu = rng.choice([-1000.0, -100.0, 50.0, 1200.0], size=(60, 60, 60), p=shares)
    >>> hu += rng.normal(0.0, 10.0, hu.shape)
    >>> grey = Volume((0.65 * hu + 1100).astype(np.uint16), np.ones(3), np.zeros(3), np.eye(3))
    >>> scale = estimate_hu_scale(grey)
    >>> round(scale.slope, 2), round(scale.offset, -1)
    (0.65, 1100.0)
    """
    source = volume.source
    values = _sample(volume.array)
    low, high = float(values.min()), float(values.max())
    if high <= low:
        raise PdvaplanInputError(f"{source}: every voxel holds {low:g} (no body in the image)")
    values = _without_padding(values)
    not_ct = (
        f"{source}: grey values do not look like CT ({{}}); pdvaplan needs CT or cone-beam CT "
        "with air around the leg, or give --hu-scale A B"
    )
    split = _otsu(values)
    air_values, body = values[values < split], values[values >= split]
    if air_values.size < 0.005 * values.size or body.size < 0.05 * values.size:
        raise PdvaplanInputError(not_ct.format("no air around a body"))
    air = _mode(air_values)
    air_spread = _spread(air_values, air)
    body_mode = _mode(body, bins=512)
    if body_mode - air < 20.0 * max(air_spread, 1e-9):
        raise PdvaplanInputError(not_ct.format("air and the body are not two populations"))
    tissue, fat = _tissue_and_fat(body, air, body_mode)
    slope = (tissue - air) / (SOFT_TISSUE_HU - AIR_HU)
    offset = air - slope * AIR_HU
    hu_of = lambda grey: (grey - offset) / slope  # noqa: E731
    # CT has only partial-volume voxels (the skin) between air and fat.
    valley = np.count_nonzero(
        (values > air + 0.25 * (tissue - air)) & (values < air + 0.6 * (tissue - air))
    )
    if valley > 0.25 * min(air_values.size, body.size):
        raise PdvaplanInputError(not_ct.format("no gap between air and soft tissue"))
    if fat is None:
        raise PdvaplanInputError(
            not_ct.format("no fat darker than soft tissue, as CT shows it (MR shows fat bright)")
        )
    dense_share = float(np.count_nonzero(hu_of(body) >= DENSE_HU)) / body.size
    if dense_share < 2e-4:
        raise PdvaplanInputError(not_ct.format("nothing as dense as bone"))
    anchors = {
        "air_grey": air,
        "soft_tissue_grey": tissue,
        "fat_grey": fat,
        "fat_hu": float(hu_of(fat)),
        "dense_share": dense_share,
    }
    in_hu = (
        volume.array.dtype.kind in "if"
        and abs(air - AIR_HU) <= CALIBRATED_AIR_HU
        and CALIBRATED_TISSUE_HU[0] <= tissue <= CALIBRATED_TISSUE_HU[1]
    )
    if in_hu:
        return HuScale(1.0, 0.0, True, anchors | {"calibrated_input": True})
    return HuScale(float(slope), float(offset), True, anchors | {"calibrated_input": False})


def given_hu_scale(volume: Volume, slope: float, offset: float) -> HuScale:
    """A mapping the user gave (``--hu-scale``), checked against the image where it can be.

    Where the image's own air and soft tissue can be found (`estimate_hu_scale`),
    the given mapping must put them within `GIVEN_AIR_HU` of -1000 HU and in
    `GIVEN_TISSUE_HU`; where they cannot, the mapping is taken as given.

    Raises
    ------
    PdvaplanInputError
        If the given mapping puts the image's air or soft tissue far from where
        HU has them, naming the mapping the image suggests.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> shares = [0.4, 0.1, 0.45, 0.05]
    >>> hu = rng.choice([-1000.0, -100.0, 50.0, 1200.0], size=(60, 60, 60), p=shares)
    >>> hu += rng.normal(0.0, 10.0, hu.shape)
    >>> grey = Volume((0.65 * hu + 1100).astype(np.uint16), np.ones(3), np.zeros(3), np.eye(3))
    >>> given_hu_scale(grey, 0.65, 1100.0).estimated
    False
    >>> given_hu_scale(grey, 1.0, 0.0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    pdvaplan.errors.PdvaplanInputError: --hu-scale 1 0 maps <memory>'s air to 449 HU ...
    """
    given = HuScale(float(slope), float(offset), False)
    try:
        found = estimate_hu_scale(volume)
    except PdvaplanInputError:
        return HuScale(given.slope, given.offset, False, {"checked": False})
    air = (found.anchors["air_grey"] - given.offset) / given.slope
    tissue = (found.anchors["soft_tissue_grey"] - given.offset) / given.slope
    low, high = GIVEN_TISSUE_HU
    if abs(air - AIR_HU) > GIVEN_AIR_HU or not low <= tissue <= high:
        raise PdvaplanInputError(
            f"--hu-scale {slope:g} {offset:g} maps {volume.source}'s air to {air:.0f} HU and its "
            f"soft tissue to {tissue:.0f} HU (expected about -1000 and 50); the image suggests "
            f"--hu-scale {found.slope:.4g} {found.offset:.5g}"
        )
    return HuScale(given.slope, given.offset, False, found.anchors | {"checked": True})


def _sample(array: np.ndarray) -> np.ndarray:
    step = max(1, round((array.size / _SAMPLE_VOXELS) ** (1 / 3)))
    return np.asarray(array[::step, ::step, ::step], dtype=np.float64).ravel()


def _without_padding(values: np.ndarray) -> np.ndarray:
    """Values without a padding minimum or a saturated maximum set apart from the rest
    (by more than 5 % of the range between the 1st and 99th percentiles)."""
    low, high = np.percentile(values, [1.0, 99.0])
    gap = 0.05 * max(high - low, 1e-9)
    for pick_extreme, pick_nearest in ((np.min, np.min), (np.max, np.max)):
        extreme = pick_extreme(values)
        rest = values[values != extreme]
        if rest.size and abs(pick_nearest(rest) - extreme) > gap:
            values = rest
    return values


def _otsu(values: np.ndarray) -> float:
    from skimage.filters import threshold_otsu

    return float(threshold_otsu(values, nbins=1024))


def _histogram(values: np.ndarray, bins: int, low: float, high: float, smooth_bins: float):
    counts, edges = np.histogram(values, bins=bins, range=(low, high))
    smooth = ndimage.gaussian_filter1d(counts.astype(np.float64), smooth_bins, mode="constant")
    return smooth, (edges[:-1] + edges[1:]) / 2


def _mode(values: np.ndarray, bins: int = 256) -> float:
    """The most common value: the peak of a smoothed histogram between the 0.5 and 99.5th
    percentiles, refined by a parabola through the peak bin and its neighbours."""
    low, high = np.percentile(values, [0.5, 99.5])
    if high <= low:
        return float(low)
    smooth, centres = _histogram(values, bins, low, high, 2.0)
    return parabola_peak(smooth, centres, int(np.argmax(smooth)))


def _spread(values: np.ndarray, centre: float) -> float:
    return float(1.4826 * np.median(np.abs(values - centre)))


def _tissue_and_fat(body: np.ndarray, air: float, mode: float) -> tuple[float, float | None]:
    """Soft tissue and fat levels (grey) of the body's voxels, whose mode is `mode`.

    The mode is muscle or, in a fatty leg, fat. Read as muscle, fat lies 50-220
    HU below it on the scale that reading gives; read as fat, muscle lies
    50-220 HU above it. Noise spreads the mode's population evenly to both
    sides, so what a window holds beyond its mirror image about the mode is
    the other population: a reading holds when that excess is more than half
    the window and 1 % of the body, and the other level is the excess's peak.
    Returns (mode, None) when neither reading holds.
    """
    span = mode - air
    near, far = FAT_BELOW_TISSUE_HU
    for reading_hu, side in ((SOFT_TISSUE_HU, -1.0), (FAT_HU, 1.0)):
        per_hu = span / (reading_hu - AIR_HU)
        window = tuple(np.sort(mode + side * np.array([near, far]) * per_hu))
        counts, edges = np.histogram(body, bins=48, range=window)
        mirrored, _ = np.histogram(2 * mode - body, bins=48, range=window)
        excess = ndimage.gaussian_filter1d((counts - mirrored).astype(np.float64), 1.5)
        if excess.sum() > max(0.5 * counts.sum(), 0.01 * body.size):
            other = parabola_peak(excess, (edges[:-1] + edges[1:]) / 2, int(np.argmax(excess)))
            return (mode, other) if side < 0 else (other, mode)
    return mode, None
