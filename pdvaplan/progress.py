"""Progress of long work: which stage runs, how many are done, how long it has taken.

Each step of the pipeline runs inside `stage`, which times it (into a
``timings`` dict, as plan.json reports them) and tells the reporters set for
the block of work around it (`reporting`). The package reports to nobody by
default; the command line shows a bar on a terminal (`TerminalProgress`,
through tqdm) and, with ``--verbose``, logs each stage's seconds through
`logging` (`LoggingProgress`), beside the figures the stages log themselves
(logger ``pdvaplan``).

Examples
--------
>>> timings = {}
>>> with reporting(LoggingProgress()):
...     with stage("smooth", timings):
...         pass
>>> list(timings)
['smooth']
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_reporters: ContextVar[tuple] = ContextVar("pdvaplan_progress", default=())

logger = logging.getLogger("pdvaplan")


class LoggingProgress:
    """Logs each finished stage and its seconds (logger ``pdvaplan``, level INFO)."""

    def started(self, name: str) -> None:
        """A stage began (nothing is logged until it ends)."""

    def finished(self, name: str, seconds: float) -> None:
        """A stage ended after `seconds`."""
        logger.info("stage %s: %.2f s", name, seconds)

    def close(self) -> None:
        """Nothing to release."""


class TerminalProgress:
    """A bar on stderr: the running stage, stages done of `total`, time elapsed.

    Parameters
    ----------
    total : int or None
        Stages the work will run (None: unknown, the bar counts without a fraction).
    """

    def __init__(self, total: int | None) -> None:
        from tqdm import tqdm

        self._bar = tqdm(
            total=total,
            desc="pdvaplan",
            unit="stage",
            file=sys.stderr,
            leave=False,
            bar_format="{desc}: {n_fmt}/{total_fmt} stages [{elapsed}]",
        )

    def started(self, name: str) -> None:
        """Show `name` as the running stage."""
        self._bar.set_description_str(f"pdvaplan: {name}")

    def finished(self, name: str, seconds: float) -> None:
        """Count a stage done."""
        self._bar.update(1)

    def close(self) -> None:
        """Take the bar off the terminal."""
        self._bar.close()


@contextmanager
def reporting(*reporters) -> Iterator[None]:
    """Report the stages run inside the block to `reporters` (closed at the end)."""
    token = _reporters.set(_reporters.get() + reporters)
    try:
        yield
    finally:
        _reporters.reset(token)
        for reporter in reporters:
            reporter.close()


@contextmanager
def stage(name: str, timings: dict | None = None, report: bool = True) -> Iterator[None]:
    """Run a block as the stage `name`: add its seconds to ``timings[name]`` (rounded to
    the millisecond) and, with `report`, tell the reporters when it starts and ends
    (a stage made of reported stages is not reported itself)."""
    reporters = _reporters.get() if report else ()
    for reporter in reporters:
        reporter.started(name)
    start = time.perf_counter()
    try:
        yield
    finally:
        seconds = time.perf_counter() - start
        if timings is not None:
            timings[name] = round((timings.get(name) or 0.0) + seconds, 3)
        for reporter in reporters:
            reporter.finished(name, seconds)
