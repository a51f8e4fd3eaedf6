"""Writing results so that a reader never sees a partial file or a folder of mixed runs.

* A file is written under a temporary name in its own folder and renamed into
  place (`atomic_path`): a rename within a file system is atomic, so a
  viewer, a PACS export or a second run sees the old file or the new one.
* A run writes into a fresh folder beside its destination and swaps it into
  place when everything is written (`run_folder`): the destination always
  holds one complete run, an earlier run's folder is replaced as a whole, and
  a failed or killed run leaves the destination as it was.
* Files and folders get the permissions the user's umask gives (the
  temporary files Python makes are private, 0600, which a colleague cannot
  read).
* What the files hold: JSON of NumPy values and paths (`json_default`), and the
  checksums of the inputs a plan records (`file_sha256`).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from pdvaplan.errors import PdvaplanInputError

#: Prefix of the folders a run writes into before they are swapped into place.
STAGING_PREFIX = ".pdvaplan-"
#: The file that marks a folder as a run's, which a later run may replace as a whole.
RUN_MARKER = ".pdvaplan-run"


def _umask() -> int:
    """The process's umask (read by setting it and setting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _as_created(path: str | os.PathLike, directory: bool = False) -> None:
    """Give `path` the permissions the umask gives a new file (0666) or folder (0777)."""
    os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """A temporary file name in `path`'s folder, renamed to `path` when the block succeeds.

    The temporary name keeps `path`'s suffix (``.nii.gz`` whole), so writers
    that choose a format by the extension work on it. On failure the
    temporary file is removed and `path` is left as it was.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> with atomic_path(folder / "note.txt") as temporary:
    ...     _ = Path(temporary).write_text("written")
    >>> (folder / "note.txt").read_text(), len(list(folder.iterdir()))
    ('written', 1)
    """
    path = Path(path)
    suffix = ".nii.gz" if path.name.endswith(".nii.gz") else path.suffix
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(handle)
    try:
        yield temporary
        _as_created(temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_atomically(path: str | os.PathLike, write: Callable[[str], object]) -> Path:
    """Call ``write(temporary)`` on a temporary file beside `path`, then rename it to `path`."""
    with atomic_path(path) as temporary:
        write(temporary)
    return Path(path)


def write_mesh(mesh, path: str | os.PathLike) -> Path:
    """Write a pyvista mesh (``.vtp``) atomically, its frame stated in its field data.

    The field-data string array ``SPACE`` holds ``LPS``, as 3D Slicer writes and
    reads it (without it Slicer assumes LPS too, other viewers nothing), and
    ``UNITS`` holds ``mm``: the points are millimetres in the plan's physical
    frame. `mesh` itself is not changed.
    """
    stated = mesh.copy(deep=False)
    stated.field_data["SPACE"] = ["LPS"]
    stated.field_data["UNITS"] = ["mm"]
    return write_atomically(path, stated.save)


def write_text_atomically(path: str | os.PathLike, text: str) -> Path:
    """Write a UTF-8 text file atomically (`atomic_path`)."""
    return write_atomically(path, lambda t: Path(t).write_text(text, encoding="utf-8"))


@contextmanager
def run_folder(destination: str | os.PathLike) -> Iterator[Path]:
    """A fresh folder beside `destination` to write a run into, swapped into place at the end.

    When the block succeeds, an existing `destination` (an earlier run) is
    moved aside and removed, and the fresh folder takes its name; when it
    fails (or the process is killed), `destination` is untouched and the
    fresh folder is removed (or, after a kill, left as a hidden
    ``.pdvaplan-*`` folder beside it).

    Only an empty folder or an earlier run's (it holds `RUN_MARKER`) is
    replaced: a folder of other files (the inputs, say) is never removed.

    Raises
    ------
    PdvaplanInputError
        If the parent folder cannot be created or written to, or `destination`
        is a file or a folder of files that are not an earlier run's.

    Examples
    --------
    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp()) / "run"
    >>> with run_folder(out) as folder:
    ...     _ = (folder / "plan.json").write_text("{}")
    >>> sorted(p.name for p in out.iterdir())
    ['.pdvaplan-run', 'plan.json']
    """
    destination = Path(destination)
    if destination.exists() and not destination.is_dir():
        raise PdvaplanInputError(f"{destination}: exists and is not a folder")
    earlier_run = (destination / RUN_MARKER).exists()
    if destination.is_dir() and not earlier_run and any(destination.iterdir()):
        raise PdvaplanInputError(
            f"{destination}: holds files that are not an earlier pdvaplan run's (a run "
            "replaces its folder as a whole); give a new or empty folder"
        )
    parent = destination.absolute().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{destination.name}.", dir=parent))
    except OSError as error:
        raise PdvaplanInputError(f"{destination}: cannot write there ({error.strerror})") from None
    try:
        (staging / RUN_MARKER).write_text("a pdvaplan run: replaced as a whole by the next\n")
        yield staging
        _as_created(staging, directory=True)
        if not destination.exists():
            os.replace(staging, destination)
        elif not _exchange(staging, destination):
            old = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}old.", dir=parent))
            os.replace(destination, old / destination.name)
            os.replace(staging, destination)
            staging = old
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(staging, ignore_errors=True)  # the earlier run, when there was one


def _exchange(first: Path, second: Path) -> bool:
    """Swap two paths in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``); False
    where the system cannot (then the caller renames twice, with a moment between)."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    at_cwd, exchange = -100, 2  # AT_FDCWD, RENAME_EXCHANGE
    done = renameat2(at_cwd, os.fsencode(first), at_cwd, os.fsencode(second), exchange)
    return done == 0


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file, or of every file in a folder (sorted by name)."""
    digest = hashlib.sha256()
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        with open(file, "rb") as stream:
            for block in iter(lambda s=stream: s.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def json_default(value):
    """``json.dumps(default=...)`` for NumPy values and paths."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
