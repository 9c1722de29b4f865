"""Charges other features put on a membership's next invoice: work hours bought out
(csa/work), and whatever a later feature adds.

A feature registers a source on the app (`add_charge_source`, from its blueprint's
`record_once`); issuing an instalment's invoice asks every source for the membership's
charges not yet billed, adds one line for each and then lets each claim its charge for that
invoice. A claim is the source's conditional UPDATE ("not billed yet"): when two runs issue
two invoices of one membership at once, the second claim fails, that invoice is rolled back
whole (its number with it, csa/invoices/numbering.py) and the next run issues it again
without the charge.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, current_app

from csa.models import Invoice, Membership

EXTENSION = "csa.invoice_charges"


@dataclass(frozen=True)
class Charge:
    text: str  # the line's words, in the household's language (asked under its locale)
    amount_cents: int  # > 0
    currency: str  # a charge in another currency than the invoice's waits
    claim: Callable[[Invoice], bool]  # mark it billed on this invoice; False: taken already


ChargeSource = Callable[[Membership], list[Charge]]


class ChargeTaken(RuntimeError):
    """Another invoice billed a charge first: roll this invoice back, issue it again later."""


def add_charge_source(app: Flask, source: ChargeSource) -> None:
    """Register a feature's charges (once per app: `bp.record_once`)."""
    app.extensions.setdefault(EXTENSION, []).append(source)


def pending_charges(membership: Membership, currency: str) -> list[Charge]:
    """Every registered feature's unbilled charges of a membership in this currency."""
    found: list[Charge] = []
    for source in current_app.extensions.get(EXTENSION, []):
        found.extend(c for c in source(membership) if c.currency == currency and c.amount_cents > 0)
    return found


def claim_all(charges: list[Charge], invoice: Invoice) -> None:
    """Claim every charge for the invoice just issued, or raise ChargeTaken."""
    for charge in charges:
        if not charge.claim(invoice):
            raise ChargeTaken(charge.text)
