"""Lumen section moments equal a whole-grid oracle: scipy's trilinear samples, its
4-connected labels and square dilation, whatever pixels the kernel chose to sample."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from pdvaplan.kernels.plane_sampling import lumen_section_moments

_SEED_ORDER = ((0, 0), (0, -1), (0, 1), (-1, 0), (1, 0), (-1, -1), (-1, 1), (1, -1), (1, 1))


def oracle(volume, centres, u, v, offsets, grow, floor):
    """The same moments from every pixel of every plane, by scipy."""
    n, m = len(centres), offsets.size
    index = (
        centres[:, None, None, :]
        + offsets[None, :, None, None] * u[:, None, None, :]
        + offsets[None, None, :, None] * v[:, None, None, :]
    )
    samples = ndimage.map_coordinates(
        volume, index.reshape(-1, 3).T, order=1, mode="constant", cval=np.nan
    ).reshape(n, m, m)
    c = m // 2
    results = []
    for section in samples:
        inside = section >= 0.5  # False where NaN
        seeds = [(c + di, c + dj) for di, dj in _SEED_ORDER if inside[c + di, c + dj]]
        if not seeds:
            results.append((0.0, np.nan, np.nan, False, False, False))
            continue
        labels, _ = ndimage.label(inside)  # 4-connected
        region = labels == labels[seeds[0]]
        edge = region[0].any() or region[-1].any() or region[:, 0].any() or region[:, -1].any()
        widened = ndimage.binary_dilation(region, np.ones((2 * grow + 1,) * 2)) if grow else region
        cut = bool(np.isnan(section[widened]).any())
        weights = np.where(widened & ~np.isnan(section), np.clip(section, 0.0, 1.0), 0.0)
        total = weights.sum()
        pull = np.maximum(weights - floor, 0.0)
        i, j = np.mgrid[:m, :m]
        row = (pull * i).sum() / pull.sum() if pull.sum() > 0 else np.nan
        column = (pull * j).sum() / pull.sum() if pull.sum() > 0 else np.nan
        results.append((total, row, column, True, edge, cut))
    return [np.array(r) for r in zip(*results, strict=True)]


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    m=st.integers(3, 15),
    grow=st.integers(0, 3),
    flip=st.booleans(),
    floor=st.sampled_from([0.0, 0.5, 0.9]),
)
def test_section_moments_match_the_whole_grid_oracle(seed, m, grow, flip, floor):
    rng = np.random.default_rng(seed)
    # Smooth blobs around 0.5 give regions of every shape, some touching the
    # grid's edge, some cut by the volume's border.
    volume = ndimage.gaussian_filter(rng.normal(size=(9, 7, 11)), 1.0).astype(np.float32)
    volume = 0.5 + volume / max(float(np.abs(volume).max()), 1e-6)
    if flip:  # a non-contiguous view, as crops are
        volume = volume[::-1, 1:, ::2]
    n = 8
    centres = rng.uniform(-0.5, np.array(volume.shape) - 0.5, (n, 3))
    u, v = rng.normal(size=(n, 3)) * 0.4, rng.normal(size=(n, 3)) * 0.4
    offsets = np.arange(m) - m // 2 + rng.uniform(-0.3, 0.3)
    ours = lumen_section_moments(volume, centres, u, v, offsets, grow, floor)
    expected = oracle(volume, centres, u, v, offsets, grow, floor)
    for name, a, b in zip(("total", "row", "column"), ours[:3], expected[:3], strict=True):
        assert np.allclose(a, b, rtol=1e-6, atol=1e-5, equal_nan=True), name
    for name, a, b in zip(("found", "edge", "cut"), ours[3:], expected[3:], strict=True):
        assert np.array_equal(a, b), name


def disk_volume(radius_px: float, centre: tuple[float, float], m: int = 21) -> np.ndarray:
    """A disk of lumen in the middle one of three planes k = 0, 1, 2."""
    i, j = np.mgrid[:m, :m]
    inside = (i - centre[0]) ** 2 + (j - centre[1]) ** 2 <= radius_px**2
    return np.repeat(inside[:, :, None], 3, axis=2).astype(np.float32)


def moments(volume: np.ndarray, grow: int, floor: float = 0.0) -> tuple[np.ndarray, ...]:
    """Moments of the plane k = 1 on the volume's own pixel grid."""
    m = volume.shape[0]
    centre = np.array([[m // 2, m // 2, 1.0]])
    axes = np.array([[1.0, 0, 0]]), np.array([[0.0, 1, 0]])
    return lumen_section_moments(volume, centre, *axes, np.arange(m) - m // 2.0, grow, floor)


def test_section_moments_of_a_disk_and_a_neighbour():
    volume = disk_volume(4.0, (10.0, 11.0))
    # Another lumen nearby, not connected to the centre's: it must not count.
    volume[1:4, 1:4] = 1.0
    total, row, column, found, edge, cut = moments(volume, grow=1)
    assert found[0] and not edge[0] and not cut[0]
    assert total[0] == disk_volume(4.0, (10.0, 11.0))[:, :, 1].sum()
    assert (row[0], column[0]) == (10.0, 11.0)


def test_centroid_above_the_floor_ignores_a_lopsided_skirt():
    # A blurred disk whose skirt below one half is cut away on one side only (as a
    # reach around a voxel mask cuts it): weighted by the whole fraction the centroid
    # moves off the axis; weighted above one half it stays on it.
    m = 41
    i, j = np.mgrid[:m, :m]
    radius = np.hypot(i - 20.0, j - 20.0)
    section = (0.5 - 0.5 * np.tanh((radius - 6.0) / 2.0)).astype(np.float32)
    section[:, 27:] = np.where(section[:, 27:] < 0.5, 0.0, section[:, 27:])
    volume = np.repeat(section[:, :, None], 3, axis=2)
    whole = moments(volume, grow=6)
    above_half = moments(volume, grow=6, floor=0.5)
    assert abs(whole[2][0] - 20.0) > 0.2
    assert abs(above_half[1][0] - 20.0) < 1e-9 and abs(above_half[2][0] - 20.0) < 1e-9
    assert above_half[0][0] == whole[0][0]  # the area is the same sum


def test_section_moments_reject_a_floor_outside_0_1():
    with pytest.raises(ValueError, match="floor"):
        moments(disk_volume(3.0, (10.0, 10.0)), 1, floor=1.0)


def test_section_moments_flag_edges_cuts_and_misses():
    assert moments(disk_volume(12.0, (10.0, 10.0)), 0)[4][0]  # reaches the section's edge
    # The volume ends 2 pixels beyond the lumen's edge (j = 13): cut only when widened by 3.
    cut = disk_volume(3.0, (10.0, 10.0))[:, :16]
    centre = np.array([[10.0, 10.0, 1.0]])
    axes = np.array([[1.0, 0, 0]]), np.array([[0.0, 1, 0]])
    offsets = np.arange(-10.0, 11.0)
    assert lumen_section_moments(cut, centre, *axes, offsets, 3)[5][0]
    assert not lumen_section_moments(cut, centre, *axes, offsets, 1)[5][0]
    assert not moments(np.zeros((9, 9, 3), np.float32), 1)[3][0]
