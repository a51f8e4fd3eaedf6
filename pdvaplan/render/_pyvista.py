"""pyvista, set up for rendering without a display (Mesa EGL) unless the user chose."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pyvista as pv

#: The window class the user set before pdvaplan was imported (respected), if any.
_USER_WINDOW = os.environ.get("VTK_DEFAULT_OPENGL_WINDOW")
_EGL = "vtkEGLRenderWindow"

__all__ = ["has_display", "interactive_window", "offscreen", "pv"]


def has_display() -> bool:
    """Whether a window can be shown: on Linux, DISPLAY or WAYLAND_DISPLAY is set."""
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def offscreen() -> None:
    """Render offscreen: ``pv.OFF_SCREEN`` and, unless the user set one, the EGL window."""
    pv.OFF_SCREEN = True
    if _USER_WINDOW is None and os.environ.get("VTK_DEFAULT_OPENGL_WINDOW") is None:
        os.environ["VTK_DEFAULT_OPENGL_WINDOW"] = _EGL


@contextmanager
def interactive_window() -> Iterator[None]:
    """Let VTK pick its on-screen window class while the block runs."""
    saved_off, saved_env = pv.OFF_SCREEN, os.environ.get("VTK_DEFAULT_OPENGL_WINDOW")
    pv.OFF_SCREEN = False
    if _USER_WINDOW is None and saved_env == _EGL:
        del os.environ["VTK_DEFAULT_OPENGL_WINDOW"]
    try:
        yield
    finally:
        pv.OFF_SCREEN = saved_off
        if saved_env is not None:
            os.environ["VTK_DEFAULT_OPENGL_WINDOW"] = saved_env
