"""Scheduler jobs that reconcile the database with the calendar (APScheduler 3.11).

Every job is idempotent and commits its own small steps, so running it twice, late, or in
two processes changes nothing the second time. Only the holder of the database lease acts:
a second scheduler started by mistake waits without doing anything.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import Flask, current_app
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from csa.core.clock import utcnow
from csa.extensions import changed_rows, db
from csa.invoices.operations import IssueReport
from csa.models import OPEN_STATES, Lease, Round, RoundStatus
from csa.notices.outbox import DeliveryReport, deliver
from csa.ops.runlock import hold_run_lock
from csa.rounds.lifecycle import farm_today
from csa.rounds.split import RoundSplit, stored_split
from csa.sheets.build import sheets_after_lock

log = logging.getLogger(__name__)

LEASE_NAME = "scheduler"
HOLDER = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

# Steps run after a round locks (sheets; the notices come last, in finish_locked_rounds);
# later features append to this list. Each takes a locked round and its stored split, read
# once for all of them (a full read is seconds at 5,000 memberships), must be idempotent,
# and flushes only.
AfterLockStep = Callable[[Round, RoundSplit], object]
AFTER_LOCK: list[AfterLockStep] = [sheets_after_lock]


@dataclass
class JobReport:
    acted: bool = True
    created: list[date] = field(default_factory=list)
    locked: list[date] = field(default_factory=list)
    notified: list[date] = field(default_factory=list)
    distributed: list[date] = field(default_factory=list)
    offered: int = 0  # places offered to waiting households (csa/waitlist/offers.py)
    expired: int = 0  # offers that ran out unanswered
    mail: DeliveryReport = field(default_factory=DeliveryReport)
    renewals: str = ""  # csa/renewal/operations.py RenewalRun, as text
    bidding: str = ""  # csa/bidding/operations.py BiddingRun, as text
    invoices: IssueReport = field(default_factory=IssueReport)  # csa/invoices
    reminders: int = 0  # payment reminders sent (csa/reminders/operations.py)
    # One short "what: how many" text per later job (e.g. "work reminders: 3"), so a new job
    # adds a line to `run_due_jobs` and none here.
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        if not self.acted:
            return "Another scheduler holds the lease; nothing done."
        return (
            f"rounds created: {len(self.created)}, locked: {len(self.locked)}, "
            f"notified: {len(self.notified)}, distributed: {len(self.distributed)}; "
            f"places offered: {self.offered}, offers expired: {self.expired}; "
            f"{self.renewals + '; ' if self.renewals else ''}"
            f"{self.bidding + '; ' if self.bidding else ''}{self.invoices}; "
            f"payment reminders: {self.reminders}; "
            f"{''.join(note + '; ' for note in self.notes)}mail {self.mail}"
        )


def acquire_lease(name: str, holder: str, seconds: int, now: datetime | None = None) -> bool:
    """Take or renew a lease with one atomic UPDATE (or INSERT); works on SQLite and PG."""
    now = now or utcnow()
    expires = now + timedelta(seconds=seconds)
    taken = changed_rows(
        update(Lease)
        .where(Lease.name == name, or_(Lease.holder == holder, Lease.expires_at < now))
        .values(holder=holder, expires_at=expires)
        .execution_options(synchronize_session=False)
    )
    if taken:
        db.session.commit()
        return True
    try:
        db.session.add(Lease(name=name, holder=holder, expires_at=expires))
        db.session.commit()
    except IntegrityError:
        db.session.rollback()  # someone else holds it
        return False
    return True


def release_lease(name: str, holder: str) -> None:
    """Give the lease up at once, so the next run (cron, another scheduler) need not wait."""
    db.session.execute(
        update(Lease)
        .where(Lease.name == name, Lease.holder == holder)
        .values(expires_at=datetime(1970, 1, 1))
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def create_rounds(now: datetime, report: JobReport) -> None:
    """Make sure the rounds of the coming weeks exist."""
    from csa.rounds.lifecycle import ensure_rounds

    created = ensure_rounds(farm_today(now), current_app.config["ROUNDS_WEEKS_AHEAD"])
    db.session.commit()
    report.created += [r.date for r in created]


def lock_due_rounds(now: datetime, report: JobReport) -> None:
    """Lock every open round whose cutoff passed; one transaction per round.

    A crash mid-lock rolls that round's transaction back whole: it stays open with no
    allocations, and the next run locks it.
    """
    from csa.rounds.lifecycle import lock_round

    due = db.session.scalars(
        select(Round)
        .where(
            Round.status.in_(OPEN_STATES),
            Round.cutoff_at.is_not(None),
            Round.cutoff_at <= now,
        )
        .order_by(Round.date)
    ).all()
    for round_ in due:
        try:
            if lock_round(round_):
                report.locked.append(round_.date)
            db.session.commit()
        except Exception:
            db.session.rollback()
            log.exception("locking the round of %s failed; the next run retries", round_.date)


def finish_locked_rounds(report: JobReport) -> None:
    """Run the after-lock steps (sheets, notices) of locked rounds not finished yet.

    The stored split is read once per round and handed to every step and to the notices.
    """
    from csa.notices.notify import notify_round

    pending = db.session.scalars(
        select(Round)
        .where(
            Round.status.in_((RoundStatus.LOCKED, RoundStatus.CANCELLED)),
            Round.notified_at.is_(None),
        )
        .order_by(Round.date)
    ).all()
    for round_ in pending:
        try:
            split = stored_split(round_) if round_.status == RoundStatus.LOCKED else None
            if split is not None:
                for step in AFTER_LOCK:
                    step(round_, split)
            notify_round(round_, split)
            round_.notified_at = utcnow()
            db.session.commit()
            report.notified.append(round_.date)
        except Exception:
            db.session.rollback()
            log.exception("finishing the round of %s failed; the next run retries", round_.date)


def renew_memberships(now: datetime, report: JobReport) -> None:
    """Renewal invitations, reminders and expiries, and undecided trials ended (csa/renewal)."""
    from csa.renewal.operations import run

    try:
        report.renewals = str(run(farm_today(now)))
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("the renewal job failed; the next run retries")


def close_bidding(now: datetime, report: JobReport) -> None:
    """Close the bidding rounds past their deadline; a range round whose pledges cover the
    budget settles (its households are told their price), the others wait for a coordinator.

    One commit per round; a round closed once is no longer due, so a second run does nothing.
    """
    from csa.bidding.operations import BiddingRun, close_due, due_rounds

    run = BiddingRun()
    for round_ in due_rounds(farm_today(now)):
        round_id = round_.id
        try:
            close_due(round_, now, run)
            db.session.commit()
        except Exception:
            db.session.rollback()
            log.exception("closing bidding round %s failed; the next run retries", round_id)
    report.bidding = str(run)


def issue_invoices(now: datetime, report: JobReport) -> None:
    """Issue the invoices falling due soon (csa/invoices/operations.py), one commit each;
    a second run, or a second process, finds each instalment issued and adds nothing."""
    from csa.invoices.operations import issue_due_invoices

    try:
        report.invoices = issue_due_invoices(farm_today(now))
    except Exception:
        db.session.rollback()
        log.exception("issuing invoices failed; the next run retries")


def send_reminders(now: datetime, report: JobReport) -> None:
    """Payment reminders due today (csa/reminders): each invoice commits on its own, and one
    that fails is rolled back and logged while the others go on."""
    from csa.reminders.operations import send_due

    try:
        report.reminders += send_due(now, farm_today(now))
    except Exception:
        db.session.rollback()
        log.exception("the reminder job failed; the next run retries")


def mail_donation_sheets(report: JobReport) -> None:
    """Settle the donations of locked rounds whose notices are out: who took the surplus is
    kept, and each partner that collects something gets its pickup sheet by mail, once
    (csa/donations/operations.py); one commit per round, a second run does nothing."""
    from csa.donations.operations import settle_due

    try:
        sent = settle_due()
    except Exception:
        db.session.rollback()
        log.exception("settling donations failed; the next run retries")
        return
    if sent:
        report.notes.append(f"donation sheets mailed: {sent}")


def work_notices(now: datetime, report: JobReport) -> None:
    """Reminders before work jobs and calls for help for understaffed ones (csa/work/notices.py):
    each claimed once in the database, one commit each; a second run finds nothing to send."""
    from csa.work.notices import run

    try:
        done = run(now)
    except Exception:
        db.session.rollback()
        log.exception("the work notices failed; the next run retries")
        return
    if done.reminded or done.called:
        report.notes.append(str(done))


def close_offers(now: datetime, report: JobReport) -> None:
    """Close the offered shares and swaps whose pickup has started (csa/offers): an offer
    nobody took follows the farm's rule (OFFERS_UNCLAIMED). One commit; a closed post is
    no longer open, so a second run does nothing."""
    from csa.offers.operations import close_due

    try:
        closed = close_due(now)
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("closing offers and swaps failed; the next run retries")
        return
    if closed:
        report.notes.append(f"offers and swaps closed: {closed}")


def refresh_sheets(report: JobReport) -> None:
    """Make again the sheets of locked rounds whose printed notes changed after the lock
    (csa/sheets/annotations.py): one commit per round; nothing asked, nothing done."""
    from csa.sheets.annotations import refresh_due

    try:
        done = refresh_due()
    except Exception:
        db.session.rollback()
        log.exception("making sheets again failed; the next run retries")
        return
    if done:
        report.notes.append(f"sheets made again: {done}")


def deliver_mail(report: JobReport) -> None:
    """Send what the steps before queued (and anything due for a retry), one per commit."""
    try:
        report.mail = deliver()
    except Exception:
        db.session.rollback()
        log.exception("delivering the outbox failed; the next run retries")


def close_past_rounds(now: datetime, report: JobReport) -> None:
    """Mark locked rounds before today distributed (csa/rounds/lifecycle.py does it)."""
    from csa.rounds.lifecycle import distribute_past_rounds

    distributed = distribute_past_rounds(farm_today(now))
    db.session.commit()
    report.distributed += [r.date for r in distributed]


def offer_places(now: datetime, report: JobReport) -> None:
    """Expire the offers past their time, then offer every free place of the seasons running
    or to come to the next household waiting at its site (csa/waitlist/offers.py).

    One commit per offer. Two runs at once cannot offer one place twice: an open offer holds
    a numbered slot of its site and season, unique in the database, so the second insert
    fails and rolls back; the next run finds the offer made.
    """
    from csa.models import OfferState
    from csa.waitlist import offers

    for offer in offers.due_offers(now):
        try:
            if offers.close_due(offer, now) == OfferState.EXPIRED:
                report.expired += 1
            db.session.commit()
        except Exception:
            db.session.rollback()
            log.exception("closing the offer %s failed; the next run retries", offer.id)
    today = farm_today(now)
    places = [
        (site, season) for season in offers.seasons_to_fill(today) for site in offers.active_sites()
    ]
    for site, season in places:
        try:
            while offers.offer_next(site, season, now, today) is not None:
                db.session.commit()
                report.offered += 1
        except (IntegrityError, OperationalError):
            db.session.rollback()
            log.info("another process offered a place at %s first; the next run goes on", site.id)
        except Exception:
            db.session.rollback()
            log.exception("offering places at site %s failed; the next run retries", site.id)


def run_due_jobs(now: datetime | None = None, holder: str = HOLDER) -> JobReport:
    """Run every job once, if this process holds the lease. Needs an app context."""
    now = now or utcnow()
    if not acquire_lease(LEASE_NAME, holder, current_app.config["SCHEDULER_LEASE_SECONDS"], now):
        return JobReport(acted=False)
    report = JobReport()
    create_rounds(now, report)
    lock_due_rounds(now, report)
    finish_locked_rounds(report)
    # Renewals first: an invitation that expires now gives its place to the waiting list,
    # which the offers then reach in the same run.
    renew_memberships(now, report)
    offer_places(now, report)
    close_bidding(now, report)
    issue_invoices(now, report)
    send_reminders(now, report)
    mail_donation_sheets(report)
    work_notices(now, report)
    close_offers(now, report)
    refresh_sheets(report)
    deliver_mail(report)
    close_past_rounds(now, report)
    log.info("jobs: %s", report)
    return report


def lease_holder(name: str = LEASE_NAME, now: datetime | None = None) -> Lease | None:
    """Return the lease row while someone holds it (not expired), else None."""
    now = now or utcnow()
    lease = db.session.get(Lease, name)
    return lease if lease is not None and lease.expires_at > now else None


def run_jobs_once(now: datetime | None = None, holder: str = HOLDER) -> JobReport:
    """Run every due job once and give the lease back, even when a job raises (`run-jobs`).

    Without the release, a cron run every minute would keep the lease for
    SCHEDULER_LEASE_SECONDS after it exits, and act at most that often.
    """
    hold_run_lock(current_app)  # a restore in progress finishes first (csa/ops/runlock.py)
    try:
        return run_due_jobs(now, holder)
    finally:
        db.session.rollback()  # after a job raised, the session may hold a failed transaction
        release_lease(LEASE_NAME, holder)


def tick(app: Flask) -> None:
    """The scheduler's job: APScheduler threads have no app context, so push one."""
    with app.app_context():
        try:
            run_due_jobs()
        finally:
            db.session.remove()


def run_scheduler(app: Flask) -> None:
    """Block forever running `tick` every interval (the `flask csa scheduler` process)."""
    from apscheduler.schedulers.blocking import BlockingScheduler

    hold_run_lock(app)  # a restore in progress finishes first (csa/ops/runlock.py)

    scheduler = BlockingScheduler(
        timezone=ZoneInfo(app.config["TIMEZONE"]),
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
    )
    scheduler.add_job(
        tick,
        "interval",
        seconds=int(app.config["SCHEDULER_INTERVAL_SECONDS"]),
        args=[app],
        id="csa-tick",
        replace_existing=True,
        next_run_time=datetime.now(ZoneInfo(app.config["TIMEZONE"])),
    )
    log.info("scheduler %s started, every %ss", HOLDER, app.config["SCHEDULER_INTERVAL_SECONDS"])
    # SIGTERM (systemd, kill) ends the process without running `finally` blocks unless it
    # becomes an exception, like Ctrl-C's KeyboardInterrupt.
    previous = signal.signal(signal.SIGTERM, _raise_system_exit)
    try:
        scheduler.start()
    finally:
        signal.signal(signal.SIGTERM, previous)
        if scheduler.running:
            scheduler.shutdown(wait=True)  # a tick in progress finishes before the release
        with app.app_context():
            release_lease(LEASE_NAME, HOLDER)
            db.session.remove()
        log.info("scheduler %s stopped; lease released", HOLDER)


def _raise_system_exit(signum: int, frame: object) -> None:
    raise SystemExit(0)
