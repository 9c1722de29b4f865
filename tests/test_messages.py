"""Messages: audiences, delivery through a real SMTP server with Reply-To and
List-Unsubscribe, unsubscribing, the member's inbox, escaping, attachments, the rate limit
and site notes on the pickup list and My share."""

from __future__ import annotations

import io
import re
from datetime import date

import pytest
from sqlalchemy import func, select

from csa.extensions import db as _db
from csa.messages import operations
from csa.messages.audience import Choice, resolve
from csa.models import (
    AudienceKind,
    MembershipStatus,
    Message,
    MessageOptOut,
    MessageRecipient,
    OutboxMessage,
    OutboxState,
    Role,
    Round,
    SiteNote,
)
from csa.notices.outbox import deliver
from csa.sheets.build import render_site_preview, round_sheet_data
from tests.factories import add_member, make_farm
from tests.smtp import SmtpServer
from tests.test_sheets import text_of

DAY = date(2027, 6, 1)  # a Tuesday of the test season (Old Mill's weekday)
HOSTILE = '<script>alert("x")</script> & Bcc: evil@example.org'
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture
def smtp(app):
    server = SmtpServer()
    server.start()
    server.configure(app)
    yield server
    server.stop()


@pytest.fixture
def farm(app, db, tmp_path):
    app.config["MESSAGE_FILES_DIR"] = str(tmp_path / "files")
    farm = make_farm()
    add_member(farm, name="Anna Alpha", email="anna@example.org")
    add_member(farm, name="Bert Beta", email="bert@example.org", share_type=farm.half)
    add_member(farm, name="Cleo Gamma", email="cleo@example.org", site=farm.thursday)
    add_member(farm, name="Dan Waiting", email="dan@example.org", status=MembershipStatus.WAITING)
    db.session.add(Round(date=DAY))
    db.session.commit()
    return farm


@pytest.fixture
def coordinator(make_user):
    return make_user(Role.COORDINATOR, email="coord@example.org")


def login(client, user):
    from tests.conftest import PASSWORD

    response = client.post("/auth/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 302


def compose(client, button="send", **fields):
    data = {"audience": "active", "subject": "Hello", "body": "Carrots!", button: "1"}
    data.update(fields)
    return client.post("/messages/new", data=data, content_type="multipart/form-data")


def count(model, *where) -> int:
    return int(_db.session.scalar(select(func.count()).select_from(model).where(*where)))


def today() -> date:
    return date(2027, 5, 10)


# --- audiences ------------------------------------------------------------------------------


def test_audience_counts(app, farm):
    ids = {m.name: m.id for m in farm.members}

    def names(choice):
        found = resolve(choice, today()).member_ids
        return sorted(n for n, i in ids.items() if i in found)

    assert names(Choice(AudienceKind.ACTIVE)) == ["Anna Alpha", "Bert Beta", "Cleo Gamma"]
    assert names(Choice(AudienceKind.SITES, ids=(farm.thursday.id,))) == ["Cleo Gamma"]
    assert names(Choice(AudienceKind.SHARE_TYPES, ids=(farm.half.id,))) == ["Bert Beta"]
    assert names(Choice(AudienceKind.WAITING)) == ["Dan Waiting"]
    assert names(Choice(AudienceKind.HOUSEHOLD, ids=(ids["Cleo Gamma"],))) == ["Cleo Gamma"]
    round_id = _db.session.scalar(select(Round.id))
    assert names(Choice(AudienceKind.ROUND, round_id=round_id)) == ["Anna Alpha", "Bert Beta"]


def test_registered_audience_is_offered_and_counted(app, client, farm, coordinator):
    from csa.community.audiences import Audience, add_audience

    bert = farm.members[1].id
    add_audience(app, Audience("owes_hours", lambda: "Households owing hours", lambda: {bert}))
    login(client, coordinator)
    page = client.get("/messages/new").get_data(as_text=True)
    assert "Households owing hours" in page
    preview = compose(client, "preview", audience="registered:owes_hours")
    assert preview.status_code == 200
    assert "1 household will get it" in preview.get_data(as_text=True)
    assert count(Message) == 0  # a preview writes nothing


# --- sending and delivery -------------------------------------------------------------------


def test_delivery_with_reply_to_and_list_unsubscribe(app, client, farm, coordinator, smtp):
    login(client, coordinator)
    response = compose(client, audience="sites", sites=str(farm.tuesday.id))
    assert response.status_code == 302
    message = _db.session.scalar(select(Message))
    assert message.audience == "Pickup sites: Old Mill"
    assert count(OutboxMessage) == 2  # Anna and Bert, not Cleo (Thursday)
    # The link that unsubscribes is kept sealed, never readable, until it is sent.
    for row in _db.session.scalars(select(OutboxMessage)):
        assert "/messages/unsubscribe/" not in row.body
        assert row.sealed
        assert row.sealed_headers
    report = deliver()
    assert report.sent == 2
    mails = {m["To"]: m for m in smtp.handler.parsed()}
    assert set(mails) == {"anna@example.org", "bert@example.org"}
    mail = mails["anna@example.org"]
    assert mail["Reply-To"] == "coord@example.org"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = re.fullmatch(r"<(http\S+/messages/unsubscribe/(\S+))>", mail["List-Unsubscribe"])
    assert link
    assert link.group(1) in mail.get_content()
    # Only the hash of the token is stored.
    token = link.group(2)
    assert count(MessageRecipient, MessageRecipient.token_hash == operations.token_hash(token))
    assert not count(MessageRecipient, MessageRecipient.token_hash == token)
    _db.session.expire_all()
    rows = _db.session.scalars(select(OutboxMessage)).all()
    assert all(r.state == OutboxState.SENT and r.sealed_headers is None for r in rows)
    page = client.get(f"/messages/{message.id}").get_data(as_text=True)
    assert "sent: 2" in client.get("/messages/").get_data(as_text=True)
    assert "anna@example.org" in page


def test_unsubscribe_excludes_from_the_next_non_essential_message(
    app, client, farm, coordinator, smtp
):
    login(client, coordinator)
    assert compose(client).status_code == 302
    deliver()
    mail = next(m for m in smtp.handler.parsed() if m["To"] == "anna@example.org")
    url = mail["List-Unsubscribe"].strip("<>")
    path = url.split("127.0.0.1:5000", 1)[1]
    anon = app.test_client()
    page = anon.get(path)
    assert page.status_code == 200
    assert count(MessageOptOut) == 0  # a GET changes nothing
    # The mail program's one-click POST (RFC 8058), without a CSRF token.
    app.config["WTF_CSRF_ENABLED"] = True
    one_click = anon.post(path, data={"List-Unsubscribe": "One-Click"})
    assert one_click.status_code == 204
    app.config["WTF_CSRF_ENABLED"] = False
    anna = farm.members[0]
    assert count(MessageOptOut, MessageOptOut.member_id == anna.id) == 1
    assert anon.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 204
    assert count(MessageOptOut) == 1  # a second click changes nothing
    assert anon.get("/messages/unsubscribe/not-a-token").status_code == 404

    before = len(smtp.handler.messages)
    assert compose(client, subject="Second").status_code == 302
    second = _db.session.scalar(select(Message).where(Message.subject == "Second"))
    states = {r.member_id: r.state for r in second.recipients}
    assert states[anna.id] == "unsubscribed"
    deliver()
    to = [m["To"] for m in smtp.handler.parsed()[before:]]
    assert "anna@example.org" not in to
    assert "bert@example.org" in to
    # An essential message still reaches her, without an unsubscribe link.
    assert compose(client, subject="Essential", essential="y").status_code == 302
    deliver()
    essential = [m for m in smtp.handler.parsed() if m["Subject"] == "Essential"]
    anna_mail = next(m for m in essential if m["To"] == "anna@example.org")
    assert anna_mail["List-Unsubscribe"] is None
    assert "/messages/unsubscribe/" not in anna_mail.get_content()


# --- the member's inbox ---------------------------------------------------------------------


def test_member_reads_own_message_not_anothers(app, client, farm, coordinator, make_user):
    anna, cleo = farm.members[0], farm.members[2]
    login(client, coordinator)
    assert (
        compose(client, audience="sites", sites=str(farm.thursday.id), subject="Thu").status_code
        == 302
    )
    thursday = _db.session.scalar(select(Message))
    client.post("/auth/logout")
    login(client, make_user(Role.MEMBER, member=cleo))
    assert "Thu" in client.get("/messages/inbox").get_data(as_text=True)
    assert client.get(f"/messages/inbox/{thursday.id}").status_code == 200
    client.post("/auth/logout")
    login(client, make_user(Role.MEMBER, member=anna))
    assert "Thu" not in client.get("/messages/inbox").get_data(as_text=True)
    assert client.get(f"/messages/inbox/{thursday.id}").status_code == 404
    assert client.get("/messages/inbox/999").status_code == 404
    assert client.get("/messages/").status_code in (403, 404)  # not a member's page


def test_hidden_message_leaves_the_members_page(app, client, farm, coordinator, make_user):
    cleo = farm.members[2]
    login(client, coordinator)
    compose(client, audience="household", household=str(cleo.id))
    message = _db.session.scalar(select(Message))
    assert client.post(f"/messages/{message.id}/hide", data={"hide": "1"}).status_code == 302
    assert _db.session.get(Message, message.id).hidden
    client.post("/auth/logout")
    login(client, make_user(Role.MEMBER, member=cleo))
    assert client.get(f"/messages/inbox/{message.id}").status_code == 404


def test_hostile_text_is_escaped_in_html_and_safe_in_mail(
    app, client, farm, coordinator, make_user, smtp
):
    cleo = farm.members[2]
    login(client, coordinator)
    response = compose(
        client, audience="household", household=str(cleo.id), subject=HOSTILE, body=HOSTILE
    )
    assert response.status_code == 302
    message = _db.session.scalar(select(Message))
    staff_page = client.get(f"/messages/{message.id}").get_data(as_text=True)
    assert "<script>" not in staff_page
    assert "&lt;script&gt;" in staff_page
    client.post("/auth/logout")
    login(client, make_user(Role.MEMBER, member=cleo))
    page = client.get(f"/messages/inbox/{message.id}").get_data(as_text=True)
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    deliver()
    (mail,) = smtp.handler.parsed()
    assert mail["Bcc"] is None
    assert mail.get_content_type() == "text/plain"
    assert HOSTILE in mail.get_content()  # as written, in plain text
    assert smtp.handler.per_recipient() == {"cleo@example.org": 1}


# --- refusals -------------------------------------------------------------------------------


def test_bad_attachment_is_refused_with_nothing_written(app, client, farm, coordinator, tmp_path):
    login(client, coordinator)
    fake = (io.BytesIO(b"MZ\x90\x00 not a pdf"), "invoice.pdf")
    response = compose(client, attachment=fake)
    assert response.status_code == 400
    assert "Attach a PDF, PNG or JPEG file" in response.get_data(as_text=True)
    app.config["MESSAGE_ATTACHMENT_MAX_BYTES"] = 100
    big = compose(client, attachment=(io.BytesIO(PDF + b"x" * 200), "big.pdf"))
    assert big.status_code == 400
    assert "larger than" in big.get_data(as_text=True)
    assert count(Message) == count(MessageRecipient) == count(OutboxMessage) == 0
    folder = tmp_path / "files"
    assert not folder.exists() or not any(folder.iterdir())


def test_attachment_goes_with_each_mail(app, client, farm, coordinator, smtp):
    login(client, coordinator)
    response = compose(client, attachment=(io.BytesIO(PNG), "map of the farm.png"))
    assert response.status_code == 302
    deliver()
    mails = smtp.handler.parsed()
    assert len(mails) == 3
    for mail in mails:
        (part,) = list(mail.iter_attachments())
        assert part.get_content_type() == "image/png"
        assert part.get_filename() == "map_of_the_farm.png"
        assert part.get_content() == PNG


def test_nobody_in_the_audience_writes_nothing(app, client, farm, coordinator):
    login(client, coordinator)
    response = compose(client, audience="share_types", share_types=str(farm.family.id))
    assert response.status_code == 400
    assert "Nobody is in this audience" in response.get_data(as_text=True)
    assert count(Message) == 0


def test_rate_limit(app, client, farm, coordinator):
    app.config["MESSAGES_PER_HOUR"] = 2
    login(client, coordinator)
    assert compose(client).status_code == 302
    assert compose(client).status_code == 302
    refused = compose(client)
    assert refused.status_code == 400
    assert "the most allowed" in refused.get_data(as_text=True)
    assert count(Message) == 2


def test_farmer_writes_only_to_a_round(app, client, farm, make_user):
    login(client, make_user(Role.FARMER))
    round_id = _db.session.scalar(select(Round.id))
    assert compose(client, audience="active").status_code == 400
    assert compose(client, audience="round", round_id=str(round_id)).status_code == 302
    message = _db.session.scalar(select(Message))
    assert message.essential  # a round's contents cannot be unsubscribed
    assert {r.member.name for r in message.recipients} == {"Anna Alpha", "Bert Beta"}
    assert client.get(f"/messages/{message.id}").status_code == 200


def test_second_language_version(app, client, farm, coordinator, smtp):
    bert = farm.members[1]
    bert.locale = "pl"
    _db.session.commit()
    login(client, coordinator)
    compose(
        client,
        audience="share_types",
        share_types=f"{farm.half.id}",
        locale2="pl",
        subject2="Cześć",
        body2="Marchewki!",
    )
    deliver()
    (mail,) = smtp.handler.parsed()
    assert mail["Subject"] == "Cześć"
    assert "Marchewki!" in mail.get_content()


# --- site notes -----------------------------------------------------------------------------


def test_site_note_on_the_pickup_list_and_my_share(app, client, farm, coordinator, make_user):
    round_ = _db.session.scalar(select(Round))
    login(client, coordinator)
    response = client.post(
        "/messages/notes",
        data={"round_id": round_.id, "site_id": farm.tuesday.id, "text": "Gate code <1234>"},
    )
    assert response.status_code == 302
    assert count(SiteNote) == 1
    sheets = round_sheet_data(round_)
    assert sheets.site(farm.tuesday.id).notes == ["Gate code <1234>"]
    pages = text_of(render_site_preview(round_, farm.tuesday))
    assert "Gate code <1234>" in pages[0]
    bad = client.post(
        "/messages/notes",
        data={"round_id": round_.id, "site_id": farm.thursday.id, "text": "No pickup"},
    )
    assert bad.status_code == 400
    assert count(SiteNote) == 1
    client.post("/auth/logout")
    login(client, make_user(Role.MEMBER, member=farm.members[0]))
    page = client.get("/share/").get_data(as_text=True)
    assert "Gate code &lt;1234&gt;" in page


def test_demo_has_two_sent_messages_and_a_site_note(app, db):
    from csa.demo import load_demo

    load_demo()
    db.session.commit()
    subjects = set(db.session.scalars(select(Message.subject)))
    assert subjects == {"Welcome to the season", "The carrots are late"}
    assert count(SiteNote) == 1
    welcome = db.session.scalar(select(Message).where(Message.locale2 == "pl"))
    assert count(MessageRecipient, MessageRecipient.message_id == welcome.id) > 10


def test_anonymising_takes_the_household_out_of_its_messages(app, client, farm, coordinator):
    from csa.models import Member, Membership, Season
    from csa.privacy.export import SOURCES
    from csa.privacy.operations import anonymise

    season = Season(name="Season 2019", start=date(2019, 4, 1), end=date(2019, 11, 1))
    eve = Member(name="Eve Pastwick", email="eve-past@example.org")
    _db.session.add_all([season, eve])
    _db.session.add(
        Membership(
            member=eve,
            season=season,
            share_type=farm.full,
            site=farm.tuesday,
            start=season.start,
            end=season.end,
            status=MembershipStatus.ENDED,
        )
    )
    _db.session.commit()
    login(client, coordinator)
    body = "Dear Eve Pastwick, your box is ready."
    assert (
        compose(client, audience="household", household=str(eve.id), body=body).status_code == 302
    )
    operations.unsubscribe(eve.id)
    _db.session.commit()
    exported = dict(s.read(eve) for s in SOURCES)
    assert exported["messages"][0]["body"] == body
    assert len(exported["message_opt_out"]) == 1
    from csa.privacy.export import household_zip

    assert household_zip(eve)  # every file's rows share their columns
    anonymise(eve, coordinator, date(2026, 12, 1))
    _db.session.commit()
    message = _db.session.scalar(select(Message))
    assert "Eve Pastwick" not in message.audience + message.body
    assert not count(MessageRecipient, MessageRecipient.email == "eve-past@example.org")
    assert not count(MessageRecipient, MessageRecipient.token_hash.is_not(None))


def test_a_note_on_a_locked_round_prints_its_sheets_again(app, client, farm, coordinator):
    from csa.jobs import JobReport, refresh_sheets
    from csa.models import SheetRefresh
    from csa.rounds.lifecycle import lock_round
    from csa.sheets.build import render_round_sheets

    round_ = _db.session.scalar(select(Round))
    assert lock_round(round_)
    _db.session.commit()
    render_round_sheets(round_)
    _db.session.commit()
    login(client, coordinator)
    data = {"round_id": round_.id, "site_id": farm.tuesday.id, "text": "Gate code 4321"}
    assert client.post("/messages/notes", data=data).status_code == 302
    assert count(SheetRefresh) == 1
    refresh_sheets(JobReport())
    assert count(SheetRefresh) == 0
    assert client.post("/messages/notes", data=data).status_code == 302  # unchanged
    assert count(SheetRefresh) == 0


def test_a_farmer_sees_only_round_messages(app, client, farm, coordinator, make_user):
    login(client, coordinator)
    assert compose(client, subject="For everyone").status_code == 302
    message = _db.session.scalar(select(Message))
    client.post("/auth/logout")
    login(client, make_user(Role.FARMER))
    assert "For everyone" not in client.get("/messages/").get_data(as_text=True)
    assert client.get(f"/messages/{message.id}").status_code == 404
    assert client.post(f"/messages/{message.id}/hide", data={"hide": "1"}).status_code == 403
    assert not _db.session.get(Message, message.id).hidden
