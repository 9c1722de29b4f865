"""Sign-in, sign-out, throttling, open redirects and invitations."""

from __future__ import annotations

from sqlalchemy import select

from csa.accounts import operations as accounts
from csa.models import LoginThrottle, Role


def test_login_then_logout(client, auth, make_user):
    user = make_user(Role.COORDINATOR)
    response = auth.login(user.email)
    assert response.status_code == 302
    assert client.get("/register/").status_code == 200
    auth.logout()
    response = client.get("/register/")
    assert response.status_code == 302
    assert "/auth/login" in response.headers["Location"]


def test_wrong_password_is_recorded_and_refused(client, auth, make_user, db):
    user = make_user(Role.FARMER)
    response = auth.login(user.email, "not-the-password")
    assert response.status_code == 200
    assert b"Wrong e-mail or password" in response.data
    counts = db.session.execute(
        select(LoginThrottle.email, LoginThrottle.failures).order_by(LoginThrottle.email)
    ).all()
    assert [tuple(c) for c in counts] == [("", 1), (user.email, 1)]  # address, then the pair


def test_failed_logins_are_throttled_per_account_and_address(client, auth, make_user):
    user = make_user(Role.MEMBER)
    for _ in range(5):
        auth.login(user.email, "wrong-password")
    # From the same address even the right password waits out the delay (test_signin.py
    # shows that another address is not held up).
    response = auth.login(user.email)
    assert response.status_code == 429
    assert client.get("/register/").status_code == 302


def test_failed_logins_are_throttled_per_address(app, client, auth, make_user):
    app.config["THROTTLE_LOGIN_ADDRESS"] = (3, 1, 60, 3600)
    user = make_user(Role.MEMBER)
    for i in range(3):
        auth.login(f"nobody{i}@example.org", "wrong-password")
    assert auth.login(user.email).status_code == 429


def test_next_is_followed_when_local(client, auth, make_user):
    user = make_user(Role.COORDINATOR)
    response = client.post(
        "/auth/login?next=/register/", data={"email": user.email, "password": auth_pw()}
    )
    assert response.headers["Location"] == "/register/"


def auth_pw() -> str:
    from tests.conftest import PASSWORD

    return PASSWORD


def test_open_redirect_is_rejected(client, make_user):
    user = make_user(Role.COORDINATOR)
    for evil in (
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "\\\\evil.example",
        "http:/evil.example",
        "javascript:alert(1)",
    ):
        client.post("/auth/logout")
        response = client.post(
            "/auth/login",
            query_string={"next": evil},
            data={"email": user.email, "password": auth_pw()},
        )
        assert response.status_code == 302
        assert response.headers["Location"] == "/", evil


def test_invitation_link_sets_password_once(app, client, db, make_user):
    from tests.factories import add_member, make_farm

    farm = make_farm()
    membership = add_member(farm, email="anna@example.org")
    user = accounts.invite_member(membership.member)
    db.session.commit()
    token = accounts.invite_token(user)
    assert client.get(f"/auth/set-password/{token}").status_code == 200
    response = client.post(
        f"/auth/set-password/{token}",
        data={"password": "new-password-1", "confirm": "new-password-1"},
    )
    assert response.status_code == 302
    assert user.check_password("new-password-1")
    # The link is spent once the password changed.
    client.post("/auth/logout")
    assert client.get(f"/auth/set-password/{token}").status_code == 404


def test_tampered_invitation_is_404(client):
    assert client.get("/auth/set-password/not-a-token").status_code == 404
