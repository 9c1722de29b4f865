"""Private files: the instance folder 0700 and everything the app writes 0600.

The instance holds the secret key, the SQLite database (names, e-mail addresses), the
outbox's .eml files and the sheets. Every process of the app (web, scheduler, commands)
sets its umask to 077 before it writes anything, so new files are 0600 and new folders
0700: SQLite creates its -wal and -shm with the database file's mode, and the sheets'
worker processes inherit the umask. What an older version left readable is tightened at
start.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from flask import Flask
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

UMASK = 0o077
SECRET_FILES = ("secret_key", "config.py")


def tighten(path: Path, mode: int) -> None:
    """Take group and other access away from path if it has any (and is ours to change)."""
    try:
        current = stat.S_IMODE(path.stat().st_mode)
        if current & 0o077:
            os.chmod(path, current & mode)
    except FileNotFoundError:
        pass
    except PermissionError:
        log.warning("cannot make %s private: not its owner", path)


def private_umask() -> None:
    """New files 0600, new folders 0700, for the rest of the process."""
    os.umask(UMASK)


def register_private_files(app: Flask) -> None:
    """Tighten the instance folder, its secrets and the database files (older installs)."""
    instance = Path(app.instance_path)
    instance.mkdir(mode=0o700, parents=True, exist_ok=True)
    tighten(instance, 0o700)
    for key in ("SHEETS_DIR", "OUTBOX_DIR"):
        tighten(Path(app.config[key]), 0o700)
    for name in SECRET_FILES:
        tighten(instance / name, 0o600)
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        for suffix in ("", "-wal", "-shm"):
            tighten(Path(url.database + suffix), 0o600)
