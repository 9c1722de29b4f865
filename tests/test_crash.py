"""SIGKILL in the middle of a harvest save, a round lock and a CSV import (real processes).

A child process runs the real operation (a POST through the app, or the scheduler's
`run_due_jobs`) and stops itself at a chosen point of its transaction (after a flush,
before or after a commit: SQLAlchemy session events, nothing of csa replaced); the test
kills it there with SIGKILL. Then the database must hold all of the operation or none of
it, and running it again (the restart) must finish it exactly once.

Killing during message delivery, during sheet rendering and two schedulers at once are
tested in tests/test_mail.py, tests/test_sheets.py and tests/test_jobs.py.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from csa.extensions import db as _db
from csa.jobs import run_due_jobs
from csa.models import (
    Allocation,
    HarvestAudit,
    HarvestEntry,
    Member,
    Membership,
    OutboxMessage,
    Role,
    Round,
    RoundAction,
    RoundLog,
    RoundStatus,
)
from tests.conftest import PASSWORD
from tests.factories import add_member, make_farm
from tests.proof import changed_tables, fingerprint

ROOT = Path(__file__).resolve().parent.parent
MONDAY_MORNING = datetime(2027, 5, 3, 8, 0)  # UTC; the first round is Tuesday 2027-05-04
AFTER_CUTOFF = datetime(2027, 5, 3, 16, 30)  # Monday 18:30 in Warsaw: Tuesday's round locks
# The killed scheduler's lease lapses (SCHEDULER_LEASE_SECONDS) before the restart runs.
RESTART = datetime(2027, 5, 3, 16, 40)

CHILD = r"""
import io, json, sys, time
from datetime import datetime
from sqlalchemy import event
from sqlalchemy.orm import Session
from csa import create_app

config, point, nth, op, arg, password = sys.argv[1:]
config, nth = json.loads(config), int(nth)
app = create_app(config)
seen = {}

def arm():
    # Stop at the nth `point` of the operation's session, and wait there to be killed.
    def at(name):
        def hook(*_args, **_kw):
            seen[name] = seen.get(name, 0) + 1
            if name == point and seen[name] == nth:
                print(f"at {name} {nth}", flush=True)
                time.sleep(300)
        return hook
    for name in ("after_flush", "before_commit", "after_commit"):
        event.listen(Session, name, at(name))
    print("armed", flush=True)
    sys.stdin.readline()  # the test takes its fingerprint first

if op == "jobs":
    from csa.jobs import run_due_jobs
    with app.app_context():
        arm()
        run_due_jobs(datetime.fromisoformat(arg))
else:
    client = app.test_client()
    who, form = json.loads(arg)
    answer = client.post("/auth/login", data={"email": who, "password": password})
    assert answer.status_code == 302, answer.status_code
    if op == "import":
        form = {"file": (io.BytesIO(form.encode()), "members.csv")}
    path = {"harvest": "/harvest/", "import": "/register/import"}[op]
    arm()
    answer = client.post(path, data=form, content_type="multipart/form-data")
    assert answer.status_code == 302, answer.get_data(as_text=True)[:2000]
print("done", flush=True)
"""


def run_child(
    app_config: dict[str, Any], point: str, nth: int, op: str, arg: Any
) -> tuple[str, dict[str, str]]:
    """Run the operation in a child; SIGKILL it at (point, nth). Return how it ended and the
    fingerprint of the database taken just before the operation began."""
    config = {**app_config, "WTF_CSRF_ENABLED": False}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            CHILD,
            json.dumps(config),
            point,
            str(nth),
            op,
            json.dumps(arg) if op != "jobs" else arg,
            PASSWORD,
        ],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        line = proc.stdout.readline().strip()
        assert line == "armed", line + proc.stderr.read()
        before = fingerprint()
        proc.stdin.write("go\n")
        proc.stdin.flush()
        line = proc.stdout.readline().strip()
        if line.startswith("at "):
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(30)
            assert proc.returncode == -signal.SIGKILL
            return "killed", before
        proc.wait(60)
        assert line == "done", line + proc.stderr.read()
        return "done", before
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            stream.close()


def count(model: Any, *where: Any) -> int:
    _db.session.expire_all()
    return _db.session.scalar(select(func.count()).select_from(model).where(*where))


@pytest.fixture
def farm(app, db):
    farm = make_farm()
    for i in range(4):
        add_member(farm, name=f"Anna Nowak{i}", email=f"anna{i}@example.org")
    add_member(farm, name="Ola Kowalska", site=farm.thursday, email="ola@example.org")
    db.session.commit()
    return farm


# --- a harvest save ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("point", "nth", "written"),
    [("after_flush", 1, False), ("after_commit", 1, True)],
    ids=["flushed", "committed"],
)
def test_killed_harvest_save_is_all_or_nothing_and_the_resend_saves_once(
    app, client, auth, farm, app_config, make_user, point, nth, written
):
    run_due_jobs(MONDAY_MORNING)  # the rounds of the coming weeks
    round_id = _db.session.scalar(select(Round.id).where(Round.date == date(2027, 5, 4)))
    farmer = make_user(Role.FARMER, email="farmer@example.org")
    form = {
        "round_id": str(round_id),
        "submission": "crash-test-form-0001",  # the form's one-time token
        "lines-0-crop": str(farm.tomatoes.id),
        "lines-0-quantity": "12,5",
        "lines-1-crop": str(farm.pumpkins.id),
        "lines-1-quantity": "7",
    }
    how, before = run_child(app_config, point, nth, "harvest", [farmer.email, form])
    assert how == "killed"
    if written:
        assert count(HarvestEntry) == 2
        assert count(HarvestAudit) == 2
    else:
        assert changed_tables(before, fingerprint()) == []
    # The phone saw no answer, so the farmer sends the same form again, to a new process
    # (this one): saved once either way, "already saved" when the killed one committed.
    auth.login(farmer.email)
    again = client.post("/harvest/", data=form)
    assert again.status_code == 302
    page = client.get(again.headers["Location"]).get_data(as_text=True)
    assert ("This form was saved already" in page) is written
    assert count(HarvestEntry) == 2
    assert count(HarvestEntry, HarvestEntry.quantity_milli == 12_500) == 1
    assert count(HarvestAudit) == count(HarvestEntry)


# --- a CSV import -----------------------------------------------------------------------

ROWS = 40
CSV = "name,email,phone,share_type,shares,site,season,start,end\n" + "".join(
    f"Imported Person{i},imported{i}@example.org,,Full,1,Old Mill,Season 2027,,\n"
    for i in range(ROWS)
)


@pytest.mark.parametrize(
    ("point", "nth", "written"),
    [("before_commit", 1, False), ("after_commit", 1, True)],
    ids=["committing", "committed"],
)
def test_killed_csv_import_is_all_or_nothing_and_imports_once_again(
    app, client, auth, farm, app_config, make_user, point, nth, written
):
    coordinator = make_user(Role.COORDINATOR, email="coordinator@example.org")
    farm.tuesday.capacity = 100
    _db.session.commit()
    members = count(Member)
    how, before = run_child(app_config, point, nth, "import", [coordinator.email, CSV])
    assert how == "killed"
    if written:
        assert count(Member) == members + ROWS
    else:
        assert changed_tables(before, fingerprint()) == []
    # The coordinator imports the file again, in a new process (this one).
    auth.login(coordinator.email)
    answer = client.post(
        "/register/import",
        data={"file": (io.BytesIO(CSV.encode()), "members.csv")},
        content_type="multipart/form-data",
    )
    assert answer.status_code == 302
    assert count(Member) == members + ROWS  # once, whichever way the first attempt ended
    assert count(Membership) == members + ROWS


# --- a round lock by the scheduler ----------------------------------------------------------

# run_due_jobs commits: 1 the lease, 2 the coming rounds, 3 the lock of Tuesday's round,
# 4 its after-lock steps (sheets, notices), 5 past rounds distributed.
LOCK_COMMIT, FINISH_COMMIT = 3, 4


@pytest.mark.parametrize(
    ("point", "nth"),
    [
        ("before_commit", LOCK_COMMIT),
        ("after_commit", LOCK_COMMIT),
        ("before_commit", FINISH_COMMIT),
    ],
    ids=["locking", "locked-not-finished", "finishing"],
)
def test_killed_scheduler_lock_finishes_once_after_restart(app, farm, app_config, point, nth):
    run_due_jobs(MONDAY_MORNING)
    round_ = _db.session.scalar(select(Round).where(Round.date == date(2027, 5, 4)))
    _db.session.add_all(
        [
            HarvestEntry(round=round_, crop=farm.tomatoes, quantity_milli=10_000),
            HarvestEntry(round=round_, crop=farm.pumpkins, quantity_milli=3_000),
        ]
    )
    _db.session.commit()
    how, _before = run_child(app_config, point, nth, "jobs", AFTER_CUTOFF.isoformat())
    assert how == "killed"
    _db.session.expire_all()
    round_ = _db.session.get(Round, round_.id)
    if (point, nth) == ("before_commit", LOCK_COMMIT):
        assert round_.status == RoundStatus.OPEN
        assert count(Allocation) == 0
    else:
        assert round_.status == RoundStatus.LOCKED
        assert count(Allocation) == 8  # 4 members x 2 crops, whole
        assert round_.notified_at is None  # the after-lock steps did not commit
        assert count(OutboxMessage) == 0
    report = run_due_jobs(RESTART, holder="restarted")
    assert report.acted
    _db.session.expire_all()
    round_ = _db.session.get(Round, round_.id)
    assert round_.status == RoundStatus.LOCKED
    assert round_.notified_at is not None
    assert round_.sheets_at is not None
    assert count(Allocation) == 8
    assert count(RoundLog, RoundLog.action == RoundAction.LOCK) == 1
    assert count(OutboxMessage) == 4  # each member of the round told once
    # A second restart changes nothing.
    again = fingerprint()
    run_due_jobs(RESTART, holder="restarted")
    assert set(changed_tables(again, fingerprint())) <= {"lease"}
