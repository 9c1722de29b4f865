"""Sign-up without a login (issue 11): the public page, double opt-in, the bot defences,
the same answer for every address, the coordinators' decision and automatic approval."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from csa.models import (
    ContractTerms,
    LoginThrottle,
    Member,
    Membership,
    MembershipStatus,
    OutboxMessage,
    Role,
    SignupRequest,
    SignupState,
    User,
)
from csa.notices import mail
from csa.signup import operations as ops
from tests.conftest import PASSWORD
from tests.factories import add_member, make_farm
from tests.proof import fingerprint

LINK = re.compile(r"http://localhost(/join/confirm/[\w\-]+)")
INVITE = re.compile(r"http://localhost(/auth/set-password/[\w.\-]+)")


@pytest.fixture
def farm(app, db, make_user):
    """A farm whose season is open for sign-up, with contract terms (two versions)."""
    app.config["SIGNUP_MIN_FILL_SECONDS"] = 0
    farm = make_farm(date_start(), date_start() + timedelta(weeks=30))
    farm.season.signup_open = True
    coordinator = make_user(Role.COORDINATOR, email="coord@example.org")
    ops.save_terms("Pay before the season starts.", coordinator)
    ops.save_terms("Pay before the season starts.\n\nCollect your share every week.", coordinator)
    db.session.commit()
    farm.coordinator = coordinator
    return farm


def date_start():
    from csa.rounds.lifecycle import farm_today

    return farm_today() - timedelta(weeks=2)


def form(client, **changes):
    """The join form as a browser fills it: the fields and the hidden ones from the page."""
    page = client.get("/join/").get_data(as_text=True)
    stamp = re.search(r'name="stamp" type="hidden" value="([^"]+)"', page)
    terms = re.search(r'name="terms_version" type="hidden" value="([^"]*)"', page)
    assert stamp, page[:2000]
    assert terms, page[:2000]
    data = {
        "name": "Nina Newcomer",
        "email": "nina@example.org",
        "phone": "+48 600 000 001",
        "address": "Field Road 3",
        "locale": "pl",
        "shares": "1",
        "accept_terms": "y",
        "accept_privacy": "y",
        "stamp": stamp.group(1),
        "terms_version": terms.group(1),
        "website": "",
    }
    data.update(changes)
    return data


def choose(farm, data, site=None):
    data.setdefault("season", str(farm.season.id))
    data.setdefault("share_type", str(farm.half.id))
    data.setdefault("site", str((site or farm.tuesday).id))
    return data


def submit(client, farm, site=None, **changes):
    response = client.post("/join/", data=choose(farm, form(client, **changes), site))
    response.close()  # the server closes the response once sent: the request is recorded then
    return response


def outbox(db, prefix):
    return list(
        db.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.key.startswith(prefix))
            .order_by(OutboxMessage.id)
        )
    )


def link_in(row, pattern=LINK):
    """The link a mail carries: stored sealed only, never in the readable body."""
    assert row.sealed is not None
    assert "/join/confirm/" not in row.body
    assert "/auth/set-password/" not in row.body
    match = pattern.search(mail.unseal(row.sealed))
    assert match, mail.unseal(row.sealed)
    return match.group(1)


def count(db, model):
    return db.session.scalar(select(func.count()).select_from(model))


CHECK_YOUR_MAIL = "Check your mail"


# --- the public page -----------------------------------------------------------------------


def test_the_join_page_shows_the_offer_without_a_login(client, farm, db):
    page = client.get("/join/").get_data(as_text=True)
    assert "Season" in page
    assert farm.season.name in page
    assert "€650.00" in page  # the half share's price, in the farm's currency
    assert "Old Mill" in page
    assert "Tuesday" in page
    assert "4:00" in page
    assert ">40<" in page  # free places at Old Mill
    assert "Collect your share every week." in page  # the newest terms
    assert "Leave this field empty" in page  # the honeypot, labelled for screen readers
    assert 'href="/join/privacy"' in page
    login = client.get("/auth/login").get_data(as_text=True)
    assert 'href="/join/"' in login


def test_no_open_season_no_form(client, app, db):
    make_farm()
    db.session.commit()
    page = client.get("/join/").get_data(as_text=True)
    assert "No season is open for sign-up" in page
    assert 'name="email"' not in page


def test_the_setup_form_opens_a_season_for_sign_up(client, auth, db, make_user):
    farm = make_farm()
    db.session.commit()
    user = make_user(Role.COORDINATOR)
    auth.login(user.email)
    response = client.post(
        f"/setup/seasons/{farm.season.id}/edit",
        data={
            "name": "Season 2027",
            "start": "2027-05-01",
            "end": "2027-11-30",
            "signup_open": "y",
        },
    )
    assert response.status_code == 302
    db.session.refresh(farm.season)
    assert farm.season.signup_open


# --- the whole flow --------------------------------------------------------------------------


def test_submit_confirm_approve_makes_a_membership_a_login_and_an_invitation(
    client, auth, farm, db
):
    response = submit(client, farm)
    assert response.status_code == 200
    assert CHECK_YOUR_MAIL in response.get_data(as_text=True)
    request = db.session.scalar(select(SignupRequest))
    assert request.state == SignupState.UNCONFIRMED
    assert request.token_hash
    assert len(request.token_hash) == 64
    terms = db.session.scalar(select(ContractTerms).where(ContractTerms.version == 2))
    assert request.terms_id == terms.id
    assert request.terms_accepted_at is not None
    (confirm_mail,) = outbox(db, "signup/confirm/")
    assert confirm_mail.to == "nina@example.org"
    assert "Dzień dobry, Nina Newcomer!" in confirm_mail.body  # the language chosen
    path = link_in(confirm_mail)
    token = path.rsplit("/", 1)[1]
    assert request.token_hash == ops.hash_token(token)
    assert token not in request.token_hash

    # Unconfirmed: no coordinator sees it.
    auth.login(farm.coordinator.email)
    assert "Nina Newcomer" not in client.get("/signup/requests").get_data(as_text=True)
    auth.logout()

    # The link's GET changes nothing; its POST confirms.
    before = fingerprint()
    page = client.get(path)
    assert page.status_code == 200
    assert b"Confirm my sign-up" in page.data
    assert fingerprint() == before
    confirmed = client.post(path)
    assert confirmed.status_code == 200
    db.session.refresh(request)
    assert request.state == SignupState.CONFIRMED
    assert request.token_hash is None
    assert request.confirmed_at is not None
    assert outbox(db, "signup/confirmed/")

    auth.login(farm.coordinator.email)
    listed = client.get("/signup/requests").get_data(as_text=True)
    assert "Nina Newcomer" in listed
    assert f"/signup/requests/{request.id}/approve" in listed
    approved = client.post(f"/signup/requests/{request.id}/approve", follow_redirects=True)
    assert approved.status_code == 200
    assert "is approved" in approved.get_data(as_text=True)
    db.session.refresh(request)
    assert request.state == SignupState.APPROVED
    assert request.decided_by_id == farm.coordinator.id
    member = db.session.get(Member, request.member_id)
    assert member.email == "nina@example.org"
    assert member.locale == "pl"
    membership = db.session.get(Membership, request.membership_id)
    assert membership.status == MembershipStatus.ACTIVE
    assert membership.site_id == farm.tuesday.id
    assert membership.share_type_id == farm.half.id
    assert membership.terms_id == terms.id
    assert membership.terms_accepted_at == request.terms_accepted_at
    user = db.session.scalar(select(User).where(User.email == "nina@example.org"))
    assert user.member_id == member.id
    assert user.role == Role.MEMBER
    assert not user.password_hash
    register_page = client.get(f"/register/members/{member.id}").get_data(as_text=True)
    assert "Contract terms version 2 accepted" in register_page
    (invite,) = outbox(db, f"invite/{user.id}/")
    set_password = link_in(invite, INVITE)
    (welcome,) = outbox(db, f"signup/approved/{request.id}")
    assert "Old Mill" in welcome.body
    auth.logout()

    # Approving twice makes one household.
    auth.login(farm.coordinator.email)
    again = client.post(f"/signup/requests/{request.id}/approve", follow_redirects=True)
    assert "decided already" in again.get_data(as_text=True)
    assert count(db, Member) == 1
    assert count(db, Membership) == 1
    auth.logout()

    # The newcomer sets a password from the invitation and sees the share page.
    done = client.post(
        set_password, data={"password": "a-long-password", "confirm": "a-long-password"}
    )
    assert done.status_code == 302
    assert client.get("/share/").status_code == 200


def test_a_link_works_once_and_expires(client, app, farm, db):
    submit(client, farm)
    path = link_in(outbox(db, "signup/confirm/")[0])
    assert client.post(path).status_code == 200
    before = fingerprint()
    assert client.get(path).status_code == 404
    used = client.post(path)
    assert used.status_code == 404
    assert b"no longer works" in used.data
    assert fingerprint() == before

    submit(client, farm, email="late@example.org")
    late = outbox(db, "signup/confirm/")[-1]
    request = db.session.scalar(
        select(SignupRequest).where(SignupRequest.email == "late@example.org")
    )
    request.created_at -= timedelta(seconds=app.config["SIGNUP_CONFIRM_MAX_AGE_SECONDS"] + 1)
    db.session.commit()
    before = fingerprint()
    assert client.post(link_in(late)).status_code == 404
    assert fingerprint() == before
    assert client.get("/join/confirm/not-a-token").status_code == 404


def test_a_full_site_puts_the_household_on_its_waiting_list_with_its_position(
    client, auth, farm, db
):
    for _ in range(farm.thursday.capacity):  # Town Hall: 3 places
        add_member(farm, site=farm.thursday)
    waiting = add_member(farm, site=farm.thursday, status=MembershipStatus.WAITING)
    waiting.waiting_rank = 1
    db.session.commit()
    page = client.get("/join/").get_data(as_text=True)
    assert "full: waiting list" in page
    submit(client, farm, site=farm.thursday, locale="en")
    confirmed = client.post(link_in(outbox(db, "signup/confirm/")[0]))
    assert b"is full right now" in confirmed.data
    request = db.session.scalar(select(SignupRequest))
    assert request.state == SignupState.WAITING
    assert "Town Hall is full right now" in outbox(db, "signup/confirmed/")[0].body
    auth.login(farm.coordinator.email)
    listed = client.get("/signup/requests?state=waiting").get_data(as_text=True)
    assert "Nina Newcomer" in listed
    approved = client.post(f"/signup/requests/{request.id}/approve", follow_redirects=True)
    assert "number 2" in approved.get_data(as_text=True)
    db.session.refresh(request)
    membership = db.session.get(Membership, request.membership_id)
    assert membership.status == MembershipStatus.WAITING
    assert membership.waiting_rank == 2
    (welcome,) = outbox(db, f"signup/approved/{request.id}")
    assert "2" in welcome.body
    assert "Town Hall" in welcome.body


def test_decline_with_a_reason_mails_the_household_in_its_language(client, auth, farm, db):
    submit(client, farm, locale="pl")
    client.post(link_in(outbox(db, "signup/confirm/")[0]))
    request = db.session.scalar(select(SignupRequest))
    auth.login(farm.coordinator.email)
    before = fingerprint()
    refused = client.post(f"/signup/requests/{request.id}/decline", data={"reason": "  "})
    assert refused.status_code == 302
    assert fingerprint() == before
    client.post(f"/signup/requests/{request.id}/decline", data={"reason": "We are full for good."})
    db.session.refresh(request)
    assert request.state == SignupState.DECLINED
    assert request.decline_reason
    (declined,) = outbox(db, f"signup/declined/{request.id}")
    assert "We are full for good." in declined.body
    assert "Dzień dobry, Nina Newcomer!" in declined.body
    assert "Powód:" in declined.body
    assert count(db, Member) == 0
    # Decided: approving now changes nothing.
    before = fingerprint()
    client.post(f"/signup/requests/{request.id}/approve")
    assert fingerprint() == before


def test_automatic_approval_approves_at_confirmation(client, app, farm, db):
    app.config["SIGNUP_AUTO_APPROVE"] = True
    submit(client, farm)
    confirmed = client.post(link_in(outbox(db, "signup/confirm/")[0]))
    assert b"Your membership for" in confirmed.data
    request = db.session.scalar(select(SignupRequest))
    assert request.state == SignupState.APPROVED
    assert request.decided_by_id is None
    assert db.session.get(Membership, request.membership_id).status == MembershipStatus.ACTIVE
    user = db.session.scalar(select(User).where(User.email == "nina@example.org"))
    assert outbox(db, f"invite/{user.id}/")


# --- never telling whether an address is known ----------------------------------------------


def test_a_known_address_gets_the_same_answer_and_a_sign_in_mail(client, farm, db, make_user):
    add_member(farm, name="Known Household", email="known@example.org")
    make_user(Role.FARMER, email="staff@example.org")
    db.session.commit()
    fresh = submit(client, farm, email="fresh@example.org").get_data(as_text=True)
    answers = [fresh]
    for email in ("known@example.org", "staff@example.org"):
        answers.append(submit(client, farm, email=email).get_data(as_text=True))
    strip = [a.replace("fresh@", "").replace("known@", "").replace("staff@", "") for a in answers]
    # Only the CSRF-free page differs in the echoed address.
    assert len({re.sub(r'value="[^"]*"', "", a) for a in strip}) == 1
    assert count(db, SignupRequest) == 1  # only the new address has a request
    known = outbox(db, "signup/known/")
    assert sorted(m.to for m in known) == ["known@example.org", "staff@example.org"]
    for row in known:
        assert "/auth/login" in row.body
        assert "/auth/forgot" in row.body
        assert "/join/confirm/" not in (mail.unseal(row.sealed) if row.sealed else row.body)


def test_the_answer_goes_before_the_address_is_looked_up(client, farm, db):
    """As for a forgotten password: the time of the answer cannot tell a known address."""
    response = client.post("/join/", data=choose(farm, form(client)))
    assert CHECK_YOUR_MAIL in response.get_data(as_text=True)
    assert count(db, SignupRequest) == 0
    assert outbox(db, "signup/") == []
    response.close()
    assert count(db, SignupRequest) == 1
    assert len(outbox(db, "signup/confirm/")) == 1


# --- bots --------------------------------------------------------------------------------------


def test_a_filled_honeypot_gets_the_same_answer_and_writes_nothing(client, farm, db):
    data = choose(farm, form(client, website="http://spam.example"))
    before = fingerprint()
    response = client.post("/join/", data=data)
    assert response.status_code == 200
    assert CHECK_YOUR_MAIL in response.get_data(as_text=True)
    assert fingerprint() == before


def test_a_form_sent_too_fast_gets_the_same_answer_and_writes_nothing(client, app, farm, db):
    app.config["SIGNUP_MIN_FILL_SECONDS"] = 3
    data = choose(farm, form(client))
    before = fingerprint()
    response = client.post("/join/", data=data)
    assert response.status_code == 200
    assert CHECK_YOUR_MAIL in response.get_data(as_text=True)
    assert fingerprint() == before
    forged = client.post("/join/", data={**data, "stamp": "forged"})
    assert CHECK_YOUR_MAIL in forged.get_data(as_text=True)
    assert fingerprint() == before


def test_the_rate_limit_per_address_and_per_e_mail(client, app, farm, db):
    app.config["THROTTLE_SIGNUP_EMAIL"] = (2, 300, 3600, 86400)
    app.config["THROTTLE_SIGNUP_ADDRESS"] = (4, 60, 3600, 86400)
    for _ in range(3):
        assert CHECK_YOUR_MAIL in submit(client, farm).get_data(as_text=True)
    assert len(outbox(db, "signup/confirm/")) == 2  # the third got the answer, not a mail
    assert count(db, SignupRequest) == 1  # a newer request replaced the unconfirmed one
    submit(client, farm, email="other@example.org")
    refused = submit(client, farm, email="third@example.org")
    assert refused.status_code == 429
    assert b"Too many sign-ups" in refused.data
    assert db.session.scalar(
        select(func.count()).select_from(LoginThrottle).where(LoginThrottle.scope == "signup")
    )
    assert not db.session.scalar(
        select(SignupRequest).where(SignupRequest.email == "third@example.org")
    )


# --- bad input writes nothing -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"name": " "}, "name", "This field is required"),
        ({"email": "not-an-address"}, "email", "is not an e-mail address"),
        ({"shares": "0"}, "shares", "Number must be between 1 and 10"),
        ({"shares": "99"}, "shares", "Number must be between 1 and 10"),
        ({"season": "999"}, "season", "Choose a season open for sign-up"),
        ({"site": "x"}, "site", "Choose a pickup site"),
        ({"share_type": "999"}, "share_type", "Choose a share type"),
        ({"accept_terms": ""}, "accept_terms", "Accept the contract terms"),
        ({"accept_privacy": ""}, "accept_privacy", "Agree to the privacy notice"),
        ({"terms_version": "1"}, "accept_terms", "terms changed while you were reading"),
        ({"locale": "xx"}, "locale", "Not a valid choice"),
    ],
)
def test_bad_input_is_refused_next_to_the_field_and_writes_nothing(
    client, farm, db, changes, field, message
):
    data = choose(farm, form(client, **changes))
    data.update(changes)
    before = fingerprint()
    response = client.post("/join/", data=data)
    page = response.get_data(as_text=True)
    assert response.status_code == 400, page[:3000]
    assert f'id="{field}-error"' in page, page[-4000:]
    assert message in page
    assert f'value="{data["stamp"]}"' in page  # fixing the field at once is not "too fast"
    assert fingerprint() == before


def test_a_closed_season_refuses_its_requests(client, farm, db):
    data = choose(farm, form(client))
    farm.season.signup_open = False
    db.session.commit()
    before = fingerprint()
    assert client.post("/join/", data=data).status_code == 400
    assert fingerprint() == before


# --- the contract terms -------------------------------------------------------------------------


def test_coordinators_save_versions_of_the_terms(client, auth, farm, db, make_user):
    auth.login(farm.coordinator.email)
    page = client.get("/signup/terms").get_data(as_text=True)
    assert "Version 2" in page
    assert "Earlier versions" in page
    before = fingerprint()
    same = client.post("/signup/terms", data={"text": ops.current_terms().text})
    assert same.status_code == 400
    assert b"same as version 2" in same.data
    assert fingerprint() == before
    client.post("/signup/terms", data={"text": "New terms."})
    terms = ops.current_terms()
    assert terms.version == 3
    assert terms.created_by_id == farm.coordinator.id
    assert count(db, ContractTerms) == 3
    member = make_user(Role.MEMBER)
    auth.logout()
    auth.login(member.email)
    assert client.get("/signup/terms").status_code == 403
    assert client.get("/signup/requests").status_code == 403


def test_a_request_for_a_season_that_has_ended_is_not_approved(client, auth, farm, db):
    submit(client, farm)
    client.post(link_in(outbox(db, "signup/confirm/")[0]))
    request = db.session.scalar(select(SignupRequest))
    farm.season.end = date_start() - timedelta(days=1)
    farm.season.start = farm.season.end - timedelta(weeks=4)
    db.session.commit()
    auth.login(farm.coordinator.email)
    before = fingerprint()
    refused = client.post(f"/signup/requests/{request.id}/approve", follow_redirects=True)
    assert "has ended" in refused.get_data(as_text=True)
    assert fingerprint() == before


# --- at the same moment ------------------------------------------------------------------------


def _at_once(app, n, act, prepare=None):
    """Run act(client) in n threads released together; return what each returned.

    :param prepare: called on each client first, one after the other (signing in).
    """
    clients = [app.test_client() for _ in range(n)]
    for c in clients:
        if prepare is not None:
            prepare(c)
    barrier = threading.Barrier(n)
    results: list[object] = []
    lock = threading.Lock()

    def run(client) -> None:
        barrier.wait()
        result = act(client)
        with lock:
            results.append(result)

    threads = [threading.Thread(target=run, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_one_link_used_six_times_at_once_confirms_once(client, app, farm, db):
    submit(client, farm)
    path = link_in(outbox(db, "signup/confirm/")[0])
    codes = _at_once(app, 6, lambda c: c.post(path).status_code)
    assert sorted(codes) == [200] + [404] * 5
    db.session.expire_all()
    assert len(outbox(db, "signup/confirmed/")) == 1


def test_six_coordinators_approving_at_once_make_one_household(client, app, auth, farm, db):
    submit(client, farm)
    client.post(link_in(outbox(db, "signup/confirm/")[0]))
    request_id = db.session.scalar(select(SignupRequest.id))
    email = farm.coordinator.email

    def sign_in(c):
        assert c.post("/auth/login", data={"email": email, "password": PASSWORD}).status_code == 302

    def approve(c):
        answer = c.post(f"/signup/requests/{request_id}/approve", follow_redirects=True)
        return answer.status_code, "is approved" in answer.get_data(as_text=True)

    results = _at_once(app, 6, approve, prepare=sign_in)
    assert sorted(results) == [(200, False)] * 5 + [(200, True)]
    db.session.expire_all()
    assert count(db, Member) == 1
    assert count(db, Membership) == 1
    assert count(db, User) == 2  # the coordinator and the new household's login
    assert len(outbox(db, f"signup/approved/{request_id}")) == 1
