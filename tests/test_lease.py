"""The scheduler lease is given back on exit: `csa run-jobs` from cron, and `csa scheduler`.

Real processes: `flask --app app csa ...` on the test's database, signals for the scheduler.
"""

from __future__ import annotations

import signal
import time
from datetime import datetime, timedelta

import pytest

from csa.core.clock import utcnow
from csa.extensions import db as _db
from csa.jobs import LEASE_NAME, lease_holder
from csa.models import Lease
from tests.factories import add_member, make_farm
from tests.processes import cli_env, flask, start_flask, stop


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
    proc = start_flask("csa", "scheduler", env=env)
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
        stderr = stop(proc)
    assert "lease released" in stderr
    assert held() is None
    assert flask("csa", "run-jobs", env=env).returncode == 0
    assert _db.session.get(Lease, LEASE_NAME).expires_at < datetime(1971, 1, 1)
