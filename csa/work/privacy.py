"""The household's work in its data download (csa/privacy/export.py): its sign-ups, the hours
it gave and received, the hours it bought out. The other household of a transfer is not
named (that is its data, not this one's). Nothing here holds personal text, so anonymising
a household needs no scrubber: the rows keep only ids, times and hours."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select

from csa.extensions import db
from csa.models import Member, Membership, WorkBuyout, WorkJob, WorkSignup, WorkTransfer
from csa.privacy.export import Row, household_data


def _ids(member: Member) -> list[int]:
    return list(db.session.scalars(select(Membership.id).where(Membership.member_id == member.id)))


@household_data(_l("The work jobs the household signed up for, and the hours confirmed."))
def _signups(member: Member) -> tuple[str, list[Row]]:
    rows = db.session.execute(
        select(WorkSignup, WorkJob)
        .join(WorkJob, WorkJob.id == WorkSignup.job_id)
        .where(WorkSignup.membership_id.in_(_ids(member)))
        .order_by(WorkSignup.id)
    ).all()
    return "work_signups", [
        {
            "membership_id": s.membership_id,
            "job": j.title,
            "starts_at": j.starts_at,
            "due_on": j.due_on,
            "state": s.state,
            "minutes": s.minutes,
            "signed_up_at": s.created_at,
        }
        for s, j in rows
    ]


@household_data(_l("Work hours the household gave to or received from other households."))
def _transfers(member: Member) -> tuple[str, list[Row]]:
    ids = _ids(member)
    rows = db.session.scalars(
        select(WorkTransfer)
        .where(
            or_(WorkTransfer.from_membership_id.in_(ids), WorkTransfer.to_membership_id.in_(ids))
        )
        .order_by(WorkTransfer.id)
    ).all()
    return "work_transfers", [
        {
            "membership_id": t.from_membership_id
            if t.from_membership_id in ids
            else t.to_membership_id,
            "direction": "given" if t.from_membership_id in ids else "received",
            "minutes": t.minutes,
            "at": t.created_at,
        }
        for t in rows
    ]


@household_data(_l("Work hours the household bought out, and what they cost."))
def _buyouts(member: Member) -> tuple[str, list[Row]]:
    rows = db.session.scalars(
        select(WorkBuyout).where(WorkBuyout.membership_id.in_(_ids(member))).order_by(WorkBuyout.id)
    ).all()
    return "work_buyouts", [
        {
            "membership_id": b.membership_id,
            "minutes": b.minutes,
            "amount_cents": b.amount_cents,
            "currency": b.currency,
            "invoice_id": b.invoice_id,
            "at": b.created_at,
        }
        for b in rows
    ]
