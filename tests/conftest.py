"""Fixtures: every database test runs on SQLite and on PostgreSQL.

PostgreSQL answers at 127.0.0.1:5432 on this machine and in CI; each test run creates and
drops a database of its own there. Without it
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
from sqlalchemy.pool import NullPool

from csa import create_app
from csa.extensions import db as _db
from csa.models import Role

PG_SERVER = os.environ.get("CSA_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432")
PASSWORD = "correct-horse-battery"
_pg_state: dict[str, Any] = {}


def _postgres_url() -> str | None:
    """Create a database of this test run's own (so parallel runs never collide); None if down.

    It is dropped when the session ends (see pytest_sessionfinish).
    """
    if "url" not in _pg_state:
        name = f"csa_test_{os.getpid()}"
        try:
            admin = create_engine(
                f"{PG_SERVER}/postgres", poolclass=NullPool, isolation_level="AUTOCOMMIT"
            )
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            admin.dispose()
            _pg_state["url"] = f"{PG_SERVER}/{name}"
            _pg_state["name"] = name
        except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
            _pg_state["url"] = None
            _pg_state["why"] = str(exc)
    return _pg_state["url"]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    name = _pg_state.get("name")
    if name:
        admin = create_engine(
            f"{PG_SERVER}/postgres", poolclass=NullPool, isolation_level="AUTOCOMMIT"
        )
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


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
    if request.param == "postgres" and not _postgres_url():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI: {_pg_state.get('why')}")
        pytest.skip(f"PostgreSQL not reachable: {_pg_state.get('why')}")
    return str(request.param)


@pytest.fixture
def app_config(tmp_path: Any, backend: str) -> dict[str, Any]:
    url = f"sqlite:///{tmp_path / 'test.sqlite3'}" if backend == "sqlite" else _postgres_url()
    return base_config(tmp_path, url)


@pytest.fixture
def forget_schema() -> Any:
    """Return a function that tells the fixtures the PostgreSQL schema is gone."""
    return lambda: _pg_state.pop("schema", None)


@pytest.fixture
def app(app_config: dict[str, Any]) -> Iterator[Flask]:
    """The app on an empty database: a new SQLite file, or PostgreSQL tables truncated.

    PostgreSQL's schema is created once per run and emptied with one TRUNCATE per test,
    which is several times faster than create_all/drop_all each time.
    """
    app = create_app(app_config)
    with app.app_context():
        if app_config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
            if not _pg_state.get("schema"):
                _db.drop_all()
                _db.create_all()
                _pg_state["schema"] = True
            else:
                tables = ", ".join(f'"{t.name}"' for t in _db.metadata.sorted_tables)
                with _db.engine.begin() as conn:
                    conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        else:
            _db.create_all()
        yield app
        _db.session.remove()
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
    """Create a user of a role (optionally tied to a member household) with PASSWORD.

    `password=None` makes a login that waits for its invitation link (no password yet).
    """
    from csa.accounts import operations as accounts

    def make(
        role: Role = Role.MEMBER,
        email: str | None = None,
        member: Any = None,
        password: str | None = PASSWORD,
    ) -> Any:
        email = email or f"{role.value}-{make.count}@example.org"
        make.count += 1
        user = accounts.create_user(email, role, password=password, name=email, member=member)
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


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say how many fuzzing cases ran (tests/test_fuzz.py; `make fuzz` runs the long profile)."""
    from tests import fuzzing

    if fuzzing.CASES:
        total = sum(fuzzing.CASES.values())
        terminalreporter.write_line(
            f"fuzzing: {total} cases over {len(fuzzing.CASES)} targets "
            f"(profile {fuzzing.PROFILE_NAME})"
        )
        if fuzzing.LONG_RUN:
            for target, n in sorted(fuzzing.CASES.items()):
                terminalreporter.write_line(f"  {target}: {n}")
