"""Every example in every docstring of the package and the phantoms runs as written."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import pdvaplan
import phantoms


def _modules() -> list[str]:
    names = []
    for package in (pdvaplan, phantoms):
        names.append(package.__name__)
        for info in pkgutil.walk_packages(package.__path__, prefix=f"{package.__name__}."):
            names.append(info.name)
    return names


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    assert result.failed == 0
