"""Fixtures: every database test runs on SQLite and on PostgreSQL.

PostgreSQL answers at 127.0.0.1:5432 on this machine and in CI (database `test`). Without it
the PostgreSQL half is skipped locally, but when CI is set it fails instead of skipping.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import create_engine, text

from csa import create_app
from csa.extensions import db as _db
from csa.models import Role

PG_URL = os.environ.get(
    "CSA_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
PASSWORD = "correct-horse-battery"
_pg_state: dict[str, Any] = {}


def _postgres_ready() -> bool:
    """Create the schema once per session; return False if the server is not there."""
    if "ok" not in _pg_state:
        try:
            engine = create_engine(PG_URL)
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            engine.dispose()
            _pg_state["ok"] = True
        except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
            _pg_state["ok"] = False
            _pg_state["why"] = str(exc)
    return bool(_pg_state["ok"])


def base_config(tmp_path: Any, url: str) -> dict[str, Any]:
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": url,
        "WTF_CSRF_ENABLED": False,
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1",
        "OUTBOX_DIR": str(tmp_path / "outbox"),
        "SHEETS_DIR": str(tmp_path / "sheets"),
        "FARM_NAME": "Test Farm",
    }


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres" and not _postgres_ready():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI: {_pg_state.get('why')}")
        pytest.skip(f"PostgreSQL not reachable: {_pg_state.get('why')}")
    return str(request.param)


@pytest.fixture
def app_config(tmp_path: Any, backend: str) -> dict[str, Any]:
    url = f"sqlite:///{tmp_path / 'test.sqlite3'}" if backend == "sqlite" else PG_URL
    return base_config(tmp_path, url)


@pytest.fixture
def app(app_config: dict[str, Any]) -> Iterator[Flask]:
    app = create_app(app_config)
    with app.app_context():
        if app_config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
            _db.drop_all()
        _db.create_all()
        yield app
        _db.session.remove()
        _db.drop_all()
        _db.engine.dispose()


@pytest.fixture
def db(app: Flask) -> Any:
    return _db


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def make_user(app: Flask) -> Any:
    """Create a user of a role (optionally tied to a member household) with PASSWORD."""
    from csa.services import accounts

    def make(role: Role = Role.MEMBER, email: str | None = None, member: Any = None) -> Any:
        email = email or f"{role.value}-{make.count}@example.org"
        make.count += 1
        user = accounts.create_user(email, role, password=PASSWORD, name=email, member=member)
        _db.session.commit()
        return user

    make.count = 0  # type: ignore[attr-defined]
    return make


class AuthActions:
    def __init__(self, client: FlaskClient) -> None:
        self._client = client

    def login(self, email: str, password: str = PASSWORD) -> Any:
        return self._client.post("/auth/login", data={"email": email, "password": password})

    def logout(self) -> Any:
        return self._client.post("/auth/logout")


@pytest.fixture
def auth(client: FlaskClient) -> AuthActions:
    return AuthActions(client)
