"""Their data (GDPR): a household downloads what the farm holds about it, asks for deletion,
and coordinators anonymise it after its last season, keeping the season's figures."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import String, Text, func, select

from csa.extensions import db as _db
from csa.models import (
    AccountEvent,
    Allocation,
    HarvestEntry,
    Hold,
    HoldAction,
    HoldLog,
    HoldMode,
    LoginThrottle,
    Member,
    Membership,
    MembershipStatus,
    OptOut,
    OutboxMessage,
    PrivacyEvent,
    PrivacyRequest,
    PrivacyRequestState,
    Role,
    Round,
    Season,
    SignupRequest,
    SignupState,
    User,
)
from csa.notices import mail
from csa.rounds.lifecycle import farm_today, lock_round
from csa.rounds.split import round_split
from tests.factories import add_member, make_farm
from tests.fuzzing import error_messages
from tests.proof import Browser, changed_tables, fingerprint

SECRET_LINK = "https://farm.example/auth/set-password/SECRET-TOKEN-123"

# What identifies Alice's household: none of it may remain anywhere after anonymising.
ALICE = {
    "name": "Alice Leavingtree",
    "email": "alice@example.org",
    "login": "alice-login@example.org",
    "phone": "+48 611 222 333",
    "address": "Leavingtree Lane 5",
    "notes": '=HYPERLINK("http://x") alice-notes-4411',
}
BOB = {
    "name": "Bob Stayingwell",
    "email": "bob@example.org",
    "login": "bob-login@example.org",
    "phone": "+48 699 888 777",
    "notes": "bob-notes-9922",
}


@dataclass
class Farm:
    alice: Member
    bob: Member
    alice_membership: Membership
    bob_membership: Membership
    round: Round
    coordinator: User


def _tuesday_before(day: date) -> date:
    return day - timedelta(days=(day.weekday() - 1) % 7)


@pytest.fixture
def farm(app, db, make_user) -> Farm:
    """Alice's last season ended last week; Bob had it too and has one running now."""
    app.config["WTF_CSRF_ENABLED"] = True  # as in production: every POST carries a token
    today = farm_today()
    f = make_farm(today - timedelta(weeks=30), today - timedelta(days=7))
    alice_m = add_member(f, name=ALICE["name"], email=ALICE["email"])
    alice = alice_m.member
    alice.phone, alice.address, alice.notes = ALICE["phone"], ALICE["address"], ALICE["notes"]
    bob_m = add_member(f, name=BOB["name"], email=BOB["email"], share_type=f.half)
    bob = bob_m.member
    bob.phone, bob.notes = BOB["phone"], BOB["notes"]
    add_member(f, name="Carol Third")
    now = Season(
        name="Season now", start=today - timedelta(days=6), end=today + timedelta(weeks=20)
    )
    _db.session.add(now)
    _db.session.add(
        Membership(
            member=bob,
            season=now,
            share_type=f.full,
            site=f.tuesday,
            start=now.start,
            end=now.end,
            status=MembershipStatus.ACTIVE,
        )
    )
    day = _tuesday_before(today - timedelta(weeks=5))
    round_ = Round(date=day)
    _db.session.add(round_)
    _db.session.flush()
    _db.session.add_all(
        [
            HarvestEntry(round=round_, crop=f.tomatoes, quantity_milli=7_350),
            HarvestEntry(round=round_, crop=f.pumpkins, quantity_milli=4_000),
            Hold(membership_id=alice_m.id, round_date=day + timedelta(weeks=1)),
            Hold(membership_id=bob_m.id, round_date=day + timedelta(weeks=2), mode=HoldMode.OTHERS),
            OptOut(membership_id=bob_m.id, crop_id=f.pumpkins.id),
        ]
    )
    _db.session.flush()
    assert lock_round(round_)
    _db.session.commit()
    alice_login = make_user(Role.MEMBER, email=ALICE["login"], member=alice)
    make_user(Role.MEMBER, email=BOB["login"], member=bob)
    coordinator = make_user(Role.COORDINATOR, email="coord@example.org")
    _db.session.add(AccountEvent(user_id=alice_login.id, by_id=coordinator.id, action="reset"))
    _db.session.add(LoginThrottle(scope="login", email=ALICE["login"], address="10.0.0.1"))
    # How Alice joined: her sign-up request holds her details too; Bob's holds his.
    for who in (alice, bob):
        _db.session.add(
            SignupRequest(
                name=who.name,
                email=who.email,
                phone=who.phone,
                address=who.address,
                season=f.season,
                share_type=f.full,
                site=f.tuesday,
                terms_accepted_at=f.season.start,
                privacy_accepted_at=f.season.start,
                state=SignupState.APPROVED,
                member_id=who.id,
            )
        )
    _db.session.add(
        HoldLog(
            membership_id=alice_m.id,
            round_date=day + timedelta(weeks=1),
            action=HoldAction.SET,
            mode=HoldMode.DONATE,
            by_id=alice_login.id,
        )
    )
    mail.send(
        "invite/alice", ALICE["login"], "Your login", f"Set it: {SECRET_LINK}", redact=[SECRET_LINK]
    )
    mail.send("locked/alice", ALICE["email"], "Your share", "Hello Alice Leavingtree, tomatoes.")
    mail.send("locked/bob", BOB["email"], "Your share", "Hello Bob Stayingwell, tomatoes.")
    # A message to someone else that names Alice (a coordinator's notice, say).
    mail.send(
        "note/coord", "coord@example.org", "About Alice Leavingtree", "alice@example.org left"
    )
    _db.session.commit()
    return Farm(alice, bob, alice_m, bob_m, round_, coordinator)


def _browser(app, email: str) -> Browser:
    browser = Browser(app)
    browser.login(email)
    return browser


def _download(app, email: str) -> dict[str, bytes]:
    browser = _browser(app, email)
    page = browser.get("/privacy/")
    assert page.status_code == 200
    assert b'action="/privacy/download"' in page.data
    response = browser.post("/privacy/download")
    assert response.status_code == 200, response.data[:300]
    assert response.headers["Content-Type"] == "application/zip"
    assert "attachment" in response.headers["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _csv(files: dict[str, bytes], name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(files[f"{name}.csv"].decode("utf-8"))))


# --- the download ------------------------------------------------------------------------------


def test_the_download_holds_everything_of_the_household(app, farm):
    files = _download(app, ALICE["login"])
    expected = {
        "household",
        "logins",
        "memberships",
        "holds",
        "opt_outs",
        "allocations",
        "account_events",
        "emails",
        "signup_requests",
        "renewals",
        "place_offers",
        "membership_changes",
        "hold_log",
    }
    assert {"README.txt", "household.json"} <= set(files)
    assert {f"{n}.csv" for n in expected} <= set(files)
    readme = files["README.txt"].decode()
    for name in expected:
        assert f"{name}.csv: " in readme
    document = json.loads(files["household.json"])
    data = document["data"]
    assert document["household_id"] == farm.alice.id
    household = data["household"][0]
    assert household["name"] == ALICE["name"]
    assert household["email"] == ALICE["email"]
    assert household["phone"] == ALICE["phone"]
    assert household["address"] == ALICE["address"]
    assert "calendar_token" not in household
    (login,) = data["logins"]
    assert login["email"] == ALICE["login"]
    assert login["password_set"] is True
    assert not {"password_hash", "session_version"} & set(login)
    assert [m["season"] for m in data["memberships"]] == [farm.alice_membership.season.name]
    assert len(data["holds"]) == 1
    (signup,) = data["signup_requests"]  # hers, not Bob's
    assert (signup["name"], signup["email"], signup["state"]) == (
        ALICE["name"],
        ALICE["email"],
        "approved",
    )
    assert [(h["action"], h["by"]) for h in data["hold_log"]] == [("set", "household")]
    (event,) = data["account_events"]
    assert (event["login_id"], event["action"], event["by"]) == (login["id"], "reset", "farm staff")
    stored = _db.session.scalars(
        select(Allocation).where(Allocation.membership_id == farm.alice_membership.id)
    ).all()
    assert len(data["allocations"]) == len(stored) == 2
    tomatoes = next(a for a in data["allocations"] if a["crop"] == "Tomatoes")
    assert tomatoes["unit"] == "kg"
    assert tomatoes["round_date"] == farm.round.date.isoformat()
    subjects = {e["subject"] for e in data["emails"]}
    assert subjects == {"Your login", "Your share"}
    invite = next(e for e in data["emails"] if e["subject"] == "Your login")
    assert "[link removed]" in invite["body"]
    everything = b"".join(files.values())
    assert b"SECRET-TOKEN-123" not in everything
    assert b"sealed" not in everything
    assert b"pbkdf2" not in everything
    assert b"scrypt" not in everything
    # The CSV files say the same as the JSON, with formulas guarded.
    (row,) = _csv(files, "household")
    assert row["name"] == ALICE["name"]
    assert row["notes"] == "'" + ALICE["notes"]
    rows = _csv(files, "allocations")
    assert [(r["crop"], r["quantity"], r["unit"]) for r in rows] == [
        (a["crop"], a["quantity"], a["unit"]) for a in data["allocations"]
    ]
    # The download is audited.
    assert (
        _db.session.scalar(
            select(PrivacyEvent.action).where(PrivacyEvent.member_id == farm.alice.id)
        )
        == "exported"
    )


def test_quantities_and_entitlements_match_the_stored_split(app, farm):
    files = _download(app, ALICE["login"])
    split = round_split(_db.session.get(Round, farm.round.id))
    crops = {c.name: c for c in split.crop_list}
    for row in _csv(files, "allocations"):
        share = split.cell(farm.alice_membership.id, crops[row["crop"]].id)
        assert share is not None
        assert row["quantity"] == _milli(share.quantity)
        assert float(row["entitlement"]) == pytest.approx(
            float(share.entitlement * crops[row["crop"]].step_milli) / 1000, abs=0.001
        )


def _milli(milli: int) -> str:
    from csa.core.quantity import milli_to_str

    return milli_to_str(milli)


def test_a_household_never_downloads_another_households_data(app, farm):
    alice = b"".join(_download(app, ALICE["login"]).values()).decode()
    bob = b"".join(_download(app, BOB["login"]).values()).decode()
    for marker in (
        BOB["name"],
        BOB["email"],
        BOB["login"],
        BOB["phone"],
        BOB["notes"],
        "Stayingwell",
    ):
        assert marker not in alice
    for marker in (ALICE["name"], ALICE["email"], ALICE["login"], ALICE["phone"], "alice-notes"):
        assert marker not in bob
    alice_doc = json.loads(_download(app, ALICE["login"])["household.json"])["data"]
    ids = {m["id"] for m in alice_doc["memberships"]}
    assert ids == {farm.alice_membership.id}
    assert {a["membership_id"] for a in alice_doc["allocations"]} <= ids
    assert {h["membership_id"] for h in alice_doc["holds"]} <= ids
    assert alice_doc["opt_outs"] == []  # Bob's opt-out is not Alice's
    assert "Carol" not in alice


def test_staff_without_a_household_get_no_download(app, farm, make_user):
    admin = make_user(Role.ADMIN, email="admin@example.org")
    browser = _browser(app, admin.email)
    page = browser.get("/privacy/")
    assert page.status_code == 200
    assert b"not tied to a household" in page.data
    assert browser.post("/privacy/download").status_code == 404
    assert _browser(app, farm.coordinator.email).get("/privacy/").status_code == 403


# --- deletion requests -------------------------------------------------------------------------


def test_a_deletion_request_reaches_the_coordinators_and_its_answer_the_household(app, farm):
    alice = _browser(app, ALICE["login"])
    response = alice.post("/privacy/delete", {"reason": "We moved away."})
    assert response.status_code == 302
    request = _db.session.scalar(select(PrivacyRequest))
    assert request.member_id == farm.alice.id
    assert request.state == PrivacyRequestState.REQUESTED
    assert request.reason == "We moved away."
    told = _db.session.scalar(
        select(OutboxMessage).where(
            OutboxMessage.key == f"privacy-request/{request.id}/{farm.coordinator.id}"
        )
    )
    assert told is not None
    assert told.to == farm.coordinator.email
    assert f"Household #{farm.alice.id}" in told.subject
    assert ALICE["name"] not in told.body  # the notice holds no personal data
    page = alice.get("/privacy/").data.decode()
    assert "the farm has not answered yet" in page
    # Asking again while the first is open: refused, nothing written.
    before = fingerprint()
    again = alice.post("/privacy/delete", {"reason": "again"})
    assert again.status_code == 400
    assert any("not answered yet" in m for m in error_messages(again.data))
    assert changed_tables(before, fingerprint()) == []

    coordinator = _browser(app, farm.coordinator.email)
    listing = coordinator.get("/privacy/requests").data.decode()
    assert ALICE["name"] in listing
    assert "We moved away." in listing
    assert alice.get("/privacy/requests").status_code == 403
    register = coordinator.get("/register/").data.decode()
    assert "1 household waits for an answer about its data." in register
    assert 'href="/privacy/requests"' in register
    # A refusal needs a reason.
    before = fingerprint()
    empty = coordinator.post(f"/privacy/requests/{request.id}/refuse", {"answer": "  "})
    assert empty.status_code == 400
    assert error_messages(empty.data)
    assert changed_tables(before, fingerprint()) == []
    done = coordinator.post(
        f"/privacy/requests/{request.id}/refuse", {"answer": "Your share runs until November."}
    )
    assert done.status_code == 302
    _db.session.expire_all()
    request = _db.session.get(PrivacyRequest, request.id)
    assert request.state == PrivacyRequestState.REFUSED
    assert request.decided_by_id == farm.coordinator.id
    letter = _db.session.scalar(
        select(OutboxMessage).where(OutboxMessage.key == f"privacy-refused/{request.id}")
    )
    assert letter.to == ALICE["email"]
    assert "Your share runs until November." in letter.body
    assert "Your share runs until November." in alice.get("/privacy/").data.decode()
    # Answered: a second refusal is refused; the household may ask again.
    before = fingerprint()
    twice = coordinator.post(f"/privacy/requests/{request.id}/refuse", {"answer": "Still no."})
    assert twice.status_code == 400
    assert any("answered already" in m for m in error_messages(twice.data))
    assert changed_tables(before, fingerprint()) == []
    assert alice.post("/privacy/delete", {}).status_code == 302
    actions = _db.session.scalars(
        select(PrivacyEvent.action)
        .where(PrivacyEvent.member_id == farm.alice.id)
        .order_by(PrivacyEvent.id)
    ).all()
    assert actions == ["requested", "refused", "requested"]


# --- anonymising -------------------------------------------------------------------------------


def _text_everywhere(needles: list[str]) -> list[str]:
    """Every (table.column) of the database whose text holds one of the needles."""
    found = []
    _db.session.expire_all()
    with _db.engine.connect() as conn:
        for table in _db.metadata.sorted_tables:
            columns = [c for c in table.columns if isinstance(c.type, String | Text)]
            if not columns:
                continue
            for row in conn.execute(select(*columns)):
                for column, value in zip(columns, row, strict=True):
                    for needle in needles:
                        if value and needle.lower() in str(value).lower():
                            found.append(f"{table.name}.{column.name}: {needle}")
    return found


def _split_figures(round_id: int) -> dict[Any, Any]:
    _db.session.expire_all()
    split = round_split(_db.session.get(Round, round_id))
    assert split.stored
    cells = {
        (mid, cid): (s.quantity, s.entitlement, s.balance_in, s.donated)
        for cid, crop_split in split.splits.items()
        for s in crop_split.shares
        for mid in [s.membership_id]
    }
    totals = {
        cid: (sum(s.quantity for s in cs.shares), cs.surplus, split.harvested[cid])
        for cid, cs in split.splits.items()
    }
    return {"cells": cells, "totals": totals, "memberships": sorted(split.memberships)}


def _counts() -> dict[str, int]:
    return {
        m.__name__: _db.session.scalar(select(func.count()).select_from(m))
        for m in (Member, Membership, Allocation, Hold, OptOut, User, OutboxMessage, AccountEvent)
    }


def test_anonymising_is_refused_while_a_membership_runs(app, farm, runner):
    coordinator = _browser(app, farm.coordinator.email)
    before = fingerprint()
    response = coordinator.post(f"/privacy/households/{farm.bob.id}/anonymise", {"confirm": "y"})
    assert response.status_code == 400
    messages = error_messages(response.data)
    assert any("has a membership until" in m and "last season" in m for m in messages), messages
    assert changed_tables(before, fingerprint()) == []
    # Without the tick nothing happens either, for a household that could be anonymised.
    unticked = coordinator.post(f"/privacy/households/{farm.alice.id}/anonymise", {})
    assert unticked.status_code == 400
    assert any("cannot be undone" in m for m in error_messages(unticked.data))
    assert changed_tables(before, fingerprint()) == []
    result = runner.invoke(args=["csa", "anonymise", str(farm.bob.id)])
    assert result.exit_code != 0
    assert "has a membership until" in result.output
    assert changed_tables(before, fingerprint()) == []
    # The page offers Alice, whose seasons have ended, and not Bob.
    page = coordinator.get("/privacy/requests").data.decode()
    assert f'action="/privacy/households/{farm.alice.id}/anonymise"' in page
    assert f'action="/privacy/households/{farm.bob.id}/anonymise"' not in page


def test_anonymising_removes_the_personal_data_and_keeps_the_figures(app, farm):
    alice = _browser(app, ALICE["login"])
    assert alice.post("/privacy/delete", {"reason": f"I am {ALICE['name']}"}).status_code == 302
    figures = _split_figures(farm.round.id)
    counts = _counts()
    needles = [
        ALICE["name"],
        ALICE["email"],
        ALICE["login"],
        ALICE["phone"],
        ALICE["address"],
        "alice-notes",
        "Leavingtree",
    ]
    assert len(_text_everywhere(needles)) > 5  # the search finds them before
    old_token = farm.alice.calendar_token

    coordinator = _browser(app, farm.coordinator.email)
    response = coordinator.post(f"/privacy/households/{farm.alice.id}/anonymise", {"confirm": "y"})
    assert response.status_code == 302, error_messages(response.data)
    assert _text_everywhere(needles) == []
    member = _db.session.get(Member, farm.alice.id)
    assert member.name == f"Household #{member.id}"
    assert member.email == f"anonymised-{member.id}@invalid"
    assert (member.phone, member.address, member.notes) == ("", "", "")
    assert member.calendar_token != old_token
    login = _db.session.scalar(select(User).where(User.member_id == member.id))
    assert login.active is False
    assert login.password_hash == ""
    assert login.name == ""
    # Kept: every figure of the season, the events of the login (without personal data).
    assert _split_figures(farm.round.id) == figures
    assert _counts() == counts
    throttled = _db.session.scalars(select(LoginThrottle.email)).all()
    assert ALICE["login"] not in throttled
    invite = _db.session.scalar(select(OutboxMessage).where(OutboxMessage.key == "invite/alice"))
    assert invite.sealed is None
    assert invite.body == ""
    assert invite.to == member.email
    bob_mail = _db.session.scalar(select(OutboxMessage).where(OutboxMessage.key == "locked/bob"))
    assert bob_mail.body == "Hello Bob Stayingwell, tomatoes."  # others' mail untouched
    # Audited; the request is done; the old session is over and the login cannot sign in.
    event = _db.session.scalar(select(PrivacyEvent).where(PrivacyEvent.action == "anonymised"))
    assert (event.member_id, event.by_id) == (member.id, farm.coordinator.id)
    request = _db.session.scalar(select(PrivacyRequest))
    assert request.state == PrivacyRequestState.DONE
    assert request.reason == ""
    page = coordinator.get("/privacy/requests").data.decode()
    assert "anonymised" in page
    assert f"Household #{member.id}" in page
    assert alice.get("/privacy/").status_code == 302
    signin = Browser(app)
    signin.fetch_token("/auth/login")
    refused = signin.post(
        "/auth/login", {"email": ALICE["login"], "password": "correct-horse-battery"}
    )
    assert refused.status_code != 302
    # Twice: refused plainly, nothing written.
    before = fingerprint()
    again = coordinator.post(f"/privacy/households/{member.id}/anonymise", {"confirm": "y"})
    assert again.status_code == 400
    assert any("nothing left to remove" in m for m in error_messages(again.data))
    assert changed_tables(before, fingerprint()) == []


def test_the_anonymise_command(app, farm, runner):
    before = fingerprint()
    missing = runner.invoke(args=["csa", "anonymise", "99999"])
    assert missing.exit_code != 0
    assert "no household" in missing.output
    assert changed_tables(before, fingerprint()) == []
    figures = _split_figures(farm.round.id)
    result = runner.invoke(args=["csa", "anonymise", str(farm.alice.id)])
    assert result.exit_code == 0, result.output
    assert "Anonymised" in result.output
    _db.session.expire_all()
    assert _db.session.get(Member, farm.alice.id).name == f"Household #{farm.alice.id}"
    event = _db.session.scalar(select(PrivacyEvent).where(PrivacyEvent.action == "anonymised"))
    assert event.by_id is None
    assert _split_figures(farm.round.id) == figures
    before = fingerprint()
    twice = runner.invoke(args=["csa", "anonymise", str(farm.alice.id)])
    assert twice.exit_code != 0
    assert "nothing left to remove" in twice.output
    assert changed_tables(before, fingerprint()) == []


def test_a_staff_login_of_the_household_is_untied_not_locked_out(app, farm, make_user):
    """A coordinator who was also a member keeps its working login after anonymising."""
    staff = make_user(Role.COORDINATOR, email="carol-staff@example.org")
    carol = _db.session.scalar(select(Member).where(Member.name == "Carol Third"))
    staff.member_id = carol.id
    _db.session.commit()
    coordinator = _browser(app, farm.coordinator.email)
    response = coordinator.post(f"/privacy/households/{carol.id}/anonymise", {"confirm": "y"})
    assert response.status_code == 302, error_messages(response.data)
    _db.session.expire_all()
    staff = _db.session.get(User, staff.id)
    assert staff.active
    assert staff.email == "carol-staff@example.org"
    assert staff.member_id is None
    assert _db.session.get(Member, carol.id).name == f"Household #{carol.id}"
    assert _browser(app, "carol-staff@example.org").get("/privacy/requests").status_code == 200
