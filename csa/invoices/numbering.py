"""Invoice numbers without gaps, per calendar year, shared by invoices and credit notes.

The next number is taken by one atomic UPDATE of the year's counter row, in the same
transaction as the invoice it numbers: a second process taking a number at the same time
waits for the first to commit (PostgreSQL's row lock, SQLite's write lock) and takes the one
after; a transaction that rolls back gives its number back with it. So numbers are never
used twice and never skipped.

Formats: an invoice is "2027-00042", a credit note "CN-2027-00043": one sequence, so every
number of the year appears exactly once across both kinds (a tax office counts them so).
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from csa.extensions import db
from csa.models import InvoiceCounter, InvoiceKind

CREDIT_NOTE_PREFIX = "CN-"


def _bump(year: int) -> int | None:
    return db.session.execute(
        update(InvoiceCounter)
        .where(InvoiceCounter.year == year)
        .values(last=InvoiceCounter.last + 1)
        .returning(InvoiceCounter.last)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()


def take_seq(year: int) -> int:
    """The next number of the year, taken inside the caller's transaction (never committed
    here). The year's first number inserts its counter row; when another process inserts it
    at the same moment, the primary key refuses ours and the UPDATE finds theirs."""
    seq = _bump(year)
    if seq is None:
        try:
            with db.session.begin_nested():
                db.session.add(InvoiceCounter(year=year, last=0))
        except IntegrityError:
            pass  # a concurrent first number of the year made the row: use it
        seq = _bump(year)
        if seq is None:  # pragma: no cover - the row exists by now, one way or the other
            raise RuntimeError(f"invoice counter of {year} missing")
    return int(seq)


def number_for(kind: InvoiceKind, year: int, seq: int) -> str:
    """The printed number: "2027-00042", or "CN-2027-00043" for a credit note."""
    base = f"{year}-{seq:05d}"
    return CREDIT_NOTE_PREFIX + base if kind == InvoiceKind.CREDIT_NOTE else base
