"""Benchmarks that print figures: `python -m tools.bench split|store|sheets|bidding|all [--runs N]`.

Never timed tests: this machine is shared and noisy, so each figure is the median of runs.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import date
from datetime import time as clock
from pathlib import Path

MEMBERSHIPS = 5000
CROPS = 30
BENCH_DATE = date(2027, 6, 1)  # a Tuesday


def median_of(runs: int, fn: Callable[[], float]) -> tuple[float, list[float]]:
    samples = [fn() for _ in range(runs)]
    return statistics.median(samples), samples


def bench_split(runs: int) -> None:
    """The pure split of one round: 5,000 memberships x 30 crops."""
    from tools.splitbench import bench_split as run

    result = run(memberships=MEMBERSHIPS, crops=CROPS, repeat=runs)
    print(f"split  {MEMBERSHIPS} memberships x {CROPS} crops: {result}")


def bench_store(runs: int) -> None:
    """Lock a round of 5,000 x 30 in SQLite: load, split, store allocations, commit."""
    from sqlalchemy import delete, func, select, update

    from csa import create_app
    from csa.extensions import db
    from csa.models import Allocation, Round, RoundStatus, RoundSurplus
    from csa.rounds.split import compute_split, store_split

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench"})
        with app.app_context():
            generic = [
                (f"Crop {i}", "kg", 50) if i % 2 else (f"Crop {i}", "piece", 1000)
                for i in range(CROPS)
            ]
            _build_round(MEMBERSHIPS, 1, generic)
            round_ = db.session.scalar(select(Round))
            compute_times, store_times = [], []
            rows = 0
            for _ in range(runs):
                t0 = time.perf_counter()
                split = compute_split(round_)
                t1 = time.perf_counter()
                rows = store_split(split)
                db.session.execute(
                    update(Round).where(Round.id == round_.id).values(status=RoundStatus.LOCKED)
                )
                db.session.commit()
                t2 = time.perf_counter()
                compute_times.append(t1 - t0)
                store_times.append(t2 - t1)
                stored = db.session.scalar(select(func.count()).select_from(Allocation))
                assert stored == rows, (stored, rows)
                db.session.execute(delete(Allocation))
                db.session.execute(delete(RoundSurplus))
                db.session.execute(update(Round).values(status=RoundStatus.OPEN))
                db.session.commit()
                db.session.expire_all()
            db.engine.dispose()
    pairs = zip(compute_times, store_times, strict=True)
    print(
        f"store  {MEMBERSHIPS} memberships x {CROPS} crops in SQLite ({rows} allocation rows): "
        f"load+split median {statistics.median(compute_times):.3f} s, "
        f"store+commit median {statistics.median(store_times):.3f} s "
        f"(runs: {', '.join(f'{a:.2f}+{b:.2f}' for a, b in pairs)})"
    )


SHEET_SIZES = ((1000, 20), (5000, 50))
SHEET_CROPS = (
    ("Tomatoes", "kg", 50),
    ("Pumpkins", "piece", 1000),
    ("Lettuce", "head", 1000),
    ("Carrots", "kg", 50),
    ("Potatoes", "kg", 100),
    ("Onions", "kg", 50),
    ("Kale", "bunch", 1000),
    ("Courgettes", "piece", 1000),
    ("Beetroot", "kg", 50),
    ("Cucumbers", "piece", 1000),
    ("Radishes", "bunch", 1000),
    ("Spinach", "kg", 50),
    ("Leeks", "piece", 1000),
    ("Garlic", "head", 1000),
    ("Cabbage", "head", 1000),
)
FIRST = [
    "Żaneta",
    "Дмитрий",
    "Ĳsbrand",
    "Anna",
    "Łukasz",
    "Grzegorz",
    "Ольга",
    "Maarten",
    "Jürgen",
    "Zoë",
]
LAST = [
    "Wiśniewska",
    "Смирнов",
    "van Dijk",
    "Nowak",
    "Kowalski",
    "Żółkiewski",
    "Иванова",
    "de Vries",
    "Müller",
    "Brontë",
    "Szczęsny",
    "Jansen",
]


def _build_round(memberships: int, sites: int, crops: Sequence[tuple[str, str, int]]) -> None:
    """A farm with `sites` Tuesday sites and one round where every crop was cut.

    Bulk inserts, so building 5,000 memberships takes a second, not the benchmark's time.
    """
    import random

    from sqlalchemy import insert

    from csa.extensions import db
    from csa.models import (
        Crop,
        HarvestEntry,
        Member,
        Membership,
        PickupSite,
        Round,
        Season,
        ShareType,
    )

    rng = random.Random(7)
    db.create_all()
    season = Season(name="Bench", start=date(2027, 5, 1), end=date(2027, 11, 30))
    types = [
        ShareType(name=n, weight_milli=w)
        for n, w in (("Half", 500), ("Full", 1000), ("Family", 1500))
    ]
    site_rows = [
        PickupSite(
            name=f"Site {i:02d} {rng.choice(LAST)}",
            address=f"Street {i}, Town",
            weekday=1,
            opens=clock(16),
            closes=clock(19),
            capacity=memberships,
        )
        for i in range(sites)
    ]
    db.session.add_all([season, *types, *site_rows])
    db.session.flush()
    db.session.execute(
        insert(Member),
        [
            {
                "name": f"{rng.choice(FIRST)} {rng.choice(LAST)} {i}",
                "email": f"m{i}@bench.example",
                "calendar_token": f"t{i}",
            }
            for i in range(memberships)
        ],
    )
    member_ids = list(db.session.scalars(db.select(Member.id)))
    db.session.execute(
        insert(Membership),
        [
            {
                "member_id": mid,
                "season_id": season.id,
                "share_type_id": rng.choice(types).id,
                "shares": 1 + (i % 9 == 0),
                "site_id": site_rows[i % sites].id,
                "start": season.start,
                "end": season.end,
                "status": "active",
            }
            for i, mid in enumerate(member_ids)
        ],
    )
    crop_rows = [Crop(name=n, unit=u, step_milli=st) for n, u, st in crops]
    round_ = Round(date=BENCH_DATE)
    db.session.add_all([*crop_rows, round_])
    db.session.flush()
    for crop in crop_rows:
        per_share = rng.randint(300, 2500) if crop.unit == "kg" else rng.randint(500, 2000)
        qty = per_share * memberships + rng.randint(0, 999)
        db.session.add(HarvestEntry(round=round_, crop=crop, quantity_milli=qty))
    db.session.commit()


def _peak_mb() -> tuple[float, float]:
    """Peak resident memory of this process and of its largest child (Linux: KiB)."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


def _cpu_seconds() -> float:
    """CPU time used so far by this process and its finished children (user + system)."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def bench_sheets(runs: int) -> None:
    """Every sheet of a locked round (pickup lists, posters, packing, all sites), rendered
    from the stored split: 1,000 memberships at 20 sites and 5,000 at 50, 15 crops.

    Prints the wall-clock median and, since this machine is shared, the CPU seconds of
    each run (this process and its workers) and the load average before the runs.
    """
    import os

    from pypdf import PdfReader
    from sqlalchemy import select

    from csa import create_app
    from csa.extensions import db
    from csa.models import Round
    from csa.rounds.lifecycle import lock_round
    from csa.sheets.build import render_round_sheets

    for memberships, sites in SHEET_SIZES:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
            config = {
                "SQLALCHEMY_DATABASE_URI": url,
                "SECRET_KEY": "bench",
                "SHEETS_DIR": str(Path(tmp) / "sheets"),
            }
            app = create_app(config)
            with app.app_context():
                _build_round(memberships, sites, SHEET_CROPS)
                round_ = db.session.scalar(select(Round))
                lock_round(round_)
                db.session.commit()
                load = os.getloadavg()[0]
                samples, cpu = [], []
                paths = []
                for _ in range(runs):
                    db.session.remove()  # load the stored split afresh every run
                    round_ = db.session.scalar(select(Round))
                    c0, t0 = _cpu_seconds(), time.perf_counter()
                    paths = render_round_sheets(round_, force=True)
                    db.session.commit()
                    samples.append(time.perf_counter() - t0)
                    cpu.append(_cpu_seconds() - c0)
                pages = {p.name: len(PdfReader(p).pages) for p in paths}
                db.engine.dispose()
        own, children = _peak_mb()
        pickup = sum(n for name, n in pages.items() if name.startswith("pickup-"))
        print(
            f"sheets {memberships} memberships, {sites} sites, {len(SHEET_CROPS)} crops: "
            f"median {statistics.median(samples):.2f} s "
            f"(runs: {', '.join(f'{s:.2f}' for s in samples)}; "
            f"CPU {', '.join(f'{c:.1f}' for c in cpu)} s; load before {load:.1f}); "
            f"{len(paths)} files, {sum(pages.values())} pages "
            f"(pickup lists {pickup}, all-sites {pages.get('all-sites.pdf', 0)}, "
            f"packing {pages.get('packing.pdf', 0)}); "
            f"peak RSS {own:.0f} MB, largest worker {children:.0f} MB"
        )


def bench_bidding(runs: int) -> None:
    """Settle a range bidding round of 5,000 memberships in SQLite: the pure rule, and the
    whole operation (read memberships, references and pledges, write 5,000 prices and audit
    rows, commit), without and with the households' mails queued."""
    import random

    from sqlalchemy import delete, insert, select, update

    from csa import create_app
    from csa.bidding import operations as svc
    from csa.bidding import rules
    from csa.core.clock import utcnow
    from csa.extensions import db
    from csa.models import (
        BiddingMode,
        BiddingRound,
        BiddingState,
        Membership,
        OutboxMessage,
        Pledge,
        PledgeResult,
        Season,
    )
    from csa.money.prices import reference_prices

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        config = {"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "OUTBOX_DIR": tmp}
        app = create_app(config)
        with app.app_context():
            _build_round(MEMBERSHIPS, 1, [("Crop 0", "kg", 50)])
            season = db.session.scalar(select(Season))
            season.budget_cents = 65_000 * MEMBERSHIPS  # 650.00 a membership on average
            round_ = BiddingRound(
                season=season, number=1, mode=BiddingMode.RANGE, deadline=season.end
            )
            db.session.add(round_)
            db.session.flush()
            references = reference_prices(season)
            rng = random.Random(12)
            rows = []
            for membership_id, ref in references.items():
                low = ref * rng.randint(700, 1000) // 1000
                rows.append(
                    {
                        "bidding_round_id": round_.id,
                        "membership_id": membership_id,
                        "min_cents": low,
                        "max_cents": low + ref * rng.randint(50, 600) // 1000,
                        "reason": "",
                        "carried": False,
                    }
                )
            db.session.execute(insert(Pledge), rows)
            db.session.commit()
            ranges = {r["membership_id"]: rules.Range(r["min_cents"], r["max_cents"]) for r in rows}

            def pure() -> float:
                t0 = time.perf_counter()
                rules.settle_range(season.budget_cents or 0, ranges, references)
                return time.perf_counter() - t0

            def reset() -> None:
                db.session.execute(delete(PledgeResult))
                db.session.execute(delete(OutboxMessage))
                db.session.execute(update(Membership).values(price_cents=None))
                db.session.execute(
                    update(BiddingRound).values(state=BiddingState.OPEN, settled_at=None)
                )
                db.session.commit()
                db.session.expire_all()

            def full(notify: bool) -> Callable[[], float]:
                def run() -> float:
                    reset()
                    t0 = time.perf_counter()
                    found = db.session.get(BiddingRound, round_.id)
                    assert found is not None
                    svc.settle(found, None, utcnow(), notify=notify)
                    db.session.commit()
                    return time.perf_counter() - t0

                return run

            pure_median, _ = median_of(runs, pure)
            full_median, _ = median_of(runs, full(False))
            mail_median, _ = median_of(max(1, runs // 2), full(True))
            print(
                f"bidding settle {MEMBERSHIPS} memberships (range): pure rule "
                f"{pure_median * 1000:.0f} ms; with DB writes {full_median:.2f} s; "
                f"with the {MEMBERSHIPS} mails queued too {mail_median:.2f} s (medians)"
            )


INVOICE_PDFS = 50


def bench_invoices(runs: int) -> None:
    """Issue the first invoices of 5,000 memberships (monthly plans, one commit and one
    queued mail each) in a fresh SQLite database per run, then render 50 invoice PDFs."""
    from sqlalchemy import func, select, update

    from csa import create_app
    from csa.extensions import db
    from csa.invoices.operations import issue_due_invoices
    from csa.invoices.pdf import invoice_pdf
    from csa.models import Invoice, Membership, PaymentPlan, Season
    from csa.money.profile import farm_profile

    issue_times: list[float] = []
    pdf_times: list[float] = []
    issued = 0
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
            config = {
                "SQLALCHEMY_DATABASE_URI": url,
                "SECRET_KEY": "bench",
                "OUTBOX_DIR": str(Path(tmp) / "outbox"),
            }
            app = create_app(config)
            with app.app_context():
                _build_round(MEMBERSHIPS, 10, [("Crop 0", "kg", 50)])
                season = db.session.scalar(select(Season))
                season.budget_cents = MEMBERSHIPS * 65_000
                db.session.execute(update(Membership).values(payment_plan=PaymentPlan.MONTHLY))
                profile = farm_profile()
                profile.legal_name = "Bench Farm"
                profile.iban = "DE89370400440532013000"
                profile.bic = "COBADEFFXXX"
                profile.currency = "EUR"
                db.session.commit()
                t0 = time.perf_counter()
                report = issue_due_invoices(date(2027, 4, 17))
                issue_times.append(time.perf_counter() - t0)
                issued = len(report.issued)
                assert db.session.scalar(select(func.count()).select_from(Invoice)) == issued
                invoices = list(db.session.scalars(select(Invoice).limit(INVOICE_PDFS)))
                invoice_pdf(invoices[0])  # WeasyPrint's import and fonts, once per process
                for invoice in invoices:
                    t1 = time.perf_counter()
                    invoice_pdf(invoice)
                    pdf_times.append(time.perf_counter() - t1)
                db.session.remove()
                db.engine.dispose()
    print(
        f"invoices: issue {issued} first instalments: "
        f"median {statistics.median(issue_times):.2f} s "
        f"(runs: {', '.join(f'{s:.2f}' for s in issue_times)}); "
        f"PDF: median {statistics.median(pdf_times) * 1000:.0f} ms each "
        f"({len(pdf_times)} renders)"
    )


BENCHES: dict[str, Callable[[int], None]] = {
    "split": bench_split,
    "store": bench_store,
    "sheets": bench_sheets,
    "bidding": bench_bidding,
    "invoices": bench_invoices,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("which", choices=[*BENCHES, "all"])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    for name, fn in BENCHES.items():
        if args.which in (name, "all"):
            fn(args.runs)


if __name__ == "__main__":
    main()
