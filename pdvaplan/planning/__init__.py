"""Planning: eligible crossings ranked, the stent-graft chain, the Plan and its JSON."""

from pdvaplan.planning.candidates import Candidate, Search, search_crossings
from pdvaplan.planning.parameters import Catalog, PlanParameters, load_catalog
from pdvaplan.planning.plan import (
    PLAN_SCHEMA,
    Plan,
    file_sha256,
    lumen_fractions,
    plan_from_labels,
    plan_from_phases,
    plan_vessels,
    write_plan,
    write_segmentation,
)
from pdvaplan.planning.stent_graft import plan_stent_grafts
from pdvaplan.planning.vessels import VesselMap, map_vessels

__all__ = [
    "PLAN_SCHEMA",
    "Candidate",
    "Catalog",
    "Plan",
    "PlanParameters",
    "Search",
    "VesselMap",
    "file_sha256",
    "load_catalog",
    "lumen_fractions",
    "map_vessels",
    "plan_from_labels",
    "plan_from_phases",
    "plan_stent_grafts",
    "plan_vessels",
    "search_crossings",
    "write_plan",
    "write_segmentation",
]
