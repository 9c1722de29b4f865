"""Share partners, written: linking households to a membership, the pattern, the plan and
swaps. Each operation checks its rule, writes, flushes; the view commits once.

What a pickup list prints depends on who collects, so any write that can change it for a
round already locked asks for that round's sheets to be made again (`request_refresh`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from flask_babel import gettext as _
from sqlalchemy import delete, func, or_, select, update

from csa.core.clock import utcnow
from csa.errors import FieldError, ValidationFailed
from csa.extensions import changed_rows, db
from csa.models import (
    Member,
    Membership,
    MembershipStatus,
    PartnerPattern,
    PartnerPlanEntry,
    PartnerSetting,
    PartnerSwap,
    PartnerSwapState,
    Round,
    RoundStatus,
    SharePartner,
    User,
)
from csa.partners import notices, queries
from csa.partners.queries import MAX_HOUSEHOLDS, Sharing
from csa.register.operations import normalise_email
from csa.share.queries import membership_rounds
from csa.sheets.annotations import request_refresh


def _refresh(rounds: Iterable[Round | None]) -> None:
    for r in rounds:
        if r is not None:
            request_refresh(r)


def _refresh_coming(membership: Membership, today: date) -> None:
    """Ask again for the sheets of every locked coming round of the membership."""
    _refresh(r for r in membership_rounds(membership) if r.date >= today)


def _setting(membership: Membership, today: date, user: User | None) -> PartnerSetting:
    setting = queries.setting_of(membership)
    if setting is None:
        setting = PartnerSetting(membership_id=membership.id, since=today, updated_by_id=None)
        db.session.add(setting)
    setting.updated_at = utcnow()
    setting.updated_by_id = user.id if user else None
    return setting


def add_partner(
    membership: Membership, member: Member, user: User | None, today: date
) -> SharePartner:
    """Link a household of the register to a membership as its share partner.

    The turns count again from today, so the new household's first turn is fair.
    """
    if member.id == membership.member_id:
        raise FieldError("member", _("A household cannot share its own membership with itself."))
    if membership.end < today or membership.status != MembershipStatus.ACTIVE:
        raise FieldError(
            "membership", _("Only an active membership that has not ended can be shared.")
        )
    partners = queries.partners_of(membership.id)
    if any(p.member_id == member.id for p in partners):
        raise FieldError("member", _("%(name)s already shares this membership.", name=member.name))
    if len(partners) + 1 >= MAX_HOUSEHOLDS:
        raise FieldError(
            "member",
            _("At most %(count)s households can share one membership.", count=MAX_HOUSEHOLDS),
        )
    position = max((p.position for p in partners), default=0) + 1
    partner = SharePartner(
        membership_id=membership.id,
        member_id=member.id,
        position=position,
        joined=today,
        added_by_id=user.id if user else None,
    )
    db.session.add(partner)
    _setting(membership, today, user).since = today
    db.session.flush()
    _refresh_coming(membership, today)
    notices.notify_linked(membership, member, partner.id)
    return partner


def invite_partner(membership: Membership, email: str, user: User, today: date) -> SharePartner:
    """The membership's own household links a household of the register by its e-mail.

    Only a household the farm already has can be named: a member cannot add people to the
    register. The message for an unknown address says so without naming anyone.
    """
    address = normalise_email(email)
    member = db.session.scalar(select(Member).where(func.lower(Member.email) == address))
    if member is None:
        raise FieldError(
            "email",
            _(
                "The farm has no household with that e-mail address; "
                "ask the farm to add it to the register first."
            ),
        )
    return add_partner(membership, member, user, today)


def remove_partner(partner: SharePartner, user: User | None, today: date) -> None:
    """Unlink a partner household; its open swaps are withdrawn, the turns count again."""
    membership = partner.membership
    member_id = partner.member_id
    db.session.execute(
        update(PartnerSwap)
        .where(
            PartnerSwap.membership_id == membership.id,
            PartnerSwap.state == PartnerSwapState.PROPOSED,
            or_(PartnerSwap.by_member_id == member_id, PartnerSwap.with_member_id == member_id),
        )
        .values(state=PartnerSwapState.WITHDRAWN, answered_at=utcnow())
    )
    db.session.execute(
        delete(PartnerPlanEntry).where(
            PartnerPlanEntry.membership_id == membership.id,
            PartnerPlanEntry.member_id == member_id,
        )
    )
    db.session.delete(partner)
    _setting(membership, today, user).since = today
    db.session.flush()
    _refresh_coming(membership, today)


def set_pattern(sharing: Sharing, pattern: PartnerPattern, user: User, today: date) -> bool:
    """Take turns or follow the plan; False when it already was so (nothing written)."""
    if sharing.pattern == pattern:
        return False
    setting = _setting(sharing.membership, sharing.since, user)
    setting.pattern = pattern
    db.session.flush()
    _refresh_coming(sharing.membership, today)
    return True


def _coming_round(sharing: Sharing, round_id: int | None, today: date, field: str) -> Round:
    """A round of the shared membership that is still to come and not cancelled."""
    found = next(
        (line for line in queries.schedule(sharing).lines if line.round.id == round_id), None
    )
    if found is None:
        raise FieldError(field, _("Choose one of the coming rounds of this share."))
    r = found.round
    if r.date < today:
        raise FieldError(
            field, _("The round on %(date)s is past; it cannot change.", date=r.date.isoformat())
        )
    if r.status == RoundStatus.CANCELLED:
        raise FieldError(field, _("The round on %(date)s is cancelled.", date=r.date.isoformat()))
    if found.on_hold:
        raise FieldError(
            field,
            _("The share is on hold on %(date)s: nobody collects it.", date=r.date.isoformat()),
        )
    return r


def _household(sharing: Sharing, member_id: int | None, field: str) -> int:
    if member_id is None or not sharing.includes(member_id):
        raise FieldError(field, _("Choose one of the households sharing this membership."))
    return member_id


def set_plan(
    sharing: Sharing, round_id: int | None, member_id: int | None, user: User, today: date
) -> Round:
    """Name the household that collects one coming round in the plan; `member_id` None
    takes the entry out (the round takes its turn again)."""
    r = _coming_round(sharing, round_id, today, "round")
    membership_id = sharing.membership.id
    if member_id is None:
        changed_rows(
            delete(PartnerPlanEntry).where(
                PartnerPlanEntry.membership_id == membership_id,
                PartnerPlanEntry.round_id == r.id,
            )
        )
    else:
        household = _household(sharing, member_id, "household")
        entry = db.session.scalar(
            select(PartnerPlanEntry).where(
                PartnerPlanEntry.membership_id == membership_id,
                PartnerPlanEntry.round_id == r.id,
            )
        )
        if entry is None:
            entry = PartnerPlanEntry(membership_id=membership_id, round_id=r.id)
            db.session.add(entry)
        entry.member_id = household
        entry.set_by_id = user.id
        entry.set_at = utcnow()
    db.session.flush()
    if sharing.pattern == PartnerPattern.PLAN:
        request_refresh(r)
    return r


def propose_swap(
    sharing: Sharing,
    by: Member,
    round_a_id: int | None,
    with_id: int | None,
    round_b_id: int | None,
    user: User,
    today: date,
) -> PartnerSwap:
    """Offer another household one of the rounds `by` collects, for one of theirs or not."""
    other = _household(sharing, with_id, "partner")
    if other == by.id:
        raise FieldError("partner", _("Choose the other household, not your own."))
    a = _coming_round(sharing, round_a_id, today, "round")
    who = queries.schedule(sharing).who
    if who.get(a.id) != by.id:
        raise FieldError(
            "round", _("You do not collect the round on %(date)s.", date=a.date.isoformat())
        )
    b = None
    if round_b_id is not None:
        b = _coming_round(sharing, round_b_id, today, "other_round")
        if who.get(b.id) != other:
            raise FieldError(
                "other_round",
                _(
                    "%(name)s does not collect the round on %(date)s.",
                    name=sharing.name_of(other),
                    date=b.date.isoformat(),
                ),
            )
    pending = db.session.scalar(
        select(func.count(PartnerSwap.id)).where(
            PartnerSwap.membership_id == sharing.membership.id,
            PartnerSwap.state == PartnerSwapState.PROPOSED,
            or_(
                PartnerSwap.round_a_id.in_([a.id] + ([b.id] if b else [])),
                PartnerSwap.round_b_id.in_([a.id] + ([b.id] if b else [])),
            ),
        )
    )
    if pending:
        raise ValidationFailed(_("A swap of that round is waiting for an answer already."))
    swap = PartnerSwap(
        membership_id=sharing.membership.id,
        round_a_id=a.id,
        round_b_id=b.id if b else None,
        by_member_id=by.id,
        with_member_id=other,
        created_by_id=user.id,
    )
    db.session.add(swap)
    db.session.flush()
    notices.notify_offered(swap)
    return swap


ANSWERS = ("accept", "decline", "withdraw")


def answer_swap(
    sharing: Sharing, swap: PartnerSwap, member: Member, answer: str, user: User, today: date
) -> PartnerSwapState:
    """Accept or decline a swap offered to the household, or withdraw one it offered.

    Accepting checks the rounds again: the calendar may have changed since the offer.
    """
    if swap.state != PartnerSwapState.PROPOSED:
        raise ValidationFailed(_("This swap was answered already."))
    if answer == "withdraw":
        if swap.by_member_id != member.id:
            raise ValidationFailed(_("Only the household that offered a swap can withdraw it."))
        state = PartnerSwapState.WITHDRAWN
    elif answer in ("accept", "decline"):
        if swap.with_member_id != member.id:
            raise ValidationFailed(_("Only the household a swap is offered to can answer it."))
        state = PartnerSwapState.ACCEPTED if answer == "accept" else PartnerSwapState.DECLINED
    else:
        raise ValidationFailed(_("Choose to accept, decline or withdraw the swap."))
    if state == PartnerSwapState.ACCEPTED:
        for household in (swap.by_member_id, swap.with_member_id):
            _household(sharing, household, "answer")
        a = _coming_round(sharing, swap.round_a_id, today, "answer")
        b = _coming_round(sharing, swap.round_b_id, today, "answer") if swap.round_b_id else None
        who = queries.schedule(sharing).who
        if who.get(a.id) != swap.by_member_id or (
            b is not None and who.get(b.id) != swap.with_member_id
        ):
            raise ValidationFailed(
                _("The rounds of this swap changed hands since it was offered; offer it again.")
            )
    # One atomic claim of the answer: two answers at once (two logins of a household, a
    # double tap) cannot both act.
    claimed = changed_rows(
        update(PartnerSwap)
        .where(PartnerSwap.id == swap.id, PartnerSwap.state == PartnerSwapState.PROPOSED)
        .values(state=state, answered_at=utcnow(), answered_by_id=user.id)
    )
    if not claimed:
        raise ValidationFailed(_("This swap was answered already."))
    db.session.flush()
    db.session.refresh(swap)
    if state == PartnerSwapState.ACCEPTED:
        _refresh([swap.round_a, swap.round_b])
    notices.notify_answered(swap)
    return state
