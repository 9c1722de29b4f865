"""The scheduler lease is given back on exit: `csa run-jobs` from cron, and `csa scheduler`.

Real processes: `flask --app app csa ...` on the test's database, signals for the scheduler.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from csa.core.clock import utcnow
from csa.extensions import db as _db
from csa.jobs import LEASE_NAME, lease_holder
from csa.models import Lease
from tests.factories import add_member, make_farm

ROOT = Path(__file__).resolve().parent.parent


def cli_env(app_config, tmp_path, **extra: str) -> dict[str, str]:
    """The environment of a `flask --app app` process on the test's database and instance."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSA_")}
    env.update(
        CSA_DATABASE_URL=app_config["SQLALCHEMY_DATABASE_URI"],
        CSA_SECRET_KEY="test-secret",
        CSA_INSTANCE_PATH=str(tmp_path / "instance"),
        PYTHONPATH=str(ROOT),
    )
    env.update(extra)
    return env


def flask(*args: str, env: dict[str, str], timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def farm(app, db):
    farm = make_farm()
    add_member(farm)
    db.session.commit()
    return farm


def held() -> Lease | None:
    _db.session.expire_all()
    return lease_holder(LEASE_NAME, utcnow())


def test_run_jobs_releases_the_lease_so_the_next_cron_run_acts(app, farm, app_config, tmp_path):
    env = cli_env(app_config, tmp_path)
    first = flask("csa", "run-jobs", env=env)
    assert first.returncode == 0, first.stderr
    assert "rounds created" in first.stdout
    assert held() is None
    second = flask("csa", "run-jobs", env=env)  # a minute later in cron: now, here
    assert second.returncode == 0, second.stderr
    assert "rounds created: 0" in second.stdout


def test_run_jobs_releases_the_lease_when_a_job_raises(app, farm, app_config, tmp_path):
    # A setting the jobs cannot use makes creating rounds raise inside the run.
    env = cli_env(app_config, tmp_path, CSA_ROUNDS_WEEKS_AHEAD='"six"')
    broken = flask("csa", "run-jobs", env=env)
    assert broken.returncode != 0
    assert "TypeError" in broken.stderr
    assert held() is None
    assert flask("csa", "run-jobs", env=cli_env(app_config, tmp_path)).returncode == 0


def test_run_jobs_exits_non_zero_when_another_holds_the_lease(app, farm, app_config, tmp_path):
    until = (utcnow() + timedelta(minutes=4)).replace(microsecond=0)
    _db.session.add(Lease(name=LEASE_NAME, holder="farm-server:4242:abcd", expires_at=until))
    _db.session.commit()
    result = flask("csa", "run-jobs", env=cli_env(app_config, tmp_path))
    assert result.returncode == 1
    assert "Another scheduler holds the lease (farm-server:4242:abcd" in result.stderr
    assert "nothing was done" in result.stderr
    lease = held()
    assert lease is not None
    assert (lease.holder, lease.expires_at) == ("farm-server:4242:abcd", until)


def test_scheduler_releases_the_lease_on_sigterm(app, farm, app_config, tmp_path):
    env = cli_env(app_config, tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "csa", "scheduler"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        while (lease := held()) is None:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "the scheduler never took the lease"
            time.sleep(0.2)
        assert lease.holder.split(":")[1] == str(proc.pid)
        # Stop it as systemd does; a tick in progress finishes first.
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        stderr = proc.stderr.read() if proc.stderr else ""
        if proc.stderr:
            proc.stderr.close()
    assert "lease released" in stderr
    assert held() is None
    assert flask("csa", "run-jobs", env=env).returncode == 0
    assert _db.session.get(Lease, LEASE_NAME).expires_at < datetime(1971, 1, 1)
