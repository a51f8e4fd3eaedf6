"""The values of the label map a plan reads and writes: the plan contract's 1-4 and,
beyond them, metal (which a plan treats like bone: an obstacle to the needle).

The one definition for the package; the phantoms import it too (it is data, not the
planner).
"""

#: Patent artery lumen, vein lumen, calcified wall, bone (the contract's values).
ARTERY, VEIN, CALCIUM, BONE = 1, 2, 3, 4
#: Metal (implants): the contract's 0-4 have no room for it.
METAL = 5
