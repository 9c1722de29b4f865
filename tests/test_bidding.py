"""The bidding round end to end (csa/bidding/): the budget, opening a round, pledging on the
member's page, the coverage meter (never another household's amount), settling on the web,
by the CLI and by the scheduler at the deadline, single rounds carried over, latecomers."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from csa.bidding import operations as svc
from csa.extensions import db as _db
from csa.jobs import JobReport, close_bidding
from csa.models import (
    BiddingMode,
    BiddingRound,
    BiddingState,
    Membership,
    MembershipStatus,
    OutboxMessage,
    Pledge,
    PledgeResult,
    Role,
)
from csa.money.prices import reference_prices, season_prices
from csa.money.profile import farm_profile
from csa.rounds.lifecycle import farm_today
from tests.factories import add_member, make_farm
from tests.proof import changed_tables, fingerprint

BUDGET = 300_000  # three full shares: a reference price of 1,000.00 each


@pytest.fixture
def farm(db: Any, make_user: Any) -> Any:
    today = farm_today()
    farm = make_farm(today - timedelta(weeks=4), today + timedelta(weeks=20))
    farm.season.budget_cents = BUDGET
    farm.a = add_member(farm, name="Anna A", email="anna@example.org")
    farm.b = add_member(farm, name="Bert B", email="bert@example.org")
    farm.c = add_member(farm, name="Cleo C", email="cleo@example.org")
    farm_profile()  # the farm's billing profile exists, as after the first money page
    db.session.commit()
    farm.user_a = make_user(Role.MEMBER, email="anna@example.org", member=farm.a.member)
    farm.user_b = make_user(Role.MEMBER, email="bert@example.org", member=farm.b.member)
    farm.coordinator = make_user(Role.COORDINATOR)
    farm.today = today
    return farm


def open_range(farm: Any, days: int = 7) -> BiddingRound:
    round_ = svc.open_round(
        farm.season, BiddingMode.RANGE, farm.today + timedelta(days=days), None, farm.today
    )
    _db.session.commit()
    return round_


def put(farm: Any, round_: BiddingRound, membership: Membership, least: int, most: int) -> None:
    svc.pledge(round_, membership, least, most, "a reason", None, farm.today)
    _db.session.commit()


def mails(like: str) -> list[OutboxMessage]:
    return list(_db.session.scalars(select(OutboxMessage).where(OutboxMessage.key.like(like))))


def test_the_coordinator_sets_the_budget_and_opens_a_round(farm, client, auth):
    auth.login(farm.coordinator.email)
    page = client.get(f"/bidding/?season={farm.season.id}")
    assert page.status_code == 200
    assert b"Reference price of one share" in page.data
    assert b"1,000.00" in page.data  # a full share's reference: 3,000.00 / 3
    response = client.post("/bidding/budget", data={"season": farm.season.id, "budget": "3 600,50"})
    assert response.status_code == 302
    assert farm.season.budget_cents == 360_050
    deadline = (farm.today + timedelta(days=10)).isoformat()
    response = client.post(
        "/bidding/open", data={"season": farm.season.id, "mode": "range", "deadline": deadline}
    )
    assert response.status_code == 302
    round_ = _db.session.scalar(select(BiddingRound))
    assert (round_.number, round_.mode, round_.state) == (1, BiddingMode.RANGE, BiddingState.OPEN)
    # Every paying household is told, once per household and round.
    assert len(mails(f"bidding-opened/{round_.id}/%")) == 3
    # A second open round of the same season is refused, nothing written.
    before = fingerprint()
    again = client.post(
        "/bidding/open", data={"season": farm.season.id, "mode": "single", "deadline": deadline}
    )
    assert again.status_code == 400
    assert b"open already" in again.data
    assert changed_tables(before, fingerprint()) == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"budget": "-5"}, b"Enter an amount like 650,00."),
        ({"budget": "0"}, b"Enter an amount above zero."),
        ({"budget": "abc"}, b"Enter an amount like 650,00."),
        ({"budget": ""}, b"This field is required."),
        ({"budget": "99999999999"}, b"Enter an amount like 650,00."),
    ],
)
def test_a_bad_budget_writes_nothing(farm, client, auth, data, message):
    auth.login(farm.coordinator.email)
    before = fingerprint()
    response = client.post("/bidding/budget", data={"season": farm.season.id, **data})
    assert response.status_code == 400
    assert message in response.data
    assert changed_tables(before, fingerprint()) == []


def test_a_member_pledges_a_range_with_a_comma_and_sees_only_the_coverage(farm, client, auth):
    round_ = open_range(farm)
    put(farm, round_, farm.b, 77_713, 91_317)  # B's amounts: never on A's page
    auth.login(farm.user_a.email)
    page = client.get("/bidding/mine")
    assert page.status_code == 200
    assert b"1,000.00" in page.data  # A's reference price
    assert b"1 of 3 households has pledged" in page.data
    response = client.post(
        "/bidding/mine/pledge", data={"round": round_.id, "least": "900,50", "most": "1200.5"}
    )
    assert response.status_code == 302
    pledge = _db.session.scalar(select(Pledge).where(Pledge.membership_id == farm.a.id))
    assert (pledge.min_cents, pledge.max_cents) == (90_050, 120_050)
    page = client.get("/bidding/mine").data.decode()
    assert "2 of 3 households have pledged" in page
    assert "from €900.50 to €1,200.50" in page
    for amount in ("777.13", "913.17", "777,13", "913,17"):
        assert amount not in page
    # Changing it until the deadline: the same row, new amounts.
    client.post("/bidding/mine/pledge", data={"round": round_.id, "least": "950", "most": "1000"})
    assert _db.session.scalar(select(func.count(Pledge.id))) == 2
    _db.session.refresh(pledge)
    assert (pledge.min_cents, pledge.max_cents) == (95_000, 100_000)


def test_member_a_cannot_pledge_into_or_see_b(farm, client, auth):
    round_ = open_range(farm)
    svc.pledge(round_, farm.b, 50_000, 60_000, "Bert's private reason", None, farm.today)
    _db.session.commit()
    auth.login(farm.user_a.email)
    page = client.get("/bidding/mine").data
    assert b"Bert" not in page
    assert b"private reason" not in page
    assert client.get(f"/bidding/round/{round_.id}").status_code == 403
    assert client.get("/bidding/").status_code == 403
    # The hidden round field cannot point at another household: A's pledge is A's.
    client.post("/bidding/mine/pledge", data={"round": round_.id, "least": "990", "most": "1000"})
    b_pledge = _db.session.scalar(select(Pledge).where(Pledge.membership_id == farm.b.id))
    assert b_pledge.min_cents == 50_000


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"least": "-100", "most": "1000"}, b"Enter an amount like 650,00."),
        ({"least": "0", "most": "1000"}, b"Enter an amount above zero."),
        ({"least": "900", "most": "800"}, b"The most you can pay is at least the least."),
        ({"least": "900", "most": "10000,01"}, b"more than 10 times the reference price"),
        ({"least": "900", "most": "12,345"}, b"Enter an amount like 650,00."),
        ({"least": "100", "most": "1000"}, b"please tell us briefly why"),
        ({"least": "", "most": "1000"}, b"This field is required."),
    ],
)
def test_a_bad_pledge_writes_nothing(farm, client, auth, data, message):
    round_ = open_range(farm)
    auth.login(farm.user_a.email)
    before = fingerprint()
    response = client.post("/bidding/mine/pledge", data={"round": round_.id, **data})
    assert response.status_code == 400
    assert message in response.data
    assert changed_tables(before, fingerprint()) == []


def test_below_the_floor_with_a_reason_is_taken_and_shown_to_staff_only(farm, client, auth):
    round_ = open_range(farm)
    auth.login(farm.user_a.email)
    response = client.post(
        "/bidding/mine/pledge",
        data={"round": round_.id, "least": "300", "most": "500", "reason": "Lost my job"},
    )
    assert response.status_code == 302
    auth.logout()
    auth.login(farm.coordinator.email)
    page = client.get(f"/bidding/round/{round_.id}").data
    assert b"Lost my job" in page
    assert b"Anna A" in page


def test_a_member_without_a_household_or_a_round_is_told(farm, client, auth, make_user):
    admin = make_user(Role.ADMIN)
    auth.login(admin.email)
    page = client.get("/bidding/mine")
    assert page.status_code == 200
    assert b"Your login has no household" in page.data
    response = client.post("/bidding/mine/pledge", data={"round": "1", "amount": "5"})
    assert response.status_code == 400
    auth.logout()
    auth.login(farm.user_a.email)
    assert b"There is no bidding round for your share now" in client.get("/bidding/mine").data


def test_settling_on_the_web_fixes_every_price_and_tells_the_households(farm, client, auth):
    round_ = open_range(farm)
    put(farm, round_, farm.a, 80_000, 120_000)
    put(farm, round_, farm.b, 90_000, 130_000)
    # C does not pledge: pays its reference, 1,000.00. A and B share 2,000.00 over Σmin
    # 1,700.00 and Σmax 2,500.00: λ = 300/800 = 3/8.
    auth.login(farm.coordinator.email)
    page = client.get(f"/bidding/round/{round_.id}").data.decode()
    assert "λ = 3/8" in page
    response = client.post(f"/bidding/round/{round_.id}/settle", data={})
    assert response.status_code == 302
    _db.session.expire_all()
    round_ = _db.session.get(BiddingRound, round_.id)
    assert round_.state == BiddingState.SETTLED
    assert (round_.lambda_num, round_.lambda_den) == ("3", "8")
    assert round_.settled_by_id == farm.coordinator.id
    assert round_.shortfall_cents == 0
    prices = {m.id: m.price_cents for m in _db.session.scalars(select(Membership))}
    assert prices == {farm.a.id: 95_000, farm.b.id: 105_000, farm.c.id: 100_000}
    assert sum(prices.values()) == BUDGET
    results = list(_db.session.scalars(select(PledgeResult)))
    assert len(results) == 3
    assert {r.membership_id for r in results if not r.pledged} == {farm.c.id}
    assert len(mails(f"bidding-settled/{round_.id}/%")) == 3
    assert "950.00" in mails(f"bidding-settled/{round_.id}/{farm.a.member_id}")[0].body
    audit = client.get(f"/bidding/round/{round_.id}").data.decode()
    assert "3/8" in audit
    assert "€950.00" in audit
    assert "settle" not in audit.split("audit")[1].split("table")[0].lower()  # read-only
    # Settled: the budget stays, no round opens, a second settle writes nothing.
    before = fingerprint()
    assert client.post(f"/bidding/round/{round_.id}/settle", data={}).status_code == 400
    assert (
        client.post("/bidding/budget", data={"season": farm.season.id, "budget": "10"}).status_code
        == 400
    )
    assert changed_tables(before, fingerprint()) == []
    auth.logout()
    auth.login(farm.user_a.email)
    assert b"Your season price is \xe2\x82\xac950.00" in client.get("/bidding/mine").data


def test_a_shortfall_settles_only_when_confirmed(farm, client, auth):
    round_ = open_range(farm)
    put(farm, round_, farm.a, 60_000, 70_000)
    put(farm, round_, farm.b, 60_000, 70_000)
    put(farm, round_, farm.c, 60_000, 70_000)
    auth.login(farm.coordinator.email)
    page = client.get(f"/bidding/round/{round_.id}").data
    assert b"900.00 short of the budget" in page
    before = fingerprint()
    refused = client.post(f"/bidding/round/{round_.id}/settle", data={})
    assert refused.status_code == 400
    assert b"tick the box to settle anyway" in refused.data
    assert changed_tables(before, fingerprint()) == []
    assert (
        client.post(f"/bidding/round/{round_.id}/settle", data={"confirm": "y"}).status_code == 302
    )
    _db.session.expire_all()
    round_ = _db.session.get(BiddingRound, round_.id)
    assert round_.shortfall_cents == 90_000
    assert round_.lam == 1
    assert {m.price_cents for m in _db.session.scalars(select(Membership))} == {70_000}


def test_close_and_cancel(farm, client, auth):
    round_ = open_range(farm)
    auth.login(farm.coordinator.email)
    assert client.post(f"/bidding/round/{round_.id}/close").status_code == 302
    assert _db.session.get(BiddingRound, round_.id).state == BiddingState.CLOSED
    auth.logout()
    auth.login(farm.user_a.email)
    refused = client.post(
        "/bidding/mine/pledge", data={"round": round_.id, "least": "990", "most": "1000"}
    )
    assert refused.status_code == 400
    assert b"no longer takes pledges" in refused.data
    auth.logout()
    auth.login(farm.coordinator.email)
    assert client.post(f"/bidding/round/{round_.id}/cancel").status_code == 302
    _db.session.expire_all()
    assert _db.session.get(BiddingRound, round_.id).state == BiddingState.CANCELLED
    assert client.post(f"/bidding/round/{round_.id}/cancel").status_code == 400


def test_a_single_round_short_opens_another_with_the_pledges_carried_over(farm, client, auth):
    round_ = svc.open_round(
        farm.season, BiddingMode.SINGLE, farm.today + timedelta(days=3), None, farm.today
    )
    _db.session.commit()
    put(farm, round_, farm.a, 80_000, 80_000)
    svc.pledge(round_, farm.b, 50_000, 50_000, "Tight year", None, farm.today)
    _db.session.commit()
    auth.login(farm.coordinator.email)
    client.post(f"/bidding/round/{round_.id}/close")
    page = client.get(f"/bidding/?season={farm.season.id}").data
    assert b"Open the next bidding round" in page
    deadline = (farm.today + timedelta(days=9)).isoformat()
    response = client.post(
        "/bidding/open", data={"season": farm.season.id, "mode": "single", "deadline": deadline}
    )
    assert response.status_code == 302
    second = _db.session.scalar(select(BiddingRound).where(BiddingRound.number == 2))
    carried = {p.membership_id: p for p in svc.pledges_of(second).values()}
    assert {k: p.max_cents for k, p in carried.items()} == {farm.a.id: 80_000, farm.b.id: 50_000}
    assert carried[farm.b.id].reason == "Tight year"
    assert all(p.carried for p in carried.values())
    # The first round stays closed, for the record, and can no longer be settled.
    assert _db.session.get(BiddingRound, round_.id).state == BiddingState.CLOSED
    assert client.post(f"/bidding/round/{round_.id}/settle", data={}).status_code == 400
    auth.logout()
    auth.login(farm.user_a.email)
    page = client.get("/bidding/mine").data
    assert b"from the round before" in page
    client.post("/bidding/mine/pledge", data={"round": second.id, "amount": "1 100"})
    # Covered now: 1,100 + 500 + C's reference 1,000 < 3,000? no: 2,600, still short.
    figures = svc.figures(second)
    assert figures.coverage.reach == 260_000
    assert not figures.coverage.covered


def _past_deadline(farm: Any) -> datetime:
    """A moment on the farm's day after a deadline a week ahead (noon, UTC)."""
    return datetime.combine(farm.today + timedelta(days=9), time(12))


def test_the_job_settles_a_covered_range_round_at_its_deadline_once(farm):
    round_ = open_range(farm)
    put(farm, round_, farm.a, 80_000, 150_000)
    put(farm, round_, farm.b, 80_000, 150_000)
    now = _past_deadline(farm)
    before_deadline = datetime.combine(farm.today + timedelta(days=7), time(12))
    report = JobReport()
    close_bidding(before_deadline, report)  # the deadline day still takes pledges
    assert _db.session.get(BiddingRound, round_.id).state == BiddingState.OPEN
    close_bidding(now, report)
    assert "closed: 1, settled: 1" in report.bidding
    _db.session.expire_all()
    settled = _db.session.get(BiddingRound, round_.id)
    assert settled.state == BiddingState.SETTLED
    assert settled.settled_by_id is None
    assert sum(season_prices(farm.season).values()) == BUDGET
    assert len(mails(f"bidding-settled/{round_.id}/%")) == 3
    before = fingerprint()
    again = JobReport()
    close_bidding(now, again)
    assert "closed: 0, settled: 0" in again.bidding
    assert changed_tables(before, fingerprint()) == []


def test_the_job_leaves_a_short_range_round_to_the_coordinator(farm):
    round_ = open_range(farm)
    put(farm, round_, farm.a, 10_000, 20_000)
    report = JobReport()
    close_bidding(_past_deadline(farm), report)
    assert "waiting for a coordinator: 1" in report.bidding
    _db.session.expire_all()
    assert _db.session.get(BiddingRound, round_.id).state == BiddingState.CLOSED
    assert _db.session.scalar(select(func.count(PledgeResult.id))) == 0


def test_cli_opens_and_settles(farm, runner):
    bad = [
        ["bidding", "open", "No such season", "--mode", "range", "--deadline", "2030-01-01"],
        ["bidding", "open", farm.season.name, "--mode", "range", "--deadline", "tomorrow"],
        ["bidding", "open", farm.season.name, "--mode", "auction", "--deadline", "2030-01-01"],
        ["bidding", "open", farm.season.name, "--mode", "range", "--deadline", "2001-01-01"],
        ["bidding", "settle", farm.season.name],  # no round yet
    ]
    before = fingerprint()
    for args in bad:
        result = runner.invoke(args=["csa", *args])
        assert result.exit_code != 0, args
    assert changed_tables(before, fingerprint()) == []
    deadline = (farm.today + timedelta(days=5)).isoformat()
    result = runner.invoke(
        args=["csa", "bidding", "open", farm.season.name.upper(), "--mode", "range",
              "--deadline", deadline]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Opened bidding round 1" in result.output
    round_ = _db.session.scalar(select(BiddingRound))
    put(farm, round_, farm.a, 10_000, 20_000)
    before = fingerprint()
    short = runner.invoke(args=["csa", "bidding", "settle", farm.season.name])
    assert short.exit_code != 0
    assert "short of the budget" in short.output
    assert changed_tables(before, fingerprint()) == []
    result = runner.invoke(
        args=["csa", "bidding", "settle", farm.season.name, "--accept-shortfall"]
    )
    assert result.exit_code == 0, result.output
    assert "shortfall 800.00" in result.output
    _db.session.expire_all()
    assert _db.session.get(Membership, farm.a.id).price_cents == 20_000


def test_latecomers_pay_the_reference_for_the_rounds_left(farm):
    round_ = open_range(farm)
    put(farm, round_, farm.a, 90_000, 110_000)
    svc.settle(round_, None, datetime.combine(farm.today, time(12)))
    _db.session.commit()
    late = add_member(farm, name="Lena Late")
    dates = [
        d
        for d in (farm.season.start + timedelta(days=n) for n in range(400))
        if d <= farm.season.end and d.weekday() == 1
    ]
    late.start = dates[len(dates) // 2]
    _db.session.commit()
    prices = season_prices(farm.season)
    left = sum(1 for d in dates if d >= late.start)
    assert prices[late.id] == (2 * 100_000 * left + len(dates)) // (2 * len(dates))
    farm_profile().latecomer_pro_rata = False
    _db.session.commit()
    assert season_prices(farm.season)[late.id] == 100_000
    # The settled ones keep their price.
    assert prices[farm.a.id] == _db.session.get(Membership, farm.a.id).price_cents


def test_a_waiting_membership_does_not_pledge(farm):
    round_ = open_range(farm)
    waiting = add_member(farm, status=MembershipStatus.WAITING)
    _db.session.commit()
    with pytest.raises(svc.ValidationFailed):
        svc.pledge(round_, waiting, 100_000, 100_000, "", None, farm.today)
    assert waiting.id not in reference_prices(farm.season)


def test_in_the_proof_world_a_never_sees_b_s_pledge(app, db, make_user):
    from tests.proof import B_MARKERS, Browser, build_world

    world = build_world(make_user)
    app.config["WTF_CSRF_ENABLED"] = True
    browser = Browser(app)
    browser.login(world.emails["member_a"])
    page = browser.get("/bidding/mine").data.decode()
    # A, B, Carl (paused) and the offers' neighbour hold memberships; A and B pledged.
    assert "2 of 4 households have pledged" in page
    assert "from €900.00 to €1,200.00" in page  # A's own
    for leak in ("1,337.77", "1337.77", "1,999.99", "1999.99", B_MARKERS[1]):
        assert leak not in page
    assert browser.get(f"/bidding/round/{world.ids['bidding_round_id']}").status_code == 403
    staff = Browser(app)
    staff.login(world.emails["coordinator"])
    page = staff.get(f"/bidding/round/{world.ids['bidding_round_id']}").data.decode()
    assert B_MARKERS[1] in page
    assert "€1,337.77" in page
    member_b = Browser(app)
    member_b.login(world.emails["member_b"])
    page = member_b.get("/bidding/mine").data.decode()
    assert "from €1,337.77 to €1,999.99" in page
    assert "€900.00" not in page


def test_the_demo_has_a_settled_range_round(app, db):
    from csa.bidding.demo import load_demo_bidding
    from csa.demo import SEASON_NAME, load_demo
    from csa.models import Season

    summary = load_demo()  # the demo loads the money parts in order (csa/demo.py)
    _db.session.commit()
    assert "bidding: round settled" in summary
    season = _db.session.scalar(select(Season).where(Season.name == SEASON_NAME))
    memberships = list(_db.session.scalars(select(Membership).where(Membership.season == season)))
    round_ = _db.session.scalar(select(BiddingRound).where(BiddingRound.season_id == season.id))
    assert round_.state == BiddingState.SETTLED
    assert round_.mode == BiddingMode.RANGE
    pledges = svc.pledges_of(round_)
    results = list(_db.session.scalars(select(PledgeResult)))
    assert any(p.reason for p in pledges.values())
    assert any(not r.pledged for r in results)
    assert len(pledges) > len(results) / 2
    total = sum(r.price_cents for r in results)
    assert total == season.budget_cents - round_.shortfall_cents + round_.surplus_cents
    before = fingerprint()
    assert "already" in load_demo_bidding(farm_today(), season, memberships)
    assert changed_tables(before, fingerprint()) == []


def test_each_reader_gets_the_price_in_its_own_language(farm):
    farm.a.member.locale = "pl"
    _db.session.commit()
    round_ = open_range(farm)
    put(farm, round_, farm.a, 80_000, 120_000)
    put(farm, round_, farm.b, 90_000, 130_000)
    svc.settle(round_, None, datetime.combine(farm.today, time(12)))
    _db.session.commit()
    polish = mails(f"bidding-settled/{round_.id}/{farm.a.member_id}")[0].body
    english = mails(f"bidding-settled/{round_.id}/{farm.b.member_id}")[0].body
    assert "950,00" in polish
    assert "€1,050.00" in english
