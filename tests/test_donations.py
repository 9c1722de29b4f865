"""The food-sharing partner through the web: a coordinator adds a partner and routes a site
to it, a member's donated hold and the round's surplus show on the partner's pickup sheet
(PDF) and in the season's totals, the partner gets one mail with the sheet after the lock,
members see only their own donated rounds, and bad input writes nothing."""

from __future__ import annotations

import io
import re
from datetime import date

import pypdf
import pytest
from sqlalchemy import func, select

from csa.donations import queries
from csa.donations.operations import settle_due
from csa.jobs import JobReport, deliver_mail, finish_locked_rounds, mail_donation_sheets
from csa.models import (
    DonationNotice,
    DonationRound,
    DonationRoute,
    HarvestEntry,
    Hold,
    HoldMode,
    OutboxMessage,
    PartnerOrganisation,
    Role,
    Round,
)
from csa.rounds.lifecycle import farm_today, lock_round
from tests.factories import add_member, make_farm
from tests.smtp import SmtpServer

ROUND_DAY = date(2027, 5, 4)  # a Tuesday: Old Mill's day


def pdf_text(data: bytes) -> str:
    text = " ".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(data)).pages)
    return re.sub(r"\s+", " ", text.replace("\u00a0", " "))


def count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def world(db, make_user):
    farm = make_farm()
    a = add_member(farm, name="Anna Giver")
    b = add_member(farm, name="Bruno Donor")
    c = add_member(farm, name="Cleo Half", share_type=farm.half)
    round_ = Round(date=ROUND_DAY)
    db.session.add(round_)
    db.session.flush()
    db.session.add_all(
        [
            # 200 steps of 0.05 kg and 0.03 kg that no step can hand out: the surplus.
            HarvestEntry(round=round_, crop=farm.tomatoes, quantity_milli=10_030),
            HarvestEntry(round=round_, crop=farm.pumpkins, quantity_milli=5_000),
            Hold(membership_id=b.id, round_date=ROUND_DAY, mode=HoldMode.DONATE),
        ]
    )
    db.session.commit()
    users = {
        "coordinator": make_user(Role.COORDINATOR),
        "farmer": make_user(Role.FARMER),
        "a": make_user(Role.MEMBER, member=a.member),
        "b": make_user(Role.MEMBER, member=b.member),
    }
    return {"farm": farm, "a": a, "b": b, "c": c, "round": round_, "users": users}


def _partner_form(**changes):
    data = {
        "name": "Tafel am Markt",
        "contact_name": "Greta <b>Klein</b>",
        "email": "tafel@example.org",
        "phone": "+49 30 123",
        "address": "Marktplatz 3",
        "pickup_note": "Tuesdays after 19:00",
        "takes_surplus": "y",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def _partner(db) -> PartnerOrganisation:
    return db.session.scalar(select(PartnerOrganisation))


def test_a_donated_share_and_the_surplus_reach_the_partner_sheet_and_the_totals(
    app, db, client, auth, world
):
    auth.login(world["users"]["coordinator"].email)
    assert client.post("/donations/partners/new", data=_partner_form()).status_code == 303
    partner = _partner(db)
    assert partner.takes_surplus
    assert partner.email == "tafel@example.org"
    site = world["farm"].tuesday
    response = client.post(
        "/donations/routes",
        data={"site": site.id, "partner": partner.id, "note": "at the back door"},
    )
    assert response.status_code == 303
    assert db.session.get(DonationRoute, site.id).partner_id == partner.id

    assert lock_round(world["round"])
    db.session.commit()
    response = client.get(f"/donations/sheet/{world['round'].id}/{partner.id}.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    text = pdf_text(response.data)
    # B's share: 200 steps over weights 1 + 1 + 0.5 is 80 steps (4 kg) and 2 of 5 pumpkins.
    assert "Tafel am Markt" in text
    assert "Old Mill" in text
    assert "Mill Lane 1" in text
    assert "at the back door" in text
    assert "Tomatoes 4 kg" in text
    assert "Pumpkins 2 pc" in text
    assert "1 donated share: on hold, donated" in text
    assert "Bruno" not in text  # the partner reads contents, not who gave them
    assert "Surplus of the round" in text
    assert "Tomatoes 0.03 kg" in text
    assert "Greta <b>Klein</b>" in text  # printed as typed, never as markup

    totals = queries.season_totals(world["farm"].season)
    tomatoes, pumpkins = world["farm"].tomatoes.id, world["farm"].pumpkins.id
    assert totals.milli == {tomatoes: 4_030, pumpkins: 2_000}
    assert totals.by_unit() == [("kg", 4_030), ("piece", 2_000)]
    page = client.get("/donations/").get_data(as_text=True)
    assert "4.03 kg · 2 pc" in page
    assert "Greta &lt;b&gt;Klein&lt;/b&gt;" in page
    round_page = client.get(f"/donations/rounds/{world['round'].id}").get_data(as_text=True)
    assert "Old Mill" in round_page
    assert "4 kg" in round_page
    assert "1 donated share" in round_page
    assert "0.03 kg" in round_page  # the surplus, Tafel's

    # The farmer sees the desk and the sheet but may not change anything.
    auth.logout()
    auth.login(world["users"]["farmer"].email)
    assert client.get("/donations/").status_code == 200
    assert client.get(f"/donations/sheet/{world['round'].id}/{partner.id}.pdf").status_code == 200
    assert client.post("/donations/partners/new", data=_partner_form(name="X")).status_code == 403
    assert count(db, PartnerOrganisation) == 1


def test_members_see_the_farms_totals_and_only_their_own_donated_rounds(
    app, db, client, auth, world
):
    partner = PartnerOrganisation(name="Tafel am Markt", takes_surplus=True)
    db.session.add(partner)
    db.session.flush()
    db.session.add(DonationRoute(site_id=world["farm"].tuesday.id, partner_id=partner.id))
    assert lock_round(world["round"])
    db.session.commit()

    auth.login(world["users"]["b"].email)
    page = client.get("/donations/season").get_data(as_text=True)
    assert "4.03 kg · 2 pc" in page  # the farm's totals
    assert "Tuesday, May 4, 2027" in page  # B's own donated round
    assert "Tomatoes 4 kg" in page
    auth.logout()

    auth.login(world["users"]["a"].email)
    page = client.get("/donations/season").get_data(as_text=True)
    assert "4.03 kg · 2 pc" in page
    assert "May 4, 2027" not in page  # B's round is B's
    assert "You have not given a share away this season" in page
    for path in (
        "/donations/",
        f"/donations/rounds/{world['round'].id}",
        f"/donations/sheet/{world['round'].id}/{partner.id}.pdf",
    ):
        assert client.get(path).status_code == 403, path


def test_bad_input_writes_nothing(app, db, client, auth, world):
    auth.login(world["users"]["coordinator"].email)
    assert client.post("/donations/partners/new", data=_partner_form()).status_code == 303
    partner = _partner(db)
    before = count(db, PartnerOrganisation)
    for bad, message in (
        ({"name": ""}, "This field is required."),
        ({"name": "tafel AM markt"}, "There is a partner named tafel AM markt already."),
        ({"name": "Other", "email": "not-an-address"}, "Enter an e-mail address"),
        ({"name": "Other", "email": ""}, "takes the surplus already"),
        ({"name": "x" * 101}, "Field cannot be longer than 100 characters."),
    ):
        response = client.post("/donations/partners/new", data=_partner_form(**bad))
        assert response.status_code == 400, bad
        assert message in response.get_data(as_text=True), bad
    assert count(db, PartnerOrganisation) == before

    # An edit that breaks a rule leaves the partner as it was.
    response = client.post(
        f"/donations/partners/{partner.id}", data=_partner_form(email="bad@", phone="+1")
    )
    assert response.status_code == 400
    db.session.expire_all()
    assert _partner(db).phone == "+49 30 123"

    # A route to an inactive partner, or to a site that is not there, is refused.
    other = PartnerOrganisation(name="Closed Point", active=False)
    db.session.add(other)
    db.session.commit()
    site = world["farm"].tuesday
    response = client.post("/donations/routes", data={"site": site.id, "partner": other.id})
    assert response.status_code == 400
    response = client.post("/donations/routes", data={"site": 9999, "partner": partner.id})
    assert response.status_code == 400
    response = client.post("/donations/routes", data={"site": site.id, "partner": 0, "note": "x"})
    assert response.status_code == 400
    assert count(db, DonationRoute) == 0

    # A sheet of a round not locked yet does not exist.
    assert client.get(f"/donations/sheet/{world['round'].id}/{partner.id}.pdf").status_code == 404


def test_deactivating_ends_routes_and_the_surplus(app, db, client, auth, world):
    auth.login(world["users"]["coordinator"].email)
    client.post("/donations/partners/new", data=_partner_form())
    partner = _partner(db)
    client.post("/donations/routes", data={"site": world["farm"].tuesday.id, "partner": partner.id})
    assert count(db, DonationRoute) == 1
    response = client.post(f"/donations/partners/{partner.id}/deactivate")
    assert response.status_code == 303
    db.session.expire_all()
    partner = _partner(db)
    assert not partner.active
    assert not partner.takes_surplus
    assert count(db, DonationRoute) == 0
    assert client.post(f"/donations/partners/{partner.id}/reactivate").status_code == 303
    db.session.expire_all()
    assert _partner(db).active


@pytest.fixture
def smtp(app):
    server = SmtpServer()
    server.start()
    server.configure(app)
    yield server
    server.stop()


def test_the_partner_gets_one_mail_with_its_sheet_after_the_lock(app, db, world, smtp):
    partner = PartnerOrganisation(
        name="Tafel am Markt", email="tafel@example.org", takes_surplus=True
    )
    quiet = PartnerOrganisation(name="Quiet Point", email="quiet@example.org")
    db.session.add_all([partner, quiet])
    db.session.flush()
    db.session.add(DonationRoute(site_id=world["farm"].tuesday.id, partner_id=partner.id))
    assert lock_round(world["round"])
    db.session.commit()
    report = JobReport()
    mail_donation_sheets(report)
    assert count(db, DonationRound) == 0  # the round's own notices and sheets come first
    finish_locked_rounds(report)
    mail_donation_sheets(report)
    mail_donation_sheets(report)  # a second run does nothing
    assert settle_due() == 0
    assert report.notes == ["donation sheets mailed: 1"]
    settled = db.session.get(DonationRound, world["round"].id)
    assert settled.surplus_partner_id == partner.id
    # Quiet Point collects nothing this round: no mail.
    assert [n.partner_id for n in db.session.scalars(select(DonationNotice))] == [partner.id]
    rows = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.to == "tafel@example.org")
    ).all()
    assert len(rows) == 1
    deliver_mail(report)
    (msg,) = [m for m in smtp.handler.parsed() if m["To"] == "tafel@example.org"]
    assert "Tafel am Markt" in msg["Subject"]
    assert "2027-05-04" in msg["Subject"]
    body = msg.get_body(preferencelist=("plain",)).get_content().replace("\u00a0", " ")
    assert "Tomatoes: 4 kg" in body
    assert "Old Mill" in body
    (part,) = list(msg.iter_attachments())
    assert part.get_content_type() == "application/pdf"
    assert "Tomatoes 4 kg" in pdf_text(part.get_content())


def test_the_demo_has_a_partner_receiving_donations(runner, db, client, auth):
    from csa.demo import DEMO_PASSWORD

    assert runner.invoke(args=["csa", "demo"]).exit_code == 0
    tafel = db.session.scalar(
        select(PartnerOrganisation).where(PartnerOrganisation.name == "Tafel am Markt")
    )
    assert tafel.takes_surplus
    assert db.session.scalars(
        select(DonationRoute).where(DonationRoute.partner_id == tafel.id)
    ).all()
    season = queries.shown_season(farm_today())
    totals = queries.season_totals(season)
    assert totals.milli
    assert all(q > 0 for q in totals.milli.values())
    # The past rounds count as settled: loading the demo mails no partner.
    assert settle_due() == 0
    auth.login("coordinator@demo.farm", DEMO_PASSWORD)
    page = client.get("/donations/").get_data(as_text=True)
    assert "Tafel am Markt" in page
    round_ = queries.season_rounds(season)[-1]
    assert client.get(f"/donations/rounds/{round_.id}").status_code == 200
    sheet = client.get(f"/donations/sheet/{round_.id}/{tafel.id}.pdf")
    assert "Tafel am Markt" in pdf_text(sheet.data)
    auth.logout()
    auth.login("member@demo.farm", DEMO_PASSWORD)
    page = client.get("/donations/season").get_data(as_text=True)
    assert "on hold, donated" in page


def test_an_offered_share_nobody_took_goes_to_the_partner_once(app, db, client, auth, world):
    """Another feature reports A's share donated (csa.community.donated): it joins B's on
    the sheet and in the totals with its own reason, and A's own page lists it."""
    from csa.community.donated import DonatedShare, add_donation_source

    a, b = world["a"], world["b"]
    # Both a source naming A and one naming B (donated on hold already): B counts once.
    add_donation_source(app, lambda r: [DonatedShare(a.id, "offered, not taken")])
    add_donation_source(app, lambda r: [DonatedShare(b.id, "offered, not taken")])
    partner = PartnerOrganisation(name="Tafel am Markt")
    db.session.add(partner)
    db.session.flush()
    db.session.add(DonationRoute(site_id=world["farm"].tuesday.id, partner_id=partner.id))
    assert lock_round(world["round"])
    db.session.commit()
    auth.login(world["users"]["coordinator"].email)
    text = pdf_text(client.get(f"/donations/sheet/{world['round'].id}/{partner.id}.pdf").data)
    assert "2 donated shares" in text
    assert "offered, not taken (1) · on hold, donated (1)" in text
    assert "Tomatoes 8 kg" in text
    assert "Pumpkins 4 pc" in text
    assert "Surplus of the round" not in text  # no partner takes it: the farm keeps it
    totals = queries.season_totals(world["farm"].season)
    assert totals.milli == {world["farm"].tomatoes.id: 8_000, world["farm"].pumpkins.id: 4_000}
    auth.logout()
    auth.login(world["users"]["a"].email)
    page = client.get("/donations/season").get_data(as_text=True)
    assert "offered, not taken" in page
    assert "May 4, 2027" in page


def test_the_pickup_list_says_who_collects_the_donated_shares(app, db, world):
    from csa.sheets.build import round_sheet_data

    partner = PartnerOrganisation(name="Tafel am Markt")
    db.session.add(partner)
    db.session.flush()
    db.session.add(
        DonationRoute(site_id=world["farm"].tuesday.id, partner_id=partner.id, note="at 19:30")
    )
    db.session.commit()
    sheets = round_sheet_data(world["round"])
    notes = sheets.site(world["farm"].tuesday.id).notes
    assert notes == ["Donated shares are collected by Tafel am Markt: at 19:30"]


def test_a_partner_routed_after_the_round_was_settled_is_mailed_by_hand_once(
    app, db, client, auth, world
):
    assert lock_round(world["round"])
    db.session.commit()
    finish_locked_rounds(JobReport())
    assert settle_due() == 0  # nobody to mail yet
    auth.login(world["users"]["coordinator"].email)
    client.post("/donations/partners/new", data=_partner_form(takes_surplus=None))
    partner = _partner(db)
    client.post("/donations/routes", data={"site": world["farm"].tuesday.id, "partner": partner.id})
    assert settle_due() == 0  # the round is settled: the job does not come back to it
    path = f"/donations/rounds/{world['round'].id}"
    assert "Mail the sheet to tafel@example.org now" in client.get(path).get_data(as_text=True)
    response = client.post(f"{path}/mail/{partner.id}")
    assert response.status_code == 303
    assert count(db, DonationNotice) == 1
    outbox = count(db, OutboxMessage)
    response = client.post(f"{path}/mail/{partner.id}", follow_redirects=True)
    assert "was mailed this sheet already" in response.get_data(as_text=True)
    assert count(db, DonationNotice) == 1
    assert count(db, OutboxMessage) == outbox


def test_a_new_route_after_the_lock_asks_for_the_pickup_lists_again(app, db, client, auth, world):
    from csa.models import SheetRefresh

    assert lock_round(world["round"])
    db.session.commit()
    finish_locked_rounds(JobReport())  # the sheets are made
    assert count(db, SheetRefresh) == 0
    auth.login(world["users"]["coordinator"].email)
    client.post("/donations/partners/new", data=_partner_form())
    assert count(db, SheetRefresh) == 0
    partner = _partner(db)
    client.post("/donations/routes", data={"site": world["farm"].tuesday.id, "partner": partner.id})
    assert db.session.scalar(select(SheetRefresh.round_id)) == world["round"].id
