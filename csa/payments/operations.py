"""Payments received: typed by hand, or imported from a bank statement and matched to the
households' invoices. The views, the CLI and the demo all call these; they only flush, the
caller commits once (an import is one transaction: all of it or nothing).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from flask_babel import gettext as _
from sqlalchemy import Select, select

from csa.errors import FieldError, ValidationFailed
from csa.extensions import db
from csa.models import (
    CsvMapping,
    Invoice,
    InvoiceKind,
    Member,
    Payment,
    PaymentAllocation,
    PaymentIgnore,
    PaymentMethod,
    User,
)
from csa.money.balances import open_cents
from csa.money.profile import farm_currency
from csa.payments import statements
from csa.payments.matching import MatchedBy, Matcher, OpenInvoice, allocate
from csa.payments.statements import CsvLayout, Statement, StatementError


def open_invoices(member_id: int | None = None) -> list[OpenInvoice]:
    """Every invoice (not credit notes) with what it still asks, read in a few queries."""
    query = (
        select(Invoice, Member.name)
        .join(Member, Member.id == Invoice.member_id)
        .where(Invoice.kind == InvoiceKind.INVOICE)
    )
    if member_id is not None:
        query = query.where(Invoice.member_id == member_id)
    rows = db.session.execute(query).all()
    still = open_cents(invoice for invoice, _name in rows)
    return [
        OpenInvoice(
            id=inv.id,
            number=inv.number,
            reference=inv.reference,
            member_id=inv.member_id,
            household=name,
            due_on=inv.due_on,
            open_cents=still[inv.id],
        )
        for inv, name in rows
    ]


def _allocate(payment: Payment, matcher: Matcher, first: int | None = None) -> None:
    """Settle the household's open invoices with the payment (the named one first, then the
    oldest due); what is left stays on the payment as credit."""
    assert payment.member_id is not None
    parts = allocate(payment.amount_cents, matcher.open_of(payment.member_id, first))
    for invoice_id, cents in parts:
        db.session.add(
            PaymentAllocation(payment=payment, invoice_id=invoice_id, amount_cents=cents)
        )
    matcher.settle(parts)


def record_payment(
    *,
    booked_on: date,
    amount_cents: int,
    method: PaymentMethod,
    member_id: int,
    note: str = "",
    by: User | None = None,
) -> Payment:
    """A payment typed by hand (cash, a transfer seen in the bank's app): allocated at once."""
    if amount_cents <= 0:
        raise FieldError("amount", _("Enter an amount above zero."))
    member = db.session.get(Member, member_id)
    if member is None:
        raise FieldError("member", _("Choose a household."))
    payment = Payment(
        booked_on=booked_on,
        amount_cents=amount_cents,
        currency=farm_currency(),
        method=method,
        payer_name=member.name[:200],
        note=note,
        member_id=member.id,
        recorded_by_id=by.id if by is not None else None,
    )
    db.session.add(payment)
    _allocate(payment, Matcher(open_invoices(member.id)))
    db.session.flush()
    return payment


# --- statement import ----------------------------------------------------------------------


@dataclass
class ImportSummary:
    matched: int = 0
    matched_cents: int = 0
    unmatched: int = 0
    unmatched_cents: int = 0
    duplicates: int = 0
    refused: list[str] = field(default_factory=list)  # one reason per refused or skipped line

    def message(self) -> str:
        return _(
            "Imported: %(matched)d matched, %(unmatched)d unmatched; %(duplicates)d already "
            "imported, %(refused)d refused.",
            matched=self.matched,
            unmatched=self.unmatched,
            duplicates=self.duplicates,
            refused=len(self.refused),
        )


SKIP_REASONS = {
    "debit": lambda: _("a debit (money going out)"),
    "reversal": lambda: _("a reversal"),
    "pending": lambda: _("not booked yet"),
    "zero": lambda: _("an amount of zero"),
    "unreadable": lambda: _("no readable date or amount"),
}


def file_problem(exc: StatementError) -> str:
    """Say why a whole file was refused."""
    reason = str(exc)
    if reason == "too large":
        return _("The file is larger than 5 MB; nothing was imported.")
    if reason == "too many":
        return _(
            "The file has more than %(num)d transactions; nothing was imported. Split it.",
            num=statements.MAX_LINES,
        )
    if reason == "doctype":
        return _("The file declares a document type (DTD); bank statements never do. Refused.")
    if reason == "not camt":
        return _("The file is XML but not a camt.053 or camt.054 bank statement.")
    if reason == "encoding":
        return _("The file's text encoding cannot be read.")
    return _("The file is not a readable bank statement; nothing was imported.")


def read_statement(data: bytes, kind: str) -> Statement:
    """Parse an uploaded file as camt XML or as CSV with the saved mapping; ValidationFailed
    (nothing written) when the file as a whole cannot be read."""
    try:
        if kind == "csv":
            return statements.parse_csv(data, csv_layout(), farm_currency())
        return statements.parse_camt(data)
    except StatementError as exc:
        message = file_problem(exc)
        raise ValidationFailed(message, [message]) from None


def guess_kind(data: bytes) -> str:
    """camt when the file starts like XML, else CSV."""
    head = data[:200].lstrip(b"\xef\xbb\xbf \t\r\n")
    return "camt" if head.startswith(b"<") else "csv"


def _known_keys(keys: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        found.update(
            db.session.scalars(select(Payment.import_key).where(Payment.import_key.in_(chunk)))
        )
    return found


def import_statement(statement: Statement, by: User | None = None) -> ImportSummary:
    """Store each new credit as a payment, matched and allocated where it can be.

    A line whose key is stored already is a duplicate (the same file, or an overlapping
    statement) and changes nothing. A line in another currency than the farm's is refused,
    the others imported: the farm's account is in one currency, so such a line is a
    mistake to look at, not a reason to refuse the rest.
    """
    summary = ImportSummary()
    currency = farm_currency()
    for skipped in statement.skipped:
        summary.refused.append(
            _(
                "Line %(line)d: %(reason)s.",
                line=skipped.position,
                reason=SKIP_REASONS[skipped.reason](),
            )
        )
    known = _known_keys([line.key for line in statement.lines])
    matcher = Matcher(open_invoices())
    for line in statement.lines:
        if line.key in known:
            summary.duplicates += 1
            continue
        if line.currency != currency:
            summary.refused.append(
                _(
                    "Line %(line)d: in %(currency)s, not the farm's %(farm)s.",
                    line=line.position,
                    currency=line.currency or "?",
                    farm=currency,
                )
            )
            continue
        known.add(line.key)
        found = matcher.match(line.amount_cents, line.payer, line.text)
        payment = Payment(
            booked_on=line.booked_on,
            amount_cents=line.amount_cents,
            currency=line.currency,
            method=PaymentMethod.TRANSFER,
            payer_name=line.payer,
            reference=line.text,
            import_key=line.key,
            member_id=found.member_id if found else None,
            recorded_by_id=by.id if by is not None else None,
        )
        db.session.add(payment)
        if found is None:
            summary.unmatched += 1
            summary.unmatched_cents += line.amount_cents
            continue
        summary.matched += 1
        summary.matched_cents += line.amount_cents
        first = found.invoice_id if found.by is MatchedBy.REFERENCE else None
        _allocate(payment, matcher, first)
    db.session.flush()
    return summary


def import_file(data: bytes, kind: str | None = None, by: User | None = None) -> ImportSummary:
    """Read and import a file (camt or csv; guessed from its start when not given)."""
    return import_statement(read_statement(data, kind or guess_kind(data)), by)


# --- unmatched payments --------------------------------------------------------------------


def unmatched_select() -> Select[Payment]:
    """Payments without a household that nobody marked as not ours, oldest first."""
    ignored = select(PaymentIgnore.payment_id)
    return (
        select(Payment)
        .where(Payment.member_id.is_(None), Payment.id.not_in(ignored))
        .order_by(Payment.booked_on, Payment.id)
    )


def _unmatched(payment: Payment) -> None:
    if payment.member_id is not None:
        raise ValidationFailed(_("This payment is matched to a household already."))
    if db.session.scalar(select(PaymentIgnore.id).where(PaymentIgnore.payment_id == payment.id)):
        raise ValidationFailed(_("This payment was marked as not ours."))


def match_by_hand(payment: Payment, member_id: int) -> None:
    """A coordinator names the household: allocated then like a payment typed by hand."""
    _unmatched(payment)
    member = db.session.get(Member, member_id)
    if member is None:
        raise FieldError("member", _("Choose a household."))
    payment.member_id = member.id
    db.session.flush()
    _allocate(payment, Matcher(open_invoices(member.id)))
    db.session.flush()


def ignore_payment(payment: Payment, by: User | None = None) -> None:
    """Not a member's payment (a refund, a supplier): kept, no longer listed as unmatched."""
    _unmatched(payment)
    db.session.add(PaymentIgnore(payment=payment, ignored_by_id=by.id if by else None))
    db.session.flush()


# --- the CSV mapping -----------------------------------------------------------------------


def csv_mapping() -> CsvMapping | None:
    return db.session.scalar(select(CsvMapping).order_by(CsvMapping.id).limit(1))


def csv_layout() -> CsvLayout:
    """The saved mapping as the parser wants it; ValidationFailed when none is saved."""
    mapping = csv_mapping()
    if mapping is None:
        message = _("Save the CSV column mapping first (Payments → CSV mapping).")
        raise ValidationFailed(message, [message])
    return CsvLayout(
        date=mapping.date_column,
        amount=mapping.amount_column,
        payer=mapping.payer_column,
        reference=mapping.reference_column,
        currency=mapping.currency_column,
        date_format=mapping.date_format,
        decimal_comma=mapping.decimal_comma,
        delimiter=mapping.delimiter,
        header_rows=mapping.header_rows,
    )


def save_mapping(
    *,
    date_column: int,
    amount_column: int,
    currency_column: int,
    payer_column: int,
    reference_column: int,
    date_format: str,
    decimal_comma: bool,
    delimiter: str,
    header_rows: int,
) -> CsvMapping:
    """Store the farm's one CSV mapping (made on first save)."""
    if date_format not in statements.DATE_FORMATS:
        raise FieldError("date_format", _("Choose one of the date formats offered."))
    if delimiter not in (";", ",", "\t", "|"):
        raise FieldError("delimiter", _("Choose one of the delimiters offered."))
    mapping = csv_mapping()
    if mapping is None:
        mapping = CsvMapping()
        db.session.add(mapping)
    mapping.date_column = date_column
    mapping.amount_column = amount_column
    mapping.currency_column = currency_column
    mapping.payer_column = payer_column
    mapping.reference_column = reference_column
    mapping.date_format = date_format
    mapping.decimal_comma = decimal_comma
    mapping.delimiter = delimiter
    mapping.header_rows = header_rows
    db.session.flush()
    return mapping


def members_by_name() -> Iterable[Member]:
    return db.session.scalars(select(Member).order_by(Member.name, Member.id))
