"""Time the member's pages in-process: `python -m tools.pagebench demo|big|all [--runs N]`.

Flask test client, signed in as a member, SQLite in a temporary folder. Figures:

* "My share" (`/share/`), the member's round page and the explanation page, steady state
  (the open round's split cached for the current data version, or a locked round's rows);
* the first "My share" view after a change of the open round (a harvest entry added): it
  pays the one computation of the split.

Sizes: the 80-member demo farm, and 5,000 memberships x 30 crops at one site (the data
builder of tools/bench.py), open round then locked. Each figure is the median over
`--runs` runs of the median of `--requests` requests; `--profile` prints the top functions
of the steady "My share" views (cProfile). Never timed tests: this machine is shared.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

PASSWORD = "bench-password"  # noqa: S105 - a throwaway login in a temporary database


def _app(tmp: str) -> Flask:
    from csa import create_app

    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{Path(tmp) / 'bench.sqlite3'}",
            "SECRET_KEY": "bench",
            "WTF_CSRF_ENABLED": False,
            "SHEETS_DIR": str(Path(tmp) / "sheets"),
        }
    )


def _login(app: Flask, email: str, password: str) -> FlaskClient:
    client = app.test_client()
    response = client.post("/auth/login", data={"email": email, "password": password})
    assert response.status_code == 302, response.status_code
    return client


def _per_request(
    client: FlaskClient, url: str, requests: int, clock: Callable[[], float] = time.perf_counter
) -> float:
    """Median milliseconds of `requests` GETs of one URL, by wall clock or CPU clock.

    On a shared machine the wall clock mostly shows the neighbours; the CPU time of this
    process (`time.process_time`) is the steadier figure.
    """
    samples = []
    for _ in range(requests):
        t0 = clock()
        response = client.get(url)
        samples.append((clock() - t0) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return statistics.median(samples)


def _median_runs(runs: int, fn: Callable[[], float]) -> tuple[float, list[float]]:
    samples = [fn() for _ in range(runs)]
    return statistics.median(samples), samples


def _report(label: str, result: tuple[float, list[float]]) -> None:
    median, samples = result
    runs = ", ".join(f"{s:.1f}" for s in samples)
    print(f"  {label:<46} median {median:8.1f} ms   (runs: {runs})")


def _first_view_after_change(
    app: Flask, client: FlaskClient, round_id: int, crop_id: int, runs: int
) -> tuple[float, list[float]]:
    """Add a harvest entry to the open round, then time the one "My share" view after it."""
    from csa.extensions import db
    from csa.models import HarvestEntry

    samples = []
    for _ in range(runs):
        with app.app_context():
            db.session.add(HarvestEntry(round_id=round_id, crop_id=crop_id, quantity_milli=1000))
            db.session.commit()
        t0 = time.perf_counter()
        assert client.get("/share/").status_code == 200
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples), samples


def _pages(
    app: Flask,
    client: FlaskClient,
    round_date: str,
    membership_id: int,
    args: argparse.Namespace,
) -> None:
    urls = {
        '"My share" (/share/)': "/share/",
        "member's round page": f"/share/round/{round_date}",
        "explanation page": f"/rounds/{round_date}/explain/{membership_id}",
    }
    for label, url in urls.items():
        client.get(url)  # warm: the first view after a change is timed on its own
        _report(label, _median_runs(args.runs, partial(_per_request, client, url, args.requests)))
        cpu = partial(_per_request, client, url, args.requests, time.process_time)
        _report("  the same, CPU time of this process", _median_runs(args.runs, cpu))
    if args.profile:
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(args.requests):
            client.get("/share/")
        profile.disable()
        pstats.Stats(profile).sort_stats(args.sort).print_stats(args.filter, args.top)


def _current(app: Flask, email: str) -> tuple[int, str, int, int]:
    """(round id, round date, membership id, a crop id) of the member's current round."""
    from sqlalchemy import select

    from csa.extensions import db
    from csa.models import HarvestEntry, User
    from csa.rounds.lifecycle import farm_today
    from csa.share import queries

    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        assert user is not None
        assert user.member is not None
        membership = queries.current_membership(user.member, farm_today())
        assert membership is not None
        overview = queries.share_overview(membership, farm_today())
        assert overview.current is not None
        round_ = overview.current.round
        crop_id = db.session.scalar(
            select(HarvestEntry.crop_id).where(HarvestEntry.round_id == round_.id).limit(1)
        )
        return round_.id, round_.date.isoformat(), membership.id, crop_id or 0


def bench_demo(args: argparse.Namespace) -> None:
    """The 80-member demo farm, signed in as its member; this week's round is open."""
    from csa.demo import DEMO_PASSWORD, load_demo
    from csa.extensions import db

    with tempfile.TemporaryDirectory() as tmp:
        app = _app(tmp)
        with app.app_context():
            db.create_all()
            load_demo()
            db.session.commit()
        round_id, round_date, mid, crop_id = _current(app, "member@demo.farm")
        client = _login(app, "member@demo.farm", DEMO_PASSWORD)
        with app.app_context():
            from csa.models import Membership, Round

            status = db.session.get_one(Round, round_id).status.value
            members = db.session.query(Membership).count()
        print(f"demo farm, {members} memberships, this round {round_date} ({status}):")
        _pages(app, client, round_date, mid, args)
        if crop_id:
            _report(
                'first "My share" after a change (open round)',
                _first_view_after_change(app, client, round_id, crop_id, args.runs),
            )
        with app.app_context():
            db.engine.dispose()


def bench_big(args: argparse.Namespace) -> None:
    """5,000 memberships x 30 crops: the open round, then the same round locked."""
    from sqlalchemy import select

    from csa.extensions import db
    from csa.models import Member, Role, Round, User
    from csa.rounds.lifecycle import lock_round
    from tools.bench import CROPS, MEMBERSHIPS, _build_round

    with tempfile.TemporaryDirectory() as tmp:
        app = _app(tmp)
        with app.app_context():
            generic = [
                (f"Crop {i}", "kg", 50) if i % 2 else (f"Crop {i}", "piece", 1000)
                for i in range(CROPS)
            ]
            _build_round(MEMBERSHIPS, 1, generic)
            member = db.session.scalar(select(Member).order_by(Member.id).limit(1))
            user = User(email="bench@bench.example", role=Role.MEMBER, member=member)
            user.set_password(PASSWORD, method="pbkdf2:sha256:1000")
            db.session.add(user)
            db.session.commit()
        round_id, round_date, mid, crop_id = _current(app, "bench@bench.example")
        client = _login(app, "bench@bench.example", PASSWORD)
        print(f"{MEMBERSHIPS} memberships x {CROPS} crops, one site, round {round_date}, open:")
        _report(
            'first "My share" after a change (open round)',
            _first_view_after_change(app, client, round_id, crop_id, args.runs),
        )
        _pages(app, client, round_date, mid, args)
        with app.app_context():
            lock_round(db.session.get_one(Round, round_id))
            db.session.commit()
        print("the same round, locked:")
        _pages(app, client, round_date, mid, args)
        with app.app_context():
            db.engine.dispose()


BENCHES: dict[str, Callable[[argparse.Namespace], Any]] = {"demo": bench_demo, "big": bench_big}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("which", choices=[*BENCHES, "all"])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--requests", type=int, default=20, help="requests per run")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--sort", default="cumulative", help="cProfile sort key")
    parser.add_argument("--top", type=int, default=25, help="functions to print")
    parser.add_argument("--filter", default="", help="only functions whose path matches")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.1f} (2 cores, shared)")
    for name, fn in BENCHES.items():
        if args.which in (name, "all"):
            fn(args)


if __name__ == "__main__":
    main()
