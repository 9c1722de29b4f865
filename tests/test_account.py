"""My account (issue 11, accounts): profile, language, password and e-mail changes for every
login, and the coordinators' "invite everyone who has no login yet"."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from sqlalchemy import func, select

from csa import create_app
from csa.extensions import db as _db
from csa.models import AccountEvent, LoginThrottle, MembershipStatus, OutboxMessage, Role, User
from tests.conftest import PASSWORD
from tests.factories import add_member, make_farm

POLISH = "Wyloguj się"  # "Sign out" in Polish, on every signed-in page


def _household_login(db, make_user, email="anna@example.org"):
    member = add_member(make_farm(), name="Anna Nowak", email=email).member
    db.session.commit()
    return make_user(Role.MEMBER, email=email, member=member), member


def _outbox(db, prefix=""):
    return list(
        db.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.key.startswith(prefix))
            .order_by(OutboxMessage.id)
        )
    )


def _sent_link(app, path: str) -> str:
    """The link in the mail that went out (the .eml transport: no mail server set up)."""
    from csa.notices import outbox

    with app.app_context():
        outbox.deliver()
    for eml in sorted(Path(app.config["OUTBOX_DIR"]).glob("*.eml")):
        text = message_from_bytes(eml.read_bytes(), policy=policy.default).get_content()
        match = re.search(r"http://localhost(/account/" + path + r"/[\w.\-]+)", text)
        if match:
            return match.group(1)
    raise AssertionError(f"no /account/{path}/ link was sent")


# --- language -------------------------------------------------------------------------------


def test_a_polish_browser_sees_polish_after_signing_in(client, auth, db, make_user):
    """The defect: every login had English stored, so the site fell back to English."""
    user, _member = _household_login(db, make_user)
    assert user.locale == ""  # nobody chose yet: the browser's language counts
    client.post(
        "/auth/login",
        data={"email": user.email, "password": PASSWORD},
        headers={"Accept-Language": "pl,en;q=0.5"},
    )
    page = client.get("/share/", headers={"Accept-Language": "pl,en;q=0.5"})
    assert POLISH in page.get_data(as_text=True)


@pytest.fixture
def web(app_config, app):
    """An app of the same database whose requests get their own context, as in production
    (Flask-Babel keeps the language on `g`, which the `app` fixture's context would share)."""
    other = create_app(app_config)
    yield other
    with other.app_context():
        _db.engine.dispose()


@pytest.fixture
def client(web):
    """Every browser here talks to `web` (conftest's `auth` uses this one too)."""
    return web.test_client()


def test_the_switch_before_sign_in_is_kept_on_the_login(web, db, make_user):
    farmer = make_user(Role.FARMER)
    client = web.test_client()
    login = client.get("/auth/login", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'action="/account/language"' in login  # on every page, signed in or not
    switched = client.post(
        "/account/language",
        data={"locale": "pl", "next": "/auth/login"},
        headers={"Accept-Language": "en"},
    )
    assert switched.status_code == 302
    assert switched.headers["Location"] == "/auth/login"
    page = client.get("/auth/login", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<html lang="pl">' in page
    client.post(
        "/auth/login",
        data={"email": farmer.email, "password": PASSWORD},
        headers={"Accept-Language": "en"},
    )
    db.session.refresh(farmer)
    assert farmer.locale == "pl"
    # Another browser, English, same login: the login's choice wins.
    other = web.test_client()
    other.post("/auth/login", data={"email": farmer.email, "password": PASSWORD})
    assert POLISH in other.get("/harvest/", headers={"Accept-Language": "en"}).get_data(
        as_text=True
    )


def test_the_switch_signed_in_sets_the_login_and_its_household(client, auth, db, make_user):
    user, member = _household_login(db, make_user)
    auth.login(user.email)
    response = client.post("/account/language", data={"locale": "pl", "next": "/share/"})
    assert response.headers["Location"] == "/share/"
    db.session.refresh(user)
    db.session.refresh(member)
    assert (user.locale, member.locale) == ("pl", "pl")  # the round notices follow
    assert POLISH in client.get("/share/").get_data(as_text=True)


def test_the_switch_refuses_an_unknown_language_and_a_foreign_next(client, auth, db, make_user):
    user, member = _household_login(db, make_user)
    auth.login(user.email)
    response = client.post(
        "/account/language", data={"locale": "xx", "next": "https://evil.example/"}
    )
    assert response.headers["Location"] == "/"
    page = client.get("/").data + client.get("/share/").data
    assert b"Not a valid choice" in page
    db.session.refresh(user)
    db.session.refresh(member)
    assert (user.locale, member.locale) == ("", "en")


# --- profile --------------------------------------------------------------------------------


def test_the_profile_saves_name_phone_and_language(client, auth, db, make_user):
    user, member = _household_login(db, make_user)
    auth.login(user.email)
    page = client.get("/account/")
    assert page.status_code == 200
    assert 'aria-current="page">Profile' in page.get_data(as_text=True)
    saved = client.post(
        "/account/", data={"name": "Anna N.", "phone": "+48 600 100 200", "locale": "pl"}
    )
    assert saved.status_code == 302
    db.session.refresh(user)
    db.session.refresh(member)
    assert (user.name, user.phone, user.locale) == ("Anna N.", "+48 600 100 200", "pl")
    # The household's contact: its phone and language are the household's too; its name
    # (on the pickup list) stays the coordinators' to change.
    assert (member.phone, member.locale, member.name) == ("+48 600 100 200", "pl", "Anna Nowak")
    assert POLISH in client.get("/account/").get_data(as_text=True)


def test_a_bad_profile_says_why_and_writes_nothing(client, auth, db, make_user):
    user, member = _household_login(db, make_user)
    auth.login(user.email)
    for data, message in (
        ({"name": "", "phone": "1", "locale": "en"}, "This field is required."),
        ({"name": "Anna", "phone": "1", "locale": "xx"}, "Not a valid choice"),
        ({"name": "Anna", "phone": "9" * 51, "locale": "en"}, "longer than 50"),
        ({"name": "\u202e\u202e", "phone": "1", "locale": "en"}, "This field is required."),
    ):
        response = client.post("/account/", data=data)
        assert response.status_code == 400, data
        assert message in response.get_data(as_text=True), data
    db.session.refresh(user)
    db.session.refresh(member)
    assert (user.name, user.phone, user.locale, member.phone) == (user.email, "", "", "")


def test_a_staff_login_has_a_profile_too(client, auth, db, make_user):
    coordinator = make_user(Role.COORDINATOR)
    auth.login(coordinator.email)
    header = client.get("/register/").get_data(as_text=True)
    assert 'href="/account/"' in header  # the name in the header leads to the account
    client.post("/account/", data={"name": "Cora", "phone": "123", "locale": "en"})
    db.session.refresh(coordinator)
    assert (coordinator.name, coordinator.phone, coordinator.locale) == ("Cora", "123", "en")


# --- password -------------------------------------------------------------------------------


def test_changing_the_password_ends_other_sessions_and_keeps_this_one(web, db, make_user):
    user, _member = _household_login(db, make_user)
    here, elsewhere = web.test_client(), web.test_client()
    for browser in (here, elsewhere):
        browser.post("/auth/login", data={"email": user.email, "password": PASSWORD})
    wrong = here.post(
        "/account/password",
        data={"current": "not-it-at-all", "password": "new-pass-123", "confirm": "new-pass-123"},
    )
    assert wrong.status_code == 400
    assert "That is not your current password." in wrong.get_data(as_text=True)
    db.session.refresh(user)
    assert user.check_password(PASSWORD)
    assert _outbox(db) == []
    changed = here.post(
        "/account/password",
        data={"current": PASSWORD, "password": "new-pass-123", "confirm": "new-pass-123"},
    )
    assert changed.status_code == 302
    assert here.get("/share/").status_code == 200  # this browser stays signed in
    assert elsewhere.get("/share/").status_code == 302  # the other one is signed out
    db.session.refresh(user)
    assert user.check_password("new-pass-123")
    (event,) = db.session.scalars(select(AccountEvent))
    assert (event.user_id, event.by_id, event.action) == (user.id, user.id, "changed")
    (notice,) = _outbox(db, "password-changed/")
    assert notice.to == user.email
    assert notice.subject == "Your password was changed"
    # A right answer takes its attempt back: nothing counts against the pair any more.
    assert (
        db.session.scalar(
            select(func.count()).select_from(LoginThrottle).where(LoginThrottle.email == user.email)
        )
        == 0
    )


def test_guessing_the_current_password_is_throttled_like_a_sign_in(client, auth, db, make_user):
    user, _member = _household_login(db, make_user)
    auth.login(user.email)
    statuses = [
        client.post(
            "/account/password",
            data={"current": f"guess-{i}-x", "password": "new-pass-123", "confirm": "new-pass-123"},
        ).status_code
        for i in range(8)
    ]
    assert statuses[:5] == [400] * 5
    assert 429 in statuses[5:]
    db.session.refresh(user)
    assert user.check_password(PASSWORD)


def test_the_new_password_must_differ_and_be_long_enough(client, auth, db, make_user):
    user, _member = _household_login(db, make_user)
    auth.login(user.email)
    same = client.post(
        "/account/password", data={"current": PASSWORD, "password": PASSWORD, "confirm": PASSWORD}
    )
    assert same.status_code == 400
    assert "other than the current one" in same.get_data(as_text=True)
    short = client.post(
        "/account/password", data={"current": PASSWORD, "password": "short", "confirm": "short"}
    )
    assert short.status_code == 400
    assert db.session.scalar(select(func.count()).select_from(AccountEvent)) == 0


# --- e-mail address -------------------------------------------------------------------------


def test_a_new_address_counts_once_its_link_is_opened(app, client, auth, db, make_user):
    user, member = _household_login(db, make_user)
    auth.login(user.email)
    asked = client.post(
        "/account/email",
        data={"email": " Anna.New@Example.org ", "current": PASSWORD},
        follow_redirects=True,
    )
    assert "A link is on its way to anna.new@example.org" in asked.get_data(as_text=True)
    db.session.refresh(user)
    assert user.email == "anna@example.org"  # nothing changes before the link is opened
    (mail,) = _outbox(db, "email-change/")
    assert mail.to == "anna.new@example.org"
    assert "/account/email/confirm/" not in mail.body  # the link is stored sealed only
    link = _sent_link(app, "email/confirm")

    stranger = client.application.test_client()  # another device, not signed in
    page = stranger.get(link)
    assert page.status_code == 200
    assert "Use anna.new@example.org" in page.get_data(as_text=True)
    db.session.refresh(user)
    assert user.email == "anna@example.org"  # a GET (a mail scanner) changes nothing
    confirmed = stranger.post(link)
    assert confirmed.status_code == 302
    db.session.refresh(user)
    db.session.refresh(member)
    assert (user.email, member.email) == ("anna.new@example.org", "anna.new@example.org")
    (event,) = db.session.scalars(select(AccountEvent))
    assert event.action == "email"
    (told,) = _outbox(db, "email-changed/")
    assert told.to == "anna@example.org"  # the old address hears of it
    assert stranger.get(link).status_code == 404  # works once
    assert stranger.post(link).status_code == 404
    assert auth.logout().status_code == 302
    assert auth.login("anna@example.org").status_code == 200  # refused
    assert auth.login("anna.new@example.org").status_code == 302


def test_a_taken_address_is_not_revealed_and_nothing_changes(app, client, auth, db, make_user):
    user, _member = _household_login(db, make_user)
    other = make_user(Role.FARMER, email="bob@example.org")
    auth.login(user.email)
    asked = client.post(
        "/account/email",
        data={"email": "bob@example.org", "current": PASSWORD},
        follow_redirects=True,
    )
    assert "A link is on its way to bob@example.org" in asked.get_data(as_text=True)
    (mail,) = _outbox(db, "email-change/")
    assert mail.to == "bob@example.org"
    assert mail.subject == "This address has a login at the farm already"
    assert mail.sealed is None  # no link in it
    db.session.refresh(user)
    db.session.refresh(other)
    assert (user.email, other.email) == ("anna@example.org", "bob@example.org")


def test_a_bad_or_expired_email_link_does_nothing(app, client, auth, db, make_user):
    user, _member = _household_login(db, make_user)
    auth.login(user.email)
    client.post("/account/email", data={"email": "new@example.org", "current": PASSWORD})
    link = _sent_link(app, "email/confirm")
    assert client.get(link[:-3] + "abc").status_code == 404
    client.application.config["EMAIL_CHANGE_MAX_AGE_SECONDS"] = -1
    assert client.post(link).status_code == 404
    db.session.refresh(user)
    assert user.email == "anna@example.org"


def test_a_bad_email_request_says_why_and_sends_nothing(client, auth, db, make_user):
    user, _member = _household_login(db, make_user)
    auth.login(user.email)
    for data, message in (
        ({"email": "not an address", "current": PASSWORD}, "is not an e-mail address"),
        ({"email": user.email, "current": PASSWORD}, "the address you sign in with already"),
        ({"email": "new@example.org", "current": "wrong-one"}, "not your current password"),
    ):
        response = client.post("/account/email", data=data)
        assert response.status_code == 400, data
        assert message in response.get_data(as_text=True), data
    assert _outbox(db) == []


# --- invite everyone ------------------------------------------------------------------------


def _farm_of_households(db, make_user):
    farm = make_farm()
    fresh = [add_member(farm, name=f"Fresh {i}") for i in range(3)]
    ended = add_member(farm, name="Gone Away", status=MembershipStatus.ENDED)
    known = add_member(farm, name="Has Login")
    db.session.commit()
    make_user(Role.MEMBER, email=known.member.email, member=known.member)
    return fresh, ended, known


def test_invite_everyone_shows_a_count_and_a_preview_then_invites_once(
    app, client, auth, db, make_user
):
    fresh, ended, known = _farm_of_households(db, make_user)
    coordinator = make_user(Role.COORDINATOR)
    auth.login(coordinator.email)
    register = client.get("/register/").get_data(as_text=True)
    assert "3 households with a membership have no login yet." in register
    preview = client.get("/register/invite-all").get_data(as_text=True)
    assert "Invite 3 households" in preview
    for m in fresh:
        assert m.member.email in preview
    assert ended.member.email not in preview
    assert known.member.email not in preview

    client.application.config["MAIL_SERVER"] = "127.0.0.1"  # queued; the outbox sends later
    sent = client.post("/register/invite-all", follow_redirects=True)
    assert "3 invitations are on their way" in sent.get_data(as_text=True)
    logins = db.session.scalars(select(User).where(User.role == Role.MEMBER)).all()
    assert len(logins) == 4
    assert {m.to for m in _outbox(db, "invite/")} == {m.member.email for m in fresh}
    assert all(m.sealed and "/auth/set-password/" not in m.body for m in _outbox(db, "invite/"))
    events = db.session.scalars(select(AccountEvent)).all()
    assert [(e.action, e.by_id) for e in events] == [("invited", coordinator.id)] * 3
    # Again: nobody is left, nobody is invited twice.
    assert "Every household with a membership has a login already." in client.get(
        "/register/invite-all"
    ).get_data(as_text=True)
    client.post("/register/invite-all")
    assert len(_outbox(db, "invite/")) == 3


def test_invite_everyone_without_mail_says_so_and_writes_nothing(client, auth, db, make_user):
    _farm_of_households(db, make_user)
    coordinator = make_user(Role.COORDINATOR)
    auth.login(coordinator.email)
    response = client.post("/register/invite-all", follow_redirects=True)
    assert "E-mail is not set up (CSA_MAIL_SERVER), so nothing was sent." in response.get_data(
        as_text=True
    )
    assert db.session.scalar(select(func.count()).select_from(User)) == 2
    assert _outbox(db) == []


def test_members_and_farmers_cannot_invite_everyone(client, auth, db, make_user):
    _farm_of_households(db, make_user)
    auth.login(make_user(Role.FARMER).email)
    assert client.get("/register/invite-all").status_code == 403
    assert client.post("/register/invite-all").status_code == 403
