"""The bidding round's writes: the budget, opening, pledging, closing, settling, cancelling.

The web, the command line and the scheduler all call these. Each checks everything first and
raises ValidationFailed (a FieldError naming the field) before it writes anything; it only
flushes: the caller commits once.

A season has at most one round taking pledges or waiting (open or closed); its current
round is its newest that is not cancelled. Once a round is settled the season's prices are
fixed: the budget no longer changes and no round opens.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import func, select

from csa.bidding import rules
from csa.core.clock import utcnow
from csa.core.money import MAX_CENTS
from csa.errors import FieldError, ValidationFailed
from csa.extensions import db
from csa.models import (
    OCCUPYING,
    BiddingMode,
    BiddingRound,
    BiddingState,
    Member,
    Membership,
    Pledge,
    PledgeResult,
    Season,
    User,
)
from csa.money.prices import paying_memberships, reference_prices
from csa.money.profile import farm_profile
from csa.notices import mail
from csa.notices.recipients import household_recipients, keyed, load_logins
from csa.ui.formatting import format_price

log = logging.getLogger(__name__)
REASON_MAX = 300  # Pledge.reason's width (NOTE_MAX)
ABSURD_FACTOR = 10  # a pledge above ten times the reference price is a typing mistake
WAITING = (BiddingState.OPEN, BiddingState.CLOSED)


def page_url() -> str:
    """The member's pledge page, for mails (no request to take the host from)."""
    return str(current_app.config["BASE_URL"]).rstrip("/") + "/bidding/mine"


# --- reads the writes need -------------------------------------------------------------------


def rounds_of(season: Season) -> list[BiddingRound]:
    """The season's rounds, newest first."""
    return list(
        db.session.scalars(
            select(BiddingRound)
            .where(BiddingRound.season_id == season.id)
            .order_by(BiddingRound.number.desc())
        )
    )


def current_round(season: Season) -> BiddingRound | None:
    """The season's newest round that is not cancelled, or None."""
    return db.session.scalar(
        select(BiddingRound)
        .where(BiddingRound.season_id == season.id, BiddingRound.state != BiddingState.CANCELLED)
        .order_by(BiddingRound.number.desc())
        .limit(1)
    )


def settled_round(season: Season) -> BiddingRound | None:
    return db.session.scalar(
        select(BiddingRound).where(
            BiddingRound.season_id == season.id, BiddingRound.state == BiddingState.SETTLED
        )
    )


def pledges_of(round_: BiddingRound) -> dict[int, Pledge]:
    """Membership id → its pledge in the round."""
    rows = db.session.scalars(select(Pledge).where(Pledge.bidding_round_id == round_.id))
    return {p.membership_id: p for p in rows}


def ranges(pledges: dict[int, Pledge]) -> dict[int, rules.Range]:
    return {k: rules.Range(p.min_cents, p.max_cents) for k, p in pledges.items()}


@dataclass
class RoundFigures:
    """A round's coverage and the settlement it would reach now (or reached)."""

    round: BiddingRound
    memberships: list[Membership]
    references: dict[int, int]
    pledges: dict[int, Pledge]
    coverage: rules.Coverage
    settlement: rules.Settlement | None  # None without a budget


def coverage_of(round_: BiddingRound, references: dict[int, int] | None = None) -> rules.Coverage:
    """The round's coverage alone (the member's meter), without working out the prices.

    :param references: the season's reference prices, if the caller read them already.
    """
    season = round_.season
    if references is None:
        references = reference_prices(season)
    return rules.coverage(season.budget_cents or 0, ranges(pledges_of(round_)), references)


def figures(round_: BiddingRound) -> RoundFigures:
    """Read a round's memberships, references and pledges once, and sum them up."""
    season = round_.season
    memberships = paying_memberships(season)
    references = reference_prices(season, memberships)
    pledges = pledges_of(round_)
    budget = season.budget_cents or 0
    cover = rules.coverage(budget, ranges(pledges), references)
    result = None
    if season.budget_cents is not None:
        result = _settle(round_.mode, budget, pledges, references)
    return RoundFigures(round_, memberships, references, pledges, cover, result)


def _settle(
    mode: BiddingMode, budget: int, pledges: dict[int, Pledge], references: dict[int, int]
) -> rules.Settlement:
    if mode == BiddingMode.RANGE:
        return rules.settle_range(budget, ranges(pledges), references)
    return rules.settle_single(budget, {k: p.max_cents for k, p in pledges.items()}, references)


# --- the budget ---------------------------------------------------------------------------------


def set_budget(season: Season, cents: int | None) -> None:
    """Set or change the season's budget; refused once a round of it is settled."""
    if cents is None or cents <= 0:
        raise FieldError("budget", _("Enter the season's budget, an amount above zero."))
    if cents > MAX_CENTS:
        raise FieldError("budget", _("This budget is too large."))
    if settled_round(season) is not None:
        raise ValidationFailed(
            _("The bidding round of %(season)s is settled: its budget stays.", season=season.name)
        )
    season.budget_cents = cents
    db.session.flush()


# --- opening, closing, cancelling --------------------------------------------------------------


def open_round(
    season: Season, mode: BiddingMode, deadline: date, by: User | None, today: date
) -> BiddingRound:
    """Open the season's next round and tell its households; a single-pledge round after a
    closed one starts from the pledges made there (each one's most)."""
    if season.budget_cents is None:
        raise ValidationFailed(_("Set the season's budget before opening a bidding round."))
    if settled_round(season) is not None:
        raise ValidationFailed(
            _("The bidding round of %(season)s is settled already.", season=season.name)
        )
    if deadline < today:
        raise FieldError("deadline", _("The deadline is today or later."))
    if deadline > season.end:
        raise FieldError("deadline", _("The deadline is before the season ends."))
    previous = current_round(season)
    if previous is not None and previous.state == BiddingState.OPEN:
        raise ValidationFailed(_("A bidding round of this season is open already."))
    number = (
        db.session.scalar(
            select(func.max(BiddingRound.number)).where(BiddingRound.season_id == season.id)
        )
        or 0
    ) + 1
    round_ = BiddingRound(
        season=season,
        number=number,
        mode=mode,
        state=BiddingState.OPEN,
        opened_at=utcnow(),
        opened_by_id=by.id if by else None,
        deadline=deadline,
    )
    db.session.add(round_)
    db.session.flush()
    # A closed round stays closed, for the record; the new one is the season's current round.
    # Only a single-pledge round starts from the pledges before (a range carries nothing).
    if (
        previous is not None
        and previous.state == BiddingState.CLOSED
        and mode == BiddingMode.SINGLE
    ):
        old = pledges_of(previous)
        for membership_id, amount in rules.carry_over(ranges(old)).items():
            db.session.add(
                Pledge(
                    bidding_round_id=round_.id,
                    membership_id=membership_id,
                    min_cents=amount,
                    max_cents=amount,
                    reason=old[membership_id].reason,
                    carried=True,
                    by_id=old[membership_id].by_id,
                )
            )
    db.session.flush()
    _tell_households(round_, "opened")
    return round_


def close_round(round_: BiddingRound, now: datetime) -> None:
    """Stop taking pledges (the deadline passed, or a coordinator closed it early)."""
    if round_.state != BiddingState.OPEN:
        raise ValidationFailed(_("This bidding round is not open."))
    round_.state = BiddingState.CLOSED
    round_.closed_at = now
    db.session.flush()


def cancel_round(round_: BiddingRound, now: datetime) -> None:
    """Drop a round that is not settled; its pledges stay for the record."""
    if round_.state not in WAITING:
        raise ValidationFailed(_("A settled or cancelled round cannot be cancelled."))
    round_.state = BiddingState.CANCELLED
    round_.closed_at = round_.closed_at or now
    db.session.flush()


# --- pledging ----------------------------------------------------------------------------------


def household_membership(member: Member, season: Season) -> Membership | None:
    """The household's membership of the season that pays for it (holds a place)."""
    return db.session.scalar(
        select(Membership).where(
            Membership.member_id == member.id,
            Membership.season_id == season.id,
            Membership.status.in_(OCCUPYING),
        )
    )


def reference_of(membership: Membership) -> int:
    """The membership's reference price now."""
    return reference_prices(membership.season).get(membership.id, 0)


def pledge(
    round_: BiddingRound,
    membership: Membership,
    least: int | None,
    most: int | None,
    reason: str,
    by: User | None,
    today: date,
) -> Pledge:
    """Record or change a membership's pledge (single mode: least = most = the amount)."""
    if round_.state != BiddingState.OPEN or today > round_.deadline:
        raise ValidationFailed(_("This bidding round no longer takes pledges."))
    if membership.season_id != round_.season_id or membership.status not in OCCUPYING:
        raise ValidationFailed(_("This share does not take part in this bidding round."))
    single = round_.mode == BiddingMode.SINGLE
    first = "amount" if single else "least"
    if least is None or least <= 0:
        raise FieldError(first, _("Enter an amount above zero."))
    if single:
        most = least
    if most is None or most <= 0:
        raise FieldError("most", _("Enter an amount above zero."))
    if most < least:
        raise FieldError("most", _("The most you can pay is at least the least."))
    reference = reference_of(membership)
    limit = min(MAX_CENTS, ABSURD_FACTOR * reference) if reference > 0 else MAX_CENTS
    if most > limit:
        raise FieldError(
            "most" if not single else "amount",
            _(
                "That is more than %(factor)s times the reference price (%(price)s): "
                "please check the amount.",
                factor=ABSURD_FACTOR,
                price=format_price(reference),
            ),
        )
    reason = reason.strip()[:REASON_MAX]
    floor = farm_profile().pledge_floor_permille
    if rules.needs_reason(least, reference, floor) and not reason:
        raise FieldError(
            "reason",
            _(
                "Below %(floor)s, please tell us briefly why (only the farm's staff read it).",
                floor=format_price(floor * reference // rules.PERMILLE),
            ),
        )
    row = db.session.scalar(
        select(Pledge).where(
            Pledge.bidding_round_id == round_.id, Pledge.membership_id == membership.id
        )
    )
    now = utcnow()
    if row is None:
        row = Pledge(
            bidding_round_id=round_.id, membership_id=membership.id, pledged_at=now, reason=""
        )
        db.session.add(row)
    row.min_cents, row.max_cents = least, most
    row.reason = reason
    row.carried = False
    row.updated_at = now
    row.by_id = by.id if by else None
    db.session.flush()
    return row


# --- settling ----------------------------------------------------------------------------------


def settle(
    round_: BiddingRound,
    by: User | None,
    now: datetime,
    *,
    accept_shortfall: bool = False,
    notify: bool = True,
) -> rules.Settlement:
    """Fix every paying membership's season price from the round; the round is then read-only.

    A shortfall is settled only when the coordinator accepts it (`accept_shortfall`).
    `notify=False` (the demo) queues no mail.
    """
    if round_.state not in WAITING:
        raise ValidationFailed(_("Only an open or closed round can be settled."))
    season = round_.season
    if current_round(season) is not round_:
        raise ValidationFailed(_("Only the season's newest round can be settled."))
    if season.budget_cents is None:
        raise ValidationFailed(_("Set the season's budget before settling."))
    seen = figures(round_)
    result = seen.settlement
    assert result is not None  # the budget is set
    if result.shortfall and not accept_shortfall:
        raise FieldError(
            "confirm",
            _(
                "The pledges fall %(short)s short of the budget: tick the box to settle anyway.",
                short=format_price(result.shortfall),
            ),
        )
    for membership in seen.memberships:
        price = result.prices[membership.id]
        membership.price_cents = price
        db.session.add(
            PledgeResult(
                bidding_round_id=round_.id,
                membership_id=membership.id,
                pledged=membership.id in seen.pledges,
                reference_cents=seen.references[membership.id],
                price_cents=price,
            )
        )
    round_.state = BiddingState.SETTLED
    round_.closed_at = round_.closed_at or now
    round_.settled_at = now
    round_.settled_by_id = by.id if by else None
    round_.lambda_num = str(result.lam.numerator)
    round_.lambda_den = str(result.lam.denominator)
    round_.budget_cents = result.budget
    round_.shortfall_cents = result.shortfall
    round_.surplus_cents = result.surplus
    round_.weight_milli = sum(m.weight_milli for m in seen.memberships)
    db.session.flush()
    if notify:
        _tell_households(round_, "settled", seen.memberships, result.prices)
    return result


# --- the scheduler -------------------------------------------------------------------------------


@dataclass
class BiddingRun:
    closed: int = 0
    settled: int = 0
    waiting: int = 0  # closed, not covered: a coordinator decides

    def __str__(self) -> str:
        return (
            f"bidding rounds closed: {self.closed}, settled: {self.settled}, "
            f"waiting for a coordinator: {self.waiting}"
        )


def due_rounds(today: date) -> list[BiddingRound]:
    """Open rounds whose deadline has passed (the deadline day itself still takes pledges)."""
    return list(
        db.session.scalars(
            select(BiddingRound)
            .where(BiddingRound.state == BiddingState.OPEN, BiddingRound.deadline < today)
            .order_by(BiddingRound.id)
        )
    )


def close_due(round_: BiddingRound, now: datetime, run: BiddingRun) -> None:
    """Close a round past its deadline; a range round that covers the budget settles."""
    close_round(round_, now)
    run.closed += 1
    if round_.mode == BiddingMode.RANGE and round_.season.budget_cents is not None:
        seen = figures(round_)
        if seen.coverage.covered:
            settle(round_, None, now)
            run.settled += 1
            return
    run.waiting += 1


# --- mail --------------------------------------------------------------------------------------


def _opened_subject(season: str, deadline: str) -> str:
    return _("Your pledge for %(season)s, by %(deadline)s", season=season, deadline=deadline)


def _settled_subject(season: str) -> str:
    return _("Your season price for %(season)s", season=season)


def _tell_households(
    round_: BiddingRound,
    kind: str,
    memberships: list[Membership] | None = None,
    prices: dict[int, int] | None = None,
) -> int:
    """Queue the round's notice to each paying household, each reader in its language.

    One key per household and round: a job or a click that runs twice sends it once.
    """
    rows = memberships if memberships is not None else paying_memberships(round_.season)
    load_logins(m.member for m in rows)
    currency = farm_profile().currency
    sent = 0
    for membership in rows:
        price = prices.get(membership.id) if prices else None
        key = f"bidding-{kind}/{round_.id}/{membership.member_id}"
        for to in household_recipients(membership.member):
            with force_locale(to.locale):
                text = (
                    _opened_subject(round_.season.name, round_.deadline.isoformat())
                    if kind == "opened"
                    else _settled_subject(round_.season.name)
                )
                body = render_template(
                    f"mail/bidding_{kind}.txt",
                    member=membership.member,
                    membership=membership,
                    round=round_,
                    price=format_price(price, currency) if price is not None else "",
                    page_url=page_url(),
                )
            if mail.send(keyed(key, to), to.email, text, body):
                sent += 1
    db.session.flush()
    return sent
