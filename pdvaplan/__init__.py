"""pdvaplan: plan a pDVA artery-to-vein crossing in 3D, in millimetres.

The pipeline reads two co-registered contrast phases, segments artery and vein
lumens, extracts centrelines in physical millimetres, searches for the
shortest eligible artery-to-vein crossing within needle reach and plans the
stent-graft path down the vein to the ankle.
"""

__version__ = "0.1.0"
