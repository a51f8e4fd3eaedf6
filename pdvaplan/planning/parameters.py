"""Every rule parameter of a plan, with the contract's defaults, and the stent-graft catalogue."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from pdvaplan.errors import PdvaplanInputError

#: The example catalogue shipped with pdvaplan (example sizes, not device data).
EXAMPLE_CATALOG = Path(__file__).with_name("example_catalog.json")


@dataclass(frozen=True)
class CrossingGraft:
    """A tapered covered stent-graft that bridges artery to vein."""

    name: str
    proximal_diameter_mm: float
    distal_diameter_mm: float
    length_mm: float


@dataclass(frozen=True)
class ExtensionGraft:
    """A straight covered stent-graft that lines the vein."""

    name: str
    diameter_mm: float
    length_mm: float


@dataclass(frozen=True)
class Catalog:
    """Stent-graft sizes to choose from, and how to size them."""

    crossing: tuple[CrossingGraft, ...]
    extension: tuple[ExtensionGraft, ...]
    oversize_fraction: float = 0.1
    overlap_mm: float = 10.0
    source: str = str(EXAMPLE_CATALOG)
    note: str = ""


def load_catalog(path: str | os.PathLike = EXAMPLE_CATALOG) -> Catalog:
    """Read a stent-graft catalogue (JSON, schema ``pdvaplan.catalog/1``).

    Raises
    ------
    PdvaplanInputError
        If the file is missing, is not JSON, or lacks sizes.
    """
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        catalog = Catalog(
            crossing=tuple(CrossingGraft(**entry) for entry in document["crossing"]),
            extension=tuple(ExtensionGraft(**entry) for entry in document["extension"]),
            oversize_fraction=float(document.get("oversize_fraction", 0.1)),
            overlap_mm=float(document.get("overlap_mm", 10.0)),
            source=str(path),
            note=str(document.get("note", "")),
        )
    except FileNotFoundError:
        raise PdvaplanInputError(f"{path}: no such catalogue file") from None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise PdvaplanInputError(f"{path}: not a stent-graft catalogue ({error})") from None
    if not catalog.crossing or not catalog.extension:
        raise PdvaplanInputError(f"{path}: catalogue needs crossing and extension sizes")
    sizes = [g.length_mm for g in catalog.crossing + catalog.extension]
    sizes += [g.proximal_diameter_mm for g in catalog.crossing]
    sizes += [g.diameter_mm for g in catalog.extension]
    if not all(math.isfinite(s) and s > 0 for s in sizes):
        raise PdvaplanInputError(f"{path}: every length and diameter must be a positive number")
    return catalog


@dataclass(frozen=True)
class PlanParameters:
    """The rules a plan follows (contract defaults; lengths and diameters in mm).

    Parameters
    ----------
    reach_mm : float
        Longest needle, centreline to centreline.
    min_artery_mm, min_vein_mm : float
        Smallest lumen diameters at the crossing (0: no limit).
    calcium_hu : float
        Voxels at least this bright touching the artery lumen are calcified wall.
    calcium_margin_mm : float
        Artery points closer than this to calcified wall, along the vessel,
        are not eligible.
    ankle_z_mm : float or None
        Height the stent-graft path runs down to; None: the distal end of the
        target vein in the volume.
    site_separation_mm : float
        Candidates of one artery-vein pair closer than this along the artery
        are one site; the best of them is kept.
    profile_smoothing_mm : float
        Sites are ranked by the distance profile along the artery, each point
        replaced by a quadratic fitted over this far either side (0: raw
        distances).
    edge_margin_mm : float
        Sites closer than this (along the vessel) to where a vessel leaves the
        volume are not eligible: the border cuts the lumen there.
    patent_end_margin_mm : float
        Artery points closer than this (along the artery) to where its
        contrast stops are not eligible: that end is known to about a
        millimetre, and a needle at the stump leaves no patent artery to land in.
    max_candidates : int
        How many ranked sites to report.
    register : {"rigid", "none"}
        Register the venous phase rigidly onto the arterial one, or take the
        phases to share a frame (then bone of the two is only checked).
    hu_scale : tuple of two floats or None
        The phases' grey values are ``a * HU + b`` with these (a, b); None:
        estimated from each phase.
    side : {"left", "right"} or None
        The patient's leg to plan on when both are in view (required then).
    catalog : Catalog
        Stent-graft sizes.
    """

    reach_mm: float = 10.0
    min_artery_mm: float = 0.0
    min_vein_mm: float = 0.0
    calcium_hu: float = 700.0
    calcium_margin_mm: float = 5.0
    ankle_z_mm: float | None = None
    site_separation_mm: float = 10.0
    profile_smoothing_mm: float = 10.0
    edge_margin_mm: float = 5.0
    patent_end_margin_mm: float = 1.0
    max_candidates: int = 10
    register: str = "rigid"
    hu_scale: tuple[float, float] | None = None
    side: str | None = None
    catalog: Catalog = field(default_factory=load_catalog)

    def __post_init__(self) -> None:
        checks = {
            "reach_mm": (0 < self.reach_mm <= 100, "above 0, at most 100 mm"),
            "min_artery_mm": (0 <= self.min_artery_mm < 50, "0 to 50 mm"),
            "min_vein_mm": (0 <= self.min_vein_mm < 50, "0 to 50 mm"),
            "calcium_margin_mm": (0 <= self.calcium_margin_mm < 1000, "0 to 1000 mm"),
            "site_separation_mm": (0 <= self.site_separation_mm < 1000, "0 to 1000 mm"),
            "profile_smoothing_mm": (0 <= self.profile_smoothing_mm < 100, "0 to 100 mm"),
            "edge_margin_mm": (0 <= self.edge_margin_mm < 100, "0 to 100 mm"),
            "patent_end_margin_mm": (0 <= self.patent_end_margin_mm < 100, "0 to 100 mm"),
            "max_candidates": (self.max_candidates >= 1, "1 or more"),
            # Calcium is denser than any contrast-filled lumen and at most as dense as cortex.
            "calcium_hu": (200 <= self.calcium_hu <= 3000, "200 to 3000 HU"),
            "ankle_z_mm": (
                self.ankle_z_mm is None or math.isfinite(self.ankle_z_mm),
                "a finite height in mm",
            ),
            "register": (self.register in ("rigid", "none"), "rigid or none"),
            "side": (self.side in (None, "left", "right"), "left or right"),
            "hu_scale": (
                self.hu_scale is None
                or (
                    len(self.hu_scale) == 2
                    and all(math.isfinite(v) for v in self.hu_scale)
                    and self.hu_scale[0] > 0
                ),
                "A B with a slope A above 0",
            ),
        }
        for name, (ok, expected) in checks.items():
            if not ok:
                option = "--" + name.replace("_", "-")
                value = getattr(self, name)
                shown = " ".join(map(str, value)) if isinstance(value, tuple) else value
                raise PdvaplanInputError(f"{option} {shown}: out of range (expected {expected})")

    def as_dict(self) -> dict:
        """Every parameter as used, JSON-ready (the catalogue by its file)."""
        values = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "catalog"}
        return values | {
            "catalog": self.catalog.source,
            "overlap_mm": self.catalog.overlap_mm,
            "oversize_fraction": self.catalog.oversize_fraction,
        }
