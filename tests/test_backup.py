"""`csa backup` and `csa restore` as real processes, on SQLite and PostgreSQL.

Back up, change the data, restore: every row of the backup is back and nothing of the
change is left. A restore is refused while the app or the scheduler holds the database,
and a leftover -wal (a crashed process's writes) never leaks into the restored database.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update

from csa.core.clock import utcnow
from csa.extensions import db as _db
from csa.jobs import LEASE_NAME, lease_holder
from csa.models import Lease, Member, Membership
from tests.factories import add_member, make_farm
from tests.processes import ROOT, cli_env, flask, start_flask, stop


def snapshot() -> dict[str, list[tuple]]:
    """Every row of every table, in primary-key order."""
    _db.session.expire_all()
    rows = {}
    for table in _db.metadata.sorted_tables:
        query = select(table).order_by(*table.primary_key.columns)
        rows[table.name] = [tuple(r) for r in _db.session.execute(query)]
    _db.session.rollback()
    return rows


def let_go() -> None:
    """Close this test's own connections, as a stopped app would."""
    _db.session.remove()
    _db.engine.dispose()


@pytest.fixture
def farm(app, db):
    farm = make_farm()
    for i in range(8):
        add_member(farm, name=f"Anna Nowak{i}", email=f"anna{i}@example.org")
    db.session.commit()
    return farm


@pytest.fixture
def env(app_config, tmp_path):
    return cli_env(app_config, tmp_path)


@pytest.fixture
def instance(tmp_path) -> Path:
    """The instance folder of the processes, with a sheet in it."""
    sheet = tmp_path / "instance" / "sheets" / "2027-05-04" / "pickup-tuesday.pdf"
    sheet.parent.mkdir(parents=True)
    sheet.write_bytes(b"%PDF-1.7 the sheet of the backup")
    return tmp_path / "instance"


def test_restore_brings_back_every_row_and_none_of_the_later_change(
    app, farm, env, instance, tmp_path
):
    before = snapshot()
    let_go()
    made = flask("csa", "backup", str(tmp_path / "nightly"), env=env)
    assert made.returncode == 0, made.stderr
    secret = (instance / "secret_key").read_text()
    manifest = json.loads((tmp_path / "nightly" / "manifest.json").read_text())
    names = {f["path"] for f in manifest["files"]}
    assert {"instance/secret_key", "sheets/2027-05-04/pickup-tuesday.pdf"} <= names
    assert names & {"database.sqlite3", "database.pgdump"}

    # The day after: new members, one gone, a name changed, sheets and the key replaced.
    _db.session.add(Member(name="Later Member", email="later@example.org"))
    _db.session.execute(update(Member).where(Member.email == "anna1@example.org").values(name="X"))
    gone = _db.session.scalar(select(Membership.id).order_by(Membership.id.desc()).limit(1))
    _db.session.execute(delete(Membership).where(Membership.id == gone - 1))
    _db.session.commit()
    assert snapshot() != before
    (instance / "sheets" / "2027-05-04" / "pickup-tuesday.pdf").write_bytes(b"%PDF later")
    (instance / "sheets" / "2027-05-11").mkdir()
    (instance / "secret_key").write_text("a later key")
    let_go()

    restored = flask("csa", "restore", "--yes", str(tmp_path / "nightly"), env=env)
    assert restored.returncode == 0, restored.stderr
    assert snapshot() == before
    assert sorted(p.name for p in (instance / "sheets").iterdir()) == ["2027-05-04"]
    sheet = instance / "sheets" / "2027-05-04" / "pickup-tuesday.pdf"
    assert sheet.read_bytes() == b"%PDF-1.7 the sheet of the backup"
    assert (instance / "secret_key").read_text() == secret
    # The app works on it: the jobs run at once (the backup's lease is not held).
    assert flask("csa", "run-jobs", env=env).returncode == 0


def later_member() -> Member | None:
    _db.session.expire_all()
    member = _db.session.scalar(select(Member).where(Member.email == "after@example.org"))
    let_go()
    return member


def test_restore_refused_while_the_scheduler_holds_the_lease(app, farm, env, tmp_path):
    let_go()
    assert flask("csa", "backup", str(tmp_path / "b"), env=env).returncode == 0
    _db.session.add(Member(name="After the backup", email="after@example.org"))
    _db.session.commit()
    let_go()

    scheduler = start_flask("csa", "scheduler", env=env)
    try:
        deadline = time.monotonic() + 90
        while lease_holder(LEASE_NAME, utcnow()) is None:
            assert scheduler.poll() is None, stop(scheduler)
            assert time.monotonic() < deadline, "the scheduler never took the lease"
            let_go()
            time.sleep(0.2)
        let_go()
        refused = flask("csa", "restore", "--yes", str(tmp_path / "b"), env=env)
        assert refused.returncode == 1
        assert "the scheduler" in refused.stderr
        assert "stop" in refused.stderr
        assert later_member() is not None
        let_go()
        scheduler.send_signal(signal.SIGTERM)
        assert scheduler.wait(60) == 0
    finally:
        stop(scheduler)
    # A scheduler on another machine holds the lease row but no lock file here.
    until = utcnow() + timedelta(minutes=4)
    _db.session.execute(
        update(Lease).where(Lease.name == LEASE_NAME).values(holder="other:1:x", expires_at=until)
    )
    _db.session.commit()
    let_go()
    refused = flask("csa", "restore", "--yes", str(tmp_path / "b"), env=env)
    assert refused.returncode == 1
    assert "The scheduler other:1:x holds the lease" in refused.stderr
    assert later_member() is not None
    _db.session.execute(update(Lease).values(expires_at=utcnow() - timedelta(seconds=1)))
    _db.session.commit()
    let_go()
    assert flask("csa", "restore", "--yes", str(tmp_path / "b"), env=env).returncode == 0
    assert later_member() is None


SERVING = """
import sys, time
from app import app
with app.test_client() as client:
    assert client.get("/auth/login").status_code == 200
print("serving", flush=True)
time.sleep(120)
"""


def test_restore_refused_while_the_web_app_runs(app, farm, env, tmp_path):
    let_go()
    assert flask("csa", "backup", str(tmp_path / "b"), env=env).returncode == 0
    web = subprocess.Popen(
        [sys.executable, "-c", SERVING],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert web.stdout.readline().strip() == "serving", stop(web)
        let_go()
        refused = flask("csa", "restore", "--yes", str(tmp_path / "b"), env=env)
        assert refused.returncode == 1
        assert "web app" in refused.stderr
    finally:
        web.stdout.close()
        stop(web)
    assert flask("csa", "restore", "--yes", str(tmp_path / "b"), env=env).returncode == 0


def test_damaged_backup_is_refused_before_anything_changes(app, farm, env, tmp_path):
    let_go()
    assert flask("csa", "backup", str(tmp_path / "b"), env=env).returncode == 0
    _db.session.add(Member(name="After the backup", email="after@example.org"))
    _db.session.commit()
    after = snapshot()
    let_go()
    database = next(p for p in (tmp_path / "b").iterdir() if p.name.startswith("database."))
    original = database.read_bytes()
    data = bytearray(original)
    data[len(data) // 2] ^= 0xFF
    database.write_bytes(bytes(data))
    refused = flask("csa", "restore", "--yes", str(tmp_path / "b"), env=env)
    assert refused.returncode == 1
    assert f"{database.name}: checksum does not match" in refused.stderr
    database.write_bytes(original)
    # Files the manifest does not vouch for: a link out of the backup, a planted setting.
    (tmp_path / "b" / "sheets").mkdir(exist_ok=True)
    (tmp_path / "b" / "sheets" / "extra.pdf").symlink_to(tmp_path / "instance" / "secret_key")
    (tmp_path / "b" / "instance" / "config.py").write_text("SECRET_KEY = 'planted'\n")
    refused = flask("csa", "restore", "--yes", str(tmp_path / "b"), env=env)
    assert refused.returncode == 1
    assert "sheets/extra.pdf: a symbolic link" in refused.stderr
    assert "instance/config.py: not in the manifest" in refused.stderr
    (tmp_path / "b" / "manifest.json").unlink()
    refused = flask("csa", "restore", "--yes", str(tmp_path / "b"), env=env)
    assert refused.returncode == 1
    assert "not a complete csa backup" in refused.stderr
    assert snapshot() == after


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_restore_onto_a_new_machine_without_a_database(app, farm, env, app_config, tmp_path):
    before = snapshot()
    let_go()
    assert flask("csa", "backup", str(tmp_path / "b"), env=env).returncode == 0
    database = Path(app_config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///"))
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    shutil.rmtree(tmp_path / "instance")
    restored = flask("csa", "restore", "--yes", str(tmp_path / "b"), env=env)
    assert restored.returncode == 0, restored.stderr
    assert snapshot() == before
    assert (tmp_path / "instance" / "secret_key").is_file()


def test_backup_never_writes_into_a_directory_with_files(app, farm, env, tmp_path):
    let_go()
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "keep.txt").write_text("mine")
    refused = flask("csa", "backup", str(tmp_path / "old"), env=env)
    assert refused.returncode == 1
    assert "not an empty directory" in refused.stderr
    assert [p.name for p in (tmp_path / "old").iterdir()] == ["keep.txt"]


CRASH = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1])
conn.execute("PRAGMA journal_mode=WAL")
conn.execute("PRAGMA wal_autocheckpoint=0")
conn.execute("DELETE FROM membership WHERE id % 2 = 0")
conn.commit()
print("committed to the -wal", flush=True)
time.sleep(120)
"""


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_leftover_wal_never_leaks_into_the_restored_database(
    app, farm, env, app_config, tmp_path
):
    database = Path(app_config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///"))
    before = snapshot()
    assert len(before["membership"]) == 8
    let_go()
    assert flask("csa", "backup", str(tmp_path / "b"), env=env).returncode == 0
    # A process writes half the memberships away and dies before any checkpoint.
    crash = subprocess.Popen(
        [sys.executable, "-c", CRASH, str(database)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert crash.stdout.readline().strip() == "committed to the -wal"
        os.kill(crash.pid, signal.SIGKILL)
        crash.wait(30)
    finally:
        crash.stdout.close()
        stop(crash)
    wal = Path(f"{database}-wal")
    assert wal.stat().st_size > 0
    # The defect: the backup copied over the file, the -wal left beside it, keeps the crash.
    naive = tmp_path / "naive"
    naive.mkdir()
    for suffix in ("-wal", "-shm"):
        shutil.copyfile(f"{database}{suffix}", naive / f"csa.sqlite3{suffix}")
    shutil.copyfile(tmp_path / "b" / "database.sqlite3", naive / "csa.sqlite3")
    with sqlite3.connect(naive / "csa.sqlite3") as conn:
        assert conn.execute("SELECT count(*) FROM membership").fetchone()[0] == 4
    conn.close()

    restored = flask("csa", "restore", "--yes", str(tmp_path / "b"), env=env)
    assert restored.returncode == 0, restored.stderr
    assert snapshot() == before
    # The replaced database is kept whole, crash included, beside the restored one.
    kept = sqlite3.connect(f"{database}.pre-restore")
    assert kept.execute("SELECT count(*) FROM membership").fetchone()[0] == 4
    kept.close()


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_postgres_backup_of_another_major_version_is_refused(app, farm, env, tmp_path):
    let_go()
    assert flask("csa", "backup", str(tmp_path / "b"), env=env).returncode == 0
    manifest_path = tmp_path / "b" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    assert manifest["postgres_major"] >= 12
    manifest["postgres_major"] -= 1
    manifest_path.write_text(json.dumps(manifest))
    refused = flask("csa", "restore", "--yes", str(tmp_path / "b"), env=env)
    assert refused.returncode == 1
    assert f"made from PostgreSQL {manifest['postgres_major']}" in refused.stderr
