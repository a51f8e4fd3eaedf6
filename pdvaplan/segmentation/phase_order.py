"""Stage 3, phase order: is the phase given as arterial the arterial one?

In the arterial phase the arteries are bright and their veins not yet
filled; in the venous phase the veins are bright and the arteries still
moderately so. So the vessels bright in one phase only are the veins, and
they are bright in the venous phase. Phases handed over the wrong way round
show them bright in the phase given as arterial. Measured on the aligned
phases (2 x 2 x 2 block means, which quiet the noise), away from anything
bright in both (bone, calcium) and from their edges.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pdvaplan.filters import within_mm
from pdvaplan.segmentation.coarse import CoarseGrid
from pdvaplan.segmentation.levels import background_hu

#: Contrast over the background (HU) a vessel voxel must show in one phase.
CONTRAST_HU = 60.0
#: ... while the other phase shows at most this share of it.
OTHER_SHARE = 0.25
#: Voxels at least this bright (HU) in both phases are bone or calcium: left out.
DENSE_HU = 300.0
#: Voxels within `EDGE_MM` of anything this bright (HU) in either phase are left out:
#: at bone edges the partial volumes of two grids differ (a swapped pair of phases on
#: different grids read 0.64-0.72 instead of 0.9 with them).
EDGE_HU, EDGE_MM = 600.0, 3.0
#: The share of one-phase vessels bright in the arterial phase at or above which the phases
#: are taken for swapped, and below which for right; in between the order is uncertain.
SWAPPED_SHARE, RIGHT_SHARE = 0.65, 0.35
#: Fewer one-phase vessel voxels than this (ml) cannot tell the order.
MIN_VOLUME_ML = 0.5


@dataclass(frozen=True)
class PhaseOrder:
    """What the phases' one-phase vessels say about their order.

    Attributes
    ----------
    only_arterial_ml, only_venous_ml : float
        Volume (ml) bright in only the phase given as arterial / as venous.
    arterial_share : float or None
        ``only_arterial / (only_arterial + only_venous)``; None when too
        little is bright in one phase only to tell.
    verdict : str
        ``"right"``, ``"swapped"`` or ``"uncertain"``.

    Examples
    --------
    >>> PhaseOrder.from_volumes(0.2, 9.0).verdict
    'right'
    >>> PhaseOrder.from_volumes(9.0, 0.2).verdict
    'swapped'
    >>> PhaseOrder.from_volumes(0.1, 0.1).verdict
    'uncertain'
    """

    only_arterial_ml: float
    only_venous_ml: float
    arterial_share: float | None
    verdict: str

    @classmethod
    def from_volumes(cls, only_arterial_ml: float, only_venous_ml: float) -> PhaseOrder:
        """The verdict of the two volumes (ml)."""
        total = only_arterial_ml + only_venous_ml
        if total < MIN_VOLUME_ML:
            return cls(only_arterial_ml, only_venous_ml, None, "uncertain")
        share = only_arterial_ml / total
        verdict = (
            "swapped" if share >= SWAPPED_SHARE else "right" if share < RIGHT_SHARE else "uncertain"
        )
        return cls(only_arterial_ml, only_venous_ml, share, verdict)

    def warnings(self) -> list[str]:
        """What a user must be told (nothing when the order looks right)."""
        if self.verdict != "uncertain":
            return []
        return [
            "the phase order could not be confirmed: "
            f"{self.only_venous_ml:.1f} ml of vessels are bright in the venous phase only and "
            f"{self.only_arterial_ml:.1f} ml in the arterial phase only (a venous phase shows "
            "veins the arterial phase does not)"
        ]

    def swapped_message(self, arterial_source: str, venous_source: str) -> str:
        """The one-line refusal for phases that look swapped."""
        return (
            f"{arterial_source}: the phases look swapped: {self.only_arterial_ml:.1f} ml of "
            f"vessels are bright in it and dark in {venous_source} ({self.only_venous_ml:.1f} "
            "ml the other way round), as veins are in a venous phase; give them the other way "
            "round (--arterial VEN --venous ART)"
        )

    def as_dict(self) -> dict:
        """JSON-ready record."""
        return vars(self).copy()


def check_phase_order(
    arterial_hu: np.ndarray,
    venous_hu: np.ndarray,
    spacing_mm: np.ndarray,
    covered: np.ndarray | None = None,
) -> PhaseOrder:
    """Measure which phase the one-phase vessels are bright in.

    Parameters
    ----------
    arterial_hu, venous_hu : numpy.ndarray
        The phases in HU on one grid (the venous one registered onto the arterial).
    spacing_mm : array_like, shape (3,)
        Voxel size.
    covered : numpy.ndarray, optional
        Voxels where the venous phase has values (default: all).

    Returns
    -------
    PhaseOrder

    Examples
    --------
    >>> arterial = np.full((20, 20, 20), 50.0, np.float32)
    >>> venous = arterial.copy()
    >>> arterial[4:6, 4:6, :] = venous[4:6, 4:6, :] = 300.0  # an artery, bright in both
    >>> venous[12:16, 12:16, :] = 220.0  # a vein, bright in the venous phase only
    >>> check_phase_order(arterial, venous, np.full(3, 2.0)).verdict
    'right'
    >>> check_phase_order(venous, arterial, np.full(3, 2.0)).verdict
    'swapped'
    """
    blocks = CoarseGrid(arterial_hu.shape, spacing_mm, 0, 1.0)
    a, v = blocks.mean(arterial_hu), blocks.mean(venous_hu)
    # Bone and calcium, and their edges, where two grids' partial volumes differ.
    keep = ~within_mm(np.maximum(a, v) >= EDGE_HU, blocks.spacing, EDGE_MM)
    keep &= np.minimum(a, v) < DENSE_HU
    if covered is not None:
        keep &= blocks.mean(covered) > 0.99
    contrast_a = a - np.float32(background_hu(a[keep]))
    contrast_v = v - np.float32(background_hu(v[keep]))
    only_a = keep & (contrast_a >= CONTRAST_HU) & (contrast_v <= OTHER_SHARE * contrast_a)
    only_v = keep & (contrast_v >= CONTRAST_HU) & (contrast_a <= OTHER_SHARE * contrast_v)
    block_ml = 8.0 * float(np.prod(spacing_mm)) / 1000.0
    return PhaseOrder.from_volumes(
        float(np.count_nonzero(only_a)) * block_ml, float(np.count_nonzero(only_v)) * block_ml
    )
