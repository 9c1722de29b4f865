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
from csa.extensions import db
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
    Role,
    Season,
    ShareType,
    User,
)
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
    farmer = db.session.scalar(select(User).where(User.email == "farmer@demo.farm"))
    locked, current = _load_rounds(rng, today, start, memberships, farmer)
    _load_changes(today, memberships, [t for t in types if isinstance(t, ShareType)])
    return (
        f"Demo farm loaded: season {start}..{end}, {len(memberships)} memberships, "
        f"{len(sites)} sites, {len(CROPS)} crops, {locked} locked rounds, "
        f"current round {current}."
    )


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
