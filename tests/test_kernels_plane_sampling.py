"""Plane sampling equals scipy's trilinear map_coordinates, NaN outside the volume."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from pdvaplan.kernels.plane_sampling import lumen_section_moments, sample_planes


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), m=st.integers(1, 9), flip=st.booleans())
def test_sample_planes_matches_map_coordinates(seed, m, flip):
    rng = np.random.default_rng(seed)
    volume = rng.normal(size=(7, 5, 9)).astype(np.float32)
    if flip:  # a non-contiguous view, as crops are
        volume = volume[::-1, 1:, ::2]
    n = 6
    centres = rng.uniform(-1.0, 8.0, (n, 3))
    u, v = rng.normal(size=(n, 3)), rng.normal(size=(n, 3))
    offsets = np.linspace(-2.0, 2.0, m)
    ours = sample_planes(volume, centres, u, v, offsets)
    index = (
        centres[:, None, None, :]
        + offsets[None, :, None, None] * u[:, None, None, :]
        + offsets[None, None, :, None] * v[:, None, None, :]
    )
    expected = ndimage.map_coordinates(
        volume, index.reshape(-1, 3).T, order=1, mode="constant", cval=np.nan
    ).reshape(n, m, m)
    assert np.array_equal(np.isnan(ours), np.isnan(expected))
    assert np.allclose(ours, expected, atol=1e-5, equal_nan=True)


def disk_sections(radius_px: float, centre: tuple[float, float], m: int = 21) -> np.ndarray:
    i, j = np.mgrid[:m, :m]
    inside = (i - centre[0]) ** 2 + (j - centre[1]) ** 2 <= radius_px**2
    return inside[None].astype(np.float32)


def test_section_moments_of_a_disk_and_a_neighbour():
    section = disk_sections(4.0, (10.0, 11.0))
    # Another lumen nearby, not connected to the centre's: it must not count.
    section[0, 1:4, 1:4] = 1.0
    total, row, column, found, edge, cut = lumen_section_moments(section, grow=1)
    assert found[0] and not edge[0] and not cut[0]
    assert total[0] == disk_sections(4.0, (10.0, 11.0)).sum()
    assert (row[0], column[0]) == (10.0, 11.0)


def test_section_moments_flag_edges_cuts_and_misses():
    touching = disk_sections(12.0, (10.0, 10.0))
    assert lumen_section_moments(touching, 0)[4][0]  # reaches the section's edge
    cut = disk_sections(3.0, (10.0, 10.0))
    cut[0, :, 15:] = np.nan  # the volume ends next to the lumen
    assert lumen_section_moments(cut, 3)[5][0] and not lumen_section_moments(cut, 1)[5][0]
    empty = np.zeros((1, 9, 9), np.float32)
    assert not lumen_section_moments(empty, 1)[3][0]
