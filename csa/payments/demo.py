"""Demo payments: a camt.053 statement paying most of the season's issued invoices, imported
through the real import (by reference, a few by name and amount, one stranger left
unmatched), and one cash payment typed by hand. Without invoices it does nothing."""

from __future__ import annotations

from datetime import date, timedelta
from xml.sax.saxutils import escape

from sqlalchemy import select

from csa.core.money import cents_to_str
from csa.extensions import db
from csa.models import Invoice, InvoiceKind, Membership, Payment, PaymentMethod, Season
from csa.money.profile import farm_currency
from csa.payments import operations
from csa.payments.statements import parse_camt


def _entry(
    ref: str, booked: date, cents: int, currency: str, payer: str, remittance: str, structured: bool
) -> str:
    info = (
        f"<Strd><CdtrRefInf><Ref>{escape(remittance)}</Ref></CdtrRefInf></Strd>"
        if structured
        else f"<Ustrd>{escape(remittance)}</Ustrd>"
    )
    return (
        f'<Ntry><Amt Ccy="{currency}">{cents_to_str(cents)}</Amt><CdtDbtInd>CRDT</CdtDbtInd>'
        f"<Sts>BOOK</Sts><BookgDt><Dt>{booked.isoformat()}</Dt></BookgDt>"
        f"<AcctSvcrRef>{escape(ref)}</AcctSvcrRef><NtryDtls><TxDtls>"
        f"<RltdPties><Dbtr><Nm>{escape(payer)}</Nm></Dbtr></RltdPties>"
        f"<RmtInf>{info}</RmtInf></TxDtls></NtryDtls></Ntry>"
    )


def demo_statement(today: date, invoices: list[Invoice], currency: str) -> str:
    """camt.053.001.02 text: every fifth invoice left unpaid (for the reminders), every
    seventh paid without a reference (matched by name and amount), the rest by reference."""
    entries = []
    for i, invoice in enumerate(invoices):
        if i % 5 == 4:
            continue
        booked = min(today, max(invoice.issued_on, invoice.due_on - timedelta(days=3)))
        by_name = i % 7 == 3
        entries.append(
            _entry(
                f"DEMO-{invoice.number}",
                booked,
                invoice.total_cents,
                currency,
                invoice.member.name if by_name else invoice.member.name.upper(),
                "CSA share" if by_name else invoice.reference,
                structured=not by_name,
            )
        )
    entries.append(_entry("DEMO-STRANGER", today, 4_250, currency, "Unknown Sender", "gift", False))
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>'
        f"<GrpHdr><MsgId>DEMO-{today.isoformat()}</MsgId></GrpHdr><Stmt><Id>DEMO</Id>"
        f"<Acct><Ccy>{currency}</Ccy></Acct>{''.join(entries)}</Stmt></BkToCstmrStmt></Document>"
    )


def load_demo_payments(today: date, season: Season, memberships: list[Membership]) -> None:
    """Pay the season's issued invoices from a demo statement, and one share in cash."""
    if db.session.scalar(select(Payment.id).limit(1)) is not None:
        return  # loaded already
    ids = [m.id for m in memberships]
    invoices = list(
        db.session.scalars(
            select(Invoice)
            .where(
                Invoice.kind == InvoiceKind.INVOICE,
                Invoice.membership_id.in_(ids),
                Invoice.issued_on <= today,
            )
            .order_by(Invoice.due_on, Invoice.id)
        )
    )
    if not invoices:
        return
    currency = farm_currency()
    text = demo_statement(today, [i for i in invoices if i.currency == currency], currency)
    operations.import_statement(parse_camt(text.encode("utf-8")))
    unpaid = [i for n, i in enumerate(invoices) if n % 5 == 4]
    if unpaid:
        operations.record_payment(
            booked_on=today,
            amount_cents=max(1, unpaid[0].total_cents // 2),
            method=PaymentMethod.CASH,
            member_id=unpaid[0].member_id,
            note="Paid half in cash at the pickup",
        )
    db.session.flush()
