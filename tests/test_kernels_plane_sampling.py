"""Plane sampling equals scipy's trilinear map_coordinates, NaN outside the volume."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from pdvaplan.kernels.plane_sampling import sample_planes


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
