"""Load on gunicorn: members read "My share" while farmers save harvests and a coordinator
downloads sheets. `python -m tools.load sqlite|postgres [--duration 60] [--readers 50]`.

It builds a farm of 1,000 members with a season of locked rounds (tools/loaddata.py) in a
fresh database (a temporary SQLite file, or a database of its own on the PostgreSQL server
at 127.0.0.1:5432), migrates it with `flask db upgrade`, starts gunicorn with 2 workers and
the scheduler as its own process (as `make serve` does), runs the scenario against
127.0.0.1 only, bounded in time and in requests (every user signs in first; the window
starts when all have), and prints requests per second,
p50/p95/p99 and errors per endpoint. At the end it checks that every harvest save that got
a success answer is in the database (lost writes), then stops the processes and drops the
database.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from tools import loaddata

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"  # never anywhere else
PG_SERVER = os.environ.get("CSA_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432")
TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
SUBMISSION = re.compile(r'name="submission"[^>]*value="([^"]+)"')  # the form's one-time token


@dataclass
class Stats:
    """Latencies (seconds) and errors per endpoint, shared by every virtual user."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)
    saves: list[tuple[int, int, int, int]] = field(default_factory=list)  # user, round, crop, qty
    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: int = 0
    timeline: list[tuple[float, str, float]] = field(default_factory=list)  # start, name, s
    # Every user signs in first (into `signin`), then all start together: the measured window
    # holds the scenario itself, not 55 password checks queued at its start.
    signin: Stats | None = None
    start: threading.Barrier | None = None

    def begin(self, session: Session) -> None:
        """Wait until every user has signed in, then record into this window's figures."""
        if self.start is not None:
            with contextlib.suppress(threading.BrokenBarrierError):
                self.start.wait(300)
        session.stats = self

    def record(self, name: str, seconds: float, ok: bool, why: str = "") -> None:
        with self.lock:
            self.latencies[name].append(seconds)
            self.timeline.append((time.perf_counter() - seconds, name, seconds))
            self.requests += 1
            if not ok:
                self.errors[name] += 1
                self.examples.setdefault(name, why[:200])


class Session:
    """One user's HTTP client: a cookie, a connection, a timed request."""

    def __init__(self, port: int, stats: Stats) -> None:
        self.port = port
        self.stats = stats
        self.cookies: dict[str, str] = {}
        self.conn = http.client.HTTPConnection(HOST, port, timeout=60)

    def request(
        self, name: str, method: str, path: str, form: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        t0 = time.perf_counter()
        try:
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.conn.close()
            self.stats.record(name, time.perf_counter() - t0, False, repr(exc))
            return 0, {}, b""
        elapsed = time.perf_counter() - t0
        if response.will_close:
            self.conn.close()
        for value in response.headers.get_all("Set-Cookie") or []:
            key, _, rest = value.partition("=")
            self.cookies[key.strip()] = rest.split(";", 1)[0]
        ok = response.status < 400
        self.stats.record(name, elapsed, ok, f"{response.status} {path}")
        return response.status, dict(response.headers), data

    def login(self, email: str) -> bool:
        _s, _h, page = self.request("login form", "GET", "/auth/login")
        token = TOKEN.search(page.decode())
        form = {
            "email": email,
            "password": loaddata.PASSWORD,
            "csrf_token": token.group(1) if token else "",
        }
        status, _h, _b = self.request("login", "POST", "/auth/login", form)
        return status == 302


def member_loop(port: int, stats: Stats, email: str, stop: threading.Event, think: float) -> None:
    session = Session(port, stats.signin or stats)
    signed_in = session.login(email)
    stats.begin(session)
    if not signed_in:
        return
    rng = random.Random(email)
    stop.wait(rng.uniform(0, think))  # users arrive spread over one pause, not all at once
    while not stop.is_set():
        status, _h, body = session.request("my share", "GET", "/share/")
        if status == 200 and b"My share" not in body:
            stats.record("my share content", 0, False, "page without its title")
        stop.wait(rng.uniform(0.5, 1.5) * think)


def farmer_loop(
    port: int, stats: Stats, email: str, user_id: int, stop: threading.Event, think: float
) -> None:
    session = Session(port, stats.signin or stats)
    signed_in = session.login(email)
    stats.begin(session)
    if not signed_in:
        return
    rng = random.Random(email)
    stop.wait(rng.uniform(0, think))  # users arrive spread over one pause, not all at once
    while not stop.is_set():
        status, _h, page = session.request("harvest form", "GET", "/harvest/")
        text = page.decode()
        token = TOKEN.search(text)
        submission = SUBMISSION.search(text)
        rounds = re.findall(
            r'<option value="(\d+)"', text.split('name="round_id"', 1)[-1].split("</select>", 1)[0]
        )
        crops = re.findall(
            r'<option value="(\d+)"',
            text.split('name="lines-0-crop"', 1)[-1].split("</select>", 1)[0],
        )
        if status != 200 or not token or not submission or not rounds or not crops:
            stats.record("harvest form content", 0, False, "no token, round or crop")
            stop.wait(think)
            continue
        round_id, crop_id, amount = int(rounds[0]), int(rng.choice(crops)), rng.randint(1, 200)
        form = {
            "csrf_token": token.group(1),
            "submission": submission.group(1),
            "round_id": str(round_id),
            "lines-0-crop": str(crop_id),
            "lines-0-quantity": str(amount),
        }
        status, headers, _b = session.request("harvest save", "POST", "/harvest/", form)
        if status == 302 and "/harvest/" in headers.get("Location", ""):
            with stats.lock:
                stats.saves.append((user_id, round_id, crop_id, amount * 1000))
        elif status < 400:
            stats.record("harvest save answer", 0, False, f"{status} without redirect")
        stop.wait(rng.uniform(0.5, 1.5) * think)


def coordinator_loop(
    port: int, stats: Stats, day: str, stop: threading.Event, think: float
) -> None:
    session = Session(port, stats.signin or stats)
    signed_in = session.login(loaddata.COORDINATOR)
    stats.begin(session)
    if not signed_in:
        return
    while not stop.is_set():
        status, _h, page = session.request("sheets page", "GET", f"/sheets/{day}")
        links = sorted(set(re.findall(r'href="(/sheets/[^"]+\.pdf)"', page.decode())))
        if status == 200 and not links:
            stats.record("sheets page content", 0, False, "no sheet to download")
        for link in links:
            if stop.is_set():
                break
            status, headers, body = session.request("sheet pdf", "GET", link)
            if status == 200 and not body.startswith(b"%PDF"):
                stats.record("sheet pdf content", 0, False, f"not a PDF: {link}")
        stop.wait(think)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def report(stats: Stats, seconds: float) -> list[str]:
    lines = [
        f"{'endpoint':<22}{'requests':>9}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}"
        f"{'p99 ms':>9}{'max ms':>9}{'errors':>8}"
    ]
    names = sorted(set(stats.latencies) | set(stats.errors))
    for name in names:
        values = stats.latencies.get(name) or [0.0]
        timed = [v for v in values if v > 0] or [0.0]
        lines.append(
            f"{name:<22}{len(values):>9}{len(values) / seconds:>8.1f}"
            f"{percentile(timed, 0.50) * 1000:>9.1f}{percentile(timed, 0.95) * 1000:>9.1f}"
            f"{percentile(timed, 0.99) * 1000:>9.1f}{max(timed) * 1000:>9.1f}"
            f"{stats.errors.get(name, 0):>8}"
        )
    total = sum(len(v) for v in stats.latencies.values())
    lines.append(
        f"{'all':<22}{total:>9}{total / seconds:>8.1f}{'':>36}{sum(stats.errors.values()):>8}"
    )
    for name, why in stats.examples.items():
        lines.append(f"  first error of {name}: {why}")
    return lines


def lost_writes(url: str, saves: list[tuple[int, int, int, int]]) -> tuple[int, int]:
    """(saves answered with success, of those not found in the database).

    Only the farmers' saves carry a user (tools/loaddata.py records its harvest without).
    """
    from sqlalchemy import create_engine, select
    from sqlalchemy.pool import NullPool

    from csa.models import HarvestEntry

    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                HarvestEntry.recorded_by_id,
                HarvestEntry.round_id,
                HarvestEntry.crop_id,
                HarvestEntry.quantity_milli,
            ).where(HarvestEntry.recorded_by_id.is_not(None))
        ).all()
    engine.dispose()
    stored = Counter(tuple(r) for r in rows)
    wanted = Counter(saves)
    missing = sum((wanted - stored).values())
    return len(saves), missing


def _wait_healthy(port: int, procs: list[subprocess.Popen[bytes]], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for proc in procs:
            if proc.poll() is not None:
                raise SystemExit(f"a server process ended at start: {proc.args}")
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit("gunicorn did not answer /healthz")


def _postgres_database() -> tuple[str, Any]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    name = f"csa_load_{os.getpid()}"
    admin = create_engine(f"{PG_SERVER}/postgres", poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return f"{PG_SERVER}/{name}", drop


def run(args: argparse.Namespace) -> int:
    from sqlalchemy import create_engine, select
    from sqlalchemy.pool import NullPool

    from csa.models import User

    tmp = Path(tempfile.mkdtemp(prefix="csa-load-"))
    drop = None
    if args.backend == "sqlite":
        url = f"sqlite:///{tmp / 'csa.sqlite3'}"
    else:
        url, drop = _postgres_database()
    env = {
        **os.environ,
        "CSA_DATABASE_URL": url,
        "CSA_SECRET_KEY": "load-test",
        "CSA_INSTANCE_PATH": str(tmp),
        "FLASK_APP": "app",
    }
    procs: list[subprocess.Popen[bytes]] = []
    log = open(tmp / "server.log", "wb")  # noqa: SIM115 - closed in finally
    try:
        subprocess.run(
            [BIN / "flask", "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True
        )
        os.environ["CSA_INSTANCE_PATH"] = str(tmp)  # the sheets go where the server looks
        info = loaddata.build(url, args.members, args.weeks, args.farmers)
        print(f"data: {info}")
        procs.append(
            subprocess.Popen(
                [BIN / "gunicorn", "--workers", "2", "--bind", f"{HOST}:{args.port}", "app:app"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=log,
            )
        )
        procs.append(
            subprocess.Popen(
                [BIN / "flask", "csa", "scheduler"], cwd=ROOT, env=env, stdout=log, stderr=log
            )
        )
        _wait_healthy(args.port, procs)
        engine = create_engine(url, poolclass=NullPool)
        with engine.connect() as conn:
            farmer_ids = dict(
                conn.execute(select(User.email, User.id).where(User.email.like("farmer%"))).all()
            )
        engine.dispose()
        stats = Stats(signin=Stats())
        stop = threading.Event()
        rng = random.Random(1)
        readers = rng.sample(range(args.members), args.readers)
        threads = [
            threading.Thread(
                target=member_loop,
                args=(args.port, stats, loaddata.member_email(i), stop, args.think),
            )
            for i in readers
        ]
        threads += [
            threading.Thread(
                target=farmer_loop,
                args=(args.port, stats, email, uid, stop, args.farmer_think),
            )
            for email, uid in sorted(farmer_ids.items())
        ]
        threads.append(
            threading.Thread(
                target=coordinator_loop,
                args=(args.port, stats, info["sheets_date"], stop, args.coordinator_think),
            )
        )
        stats.start = threading.Barrier(len(threads) + 1)
        for t in threads:
            t.start()
        with contextlib.suppress(threading.BrokenBarrierError):
            stats.start.wait(300)  # everyone signed in: the window starts
        load_before = os.getloadavg()
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < args.duration and stats.requests < args.max_requests:
            time.sleep(0.2)
        stop.set()
        for t in threads:
            t.join(90)
        seconds = time.perf_counter() - t0
        load_after = os.getloadavg()
        print(
            f"{args.backend}: {args.readers} members, {len(farmer_ids)} farmers, 1 coordinator, "
            f"{seconds:.0f} s; load average {load_before[0]:.2f} before, "
            f"{load_after[0]:.2f} at the end (1 min)"
        )
        assert stats.signin is not None
        signins = stats.signin.latencies.get("login", [0.0])
        print(
            f"sign-in first (not in the window): {len(signins)} logins, median "
            f"{percentile(signins, 0.5) * 1000:.0f} ms, {sum(stats.signin.errors.values())} errors"
        )
        for line in report(stats, seconds):
            print(line)
        # "My share" over the window in 10-second slices: a slow start, or spikes all along?
        slices: dict[int, list[float]] = defaultdict(list)
        for start, name, took in stats.timeline:
            if name == "my share":
                slices[max(0, int((start - t0) // 10))].append(took)
        print(
            "my share p95 per 10 s: "
            + ", ".join(
                f"{k * 10}-{k * 10 + 10} s {percentile(v, 0.95) * 1000:.0f} ms"
                for k, v in sorted(slices.items())
            )
        )
        saved, missing = lost_writes(url, stats.saves)
        print(f"harvest saves answered with success: {saved}; not in the database: {missing}")
        share = stats.latencies.get("my share", [1.0])
        p95 = percentile(share, 0.95) * 1000
        errors = sum(stats.errors.values()) + sum(stats.signin.errors.values())
        met = p95 < 100 and errors == 0 and missing == 0
        print(
            f"target (My share p95 < 100 ms, 0 errors, 0 lost writes): "
            f"{'met' if met else 'MISSED'} (p95 {p95:.1f} ms, {errors} errors, {missing} lost)"
        )
        return 0 if met else 1
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        log.close()
        if args.keep:
            print(f"kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
        if drop is not None:
            drop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("backend", choices=["sqlite", "postgres"])
    parser.add_argument("--members", type=int, default=1000, help="households in the farm")
    parser.add_argument("--weeks", type=int, default=16, help="weeks of locked rounds")
    parser.add_argument("--farmers", type=int, default=4)
    parser.add_argument("--readers", type=int, default=50, help="members reading at once")
    parser.add_argument("--duration", type=float, default=60, help="seconds of load at most")
    parser.add_argument("--max-requests", type=int, default=50_000)
    parser.add_argument("--think", type=float, default=1.0, help="a member's pause, seconds")
    parser.add_argument("--farmer-think", type=float, default=2.0)
    parser.add_argument("--coordinator-think", type=float, default=5.0)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    if urlsplit(f"http://{HOST}:{args.port}").hostname != HOST:
        raise SystemExit("127.0.0.1 only")
    raise SystemExit(run(args))


if __name__ == "__main__":
    main()
