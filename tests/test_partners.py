"""Share partners end to end through the web: the coordinator links two households, they
take turns over the real calendar, swap a round, and the pickup list, My share and the
calendar feeds name who collects; nobody else sees any of it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from csa.extensions import db as _db
from csa.jobs import JobReport, refresh_sheets
from csa.models import (
    HarvestEntry,
    Hold,
    HoldMode,
    Member,
    PartnerPattern,
    PartnerPlanEntry,
    PartnerSetting,
    PartnerSwap,
    PartnerSwapState,
    Role,
    Round,
    SharePartner,
)
from csa.rounds.lifecycle import cancel_round, farm_today, lock_round
from csa.sheets.build import render_round_sheets, round_sheet_data
from tests.factories import add_member, make_farm
from tests.proof import changed_tables, fingerprint
from tests.test_sheets import text_of


def _next_tuesday(day):
    day = day + timedelta(days=1)
    return day + timedelta(days=(1 - day.weekday()) % 7)


@pytest.fixture
def world(app, db, make_user):
    """Anna's membership at Old Mill, six coming Tuesday rounds, Piotr as a household of the
    register, Bea with a membership of her own, and a login for each."""
    today = farm_today()
    farm = make_farm(today - timedelta(days=14), today + timedelta(weeks=20))
    anna = add_member(farm, name="Anna <b>Nowak</b>", email="anna@example.org")
    bea = add_member(farm, name="Bea Other", email="bea@example.org")
    piotr = Member(name="Piotr & Co", email="piotr@example.org")
    db.session.add(piotr)
    first = _next_tuesday(today)
    rounds = [Round(date=first + timedelta(weeks=w)) for w in range(6)]
    db.session.add_all(rounds)
    db.session.flush()
    db.session.add_all(
        HarvestEntry(round_id=r.id, crop_id=farm.tomatoes.id, quantity_milli=9_000) for r in rounds
    )
    db.session.commit()
    users = {
        "anna": make_user(Role.MEMBER, email="anna@example.org", member=anna.member),
        "piotr": make_user(Role.MEMBER, email="piotr@example.org", member=piotr),
        "bea": make_user(Role.MEMBER, email="bea@example.org", member=bea.member),
        "coordinator": make_user(Role.COORDINATOR),
    }
    return farm, anna, bea, piotr, rounds, users


def _as(client, auth, user):
    auth.logout()
    auth.login(user.email)


def _link(client, auth, world):
    farm, anna, bea, piotr, rounds, users = world
    _as(client, auth, users["coordinator"])
    response = client.post("/partners/add", data={"membership": anna.id, "member": piotr.id})
    assert response.status_code == 302
    return client.get("/partners/").get_data(as_text=True)


def _collectors(rounds):
    """Who collects each round as Old Mill's pickup list prints it (the row's Notes cell)."""
    out = []
    for r in rounds:
        _db.session.expire_all()
        sheets = round_sheet_data(r)
        site = next(s for s in sheets.sites if s.name == "Old Mill")
        notes = [row.notes for row in site.rows if "Collects:" in row.notes]
        assert len(notes) <= 1
        out.append(notes[0].removeprefix("Collects: ") if notes else None)
    return out


def test_the_coordinator_links_a_household_and_they_take_turns(app, client, auth, world):
    farm, anna, bea, piotr, rounds, users = world
    page = _link(client, auth, world)
    assert "Piotr &amp; Co" in page
    assert "Anna &lt;b&gt;Nowak&lt;/b&gt;" in page
    assert "<b>Nowak</b>" not in page  # escaped
    partner = _db.session.scalar(select(SharePartner))
    assert (partner.membership_id, partner.member_id) == (anna.id, piotr.id)
    anna_name, piotr_name = anna.member.name, piotr.name
    assert _collectors(rounds) == [anna_name, piotr_name] * 3

    # A cancelled round and a hold take nobody's turn: the next round takes it.
    cancel_round(rounds[1], "hail", None)
    _db.session.add(Hold(membership_id=anna.id, round_date=rounds[3].date, mode=HoldMode.DONATE))
    _db.session.commit()
    assert _collectors(rounds) == [anna_name, None, piotr_name, None, anna_name, piotr_name]

    # My share asks for the rounds it shows only: the turns still count from the first.
    from csa.partners.views import round_notes

    with app.test_request_context():
        notes = round_notes(anna, [rounds[2], rounds[4]])
    assert [n.text for n in notes[rounds[2].id]] == [f"Collects: {piotr_name}"]
    assert [n.text for n in notes[rounds[4].id]] == [f"Collects: {anna_name}"]

    # The partner household sees it on its own page, and only there.
    _as(client, auth, users["piotr"])
    mine = client.get("/partners/mine").get_data(as_text=True)
    assert "The share of Anna &lt;b&gt;Nowak&lt;/b&gt;" in mine
    assert "Nobody: the round is cancelled." in mine
    assert "Nobody: the share is on hold." in mine
    # Its calendar feed holds the rounds it collects.
    feed = client.get(f"/calendar/feed/{piotr.calendar_token}.ics").get_data(as_text=True)
    assert feed.count("BEGIN:VEVENT") == 2
    assert "You collect the share of Anna <b>Nowak</b>" in feed.replace("\r\n ", "")

    # The membership's household: My share and its feed say who collects.
    _as(client, auth, users["anna"])
    share = client.get("/share/").get_data(as_text=True)
    assert "Collects: Piotr &amp; Co" in share
    feed = client.get(f"/calendar/feed/{anna.member.calendar_token}.ics").get_data(as_text=True)
    assert "Collects: Piotr & Co" in feed.replace("\r\n ", "").replace("\\,", ",")


def test_a_swap_changes_who_collects_on_the_pickup_list(client, auth, world, db):
    farm, anna, bea, piotr, rounds, users = world
    _link(client, auth, world)
    assert lock_round(rounds[0])
    render_round_sheets(rounds[0])
    db.session.commit()
    # Anna collects rounds 0, 2; Piotr 1, 3. Anna offers round 0 for Piotr's round 1.
    _as(client, auth, users["anna"])
    response = client.post(
        f"/partners/mine/{anna.id}/swap",
        data={"round": rounds[0].id, "partner": piotr.id, "other_round": rounds[1].id},
    )
    assert response.status_code == 302
    swap = db.session.scalar(select(PartnerSwap))
    assert swap.state == PartnerSwapState.PROPOSED
    assert _collectors(rounds[:2]) == [anna.member.name, piotr.name]  # not yet accepted

    # Anna cannot answer her own offer; Piotr accepts.
    before = fingerprint()
    client.post(f"/partners/swaps/{swap.id}/answer", data={"accept": "1"})
    assert changed_tables(before, fingerprint()) == []
    _as(client, auth, users["piotr"])
    page = client.post(f"/partners/swaps/{swap.id}/answer", data={"accept": "1"},
                       follow_redirects=True).get_data(as_text=True)  # fmt: skip
    assert "Swap accepted" in page
    db.session.expire_all()
    assert db.session.get(PartnerSwap, swap.id).state == PartnerSwapState.ACCEPTED
    assert _collectors(rounds[:3]) == [piotr.name, anna.member.name, anna.member.name]
    # The locked round's sheets are made again by the refresh job.
    from csa.models import SheetRefresh

    assert db.session.scalar(select(SheetRefresh.round_id)) == rounds[0].id
    report = JobReport()
    refresh_sheets(report)
    assert report.notes == ["sheets made again: 1"]
    # The printed list, as the coordinator downloads it, names the new collector.
    _as(client, auth, users["coordinator"])
    pdf = client.get(f"/sheets/{rounds[0].date.isoformat()}/pickup/{farm.tuesday.id}.pdf")
    assert pdf.status_code == 200
    printed = " ".join(text_of(pdf.data))
    pdf.close()
    assert f"Collects: {piotr.name}" in printed


def test_a_plan_names_who_collects(client, auth, world, db):
    farm, anna, bea, piotr, rounds, users = world
    _link(client, auth, world)
    _as(client, auth, users["piotr"])
    client.post(f"/partners/mine/{anna.id}/pattern", data={"pattern": "plan"})
    assert db.session.get(PartnerSetting, anna.id).pattern == PartnerPattern.PLAN
    plan = f"/partners/mine/{anna.id}/plan"
    client.post(plan, data={"round": rounds[0].id, "household": piotr.id})
    assert _collectors(rounds[:3]) == [piotr.name, piotr.name, anna.member.name]
    client.post(f"/partners/mine/{anna.id}/plan", data={"round": rounds[0].id, "household": ""})
    assert db.session.scalars(select(PartnerPlanEntry)).all() == []
    assert _collectors(rounds[:2]) == [anna.member.name, piotr.name]


@pytest.mark.parametrize("who", ["bea", "coordinator"])
def test_nobody_else_sees_the_partners(client, auth, world, db, who):
    """Bea's household (unrelated) and a member of another share get 404, not the names."""
    farm, anna, bea, piotr, rounds, users = world
    _link(client, auth, world)
    _as(client, auth, users[who])
    if who == "coordinator":
        assert client.get("/partners/mine").status_code == 403
        return
    page = client.get("/partners/mine").get_data(as_text=True)
    assert "Piotr" not in page
    assert "Nowak" not in page
    before = fingerprint()
    for path, data in [
        (f"/partners/mine/{anna.id}/pattern", {"pattern": "plan"}),
        (f"/partners/mine/{anna.id}/plan", {"round": rounds[0].id, "household": bea.member_id}),
        (f"/partners/mine/{anna.id}/swap", {"round": rounds[0].id, "partner": piotr.id}),
    ]:
        assert client.post(path, data=data).status_code == 404
    assert changed_tables(before, fingerprint()) == []


def test_member_a_cannot_see_member_bs_partners(client, auth, world, db):
    """Two shares, each with its partner: Anna's household gets 404 on Bea's."""
    farm, anna, bea, piotr, rounds, users = world
    _link(client, auth, world)
    zofia = Member(name="Zofia Secret", email="zofia@example.org")
    db.session.add(zofia)
    db.session.commit()
    client.post("/partners/add", data={"membership": bea.id, "member": zofia.id})
    _as(client, auth, users["bea"])
    bea_page = client.get("/partners/mine").get_data(as_text=True)
    assert "Zofia Secret" in bea_page
    client.post(f"/partners/mine/{bea.id}/swap", data={"round": rounds[0].id, "partner": zofia.id},
                follow_redirects=True)  # fmt: skip
    swap = db.session.scalar(select(PartnerSwap).where(PartnerSwap.membership_id == bea.id))
    assert swap is not None
    _as(client, auth, users["anna"])
    page = client.get("/partners/mine").get_data(as_text=True)
    assert "Zofia" not in page
    assert "Bea Other" not in page
    before = fingerprint()
    pattern = f"/partners/mine/{bea.id}/pattern"
    assert client.post(pattern, data={"pattern": "plan"}).status_code == 404
    assert client.post(f"/partners/swaps/{swap.id}/answer", data={"accept": "1"}).status_code == 404
    assert changed_tables(before, fingerprint()) == []


@pytest.mark.parametrize(
    "data",
    [
        {"round": "x", "partner": "1"},
        {"round": "99999999999999999999", "partner": "1"},
        {"partner": "1"},
        {"round": "1", "partner": "-5"},
        {"round": "1", "partner": "1", "other_round": "<script>"},
    ],
)
def test_a_bad_swap_says_why_and_writes_nothing(client, auth, world, db, data):
    farm, anna, bea, piotr, rounds, users = world
    _link(client, auth, world)
    _as(client, auth, users["anna"])
    before = fingerprint()
    page = client.post(f"/partners/mine/{anna.id}/swap", data=data, follow_redirects=True)
    assert page.status_code == 200
    assert 'class="flash flash-error' in page.get_data(as_text=True)
    assert changed_tables(before, fingerprint()) == []


def test_bad_input_to_the_coordinator_writes_nothing(client, auth, world, db):
    farm, anna, bea, piotr, rounds, users = world
    _as(client, auth, users["coordinator"])
    before = fingerprint()
    for data in [
        {"membership": anna.id, "member": anna.member_id},  # its own household
        {"membership": "abc", "member": piotr.id},
        {"membership": 999999, "member": piotr.id},
        {"membership": anna.id},
    ]:
        page = client.post("/partners/add", data=data, follow_redirects=True).get_data(as_text=True)
        assert "flash-error" in page, data
    assert changed_tables(before, fingerprint()) == []
    # Twice the same household: the second is refused.
    _link(client, auth, world)
    before = fingerprint()
    page = client.post("/partners/add", data={"membership": anna.id, "member": piotr.id},
                       follow_redirects=True).get_data(as_text=True)  # fmt: skip
    assert "already shares this membership" in page
    assert changed_tables(before, fingerprint()) == []


def test_a_swap_of_a_round_one_does_not_collect_is_refused(client, auth, world, db):
    farm, anna, bea, piotr, rounds, users = world
    _link(client, auth, world)
    _as(client, auth, users["anna"])
    before = fingerprint()
    page = client.post(f"/partners/mine/{anna.id}/swap",
                       data={"round": rounds[1].id, "partner": piotr.id},
                       follow_redirects=True).get_data(as_text=True)  # fmt: skip
    assert "You do not collect the round" in page
    assert changed_tables(before, fingerprint()) == []


def test_removing_a_partner_withdraws_its_swaps(client, auth, world, db):
    farm, anna, bea, piotr, rounds, users = world
    _link(client, auth, world)
    _as(client, auth, users["piotr"])
    swap = f"/partners/mine/{anna.id}/swap"
    client.post(swap, data={"round": rounds[1].id, "partner": anna.member_id})
    _as(client, auth, users["coordinator"])
    partner = db.session.scalar(select(SharePartner))
    client.post(f"/partners/{partner.id}/remove")
    db.session.expire_all()
    assert db.session.scalars(select(SharePartner)).all() == []
    assert db.session.scalar(select(PartnerSwap)).state == PartnerSwapState.WITHDRAWN
    assert _collectors(rounds[:2]) == [None, None]


def test_the_demo_has_a_shared_membership_taking_turns(runner, client, auth, db):
    from csa.demo import DEMO_PASSWORD
    from csa.partners import queries

    result = runner.invoke(args=["csa", "demo"])
    assert result.exit_code == 0, result.output
    partner = db.session.scalar(select(SharePartner))
    sharing = queries.sharing_of(partner.membership)
    held = [line for line in queries.schedule(sharing).lines if line.collector]
    names = {line.collector for line in held}
    assert names == {partner.membership.member_id, partner.member_id}
    swaps = db.session.scalars(select(PartnerSwap)).all()
    assert sorted(s.state for s in swaps) == [PartnerSwapState.ACCEPTED, PartnerSwapState.PROPOSED]
    auth.login("neighbour@demo.farm", DEMO_PASSWORD)
    page = client.get("/partners/mine").get_data(as_text=True)
    assert "Ola i Marek Sąsiedzi" in page
    assert "swapped" in page
    auth.logout()
    auth.login("member@demo.farm", DEMO_PASSWORD)
    page = client.get("/partners/mine").get_data(as_text=True)
    assert 'name="accept"' in page  # the neighbour's offer waits for the demo member


def test_the_households_are_told_by_mail(client, auth, world, db, app):
    """Linked, offered, answered: each a message through the outbox, delivered by SMTP."""
    from csa.notices.outbox import deliver
    from tests.smtp import SmtpServer

    farm, anna, bea, piotr, rounds, users = world
    server = SmtpServer()
    server.start()
    server.configure(app)
    try:
        _link(client, auth, world)
        _as(client, auth, users["anna"])
        client.post(
            f"/partners/mine/{anna.id}/swap", data={"round": rounds[0].id, "partner": piotr.id}
        )
        swap = db.session.scalar(select(PartnerSwap))
        _as(client, auth, users["piotr"])
        client.post(f"/partners/swaps/{swap.id}/answer", data={"decline": "1"})
        client.post(f"/partners/swaps/{swap.id}/answer", data={"decline": "1"})  # twice: once
        report = deliver()
        assert report.sent == 3
        got = {(m["To"], m["Subject"]) for m in server.handler.parsed()}
        assert got == {
            ("piotr@example.org", "You share a membership with Anna <b>Nowak</b>"),
            ("piotr@example.org", "Anna <b>Nowak</b> offers you a swap of rounds"),
            ("anna@example.org", "Piotr & Co declined your swap"),
        }
        bodies = " ".join(m.get_content() for m in server.handler.parsed())
        assert "/partners/mine" in bodies
    finally:
        server.stop()


def test_the_household_invites_a_partner_by_email(client, auth, world, db):
    farm, anna, bea, piotr, rounds, users = world
    _as(client, auth, users["anna"])
    page = client.get("/partners/mine").get_data(as_text=True)
    assert f'action="/partners/mine/{anna.id}/invite"' in page
    before = fingerprint()
    for email in ("nobody@example.org", "not an address", "anna@example.org", ""):
        answer = client.post(f"/partners/mine/{anna.id}/invite", data={"email": email},
                             follow_redirects=True).get_data(as_text=True)  # fmt: skip
        assert "flash-error" in answer, email
    assert changed_tables(before, fingerprint()) == []
    # Another household's membership: 404, whatever the address.
    assert client.post(f"/partners/mine/{bea.id}/invite", data={"email": "piotr@example.org"}
                       ).status_code == 404  # fmt: skip
    answer = client.post(f"/partners/mine/{anna.id}/invite", data={"email": " PIOTR@example.org"},
                         follow_redirects=True).get_data(as_text=True)  # fmt: skip
    assert "Piotr &amp; Co now shares your membership" in answer
    assert db.session.scalar(select(SharePartner.member_id)) == piotr.id
    # The partner household cannot invite others into Anna's share.
    _as(client, auth, users["piotr"])
    assert client.post(f"/partners/mine/{anna.id}/invite", data={"email": "bea@example.org"}
                       ).status_code == 404  # fmt: skip


def test_the_household_download_holds_its_shares_and_swaps(client, auth, world, db):
    import csv
    import io
    import zipfile

    farm, anna, bea, piotr, rounds, users = world
    _link(client, auth, world)
    _as(client, auth, users["piotr"])
    client.post(
        f"/partners/mine/{anna.id}/swap", data={"round": rounds[1].id, "partner": anna.member_id}
    )
    response = client.post("/privacy/download")
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
        shares = archive.read("share_partners.csv").decode()
        swaps = archive.read("partner_swaps.csv").decode()
    [share] = list(csv.DictReader(io.StringIO(shares)))
    assert share["partner_household_id"] == str(piotr.id)
    [swap] = list(csv.DictReader(io.StringIO(swaps)))
    assert swap["round"] == rounds[1].date.isoformat()
    assert swap["state"] == "proposed"
    assert "Nowak" not in shares + swaps  # the other household's name is not Piotr's data


def test_a_moved_round_keeps_its_plan_and_nobody_else_changes(client, auth, world, db):
    """Not odd and even weeks: moving a round a day keeps every turn, its plan goes along."""
    from csa.rounds.lifecycle import move_round

    farm, anna, bea, piotr, rounds, users = world
    _link(client, auth, world)
    _as(client, auth, users["piotr"])
    client.post(f"/partners/mine/{anna.id}/pattern", data={"pattern": "plan"})
    client.post(
        f"/partners/mine/{anna.id}/plan", data={"round": rounds[2].id, "household": piotr.id}
    )
    before = _collectors(rounds)
    assert before == [anna.member.name, piotr.name, piotr.name, piotr.name, anna.member.name,
                      piotr.name]  # fmt: skip
    move_round(rounds[2], rounds[2].date + timedelta(days=1), None)
    db.session.commit()
    assert _collectors(rounds) == before
