"""Shared fixtures: phantoms generated once per test session, and the real data."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from phantoms import Conditions, make_phantom

#: Real images nobody on the team made, kept with the tests (see tests/data/README.md).
REAL_DATA = Path(__file__).resolve().parent / "data"

#: A coarse grid: the anatomy and truth do not depend on it, and it images fast.
COARSE_SPACING_MM = (1.6, 1.6, 2.0)


@functools.cache
def cached_phantom(name: str, seed: int = 0, spacing_mm=COARSE_SPACING_MM, direction=None):
    """A phantom, generated once per session for each set of arguments. A random leg keeps
    its drawn acquisition but holds one clean leg (what a scan can hold beyond that is
    tested in test_conditions.py)."""
    return make_phantom(name, seed, spacing_mm, direction, conditions=Conditions())


@pytest.fixture
def real_data() -> Path:
    """The real images kept with the tests (tests/data: provenance and licences there)."""
    return REAL_DATA
