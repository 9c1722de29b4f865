"""Configuration defaults; instance/config.py and CSA_* environment variables override them."""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
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
    # REMEMBER_COOKIE_SECURE and _SAMESITE follow the SESSION_COOKIE_ ones unless set
    # (csa/__init__.py register_config).
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_DURATION = timedelta(days=14)
    # How many proxies in front of the app set X-Forwarded-For/-Proto; 0 trusts none of them.
    PROXY_COUNT = 0
    WTF_CSRF_TIME_LIMIT = 8 * 3600  # a farmer's form stays open in the field for hours
    PASSWORD_HASH_METHOD = "scrypt"  # noqa: S105 - a method name, not a password
    # Throttles, each [free failures, first delay s, longest delay s, forget after s quiet]
    # (csa/core/backoff.py): sign-ins per (e-mail, address) and per address; forgot-password
    # requests per address (refused) and per e-mail (no more mail, same answer).
    THROTTLE_LOGIN_PAIR = (5, 1, 15 * 60, 24 * 3600)
    THROTTLE_LOGIN_ADDRESS = (100, 1, 60, 3600)
    THROTTLE_FORGOT_ADDRESS = (5, 60, 3600, 24 * 3600)
    THROTTLE_FORGOT_EMAIL = (3, 300, 3600, 24 * 3600)
    INVITE_MAX_AGE_SECONDS = 7 * 24 * 3600
    RESET_MAX_AGE_SECONDS = 3600  # a forgot-password link
    EMAIL_CHANGE_MAX_AGE_SECONDS = 2 * 24 * 3600  # the link that confirms a new e-mail address
    # Sign-up from the public page (csa/signup): the link that confirms a request works this
    # long and once; a form sent sooner than SIGNUP_MIN_FILL_SECONDS after it was served is
    # taken for a bot (the same answer, nothing written); with SIGNUP_AUTO_APPROVE a
    # confirmed request is approved at once, without a coordinator.
    SIGNUP_CONFIRM_MAX_AGE_SECONDS = 2 * 24 * 3600
    SIGNUP_MIN_FILL_SECONDS = 3
    SIGNUP_AUTO_APPROVE = False
    # Sign-up requests per address (refused with a wait) and per e-mail (no more mail, the
    # same answer), in the throttle's terms above.
    THROTTLE_SIGNUP_ADDRESS = (10, 60, 3600, 24 * 3600)
    THROTTLE_SIGNUP_EMAIL = (3, 300, 3600, 24 * 3600)
    # The currency of share prices on the sign-up page (ISO 4217).
    CURRENCY = "EUR"
    # The most of one crop a single harvest entry may record, in the crop's unit.
    MAX_HARVEST_QUANTITY = 20000
    # Request sizes (csa/ui/inputs.py): a body past its bound answers 413 before any view
    # reads it. The largest upload is the register's CSV (5 MB, csa/register/views.py).
    MAX_CONTENT_LENGTH = 6 * 1024 * 1024  # a multipart upload, file and form together
    MAX_FORM_BYTES = 256 * 1024  # any other body: every form of the app is far smaller
    MAX_FORM_MEMORY_SIZE = 64 * 1024  # one text field of a multipart form
    MAX_FORM_PARTS = 500  # fields and files of a multipart form
    MAX_HARVEST_LINES = 100  # lines of one harvest form; more get a message, not a save
    MAX_IMPORT_ROWS = 10000  # rows of one register CSV import
    # A round locks CUTOFF_DAYS_BEFORE its date at CUTOFF_TIME, in TIMEZONE.
    CUTOFF_DAYS_BEFORE = 1
    CUTOFF_TIME = "18:00"
    # A free place offered to the next household on a site's waiting list (csa/waitlist/)
    # waits this many days for its answer, then goes to the next household.
    OFFER_EXPIRY_DAYS = 5
    # Offered shares and swaps (csa/offers/): a share offered to the site that nobody took
    # by the pickup is "donate"d to the food-sharing partner or left for the "others" at the
    # depot; a household posts at most OFFERS_POSTS_PER_HOUR offers and swaps an hour.
    OFFERS_UNCLAIMED = "donate"
    OFFERS_POSTS_PER_HOUR = 10
    # Renewals (csa/renewal/): invitations into the next season go out this many weeks
    # before a season's last day; each may be answered for RENEWAL_ANSWER_DAYS (never on or
    # after the next season's first day), with one reminder this many days before the deadline.
    RENEWAL_WEEKS_BEFORE_END = 8
    RENEWAL_ANSWER_DAYS = 21
    RENEWAL_REMINDER_DAYS_BEFORE_DEADLINE = 7
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
    MAIL_TIMEOUT = 30  # seconds to wait for the SMTP server
    # The outbox (csa/notices/outbox.py): a refused message is tried again after each pause
    # in turn (the last repeats) and is shown as failed after OUTBOX_MAX_ATTEMPTS; when the
    # server is down, the batch stops and the next run tries after OUTBOX_DOWN_RETRY_SECONDS.
    OUTBOX_BACKOFF_SECONDS = (60, 300, 1800, 7200)
    OUTBOX_MAX_ATTEMPTS = 5
    OUTBOX_DOWN_RETRY_SECONDS = 60
    # A loop's claim on the message it is sending; after a crash the message is sent again
    # once the claim lapses. Far longer than MAIL_TIMEOUT, so a slow send never lapses.
    OUTBOX_LEASE_SECONDS = 300
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
