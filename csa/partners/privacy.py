"""What the household download (csa/privacy/export.py) holds of share partners: the shares
the household takes part in, and the swaps it offered or was offered. Partner households
are named by id only: their names are their own data, not this household's."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select

from csa.extensions import db
from csa.models import Member, Membership, PartnerSwap, Round, SharePartner
from csa.privacy.export import Row, household_data


@household_data(
    _l("Share partners: the memberships the household shares, with whom and since when.")
)
def _share_partners(member: Member) -> tuple[str, list[Row]]:
    query = (
        select(SharePartner, Membership.member_id)
        .join(Membership, Membership.id == SharePartner.membership_id)
        .where(or_(SharePartner.member_id == member.id, Membership.member_id == member.id))
        .order_by(SharePartner.joined, SharePartner.id)
    )
    rows = [
        {
            "membership_id": p.membership_id,
            "membership_household_id": owner,
            "partner_household_id": p.member_id,
            "joined": p.joined,
        }
        for p, owner in db.session.execute(query)
    ]
    return "share_partners", rows


@household_data(
    _l("Swaps of rounds between share partners: which rounds, offered by whom, the answer.")
)
def _partner_swaps(member: Member) -> tuple[str, list[Row]]:
    query = (
        select(PartnerSwap)
        .where(or_(PartnerSwap.by_member_id == member.id, PartnerSwap.with_member_id == member.id))
        .order_by(PartnerSwap.created_at, PartnerSwap.id)
    )
    swaps = list(db.session.scalars(query))
    ids = {s.round_a_id for s in swaps} | {s.round_b_id for s in swaps if s.round_b_id}
    days = (
        dict(db.session.execute(select(Round.id, Round.date).where(Round.id.in_(ids))).all())
        if ids
        else {}
    )
    rows = [
        {
            "membership_id": s.membership_id,
            "round": days.get(s.round_a_id),
            "in_exchange_for": days.get(s.round_b_id) if s.round_b_id else None,
            "offered_by_household_id": s.by_member_id,
            "offered_to_household_id": s.with_member_id,
            "state": s.state,
            "offered_at": s.created_at,
            "answered_at": s.answered_at,
        }
        for s in swaps
    ]
    return "partner_swaps", rows
