"""The instance folder is 0700 and every file the app writes in it 0600.

Real processes started with the common umask 022, as a shell or systemd would: they write
the SQLite database (with its -wal and -shm), the secret key, sheets, .eml files in the
outbox and a backup, and report the modes while the database is open.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest

from tests.processes import ROOT, cli_env

WRITE_EVERYTHING = """
import json, os, stat, sys
from datetime import date, datetime
from pathlib import Path
from sqlalchemy import select
from app import app
from csa.extensions import db
from csa.jobs import run_due_jobs
from csa.models import HarvestEntry, Round
from tests.factories import add_member, make_farm

with app.app_context():
    db.create_all()
    farm = make_farm()
    add_member(farm)
    add_member(farm, site=farm.thursday)
    db.session.commit()
    run_due_jobs(datetime(2027, 5, 3, 8, 0), holder="t")
    round_ = db.session.scalar(select(Round).where(Round.date == date(2027, 5, 4)))
    db.session.add(HarvestEntry(round=round_, crop=farm.tomatoes, quantity_milli=9000))
    db.session.commit()
    report = run_due_jobs(datetime(2027, 5, 3, 16, 30), holder="t")  # locks: sheets, e-mails
    assert report.notified == [date(2027, 5, 4)], report
    db.session.execute(select(Round)).all()  # the database stays open while we look
    instance = Path(app.instance_path)
    modes = {
        str(p.relative_to(instance)): oct(stat.S_IMODE(p.stat().st_mode))
        for p in [instance, *instance.rglob("*")]
    }
    print(json.dumps(modes))
"""


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    """A process with the umask most shells and services start with."""
    return subprocess.run(
        args, cwd=ROOT, env=env, capture_output=True, text=True, check=False, umask=0o022
    )


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_everything_the_app_writes_is_private(app_config, tmp_path):
    instance = tmp_path / "instance"
    env = cli_env({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance / 'csa.sqlite3'}"}, tmp_path)
    done = run([sys.executable, "-c", WRITE_EVERYTHING], env)
    assert done.returncode == 0, done.stderr
    modes = json.loads(done.stdout.strip().splitlines()[-1])
    assert modes.pop(".") == "0o700"
    for name in ("csa.sqlite3", "csa.sqlite3-wal", "csa.sqlite3-shm", "secret_key"):
        assert modes.get(name) == "0o600", (name, modes)
    sheets = [n for n in modes if n.startswith("sheets/") and n.endswith(".pdf")]
    mails = [n for n in modes if n.startswith("outbox/") and n.endswith(".eml")]
    assert sheets
    assert mails
    files = {n: m for n, m in modes.items() if (instance / n).is_file()}
    folders = {n: m for n, m in modes.items() if (instance / n).is_dir()}
    assert set(files.values()) == {"0o600"}, files
    assert set(folders.values()) == {"0o700"}, folders

    backup = tmp_path / "backups" / "nightly"
    made = run([sys.executable, "-m", "flask", "--app", "app", "csa", "backup", str(backup)], env)
    assert made.returncode == 0, made.stderr
    for path in [backup, *backup.rglob("*")]:
        want = 0o700 if path.is_dir() else 0o600
        assert stat.S_IMODE(path.stat().st_mode) == want, path


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_an_older_instance_left_readable_is_made_private_at_start(app_config, tmp_path):
    instance = tmp_path / "instance"
    database = instance / "csa.sqlite3"
    env = cli_env({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}"}, tmp_path)
    instance.mkdir(mode=0o755)
    (instance / "sheets").mkdir(mode=0o755)
    (instance / "outbox").mkdir(mode=0o755)
    for name in ("csa.sqlite3", "secret_key", "config.py"):
        (instance / name).write_text("x" * 64 if name == "secret_key" else "")
    for path in [instance, *instance.iterdir()]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    done = run([sys.executable, "-m", "flask", "--app", "app", "csa", "--help"], env)
    assert done.returncode == 0, done.stderr
    for path in [instance, *instance.iterdir()]:
        want = 0o700 if path.is_dir() else 0o600
        assert stat.S_IMODE(path.stat().st_mode) == want, path
