"""Reads for the privacy pages: a household's requests, the open ones, the households that
may be anonymised, and the audit."""

from __future__ import annotations

from datetime import date

from sqlalchemy import exists, func, select

from csa.extensions import db
from csa.models import (
    Member,
    Membership,
    PrivacyEvent,
    PrivacyRequest,
    PrivacyRequestState,
)
from csa.privacy.operations import ANONYMISED

LIST_MAX = 100  # rows of each list on the coordinators' page


def household_requests(member: Member) -> list[PrivacyRequest]:
    """The household's requests, newest first."""
    return list(
        db.session.scalars(
            select(PrivacyRequest)
            .where(PrivacyRequest.member_id == member.id)
            .order_by(PrivacyRequest.requested_at.desc(), PrivacyRequest.id.desc())
        )
    )


def open_requests() -> list[PrivacyRequest]:
    return list(
        db.session.scalars(
            select(PrivacyRequest)
            .where(PrivacyRequest.state == PrivacyRequestState.REQUESTED)
            .order_by(PrivacyRequest.requested_at, PrivacyRequest.id)
        )
    )


def open_request_count() -> int:
    return int(
        db.session.scalar(
            select(func.count())
            .select_from(PrivacyRequest)
            .where(PrivacyRequest.state == PrivacyRequestState.REQUESTED)
        )
        or 0
    )


def answered_requests(limit: int = LIST_MAX) -> list[PrivacyRequest]:
    return list(
        db.session.scalars(
            select(PrivacyRequest)
            .where(PrivacyRequest.state != PrivacyRequestState.REQUESTED)
            .order_by(PrivacyRequest.decided_at.desc(), PrivacyRequest.id.desc())
            .limit(limit)
        )
    )


def anonymisable(today: date, limit: int = LIST_MAX) -> list[tuple[Member, date | None]]:
    """Households whose memberships have all ended before today and that still hold
    personal data, with the end of their last membership (None: they never had one)."""
    running = exists().where(Membership.member_id == Member.id, Membership.end >= today)
    done = exists().where(PrivacyEvent.member_id == Member.id, PrivacyEvent.action == ANONYMISED)
    last_end = (
        select(func.max(Membership.end)).where(Membership.member_id == Member.id).scalar_subquery()
    )
    query = (
        select(Member, last_end)
        .where(~running, ~done)
        .order_by(last_end.asc(), Member.id)
        .limit(limit)
    )
    return [(m, end) for m, end in db.session.execute(query)]


def recent_events(limit: int = LIST_MAX) -> list[PrivacyEvent]:
    return list(
        db.session.scalars(
            select(PrivacyEvent)
            .order_by(PrivacyEvent.at.desc(), PrivacyEvent.id.desc())
            .limit(limit)
        )
    )
