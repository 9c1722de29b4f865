"""CSRF on every form, cookie flags, and the error pages."""

from __future__ import annotations

import pytest

from csa import create_app
from csa.extensions import db
from csa.models import Role


@pytest.fixture
def strict_client(app, app_config):
    """A client of the same database with CSRF protection on, as in production."""
    strict = create_app({**app_config, "WTF_CSRF_ENABLED": True})
    yield strict.test_client()
    with strict.app_context():
        db.engine.dispose()


def test_login_without_csrf_token_is_rejected(strict_client, make_user):
    user = make_user(Role.COORDINATOR)
    client = strict_client
    response = client.post("/auth/login", data={"email": user.email, "password": "x" * 10})
    assert response.status_code == 400
    assert b"Something in the request was not right" in response.data


def test_logout_without_csrf_token_is_rejected(strict_client, make_user):
    client = strict_client
    user = make_user(Role.COORDINATOR)
    page = client.get("/auth/login")
    token = page.data.split(b'name="csrf_token" type="hidden" value="')[1].split(b'"')[0]
    from tests.conftest import PASSWORD

    response = client.post(
        "/auth/login",
        data={"email": user.email, "password": PASSWORD, "csrf_token": token.decode()},
    )
    assert response.status_code == 302
    assert client.post("/auth/logout").status_code == 400
    assert client.get("/register/").status_code == 200  # still signed in


def test_session_cookie_flags(app, make_user, client):
    user = make_user(Role.COORDINATOR)
    from tests.conftest import PASSWORD

    response = client.post("/auth/login", data={"email": user.email, "password": PASSWORD})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_friendly_404(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert b"Nothing here" in response.data
