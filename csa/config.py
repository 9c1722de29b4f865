"""Configuration defaults; instance/config.py and CSA_* environment variables override them."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


class Config:
    """Defaults for one small machine: SQLite in instance/, English, Europe/Warsaw."""

    FARM_NAME = "Demo Farm"
    TIMEZONE = "Europe/Warsaw"
    BABEL_DEFAULT_LOCALE = "en"
    LANGUAGES = ["en", "pl"]
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False  # set CSA_SESSION_COOKIE_SECURE=true behind HTTPS
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_DURATION = 14 * 24 * 3600
    WTF_CSRF_TIME_LIMIT = 8 * 3600  # a farmer's form stays open in the field for hours
    PASSWORD_HASH_METHOD = "scrypt"  # noqa: S105 - a method name, not a password
    # Failed logins allowed within LOGIN_WINDOW_SECONDS, per account and per address.
    LOGIN_MAX_FAILURES_ACCOUNT = 5
    LOGIN_MAX_FAILURES_ADDRESS = 20
    LOGIN_WINDOW_SECONDS = 15 * 60
    INVITE_MAX_AGE_SECONDS = 7 * 24 * 3600
    # The most of one crop a single harvest entry may record, in the crop's unit.
    MAX_HARVEST_QUANTITY = 20000
    MAX_CONTENT_LENGTH = 16 * 1024 * 1024  # uploads (CSV) are small; refuse anything huge
    # A round locks CUTOFF_DAYS_BEFORE its date at CUTOFF_TIME, in TIMEZONE.
    CUTOFF_DAYS_BEFORE = 1
    CUTOFF_TIME = "18:00"
    ROUNDS_WEEKS_AHEAD = 6  # the scheduler keeps this many weeks of rounds ahead
    SCHEDULER_INTERVAL_SECONDS = 60
    SCHEDULER_LEASE_SECONDS = 300
    # Used in e-mails and calendar feeds, where there is no request to take the host from.
    BASE_URL = "http://127.0.0.1:5000"
    MAIL_SERVER = ""
    MAIL_PORT = 25
    MAIL_USE_TLS = False
    MAIL_USERNAME = ""
    MAIL_PASSWORD = ""
    MAIL_SENDER = "csa@localhost"
    SQLALCHEMY_ENGINE_OPTIONS: dict[str, object] = {}
    # Distribution sheets (csa.sheets.build): paper "A4" or "letter"; sites render in this many
    # worker processes once a round has SHEETS_PARALLEL_MIN_ROWS members (1: no workers).
    SHEETS_PAGE_SIZE = "A4"
    SHEETS_WORKERS = 2
    SHEETS_PARALLEL_MIN_ROWS = 150
    SHEETS_INLINE_MAX_ROWS = 300  # "make again" on a bigger round renders in the background
    SHEETS_PART_ROWS = 200  # a longer pickup list renders in parts on several workers
    SHEETS_PREVIEW_MAX_ROWS = 300  # a longer site's preview is refused, not rendered in a request


def instance_secret_key(instance_path: str) -> str:
    """Return the secret key kept in instance/, creating it once so every process shares it."""
    path = Path(instance_path) / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL: two processes starting together cannot write different keys.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
    return path.read_text().strip()
