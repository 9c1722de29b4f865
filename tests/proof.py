"""What the access walk, the fuzzing and the crash tests share: a browser-like client with
CSRF on, and a fingerprint of every table to prove that a refused request wrote nothing."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text
from werkzeug.test import TestResponse

from csa.extensions import db
from tests.conftest import PASSWORD

_TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')
# Flask-WTF's own messages when the token is missing or wrong (not translated by csa).
CSRF_FAILURES = (b"The CSRF token is missing", b"The CSRF token is invalid", b"CSRF session token")


def csrf_token(html: bytes | str) -> str | None:
    """The CSRF token of the first form on a page, or None if the page has no form."""
    page = html.decode("utf-8", "replace") if isinstance(html, bytes) else html
    match = _TOKEN.search(page)
    return (match.group(1) or match.group(2)) if match else None


class Browser:
    """A test client used as a browser would: every POST carries a token taken from a page."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.client: FlaskClient = app.test_client()
        self.token: str | None = None

    def fetch_token(self, path: str = "/") -> str:
        """Read a token from a page with a form (every signed-in page has the sign-out form)."""
        for candidate in (path, "/", "/auth/login"):
            response = self.client.get(candidate, follow_redirects=True)
            token = csrf_token(response.data)
            if token:
                self.token = token
                return token
        raise AssertionError("no page with a CSRF token")

    def login(self, email: str, password: str = PASSWORD) -> None:
        token = csrf_token(self.client.get("/auth/login").data)
        response = self.client.post(
            "/auth/login", data={"email": email, "password": password, "csrf_token": token}
        )
        assert response.status_code == 302, response.data[:500]
        self.fetch_token()

    def post(self, path: str, data: dict[str, Any] | None = None, **kw: Any) -> TestResponse:
        """POST a form with this session's valid token (unless the data carries its own)."""
        form = dict(data or {})
        form.setdefault("csrf_token", self.token or self.fetch_token())
        return self.client.post(path, data=form, **kw)


def fingerprint() -> dict[str, str]:
    """A digest of every row of every table: equal before and after means nothing written."""
    digests: dict[str, str] = {}
    db.session.expire_all()
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            order = [c for c in table.primary_key.columns] or list(table.columns)
            rows = conn.execute(select(table).order_by(*order)).all()
            digests[table.name] = hashlib.sha256(repr(rows).encode()).hexdigest()
    return digests


def changed_tables(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(name for name in before if before[name] != after.get(name))


def row_count(table: str) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(text(f'SELECT count(*) FROM "{table}"')).scalar_one())  # noqa: S608
