"""Stage "legs": which legs are in view, and the one to plan on.

Runoff scans often hold both legs. The body is found on blocks about
`BLOCK_MM` wide (a voxel of the body where most of a block is), and its
connected pieces are the legs; pieces smaller than `MIN_SHARE` of the largest
(a cable, a splint, a fold of the sheet) are not. Two legs are told apart by
their centres: the patient's left is +x in LPS. The other leg is then set to
the background (air in the phases, 0 in a label map), so every later stage sees
one leg, and crops that follow the body crop to it: all body beyond the kept
leg's blocks and their neighbours goes.

A label map has no body outline: its labelled voxels (bone and vessels) are
joined over `LABEL_JOIN_MM` first, which bridges the muscle between them
within a leg but not the gap between two legs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from pdvaplan.errors import PdvaplanInputError
from pdvaplan.filters import Components
from pdvaplan.io import Volume

#: Size (mm) of the blocks the body is found on.
BLOCK_MM = 4.0
#: Body pieces smaller than this share of the largest are not legs.
MIN_SHARE = 0.2
#: A label map's labelled voxels are joined over this distance (mm) into legs.
LABEL_JOIN_MM = 12.0
#: Sides a leg can be on (the patient's).
SIDES = ("left", "right")


@dataclass(frozen=True)
class Legs:
    """The legs in view and the one kept.

    Attributes
    ----------
    count : int
        Legs found (body pieces at least `MIN_SHARE` of the largest).
    centres_mm : numpy.ndarray
        (count, 3) physical centres of the legs, ordered by x (patient's
        right first).
    side : str or None
        The side kept when two legs are in view, else None.
    """

    count: int
    centres_mm: np.ndarray
    side: str | None

    def as_dict(self) -> dict:
        """JSON-ready form."""
        return {
            "count": self.count,
            "centres_mm": np.round(self.centres_mm, 2).tolist(),
            "side": self.side,
        }


def one_leg(
    volume: Volume,
    body: np.ndarray,
    side: str | None,
    background: float,
    join_mm: float = 0.0,
) -> tuple[Volume, Legs]:
    """The volume with every leg but the one on `side` set to `background`.

    Parameters
    ----------
    volume : Volume
        A phase (HU) or a label map.
    body : numpy.ndarray
        Boolean mask of the body (or of labelled voxels) on `volume`'s grid.
    side : {"left", "right"} or None
        The patient's side to keep when two legs are in view.
    background : float
        Value the other leg's voxels get.
    join_mm : float
        Gaps up to about twice this wide within a leg are bridged (label maps).

    Returns
    -------
    volume : Volume
        `volume` itself with one leg in view; else a copy holding the kept leg.
    legs : Legs

    Raises
    ------
    PdvaplanInputError
        If two legs are in view and `side` is None, or more than two body
        pieces are, naming the volume.

    Examples
    --------
    Two boxes of "body" 100 mm apart along x, in a 1 mm grid:

    >>> array = np.zeros((200, 40, 40), np.float32)
    >>> array[20:60, 5:35, 5:35] = 1.0
    >>> array[140:180, 5:35, 5:35] = 2.0
    >>> volume = Volume(array, np.ones(3), np.zeros(3), np.eye(3), "both.nii")
    >>> kept, legs = one_leg(volume, array > 0, "left", 0.0)
    >>> legs.count, legs.side, np.unique(kept.array).tolist()
    (2, 'left', [0.0, 2.0])
    >>> one_leg(volume, array > 0, None, 0.0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    pdvaplan.errors.PdvaplanInputError: both.nii: two legs in view; choose one with --side ...
    """
    if side is not None and side not in SIDES:
        raise PdvaplanInputError(f"--side {side}: expected left or right")
    factors = np.maximum(np.round(BLOCK_MM / volume.spacing_mm).astype(int), 1)
    blocks = _block_share(body, factors) >= 0.5
    joined = blocks
    if join_mm > 0:
        reach = np.maximum(np.round(join_mm / (volume.spacing_mm * factors)).astype(int), 1)
        joined = ndimage.binary_dilation(blocks, np.ones(2 * reach + 1, bool))
    parts = Components(joined)
    pieces, count = parts.labels(), parts.count
    sizes = np.bincount(pieces[blocks], minlength=count + 1)[1:]
    legs = np.flatnonzero(sizes >= MIN_SHARE * sizes.max()) + 1 if count else np.array([], int)
    if legs.size > 2:
        raise PdvaplanInputError(
            f"{volume.source}: {legs.size} separate body parts in view; expected one leg or two"
        )
    centres = np.array(
        [
            volume.index_to_physical(
                (np.mean(np.argwhere(blocks & (pieces == leg)), axis=0) + 0.5) * factors - 0.5
            )
            for leg in legs
        ]
    ).reshape(-1, 3)
    by_x = np.argsort(centres[:, 0])
    legs, centres = legs[by_x], centres[by_x]
    if legs.size < 2:
        return volume, Legs(legs.size, centres, None)
    if side is None:
        raise PdvaplanInputError(
            f"{volume.source}: two legs in view; choose one with --side left or --side right "
            "(the patient's left is +x)"
        )
    kept = legs[SIDES.index(side) ^ 1]  # sorted by x: the patient's right leg first
    # The kept leg's blocks and their neighbours hold all of it, partial blocks at its
    # skin included; any body beyond them belongs to the other leg.
    region = ndimage.binary_dilation(pieces == kept, np.ones((3, 3, 3), bool))
    array = volume.array.copy()
    array[body & ~_expand(region, factors, volume.shape)] = background
    return volume.with_array(array), Legs(2, centres, side)


def _block_share(mask: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """Share of each block of `factors` voxels in `mask` (edge blocks padded with False)."""
    padded_shape = -(-np.asarray(mask.shape) // factors) * factors
    padded = np.zeros(tuple(padded_shape), np.float32)
    padded[: mask.shape[0], : mask.shape[1], : mask.shape[2]] = mask
    blocks = padded.reshape(
        padded_shape[0] // factors[0],
        factors[0],
        padded_shape[1] // factors[1],
        factors[1],
        padded_shape[2] // factors[2],
        factors[2],
    )
    return blocks.mean(axis=(1, 3, 5))


def _expand(blocks: np.ndarray, factors: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A block mask back on the full grid of `shape`."""
    out = blocks
    for axis in range(3):
        out = np.repeat(out, factors[axis], axis=axis)
    return out[: shape[0], : shape[1], : shape[2]]
