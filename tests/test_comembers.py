"""Co-members (issue 11): several logins per household, the contact who invites and removes
them, who reads the notices, and the pickup list that still shows the household once."""

from __future__ import annotations

import re
from datetime import date
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from sqlalchemy import func, select

from csa import create_app
from csa.accounts import household
from csa.errors import FieldError
from csa.extensions import db as _db
from csa.models import Hold, Member, OutboxMessage, Role, Round, RoundStatus, User
from csa.notices.notify import notify_round
from csa.notices.recipients import household_recipients
from csa.rounds import lifecycle
from csa.rounds.lifecycle import lock_round
from csa.rounds.split import round_split
from csa.sheets.build import round_sheet_data
from tests.conftest import PASSWORD
from tests.factories import add_member, make_farm

TUESDAY = date(2027, 5, 4)
IN_USE = "belongs to a login or household of the farm already"


@pytest.fixture
def web(app_config, app):
    """An app of the same database whose requests get their own context, as in production
    (Flask-Login and Flask-Babel keep the signed-in login and the language on `g`, which the
    `app` fixture's context would share between browsers)."""
    other = create_app(app_config)
    yield other
    with other.app_context():
        _db.engine.dispose()


@pytest.fixture
def client(web):
    """Every browser here talks to `web` (conftest's `auth` uses this one too)."""
    return web.test_client()


@pytest.fixture
def homes(db, make_user, monkeypatch):
    """Household A (contact Anna, English; co-member Piotr, Polish) and household B."""
    monkeypatch.setattr(lifecycle, "farm_today", lambda: date(2027, 4, 20))
    farm = make_farm()
    a = add_member(farm, name="Anna Nowak", email="anna@example.org")
    b = add_member(farm, name="Bea Brown", email="bea@example.org")
    db.session.commit()
    anna = make_user(Role.MEMBER, email="anna@example.org", member=a.member)
    piotr = make_user(Role.MEMBER, email="piotr@example.org", member=a.member)
    bea = make_user(Role.MEMBER, email="bea@example.org", member=b.member)
    anna.locale, piotr.locale = "en", "pl"
    db.session.commit()
    return farm, a, b, anna, piotr, bea


def _count(db, model) -> int:
    return int(db.session.scalar(select(func.count()).select_from(model)) or 0)


def _state(db) -> tuple[int, int, list[tuple[int, int | None, bool]]]:
    db.session.expire_all()
    logins = [(u.id, u.member_id, u.active) for u in db.session.scalars(select(User))]
    return _count(db, User), _count(db, OutboxMessage), sorted(logins)


# --- the model --------------------------------------------------------------------------------


def test_a_household_has_its_logins_in_order_and_one_contact(db, homes):
    _farm, a, _b, anna, piotr, _bea = homes
    assert a.member.users == [anna, piotr]
    assert household.contact_of(a.member) is anna
    assert household.co_members(a.member) == [piotr]
    assert household.is_contact(anna)
    assert not household.is_contact(piotr)


# --- inviting -----------------------------------------------------------------------------


def test_the_contact_invites_a_co_member_who_sets_a_password_and_sees_the_share(
    app, client, auth, db, homes
):
    _farm, a, _b, _anna, _piotr, _bea = homes
    db.session.add(Round(date=TUESDAY, status=RoundStatus.OPEN))
    db.session.commit()
    auth.login("anna@example.org")
    response = client.post(
        "/account/household", data={"name": "Ola Nowak", "email": " Ola@Example.org "}
    )
    assert response.status_code == 302
    ola = db.session.scalar(select(User).where(User.email == "ola@example.org"))
    assert ola is not None
    assert ola.member_id == a.member.id
    assert ola.role == Role.MEMBER
    assert ola.password_hash == ""
    row = db.session.scalar(select(OutboxMessage).where(OutboxMessage.to == "ola@example.org"))
    assert row is not None
    assert row.key.startswith(f"invite/{ola.id}/")
    assert "/auth/set-password/" not in row.body  # the link is stored sealed only
    # The mail that goes out carries the link; it sets Ola's own password.
    from csa.notices import outbox

    outbox.deliver()
    link = None
    for eml in sorted(Path(app.config["OUTBOX_DIR"]).glob("*.eml")):
        text = message_from_bytes(eml.read_bytes(), policy=policy.default).get_content()
        found = re.search(r"http://localhost(/auth/set-password/[\w.\-]+)", text)
        if found and "ola@example.org" in text:
            link = found.group(1)
    assert link is not None
    auth.logout()
    done = client.post(link, data={"password": "olas-own-pass", "confirm": "olas-own-pass"})
    assert done.status_code == 302
    page = client.get("/share/")
    assert page.status_code == 200
    assert "Old Mill" in page.get_data(as_text=True)  # the household's pickup site
    assert "no membership" not in page.get_data(as_text=True)
    assert client.get("/account/household").status_code == 200


@pytest.mark.parametrize(
    "email",
    ["bea@example.org", "piotr@example.org", "anna@example.org", "farmer-9@example.org"],
)
def test_an_address_in_use_is_refused_with_the_same_words(
    client, auth, db, homes, make_user, email
):
    """Another household's, a co-member's, the contact's own, a staff login's: one answer."""
    make_user(Role.FARMER, email="farmer-9@example.org")
    before = _state(db)
    auth.login("anna@example.org")
    response = client.post("/account/household", data={"name": "X", "email": email})
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert f"{email} {IN_USE}" in text
    assert "Bea" not in text
    assert "bea@example.org" not in text.replace(email, "")
    assert _state(db) == before


def test_a_bad_invitation_writes_nothing(client, auth, db, homes):
    before = _state(db)
    auth.login("anna@example.org")
    for data in ({"name": "", "email": "x@example.org"}, {"name": "X", "email": "not-mail"}):
        assert client.post("/account/household", data=data).status_code == 400
    assert _state(db) == before


def test_a_co_member_sees_the_list_but_cannot_invite_or_remove(client, auth, db, homes):
    _farm, _a, _b, anna, piotr, _bea = homes
    before = _state(db)
    auth.login("piotr@example.org")
    page = client.get("/account/household").get_data(as_text=True)
    assert "anna@example.org" in page
    assert "piotr@example.org" in page
    assert "bea@example.org" not in page  # household B is not A's business
    assert 'name="email"' not in page  # no invitation form
    refused = client.post("/account/household", data={"name": "X", "email": "x@example.org"})
    assert refused.status_code == 400
    # Piotr reads Polish: "Only the household's contact can change its logins."
    assert "Tylko osoba kontaktowa gospodarstwa" in refused.get_data(as_text=True)
    assert client.post("/account/household/remove", data={"login": anna.id}).status_code == 400
    assert _state(db) == before


def test_the_household_page_needs_a_household_role(client, auth, db, homes, make_user):
    make_user(Role.FARMER, email="farmer-1@example.org")
    auth.login("farmer-1@example.org")
    assert client.get("/account/household").status_code == 403
    assert client.post("/account/household/remove", data={"login": "1"}).status_code == 403


def test_the_forms_need_their_csrf_token(web, client, auth, db, homes):
    _farm, _a, _b, _anna, piotr, _bea = homes
    auth.login("anna@example.org")
    web.config["WTF_CSRF_ENABLED"] = True
    before = _state(db)
    response = client.post("/account/household", data={"name": "X", "email": "x@example.org"})
    assert response.status_code == 400
    assert client.post("/account/household/remove", data={"login": piotr.id}).status_code == 400
    assert _state(db) == before


# --- removing and leaving -------------------------------------------------------------------


def test_the_contact_removes_a_co_member_whose_sessions_end(web, client, auth, db, homes):
    _farm, a, _b, _anna, piotr, _bea = homes
    other = web.test_client()
    other.post("/auth/login", data={"email": "piotr@example.org", "password": PASSWORD})
    assert other.get("/share/").status_code == 200
    version = piotr.session_version
    feed = f"/calendar/feed/{a.member.calendar_token}.ics"
    assert other.get(feed).status_code == 200
    auth.login("anna@example.org")
    page = client.get("/account/household").get_data(as_text=True)
    assert "data-confirm" in page  # the browser asks before removing
    response = client.post("/account/household/remove", data={"login": piotr.id})
    assert response.status_code == 302
    db.session.expire_all()
    piotr = db.session.get(User, piotr.id)
    assert piotr.member_id is None
    assert not piotr.active
    assert piotr.session_version == version + 1
    assert a.member.users == [db.session.get(User, homes[3].id)]
    assert other.get("/share/").status_code == 302  # signed out
    assert other.get(feed).status_code == 404  # the feed it knew moved to a new address
    assert client.get("/share/").status_code == 200  # the contact goes on
    assert client.get(f"/calendar/feed/{a.member.calendar_token}.ics").status_code == 200


def test_the_contact_cannot_remove_another_households_login_or_itself(client, auth, db, homes):
    _farm, _a, _b, anna, _piotr, bea = homes
    before = _state(db)
    auth.login("anna@example.org")
    for login in (bea.id, anna.id, "x", "", 99999):
        response = client.post("/account/household/remove", data={"login": login})
        assert response.status_code == 400
    assert _state(db) == before


def test_a_co_member_leaves_and_the_address_can_be_invited_again(app, client, auth, db, homes):
    _farm, a, _b, _anna, piotr, _bea = homes
    auth.login("piotr@example.org")
    response = client.post("/account/household/remove", data={"login": piotr.id})
    assert response.status_code == 302
    assert client.get("/share/").status_code == 302  # signed out
    db.session.expire_all()
    assert db.session.get(User, piotr.id).member_id is None
    # Bea's household may invite the address now: the old login comes back, tied to B,
    # without its old password.
    auth.login("bea@example.org")
    again = client.post("/account/household", data={"name": "Piotr", "email": "piotr@example.org"})
    assert again.status_code == 302
    db.session.expire_all()
    piotr = db.session.get(User, piotr.id)
    assert piotr.member_id == homes[2].member.id
    assert piotr.active
    assert piotr.password_hash == ""


def test_the_contact_cannot_leave(client, auth, db, homes):
    _farm, _a, _b, anna, _piotr, _bea = homes
    before = _state(db)
    auth.login("anna@example.org")
    response = client.post("/account/household/remove", data={"login": anna.id})
    assert response.status_code == 400
    assert "cannot leave" in response.get_data(as_text=True)
    assert _state(db) == before


def test_coordinators_see_every_login_of_a_household(client, auth, db, homes, make_user):
    _farm, a, _b, _anna, _piotr, _bea = homes
    make_user(Role.COORDINATOR, email="coord@example.org")
    auth.login("coord@example.org")
    page = client.get(f"/register/members/{a.member.id}").get_data(as_text=True)
    assert "Login anna@example.org: password set." in page
    assert "Login piotr@example.org: password set." in page
    assert "(the household's contact)" in page
    assert "(co-member)" in page


def test_a_new_household_address_of_a_co_member_makes_it_the_contact(db, homes, make_user):
    from csa.register import operations as register

    _farm, a, _b, anna, piotr, _bea = homes
    register.update_member(
        a.member, register.MemberData(name="Anna Nowak", email="piotr@example.org", locale="pl")
    )
    assert household.contact_of(a.member) is piotr
    assert anna.email == "anna@example.org"  # the old contact keeps its own address
    make_user(Role.FARMER, email="farmer-2@example.org")
    with pytest.raises(FieldError, match="A login with the e-mail"):
        register.update_member(
            a.member, register.MemberData(name="Anna Nowak", email="farmer-2@example.org")
        )


# --- the share and holds ----------------------------------------------------------------------


def test_a_co_member_sees_the_share_and_puts_a_hold(client, auth, db, homes):
    _farm, a, _b, _anna, _piotr, _bea = homes
    db.session.add(Round(date=TUESDAY, status=RoundStatus.OPEN))
    db.session.commit()
    auth.login("piotr@example.org")
    assert client.get("/share/").status_code == 200
    response = client.post(f"/share/hold/{TUESDAY.isoformat()}", data={"mode": "donate"})
    assert response.status_code == 302
    hold = db.session.scalar(select(Hold))
    assert hold is not None
    assert hold.membership_id == a.id


def test_a_co_member_never_sees_another_household(client, auth, db, homes):
    _farm, a, b, _anna, _piotr, _bea = homes
    db.session.add(Round(date=TUESDAY, status=RoundStatus.OPEN))
    db.session.commit()
    auth.login("piotr@example.org")
    day = TUESDAY.isoformat()
    assert client.get(f"/share/round/{day}?membership={a.id}").status_code == 200
    assert client.get(f"/share/round/{day}?membership={b.id}").status_code == 404
    assert client.get(f"/rounds/{day}/explain/{b.id}").status_code == 404
    assert client.get(f"/share/member/{b.member.id}").status_code == 403
    before = db.session.scalar(select(func.count()).select_from(Hold))
    client.post(f"/share/hold/{day}", data={"mode": "donate", "membership": str(b.id)})
    hold = db.session.scalar(select(Hold).where(Hold.membership_id == b.id))
    assert hold is None  # a hold is always the own household's
    assert db.session.scalar(select(func.count()).select_from(Hold)) <= before + 1


# --- notices --------------------------------------------------------------------------------


def test_each_login_that_wants_them_gets_the_notices_in_its_language(db, homes):
    _farm, a, b, anna, piotr, bea = homes
    got = household_recipients(a.member)
    assert [(r.email, r.locale, r.key) for r in got] == [
        ("anna@example.org", "en", ""),
        ("piotr@example.org", "pl", f"user{piotr.id}"),
    ]
    piotr.notices = False
    assert [r.email for r in household_recipients(a.member)] == ["anna@example.org"]
    anna.notices, piotr.notices = False, True
    assert [r.key for r in household_recipients(a.member)] == [f"user{piotr.id}"]
    piotr.notices = False
    assert household_recipients(a.member) == []  # everyone said no
    bea.active = False  # a household whose contact's login is closed: its address, as before
    assert [(r.email, r.key) for r in household_recipients(b.member)] == [("bea@example.org", "")]


def test_a_login_without_a_language_reads_the_households(db, homes):
    _farm, a, _b, _anna, piotr, _bea = homes
    piotr.locale = ""
    a.member.locale = "pl"
    assert [r.locale for r in household_recipients(a.member)][1] == "pl"


def test_a_household_without_logins_gets_its_notices_at_its_address(db, homes):
    farm = homes[0]
    lone = add_member(farm, name="Lone Wolf", email="lone@example.org").member
    lone.locale = "pl"
    recipients = household_recipients(lone)
    assert [(r.email, r.locale, r.key) for r in recipients] == [("lone@example.org", "pl", "")]


def test_a_locked_round_tells_both_logins_once_each(app, db, homes):
    farm, a, _b, _anna, piotr, _bea = homes
    round_ = Round(date=TUESDAY, status=RoundStatus.OPEN)
    db.session.add(round_)
    db.session.flush()
    from csa.models import HarvestEntry

    db.session.add(HarvestEntry(round_id=round_.id, crop_id=farm.tomatoes.id, quantity_milli=4000))
    db.session.flush()
    assert lock_round(round_)
    assert notify_round(round_) == 3  # A's two logins and B's one
    assert notify_round(round_) == 0  # idempotent
    rows = {r.key: r for r in db.session.scalars(select(OutboxMessage))}
    base = f"locked/{round_.id}/{a.id}"
    assert rows[base].to == "anna@example.org"
    assert rows[f"{base}/user{piotr.id}"].to == "piotr@example.org"
    assert rows[f"{base}/user{piotr.id}"].subject.startswith("Twój udział")  # Piotr's Polish
    assert rows[base].subject.startswith("Your share")  # Anna's English


def test_the_profile_turns_the_notices_off(client, auth, db, homes):
    _farm, _a, _b, _anna, piotr, _bea = homes
    auth.login("piotr@example.org")
    page = client.get("/account/").get_data(as_text=True)
    assert "Wysyłaj mi powiadomienia gospodarstwa domowego" in page  # Piotr reads Polish
    assert 'name="notices"' in page
    response = client.post("/account/", data={"name": "Piotr", "phone": "", "locale": "pl"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(User, piotr.id).notices is False
    client.post("/account/", data={"name": "Piotr", "phone": "", "locale": "pl", "notices": "y"})
    db.session.expire_all()
    assert db.session.get(User, piotr.id).notices is True


# --- the pickup list --------------------------------------------------------------------------


def test_a_household_with_two_logins_is_one_row_of_the_split_and_the_sheet(db, homes):
    farm, a, b, _anna, _piotr, _bea = homes
    round_ = Round(date=TUESDAY, status=RoundStatus.OPEN)
    db.session.add(round_)
    db.session.commit()
    split = round_split(round_)
    assert sorted(m.id for m in split.membership_list) == sorted([a.id, b.id])
    sheets = round_sheet_data(round_)
    rows = [row for site in sheets.sites for row in site.rows]
    assert [row.name for row in rows].count("Anna Nowak") == 1
    assert sorted(row.membership_id for row in rows) == sorted([a.id, b.id])
    assert db.session.scalar(select(func.count()).select_from(Member)) == 2


# --- the demo -------------------------------------------------------------------------------


def test_the_demo_household_has_a_contact_and_a_polish_co_member(runner, client, db):
    from csa.demo import DEMO_PASSWORD

    assert runner.invoke(args=["csa", "demo"]).exit_code == 0
    contact = db.session.scalar(select(User).where(User.email == "member@demo.farm"))
    partner = db.session.scalar(select(User).where(User.email == "partner@demo.farm"))
    assert partner.member is contact.member
    assert household.contact_of(contact.member) is contact
    assert partner.locale == "pl"
    response = client.post(
        "/auth/login", data={"email": "partner@demo.farm", "password": DEMO_PASSWORD}
    )
    assert response.status_code == 302


def test_the_notices_read_every_households_logins_in_one_query(app, db, homes, make_user):
    from sqlalchemy import event

    farm = homes[0]
    for n in range(6):
        extra = add_member(farm, name=f"Extra {n}", email=f"extra{n}@example.org").member
        db.session.commit()
        make_user(Role.MEMBER, email=f"extra{n}@example.org", member=extra)
    round_ = Round(date=TUESDAY, status=RoundStatus.OPEN)
    db.session.add(round_)
    db.session.commit()
    db.session.expire_all()
    reads: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        flat = " ".join(statement.lower().split())
        if flat.startswith("select") and (' from "user"' in flat or " from user " in flat):
            reads.append(flat)

    lifecycle.cancel_round(db.session.get(Round, round_.id), "rain", None)
    db.session.commit()
    db.session.expire_all()
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        sent = notify_round(db.session.get(Round, round_.id))
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert sent == 9  # A's two logins, B's and the six others' one each
    assert len(reads) <= 1, reads
