"""A believable demo farm, with dates relative to the day it is loaded.

Loading twice changes nothing: everything is looked up by its natural key first.
Demo logins exist only here, never in a real installation.
"""

from __future__ import annotations

import random
from datetime import date, time, timedelta
from fractions import Fraction

from sqlalchemy import func, select

from csa.accounts import operations as accounts
from csa.core.clock import utcnow
from csa.donations.demo import load_demo as load_demo_donations
from csa.extensions import db
from csa.messages.demo import load_demo as load_demo_messages
from csa.models import (
    Crop,
    HarvestEntry,
    Hold,
    HoldMode,
    Member,
    Membership,
    MembershipStatus,
    OptOut,
    PickupSite,
    Renewal,
    RenewalState,
    Role,
    Season,
    ShareType,
    User,
)
from csa.offers.demo import load_demo as load_offers_demo
from csa.partners import demo as partners_demo
from csa.rounds.lifecycle import farm_today

DEMO_PASSWORD = "harvest-demo"  # noqa: S105 - published demo password, demo data only
SEASON_NAME = "Demo season"

SHARE_TYPES = [("Full", 1000, 120000), ("Half", 500, 65000), ("Family", 1500, 170000)]

# name, address, weekday, opens, closes, capacity
SITES = [
    ("Old Mill", "Młyńska 4, Kraków", 1, time(16), time(19), 30),
    ("Town Hall", "Rynek 1, Kraków", 3, time(15), time(18), 25),
    ("Green School", "Szkolna 12, Wieliczka", 4, time(14, 30), time(17, 30), 22),
    ("Farm Gate", "Polna 7, Zabierzów", 5, time(9), time(12), 19),  # full: one member waits
]

# name, unit, step in thousandths of the unit
CROPS = [
    ("Tomatoes", "kg", 50),
    ("Potatoes", "kg", 100),
    ("Carrots", "kg", 50),
    ("Courgettes", "kg", 50),
    ("Onions", "kg", 50),
    ("Beetroot", "kg", 50),
    ("Lettuce", "head", 1000),
    ("Kale", "bunch", 1000),
    ("Radishes", "bunch", 1000),
    ("Dill", "bunch", 1000),
    ("Cucumbers", "piece", 1000),
    ("Cabbage", "head", 1000),
    ("Pumpkins", "piece", 1000),
    ("Leeks", "piece", 1000),
    ("Strawberries", "kg", 50),
]

FIRST = {
    "pl": [
        "Agnieszka",
        "Piotr",
        "Małgorzata",
        "Krzysztof",
        "Zofia",
        "Łukasz",
        "Joanna",
        "Paweł",
        "Katarzyna",
        "Tomasz",
        "Ewa",
        "Michał",
        "Anna",
        "Grzegorz",
        "Magdalena",
        "Jędrzej",
    ],
    "nl": ["Sanne", "Daan", "Femke", "Joost", "Lotte", "Bram", "Anouk", "Thijs", "Eline", "Ruben"],
    "ru": ["Анна", "Дмитрий", "Ольга", "Сергей", "Наталья", "Алексей", "Екатерина", "Иван"],
    "en": ["Emily", "James", "Olivia", "Harry", "Sophie", "George", "Grace", "Thomas"],
}
LAST = {
    "pl": [
        "Nowak",
        "Kowalska",
        "Wiśniewski",
        "Wójcik",
        "Kamińska",
        "Lewandowski",
        "Zieliński",
        "Szymańska",
        "Woźniak",
        "Dąbrowski",
        "Kozłowska",
        "Jankowski",
        "Mazur",
        "Żak",
    ],
    "nl": ["de Vries", "van Dijk", "Bakker", "Janssen", "Visser", "Smit", "de Boer", "Mulder"],
    "ru": ["Иванова", "Смирнов", "Кузнецова", "Попов", "Васильева", "Соколов", "Михайлова"],
    "en": ["Smith", "Jones", "Taylor", "Brown", "Wilson", "Evans", "Thomas", "Roberts"],
}
ASCII = str.maketrans("ąćęłńóśźżĄĆĘŁŃÓŚŹŻ", "acelnoszzACELNOSZZ")
CYRILLIC = dict(
    zip(
        "абвгдеёжзийклмнопрстуфхцчшщыэюя",
        [
            "a",
            "b",
            "v",
            "g",
            "d",
            "e",
            "e",
            "zh",
            "z",
            "i",
            "y",
            "k",
            "l",
            "m",
            "n",
            "o",
            "p",
            "r",
            "s",
            "t",
            "u",
            "f",
            "kh",
            "ts",
            "ch",
            "sh",
            "shch",
            "y",
            "e",
            "yu",
            "ya",
        ],
        strict=True,
    )
)
MEMBER_COUNT = 80


def _slug(name: str) -> str:
    text = name.lower().translate(ASCII)
    text = "".join(CYRILLIC.get(c, c) for c in text)
    return "".join(c if c.isalnum() else "." for c in text).strip(".")


def _get_or_add(model: type, key: dict[str, object], **values: object) -> object:
    row = db.session.scalar(select(model).filter_by(**key))
    if row is None:
        row = model(**key, **values)
        db.session.add(row)
    return row


def season_dates(today: date) -> tuple[date, date]:
    """The season began about ten weeks ago and runs about twenty weeks more."""
    start = today - timedelta(weeks=10, days=today.weekday())
    return start, start + timedelta(weeks=30, days=-1)


def demo_is_loaded() -> bool:
    return db.session.scalar(select(Season.id).where(Season.name == SEASON_NAME)) is not None


def database_is_empty() -> bool:
    return not db.session.scalar(select(func.count()).select_from(User))


def load_demo(today: date | None = None) -> str:
    """Create the demo farm unless it is there; return a one-line summary."""
    # The farm's date, not the machine's: near midnight UTC they differ by a day.
    today = today or farm_today()
    if demo_is_loaded():
        return "The demo farm is loaded already; nothing changed."
    rng = random.Random(2027)  # the same farm every time
    start, end = season_dates(today)
    season = Season(name=SEASON_NAME, start=start, end=end)
    db.session.add(season)
    types = [
        _get_or_add(ShareType, {"name": n}, weight_milli=w, price_cents=p)
        for n, w, p in SHARE_TYPES
    ]
    sites = [
        _get_or_add(PickupSite, {"name": n}, address=a, weekday=wd, opens=o, closes=c, capacity=cap)
        for n, a, wd, o, c, cap in SITES
    ]
    for name, unit, step in CROPS:
        _get_or_add(Crop, {"name": name}, unit=unit, step_milli=step)
    db.session.flush()

    used: set[str] = set()
    memberships: list[Membership] = []
    languages = ["pl"] * 5 + ["nl"] * 2 + ["ru"] * 2 + ["en"] * 2
    for i in range(MEMBER_COUNT):
        lang = languages[i % len(languages)]
        while True:
            name = f"{rng.choice(FIRST[lang])} {rng.choice(LAST[lang])}"
            if name not in used:
                used.add(name)
                break
        email = f"{_slug(name)}@example.org"
        member = Member(
            name=name,
            email=email,
            locale="pl" if lang == "pl" else "en",
            phone=f"+48 600 {100 + i:03d} {rng.randint(100, 999)}",
        )
        share_type = rng.choices(types, weights=[6, 3, 2])[0]
        site = sites[i % len(sites)]
        status = MembershipStatus.ACTIVE
        if i == MEMBER_COUNT - 1:
            status = MembershipStatus.WAITING
        elif i == MEMBER_COUNT - 2:
            status = MembershipStatus.PAUSED
        membership = Membership(
            member=member,
            season=season,
            share_type=share_type,
            shares=2 if i % 17 == 5 else 1,
            site=site,
            start=start,
            end=end,
            status=status,
        )
        db.session.add_all([member, membership])
        memberships.append(membership)
    db.session.flush()

    # The demo member's login is tied to the first household.
    demo_member = memberships[0].member
    logins: tuple[tuple[str, Role, str, Member | None], ...] = (
        ("coordinator@demo.farm", Role.COORDINATOR, "Kasia (coordinator)", None),
        ("farmer@demo.farm", Role.FARMER, "Bartek (farmer)", None),
        ("member@demo.farm", Role.MEMBER, demo_member.name, demo_member),
    )
    for email, role, name, household in logins:
        if db.session.scalar(select(User).where(User.email == email)) is None:
            accounts.create_user(email, role, password=DEMO_PASSWORD, name=name, member=household)
    db.session.flush()
    leaver = _privacy_leaver(today, season, memberships[0].share_type, memberships[0].site)
    _load_comembers(demo_member)
    farmer = db.session.scalar(select(User).where(User.email == "farmer@demo.farm"))
    locked, current = _load_rounds(rng, today, start, memberships, farmer)
    _load_waiting_list(season)
    _load_privacy(today, leaver, demo_member)
    _load_signup(season, memberships)
    renewals = _load_renewals(today, season, memberships)
    _load_holds(today, memberships)
    _load_changes(today, memberships, [t for t in types if isinstance(t, ShareType)])
    money = _load_money(today, season, memberships)
    money += "; " + load_demo_messages(today)
    load_demo_donations(today, season, memberships)
    money += "; " + _work_demo(today, season, memberships)
    load_offers_demo(today, memberships)
    partners_demo.load_demo(today, memberships, DEMO_PASSWORD)
    return (
        f"Demo farm loaded: season {start}..{end}, {len(memberships)} memberships, "
        f"{len(sites)} sites, {len(CROPS)} crops, {locked} locked rounds, "
        f"current round {current}, {renewals} renewals; {money}."
    )


def _load_money(today: date, season: Season, memberships: list[Membership]) -> str:
    """The money side in the order a season lives it: the bidding round fixes the prices,
    the invoices follow the payment plans, a bank statement pays most of them, and what is
    left overdue gets its reminder (one household on direct debit, one under hardship)."""
    from csa.bidding.demo import load_demo_bidding
    from csa.invoices.demo import load_demo_invoices
    from csa.payments.demo import load_demo_payments
    from csa.sepa.demo import load_demo_sepa

    bidding = load_demo_bidding(today, season, memberships)
    invoices = load_demo_invoices(today, season, memberships)
    load_demo_payments(today, season, memberships)
    sepa = load_demo_sepa(today, season, memberships)
    return f"{bidding}; {invoices} invoices issued; {sepa}"


def _work_demo(today: date, season: Season, memberships: list[Membership]) -> str:
    from csa.work.demo import load_demo as load_work_demo

    return load_work_demo(today, season, memberships)


# --- privacy (issue 11) ---


def _privacy_leaver(
    today: date, season: Season, share_type: ShareType, site: PickupSite
) -> Membership:
    """A household that left the season three weeks ago; it shares the rounds before."""
    leaver = Member(name="Jan Wyjechał", email="jan.wyjechal@example.org", phone="+48 600 999 111")
    membership = Membership(
        member=leaver,
        season=season,
        share_type=share_type,
        site=site,
        start=season.start,
        end=today - timedelta(weeks=3),
        status=MembershipStatus.ACTIVE,
    )
    db.session.add_all([leaver, membership])
    db.session.flush()
    return membership


def _load_privacy(today: date, leaver: Membership, household: Member) -> None:
    """The leaver's membership ended and the household anonymised (its allocations stay,
    as "Household #<id>"), and an open deletion request of the demo member's household."""
    from csa.privacy.operations import anonymise, request_deletion

    coordinator = db.session.scalar(select(User).where(User.email == "coordinator@demo.farm"))
    leaver.status = MembershipStatus.ENDED  # its place is free again
    db.session.flush()
    anonymise(leaver.member, coordinator, today)
    login = db.session.scalar(select(User).where(User.member_id == household.id))
    if login is not None:
        request_deletion(household, login, "We are moving to Gdańsk after this season.")


# --- renewal (issue 11) -----------------------------------------------------------------------
NEXT_SEASON_NAME = "Demo season next year"


def _load_renewals(today: date, season: Season, memberships: list[Membership]) -> int:
    """A next season, a renewal in every state (the demo member's still open) and a trial.

    The invitations went out early (as if RENEWAL_WEEKS_BEFORE_END were larger), so the
    member's page and the coordinators' overview have something to show all season.
    """
    from csa.renewal import operations as renewal

    first = season.end + timedelta(days=120)
    following = Season(name=NEXT_SEASON_NAME, start=first, end=first + timedelta(weeks=30))
    db.session.add(following)
    db.session.flush()
    types = list(db.session.scalars(select(ShareType).order_by(ShareType.weight_milli)))
    running = [m for m in memberships if m.status == MembershipStatus.ACTIVE]
    # Farm Gate is full with a household waiting: nobody there answers, so no place moves.
    invited = [m for m in running if m.site.name != "Farm Gate"][:12]
    rows = []
    for membership in invited:
        row = Renewal(
            membership=membership,
            next_season=following,
            state=RenewalState.INVITED,
            share_type_id=membership.share_type_id,
            shares=membership.shares,
            site_id=membership.site_id,
            deadline=today + timedelta(days=14),
            decline_reason="",
        )
        db.session.add(row)
        rows.append(row)
    db.session.flush()
    # rows[0] is the demo member's: still open. Then two of each answer, and two expired.
    for row in rows[1:3]:
        renewal.answer(row, None, today)
    for row in rows[3:5]:
        other = next(t for t in types if t.id != row.share_type_id)
        renewal.answer(row, renewal.Choice(other, row.shares, row.site), today)
    for row, reason in zip(rows[5:7], ("Moving to Gdańsk", ""), strict=True):
        renewal.decline(row, reason, today)
    for row in rows[7:9]:
        row.deadline = today - timedelta(days=2)
        row.reminded_at = row.invited_at
        row.state = RenewalState.EXPIRED
    rows[9].reminded_at = rows[9].invited_at
    # A trial share: its first rounds are the trial, then the household decides.
    trial = running[-1]
    trial.trial_end = today + timedelta(days=10)
    db.session.flush()
    return len(rows)


# --- comembers (issue 11) ---


def _load_comembers(household: Member) -> None:
    """The demo member's household has two logins: member@demo.farm is its contact (the
    household's e-mail, csa/accounts/household.py) and partner@demo.farm, who reads Polish."""
    household.email = "member@demo.farm"
    if db.session.scalar(select(User).where(User.email == "partner@demo.farm")) is None:
        partner = accounts.create_user(
            "partner@demo.farm",
            Role.MEMBER,
            password=DEMO_PASSWORD,
            name=f"Tomasz {household.name.split()[-1]}",
            member=household,
        )
        partner.locale = "pl"


# --- changes (issue 11) ---


def _load_changes(today: date, memberships: list[Membership], types: list[ShareType]) -> None:
    """One household's approved change from a coming round, and the demo member's request
    waiting for a coordinator (both on /changes/requests; the request on its /changes/)."""
    from csa.changes.terms import InForce
    from csa.models import ChangeState, MembershipChange, Round
    from csa.rounds.split import sites_serving

    coordinator = db.session.scalar(select(User).where(User.email == "coordinator@demo.farm"))
    member_user = db.session.scalar(select(User).where(User.email == "member@demo.farm"))
    coming = list(db.session.scalars(select(Round).where(Round.date > today).order_by(Round.date)))
    plans = [(memberships[1], 1, ChangeState.APPROVED), (memberships[0], 1, ChangeState.REQUESTED)]
    for membership, nth, state in plans:
        own = [r for r in coming if membership.site in sites_serving(r.schedule_date)]
        if len(own) <= nth:
            continue
        terms = InForce.own(membership)
        other = next(t for t in types if t.id != terms.share_type_id)
        approved = state == ChangeState.APPROVED
        who = coordinator if approved else member_user
        db.session.add(
            MembershipChange(
                membership_id=membership.id,
                effective=own[nth].date,
                share_type_id=other.id,
                shares=terms.shares,
                site_id=terms.site_id,
                state=state,
                requested_by_id=who.id if who else None,
                decided_by_id=coordinator.id if coordinator and approved else None,
                decided_at=utcnow() if approved else None,
            )
        )
    db.session.flush()


# Per crop: amount per full share per week (in the crop's unit) and the weeks it is in season.
HARVEST_PLAN = {
    "Tomatoes": (Fraction(3, 2), range(4, 30)),
    "Potatoes": (Fraction(2), range(0, 30)),
    "Carrots": (Fraction(1), range(0, 30)),
    "Courgettes": (Fraction(1), range(2, 16)),
    "Onions": (Fraction(1, 2), range(6, 30)),
    "Beetroot": (Fraction(3, 4), range(3, 30)),
    "Lettuce": (Fraction(1), range(0, 14)),
    "Kale": (Fraction(1), range(8, 30)),
    "Radishes": (Fraction(1), range(0, 8)),
    "Dill": (Fraction(1), range(0, 12)),
    "Cucumbers": (Fraction(2), range(3, 14)),
    "Cabbage": (Fraction(1, 2), range(9, 30)),
    "Leeks": (Fraction(2), range(10, 30)),
    "Strawberries": (Fraction(1, 2), range(0, 4)),
}
SCARCE = "Pumpkins"  # a handful of pieces for a whole site: the season balance rotates them


def _load_rounds(
    rng: random.Random,
    today: date,
    start: date,
    memberships: list[Membership],
    farmer: User | None,
) -> tuple[int, date | None]:
    """Past rounds harvested and locked, the current one open and half recorded."""
    from csa.rounds.lifecycle import create_round, distribute_round, lock_round
    from csa.rounds.split import sites_serving

    crops = {c.name: c for c in db.session.scalars(select(Crop))}
    horizon = today + timedelta(weeks=3)
    day, locked, current = start, 0, None
    holders = [m for m in memberships if m.status == MembershipStatus.ACTIVE]
    for membership in holders[3:8]:
        db.session.add(OptOut(membership_id=membership.id, crop_id=crops["Dill"].id))
    db.session.add(OptOut(membership_id=holders[0].id, crop_id=crops["Radishes"].id))
    while day <= horizon:
        sites = sites_serving(day)
        if not sites:
            day += timedelta(days=1)
            continue
        round_ = create_round(day, extra=False)
        week = (day - start).days // 7
        served = [m for m in holders if m.site in sites]
        full_shares = Fraction(sum(m.weight_milli for m in served), 1000)
        # Every site's first round from today on is half recorded, so each household has
        # something in "this week" whatever weekday the demo is loaded on.
        is_current = today <= day < today + timedelta(days=7)
        if day < today or is_current:
            for name, (per_share, weeks) in HARVEST_PLAN.items():
                if week not in weeks or (is_current and rng.random() < 0.5):
                    continue
                crop = crops[name]
                amount = per_share * full_shares * Fraction(rng.randint(85, 115), 100)
                # Whole steps, as a farmer weighs or counts: no 39.13 cucumbers.
                milli = max(1, int(amount * 1000 / crop.step_milli)) * crop.step_milli
                db.session.add(
                    HarvestEntry(round=round_, crop=crop, quantity_milli=milli, recorded_by=farmer)
                )
            if week >= 8:
                pumpkins = max(1, len(served) // 3)
                db.session.add(
                    HarvestEntry(
                        round=round_,
                        crop=crops[SCARCE],
                        quantity_milli=pumpkins * 1000,
                        recorded_by=farmer,
                    )
                )
            for membership in rng.sample(served, k=min(2, len(served))):
                mode = HoldMode.DONATE if rng.random() < 0.5 else HoldMode.OTHERS
                db.session.add(Hold(membership_id=membership.id, round_date=day, mode=mode))
        db.session.flush()
        if day < today:
            lock_round(round_, farmer)
            # Past rounds were handed out and announced long ago: no mail flood on first run.
            distribute_round(round_, announced=True)
            locked += 1
        elif is_current and current is None:
            current = day
        day += timedelta(days=1)
    return locked, current


# --- offers (issue 11): a site's waiting list with one open offer ---------------------------

WAITING_HOUSEHOLDS = [
    ("Zofia Kwiatkowska", "pl"),
    ("Piet de Boer", "en"),
    ("Ирина Павлова", "en"),
]


def _load_waiting_list(season: Season) -> None:
    """Farm Gate is full with one household waiting; three more join its list, the farm
    adds a place, and the offer job offers it to the first in line (one open offer)."""
    from csa.core.clock import utcnow
    from csa.register import waiting
    from csa.waitlist import offers

    gate = db.session.scalars(select(PickupSite).where(PickupSite.name == "Farm Gate")).one()
    full = db.session.scalars(select(ShareType).where(ShareType.name == "Full")).one()
    for name, locale in WAITING_HOUSEHOLDS:
        member = Member(name=name, email=f"{_slug(name)}@example.org", locale=locale)
        membership = Membership(
            member=member,
            season=season,
            share_type=full,
            shares=1,
            site=gate,
            start=season.start,
            end=season.end,
            status=MembershipStatus.WAITING,
        )
        db.session.add_all([member, membership])
        waiting.join(membership)
    # The household that waited already (loaded before ranks existed) stands first.
    for membership in waiting.waiting_list(gate.id, season.id):
        if membership.waiting_rank is None:
            waiting.move(membership, -len(WAITING_HOUSEHOLDS))
    gate.capacity += 1
    db.session.flush()
    now = utcnow()
    offers.offer_next(gate, season, now, farm_today(now))


# --- sign-up (issue 11) ------------------------------------------------------------------------

DEMO_TERMS = (
    "Members pay the season's price before its first round.\n\n"
    "Each week a member collects its share at its pickup site; a share not collected goes to "
    "the others.",
    "Members pay the season's price before its first round, or in three parts by agreement."
    "\n\nEach week a member collects its share at its pickup site; a share not collected goes "
    "to the others.\n\nA member may put its share on hold for a round up to its cutoff.",
)
# (name, e-mail, language, state, site index, decline reason)
DEMO_REQUESTS = (
    ("Zofia Zielińska", "zofia.zielinska@example.net", "pl", "confirmed", 0, ""),
    ("Tom Baker", "tom.baker@example.net", "en", "confirmed", 1, ""),
    ("Olga Wiśniewska", "olga.wisniewska@example.net", "pl", "waiting", 3, ""),
    (
        "Piotr Nowicki",
        "piotr.nowicki@example.net",
        "pl",
        "declined",
        2,
        "We deliver no further than Wieliczka; the Green School site is the nearest.",
    ),
    ("Ewa Unconfirmed", "ewa.unconfirmed@example.net", "pl", "unconfirmed", 0, ""),
)


def _load_signup(season: Season, memberships: list[Membership]) -> None:
    """The season open for sign-up, two versions of the terms, requests in several states."""
    from csa.core.clock import utcnow
    from csa.models import SignupRequest, SignupState
    from csa.signup.operations import save_terms

    season.signup_open = True
    coordinator = db.session.scalar(select(User).where(User.email == "coordinator@demo.farm"))
    terms = None
    for text in DEMO_TERMS:
        terms = save_terms(text, coordinator)
    assert terms is not None
    sites = list(db.session.scalars(select(PickupSite).order_by(PickupSite.id)))
    share_type = db.session.scalar(select(ShareType).order_by(ShareType.weight_milli))
    now = utcnow()
    for i, (name, email, lang, state, site, reason) in enumerate(DEMO_REQUESTS):
        created = now - timedelta(days=len(DEMO_REQUESTS) - i)
        confirmed = state != "unconfirmed"
        db.session.add(
            SignupRequest(
                name=name,
                email=email,
                phone="",
                address="",
                locale=lang,
                season=season,
                share_type=share_type,
                shares=1,
                site=sites[site % len(sites)],
                terms=terms,
                terms_accepted_at=created,
                privacy_accepted_at=created,
                state=SignupState(state),
                # No link works: the demo's unconfirmed request waits for nobody.
                token_hash=None,
                created_at=created,
                confirmed_at=created + timedelta(hours=1) if confirmed else None,
                decided_at=created + timedelta(days=1) if state == "declined" else None,
                decided_by=coordinator if state == "declined" else None,
                decline_reason=reason,
            )
        )
    # The newest household came through the sign-up page and was approved.
    joined = memberships[-3]
    joined.terms = terms
    joined.terms_accepted_at = now - timedelta(days=20)
    db.session.add(
        SignupRequest(
            name=joined.member.name,
            email=joined.member.email,
            phone=joined.member.phone,
            address=joined.member.address,
            locale=joined.member.locale,
            season=season,
            share_type=joined.share_type,
            shares=joined.shares,
            site=joined.site,
            terms=terms,
            terms_accepted_at=joined.terms_accepted_at,
            privacy_accepted_at=joined.terms_accepted_at,
            state=SignupState.APPROVED,
            created_at=joined.terms_accepted_at,
            confirmed_at=joined.terms_accepted_at + timedelta(hours=1),
            decided_at=joined.terms_accepted_at + timedelta(days=1),
            decided_by=coordinator,
            decline_reason="",
            member_id=joined.member_id,
            membership_id=joined.id,
        )
    )


# --- holds (issue 11) ---------------------------------------------------------------------


def _load_holds(today: date, memberships: list[Membership]) -> None:
    """A moved round, the demo member away for a fortnight, a coordinator's hold in the log.

    The rounds are moved and held through the operations the pages use, so the round log and
    the hold log read as if people had done it; no notices are queued (a demo sends no mail).
    """
    from csa.errors import ValidationFailed
    from csa.rounds.lifecycle import move_round
    from csa.share import operations as share_ops
    from csa.share.queries import membership_rounds

    coordinator = db.session.scalar(select(User).where(User.email == "coordinator@demo.farm"))
    member_login = db.session.scalar(select(User).where(User.email == "member@demo.farm"))
    own = memberships[0]  # the demo member's household, at Old Mill (Tuesdays)
    coming = [
        r
        for r in membership_rounds(own)
        if r.date > today + timedelta(days=7) and r.accepts_harvest
    ]
    if coming:
        # The last coming Old Mill round moves to the Wednesday after: no site serves it.
        last = coming[-1]
        move_round(last, last.date + timedelta(days=1), coordinator, today)
    other = next(
        m
        for m in memberships[1:]
        if m.status == MembershipStatus.ACTIVE and m.site_id == own.site_id
    )
    # Away from the third week on: this week's and next week's rounds stay as they are (the
    # member's browser journey holds next week's round itself).
    away = timedelta(days=14), timedelta(days=24)
    try:
        share_ops.set_holds(
            own, today + away[0], today + away[1], HoldMode.DONATE, today, by=member_login
        )
        share_ops.set_holds(
            other, today, today + timedelta(days=21), HoldMode.OTHERS, today, by=coordinator
        )
    except ValidationFailed:
        pass  # loaded at an hour when these rounds are locked already: no holds to show
    db.session.flush()
