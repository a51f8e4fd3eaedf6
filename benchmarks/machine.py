"""A line that says which machine and library versions a benchmark ran on."""

from __future__ import annotations

import datetime
import os
import platform
from importlib import metadata


def machine_note(packages: tuple[str, ...] = ("numpy", "scipy", "SimpleITK", "numba")) -> str:
    """CPU model, cores, Python and package versions, and today's date, in one line."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as stream:
            cpu = next(line.split(":", 1)[1].strip() for line in stream if "model name" in line)
    except (OSError, StopIteration):
        pass
    versions = []
    for name in packages:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} absent")
    return (
        f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{', '.join(versions)}; {datetime.date.today().isoformat()}"
    )
