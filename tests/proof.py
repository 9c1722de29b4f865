"""What the access walk, the fuzzing and the crash tests share: a browser-like client with
CSRF on, and a fingerprint of every table to prove that a refused request wrote nothing."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text
from werkzeug.test import TestResponse

from csa.extensions import db
from tests.conftest import PASSWORD

_TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')
# Flask-WTF's own messages when the token is missing or wrong (not translated by csa).
CSRF_FAILURES = (b"The CSRF token is missing", b"The CSRF token is invalid", b"CSRF session token")


def csrf_token(html: bytes | str) -> str | None:
    """The CSRF token of the first form on a page, or None if the page has no form."""
    page = html.decode("utf-8", "replace") if isinstance(html, bytes) else html
    match = _TOKEN.search(page)
    return (match.group(1) or match.group(2)) if match else None


class Browser:
    """A test client used as a browser would: every POST carries a token taken from a page.

    Each request runs in an app context of its own, as in a server: the test's app context
    would otherwise lend its `g` (and Flask-Login's user in it) to every request.
    """

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.client: FlaskClient = app.test_client()
        self.token: str | None = None

    def open(self, path: str, method: str = "GET", **kw: Any) -> TestResponse:
        with self.app.app_context():
            response = self.client.open(path, method=method, **kw)
            response.get_data()  # read inside the context: streamed bodies need it
            return response

    def get(self, path: str, **kw: Any) -> TestResponse:
        return self.open(path, "GET", **kw)

    def fetch_token(self, path: str = "/") -> str:
        """Read a token from a page with a form (every signed-in page has the sign-out form)."""
        for candidate in (path, "/", "/auth/login"):
            response = self.get(candidate, follow_redirects=True)
            token = csrf_token(response.data)
            if token:
                self.token = token
                return token
        raise AssertionError("no page with a CSRF token")

    def login(self, email: str, password: str = PASSWORD) -> None:
        token = csrf_token(self.get("/auth/login").data)
        response = self.open(
            "/auth/login", "POST", data={"email": email, "password": password, "csrf_token": token}
        )
        assert response.status_code == 302, response.data[:500]
        self.fetch_token()

    def post(self, path: str, data: dict[str, Any] | None = None, **kw: Any) -> TestResponse:
        """POST a form with this session's valid token (unless the data carries its own)."""
        form = dict(data or {})
        form.setdefault("csrf_token", self.token or self.fetch_token())
        return self.open(path, "POST", data=form, **kw)


def fingerprint() -> dict[str, str]:
    """A digest of every row of every table: equal before and after means nothing written."""
    digests: dict[str, str] = {}
    db.session.expire_all()
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            order = [c for c in table.primary_key.columns] or list(table.columns)
            rows = conn.execute(select(table).order_by(*order)).all()
            digests[table.name] = hashlib.sha256(repr(rows).encode()).hexdigest()
    return digests


def changed_tables(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(name for name in before if before[name] != after.get(name))


def row_count(table: str) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(text(f'SELECT count(*) FROM "{table}"')).scalar_one())  # noqa: S608


# --- a small farm with two households, used by the access walk and the fuzzing ------------

# Unique strings in member B's household: none may appear in anything member A is served.
B_MARKERS = (
    "Qzwxb Leakcheck",  # name
    "qzwxb-notes-7731",  # notes
    "qzwxb@example.org",  # e-mail
    "Qzwxb Lane 99",  # address
    "Qzwxb Jumbo",  # share type, on B's share and round pages beside B's quantities
)


@dataclass
class World:
    ids: dict[str, int]  # URL variables: rows of member B wherever a rule names one
    emails: dict[str, str]  # login of each walker
    locked_day: date  # a past round, locked with its split stored
    open_day: date  # the next round, open, with harvest and a hold of B
    invite_path: str  # a set-password link that works
    pages: list[str]  # more pages worth a visit (a paused membership's, a forgot-password link)


def _weekday_near(today: date, weekday: int, forward: bool) -> date:
    """The nearest given weekday strictly after today + 2 days, or strictly before today."""
    if forward:
        day = today + timedelta(days=3)
        return day + timedelta(days=(weekday - day.weekday()) % 7)
    day = today - timedelta(days=1)
    return day - timedelta(days=(day.weekday() - weekday) % 7)


def build_world(make_user: Any) -> World:
    """Two households (B full of markers), a locked round in the past, an open one ahead."""
    from csa.accounts.operations import invite_token, reset_token
    from csa.accounts.profile import email_token
    from csa.models import (
        Crop,
        HarvestEntry,
        Hold,
        HoldMode,
        MembershipStatus,
        OptOut,
        PickupSite,
        Role,
        Round,
        Season,
        ShareType,
    )
    from csa.rounds.lifecycle import farm_today, lock_round
    from tests.factories import add_member, make_farm

    today = farm_today()
    farm = make_farm(today - timedelta(weeks=10), today + timedelta(weeks=20))
    a = add_member(farm, name="Anna Avocado", email="anna-a@example.org")
    b = add_member(farm, name=B_MARKERS[0], email=B_MARKERS[2])
    b.member.notes = B_MARKERS[1]
    b.member.address = B_MARKERS[3]
    b.member.phone = "+48 777 000 111"
    b_share = ShareType(name=B_MARKERS[4], weight_milli=1750, price_cents=1)
    db.session.add(b_share)
    b.share_type = b_share
    locked_day = _weekday_near(today, 1, forward=False)
    open_day = _weekday_near(today, 1, forward=True)
    locked, open_ = Round(date=locked_day), Round(date=open_day)
    db.session.add_all([locked, open_])
    db.session.flush()
    db.session.add_all(
        [
            HarvestEntry(round=locked, crop=farm.tomatoes, quantity_milli=7_350),
            HarvestEntry(round=locked, crop=farm.pumpkins, quantity_milli=3_000),
            HarvestEntry(round=open_, crop=farm.tomatoes, quantity_milli=4_100),
            Hold(membership_id=b.id, round_date=open_day, mode=HoldMode.OTHERS),
            Hold(membership_id=a.id, round_date=open_day, mode=HoldMode.DONATE),
            OptOut(membership_id=b.id, crop_id=farm.pumpkins.id),
            # One of each setting deactivated, so the pages offer to reactivate them.
            Season(name="Season 2019", start=date(2019, 4, 1), end=date(2019, 11, 1), active=False),
            ShareType(name="Tiny", weight_milli=250, active=False),
            PickupSite(name="Closed Barn", weekday=5, active=False),
            Crop(name="Old Kohlrabi", unit="piece", step_milli=1000, active=False),
        ]
    )
    paused = add_member(farm, name="Carl Paused", status=MembershipStatus.PAUSED)
    db.session.flush()
    # renewal (issue 11): member A is invited into the next season and is on a trial, so
    # the Next season page offers every form (accept, change, decline, join, leave).
    from csa.models import Renewal

    next_season = Season(
        name="Season next", start=today + timedelta(weeks=21), end=today + timedelta(weeks=45)
    )
    db.session.add(next_season)
    db.session.add(
        Renewal(
            membership=a,
            next_season=next_season,
            share_type_id=a.share_type_id,
            shares=a.shares,
            site_id=a.site_id,
            deadline=today + timedelta(days=14),
        )
    )
    a.trial_end = today + timedelta(days=14)
    # The change form offers every share type on sale: B's own (a marker) is no longer on
    # sale, so only B's pages name it.
    b_share.active = False
    db.session.flush()
    assert lock_round(locked)
    db.session.commit()
    users = {
        # comembers: member_a is its household's contact (the household's e-mail) ...
        "member_a": make_user(Role.MEMBER, email="anna-a@example.org", member=a.member),
        "member_b": make_user(Role.MEMBER, email="user-b@example.org", member=b.member),
        "farmer": make_user(Role.FARMER),
        "coordinator": make_user(Role.COORDINATOR),
        "admin": make_user(Role.ADMIN),
    }
    # comembers: ... with a co-member, so the household page offers its remove form.
    make_user(Role.MEMBER, email="partner-a@example.org", member=a.member)
    # holds (issue 11): B's hold on the open round was put by a coordinator, so B's register
    # page shows a hold log; its hold form and A's range forms are on the pages walked.
    from csa.models import HoldAction, HoldLog

    db.session.add(
        HoldLog(
            membership_id=b.id,
            round_date=open_day,
            action=HoldAction.SET,
            mode=HoldMode.OTHERS,
            by_id=users["coordinator"].id,
        )
    )
    # --- changes (issue 11): a request of each household waiting for a decision, so the
    # member's withdraw form, the coordinator's approve and decline forms and the change
    # forms (member's /changes/, staff's /changes/membership/<id>) are on pages served.
    from csa.models import ChangeState, MembershipChange

    waiting_changes = [
        MembershipChange(
            membership_id=m.id,
            effective=open_day,
            share_type_id=farm.half.id,
            shares=2,
            site_id=farm.tuesday.id,
            state=ChangeState.REQUESTED,
            requested_by_id=users[who].id,
        )
        for m, who in ((a, "member_a"), (b, "member_b"))
    ]
    db.session.add_all(waiting_changes)
    # The change form offers the farm's share types: B's own stays B's (no longer offered).
    b_share.active = False
    db.session.commit()
    invited = make_user(Role.FARMER, email="invited@example.org", password=None)
    forgetful = make_user(Role.FARMER, email="forgetful@example.org")
    make_user(Role.FARMER, email="gone@example.org").active = False
    db.session.commit()
    offer_path = _waiting_list_with_an_offer(farm, today)
    # --- privacy (issue 11): a household whose last season ended (it may be anonymised) and
    # an open deletion request of B's household, so the forms of /privacy/requests show.
    from csa.models import Member, Membership, PrivacyRequest

    departed = Member(name="Dora Departed", email="dora-departed@example.org")
    db.session.add(departed)
    db.session.add(
        Membership(
            member=departed,
            season=db.session.scalar(select(Season).where(Season.name == "Season 2019")),
            share_type=farm.full,
            site=farm.tuesday,
            start=date(2019, 4, 1),
            end=date(2019, 11, 1),
            status=MembershipStatus.ENDED,
        )
    )
    deletion = PrivacyRequest(member_id=b.member.id, requested_by_id=users["member_b"].id)
    db.session.add(deletion)
    db.session.commit()
    signup_pages = _signup_world(farm, users["coordinator"])
    bidding = _money_bidding_world(farm, a, b, next_season, today)
    ids = {
        "member_id": b.member.id,
        "membership_id": b.id,
        "user_id": users["member_b"].id,
        "round_id": open_.id,
        "site_id": farm.tuesday.id,
        "entry_id": db.session.scalar(
            select(HarvestEntry.id).where(HarvestEntry.round_id == open_.id)
        ),
        "change_id": waiting_changes[1].id,  # B's request
        "item_id": 1,
        "message_id": 1,
        "request_id": deletion.id,
        "signup_id": signup_pages.request_id,
        **bidding.ids,
    }
    ids.update(_money_invoices_world(farm, a, b))
    ids |= _money_sepa_world(a, b, users, today)
    ids.update(_money_payments_world(b.member, users["coordinator"]))
    ids.update(_community_messages_world(farm, b, users["coordinator"], open_))
    ids.update(_community_donations_world(farm, b, locked_day))
    ids.update(_community_work_world(farm, a, b, b_share, users))
    ids.update(_community_offers_world(farm, a, b, open_))
    ids.update(_community_partners_world(a, b, open_day, today))
    return World(
        ids,
        {k: u.email for k, u in users.items()},
        locked_day,
        open_day,
        f"/auth/set-password/{invite_token(invited)}",
        [
            f"/register/members/{paused.member_id}",
            f"/auth/reset/{reset_token(forgetful)}",
            f"/account/email/confirm/{email_token(forgetful, 'forgetful-new@example.org')}",
            offer_path,
            *signup_pages.pages,
            *bidding.pages,
            *_community_messages_pages(ids),
        ],
    )


# --- sepa and reminders (issue 12): mandates of A and B, a batch of B's, hardship --------------


def _money_sepa_world(a: Any, b: Any, users: dict[str, Any], today: date) -> dict[str, int]:
    """Both households on direct debit, a batch of B's invoice collected by the bank (not yet
    recorded), a reminder sent to B, A under a hardship arrangement: every form of /sepa/
    and /reminders/ is on a page. Return the ids of B's mandate and batch."""
    from csa.models import Reminder
    from csa.reminders.operations import mark_hardship
    from csa.sepa.operations import export_batch
    from tests.sepa_helpers import IBANS, bank_details, make_invoice, make_mandate

    bank_details()
    b_mandate = make_mandate(b, IBANS["nl"], signed_on=today - timedelta(days=60), today=today)
    b_mandate.holder_name = B_MARKERS[0]
    b_debit = make_invoice(b, 77_731, today - timedelta(days=20))
    b_late = make_invoice(b, 12_345, today - timedelta(days=70))
    # A's invoices belong to no membership, so A's payment plan is still open to change
    # (the Money page's plan form is a fuzzing target, csa/invoices/views.py _plan_form).
    for a_invoice in (
        make_invoice(a, 32_500, today - timedelta(days=45)),
        make_invoice(a, 32_500, today + timedelta(days=15)),
    ):
        a_invoice.membership_id = None
    batch = export_batch(
        collect_on=today - timedelta(days=7),
        due_until=b_debit.due_on,
        due_from=b_debit.due_on,
        by=users["coordinator"],
        today=today - timedelta(days=10),
    )
    assert batch is not None
    # A's mandate comes after the batch, which is B's alone.
    make_mandate(a, IBANS["de"], signed_on=today - timedelta(days=30), today=today)
    db.session.add(Reminder(invoice_id=b_late.id, level=1, open_cents=12_345))
    mark_hardship(a.member, note="Pays after the harvest", until=None, by=None, today=today)
    db.session.commit()
    return {"mandate_id": b_mandate.id, "batch_id": batch.id}


# --- payments (issue 12) -------------------------------------------------------------------


def _money_payments_world(b_member: Any, coordinator: Any) -> dict[str, int]:
    """An invoice of B paid by a payment typed by hand (B's name on it), and an imported
    payment nobody matched, so the unmatched page offers its match and ignore forms."""
    from csa.core.banking import payment_reference
    from csa.models import CsvMapping, Invoice, Payment, PaymentAllocation, PaymentMethod
    from csa.money.profile import farm_profile

    farm_profile()  # made on first use: here, not by the first refused form the fuzzer sends
    today = date.today()
    invoice = Invoice(
        year=1999,
        seq=9001,
        number="PAYW-9001",
        member_id=b_member.id,
        issued_on=today - timedelta(days=30),
        due_on=today - timedelta(days=16),
        total_cents=77_700,
        currency="EUR",
        reference=payment_reference("PAYW9001"),
        buyer_name=b_member.name,
    )
    paid = Payment(
        booked_on=today - timedelta(days=20),
        amount_cents=80_000,
        currency="EUR",
        method=PaymentMethod.CASH,
        payer_name=B_MARKERS[0],
        note=B_MARKERS[1],
        member_id=b_member.id,
        recorded_by_id=coordinator.id,
    )
    stranger = Payment(
        booked_on=today - timedelta(days=3),
        amount_cents=1_234,
        currency="EUR",
        payer_name="Unknown Payer",
        reference="no reference",
        import_key="world:unmatched:1",
    )
    # The bank's CSV layout, saved: date;amount;payer;purpose with a header line.
    mapping = CsvMapping(date_column=1, amount_column=2, payer_column=3, reference_column=4)
    db.session.add_all([invoice, paid, stranger, mapping])
    db.session.flush()
    db.session.add(PaymentAllocation(payment=paid, invoice=invoice, amount_cents=77_700))
    db.session.commit()
    return {"payment_id": paid.id}


# --- offers (issue 11): a waiting list with an open offer ----------------------------------


def _waiting_list_with_an_offer(farm: Any, today: date) -> str:
    """Two households waiting at Town Hall, the first with an open offer of its one place;
    return the offer's link (its token depends only on fixed values, so the link found by
    one crawl still works in the next test's world)."""
    from datetime import datetime, time

    from csa.models import MembershipStatus, OfferState, PlaceOffer
    from csa.register import waiting
    from csa.waitlist.offers import offer_token, token_hash
    from tests.factories import add_member

    farm.thursday.capacity = 1  # one place, held by the open offer: the job offers nothing
    first = add_member(
        farm, name="Wanda Waiting", site=farm.thursday, status=MembershipStatus.WAITING
    )
    waiting.join(first)
    second = add_member(
        farm, name="Walter Waiting", site=farm.thursday, status=MembershipStatus.WAITING
    )
    waiting.join(second)
    offered_at = datetime.combine(today, time(0)) - timedelta(days=1)
    db.session.add(
        PlaceOffer(
            membership=first,
            site_id=farm.thursday.id,
            season_id=farm.season.id,
            slot=1,
            offered_at=offered_at,
            expires_at=offered_at + timedelta(days=5),
            state=OfferState.OPEN,
            token_hash=token_hash(offer_token(first.id, offered_at)),
        )
    )
    db.session.commit()
    return f"/waitlist/offer/{offer_token(first.id, offered_at)}"


# --- invoices (issue 12): B's household has an invoice, A's none (its plan may change) ------


def _money_invoices_world(farm: Any, a: Any, b: Any) -> dict[str, int]:
    """The farm's billing profile (EUR, an IBAN), B on monthly instalments with its first
    invoice issued (its page offers the credit note form), A on one payment with no invoice
    yet (the member's and the coordinators' plan forms show); returns {"invoice_id": B's}."""
    from csa.invoices.operations import issue_invoice, schedule
    from csa.models import PaymentPlan
    from csa.money.profile import farm_profile

    profile = farm_profile()
    profile.legal_name = "Proof Farm Cooperative"
    profile.address = "Field Road 1"
    profile.tax_id = "DE123456789"
    profile.iban = "DE89370400440532013000"
    profile.bic = "COBADEFFXXX"
    profile.currency = "EUR"
    b.payment_plan = PaymentPlan.MONTHLY
    b.price_cents = 77_700
    a.payment_plan = PaymentPlan.SINGLE
    db.session.flush()
    plan = schedule(b, b.price_cents)
    invoice = issue_invoice(b, plan[0], len(plan), b.start, profile)
    db.session.commit()
    return {"invoice_id": invoice.id}


# --- sign-up (issue 11): a season open for sign-up, terms, requests to decide and to confirm --


@dataclass
class _SignupWorld:
    request_id: int  # a confirmed request on the coordinators' list
    pages: list[str]  # the public page, its privacy notice, a live confirmation link


SIGNUP_TOKEN = "proof-signup-confirmation-token"  # fixed: the world is built the same each time


def _signup_world(farm: Any, coordinator: Any) -> _SignupWorld:
    from csa.core.clock import utcnow
    from csa.models import ShareType, SignupRequest, SignupState
    from csa.signup.operations import hash_token, save_terms

    farm.season.signup_open = True
    # The public page lists the share types on offer: B's marker type, no longer offered but
    # still held by B, must not be among them (a marker on a page member A sees).
    b_share = db.session.scalar(select(ShareType).where(ShareType.name == B_MARKERS[4]))
    b_share.active = False
    terms = save_terms("Pay before the season starts.", coordinator)
    now = utcnow()
    common = {
        "phone": "",
        "address": "",
        "locale": "en",
        "season_id": farm.season.id,
        "share_type_id": farm.full.id,
        "shares": 1,
        "site_id": farm.tuesday.id,
        "terms_id": terms.id,
        "terms_accepted_at": now,
        "privacy_accepted_at": now,
        "decline_reason": "",
    }
    confirmed = SignupRequest(
        name="Nora Newcomer",
        email="nora-new@example.org",
        state=SignupState.CONFIRMED,
        confirmed_at=now,
        **common,
    )
    unconfirmed = SignupRequest(
        name="Olaf Unconfirmed",
        email="olaf-new@example.org",
        state=SignupState.UNCONFIRMED,
        token_hash=hash_token(SIGNUP_TOKEN),
        **common,
    )
    db.session.add_all([confirmed, unconfirmed])
    db.session.commit()
    return _SignupWorld(confirmed.id, ["/join/", "/join/privacy", f"/join/confirm/{SIGNUP_TOKEN}"])


# --- money, bidding (issue 12): an open range round with pledges of A and B ------------------


@dataclass
class _MoneyWorld:
    ids: dict[str, int]
    pages: list[str]


def _money_bidding_world(farm: Any, a: Any, b: Any, next_season: Any, today: date) -> _MoneyWorld:
    """The season's budget and an open range round where A and B pledged (B's reason holds a
    marker, and B's amounts are nowhere near A's); the next season has a budget and no round,
    so its page offers the open form. Rows are written directly: no mail is queued."""
    from csa.models import BiddingMode, BiddingRound, BiddingState, Pledge
    from csa.money.profile import farm_profile

    # The billing profile exists, as on a farm past its first money page: made on first use,
    # SQLite would commit it even in a refused request (its savepoint is the outermost one).
    farm_profile()
    farm.season.budget_cents = 375_000  # A 1,000.00, B 1,750.00, Carl (paused) 1,000.00
    next_season.budget_cents = 100_000
    round_ = BiddingRound(
        season=farm.season,
        number=1,
        mode=BiddingMode.RANGE,
        state=BiddingState.OPEN,
        deadline=today + timedelta(days=14),
    )
    db.session.add(round_)
    db.session.flush()
    db.session.add_all(
        [
            Pledge(bidding_round_id=round_.id, membership_id=a.id, min_cents=90_000,
                   max_cents=120_000),
            Pledge(bidding_round_id=round_.id, membership_id=b.id, min_cents=133_777,
                   max_cents=199_999, reason=f"{B_MARKERS[1]}: a tight year"),
        ]
    )  # fmt: skip
    db.session.commit()
    return _MoneyWorld({"bidding_round_id": round_.id}, [f"/bidding/?season={next_season.id}"])


# --- donations (issue 13): a partner routed from B's site, a locked round B donated ------------


def _community_donations_world(farm: Any, b: Any, locked_day: date) -> dict[str, int]:
    """A partner taking the surplus and the donated shares of Old Mill, and a locked round a
    week before the world's one in which B's share was donated: its sheet names B's contents
    (staff only), B's season page lists it, A's does not."""
    from csa.models import DonationRoute, HarvestEntry, Hold, HoldMode, PartnerOrganisation, Round
    from csa.rounds.lifecycle import lock_round

    partner = PartnerOrganisation(
        name="Proof Tafel",
        contact_name="Pia Proof",
        email="tafel@example.org",
        pickup_note="Tuesdays after 19:00",
        takes_surplus=True,
    )
    day = locked_day - timedelta(days=7)
    round_ = Round(date=day)
    gone = PartnerOrganisation(name="Closed Proof Point", active=False)  # its reactivate form
    db.session.add_all([partner, gone, round_])
    db.session.flush()
    db.session.add_all(
        [
            DonationRoute(site_id=farm.tuesday.id, partner_id=partner.id, note="back door"),
            HarvestEntry(round_id=round_.id, crop_id=farm.tomatoes.id, quantity_milli=5_030),
            Hold(membership_id=b.id, round_date=day, mode=HoldMode.DONATE),
        ]
    )
    db.session.flush()
    assert lock_round(round_)
    db.session.commit()
    return {"donation_round_id": round_.id, "donation_partner_id": partner.id}


def fill_rule(rule: Any, world: World, day: date | None = None) -> str:
    """A URL of a rule: its variables name B's rows and a round's date, and the query asks
    for B's household too (`?membership=`, `?member=`)."""

    def value(match: re.Match[str]) -> str:
        converter, name = match.group(1) or "", match.group(2)
        if converter.startswith("int"):
            return str(world.ids.get(name, 1))
        if "date" in name:
            return (day or world.locked_day).isoformat()
        if name == "filename":
            return "csa.css"
        if name == "kind":
            return "pickup"
        if name == "token":
            return world.invite_path.rsplit("/", 1)[1]
        return "x"

    path = re.sub(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>", value, rule.rule)
    ids = world.ids
    return f"{path}?membership={ids['membership_id']}&member={ids['member_id']}"


# --- messages (issue 13): a message to B's household (B's name in its stored audience), an
# attachment, and a site note on B's site for the open round; B's unsubscribe link is a page.


def _community_messages_world(farm: Any, b: Any, coordinator: Any, open_: Any) -> dict[str, int]:
    from csa.messages import files, operations
    from csa.messages.audience import Choice
    from csa.models import AudienceKind

    upload = files.check("b-letter.pdf", b"%PDF-1.4\n%%EOF\n")
    message, _path = operations.send(
        coordinator,
        Choice(AudienceKind.HOUSEHOLD, ids=(b.member_id,)),
        operations.Draft(subject="For B only", body=f"Dear {B_MARKERS[0]}"),
        open_.date,
        upload,
    )
    operations.set_site_note(farm.tuesday, open_, "Bring your own bags", coordinator, open_.date)
    db.session.commit()
    return {"msg_id": message.id}


def _community_messages_pages(ids: dict[str, int]) -> list[str]:
    from csa.messages import operations

    token = operations.unsubscribe_token(ids["msg_id"], ids["member_id"], "")
    return [f"/messages/unsubscribe/{token}"]


# --- work (issue 13): jobs with sign-ups of A and B, a past job B worked, hours required ------


def _community_work_world(
    farm: Any, a: Any, b: Any, b_share: Any, users: dict[str, Any]
) -> dict[str, int]:
    """The farm's rate and hours, a job B signed up for (A's page offers its sign-up), one
    A signed up for (A's cancel form), a flexible task, a past job B worked (its attendance
    form); returns B's job and sign-up and a share type for the settings' row forms."""
    from csa.core.clock import utcnow
    from csa.models import (
        WorkJob,
        WorkRequirement,
        WorkSettings,
        WorkSignup,
        WorkSignupState,
    )

    now = utcnow().replace(second=0, microsecond=0)
    db.session.add(
        WorkSettings(buyout_rate_cents=2000, currency="EUR", call_days_before=5, reminder_hours=48)
    )
    db.session.add_all(
        [
            WorkRequirement(share_type_id=farm.full.id, minutes=600),
            WorkRequirement(share_type_id=b_share.id, minutes=600),
        ]
    )

    def job(title: str, days: int, slots: int, taken: int) -> Any:
        start = now + timedelta(days=days)
        row = WorkJob(
            title=title,
            description="Bring gloves.",
            place="Field 3",
            starts_at=start,
            ends_at=start + timedelta(hours=3),
            slots=slots,
            taken=taken,
            minutes=180,
            created_by_id=users["farmer"].id,
        )
        db.session.add(row)
        return row

    weeding = job("Weeding the carrots", 10, 3, 1)
    harvest = job("Harvest help", 12, 2, 1)
    past = job("Planting garlic", -3, 4, 1)
    fence = WorkJob(
        title="Mend the fence",
        place="North field",
        due_on=(now + timedelta(days=20)).date(),
        slots=2,
        taken=0,
        minutes=120,
    )
    db.session.add(fence)
    db.session.flush()
    theirs = WorkSignup(job_id=weeding.id, membership_id=b.id, state=WorkSignupState.SIGNED)
    db.session.add_all(
        [
            theirs,
            WorkSignup(job_id=harvest.id, membership_id=a.id, state=WorkSignupState.SIGNED),
            WorkSignup(job_id=past.id, membership_id=b.id, state=WorkSignupState.DONE, minutes=240),
        ]
    )
    db.session.commit()
    return {
        "work_job_id": weeding.id,
        "work_signup_id": theirs.id,
        "work_share_type_id": farm.full.id,
    }


# --- offers (issue 13): the two Tuesdays after the open round, with posts on their boards ---


def _community_offers_world(farm: Any, a: Any, b: Any, open_round: Any) -> dict[str, int]:
    """The two Tuesdays after the open round (A's share is on hold in the open one): in the
    first A offers its share to the site and has a swap posted; in the second A has its
    share free to offer or swap, a neighbour offers hers to the site, and B (the victim)
    offers its share to a friend and a swap A could accept. A sees B's swap without B's
    name; the walk finds every form of the board on A's page. Return the ids of B's offer
    and B's swap."""
    from csa.core.offers import OfferState, SwapState, Target
    from csa.models import HarvestEntry, Round, ShareOffer, Swap
    from tests.factories import add_member

    neighbour = add_member(farm, name="Cora Neighbour", email="cora-n@example.org")
    rounds = [Round(date=open_round.date + timedelta(weeks=w)) for w in (1, 2)]
    db.session.add_all(rounds)
    db.session.flush()
    for r in rounds:
        db.session.add_all(
            [
                HarvestEntry(round=r, crop=farm.tomatoes, quantity_milli=5_000),
                HarvestEntry(round=r, crop=farm.pumpkins, quantity_milli=6_000),
            ]
        )
    first, second = rounds
    tue = farm.tuesday.id

    def offer(membership: Any, r: Any, target: Target, state: OfferState, friend: str = "") -> Any:
        row = ShareOffer(
            round_id=r.id,
            membership_id=membership.id,
            site_id=tue,
            target=target,
            state=state,
            friend_name=friend,
        )
        db.session.add(row)
        return row

    def swap(membership: Any, r: Any, gives: Any, wants: Any) -> Any:
        row = Swap(
            round_id=r.id,
            site_id=tue,
            membership_id=membership.id,
            gives_crop_id=gives.id,
            wants_crop_id=wants.id,
            state=SwapState.OPEN,
        )
        db.session.add(row)
        return row

    offer(a, first, Target.SITE, OfferState.OPEN)
    swap(a, first, farm.pumpkins, farm.tomatoes)
    # Hidden by a coordinator, so the staff list offers "show again" beside "hide".
    offer(neighbour, first, Target.FRIEND, OfferState.ACCEPTED, "Hidden Friend").hidden = True
    swap(neighbour, first, farm.tomatoes, farm.pumpkins).hidden = True
    offer(neighbour, second, Target.SITE, OfferState.OPEN)
    b_offer = offer(b, second, Target.FRIEND, OfferState.ACCEPTED, "Ola Friend")
    # B's swap is hidden: A, who could give the pumpkins, neither sees nor takes it (taking
    # it would rightly tell A who offered it); the neighbour's is the one A may accept.
    b_swap = swap(b, second, farm.tomatoes, farm.pumpkins)
    b_swap.hidden = True
    swap(neighbour, second, farm.tomatoes, farm.pumpkins)
    db.session.commit()
    return {"share_offer_id": b_offer.id, "swap_id": b_swap.id}


# --- share partners (issue 13) ---------------------------------------------------------------


def _community_partners_world(a: Any, b: Any, open_day: date, today: date) -> dict[str, int]:
    """A's share shared with a household that follows a plan, with a round A collects (the
    swap and plan forms) and a swap offered to A (the answer form); B's share shared too,
    with a swap of its own: the walk proves A sees none of B's. Return B's ids."""
    from csa.models import (
        Member,
        PartnerPattern,
        PartnerSetting,
        PartnerSwap,
        Round,
        SharePartner,
    )

    # The round a week after the open one (another feature's world may have made it).
    extra = db.session.scalar(
        select(Round).where(Round.date == open_day + timedelta(weeks=1))
    ) or Round(date=open_day + timedelta(weeks=1))
    pia = Member(name="Pia Partner", email="pia-partner@example.org")
    bruno = Member(name="Bruno Partner", email="bruno-partner@example.org")
    db.session.add_all([extra, pia, bruno])
    db.session.flush()
    b_partner = SharePartner(membership_id=b.id, member_id=bruno.id, joined=today)
    db.session.add_all(
        [
            SharePartner(membership_id=a.id, member_id=pia.id, joined=today),
            b_partner,
            PartnerSetting(membership_id=a.id, pattern=PartnerPattern.PLAN, since=today),
            PartnerSetting(membership_id=b.id, since=today),
            PartnerSwap(
                membership_id=a.id, round_a_id=extra.id, by_member_id=pia.id,
                with_member_id=a.member_id,
            ),
        ]
    )  # fmt: skip
    b_swap = PartnerSwap(
        membership_id=b.id, round_a_id=extra.id, by_member_id=b.member_id, with_member_id=bruno.id
    )
    db.session.add(b_swap)
    db.session.commit()
    return {
        "partner_membership_id": b.id,
        "share_partner_id": b_partner.id,
        "partner_swap_id": b_swap.id,
    }
