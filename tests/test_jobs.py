"""Scheduler jobs: idempotent, one scheduler at a time, crash-safe locking, notices sent once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from datetime import date, datetime
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from sqlalchemy import func, select

from csa import create_app
from csa.extensions import db as _db
from csa.jobs import run_due_jobs
from csa.models import (
    Allocation,
    HarvestEntry,
    OutboxMessage,
    Round,
    RoundAction,
    RoundLog,
    RoundStatus,
)
from csa.rounds.split import compute_split
from tests.factories import add_member, make_farm

ROOT = Path(__file__).resolve().parent.parent
MONDAY_MORNING = datetime(2027, 5, 3, 8, 0)  # UTC; the first round is Tuesday 2027-05-04
AFTER_CUTOFF = datetime(2027, 5, 3, 16, 30)  # Monday 18:30 in Warsaw: Tuesday's round locks


def count(model, *where) -> int:
    return _db.session.scalar(select(func.count()).select_from(model).where(*where))


@pytest.fixture
def farm(app, db):
    farm = make_farm()
    for i in range(4):
        add_member(farm, name=f"Anna Nowak{i}", email=f"anna{i}@example.org")
    add_member(farm, name="Ola Kowalska", site=farm.thursday, email="ola@example.org")
    db.session.commit()
    return farm


def harvest(farm, day: date, tomatoes_milli: int = 10_000, pumpkins: int = 3) -> Round:
    round_ = _db.session.scalar(select(Round).where(Round.date == day))
    _db.session.add_all(
        [
            HarvestEntry(round=round_, crop=farm.tomatoes, quantity_milli=tomatoes_milli),
            HarvestEntry(round=round_, crop=farm.pumpkins, quantity_milli=pumpkins * 1000),
        ]
    )
    _db.session.commit()
    return round_


def test_jobs_create_rounds_lock_notify_and_second_run_changes_nothing(app, farm):
    first = run_due_jobs(MONDAY_MORNING)
    assert first.acted
    # Six weeks ahead: Tuesdays (Old Mill) and Thursdays (Town Hall).
    assert len(first.created) == 12
    assert first.locked == []
    assert all(d.weekday() in (1, 3) for d in first.created)
    round_ = harvest(farm, date(2027, 5, 4))
    expected = compute_split(round_)

    second = run_due_jobs(AFTER_CUTOFF)
    assert second.created == []
    assert second.locked == [date(2027, 5, 4)]
    assert second.notified == [date(2027, 5, 4)]
    _db.session.refresh(round_)
    assert round_.status == RoundStatus.LOCKED
    stored = count(Allocation, Allocation.round_id == round_.id)
    assert stored == sum(len(s.shares) for s in expected.splits.values()) == 8
    mails = count(OutboxMessage)
    assert mails == 4  # the four Tuesday members; Thursday's member is not in this round
    outbox = sorted(Path(app.config["OUTBOX_DIR"]).glob("*.eml"))
    assert len(outbox) == 4
    text = message_from_bytes(outbox[0].read_bytes(), policy=policy.default).get_content()
    assert "Tomatoes" in text
    assert "Old Mill" in text
    assert "Mill Lane 1" in text
    assert "4:00\u202fPM" in text  # the member's locale (en): a 12-hour clock

    again = run_due_jobs(AFTER_CUTOFF)
    assert (again.created, again.locked, again.notified) == ([], [], [])
    assert count(Allocation) == stored
    assert count(OutboxMessage) == mails
    assert len(list(Path(app.config["OUTBOX_DIR"]).glob("*.eml"))) == 4


def test_late_run_after_downtime_still_locks_once(app, farm):
    run_due_jobs(MONDAY_MORNING)
    harvest(farm, date(2027, 5, 4))
    harvest(farm, date(2027, 5, 6))
    # The machine was off for a week: one late run catches up on both rounds, once.
    late = run_due_jobs(datetime(2027, 5, 10, 9, 0))
    assert late.locked == [date(2027, 5, 4), date(2027, 5, 6)]
    assert late.distributed == [date(2027, 5, 4), date(2027, 5, 6)]
    again = run_due_jobs(datetime(2027, 5, 10, 9, 1))
    assert (again.locked, again.distributed) == ([], [])
    # csa/rounds/lifecycle.py logs each change once, the scheduler as its author (no user).
    logged = _db.session.execute(
        select(Round.date, RoundLog.user_id)
        .join(Round, Round.id == RoundLog.round_id)
        .where(RoundLog.action == RoundAction.DISTRIBUTE)
        .order_by(Round.date)
    ).all()
    assert [tuple(row) for row in logged] == [(date(2027, 5, 4), None), (date(2027, 5, 6), None)]
    assert count(Round, Round.status == RoundStatus.DISTRIBUTED) == 2


def test_cancelled_round_is_announced_once(app, farm):
    from csa.rounds.lifecycle import cancel_round

    run_due_jobs(MONDAY_MORNING)
    round_ = _db.session.scalar(select(Round).where(Round.date == date(2027, 5, 6)))
    cancel_round(round_, "Hail storm", None)
    _db.session.commit()
    report = run_due_jobs(MONDAY_MORNING)
    assert report.notified == [date(2027, 5, 6)]
    message = _db.session.scalar(select(OutboxMessage))
    assert message.to == "ola@example.org"
    assert "Hail storm" in message.body
    assert run_due_jobs(MONDAY_MORNING).notified == []
    assert count(OutboxMessage) == 1


def test_two_schedulers_started_together_do_the_work_once(app, farm, app_config):
    run_due_jobs(MONDAY_MORNING, holder="setup")
    harvest(farm, date(2027, 5, 4))
    from csa.jobs import LEASE_NAME, release_lease

    release_lease(LEASE_NAME, "setup")
    barrier = threading.Barrier(2, timeout=60)
    reports = []
    errors = []
    # Both apps are built here, one after the other: Werkzeug compiles each URL rule
    # through the ast module, and CPython 3.11 can raise "AST constructor recursion depth
    # mismatch" when two threads do that at once. That is start-up (a real process builds
    # its app once), not the race under test.
    apps = {name: create_app(app_config) for name in ("a", "b")}

    def scheduler(name: str) -> None:
        with apps[name].app_context():
            try:
                barrier.wait()
                reports.append(run_due_jobs(AFTER_CUTOFF, holder=name))
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
                barrier.abort()
            finally:
                _db.session.remove()
                _db.engine.dispose()

    threads = [threading.Thread(target=scheduler, args=(n,), daemon=True) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sorted(r.acted for r in reports) == [False, True]
    _db.session.expire_all()
    assert count(Allocation) == 8
    assert count(OutboxMessage) == 4
    assert count(Round, Round.status == RoundStatus.LOCKED) == 1


def test_lease_held_by_another_live_scheduler_blocks(app, farm):
    assert run_due_jobs(MONDAY_MORNING, holder="first").acted
    assert not run_due_jobs(MONDAY_MORNING, holder="second").acted
    # Once the first one's lease expires (it died), the second takes over.
    assert run_due_jobs(datetime(2027, 5, 3, 9, 0), holder="second").acted


KILL_SCRIPT = """
import sys, time
from csa import create_app
from csa.extensions import db
from csa.models import Round
from csa.rounds.lifecycle import lock_round
from sqlalchemy import select
app = create_app({"SQLALCHEMY_DATABASE_URI": sys.argv[1], "SECRET_KEY": "x"})
with app.app_context():
    round_ = db.session.scalar(select(Round).order_by(Round.date))
    assert lock_round(round_)
    print("stored, not committed", flush=True)
    time.sleep(120)
"""


def test_scheduler_killed_mid_lock_leaves_round_open_and_next_run_finishes(app, farm, app_config):
    run_due_jobs(MONDAY_MORNING)
    round_ = harvest(farm, date(2027, 5, 4))
    _db.session.commit()
    proc = subprocess.Popen(
        [sys.executable, "-c", KILL_SCRIPT, app_config["SQLALCHEMY_DATABASE_URI"]],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        line = proc.stdout.readline()
        assert line.strip() == "stored, not committed", proc.stderr.read()
        os.kill(proc.pid, signal.SIGKILL)  # the scheduler dies inside the transaction
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
        proc.stderr.close()
    _db.session.expire_all()
    assert _db.session.get(Round, round_.id).status == RoundStatus.OPEN
    assert count(Allocation) == 0
    report = run_due_jobs(AFTER_CUTOFF)
    assert report.locked == [date(2027, 5, 4)]
    assert count(Allocation) == 8


def test_reopened_round_gets_fresh_sheets_but_no_second_notice(app, farm):
    from csa.rounds.lifecycle import reopen_round

    run_due_jobs(MONDAY_MORNING)
    round_ = harvest(farm, date(2027, 5, 4))
    run_due_jobs(AFTER_CUTOFF)
    _db.session.refresh(round_)
    first_sheets = round_.sheets_at
    assert first_sheets is not None
    mails = count(OutboxMessage)
    assert mails == 4

    reopen_round(round_, None, "forgot the kale")
    _db.session.add(HarvestEntry(round=round_, crop=farm.tomatoes, quantity_milli=2_000))
    _db.session.commit()
    assert round_.sheets_at is None
    report = run_due_jobs(datetime(2027, 5, 3, 17, 0))
    assert report.locked == [date(2027, 5, 4)]
    assert report.notified == [date(2027, 5, 4)]
    _db.session.refresh(round_)
    assert round_.sheets_at is not None  # rendered again after the second lock
    assert count(OutboxMessage) == mails  # each member was told once
    stored = _db.session.scalars(
        select(Allocation.quantity_milli).where(
            Allocation.round_id == round_.id, Allocation.crop_id == farm.tomatoes.id
        )
    ).all()
    assert sum(stored) == 12_000  # the corrected harvest is what was stored


def test_after_lock_step_reads_the_stored_split_once(app, farm):
    """Sheets, notices and every AFTER_LOCK step share one read of the stored split."""
    from sqlalchemy import event

    from csa.jobs import AFTER_LOCK, JobReport, finish_locked_rounds, lock_due_rounds

    run_due_jobs(MONDAY_MORNING)
    round_ = harvest(farm, date(2027, 5, 4))
    report = JobReport()
    lock_due_rounds(AFTER_CUTOFF, report)
    assert report.locked == [date(2027, 5, 4)]
    seen: list[tuple[int, int]] = []
    AFTER_LOCK.append(lambda r, split: seen.append((r.id, len(split.membership_list))))
    reads: list[str] = []

    def count_reads(conn, cursor, statement, parameters, context, executemany):
        flat = " ".join(statement.lower().split())
        if flat.startswith("select") and " from allocation" in flat:
            reads.append(flat)

    event.listen(_db.engine, "before_cursor_execute", count_reads)
    try:
        finish_locked_rounds(report)
    finally:
        event.remove(_db.engine, "before_cursor_execute", count_reads)
        AFTER_LOCK.pop()
    assert report.notified == [date(2027, 5, 4)]
    assert seen == [(round_.id, 4)]  # the step got the round and the split read for it
    assert count(OutboxMessage) == 4  # the notices came from that split too
    _db.session.refresh(round_)
    assert round_.sheets_at is not None
    assert len(reads) == 1, reads
