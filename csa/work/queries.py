"""Reads of member work for pages, the feed, the pickup lists and the job: the ledgers (in a
few grouped queries for any number of memberships), the jobs open to a household, its own."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, or_, select, true
from sqlalchemy.orm import joinedload, selectinload

from csa.core.work import Ledger, required_minutes
from csa.extensions import db
from csa.models import (
    Member,
    Membership,
    MembershipStatus,
    WorkBuyout,
    WorkJob,
    WorkRequirement,
    WorkSignup,
    WorkSignupState,
    WorkTransfer,
)

CHUNK = 500


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def _sums(column: object, key: object, where: object, ids: list[int]) -> dict[int, int]:
    found: dict[int, int] = {}
    for chunk in _chunks(ids):
        rows = db.session.execute(
            select(key, func.coalesce(func.sum(column), 0))  # type: ignore[call-overload]
            .where(key.in_(chunk), where)  # type: ignore[attr-defined]
            .group_by(key)
        )
        for k, total in rows:
            found[int(k)] = int(total)
    return found


def ledgers(memberships: Collection[Membership]) -> dict[int, Ledger]:
    """The hours ledger of each membership, by id: five grouped queries for all of them."""
    ids = sorted({m.id for m in memberships})
    if not ids:
        return {}
    per_type = dict(
        db.session.execute(select(WorkRequirement.share_type_id, WorkRequirement.minutes)).all()
    )
    done = _sums(
        WorkSignup.minutes,
        WorkSignup.membership_id,
        WorkSignup.state == WorkSignupState.DONE,
        ids,
    )
    pending: dict[int, int] = {}
    for chunk in _chunks(ids):
        for k, total in db.session.execute(
            select(WorkSignup.membership_id, func.coalesce(func.sum(WorkJob.minutes), 0))
            .join(WorkJob, WorkJob.id == WorkSignup.job_id)
            .where(
                WorkSignup.membership_id.in_(chunk),
                WorkSignup.state == WorkSignupState.SIGNED,
                WorkJob.cancelled_at.is_(None),
            )
            .group_by(WorkSignup.membership_id)
        ):
            pending[int(k)] = int(total)
    given_in = _sums(WorkTransfer.minutes, WorkTransfer.to_membership_id, true(), ids)
    given_out = _sums(WorkTransfer.minutes, WorkTransfer.from_membership_id, true(), ids)
    bought = _sums(WorkBuyout.minutes, WorkBuyout.membership_id, true(), ids)
    result: dict[int, Ledger] = {}
    for m in memberships:
        season = m.season
        result[m.id] = Ledger(
            required=required_minutes(
                int(per_type.get(m.share_type_id, 0)),
                m.shares,
                (m.start, m.end),
                (season.start, season.end),
            ),
            done=done.get(m.id, 0),
            pending=pending.get(m.id, 0),
            given_in=given_in.get(m.id, 0),
            given_out=given_out.get(m.id, 0),
            bought=bought.get(m.id, 0),
        )
    return result


def ledger_of(membership: Membership) -> Ledger:
    return ledgers([membership])[membership.id]


def memberships_on(day: date) -> list[Membership]:
    """The active memberships whose contract covers a day, with their seasons."""
    return list(
        db.session.scalars(
            select(Membership)
            .options(joinedload(Membership.season), joinedload(Membership.member))
            .where(
                Membership.status == MembershipStatus.ACTIVE,
                Membership.start <= day,
                Membership.end >= day,
            )
        )
    )


def owing_memberships(day: date) -> list[tuple[Membership, Ledger]]:
    """The memberships in force that day that still owe hours, with their ledgers."""
    found = memberships_on(day)
    books = ledgers(found)
    return [(m, books[m.id]) for m in found if books[m.id].owed > 0]


def owing_member_ids(day: date) -> set[int]:
    return {m.member_id for m, _ledger in owing_memberships(day)}


@dataclass
class JobLine:
    job: WorkJob
    mine: WorkSignup | None
    free: int


def open_jobs(membership: Membership, now: datetime) -> list[JobLine]:
    """Jobs not cancelled whose sign-up has not closed, with this household's place: general
    jobs for every household, site duty only at its own site. Oldest moment first."""
    from csa.work.operations import deadline_of, job_day, moment_of

    jobs = db.session.scalars(
        select(WorkJob)
        .where(
            WorkJob.cancelled_at.is_(None),
            or_(WorkJob.site_id.is_(None), WorkJob.site_id == membership.site_id),
            or_(WorkJob.starts_at.is_(None), WorkJob.starts_at > now),
        )
        .options(selectinload(WorkJob.signups))
    ).all()
    lines = []
    for job in jobs:
        if now >= deadline_of(job):
            continue
        if not membership.start <= job_day(job) <= membership.end:
            continue
        mine = next((s for s in job.signups if s.membership_id == membership.id), None)
        lines.append(JobLine(job, mine, max(0, job.slots - job.taken)))
    lines.sort(key=lambda line: (moment_of(line.job), line.job.id))
    return lines


def my_signups(membership: Membership) -> list[WorkSignup]:
    """Every job this membership signed up for, newest first."""
    return list(
        db.session.scalars(
            select(WorkSignup)
            .join(WorkJob, WorkJob.id == WorkSignup.job_id)
            .where(WorkSignup.membership_id == membership.id)
            .options(joinedload(WorkSignup.job))
            .order_by(WorkJob.starts_at.desc(), WorkJob.due_on.desc(), WorkSignup.id.desc())
        )
    )


def household_signups(member: Member, since: datetime) -> list[WorkSignup]:
    """The household's places on jobs still to come (not cancelled), for the calendar feed."""
    return list(
        db.session.scalars(
            select(WorkSignup)
            .join(WorkJob, WorkJob.id == WorkSignup.job_id)
            .join(Membership, Membership.id == WorkSignup.membership_id)
            .where(
                Membership.member_id == member.id,
                WorkJob.cancelled_at.is_(None),
                or_(WorkJob.ends_at >= since, WorkJob.starts_at.is_(None)),
            )
            .options(joinedload(WorkSignup.job))
        )
    )


def staff_jobs(since: datetime) -> list[WorkJob]:
    """Jobs on the staff list: those to come, and those past for the attendance to confirm."""
    return list(
        db.session.scalars(
            select(WorkJob)
            .where(or_(WorkJob.starts_at.is_(None), WorkJob.starts_at >= since))
            .options(selectinload(WorkJob.signups), joinedload(WorkJob.site))
            .order_by(WorkJob.starts_at, WorkJob.due_on, WorkJob.id)
        ).unique()
    )


def job_signups(job: WorkJob) -> list[WorkSignup]:
    return list(
        db.session.scalars(
            select(WorkSignup)
            .where(WorkSignup.job_id == job.id)
            .options(joinedload(WorkSignup.membership).joinedload(Membership.member))
            .order_by(WorkSignup.id)
        )
    )


def duty_jobs(round_ids: Collection[int]) -> dict[tuple[int, int], WorkJob]:
    """Site duty by (round id, site id)."""
    if not round_ids:
        return {}
    jobs = db.session.scalars(
        select(WorkJob)
        .where(WorkJob.round_id.in_(list(round_ids)))
        .options(
            selectinload(WorkJob.signups)
            .joinedload(WorkSignup.membership)
            .joinedload(Membership.member)
        )
    ).all()
    return {(j.round_id, j.site_id): j for j in jobs if j.round_id and j.site_id}
