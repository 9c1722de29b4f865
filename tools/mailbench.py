"""Outbox delivery rate: `python -m tools.mailbench [--messages 3000] [--runs 3] [--postgres URL]`.

Queues N round notices (one business transaction), then times `csa.notices.outbox.deliver`
sending them to a local SMTP server (aiosmtpd in its own process, so it does not share this
process's interpreter lock) and prints messages per second, the median of the runs, and the
delivering process's CPU time per message (steadier than the rate on a shared machine).
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BODY = """Hello {name},

your share for 2027-06-01 at Old Mill (Mill Lane 1, 16:00-19:00):
- Tomatoes: 1,25 kg
- Pumpkins: 1
- Lettuce: 2 heads
- Carrots: 0,8 kg

Put a coming round on hold before its cutoff on your share page:
http://127.0.0.1:5000/share/

Demo Farm
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_smtp(port: int) -> subprocess.Popen[bytes]:
    """aiosmtpd's own command line with its Sink handler (accepts and drops every message)."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aiosmtpd",
            "-n",
            "-c",
            "aiosmtpd.handlers.Sink",
            "-l",
            f"127.0.0.1:{port}",
        ],
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("the SMTP server did not start")


def one_run(url: str, messages: int, port: int) -> tuple[float, float]:
    """Queue the notices, then deliver them; return (wall seconds, this process's CPU seconds)."""
    from sqlalchemy import delete

    from csa import create_app
    from csa.extensions import db
    from csa.models import OutboxMessage
    from csa.notices import mail, outbox

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "bench",
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": port,
        }
    )
    with app.app_context():
        db.create_all()
        db.session.execute(delete(OutboxMessage))
        db.session.commit()
        for i in range(messages):
            mail.send(
                f"bench/{i}",
                f"member{i}@example.org",
                "Your share for 2027-06-01 at Old Mill",
                BODY.format(name=f"Member {i}"),
            )
        db.session.commit()
        t0, c0 = time.perf_counter(), time.process_time()
        report = outbox.deliver()
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        assert report.sent == messages, report
        db.session.remove()
        db.engine.dispose()
    return elapsed, cpu


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--postgres", help="a PostgreSQL URL instead of a fresh SQLite file")
    args = parser.parse_args(argv)
    port = free_port()
    smtp = start_smtp(port)
    try:
        times, cpus = [], []
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory() as tmp:
                url = args.postgres or f"sqlite:///{Path(tmp) / 'mailbench.sqlite3'}"
                elapsed, cpu = one_run(url, args.messages, port)
                times.append(elapsed)
                cpus.append(cpu)
    finally:
        smtp.terminate()
        smtp.wait(10)
    rates = [args.messages / t for t in times]
    backend = "PostgreSQL" if args.postgres else "SQLite"
    print(
        f"deliver {args.messages} notices to a local SMTP server ({backend}): "
        f"median {statistics.median(rates):.0f} messages/s "
        f"(runs: {', '.join(f'{t:.2f} s' for t in times)}); "
        f"CPU of the delivering process {1000 * statistics.median(cpus) / args.messages:.2f} ms "
        f"per message (median)"
    )


if __name__ == "__main__":
    main()
