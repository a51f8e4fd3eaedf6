"""Whether a plan will fit in memory, told from the images' headers before they are read.

A plan from two phases peaks at about 37.5 bytes per voxel of the arterial grid
(the phases in float32, their smoothed copies, the masks and distance maps of
the segmentation, the lumen fractions of the centrelines): 5.5 GiB of peak
resident memory for ``pdvaplan plan --no-render`` on the basic leg at
509 x 520 x 600 voxels, its venous phase on a grid of its own moved 3 deg and
3.5 mm (2026-12-07, ``/usr/bin/time -v``; on 2026-12-03, with the code of then,
30 bytes per voxel at 509 x 416 x 600). `PLAN_BYTES_PER_VOXEL` rounds that up
for headroom.
``python -m benchmarks.plan --sizes`` reports the peak at three sizes (there
including the phantoms' generation). A plan that would not fit stops before
reading anything, saying how much it needs, instead of being killed by the
system half-way.
"""

from __future__ import annotations

from pathlib import Path

from pdvaplan.errors import PdvaplanInputError
from pdvaplan.io import header_voxels

#: Peak bytes per arterial-grid voxel of a plan from two phases (37.5 measured, with headroom).
PLAN_BYTES_PER_VOXEL = 48
#: A label-map plan holds far less: the labels, masks and the centrelines' fractions.
LABEL_PLAN_BYTES_PER_VOXEL = 12
_GIB = 1024**3


def available_bytes() -> int | None:
    """Memory the system can give this process now (Linux ``MemAvailable``); None elsewhere."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def check_plan_fits(given: dict[str, Path], available: int | None = None) -> None:
    """Refuse a plan that will not fit in memory, from its inputs' headers.

    Parameters
    ----------
    given : dict
        The inputs by name (``arterial`` and ``venous``, or ``labels``).
    available : int, optional
        Bytes available (default: `available_bytes`); nothing is checked when unknown.

    Raises
    ------
    PdvaplanInputError
        Naming the input, the memory the plan needs and what is available.
    """
    available = available_bytes() if available is None else available
    main = "labels" if "labels" in given else "arterial"
    voxels = header_voxels(given[main])
    if available is None or voxels is None:
        return
    per_voxel = LABEL_PLAN_BYTES_PER_VOXEL if main == "labels" else PLAN_BYTES_PER_VOXEL
    needed = voxels * per_voxel + (
        4 * (header_voxels(given["venous"]) or 0) if "venous" in given else 0
    )
    if needed > available:
        raise PdvaplanInputError(
            f"{given[main]}: a plan on its {voxels / 1e6:.0f} million voxels needs about "
            f"{needed / _GIB:.1f} GiB of memory, {available / _GIB:.1f} GiB is available; crop "
            "the volumes to the leg (or give --side for one of two legs), or use a larger "
            "machine"
        )
