"""ORM classes. Quantities are integers in thousandths of the crop's unit ("milli"), weights in
thousandths of a full share and money in cents, so nothing is ever a float
(docs/ARCHITECTURE.md)."""

from __future__ import annotations

import datetime as dt
import enum
import secrets
from datetime import date, datetime, time
from fractions import Fraction
from typing import TYPE_CHECKING

from flask_login import UserMixin
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    Time,
    UniqueConstraint,
    event,
    false,
    select,
    text,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from csa.core.clock import utcnow
from csa.core.names import surname
from csa.core.offers import OfferState as ShareOfferState
from csa.core.offers import SwapState
from csa.core.offers import Target as OfferTarget
from csa.core.schedule import Rhythm
from csa.extensions import Base, db

MILLI = 1000
NOTE_MAX = 300  # a round's cancel reason and a round event's note; the forms check it
MEMBER_NOTES_MAX = 5000  # a household's notes (a Text column): the form checks it

if TYPE_CHECKING:  # Flask-SQLAlchemy makes db.Model at run time; mypy sees its base.
    Model = Base
else:
    Model = db.Model


class Role(enum.StrEnum):
    MEMBER = "member"
    FARMER = "farmer"
    COORDINATOR = "coordinator"
    ADMIN = "admin"


class MembershipStatus(enum.StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    ENDED = "ended"
    WAITING = "waiting"


class RoundStatus(enum.StrEnum):
    # There is no "planned": a round exists from the day it is created and takes harvest at
    # once. Rows written as "planned" before are migrated to "open" (migrations/versions/
    # c3_round_log.py).
    OPEN = "open"
    LOCKED = "locked"
    DISTRIBUTED = "distributed"
    CANCELLED = "cancelled"


# A round takes harvest and can change while open; once locked its split is stored.
OPEN_STATES = (RoundStatus.OPEN,)
LOCKED_STATES = (RoundStatus.LOCKED, RoundStatus.DISTRIBUTED)


class RoundAction(enum.StrEnum):
    """What happened to a round, as its log records it (csa/rounds/lifecycle.py writes it)."""

    EXTRA = "extra"  # added by hand, from the calendar, the rounds page or the CLI
    CANCEL = "cancel"
    MOVE = "move"
    LOCK = "lock"
    REOPEN = "reopen"
    DISTRIBUTE = "distribute"


# A membership in these states holds its place at a site (a paused one keeps it).
OCCUPYING = (MembershipStatus.ACTIVE, MembershipStatus.PAUSED)


class PaymentPlan(enum.StrEnum):
    SINGLE = "single"  # the season price at once
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"


class HoldMode(enum.StrEnum):
    DONATE = "donate"
    OTHERS = "others"


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    # Stored as plain strings (no native PG enum): adding a value needs no type migration.
    return Enum(cls, name=name, native_enum=False, length=20, values_callable=_values)


def _values(cls: type[enum.Enum]) -> list[str]:
    return [str(m.value) for m in cls]


class Member(Model):
    """A household that contracts with the farm; e-mail identifies it on import."""

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254), unique=True)
    phone: Mapped[str] = mapped_column(String(50), default="")
    address: Mapped[str] = mapped_column(String(300), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    locale: Mapped[str] = mapped_column(String(10), default="en")
    calendar_token: Mapped[str] = mapped_column(
        String(64), unique=True, default=lambda: secrets.token_urlsafe(24)
    )
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="member", order_by="Membership.start.desc()"
    )
    # Every login of the household, oldest first (csa/accounts/household.py: the one with the
    # household's e-mail is its contact, the others are co-members).
    users: Mapped[list[User]] = relationship(back_populates="member", order_by="User.id")

    @property
    def surname(self) -> str:
        """The sort key used on lists and sheets: the last word of the name."""
        return surname(self.name)


class User(UserMixin, Model):
    """A login; a member's login is tied to its household."""

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256), default="")
    role: Mapped[Role] = mapped_column(_enum(Role, "role"), default=Role.MEMBER)
    name: Mapped[str] = mapped_column(String(200), default="")
    phone: Mapped[str] = mapped_column(String(50), default="", server_default="")
    # "" until the person picks a language: the site follows the browser until then
    # (csa/__init__.py, select_locale). Mails to the login use csa/accounts/profile.py's
    # mail_locale.
    locale: Mapped[str] = mapped_column(String(10), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Several logins may share a household (co-members, csa/accounts/household.py).
    member_id: Mapped[int | None] = mapped_column(ForeignKey("member.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # Part of the id in every session and remember cookie (get_id): bumping it ends them all.
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    # Whether the household's notices are mailed to this login (csa/notices/recipients.py).
    notices: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")

    member: Mapped[Member | None] = relationship(back_populates="users")

    @property
    def is_active(self) -> bool:
        return self.active

    def get_id(self) -> str:
        """Name the login and its session version, so an old cookie no longer matches."""
        return f"{self.id}:{self.session_version}"

    def set_password(self, password: str, method: str = "scrypt") -> None:
        self.password_hash = generate_password_hash(password, method=method)

    def check_password(self, password: str) -> bool:
        return bool(self.password_hash) and check_password_hash(self.password_hash, password)

    def has_role(self, *roles: Role) -> bool:
        return self.role in roles


class LoginThrottle(Model):
    """Failed attempts of one kind for one (e-mail, address) pair, or one address (e-mail "").

    Counted in the database with atomic UPDATEs so every worker sees the same throttle
    (csa/accounts/throttle.py has the rule).
    """

    __table_args__ = (UniqueConstraint("scope", "email", "address"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(10))  # "login" or "forgot"
    email: Mapped[str] = mapped_column(String(254))
    address: Mapped[str] = mapped_column(String(64))
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    blocked_until: Mapped[datetime | None] = mapped_column(DateTime)


class AccountEvent(Model):
    """What happened to a login's password: who reset it, when it was set by link."""

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    action: Mapped[str] = mapped_column(String(20))  # see csa/accounts/operations.py
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    by: Mapped[User | None] = relationship(foreign_keys=[by_id])


class Season(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    start: Mapped[date] = mapped_column(Date)
    end: Mapped[date] = mapped_column(Date)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Offered on the public sign-up page (csa/signup); coordinators set it in the setup.
    signup_open: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # What the season costs the farm, in cents of the farm's currency (FarmProfile.currency);
    # None until the farm sets it. The reference price of each membership follows from it
    # (csa/money/prices.py).
    budget_cents: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (
        CheckConstraint('start <= "end"', name="dates"),
        CheckConstraint("budget_cents IS NULL OR budget_cents >= 0", name="budget_positive"),
    )


class ShareType(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    weight_milli: Mapped[int] = mapped_column(Integer)  # full share = 1000
    price_cents: Mapped[int] = mapped_column(Integer, default=0)  # per season
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    __table_args__ = (CheckConstraint("weight_milli > 0", name="weight_positive"),)

    @property
    def weight(self) -> Fraction:
        return Fraction(self.weight_milli, MILLI)


class PickupSite(Model):
    """A depot: members collect their share here on its weekday (0 = Monday)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    address: Mapped[str] = mapped_column(String(300), default="")
    weekday: Mapped[int] = mapped_column(Integer)
    opens: Mapped[time] = mapped_column(Time, default=time(16, 0))
    closes: Mapped[time] = mapped_column(Time, default=time(19, 0))
    capacity: Mapped[int] = mapped_column(Integer, default=50)
    # Every `every_weeks` weeks; `week_offset` picks which ISO weeks (week % every == offset).
    every_weeks: Mapped[int] = mapped_column(Integer, default=1)
    week_offset: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    __table_args__ = (
        CheckConstraint("weekday >= 0 AND weekday <= 6", name="weekday_range"),
        CheckConstraint("capacity >= 0", name="capacity_positive"),
    )

    def serves(self, on_date: date) -> bool:
        """True when this site hands out shares on that date."""
        return self.active and self.rhythm.serves(on_date)

    @property
    def rhythm(self) -> Rhythm:
        return Rhythm(self.weekday, self.every_weeks, self.week_offset)


class Membership(Model):
    """One member's contract for one season."""

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"), index=True)
    season_id: Mapped[int] = mapped_column(ForeignKey("season.id"), index=True)
    share_type_id: Mapped[int] = mapped_column(ForeignKey("share_type.id"))
    shares: Mapped[int] = mapped_column(Integer, default=1)
    site_id: Mapped[int] = mapped_column(ForeignKey("pickup_site.id"), index=True)
    start: Mapped[date] = mapped_column(Date)
    end: Mapped[date] = mapped_column(Date)
    status: Mapped[MembershipStatus] = mapped_column(
        _enum(MembershipStatus, "membership_status"), default=MembershipStatus.ACTIVE
    )
    # A waiting membership's place in its site's list for its season: lower comes first
    # (csa/register/waiting.py keeps it; None on memberships that are not waiting).
    waiting_rank: Mapped[int | None] = mapped_column(Integer)
    # When it joined that list (UTC), kept with the rank by _waiting_since below.
    waiting_since: Mapped[datetime | None] = mapped_column(DateTime)

    # The contract terms the household accepted when it signed up, and when (csa/signup).
    terms_id: Mapped[int | None] = mapped_column(ForeignKey("contract_terms.id"))
    terms_accepted_at: Mapped[datetime | None] = mapped_column(DateTime)
    # A trial share: the rounds up to and including this date are the trial; then the member
    # joins the season (None again) or leaves (end = trial_end). csa/renewal/trials.py.
    trial_end: Mapped[date | None] = mapped_column(Date)
    # The season price fixed by settling a bidding round (or for a latecomer, the pro-rata
    # reference); None: the reference price from the budget applies (csa/money/prices.py).
    price_cents: Mapped[int | None] = mapped_column(Integer)
    # How the season price is paid: one sum, monthly or quarterly instalments.
    payment_plan: Mapped[PaymentPlan] = mapped_column(
        _enum(PaymentPlan, "payment_plan"), default=PaymentPlan.SINGLE, server_default="single"
    )

    member: Mapped[Member] = relationship(back_populates="memberships")
    terms: Mapped[ContractTerms | None] = relationship()
    season: Mapped[Season] = relationship()
    share_type: Mapped[ShareType] = relationship()
    site: Mapped[PickupSite] = relationship()

    __table_args__ = (
        UniqueConstraint("member_id", "season_id", name="uq_membership_member_season"),
        CheckConstraint("shares > 0", name="shares_positive"),
        CheckConstraint('start <= "end"', name="dates"),
    )

    @property
    def weight_milli(self) -> int:
        return self.share_type.weight_milli * self.shares

    def active_on(self, on_date: date) -> bool:
        return self.status == MembershipStatus.ACTIVE and self.start <= on_date <= self.end


class Crop(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    unit: Mapped[str] = mapped_column(String(20))
    step_milli: Mapped[int] = mapped_column(Integer)  # smallest amount handed out
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    __table_args__ = (CheckConstraint("step_milli > 0", name="step_positive"),)


class Round(Model):
    """One distribution date; it feeds every site that serves that date."""

    id: Mapped[int] = mapped_column(primary_key=True)
    date: Mapped[date] = mapped_column(Date, unique=True)
    status: Mapped[RoundStatus] = mapped_column(
        _enum(RoundStatus, "round_status"), default=RoundStatus.OPEN
    )
    cutoff_at: Mapped[datetime | None] = mapped_column(DateTime)  # UTC
    locked_at: Mapped[datetime | None] = mapped_column(DateTime)
    cancel_reason: Mapped[str] = mapped_column(String(NOTE_MAX), default="")
    extra: Mapped[bool] = mapped_column(Boolean, default=False)  # added by hand
    # Set when a round was moved: it still feeds the sites of the date it was planned on.
    moved_from: Mapped[dt.date | None] = mapped_column(Date)
    sheets_at: Mapped[datetime | None] = mapped_column(DateTime)
    notified_at: Mapped[datetime | None] = mapped_column(DateTime)

    harvests: Mapped[list[HarvestEntry]] = relationship(back_populates="round")

    @property
    def schedule_date(self) -> dt.date:
        """The date whose sites this round feeds (its own, unless it was moved)."""
        return self.moved_from or self.date

    @property
    def is_locked(self) -> bool:
        return self.status in LOCKED_STATES

    @property
    def accepts_harvest(self) -> bool:
        return self.status in OPEN_STATES


class HarvestSubmission(Model):
    """One sending of the harvest form, by the one-time token the form carried.

    The token is unique, so the same form sent again (a retry after a dropped connection,
    a double tap) finds the entries it saved the first time instead of adding them twice.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("round.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    entries: Mapped[list[HarvestEntry]] = relationship(
        back_populates="submission", order_by="HarvestEntry.id"
    )


class HarvestEntry(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("round.id"), index=True)
    crop_id: Mapped[int] = mapped_column(ForeignKey("crop.id"))
    quantity_milli: Mapped[int] = mapped_column(Integer)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    recorded_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # The form sending that created it (None: the command line, or before submissions).
    submission_id: Mapped[int | None] = mapped_column(
        ForeignKey("harvest_submission.id"), index=True
    )

    round: Mapped[Round] = relationship(back_populates="harvests")
    crop: Mapped[Crop] = relationship()
    recorded_by: Mapped[User | None] = relationship()
    submission: Mapped[HarvestSubmission | None] = relationship(back_populates="entries")

    __table_args__ = (CheckConstraint("quantity_milli > 0", name="quantity_positive"),)


class HarvestAudit(Model):
    """Who changed a harvest entry, when, from what to what; kept after the entry is gone.

    Harvest entries only: what happens to the round itself is in RoundLog.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("round.id"), index=True)
    entry_id: Mapped[int | None] = mapped_column(Integer)  # no FK: the entry may be deleted
    crop_id: Mapped[int] = mapped_column(ForeignKey("crop.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    action: Mapped[str] = mapped_column(String(20))  # create, update, delete
    before_milli: Mapped[int | None] = mapped_column(Integer)
    after_milli: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(String(300), default="")

    crop: Mapped[Crop] = relationship()
    user: Mapped[User | None] = relationship()


class RoundLog(Model):
    """One event in a round's life (added, cancelled, moved, locked, reopened, distributed).

    Written only by csa/rounds/lifecycle.py, in the transaction of the change it records.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("round.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))  # None: CLI, scheduler
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    action: Mapped[RoundAction] = mapped_column(_enum(RoundAction, "round_action"))
    note: Mapped[str] = mapped_column(String(NOTE_MAX), default="")

    user: Mapped[User | None] = relationship()


class Hold(Model):
    """A membership away for one round; the member chooses donate or give to the others."""

    id: Mapped[int] = mapped_column(primary_key=True)
    membership_id: Mapped[int] = mapped_column(ForeignKey("membership.id"), index=True)
    round_date: Mapped[date] = mapped_column(Date)
    mode: Mapped[HoldMode] = mapped_column(_enum(HoldMode, "hold_mode"), default=HoldMode.DONATE)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    membership: Mapped[Membership] = relationship()

    __table_args__ = (UniqueConstraint("membership_id", "round_date", name="uq_hold_date"),)


class OptOut(Model):
    """A crop a membership never wants; the others share it."""

    id: Mapped[int] = mapped_column(primary_key=True)
    membership_id: Mapped[int] = mapped_column(ForeignKey("membership.id"), index=True)
    crop_id: Mapped[int] = mapped_column(ForeignKey("crop.id"))

    crop: Mapped[Crop] = relationship()

    __table_args__ = (UniqueConstraint("membership_id", "crop_id", name="uq_optout_crop"),)


class Allocation(Model):
    """What one membership received of one crop in a locked round, with how it was reached.

    Entitlement and balance are exact fractions in steps, stored as numerator/denominator.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("round.id"), index=True)
    membership_id: Mapped[int] = mapped_column(ForeignKey("membership.id"), index=True)
    crop_id: Mapped[int] = mapped_column(ForeignKey("crop.id"))
    quantity_milli: Mapped[int] = mapped_column(Integer)
    units: Mapped[int] = mapped_column(Integer)
    entitled_num: Mapped[int] = mapped_column(db.BigInteger)
    entitled_den: Mapped[int] = mapped_column(db.BigInteger)
    balance_num: Mapped[int] = mapped_column(db.BigInteger)  # carried in
    balance_den: Mapped[int] = mapped_column(db.BigInteger)
    adjustment: Mapped[int] = mapped_column(Integer, default=0)
    donated: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (
        UniqueConstraint("round_id", "membership_id", "crop_id", name="uq_allocation_cell"),
    )


class RoundSurplus(Model):
    """What could not be split in a locked round, per crop; reported, never lost."""

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("round.id"), index=True)
    crop_id: Mapped[int] = mapped_column(ForeignKey("crop.id"))
    harvested_milli: Mapped[int] = mapped_column(Integer)
    surplus_milli: Mapped[int] = mapped_column(Integer)

    __table_args__ = (UniqueConstraint("round_id", "crop_id", name="uq_surplus_crop"),)


class Lease(Model):
    """A named lease in the database so only one scheduler acts at a time."""

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    holder: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime] = mapped_column(DateTime)


class DataVersion(Model):
    """Counters of writes to what a split depends on (csa/rounds/freshness.py bumps them).

    Row 1 counts writes to any input of an open round's split, row 2 writes to what the
    carried balances are read from (allocations, rounds). Every worker caches splits and
    balances keyed by (token, value) and reads a row per view; the random token tells
    databases apart (a test's fresh database starts at 0 too).
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(32))
    value: Mapped[int] = mapped_column(db.BigInteger, default=0)


def new_version_token() -> str:
    """A random token for a fresh data_version row."""
    return secrets.token_hex(8)


@event.listens_for(DataVersion.__table__, "after_create")
def _seed_data_version(target: Table, connection: Connection, **_kw: object) -> None:
    # create_all (tests, the demo) gets the rows the migrations insert: the split version
    # and the balance version (csa/rounds/freshness.py).
    for row_id in (1, 2):
        connection.execute(target.insert().values(id=row_id, token=new_version_token(), value=0))


class OutboxState(enum.StrEnum):
    """Where a queued e-mail is on its way (csa/notices/outbox.py moves it along)."""

    QUEUED = "queued"  # due at next_attempt_at
    SENDING = "sending"  # claimed by a delivery loop until claimed_until
    SENT = "sent"
    FAILED = "failed"  # refused too often, or undeliverable; shown to coordinators


class OutboxMessage(Model):
    """One e-mail to one recipient, queued by a business transaction and delivered apart.

    `body` is what staff may read on the Sent messages page: links that grant access are
    replaced there, and the text that is sent lives only in `sealed` (encrypted with a key
    derived from SECRET_KEY) until it is delivered, then it is erased (csa/notices/mail.py).
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(120), unique=True)  # idempotency key
    to: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    sealed: Mapped[str | None] = mapped_column(Text)
    admin_only: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[OutboxState] = mapped_column(
        _enum(OutboxState, "outbox_state"), default=OutboxState.QUEUED
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    claim: Mapped[str] = mapped_column(String(40), default="")
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    transport: Mapped[str] = mapped_column(String(10), default="")  # smtp or file
    # A document attached when the message is built for sending, named "kind:id" (e.g.
    # "invoice:42"): rendered then from a row that never changes (csa/notices/attachments.py).
    attachment: Mapped[str | None] = mapped_column(String(60))
    # messages (issue 13): where replies go (the staff member who wrote it), and extra
    # headers that carry a link granting access (List-Unsubscribe), kept only sealed like
    # `sealed` and erased once the message is sent.
    reply_to: Mapped[str | None] = mapped_column(String(254))
    sealed_headers: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_outbox_message_due", "state", "next_attempt_at"),)


# --- offers (issue 11) ---


class OfferState(enum.StrEnum):
    """Where an offer of a place to a waiting household stands (csa/waitlist/offers.py)."""

    OPEN = "open"  # sent, waiting for the household's answer until expires_at
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"  # not answered in time
    WITHDRAWN = "withdrawn"  # taken back by a coordinator


class PlaceOffer(Model):
    """A free place at a site offered to one waiting membership, answered through a link.

    The link's token is never stored: only its sha256 (`token_hash`). While the offer is
    open it holds one numbered `slot` of its site and season; the unique constraint on
    (site, season, slot) is what keeps two jobs running at once from offering one free
    place twice (a closed offer gives its slot back: NULL, which never collides).
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    membership_id: Mapped[int] = mapped_column(ForeignKey("membership.id"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("pickup_site.id"))
    season_id: Mapped[int] = mapped_column(ForeignKey("season.id"))
    slot: Mapped[int | None] = mapped_column(Integer)
    offered_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)  # UTC
    expires_at: Mapped[datetime] = mapped_column(DateTime)  # UTC
    state: Mapped[OfferState] = mapped_column(
        _enum(OfferState, "offer_state"), default=OfferState.OPEN
    )
    answered_at: Mapped[datetime | None] = mapped_column(DateTime)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)

    membership: Mapped[Membership] = relationship()
    site: Mapped[PickupSite] = relationship()
    season: Mapped[Season] = relationship()

    __table_args__ = (
        UniqueConstraint("site_id", "season_id", "slot", name="uq_place_offer_slot"),
        Index("ix_place_offer_open", "state", "expires_at"),
    )


@event.listens_for(Membership.waiting_rank, "set", active_history=True)
def _waiting_since(target: Membership, value: object, oldvalue: object, _initiator: object) -> None:
    # Every way onto the list gives a rank (csa/register/waiting.py, the register form, the
    # import) and every way off takes it away, so the rank's first value dates the wait;
    # reordering keeps it.
    if value is None:
        target.waiting_since = None
    elif oldvalue is None or not isinstance(oldvalue, int):
        target.waiting_since = utcnow()


# --- privacy (issue 11) ---


class PrivacyRequestKind(enum.StrEnum):
    DELETION = "deletion"


class PrivacyRequestState(enum.StrEnum):
    REQUESTED = "requested"
    DONE = "done"  # the household was anonymised
    REFUSED = "refused"


class PrivacyRequest(Model):
    """A household's request about its personal data (today: to be deleted).

    `reason` is the member's own words (emptied when the household is anonymised);
    `answer` is the coordinator's when refusing (csa/privacy/operations.py).
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"), index=True)
    kind: Mapped[PrivacyRequestKind] = mapped_column(
        _enum(PrivacyRequestKind, "privacy_request_kind"), default=PrivacyRequestKind.DELETION
    )
    state: Mapped[PrivacyRequestState] = mapped_column(
        _enum(PrivacyRequestState, "privacy_request_state"),
        default=PrivacyRequestState.REQUESTED,
    )
    reason: Mapped[str] = mapped_column(Text, default="")
    answer: Mapped[str] = mapped_column(Text, default="")
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    requested_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)

    member: Mapped[Member] = relationship()
    requested_by: Mapped[User | None] = relationship(foreign_keys=[requested_by_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])


class PrivacyEvent(Model):
    """The audit of what was done with a household's personal data: exported, asked for
    deletion, refused, anonymised; who did it (None: the command line) and when."""

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"), index=True)
    action: Mapped[str] = mapped_column(String(20))  # see csa/privacy/operations.py
    by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    member: Mapped[Member] = relationship()
    by: Mapped[User | None] = relationship()


# --- sign-up (issue 11) ---


class ContractTerms(Model):
    """One version of the farm's contract terms; a coordinator's save adds a version."""

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer, unique=True)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))

    created_by: Mapped[User | None] = relationship()


class SignupState(enum.StrEnum):
    """Where a sign-up request is (csa/signup/operations.py moves it along)."""

    UNCONFIRMED = "unconfirmed"  # the e-mail link not followed yet: it does not count
    CONFIRMED = "confirmed"  # a coordinator decides
    WAITING = "waiting"  # confirmed, but its site was full: approval puts it on the list
    APPROVED = "approved"
    DECLINED = "declined"


class SignupRequest(Model):
    """A household asking to join a season from the public sign-up page.

    The confirmation link's token is stored only as its SHA-256 (`token_hash`), and is
    cleared when the link is used.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254), index=True)
    phone: Mapped[str] = mapped_column(String(50), default="")
    address: Mapped[str] = mapped_column(String(300), default="")
    locale: Mapped[str] = mapped_column(String(10), default="en")
    season_id: Mapped[int] = mapped_column(ForeignKey("season.id"))
    share_type_id: Mapped[int] = mapped_column(ForeignKey("share_type.id"))
    shares: Mapped[int] = mapped_column(Integer, default=1)
    site_id: Mapped[int] = mapped_column(ForeignKey("pickup_site.id"))
    terms_id: Mapped[int | None] = mapped_column(ForeignKey("contract_terms.id"))
    terms_accepted_at: Mapped[datetime] = mapped_column(DateTime)
    privacy_accepted_at: Mapped[datetime] = mapped_column(DateTime)
    state: Mapped[SignupState] = mapped_column(
        _enum(SignupState, "signup_state"), default=SignupState.UNCONFIRMED, index=True
    )
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    decline_reason: Mapped[str] = mapped_column(String(NOTE_MAX), default="")
    member_id: Mapped[int | None] = mapped_column(ForeignKey("member.id"))
    membership_id: Mapped[int | None] = mapped_column(ForeignKey("membership.id"))

    season: Mapped[Season] = relationship()
    share_type: Mapped[ShareType] = relationship()
    site: Mapped[PickupSite] = relationship()
    terms: Mapped[ContractTerms | None] = relationship()
    decided_by: Mapped[User | None] = relationship()
    membership: Mapped[Membership | None] = relationship()

    __table_args__ = (CheckConstraint("shares > 0", name="shares_positive"),)


# --- renewal (issue 11) ---


class RenewalState(enum.StrEnum):
    """Where an invitation to carry a membership into the next season stands."""

    INVITED = "invited"  # pending: its place at the chosen site is kept for it
    ACCEPTED = "accepted"  # as preselected; the next season's membership exists
    CHANGED = "changed"  # with other terms; the next season's membership exists
    DECLINED = "declined"
    EXPIRED = "expired"  # not answered by the deadline; its place went back to the others


class Renewal(Model):
    """The invitation of one membership into the next season, and the member's answer.

    The choices start as the membership's terms; while the invitation is pending its place at
    the chosen site counts as taken (csa/register/waiting.py places_taken).
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    membership_id: Mapped[int] = mapped_column(ForeignKey("membership.id"), index=True)
    next_season_id: Mapped[int] = mapped_column(ForeignKey("season.id"), index=True)
    state: Mapped[RenewalState] = mapped_column(
        _enum(RenewalState, "renewal_state"), default=RenewalState.INVITED
    )
    share_type_id: Mapped[int] = mapped_column(ForeignKey("share_type.id"))
    shares: Mapped[int] = mapped_column(Integer, default=1)
    site_id: Mapped[int] = mapped_column(ForeignKey("pickup_site.id"), index=True)
    deadline: Mapped[date] = mapped_column(Date)  # the last day to answer, in the farm's zone
    invited_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    reminded_at: Mapped[datetime | None] = mapped_column(DateTime)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime)
    decline_reason: Mapped[str] = mapped_column(String(NOTE_MAX), default="")
    new_membership_id: Mapped[int | None] = mapped_column(ForeignKey("membership.id"))

    membership: Mapped[Membership] = relationship(foreign_keys=[membership_id])
    next_season: Mapped[Season] = relationship()
    share_type: Mapped[ShareType] = relationship()
    site: Mapped[PickupSite] = relationship()
    new_membership: Mapped[Membership | None] = relationship(foreign_keys=[new_membership_id])

    __table_args__ = (
        UniqueConstraint("membership_id", "next_season_id", name="uq_renewal_membership_season"),
        CheckConstraint("shares > 0", name="shares_positive"),
    )


# --- holds (issue 11) ---


class HoldAction(enum.StrEnum):
    SET = "set"  # put on hold, or its mode changed
    CLEARED = "cleared"


class HoldLog(Model):
    """Who put a hold on a round or took it off, and when: the member or a coordinator.

    Written by csa/share/operations.py with every change of a Hold; a coordinator's page of
    the household shows it (csa/register/views.py).
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    membership_id: Mapped[int] = mapped_column(ForeignKey("membership.id"), index=True)
    round_date: Mapped[date] = mapped_column(Date)
    action: Mapped[HoldAction] = mapped_column(_enum(HoldAction, "hold_action"))
    mode: Mapped[HoldMode | None] = mapped_column(_enum(HoldMode, "hold_log_mode"))
    by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))  # None: CLI, demo
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    by: Mapped[User | None] = relationship()
    membership: Mapped[Membership] = relationship()


# --- changes (issue 11) ---


class ChangeState(enum.StrEnum):
    """Where a change of a membership's terms stands (csa/changes/operations.py)."""

    REQUESTED = "requested"
    APPROVED = "approved"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"


class MembershipChange(Model):
    """New terms (share type, count, site) for a membership from an effective date on.

    The membership's own columns stay the terms at its start; the terms in force on a date
    are those of its latest approved change effective on or before it (csa/changes/terms.py).
    Each change holds the whole terms, not only what changed, so one row answers.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    membership_id: Mapped[int] = mapped_column(ForeignKey("membership.id"), index=True)
    effective: Mapped[date] = mapped_column(Date)  # the date of the first round it applies to
    share_type_id: Mapped[int] = mapped_column(ForeignKey("share_type.id"))
    shares: Mapped[int] = mapped_column(Integer)
    site_id: Mapped[int] = mapped_column(ForeignKey("pickup_site.id"))
    state: Mapped[ChangeState] = mapped_column(
        _enum(ChangeState, "change_state"), default=ChangeState.REQUESTED
    )
    reason: Mapped[str] = mapped_column(String(NOTE_MAX), default="")  # a decline's reason
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    requested_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)

    membership: Mapped[Membership] = relationship()
    share_type: Mapped[ShareType] = relationship()
    site: Mapped[PickupSite] = relationship()
    requested_by: Mapped[User | None] = relationship(foreign_keys=[requested_by_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])

    __table_args__ = (
        CheckConstraint("shares > 0", name="change_shares_positive"),
        Index("ix_membership_change_in_force", "state", "effective"),
    )


# --- money (issue 12) ---


class FarmProfile(Model):
    """The farm as its invoices and bank files name it, and its money settings: one row.

    csa/money/profile.py reads it (creating it from the configuration's defaults once).
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    legal_name: Mapped[str] = mapped_column(String(200), default="")
    address: Mapped[str] = mapped_column(String(300), default="")
    tax_id: Mapped[str] = mapped_column(String(40), default="")
    iban: Mapped[str] = mapped_column(String(34), default="")  # stored compact, upper case
    bic: Mapped[str] = mapped_column(String(11), default="")
    # SEPA creditor identifier, for direct debits (csa/sepa).
    creditor_id: Mapped[str] = mapped_column(String(35), default="")
    currency: Mapped[str] = mapped_column(String(3), default="EUR")  # ISO 4217
    # A pledge below this share of the reference price (in thousandths) asks for a reason.
    pledge_floor_permille: Mapped[int] = mapped_column(Integer, default=600)
    # A membership joining after a round settled pays the reference price for the rounds
    # left (True) or the whole reference price (False).
    latecomer_pro_rata: Mapped[bool] = mapped_column(Boolean, default=True)
    # The payment plans members may choose, comma-separated PaymentPlan values.
    plans_allowed: Mapped[str] = mapped_column(String(40), default="single,monthly,quarterly")
    # Invoices are issued this many days before an instalment falls due (csa/invoices).
    invoice_days_before_due: Mapped[int] = mapped_column(Integer, default=14)
    # Reminders (csa/reminders): the friendly one this many days after the due date, the
    # second this many.
    reminder_first_days: Mapped[int] = mapped_column(Integer, default=10)
    reminder_second_days: Mapped[int] = mapped_column(Integer, default=30)

    __table_args__ = (
        CheckConstraint(
            "pledge_floor_permille >= 0 AND pledge_floor_permille <= 1000", name="floor_range"
        ),
        CheckConstraint("invoice_days_before_due >= 0", name="invoice_days_positive"),
        CheckConstraint(
            "reminder_first_days > 0 AND reminder_second_days > reminder_first_days",
            name="reminder_days_order",
        ),
    )

    @property
    def plans(self) -> list[PaymentPlan]:
        return [PaymentPlan(p) for p in self.plans_allowed.split(",") if p]


class InvoiceKind(enum.StrEnum):
    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"  # corrects an issued invoice, which never changes


class InvoiceCounter(Model):
    """The last number given per year: taken by an atomic UPDATE in the invoice's own
    transaction, so numbers have no gaps even with two processes issuing at once."""

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(Integer, default=0)


class Invoice(Model):
    """An invoice or a credit note, as issued: its columns never change after issuing.

    Buyer name and address are copied at issue time, so a later move does not rewrite it.
    The amount is positive for both kinds; a credit note lowers what its invoice asks.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[InvoiceKind] = mapped_column(
        _enum(InvoiceKind, "invoice_kind"), default=InvoiceKind.INVOICE
    )
    year: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)  # gapless within the year, for both kinds
    number: Mapped[str] = mapped_column(String(30), unique=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"), index=True)
    membership_id: Mapped[int | None] = mapped_column(ForeignKey("membership.id"), index=True)
    # Which instalment of the membership's plan it asks for (1..n); None on credit notes.
    instalment: Mapped[int | None] = mapped_column(Integer)
    credits_id: Mapped[int | None] = mapped_column(ForeignKey("invoice.id"), index=True)
    issued_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date, index=True)
    total_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    # The structured creditor reference (ISO 11649 "RF…") a transfer should carry.
    reference: Mapped[str] = mapped_column(String(35), unique=True)
    buyer_name: Mapped[str] = mapped_column(String(200))
    buyer_address: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    member: Mapped[Member] = relationship()
    membership: Mapped[Membership | None] = relationship()
    credits: Mapped[Invoice | None] = relationship(remote_side=[id])
    lines: Mapped[list[InvoiceLine]] = relationship(
        back_populates="invoice", order_by="InvoiceLine.position"
    )

    __table_args__ = (
        UniqueConstraint("year", "seq", name="uq_invoice_year_seq"),
        # One invoice per instalment of a membership: issuing twice finds it there.
        UniqueConstraint("membership_id", "instalment", name="uq_invoice_instalment"),
        CheckConstraint("total_cents > 0", name="total_positive"),
    )


class InvoiceLine(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(String(300))
    amount_cents: Mapped[int] = mapped_column(Integer)

    invoice: Mapped[Invoice] = relationship(back_populates="lines")


class PaymentMethod(enum.StrEnum):
    TRANSFER = "transfer"
    CASH = "cash"
    DIRECT_DEBIT = "direct_debit"
    OTHER = "other"


class Payment(Model):
    """Money received: typed by hand or read from a bank statement (import_key set)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    booked_on: Mapped[date] = mapped_column(Date, index=True)
    amount_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    method: Mapped[PaymentMethod] = mapped_column(
        _enum(PaymentMethod, "payment_method"), default=PaymentMethod.TRANSFER
    )
    payer_name: Mapped[str] = mapped_column(String(200), default="")
    # The reference or purpose text the bank gave, as it came.
    reference: Mapped[str] = mapped_column(String(300), default="")
    note: Mapped[str] = mapped_column(String(NOTE_MAX), default="")
    # The household it is from, once matched (by reference, amount and name, or by hand).
    member_id: Mapped[int | None] = mapped_column(ForeignKey("member.id"), index=True)
    # A statement entry's own key (csa/payments): importing the same file twice finds it.
    import_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    member: Mapped[Member | None] = relationship()
    allocations: Mapped[list[PaymentAllocation]] = relationship(back_populates="payment")

    __table_args__ = (CheckConstraint("amount_cents > 0", name="amount_positive"),)


class PaymentAllocation(Model):
    """Part of a payment settling part of an invoice (partial payments are allowed)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payment.id"), index=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"), index=True)
    amount_cents: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    payment: Mapped[Payment] = relationship(back_populates="allocations")
    invoice: Mapped[Invoice] = relationship()

    __table_args__ = (CheckConstraint("amount_cents > 0", name="allocation_positive"),)


def memberships_on(on_date: date) -> select:  # type: ignore[valid-type]
    """Select the memberships active on a date (status active, within start..end)."""
    return select(Membership).where(
        Membership.status == MembershipStatus.ACTIVE,
        Membership.start <= on_date,
        Membership.end >= on_date,
    )


# --- bidding (issue 12) ---


class BiddingMode(enum.StrEnum):
    RANGE = "range"  # each pledges a least and a most; settles in one round at one λ
    SINGLE = "single"  # one amount each; short, the farm opens another round


class BiddingState(enum.StrEnum):
    OPEN = "open"  # taking pledges until its deadline
    CLOSED = "closed"  # past its deadline, waiting for a coordinator (or the next round)
    SETTLED = "settled"  # the season prices are fixed; read-only from here
    CANCELLED = "cancelled"


class BiddingRound(Model):
    """One round of pledges for a season's budget (csa/bidding). Numbered 1, 2, … per season.

    Settling stores how it was reached: the budget, λ (exactly, as a fraction) and the
    shortfall or surplus; each membership's price is in PledgeResult and Membership.price_cents.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    season_id: Mapped[int] = mapped_column(ForeignKey("season.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    mode: Mapped[BiddingMode] = mapped_column(_enum(BiddingMode, "bidding_mode"))
    state: Mapped[BiddingState] = mapped_column(
        _enum(BiddingState, "bidding_state"), default=BiddingState.OPEN
    )
    opened_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    opened_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    deadline: Mapped[date] = mapped_column(Date)  # the last day pledges are taken
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)
    settled_at: Mapped[datetime | None] = mapped_column(DateTime)
    # None when the scheduler settled it (a range round covered at its deadline).
    settled_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    # λ as an exact fraction, numerator and denominator as decimal strings.
    lambda_num: Mapped[str | None] = mapped_column(String(40))
    lambda_den: Mapped[str | None] = mapped_column(String(40))
    budget_cents: Mapped[int | None] = mapped_column(Integer)  # the budget it settled
    shortfall_cents: Mapped[int | None] = mapped_column(Integer)
    surplus_cents: Mapped[int | None] = mapped_column(Integer)
    # Σ weights of the memberships priced at settlement: a latecomer's reference is the
    # budget × its weight / this (csa/money/prices.py).
    weight_milli: Mapped[int | None] = mapped_column(Integer)

    season: Mapped[Season] = relationship()
    opened_by: Mapped[User | None] = relationship(foreign_keys=[opened_by_id])
    settled_by: Mapped[User | None] = relationship(foreign_keys=[settled_by_id])
    pledges: Mapped[list[Pledge]] = relationship(
        back_populates="round", order_by="Pledge.membership_id"
    )

    __table_args__ = (
        UniqueConstraint("season_id", "number", name="uq_bidding_round_number"),
        CheckConstraint("number > 0", name="number_positive"),
    )

    @property
    def lam(self) -> Fraction | None:
        if self.lambda_num is None or self.lambda_den is None:
            return None
        return Fraction(int(self.lambda_num), int(self.lambda_den))


class Pledge(Model):
    """What one membership pledged in one round: a least and a most (equal in single mode).

    The reason (a pledge below the farm's floor needs one) is shown only to staff.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    bidding_round_id: Mapped[int] = mapped_column(ForeignKey("bidding_round.id"), index=True)
    membership_id: Mapped[int] = mapped_column(ForeignKey("membership.id"), index=True)
    min_cents: Mapped[int] = mapped_column(Integer)
    max_cents: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(NOTE_MAX), default="")
    # Copied from the round before (single mode), until the member changes it.
    carried: Mapped[bool] = mapped_column(Boolean, default=False)
    pledged_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))

    round: Mapped[BiddingRound] = relationship(back_populates="pledges")
    membership: Mapped[Membership] = relationship()

    __table_args__ = (
        UniqueConstraint("bidding_round_id", "membership_id", name="uq_pledge_round_membership"),
        CheckConstraint("min_cents > 0 AND max_cents >= min_cents", name="range_order"),
    )

    @property
    def amount_cents(self) -> int:
        """The single-mode amount (the most, which equals the least there)."""
        return self.max_cents


class PledgeResult(Model):
    """The price settling gave one membership, pledged or not: the settled round's audit."""

    id: Mapped[int] = mapped_column(primary_key=True)
    bidding_round_id: Mapped[int] = mapped_column(ForeignKey("bidding_round.id"), index=True)
    membership_id: Mapped[int] = mapped_column(ForeignKey("membership.id"), index=True)
    pledged: Mapped[bool] = mapped_column(Boolean)
    reference_cents: Mapped[int] = mapped_column(Integer)
    price_cents: Mapped[int] = mapped_column(Integer)

    membership: Mapped[Membership] = relationship()

    __table_args__ = (
        UniqueConstraint(
            "bidding_round_id", "membership_id", name="uq_pledge_result_round_membership"
        ),
        CheckConstraint("price_cents >= 0", name="price_positive"),
    )


# --- invoices (issue 12) ---


class InvoiceSeller(Model):
    """The farm as an invoice named it when issued: its PDF is rendered from this copy, so
    a later change of the billing profile (a new bank account) never rewrites it."""

    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"), primary_key=True)
    legal_name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(300), default="")
    tax_id: Mapped[str] = mapped_column(String(40), default="")
    iban: Mapped[str] = mapped_column(String(34), default="")
    bic: Mapped[str] = mapped_column(String(11), default="")

    invoice: Mapped[Invoice] = relationship()


# --- sepa (issue 12) ---


class MandateKind(enum.StrEnum):
    RECURRING = "recurring"  # collected again and again: FRST once, then RCUR
    ONE_OFF = "one_off"  # collected once (OOFF), then spent


class Mandate(Model):
    """A household's SEPA direct-debit mandate: the account the farm may collect from.

    Never deleted (a bank may ask for it years later): a revoked mandate keeps its row with
    `revoked_on`. At most one active mandate per household (csa/sepa/operations.py checks).
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"), index=True)
    holder_name: Mapped[str] = mapped_column(String(70))  # pain.008 Dbtr/Nm takes 70
    iban: Mapped[str] = mapped_column(String(34))  # compact, upper case
    bic: Mapped[str] = mapped_column(String(11), default="")  # optional in the SEPA zone
    # The unique mandate reference (MndtId) the debtor's bank checks: at most 35 characters.
    reference: Mapped[str] = mapped_column(String(35), unique=True)
    signed_on: Mapped[date] = mapped_column(Date)
    kind: Mapped[MandateKind] = mapped_column(
        _enum(MandateKind, "mandate_kind"), default=MandateKind.RECURRING
    )
    # The collection date of the first export using it: None → the next one is FRST/OOFF.
    first_collected_on: Mapped[date | None] = mapped_column(Date)
    revoked_on: Mapped[date | None] = mapped_column(Date)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    member: Mapped[Member] = relationship()


class DebitBatch(Model):
    """One exported pain.008 file, kept as written so it can be downloaded again.

    Its items are not exported again while it is not returned; `collected_on` is set once
    the treasurer records that the bank collected it (payments are made then).
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(String(35), unique=True)
    collect_on: Mapped[date] = mapped_column(Date)
    due_from: Mapped[date | None] = mapped_column(Date)
    due_until: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    total_cents: Mapped[int] = mapped_column(Integer)
    count: Mapped[int] = mapped_column(Integer)
    xml: Mapped[str] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    collected_on: Mapped[date | None] = mapped_column(Date)
    # The bank refused the file (or it was never sent): its invoices may be exported again.
    returned_on: Mapped[date | None] = mapped_column(Date)

    items: Mapped[list[DebitItem]] = relationship(back_populates="batch", order_by="DebitItem.id")

    __table_args__ = (
        CheckConstraint("total_cents > 0", name="total_positive"),
        CheckConstraint("count > 0", name="count_positive"),
    )


class DebitItem(Model):
    """One transaction of a batch: what was asked of one invoice, under which mandate."""

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("debit_batch.id"), index=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"), index=True)
    mandate_id: Mapped[int] = mapped_column(ForeignKey("mandate.id"), index=True)
    amount_cents: Mapped[int] = mapped_column(Integer)
    sequence: Mapped[str] = mapped_column(String(4))  # FRST, RCUR or OOFF
    # The payment made when the batch was recorded as collected.
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payment.id"))

    batch: Mapped[DebitBatch] = relationship(back_populates="items")
    invoice: Mapped[Invoice] = relationship()
    mandate: Mapped[Mandate] = relationship()

    __table_args__ = (
        UniqueConstraint("batch_id", "invoice_id", name="uq_debit_item_invoice"),
        CheckConstraint("amount_cents > 0", name="amount_positive"),
    )


# --- reminders (issue 12) ---


class Reminder(Model):
    """A payment reminder sent for an invoice: level 1 (friendly) or 2, once each."""

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"), index=True)
    level: Mapped[int] = mapped_column(Integer)
    sent_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # What was still open when it was sent (the mail names it).
    open_cents: Mapped[int] = mapped_column(Integer)

    invoice: Mapped[Invoice] = relationship()

    __table_args__ = (
        UniqueConstraint("invoice_id", "level", name="uq_reminder_invoice_level"),
        CheckConstraint("level IN (1, 2)", name="level_range"),
    )


class Hardship(Model):
    """A hardship arrangement: no reminders to the household from `starts_on` up to and
    including `ends_on` (open-ended while None). The note is for staff only."""

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"), index=True)
    note: Mapped[str] = mapped_column(String(NOTE_MAX), default="")
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    member: Mapped[Member] = relationship()

    __table_args__ = (CheckConstraint("ends_on IS NULL OR ends_on >= starts_on", name="dates"),)

    def active_on(self, on_date: date) -> bool:
        return self.starts_on <= on_date and (self.ends_on is None or on_date <= self.ends_on)


# --- payments (issue 12) ---


class CsvMapping(Model):
    """How the farm's bank lays out its CSV export, saved once (csa/payments): one row.

    Columns are 1-based numbers; `currency_column` 0 means the file has no currency column
    and every line is in the farm's currency.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    date_column: Mapped[int] = mapped_column(Integer, default=1)
    amount_column: Mapped[int] = mapped_column(Integer, default=2)
    currency_column: Mapped[int] = mapped_column(Integer, default=0)
    payer_column: Mapped[int] = mapped_column(Integer, default=3)
    reference_column: Mapped[int] = mapped_column(Integer, default=4)
    date_format: Mapped[str] = mapped_column(String(20), default="%d.%m.%Y")
    decimal_comma: Mapped[bool] = mapped_column(Boolean, default=True)
    delimiter: Mapped[str] = mapped_column(String(1), default=";")
    header_rows: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        CheckConstraint(
            "date_column > 0 AND amount_column > 0 AND payer_column > 0"
            " AND reference_column > 0 AND currency_column >= 0",
            name="columns_positive",
        ),
        CheckConstraint("header_rows >= 0", name="header_rows_positive"),
    )


class PaymentIgnore(Model):
    """An imported payment a coordinator marked as not the farm's members' (kept, not matched)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payment.id"), unique=True)
    ignored_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    payment: Mapped[Payment] = relationship()


# --- talking and sharing (issue 13) ---


class PartnerOrganisation(Model):
    """A food bank or foodsharing point that receives what members and the farm give away:
    donated shares, offered shares nobody took, a round's surplus (csa/donations)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    contact_name: Mapped[str] = mapped_column(String(100), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    address: Mapped[str] = mapped_column(String(300), default="")
    # When and where it collects ("Thursdays 19:00 at the depot"), printed on its sheet.
    pickup_note: Mapped[str] = mapped_column(String(NOTE_MAX), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # Collects the round's surplus too (csa/donations): at most one active partner does.
    takes_surplus: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class SheetRefresh(Model):
    """A locked round whose sheets print something that changed after they were made (a
    share offered and taken, a swap, a site note, site duty): the job renders them again.

    One row per round; asking again only moves `requested_at`, and the job deletes the row
    only if nobody asked again while it rendered (csa/sheets/annotations.py).
    """

    round_id: Mapped[int] = mapped_column(ForeignKey("round.id"), primary_key=True)
    requested_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


# --- messages (issue 13) ---

MESSAGE_SUBJECT_MAX = 200  # the forms check it; the outbox's subject is wider (300)
MESSAGE_BODY_MAX = 10_000
SITE_NOTE_MAX = 300  # printed at the top of a pickup list: a line or two


class AudienceKind(enum.StrEnum):
    """Whom a message went to (csa/messages/audience.py reads each)."""

    ACTIVE = "active"  # every household with an active membership now or to come
    SITES = "sites"
    SHARE_TYPES = "share_types"
    WAITING = "waiting"
    HOUSEHOLD = "household"
    ROUND = "round"  # a round's members (what a farmer may write to)
    REGISTERED = "registered"  # an audience another feature registered (audience_key)


class Message(Model):
    """A message staff wrote to a set of households, mailed through the outbox.

    The audience is stored as words (`audience`, in the sender's language, as it was
    previewed) beside the kind, so the sent list says whom it went to even after a site is
    renamed. `subject2`/`body2` is an optional version in `locale2`: readers whose language
    it is get it, everyone else the first text.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    sender_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    audience_kind: Mapped[AudienceKind] = mapped_column(_enum(AudienceKind, "audience_kind"))
    audience_key: Mapped[str] = mapped_column(String(60), default="")
    audience: Mapped[str] = mapped_column(String(500), default="")
    round_id: Mapped[int | None] = mapped_column(ForeignKey("round.id"))
    subject: Mapped[str] = mapped_column(String(MESSAGE_SUBJECT_MAX))
    body: Mapped[str] = mapped_column(Text)
    locale2: Mapped[str] = mapped_column(String(10), default="")
    subject2: Mapped[str] = mapped_column(String(MESSAGE_SUBJECT_MAX), default="")
    body2: Mapped[str] = mapped_column(Text, default="")
    reply_to: Mapped[str] = mapped_column(String(254), default="")
    # Essential messages (a round's contents, a change) carry no unsubscribe link and reach
    # households that unsubscribed.
    essential: Mapped[bool] = mapped_column(Boolean, default=False)
    # The attachment, kept privately under instance/ (csa/messages/files.py).
    attachment_path: Mapped[str] = mapped_column(String(200), default="")
    attachment_name: Mapped[str] = mapped_column(String(120), default="")
    attachment_type: Mapped[str] = mapped_column(String(40), default="")
    attachment_size: Mapped[int] = mapped_column(Integer, default=0)
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)

    sender: Mapped[User] = relationship()
    round: Mapped[Round | None] = relationship()
    recipients: Mapped[list[MessageRecipient]] = relationship(
        back_populates="message", order_by="MessageRecipient.id"
    )


class RecipientState(enum.StrEnum):
    """Why a recipient row has no outbox row, or that it has one (its state is the row's)."""

    MAILED = "mailed"
    UNSUBSCRIBED = "unsubscribed"  # a non-essential message to a household that opted out
    NO_ADDRESS = "no_address"  # no login of the household wants mail


class MessageRecipient(Model):
    """One address (or one household without one) a message went to.

    A household with several logins has a row per address; the member's page lists the
    message once. The unsubscribe link's token is derived from SECRET_KEY and the row id;
    only its sha256 is stored (csa/messages/unsubscribe.py).
    """

    __table_args__ = (Index("ix_message_recipient_member", "member_id", "message_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("message.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"))
    email: Mapped[str] = mapped_column(String(254), default="")
    locale: Mapped[str] = mapped_column(String(10), default="")
    state: Mapped[RecipientState] = mapped_column(
        _enum(RecipientState, "recipient_state"), default=RecipientState.MAILED
    )
    outbox_message_id: Mapped[int | None] = mapped_column(ForeignKey("outbox_message.id"))
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)

    message: Mapped[Message] = relationship(back_populates="recipients")
    member: Mapped[Member] = relationship()
    outbox_message: Mapped[OutboxMessage | None] = relationship()


class MessageOptOut(Model):
    """A household that asked for no more non-essential messages (by link or on its page)."""

    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class SiteNote(Model):
    """A note for one site and round ("the gate code is 1234"): printed at the top of that
    site's pickup list and shown to its members on My share."""

    __table_args__ = (UniqueConstraint("site_id", "round_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("pickup_site.id"))
    round_id: Mapped[int] = mapped_column(ForeignKey("round.id"), index=True)
    text: Mapped[str] = mapped_column(String(SITE_NOTE_MAX))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    site: Mapped[PickupSite] = relationship()
    round: Mapped[Round] = relationship()


# --- donations (issue 13) ---


class DonationRoute(Model):
    """Which partner organisation collects the donated shares packed at a pickup site, and
    when and where it collects them there ("after 19:00 at the back door")."""

    site_id: Mapped[int] = mapped_column(ForeignKey("pickup_site.id"), primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partner_organisation.id"), index=True)
    note: Mapped[str] = mapped_column(String(NOTE_MAX), default="")

    site: Mapped[PickupSite] = relationship()
    partner: Mapped[PartnerOrganisation] = relationship()


class DonationRound(Model):
    """A locked round whose donations were settled by the job (csa/donations/operations.py):
    the partners were mailed, and who took the surplus is kept as it was that day."""

    round_id: Mapped[int] = mapped_column(ForeignKey("round.id"), primary_key=True)
    surplus_partner_id: Mapped[int | None] = mapped_column(ForeignKey("partner_organisation.id"))
    settled_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class DonationNotice(Model):
    """The one mail of a round's pickup sheet to one partner (its PDF attached as
    "donation:<id>", csa/notices/attachments.py)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("round.id"), index=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partner_organisation.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("round_id", "partner_id", name="uq_donation_notice"),)


# --- work (issue 13) ---

WORK_TITLE_MAX = 120
WORK_PLACE_MAX = 200
WORK_DESCRIPTION_MAX = 2000


class WorkSettings(Model):
    """The farm's rules of member work: one row (csa/work/operations.py creates it)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    # What one hour bought out costs, in cents of `currency` (0: buying out is not offered).
    buyout_rate_cents: Mapped[int] = mapped_column(Integer, default=0)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    # An understaffed job calls the households that still owe hours this many days before.
    call_days_before: Mapped[int] = mapped_column(Integer, default=5)
    # Signed-up households are reminded this many hours before a job starts.
    reminder_hours: Mapped[int] = mapped_column(Integer, default=48)

    __table_args__ = (
        CheckConstraint("buyout_rate_cents >= 0", name="rate_positive"),
        CheckConstraint("call_days_before >= 0", name="call_days_positive"),
        CheckConstraint("reminder_hours > 0", name="reminder_hours_positive"),
    )


class WorkRequirement(Model):
    """The hours a share type requires per season and share, in minutes."""

    share_type_id: Mapped[int] = mapped_column(ForeignKey("share_type.id"), primary_key=True)
    minutes: Mapped[int] = mapped_column(Integer, default=0)

    share_type: Mapped[ShareType] = relationship()

    __table_args__ = (CheckConstraint("minutes >= 0", name="minutes_positive"),)


class WorkJob(Model):
    """A job members sign up for: at a time (starts_at..ends_at, UTC) or flexible until a due
    date; site duty names a round and a site (one per round and site).

    `taken` counts the sign-ups and only moves by a conditional UPDATE (taken < slots), so two
    households taking the last slot at once cannot both have it.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(WORK_TITLE_MAX))
    description: Mapped[str] = mapped_column(Text, default="")
    place: Mapped[str] = mapped_column(String(WORK_PLACE_MAX), default="")
    starts_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)
    ends_at: Mapped[datetime | None] = mapped_column(DateTime)
    due_on: Mapped[date | None] = mapped_column(Date)  # a flexible task's last day
    slots: Mapped[int] = mapped_column(Integer, default=1)
    taken: Mapped[int] = mapped_column(Integer, default=0)
    minutes: Mapped[int] = mapped_column(Integer, default=60)  # credited per sign-up
    signup_deadline: Mapped[datetime | None] = mapped_column(DateTime)  # UTC; None: the start
    round_id: Mapped[int | None] = mapped_column(ForeignKey("round.id"), index=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("pickup_site.id"))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime)
    called_at: Mapped[datetime | None] = mapped_column(DateTime)  # the call for help went
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    round: Mapped[Round | None] = relationship()
    site: Mapped[PickupSite | None] = relationship()
    signups: Mapped[list[WorkSignup]] = relationship(back_populates="job", order_by="WorkSignup.id")

    __table_args__ = (
        UniqueConstraint("round_id", "site_id", name="uq_work_job_duty"),
        CheckConstraint("slots > 0", name="slots_positive"),
        CheckConstraint("taken >= 0 AND taken <= slots", name="taken_range"),
        CheckConstraint("minutes >= 0", name="minutes_positive"),
        CheckConstraint(
            "(starts_at IS NOT NULL AND ends_at IS NOT NULL AND starts_at < ends_at)"
            " OR (starts_at IS NULL AND due_on IS NOT NULL)",
            name="when",
        ),
    )

    @property
    def is_duty(self) -> bool:
        return self.round_id is not None


class WorkSignupState(enum.StrEnum):
    SIGNED = "signed"  # signed up, not yet confirmed
    DONE = "done"  # attendance confirmed: `minutes` count in the ledger
    MISSED = "missed"  # did not come: nothing counts


class WorkSignup(Model):
    """One household's (membership's) place on a job; one per job and membership."""

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("work_job.id"), index=True)
    membership_id: Mapped[int] = mapped_column(ForeignKey("membership.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    state: Mapped[WorkSignupState] = mapped_column(
        _enum(WorkSignupState, "work_signup_state"), default=WorkSignupState.SIGNED
    )
    minutes: Mapped[int] = mapped_column(Integer, default=0)  # credited once DONE
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    reminded_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    job: Mapped[WorkJob] = relationship(back_populates="signups")
    membership: Mapped[Membership] = relationship()

    __table_args__ = (
        UniqueConstraint("job_id", "membership_id", name="uq_work_signup_job_membership"),
        CheckConstraint("minutes >= 0", name="minutes_positive"),
    )


class WorkTransfer(Model):
    """Worked hours one household gives another (within one season)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    from_membership_id: Mapped[int] = mapped_column(ForeignKey("membership.id"), index=True)
    to_membership_id: Mapped[int] = mapped_column(ForeignKey("membership.id"), index=True)
    minutes: Mapped[int] = mapped_column(Integer)
    by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    from_membership: Mapped[Membership] = relationship(foreign_keys=[from_membership_id])
    to_membership: Mapped[Membership] = relationship(foreign_keys=[to_membership_id])

    __table_args__ = (
        CheckConstraint("minutes > 0", name="minutes_positive"),
        CheckConstraint("from_membership_id <> to_membership_id", name="not_self"),
    )


class WorkBuyout(Model):
    """Hours a household bought out: a charge at the rate of the day, carried as a line on
    the membership's next invoice (`invoice_id` set then, csa/work/charges.py)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    membership_id: Mapped[int] = mapped_column(ForeignKey("membership.id"), index=True)
    minutes: Mapped[int] = mapped_column(Integer)
    rate_cents: Mapped[int] = mapped_column(Integer)
    amount_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoice.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    membership: Mapped[Membership] = relationship()

    __table_args__ = (
        CheckConstraint("minutes > 0", name="minutes_positive"),
        CheckConstraint("amount_cents >= 0", name="amount_positive"),
    )


# --- offers (issue 13) ---

FRIEND_NAME_MAX = 100  # the friend named on an offered share; the form checks it
# The states of an offer that still stands (csa/core/offers.py LIVE_OFFER_STATES).
_LIVE_OFFER = "state IN ('open', 'accepted', 'donated')"


class ShareOffer(Model):
    """A member's share of one round offered to its site, a named friend or the food-sharing
    partner (csa/offers). The rules and states are csa/core/offers.py; accepting is one
    conditional UPDATE on the open state, so of two members accepting at once one wins.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("round.id"), index=True)
    membership_id: Mapped[int] = mapped_column(ForeignKey("membership.id"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("pickup_site.id"))  # the site that day
    target: Mapped[OfferTarget] = mapped_column(_enum(OfferTarget, "share_offer_target"))
    state: Mapped[ShareOfferState] = mapped_column(
        _enum(ShareOfferState, "share_offer_state"), default=ShareOfferState.OPEN
    )
    friend_name: Mapped[str] = mapped_column(String(FRIEND_NAME_MAX), default="")
    accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("membership.id"))
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)

    round: Mapped[Round] = relationship()
    membership: Mapped[Membership] = relationship(foreign_keys=[membership_id])
    accepted_by: Mapped[Membership | None] = relationship(foreign_keys=[accepted_by_id])
    site: Mapped[PickupSite] = relationship()

    # One offer that still stands per membership and round, even for two clicks at once.
    __table_args__ = (
        Index(
            "uq_share_offer_live",
            "round_id",
            "membership_id",
            unique=True,
            sqlite_where=text(_LIVE_OFFER),
            postgresql_where=text(_LIVE_OFFER),
        ),
    )


class Swap(Model):
    """ "My kohlrabi for your beetroot": one crop of a member's share for another crop of
    someone's at the same site in one round. Between members only: the allocations (and
    with them the fairness ledger) stay as split; the pickup list says who hands what."""

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("round.id"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("pickup_site.id"))
    membership_id: Mapped[int] = mapped_column(ForeignKey("membership.id"), index=True)
    gives_crop_id: Mapped[int] = mapped_column(ForeignKey("crop.id"))
    wants_crop_id: Mapped[int] = mapped_column(ForeignKey("crop.id"))
    state: Mapped[SwapState] = mapped_column(_enum(SwapState, "swap_state"), default=SwapState.OPEN)
    accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("membership.id"))
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)

    round: Mapped[Round] = relationship()
    site: Mapped[PickupSite] = relationship()
    membership: Mapped[Membership] = relationship(foreign_keys=[membership_id])
    accepted_by: Mapped[Membership | None] = relationship(foreign_keys=[accepted_by_id])
    gives_crop: Mapped[Crop] = relationship(foreign_keys=[gives_crop_id])
    wants_crop: Mapped[Crop] = relationship(foreign_keys=[wants_crop_id])


# --- partners (issue 13) ---


class PartnerPattern(enum.StrEnum):
    ALTERNATE = "alternate"  # take turns over the rounds held (csa/core/partners.py)
    PLAN = "plan"  # the households' own plan; turns where it names nobody


class PartnerSwapState(enum.StrEnum):
    PROPOSED = "proposed"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"


class SharePartner(Model):
    """A household that shares another household's membership (csa/partners).

    The membership's own household is not a row: it is first in the turns, the partners
    follow by `position`. A partner sees the shared rounds on its Share partners page and
    in its calendar feed; My share stays the membership household's.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    membership_id: Mapped[int] = mapped_column(ForeignKey("membership.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=1)
    joined: Mapped[date] = mapped_column(Date)
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    membership: Mapped[Membership] = relationship()
    member: Mapped[Member] = relationship()

    __table_args__ = (
        UniqueConstraint("membership_id", "member_id", name="uq_share_partner_member"),
        CheckConstraint("position > 0", name="position_positive"),
    )


class PartnerSetting(Model):
    """How a shared membership's households divide the rounds: turns or their plan.

    `since` is the first day the turns count from: the day the partners last changed, so a
    household joining in the middle of the season starts with a fair turn.
    """

    membership_id: Mapped[int] = mapped_column(ForeignKey("membership.id"), primary_key=True)
    pattern: Mapped[PartnerPattern] = mapped_column(
        _enum(PartnerPattern, "partner_pattern"), default=PartnerPattern.ALTERNATE
    )
    since: Mapped[date] = mapped_column(Date)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))


class PartnerPlanEntry(Model):
    """One round of a shared membership's plan: which household collects it.

    Keyed by the round (not its date) so a moved round keeps its entry, as a hold does.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    membership_id: Mapped[int] = mapped_column(ForeignKey("membership.id"), index=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("round.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"))
    set_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    set_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("membership_id", "round_id", name="uq_partner_plan_round"),)


class PartnerSwap(Model):
    """One household offers another a round it collects (for one of the other's, or for
    nothing); once the other accepts, `round_a` is the other's and `round_b` the offerer's."""

    id: Mapped[int] = mapped_column(primary_key=True)
    membership_id: Mapped[int] = mapped_column(ForeignKey("membership.id"), index=True)
    round_a_id: Mapped[int] = mapped_column(ForeignKey("round.id"))
    round_b_id: Mapped[int | None] = mapped_column(ForeignKey("round.id"))
    by_member_id: Mapped[int] = mapped_column(ForeignKey("member.id"))
    with_member_id: Mapped[int] = mapped_column(ForeignKey("member.id"))
    state: Mapped[PartnerSwapState] = mapped_column(
        _enum(PartnerSwapState, "partner_swap_state"), default=PartnerSwapState.PROPOSED
    )
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    answered_at: Mapped[datetime | None] = mapped_column(DateTime)
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))

    round_a: Mapped[Round] = relationship(foreign_keys=[round_a_id])
    round_b: Mapped[Round | None] = relationship(foreign_keys=[round_b_id])
    by_member: Mapped[Member] = relationship(foreign_keys=[by_member_id])
    with_member: Mapped[Member] = relationship(foreign_keys=[with_member_id])

    __table_args__ = (
        CheckConstraint("by_member_id <> with_member_id", name="two_households"),
        CheckConstraint("round_b_id IS NULL OR round_b_id <> round_a_id", name="two_rounds"),
    )
