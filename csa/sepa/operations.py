"""Mandates, pain.008 exports and collected batches. Everything here flushes only; the view,
command or job commits once.

An invoice in a batch that was not returned is never exported again, so exporting twice
gives "nothing new" (the file of a batch is kept and can be downloaded again). Recording a
batch as collected makes one direct-debit payment per item, once: a second click finds the
batch collected (one atomic UPDATE decides) and the payments' import keys are unique.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

from flask_babel import format_date
from flask_babel import gettext as _
from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import joinedload

from csa.core.banking import BankingError, clean_bic, clean_iban
from csa.errors import FieldError, ValidationFailed
from csa.extensions import changed_rows, db
from csa.models import (
    DebitBatch,
    DebitItem,
    FarmProfile,
    Invoice,
    InvoiceKind,
    Mandate,
    MandateKind,
    Member,
    Payment,
    PaymentAllocation,
    PaymentMethod,
    User,
)
from csa.money.balances import open_cents
from csa.money.profile import farm_profile
from csa.sepa import rules

log = logging.getLogger(__name__)

SCHEMA = "pain.008.001.02"  # the version banks accept most widely
SEPA_CURRENCY = "EUR"
HOLDER_MAX = 70


# --- mandates -------------------------------------------------------------------------------


def active_mandate(member_id: int) -> Mandate | None:
    """The household's mandate in force (not revoked), if any."""
    return db.session.scalar(
        select(Mandate)
        .where(Mandate.member_id == member_id, Mandate.revoked_on.is_(None))
        .order_by(Mandate.id.desc())
        .limit(1)
    )


def _new_reference(member_id: int) -> str:
    count = db.session.scalar(select(func.count()).where(Mandate.member_id == member_id)) or 0
    n = int(count) + 1
    while True:
        reference = rules.mandate_reference(member_id, n)
        if not db.session.scalar(select(Mandate.id).where(Mandate.reference == reference)):
            return reference
        n += 1


def record_mandate(
    member: Member,
    *,
    holder_name: str,
    iban: str,
    bic: str,
    reference: str,
    signed_on: date,
    kind: MandateKind,
    by: User | None,
    today: date,
) -> Mandate:
    """Check and store a household's mandate; FieldError names the field that is wrong."""
    holder_name = holder_name.strip()
    if not holder_name or len(holder_name) > HOLDER_MAX:
        raise FieldError("holder_name", _("Give the account holder's name (up to 70 letters)."))
    try:
        iban = clean_iban(iban)
    except BankingError:
        raise FieldError("iban", _("This IBAN is not valid: check its digits.")) from None
    if not rules.in_sepa_zone(iban):
        raise FieldError("iban", _("This account's country does not take SEPA direct debits."))
    try:
        bic = clean_bic(bic) if bic.strip() else ""
    except BankingError:
        raise FieldError("bic", _("This BIC is not valid: 8 or 11 letters and digits.")) from None
    if signed_on > today:
        raise FieldError("signed_on", _("The mandate cannot be signed in the future."))
    current = active_mandate(member.id)
    if current is not None:
        raise FieldError(
            "member",
            _(
                "This household has a mandate already (%(reference)s): revoke it first.",
                reference=current.reference,
            ),
        )
    reference = reference.strip()
    if reference:
        if not rules.valid_reference(reference):
            raise FieldError(
                "reference",
                _("A mandate reference has up to 35 letters, digits, spaces and - / : ( ) . , +"),
            )
        if db.session.scalar(select(Mandate.id).where(Mandate.reference == reference)):
            raise FieldError("reference", _("Another mandate has this reference already."))
    else:
        reference = _new_reference(member.id)
    mandate = Mandate(
        member_id=member.id,
        holder_name=holder_name,
        iban=iban,
        bic=bic,
        reference=reference,
        signed_on=signed_on,
        kind=kind,
        created_by_id=by.id if by is not None else None,
    )
    db.session.add(mandate)
    db.session.flush()
    return mandate


def revoke_mandate(mandate: Mandate, today: date) -> None:
    """End a mandate as of today; batches already exported keep their items."""
    if mandate.revoked_on is not None:
        raise ValidationFailed(_("This mandate was revoked already."))
    mandate.revoked_on = today
    db.session.flush()


# --- export ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    invoice: Invoice
    mandate: Mandate
    amount_cents: int
    sequence: str


def _creditor(profile: FarmProfile) -> dict[str, Any]:
    """The farm as a pain.008 creditor, or ValidationFailed saying what is missing."""
    missing = [
        label
        for label, value in (
            (_("legal name"), profile.legal_name),
            (_("IBAN"), profile.iban),
            (_("BIC"), profile.bic),
            (_("SEPA creditor identifier"), profile.creditor_id),
        )
        if not value.strip()
    ]
    if missing:
        raise ValidationFailed(
            _(
                "The farm's billing settings lack: %(missing)s. Add them under Money → "
                "Settings first.",
                missing=", ".join(missing),
            )
        )
    if profile.currency != SEPA_CURRENCY:
        raise ValidationFailed(
            _(
                "SEPA direct debits are in euro; the farm's currency is %(code)s.",
                code=profile.currency,
            )
        )
    return {
        "name": profile.legal_name,
        "IBAN": profile.iban,
        "BIC": profile.bic,
        "batch": True,
        "creditor_id": profile.creditor_id,
        "currency": SEPA_CURRENCY,
    }


def in_open_batch() -> Any:
    """EXISTS: the invoice is an item of a batch that was not returned."""
    return exists(
        select(DebitItem.id)
        .join(DebitBatch, DebitBatch.id == DebitItem.batch_id)
        .where(DebitItem.invoice_id == Invoice.id, DebitBatch.returned_on.is_(None))
    )


def pending_invoice_ids(invoice_ids: list[int]) -> set[int]:
    """The invoices among these in a batch exported and neither collected nor returned."""
    found: set[int] = set()
    for start in range(0, len(invoice_ids), 500):
        chunk = invoice_ids[start : start + 500]
        found.update(
            db.session.scalars(
                select(DebitItem.invoice_id)
                .join(DebitBatch, DebitBatch.id == DebitItem.batch_id)
                .where(
                    DebitItem.invoice_id.in_(chunk),
                    DebitBatch.returned_on.is_(None),
                    DebitBatch.collected_on.is_(None),
                )
            )
        )
    return found


def candidates(due_until: date, due_from: date | None, collect_on: date) -> list[Candidate]:
    """What an export would collect: the open amount of each invoice due in the window of a
    household with a mandate in force, not in a batch already (oldest due first)."""
    mandates = {
        m.member_id: m
        for m in db.session.scalars(
            select(Mandate).where(Mandate.revoked_on.is_(None), Mandate.signed_on <= collect_on)
        )
    }
    if not mandates:
        return []
    query = (
        select(Invoice)
        .where(
            Invoice.kind == InvoiceKind.INVOICE,
            Invoice.currency == SEPA_CURRENCY,
            Invoice.due_on <= due_until,
            Invoice.member_id.in_(list(mandates)),
            ~in_open_batch(),
        )
        .order_by(Invoice.member_id, Invoice.due_on, Invoice.id)
    )
    if due_from is not None:
        query = query.where(Invoice.due_on >= due_from)
    invoices = list(db.session.scalars(query))
    owed = open_cents(invoices)
    found: list[Candidate] = []
    used: set[int] = set()  # one-off mandates given their one collection in this file
    for invoice in invoices:
        cents = owed.get(invoice.id, 0)
        mandate = mandates[invoice.member_id]
        sequence = rules.sequence_type(
            mandate.kind == MandateKind.ONE_OFF, mandate.first_collected_on
        )
        if cents <= 0 or sequence is None or mandate.id in used:
            continue
        if sequence == rules.ONE_OFF:
            used.add(mandate.id)
        found.append(Candidate(invoice, mandate, cents, sequence))
    return found


@lru_cache(maxsize=1)
def _schema() -> Any:
    """sepaxml's bundled XSD, parsed once per process (it takes a while)."""
    import sepaxml
    import xmlschema

    path = Path(sepaxml.__file__).parent / "schemas" / f"{SCHEMA}.xsd"
    return xmlschema.XMLSchema(str(path))


def build_xml(
    creditor: dict[str, Any], items: list[Candidate], collect_on: date
) -> tuple[str, bytes]:
    """The pain.008 file of these items and its message id, checked against the schema."""
    from sepaxml import SepaDD

    sdd = SepaDD(dict(creditor), schema=SCHEMA, clean=True)
    for item in items:
        payment: dict[str, Any] = {
            "name": item.mandate.holder_name,
            "IBAN": item.mandate.iban,
            "amount": item.amount_cents,
            "type": item.sequence,
            "collection_date": collect_on,
            "mandate_id": item.mandate.reference,
            "mandate_date": item.mandate.signed_on,
            "description": f"{item.invoice.number} {item.invoice.reference}",
            "endtoend_id": item.invoice.reference,
        }
        if item.mandate.bic:
            payment["BIC"] = item.mandate.bic
        sdd.add_payment(payment)
    xml: bytes = sdd.export(validate=False)
    errors = list(_schema().iter_errors(xml.decode("utf-8")))
    if errors:
        log.error("pain.008 file refused by its schema: %s", errors[0])
        raise ValidationFailed(
            _("The direct-debit file would not pass the bank's schema; nothing was exported.")
        )
    return str(sdd.msg_id), xml


def export_batch(
    *,
    collect_on: date,
    due_until: date,
    due_from: date | None,
    by: User | None,
    today: date,
) -> DebitBatch | None:
    """Export the open amounts due in the window as one batch; None when nothing is new.

    Marks each mandate used for its first time as collected from `collect_on`, so the next
    batch says RCUR.
    """
    if collect_on <= today:
        raise FieldError(
            "collect_on",
            _("The collection date must be after today (the bank needs the file first)."),
        )
    if due_from is not None and due_from > due_until:
        raise FieldError("due_from", _("The first due date comes before the last one."))
    creditor = _creditor(farm_profile())
    items = candidates(due_until, due_from, collect_on)
    if not items:
        return None
    message_id, xml = build_xml(creditor, items, collect_on)
    batch = DebitBatch(
        message_id=message_id,
        collect_on=collect_on,
        due_from=due_from,
        due_until=due_until,
        currency=SEPA_CURRENCY,
        total_cents=sum(i.amount_cents for i in items),
        count=len(items),
        xml=xml.decode("utf-8"),
        created_by_id=by.id if by is not None else None,
    )
    db.session.add(batch)
    for item in items:
        db.session.add(
            DebitItem(
                batch=batch,
                invoice_id=item.invoice.id,
                mandate_id=item.mandate.id,
                amount_cents=item.amount_cents,
                sequence=item.sequence,
            )
        )
        if item.mandate.first_collected_on is None:
            item.mandate.first_collected_on = collect_on
    db.session.flush()
    return batch


# --- after the bank -------------------------------------------------------------------------


def collect_batch(batch: DebitBatch, by: User | None, today: date) -> int:
    """Record that the bank collected a batch: one direct-debit payment per item, allocated
    to its invoice. Return how many payments were made (0 when recorded before)."""
    if batch.returned_on is not None:
        raise ValidationFailed(_("This batch was returned; it cannot be collected."))
    if batch.collected_on is not None:
        return 0
    if batch.collect_on > today:
        raise ValidationFailed(
            _(
                "The bank collects this batch on %(date)s; record it from that day.",
                date=format_date(batch.collect_on, "long"),
            )
        )
    claimed = changed_rows(
        update(DebitBatch)
        .where(
            DebitBatch.id == batch.id,
            DebitBatch.collected_on.is_(None),
            DebitBatch.returned_on.is_(None),
        )
        .values(collected_on=today)
        .execution_options(synchronize_session=False)
    )
    if not claimed:
        return 0
    db.session.refresh(batch)
    items = list(
        db.session.scalars(
            select(DebitItem)
            .options(joinedload(DebitItem.invoice), joinedload(DebitItem.mandate))
            .where(DebitItem.batch_id == batch.id)
            .order_by(DebitItem.id)
        )
    )
    owed = open_cents([i.invoice for i in items])
    for item in items:
        payment = Payment(
            booked_on=batch.collect_on,
            amount_cents=item.amount_cents,
            currency=batch.currency,
            method=PaymentMethod.DIRECT_DEBIT,
            payer_name=item.mandate.holder_name,
            reference=item.invoice.reference,
            note=f"SEPA {batch.message_id}",
            member_id=item.invoice.member_id,
            import_key=f"sepa:{batch.message_id}:{item.invoice_id}",
            recorded_by_id=by.id if by is not None else None,
        )
        db.session.add(payment)
        # Paid meanwhile by transfer: the rest of the debit stays on the payment, unallocated.
        allocated = min(item.amount_cents, owed.get(item.invoice_id, 0))
        if allocated > 0:
            db.session.add(
                PaymentAllocation(
                    payment=payment, invoice_id=item.invoice_id, amount_cents=allocated
                )
            )
        db.session.flush()
        item.payment_id = payment.id
    db.session.flush()
    return len(items)


def return_batch(batch: DebitBatch, today: date) -> None:
    """Record that the bank refused a batch (or it was never sent): its invoices may be
    exported again, and a mandate whose first collection it was is first again."""
    if batch.collected_on is not None:
        raise ValidationFailed(_("This batch was recorded as collected; it cannot be returned."))
    if batch.returned_on is not None:
        raise ValidationFailed(_("This batch was returned already."))
    batch.returned_on = today
    for item in batch.items:
        mandate = item.mandate
        if item.sequence != rules.RECURRING and mandate.first_collected_on == batch.collect_on:
            mandate.first_collected_on = None
    db.session.flush()
