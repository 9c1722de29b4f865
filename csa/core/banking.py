"""Bank identifiers checked before anything is stored: IBAN and BIC (schwifty), the SEPA
creditor identifier (ISO 7064 mod 97-10, like the IBAN) and ISO 11649 payment references
(python-stdnum). Pure: no Flask, no database."""

from __future__ import annotations

import re

from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException
from stdnum import iso11649
from stdnum.iso7064 import mod_97_10


class BankingError(ValueError):
    """An identifier that fails its format or checksum."""


def clean_iban(text: str) -> str:
    """The IBAN in compact upper case ("DE89370400440532013000"), or BankingError."""
    try:
        return str(IBAN(text.strip()).compact)
    except (SchwiftyException, ValueError) as exc:
        raise BankingError(str(exc)) from None


def format_iban(iban: str) -> str:
    """An IBAN in groups of four, as printed on invoices."""
    compact = iban.replace(" ", "")
    return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))


def clean_bic(text: str) -> str:
    """The BIC in upper case, 8 or 11 characters, or BankingError."""
    try:
        return str(BIC(text.strip().replace(" ", "")))
    except (SchwiftyException, ValueError) as exc:
        raise BankingError(str(exc)) from None


_CREDITOR = re.compile(r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{3}[A-Z0-9]{1,28}$")


def clean_creditor_id(text: str) -> str:
    """A SEPA creditor identifier ("DE98ZZZ09999999999") in upper case, or BankingError.

    The check digits cover the national part and the country code; the three characters
    after them (the creditor business code) are left out of the check, as EPC262 says.
    """
    compact = text.strip().replace(" ", "").upper()
    if not _CREDITOR.match(compact):
        raise BankingError("creditor identifier format")
    body = compact[7:] + compact[:2] + "00"
    digits = "".join(str(int(c, 36)) for c in body)
    check = 98 - int(digits) % 97
    if f"{check:02d}" != compact[2:4]:
        raise BankingError("creditor identifier checksum")
    return compact


def payment_reference(base: str) -> str:
    """An ISO 11649 structured creditor reference ("RF…") for an alphanumeric base.

    The base must be 1..21 letters and digits (an invoice number without its dashes, say).
    """
    body = re.sub(r"[^A-Za-z0-9]", "", base).upper()
    if not 0 < len(body) <= 21:
        raise BankingError("reference base length")
    check = mod_97_10.calc_check_digits(body + "RF")
    return f"RF{check}{body}"


def find_reference(text: str) -> str | None:
    """The first valid RF reference in free text (a transfer's purpose line), compact."""
    for match in re.finditer(r"RF\s?[0-9]{2}(?:\s?[A-Z0-9]){1,21}", text.upper()):
        candidate = match.group(0).replace(" ", "")
        # Greedy matches may swallow a following word: try the longest valid prefix.
        for end in range(len(candidate), 4, -1):
            if iso11649.is_valid(candidate[:end]):
                return candidate[:end]
    return None
