"""Which household a statement line is from, and which invoices a payment settles. Pure: no
Flask, no database.

The order (issue 12): 1) a payment reference (ISO 11649 "RF…") or an invoice number in the
text names the invoice, so its household; 2) else the amount equals what exactly one
household's open invoice still asks AND the payer's name is the household's name (case,
accents and word order aside); 3) else the line stays unmatched for a coordinator.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from csa.core.banking import find_reference


class MatchedBy(StrEnum):
    REFERENCE = "reference"
    NAME_AMOUNT = "name_amount"


@dataclass(frozen=True)
class OpenInvoice:
    """An invoice as matching sees it: what it still asks, and whose it is."""

    id: int
    number: str
    reference: str
    member_id: int
    household: str
    due_on: date
    open_cents: int


@dataclass(frozen=True)
class Match:
    member_id: int
    by: MatchedBy
    invoice_id: int | None = None  # the invoice the reference or number names


# Letters NFKD does not take apart: "Łukasz" is "Lukasz" on many bank statements.
_FOLD = str.maketrans(
    {"ł": "l", "ø": "o", "đ": "d", "ħ": "h", "ı": "i", "ß": "ss", "æ": "ae", "œ": "oe", "þ": "th"}
)


def name_key(name: str) -> tuple[str, ...]:
    """A name compared without case, accents, punctuation or word order."""
    folded = unicodedata.normalize("NFKD", name.casefold().translate(_FOLD))
    plain = "".join(c for c in folded if not unicodedata.combining(c))
    return tuple(sorted(w for w in re.split(r"[^0-9a-z]+", plain.translate(_FOLD)) if w))


def same_name(payer: str, household: str) -> bool:
    """The payer is the household when their names have the same words."""
    key = name_key(payer)
    return bool(key) and key == name_key(household)


_NUMBER_TOKEN = re.compile(r"[A-Za-z0-9]+(?:[-/.][A-Za-z0-9]+)*")


class Matcher:
    """Decide matches against the farm's invoices; `settle` keeps open amounts current while
    one statement is imported, so two lines cannot both claim the same open amount."""

    def __init__(self, invoices: Iterable[OpenInvoice]) -> None:
        self.invoices = {i.id: i for i in invoices}
        self.by_reference = {i.reference.upper(): i for i in self.invoices.values()}
        self.by_number = {i.number.upper(): i for i in self.invoices.values()}
        self.open = {i.id: i.open_cents for i in self.invoices.values()}
        self.names = {i.id: name_key(i.household) for i in self.invoices.values()}

    def named_invoice(self, text: str) -> OpenInvoice | None:
        """The invoice a transfer's text names by reference or by number."""
        reference = find_reference(text)
        if reference and reference in self.by_reference:
            return self.by_reference[reference]
        for token in _NUMBER_TOKEN.findall(text):
            found = self.by_number.get(token.upper())
            if found is not None:
                return found
        return None

    def match(self, amount_cents: int, payer: str, text: str) -> Match | None:
        named = self.named_invoice(text)
        if named is not None:
            return Match(named.member_id, MatchedBy.REFERENCE, named.id)
        payer_key = name_key(payer)
        households = {
            i.member_id
            for i in self.invoices.values()
            if 0 < self.open[i.id] == amount_cents and payer_key and self.names[i.id] == payer_key
        }
        if len(households) == 1:
            return Match(households.pop(), MatchedBy.NAME_AMOUNT)
        return None

    def open_of(self, member_id: int, first: int | None = None) -> list[tuple[int, int]]:
        """A household's open invoices as (id, open cents): `first` (a named invoice) leads,
        then the oldest due first (ties by id)."""
        rows = sorted(
            (i for i in self.invoices.values() if i.member_id == member_id and self.open[i.id]),
            key=lambda i: (i.id != first, i.due_on, i.id),
        )
        return [(i.id, self.open[i.id]) for i in rows]

    def settle(self, parts: Iterable[tuple[int, int]]) -> None:
        for invoice_id, cents in parts:
            self.open[invoice_id] -= cents


def allocate(amount_cents: int, open_invoices: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Spread a payment over open invoices in the order given: each is paid up to what it
    still asks; what is left over stays on the payment as credit."""
    parts = []
    left = amount_cents
    for invoice_id, open_cents in open_invoices:
        if left <= 0:
            break
        take = min(left, open_cents)
        if take > 0:
            parts.append((invoice_id, take))
            left -= take
    return parts
