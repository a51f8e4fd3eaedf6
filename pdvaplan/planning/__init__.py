"""Planning: eligible crossings ranked, the stent-graft chain, the Plan and its JSON.

The names below load their module when first used (PEP 562), so that a light
import (the command line's parameters, ``pdvaplan --help``) does not load the
segmentation, the centrelines and the kernels.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

#: Each public name and the module that defines it.
_HOMES = {
    "Candidate": "candidates",
    "Search": "candidates",
    "search_crossings": "candidates",
    "Catalog": "parameters",
    "PlanParameters": "parameters",
    "load_catalog": "parameters",
    "PLAN_SCHEMA": "plan",
    "Plan": "plan",
    "plan_from_labels": "plan",
    "plan_from_phases": "plan",
    "plan_vessels": "plan",
    "write_plan": "plan",
    "write_segmentation": "plan",
    "plan_stent_grafts": "stent_graft",
    "VesselMap": "vessels",
    "map_vessels": "vessels",
}

__all__ = [
    "PLAN_SCHEMA",
    "Candidate",
    "Catalog",
    "Plan",
    "PlanParameters",
    "Search",
    "VesselMap",
    "load_catalog",
    "map_vessels",
    "plan_from_labels",
    "plan_from_phases",
    "plan_stent_grafts",
    "plan_vessels",
    "search_crossings",
    "write_plan",
    "write_segmentation",
]


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from pdvaplan.planning.candidates import Candidate, Search, search_crossings
    from pdvaplan.planning.parameters import Catalog, PlanParameters, load_catalog
    from pdvaplan.planning.plan import (
        PLAN_SCHEMA,
        Plan,
        plan_from_labels,
        plan_from_phases,
        plan_vessels,
        write_plan,
        write_segmentation,
    )
    from pdvaplan.planning.stent_graft import plan_stent_grafts
    from pdvaplan.planning.vessels import VesselMap, map_vessels
