"""Segmentation: two contrast phases -> one label map.

``segment(arterial, venous)`` maps both phases to HU, keeps one leg (``side``)
when both are in view, registers the venous one onto the arterial one, checks
their order and labels, on the arterial grid, 1 patent artery lumen, 2 vein
lumen, 3 calcification and 4 bone (the contract's values), and 5 metal; it
keeps the intensity levels it measured so that the centreline stage can turn
intensities into lumen fractions, and what each
stage measured to check its input. `pdvaplan.segmentation.pipeline` lists the
stages; each stage's module gives its methods and why they were chosen, and
`segment`'s docstring a worked example.
"""

from pdvaplan.segmentation.levels import LevelProfile
from pdvaplan.segmentation.pipeline import Segmentation, segment
from pdvaplan.segmentation.settings import SegmentationSettings

__all__ = ["LevelProfile", "Segmentation", "SegmentationSettings", "segment"]
