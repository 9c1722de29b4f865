"""The outbox: queued in the business transaction, delivered one message per commit to a real
SMTP server on localhost (aiosmtpd, tests/smtp.py), retried with back-off, crash-safe; and
links that grant access never stored readable."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from sqlalchemy import func, select, text, update

from csa.core.clock import utcnow
from csa.extensions import db as _db
from csa.jobs import run_due_jobs
from csa.models import OutboxMessage, OutboxState, Role
from csa.notices import mail, outbox
from tests.factories import add_member, make_farm
from tests.smtp import SmtpServer
from tests.test_jobs import AFTER_CUTOFF, MONDAY_MORNING, harvest

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct-horse-battery"  # tests/conftest.py's make_user


@pytest.fixture
def smtp(app):
    server = SmtpServer()
    server.start()
    server.configure(app)
    yield server
    server.stop()


def count(*where) -> int:
    return _db.session.scalar(select(func.count()).select_from(OutboxMessage).where(*where))


def queue(n: int, prefix: str = "m") -> list[str]:
    """Queue n notices in one business transaction and commit it; return the addresses."""
    addresses = [f"{prefix}{i:04d}@example.org" for i in range(n)]
    for i, to in enumerate(addresses):
        mail.send(f"test/{prefix}/{i}", to, f"Your share {i}", f"Tomatoes: {i} kg – Żółć")
    _db.session.commit()
    return addresses


def make_due() -> None:
    """Let the back-off pass: every queued message is due now."""
    _db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.state == OutboxState.QUEUED)
        .values(next_attempt_at=utcnow() - timedelta(seconds=1))
    )
    _db.session.commit()


def test_send_only_queues_and_delivery_sends_once_per_key(app, db, smtp):
    row = mail.send("k/1", "zofia@example.org", "Your share", "Tomatoes: 1,5 kg – Żółć")
    db.session.commit()
    assert row is not None
    assert row.state == OutboxState.QUEUED
    assert smtp.handler.messages == []  # nothing leaves inside the business transaction
    assert mail.send("k/1", "zofia@example.org", "Your share", "again") is None

    report = outbox.deliver()
    assert (report.sent, report.retrying, report.failed, report.stopped) == (1, 0, 0, "")
    assert outbox.deliver().sent == 0
    (parsed,) = smtp.handler.parsed()
    assert parsed["To"] == "zofia@example.org"
    assert parsed["Subject"] == "Your share"
    assert parsed["Message-ID"] == mail.message_id("k/1")
    assert "Żółć" in parsed.get_content()
    db.session.expire_all()
    row = db.session.scalar(select(OutboxMessage))
    assert (row.state, row.transport, row.attempts) == (OutboxState.SENT, "smtp", 1)
    assert row.sent_at is not None


def test_message_id_comes_from_the_key_and_the_farm_secret(app, db):
    first = mail.message_id("locked/5/12")
    assert first == mail.message_id("locked/5/12")
    assert first != mail.message_id("locked/5/13")
    app.config["SECRET_KEY"] = "another farm"
    assert mail.message_id("locked/5/12") != first


def test_without_smtp_messages_go_to_outbox_files_through_the_same_loop(app, db):
    mail.send("k/2", "piotr@example.org", "Hello", "Body")
    db.session.commit()
    assert list(Path(app.config["OUTBOX_DIR"]).glob("*.eml")) == []
    assert outbox.deliver().sent == 1
    (eml,) = Path(app.config["OUTBOX_DIR"]).glob("*.eml")
    parsed = message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert parsed["To"] == "piotr@example.org"
    assert parsed["Message-ID"] == mail.message_id("k/2")
    row = db.session.scalar(select(OutboxMessage))
    assert (row.key, row.state, row.transport) == ("k/2", OutboxState.SENT, "file")


def test_one_refused_recipient_does_not_hold_back_the_others(app, db, smtp, client, make_user):
    app.config["OUTBOX_MAX_ATTEMPTS"] = 3
    addresses = queue(12)
    refused = addresses[3]
    smtp.handler.refuse.add(refused)

    report = outbox.deliver()
    assert (report.sent, report.retrying, report.failed) == (11, 1, 0)
    assert smtp.handler.greetings == 1  # one connection for the whole batch
    received = smtp.handler.per_recipient()
    assert received == {a: 1 for a in addresses if a != refused}
    row = db.session.scalar(select(OutboxMessage).where(OutboxMessage.to == refused))
    assert (row.state, row.attempts) == (OutboxState.QUEUED, 1)
    assert "550" in row.last_error
    assert "mailbox unavailable" in row.last_error
    # Back-off: about a minute before the first retry, then five minutes.
    wait = row.next_attempt_at - utcnow()
    assert timedelta(seconds=50) < wait <= timedelta(seconds=60)
    assert outbox.deliver().sent == 0  # not due yet: nobody gets anything again

    make_due()
    assert outbox.deliver().retrying == 1
    db.session.expire_all()
    row = db.session.get(OutboxMessage, row.id)
    assert row.attempts == 2
    assert timedelta(seconds=290) < row.next_attempt_at - utcnow() <= timedelta(seconds=300)

    make_due()
    assert outbox.deliver().failed == 1  # the third attempt is the last
    db.session.expire_all()
    row = db.session.get(OutboxMessage, row.id)
    assert (row.state, row.attempts) == (OutboxState.FAILED, 3)
    assert smtp.handler.per_recipient() == received  # nobody got anything twice
    assert refused not in smtp.handler.per_recipient()

    # Coordinators see the failure with the server's reply.
    coordinator = make_user(Role.COORDINATOR)
    client.post("/auth/login", data={"email": coordinator.email, "password": PASSWORD})
    page = client.get("/calendar/messages").get_data(as_text=True)
    assert "1 message could not be delivered." in page
    failed_page = client.get("/calendar/messages?state=failed").get_data(as_text=True)
    assert refused in failed_page
    assert addresses[0] not in failed_page
    assert "mailbox unavailable" in failed_page
    detail = client.get(f"/calendar/messages/{row.id}").get_data(as_text=True)
    assert "550 5.1.1" in detail
    assert "failed" in detail


def test_server_down_loses_nothing_and_sends_when_it_is_back(app, db, smtp):
    app.config["OUTBOX_DOWN_RETRY_SECONDS"] = 0
    smtp.stop()
    addresses = queue(5)
    report = outbox.deliver()
    assert report.sent == 0
    assert report.stopped  # connection refused: the batch stops at once
    assert count(OutboxMessage.state == OutboxState.QUEUED) == 5
    assert count(OutboxMessage.attempts > 0) == 0  # the server's fault, not the messages'
    first = db.session.scalar(select(OutboxMessage).where(OutboxMessage.last_error != ""))
    assert first is not None

    smtp.start()
    report = outbox.deliver()
    assert (report.sent, report.stopped) == (5, "")
    assert smtp.handler.per_recipient() == {a: 1 for a in addresses}
    assert count(OutboxMessage.state == OutboxState.SENT) == 5


def test_server_stopping_mid_batch_stops_the_batch_and_the_rest_goes_later(app, db, smtp):
    app.config["OUTBOX_DOWN_RETRY_SECONDS"] = 0
    addresses = queue(6)
    assert outbox.deliver(limit=2).sent == 2
    smtp.stop()  # a new batch finds nobody listening
    assert outbox.deliver().stopped
    smtp.start()
    assert outbox.deliver().sent == 4
    assert smtp.handler.per_recipient() == {a: 1 for a in addresses}


def test_a_server_closing_mid_batch_is_down_not_a_refusal(app, db, smtp):
    app.config["OUTBOX_DOWN_RETRY_SECONDS"] = 0
    addresses = queue(5)
    smtp.handler.shut_down_at.add(addresses[2])
    report = outbox.deliver()
    assert (report.sent, report.retrying, report.failed) == (2, 0, 0)
    assert "421" in report.stopped
    row = db.session.scalar(select(OutboxMessage).where(OutboxMessage.to == addresses[2]))
    assert (row.state, row.attempts) == (OutboxState.QUEUED, 0)
    smtp.handler.shut_down_at.clear()
    assert outbox.deliver().sent == 3
    assert smtp.handler.per_recipient() == {a: 1 for a in addresses}


def test_deliver_command_reports_and_fails_while_the_server_is_down(app, db, smtp, runner):
    queue(3)
    smtp.stop()
    result = runner.invoke(args=["csa", "deliver"])
    assert result.exit_code == 1
    assert "sent: 0" in result.output
    assert "The mail server is unavailable" in result.output
    smtp.start()
    app.config["OUTBOX_DOWN_RETRY_SECONDS"] = 0
    make_due()
    result = runner.invoke(args=["csa", "deliver", "--limit", "2"])
    assert result.exit_code == 0, result.output
    assert "sent: 2, to retry: 0, failed: 0" in result.output
    assert runner.invoke(args=["csa", "deliver"]).output.startswith("sent: 1,")


def test_a_cr_lf_site_name_is_delivered_with_a_clean_subject(app, db, smtp):
    farm = make_farm()
    farm.tuesday.name = "Old Mill\r\nBcc: everyone@example.org\nX-Evil: 1"
    for i in range(3):
        add_member(farm, name=f"Anna Nowak{i}", email=f"anna{i}@example.org")
    db.session.commit()
    run_due_jobs(MONDAY_MORNING)
    harvest(farm, date(2027, 5, 4))
    report = run_due_jobs(AFTER_CUTOFF)
    assert report.mail.sent == 3
    messages = smtp.handler.parsed()
    assert len(messages) == 3
    for msg in messages:
        # A long subject is folded onto a continuation line; unfolding leaves a leading space.
        assert msg["Subject"].strip() == (
            "Your share for 2027-05-04 at Old Mill Bcc: everyone@example.org X-Evil: 1"
        )
        assert msg["Bcc"] is None
        assert msg["X-Evil"] is None
    headers = smtp.handler.messages[0][1].split(b"\r\n\r\n", 1)[0]
    assert b"\nBcc:" not in headers
    assert b"\nX-Evil:" not in headers
    assert smtp.handler.per_recipient() == {f"anna{i}@example.org": 1 for i in range(3)}
    # A second run sends nothing again.
    run_due_jobs(AFTER_CUTOFF)
    assert len(smtp.handler.messages) == 3


def test_an_unreadable_sealed_text_fails_that_message_alone(app, db, smtp):
    mail.send("k/a", "a@example.org", "Link", "Go to http://x/secret", redact=["http://x/secret"])
    mail.send("k/b", "b@example.org", "Plain", "Hello")
    db.session.commit()
    app.config["SECRET_KEY"] = "rotated"
    report = outbox.deliver()
    assert (report.sent, report.failed) == (1, 1)
    row = db.session.scalar(select(OutboxMessage).where(OutboxMessage.key == "k/a"))
    assert row.state == OutboxState.FAILED
    assert row.sealed is None
    assert "SECRET_KEY" in row.last_error


def test_redacted_body_is_stored_and_the_sealed_text_is_erased_after_delivery(app, db, smtp):
    link = "http://localhost/auth/set-password/abc.def.ghi"
    row = mail.send("k/3", "ewa@example.org", "Login", f"Set it here:\n{link}\nBye", redact=[link])
    db.session.commit()
    assert row.body == "Set it here:\n[link removed]\nBye"
    assert row.sealed is not None
    assert link not in row.sealed
    assert mail.unseal(row.sealed) == f"Set it here:\n{link}\nBye"
    assert outbox.deliver().sent == 1
    (parsed,) = smtp.handler.parsed()
    assert link in parsed.get_content()
    db.session.expire_all()
    row = db.session.get(OutboxMessage, row.id)
    assert row.sealed is None
    assert link not in row.body


# --- real processes: killed mid-batch, two at once ------------------------------------------


def deliver_process(
    app_config, smtp_server: SmtpServer, tmp_path, lease_seconds: int = 2
) -> subprocess.Popen:
    """`flask --app app csa deliver` in its own process against the test's database.

    A short claim lets the crash test's restart resend soon; a test of two live loops
    passes a long one, since on a loaded machine a send may outlast two seconds and the
    other loop would then resend it, as a lapsed claim is meant to.
    """
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "CSA_DATABASE_URL": app_config["SQLALCHEMY_DATABASE_URI"],
        "CSA_SECRET_KEY": app_config["SECRET_KEY"],
        "CSA_MAIL_SERVER": "127.0.0.1",
        "CSA_MAIL_PORT": str(smtp_server.port),
        "CSA_OUTBOX_LEASE_SECONDS": str(lease_seconds),
        "CSA_INSTANCE_PATH": str(tmp_path / "instance"),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "csa", "deliver"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_deliver_killed_mid_batch_resends_at_most_the_one_in_flight(
    app, db, smtp, app_config, tmp_path
):
    addresses = queue(60)
    smtp.handler.delay = 0.05  # slow enough to kill it in the middle
    proc = deliver_process(app_config, smtp, tmp_path)
    try:
        deadline = time.monotonic() + 60
        while len(smtp.handler.messages) < 20:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    before = len(smtp.handler.messages)
    assert 20 <= before < 60
    db.session.expire_all()
    assert count(OutboxMessage.state == OutboxState.SENDING) <= 1

    time.sleep(2.1)  # the dead loop's claim lapses
    restarted = deliver_process(app_config, smtp, tmp_path)
    out, err = restarted.communicate(timeout=120)
    assert restarted.returncode == 0, err
    received = smtp.handler.per_recipient()
    assert set(received) == set(addresses)
    assert sum(received.values()) - len(addresses) <= 1
    assert len([a for a, n in received.items() if n > 1]) <= 1
    db.session.expire_all()
    assert count(OutboxMessage.state == OutboxState.SENT) == 60
    # A copy sent twice carries the same Message-ID both times.
    ids = [m["Message-ID"] for m in smtp.handler.parsed()]
    assert len(set(ids)) == 60


def test_two_delivery_loops_at_once_send_no_message_twice(app, db, smtp, app_config, tmp_path):
    addresses = queue(300)
    smtp.handler.delay = 0.01  # long enough for both loops to be sending at once
    procs = [deliver_process(app_config, smtp, tmp_path, lease_seconds=120) for _ in range(2)]
    outputs = [p.communicate(timeout=180) for p in procs]
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
    assert smtp.handler.per_recipient() == {a: 1 for a in addresses}
    sent = [int(out.split("sent: ")[1].split(",")[0]) for out, _ in outputs]
    assert sum(sent) == 300
    assert min(sent) > 0  # both took part
    db.session.expire_all()
    assert count(OutboxMessage.state == OutboxState.SENT) == 300


# --- invitations: the link is never stored readable ---------------------------------------


def invite(client, path: str) -> str:
    html = client.post(path).get_data(as_text=True)
    start = html.index('id="invite-link">') + len('id="invite-link">')
    return html[start : html.index("</pre>", start)]


def login(client, user) -> None:
    client.post("/auth/logout")
    client.post("/auth/login", data={"email": user.email, "password": PASSWORD})


def test_staff_invitations_are_for_admins_and_no_one_reads_a_link(app, db, smtp, client, make_user):
    admin = make_user(Role.ADMIN, email="boss@example.org")
    coordinator = make_user(Role.COORDINATOR, email="coord@example.org")
    farm = make_farm()
    member = add_member(farm, name="Anna Nowak", email="anna@example.org").member
    other_admin = make_user(Role.ADMIN, email="second@example.org", password=None)
    db.session.commit()

    login(client, admin)
    staff_link = invite(client, f"/auth/users/{other_admin.id}/invite")
    login(client, coordinator)
    member_link = invite(client, f"/register/members/{member.id}/invite")
    assert "/auth/set-password/" in staff_link
    assert "/auth/set-password/" in member_link
    # Both were delivered right after their request, with the real link.
    contents = {m["To"]: m.get_content() for m in smtp.handler.parsed()}
    assert staff_link in contents["second@example.org"]
    assert member_link in contents["anna@example.org"]

    staff_row = db.session.scalar(
        select(OutboxMessage).where(OutboxMessage.to == other_admin.email)
    )
    member_row = db.session.scalar(select(OutboxMessage).where(OutboxMessage.to == member.email))
    assert (staff_row.admin_only, member_row.admin_only) == (True, False)

    # The coordinator sees the member's invitation without its link, not the admin's at all.
    listing = client.get("/calendar/messages").get_data(as_text=True)
    assert "anna@example.org" in listing
    assert "second@example.org" not in listing
    assert client.get(f"/calendar/messages/{staff_row.id}").status_code == 404
    detail = client.get(f"/calendar/messages/{member_row.id}").get_data(as_text=True)
    assert "[link removed]" in detail
    assert "/auth/set-password/" not in detail

    # The admin sees the staff invitation, but not its link either.
    login(client, admin)
    assert "second@example.org" in client.get("/calendar/messages").get_data(as_text=True)
    detail = client.get(f"/calendar/messages/{staff_row.id}").get_data(as_text=True)
    assert "[link removed]" in detail
    assert "/auth/set-password/" not in detail


def test_a_coordinator_cannot_take_over_an_admin_through_sent_messages(
    app, db, smtp, client, make_user
):
    admin = make_user(Role.ADMIN, email="boss@example.org")
    farmer = make_user(Role.FARMER, email="field@example.org", password=None)
    second_admin = make_user(Role.ADMIN, email="second@example.org", password=None)
    login(client, admin)
    invite(client, f"/auth/users/{farmer.id}/invite")
    invite(client, f"/auth/users/{second_admin.id}/invite")
    coordinator = make_user(Role.COORDINATOR, email="coord@example.org")
    login(client, coordinator)
    listing = client.get("/calendar/messages").get_data(as_text=True)
    assert "No messages have been sent yet." in listing
    for row in db.session.scalars(select(OutboxMessage)):
        assert client.get(f"/calendar/messages/{row.id}").status_code == 404


def test_the_database_never_holds_the_set_password_link_in_clear(
    app, db, smtp, client, make_user, app_config, backend
):
    smtp.stop()  # the invitation stays queued, sealed, waiting for the server
    admin = make_user(Role.ADMIN, email="boss@example.org")
    farmer = make_user(Role.FARMER, email="field@example.org", password=None)
    login(client, admin)
    response = client.post(f"/auth/users/{farmer.id}/invite")
    html = response.get_data(as_text=True)
    assert "The e-mail could not be sent yet" in html
    start = html.index('id="invite-link">') + len('id="invite-link">')
    link = html[start : html.index("</pre>", start)]
    token = link.rsplit("/", 1)[1]
    row = db.session.scalar(select(OutboxMessage))
    assert (row.state, row.attempts) == (OutboxState.QUEUED, 0)
    assert row.sealed
    if backend == "sqlite":
        db.engine.dispose()  # everything on disk
        path = Path(app_config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///"))
        files = [p for p in path.parent.iterdir() if p.name.startswith(path.name)]
        assert files
        for file in files:
            assert token.encode() not in file.read_bytes(), file.name
    else:
        dump = db.session.execute(text("SELECT row_to_json(t)::text FROM outbox_message t"))
        assert all(token not in line for (line,) in dump)
    # Once the server is back the real link is delivered and the sealed copy erased.
    app.config["OUTBOX_DOWN_RETRY_SECONDS"] = 0
    db.session.execute(update(OutboxMessage).values(next_attempt_at=utcnow()))
    db.session.commit()
    smtp.start()
    assert outbox.deliver().sent == 1
    (msg,) = smtp.handler.parsed()
    assert link in msg.get_content()
    db.session.expire_all()
    assert db.session.get(OutboxMessage, row.id).sealed is None


def test_round_notices_with_a_refused_member_go_out_once_over_three_runs(app, db, smtp):
    """Issue 10's probe: the old code re-sent everyone's notice on every run after one 550."""
    farm = make_farm()
    for i in range(5):
        add_member(farm, name=f"Anna Nowak{i}", email=f"anna{i}@example.org")
    db.session.commit()
    smtp.handler.refuse.add("anna2@example.org")
    run_due_jobs(MONDAY_MORNING)
    harvest(farm, date(2027, 5, 4))
    for _ in range(3):
        run_due_jobs(AFTER_CUTOFF)
    expected = {f"anna{i}@example.org": 1 for i in range(5) if i != 2}
    assert smtp.handler.per_recipient() == expected
    refused = db.session.scalar(
        select(OutboxMessage).where(OutboxMessage.to == "anna2@example.org")
    )
    assert refused.state == OutboxState.QUEUED  # waiting for its back-off, not lost
    assert "550" in refused.last_error


def test_the_migration_removes_links_already_stored_and_hides_invitations(
    app_config, forget_schema
):
    """Rows written by the old code held set-password links in clear; upgrading scrubs them."""
    from flask_migrate import downgrade, upgrade

    from csa import create_app

    migrated = create_app(app_config)
    forget_schema()
    with migrated.app_context():
        _db.drop_all()
        with _db.engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        try:
            upgrade(revision="3b1f6c2d9a70")
            link = "http://farm.example/auth/set-password/WzEsIjM4NDFl.axPR4w.mQ6trd2jUE"
            with _db.engine.begin() as conn:
                conn.execute(
                    text(
                        'INSERT INTO outbox_message (key, "to", subject, body, created_at,'
                        " sent_at, transport) VALUES (:key, :to, 'Login', :body, :at, :at,"
                        " 'smtp')"
                    ),
                    [
                        {
                            "key": "invite/1/abcdefgh",
                            "to": "boss@example.org",
                            "body": f"Hello,\n{link}\nThen sign in.",
                            "at": utcnow(),
                        },
                        {
                            "key": "locked/1/1",
                            "to": "anna@example.org",
                            "body": "Tomatoes",
                            "at": utcnow(),
                        },
                    ],
                )
            upgrade()
            rows = {
                row.key: row
                for row in _db.session.execute(
                    text("SELECT key, body, admin_only, state FROM outbox_message")
                )
            }
            invite_row = rows["invite/1/abcdefgh"]
            assert invite_row.body == "Hello,\n[link removed]\nThen sign in."
            assert bool(invite_row.admin_only) is True
            assert invite_row.state == "sent"
            assert bool(rows["locked/1/1"].admin_only) is False
            assert rows["locked/1/1"].body == "Tomatoes"
            _db.session.rollback()
            downgrade(revision="base")
        finally:
            _db.session.remove()
            _db.drop_all()
            with _db.engine.begin() as conn:
                conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
            _db.engine.dispose()
