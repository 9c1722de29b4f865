"""The member register: list, filters, memberships, members, invitations.

The farm setup (seasons, share types, sites, crops) is tested in tests/test_setup.py, the
staff logins an admin manages in tests/test_users.py.
"""

from __future__ import annotations

import re
from datetime import date

import pytest
from sqlalchemy import func, select

from csa.models import (
    Member,
    Membership,
    MembershipStatus,
    OutboxMessage,
    OutboxState,
    Role,
    Season,
    User,
)
from tests.factories import add_member, make_farm
from tests.smtp import SmtpServer


@pytest.fixture
def farm(db):
    farm = make_farm()
    db.session.commit()
    return farm


@pytest.fixture
def coordinator(client, auth, make_user):
    user = make_user(Role.COORDINATOR)
    auth.login(user.email)
    return user


@pytest.fixture
def admin(client, auth, make_user):
    user = make_user(Role.ADMIN)
    auth.login(user.email)
    return user


def count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def member_names(html: str) -> list[str]:
    """The member names in the register table, in order."""
    return re.findall(r'<a href="/register/members/\d+">([^<]+)</a>', html)


# --- who may use the register ------------------------------------------------------------


def _register_urls(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("register."):
            url = re.sub(r"<int:\w+>", "1", rule.rule)
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                yield method, url


@pytest.mark.parametrize("role", [Role.MEMBER, Role.FARMER])
def test_members_and_farmers_get_403_on_every_register_page(
    app, client, auth, make_user, db, farm, role
):
    membership = add_member(farm)
    db.session.commit()
    user = make_user(role, member=membership.member if role == Role.MEMBER else None)
    auth.login(user.email)
    urls = list(_register_urls(app))
    # The setup and user pages moved (tests/test_setup.py, tests/test_users.py walk them);
    # their old addresses here redirect and are walked too.
    assert len(urls) > 25
    for method, url in urls:
        response = client.open(url, method=method)
        assert response.status_code == 403, f"{method} {url}"
    assert db.session.get(Membership, membership.id).status == MembershipStatus.ACTIVE


def test_state_changes_are_post_only(client, coordinator, farm, db):
    membership = add_member(farm)
    db.session.commit()
    assert client.get(f"/register/memberships/{membership.id}/end").status_code == 405
    assert membership.status == MembershipStatus.ACTIVE


# --- the list ----------------------------------------------------------------------------


def test_list_opens_on_the_latest_active_season_with_counts(client, coordinator, farm, db):
    old = Season(name="Season 2026", start=date(2026, 5, 1), end=date(2026, 11, 30))
    later_inactive = Season(
        name="Season 2028", start=date(2028, 5, 1), end=date(2028, 11, 30), active=False
    )
    db.session.add_all([old, later_inactive])
    add_member(farm, name="Anna Nowak", site=farm.thursday)
    add_member(farm, name="Piotr Zieliński", site=farm.thursday, share_type=farm.half, shares=2)
    add_member(farm, name="Ewa Kowal", site=farm.thursday, status=MembershipStatus.PAUSED)
    add_member(farm, name="Jan Waiting", site=farm.thursday, status=MembershipStatus.WAITING)
    add_member(farm, name="Olga Ended", status=MembershipStatus.ENDED)
    past = add_member(farm, name="Zofia Past")
    past.season, past.start, past.end = old, old.start, old.end
    db.session.commit()

    response = client.get("/register/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Season 2027" in html
    names = member_names(html)
    assert names == ["Anna Nowak", "Ewa Kowal", "Jan Waiting", "Olga Ended", "Piotr Zieliński"]
    # Town Hall (capacity 3): active + paused = 3 places, full; one waiting.
    town = re.search(r'<div class="stat full">\s*Town Hall.*?</div>', html, re.S)
    assert town is not None
    assert "<b>3 / 3</b>" in town.group(0)
    assert "1 waiting" in town.group(0)
    assert re.search(r"Old Mill.*?<b>0 / 40</b>", html, re.S)
    assert re.search(r"Half.*?<b>1 membership</b>\s*<small>2 shares</small>", html, re.S)
    assert re.search(r"Full.*?<b>2 memberships</b>\s*<small>2 shares</small>", html, re.S)

    every = client.get("/register/?season=all").get_data(as_text=True)
    assert "Zofia Past" in member_names(every)
    older = client.get(f"/register/?season={old.id}").get_data(as_text=True)
    assert member_names(older) == ["Zofia Past"]


def test_search_by_name_or_email(client, coordinator, farm, db):
    add_member(farm, name="Anna Nowak", email="anna@example.org")
    add_member(farm, name="Piotr Zieliński", email="piotr@farm.example")
    add_member(farm, name="Ewa 100% Kowal", email="ewa@example.org")
    db.session.commit()
    assert member_names(client.get("/register/?q=nowak").get_data(as_text=True)) == ["Anna Nowak"]
    by_mail = client.get("/register/?q=FARM.EXAMPLE").get_data(as_text=True)
    assert member_names(by_mail) == ["Piotr Zieliński"]
    # % is searched for literally, not as a wildcard.
    literal = client.get("/register/?q=100%25").get_data(as_text=True)
    assert member_names(literal) == ["Ewa 100% Kowal"]
    assert member_names(client.get("/register/?q=nobody").get_data(as_text=True)) == []


def test_search_folds_polish_letters(client, coordinator, farm, db):
    add_member(farm, name="Łukasz Wójcik", email="lukasz@example.org")
    add_member(farm, name="Anna Nowak", email="anna@example.org")
    db.session.commit()
    for q in ("łukasz", "ŁUKASZ", "wójcik", "WÓJCIK", "łukasz wójcik"):
        html = client.get("/register/", query_string={"q": q}).get_data(as_text=True)
        assert member_names(html) == ["Łukasz Wójcik"], q


def test_filters_by_site_share_type_and_status(client, coordinator, farm, db):
    add_member(farm, name="Anna Tue Full")
    add_member(farm, name="Bea Thu Half", site=farm.thursday, share_type=farm.half)
    add_member(farm, name="Cyl Thu Full Paused", site=farm.thursday, status=MembershipStatus.PAUSED)
    db.session.commit()
    by_site = client.get(f"/register/?site={farm.thursday.id}").get_data(as_text=True)
    assert member_names(by_site) == ["Bea Thu Half", "Cyl Thu Full Paused"]
    by_type = client.get(f"/register/?share_type={farm.half.id}").get_data(as_text=True)
    assert member_names(by_type) == ["Bea Thu Half"]
    by_status = client.get("/register/?status=paused").get_data(as_text=True)
    assert member_names(by_status) == ["Cyl Thu Full Paused"]
    both = client.get(f"/register/?site={farm.thursday.id}&status=active").get_data(as_text=True)
    assert member_names(both) == ["Bea Thu Half"]


def test_list_is_paginated_by_100(client, coordinator, farm, db):
    for i in range(105):
        add_member(farm, name=f"Member {i:03d}")
    db.session.commit()
    first = client.get("/register/").get_data(as_text=True)
    assert len(member_names(first)) == 100
    assert "105 memberships found" in first
    assert "Page 1 of 2" in first
    second = client.get(f"/register/?page=2&season={farm.season.id}").get_data(as_text=True)
    assert member_names(second) == [f"Member {i:03d}" for i in range(100, 105)]


# --- memberships -------------------------------------------------------------------------


def _membership_form(farm, **extra):
    data = {
        "season": farm.season.id,
        "share_type": farm.half.id,
        "shares": "2",
        "site": farm.thursday.id,
        "start": "",
        "end": "",
        "status": "active",
    }
    data.update(extra)
    return data


def test_create_membership_for_a_new_member(client, coordinator, farm, db):
    response = client.post(
        "/register/memberships/new",
        data=_membership_form(farm, name="Anna Nowak", email=" Anna@Example.ORG ", phone="600"),
    )
    assert response.status_code == 302
    member = db.session.scalar(select(Member).where(Member.email == "anna@example.org"))
    assert member is not None
    assert response.headers["Location"] == f"/register/members/{member.id}"
    assert (member.name, member.phone) == ("Anna Nowak", "600")
    (membership,) = member.memberships
    assert membership.share_type_id == farm.half.id
    assert membership.site_id == farm.thursday.id
    assert membership.shares == 2
    assert (membership.start, membership.end) == (farm.season.start, farm.season.end)
    assert membership.status == MembershipStatus.ACTIVE


def test_create_membership_reuses_the_member_with_that_email(client, coordinator, farm, db):
    existing = add_member(farm, name="Anna Nowak", email="anna@example.org").member
    next_season = Season(name="Season 2028", start=date(2028, 5, 1), end=date(2028, 11, 30))
    db.session.add(next_season)
    db.session.commit()
    response = client.post(
        "/register/memberships/new",
        data=_membership_form(
            farm, season=next_season.id, name="Someone Else", email="ANNA@example.org"
        ),
    )
    assert response.status_code == 302
    assert count(db, Member) == 1
    db.session.refresh(existing)
    assert existing.name == "Anna Nowak"
    assert sorted(m.season.name for m in existing.memberships) == ["Season 2027", "Season 2028"]


def test_create_membership_for_an_existing_member_from_its_page(client, coordinator, farm, db):
    member = Member(name="Anna Nowak", email="anna@example.org")
    db.session.add(member)
    db.session.commit()
    assert client.get(f"/register/memberships/new?member={member.id}").status_code == 200
    response = client.post(
        f"/register/memberships/new?member={member.id}",
        data=_membership_form(farm, start="2027-06-01", end="2027-09-30"),
    )
    assert response.status_code == 302
    assert response.headers["Location"] == f"/register/members/{member.id}"
    (membership,) = db.session.get(Member, member.id).memberships
    assert (membership.start, membership.end) == (date(2027, 6, 1), date(2027, 9, 30))


def test_create_membership_outside_the_season_is_refused(client, coordinator, farm, db):
    response = client.post(
        "/register/memberships/new",
        data=_membership_form(farm, name="Anna", email="anna@example.org", start="2027-04-01"),
    )
    assert response.status_code == 400
    assert "The dates must lie within the season Season 2027" in response.get_data(as_text=True)
    assert count(db, Member) == 0
    assert count(db, Membership) == 0


def test_second_membership_in_one_season_is_refused(client, coordinator, farm, db):
    membership = add_member(farm, name="Anna Nowak")
    db.session.commit()
    response = client.post(
        f"/register/memberships/new?member={membership.member_id}", data=_membership_form(farm)
    )
    assert response.status_code == 400
    assert "Anna Nowak has a membership for Season 2027 already." in response.get_data(as_text=True)
    assert count(db, Membership) == 1


def test_edit_membership(client, coordinator, farm, db):
    membership = add_member(farm)
    db.session.commit()
    assert client.get(f"/register/memberships/{membership.id}/edit").status_code == 200
    response = client.post(
        f"/register/memberships/{membership.id}/edit",
        data=_membership_form(farm, shares="3", start="2027-07-01", end="2027-11-30"),
    )
    assert response.status_code == 302
    assert response.headers["Location"] == f"/register/members/{membership.member_id}"
    db.session.refresh(membership)
    assert (membership.shares, membership.share_type_id) == (3, farm.half.id)
    assert membership.site_id == farm.thursday.id
    assert membership.start == date(2027, 7, 1)


def test_edit_membership_with_end_before_start_is_refused(client, coordinator, farm, db):
    membership = add_member(farm)
    db.session.commit()
    response = client.post(
        f"/register/memberships/{membership.id}/edit",
        data=_membership_form(farm, start="2027-08-01", end="2027-07-01"),
    )
    assert response.status_code == 400
    assert "The end date is before the start date." in response.get_data(as_text=True)
    db.session.refresh(membership)
    assert membership.start == farm.season.start
    assert membership.shares == 1


def test_pause_resume_and_end(client, coordinator, farm, db):
    membership = add_member(farm)
    db.session.commit()
    member_page = f"/register/members/{membership.member_id}"
    response = client.post(f"/register/memberships/{membership.id}/pause")
    assert (response.status_code, response.headers["Location"]) == (302, member_page)
    db.session.refresh(membership)
    assert membership.status == MembershipStatus.PAUSED

    client.post(f"/register/memberships/{membership.id}/resume")
    db.session.refresh(membership)
    assert membership.status == MembershipStatus.ACTIVE

    response = client.post(f"/register/memberships/{membership.id}/end")
    assert response.headers["Location"] == member_page
    db.session.refresh(membership)
    assert membership.status == MembershipStatus.ENDED
    assert (membership.start, membership.end) == (farm.season.start, farm.season.end)

    response = client.post(f"/register/memberships/{membership.id}/pause", follow_redirects=True)
    assert "Only an active membership can be paused." in response.get_data(as_text=True)
    db.session.refresh(membership)
    assert membership.status == MembershipStatus.ENDED


def test_end_button_asks_for_confirmation(client, coordinator, farm, db):
    membership = add_member(farm)
    db.session.commit()
    html = client.get(f"/register/members/{membership.member_id}").get_data(as_text=True)
    assert f'action="/register/memberships/{membership.id}/end"' in html
    # static/confirm.js asks: the Content-Security-Policy runs no inline onsubmit code.
    assert 'data-confirm="End this membership?' in html


# --- members -----------------------------------------------------------------------------


def _member_form(**extra):
    data = {
        "name": "Anna Nowak-Kowalska",
        "email": "Anna.Nowak@Example.org",
        "phone": "+48 600 100 200",
        "address": "Polna 7",
        "notes": "Gluten-free household",
        "locale": "pl",
    }
    data.update(extra)
    return data


def test_member_page_lists_memberships_over_seasons(client, coordinator, farm, db):
    membership = add_member(farm, name="Anna Nowak")
    old = Season(name="Season 2026", start=date(2026, 5, 1), end=date(2026, 11, 30))
    db.session.add(old)
    db.session.add(
        Membership(
            member=membership.member,
            season=old,
            share_type=farm.full,
            site=farm.tuesday,
            start=old.start,
            end=old.end,
            status=MembershipStatus.ENDED,
        )
    )
    db.session.commit()
    response = client.get(f"/register/members/{membership.member_id}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.index("Season 2027") < html.index("Season 2026")


def test_edit_member_fields(client, coordinator, farm, db, make_user):
    membership = add_member(farm, email="anna@example.org")
    user = make_user(Role.MEMBER, email="anna@example.org", member=membership.member)
    response = client.post(f"/register/members/{membership.member_id}", data=_member_form())
    assert response.status_code == 302
    assert response.headers["Location"] == f"/register/members/{membership.member_id}"
    member = db.session.get(Member, membership.member_id)
    db.session.refresh(member)
    assert member.name == "Anna Nowak-Kowalska"
    assert member.email == "anna.nowak@example.org"
    assert (member.phone, member.address, member.locale) == ("+48 600 100 200", "Polna 7", "pl")
    assert member.notes == "Gluten-free household"
    # The login follows the new address, so the member still signs in with it.
    db.session.refresh(user)
    assert user.email == "anna.nowak@example.org"


def test_a_login_with_its_own_email_keeps_it(client, coordinator, farm, db, make_user):
    membership = add_member(farm, email="anna@example.org")
    user = make_user(Role.MEMBER, email="anna.login@example.org", member=membership.member)
    response = client.post(
        f"/register/members/{membership.member_id}", data=_member_form(email="anna@example.org")
    )
    assert response.status_code == 302
    db.session.refresh(user)
    assert user.email == "anna.login@example.org"
    response = client.post(
        f"/register/members/{membership.member_id}", data=_member_form(email="anna2@example.org")
    )
    db.session.refresh(user)
    assert user.email == "anna.login@example.org"
    assert db.session.get(Member, membership.member_id).email == "anna2@example.org"


def test_edit_member_refuses_an_email_of_another_member(client, coordinator, farm, db):
    first = add_member(farm, email="anna@example.org").member
    add_member(farm, email="piotr@example.org")
    db.session.commit()
    response = client.post(
        f"/register/members/{first.id}", data=_member_form(email="PIOTR@example.org")
    )
    assert response.status_code == 400
    assert "Another member has the e-mail piotr@example.org." in response.get_data(as_text=True)
    db.session.refresh(first)
    assert (first.email, first.phone) == ("anna@example.org", "")


def test_edit_member_refuses_a_bad_email(client, coordinator, farm, db):
    member = add_member(farm, email="anna@example.org").member
    db.session.commit()
    response = client.post(f"/register/members/{member.id}", data=_member_form(email="anna@"))
    assert response.status_code == 400
    assert "anna@ is not an e-mail address." in response.get_data(as_text=True)
    db.session.refresh(member)
    assert member.email == "anna@example.org"


def _link(html: str) -> str:
    match = re.search(r'<pre class="link" id="invite-link">([^<]+)</pre>', html)
    assert match, html
    return match.group(1)


def test_invite_creates_the_login_and_shows_the_link(client, coordinator, farm, db):
    member = add_member(farm, name="Anna Nowak", email="anna@example.org").member
    db.session.commit()
    response = client.post(f"/register/members/{member.id}/invite")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    link = _link(html)
    assert link.startswith("http://localhost/auth/set-password/")
    assert "No mail server is set up" in html
    assert "it works once and for 7 days." in html
    user = db.session.scalar(select(User).where(User.email == "anna@example.org"))
    assert (user.role, user.member_id, user.password_hash) == (Role.MEMBER, member.id, "")
    assert count(db, OutboxMessage) == 0
    # The link works: it leads to the set-password form.
    client.post("/auth/logout")
    assert client.get(link.removeprefix("http://localhost")).status_code == 200


def test_coordinator_cannot_get_a_link_for_a_staff_login(client, coordinator, farm, db, make_user):
    admin = make_user(Role.ADMIN, email="boss@example.org")
    member = add_member(farm, email="boss@example.org").member
    db.session.commit()
    response = client.post(f"/register/members/{member.id}/invite", follow_redirects=True)
    html = response.get_data(as_text=True)
    assert "boss@example.org is a staff login; only an admin can give it a new link." in html
    assert "/auth/set-password/" not in html
    db.session.refresh(admin)
    assert (admin.member_id, admin.role) == (None, Role.ADMIN)


def test_invite_refuses_a_deactivated_login(client, coordinator, farm, db, make_user):
    member = add_member(farm, email="anna@example.org").member
    user = make_user(Role.MEMBER, email="anna@example.org", member=member)
    user.active = False
    db.session.commit()
    response = client.post(f"/register/members/{member.id}/invite")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/register/members/{member.id}"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "The login anna@example.org is deactivated; reactivate it first." in page


@pytest.fixture
def smtp(app):
    server = SmtpServer()
    server.start()
    server.configure(app)
    yield server
    server.stop()


def test_invite_is_also_mailed_when_a_mail_server_is_set(client, coordinator, farm, db, smtp):
    member = add_member(farm, name="Anna Nowak", email="anna@example.org").member
    db.session.commit()
    response = client.post(f"/register/members/{member.id}/invite")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    link = _link(html)
    assert "The link was also e-mailed to anna@example.org." in html
    user = db.session.scalar(select(User).where(User.email == "anna@example.org"))
    row = db.session.scalar(select(OutboxMessage))
    assert row.key.startswith(f"invite/{user.id}/")
    assert (row.to, row.transport, row.state) == ("anna@example.org", "smtp", OutboxState.SENT)
    assert link not in row.body
    (msg,) = smtp.handler.parsed()
    assert msg["To"] == "anna@example.org"
    assert link in msg.get_content()


def test_invite_still_shows_the_link_when_mail_fails(client, coordinator, farm, db, smtp):
    smtp.stop()
    member = add_member(farm, email="anna@example.org").member
    db.session.commit()
    response = client.post(f"/register/members/{member.id}/invite")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "/auth/set-password/" in _link(html)
    assert "The e-mail could not be sent yet" in html
    assert "it will be tried again" in html
    # Nothing is lost: the message waits in the outbox for the scheduler's next try.
    row = db.session.scalar(select(OutboxMessage))
    assert (row.state, row.attempts) == (OutboxState.QUEUED, 0)
    assert "refused" in row.last_error.lower()
    assert db.session.scalar(select(User).where(User.email == "anna@example.org")) is not None


# --- site capacity -------------------------------------------------------------------------


def test_a_full_site_refuses_an_active_membership_but_offers_the_waiting_list(
    client, coordinator, farm, db
):
    for _ in range(farm.thursday.capacity):
        add_member(farm, site=farm.thursday)
    db.session.commit()
    before = count(db, Membership)
    response = client.post(
        "/register/memberships/new",
        data=_membership_form(farm, name="Late Comer", email="late@example.org"),
    )
    assert response.status_code in (200, 400)
    assert b"is full" in response.data
    assert b"waiting list" in response.data
    assert count(db, Membership) == before
    response = client.post(
        "/register/memberships/new",
        data=_membership_form(farm, name="Late Comer", email="late@example.org", status="waiting"),
    )
    assert response.status_code == 302
    late = db.session.scalar(select(Member).where(Member.email == "late@example.org"))
    assert late.memberships[0].status == MembershipStatus.WAITING


def test_a_paused_membership_keeps_its_place(client, coordinator, farm, db):
    members = [add_member(farm, site=farm.thursday) for _ in range(farm.thursday.capacity)]
    members[0].status = MembershipStatus.PAUSED
    db.session.commit()
    response = client.post(
        "/register/memberships/new",
        data=_membership_form(farm, name="Late Comer", email="late@example.org"),
    )
    assert b"is full" in response.data
