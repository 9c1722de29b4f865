"""Passwords replaced on purpose (issue 10, 14): the audited reset by staff, and the
self-service forgot-password link: signed, expiring, single use, the same answer and the same
work whether or not the e-mail has a login, throttled."""

from __future__ import annotations

import re
import threading
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import event, func, select

from csa import create_app
from csa.extensions import db as _db
from csa.models import OutboxMessage, Role
from tests.conftest import PASSWORD
from tests.factories import add_member, make_farm
from tests.smtp import free_port


class Collector:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd hook name
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp():
    """A real SMTP server on localhost: (what it received, its port)."""
    collector = Collector()
    controller = Controller(collector, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield collector, controller.port
    controller.stop()


@pytest.fixture
def web(app_config, app):
    """An app of the same database whose requests get their own context, as in production."""
    other = create_app(app_config)
    yield other
    with other.app_context():
        _db.engine.dispose()


def _outbox(db, prefix=""):
    return list(
        db.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.key.startswith(prefix))
            .order_by(OutboxMessage.id)
        )
    )


def _link_in(text: str, path: str) -> str:
    match = re.search(r"http://localhost(/auth/" + path + r"/[\w.\-]+)", text)
    assert match, text
    return match.group(1)


def _member_with_login(db, make_user, email="anna@example.org"):
    member = add_member(make_farm(), name="Anna Nowak", email=email).member
    db.session.commit()
    return make_user(Role.MEMBER, email=email, member=member), member


# --- reset by staff ---------------------------------------------------------------------------


def test_reinviting_a_member_with_a_password_gives_no_link(client, auth, db, make_user):
    user, member = _member_with_login(db, make_user)
    coordinator = make_user(Role.COORDINATOR)
    auth.login(coordinator.email)
    response = client.post(f"/register/members/{member.id}/invite", follow_redirects=True)
    html = response.get_data(as_text=True)
    assert "has a password already; use “Reset password”" in html
    assert "/auth/set-password/" not in html
    db.session.refresh(user)
    assert user.check_password(PASSWORD)
    page = client.get(f"/register/members/{member.id}").get_data(as_text=True)
    assert f"/auth/logins/{user.id}/reset-password" in page


def test_a_coordinator_resets_a_password_audited_told_and_signed_out(web, db, make_user):
    from csa.models import AccountEvent

    user, member = _member_with_login(db, make_user)
    coordinator = make_user(Role.COORDINATOR)
    members_phone = web.test_client()
    assert (
        members_phone.post(
            "/auth/login", data={"email": user.email, "password": PASSWORD, "remember": "y"}
        ).status_code
        == 302
    )
    staff = web.test_client()
    staff.post("/auth/login", data={"email": coordinator.email, "password": PASSWORD})

    confirm = staff.get(f"/auth/logins/{user.id}/reset-password")
    assert confirm.status_code == 200
    assert "Reset the password of anna@example.org?" in confirm.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(AccountEvent)) == 0  # GET: nothing

    done = staff.post(f"/auth/logins/{user.id}/reset-password")
    assert done.status_code == 200
    link = _link_in(done.get_data(as_text=True), "set-password")

    db.session.refresh(user)
    assert user.password_hash == ""
    assert members_phone.get("/share/").status_code == 302  # its session ended
    (row,) = db.session.scalars(select(AccountEvent))
    assert (row.user_id, row.by_id, row.action) == (user.id, coordinator.id, "reset")
    (notice,) = _outbox(db, "reset/")
    assert notice.to == "anna@example.org"
    assert notice.subject == "Your password was reset"
    assert coordinator.name in notice.body
    # Stored without the link; the mail that went out (the .eml transport here) carries it.
    assert link not in notice.body
    assert "[link removed]" in notice.body
    assert notice.sealed is None
    (eml,) = Path(web.config["OUTBOX_DIR"]).glob("*.eml")
    assert link in message_from_bytes(eml.read_bytes(), policy=policy.default).get_content()
    # The old password is gone; the link sets a new one, once.
    assert (
        members_phone.post(
            "/auth/login", data={"email": user.email, "password": PASSWORD}
        ).status_code
        == 200
    )
    chosen = members_phone.post(link, data={"password": "fresh-pass-1", "confirm": "fresh-pass-1"})
    assert chosen.status_code == 302
    assert members_phone.get(link).status_code == 404
    # The history shows on the next reset's page.
    again = staff.get(f"/auth/logins/{user.id}/reset-password").get_data(as_text=True)
    assert f"reset by {coordinator.name}" in again


def test_only_an_admin_resets_a_staff_login(client, auth, db, make_user):
    farmer = make_user(Role.FARMER)
    coordinator = make_user(Role.COORDINATOR)
    auth.login(coordinator.email)
    assert client.get(f"/auth/logins/{farmer.id}/reset-password").status_code == 404
    assert client.post(f"/auth/logins/{farmer.id}/reset-password").status_code == 404
    db.session.refresh(farmer)
    assert farmer.check_password(PASSWORD)


def test_reset_refuses_a_deactivated_login(client, auth, db, make_user):
    from csa.models import AccountEvent

    user, _member = _member_with_login(db, make_user)
    user.active = False
    db.session.commit()
    coordinator = make_user(Role.COORDINATOR)
    auth.login(coordinator.email)
    response = client.post(f"/auth/logins/{user.id}/reset-password")
    assert response.status_code == 400
    assert "is deactivated; reactivate it first." in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(AccountEvent)) == 0
    assert _outbox(db) == []


def test_members_and_farmers_cannot_reset(client, auth, db, make_user):
    user, _member = _member_with_login(db, make_user)
    farmer = make_user(Role.FARMER)
    auth.login(farmer.email)
    assert client.post(f"/auth/logins/{user.id}/reset-password").status_code == 403


# --- forgot password ------------------------------------------------------------------------


def test_the_login_page_links_to_forgot_password(client):
    assert 'href="/auth/forgot"' in client.get("/auth/login").get_data(as_text=True)
    assert client.get("/auth/forgot").status_code == 200


class _Statements:
    """Counts the SQL statements an engine runs (the work a request does before it answers)."""

    def __init__(self, engine: Any) -> None:
        self.engine, self.seen = engine, []

    def __enter__(self) -> _Statements:
        event.listen(self.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._count)

    def _count(self, conn, cursor, statement, *args):
        self.seen.append(statement.split()[0])


def test_forgot_answers_alike_whether_or_not_the_login_exists(web, db, make_user):
    user, _member = _member_with_login(db, make_user)
    answers, mailed_before = [], 0
    for email, address in ((user.email, "192.0.2.1"), ("ghost@example.org", "192.0.2.2")):
        client = web.test_client()
        with web.app_context():
            engine = _db.engine
        with _Statements(engine) as before:
            response = client.post(
                "/auth/forgot", data={"email": email}, environ_base={"REMOTE_ADDR": address}
            )
        assert len(_outbox(db, "forgot/")) == mailed_before  # nothing mailed before the answer
        with _Statements(engine) as after:
            response.close()  # the server closes the response once it has been sent
        page = client.get(response.headers["Location"]).get_data(as_text=True)
        answers.append(
            (
                response.status_code,
                response.headers["Location"],
                before.seen,
                # Each browser has its own CSRF token (the language switch on every page).
                re.sub(r'name="csrf_token" value="[^"]+"', "", page.replace(email, "EMAIL")),
            )
        )
        assert after.seen  # the lookup happens, after the answer
        mailed_before = len(_outbox(db, "forgot/"))
    assert answers[0] == answers[1]
    assert "If EMAIL has a login here, a link to choose a new password" in answers[0][3]
    (mailed,) = _outbox(db, "forgot/")
    assert mailed.to == user.email


def test_forgot_link_by_mail_works_once(web, db, make_user, smtp):
    smtp, port = smtp
    web.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port)
    user, _member = _member_with_login(db, make_user)
    from csa.models import AccountEvent

    client = web.test_client()
    client.post("/auth/forgot", data={"email": "Anna@Example.org "}).close()
    (message,) = smtp.messages
    assert message["To"] == user.email
    link = _link_in(message.get_content(), "reset")
    assert client.get(link).status_code == 200
    response = client.post(link, data={"password": "brand-new-1", "confirm": "brand-new-1"})
    assert (response.status_code, response.headers["Location"]) == (302, "/")
    assert client.get("/share/").status_code == 200  # signed in with the new password
    db.session.refresh(user)
    assert user.check_password("brand-new-1")
    assert client.get(link).status_code == 404  # used: dead
    (row,) = db.session.scalars(select(AccountEvent))
    assert (row.user_id, row.by_id, row.action) == (user.id, None, "forgot")


def test_forgot_link_dies_when_the_password_changes_and_expires(app, client, db, make_user):
    from csa.accounts import operations as accounts

    user, _member = _member_with_login(db, make_user)
    token = accounts.reset_token(user)
    assert client.get(f"/auth/reset/{token}").status_code == 200
    # An invitation link is not a forgot-password link, nor the other way round.
    assert client.get(f"/auth/set-password/{token}").status_code == 404
    accounts.set_password(user, "changed-elsewhere")
    db.session.commit()
    assert client.get(f"/auth/reset/{token}").status_code == 404
    fresh = accounts.reset_token(user)
    app.config["RESET_MAX_AGE_SECONDS"] = -1
    assert client.get(f"/auth/reset/{fresh}").status_code == 404


def test_forgot_is_throttled_per_address(client, db, make_user):
    codes = [
        client.post("/auth/forgot", data={"email": f"x{i}@example.org"}).status_code
        for i in range(6)
    ]
    assert codes == [302] * 5 + [429]
    # Another address is not held up.
    response = client.post(
        "/auth/forgot", data={"email": "y@example.org"}, environ_base={"REMOTE_ADDR": "10.1.1.1"}
    )
    assert response.status_code == 302


def test_forgot_mails_one_address_at_most_three_times_in_a_row(web, db, make_user):
    user, _member = _member_with_login(db, make_user)
    client = web.test_client()
    for i in range(5):
        response = client.post(
            "/auth/forgot",
            data={"email": user.email},
            environ_base={"REMOTE_ADDR": f"10.0.0.{i + 1}"},
        )
        assert response.status_code == 302  # the same answer every time
        response.close()
    assert len(_outbox(db, "forgot/")) == 3


def test_forgot_for_many_at_once_sends_each_one_link(web, db, make_user):
    """Parallel requests for one login (threads, real database): the per-e-mail count holds."""
    user, _member = _member_with_login(db, make_user)
    email = user.email
    barrier = threading.Barrier(10)

    def ask(i: int) -> None:
        client = web.test_client()
        barrier.wait()
        client.post(
            "/auth/forgot",
            data={"email": email},
            environ_base={"REMOTE_ADDR": f"10.0.1.{i + 1}"},
        ).close()

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(_outbox(db, "forgot/")) == 3
