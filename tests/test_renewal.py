"""Renewals into the next season and trial shares (csa/renewal/): the job invites, reminds and
expires, once; a pending invitation keeps its place; the member answers on its own page
(accept, change, decline, by the deadline); coordinators see every state; a trial ends in
the member's decision or, undecided, with the trial."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from csa.extensions import db as _db
from csa.jobs import run_due_jobs
from csa.models import (
    Membership,
    MembershipStatus,
    OutboxMessage,
    Renewal,
    RenewalState,
    Role,
    Season,
)
from csa.register import waiting
from csa.renewal import operations as svc
from csa.renewal import queries
from csa.rounds.lifecycle import farm_today
from tests.factories import add_member, make_farm
from tests.proof import changed_tables, fingerprint

INVITE_DAY = date(2027, 10, 5)  # 8 weeks before Season 2027's last day, 2027-11-30


def renewals() -> list[Renewal]:
    return list(_db.session.scalars(select(Renewal).order_by(Renewal.id)))


def outbox(like: str = "%") -> list[OutboxMessage]:
    return list(
        _db.session.scalars(
            select(OutboxMessage).where(OutboxMessage.key.like(like)).order_by(OutboxMessage.id)
        )
    )


@pytest.fixture
def farm(db: Any) -> Any:
    """Season 2027 with its next season 2028, a later one, and an inactive one between."""
    farm = make_farm()
    farm.next = Season(name="Season 2028", start=date(2028, 4, 1), end=date(2028, 11, 30))
    db.session.add_all(
        [
            farm.next,
            Season(name="Season 2029", start=date(2029, 4, 1), end=date(2029, 11, 30)),
            Season(name="Winter", start=date(2028, 1, 1), end=date(2028, 2, 1), active=False),
        ]
    )
    db.session.commit()
    return farm


def test_the_next_season_is_the_earliest_active_one_starting_after_the_end(farm: Any) -> None:
    assert queries.next_season(farm.season) == farm.next
    last = _db.session.scalar(select(Season).where(Season.name == "Season 2029"))
    assert queries.next_season(last) is None


def test_the_job_invites_running_memberships_once_with_a_deadline_and_a_mail(
    farm: Any, db: Any
) -> None:
    active = add_member(farm)
    paused = add_member(farm, status=MembershipStatus.PAUSED)
    add_member(farm, status=MembershipStatus.ENDED)
    add_member(farm, status=MembershipStatus.WAITING)
    staying = add_member(farm)
    db.session.add(
        Membership(
            member=staying.member,
            season=farm.next,
            share_type=farm.full,
            site=farm.tuesday,
            start=farm.next.start,
            end=farm.next.end,
        )
    )
    staying.member.locale = "pl"
    db.session.commit()

    assert svc.run(INVITE_DAY - timedelta(days=1)).invited == 0  # not yet
    report = svc.run(INVITE_DAY)
    db.session.commit()
    assert report.invited == 2
    got = renewals()
    assert [r.membership_id for r in got] == [active.id, paused.id]
    first = got[0]
    assert first.state == RenewalState.INVITED
    assert first.next_season_id == farm.next.id
    assert (first.share_type_id, first.shares, first.site_id) == (
        active.share_type_id,
        active.shares,
        active.site_id,
    )
    assert first.deadline == INVITE_DAY + timedelta(days=21)
    mails = outbox("renewal/%/invited")
    assert [m.to for m in mails] == [active.member.email, paused.member.email]
    assert "/renewal/" in mails[0].body
    assert "Season 2028" in mails[0].subject

    before = fingerprint()
    again = svc.run(INVITE_DAY)
    db.session.commit()
    assert (again.invited, again.reminded, again.expired) == (0, 0, 0)
    assert changed_tables(before, fingerprint()) == []  # twice changes nothing


def test_the_mail_is_in_the_households_language(farm: Any, db: Any) -> None:
    m = add_member(farm)
    m.member.locale = "pl"
    db.session.commit()
    svc.run(INVITE_DAY)
    db.session.commit()
    (mail,) = outbox("renewal/%")
    assert "Season 2028" in mail.subject
    assert "Your share" not in mail.subject  # Polish, not English


def test_the_deadline_is_never_after_the_next_season_starts(farm: Any, db: Any) -> None:
    farm.next.start = farm.season.end + timedelta(days=1)
    add_member(farm)
    db.session.commit()
    svc.run(farm.season.end - timedelta(days=5))
    (renewal,) = renewals()
    assert renewal.deadline == farm.next.start - timedelta(days=1)


def test_one_reminder_then_expiry_after_the_deadline(farm: Any, db: Any) -> None:
    silent = add_member(farm)
    answered = add_member(farm)
    db.session.commit()
    svc.run(INVITE_DAY)
    db.session.commit()
    deadline = renewals()[0].deadline
    svc.answer(renewals()[1], None, INVITE_DAY)
    db.session.commit()

    assert svc.run(deadline - timedelta(days=8)).reminded == 0
    assert svc.run(deadline - timedelta(days=7)).reminded == 1
    db.session.commit()
    assert svc.run(deadline - timedelta(days=3)).reminded == 0  # once
    assert [m.to for m in outbox("renewal/%/reminder")] == [silent.member.email]
    assert renewals()[0].reminded_at is not None

    assert svc.run(deadline).expired == 0  # the deadline day itself is still open
    assert svc.run(deadline + timedelta(days=1)).expired == 1
    db.session.commit()
    states = [r.state for r in renewals()]
    assert states == [RenewalState.EXPIRED, RenewalState.ACCEPTED]
    assert answered.member.memberships[0].season == farm.next
    before = fingerprint()
    svc.run(deadline + timedelta(days=2))
    db.session.commit()
    assert changed_tables(before, fingerprint()) == []


def test_a_pending_renewal_keeps_its_place_until_the_deadline(farm: Any, db: Any) -> None:
    site = farm.thursday  # capacity 3
    for _ in range(2):
        add_member(farm, site=site)
    db.session.commit()
    assert waiting.free_places(site, farm.next) == 3
    svc.run(INVITE_DAY)
    db.session.commit()
    assert waiting.free_places(site, farm.next) == 1  # two kept for their households
    deadline = renewals()[0].deadline
    svc.run(deadline + timedelta(days=1))
    db.session.commit()
    assert waiting.free_places(site, farm.next) == 3  # back to the waiting list


def test_the_scheduler_runs_the_renewal_job(app: Any, farm: Any, db: Any) -> None:
    add_member(farm)
    db.session.commit()
    app.config["RENEWAL_WEEKS_BEFORE_END"] = -(-(farm.season.end - farm_today()).days // 7)
    if farm_today() >= farm.next.start or farm_today() > farm.season.end:
        pytest.skip("the fixed seasons are in the past")
    report = run_due_jobs()
    assert "renewals invited: 1" in str(report)
    assert len(renewals()) == 1


def test_the_cli_command(runner: Any, farm: Any, db: Any) -> None:
    add_member(farm)
    db.session.commit()
    result = runner.invoke(args=["csa", "renewals", "--on", INVITE_DAY.isoformat()])
    assert result.exit_code == 0, result.output
    assert "renewals invited: 1" in result.output
    result = runner.invoke(args=["csa", "renewals", "--on", INVITE_DAY.isoformat()])
    assert "renewals invited: 0" in result.output


# --- the member's page (dates relative to the real farm day, as the views use it) -------


@pytest.fixture
def live(db: Any, make_user: Any) -> Any:
    """This season ends in 5 weeks, the next starts in 6: invitations are out today."""
    today = farm_today()
    farm = make_farm(today - timedelta(weeks=20), today + timedelta(weeks=5))
    farm.next = Season(
        name="Next season", start=today + timedelta(weeks=6), end=today + timedelta(weeks=30)
    )
    db.session.add(farm.next)
    farm.a = add_member(farm, name="Anna A", site=farm.thursday)
    farm.b = add_member(farm, name="Bruno B", site=farm.tuesday)
    db.session.commit()
    svc.run(today)
    db.session.commit()
    farm.user_a = make_user(Role.MEMBER, email="a@example.org", member=farm.a.member)
    farm.user_b = make_user(Role.MEMBER, email="b@example.org", member=farm.b.member)
    farm.today = today
    return farm


def renewal_of(membership: Membership) -> Renewal:
    _db.session.expire_all()
    return _db.session.scalar(select(Renewal).where(Renewal.membership_id == membership.id))


def next_membership(membership: Membership) -> Membership | None:
    _db.session.expire_all()
    return _db.session.scalar(
        select(Membership).where(
            Membership.member_id == membership.member_id,
            Membership.id != membership.id,
        )
    )


def test_my_share_links_to_the_next_season_page(live: Any, client: Any, auth: Any) -> None:
    auth.login("a@example.org")
    page = client.get("/share/").get_data(as_text=True)
    assert 'href="/renewal/"' in page
    page = client.get("/renewal/").get_data(as_text=True)
    assert "Next season" in page
    assert "Yes, renew as it is" in page


def test_accepting_creates_the_next_seasons_membership(live: Any, client: Any, auth: Any) -> None:
    auth.login("a@example.org")
    response = client.post("/renewal/accept", follow_redirects=True)
    assert response.status_code == 200
    assert "is confirmed" in response.get_data(as_text=True)
    renewal = renewal_of(live.a)
    assert renewal.state == RenewalState.ACCEPTED
    assert renewal.answered_at is not None
    created = next_membership(live.a)
    assert created is not None
    assert renewal.new_membership_id == created.id
    assert (created.season_id, created.share_type_id, created.site_id, created.shares) == (
        live.next.id,
        live.a.share_type_id,
        live.a.site_id,
        live.a.shares,
    )
    assert (created.start, created.end) == (live.next.start, live.next.end)


def test_changing_then_changing_again_edits_the_created_membership(
    live: Any, client: Any, auth: Any
) -> None:
    auth.login("a@example.org")
    form = {"share_type": live.half.id, "shares": 2, "site": live.thursday.id}
    response = client.post("/renewal/change", data=form, follow_redirects=True)
    assert "2 × Half at Town Hall" in response.get_data(as_text=True)
    renewal = renewal_of(live.a)
    assert renewal.state == RenewalState.CHANGED
    first = next_membership(live.a)
    assert first is not None
    assert (first.share_type_id, first.shares) == (live.half.id, 2)

    form = {"share_type": live.family.id, "shares": 1, "site": live.tuesday.id}
    client.post("/renewal/change", data=form)
    again = next_membership(live.a)
    assert again is not None
    assert again.id == first.id
    assert (again.share_type_id, again.site_id) == (live.family.id, live.tuesday.id)
    assert _db.session.scalar(select(func.count(Membership.id))) == 3

    client.post("/renewal/accept")  # back to the terms of this season
    assert renewal_of(live.a).state == RenewalState.ACCEPTED
    assert next_membership(live.a).share_type_id == live.a.share_type_id


def test_a_full_site_is_refused_next_to_the_field_and_nothing_written(
    live: Any, client: Any, auth: Any, db: Any
) -> None:
    live.thursday.capacity = 1  # Anna's own renewal holds the only place
    db.session.commit()
    auth.login("b@example.org")
    before = fingerprint()
    form = {"share_type": live.full.id, "shares": 1, "site": live.thursday.id}
    response = client.post("/renewal/change", data=form)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert 'id="site-error"' in page
    assert "has no free place" in page
    assert changed_tables(before, fingerprint()) == []

    # Her own site is kept for Anna even though it is full.
    client.post("/auth/logout")
    auth.login("a@example.org")
    form = {"share_type": live.half.id, "shares": 1, "site": live.thursday.id}
    assert client.post("/renewal/change", data=form).status_code == 302
    assert renewal_of(live.a).state == RenewalState.CHANGED


def test_a_bad_number_of_shares_is_refused(live: Any, client: Any, auth: Any) -> None:
    auth.login("a@example.org")
    before = fingerprint()
    form = {"share_type": live.full.id, "shares": 0, "site": live.thursday.id}
    response = client.post("/renewal/change", data=form)
    assert response.status_code == 400
    assert 'id="shares-error"' in response.get_data(as_text=True)
    assert changed_tables(before, fingerprint()) == []


def test_declining_with_a_reason_removes_an_earlier_yes(live: Any, client: Any, auth: Any) -> None:
    auth.login("a@example.org")
    client.post("/renewal/accept")
    assert next_membership(live.a) is not None
    response = client.post("/renewal/decline", data={"reason": "Moving away"})
    assert response.status_code == 302
    renewal = renewal_of(live.a)
    assert renewal.state == RenewalState.DECLINED
    assert renewal.decline_reason == "Moving away"
    assert next_membership(live.a) is None
    assert waiting.free_places(live.thursday, live.next) == live.thursday.capacity


def test_after_the_deadline_the_page_says_closed_and_answers_are_refused(
    live: Any, client: Any, auth: Any, db: Any
) -> None:
    renewal = renewal_of(live.a)
    renewal.deadline = live.today - timedelta(days=1)
    db.session.commit()
    svc.run(live.today)
    db.session.commit()
    auth.login("a@example.org")
    page = client.get("/renewal/").get_data(as_text=True)
    assert "Answers closed on" in page
    assert "Yes, renew as it is" not in page
    before = fingerprint()
    response = client.post("/renewal/accept")
    assert response.status_code == 400
    assert "closed" in response.get_data(as_text=True)
    assert changed_tables(before, fingerprint()) == []


def test_a_member_sees_and_answers_only_its_own_renewal(live: Any, client: Any, auth: Any) -> None:
    auth.login("b@example.org")
    page = client.get("/renewal/").get_data(as_text=True)
    assert "Old Mill" in page
    assert "Town Hall" not in page.split("renewal-title")[1].split("<details")[0]
    assert "Anna" not in page
    client.post("/renewal/accept")
    assert renewal_of(live.b).state == RenewalState.ACCEPTED
    assert renewal_of(live.a).state == RenewalState.INVITED
    assert client.get("/renewal/overview").status_code == 403


def test_coordinators_see_every_renewal_by_state(
    live: Any, client: Any, auth: Any, make_user: Any
) -> None:
    svc.decline(renewal_of(live.b), "Too far", live.today)
    _db.session.commit()
    make_user(Role.COORDINATOR, email="coord@example.org")
    auth.login("coord@example.org")
    page = client.get("/renewal/overview").get_data(as_text=True)
    assert "Anna A" in page
    assert "Bruno B" in page
    assert "Too far" in page
    assert 'href="/renewal/overview"' in client.get("/register/").get_data(as_text=True)
    declined = client.get("/renewal/overview?state=declined").get_data(as_text=True)
    assert "Bruno B" in declined
    assert "Anna A" not in declined
    assert client.get("/renewal/overview?state=nonsense").status_code == 200


# --- trial shares ---------------------------------------------------------------------------


@pytest.fixture
def trial(db: Any, make_user: Any) -> Any:
    today = farm_today()
    farm = make_farm(today - timedelta(weeks=4), today + timedelta(weeks=20))
    farm.m = add_member(farm, name="Tess Trial")
    farm.m.trial_end = today + timedelta(days=10)
    db.session.commit()
    make_user(Role.MEMBER, email="t@example.org", member=farm.m.member)
    farm.today = today
    return farm


def test_the_member_joins_the_season_after_the_trial(trial: Any, client: Any, auth: Any) -> None:
    auth.login("t@example.org")
    assert 'href="/renewal/"' in client.get("/share/").get_data(as_text=True)
    page = client.get("/renewal/").get_data(as_text=True)
    assert "Your trial ends on" in page
    assert client.post("/renewal/trial/join").status_code == 302
    _db.session.expire_all()
    assert trial.m.trial_end is None
    assert trial.m.end == trial.season.end
    assert client.post("/renewal/trial/join").status_code == 400  # decided already


def test_the_member_leaves_after_the_trial(trial: Any, client: Any, auth: Any) -> None:
    auth.login("t@example.org")
    assert client.post("/renewal/trial/leave").status_code == 302
    _db.session.expire_all()
    assert trial.m.end == trial.m.trial_end


def test_the_job_ends_an_undecided_trial_at_its_end_and_tells_the_member(
    trial: Any, db: Any
) -> None:
    trial_end = trial.m.trial_end
    assert svc.run(trial_end).trials_ended == 0  # its last day is still the trial
    assert svc.run(trial_end + timedelta(days=1)).trials_ended == 1
    db.session.commit()
    db.session.expire_all()
    assert trial.m.end == trial_end
    assert trial.m.status == MembershipStatus.ENDED
    # The household's address (no login has it) and the member's own login are both told
    # (csa/notices/recipients.py).
    assert sorted(m.to for m in outbox("trial/%")) == sorted(
        [trial.m.member.email, "t@example.org"]
    )
    before = fingerprint()
    svc.run(trial_end + timedelta(days=2))
    db.session.commit()
    assert changed_tables(before, fingerprint()) == []


def test_a_coordinator_sets_a_trial_in_the_register(
    trial: Any, client: Any, auth: Any, make_user: Any
) -> None:
    make_user(Role.COORDINATOR, email="coord@example.org")
    auth.login("coord@example.org")
    m = trial.m
    form = {
        "season": m.season_id,
        "share_type": m.share_type_id,
        "shares": 1,
        "site": m.site_id,
        "status": "active",
    }
    before = fingerprint()
    bad = client.post(
        f"/register/memberships/{m.id}/edit",
        data={**form, "trial_end": (m.end + timedelta(days=1)).isoformat()},
    )
    assert bad.status_code == 400
    assert 'id="trial_end-error"' in bad.get_data(as_text=True)
    assert changed_tables(before, fingerprint()) == []
    day = trial.today + timedelta(days=20)
    ok = client.post(
        f"/register/memberships/{m.id}/edit", data={**form, "trial_end": day.isoformat()}
    )
    assert ok.status_code == 302
    _db.session.expire_all()
    assert m.trial_end == day
    page = client.get(f"/register/members/{m.member_id}").get_data(as_text=True)
    assert "undecided" in page


def test_the_register_counts_the_places_kept_for_renewals(
    live: Any, client: Any, auth: Any, make_user: Any
) -> None:
    make_user(Role.COORDINATOR, email="coord@example.org")
    auth.login("coord@example.org")
    page = client.get(f"/register/?season={live.next.id}").get_data(as_text=True)
    assert page.count("1 kept for a renewal") == 2  # Anna's and Bruno's sites
    assert "1 / 3" in page  # Town Hall: Anna's place


def test_my_share_tells_a_trial_member_to_decide(trial: Any, client: Any, auth: Any) -> None:
    auth.login("t@example.org")
    page = client.get("/share/").get_data(as_text=True)
    assert "Your trial ends on" in page
    client.post("/renewal/trial/join")
    page = client.get("/share/").get_data(as_text=True)
    assert "Your trial ends on" not in page
    assert 'href="/renewal/"' not in page  # nothing left to decide


def test_a_household_signed_up_meanwhile_gets_a_clear_message(
    live: Any, client: Any, auth: Any, db: Any
) -> None:
    db.session.add(
        Membership(
            member=live.a.member,
            season=live.next,
            share_type=live.full,
            site=live.tuesday,
            start=live.next.start,
            end=live.next.end,
        )
    )
    db.session.commit()
    auth.login("a@example.org")
    before = fingerprint()
    response = client.post("/renewal/accept")
    assert response.status_code == 400
    assert "has a membership for Next season already" in response.get_data(as_text=True)
    assert changed_tables(before, fingerprint()) == []
