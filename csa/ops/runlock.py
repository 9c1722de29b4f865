"""The running-app lock: a file in instance/ that every serving process holds shared.

The web app takes it at its first request and keeps it until the process ends; the
scheduler and `csa run-jobs` take it too. `csa restore` takes it exclusive and without
waiting, so it refuses while any of them runs, and anything that starts during a restore
waits for the restore to finish before touching the database.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flask import Flask

from csa.errors import Conflict

LOCK_NAME = "csa.lock"
# Open lock files of this process, by path: flock locks belong to an open file, so the
# file stays open (and locked) for the life of the process.
_held: dict[str, int] = {}
_guard = threading.Lock()  # the first requests of a threaded server arrive together


def run_lock_path(app: Flask) -> Path:
    return Path(app.instance_path) / LOCK_NAME


def _open(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)


def hold_run_lock(app: Flask) -> None:
    """Hold the lock shared for the rest of the process (waits while a restore runs)."""
    key = str(run_lock_path(app))
    if key in _held:
        return
    with _guard:
        if key in _held:
            return
        fd = _open(Path(key))
        fcntl.flock(fd, fcntl.LOCK_SH)
        _held[key] = fd


class AppRunning(Conflict):
    """The app, the scheduler or a job run holds the database."""


@contextmanager
def exclusive_run_lock(app: Flask) -> Iterator[None]:
    """Hold the lock alone for the block, or raise AppRunning at once."""
    path = run_lock_path(app)
    fd = _open(path)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AppRunning(
                f"The web app, the scheduler or a job run is using this instance (it holds "
                f"{path}); stop them all, then restore."
            ) from None
        yield
    finally:
        os.close(fd)  # closing releases the lock


def register_run_lock(app: Flask) -> None:
    """Hold the lock from each web process's first request on."""

    @app.before_request
    def _hold_run_lock() -> None:
        hold_run_lock(app)
